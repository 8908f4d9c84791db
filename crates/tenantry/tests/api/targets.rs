//! Monitored targets over HTTP against real local TLS servers: ok, expiring, expired, wrong-host,
//! untrusted, unreachable and private cases, plan limits, the scheduler's rounds, and the MSP's
//! expiry overview across its customers.

use crate::certificates::certificate;
use crate::support::{PASSWORD, Reply, Server, Session, TestCa, test_settings};
use serde_json::{Value, json};

crate::api_tests!(
    checks_find_ok_expiring_and_expired_certificates_over_real_tls,
    wrong_host_untrusted_unreachable_and_unresolvable_targets_are_errors_with_a_reason,
    private_addresses_are_refused_unless_the_server_allows_them,
    targets_count_against_the_plan_and_one_host_port_is_monitored_once,
    moving_a_target_clears_its_last_check_and_deleting_it_is_audited,
    the_scheduler_checks_each_due_target_once_per_interval,
    the_expiry_overview_shows_soon_expiring_items_of_visible_customers_only,
);

fn items(reply: &Reply) -> Vec<Value> {
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

async fn collection(owner: &Session, account: &str) -> String {
    owner.post(&format!("/api/v1/accounts/{account}/collections"), json!({"name": "Edge"})).await.expect(201).id("/id")
}

async fn add(owner: &Session, account: &str, collection: &str, host: &str, port: u16) -> String {
    let body = json!({"hostname": host, "port": port, "collection_id": collection});
    owner.post(&format!("/api/v1/accounts/{account}/targets"), body).await.expect(201).id("/id")
}

async fn check(owner: &Session, account: &str, target: &str) -> Value {
    owner.post(&format!("/api/v1/accounts/{account}/targets/{target}/check"), json!({})).await.expect(200).body
}

async fn checks_find_ok_expiring_and_expired_certificates_over_real_tls(s: Server) {
    let t = s.tree().await;
    let (account, boss) = (&t.customer_id, &t.customer);
    let edge = collection(boss, account).await;
    let ca = TestCa::get();
    let healthy = ca.serve(&["localhost"], -1, 90).await;
    let soon = ca.serve(&["localhost"], -60, 10).await;
    let gone = ca.serve(&["localhost"], -60, -2).await;
    let fresh = add(boss, account, &edge, "localhost", healthy).await;
    let listed = boss.get(&format!("/api/v1/accounts/{account}/targets/{fresh}")).await.expect(200);
    assert_eq!(listed.body["status"], Value::Null, "not checked yet");
    assert_eq!(listed.body["port"], healthy);

    let ok = check(boss, account, &fresh).await;
    assert_eq!(ok["status"], "ok", "{ok}");
    let path = format!("/api/v1/accounts/{account}/targets/{fresh}/check");
    let again = boss.post(&path, json!({})).await.problem(429, "rate_limited");
    assert!(again.headers.get("retry-after").is_some(), "checks on demand are spaced");
    // Many at once: one handshake, the others told to wait.
    s.clock.advance(time::Duration::seconds(11));
    let attempts: Vec<_> = (0..5)
        .map(|_| {
            let (boss, path) = (boss.clone(), path.clone());
            tokio::spawn(async move { boss.post(&path, json!({})).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 4, "{statuses:?}");
    assert_eq!(ok["error"], Value::Null);
    assert_eq!(ok["days_remaining"], 89);
    assert!(ok["issuer"].as_str().is_some_and(|i| i.contains("Tenantry Test CA")));
    assert!(ok["checked_at"].is_string() && ok["not_after"].is_string());

    let expiring = check(boss, account, &add(boss, account, &edge, "localhost", soon).await).await;
    assert_eq!((expiring["status"].as_str(), expiring["days_remaining"].as_i64()), (Some("expiring"), Some(9)));
    let expired = check(boss, account, &add(boss, account, &edge, "localhost", gone).await).await;
    assert_eq!((expired["status"].as_str(), expired["days_remaining"].as_i64()), (Some("expired"), Some(-2)));

    let all = boss.get(&format!("/api/v1/accounts/{account}/targets")).await.expect(200);
    let statuses: Vec<_> = items(&all).iter().map(|t| t["status"].clone()).collect();
    assert_eq!(statuses, vec![json!("ok"), json!("expiring"), json!("expired")]);
    // Time passes: the same check result is judged again at read time.
    s.clock.advance(time::Duration::days(80));
    let boss = &s.login("boss@globex.test", PASSWORD).await;
    let later = boss.get(&format!("/api/v1/accounts/{account}/targets/{fresh}")).await.expect(200);
    assert_eq!((later.body["status"].as_str(), later.body["days_remaining"].as_i64()), (Some("expiring"), Some(9)));
    let trail = boss.get(&format!("/api/v1/accounts/{account}/audit?action=target.checked")).await.expect(200);
    assert_eq!(items(&trail).len(), 4, "every check a user asked for is audited");
}

async fn wrong_host_untrusted_unreachable_and_unresolvable_targets_are_errors_with_a_reason(s: Server) {
    let t = s.tree().await;
    let (account, boss) = (&t.customer_id, &t.customer);
    let edge = collection(boss, account).await;
    let other_name = TestCa::get().serve(&["other.test"], -1, 90).await;
    let (chain, key) = crate::support::self_signed(&["localhost"], 90);
    let untrusted = tenantry_monitor::testing::serve_tls(chain, key).await.unwrap_or_else(|e| panic!("{e}")).port();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port()
    };
    for (host, port, reason) in [
        ("localhost", other_name, "not valid for localhost"),
        ("localhost", untrusted, "not issued by a trusted authority"),
        ("127.0.0.1", closed, "could not connect"),
        ("no-such-host.invalid", 443, "could not resolve"),
    ] {
        let target = add(boss, account, &edge, host, port).await;
        let result = check(boss, account, &target).await;
        assert_eq!(result["status"], "error", "{host}:{port}: {result}");
        assert!(result["error"].as_str().is_some_and(|e| e.contains(reason)), "{host}:{port}: {result}");
    }
    let wrong = items(&boss.get(&format!("/api/v1/accounts/{account}/targets")).await.expect(200))[0].clone();
    assert!(wrong["not_after"].is_string(), "a refused certificate's dates are still reported: {wrong}");
}

async fn private_addresses_are_refused_unless_the_server_allows_them(s: Server) {
    let mut settings = test_settings();
    settings.monitor.allow_private = false;
    let Some(strict) = Server::start_with(s.backend, settings).await else { return };
    let t = strict.tree().await;
    let (account, boss) = (&t.customer_id, &t.customer);
    let edge = collection(boss, account).await;
    let port = TestCa::get().serve(&["localhost"], -1, 90).await;
    for literal in ["127.0.0.1", "10.0.0.8", "169.254.169.254", "::1", "fe80::1", "192.168.1.1"] {
        let body = json!({"hostname": literal, "port": port, "collection_id": edge});
        let refused =
            boss.post(&format!("/api/v1/accounts/{account}/targets"), body).await.problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], "hostname", "{literal}");
    }
    let by_name = add(boss, account, &edge, "localhost", port).await;
    let result = check(boss, account, &by_name).await;
    assert_eq!(result["status"], "error");
    assert!(result["error"].as_str().is_some_and(|e| e.contains("private, loopback or link-local")), "{result}");
    let listed = boss.get(&format!("/api/v1/accounts/{account}/targets")).await.expect(200);
    assert_eq!(items(&listed).len(), 1, "refused literals stored nothing");
    // The default server (allowing private addresses, as these tests do) reaches the same host.
    let t = s.tree().await;
    let edge = collection(&t.customer, &t.customer_id).await;
    let allowed = add(&t.customer, &t.customer_id, &edge, "127.0.0.1", port).await;
    assert_eq!(
        check(&t.customer, &t.customer_id, &allowed).await["error"],
        "the certificate is not valid for 127.0.0.1"
    );
}

async fn targets_count_against_the_plan_and_one_host_port_is_monitored_once(s: Server) {
    let t = s.tree().await;
    let (account, boss) = (&t.customer_id, &t.customer);
    let limits = json!({"limits": {"users": 5, "certificates": 5, "agents": 1, "targets": 2}});
    t.msp.send("PUT", &format!("/api/v1/accounts/{account}/subscription"), Some(limits), true).await.expect(200);
    let edge = collection(boss, account).await;
    add(boss, account, &edge, "www.globex.test", 443).await;
    let path = format!("/api/v1/accounts/{account}/targets");
    let again = json!({"hostname": "WWW.globex.test", "port": 443, "collection_id": edge});
    boss.post(&path, again).await.problem(409, "conflict");
    add(boss, account, &edge, "www.globex.test", 8443).await;
    let third = json!({"hostname": "api.globex.test", "collection_id": edge});
    boss.post(&path, third).await.problem(422, "plan_limit_reached");
    for (body, field) in [
        (json!({"hostname": "bad host", "collection_id": edge}), "hostname"),
        (json!({"hostname": "ok.test", "port": 0, "collection_id": edge}), "port"),
        (json!({"hostname": "ok.test", "port": 70000, "collection_id": edge}), "port"),
        (json!({"hostname": "ok.test", "collection_id": "nope"}), "collection_id"),
    ] {
        let refused = boss.post(&path, body).await.problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field);
    }
    let sub = boss.get(&format!("/api/v1/accounts/{account}/subscription")).await.expect(200);
    assert_eq!(sub.body["usage"]["targets"], 2);
    let usage = t.msp.get(&format!("/api/v1/accounts/{}/usage", t.msp_id)).await.expect(200);
    let globex = items(&usage).into_iter().find(|r| r["account_id"] == json!(account)).unwrap_or_default();
    assert_eq!(globex["targets"], 2);
}

async fn moving_a_target_clears_its_last_check_and_deleting_it_is_audited(s: Server) {
    let t = s.tree().await;
    let (account, boss) = (&t.customer_id, &t.customer);
    let edge = collection(boss, account).await;
    let port = TestCa::get().serve(&["localhost"], -1, 90).await;
    let target = add(boss, account, &edge, "localhost", port).await;
    assert_eq!(check(boss, account, &target).await["status"], "ok");
    let path = format!("/api/v1/accounts/{account}/targets/{target}");
    let renamed = boss.patch(&path, json!({"collection_id": edge})).await.expect(200);
    assert_eq!(renamed.body["status"], "ok", "staying on the same address keeps the check");
    let moved = boss.patch(&path, json!({"port": 9})).await.expect(200);
    assert_eq!((moved.body["status"].clone(), moved.body["port"].clone()), (Value::Null, json!(9)));
    boss.patch(&path, json!({"port": "x"})).await.problem(422, "validation_failed");
    boss.delete(&path).await.expect(204);
    boss.get(&path).await.problem(404, "not_found");
    boss.delete(&path).await.problem(404, "not_found");
    let trail = boss.get(&format!("/api/v1/accounts/{account}/audit")).await.expect(200);
    let actions: Vec<_> = items(&trail).iter().filter_map(|e| e["action"].as_str().map(str::to_owned)).collect();
    for action in ["target.created", "target.checked", "target.updated", "target.deleted"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

async fn the_scheduler_checks_each_due_target_once_per_interval(s: Server) {
    let t = s.tree().await;
    let (account, boss) = (&t.customer_id, &t.customer);
    let edge = collection(boss, account).await;
    let port = TestCa::get().serve(&["localhost"], -1, 90).await;
    let target = add(boss, account, &edge, "localhost", port).await;
    let scheduler = s.app.scheduler();
    assert_eq!(scheduler.run_once().await.ok(), Some(1), "a new target is due at once");
    assert_eq!(scheduler.run_once().await.ok(), Some(0), "and then not until the interval has passed");
    let found = boss.get(&format!("/api/v1/accounts/{account}/targets/{target}")).await.expect(200);
    assert_eq!(found.body["status"], "ok");
    let first = found.body["checked_at"].clone();
    s.clock.advance(time::Duration::hours(6) + time::Duration::seconds(1));
    let other_process = s.app.scheduler();
    assert_eq!(other_process.run_once().await.ok(), Some(1));
    assert_eq!(scheduler.run_once().await.ok(), Some(0), "one process's lease is not another's work");
    let boss = s.login("boss@globex.test", PASSWORD).await;
    let again = boss.get(&format!("/api/v1/accounts/{account}/targets/{target}")).await.expect(200);
    assert_ne!(again.body["checked_at"], first);
}

async fn the_expiry_overview_shows_soon_expiring_items_of_visible_customers_only(s: Server) {
    let t = s.tree().await;
    let import = |who: Session, account: String, pem: String| {
        let s = &s;
        async move {
            let edge = collection(&who, &account).await;
            let path = format!("/api/v1/accounts/{account}/collections/{edge}/certificates");
            s.raw(&who, "POST", &path, "application/x-pem-file", &pem).await.expect(201);
            edge
        }
    };
    let globex_edge =
        import(t.customer.clone(), t.customer_id.clone(), certificate("soon.globex.test", -80, 10).0).await;
    let port = TestCa::get().serve(&["localhost"], -80, 3).await;
    let target = add(&t.customer, &t.customer_id, &globex_edge, "localhost", port).await;
    check(&t.customer, &t.customer_id, &target).await;
    import(t.customer.clone(), t.customer_id.clone(), certificate("later.globex.test", -1, 200).0).await;
    let initech = s.login("boss@initech.test", PASSWORD).await;
    import(initech, t.sibling_id.clone(), certificate("soon.initech.test", -80, 5).0).await;

    let names = |reply: Reply| -> Vec<String> {
        items(&reply.expect(200)).iter().filter_map(|i| i["name"].as_str().map(str::to_owned)).collect()
    };
    let morning = t.msp.get(&format!("/api/v1/accounts/{}/expiring", t.msp_id)).await.expect(200);
    let found = items(&morning);
    assert_eq!(found.len(), 3, "{}", morning.text);
    assert_eq!(found[0]["kind"], "target");
    assert_eq!(found[0]["name"], format!("localhost:{port}"));
    assert_eq!((found[0]["status"].as_str(), found[0]["account_name"].as_str()), (Some("expiring"), Some("Globex")));
    assert!(found[1]["name"].as_str().is_some_and(|n| n.contains("soon.initech.test")));
    assert_eq!(found[1]["days_remaining"], 4);
    let year = names(t.msp.get(&format!("/api/v1/accounts/{}/expiring?within_days=365", t.msp_id)).await);
    assert_eq!(year.len(), 4);
    t.msp
        .get(&format!("/api/v1/accounts/{}/expiring?within_days=-1", t.msp_id))
        .await
        .problem(422, "validation_failed");
    let paged = t.msp.get(&format!("/api/v1/accounts/{}/expiring?limit=2", t.msp_id)).await.expect(200);
    let cursor = paged.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    let rest = t.msp.get(&format!("/api/v1/accounts/{}/expiring?limit=2&cursor={cursor}", t.msp_id)).await;
    assert_eq!(names(rest).len(), 1);

    let (staff_id, staff) = s.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
    let assignment = format!("/api/v1/accounts/{}/users/{staff_id}/assignments/{}", t.msp_id, t.customer_id);
    t.msp.put(&assignment).await.expect(204);
    let assigned = names(staff.get(&format!("/api/v1/accounts/{}/expiring", t.msp_id)).await);
    assert_eq!(assigned.len(), 2, "a technician sees only assigned customers: {assigned:?}");
    assert!(assigned.iter().all(|n| !n.contains("initech")));
    staff.get(&format!("/api/v1/accounts/{}/expiring", t.sibling_id)).await.problem(404, "not_found");

    let own = names(t.customer.get(&format!("/api/v1/accounts/{}/expiring", t.customer_id)).await);
    assert_eq!(own.len(), 2, "a customer sees its own");
    t.customer.get(&format!("/api/v1/accounts/{}/expiring", t.msp_id)).await.problem(404, "not_found");
    t.rival.get(&format!("/api/v1/accounts/{}/expiring", t.msp_id)).await.problem(404, "not_found");
    let rival_view = names(t.rival.get(&format!("/api/v1/accounts/{}/expiring", t.rival_id)).await);
    assert!(rival_view.is_empty());
    let platform = names(t.root.get(&format!("/api/v1/accounts/{}/expiring?within_days=365", t.partner_id)).await);
    assert_eq!(platform.len(), 4);
    // Read-only partner-side roles and partner-side API tokens read no customer data.
    let (_, readonly) = s.user(&t.msp, &t.msp_id, "msp_readonly", "ro@acme.test").await;
    readonly.get(&format!("/api/v1/accounts/{}/expiring", t.msp_id)).await.problem(403, "forbidden");
    t.partner.get(&format!("/api/v1/accounts/{}/expiring", t.partner_id)).await.problem(403, "forbidden");
    let token_body = json!({"name": "billing", "expires_in_days": 10});
    let token = t.msp.post(&format!("/api/v1/accounts/{}/api-tokens", t.msp_id), token_body).await.expect(201);
    let automation = t.msp.bearer(&token.id("/token"));
    automation.get(&format!("/api/v1/accounts/{}/expiring", t.msp_id)).await.problem(403, "forbidden");
}
