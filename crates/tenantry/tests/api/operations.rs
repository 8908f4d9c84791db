//! Operating the real binary: a graceful stop on SIGTERM and SIGINT, backup and restore of the
//! embedded database while it serves, the trail export on the command line, and JSON logs.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tenantry_store::Backend;

crate::api_tests_with_url!(
    a_stop_signal_refuses_new_connections_finishes_the_request_in_flight_and_exits_0,
    a_request_that_never_finishes_is_cut_off_after_the_grace_period,
    a_backup_taken_while_serving_restores_without_the_later_writes_and_its_trails_verify,
    the_command_line_exports_a_trail_that_verifies_against_the_service_key,
);

#[test]
fn json_logs_are_one_object_a_line_and_carry_the_request_id() {
    let dir = scratch("logs");
    let url = format!("sqlite://{}", dir.join("logs.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .env("TENANTRY_LOG", "info,tenantry_server=debug")
        .env("TENANTRY_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stdout = BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("no stdout"))).lines();
    let address = stdout
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("tenantry listening on http://").map(|r| r.split(' ').next().unwrap_or_default().to_owned())
        })
        .unwrap_or_else(|| panic!("no listening line"));
    std::thread::spawn(move || stdout.for_each(drop));
    let mut stream = TcpStream::connect(&address).unwrap_or_else(|e| panic!("{e}"));
    let request = format!("GET /api/v1/nothing-here HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let id = answer
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no request id: {answer}"))
        .trim()
        .to_owned();
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let mut logs = String::new();
    let _ = child.stderr.take().unwrap_or_else(|| panic!("no stderr")).read_to_string(&mut logs);
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object a line ({e}): {l}")))
        .collect();
    let answered = lines
        .iter()
        .find(|l| l["span"]["id"] == json!(id))
        .unwrap_or_else(|| panic!("no line with the request id {id}: {logs}"));
    assert_eq!(answered["fields"]["status"], json!(404), "{answered}");
    assert_eq!(answered["span"]["path"], json!("/api/v1/nothing-here"));
    assert!(lines.iter().any(|l| l["fields"]["message"] == json!("serving")), "{logs}");
}

const ADMIN: &str = "ops@platform.test";
const PASSWORD: &str = "correct horse battery staple";

/// A running `tenantry serve`: its process, address and the lines it printed.
struct Served {
    child: Child,
    address: String,
    lines: mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start(url: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tenantry"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
            .env("TENANTRY_BOOTSTRAP_ADMIN_EMAIL", ADMIN)
            .env("TENANTRY_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
            .env("TENANTRY_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("{e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let address = loop {
            let line = lines.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no listening line"));
            if let Some(rest) = line.strip_prefix("tenantry listening on http://") {
                break rest.split_whitespace().next().unwrap_or_default().to_owned();
            }
        };
        Self { child, address, lines }
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{name}");
    }

    /// Waits up to `limit` for the process to end.
    fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether a new connection is refused, waiting up to five seconds for it to be.
    fn refuses_connections(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if TcpStream::connect(&self.address).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// A sign-in whose body is sent only in part: the request is in flight until the rest comes.
    fn half_sent_sign_in(&self) -> (TcpStream, Vec<u8>) {
        let body = format!(r#"{{"email":"{ADMIN}","password":"{PASSWORD}"}}"#).into_bytes();
        let mut stream = TcpStream::connect(&self.address).unwrap_or_else(|e| panic!("{e}"));
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap_or_else(|e| panic!("{e}"));
        let head = format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.address,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        stream.write_all(&body[..10]).unwrap_or_else(|e| panic!("{e}"));
        stream.flush().unwrap_or_else(|e| panic!("{e}"));
        // Let the server read the head and start the handler.
        std::thread::sleep(Duration::from_millis(300));
        (stream, body[10..].to_vec())
    }
}

async fn a_stop_signal_refuses_new_connections_finishes_the_request_in_flight_and_exits_0(_: Backend, url: String) {
    for signal in ["TERM", "INT"] {
        let mut served = Served::start(&url, &[]);
        let (mut stream, rest) = served.half_sent_sign_in();
        served.signal(signal);
        assert!(served.refuses_connections(), "SIG{signal}: no new connections once stopping");
        assert!(served.child.try_wait().unwrap_or_else(|e| panic!("{e}")).is_none(), "it waits for the request");
        stream.write_all(&rest).unwrap_or_else(|e| panic!("{e}"));
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "SIG{signal}: the request in flight is answered: {answer:?}");
        assert!(answer.contains("csrf_token"), "and it really signed in: {answer:?}");
        let status = served.exit_within(Duration::from_secs(15));
        assert_eq!(status.code(), Some(0), "SIG{signal}: a graceful stop exits 0");
        let printed: Vec<String> = served.lines.try_iter().collect();
        assert!(printed.iter().any(|l| l == "tenantry stopped"), "{printed:?}");
    }
}

async fn a_request_that_never_finishes_is_cut_off_after_the_grace_period(_: Backend, url: String) {
    let mut served = Served::start(&url, &[("TENANTRY_SHUTDOWN_GRACE_SECS", "2")]);
    let (_stuck, _never_sent) = served.half_sent_sign_in();
    let asked = Instant::now();
    served.signal("TERM");
    let status = served.exit_within(Duration::from_secs(20));
    let took = asked.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(took >= Duration::from_secs(2), "it waited for the request first: {took:?}");
    assert!(took < Duration::from_secs(10), "and stopped soon after the grace period: {took:?}");
}

/// `tenantry ARGS…` to its end: exit code, standard output and standard error.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(args)
        .env("TENANTRY_LOG", "error")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// The platform administrator, signed in over HTTP.
struct Operator {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Operator {
    async fn sign_in(served: &Served) -> Self {
        let http = crate::support::client();
        let base = format!("http://{}", served.address);
        let reply = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": ADMIN, "password": PASSWORD}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reply.status(), 200);
        let cookie = reply.headers()["set-cookie"].to_str().unwrap_or_default().split(';').next().unwrap_or_default();
        let cookie = cookie.to_owned();
        let body: Value = reply.json().await.unwrap_or_default();
        let csrf = body["csrf_token"].as_str().unwrap_or_default().to_owned();
        Self { http, base, cookie, csrf }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        (reply.status().as_u16(), reply.json().await.unwrap_or_default())
    }

    async fn create_customer(&self, name: &str) -> String {
        let email = format!("admin@{}.test", name.to_lowercase());
        let body =
            json!({"kind": "customer", "name": name, "admin": {"email": email, "name": "Admin", "password": PASSWORD}});
        let (status, created) = self.call(reqwest::Method::POST, "/accounts", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        created["account"]["id"].as_str().unwrap_or_default().to_owned()
    }

    async fn account_names(&self) -> Vec<String> {
        let (status, page) = self.call(reqwest::Method::GET, "/accounts?limit=500", None).await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().into_iter().flatten().filter_map(|a| a["name"].as_str().map(str::to_owned)).collect()
    }

    async fn own_account(&self) -> String {
        let (_, me) = self.call(reqwest::Method::GET, "/me", None).await;
        me["account"]["id"].as_str().or(me["account_id"].as_str()).unwrap_or_default().to_owned()
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("operations").join(format!(
        "{name}-{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

async fn a_backup_taken_while_serving_restores_without_the_later_writes_and_its_trails_verify(
    backend: Backend,
    url: String,
) {
    let dir = scratch("backup");
    let file = dir.join("snapshot.db");
    let file_arg = file.display().to_string();
    if backend == Backend::Postgres {
        for command in ["backup", "restore"] {
            let (code, _, stderr) = run(&[command, &file_arg, "--database-url", &url]);
            assert_eq!(code, Some(2), "{command} on PostgreSQL: {stderr}");
            assert!(stderr.contains("pg_dump") || stderr.contains("pg_restore"), "says what to use: {stderr}");
        }
        return;
    }
    let served = Served::start(&url, &[]);
    let operator = Operator::sign_in(&served).await;
    operator.create_customer("Before").await;
    let (code, stdout, stderr) = run(&["backup", &file_arg, "--database-url", &url]);
    assert_eq!(code, Some(0), "a backup beside the serving process: {stderr}");
    assert!(stdout.contains("integrity ok") && stdout.contains("verified"), "{stdout}");
    let (code, _, stderr) = run(&["backup", &file_arg, "--database-url", &url]);
    assert_eq!(code, Some(1), "a backup never overwrites: {stderr}");
    operator.create_customer("After").await;
    drop(served);

    let restored_url = format!("sqlite://{}", dir.join("restored.db").display());
    let (code, stdout, stderr) = run(&["restore", &file_arg, "--database-url", &restored_url]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("integrity ok"), "{stdout}");
    let (code, _, stderr) = run(&["restore", &file_arg, "--database-url", &restored_url]);
    assert_eq!(code, Some(1), "a restore needs an empty path: {stderr}");
    let (code, _, _) = run(&["restore", &file_arg, "--database-url", &url]);
    assert_eq!(code, Some(1), "nor over the live database");

    let served = Served::start(&restored_url, &[]);
    let operator = Operator::sign_in(&served).await;
    let names = operator.account_names().await;
    assert!(names.iter().any(|n| n == "Before"), "the snapshot's data: {names:?}");
    assert!(!names.iter().any(|n| n == "After"), "a write after the snapshot is not in it: {names:?}");
    let platform = operator.own_account().await;
    let (status, verdict) =
        operator.call(reqwest::Method::GET, &format!("/accounts/{platform}/audit/verify"), None).await;
    assert_eq!((status, &verdict["valid"]), (200, &json!(true)), "{verdict}");
    operator.create_customer("Later").await;
}

async fn the_command_line_exports_a_trail_that_verifies_against_the_service_key(_: Backend, url: String) {
    let dir = scratch("export");
    let served = Served::start(&url, &[]);
    let operator = Operator::sign_in(&served).await;
    for name in ["Alpha", "Beta"] {
        operator.create_customer(name).await;
    }
    let platform = operator.own_account().await;
    let (_, key) = operator.call(reqwest::Method::GET, "/audit/public-key", None).await;
    let key = key["public_key"].as_str().unwrap_or_default().to_owned();
    let (_, listed) = operator.call(reqwest::Method::GET, &format!("/accounts/{platform}/audit?limit=500"), None).await;
    let events = listed["items"].as_array().map_or(0, Vec::len);
    assert!(events >= 2, "{listed}");

    let jsonl = dir.join("trail.jsonl");
    let jsonl_arg = jsonl.display().to_string();
    let (code, _, stderr) = run(&["audit", "export", "--account", &platform, "--database-url", &url, &jsonl_arg]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = run(&["audit", "verify", &jsonl_arg, "--public-key", &key]);
    assert_eq!(code, Some(0), "the export verifies with the service's key: {stdout} {stderr}");
    let lines = std::fs::read_to_string(&jsonl).unwrap_or_default().lines().count();
    assert_eq!(lines, events + 1, "every event and the checkpoint");
    let (code, _, _) = run(&["audit", "export", "--account", &platform, "--database-url", &url, &jsonl_arg]);
    assert_eq!(code, Some(1), "an export never overwrites");

    let (code, csv, stderr) =
        run(&["audit", "export", "--account", &platform, "--format", "csv", "--database-url", &url]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(csv.starts_with("id,trail_account_id,seq,"), "{csv}");
    assert_eq!(csv.lines().count(), events + 1, "a header and every event");
    let unknown = "01900000-0000-7000-8000-000000000000";
    let (code, _, stderr) = run(&["audit", "export", "--account", unknown, "--database-url", &url]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("has no trail"), "{stderr}");
}
