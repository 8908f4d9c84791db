//! Workload benchmarks, each reported as a ratio against a baseline measured in the same run on
//! the same machine (see docs/performance.md for the method):
//!
//! - importing 10,000 certificates over HTTP, 500 to a request, vs. parsing the same PEM bundles
//!   in-process — certificates per second, one stream each;
//! - checking 200 local TLS targets through the scheduler (lease, handshake, store) vs. the same
//!   200 handshakes by the checker alone at the same concurrency — targets per second;
//! - the expiry overview over those certificates vs. `GET /healthz` on the same server.
//!
//! `cargo bench -p tenantry --bench workload` (SQLite); with `TENANTRY_TEST_POSTGRES_URL` set it
//! measures PostgreSQL too.
#![allow(
    clippy::disallowed_methods,
    reason = "fixtures are certificates valid against the wall clock, and unique names"
)]

mod common;

use common::{ADMIN, Bench, PASSWORD, rate};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tenantry_server::Settings;
use tenantry_store::Backend;

const CERTIFICATES: usize = 10_000;
const PER_REQUEST: usize = 500;
const TARGETS: usize = 200;
/// Checks at once, for the checker alone as for the scheduler.
const CONCURRENCY: usize = 16;

/// A test CA and the leaves it signs.
struct Ca {
    pem: String,
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
}

impl Ca {
    fn new() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Bench CA");
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let pem = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}")).pem();
        Ca { pem, params, key }
    }

    /// A leaf for `name` valid for `days` more days, signed with the shared `key`.
    fn leaf(&self, name: &str, days: i64, key: &rcgen::KeyPair) -> rcgen::Certificate {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap_or_else(|e| panic!("{e}"));
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(days);
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        params.signed_by(key, &issuer).unwrap_or_else(|e| panic!("{e}"))
    }
}

async fn measure(backend: Backend, workers: usize, ca: &Ca) {
    let mut settings = Settings::default();
    settings.monitor.allow_private = true;
    settings.monitor.extra_roots_pem = Some(ca.pem.clone().into_bytes());
    let Some(bench) = Bench::start(backend, settings).await else {
        println!("{backend:?}: not configured, skipped");
        return;
    };
    let bench = Arc::new(bench);
    let root = bench.session(ADMIN).await;
    let admin = |email: &str| json!({"email": email, "name": "Admin", "password": PASSWORD});
    let msp = bench
        .json(
            &root,
            "POST",
            "/api/v1/accounts",
            json!({"kind": "msp", "name": "Bench MSP", "admin": admin("m@b.test")}),
            201,
        )
        .await["account"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let msp_admin = bench.session("m@b.test").await;
    let body = json!({"kind": "customer", "name": "Bench Customer", "parent_id": msp, "admin": admin("c@b.test")});
    let customer = bench.json(&msp_admin, "POST", "/api/v1/accounts", body, 201).await["account"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let limits = json!({"limits": {"users": 50, "certificates": 20_000, "agents": 50, "targets": 500}});
    bench.json(&msp_admin, "PUT", &format!("/api/v1/accounts/{customer}/subscription"), limits, 200).await;
    let boss = bench.session("c@b.test").await;
    let collections = format!("/api/v1/accounts/{customer}/collections");
    let collection = bench.json(&boss, "POST", &collections, json!({"name": "Bench"}), 201).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Certificates: the same bundles parsed in-process, then imported over HTTP.
    let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let pems: Vec<String> =
        (0..CERTIFICATES).map(|n| ca.leaf(&format!("host-{n}.bench.test"), 1 + (n as i64 % 400), &key).pem()).collect();
    let bundles: Vec<String> = pems.chunks(PER_REQUEST).map(|c| c.concat()).collect();
    let started = Instant::now();
    let parsed: usize =
        bundles.iter().map(|b| tenantry_monitor::parse_bundle(b.as_bytes()).map(|c| c.len()).unwrap_or(0)).sum();
    let parse_rate = parsed as f64 / started.elapsed().as_secs_f64();
    let import = format!("/api/v1/accounts/{customer}/collections/{collection}/certificates");
    let started = Instant::now();
    for bundle in &bundles {
        let (status, reply) = bench
            .call(&boss, reqwest::Method::POST, &import, Some(("application/x-pem-file", bundle.clone().into_bytes())))
            .await;
        assert_eq!(status, 201, "import: {reply}");
    }
    let import_rate = CERTIFICATES as f64 / started.elapsed().as_secs_f64();

    // The expiry overview over them, against the bare route.
    let healthz = common::healthz_rate(&bench, workers).await;
    let expiring = {
        let path = Arc::new(format!("/api/v1/accounts/{msp}/expiring?within_days=30&limit=50"));
        let (bench, cookie) = (bench.clone(), Arc::new(msp_admin.0.clone()));
        rate(workers, move || {
            let (bench, cookie, path) = (bench.clone(), cookie.clone(), path.clone());
            async move { bench.status(&path, Some(&cookie)).await == 200 }
        })
        .await
    };

    // Targets: 200 real TLS servers; the checker alone, then the scheduler.
    let targets = format!("/api/v1/accounts/{customer}/targets");
    let mut ports = Vec::new();
    for n in 0..TARGETS {
        let leaf = ca.leaf("localhost", 5 + n as i64, &key);
        let served = tenantry_monitor::testing::serve_tls(vec![leaf.der().to_vec()], key.serialize_der()).await;
        let port = served.unwrap_or_else(|e| panic!("{e}")).port();
        let body = json!({"hostname": "localhost", "port": port, "collection_id": collection});
        bench.json(&boss, "POST", &targets, body, 201).await;
        ports.push(port);
    }
    let checker = bench.app.checker.clone();
    let started = Instant::now();
    let mut failures = 0;
    for chunk in ports.chunks(CONCURRENCY) {
        let mut set = tokio::task::JoinSet::new();
        for port in chunk.iter().copied() {
            let (checker, now) = (checker.clone(), bench.app.now());
            set.spawn(async move { checker.check("localhost", port, now).await });
        }
        while let Some(done) = set.join_next().await {
            failures += usize::from(done.map(|c| c.error.is_some()).unwrap_or(true));
        }
    }
    let handshake_rate = TARGETS as f64 / started.elapsed().as_secs_f64();
    let mut scheduler = bench.app.scheduler();
    scheduler.concurrency = CONCURRENCY;
    let started = Instant::now();
    let mut stored = 0;
    while stored < TARGETS {
        let round = scheduler.run_once().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(round > 0, "the scheduler stopped with {stored} of {TARGETS} checked");
        stored += round;
    }
    let scheduled_rate = TARGETS as f64 / started.elapsed().as_secs_f64();

    println!("{backend:?}:");
    println!("  parse {CERTIFICATES} certificates in-process  {parse_rate:>10.1} certs/s (baseline)");
    println!(
        "  import them over HTTP, {PER_REQUEST} a request {import_rate:>10.1} certs/s ratio {:.3}",
        import_rate / parse_rate
    );
    println!("  GET /healthz, {workers} clients                {healthz:>10.1} req/s   (baseline)");
    println!("  GET …/expiring over them (MSP)         {expiring:>10.1} req/s   ratio {:.3}", expiring / healthz);
    println!(
        "  {TARGETS} TLS handshakes by the checker      {handshake_rate:>10.1} /s       (baseline, {failures} failed)"
    );
    println!(
        "  {TARGETS} targets checked by the scheduler   {scheduled_rate:>10.1} /s       ratio {:.3}",
        scheduled_rate / handshake_rate
    );
}

fn main() {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let ca = Ca::new();
    runtime.block_on(async {
        measure(Backend::Sqlite, workers, &ca).await;
        measure(Backend::Postgres, workers, &ca).await;
    });
}
