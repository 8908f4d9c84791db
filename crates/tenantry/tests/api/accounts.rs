//! The account tree over HTTP: creation rules, plans, visibility, updates, deletion and restore.

use crate::support::{PASSWORD, Server};
use serde_json::json;

crate::api_tests!(
    each_kind_creates_only_what_the_contract_allows_with_the_right_plan_and_primary_role,
    lists_show_only_what_is_below_the_caller,
    another_tenants_account_is_a_404_exactly_like_a_missing_one,
    only_the_roles_in_the_matrix_may_update_and_set_mandatory_sso,
    deletion_is_scheduled_by_an_ancestor_waits_for_children_and_can_be_restored,
    an_invited_primary_user_gets_an_activation_link,
);

async fn each_kind_creates_only_what_the_contract_allows_with_the_right_plan_and_primary_role(s: Server) {
    let t = s.tree().await;
    let create = |kind: &str, name: &str, email: &str| json!({"kind": kind, "name": name, "admin": {"email": email, "name": "A", "password": PASSWORD}});
    let customer = t.msp.get(&format!("/api/v1/accounts/{}", t.customer_id)).await.expect(200);
    assert_eq!(customer.body["plan"], "managed");
    assert_eq!(customer.body["parent_id"], t.msp_id.as_str());
    assert_eq!(customer.body["slug"], "globex");
    let msp = t.partner.get(&format!("/api/v1/accounts/{}", t.msp_id)).await.expect(200);
    assert_eq!(msp.body["plan"], "partner");

    t.msp.post("/api/v1/accounts", create("msp", "Sub MSP", "x@sub.test")).await.problem(403, "forbidden");
    t.msp.post("/api/v1/accounts", create("partner", "Sub P", "x@subp.test")).await.problem(403, "forbidden");
    t.customer.post("/api/v1/accounts", create("customer", "Nope", "x@nope.test")).await.problem(403, "forbidden");
    t.partner.post("/api/v1/accounts", create("platform", "Two", "x@two.test")).await.problem(403, "forbidden");

    let direct = t.partner.post("/api/v1/accounts", create("customer", "Direct Co", "x@direct.test")).await.expect(201);
    assert_eq!(direct.body["account"]["plan"], "trial");
    assert_eq!(direct.body["initial_user"]["role"], "master_admin");
    assert_eq!(direct.body["initial_user"]["status"], "active");
    assert!(direct.body["activation_url"].is_null());
    let mut standard = create("customer", "Direct Co", "y@direct.test");
    standard["plan"] = json!("standard");
    let standard = t.partner.post("/api/v1/accounts", standard).await.expect(201);
    assert_eq!(standard.body["account"]["plan"], "standard");
    assert_eq!(standard.body["account"]["slug"], "direct-co-2", "a taken slug gets a suffix");
    let nested =
        t.partner.post("/api/v1/accounts", create("partner", "Sub Partner", "x@subpartner.test")).await.expect(201);
    assert_eq!(nested.body["initial_user"]["role"], "partner_admin");
    let mut under = create("customer", "Deep", "x@deep.test");
    under["parent_id"] = json!(t.msp_id);
    let deep = t.partner.post("/api/v1/accounts", under).await.expect(201);
    assert_eq!(deep.body["account"]["plan"], "managed", "a customer under an MSP is managed, whoever creates it");
}

async fn lists_show_only_what_is_below_the_caller(s: Server) {
    let t = s.tree().await;
    let names = |reply: crate::support::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["name"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    assert_eq!(names(t.msp.get("/api/v1/accounts").await.expect(200)), ["Globex", "Initech"]);
    assert_eq!(names(t.rival.get("/api/v1/accounts").await.expect(200)), ["Umbrella"]);
    assert!(names(t.customer.get("/api/v1/accounts").await.expect(200)).is_empty());
    assert_eq!(names(t.partner.get("/api/v1/accounts?kind=msp").await.expect(200)), ["Acme MSP", "Rival MSP"]);
    assert_eq!(
        names(t.partner.get(&format!("/api/v1/accounts?parent_id={}", t.rival_id)).await.expect(200)),
        ["Umbrella"]
    );
    assert_eq!(names(t.partner.get("/api/v1/accounts?q=glob").await.expect(200)), ["Globex"]);
    let first = t.partner.get("/api/v1/accounts?limit=2").await.expect(200);
    let cursor = first.id("/next_cursor");
    let rest = t.partner.get(&format!("/api/v1/accounts?limit=2&cursor={cursor}")).await.expect(200);
    let mut all = names(first);
    all.extend(names(rest));
    assert_eq!(all.len(), 4);

    let (staff_id, staff) = s.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
    assert!(
        names(staff.get("/api/v1/accounts").await.expect(200)).is_empty(),
        "staff see only assigned customers: {staff_id}"
    );
    staff.get(&format!("/api/v1/accounts/{}", t.customer_id)).await.problem(404, "not_found");
    let (_, sso) = s.user(&t.msp, &t.msp_id, "sso_admin", "sso@acme.test").await;
    assert!(names(sso.get("/api/v1/accounts").await.expect(200)).is_empty());
}

async fn another_tenants_account_is_a_404_exactly_like_a_missing_one(s: Server) {
    let t = s.tree().await;
    let missing = "01900000-0000-7000-8000-000000000000";
    let probes = [
        ("GET", format!("/api/v1/accounts/{}", t.rival_customer_id)),
        ("PATCH", format!("/api/v1/accounts/{}", t.rival_customer_id)),
        ("DELETE", format!("/api/v1/accounts/{}", t.rival_customer_id)),
        ("POST", format!("/api/v1/accounts/{}/restore", t.rival_customer_id)),
        ("GET", format!("/api/v1/accounts/{}/users", t.rival_customer_id)),
        ("POST", format!("/api/v1/accounts/{}/users", t.rival_customer_id)),
        ("GET", format!("/api/v1/accounts/{}/audit", t.rival_customer_id)),
        ("GET", format!("/api/v1/accounts/{}", t.msp_id)),
        ("GET", format!("/api/v1/accounts/{}", t.sibling_id)),
    ];
    for (method, path) in probes {
        let body = Some(json!({"name": "Mine now", "email": "x@evil.test", "role": "admin"}));
        let who = if path.contains(&t.rival_customer_id) { &t.msp } else { &t.customer };
        let probe = who.send(method, &path, body.clone(), true).await.problem(404, "not_found");
        let absent_path =
            path.replace(&t.rival_customer_id, missing).replace(&t.msp_id, missing).replace(&t.sibling_id, missing);
        let absent = who.send(method, &absent_path, body, true).await.problem(404, "not_found");
        assert_eq!(probe.text, absent.text, "{method} {path}");
        let garbled = who.send(method, &path.replace(&t.rival_customer_id, "not-an-id"), None, true).await;
        assert_eq!(garbled.status, 404, "{method} {path} with a malformed id");
    }
    let still = t.rival.get(&format!("/api/v1/accounts/{}", t.rival_customer_id)).await.expect(200);
    assert_eq!(still.body["name"], "Umbrella", "nothing changed");
    assert_eq!(still.body["status"], "active");
}

async fn only_the_roles_in_the_matrix_may_update_and_set_mandatory_sso(s: Server) {
    let t = s.tree().await;
    let customer = format!("/api/v1/accounts/{}", t.customer_id);
    let renamed =
        t.msp.patch(&customer, json!({"name": "Globex Corp", "contact_email": "it@globex.test"})).await.expect(200);
    assert_eq!(renamed.body["name"], "Globex Corp");
    assert_eq!(renamed.body["contact_email"], "it@globex.test");
    t.customer.patch(&customer, json!({"name": "Self Named"})).await.problem(403, "forbidden");
    t.customer.patch(&customer, json!({"sso_mandatory": true, "name": "X"})).await.problem(403, "forbidden");
    t.partner.patch(&customer, json!({"sso_mandatory": true})).await.problem(403, "forbidden");
    let (_, readonly) = s.user(&t.msp, &t.msp_id, "msp_readonly", "ro@acme.test").await;
    readonly.get(&customer).await.expect(200);
    readonly.patch(&customer, json!({"name": "Nope"})).await.problem(403, "forbidden");
    t.msp.patch(&customer, json!({"sso_mandatory": true})).await.problem(409, "sso_not_configured");
    s.enable_sso(&t.msp, &t.customer_id).await;
    let sso = t.msp.patch(&customer, json!({"sso_mandatory": true})).await.expect(200);
    assert_eq!(sso.body["sso_mandatory"], true);
    t.msp.patch(&customer, json!({"status": "pending_deletion"})).await.problem(422, "validation_failed");
    let unchanged = t.msp.get(&customer).await.expect(200);
    assert_eq!(unchanged.body["name"], "Globex Corp");
    assert_eq!(unchanged.body["status"], "active");
}

async fn deletion_is_scheduled_by_an_ancestor_waits_for_children_and_can_be_restored(s: Server) {
    let t = s.tree().await;
    let msp = format!("/api/v1/accounts/{}", t.msp_id);
    t.msp.delete(&msp).await.problem(403, "forbidden");
    t.partner.delete(&msp).await.problem(409, "has_children");
    t.msp.delete(&format!("/api/v1/accounts/{}", t.customer_id)).await.expect(204);
    t.msp.delete(&format!("/api/v1/accounts/{}", t.sibling_id)).await.expect(204);
    t.partner.delete(&msp).await.expect(204);
    let scheduled = t.partner.get(&msp).await.expect(200);
    assert_eq!(scheduled.body["status"], "pending_deletion");
    let deadline = time::OffsetDateTime::parse(
        scheduled.body["deletion_deadline"].as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    );
    let days = deadline.map(|d| (d - s.clock_now()).whole_days()).unwrap_or_default();
    assert!((29..=30).contains(&days), "deadline in 30 days, got {days}");
    s.try_login("admin@acme.test", PASSWORD).await.0.problem(403, "account_suspended");
    let child = json!({"kind": "customer", "name": "Late", "parent_id": t.msp_id, "admin": {"email": "x@late.test", "name": "L"}});
    t.partner.post("/api/v1/accounts", child).await.problem(409, "conflict");
    let restored = t.partner.post(&format!("{msp}/restore"), json!({})).await.expect(200);
    assert_eq!(restored.body["status"], "active");
    assert!(restored.body["deletion_deadline"].is_null());
    t.partner.post(&format!("{msp}/restore"), json!({})).await.problem(409, "conflict");
    s.login("admin@acme.test", PASSWORD).await;
}

async fn an_invited_primary_user_gets_an_activation_link(s: Server) {
    let root = s.root().await;
    let reply = root
        .post(
            "/api/v1/accounts",
            json!({"kind": "msp", "name": "Invite MSP", "admin": {"email": "inv@msp.test", "name": "Inv"}}),
        )
        .await
        .expect(201);
    assert_eq!(reply.body["initial_user"]["status"], "invited");
    assert_eq!(reply.body["initial_user"]["role"], "msp_admin");
    let link = reply.id("/activation_url");
    let token = link.split("token=").nth(1).unwrap_or_default();
    s.anon("POST", "/api/v1/auth/activate", Some(json!({"token": token, "password": PASSWORD}))).await.expect(204);
    let session = s.login("inv@msp.test", PASSWORD).await;
    assert_eq!(session.get("/api/v1/me").await.body["account"]["name"], "Invite MSP");
}
