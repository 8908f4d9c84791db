//! Users and roles over HTTP: roles by account kind, unique emails, the MSP managing its
//! customers' users directly, and sign-ins ended by disabling or a role change.

use crate::support::{PASSWORD, Server};
use serde_json::json;

crate::api_tests!(
    roles_must_fit_the_account_kind,
    emails_are_unique_across_the_system_ignoring_case,
    an_msp_admin_manages_its_customers_users_without_entering,
    readers_and_staff_get_exactly_the_matrixs_answers,
    disabling_or_changing_the_role_ends_that_users_sign_ins,
    users_are_listed_with_cursor_pagination,
);

async fn roles_must_fit_the_account_kind(s: Server) {
    let t = s.tree().await;
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    for role in ["msp_admin", "platform_admin", "partner_admin", "emperor"] {
        let reply =
            t.customer.post(&users, json!({"email": format!("{role}@globex.test"), "name": "X", "role": role})).await;
        let reply = reply.problem(422, "validation_failed");
        assert_eq!(reply.body["errors"][0]["field"], "role");
    }
    for role in ["master_admin", "admin", "auditor", "viewer", "sso_admin"] {
        t.customer
            .post(&users, json!({"email": format!("{role}@globex.test"), "name": "X", "role": role}))
            .await
            .expect(201);
    }
    let msp_users = format!("/api/v1/accounts/{}/users", t.msp_id);
    t.msp
        .post(&msp_users, json!({"email": "v@acme.test", "name": "X", "role": "viewer"}))
        .await
        .problem(422, "validation_failed");
    t.msp.post(&msp_users, json!({"email": "s@acme.test", "name": "X", "role": "msp_staff"})).await.expect(201);
}

async fn emails_are_unique_across_the_system_ignoring_case(s: Server) {
    let t = s.tree().await;
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    let taken = t.customer.post(&users, json!({"email": "Admin@ACME.test", "name": "X", "role": "viewer"})).await;
    taken.problem(409, "email_taken");
    let created =
        t.customer.post(&users, json!({"email": "Mixed@Globex.Test", "name": "X", "role": "viewer"})).await.expect(201);
    assert_eq!(created.body["user"]["email"], "Mixed@Globex.Test", "kept as typed");
    let id = created.id("/user/id");
    t.customer.patch(&format!("{users}/{id}"), json!({"email": "boss@GLOBEX.test"})).await.problem(409, "email_taken");
}

async fn an_msp_admin_manages_its_customers_users_without_entering(s: Server) {
    let t = s.tree().await;
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    let created = t
        .msp
        .post(&users, json!({"email": "helper@globex.test", "name": "Helper", "role": "admin", "password": PASSWORD}))
        .await
        .expect(201);
    let id = created.id("/user/id");
    let renamed = t.msp.patch(&format!("{users}/{id}"), json!({"name": "Helpful"})).await.expect(200);
    assert_eq!(renamed.body["name"], "Helpful");
    let listed = t.msp.get(&users).await.expect(200);
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(2));
    t.msp.delete(&format!("{users}/{id}")).await.expect(204);
    t.msp.get(&format!("{users}/{id}")).await.problem(404, "not_found");
    s.try_login("helper@globex.test", PASSWORD).await.0.problem(401, "invalid_credentials");
    t.partner.get(&users).await.problem(403, "forbidden");
    t.rival.get(&users).await.problem(404, "not_found");
}

async fn readers_and_staff_get_exactly_the_matrixs_answers(s: Server) {
    let t = s.tree().await;
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    let (_, viewer) = s.user(&t.customer, &t.customer_id, "viewer", "viewer@globex.test").await;
    let (_, auditor) = s.user(&t.customer, &t.customer_id, "auditor", "auditor@globex.test").await;
    viewer.get(&users).await.problem(403, "forbidden");
    auditor.get(&users).await.expect(200);
    auditor
        .post(&users, json!({"email": "a@globex.test", "name": "A", "role": "viewer"}))
        .await
        .problem(403, "forbidden");
    let (_, staff) = s.user(&t.msp, &t.msp_id, "msp_staff", "staff@acme.test").await;
    staff.get(&users).await.problem(404, "not_found");
    staff.get(&format!("/api/v1/accounts/{}/users", t.msp_id)).await.expect(200);
    staff
        .post(
            &format!("/api/v1/accounts/{}/users", t.msp_id),
            json!({"email": "b@acme.test", "name": "B", "role": "msp_staff"}),
        )
        .await
        .problem(403, "forbidden");
    let missing_user = format!("{users}/01900000-0000-7000-8000-000000000000");
    t.customer.get(&missing_user).await.problem(404, "not_found");
    t.customer.get(&format!("{users}/not-a-uuid")).await.problem(404, "not_found");
    let rival_user = t.rival.get(&format!("/api/v1/accounts/{}/users", t.rival_id)).await.id("/items/0/id");
    t.customer.get(&format!("{users}/{rival_user}")).await.problem(404, "not_found");
}

async fn disabling_or_changing_the_role_ends_that_users_sign_ins(s: Server) {
    let t = s.tree().await;
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    let (admin_id, admin) = s.user(&t.customer, &t.customer_id, "admin", "a1@globex.test").await;
    admin.get("/api/v1/me").await.expect(200);
    t.customer.patch(&format!("{users}/{admin_id}"), json!({"role": "viewer"})).await.expect(200);
    admin.get("/api/v1/me").await.problem(401, "unauthenticated");
    let again = s.login("a1@globex.test", PASSWORD).await;
    assert_eq!(again.get("/api/v1/me").await.body["user"]["role"], "viewer");
    let disabled = t.msp.patch(&format!("{users}/{admin_id}"), json!({"status": "disabled"})).await.expect(200);
    assert_eq!(disabled.body["status"], "disabled");
    again.get("/api/v1/me").await.problem(401, "unauthenticated");
    t.customer
        .patch(&format!("{users}/{admin_id}"), json!({"status": "active", "password": "a fresh passphrase"}))
        .await
        .expect(200);
    s.login("a1@globex.test", "a fresh passphrase").await;
    t.customer
        .delete(&format!("{users}/{}", t.customer.get("/api/v1/me").await.id("/user/id")))
        .await
        .problem(409, "conflict");
}

async fn users_are_listed_with_cursor_pagination(s: Server) {
    let t = s.tree().await;
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    for n in 0..4 {
        t.customer
            .post(&users, json!({"email": format!("u{n}@globex.test"), "name": "U", "role": "viewer"}))
            .await
            .expect(201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{users}?limit=2&cursor={c}"),
            None => format!("{users}?limit=2"),
        };
        let page = t.customer.get(&path).await.expect(200);
        seen.extend(
            page.body["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|u| u["email"].as_str().map(str::to_owned)),
        );
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 5);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "no duplicates across pages");
}
