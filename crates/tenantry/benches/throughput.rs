//! Throughput benchmarks, each reported as a ratio against a baseline measured in the same run on
//! the same machine (see docs/performance.md for the method):
//!
//! - sign-ins per second over HTTP vs. raw argon2id verifications per second;
//! - authorized `GET /api/v1/accounts/{id}` vs. `GET /healthz` on the same server.
//!
//! `cargo bench -p tenantry --bench throughput` (SQLite); with `TENANTRY_TEST_POSTGRES_URL` set to
//! an administrative PostgreSQL URL it measures PostgreSQL too. Every loop is bounded in time.
#![allow(
    clippy::disallowed_methods,
    reason = "fixtures are certificates valid against the wall clock, and unique names"
)]

use std::sync::Arc;
use tenantry_server::Settings;
use tenantry_server::passwords::Passwords;
use tenantry_store::Backend;

mod common;

use common::{Bench, PASSWORD, rate};

async fn measure(backend: Backend, workers: usize) {
    let Some(bench) = Bench::start(backend, Settings::default()).await else {
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

    let healthz = common::healthz_rate(&bench, workers).await;
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
    println!("{backend:?}, {workers} concurrent clients, {}s per figure:", common::MEASURE.as_secs());
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
