//! Bad input: a clear problem+json with a stable code, and nothing written.

use crate::support::Server;
use serde_json::json;

crate::api_tests!(
    malformed_bodies_and_wrong_content_types_are_400,
    unknown_fields_wrong_types_and_over_long_values_are_422_and_write_nothing,
    list_parameters_out_of_range_are_422,
    unknown_routes_and_methods_answer_problem_json,
    oversized_bodies_are_413,
    an_unknown_object_is_404_before_its_body_is_judged,
);

async fn malformed_bodies_and_wrong_content_types_are_400(s: Server) {
    let root = s.root().await;
    s.raw(&root, "POST", "/api/v1/accounts", "application/json", "{\"kind\": ").await.problem(400, "malformed_request");
    s.raw(&root, "POST", "/api/v1/accounts", "text/plain", "{}").await.problem(400, "malformed_request");
    let login = s
        .http
        .post(s.url("/api/v1/auth/login"))
        .body("email=a")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await;
    assert_eq!(login.map(|r| r.status().as_u16()).ok(), Some(400));
}

async fn unknown_fields_wrong_types_and_over_long_values_are_422_and_write_nothing(s: Server) {
    let t = s.tree().await;
    let platform = t.root.get("/api/v1/me").await.id("/account/id");
    let trail = format!("/api/v1/accounts/{platform}/audit?limit=500");
    let before = t.root.get(&trail).await.body["items"].as_array().map(Vec::len);
    let accounts_before = t.root.get("/api/v1/accounts?limit=500").await.body["items"].as_array().map(Vec::len);
    let admin = json!({"email": "ok@new.test", "name": "Ok", "password": "a long enough password"});
    let bad = [
        json!({"kind": "partner", "name": "X", "admin": admin, "colour": "red"}),
        json!({"kind": "partner", "name": 7, "admin": admin}),
        json!({"kind": "galaxy", "name": "X", "admin": admin}),
        json!({"kind": "partner", "name": "x".repeat(201), "admin": admin}),
        json!({"kind": "partner", "name": "X", "admin": {"email": format!("{}@new.test", "a".repeat(250)), "name": "A"}}),
        json!({"kind": "partner", "name": "X", "admin": {"email": "ok@new.test", "name": "A", "password": "short"}}),
        json!({"kind": "partner", "name": "X", "admin": {"email": "ok@new.test", "name": "A", "password": "p".repeat(1025)}}),
        json!({"kind": "partner", "name": "X", "slug": "Not A Slug", "admin": admin}),
        json!({"kind": "partner", "name": "   ", "admin": admin}),
        json!({"kind": "partner", "name": "X", "contact_email": "nope", "admin": admin}),
    ];
    for body in bad {
        let reply = t.root.post("/api/v1/accounts", body.clone()).await.problem(422, "validation_failed");
        assert!(reply.body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{body}: {}", reply.text);
    }
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    t.customer
        .post(&users, json!({"email": "x@globex.test", "name": "X", "role": "viewer", "expires_at": "tomorrow"}))
        .await
        .problem(422, "validation_failed");
    t.customer
        .patch(&format!("/api/v1/accounts/{}", t.customer_id), json!({"name": ["array"]}))
        .await
        .problem(403, "forbidden");
    t.msp
        .patch(&format!("/api/v1/accounts/{}", t.customer_id), json!({"name": ["array"]}))
        .await
        .problem(422, "validation_failed");
    t.msp
        .patch(&format!("/api/v1/accounts/{}", t.customer_id), json!({"nickname": "X"}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        t.root.get(&trail).await.body["items"].as_array().map(Vec::len),
        before,
        "no audit event for a refused write"
    );
    assert_eq!(t.root.get("/api/v1/accounts?limit=500").await.body["items"].as_array().map(Vec::len), accounts_before);
    s.try_login("ok@new.test", "a long enough password").await.0.problem(401, "invalid_credentials");
}

async fn list_parameters_out_of_range_are_422(s: Server) {
    let root = s.root().await;
    for query in ["limit=501", "limit=0", "limit=ten", "cursor=garbage", "kind=galaxy", "parent_id=nope"] {
        root.get(&format!("/api/v1/accounts?{query}")).await.problem(422, "validation_failed");
    }
    root.get("/api/v1/accounts?limit=500").await.expect(200);
    let platform = root.get("/api/v1/me").await.id("/account/id");
    for query in ["cursor=-3", "since=yesterday", "actor_user_id=7"] {
        root.get(&format!("/api/v1/accounts/{platform}/audit?{query}")).await.problem(422, "validation_failed");
    }
    root.get(&format!("/api/v1/accounts/{platform}/audit/export?format=xml")).await.problem(422, "validation_failed");
}

async fn unknown_routes_and_methods_answer_problem_json(s: Server) {
    let root = s.root().await;
    root.get("/api/v1/no-such-thing").await.problem(404, "not_found");
    root.send("PUT", "/api/v1/accounts", Some(json!({})), true).await.problem(405, "method_not_allowed");
    let health = s.anon("GET", "/healthz", None).await.expect(200);
    assert_eq!(health.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    assert!(health.headers.contains_key("content-security-policy"));
}

async fn oversized_bodies_are_413(s: Server) {
    let t = s.tree().await;
    let two_mib = 2 * 1024 * 1024;
    let (status, text) = s.oversized(&t.root, "POST", "/api/v1/accounts", "application/json", two_mib).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("payload_too_large"));
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    let (status, text) = s.oversized(&t.customer, "POST", &users, "application/json", two_mib).await;
    assert_eq!(status, 413, "{text}");
    let foreign = format!("/api/v1/accounts/{}/users", t.rival_customer_id);
    let (status, text) = s.oversized(&t.customer, "POST", &foreign, "application/json", two_mib).await;
    assert_eq!(status, 404, "an invisible route is 404 before its body is read: {text}");
}

async fn an_unknown_object_is_404_before_its_body_is_judged(s: Server) {
    let t = s.tree().await;
    let missing = "01900000-0000-7000-8000-000000000000";
    let user = format!("/api/v1/accounts/{}/users/{missing}", t.customer_id);
    t.customer.patch(&user, json!({"role": "emperor", "extra": 1})).await.problem(404, "not_found");
    let collection = format!("/api/v1/accounts/{}/collections/{missing}", t.customer_id);
    t.customer.patch(&collection, json!({"name": ""})).await.problem(404, "not_found");
    let rival_parent = json!({"kind": "customer", "name": "", "parent_id": t.rival_id, "colour": "red", "admin": {}});
    t.msp.post("/api/v1/accounts", rival_parent).await.problem(404, "not_found");
    let wrong_kind = json!({"kind": "msp", "name": "", "colour": "red", "admin": {}});
    t.msp.post("/api/v1/accounts", wrong_kind).await.problem(403, "forbidden");
}
