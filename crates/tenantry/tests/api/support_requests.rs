//! The contact form: a customer's request reaches its MSP's inbox, both sides list it, the MSP
//! closes it, and nobody else sees it.

use crate::support::{Reply, Server, smtp_sink, test_settings};
use serde_json::{Value, json};
use tenantry_server::mail::SmtpSettings;

crate::api_tests!(
    a_customers_request_reaches_its_msps_inbox_and_the_msp_closes_it,
    closing_a_missing_request_is_404_before_the_roles_403_and_the_body,
    a_request_is_mailed_to_the_msps_support_address_through_the_relay,
    without_a_relay_nothing_is_sent_and_a_failing_relay_loses_no_request,
);

fn relayed_through(port: u16) -> tenantry_server::Settings {
    let mut settings = test_settings();
    settings.smtp =
        Some(SmtpSettings { url: format!("smtp://127.0.0.1:{port}"), from: "Tenantry <noreply@platform.test>".into() });
    settings
}

async fn a_request_is_mailed_to_the_msps_support_address_through_the_relay(s: Server) {
    let (port, mut mail) = smtp_sink().await;
    let Some(s) = Server::start_with(s.backend, relayed_through(port)).await else { return };
    let t = s.tree().await;
    support_address(&t).await;
    let sent = format!("/api/v1/accounts/{}/support-requests", t.customer_id);
    t.customer.post(&sent, json!({"subject": "Renewal", "message": "Please renew www."})).await.expect(201);
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), mail.recv())
        .await
        .unwrap_or_else(|_| panic!("no mail reached the relay"))
        .unwrap_or_default();
    assert!(message.contains("RCPT TO:<help@acme.test>"), "{message}");
    assert!(message.contains("MAIL FROM:<noreply@platform.test>"), "{message}");
    assert!(message.contains("Subject: Support request from Globex: Renewal"), "{message}");
    assert!(message.contains("Please renew www."), "{message}");
    assert!(s.metric_reaches("tenantry_mail_sent_total", 1).await);
}

/// Gives the tree's MSP a support address.
async fn support_address(t: &crate::support::Tree) {
    let branding = json!({"display_name": "Acme Managed Security", "support_email": "help@acme.test"});
    t.msp.send("PUT", &format!("/api/v1/accounts/{}/branding", t.msp_id), Some(branding), true).await.expect(200);
}

async fn without_a_relay_nothing_is_sent_and_a_failing_relay_loses_no_request(s: Server) {
    let t = s.tree().await;
    support_address(&t).await;
    let sent = format!("/api/v1/accounts/{}/support-requests", t.customer_id);
    t.customer.post(&sent, json!({"subject": "Quiet", "message": "No relay here."})).await.expect(201);
    assert_eq!((s.metric("tenantry_mail_sent_total").await, s.metric("tenantry_mail_failed_total").await), (0, 0));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = closed.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    drop(closed);
    let Some(s) = Server::start_with(s.backend, relayed_through(port)).await else { return };
    let t = s.tree().await;
    support_address(&t).await;
    let sent = format!("/api/v1/accounts/{}/support-requests", t.customer_id);
    t.customer.post(&sent, json!({"subject": "Lost?", "message": "The relay is down."})).await.expect(201);
    assert!(s.metric_reaches("tenantry_mail_failed_total", 1).await, "the failure is counted");
    let inbox = t.msp.get(&format!("/api/v1/accounts/{}/support-requests", t.msp_id)).await.expect(200);
    assert_eq!(items(&inbox).len(), 1, "and the request is kept");
}

fn items(reply: &Reply) -> Vec<Value> {
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

async fn a_customers_request_reaches_its_msps_inbox_and_the_msp_closes_it(s: Server) {
    let t = s.tree().await;
    let sent = format!("/api/v1/accounts/{}/support-requests", t.customer_id);
    let inbox = format!("/api/v1/accounts/{}/support-requests", t.msp_id);
    let created =
        t.customer.post(&sent, json!({"subject": "Renewal", "message": "Please renew www."})).await.expect(201);
    assert_eq!(created.body["status"], "open");
    assert_eq!(created.body["to_account_id"], t.msp_id.as_str());
    let id = created.id("/id");
    t.customer.post(&sent, json!({"subject": "", "message": "x"})).await.problem(422, "validation_failed");
    t.customer.post(&sent, json!({"subject": "x", "message": "   "})).await.problem(422, "validation_failed");

    let received = items(&t.msp.get(&inbox).await.expect(200));
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["account_name"], "Globex");
    assert_eq!(received[0]["created_by_email"], "boss@globex.test");
    assert_eq!(items(&t.customer.get(&sent).await.expect(200)).len(), 1, "the customer sees what it sent");

    let (_, readonly) = s.user(&t.msp, &t.msp_id, "msp_readonly", "ro@acme.test").await;
    assert_eq!(items(&readonly.get(&inbox).await.expect(200)).len(), 1);
    readonly.patch(&format!("{inbox}/{id}"), json!({"status": "closed"})).await.problem(403, "forbidden");
    t.msp.patch(&format!("{inbox}/{id}"), json!({"status": "done"})).await.problem(422, "validation_failed");
    let closed = t.msp.patch(&format!("{inbox}/{id}"), json!({"status": "closed"})).await.expect(200);
    assert_eq!(closed.body["status"], "closed");
    let trail =
        t.customer.get(&format!("/api/v1/accounts/{}/audit?action=support_request.updated", t.customer_id)).await;
    assert_eq!(items(&trail.expect(200))[0]["actor"]["email"], "admin@acme.test", "the customer sees its MSP close it");

    t.customer.patch(&format!("{sent}/{id}"), json!({"status": "open"})).await.problem(403, "forbidden");
    t.rival.get(&sent).await.problem(404, "not_found");
    t.rival
        .patch(&format!("/api/v1/accounts/{}/support-requests/{id}", t.rival_id), json!({"status": "open"}))
        .await
        .problem(404, "not_found");
    t.msp.post(&sent, json!({"subject": "From the MSP", "message": "?"})).await.problem(403, "access_session_required");
    let (_, viewer) = s.user(&t.customer, &t.customer_id, "viewer", "v@globex.test").await;
    viewer.post(&sent, json!({"subject": "Hi", "message": "?"})).await.problem(403, "forbidden");
}

async fn closing_a_missing_request_is_404_before_the_roles_403_and_the_body(s: Server) {
    let t = s.tree().await;
    let sent = format!("/api/v1/accounts/{}/support-requests", t.customer_id);
    let id = t.customer.post(&sent, json!({"subject": "Renewal", "message": "Please."})).await.expect(201).id("/id");
    let (_, readonly) = s.user(&t.msp, &t.msp_id, "msp_readonly", "ro@acme.test").await;
    let inbox = format!("/api/v1/accounts/{}/support-requests", t.msp_id);
    let missing = format!("{inbox}/01900000-0000-7000-8000-00000000dead");
    readonly.patch(&format!("{inbox}/{id}"), json!({"status": "closed"})).await.problem(403, "forbidden");
    readonly.patch(&missing, json!({"status": "closed"})).await.problem(404, "not_found");
    t.msp.patch(&missing, json!({"status": "nonsense"})).await.problem(404, "not_found");
    t.msp.patch(&format!("{inbox}/{id}"), json!({"status": "nonsense"})).await.problem(422, "validation_failed");
}
