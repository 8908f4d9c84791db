//! The contract's hardening rules: exact failed-attempt limits under concurrency, bounded hashing,
//! activation that looks before it hashes, delegation races and credentials, every refusal in
//! the trail, CSV formulas, client addresses behind proxies, https cookies, `/metrics`, password
//! strength, lapsed sign-ins and collection deletes.

use crate::support::{PASSWORD, Reply, Server, Session, test_settings};
use serde_json::{Value, json};
use tenantry_store::Backend;

crate::api_tests!(
    parallel_wrong_passwords_for_one_email_never_judge_more_than_the_limit,
    parallel_wrong_step_ups_never_judge_more_than_the_limit,
    activation_looks_the_token_up_before_hashing_and_limits_unknown_tokens_per_address,
    a_session_opened_while_the_technician_is_unassigned_is_never_usable,
    a_technician_inside_a_customer_cannot_mint_lasting_credentials,
    refusals_of_csrf_disabled_users_suspended_tokens_and_revoked_agents_are_in_the_trail,
    csv_exports_neutralise_cells_a_spreadsheet_would_evaluate,
    new_passwords_that_are_easy_to_guess_are_refused,
    a_lapsed_sign_in_ends_its_access_sessions_without_the_cookie_coming_back,
    a_collection_is_deleted_only_when_nothing_works_in_it_and_records_what_it_removed,
);

fn items(reply: &Reply) -> Vec<Value> {
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

/// The events of `action` in the trail of `account`, as `by` reads them.
async fn events(by: &Session, account: &str, action: &str) -> Vec<Value> {
    items(&by.get(&format!("/api/v1/accounts/{account}/audit?action={action}&limit=500")).await.expect(200))
}

async fn parallel_wrong_passwords_for_one_email_never_judge_more_than_the_limit(s: Server) {
    let limit = s.app.settings.login_failure_limit;
    let before = s.metric("tenantry_password_verifications_total").await;
    let attempts = (0..100).map(|_| {
        let body = json!({"email": crate::support::ADMIN_EMAIL, "password": "wrong password here"});
        let request = s.http.post(s.url("/api/v1/auth/login")).json(&body);
        async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let judged = statuses.iter().filter(|s| **s == 401).count() as i64;
    let limited = statuses.iter().filter(|s| **s == 429).count() as i64;
    assert_eq!(judged + limited, 100, "only 401 and 429: {statuses:?}");
    assert!(judged <= limit, "{judged} wrong passwords were judged; the limit is {limit}");
    assert!(judged >= 1);
    let verified = s.metric("tenantry_password_verifications_total").await - before;
    assert!(verified as i64 <= limit, "{verified} hashes ran for a limit of {limit}");
    // The right password is refused too now, without a hash.
    s.try_login(crate::support::ADMIN_EMAIL, PASSWORD).await.0.problem(429, "rate_limited");
    s.clock.advance(s.app.settings.login_failure_window + time::Duration::seconds(1));
    let root = s.root().await;
    // Every refusal is in the trail: the rate-limited ones as denials.
    let platform = root.get("/api/v1/me").await.id("/account/id");
    let failed = events(&root, &platform, "auth.login_failed").await;
    let rate_limited = failed.iter().filter(|e| e["details"]["reason"] == "rate_limited").count() as i64;
    assert_eq!(rate_limited, limited + 1, "each 429 is recorded");
    assert!(failed.iter().filter(|e| e["details"]["reason"] == "rate_limited").all(|e| e["outcome"] == "denied"));
}

async fn parallel_wrong_step_ups_never_judge_more_than_the_limit(s: Server) {
    let limit = s.app.settings.login_failure_limit;
    let root = s.root().await;
    let attempts = (0..30).map(|_| root.post("/api/v1/auth/reauth", json!({"password": "wrong password here"})));
    let replies = futures_util::future::join_all(attempts).await;
    let judged = replies.iter().filter(|r| r.status == 401).count() as i64;
    let limited = replies.iter().filter(|r| r.status == 429).count() as i64;
    assert_eq!(judged + limited, 30);
    assert!((1..=limit).contains(&judged), "{judged} step-ups judged; the limit is {limit}");
    root.post("/api/v1/auth/reauth", json!({"password": PASSWORD})).await.problem(429, "rate_limited");
}

async fn activation_looks_the_token_up_before_hashing_and_limits_unknown_tokens_per_address(s: Server) {
    let root = s.root().await;
    let platform = root.get("/api/v1/me").await.id("/account/id");
    let invite = json!({"email": "new@platform.test", "name": "New", "role": "platform_admin"});
    let link = root.post(&format!("/api/v1/accounts/{platform}/users"), invite).await.expect(201).id("/activation_url");
    let token = link.split("token=").nth(1).unwrap_or_default().to_owned();
    let hashes = s.metric("tenantry_password_hashes_total").await;
    let limit = s.app.settings.login_failure_limit;
    for n in 0..limit {
        let guess = json!({"token": format!("{n:064x}"), "password": PASSWORD});
        s.anon("POST", "/api/v1/auth/activate", Some(guess)).await.problem(422, "validation_failed");
    }
    assert_eq!(s.metric("tenantry_password_hashes_total").await, hashes, "unknown tokens cost no hash");
    // The address has used up its attempts: even the right token waits.
    let real = json!({"token": token, "password": PASSWORD});
    s.anon("POST", "/api/v1/auth/activate", Some(real.clone())).await.problem(429, "rate_limited");
    s.clock.advance(s.app.settings.login_failure_window + time::Duration::seconds(1));
    s.anon("POST", "/api/v1/auth/activate", Some(real)).await.expect(204);
    assert_eq!(s.metric("tenantry_password_hashes_total").await, hashes + 1);
    s.login("new@platform.test", PASSWORD).await;
}

async fn a_session_opened_while_the_technician_is_unassigned_is_never_usable(s: Server) {
    let t = s.tree().await;
    let (staff_id, staff) = s.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
    let assignment = format!("/api/v1/accounts/{}/users/{staff_id}/assignments/{}", t.msp_id, t.customer_id);
    let sessions = format!("/api/v1/accounts/{}/access-sessions", t.customer_id);
    let collections = format!("/api/v1/accounts/{}/collections", t.customer_id);
    for round in 0..8 {
        t.msp.put(&assignment).await.expect(204);
        // The password is checked inline (a hash): the unassignment lands in the middle.
        let (opened, _) = tokio::join!(
            staff.post(&sessions, json!({"password": PASSWORD, "reason": format!("round {round}")})),
            async {
                tokio::time::sleep(std::time::Duration::from_millis(5 * round)).await;
                t.msp.delete(&assignment).await.expect(204)
            }
        );
        if opened.status == 201 {
            let inside = staff.inside(&opened.id("/id"));
            let reply = inside.get(&collections).await;
            assert_eq!(
                reply.status, 404,
                "round {round}: an unassigned technician still reads the customer: {}",
                reply.text
            );
        } else {
            assert_eq!(opened.status, 404, "round {round}: {}", opened.text);
        }
        // However the race went, nothing is listed as open for the customer.
        let listed = t.customer.get(&format!("{sessions}?limit=500")).await.expect(200);
        let open: Vec<_> = items(&listed).into_iter().filter(|x| x["status"] == "open").collect();
        assert!(open.is_empty(), "round {round}: still open after the unassignment: {open:?}");
    }
}

async fn a_technician_inside_a_customer_cannot_mint_lasting_credentials(s: Server) {
    let (port, mut mail) = crate::support::smtp_sink().await;
    let mut settings = test_settings();
    settings.smtp = Some(tenantry_server::mail::SmtpSettings {
        url: format!("smtp://127.0.0.1:{port}"),
        from: "Tenantry <noreply@platform.test>".into(),
    });
    let Some(s) = Server::start_with(s.backend, settings).await else { return };
    let t = s.tree().await;
    let (staff_id, staff) = s.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
    t.msp
        .put(&format!("/api/v1/accounts/{}/users/{staff_id}/assignments/{}", t.msp_id, t.customer_id))
        .await
        .expect(204);
    let inside = staff.inside(&staff.enter(&t.customer_id, "onboarding").await);
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);

    let with_password =
        json!({"email": "backdoor@globex.test", "name": "B", "role": "master_admin", "password": PASSWORD});
    inside.post(&users, with_password).await.problem(403, "delegated_credential_forbidden");
    s.try_login("backdoor@globex.test", PASSWORD).await.0.problem(401, "invalid_credentials");
    let listed = t.customer.get(&users).await.expect(200);
    assert!(items(&listed).iter().all(|u| u["email"] != "backdoor@globex.test"), "nothing was created");

    // Without a password: invited, and the link goes to the user, not to the technician.
    let invited = inside
        .post(&users, json!({"email": "newhire@globex.test", "name": "New Hire", "role": "admin"}))
        .await
        .expect(201);
    assert_eq!(invited.body["user"]["status"], "invited");
    assert!(invited.body["activation_url"].is_null(), "{}", invited.text);
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), mail.recv())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no activation mail"));
    assert!(message.contains("newhire@globex.test") && message.contains("/activate#token="), "{message}");

    let boss_id = items(&listed).iter().find(|u| u["email"] == "boss@globex.test").map(|u| u["id"].clone());
    let boss = boss_id.and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    inside
        .patch(&format!("{users}/{boss}"), json!({"password": "a takeover passphrase"}))
        .await
        .problem(403, "delegated_credential_forbidden");
    // The email is the sign-in identity (and where links go): the same rule.
    inside
        .patch(&format!("{users}/{boss}"), json!({"email": "tech@attacker.test"}))
        .await
        .problem(403, "delegated_credential_forbidden");
    inside.patch(&format!("{users}/{boss}"), json!({"name": "Boss"})).await.expect(200);
    s.login("boss@globex.test", PASSWORD).await;
    let denied = events(&t.msp, &t.customer_id, "user.created").await;
    assert!(
        denied.iter().any(|e| e["outcome"] == "denied" && e["details"]["code"] == "delegated_credential_forbidden")
    );

    // The MSP's administrator keeps the right, inside a session and directly.
    let admin_inside = t.msp.inside(&t.msp.enter(&t.customer_id, "onboarding").await);
    let created = admin_inside
        .post(&users, json!({"email": "ops@globex.test", "name": "Ops", "role": "admin", "password": PASSWORD}))
        .await
        .expect(201);
    assert_eq!(created.body["user"]["status"], "active");
    let link =
        t.msp.post(&users, json!({"email": "later@globex.test", "name": "Later", "role": "viewer"})).await.expect(201);
    assert!(link.body["activation_url"].as_str().is_some_and(|u| u.contains("token=")));
}

async fn refusals_of_csrf_disabled_users_suspended_tokens_and_revoked_agents_are_in_the_trail(s: Server) {
    let t = s.tree().await;
    let token = t
        .msp
        .post(&format!("/api/v1/accounts/{}/api-tokens", t.msp_id), json!({"name": "ci", "expires_in_days": 30}))
        .await
        .expect(201);
    // A change without the CSRF token.
    let collections = format!("/api/v1/accounts/{}/collections", t.customer_id);
    t.customer.send("POST", &collections, Some(json!({"name": "x"})), false).await.problem(403, "csrf_failed");
    let csrf = events(&t.customer, &t.customer_id, "auth.csrf_failed").await;
    assert_eq!(csrf.len(), 1, "{csrf:?}");
    assert_eq!(csrf[0]["outcome"], "denied");
    assert_eq!(csrf[0]["details"]["path"], collections.as_str());

    // A signed-in user whose expiry passes while the sign-in is still fresh.
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    let soon = tenantry_domain::clock::rfc3339_micros(s.clock_now() + time::Duration::minutes(10));
    let temp = json!({"email": "temp@globex.test", "name": "Temp", "role": "viewer", "password": PASSWORD, "expires_at": soon});
    t.customer.post(&users, temp).await.expect(201);
    let temp = s.login("temp@globex.test", PASSWORD).await;
    s.clock.advance(time::Duration::minutes(20));
    temp.get("/api/v1/me").await.problem(403, "user_expired");
    let boss = s.login("boss@globex.test", PASSWORD).await;
    let refused = events(&boss, &t.customer_id, "auth.session_refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["details"]["code"], "user_expired");
    assert_eq!(refused[0]["actor"]["email"], "temp@globex.test");
    // That sign-in is over: its next use is a plain 401, and not another event.
    temp.get("/api/v1/me").await.problem(401, "unauthenticated");
    assert_eq!(events(&boss, &t.customer_id, "auth.session_refused").await.len(), 1);

    // An API token of an account that is then suspended.
    let bot = t.msp.bearer(&token.id("/token"));
    bot.get(&format!("/api/v1/accounts/{}", t.msp_id)).await.expect(200);
    t.partner.patch(&format!("/api/v1/accounts/{}", t.msp_id), json!({"status": "suspended"})).await.expect(200);
    bot.get(&format!("/api/v1/accounts/{}", t.msp_id)).await.problem(403, "account_suspended");
    let refused = events(&t.root, &t.msp_id, "auth.token_refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["details"]["code"], "account_suspended");
    t.partner.patch(&format!("/api/v1/accounts/{}", t.msp_id), json!({"status": "active"})).await.expect(200);

    // A revoked agent that keeps reporting.
    let cid = boss.post(&collections, json!({"name": "servers"})).await.expect(201).id("/id");
    let agents = format!("/api/v1/accounts/{}/agents", t.customer_id);
    let agent = boss.post(&agents, json!({"name": "web-1", "collection_id": cid})).await.expect(201);
    let agent_id = agent.id("/agent/id");
    boss.delete(&format!("{agents}/{agent_id}")).await.expect(204);
    let report = json!({"hostname": "web-1", "certificates": []});
    boss.bearer_free(&agent.id("/token")).post("/api/v1/agent/report", report).await.problem(401, "unauthenticated");
    let refused = events(&boss, &t.customer_id, "agent.report_refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["details"]["reason"], "agent_revoked");
    assert_eq!(refused[0]["target"]["id"], agent_id.as_str());
}

async fn csv_exports_neutralise_cells_a_spreadsheet_would_evaluate(s: Server) {
    let formula = "=HYPERLINK(\"http://evil.test\",\"click\")@x.test";
    s.try_login(formula, "wrong password here").await.0.problem(401, "invalid_credentials");
    let root = s.root().await;
    let platform = root.get("/api/v1/me").await.id("/account/id");
    let csv = s.text(&format!("/api/v1/accounts/{platform}/audit/export?format=csv"), Some(&root.cookie)).await;
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://evil.test\"\""), "the cell is neutralised: {csv}");
    assert!(!csv.lines().any(|l| l.split(',').any(|cell| cell.starts_with('='))), "{csv}");
}

async fn new_passwords_that_are_easy_to_guess_are_refused(s: Server) {
    let root = s.root().await;
    let platform = root.get("/api/v1/me").await.id("/account/id");
    let users = format!("/api/v1/accounts/{platform}/users");
    let weak =
        json!({"email": "weak@platform.test", "name": "Weak", "role": "platform_admin", "password": "password1234"});
    let reply = root.post(&users, weak).await.problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "password");
    let change = json!({"current_password": PASSWORD, "new_password": "qwertyuiop123"});
    let reply = root.post("/api/v1/auth/password", change).await.problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "new_password");
    // Built from the user's own email.
    let own = json!({"current_password": PASSWORD, "new_password": "root@platform.test"});
    root.post("/api/v1/auth/password", own).await.problem(422, "validation_failed");
    let invite = json!({"email": "fresh@platform.test", "name": "Fresh", "role": "platform_admin"});
    let link = root.post(&users, invite).await.expect(201).id("/activation_url");
    let token = link.split("token=").nth(1).unwrap_or_default().to_owned();
    let reply = s
        .anon("POST", "/api/v1/auth/activate", Some(json!({"token": token, "password": "iloveyou1234"})))
        .await
        .problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "password");
    // Nothing was used up: the link still works with a good passphrase.
    s.anon("POST", "/api/v1/auth/activate", Some(json!({"token": token, "password": "violet umbrella gravel tango"})))
        .await
        .expect(204);
}

async fn a_lapsed_sign_in_ends_its_access_sessions_without_the_cookie_coming_back(s: Server) {
    let t = s.tree().await;
    let session = t.msp.enter(&t.customer_id, "ticket 9").await;
    let sessions = format!("/api/v1/accounts/{}/access-sessions", t.customer_id);
    s.clock.advance(s.app.settings.session_idle + time::Duration::minutes(1));
    // The customer's own sign-in is as old: sign in again to look.
    let boss = s.login("boss@globex.test", PASSWORD).await;
    let before = items(&boss.get(&sessions).await.expect(200));
    assert_eq!(before.iter().find(|x| x["id"] == session.as_str()).map(|x| x["status"].clone()), Some(json!("open")));
    let ended = s.app.end_lapsed_sign_ins().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(ended >= 2, "the MSP's and the customer's first sign-ins lapsed ({ended})");
    let after = items(&boss.get(&sessions).await.expect(200));
    let listed = after.iter().find(|x| x["id"] == session.as_str()).cloned().unwrap_or_default();
    assert_eq!(listed["status"], "expired", "{listed}");
    let trail = events(&boss, &t.customer_id, "access_session.ended").await;
    assert!(trail.iter().any(|e| e["target"]["id"] == session.as_str() && e["details"]["reason"] == "sign_in_expired"));
    t.msp.get("/api/v1/me").await.problem(401, "unauthenticated");
}

async fn a_collection_is_deleted_only_when_nothing_works_in_it_and_records_what_it_removed(s: Server) {
    let t = s.tree().await;
    let base = format!("/api/v1/accounts/{}", t.customer_id);
    let cid = t.customer.post(&format!("{base}/collections"), json!({"name": "edge"})).await.expect(201).id("/id");
    let (pem, _) = crate::certificates::certificate("a.globex.test", -1, 30);
    s.raw(&t.customer, "POST", &format!("{base}/collections/{cid}/certificates"), "application/x-pem-file", &pem)
        .await
        .expect(201);
    let agent =
        t.customer.post(&format!("{base}/agents"), json!({"name": "edge-1", "collection_id": cid})).await.expect(201);
    let collection = format!("{base}/collections/{cid}");
    t.customer.delete(&collection).await.problem(409, "conflict");
    t.customer.get(&collection).await.expect(200);
    t.customer.delete(&format!("{base}/agents/{}", agent.id("/agent/id"))).await.expect(204);
    let target = json!({"hostname": "a.globex.test", "port": 443, "collection_id": cid});
    let target = t.customer.post(&format!("{base}/targets"), target).await.expect(201).id("/id");
    t.customer.delete(&collection).await.problem(409, "conflict");
    t.customer.delete(&format!("{base}/targets/{target}")).await.expect(204);
    t.customer.delete(&collection).await.expect(204);
    let deleted = events(&t.customer, &t.customer_id, "collection.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["details"]["certificates_removed"], 1);
    assert_eq!(deleted[0]["details"]["revoked_agents_removed"], 1);
}

/// Servers with settings of their own, on SQLite and PostgreSQL.
mod configured {
    use super::*;

    macro_rules! both {
        ($($name:ident),* $(,)?) => {
            mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(tenantry_store::Backend::Sqlite).await } )* }
            mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(tenantry_store::Backend::Postgres).await } )* }
        };
    }

    both!(
        behind_a_trusted_proxy_each_client_address_is_limited_on_its_own_and_ipv6_per_64,
        without_trusted_proxies_forwarded_addresses_are_ignored,
        over_https_the_cookie_is_host_only_and_pages_carry_hsts,
        metrics_answer_only_loopback_or_the_metrics_token,
        a_sign_in_flood_is_answered_overloaded_before_any_hash_and_healthz_stays_up,
    );

    async fn start(backend: Backend, change: impl FnOnce(&mut tenantry_server::Settings)) -> Option<Server> {
        let mut settings = test_settings();
        change(&mut settings);
        Server::start_with(backend, settings).await
    }

    async fn login_from(s: &Server, forwarded: &str, email: &str) -> u16 {
        let body = json!({"email": email, "password": "wrong password here"});
        let request = s.http.post(s.url("/api/v1/auth/login")).header("x-forwarded-for", forwarded).json(&body);
        request.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    }

    async fn behind_a_trusted_proxy_each_client_address_is_limited_on_its_own_and_ipv6_per_64(backend: Backend) {
        let Some(s) = start(backend, |settings| {
            settings.trusted_proxies =
                tenantry_server::client::parse_trusted_proxies("127.0.0.1/32").unwrap_or_default();
        })
        .await
        else {
            return;
        };
        let limit = s.app.settings.login_failure_limit;
        // Each attempt names another email, so that only the address counts.
        for n in 0..limit {
            assert_eq!(login_from(&s, "203.0.113.1", &format!("a{n}@x.test")).await, 401);
        }
        assert_eq!(login_from(&s, "203.0.113.1", "fresh@x.test").await, 429);
        assert_eq!(login_from(&s, "198.51.100.1, 203.0.113.2", "fresh@x.test").await, 401, "another client");
        for n in 0..limit {
            assert_eq!(login_from(&s, &format!("2001:db8:1:2::{n:x}"), &format!("b{n}@x.test")).await, 401);
        }
        assert_eq!(login_from(&s, "2001:db8:1:2:ffff::1", "other@x.test").await, 429, "the same /64");
        assert_eq!(login_from(&s, "2001:db8:1:3::1", "other@x.test").await, 401, "another /64");
        // The trail names the client, not the proxy.
        let root = s.root().await;
        let platform = root.get("/api/v1/me").await.id("/account/id");
        let failed = events(&root, &platform, "auth.login_failed").await;
        assert!(failed.iter().any(|e| e["ip"] == "203.0.113.1"), "{failed:?}");
        assert!(failed.iter().all(|e| e["ip"] != "127.0.0.1"));
    }

    async fn without_trusted_proxies_forwarded_addresses_are_ignored(backend: Backend) {
        let Some(s) = start(backend, |_| {}).await else { return };
        let limit = s.app.settings.login_failure_limit;
        for n in 0..limit {
            assert_eq!(login_from(&s, &format!("203.0.113.{n}"), &format!("a{n}@x.test")).await, 401);
        }
        // A client cannot buy fresh attempts by naming another address.
        assert_eq!(login_from(&s, "198.51.100.77", "fresh@x.test").await, 429);
    }

    async fn over_https_the_cookie_is_host_only_and_pages_carry_hsts(backend: Backend) {
        let Some(s) = start(backend, |settings| settings.public_url = Some("https://tenantry.example".into())).await
        else {
            return;
        };
        let (reply, session) = s.try_login(crate::support::ADMIN_EMAIL, PASSWORD).await;
        let cookie = reply.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(cookie.starts_with("__Host-tenantry_session="), "{cookie}");
        assert!(cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
        let hsts = reply.headers.get("strict-transport-security").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(hsts.starts_with("max-age="), "{hsts}");
        let session = session.unwrap_or_else(|| panic!("no session"));
        session.get("/api/v1/me").await.expect(200);
        // The old name is not read any more.
        let plain = session.cookie.replacen("__Host-", "", 1);
        let reply = s.http.get(s.url("/api/v1/me")).header("cookie", plain).send().await.map(|r| r.status().as_u16());
        assert_eq!(reply.unwrap_or(0), 401);
        // The console reads the same cookie.
        let page = s.http.get(s.url("/console")).header("cookie", &session.cookie).send().await;
        assert_eq!(page.map(|r| r.status().as_u16()).unwrap_or(0), 200);

        let Some(plain) = start(backend, |_| {}).await else { return };
        let reply = plain.anon("GET", "/healthz", None).await;
        assert!(reply.headers.get("strict-transport-security").is_none(), "no HSTS over plain http");
    }

    async fn metrics_answer_only_loopback_or_the_metrics_token(backend: Backend) {
        let Some(s) = start(backend, |settings| {
            settings.trusted_proxies = tenantry_server::client::parse_trusted_proxies("127.0.0.1").unwrap_or_default();
            settings.metrics_token = Some(tenantry_server::secrets::Secret("metrics-secret-token".into()));
        })
        .await
        else {
            return;
        };
        let get = |forwarded: Option<&str>, token: Option<&str>| {
            let mut request = s.http.get(s.url("/metrics"));
            if let Some(f) = forwarded {
                request = request.header("x-forwarded-for", f);
            }
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        };
        assert_eq!(get(None, None).await, 200, "loopback");
        assert_eq!(get(Some("203.0.113.5"), None).await, 403, "from outside, through the proxy");
        assert_eq!(get(Some("203.0.113.5"), Some("not-the-token")).await, 403);
        assert_eq!(get(Some("203.0.113.5"), Some("metrics-secret-token")).await, 200);
        // A forwarded request never counts as local, even when it says it came from loopback.
        assert_eq!(get(Some("127.0.0.1"), None).await, 403);
    }

    async fn a_sign_in_flood_is_answered_overloaded_before_any_hash_and_healthz_stays_up(backend: Backend) {
        let Some(s) = start(backend, |settings| {
            settings.hashing = tenantry_server::passwords::PoolSettings {
                workers: 1,
                max_wait: std::time::Duration::from_millis(200),
            };
            settings.trusted_proxies = tenantry_server::client::parse_trusted_proxies("127.0.0.1").unwrap_or_default();
            // Not the attempt limits under test here: the hashing pool.
            settings.login_failure_limit = 1_000;
        })
        .await
        else {
            return;
        };
        let before = s.metric("tenantry_password_verifications_total").await;
        // Sixty clients, each from its own address, all with the right password at once.
        let attempts = (0..60).map(|n| {
            let body = json!({"email": crate::support::ADMIN_EMAIL, "password": PASSWORD});
            let request = s.http.post(s.url("/api/v1/auth/login")).header("x-forwarded-for", format!("198.51.100.{n}"));
            let request = request.json(&body);
            async move {
                let reply = request.send().await.unwrap_or_else(|e| panic!("{e}"));
                let retry = reply.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let status = reply.status().as_u16();
                let code = reply.json::<Value>().await.map(|b| b["code"].clone()).unwrap_or_default();
                (status, code, retry)
            }
        });
        let healthz = async {
            let started = std::time::Instant::now();
            let reply = s.anon("GET", "/healthz", None).await;
            (reply.status, started.elapsed())
        };
        let (results, (health, took)) = tokio::join!(futures_util::future::join_all(attempts), healthz);
        assert_eq!(health, 200);
        assert!(took < std::time::Duration::from_secs(1), "healthz took {took:?}");
        let overloaded: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
        let signed_in = results.iter().filter(|r| r.0 == 200).count() as u64;
        assert!(!overloaded.is_empty(), "one worker and a 200 ms wait cannot take 60 hashes at once");
        assert!(overloaded.iter().all(|r| r.1 == "overloaded" && r.2.is_some()), "{overloaded:?}");
        assert_eq!(results.iter().filter(|r| r.0 != 200 && r.0 != 503 && r.0 != 429).count(), 0, "{results:?}");
        let verified = s.metric("tenantry_password_verifications_total").await - before;
        assert_eq!(verified, signed_in, "no hash for a refused request");
        assert!(s.metric("tenantry_password_overloaded_total").await >= overloaded.len() as u64);
    }
}
