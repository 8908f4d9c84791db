//! Tamper fuzz: random single tamperings of a real exported trail — an edited value, a flipped
//! hash character, a deleted, swapped, duplicated or inserted event (a forger who recomputes the
//! hash included), a changed `seq`, a cut tail or head, a removed or edited checkpoint — are
//! each caught by the offline check with the service's key. 1,000 rounds by default;
//! `TENANTRY_TAMPER_ROUNDS=10000 cargo test -p tenantry --test api tamper` for the full run.

use crate::support::Server;
use serde_json::{Value, json};
use tenantry_domain::audit::AuditEvent;
use tenantry_server::checkpoint::verify_export;

/// A small, seedable generator (xorshift64*), so that a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One tampering of `events` (JSON lines) and `checkpoint`; its name.
fn tamper(rng: &mut Rng, events: &mut Vec<String>, checkpoint: &mut Option<String>) -> &'static str {
    let n = events.len();
    let i = rng.below(n);
    match rng.below(11) {
        0 => {
            let mut e: Value = serde_json::from_str(&events[i]).unwrap_or_default();
            match rng.below(4) {
                0 => e["details"]["tampered"] = json!(true),
                1 => e["action"] = json!("user.deleted"),
                2 => e["actor"]["email"] = json!("someone@else.test"),
                _ => e["outcome"] = json!(if e["outcome"] == "success" { "denied" } else { "success" }),
            }
            events[i] = e.to_string();
            "edited value"
        }
        1 => {
            let mut e: Value = serde_json::from_str(&events[i]).unwrap_or_default();
            let field = if rng.below(2) == 0 { "hash" } else { "prev_hash" };
            let mut chars: Vec<char> = e[field].as_str().unwrap_or_default().chars().collect();
            let at = rng.below(chars.len());
            chars[at] = if chars[at] == '0' { '1' } else { '0' };
            e[field] = json!(chars.into_iter().collect::<String>());
            events[i] = e.to_string();
            "flipped hash character"
        }
        2 => {
            events.remove(i);
            "deleted event"
        }
        3 => {
            let j = (i + 1 + rng.below(n - 1)) % n;
            events.swap(i, j);
            "swapped events"
        }
        4 => {
            let copy = events[i].clone();
            events.insert(i + 1, copy);
            "duplicated event"
        }
        5 => {
            // A forger who copies an event, changes it and recomputes its hash, then appends it
            // after the last one with the right `seq` and `prev_hash`: the chain alone holds.
            let last: AuditEvent = serde_json::from_str(&events[n - 1]).unwrap_or_else(|e| panic!("{e}"));
            let mut forged: AuditEvent = serde_json::from_str(&events[i]).unwrap_or_else(|e| panic!("{e}"));
            forged.id = tenantry_domain::EventId::new();
            forged.seq = last.seq + 1;
            forged.prev_hash = last.hash.clone();
            forged.details = json!({"forged": true});
            forged.hash = forged.compute_hash().unwrap_or_default();
            events.push(serde_json::to_string(&forged).unwrap_or_default());
            "inserted event"
        }
        6 => {
            let mut e: Value = serde_json::from_str(&events[i]).unwrap_or_default();
            e["seq"] = json!(e["seq"].as_i64().unwrap_or_default() + 1 + rng.below(3) as i64);
            events[i] = e.to_string();
            "changed seq"
        }
        7 => {
            events.truncate(n - 1 - rng.below(n - 1));
            "cut tail"
        }
        8 => {
            events.drain(..1 + rng.below(n - 1));
            "cut head"
        }
        9 => {
            *checkpoint = None;
            "removed checkpoint"
        }
        _ => {
            let mut c: Value = serde_json::from_str(checkpoint.as_deref().unwrap_or("{}")).unwrap_or_default();
            c["checkpoint"]["seq"] = json!(c["checkpoint"]["seq"].as_i64().unwrap_or_default() + 1);
            *checkpoint = Some(c.to_string());
            "edited checkpoint"
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_single_tamperings_of_an_export_are_all_caught() {
    let Some(s) = Server::start(tenantry_store::Backend::Sqlite).await else { return };
    let t = s.tree().await;
    for n in 0..20 {
        let email = format!("member{n}@globex.test");
        let body = json!({"email": email, "name": "Member", "role": "viewer"});
        t.msp.post(&format!("/api/v1/accounts/{}/users", t.customer_id), body).await.expect(201);
    }
    let export = t.msp.get(&format!("/api/v1/accounts/{}/audit/export", t.msp_id)).await.expect(200);
    let key = s.anon("GET", "/api/v1/audit/public-key", None).await.expect(200);
    let key = {
        use base64::Engine;
        let raw = key.body["public_key"].as_str().unwrap_or_default();
        base64::engine::general_purpose::STANDARD.decode(raw).unwrap_or_else(|e| panic!("{e}"))
    };
    let (events, checkpoint): (Vec<&str>, Vec<&str>) =
        export.text.lines().filter(|l| !l.is_empty()).partition(|l| !l.starts_with("{\"checkpoint\""));
    assert!(events.len() >= 20, "a trail worth tampering with: {} events", events.len());
    assert_eq!(checkpoint.len(), 1);
    let whole = verify_export(export.text.as_bytes(), Some(&key)).unwrap_or_else(|e| panic!("{e}"));
    assert!(whole.valid && whole.checkpoint == "verified", "{:?}", whole.json());

    let rounds: usize = std::env::var("TENANTRY_TAMPER_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1_000);
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(7)
            | 1;
    let mut rng = Rng(seed);
    let mut kinds = std::collections::BTreeMap::new();
    for round in 0..rounds {
        let mut tampered: Vec<String> = events.iter().map(|l| (*l).to_owned()).collect();
        let mut closing = Some(checkpoint[0].to_owned());
        let kind = tamper(&mut rng, &mut tampered, &mut closing);
        let mut text = tampered.join("\n");
        if let Some(line) = closing {
            text.push('\n');
            text.push_str(&line);
        }
        // A tampering that breaks the file's syntax is caught too (the check refuses it).
        let caught = match verify_export(text.as_bytes(), Some(&key)) {
            Ok(report) => !report.valid,
            Err(_) => true,
        };
        assert!(caught, "round {round} (seed {seed}): a {kind} went unnoticed");
        *kinds.entry(kind).or_insert(0) += 1;
    }
    assert_eq!(kinds.len(), 11, "every kind of tampering was tried: {kinds:?}");
    println!("{rounds} tamperings caught: {kinds:?}");
}
