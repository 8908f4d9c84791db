//! An account's OpenID Connect provider settings (the contract's "Single sign-on" settings): kept
//! without serving the secret, checked field by field, managed by the right people, one account
//! per email domain, and `sso_mandatory` only on top of an enabled provider.

use crate::support::Server;
use serde_json::json;

crate::api_tests!(
    provider_settings_are_kept_without_serving_their_secret_and_checked_field_by_field,
    the_accounts_administrators_and_its_msp_manage_sso_and_a_domain_belongs_to_one_account,
    sso_becomes_mandatory_only_when_enabled_and_stays_enabled_while_mandatory,
);

fn provider() -> serde_json::Value {
    json!({"enabled": true, "issuer": "https://login.globex.test/", "client_id": "tenantry-app",
        "client_secret": "a-very-secret-value", "allowed_email_domains": ["Globex.test"],
        "jit_provisioning": true})
}

async fn provider_settings_are_kept_without_serving_their_secret_and_checked_field_by_field(s: Server) {
    let t = s.tree().await;
    let path = format!("/api/v1/accounts/{}/sso", t.customer_id);
    let unset = t.customer.get(&path).await.expect(200);
    assert_eq!(unset.body["enabled"], false);
    assert_eq!(unset.body["client_secret_set"], false);
    assert_eq!(unset.body["default_role"], "viewer");
    assert_eq!(unset.body["scopes"], json!(["openid", "email", "profile"]));
    let put = |body: serde_json::Value| t.customer.send("PUT", &path, Some(body), true);
    let mut plain = provider();
    plain["issuer"] = json!("http://login.globex.test");
    let refused = put(plain).await.problem(422, "validation_failed");
    assert_eq!(refused.body["errors"][0]["field"], "issuer");
    let mut no_secret = provider();
    no_secret.as_object_mut().map(|o| o.remove("client_secret"));
    put(no_secret.clone()).await.problem(422, "validation_failed");
    let mut wrong_role = provider();
    wrong_role["default_role"] = json!("msp_admin");
    put(wrong_role).await.problem(422, "validation_failed");
    let mut no_openid = provider();
    no_openid["scopes"] = json!(["email"]);
    put(no_openid).await.problem(422, "validation_failed");
    assert_eq!(t.customer.get(&path).await.body["enabled"], false, "nothing stored");

    let saved = put(provider()).await.expect(200);
    assert_eq!(saved.body["issuer"], "https://login.globex.test");
    assert_eq!(saved.body["client_secret_set"], true);
    assert_eq!(saved.body["allowed_email_domains"], json!(["globex.test"]));
    assert!(saved.body.get("client_secret").is_none());
    assert!(!saved.text.contains("a-very-secret-value"));
    // Without a secret the stored one stays.
    let kept = put(no_secret).await.expect(200);
    assert_eq!(kept.body["client_secret_set"], true);
    let trail = t.customer.get(&format!("/api/v1/accounts/{}/audit?action=sso.updated", t.customer_id)).await;
    let trail = trail.expect(200);
    assert_eq!(trail.body["items"].as_array().map(Vec::len), Some(2));
    assert!(!trail.text.contains("a-very-secret-value"), "the trail never holds the secret");
}

async fn the_accounts_administrators_and_its_msp_manage_sso_and_a_domain_belongs_to_one_account(s: Server) {
    let t = s.tree().await;
    let path = format!("/api/v1/accounts/{}/sso", t.customer_id);
    let (_, viewer) = s.user(&t.customer, &t.customer_id, "viewer", "viewer@globex.test").await;
    viewer.get(&path).await.problem(403, "forbidden");
    viewer.send("PUT", &path, Some(provider()), true).await.problem(403, "forbidden");
    t.rival.get(&path).await.problem(404, "not_found");
    t.rival.send("PUT", &path, Some(provider()), true).await.problem(404, "not_found");
    // The MSP's admin, directly, without entering the customer.
    t.msp.send("PUT", &path, Some(provider()), true).await.expect(200);
    assert_eq!(t.customer.get(&path).await.body["client_id"], "tenantry-app");
    // Another account cannot claim the same email domain.
    let (sibling_id, sibling) = s.account(&t.msp, "customer", "Hooli", "boss@hooli.test", None).await;
    let other = format!("/api/v1/accounts/{sibling_id}/sso");
    sibling.send("PUT", &other, Some(provider()), true).await.problem(409, "conflict");
    let mut own_domain = provider();
    own_domain["allowed_email_domains"] = json!(["hooli.test"]);
    sibling.send("PUT", &other, Some(own_domain), true).await.expect(200);
}

async fn sso_becomes_mandatory_only_when_enabled_and_stays_enabled_while_mandatory(s: Server) {
    let t = s.tree().await;
    let account = format!("/api/v1/accounts/{}", t.customer_id);
    let path = format!("{account}/sso");
    t.customer.patch(&account, json!({"sso_mandatory": true})).await.problem(409, "sso_not_configured");
    let mut disabled = provider();
    disabled["enabled"] = json!(false);
    t.customer.send("PUT", &path, Some(disabled.clone()), true).await.expect(200);
    t.customer.patch(&account, json!({"sso_mandatory": true})).await.problem(409, "sso_not_configured");
    t.msp.send("PUT", &path, Some(provider()), true).await.expect(200);
    t.msp.patch(&account, json!({"sso_mandatory": true})).await.expect(200);
    t.msp.send("PUT", &path, Some(disabled.clone()), true).await.problem(409, "conflict");
    t.msp.patch(&account, json!({"sso_mandatory": false})).await.expect(200);
    let off = t.msp.send("PUT", &path, Some(disabled), true).await.expect(200);
    assert_eq!(off.body["enabled"], false);
    assert_eq!(off.body["client_id"], "tenantry-app", "disabling keeps the configuration");
}
