//! A sign-in flood against the real `tenantry serve` process (SQLite, its own process so that its
//! memory can be read from `/proc`): 128 connections for 10 s, 96 with right passwords (each
//! from its own address behind a trusted proxy) and 32 guessing (each from its own address, a
//! new email every attempt). Reports the peak RSS, the slowest `/healthz` answer during the
//! flood, the answers by status, and the sign-in rate as a ratio of the raw argon2id rate
//! measured in the same run on the same cores (see docs/performance.md).
//!
//! `cargo bench -p tenantry --bench flood`. Every loop is bounded in time.
#![allow(
    clippy::disallowed_methods,
    reason = "fixtures are certificates valid against the wall clock, and unique names"
)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tenantry_server::passwords::Passwords;
use tokio::sync::Mutex;

const PASSWORD: &str = "correct horse battery staple";
const ADMIN: &str = "flood@platform.test";
const CONNECTIONS: usize = 128;
const GUESSERS: usize = 32;
const USERS: usize = 64;
const FLOOD: Duration = Duration::from_secs(10);

/// The server process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    /// Resident and peak resident memory in MiB, from `/proc/<pid>/status`.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
    }
}

/// Starts `tenantry serve` on a fresh SQLite file; answers the process and its base URL.
fn serve(dir: &std::path::Path) -> (Process, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TENANTRY_") {
            command.env_remove(key);
        }
    }
    let database = format!("sqlite://{}", dir.join("flood.db").display());
    command
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &database])
        .env("TENANTRY_BOOTSTRAP_ADMIN_EMAIL", ADMIN)
        .env("TENANTRY_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
        .env("TENANTRY_TRUSTED_PROXIES", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = Process(command.spawn().unwrap_or_else(|e| panic!("spawn: {e}")));
    let stdout = child.0.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(base) = line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()) {
            return (child, base.to_owned());
        }
    }
    panic!("the server did not start");
}

async fn sign_in(http: &reqwest::Client, base: &str, email: &str, password: &str, from: &str) -> (u16, Value) {
    let reply = http
        .post(format!("{base}/api/v1/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await;
    match reply {
        Ok(r) => {
            let status = r.status().as_u16();
            let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let mut body: Value = r.json().await.unwrap_or_default();
            body["cookie"] = json!(cookie.and_then(|c| c.split(';').next().map(str::to_owned)));
            (status, body)
        }
        Err(_) => (0, Value::Null),
    }
}

/// Verifications per second of the same argon2id parameters on every core, for `window`.
fn raw_argon2_rate(window: Duration) -> f64 {
    let hash = Arc::new(Passwords::hash_blocking(PASSWORD).unwrap_or_else(|e| panic!("{e}")));
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
    let stop = Instant::now() + window;
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < stop {
                    n += u64::from(Passwords::verify_blocking(PASSWORD, &hash));
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

async fn flood() {
    let dir = std::env::temp_dir().join(format!("tenantry-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (process, base) = serve(&dir);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().unwrap_or_else(|e| panic!("{e}"));

    // Users to sign in as, created by the administrator.
    let (status, admin) = sign_in(&http, &base, ADMIN, PASSWORD, "192.0.2.1").await;
    assert_eq!(status, 200, "{admin}");
    let (cookie, csrf) =
        (admin["cookie"].as_str().unwrap_or_default(), admin["csrf_token"].as_str().unwrap_or_default());
    let users_path = format!("{base}/api/v1/accounts/{}/users", admin["account"]["id"].as_str().unwrap_or_default());
    for n in 0..USERS {
        let body = json!({"email": format!("user{n}@platform.test"), "name": "Flood", "role": "platform_admin", "password": PASSWORD});
        let reply =
            http.post(&users_path).header("cookie", cookie).header("x-csrf-token", csrf).json(&body).send().await;
        assert_eq!(reply.map(|r| r.status().as_u16()).unwrap_or(0), 201);
    }
    let (idle_rss, _) = process.memory();

    let statuses = Arc::new(Mutex::new(BTreeMap::<(bool, u16), u64>::new()));
    let signed_in = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let stop_at = Instant::now() + FLOOD;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (http, base, statuses, signed_in) = (http.clone(), base.clone(), statuses.clone(), signed_in.clone());
        tasks.push(tokio::spawn(async move {
            let guesser = c < GUESSERS;
            let from = format!("10.{}.{}.1", c / 250, c % 250);
            let mut attempt = 0u64;
            while Instant::now() < stop_at {
                attempt += 1;
                let (email, password) = if guesser {
                    (format!("guess{c}-{attempt}@platform.test"), "not the password at all")
                } else {
                    (format!("user{}@platform.test", c % USERS), PASSWORD)
                };
                let (status, _) = sign_in(&http, &base, &email, password, &from).await;
                if status == 200 {
                    signed_in.fetch_add(1, Ordering::Relaxed);
                }
                *statuses.lock().await.entry((guesser, status)).or_default() += 1;
                if status == 503 || status == 429 {
                    // As a client would, though not as long as Retry-After says.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    // The prober and the memory sampler, side by side with the flood.
    let prober = {
        let (http, base, running) = (http.clone(), base.clone(), running.clone());
        tokio::spawn(async move {
            let (mut slowest, mut late, mut probes) = (Duration::ZERO, 0u64, 0u64);
            while running.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let ok = http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success());
                let took = sent.elapsed();
                probes += 1;
                if !ok || took > Duration::from_secs(1) {
                    late += 1;
                }
                slowest = slowest.max(took);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (slowest, late, probes)
        })
    };
    let mut peak_rss: f64 = 0.0;
    while Instant::now() < stop_at {
        peak_rss = peak_rss.max(process.memory().0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    running.store(false, Ordering::Relaxed);
    let (slowest, late, probes) = prober.await.unwrap_or_default();
    let (_, hwm) = process.memory();
    drop(process);
    let argon2 = raw_argon2_rate(Duration::from_secs(5));
    let logins = signed_in.load(Ordering::Relaxed) as f64 / elapsed;

    println!("sign-in flood, SQLite, {CONNECTIONS} connections ({GUESSERS} guessing) for {}s:", FLOOD.as_secs());
    println!("  RSS idle {idle_rss:.0} MiB, peak sampled {peak_rss:.0} MiB, peak (VmHWM) {hwm:.0} MiB");
    println!(
        "  /healthz: {probes} probes, slowest {:.0} ms, {late} over 1 s or failed",
        slowest.as_secs_f64() * 1000.0
    );
    for ((guesser, status), n) in statuses.lock().await.iter() {
        let who = if *guesser { "guessing" } else { "right password" };
        println!("  {who:>14}: {status} × {n}");
    }
    println!("  raw argon2id verifications {argon2:>8.1} /s  (baseline, every core)");
    println!("  sign-ins during the flood  {logins:>8.1} /s  ratio {:.3}", logins / argon2);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(flood());
}
