//! `tenantry audit verify` on a large export: one trail of N events (1,000,000 by default;
//! `TENANTRY_VERIFY_EVENTS`), hash-chained as the service chains them and closed with a signed
//! checkpoint, verified by the binary with the key — timed, with its peak memory from
//! `/usr/bin/time` when there is one. Baseline: SHA-256 over the same bytes, in-process, one
//! thread (the least any check of the file must do).
//!
//! `cargo bench -p tenantry --bench verify`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods, reason = "a benchmark")]

use sha2::Digest;
use std::io::Write;
use std::process::Command;
use std::time::Instant;
use tenantry_domain::audit::{AuditActor, AuditEvent, AuditTarget, GENESIS};
use tenantry_domain::{AccountId, EventId, Outcome};
use tenantry_server::checkpoint::{CheckpointLine, Signer};

fn main() {
    let events: i64 = std::env::var("TENANTRY_VERIFY_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("verify-bench.jsonl");
    let trail = AccountId::new();
    let started = Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut head = GENESIS.to_owned();
    for seq in 1..=events {
        let mut event = AuditEvent {
            id: EventId::new(),
            trail_account_id: trail,
            seq,
            at: tenantry_domain::clock::from_micros(1_764_633_600_000_000 + seq),
            account_id: trail,
            action: "certificate.imported".into(),
            outcome: Outcome::Success,
            actor: AuditActor {
                user_id: None,
                email: Some("tech@acme.example".into()),
                account_id: Some(trail),
                account_name: Some("Acme MSP".into()),
            },
            access_session_id: None,
            target: AuditTarget { kind: "collection".into(), id: Some(format!("c-{}", seq % 97)) },
            ip: Some("203.0.113.7".into()),
            details: serde_json::json!({"imported": seq % 50, "duplicates": 0, "names": ["www.example.com"]}),
            prev_hash: head.clone(),
            hash: String::new(),
        };
        event.hash = event.compute_hash().unwrap();
        head = event.hash.clone();
        serde_json::to_writer(&mut out, &event).unwrap();
        out.write_all(b"\n").unwrap();
    }
    let key = Signer::generate().unwrap();
    let signer = Signer::from_stored(&key).unwrap();
    let checkpoint = signer.sign(trail, events, &head, time::OffsetDateTime::now_utc()).unwrap();
    serde_json::to_writer(&mut out, &CheckpointLine { checkpoint }).unwrap();
    out.write_all(b"\n").unwrap();
    out.flush().unwrap();
    drop(out);
    let size = std::fs::metadata(&path).unwrap().len();
    println!("wrote {events} events ({:.0} MiB) in {:.1} s", size as f64 / 1048576.0, started.elapsed().as_secs_f64());

    let bytes = std::fs::read(&path).unwrap();
    let started = Instant::now();
    let digest = sha2::Sha256::digest(&bytes);
    let sha = started.elapsed().as_secs_f64();
    drop(bytes);

    let bin = env!("CARGO_BIN_EXE_tenantry");
    let timed = std::path::Path::new("/usr/bin/time").exists();
    let mut command = if timed {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "peak %M KiB"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    command.args(["audit", "verify"]).arg(&path).args(["--public-key", &signer.public_key()]);
    let started = Instant::now();
    let output = command.output().unwrap();
    let verify = started.elapsed().as_secs_f64();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("\"checkpoint\":\"verified\""), "{report}");
    let peak = String::from_utf8_lossy(&output.stderr).lines().find(|l| l.starts_with("peak")).unwrap_or("").to_owned();
    println!(
        "| {events} | {:.0} MiB | {sha:.2} s ({:02x}…) | {verify:.2} s | {:.0} events/s | {} |",
        size as f64 / 1048576.0,
        digest[0],
        events as f64 / verify,
        if peak.is_empty() { "?".to_owned() } else { peak }
    );
}
