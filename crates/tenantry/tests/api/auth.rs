//! Sign-in, sessions, CSRF, step-up, rate limits and activation, as the contract's Authentication
//! section describes them.

use crate::support::{ADMIN_EMAIL, PASSWORD, Server};
use serde_json::json;

crate::api_tests!(
    login_returns_user_account_csrf_and_a_strict_cookie,
    wrong_password_and_unknown_email_get_the_same_answer_and_both_pay_a_hash,
    refusals_for_disabled_expired_suspended_and_sso_users_need_the_right_password,
    failed_logins_are_rate_limited_per_email_even_for_the_right_password_until_the_window_passes,
    unsafe_requests_without_the_csrf_token_are_refused,
    sessions_end_after_idle_and_absolute_timeouts,
    logout_ends_the_sign_in,
    step_up_rotates_the_cookie_keeps_the_csrf_token_and_opens_the_reauth_window,
    password_change_ends_other_sign_ins_and_checks_the_current_password,
    invited_users_activate_once_with_their_link_within_seven_days,
    me_lists_the_permissions_on_the_callers_own_account,
);

async fn login_returns_user_account_csrf_and_a_strict_cookie(s: Server) {
    let reply = s
        .anon("POST", "/api/v1/auth/login", Some(json!({"email": "ROOT@platform.test", "password": PASSWORD})))
        .await
        .expect(200);
    assert_eq!(reply.body["user"]["email"], ADMIN_EMAIL);
    assert_eq!(reply.body["user"]["role"], "platform_admin");
    assert_eq!(reply.body["account"]["kind"], "platform");
    assert_eq!(reply.body["csrf_token"].as_str().map(str::len), Some(64));
    assert!(reply.body["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let cookie = reply.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(cookie.starts_with("tenantry_session="));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "not over plain http");
}

async fn wrong_password_and_unknown_email_get_the_same_answer_and_both_pay_a_hash(s: Server) {
    let before = s.metric("tenantry_password_verifications_total").await;
    let (wrong, _) = s.try_login(ADMIN_EMAIL, "not the password at all").await;
    let (unknown, _) = s.try_login("nobody@nowhere.test", "not the password at all").await;
    let wrong = wrong.problem(401, "invalid_credentials");
    let unknown = unknown.problem(401, "invalid_credentials");
    assert_eq!(wrong.text, unknown.text, "the same body for both");
    let after = s.metric("tenantry_password_verifications_total").await;
    assert_eq!(after - before, 2, "an unknown email is verified against a dummy hash too");

    let root = s.root().await;
    let platform = root.get("/api/v1/me").await.id("/account/id");
    let trail = root.get(&format!("/api/v1/accounts/{platform}/audit?action=auth.login_failed")).await.expect(200);
    let unknown_event = trail.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|e| e["actor"]["email"] == "nobody@nowhere.test").cloned());
    let unknown_event =
        unknown_event.unwrap_or_else(|| panic!("unknown-email failure not in the platform trail: {}", trail.text));
    assert!(unknown_event["actor"]["user_id"].is_null());
    assert_eq!(unknown_event["outcome"], "failure");
}

async fn refusals_for_disabled_expired_suspended_and_sso_users_need_the_right_password(s: Server) {
    let t = s.tree().await;
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    let (disabled, _) = s.user(&t.customer, &t.customer_id, "admin", "off@globex.test").await;
    t.customer.patch(&format!("{users}/{disabled}"), json!({"status": "disabled"})).await.expect(200);
    s.try_login("off@globex.test", "wrong password here").await.0.problem(401, "invalid_credentials");
    s.try_login("off@globex.test", PASSWORD).await.0.problem(403, "user_disabled");

    let soon = tenantry_domain::clock::rfc3339_micros(s.clock_now() + time::Duration::hours(1));
    let body = json!({"email": "temp@globex.test", "name": "Temp", "role": "viewer", "password": PASSWORD, "expires_at": soon});
    t.customer.post(&users, body).await.expect(201);
    s.login("temp@globex.test", PASSWORD).await;
    s.clock.advance(time::Duration::hours(2));
    s.try_login("temp@globex.test", PASSWORD).await.0.problem(403, "user_expired");
    let listed = s.login("boss@globex.test", PASSWORD).await.get(&users).await.expect(200);
    let temp =
        listed.body["items"].as_array().and_then(|a| a.iter().find(|u| u["email"] == "temp@globex.test").cloned());
    assert_eq!(temp.map(|u| u["status"].clone()), Some(json!("expired")), "served as expired");

    let customer = format!("/api/v1/accounts/{}", t.customer_id);
    let msp = s.login("admin@acme.test", PASSWORD).await;
    let boss = s.login("boss@globex.test", PASSWORD).await;
    msp.patch(&customer, json!({"status": "suspended"})).await.expect(200);
    s.try_login("boss@globex.test", PASSWORD).await.0.problem(403, "account_suspended");
    boss.get("/api/v1/me").await.problem(403, "account_suspended");
    msp.patch(&customer, json!({"status": "active"})).await.expect(200);

    let boss = s.login("boss@globex.test", PASSWORD).await;
    s.user(&boss, &t.customer_id, "sso_admin", "glass@globex.test").await;
    s.enable_sso(&boss, &t.customer_id).await;
    boss.patch(&customer, json!({"sso_mandatory": true})).await.expect(200);
    boss.get("/api/v1/me").await.problem(401, "unauthenticated");
    s.try_login("boss@globex.test", "wrong password here").await.0.problem(401, "invalid_credentials");
    s.try_login("boss@globex.test", PASSWORD).await.0.problem(403, "sso_required");
    s.login("glass@globex.test", PASSWORD).await;
    msp.get(&customer).await.expect(200);
}

async fn failed_logins_are_rate_limited_per_email_even_for_the_right_password_until_the_window_passes(s: Server) {
    for _ in 0..5 {
        s.try_login(ADMIN_EMAIL, "wrong password here").await.0.problem(401, "invalid_credentials");
    }
    s.login(ADMIN_EMAIL, PASSWORD).await;
    for _ in 5..10 {
        s.try_login(ADMIN_EMAIL, "wrong password here").await.0.problem(401, "invalid_credentials");
    }
    let limited = s.try_login(ADMIN_EMAIL, PASSWORD).await.0.problem(429, "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
    s.clock.advance(time::Duration::minutes(16));
    s.login(ADMIN_EMAIL, PASSWORD).await;
}

async fn unsafe_requests_without_the_csrf_token_are_refused(s: Server) {
    let root = s.root().await;
    let body = json!({"kind": "partner", "name": "P", "admin": {"email": "p@p.test", "name": "P"}});
    root.send("POST", "/api/v1/accounts", Some(body.clone()), false).await.problem(403, "csrf_failed");
    let mut forged = root.clone();
    forged.csrf = "0".repeat(64);
    forged.post("/api/v1/accounts", body.clone()).await.problem(403, "csrf_failed");
    root.post("/api/v1/accounts", body).await.expect(201);
    s.anon("POST", "/api/v1/accounts", Some(json!({}))).await.problem(401, "unauthenticated");
}

async fn sessions_end_after_idle_and_absolute_timeouts(s: Server) {
    let idle = s.root().await;
    s.clock.advance(time::Duration::minutes(59));
    idle.get("/api/v1/me").await.expect(200);
    s.clock.advance(time::Duration::minutes(61));
    idle.get("/api/v1/me").await.problem(401, "unauthenticated");

    let busy = s.root().await;
    for _ in 0..13 {
        s.clock.advance(time::Duration::minutes(55));
        busy.get("/api/v1/me").await.expect(200);
    }
    s.clock.advance(time::Duration::minutes(10));
    busy.get("/api/v1/me").await.problem(401, "unauthenticated");
}

async fn logout_ends_the_sign_in(s: Server) {
    let root = s.root().await;
    let reply = root.send("POST", "/api/v1/auth/logout", None, true).await.expect(204);
    assert!(reply.headers.get("set-cookie").and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("Max-Age=0")));
    root.get("/api/v1/me").await.problem(401, "unauthenticated");
}

async fn step_up_rotates_the_cookie_keeps_the_csrf_token_and_opens_the_reauth_window(s: Server) {
    let root = s.root().await;
    let (partner_id, _) = s.account(&root, "partner", "Doomed", "d@doomed.test", None).await;
    s.clock.advance(time::Duration::minutes(6));
    let doomed = format!("/api/v1/accounts/{partner_id}");
    root.delete(&doomed).await.problem(403, "reauth_required");
    let trail = root.get(&format!("{doomed}/audit?action=account.deletion_scheduled")).await.expect(200);
    assert_eq!(trail.body["items"][0]["details"]["code"], "reauth_required", "a refused step-up is recorded");
    root.post("/api/v1/auth/reauth", json!({"password": "wrong password here"}))
        .await
        .problem(401, "invalid_credentials");

    let mut stepped = root.clone();
    let reply = root.post("/api/v1/auth/reauth", json!({"password": PASSWORD})).await.expect(200);
    assert_eq!(reply.body["csrf_token"], root.csrf.as_str(), "every open tab keeps working");
    stepped.rotate(&reply);
    assert_ne!(stepped.cookie, root.cookie);
    root.get("/api/v1/me").await.problem(401, "unauthenticated");
    stepped.delete(&doomed).await.expect(204);
    assert_eq!(stepped.get(&doomed).await.body["status"], "pending_deletion");

    s.clock.advance(time::Duration::minutes(6));
    stepped.post(&format!("{doomed}/restore"), json!({})).await.expect(200);
    stepped.delete(&doomed).await.problem(403, "reauth_required");
    stepped
        .send("DELETE", &doomed, Some(json!({"password": "wrong password here"})), true)
        .await
        .problem(401, "invalid_credentials");
    stepped.send("DELETE", &doomed, Some(json!({"password": PASSWORD})), true).await.expect(204);
}

async fn password_change_ends_other_sign_ins_and_checks_the_current_password(s: Server) {
    let here = s.root().await;
    let elsewhere = s.root().await;
    let new = "a brand new passphrase";
    here.post("/api/v1/auth/password", json!({"current_password": "wrong password here", "new_password": new}))
        .await
        .problem(401, "invalid_credentials");
    here.post("/api/v1/auth/password", json!({"current_password": PASSWORD, "new_password": "short"}))
        .await
        .problem(422, "validation_failed");
    here.post("/api/v1/auth/password", json!({"current_password": PASSWORD, "new_password": new})).await.expect(204);
    here.get("/api/v1/me").await.expect(200);
    elsewhere.get("/api/v1/me").await.problem(401, "unauthenticated");
    s.try_login(ADMIN_EMAIL, PASSWORD).await.0.problem(401, "invalid_credentials");
    s.login(ADMIN_EMAIL, new).await;
}

async fn invited_users_activate_once_with_their_link_within_seven_days(s: Server) {
    let root = s.root().await;
    let platform = root.get("/api/v1/me").await.id("/account/id");
    let users = format!("/api/v1/accounts/{platform}/users");
    let invite = |email: &str| json!({"email": email, "name": "New", "role": "platform_admin"});
    let reply = root.post(&users, invite("new@platform.test")).await.expect(201);
    assert_eq!(reply.body["user"]["status"], "invited");
    let link = reply.id("/activation_url");
    let token = link.split("token=").nth(1).unwrap_or_default().to_owned();
    assert!(link.starts_with(&s.base), "{link}");
    s.try_login("new@platform.test", PASSWORD).await.0.problem(401, "invalid_credentials");
    s.anon("POST", "/api/v1/auth/activate", Some(json!({"token": token, "password": "short"})))
        .await
        .problem(422, "validation_failed");
    s.anon("POST", "/api/v1/auth/activate", Some(json!({"token": token, "password": PASSWORD}))).await.expect(204);
    s.anon("POST", "/api/v1/auth/activate", Some(json!({"token": token, "password": PASSWORD})))
        .await
        .problem(422, "validation_failed");
    s.login("new@platform.test", PASSWORD).await;

    let late = root.post(&users, invite("late@platform.test")).await.expect(201).id("/activation_url");
    let late = late.split("token=").nth(1).unwrap_or_default().to_owned();
    s.clock.advance(time::Duration::days(7) + time::Duration::minutes(1));
    s.anon("POST", "/api/v1/auth/activate", Some(json!({"token": late, "password": PASSWORD})))
        .await
        .problem(422, "validation_failed");
}

async fn me_lists_the_permissions_on_the_callers_own_account(s: Server) {
    let t = s.tree().await;
    let me = t.customer.get("/api/v1/me").await.expect(200);
    let permissions: Vec<&str> =
        me.body["permissions"].as_array().map(|a| a.iter().filter_map(|p| p.as_str()).collect()).unwrap_or_default();
    for expected in ["account.read", "user.manage", "audit.read", "resource.write", "api_token.manage"] {
        assert!(permissions.contains(&expected), "{expected} missing from {permissions:?}");
    }
    assert!(!permissions.contains(&"account.create"));
    assert_eq!(me.body["csrf_token"], t.customer.csrf.as_str());
}
