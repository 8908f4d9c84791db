//! Plans, limits and usage: a managed customer's subscription names its MSP, the MSP sets its
//! limits, reaching a limit writes nothing, and the MSP bills by the usage list.

use crate::support::{PASSWORD, Reply, Server};
use serde_json::{Value, json};

crate::api_tests!(
    a_managed_customer_is_billed_by_its_msp_and_offered_nothing,
    a_trial_customer_stops_at_five_users_and_is_offered_standard,
    the_msp_sets_its_customers_limits_and_reaching_one_writes_nothing,
    the_msp_bills_by_the_usage_of_each_customer_as_json_or_csv,
);

fn items(reply: &Reply) -> Vec<Value> {
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

async fn a_managed_customer_is_billed_by_its_msp_and_offered_nothing(s: Server) {
    let t = s.tree().await;
    t.partner
        .patch(&format!("/api/v1/accounts/{}", t.msp_id), json!({"contact_email": "billing@acme.test"}))
        .await
        .expect(200);
    let path = format!("/api/v1/accounts/{}/subscription", t.customer_id);
    let sub = t.customer.get(&path).await.expect(200);
    assert_eq!(sub.body["plan"], "managed");
    assert_eq!(sub.body["managed"], true);
    assert_eq!(sub.body["billing_contact"]["name"], "Acme MSP");
    assert_eq!(sub.body["billing_contact"]["email"], "billing@acme.test");
    assert_eq!(sub.body["purchase_options"], json!([]));
    assert_eq!(sub.body["limits"], json!({"users": 50, "certificates": 5000, "agents": 50, "targets": 500}));
    assert_eq!(sub.body["usage"]["users"], 1);
    t.msp.get(&path).await.expect(200);
    t.partner.get(&path).await.expect(200);
    let (_, viewer) = s.user(&t.customer, &t.customer_id, "viewer", "v@globex.test").await;
    viewer.get(&path).await.problem(403, "forbidden");
    t.rival.get(&path).await.problem(404, "not_found");
}

async fn a_trial_customer_stops_at_five_users_and_is_offered_standard(s: Server) {
    let t = s.tree().await;
    let (direct, boss) = s.account(&t.partner, "customer", "Direct Co", "boss@direct.test", None).await;
    let sub = boss.get(&format!("/api/v1/accounts/{direct}/subscription")).await.expect(200);
    assert_eq!(sub.body["plan"], "trial");
    assert_eq!(sub.body["managed"], false);
    assert_eq!(sub.body["limits"]["users"], 5);
    assert_eq!(sub.body["purchase_options"][0]["plan"], "standard");
    let users = format!("/api/v1/accounts/{direct}/users");
    for n in 1..5 {
        boss.post(&users, json!({"email": format!("u{n}@direct.test"), "name": "U", "role": "viewer"}))
            .await
            .expect(201);
    }
    let refused = boss.post(&users, json!({"email": "u5@direct.test", "name": "U", "role": "viewer"})).await;
    refused.problem(422, "plan_limit_reached");
    assert_eq!(items(&boss.get(&users).await.expect(200)).len(), 5, "nothing written");
    t.partner.put(&format!("/api/v1/accounts/{direct}/subscription")).await.problem(403, "forbidden");
}

async fn the_msp_sets_its_customers_limits_and_reaching_one_writes_nothing(s: Server) {
    let t = s.tree().await;
    let path = format!("/api/v1/accounts/{}/subscription", t.customer_id);
    let limits = json!({"limits": {"users": 2, "certificates": 1, "agents": 1, "targets": 1}});
    t.customer.send("PUT", &path, Some(limits.clone()), true).await.problem(403, "forbidden");
    t.partner.send("PUT", &path, Some(limits.clone()), true).await.problem(403, "forbidden");
    t.rival.send("PUT", &path, Some(limits.clone()), true).await.problem(404, "not_found");
    let bad = json!({"limits": {"users": -1, "certificates": 1, "agents": 1, "targets": 1}});
    t.msp.send("PUT", &path, Some(bad), true).await.problem(422, "validation_failed");
    t.msp.send("PUT", &path, Some(json!({"limits": {"users": 2}})), true).await.problem(422, "validation_failed");
    let set = t.msp.send("PUT", &path, Some(limits), true).await.expect(200);
    assert_eq!(set.body["limits"]["users"], 2);
    let trail = t.customer.get(&format!("/api/v1/accounts/{}/audit?action=subscription.updated", t.customer_id)).await;
    let events = items(&trail.expect(200));
    let changed: Vec<_> = events.iter().filter(|e| e["outcome"] == "success").collect();
    assert_eq!(changed.len(), 1, "the customer sees its MSP change its limits");
    assert_eq!(changed[0]["actor"]["email"], "admin@acme.test");
    assert_eq!(events.iter().filter(|e| e["outcome"] == "denied").count(), 2, "and the refused attempts");

    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    t.msp.post(&users, json!({"email": "second@globex.test", "name": "S", "role": "viewer"})).await.expect(201);
    t.msp
        .post(&users, json!({"email": "third@globex.test", "name": "T", "role": "viewer"}))
        .await
        .problem(422, "plan_limit_reached");

    let collection = t
        .customer
        .post(&format!("/api/v1/accounts/{}/collections", t.customer_id), json!({"name": "C"}))
        .await
        .expect(201)
        .id("/id");
    let (a, _) = crate::certificates::certificate("a.globex.test", 0, 30);
    let (b, _) = crate::certificates::certificate("b.globex.test", 0, 30);
    let import = format!("/api/v1/accounts/{}/collections/{collection}/certificates", t.customer_id);
    s.raw(&t.customer, "POST", &import, "text/plain", &format!("{a}{b}")).await.problem(422, "plan_limit_reached");
    let listed = t.customer.get(&format!("/api/v1/accounts/{}/certificates", t.customer_id)).await.expect(200);
    assert!(items(&listed).is_empty(), "all or nothing");
    s.raw(&t.customer, "POST", &import, "text/plain", &a).await.expect(201);
    s.raw(&t.customer, "POST", &import, "text/plain", &a).await.expect(201);

    let direct = json!({"kind": "customer", "name": "Direct", "admin": {"email": "d@direct.test", "name": "D", "password": PASSWORD}});
    let direct = t.partner.post("/api/v1/accounts", direct).await.expect(201).id("/account/id");
    let unmanaged = format!("/api/v1/accounts/{direct}/subscription");
    let limits = json!({"limits": {"users": 9, "certificates": 9, "agents": 9, "targets": 9}});
    t.root.send("PUT", &unmanaged, Some(limits), true).await.problem(409, "conflict");
}

async fn the_msp_bills_by_the_usage_of_each_customer_as_json_or_csv(s: Server) {
    let t = s.tree().await;
    s.user(&t.customer, &t.customer_id, "viewer", "v@globex.test").await;
    let usage = t.msp.get(&format!("/api/v1/accounts/{}/usage", t.msp_id)).await.expect(200);
    let rows = items(&usage);
    assert_eq!(rows.len(), 2);
    let globex = rows.iter().find(|r| r["account_name"] == "Globex").cloned().unwrap_or_default();
    assert_eq!(globex["users"], 2);
    assert_eq!(globex["certificates"], 0);
    let csv = t.msp.get(&format!("/api/v1/accounts/{}/usage?format=csv", t.msp_id)).await.expect(200);
    let mut lines = csv.text.lines();
    assert_eq!(lines.next(), Some("account_id,account_name,users,certificates,agents,targets"));
    assert_eq!(lines.count(), 2);
    let everything = t.partner.get(&format!("/api/v1/accounts/{}/usage", t.partner_id)).await.expect(200);
    assert_eq!(items(&everything).len(), 3, "a partner sees every customer below it");
    t.customer.get(&format!("/api/v1/accounts/{}/usage", t.customer_id)).await.problem(403, "forbidden");
    t.rival.get(&format!("/api/v1/accounts/{}/usage", t.msp_id)).await.problem(404, "not_found");
    t.msp.get(&format!("/api/v1/accounts/{}/usage?format=xml", t.msp_id)).await.problem(422, "validation_failed");
}
