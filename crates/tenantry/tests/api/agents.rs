//! Agents: registered with a one-time token, reporting only into their own account and
//! collection; and the `tenantry agent` command end to end against the real server.

use crate::certificates::certificate;
use crate::support::{Reply, Server, Session};
use serde_json::{Value, json};

crate::api_tests!(
    an_agent_reports_into_its_own_collection_and_nowhere_else,
    the_tenantry_agent_scans_folders_and_reports_only_certificates,
);

fn items(reply: &Reply) -> Vec<Value> {
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

/// Reports as the agent holding `token` (no sign-in, no CSRF).
async fn report(any: &Session, token: &str, body: Value) -> Reply {
    any.bearer_free(token).post("/api/v1/agent/report", body).await
}

async fn an_agent_reports_into_its_own_collection_and_nowhere_else(s: Server) {
    let t = s.tree().await;
    let base = format!("/api/v1/accounts/{}", t.customer_id);
    let collection =
        t.customer.post(&format!("{base}/collections"), json!({"name": "Hosts"})).await.expect(201).id("/id");
    let registered = t
        .customer
        .post(&format!("{base}/agents"), json!({"name": "web-1", "collection_id": collection}))
        .await
        .expect(201);
    let token = registered.id("/token");
    let agent = registered.id("/agent/id");
    assert!(token.starts_with("tna_"));
    assert!(!t.customer.get(&format!("{base}/agents")).await.expect(200).text.contains(&token), "shown once");

    let (a, key) = certificate("web-1.globex.test", -1, 60);
    let (b, _) = certificate("web-2.globex.test", -1, 60);
    report(&t.customer, &token, json!({"hostname": "web-1", "certificates": [format!("{a}{key}")]}))
        .await
        .problem(422, "validation_failed");
    let stored = report(&t.customer, &token, json!({"hostname": "web-1", "certificates": [a, b]})).await.expect(200);
    assert_eq!(items(&stored).len(), 2);
    assert!(
        items(&stored)
            .iter()
            .all(|c| c["collection_id"] == collection.as_str() && c["account_id"] == t.customer_id.as_str())
    );
    let seen = t.customer.get(&format!("{base}/agents/{agent}")).await.expect(200);
    assert_eq!(seen.body["certificate_count"], 2);
    assert_eq!(seen.body["last_hostname"], "web-1");
    assert!(seen.body["last_seen_at"].is_string());
    let trail = t.customer.get(&format!("{base}/audit?action=agent.reported")).await.expect(200);
    assert_eq!(items(&trail).len(), 1);
    let sibling = s.login("boss@initech.test", crate::support::PASSWORD).await;
    let theirs = sibling.get(&format!("/api/v1/accounts/{}/certificates", t.sibling_id)).await.expect(200);
    assert!(items(&theirs).is_empty(), "nothing lands elsewhere");

    report(&t.customer, "tna_forged", json!({"hostname": "x", "certificates": []}))
        .await
        .problem(401, "unauthenticated");
    t.customer.delete(&format!("{base}/agents/{agent}")).await.expect(204);
    report(&t.customer, &token, json!({"hostname": "web-1", "certificates": []})).await.problem(401, "unauthenticated");

    t.customer
        .post(&format!("{base}/agents"), json!({"name": "x", "collection_id": "nope"}))
        .await
        .problem(422, "validation_failed");
    let foreign = sibling
        .post(&format!("/api/v1/accounts/{}/collections", t.sibling_id), json!({"name": "Theirs"}))
        .await
        .expect(201)
        .id("/id");
    t.customer
        .post(&format!("{base}/agents"), json!({"name": "x", "collection_id": foreign}))
        .await
        .problem(404, "not_found");
    t.msp.get(&format!("{base}/agents")).await.problem(403, "access_session_required");
    t.rival.get(&format!("{base}/agents")).await.problem(404, "not_found");

    let limits = json!({"limits": {"users": 50, "certificates": 5000, "agents": 1, "targets": 10}});
    t.msp.send("PUT", &format!("{base}/subscription"), Some(limits), true).await.expect(200);
    t.customer.post(&format!("{base}/agents"), json!({"name": "web-2", "collection_id": collection})).await.expect(201);
    let refused =
        t.customer.post(&format!("{base}/agents"), json!({"name": "web-3", "collection_id": collection})).await;
    refused.problem(422, "plan_limit_reached");
}

async fn the_tenantry_agent_scans_folders_and_reports_only_certificates(s: Server) {
    let t = s.tree().await;
    let base = format!("/api/v1/accounts/{}", t.customer_id);
    let collection =
        t.customer.post(&format!("{base}/collections"), json!({"name": "Fleet"})).await.expect(201).id("/id");
    let token = t
        .customer
        .post(&format!("{base}/agents"), json!({"name": "fleet", "collection_id": collection}))
        .await
        .expect(201)
        .id("/token");

    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agent").join(&collection);
    let nested = dir.join("etc").join("ssl");
    std::fs::create_dir_all(&nested).unwrap_or_else(|e| panic!("{e}"));
    let (one, key) = certificate("one.globex.test", -1, 30);
    let (two, _) = certificate("two.globex.test", -1, 30);
    let (ignored, _) = certificate("ignored.globex.test", -1, 30);
    std::fs::write(nested.join("one.pem"), format!("{key}{one}")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("two.crt"), &two).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("notes.txt"), &ignored).unwrap_or_else(|e| panic!("{e}"));
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap_or_else(|e| panic!("{e}"));

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(["agent", "--server", &s.base, "--token-file"])
        .arg(&token_file)
        .arg("--scan")
        .arg(&dir)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listed = t.customer.get(&format!("{base}/certificates")).await.expect(200);
    let mut names: Vec<String> =
        items(&listed).iter().filter_map(|c| c["sans"][0].as_str().map(str::to_owned)).collect();
    names.sort();
    assert_eq!(names, ["one.globex.test", "two.globex.test"]);
}
