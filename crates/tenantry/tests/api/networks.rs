//! Trusted networks (the contract's "Trusted networks"): an account's users' sign-ins, sessions and
//! API tokens only from its ranges, a change that would lock out its own author refused, and
//! partner-side users inside a customer following their own account's list.

use crate::support::{PASSWORD, Server};
use serde_json::json;

crate::api_tests!(
    an_accounts_users_reach_it_only_from_its_trusted_networks,
    a_change_that_would_lock_out_its_author_or_names_no_range_is_refused,
);

async fn an_accounts_users_reach_it_only_from_its_trusted_networks(s: Server) {
    let t = s.tree().await;
    let account = format!("/api/v1/accounts/{}", t.customer_id);
    let token = t
        .customer
        .post(&format!("{account}/api-tokens"), json!({"name": "ci", "expires_in_days": 30}))
        .await
        .expect(201)
        .body["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bearer = t.customer.bearer(&token);
    bearer.get(&format!("{account}/collections")).await.expect(200);
    // The MSP's admin restricts its customer to a network these tests do not come from.
    let set = t.msp.patch(&account, json!({"allowed_networks": ["10.0.0.0/8"]})).await.expect(200);
    assert_eq!(set.body["allowed_networks"], json!(["10.0.0.0/8"]));
    t.customer.get("/api/v1/me").await.problem(403, "network_not_allowed");
    bearer.get(&format!("{account}/collections")).await.problem(403, "network_not_allowed");
    let (refused, _) = s.try_login("boss@globex.test", PASSWORD).await;
    refused.problem(403, "network_not_allowed");
    // The MSP's technicians follow their own account's list, which is open.
    let inside = t.msp.enter(&t.customer_id, "ticket 3").await;
    t.msp.inside(&inside).get(&format!("{account}/collections")).await.expect(200);
    let trail = t.msp.get(&format!("{account}/audit?action=auth.session_refused")).await.expect(200);
    assert_eq!(trail.body["items"][0]["details"]["code"], "network_not_allowed", "{}", trail.text);
    let failed = t.msp.get(&format!("{account}/audit?action=auth.login_failed")).await.expect(200);
    assert_eq!(failed.body["items"][0]["details"]["reason"], "network_not_allowed");
    // Back to anywhere: the same sign-in and token work again.
    t.msp.patch(&account, json!({"allowed_networks": []})).await.expect(200);
    t.customer.get("/api/v1/me").await.expect(200);
    bearer.get(&format!("{account}/collections")).await.expect(200);
}

async fn a_change_that_would_lock_out_its_author_or_names_no_range_is_refused(s: Server) {
    let t = s.tree().await;
    let account = format!("/api/v1/accounts/{}", t.customer_id);
    let locked = t.customer.patch(&account, json!({"allowed_networks": ["10.0.0.0/8"]})).await;
    let locked = locked.problem(422, "validation_failed");
    assert_eq!(locked.body["errors"][0]["field"], "allowed_networks");
    t.customer.patch(&account, json!({"allowed_networks": ["not a range"]})).await.problem(422, "validation_failed");
    // Clients are seen as IPv4: an IPv4-mapped IPv6 range would never match.
    t.customer
        .patch(&account, json!({"allowed_networks": ["::ffff:127.0.0.0/104"]}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(t.customer.get(&account).await.body["allowed_networks"], json!([]), "nothing changed");
    let set = t.customer.patch(&account, json!({"allowed_networks": ["127.0.0.1/8", "2001:db8::1"]})).await.expect(200);
    assert_eq!(set.body["allowed_networks"], json!(["127.0.0.0/8", "2001:db8::1/128"]));
    t.customer.get("/api/v1/me").await.expect(200);
    // Not for those who do not manage its sign-in settings.
    let (_, viewer) = s.user(&t.customer, &t.customer_id, "viewer", "viewer@globex.test").await;
    viewer.patch(&account, json!({"allowed_networks": []})).await.problem(403, "forbidden");
    t.rival.patch(&account, json!({"allowed_networks": []})).await.problem(404, "not_found");
}
