//! `graft serve` as a client sees it: the real binary on an ephemeral port, a real HTTP client
//! (reqwest), a small run trained once through the binary. The server's JSON log lines (stderr)
//! are the synchronization: the test reads the bound address from "listening" and waits for
//! "ready", "draining" and the process's exit instead of sleeping.
mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long the tests wait for the server to load, log or exit before failing.
const PATIENCE: Duration = Duration::from_secs(300);
const PREDICT_ROUTE: &str = "/v1/models/{name}/predict";

/// One trained demo run, shared by the tests of this file.
fn trained_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| demo_run("serve-run", 2))
}

/// The first test image of each of `n` classes.
fn test_images(n: usize) -> Vec<PathBuf> {
    let mut classes: Vec<PathBuf> = std::fs::read_dir(demo().join("Test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    classes.sort();
    classes
        .iter()
        .take(n)
        .map(|c| {
            let mut files: Vec<PathBuf> = std::fs::read_dir(c)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            files.remove(0)
        })
        .collect()
}

/// A running `graft serve`; killed when dropped.
struct Service {
    child: Option<Child>,
    url: String,
    lines: Receiver<String>,
    log: Vec<Value>,
}

impl Service {
    /// Starts the server on the trained run (as model "fruits") and waits until it is ready.
    /// The request timeout is long unless `extra` sets it: a test machine may be slow or busy.
    fn start(extra: &[&str]) -> Service {
        let timeout: &[&str] = if extra.contains(&"--timeout") {
            &[]
        } else {
            &["--timeout", "300"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_graft"))
            .arg("serve")
            .arg(trained_run())
            .args([
                "--name",
                "fruits",
                "--addr",
                "127.0.0.1:0",
                "--log-format",
                "json",
            ])
            .args(timeout)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut service = Service {
            child: Some(child),
            url: String::new(),
            lines,
            log: Vec::new(),
        };
        let listening = service.wait_for("listening");
        service.url = listening["addr"].as_str().unwrap().to_string();
        service.wait_for("ready");
        service
    }

    /// Reads log lines until one of `event` (panics if the server exits or stays silent).
    fn wait_for(&mut self, event: &str) -> Value {
        loop {
            let line = match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => panic!("no '{event}' log line in {PATIENCE:?}"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server exited before '{event}'; log: {:#?}", self.log)
                }
            };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            self.log.push(v.clone());
            if v["event"] == event {
                return v;
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn terminate(&self) {
        let pid = self.child.as_ref().unwrap().id() as i32;
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    /// Sends SIGTERM; returns the exit status and every log line (read to the end).
    fn stop(&mut self) -> (ExitStatus, Vec<Value>) {
        self.terminate();
        self.wait_exit()
    }

    /// Waits for the process to exit; returns its status and every log line.
    fn wait_exit(&mut self) -> (ExitStatus, Vec<Value>) {
        let mut child = self.child.take().unwrap();
        let pid = child.id() as i32;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait().unwrap()));
        let status = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the server did not exit within {PATIENCE:?} of SIGTERM")
        });
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.log.push(serde_json::from_str(&line).unwrap());
        }
        (status, self.log.clone())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A client that talks to the server directly (never through an HTTP proxy from the environment).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

/// `graft predict --json` on `images` in `precision`: per image, (class, probability) most
/// probable first.
fn graft_predict(images: &[PathBuf], k: usize, precision: &str) -> Vec<Vec<(String, f64)>> {
    let out = Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(["--precision", precision])
        .args(["predict", "--json", "--top-k", &k.to_string(), "--run"])
        .arg(trained_run())
        .args(images)
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&ok(out)).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| classes_of(&p["top"]))
        .collect()
}

fn classes_of(top: &Value) -> Vec<(String, f64)> {
    top.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let class = c["class"].as_str().unwrap().to_string();
            (class, c["probability"].as_f64().unwrap())
        })
        .collect()
}

/// Same classes in the same order, probabilities within 1e-4 (batch size may change kernels).
fn assert_same(got: &[(String, f64)], want: &[(String, f64)], what: &str) {
    let names = |v: &[(String, f64)]| v.iter().map(|c| c.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(got), names(want), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.1 - w.1).abs() < 1e-4,
            "{what}: {} {} vs {}",
            g.0,
            g.1,
            w.1
        );
    }
}

async fn post_image(c: &reqwest::Client, url: &str, bytes: Vec<u8>) -> reqwest::Response {
    c.post(url)
        .header("content-type", "image/jpeg")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// A run calibrated for int8 (the gate opened wide: this is about serving, not the check)
/// answers over HTTP what `graft predict` answers in int8.
#[test]
fn int8_answers_equal_graft_predict_in_int8() {
    ok(Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(["quantize", "--images", "64", "--tolerance", "100", "--run"])
        .arg(trained_run())
        .output()
        .unwrap());
    let images = test_images(3);
    let want = graft_predict(&images, 3, "int8");
    let service = Service::start(&["--precision", "int8"]);
    let ready = service
        .log
        .iter()
        .find(|l| l["event"] == "model_ready")
        .cloned();
    let said = ready
        .map(|l| l["precision"].to_string())
        .unwrap_or_default();
    assert!(said.contains("int8"), "model_ready says {said}");
    let url = service.url("/v1/models/fruits/predict");
    runtime().block_on(async {
        let c = client();
        for (i, image) in images.iter().enumerate() {
            let r = post_image(&c, &url, std::fs::read(image).unwrap()).await;
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            assert_same(&classes_of(&v["predictions"]), &want[i], "int8");
        }
    });
}

#[test]
fn predictions_equal_graft_predict_for_raw_base64_and_multipart_bodies() {
    let images = test_images(3);
    let want = graft_predict(&images, 3, "auto");
    let bytes: Vec<Vec<u8>> = images.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut service = Service::start(&[]);
    let url = service.url("/v1/models/fruits/predict");
    runtime().block_on(async {
        let c = client();
        for (i, b) in bytes.iter().enumerate() {
            let r = post_image(&c, &url, b.clone()).await;
            assert_eq!(r.status(), StatusCode::OK);
            let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
            assert!(
                id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit()),
                "{id}"
            );
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["model"], "fruits");
            assert!(v["elapsed_ms"].as_f64().unwrap() > 0.0);
            assert_same(&classes_of(&v["predictions"]), &want[i], "raw body");

            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(b);
            let r = c
                .post(&url)
                .header("x-request-id", format!("client-{i}"))
                .json(&json!({ "image_base64": encoded }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["x-request-id"], format!("client-{i}").as_str());
            let v: Value = r.json().await.unwrap();
            assert_same(&classes_of(&v["predictions"]), &want[i], "JSON base64 body");
        }
        let names = ["first", "second", "third"];
        let mut form = Form::new();
        for (name, b) in names.iter().zip(&bytes) {
            form = form.part(*name, Part::bytes(b.clone()).file_name("x.jpg"));
        }
        let r = c.post(&url).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        let list = v.as_array().expect("multipart answers with a list");
        assert_eq!(list.len(), 3);
        for (i, answer) in list.iter().enumerate() {
            assert_eq!(answer["part"], names[i]);
            assert_same(&classes_of(&answer["predictions"]), &want[i], "multipart");
        }
        let r = c
            .post(format!("{url}?top_k=1"))
            .header("content-type", "image/jpeg");
        let v: Value = r
            .body(bytes[0].clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_same(&classes_of(&v["predictions"]), &want[0][..1], "top_k=1");

        let r = c
            .get(service.url("/v1/models/fruits"))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["backbone"], "inception-v3");
        assert_eq!(v["input_size"], 75);
        assert_eq!(v["classes"].as_array().unwrap().len(), 6);
        assert!(v["test_accuracy"].as_f64().unwrap() > 0.0);
        assert_eq!(v["ready"], true);
        let v: Value = c
            .get(service.url("/v1/models"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["models"][0]["name"], "fruits");
        let r = c.get(service.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    });
    let (status, _) = service.stop();
    assert!(status.success(), "{status:?}");
}

/// One sample of /metrics: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// /metrics, every line checked against the Prometheus text format.
struct Metrics(Vec<Sample>);

impl Metrics {
    async fn scrape(c: &reqwest::Client, service: &Service) -> Metrics {
        let r = c.get(service.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        Metrics(parse_exposition_format(&r.text().await.unwrap()))
    }

    /// The sum of the samples named `name` that carry `labels` (0 when none does).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let has = |sample: &[(String, String)], (k, v): &(&str, &str)| {
            sample.iter().any(|(sk, sv)| sk == k && sv == v)
        };
        self.0
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|kv| has(l, kv)))
            .map(|s| s.2)
            .fold(0.0, |a, b| a + b)
    }

    fn requests(&self, route: &str, status: u16) -> f64 {
        let status = status.to_string();
        self.get(
            "graft_http_requests_total",
            &[("route", route), ("status", &status)],
        )
    }
}

/// Parses the Prometheus text format strictly (panicking on any deviation): HELP and TYPE
/// comments, each sample of a family whose TYPE came first, names and label sets well formed
/// (label values escaped), values numbers, histogram buckets cumulative up to `+Inf`, which
/// equals `_count`.
fn parse_exposition_format(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut buckets: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
    let mut counts: HashMap<String, f64> = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect(line);
            assert!(valid_name(name) && !help.is_empty(), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(valid_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.into(), kind.into()).is_none(),
                "TYPE twice: {line}"
            );
        } else {
            let (name, labels, value) =
                parse_sample(line).unwrap_or_else(|| panic!("not a sample: {line}"));
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
                })
                .unwrap_or(&name)
                .to_string();
            assert!(
                types.contains_key(&family),
                "sample before its TYPE: {line}"
            );
            let mut series: Vec<String> = labels
                .iter()
                .filter(|(k, _)| k != "le")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            series.sort();
            let key = format!("{family}{series:?}");
            if name.ends_with("_bucket") && family != name {
                let le = labels.iter().find(|(k, _)| k == "le").expect(line);
                let le = if le.1 == "+Inf" {
                    f64::INFINITY
                } else {
                    le.1.parse().expect(line)
                };
                buckets.entry(key).or_default().push((le, value));
            } else if name.ends_with("_count") && family != name {
                counts.insert(key, value);
            }
            samples.push((name, labels, value));
        }
    }
    assert!(!buckets.is_empty(), "no histogram in:\n{text}");
    for (key, b) in &buckets {
        assert!(
            b.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{key}: {b:?}"
        );
        let last = b.last().unwrap();
        assert!(
            last.0.is_infinite() && Some(&last.1) == counts.get(key),
            "{key}: {b:?} {counts:?}"
        );
    }
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{k="v",...} value`, with escaped label values; None when malformed.
fn parse_sample(line: &str) -> Option<Sample> {
    let end = line.find(['{', ' '])?;
    let (name, mut rest) = line.split_at(end);
    let mut labels = Vec::new();
    if let Some(mut r) = rest.strip_prefix('{') {
        while !r.starts_with('}') {
            let (key, after) = r.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let close = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => value.push(match chars.next()?.1 {
                        'n' => '\n',
                        c @ ('\\' | '"') => c,
                        _ => return None,
                    }),
                    (_, c) => value.push(c),
                }
            };
            if !valid_name(key) {
                return None;
            }
            labels.push((key.to_string(), value));
            r = &after[close + 1..];
            r = r.strip_prefix(',').unwrap_or(r);
        }
        rest = &r[1..];
    }
    let value = rest.strip_prefix(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    valid_name(name).then(|| (name.to_string(), labels, value))
}

#[test]
fn metrics_and_the_access_log_count_the_requests_sent() {
    let image = std::fs::read(&test_images(1)[0]).unwrap();
    let mut service = Service::start(&[]);
    let url = service.url("/v1/models/fruits/predict");
    let mut ids = Vec::new();
    let m = runtime().block_on(async {
        let c = client();
        let mut send = async |url: &str, body: Vec<u8>, want: StatusCode| {
            let r = post_image(&c, url, body).await;
            assert_eq!(r.status(), want);
            ids.push((
                r.headers()["x-request-id"].to_str().unwrap().to_string(),
                want.as_u16(),
            ));
        };
        for _ in 0..5 {
            send(&url, image.clone(), StatusCode::OK).await;
        }
        for _ in 0..2 {
            send(&url, b"not an image".to_vec(), StatusCode::BAD_REQUEST).await;
        }
        send(
            &service.url("/v1/models/nope/predict"),
            image.clone(),
            StatusCode::NOT_FOUND,
        )
        .await;
        for _ in 0..3 {
            assert_eq!(
                c.get(service.url("/healthz"))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                StatusCode::OK
            );
        }
        Metrics::scrape(&c, &service).await
    });
    assert_eq!(m.requests(PREDICT_ROUTE, 200), 5.0);
    assert_eq!(m.requests(PREDICT_ROUTE, 400), 2.0);
    assert_eq!(m.requests(PREDICT_ROUTE, 404), 1.0);
    assert_eq!(m.requests("/healthz", 200), 3.0);
    let model = [("model", "fruits")];
    assert_eq!(m.get("graft_images_decoded_total", &model), 5.0);
    assert_eq!(m.get("graft_images_rejected_total", &model), 2.0);
    // Sequential requests: one forward pass each; the warm-up pass is not counted.
    assert_eq!(m.get("graft_batch_size_sum", &model), 5.0);
    assert_eq!(m.get("graft_batch_size_count", &model), 5.0);
    assert_eq!(m.get("graft_forward_seconds_count", &model), 5.0);
    assert_eq!(
        m.get(
            "graft_http_request_duration_seconds_count",
            &[("route", PREDICT_ROUTE)]
        ),
        8.0
    );
    assert_eq!(
        m.get("graft_http_requests_in_flight", &[]),
        1.0,
        "the scrape itself"
    );
    assert_eq!(m.get("graft_model_ready", &model), 1.0);
    assert_eq!(m.get("graft_queue_depth", &model), 0.0);
    assert!(m.get("process_resident_memory_bytes", &[]) > 1e6);

    let (status, log) = service.stop();
    assert!(status.success(), "{status:?}");
    let requests: Vec<&Value> = log
        .iter()
        .filter(|l| l["event"] == "request" && l["path"].as_str().unwrap().ends_with("/predict"))
        .collect();
    let logged: Vec<(String, u16)> = requests
        .iter()
        .map(|l| {
            (
                l["request_id"].as_str().unwrap().to_string(),
                l["status"].as_u64().unwrap() as u16,
            )
        })
        .collect();
    assert_eq!(
        logged, ids,
        "one access-log line per request, with its id and status"
    );
    for l in &requests {
        assert!(
            l["ts"].is_string() && l["ms"].is_number() && l["method"] == "POST",
            "{l}"
        );
        assert!(
            l["remote"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{l}"
        );
    }
    assert_eq!(requests[0]["images"], 1);
    assert_eq!(
        requests[5]["error"],
        "image: not an image (unrecognized format)"
    );
    assert!(
        log.iter()
            .any(|l| l["event"] == "stopped" && l["drained"] == true)
    );
}

#[test]
fn bad_requests_are_refused_with_the_status_that_names_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let image = std::fs::read(&test_images(1)[0]).unwrap();
    let mut service = Service::start(&[
        "--max-body",
        "64K",
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    let url = service.url("/v1/models/fruits/predict");
    runtime().block_on(async {
        let c = client();
        let auth = "Bearer s3cret-token";
        // The token: required on /v1/, not on probes and metrics.
        let r = c.get(service.url("/v1/models")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let r = c
            .post(&url)
            .header("authorization", "Bearer wrong")
            .body(image.clone());
        assert_eq!(r.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let r = c
            .get(service.url("/v1/models"))
            .header("authorization", auth);
        assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
        for open in ["/healthz", "/readyz", "/metrics"] {
            assert_eq!(
                c.get(service.url(open)).send().await.unwrap().status(),
                StatusCode::OK,
                "{open}"
            );
        }
        let expect = async |r: reqwest::RequestBuilder, status: StatusCode, reason: &str| {
            let r = r.header("authorization", auth).send().await.unwrap();
            assert_eq!(r.status(), status, "{reason}");
            assert!(r.headers().contains_key("x-request-id"));
            let v: Value = r.json().await.unwrap();
            let error = v["error"].as_str().unwrap();
            assert!(
                error.contains(reason),
                "{error:?} should contain {reason:?}"
            );
        };
        let raw = |body: Vec<u8>| c.post(&url).header("content-type", "image/jpeg").body(body);
        expect(
            raw(vec![7; 100 << 10]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "--max-body",
        )
        .await;
        expect(raw(Vec::new()), StatusCode::BAD_REQUEST, "empty").await;
        expect(
            raw(b"plain text".to_vec()),
            StatusCode::BAD_REQUEST,
            "not an image",
        )
        .await;
        expect(
            raw(image[..image.len() / 2].to_vec()),
            StatusCode::BAD_REQUEST,
            "truncated JPEG",
        )
        .await;
        let form = Form::new()
            .part("a", Part::bytes(image.clone()))
            .part("b", Part::bytes(b"GIF89a?".to_vec()));
        expect(
            c.post(&url).multipart(form),
            StatusCode::BAD_REQUEST,
            "part 'b'",
        )
        .await;
        let bad64 = c
            .post(&url)
            .json(&json!({"image_base64": "@@not base64@@"}));
        expect(bad64, StatusCode::BAD_REQUEST, "not valid base64").await;
        expect(
            c.post(&url).json(&json!({"image": "x"})),
            StatusCode::BAD_REQUEST,
            "image_base64",
        )
        .await;
        let text = c
            .post(&url)
            .header("content-type", "text/plain")
            .body("hello");
        expect(text, StatusCode::UNSUPPORTED_MEDIA_TYPE, "image/*").await;
        expect(
            c.post(format!("{url}?top_k=0")).body(image.clone()),
            StatusCode::BAD_REQUEST,
            "top_k",
        )
        .await;
        expect(
            c.post(format!("{url}?top_k=x")).body(image.clone()),
            StatusCode::BAD_REQUEST,
            "top_k",
        )
        .await;
        let unknown = c
            .post(service.url("/v1/models/other/predict"))
            .body(image.clone());
        expect(
            unknown,
            StatusCode::NOT_FOUND,
            "no model named 'other' (serving: fruits)",
        )
        .await;
        expect(
            c.get(service.url("/v1/nothing")),
            StatusCode::NOT_FOUND,
            "no such route",
        )
        .await;
        // And the service still answers.
        let r = raw(image.clone())
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    });
    let (status, _) = service.stop();
    assert!(status.success(), "{status:?}");
}

/// Sends `n` requests at once (image `i % images.len()` each); returns (status, body, seconds).
async fn burst(
    c: &reqwest::Client,
    url: &str,
    images: &[Vec<u8>],
    n: usize,
) -> Vec<(StatusCode, reqwest::header::HeaderMap, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (c, url, body) = (c.clone(), url.to_string(), images[i % images.len()].clone());
            tokio::spawn(async move {
                let r = post_image(&c, &url, body).await;
                let (status, headers) = (r.status(), r.headers().clone());
                (status, headers, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[test]
fn two_hundred_concurrent_requests_are_all_answered_and_share_forward_passes() {
    let images = test_images(3);
    let want = graft_predict(&images, 3, "auto");
    let bytes: Vec<Vec<u8>> = images.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut service = Service::start(&["--queue", "256"]);
    let url = service.url("/v1/models/fruits/predict");
    runtime().block_on(async {
        let c = client();
        let answers = burst(&c, &url, &bytes, 200).await;
        for (i, (status, _, v)) in answers.iter().enumerate() {
            assert_eq!(*status, StatusCode::OK, "{v}");
            assert_same(&classes_of(&v["predictions"]), &want[i % 3], "concurrent");
        }
        // 32 clients, each sending its next request when the last is answered.
        let before = Metrics::scrape(&c, &service).await;
        let clients: Vec<_> = (0..32)
            .map(|i| {
                let (c, url, body) = (c.clone(), url.clone(), bytes[i % 3].clone());
                tokio::spawn(async move {
                    for _ in 0..4 {
                        assert_eq!(
                            post_image(&c, &url, body.clone()).await.status(),
                            StatusCode::OK
                        );
                    }
                })
            })
            .collect();
        for t in clients {
            t.await.unwrap();
        }
        let after = Metrics::scrape(&c, &service).await;
        let model = [("model", "fruits")];
        let delta = |name: &str| after.get(name, &model) - before.get(name, &model);
        let images = delta("graft_batch_size_sum");
        let passes = delta("graft_batch_size_count");
        assert_eq!(images, 128.0);
        let mean = images / passes;
        eprintln!("32 clients: {images} images in {passes} forward passes, mean batch {mean:.2}");
        assert!(mean > 1.0, "mean batch size {mean}");
        assert_eq!(after.requests(PREDICT_ROUTE, 200), 200.0 + 128.0);
    });
    let (status, _) = service.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_full_queue_is_answered_503_with_retry_after_and_nothing_is_dropped() {
    let bytes = vec![std::fs::read(&test_images(1)[0]).unwrap()];
    let mut service = Service::start(&["--queue", "1", "--max-batch", "1"]);
    let url = service.url("/v1/models/fruits/predict");
    let (ok, refused, m) = runtime().block_on(async {
        let c = client();
        let answers = burst(&c, &url, &bytes, 48).await;
        let (mut ok, mut refused) = (0, 0);
        for (status, headers, v) in &answers {
            match *status {
                StatusCode::OK => ok += 1,
                StatusCode::SERVICE_UNAVAILABLE => {
                    refused += 1;
                    assert_eq!(headers["retry-after"], "1");
                    assert_eq!(v["error"], "the model's queue is full");
                }
                other => panic!("unexpected {other}: {v}"),
            }
        }
        (ok, refused, Metrics::scrape(&c, &service).await)
    });
    eprintln!("48 requests at once, queue 1: {ok} answered 200, {refused} answered 503");
    assert_eq!(ok + refused, 48);
    assert!(ok >= 1 && refused >= 1, "{ok} ok, {refused} refused");
    let bound = [("model", "fruits"), ("bound", "queue")];
    assert_eq!(
        m.get("graft_overload_rejections_total", &bound),
        refused as f64
    );
    assert_eq!(m.requests(PREDICT_ROUTE, 503), refused as f64);
    assert_eq!(
        m.get("graft_batch_size_sum", &[("model", "fruits")]),
        ok as f64
    );
    let (status, _) = service.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_during_load_finishes_the_requests_in_flight_and_exits_0() {
    let bytes = vec![std::fs::read(&test_images(1)[0]).unwrap()];
    let mut service = Service::start(&["--queue", "128", "--max-batch", "1"]);
    let url = service.url("/v1/models/fruits/predict");
    let rt = runtime();
    let c = client();
    let load = rt.spawn({
        let (c, url) = (c.clone(), url.clone());
        async move { burst(&c, &url, &bytes, 64).await }
    });
    // Wait until every request is in: being answered or answered (the gauge counts the scrape
    // too). A request still in the listen backlog at SIGTERM is not in flight: the closed
    // listener refuses it (with bf16's faster forward passes the first half could be answered
    // before the second had arrived).
    let in_flight = rt.block_on(async {
        let start = Instant::now();
        loop {
            let m = Metrics::scrape(&c, &service).await;
            let n = m.get("graft_http_requests_in_flight", &[]) - 1.0;
            let answered = m.get("graft_http_requests_total", &[("method", "POST")]);
            if n + answered >= 64.0 || load.is_finished() {
                return n;
            }
            assert!(start.elapsed() < PATIENCE, "the requests never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    assert!(in_flight >= 32.0, "only {in_flight} requests in flight");
    service.terminate();
    let draining = service.wait_for("draining");
    assert!(draining["in_flight"].as_i64().unwrap() > 0, "{draining}");
    let answers = rt.block_on(load).unwrap();
    let (status, log) = service.wait_exit();
    let failed: Vec<&Value> = log
        .iter()
        .filter(|l| l["event"] == "request" && l["status"] != 200)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for (status, _, v) in &answers {
        assert_eq!(*status, StatusCode::OK, "{v}");
    }
    assert_eq!(status.code(), Some(0), "{log:#?}");
    let stopped = log.iter().find(|l| l["event"] == "stopped").unwrap();
    assert_eq!(stopped["drained"], true);
}

#[test]
fn answers_later_than_the_timeout_are_504() {
    let bytes = vec![std::fs::read(&test_images(1)[0]).unwrap()];
    let mut service = Service::start(&["--queue", "256", "--max-batch", "1", "--timeout", "0.1"]);
    let url = service.url("/v1/models/fruits/predict");
    let answers = runtime().block_on(async { burst(&client(), &url, &bytes, 64).await });
    let late: Vec<&Value> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::GATEWAY_TIMEOUT)
        .map(|a| &a.2)
        .collect();
    assert!(
        answers
            .iter()
            .all(|a| a.0 == StatusCode::OK || a.0 == StatusCode::GATEWAY_TIMEOUT)
    );
    assert!(
        !late.is_empty(),
        "64 requests, one model thread, 100 ms: some must be late"
    );
    assert_eq!(late[0]["error"], "no answer within 100 ms (--timeout)");
    let (status, _) = service.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_folder_that_is_not_a_finished_run_exits_2_before_listening() {
    let empty = tempfile::tempdir().unwrap();
    for (args, reason) in [
        (vec![empty.path().to_str().unwrap()], "not a run folder"),
        (vec!["/no/such/run"], "/no/such/run"),
        (
            vec![empty.path().to_str().unwrap(), "--max-batch", "0"],
            "--max-batch",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_graft"))
            .arg("serve")
            .args(&args)
            .args(["--addr", "127.0.0.1:0"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(reason) && !stderr.contains("listening"),
            "{stderr}"
        );
    }
}
