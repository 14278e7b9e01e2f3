//! Small HTML helpers: escaping and number formats shared by the report's sections.

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that can sit inside a <script> element: '<' is written as \u003c so that no
/// `</script>` or `<!--` can end or change the element.
pub fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

/// 0.9731 -> "97.31%"
pub fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// Seconds as "42.1 s", "3 min 05 s" or "1 h 02 min".
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "—".into();
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let s = seconds.round() as u64;
    if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

/// A JSON value in one line for a table cell: objects as "key value, key value".
pub fn compact(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Object(m) => {
            let fields = m
                .iter()
                .filter(|(k, _)| *k != "kind")
                .map(|(k, v)| format!("{k} {}", compact(v)))
                .collect::<Vec<_>>()
                .join(", ");
            // {"kind": "adam", "lr": ...} reads as "adam: lr ...".
            match m.get("kind").and_then(|k| k.as_str()) {
                Some(kind) if fields.is_empty() => kind.to_string(),
                Some(kind) => format!("{kind}: {fields}"),
                None => fields,
            }
        }
        Value::Array(a) => a.iter().map(compact).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_formats() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            script_json(&serde_json::json!({"c": "</script>"})),
            r#"{"c":"\u003c/script>"}"#
        );
        assert_eq!(percent(0.97314), "97.31%");
        assert_eq!(
            compact(&serde_json::json!({"kind": "sgd", "lr": 0.0001})),
            "sgd: lr 0.0001"
        );
        assert_eq!(duration(42.06), "42.1 s");
        assert_eq!(duration(185.0), "3 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
        assert_eq!(
            compact(&serde_json::json!({"hidden": 512, "dropout": 0.2, "x": null})),
            "dropout 0.2, hidden 512, x —"
        );
    }
}
