//! The service's log: one line per request (the access log) and per lifecycle event (listening,
//! model ready, draining, stopped), as JSON objects or as `key=value` text, with a UTC
//! timestamp first. Lines are written whole, so concurrent requests never interleave.
use super::config::LogFormat;
use serde_json::Value;
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where log lines go and how they look.
pub struct Log {
    format: LogFormat,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Log {
    /// Lines in `format` written to `out` (the binary passes stderr).
    pub fn new(format: LogFormat, out: Box<dyn Write + Send>) -> Self {
        Self {
            format,
            out: Mutex::new(out),
        }
    }

    /// Writes one line: `event` and then `fields` in order.
    pub fn line(&self, event: &str, fields: &[(&str, Value)]) {
        let ts = Value::String(rfc3339(SystemTime::now()));
        let event = Value::String(event.to_string());
        let all = [("ts", &ts), ("event", &event)]
            .into_iter()
            .chain(fields.iter().map(|(k, v)| (*k, v)))
            .filter(|(_, v)| !v.is_null());
        let mut line = match self.format {
            LogFormat::Json => {
                let parts: Vec<String> = all
                    .map(|(k, v)| format!("{}:{}", Value::String(k.into()), v))
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
            LogFormat::Text => {
                let parts: Vec<String> = all.map(|(k, v)| format!("{k}={}", text(v))).collect();
                parts.join(" ")
            }
        };
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A log that cannot be written must not take the service down with it.
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
}

/// A value for a `key=value` line: plain when it has no spaces or quotes, else JSON-quoted.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() && !s.contains([' ', '"', '=', '\\']) => s.clone(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        other => other.to_string(),
    }
}

/// `2026-01-02T03:04:05.678Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_and_text_lines() {
        let buf = Shared::default();
        let fields = [
            ("status", Value::from(200)),
            ("path", Value::from("/a b")),
            ("model", Value::Null),
        ];
        Log::new(LogFormat::Json, Box::new(buf.clone())).line("request", &fields);
        Log::new(LogFormat::Text, Box::new(buf.clone())).line("request", &fields);
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let json: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(json["event"], "request");
        assert_eq!(json["status"], 200);
        assert!(json.get("model").is_none());
        assert!(lines[0].starts_with("{\"ts\":"));
        assert!(lines[1].ends_with("event=request status=200 path=\"/a b\""));
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // 2000-02-29
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
