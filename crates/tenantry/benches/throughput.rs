//! Throughput benchmarks, each reported as a ratio against a baseline measured in the same run on
//! the same machine (see docs/performance.md for the method):
//!
//! - sign-ins per second over HTTP vs. raw argon2id verifications per second;
//! - authorized `GET /api/v1/accounts/{id}` vs. `GET /healthz` on the same server.
//!
//! `cargo bench -p tenantry --bench throughput` (SQLite); with `TENANTRY_TEST_POSTGRES_URL` set to
//! an administrative PostgreSQL URL it measures PostgreSQL too. Every loop is bounded in time.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tenantry_domain::SystemClock;
use tenantry_server::secrets::Passwords;
use tenantry_server::{App, Settings};
use tenantry_store::Backend;
use tokio::net::TcpListener;

const PASSWORD: &str = "correct horse battery staple";
const WARMUP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);

/// Operations per second of `op`, run by `workers` concurrent tasks for `MEASURE` after `WARMUP`.
async fn rate<F, Fut>(workers: usize, op: F) -> f64
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

struct Bench {
    base: String,
    http: reqwest::Client,
}

async fn start(backend: Backend) -> Option<Bench> {
    let url = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("tenantry-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).ok()?;
            format!("sqlite://{}", dir.join("bench.db").display())
        }
        Backend::Postgres => tenantry_store::testing::fresh_database(Backend::Postgres, &std::env::temp_dir()).await?,
    };
    let clock = Arc::new(SystemClock);
    let store = tenantry_store::connect(&url, clock.clone()).await.ok()?;
    let listener = TcpListener::bind("127.0.0.1:0").await.ok()?;
    let addr = listener.local_addr().ok()?;
    let app = App::new(store, clock, Settings::default(), addr).await.ok()?;
    tenantry_server::bootstrap::bootstrap(&app, Some("bench@platform.test"), Some(PASSWORD)).await.ok()?;
    tokio::spawn(tenantry_server::serve(listener, app, std::future::pending()));
    let _ = rustls::crypto::ring::default_provider().install_default();
    Some(Bench { base: format!("http://{addr}"), http: reqwest::Client::new() })
}

impl Bench {
    async fn login(&self, email: &str) -> Option<String> {
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

    async fn status(&self, path: &str, cookie: Option<&str>) -> u16 {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.map(|r| r.status().as_u16()).unwrap_or_default()
    }
}

async fn measure(backend: Backend, workers: usize) {
    let Some(bench) = start(backend).await else {
        println!("{backend:?}: not configured, skipped");
        return;
    };
    let bench = Arc::new(bench);
    let Some(cookie) = bench.login("bench@platform.test").await else {
        println!("{backend:?}: cannot sign in");
        return;
    };
    let me: serde_json::Value = bench
        .http
        .get(format!("{}/api/v1/me", bench.base))
        .header("cookie", &cookie)
        .send()
        .await
        .map(|r| r.json())
        .unwrap_or_else(|e| panic!("{e}"))
        .await
        .unwrap_or_default();
    let account = me["account"]["id"].as_str().unwrap_or_default().to_owned();
    let cookie = Arc::new(cookie);

    let healthz = {
        let bench = bench.clone();
        rate(workers, move || {
            let bench = bench.clone();
            async move { bench.status("/healthz", None).await == 200 }
        })
        .await
    };
    let authorized = {
        let (bench, cookie, path) = (bench.clone(), cookie.clone(), format!("/api/v1/accounts/{account}"));
        rate(workers, move || {
            let (bench, cookie, path) = (bench.clone(), cookie.clone(), path.clone());
            async move { bench.status(&path, Some(&cookie)).await == 200 }
        })
        .await
    };
    let logins = {
        let bench = bench.clone();
        rate(workers, move || {
            let bench = bench.clone();
            async move { bench.login("bench@platform.test").await.is_some() }
        })
        .await
    };
    let argon2 = raw_argon2_rate(workers).await;
    println!("{backend:?}, {workers} concurrent clients, {}s per figure:", MEASURE.as_secs());
    println!("  GET /healthz                      {healthz:>10.1} req/s  (baseline)");
    println!("  GET /api/v1/accounts/{{id}} signed in {authorized:>8.1} req/s  ratio {:.3}", authorized / healthz);
    println!("  raw argon2id verifications        {argon2:>10.1} /s     (baseline)");
    println!("  POST /api/v1/auth/login           {logins:>10.1} /s     ratio {:.3}", logins / argon2);
}

/// Verifications per second of the same hash parameters, on `workers` blocking threads.
async fn raw_argon2_rate(workers: usize) -> f64 {
    let hash = Arc::new(Passwords::hash_blocking(PASSWORD).unwrap_or_else(|e| panic!("{e}")));
    rate(workers, move || {
        let hash = hash.clone();
        async move {
            tokio::task::spawn_blocking(move || Passwords::verify_blocking(PASSWORD, &hash)).await.unwrap_or(false)
        }
    })
    .await
}

fn main() {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        measure(Backend::Sqlite, workers).await;
        measure(Backend::Postgres, workers).await;
    });
}
