//! Start-up as an operator meets it: the `tenantry` binary on the embedded default and on
//! PostgreSQL, the first-start bootstrap, operator commands, and the config file's strictness.

use crate::support::PASSWORD;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tenantry_store::Backend;

/// A running `tenantry serve`, killed when dropped.
struct Process {
    child: Child,
    base: String,
    output: Vec<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tenantry(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    command.current_dir(cwd);
    for (key, _) in std::env::vars() {
        if key.starts_with("TENANTRY_") {
            command.env_remove(key);
        }
    }
    command
}

/// Starts `tenantry serve --listen 127.0.0.1:0 …` and waits for its "listening" line.
fn serve(cwd: &Path, extra: &[&str], env: &[(&str, &str)]) -> Process {
    let mut command = tenantry(cwd);
    command.args(["serve", "--listen", "127.0.0.1:0"]).args(extra).stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().unwrap_or_else(|e| panic!("spawn: {e}"));
    let mut process = Process { child, base: String::new(), output: Vec::new() };
    let stdout = process.child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            panic!("no listening line; got {:?}", process.output);
        };
        let base =
            line.split("listening on ").nth(1).and_then(|rest| rest.split_whitespace().next()).map(str::to_owned);
        process.output.push(line);
        if let Some(base) = base {
            process.base = base;
            return process;
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("startup").join(format!("{name}-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn uuid_like() -> String {
    format!(
        "{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
    )
}

async fn post(base: &str, path: &str, body: Value) -> reqwest::Response {
    crate::support::client().post(format!("{base}{path}")).json(&body).send().await.unwrap_or_else(|e| panic!("{e}"))
}

async fn login_cookie(base: &str, email: &str, password: &str) -> Option<String> {
    let reply = post(base, "/api/v1/auth/login", json!({"email": email, "password": password})).await;
    if reply.status() != 200 {
        return None;
    }
    reply.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|c| c.split(';').next()).map(str::to_owned)
}

async fn get_status(base: &str, path: &str, cookie: Option<&str>) -> u16 {
    let mut request = crate::support::client().get(format!("{base}{path}"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.map(|r| r.status().as_u16()).unwrap_or_default()
}

#[tokio::test]
async fn serve_without_configuration_creates_the_sqlite_file_and_a_working_setup_link() {
    let dir = scratch("default");
    let first = serve(&dir, &[], &[]);
    assert!(dir.join("tenantry.db").exists(), "the embedded database is ./tenantry.db");
    let link = first
        .output
        .iter()
        .find_map(|l| l.split("setup link for admin@tenantry.local: ").nth(1))
        .unwrap_or_else(|| panic!("no setup link in {:?}", first.output));
    let token = link.split("token=").nth(1).unwrap_or_default();
    assert_eq!(get_status(&first.base, "/healthz", None).await, 200);
    assert_eq!(get_status(&first.base, "/readyz", None).await, 200);
    assert_eq!(get_status(&first.base, "/metrics", None).await, 200);
    assert_eq!(login_cookie(&first.base, "admin@tenantry.local", PASSWORD).await, None, "invited until activated");
    let activated = post(&first.base, "/api/v1/auth/activate", json!({"token": token, "password": PASSWORD})).await;
    assert_eq!(activated.status(), 204);
    let cookie =
        login_cookie(&first.base, "admin@tenantry.local", PASSWORD).await.unwrap_or_else(|| panic!("cannot sign in"));
    assert_eq!(get_status(&first.base, "/api/v1/me", Some(&cookie)).await, 200);
    drop(first);

    let second = serve(&dir, &[], &[]);
    assert!(!second.output.iter().any(|l| l.contains("setup link")), "bootstrap runs once: {:?}", second.output);
    assert!(login_cookie(&second.base, "admin@tenantry.local", PASSWORD).await.is_some());
}

#[tokio::test]
async fn a_second_serve_on_the_same_sqlite_file_is_refused_while_the_first_runs() {
    let dir = scratch("one-writer");
    let first = serve(&dir, &[], &[]);
    // The same file under another spelling of its URL.
    let url = format!("sqlite://{}", dir.join("tenantry.db").display());
    for extra in [&[][..], &["--database-url", url.as_str()][..]] {
        let mut second = tenantry(&dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = second.try_wait().unwrap_or_else(|e| panic!("{e}")) {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = second.kill();
                panic!("a second server on one file ({extra:?}) started");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut second.stderr.take().unwrap_or_else(|| panic!("no stderr")), &mut stderr)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!status.success(), "a second server on one file must not start");
        assert!(stderr.contains("another `tenantry serve` is serving"), "says why: {stderr}");
    }
    assert_eq!(get_status(&first.base, "/healthz", None).await, 200, "the first goes on");
    // Operator commands still work beside the server, and a restart after it stops is fine.
    let link = tenantry(&dir)
        .args(["admin", "setup-link", "--email", "admin@tenantry.local"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(link.status.success(), "{}", String::from_utf8_lossy(&link.stderr));
    drop(first);
    let again = serve(&dir, &[], &[]);
    assert_eq!(get_status(&again.base, "/healthz", None).await, 200);
}

#[tokio::test]
async fn a_lost_setup_link_is_replaced_by_an_operator_command() {
    let dir = scratch("lost-link");
    let first = serve(&dir, &[], &[]);
    assert!(first.output.iter().any(|l| l.contains("setup link")));
    drop(first);
    let again = serve(&dir, &[], &[]);
    assert!(
        again.output.iter().any(|l| l.contains("admin@tenantry.local has not set a password yet")),
        "a later start says how to go on: {:?}",
        again.output
    );
    let printed = tenantry(&dir)
        .args(["admin", "setup-link", "--email", "admin@tenantry.local"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&printed.stdout).to_string();
    assert!(printed.status.success(), "{stdout}");
    let token = stdout.split("token=").nth(1).and_then(|t| t.split_whitespace().next()).unwrap_or_default();
    let activated = post(&again.base, "/api/v1/auth/activate", json!({"token": token, "password": PASSWORD})).await;
    assert_eq!(activated.status(), 204, "the new link works");
    assert!(login_cookie(&again.base, "admin@tenantry.local", PASSWORD).await.is_some());
    let unknown = tenantry(&dir).args(["admin", "setup-link", "--email", "nobody@example.test"]).output();
    assert!(!unknown.map(|o| o.status.success()).unwrap_or(true), "only invited users get a link");
}

#[tokio::test]
async fn two_processes_on_one_postgres_database_share_sign_ins() {
    let dir = scratch("postgres");
    let Some(url) = tenantry_store::testing::fresh_database(Backend::Postgres, &dir).await else {
        return;
    };
    let env = [
        ("TENANTRY_DATABASE_URL", url.as_str()),
        ("TENANTRY_BOOTSTRAP_ADMIN_EMAIL", "ops@example.test"),
        ("TENANTRY_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
    ];
    let one = serve(&dir, &[], &env);
    let two = serve(&dir, &[], &env);
    let cookie =
        login_cookie(&one.base, "ops@example.test", PASSWORD).await.unwrap_or_else(|| panic!("cannot sign in"));
    assert_eq!(get_status(&two.base, "/api/v1/me", Some(&cookie)).await, 200, "sessions live in the database");
    assert_eq!(get_status(&two.base, "/readyz", None).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_check_each_due_target_exactly_once() {
    let dir = scratch("scheduler");
    let Some(url) = tenantry_store::testing::fresh_database(Backend::Postgres, &dir).await else {
        return;
    };
    let ca = crate::support::TestCa::get();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap_or_else(|e| panic!("{e}"));
    let ca_path = ca_file.display().to_string();
    let env = [
        ("TENANTRY_DATABASE_URL", url.as_str()),
        ("TENANTRY_BOOTSTRAP_ADMIN_EMAIL", "ops@example.test"),
        ("TENANTRY_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
        ("TENANTRY_MONITOR_ALLOW_PRIVATE", "1"),
        ("TENANTRY_MONITOR_CA_FILE", ca_path.as_str()),
        ("TENANTRY_MONITOR_POLL_SECS", "1"),
    ];
    let one = serve(&dir, &[], &env);
    let _two = serve(&dir, &[], &env);
    // Five TLS servers, each monitored under two names: ten due targets.
    let mut counters = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..5 {
        let (chain, key) = ca.leaf(&["localhost", "127.0.0.1"], -1, 90);
        let (address, handshakes) =
            tenantry_monitor::testing::serve_tls_counted(chain, key).await.unwrap_or_else(|e| panic!("{e}"));
        counters.push(handshakes);
        ports.push(address.port());
    }
    let http = crate::support::client();
    let signed_in =
        post(&one.base, "/api/v1/auth/login", json!({"email": "ops@example.test", "password": PASSWORD})).await;
    let cookie = signed_in.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|c| c.split(';').next());
    let cookie = cookie.unwrap_or_default().to_owned();
    let csrf =
        signed_in.json::<Value>().await.unwrap_or_default()["csrf_token"].as_str().unwrap_or_default().to_owned();
    // A signed-in POST, inside the access session `inside` names, if any.
    let send = |path: String, body: Value, inside: Option<String>| {
        let (http, cookie, csrf, base) = (http.clone(), cookie.clone(), csrf.clone(), one.base.clone());
        async move {
            let mut request =
                http.post(format!("{base}{path}")).header("cookie", cookie).header("x-csrf-token", csrf).json(&body);
            if let Some(session) = inside {
                request = request.header("x-access-session", session);
            }
            let reply = request.send().await.unwrap_or_else(|e| panic!("{e}"));
            assert!(reply.status().is_success(), "{path}: {}", reply.status());
            reply.json::<Value>().await.unwrap_or_default()
        }
    };
    let admin = json!({"email": "boss@customer.test", "name": "Boss", "password": PASSWORD});
    let body = json!({"kind": "customer", "name": "Customer", "admin": admin});
    let created = send("/api/v1/accounts".into(), body, None).await;
    let customer = created["account"]["id"].as_str().unwrap_or_default().to_owned();
    // The platform admin works in the customer through an access session of its own.
    let session =
        send(format!("/api/v1/accounts/{customer}/access-sessions"), json!({"password": PASSWORD}), None).await;
    let inside = Some(session["id"].as_str().unwrap_or_default().to_owned());
    let collection =
        send(format!("/api/v1/accounts/{customer}/collections"), json!({"name": "Edge"}), inside.clone()).await;
    let collection = collection["id"].as_str().unwrap_or_default().to_owned();
    for port in &ports {
        for host in ["localhost", "127.0.0.1"] {
            let body = json!({"hostname": host, "port": port, "collection_id": collection});
            send(format!("/api/v1/accounts/{customer}/targets"), body, inside.clone()).await;
        }
    }
    // Both processes poll every second; wait until all ten are checked, then a few more rounds.
    let total = || counters.iter().map(|c| c.load(std::sync::atomic::Ordering::SeqCst)).sum::<usize>();
    for _ in 0..60 {
        if total() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(total(), 10, "each due target was checked by exactly one of the two processes");
}

#[tokio::test]
async fn operators_migrate_and_create_users_from_the_command_line() {
    let dir = scratch("operator");
    let url = format!("sqlite://{}", dir.join("ops.db").display());
    let migrate = tenantry(&dir).args(["migrate", "--database-url", &url]).output().unwrap_or_else(|e| panic!("{e}"));
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let password_file = dir.join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap_or_else(|e| panic!("{e}"));
    let created = tenantry(&dir)
        .args([
            "admin",
            "create-user",
            "--email",
            "second@ops.test",
            "--name",
            "Second",
            "--database-url",
            &url,
            "--password-file",
        ])
        .arg(&password_file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let wrong_role = tenantry(&dir)
        .args([
            "admin",
            "create-user",
            "--email",
            "third@ops.test",
            "--name",
            "Third",
            "--role",
            "viewer",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!wrong_role.status.success(), "a viewer does not fit the platform account");
    let server = serve(&dir, &["--database-url", &url], &[]);
    assert!(login_cookie(&server.base, "second@ops.test", PASSWORD).await.is_some());
}

#[tokio::test]
async fn a_config_file_with_an_unknown_key_is_refused_and_a_good_one_is_used() {
    let dir = scratch("config");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "listen = \"127.0.0.1:0\"\nlisten_port = 9\n").unwrap_or_else(|e| panic!("{e}"));
    let refused = tenantry(&dir).arg("--config").arg(&bad).arg("serve").output().unwrap_or_else(|e| panic!("{e}"));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("listen_port"));

    let good = dir.join("good.toml");
    let db = dir.join("from-config.db");
    std::fs::write(
        &good,
        format!("database_url = \"sqlite://{}\"\nbootstrap_admin_email = \"cfg@ops.test\"\n", db.display()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let server = serve(&dir, &["--config", good.to_str().unwrap_or_default()], &[]);
    assert!(db.exists());
    assert!(server.output.iter().any(|l| l.contains("setup link for cfg@ops.test")), "{:?}", server.output);
}
