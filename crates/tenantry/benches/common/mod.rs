//! What the benchmarks share: the in-process server on a loopback port, a signed-in HTTP client,
//! and a rate measured over a fixed window after a warm-up.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tenantry_domain::SystemClock;
use tenantry_server::{App, Settings};
use tenantry_store::Backend;
use tokio::net::TcpListener;

/// The binary's allocator (see `src/main.rs`), so the in-process server is measured as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub const PASSWORD: &str = "correct horse battery staple";
pub const WARMUP: Duration = Duration::from_secs(2);
pub const MEASURE: Duration = Duration::from_secs(10);
pub const ADMIN: &str = "bench@platform.test";

/// Operations per second of `op`, run by `workers` concurrent tasks for `MEASURE` after `WARMUP`.
pub async fn rate<F, Fut>(workers: usize, op: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let count = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_at = Instant::now() + WARMUP + MEASURE;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (op, count, measuring) = (op.clone(), count.clone(), measuring.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < stop_at {
                let ok = op().await;
                assert!(ok, "a benchmarked request failed");
                if measuring.load(Ordering::Relaxed) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(WARMUP).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    for task in tasks {
        let _ = task.await;
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The server under measurement and a client for it.
pub struct Bench {
    pub base: String,
    pub http: reqwest::Client,
    pub app: App,
}

impl Bench {
    /// Starts the real server in-process on a fresh database of `backend` with the bootstrap
    /// administrator; `None` when PostgreSQL is not configured.
    pub async fn start(backend: Backend, settings: Settings) -> Option<Bench> {
        let url = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("tenantry-bench-{}", std::process::id()));
                std::fs::create_dir_all(&dir).ok()?;
                let file = dir.join(format!("bench-{}.db", uuid_like()));
                format!("sqlite://{}", file.display())
            }
            Backend::Postgres => {
                tenantry_store::testing::fresh_database(Backend::Postgres, &std::env::temp_dir()).await?
            }
        };
        let clock = Arc::new(SystemClock);
        let store = tenantry_store::connect(&url, clock.clone()).await.ok()?;
        let listener = TcpListener::bind("127.0.0.1:0").await.ok()?;
        let addr = listener.local_addr().ok()?;
        let app = App::new(store, clock, settings, addr).await.ok()?;
        tenantry_server::bootstrap::bootstrap(&app, Some(ADMIN), Some(PASSWORD)).await.ok()?;
        tokio::spawn(tenantry_server::serve(listener, app.clone(), std::future::pending()));
        let _ = rustls::crypto::ring::default_provider().install_default();
        Some(Bench { base: format!("http://{addr}"), http: reqwest::Client::new(), app })
    }

    /// Signs in; answers the session cookie.
    pub async fn login(&self, email: &str) -> Option<String> {
        let reply = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .ok()?;
        let cookie = reply.headers().get("set-cookie")?.to_str().ok()?.split(';').next()?.to_owned();
        reply.status().is_success().then_some(cookie)
    }

    /// Signs in and answers the cookie with the CSRF token.
    pub async fn session(&self, email: &str) -> (String, String) {
        let reply = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let cookie = reply
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .to_owned();
        let body: Value = reply.json().await.unwrap_or_default();
        (cookie, body["csrf_token"].as_str().unwrap_or_default().to_owned())
    }

    /// A request as the session `(cookie, csrf)`; answers the status and the JSON body.
    pub async fn call(
        &self,
        who: &(String, String),
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &who.0)
            .header("x-csrf-token", &who.1);
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let reply = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or_default())
    }

    /// A JSON request; panics unless the status is `expect`.
    pub async fn json(&self, who: &(String, String), method: &str, path: &str, body: Value, expect: u16) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let (status, reply) = self.call(who, method, path, Some(("application/json", bytes))).await;
        assert_eq!(status, expect, "{path}: {reply}");
        reply
    }

    pub async fn status(&self, path: &str, cookie: Option<&str>) -> u16 {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.map(|r| r.status().as_u16()).unwrap_or_default()
    }
}

/// `GET /healthz` per second with `workers` clients: the bare-route baseline.
pub async fn healthz_rate(bench: &Arc<Bench>, workers: usize) -> f64 {
    let bench = bench.clone();
    rate(workers, move || {
        let bench = bench.clone();
        async move { bench.status("/healthz", None).await == 200 }
    })
    .await
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
}
