//! Two servers on one PostgreSQL database, each with its own pool and caches, as two processes
//! have: a revocation made through one holds on the very next request through the other, and a
//! grant made through one is seen at once by the other.

mod postgres {
    use crate::support::{PASSWORD, Server, Session};
    use serde_json::json;
    use tenantry_store::Backend;

    /// `path` answers 200 twice through `session`, so whatever that server keeps of it is warm.
    async fn warm(session: &Session, path: &str) {
        for _ in 0..2 {
            session.get(path).await.expect(200);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revocation_through_one_process_holds_on_the_next_request_through_the_other() {
        let Some(one) = Server::start(Backend::Postgres).await else {
            return;
        };
        let two = one.twin().await;
        let t = one.tree().await;
        let customer = format!("/api/v1/accounts/{}", t.customer_id);
        let collections = format!("{customer}/collections");

        // Signing out.
        let laptop = one.login_from("admin@acme.test", PASSWORD, "Laptop/1.0").await;
        warm(&laptop.at(&two), "/api/v1/me").await;
        laptop.send("POST", "/api/v1/auth/logout", None, true).await.expect(204);
        laptop.at(&two).get("/api/v1/me").await.problem(401, "unauthenticated");

        // Ending one's other sign-ins (the partner's admin, whose other sign-ins nothing else uses).
        let phone = one.login_from("admin@partner.test", PASSWORD, "Phone/2.0").await;
        let desk = one.login_from("admin@partner.test", PASSWORD, "Desk/3.0").await;
        warm(&phone.at(&two), "/api/v1/me").await;
        desk.delete("/api/v1/auth/sessions").await.expect(204);
        phone.at(&two).get("/api/v1/me").await.problem(401, "unauthenticated");

        // Disabling a user.
        let (worker_id, worker) = one.user(&t.customer, &t.customer_id, "viewer", "worker@globex.test").await;
        warm(&worker.at(&two), &collections).await;
        t.customer.patch(&format!("{customer}/users/{worker_id}"), json!({"status": "disabled"})).await.expect(200);
        worker.at(&two).get(&collections).await.problem(401, "unauthenticated");

        // A network policy, then a suspension, of the customer.
        let boss = one.login("boss@globex.test", PASSWORD).await;
        warm(&boss.at(&two), &collections).await;
        t.msp.patch(&customer, json!({"allowed_networks": ["10.0.0.0/8"]})).await.expect(200);
        boss.at(&two).get(&collections).await.problem(403, "network_not_allowed");
        t.msp.patch(&customer, json!({"allowed_networks": []})).await.expect(200);
        warm(&boss.at(&two), &collections).await;
        t.msp.patch(&customer, json!({"status": "suspended"})).await.expect(200);
        boss.at(&two).get(&collections).await.problem(403, "account_suspended");
        t.msp.patch(&customer, json!({"status": "active"})).await.expect(200);

        // A technician's assignment: granted through one, seen by the other; revoked, likewise.
        let (staff_id, staff) = one.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
        staff.at(&two).get(&customer).await.problem(404, "not_found");
        let assignment = format!("/api/v1/accounts/{}/users/{staff_id}/assignments/{}", t.msp_id, t.customer_id);
        t.msp.put(&assignment).await.expect(204);
        staff.at(&two).get(&customer).await.expect(200);
        let inside = staff.inside(&staff.enter(&t.customer_id, "ticket 1").await);
        warm(&inside.at(&two), &collections).await;
        t.msp.delete(&assignment).await.expect(204);
        inside.at(&two).get(&collections).await.problem(404, "not_found");

        // Ending an access session.
        let session = t.msp.enter(&t.customer_id, "ticket 2").await;
        warm(&t.msp.inside(&session).at(&two), &collections).await;
        t.customer.delete(&format!("/api/v1/access-sessions/{session}")).await.expect(204);
        t.msp.inside(&session).at(&two).get(&collections).await.problem(403, "access_session_required");

        // Revoking an API token.
        let created =
            t.customer.post(&format!("{customer}/api-tokens"), json!({"name": "ci", "expires_in_days": 30})).await;
        let created = created.expect(201);
        let bearer = t.customer.bearer(created.body["token"].as_str().unwrap_or_default());
        warm(&bearer.at(&two), &collections).await;
        t.customer.delete(&format!("{customer}/api-tokens/{}", created.id("/id"))).await.expect(204);
        bearer.at(&two).get(&collections).await.problem(401, "unauthenticated");
    }
}
