//! Audit webhooks: events of an account's trail reach a real local HTTP receiver, signed with
//! the webhook's secret, in trail order; a failing receiver holds the later events back until a
//! retry succeeds; the MSP's own webhook sees its technicians' actions in customers; nobody
//! else's webhooks can be seen or reached.

use crate::support::{Server, test_settings};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

crate::api_tests!(
    events_reach_the_receiver_signed_and_in_trail_order_and_the_log_shows_them,
    a_failing_receiver_holds_later_events_back_until_a_retry_succeeds,
    the_msps_webhook_receives_its_technicians_actions_inside_a_customer,
    webhooks_are_their_own_accounts_alone_and_refuse_private_receivers,
);

/// What the receiver was sent: headers of interest and the body.
#[derive(Clone, Debug)]
struct Received {
    event_id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// A local HTTP receiver; answers `failing` with 500 while it is set.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let receiver = Receiver::default();
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    state.got.lock().unwrap_or_else(|e| e.into_inner()).push(Received {
                        event_id: header("x-tenantry-event-id"),
                        timestamp: header("x-tenantry-timestamp"),
                        signature: header("x-tenantry-signature"),
                        body: body.to_vec(),
                    });
                    if state.failing.load(std::sync::atomic::Ordering::SeqCst) {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, format!("http://127.0.0.1:{port}/hook"))
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// HMAC-SHA256 (RFC 2104) over SHA-256, written out here so the test checks the signature
/// independently of the server's code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    use sha2::Digest;
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = sha2::Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    let outer = sha2::Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

fn signed_correctly(received: &Received, secret: &str) -> bool {
    let mut message = received.timestamp.clone().into_bytes();
    message.push(b'.');
    message.extend_from_slice(&received.body);
    received.signature == format!("v1={}", hmac_sha256(secret.as_bytes(), &message))
}

/// Runs delivery rounds until nothing is due.
async fn deliver(s: &Server) {
    let deliverer = s.app.deliverer();
    for _ in 0..20 {
        if deliverer.run_once().await.unwrap_or_else(|e| panic!("{e}")) == 0 {
            return;
        }
    }
}

async fn events_reach_the_receiver_signed_and_in_trail_order_and_the_log_shows_them(s: Server) {
    let (receiver, url) = Receiver::start().await;
    let t = s.tree().await;
    let hooks = format!("/api/v1/accounts/{}/webhooks", t.customer_id);
    let created = t
        .customer
        .post(&hooks, json!({"url": url, "events": ["collection.*", "user.created"], "description": "SIEM"}))
        .await
        .expect(201);
    let secret = created.body["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 30, "{secret}");
    let hook = created.id("/webhook/id");
    let collections = format!("/api/v1/accounts/{}/collections", t.customer_id);
    for name in ["One", "Two", "Three"] {
        t.customer.post(&collections, json!({"name": name})).await.expect(201);
    }
    let users = format!("/api/v1/accounts/{}/users", t.customer_id);
    t.customer.post(&users, json!({"email": "new@globex.test", "name": "New", "role": "viewer"})).await.expect(201);
    // Not matched by the patterns: not sent.
    let tokens = format!("/api/v1/accounts/{}/api-tokens", t.customer_id);
    let _ = t.customer.get(&tokens).await;
    deliver(&s).await;
    let got = receiver.got();
    let actions: Vec<String> = got.iter().map(|r| r.json()["action"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(actions, ["collection.created", "collection.created", "collection.created", "user.created"]);
    let seqs: Vec<i64> = got.iter().map(|r| r.json()["seq"].as_i64().unwrap_or_default()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in trail order: {seqs:?}");
    for r in &got {
        assert!(signed_correctly(r, &secret), "the signature is HMAC-SHA256(secret, timestamp.body): {r:?}");
        assert!(!signed_correctly(r, "whsec_another"), "and only with its own secret");
        assert_eq!(r.event_id, r.json()["id"].as_str().unwrap_or_default());
        assert_eq!(r.json()["trail_account_id"], json!(t.customer_id));
    }
    let log = t.customer.get(&format!("{hooks}/{hook}/deliveries")).await.expect(200);
    let items = log.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 4, "{}", log.text);
    assert!(items.iter().all(|d| d["status"] == "delivered" && d["attempts"] == 1 && d["last_status_code"] == 204));
    assert!(items[0]["seq"].as_i64() > items[3]["seq"].as_i64(), "newest first");
    // Delivered once: another round sends nothing more.
    deliver(&s).await;
    assert_eq!(receiver.got().len(), 4, "every event exactly once");
    // The ping and the listing.
    let ping = t.customer.post(&format!("{hooks}/{hook}/test"), json!({})).await.expect(200);
    assert_eq!((ping.body["delivered"].clone(), ping.body["status_code"].clone()), (json!(true), json!(204)));
    let ping_sent = receiver.got().pop().unwrap_or_else(|| panic!("no ping"));
    assert_eq!(ping_sent.json()["type"], "ping");
    assert!(signed_correctly(&ping_sent, &secret));
    let listed = t.customer.get(&hooks).await.expect(200);
    assert_eq!(listed.body["items"][0]["id"], json!(hook));
    assert!(!listed.text.contains(&secret), "the secret is shown once");
    // Disabled, it queues nothing; deleted, it is gone.
    t.customer.patch(&format!("{hooks}/{hook}"), json!({"enabled": false})).await.expect(200);
    t.customer.post(&collections, json!({"name": "Quiet"})).await.expect(201);
    deliver(&s).await;
    assert_eq!(receiver.got().len(), 5, "nothing while disabled");
    t.customer.delete(&format!("{hooks}/{hook}")).await.expect(204);
    t.customer.get(&format!("{hooks}/{hook}")).await.problem(404, "not_found");
}

async fn a_failing_receiver_holds_later_events_back_until_a_retry_succeeds(s: Server) {
    let (receiver, url) = Receiver::start().await;
    let t = s.tree().await;
    let hooks = format!("/api/v1/accounts/{}/webhooks", t.customer_id);
    let hook = t.customer.post(&hooks, json!({"url": url, "events": ["*"]})).await.expect(201).id("/webhook/id");
    receiver.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let collections = format!("/api/v1/accounts/{}/collections", t.customer_id);
    for name in ["First", "Second"] {
        t.customer.post(&collections, json!({"name": name})).await.expect(201);
    }
    deliver(&s).await;
    let log = t.customer.get(&format!("{hooks}/{hook}/deliveries")).await.expect(200).body;
    let items = log["items"].as_array().cloned().unwrap_or_default();
    let (second, first) = (&items[0], &items[1]);
    assert_eq!((first["status"].clone(), first["attempts"].clone()), (json!("pending"), json!(1)), "{log}");
    assert_eq!(first["last_status_code"], 500);
    assert_eq!(second["attempts"], 0, "the later event is held back: {log}");
    assert_eq!(receiver.got().len(), 1, "one attempt, of the first event only");
    let next = time::OffsetDateTime::parse(
        first["next_attempt_at"].as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let wait = next - s.clock_now();
    assert!(wait >= time::Duration::seconds(8) && wait <= time::Duration::seconds(12), "first retry in ~10 s: {wait}");
    // Not yet due: nothing goes.
    deliver(&s).await;
    assert_eq!(receiver.got().len(), 1);
    receiver.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    s.clock.advance(time::Duration::seconds(13));
    deliver(&s).await;
    let got: Vec<String> = receiver.got().iter().map(|r| r.json()["target"]["id"].to_string()).collect();
    assert_eq!(got.len(), 3, "the retry, then the held-back event");
    assert_eq!(got[0], got[1], "the first event twice (failed, then delivered), then the second");
    let log = t.customer.get(&format!("{hooks}/{hook}/deliveries")).await.expect(200).body;
    assert!(log["items"].as_array().into_iter().flatten().all(|d| d["status"] == "delivered"), "{log}");
}

async fn the_msps_webhook_receives_its_technicians_actions_inside_a_customer(s: Server) {
    let (receiver, url) = Receiver::start().await;
    let t = s.tree().await;
    let hooks = format!("/api/v1/accounts/{}/webhooks", t.msp_id);
    t.msp.post(&hooks, json!({"url": url, "events": ["collection.*"]})).await.expect(201);
    let session = t.msp.enter(&t.customer_id, "renewal").await;
    let inside = t.msp.inside(&session);
    let collections = format!("/api/v1/accounts/{}/collections", t.customer_id);
    inside.post(&collections, json!({"name": "Made by the MSP"})).await.expect(201);
    // The customer's own change is not in the MSP's trail.
    t.customer.post(&collections, json!({"name": "Made by the customer"})).await.expect(201);
    deliver(&s).await;
    let got = receiver.got();
    assert_eq!(got.len(), 1, "{:?}", got.iter().map(Received::json).collect::<Vec<_>>());
    let event = got[0].json();
    assert_eq!(event["trail_account_id"], json!(t.msp_id));
    assert_eq!(event["account_id"], json!(t.customer_id));
    assert_eq!(event["access_session_id"], json!(session));
    // Inside the customer, the MSP may not set up the customer's webhooks.
    let theirs = format!("/api/v1/accounts/{}/webhooks", t.customer_id);
    inside.post(&theirs, json!({"url": url, "events": ["*"]})).await.problem(403, "forbidden");
}

async fn webhooks_are_their_own_accounts_alone_and_refuse_private_receivers(s: Server) {
    let t = s.tree().await;
    let own = format!("/api/v1/accounts/{}/webhooks", t.customer_id);
    let hook = t
        .customer
        .post(&own, json!({"url": "https://siem.globex.test/in", "events": ["user.*"]}))
        .await
        .expect(201)
        .id("/webhook/id");
    // Another account's webhook is missing, whoever asks and however.
    let missing = "01900000-0000-7000-8000-000000000000";
    for (path, twin) in [
        (format!("{own}/{hook}"), format!("{own}/{missing}")),
        (format!("{own}/{hook}/deliveries"), format!("{own}/{missing}/deliveries")),
    ] {
        t.rival.get(&path).await.problem(404, "not_found");
        // The MSP sees the customer but not its webhooks: refused alike whether one exists.
        let seen = t.msp.get(&path).await.problem(403, "forbidden").text;
        assert_eq!(seen, t.msp.get(&twin).await.problem(403, "forbidden").text);
    }
    // Not under another account's id either.
    let sibling = format!("/api/v1/accounts/{}/webhooks/{hook}", t.sibling_id);
    t.customer.get(&sibling).await.problem(404, "not_found");
    t.rival.post(&format!("{own}/{hook}/test"), json!({})).await.problem(404, "not_found");
    for bad in [
        json!({"url": "ftp://siem.test/in", "events": ["*"]}),
        json!({"url": "https://siem.test/in", "events": []}),
        json!({"url": "https://siem.test/in", "events": ["User.*"]}),
        json!({"url": "https://siem.test/in"}),
    ] {
        t.customer.post(&own, bad.clone()).await.problem(422, "validation_failed");
    }
    let mut settings = test_settings();
    settings.monitor.allow_private = false;
    let Some(s) = Server::start_with(s.backend, settings).await else { return };
    let t = s.tree().await;
    let own = format!("/api/v1/accounts/{}/webhooks", t.customer_id);
    for private in ["http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://[::1]/hook"] {
        let refused = t.customer.post(&own, json!({"url": private, "events": ["*"]})).await;
        let refused = refused.problem(422, "validation_failed");
        assert!(refused.text.contains("private"), "{}", refused.text);
    }
    let listed = t.customer.get(&own).await.expect(200);
    assert_eq!(listed.body["items"], json!([]), "nothing was written");
}
