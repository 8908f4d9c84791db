//! Single sign-on against a real OpenID provider (the contract's "Single sign-on (OpenID
//! Connect)"): sign-in by email or by account, every failure refused and recorded, just-in-time
//! users within the allowed domains, mandatory SSO, the step-up with the actor's own provider,
//! the connection test, and `client_secret_post`.

use crate::idp::{Browser, Provider};
use crate::support::{PASSWORD, Server, Session};
use serde_json::{Value, json};

crate::api_tests!(
    a_customer_user_signs_in_through_its_accounts_provider_by_email_or_by_account,
    every_failed_single_sign_on_signs_nobody_in_and_lands_in_the_accounts_trail,
    just_in_time_users_are_created_only_within_the_allowed_domains,
    mandatory_sso_keeps_provider_sign_ins_ends_password_ones_and_asks_no_factor_of_ours,
    an_sso_step_up_confirms_the_signed_in_user_and_opens_an_access_session,
    the_connection_test_fetches_discovery_and_keys_for_the_accounts_managers_only,
    a_provider_that_takes_only_client_secret_post_signs_users_in,
    a_provider_that_rotates_its_signing_key_is_followed_to_its_new_keys,
    nobody_but_the_accounts_own_people_decides_who_its_provider_signs_in,
);

/// The provider for `s`, configured on `account` by `by`.
async fn provider_on(s: &Server, by: &Session, account: &str, domains: &[&str], jit: bool) -> Option<Provider> {
    let provider = Provider::start(s, "client_secret_basic").await?;
    let path = format!("/api/v1/accounts/{account}/sso");
    by.send("PUT", &path, Some(provider.settings(domains, jit)), true).await.expect(200);
    Some(provider)
}

/// Where the callback sent the browser: the path of its `Location`.
async fn finish(s: &Server, browser: &mut Browser, callback: &str) -> String {
    let hop = browser.get(callback).await;
    assert_eq!(hop.status, 302, "the callback redirects: {}", hop.body);
    let location = hop.location.unwrap_or_default();
    location.strip_prefix(&s.base).unwrap_or(&location).to_owned()
}

/// Signs `login` in through `start` (a path of the service); the landing path.
async fn sso(s: &Server, browser: &mut Browser, start: &str, login: &str) -> String {
    let callback = browser.through_provider(&s.url(start), login).await;
    if let Some(refused) = callback.strip_prefix(&s.base).filter(|p| p.starts_with("/login")) {
        return refused.to_owned();
    }
    finish(s, browser, &callback).await
}

async fn trail(by: &Session, account: &str, action: &str) -> Vec<Value> {
    let reply = by.get(&format!("/api/v1/accounts/{account}/audit?action={action}")).await.expect(200);
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

async fn a_customer_user_signs_in_through_its_accounts_provider_by_email_or_by_account(s: Server) {
    let t = s.tree().await;
    let Some(_provider) = provider_on(&s, &t.customer, &t.customer_id, &["globex.test"], false).await else {
        return;
    };
    let mut browser = Browser::new(&s);
    let landed = sso(&s, &mut browser, "/auth/sso/start?email=boss@globex.test", "boss@globex.test").await;
    assert_eq!(landed, "/portal", "a customer's user lands on the portal");
    let cookie = browser.session_cookie().unwrap_or_else(|| panic!("signed in"));
    let boss = Session::from_cookie(&s, &cookie).await;
    assert_eq!(boss.get("/api/v1/me").await.body["user"]["email"], "boss@globex.test");
    let signins = boss.get("/api/v1/auth/sessions").await.expect(200);
    let current: Vec<&Value> =
        signins.body["items"].as_array().into_iter().flatten().filter(|i| i["current"] == true).collect();
    assert_eq!(current[0]["method"], "sso");
    let logins = trail(&t.customer, &t.customer_id, "auth.login").await;
    assert_eq!(logins[0]["details"]["method"], "sso", "recorded as an SSO sign-in: {logins:?}");

    // By the account's slug, landing where asked; the binding cookie is gone afterwards.
    let mut other = Browser::new(&s);
    let landed =
        sso(&s, &mut other, "/auth/sso/start?account=globex&return_to=/portal/users", "boss@globex.test").await;
    assert_eq!(landed, "/portal/users");
    assert!(other.session_cookie().is_some());
    assert!(!other.cookies.contains_key("tenantry_sso"), "the flow's binding cookie is removed");

    // An email nobody's provider serves, an absolute return_to, a protocol-relative one.
    for start in [
        "/auth/sso/start?email=someone@nowhere.test",
        "/auth/sso/start?account=globex&return_to=https://evil.test/",
        "/auth/sso/start?account=globex&return_to=//evil.test/",
        "/auth/sso/start",
    ] {
        let hop = Browser::new(&s).get(&s.url(start)).await;
        let location = hop.location.unwrap_or_default();
        assert!(location.starts_with("/login?error=sso_"), "{start}: {location}");
    }
}

async fn every_failed_single_sign_on_signs_nobody_in_and_lands_in_the_accounts_trail(s: Server) {
    let t = s.tree().await;
    let Some(provider) = provider_on(&s, &t.customer, &t.customer_id, &["globex.test"], false).await else {
        return;
    };
    let start = "/auth/sso/start?account=globex";
    let refused = |reason: &'static str| format!("/login?error={reason}");

    // A replayed callback: the state works once.
    let mut browser = Browser::new(&s);
    let callback = browser.through_provider(&s.url(start), "boss@globex.test").await;
    assert_eq!(finish(&s, &mut browser, &callback).await, "/portal");
    let mut replay = Browser::new(&s);
    replay.cookies = browser.cookies.clone();
    replay.cookies.remove("tenantry_session");
    assert_eq!(finish(&s, &mut replay, &callback).await, refused("sso_state_invalid"));
    assert!(replay.session_cookie().is_none());

    // A callback in another browser than the one that started.
    let mut started = Browser::new(&s);
    let callback = started.through_provider(&s.url(start), "boss@globex.test").await;
    let mut elsewhere = Browser::new(&s);
    assert_eq!(finish(&s, &mut elsewhere, &callback).await, refused("sso_state_invalid"));
    assert!(elsewhere.session_cookie().is_none());

    // An answer naming another issuer (RFC 9207).
    let mut browser = Browser::new(&s);
    let callback = browser.through_provider(&s.url(start), "boss@globex.test").await;
    let forged = callback.replace(&provider.issuer.replace(':', "%3A").replace('/', "%2F"), "https%3A%2F%2Fevil.test");
    assert_ne!(forged, callback, "the provider sends iss");
    assert_eq!(finish(&s, &mut browser, &forged).await, refused("sso_issuer_mismatch"));

    // A code issued to another flow: its PKCE verifier and nonce do not match.
    let mut first = Browser::new(&s);
    let code_of_first = first.through_provider(&s.url(start), "boss@globex.test").await;
    let mut second = Browser::new(&s);
    let second_callback = second.through_provider(&s.url(start), "boss@globex.test").await;
    let code = |url: &str| url.split("code=").nth(1).and_then(|c| c.split('&').next()).unwrap_or_default().to_owned();
    let swapped = second_callback.replace(&code(&second_callback), &code(&code_of_first));
    assert_eq!(finish(&s, &mut second, &swapped).await, refused("sso_code_refused"));
    assert!(second.session_cookie().is_none());

    // The provider vouches for an email it did not verify; for nobody the account knows; for a
    // user of another account. Each in a browser of its own (the provider remembers sign-ins).
    for (login, reason) in [
        ("unverified@globex.test", "sso_token_invalid"),
        ("stranger@globex.test", "sso_unknown_user"),
        ("admin@acme.test", "sso_unknown_user"),
    ] {
        let mut browser = Browser::new(&s);
        assert_eq!(sso(&s, &mut browser, start, login).await, refused(reason), "{login}");
        assert!(browser.session_cookie().is_none());
    }

    // A disabled user, and a user of a suspended account.
    let worker = t
        .customer
        .post(
            &format!("/api/v1/accounts/{}/users", t.customer_id),
            json!({"email": "worker@globex.test", "name": "Worker", "role": "viewer"}),
        )
        .await
        .expect(201)
        .id("/user/id");
    let worker_path = format!("/api/v1/accounts/{}/users/{worker}", t.customer_id);
    t.customer.patch(&worker_path, json!({"status": "disabled"})).await.expect(200);
    let mut browser = Browser::new(&s);
    assert_eq!(sso(&s, &mut browser, start, "worker@globex.test").await, refused("user_disabled"));
    t.msp.patch(&format!("/api/v1/accounts/{}", t.customer_id), json!({"status": "suspended"})).await.expect(200);
    let mut browser = Browser::new(&s);
    assert_eq!(sso(&s, &mut browser, start, "boss@globex.test").await, refused("account_suspended"));
    assert!(browser.session_cookie().is_none(), "nobody was signed in");
    t.msp.patch(&format!("/api/v1/accounts/{}", t.customer_id), json!({"status": "active"})).await.expect(200);

    let failures = trail(&t.customer, &t.customer_id, "auth.login_failed").await;
    let reasons: Vec<&str> = failures.iter().filter_map(|e| e["details"]["reason"].as_str()).collect();
    for reason in [
        "sso_state_invalid",
        "sso_issuer_mismatch",
        "sso_code_refused",
        "sso_token_invalid",
        "sso_unknown_user",
        "user_disabled",
        "account_suspended",
    ] {
        assert!(reasons.contains(&reason), "{reason} recorded in the customer's trail: {reasons:?}");
    }
    assert!(failures.iter().all(|e| e["details"]["method"] == "sso"));
    let disabled = failures.iter().find(|e| e["details"]["reason"] == "user_disabled");
    assert_eq!(disabled.map(|e| e["target"]["id"].clone()), Some(json!(worker)), "names the user");
}

async fn just_in_time_users_are_created_only_within_the_allowed_domains(s: Server) {
    let t = s.tree().await;
    let Some(_provider) = provider_on(&s, &t.customer, &t.customer_id, &["globex.test"], true).await else {
        return;
    };
    let mut browser = Browser::new(&s);
    let landed = sso(&s, &mut browser, "/auth/sso/start?email=new.hire@globex.test", "new.hire@globex.test").await;
    assert_eq!(landed, "/portal");
    let users = t.customer.get(&format!("/api/v1/accounts/{}/users?limit=100", t.customer_id)).await.expect(200);
    let hire = users.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|u| u["email"] == "new.hire@globex.test"))
        .cloned()
        .unwrap_or_else(|| panic!("provisioned: {}", users.text));
    assert_eq!(hire["role"], "viewer", "the default role, the least of a customer");
    assert_eq!(hire["status"], "active");
    assert_eq!(hire["name"], "Person new.hire");
    let created = trail(&t.customer, &t.customer_id, "user.created").await;
    assert!(created.iter().any(|e| e["details"]["via"] == "sso" && e["details"]["email"] == "new.hire@globex.test"));

    // The account's provider vouching for an address outside its domains creates nobody.
    let mut browser = Browser::new(&s);
    let landed = sso(&s, &mut browser, "/auth/sso/start?account=globex", "someone@elsewhere.test").await;
    assert_eq!(landed, "/login?error=sso_unknown_user");
    let after = t.customer.get(&format!("/api/v1/accounts/{}/users?limit=100", t.customer_id)).await;
    assert!(!after.text.contains("someone@elsewhere.test"));
    // A second sign-in of the provisioned user finds it again.
    let mut again = Browser::new(&s);
    assert_eq!(sso(&s, &mut again, "/auth/sso/start?account=globex", "new.hire@globex.test").await, "/portal");
    let count = |r: &crate::support::Reply| r.body["items"].as_array().map(Vec::len);
    let users_now = t.customer.get(&format!("/api/v1/accounts/{}/users?limit=100", t.customer_id)).await;
    assert_eq!(count(&users_now), count(&users));
}

async fn mandatory_sso_keeps_provider_sign_ins_ends_password_ones_and_asks_no_factor_of_ours(s: Server) {
    let t = s.tree().await;
    let Some(_provider) = provider_on(&s, &t.customer, &t.customer_id, &["globex.test"], false).await else {
        return;
    };
    let mut browser = Browser::new(&s);
    assert_eq!(sso(&s, &mut browser, "/auth/sso/start?account=globex", "boss@globex.test").await, "/portal");
    let by_sso = Session::from_cookie(&s, &browser.session_cookie().unwrap_or_default()).await;
    by_sso.patch(&format!("/api/v1/accounts/{}", t.customer_id), json!({"sso_mandatory": true})).await.expect(200);
    t.customer.get("/api/v1/me").await.problem(401, "unauthenticated");
    by_sso.get("/api/v1/me").await.expect(200);
    s.anon("POST", "/api/v1/auth/login", Some(json!({"email": "boss@globex.test", "password": PASSWORD})))
        .await
        .problem(403, "sso_required");
    // An account that requires MFA does not ask a provider's sign-in for a factor of ours.
    let account = format!("/api/v1/accounts/{}", t.customer_id);
    by_sso.patch(&account, json!({"mfa_required": true})).await.expect(200);
    by_sso.get(&format!("{account}/users")).await.expect(200);
    // The provider is still the way in.
    let mut again = Browser::new(&s);
    assert_eq!(sso(&s, &mut again, "/auth/sso/start?email=boss@globex.test", "boss@globex.test").await, "/portal");
}

async fn an_sso_step_up_confirms_the_signed_in_user_and_opens_an_access_session(s: Server) {
    let t = s.tree().await;
    // The MSP signs in with its own provider; the customer's is mandatory and never applies to it.
    let Some(_msp_provider) = provider_on(&s, &t.msp, &t.msp_id, &["acme.test"], false).await else { return };
    let Some(_customer_provider) = provider_on(&s, &t.customer, &t.customer_id, &["globex.test"], false).await else {
        return;
    };
    t.customer.patch(&format!("/api/v1/accounts/{}", t.customer_id), json!({"sso_mandatory": true})).await.expect(200);

    let mut browser = Browser::new(&s);
    assert_eq!(sso(&s, &mut browser, "/auth/sso/start?email=admin@acme.test", "admin@acme.test").await, "/console");
    let admin = Session::from_cookie(&s, &browser.session_cookie().unwrap_or_default()).await;
    s.clock.advance(time::Duration::minutes(10));
    let sessions = format!("/api/v1/accounts/{}/access-sessions", t.customer_id);
    admin.post(&sessions, json!({"reason": "ticket 42"})).await.problem(403, "reauth_required");

    // Somebody else at the provider does not confirm this user.
    let start = "/auth/sso/start?purpose=reauth&return_to=/console/accounts";
    assert_eq!(sso(&s, &mut browser, start, "other@acme.test").await, "/login?error=sso_not_same_user");
    let admin = Session::from_cookie(&s, &browser.session_cookie().unwrap_or_default()).await;
    admin.post(&sessions, json!({"reason": "ticket 42"})).await.problem(403, "reauth_required");

    // The same person, signing in again at its own provider, does.
    assert_eq!(sso(&s, &mut browser, start, "admin@acme.test").await, "/console/accounts");
    let admin = Session::from_cookie(&s, &browser.session_cookie().unwrap_or_default()).await;
    admin.post(&sessions, json!({"reason": "ticket 42"})).await.expect(201);
    let reauths = trail(&t.msp, &t.msp_id, "auth.reauth").await;
    assert!(reauths.iter().any(|e| e["details"]["method"] == "sso" && e["outcome"] == "success"), "{reauths:?}");
    assert!(reauths.iter().any(|e| e["details"]["reason"] == "sso_not_same_user"));

    // A step-up needs a sign-in.
    let hop = Browser::new(&s).get(&s.url(start)).await;
    assert_eq!(hop.location.as_deref(), Some("/login?error=sso_signed_out"));
}

async fn the_connection_test_fetches_discovery_and_keys_for_the_accounts_managers_only(s: Server) {
    let t = s.tree().await;
    let Some(provider) = provider_on(&s, &t.customer, &t.customer_id, &[], false).await else { return };
    let test = format!("/api/v1/accounts/{}/sso/test", t.customer_id);
    let ok = t.customer.post(&test, json!({})).await.expect(200);
    assert_eq!(ok.body["ok"], true, "{}", ok.text);
    assert_eq!(ok.body["authorization_endpoint"], format!("{}/auth", provider.issuer));
    assert_eq!(ok.body["error"], Value::Null);
    // The MSP's admin may test its customer's provider; another MSP sees no such account.
    t.msp.post(&test, json!({})).await.expect(200);
    t.rival.post(&test, json!({})).await.problem(404, "not_found");
    // A provider that does not answer.
    let mut down = provider.settings(&[], false);
    down["issuer"] = json!("http://127.0.0.1:9");
    t.customer.send("PUT", &format!("/api/v1/accounts/{}/sso", t.customer_id), Some(down), true).await.expect(200);
    let failed = t.customer.post(&test, json!({})).await.expect(200);
    assert_eq!(failed.body["ok"], false);
    assert!(failed.body["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(failed.body["authorization_endpoint"], Value::Null);
}

async fn a_provider_that_takes_only_client_secret_post_signs_users_in(s: Server) {
    let t = s.tree().await;
    let Some(provider) = Provider::start(&s, "client_secret_post").await else { return };
    let path = format!("/api/v1/accounts/{}/sso", t.customer_id);
    t.customer.send("PUT", &path, Some(provider.settings(&["globex.test"], false)), true).await.expect(200);
    let mut browser = Browser::new(&s);
    assert_eq!(sso(&s, &mut browser, "/auth/sso/start?email=boss@globex.test", "boss@globex.test").await, "/portal");
}

async fn a_provider_that_rotates_its_signing_key_is_followed_to_its_new_keys(s: Server) {
    let t = s.tree().await;
    let Some(provider) = provider_on(&s, &t.customer, &t.customer_id, &["globex.test"], false).await else {
        return;
    };
    let start = "/auth/sso/start?email=boss@globex.test";
    assert_eq!(sso(&s, &mut Browser::new(&s), start, "boss@globex.test").await, "/portal", "keys now cached");
    // The same issuer comes back signing with a new key: its keys are fetched again.
    let port = provider.port();
    provider.stop().await;
    let Some(_rotated) = Provider::start_on(&s, "client_secret_basic", port).await else { return };
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(sso(&s, &mut Browser::new(&s), start, "boss@globex.test").await, "/portal");
}

async fn nobody_but_the_accounts_own_people_decides_who_its_provider_signs_in(s: Server) {
    let t = s.tree().await;
    let Some(_provider) = provider_on(&s, &t.customer, &t.customer_id, &["globex.test"], true).await else {
        return;
    };
    // A sign-on started from another site (login CSRF) is refused before any redirect.
    let cross = s.http.get(s.url("/auth/sso/start?account=globex")).header("sec-fetch-site", "cross-site");
    let cross = cross.send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cross.status().as_u16(), 200, "followed to the login page");
    assert!(cross.url().as_str().ends_with("/login?error=sso_bad_request"), "{}", cross.url());

    // A technician inside the customer cannot repoint its provider (that is a credential).
    let (tech, _) = s.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
    t.msp.put(&format!("/api/v1/accounts/{}/users/{tech}/assignments/{}", t.msp_id, t.customer_id)).await.expect(204);
    let tech = s.login("tech@acme.test", crate::support::PASSWORD).await;
    let opened = tech
        .post(
            &format!("/api/v1/accounts/{}/access-sessions", t.customer_id),
            json!({"password": crate::support::PASSWORD}),
        )
        .await
        .expect(201);
    let inside = tech.inside(&opened.id("/id"));
    let path = format!("/api/v1/accounts/{}/sso", t.customer_id);
    let evil = json!({"enabled": true, "issuer": "https://evil.test", "client_id": "x", "client_secret": "y"});
    inside.send("PUT", &path, Some(evil), true).await.problem(403, "delegated_credential_forbidden");
    assert_ne!(t.customer.get(&path).await.body["issuer"], "https://evil.test");

    // Users created at sign-in never administer.
    let mut admin = json!({"enabled": true, "issuer": "https://login.globex.test", "client_id": "x",
        "client_secret": "y", "jit_provisioning": true, "default_role": "master_admin"});
    t.customer.send("PUT", &path, Some(admin.clone()), true).await.problem(422, "validation_failed");
    admin["default_role"] = json!("admin");
    t.customer.send("PUT", &path, Some(admin), true).await.problem(422, "validation_failed");

    // A known user whose own account has no provider is not sent to the domain's claimant.
    let (_, _) = s.account(&t.msp, "customer", "Hooli", "dev@globex.test", None).await;
    let hop = Browser::new(&s).get(&s.url("/auth/sso/start?email=dev@globex.test")).await;
    assert_eq!(hop.location.as_deref(), Some("/login?error=sso_unavailable"));

    // A suspended account's provider creates nobody.
    t.msp.patch(&format!("/api/v1/accounts/{}", t.customer_id), json!({"status": "suspended"})).await.expect(200);
    let mut browser = Browser::new(&s);
    let landed = sso(&s, &mut browser, "/auth/sso/start?account=globex", "newcomer@globex.test").await;
    assert_eq!(landed, "/login?error=account_suspended");
    let users = t.msp.get(&format!("/api/v1/accounts/{}/users?limit=100", t.customer_id)).await;
    assert!(!users.text.contains("newcomer@globex.test"), "nothing was provisioned");
}
