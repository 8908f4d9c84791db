//! The kill -9 loop: the real binary serves while concurrent writers create collections and
//! record every creation it acknowledged (201); it is killed with SIGKILL at a random moment and
//! started again, and then every acknowledged write is there and the trails verify. 20 cycles per
//! engine by default; `TENANTRY_CRASH_CYCLES=1000` (SQLite) or `=100` (PostgreSQL) for the long
//! run: `cargo test -p tenantry --test api crash`.

use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tenantry_store::Backend;

crate::api_tests_with_url!(acknowledged_writes_survive_kill_9_and_every_trail_verifies);

const ADMIN: &str = "crash@platform.test";
const PASSWORD: &str = "correct horse battery staple";

fn serve(url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
        .env("TENANTRY_BOOTSTRAP_ADMIN_EMAIL", ADMIN)
        .env("TENANTRY_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
        .env("TENANTRY_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = std::io::BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().unwrap_or_else(|| panic!("the server exited")).unwrap_or_else(|e| panic!("{e}"));
        if let Some(rest) = line.strip_prefix("tenantry listening on ") {
            break rest.split_whitespace().next().unwrap_or_default().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

struct Caller {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Caller {
    async fn login(http: &reqwest::Client, base: &str, email: &str) -> Self {
        let reply = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reply.status(), 200);
        let cookie = reply.headers()["set-cookie"].to_str().unwrap_or_default().split(';').next().unwrap_or_default();
        let cookie = cookie.to_owned();
        let body: Value = reply.json().await.unwrap_or_default();
        let csrf = body["csrf_token"].as_str().unwrap_or_default().to_owned();
        Self { http: http.clone(), base: base.to_owned(), cookie, csrf }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .timeout(Duration::from_secs(10));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.map_err(|e| e.to_string())?;
        let status = reply.status().as_u16();
        Ok((status, reply.json().await.unwrap_or_default()))
    }
}

async fn acknowledged_writes_survive_kill_9_and_every_trail_verifies(backend: Backend, url: String) {
    let cycles: usize = std::env::var("TENANTRY_CRASH_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(20);
    let http = crate::support::client();
    let (mut child, base) = serve(&url);
    let root = Caller::login(&http, &base, ADMIN).await;
    let mut parent: Option<String> = None;
    let mut customer = String::new();
    for (kind, email) in [("partner", "p@crash.test"), ("msp", "m@crash.test"), ("customer", "boss@crash.test")] {
        let mut body = json!({"kind": kind, "name": format!("Crash {kind}"),
            "admin": {"email": email, "name": "Admin", "password": PASSWORD}});
        if let Some(parent) = &parent {
            body["parent_id"] = json!(parent);
        }
        let (status, created) = root.send(reqwest::Method::POST, "/accounts", Some(body)).await.unwrap_or_default();
        assert_eq!(status, 201, "{created}");
        customer = created["account"]["id"].as_str().unwrap_or_default().to_owned();
        parent = Some(customer.clone());
    }
    let boss = Arc::new(Caller::login(&http, &base, "boss@crash.test").await);
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64);
    let mut base = base;
    let (mut checked, mut last) = (0, None);
    for cycle in 0..cycles {
        // Four writers until the kill.
        let mut writers = Vec::new();
        for writer in 0..4 {
            let (boss, acknowledged, customer) = (boss.clone(), acknowledged.clone(), customer.clone());
            let path = format!("/accounts/{customer}/collections");
            let base = base.clone();
            writers.push(tokio::spawn(async move {
                let boss = Caller { base, ..Caller::clone_of(&boss) };
                for n in 0.. {
                    let body = json!({"name": format!("c{cycle}-{writer}-{n}")});
                    match boss.send(reqwest::Method::POST, &path, Some(body)).await {
                        Ok((201, created)) => {
                            let id = created["id"].as_str().unwrap_or_default().to_owned();
                            acknowledged.lock().unwrap_or_else(|e| e.into_inner()).push(id);
                        }
                        Ok((status, body)) => panic!("cycle {cycle}: a write answered {status}: {body}"),
                        Err(_) => return,
                    }
                }
            }));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(50 + seed % 400)).await;
        let _ = child.kill();
        let _ = child.wait();
        for writer in writers {
            writer.await.unwrap_or_else(|e| panic!("{e}"));
        }
        let (restarted, new_base) = serve(&url);
        child = restarted;
        base = new_base;
        let boss = Caller { base: base.clone(), ..Caller::clone_of(&boss) };
        let (status, verdict) = boss
            .send(reqwest::Method::GET, &format!("/accounts/{customer}/audit/verify"), None)
            .await
            .unwrap_or_default();
        assert_eq!((status, &verdict["valid"]), (200, &json!(true)), "cycle {cycle}: {verdict}");
        // This cycle's acknowledged writes, one by one (earlier ones were checked after their
        // own cycle, and all of them are listed once at the end).
        let this_cycle: Vec<String> = acknowledged.lock().unwrap_or_else(|e| e.into_inner())[checked..].to_vec();
        for id in &this_cycle {
            let path = format!("/accounts/{customer}/collections/{id}");
            let (status, _) = boss.send(reqwest::Method::GET, &path, None).await.unwrap_or_default();
            assert_eq!(status, 200, "{backend:?} cycle {cycle}: the acknowledged write {id} was lost");
        }
        checked += this_cycle.len();
        last = Some(boss);
    }
    let boss = last.unwrap_or_else(|| panic!("no cycle ran"));
    let mut stored = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/accounts/{customer}/collections?limit=500&cursor={cursor}");
        let (status, page) = boss.send(reqwest::Method::GET, &path, None).await.unwrap_or_default();
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().into_iter().flatten() {
            stored.insert(item["id"].as_str().unwrap_or_default().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let all = acknowledged.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let lost: Vec<&String> = all.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{backend:?}: {} acknowledged writes lost: {lost:?}", lost.len());
    let count = acknowledged.lock().unwrap_or_else(|e| e.into_inner()).len();
    assert!(count > cycles, "writes were made: {count}");
    println!("{backend:?}: {cycles} kills, {count} acknowledged writes, none lost");
    let _ = child.kill();
    let _ = child.wait();
}

impl Caller {
    fn clone_of(other: &Caller) -> Caller {
        Caller {
            http: other.http.clone(),
            base: other.base.clone(),
            cookie: other.cookie.clone(),
            csrf: other.csrf.clone(),
        }
    }
}
