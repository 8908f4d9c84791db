//! Audit trails over HTTP: what is recorded where, filters and paging, export, and verification
//! both online and offline with `tenantry audit verify`.

use crate::support::{PASSWORD, Server};
use serde_json::{Value, json};

crate::api_tests!(
    an_msp_action_on_a_customer_is_one_event_in_both_trails_and_not_above,
    denials_are_recorded_in_the_right_trails,
    trails_filter_and_page_newest_first,
    exports_stream_in_seq_order_and_verify_offline,
    only_the_matrixs_readers_see_a_trail,
);

fn items(reply: &crate::support::Reply) -> Vec<Value> {
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

async fn an_msp_action_on_a_customer_is_one_event_in_both_trails_and_not_above(s: Server) {
    let t = s.tree().await;
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    let user = t
        .msp
        .post(&users, json!({"email": "n@globex.test", "name": "N", "role": "viewer"}))
        .await
        .expect(201)
        .id("/user/id");
    let find = |reply: crate::support::Reply| items(&reply).into_iter().find(|e| e["target"]["id"] == user.as_str());
    let customer_trail =
        t.customer.get(&format!("/api/v1/accounts/{}/audit?action=user.created", t.customer_id)).await.expect(200);
    let msp_trail = t.msp.get(&format!("/api/v1/accounts/{}/audit?action=user.created", t.msp_id)).await.expect(200);
    let partner_trail =
        t.partner.get(&format!("/api/v1/accounts/{}/audit?action=user.created", t.partner_id)).await.expect(200);
    let (Some(in_customer), Some(in_msp)) = (find(customer_trail), find(msp_trail)) else {
        panic!("missing from a trail")
    };
    assert_eq!(in_customer["id"], in_msp["id"]);
    assert_eq!(in_customer["trail_account_id"], t.customer_id.as_str());
    assert_eq!(in_msp["trail_account_id"], t.msp_id.as_str());
    assert_eq!(in_customer["actor"]["email"], "admin@acme.test");
    assert_eq!(in_customer["actor"]["account_name"], "Acme MSP");
    assert_eq!(in_customer["outcome"], "success");
    assert!(in_customer["ip"].as_str().is_some_and(|ip| ip == "127.0.0.1"));
    assert_eq!(in_customer["hash"].as_str().map(str::len), Some(64));
    assert!(find(partner_trail).is_none(), "the partner did not act");
}

async fn denials_are_recorded_in_the_right_trails(s: Server) {
    let t = s.tree().await;
    let customer = format!("/api/v1/accounts/{}", t.customer_id);
    t.customer.patch(&customer, json!({"name": "Mine"})).await.problem(403, "forbidden");
    let own = t.customer.get(&format!("{customer}/audit?action=account.updated")).await.expect(200);
    let denied =
        items(&own).into_iter().find(|e| e["outcome"] == "denied").unwrap_or_else(|| panic!("no denial: {}", own.text));
    assert_eq!(denied["account_id"], t.customer_id.as_str());

    t.customer.get(&format!("/api/v1/accounts/{}", t.rival_customer_id)).await.problem(404, "not_found");
    let own = t.customer.get(&format!("{customer}/audit?action=account.read")).await.expect(200);
    assert!(items(&own).iter().any(|e| e["outcome"] == "denied" && e["target"]["id"] == t.rival_customer_id.as_str()));
    let rival =
        t.rival.get(&format!("/api/v1/accounts/{}/audit?action=account.read", t.rival_customer_id)).await.expect(200);
    assert!(items(&rival).is_empty(), "a probe for an invisible account stays in the prober's trail");
    let rival_msp =
        t.rival.get(&format!("/api/v1/accounts/{}/audit?action=account.read", t.rival_id)).await.expect(200);
    assert!(items(&rival_msp).is_empty());
}

async fn trails_filter_and_page_newest_first(s: Server) {
    let t = s.tree().await;
    let trail = format!("/api/v1/accounts/{}/audit", t.customer_id);
    let start = tenantry_domain::clock::rfc3339_micros(s.clock_now());
    s.clock.advance(time::Duration::seconds(1));
    for n in 0..3 {
        t.customer
            .post(
                &format!("/api/v1/accounts/{}/users", t.customer_id),
                json!({"email": format!("p{n}@globex.test"), "name": "P", "role": "viewer"}),
            )
            .await
            .expect(201);
    }
    let all = t.customer.get(&trail).await.expect(200);
    let seqs: Vec<i64> = items(&all).iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] == w[1] + 1), "newest first, gapless: {seqs:?}");
    let since = t.customer.get(&format!("{trail}?since={start}")).await.expect(200);
    assert_eq!(items(&since).len(), 3);
    let until = t.customer.get(&format!("{trail}?until={start}")).await.expect(200);
    assert_eq!(items(&until).len() + 3, items(&all).len());
    let me = t.customer.get("/api/v1/me").await.id("/user/id");
    let by_actor = t.customer.get(&format!("{trail}?actor_user_id={me}&action=user.created")).await.expect(200);
    assert_eq!(items(&by_actor).len(), 3);
    let first = t.customer.get(&format!("{trail}?limit=2")).await.expect(200);
    let next = first.id("/next_cursor");
    let second = t.customer.get(&format!("{trail}?limit=2&cursor={next}")).await.expect(200);
    assert_eq!(items(&second)[0]["seq"].as_i64(), items(&first)[1]["seq"].as_i64().map(|s| s - 1));
}

async fn exports_stream_in_seq_order_and_verify_offline(s: Server) {
    let t = s.tree().await;
    let base = format!("/api/v1/accounts/{}/audit", t.msp_id);
    let online = t.msp.get(&format!("{base}/verify")).await.expect(200);
    assert_eq!(online.body["valid"], true);
    assert!(online.body["first_bad_seq"].is_null());

    let export = t.msp.get(&format!("{base}/export?format=jsonl")).await.expect(200);
    let all: Vec<Value> = export.text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let lines: Vec<Value> = all.iter().filter(|l| l.get("seq").is_some()).cloned().collect();
    let checkpoint = all.last().map(|l| l["checkpoint"].clone()).unwrap_or_default();
    assert_eq!(checkpoint["seq"].as_u64(), online.body["events"].as_u64(), "the export closes with its checkpoint");
    assert_eq!(checkpoint["head"], online.body["head"]);
    assert_eq!(lines.len() as u64, online.body["events"].as_u64().unwrap_or_default());
    assert!(lines.iter().enumerate().all(|(i, e)| e["seq"].as_i64() == Some(i as i64 + 1)));
    assert_eq!(lines.last().map(|e| e["hash"].clone()), Some(online.body["head"].clone()));

    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exports");
    let _ = std::fs::create_dir_all(&dir);
    let good = dir.join(format!("{}.jsonl", t.msp_id));
    std::fs::write(&good, &export.text).unwrap_or_else(|e| panic!("{e}"));
    let key = s.anon("GET", "/api/v1/audit/public-key", None).await.expect(200);
    assert_eq!(key.body["algorithm"], "Ed25519");
    let key = key.body["public_key"].as_str().unwrap_or_default().to_owned();
    let run_with = |file: &std::path::Path, key: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"));
        command.args(["audit", "verify"]).arg(file);
        if let Some(key) = key {
            command.args(["--public-key", key]);
        }
        command.output().unwrap_or_else(|e| panic!("{e}"))
    };
    let run = |file: &std::path::Path| run_with(file, None);
    let ok = run(&good);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
    let signed = run_with(&good, Some(&key));
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stdout));
    let report: Value = serde_json::from_slice(&signed.stdout).unwrap_or_default();
    assert_eq!(report["checkpoint"], "verified");
    // A cut tail still chains; only the checkpoint shows that events are missing.
    let mut kept: Vec<&str> = export.text.lines().collect();
    kept.remove(kept.len() - 2);
    let cut = dir.join(format!("{}-cut.jsonl", t.msp_id));
    std::fs::write(&cut, kept.join("\n")).unwrap_or_else(|e| panic!("{e}"));
    assert!(run(&cut).status.success(), "without the key only the chain is judged");
    let judged = run_with(&cut, Some(&key));
    assert!(!judged.status.success());
    let report: Value = serde_json::from_slice(&judged.stdout).unwrap_or_default();
    assert_eq!(report["checkpoint"], "mismatch");
    let forged = export.text.replacen("Globex", "Gl0bex", 1);
    assert_ne!(forged, export.text);
    let bad = dir.join(format!("{}-forged.jsonl", t.msp_id));
    std::fs::write(&bad, forged).unwrap_or_else(|e| panic!("{e}"));
    let broken = run(&bad);
    assert!(!broken.status.success());
    let report: Value = serde_json::from_slice(&broken.stdout).unwrap_or_default();
    assert_eq!(report["valid"], false);
    let forged_seq = lines.iter().find(|e| e.to_string().contains("Globex")).and_then(|e| e["seq"].as_i64());
    assert_eq!(report["first_bad_seq"].as_i64(), forged_seq);

    let csv = t.msp.get(&format!("{base}/export?format=csv")).await.expect(200);
    let header = csv.text.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("id,trail_account_id,seq,at,account_id,action,outcome,actor_user_id,actor_email"),
        "{header}"
    );
    assert_eq!(csv.text.lines().count(), lines.len() + 1);
    let _ = PASSWORD;
}

async fn only_the_matrixs_readers_see_a_trail(s: Server) {
    let t = s.tree().await;
    let customer_trail = format!("/api/v1/accounts/{}/audit", t.customer_id);
    let (_, auditor) = s.user(&t.customer, &t.customer_id, "auditor", "aud@globex.test").await;
    let (_, admin) = s.user(&t.customer, &t.customer_id, "admin", "adm@globex.test").await;
    auditor.get(&customer_trail).await.expect(200);
    admin.get(&customer_trail).await.problem(403, "forbidden");
    t.msp.get(&customer_trail).await.expect(200);
    t.partner.get(&customer_trail).await.problem(403, "forbidden");
    t.rival.get(&customer_trail).await.problem(404, "not_found");
    t.customer.get(&format!("/api/v1/accounts/{}/audit", t.msp_id)).await.problem(404, "not_found");
    let (_, staff) = s.user(&t.msp, &t.msp_id, "msp_staff", "st@acme.test").await;
    staff.get(&format!("/api/v1/accounts/{}/audit", t.msp_id)).await.problem(403, "forbidden");
}
