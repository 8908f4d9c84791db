//! TOTP second factors (the contract's "Multi-factor authentication"): enrollment with a QR code,
//! sign-in and step-up with a code that works once, recovery codes, turning it off, and a user
//! manager's reset.

use crate::support::{PASSWORD, Server, Session};
use serde_json::{Value, json};
use time::Duration;

crate::api_tests!(
    enrolling_shows_a_qr_code_and_a_first_code_turns_mfa_on_with_ten_recovery_codes,
    an_mfa_user_signs_in_with_a_code_that_works_once_and_wrong_codes_count_as_failures,
    recovery_codes_sign_in_once_each_and_renewing_them_retires_the_old_ones,
    a_step_up_of_an_mfa_user_needs_its_code_too_also_inline_when_entering_a_customer,
    turning_mfa_off_needs_a_step_up_and_then_the_password_alone_signs_in,
    a_user_manager_resets_a_lost_factor_and_ends_the_users_sign_ins,
    an_account_that_requires_mfa_lets_its_users_without_it_only_set_it_up,
);

/// The code the authenticator shows for `secret` at the server's current time.
fn code(s: &Server, secret: &str) -> String {
    let totp = tenantry_server::mfa::totp(secret, "x@y.test").unwrap_or_else(|e| panic!("{e}"));
    let seconds = u64::try_from(s.clock_now().unix_timestamp()).unwrap_or_default();
    totp.generate(seconds).to_string()
}

/// Turns MFA on for the signed-in `session`; returns the secret and the recovery codes.
async fn enroll(s: &Server, session: &Session) -> (String, Vec<String>) {
    let started = session.post("/api/v1/auth/mfa/totp", json!({})).await.expect(200);
    let secret = started.body["secret"].as_str().unwrap_or_default().to_owned();
    let confirmed = session.post("/api/v1/auth/mfa/totp/confirm", json!({"code": code(s, &secret)})).await.expect(200);
    let codes = confirmed.body["recovery_codes"].as_array().cloned().unwrap_or_default();
    (secret, codes.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
}

fn login_body(email: &str, extra: Value) -> Value {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

async fn enrolling_shows_a_qr_code_and_a_first_code_turns_mfa_on_with_ten_recovery_codes(s: Server) {
    let t = s.tree().await;
    let started = t.customer.post("/api/v1/auth/mfa/totp", json!({})).await.expect(200);
    let secret = started.body["secret"].as_str().unwrap_or_default().to_owned();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = started.body["otpauth_uri"].as_str().unwrap_or_default();
    assert!(uri.starts_with("otpauth://totp/Tenantry:boss%40globex.test?"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")));
    let svg = started.body["qr_svg"].as_str().unwrap_or_default();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "a QR code rendered here, as SVG");
    // Pending: nothing changes until a code confirms it.
    assert_eq!(t.customer.get("/api/v1/me").await.body["user"]["mfa_enabled"], false);
    t.customer.post("/api/v1/auth/mfa/totp/confirm", json!({"code": "000000"})).await.problem(422, "validation_failed");
    let confirmed =
        t.customer.post("/api/v1/auth/mfa/totp/confirm", json!({"code": code(&s, &secret)})).await.expect(200);
    let codes = confirmed.body["recovery_codes"].as_array().cloned().unwrap_or_default();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::HashSet<_> = codes.iter().filter_map(Value::as_str).collect();
    assert_eq!(distinct.len(), 10);
    assert_eq!(t.customer.get("/api/v1/me").await.body["user"]["mfa_enabled"], true);
    // On: a new enrollment must wait until it is turned off; confirming again finds nothing.
    t.customer.post("/api/v1/auth/mfa/totp", json!({})).await.problem(409, "conflict");
    t.customer.post("/api/v1/auth/mfa/totp/confirm", json!({"code": code(&s, &secret)})).await.problem(409, "conflict");
    let trail = t.customer.get(&format!("/api/v1/accounts/{}/audit?action=auth.mfa_enabled", t.customer_id)).await;
    assert_eq!(trail.expect(200).body["items"].as_array().map(Vec::len), Some(1));
}

async fn an_mfa_user_signs_in_with_a_code_that_works_once_and_wrong_codes_count_as_failures(s: Server) {
    let t = s.tree().await;
    let (secret, _) = enroll(&s, &t.customer).await;
    let email = "boss@globex.test";
    let login = |extra: Value| s.anon("POST", "/api/v1/auth/login", Some(login_body(email, extra)));
    login(json!({})).await.problem(401, "mfa_required");
    login(json!({"totp_code": "123456"})).await.problem(401, "invalid_credentials");
    // The confirming code's step is used: the next step's code signs in, once.
    s.clock.advance(Duration::seconds(30));
    let fresh = code(&s, &secret);
    login(json!({"totp_code": fresh})).await.expect(200);
    login(json!({"totp_code": fresh})).await.problem(401, "invalid_credentials");
    // Sent eight times at once, the next step's code still signs in once.
    s.clock.advance(Duration::seconds(30));
    let fresh = code(&s, &secret);
    let tries = (0..8).map(|_| login(json!({"totp_code": fresh.clone()})));
    let statuses: Vec<u16> = futures_util::future::join_all(tries).await.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    // The wrong password is refused before any code is looked at.
    s.anon(
        "POST",
        "/api/v1/auth/login",
        Some(json!({"email": email, "password": "wrong password here", "totp_code": fresh})),
    )
    .await
    .problem(401, "invalid_credentials");
    // Wrong codes count like wrong passwords: the limit stops the guessing.
    let mut limited = false;
    for _ in 0..12 {
        let reply = login(json!({"totp_code": "999999"})).await;
        if reply.status == 429 {
            limited = true;
            break;
        }
        reply.problem(401, "invalid_credentials");
    }
    assert!(limited, "wrong codes are rate-limited");
    let trail =
        t.customer.get(&format!("/api/v1/accounts/{}/audit?action=auth.login_failed", t.customer_id)).await.expect(200);
    let reasons: Vec<String> = trail.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["details"]["reason"].as_str().map(str::to_owned))
        .collect();
    assert!(reasons.iter().any(|r| r == "mfa_required"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "invalid_second_factor"), "{reasons:?}");
}

async fn recovery_codes_sign_in_once_each_and_renewing_them_retires_the_old_ones(s: Server) {
    let t = s.tree().await;
    let (_, codes) = enroll(&s, &t.customer).await;
    let email = "boss@globex.test";
    let login = |extra: Value| s.anon("POST", "/api/v1/auth/login", Some(login_body(email, extra)));
    login(json!({"recovery_code": codes[0].to_uppercase()})).await.expect(200);
    login(json!({"recovery_code": codes[0]})).await.problem(401, "invalid_credentials");
    let renewed = t.customer.post("/api/v1/auth/mfa/recovery-codes", json!({})).await.expect(200);
    let new_codes = renewed.body["recovery_codes"].as_array().cloned().unwrap_or_default();
    assert_eq!(new_codes.len(), 10);
    login(json!({"recovery_code": codes[1]})).await.problem(401, "invalid_credentials");
    login(json!({"recovery_code": new_codes[0]})).await.expect(200);
}

async fn a_step_up_of_an_mfa_user_needs_its_code_too_also_inline_when_entering_a_customer(s: Server) {
    let t = s.tree().await;
    let (secret, _) = enroll(&s, &t.msp).await;
    // Past the sign-in's own step-up window.
    s.clock.advance(Duration::minutes(10));
    let mut msp = t.msp.clone();
    msp.post("/api/v1/auth/reauth", json!({"password": PASSWORD})).await.problem(401, "mfa_required");
    let enter = format!("/api/v1/accounts/{}/access-sessions", t.customer_id);
    msp.post(&enter, json!({"reason": "ticket", "password": PASSWORD})).await.problem(401, "mfa_required");
    msp.post(&enter, json!({"reason": "ticket", "password": PASSWORD, "totp_code": "000000"}))
        .await
        .problem(401, "invalid_credentials");
    msp.post(&enter, json!({"reason": "ticket", "password": PASSWORD, "totp_code": code(&s, &secret)}))
        .await
        .expect(201);
    s.clock.advance(Duration::seconds(30));
    let reply = msp.post("/api/v1/auth/reauth", json!({"password": PASSWORD, "totp_code": code(&s, &secret)})).await;
    msp.rotate(&reply.expect(200));
    msp.get("/api/v1/me").await.expect(200);
}

async fn turning_mfa_off_needs_a_step_up_and_then_the_password_alone_signs_in(s: Server) {
    let t = s.tree().await;
    let (secret, _) = enroll(&s, &t.customer).await;
    s.clock.advance(Duration::minutes(10));
    t.customer.delete("/api/v1/auth/mfa/totp").await.problem(403, "reauth_required");
    let body = json!({"password": PASSWORD, "totp_code": code(&s, &secret)});
    t.customer.send("DELETE", "/api/v1/auth/mfa/totp", Some(body), true).await.expect(204);
    assert_eq!(t.customer.get("/api/v1/me").await.body["user"]["mfa_enabled"], false);
    s.login("boss@globex.test", PASSWORD).await;
    t.customer.post("/api/v1/auth/mfa/recovery-codes", json!({"password": PASSWORD})).await.problem(409, "conflict");
}

async fn a_user_manager_resets_a_lost_factor_and_ends_the_users_sign_ins(s: Server) {
    let t = s.tree().await;
    let (uid, viewer) = s.user(&t.customer, &t.customer_id, "viewer", "viewer@globex.test").await;
    enroll(&s, &viewer).await;
    let path = format!("/api/v1/accounts/{}/users/{uid}/mfa", t.customer_id);
    viewer.delete(&path).await.problem(403, "forbidden");
    t.rival.delete(&path).await.problem(404, "not_found");
    // Not a technician inside the customer, and not one's own factor.
    let (_, tech) = s.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
    let tech_id = tech.get("/api/v1/me").await.id("/user/id");
    t.msp
        .put(&format!("/api/v1/accounts/{}/users/{tech_id}/assignments/{}", t.msp_id, t.customer_id))
        .await
        .expect(204);
    let inside = tech.inside(&tech.enter(&t.customer_id, "ticket 5").await);
    inside.delete(&path).await.problem(403, "delegated_credential_forbidden");
    let boss_id = t.customer.get("/api/v1/me").await.id("/user/id");
    t.customer
        .delete(&format!("/api/v1/accounts/{}/users/{boss_id}/mfa", t.customer_id))
        .await
        .problem(409, "conflict");
    // A reset is a step-up action: the manager's own sign-in must be recent.
    s.clock.advance(Duration::minutes(10));
    t.customer.delete(&path).await.problem(403, "reauth_required");
    t.customer.send("DELETE", &path, Some(json!({"password": PASSWORD})), true).await.expect(204);
    viewer.get("/api/v1/me").await.problem(401, "unauthenticated");
    let again = s.login("viewer@globex.test", PASSWORD).await;
    assert_eq!(again.get("/api/v1/me").await.body["user"]["mfa_enabled"], false);
    let trail = t.customer.get(&format!("/api/v1/accounts/{}/audit?action=user.mfa_reset", t.customer_id)).await;
    let items = trail.expect(200).body["items"].as_array().cloned().unwrap_or_default();
    let done: Vec<_> = items.iter().filter(|e| e["outcome"] == "success").collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["target"]["id"], uid.as_str());
}

async fn an_account_that_requires_mfa_lets_its_users_without_it_only_set_it_up(s: Server) {
    let t = s.tree().await;
    let (_, viewer) = s.user(&t.customer, &t.customer_id, "viewer", "viewer@globex.test").await;
    let account = format!("/api/v1/accounts/{}", t.customer_id);
    let token = t.customer.post(&format!("{account}/api-tokens"), json!({"name": "ci", "expires_in_days": 9})).await;
    let bearer = t.customer.bearer(token.expect(201).body["token"].as_str().unwrap_or_default());
    // Who sets the policy: the account's own administrators and its MSP's admin.
    viewer.patch(&account, json!({"mfa_required": true})).await.problem(403, "forbidden");
    t.rival.patch(&account, json!({"mfa_required": true})).await.problem(404, "not_found");
    let set = t.msp.patch(&account, json!({"mfa_required": true})).await.expect(200);
    assert_eq!(set.body["mfa_required"], true);
    // Users without a factor reach who they are, the enrollment and the way out; nothing else.
    t.customer.get("/api/v1/me").await.expect(200);
    t.customer.get(&format!("{account}/users")).await.problem(403, "mfa_enrollment_required");
    // A token of a creator without a factor stops too.
    bearer.get(&format!("{account}/users")).await.problem(403, "mfa_enrollment_required");
    let collections = format!("{account}/collections");
    viewer.get(&collections).await.problem(403, "mfa_enrollment_required");
    let fresh = s.login("viewer@globex.test", PASSWORD).await;
    fresh.get(&collections).await.problem(403, "mfa_enrollment_required");
    enroll(&s, &fresh).await;
    fresh.get(&collections).await.expect(200);
    fresh.delete("/api/v1/auth/mfa/totp").await.problem(409, "conflict");
    // A technician entering follows its own account's policy, not the customer's.
    let inside = t.msp.enter(&t.customer_id, "ticket 9").await;
    t.msp.inside(&inside).get(&collections).await.expect(200);
}
