//! Budgets at scale: `tenantry bench-seed` fills a fresh database (10,000 tenants and 100,000
//! users by default; `TENANTRY_SCALE=10000:100000,10000:1000000` for more sizes), the real binary
//! serves it, and one client measures the everyday reads as latency percentiles: an MSP's
//! customer list (200), a customer's user list, an account search across the tree, and a walk of
//! the whole tree with the cursor; then the serving process's resident memory.
//!
//! `cargo bench -p tenantry --bench scale` (release build; PostgreSQL too when
//! `TENANTRY_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods, reason = "a benchmark")]

use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Instant;
use tenantry_store::Backend;

const BIN: &str = env!("CARGO_BIN_EXE_tenantry");
const ADMIN: &str = "scale@platform.test";
const PASSWORD: &str = "correct horse battery staple";
const SEEDED_PASSWORD: &str = "bench seed passphrase for load tests";
const SAMPLES: usize = 300;

struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start(url: &str) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
            .env("TENANTRY_LOG", "warn")
            .env("TENANTRY_MONITOR_POLL_SECS", "3600")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().unwrap().unwrap();
            if let Some(rest) = line.strip_prefix("tenantry listening on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self { child, base }
    }

    /// Resident memory of the serving process, in MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Client {
    async fn login(http: &reqwest::Client, base: &str, email: &str, password: &str) -> Self {
        let reply = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "login {email}");
        let cookie = reply.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        Self { http: http.clone(), base: base.to_owned(), cookie }
    }

    async fn get(&self, path: &str) -> Value {
        let reply =
            self.http.get(format!("{}/api/v1{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap();
        assert_eq!(reply.status(), 200, "{path}");
        reply.json().await.unwrap()
    }

    /// p50 and p99 of `path`, in milliseconds, over `SAMPLES` sequential requests after a warm-up.
    async fn latency(&self, path: &str) -> (f64, f64) {
        for _ in 0..20 {
            self.get(path).await;
        }
        let mut times = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let started = Instant::now();
            self.get(path).await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        (times[SAMPLES / 2], times[SAMPLES * 99 / 100])
    }
}

fn seed(url: &str, tenants: u64, users: u64) -> f64 {
    let started = Instant::now();
    let status = Command::new(BIN)
        .args(["bench-seed", "--tenants", &tenants.to_string(), "--users", &users.to_string(), "--database-url", url])
        .env("TENANTRY_BOOTSTRAP_ADMIN_EMAIL", ADMIN)
        .env("TENANTRY_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
        .env("TENANTRY_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "bench-seed failed");
    started.elapsed().as_secs_f64()
}

async fn measure(backend: Backend, tenants: u64, users: u64) {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scale");
    let Some(url) = tenantry_store::testing::fresh_database(backend, &dir).await else { return };
    let seconds = seed(&url, tenants, users);
    let served = Served::start(&url);
    let http = reqwest::Client::new();
    let root = Client::login(&http, &served.base, ADMIN, PASSWORD).await;
    let msp = root.get("/accounts?kind=msp&limit=1").await["items"][0]["id"].as_str().unwrap().to_owned();
    let msp_admin =
        root.get(&format!("/accounts/{msp}/users?limit=1")).await["items"][0]["email"].as_str().unwrap().to_owned();
    let msp_admin = Client::login(&http, &served.base, &msp_admin, SEEDED_PASSWORD).await;
    let customers = msp_admin.get(&format!("/accounts?parent_id={msp}&limit=200")).await;
    let customer = customers["items"][0]["id"].as_str().unwrap().to_owned();

    let listing = msp_admin.latency(&format!("/accounts?parent_id={msp}&limit=200")).await;
    // The first ten: the same page at every size, so that sizes compare.
    let users_list = msp_admin.latency(&format!("/accounts/{customer}/users?limit=10")).await;
    let search = root.latency("/accounts?q=Customer%204242&limit=50").await;
    // The whole tree, page by page.
    let started = Instant::now();
    let (mut walked, mut cursor) = (0, String::new());
    loop {
        let page = root.get(&format!("/accounts?limit=500&cursor={cursor}")).await;
        walked += page["items"].as_array().map(Vec::len).unwrap_or(0);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let walk = started.elapsed();
    let rss = served.rss_mib();
    println!(
        "| {backend:?} | {tenants} / {users} | {seconds:.0} s | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {walked} in {:.0} ms | {rss:.0} MiB |",
        listing.0,
        listing.1,
        users_list.0,
        users_list.1,
        search.0,
        search.1,
        walk.as_secs_f64() * 1000.0
    );
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sizes = std::env::var("TENANTRY_SCALE").unwrap_or_else(|_| "10000:100000".into());
    println!(
        "| engine | tenants / users | seeding | MSP's 200 customers p50 / p99 ms | a customer's first 10 users p50 / p99 ms | search p50 / p99 ms | whole-tree walk | RSS serving |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for size in sizes.split(',') {
        let (tenants, users) = size.split_once(':').expect("TENANTS:USERS");
        let (tenants, users): (u64, u64) = (tenants.parse().unwrap(), users.parse().unwrap());
        measure(Backend::Sqlite, tenants, users).await;
        if std::env::var_os("TENANTRY_TEST_POSTGRES_URL").is_some() {
            measure(Backend::Postgres, tenants, users).await;
        }
    }
}
