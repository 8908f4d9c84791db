//! The certificate inventory over HTTP: PEM imports de-duplicated by fingerprint, refusals that
//! store nothing, filters, and the partner side reaching it only inside an access session.

use crate::support::{Reply, Server, Session};
use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::{Value, json};

crate::api_tests!(
    a_bundle_is_stored_once_per_certificate_and_duplicates_are_reported,
    private_keys_bad_pem_and_wrong_media_types_store_nothing,
    certificates_filter_by_expiry_issuer_name_and_collection,
    search_folds_unicode_case_alike_on_both_engines_and_matches_names_not_storage,
    the_msp_reaches_certificates_only_inside_an_access_session,
    a_change_to_a_missing_object_is_404_before_the_roles_403,
);

/// A self-signed certificate for `name`, valid from `from` to `to` days from now; and its key.
pub fn certificate(name: &str, from: i64, to: i64) -> (String, String) {
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap_or_else(|e| panic!("{e}"));
    params.distinguished_name.push(DnType::CommonName, name);
    params.distinguished_name.push(DnType::OrganizationName, format!("{name} issuer"));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from);
    params.not_after = now + time::Duration::days(to);
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let cert = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}"));
    (cert.pem(), key.serialize_pem())
}

fn items(reply: &Reply) -> Vec<Value> {
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

async fn collection(owner: &Session, account: &str) -> String {
    owner
        .post(&format!("/api/v1/accounts/{account}/collections"), json!({"name": "Servers"}))
        .await
        .expect(201)
        .id("/id")
}

async fn import(s: &Server, who: &Session, account: &str, collection: &str, pem: &str) -> Reply {
    let path = format!("/api/v1/accounts/{account}/collections/{collection}/certificates");
    s.raw(who, "POST", &path, "application/x-pem-file", pem).await
}

async fn a_bundle_is_stored_once_per_certificate_and_duplicates_are_reported(s: Server) {
    let t = s.tree().await;
    let servers = collection(&t.customer, &t.customer_id).await;
    let (www, _) = certificate("www.globex.test", -1, 90);
    let (api, _) = certificate("api.globex.test", -1, 90);
    let first = import(&s, &t.customer, &t.customer_id, &servers, &format!("{www}{api}")).await.expect(201);
    let imported = items(&first);
    assert_eq!(imported.len(), 2);
    assert!(imported.iter().all(|c| c["duplicate"] == false));
    assert_eq!(imported[0]["sans"], json!(["www.globex.test"]));
    assert!(imported[0]["subject"].as_str().is_some_and(|s| s.contains("CN=www.globex.test")));
    assert_eq!(imported[0]["fingerprint_sha256"].as_str().map(str::len), Some(64));
    let again = import(&s, &t.customer, &t.customer_id, &servers, &format!("{www}{www}")).await.expect(201);
    let again = items(&again);
    assert!(again.iter().all(|c| c["duplicate"] == true && c["id"] == imported[0]["id"]));
    let listed = t.customer.get(&format!("/api/v1/accounts/{}/certificates", t.customer_id)).await.expect(200);
    assert_eq!(items(&listed).len(), 2);
    let one =
        format!("/api/v1/accounts/{}/certificates/{}", t.customer_id, imported[1]["id"].as_str().unwrap_or_default());
    assert_eq!(t.customer.get(&one).await.expect(200).body["sans"], json!(["api.globex.test"]));
    let trail = t.customer.get(&format!("/api/v1/accounts/{}/audit?action=certificate.imported", t.customer_id)).await;
    assert_eq!(items(&trail.expect(200)).len(), 2);
    t.customer.delete(&one).await.expect(204);
    t.customer.get(&one).await.problem(404, "not_found");

    let other = s.login("boss@initech.test", crate::support::PASSWORD).await;
    let theirs = collection(&other, &t.sibling_id).await;
    let separate = import(&s, &other, &t.sibling_id, &theirs, &www).await.expect(201);
    assert_eq!(items(&separate)[0]["duplicate"], false, "de-duplication stays within an account");
    import(&s, &other, &t.sibling_id, &servers, &www).await.problem(404, "not_found");
}

async fn private_keys_bad_pem_and_wrong_media_types_store_nothing(s: Server) {
    let t = s.tree().await;
    let servers = collection(&t.customer, &t.customer_id).await;
    let (pem, key) = certificate("key.globex.test", 0, 30);
    let refused = import(&s, &t.customer, &t.customer_id, &servers, &format!("{pem}{key}"))
        .await
        .problem(422, "validation_failed");
    assert!(refused.text.contains("private key"), "{}", refused.text);
    import(&s, &t.customer, &t.customer_id, &servers, "not a certificate").await.problem(422, "validation_failed");
    let bogus = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    import(&s, &t.customer, &t.customer_id, &servers, bogus).await.problem(422, "validation_failed");
    let path = format!("/api/v1/accounts/{}/collections/{servers}/certificates", t.customer_id);
    s.raw(&t.customer, "POST", &path, "application/json", &pem).await.problem(415, "unsupported_media_type");
    let (status, _) = s.oversized(&t.customer, "POST", &path, "text/plain", 2 * 1024 * 1024).await;
    assert_eq!(status, 413);
    let listed = t.customer.get(&format!("/api/v1/accounts/{}/certificates", t.customer_id)).await.expect(200);
    assert!(items(&listed).is_empty(), "nothing stored");
    let trail = t.customer.get(&format!("/api/v1/accounts/{}/audit?action=certificate.imported", t.customer_id)).await;
    assert!(items(&trail.expect(200)).is_empty());
    import(&s, &t.customer, &t.customer_id, "01900000-0000-7000-8000-000000000000", &pem)
        .await
        .problem(404, "not_found");
}

async fn certificates_filter_by_expiry_issuer_name_and_collection(s: Server) {
    let t = s.tree().await;
    let web = collection(&t.customer, &t.customer_id).await;
    let mail = collection(&t.customer, &t.customer_id).await;
    let (soon, _) = certificate("soon.globex.test", -80, 10);
    let (later, _) = certificate("later.globex.test", -10, 200);
    let (gone, _) = certificate("gone.globex.test", -100, -1);
    import(&s, &t.customer, &t.customer_id, &web, &format!("{soon}{later}")).await.expect(201);
    import(&s, &t.customer, &t.customer_id, &mail, &gone).await.expect(201);
    let names = |reply: Reply| -> Vec<String> {
        let mut names: Vec<String> =
            items(&reply).iter().filter_map(|c| c["sans"][0].as_str().map(str::to_owned)).collect();
        names.sort();
        names
    };
    let base = format!("/api/v1/accounts/{}/certificates", t.customer_id);
    assert_eq!(
        names(t.customer.get(&format!("{base}?expiring_within_days=30")).await.expect(200)),
        ["soon.globex.test"]
    );
    assert_eq!(names(t.customer.get(&format!("{base}?expired=true")).await.expect(200)), ["gone.globex.test"]);
    assert_eq!(names(t.customer.get(&format!("{base}?expired=false")).await.expect(200)).len(), 2);
    assert_eq!(names(t.customer.get(&format!("{base}?q=LATER")).await.expect(200)), ["later.globex.test"]);
    assert_eq!(
        names(t.customer.get(&format!("{base}?issuer=soon.globex.test%20issuer")).await.expect(200)),
        ["soon.globex.test"]
    );
    assert_eq!(names(t.customer.get(&format!("{base}?collection_id={mail}")).await.expect(200)), ["gone.globex.test"]);
    assert_eq!(names(t.customer.get(&format!("{base}?q=%25")).await.expect(200)).len(), 0, "wildcards are literal");
    s.clock.advance(time::Duration::days(15));
    let boss = s.login("boss@globex.test", crate::support::PASSWORD).await;
    assert_eq!(
        names(boss.get(&format!("{base}?expired=true")).await.expect(200)),
        ["gone.globex.test", "soon.globex.test"]
    );
    for bad in ["expiring_within_days=-1", "expired=maybe", "collection_id=x", "cursor=nope"] {
        boss.get(&format!("{base}?{bad}")).await.problem(422, "validation_failed");
    }
    let first = boss.get(&format!("{base}?limit=2")).await.expect(200);
    let rest = boss.get(&format!("{base}?limit=2&cursor={}", first.id("/next_cursor"))).await.expect(200);
    assert_eq!(items(&first).len() + items(&rest).len(), 3);
}

async fn the_msp_reaches_certificates_only_inside_an_access_session(s: Server) {
    let t = s.tree().await;
    let servers = collection(&t.customer, &t.customer_id).await;
    let (pem, _) = certificate("msp.globex.test", 0, 30);
    import(&s, &t.msp, &t.customer_id, &servers, &pem).await.problem(403, "access_session_required");
    t.msp
        .get(&format!("/api/v1/accounts/{}/certificates", t.customer_id))
        .await
        .problem(403, "access_session_required");
    let session = t.msp.enter(&t.customer_id, "install certificate").await;
    let inside = t.msp.inside(&session);
    import(&s, &inside, &t.customer_id, &servers, &pem).await.expect(201);
    let trail =
        t.msp.get(&format!("/api/v1/accounts/{}/audit?action=certificate.imported", t.msp_id)).await.expect(200);
    assert_eq!(items(&trail)[0]["access_session_id"], session.as_str(), "in the MSP's trail with the session");
    let customer_trail =
        t.customer.get(&format!("/api/v1/accounts/{}/audit?action=certificate.imported", t.customer_id)).await;
    assert_eq!(items(&customer_trail.expect(200))[0]["actor"]["email"], "admin@acme.test");
    t.rival.get(&format!("/api/v1/accounts/{}/certificates", t.customer_id)).await.problem(404, "not_found");
}

async fn a_change_to_a_missing_object_is_404_before_the_roles_403(s: Server) {
    let t = s.tree().await;
    let servers = collection(&t.customer, &t.customer_id).await;
    let (pem, _) = certificate("www.globex.test", -1, 90);
    let stored = import(&s, &t.customer, &t.customer_id, &servers, &pem).await.expect(201).id("/items/0/id");
    let (_, viewer) = s.user(&t.customer, &t.customer_id, "viewer", "viewer@globex.test").await;
    let base = format!("/api/v1/accounts/{}", t.customer_id);
    let missing = "01900000-0000-7000-8000-00000000dead";
    for (existing, gone) in [
        (format!("{base}/certificates/{stored}"), format!("{base}/certificates/{missing}")),
        (format!("{base}/collections/{servers}"), format!("{base}/collections/{missing}")),
        (format!("{base}/collections/{servers}"), format!("{base}/collections/not-an-id")),
    ] {
        viewer.delete(&existing).await.problem(403, "forbidden");
        viewer.delete(&gone).await.problem(404, "not_found");
    }
    // An auditor reads users but does not manage them.
    let (auditor_id, auditor) = s.user(&t.customer, &t.customer_id, "auditor", "auditor@globex.test").await;
    auditor.patch(&format!("{base}/users/{auditor_id}"), json!({"name": "x"})).await.problem(403, "forbidden");
    auditor.patch(&format!("{base}/users/{missing}"), json!({"name": "x"})).await.problem(404, "not_found");
    t.customer.get(&format!("{base}/certificates/{stored}")).await.expect(200);
}

async fn search_folds_unicode_case_alike_on_both_engines_and_matches_names_not_storage(s: Server) {
    let t = s.tree().await;
    let web = collection(&t.customer, &t.customer_id).await;
    let mut params = CertificateParams::new(vec!["aerzte.globex.test".to_owned(), "www.aerzte.globex.test".to_owned()])
        .unwrap_or_else(|e| panic!("{e}"));
    params.distinguished_name.push(DnType::CommonName, "Ärztekammer Süd");
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let pem = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}")).pem();
    import(&s, &t.customer, &t.customer_id, &web, &pem).await.expect(201);
    let base = format!("/api/v1/accounts/{}/certificates", t.customer_id);
    let count = |query: &'static str| {
        let (who, url) = (t.customer.clone(), format!("{base}?{query}"));
        async move { items(&who.get(&url).await.expect(200)).len() }
    };
    assert_eq!(count("q=%C3%84RZTEKAMMER").await, 1, "ÄRZTEKAMMER finds Ärztekammer");
    assert_eq!(count("q=s%C3%BCD").await, 1, "süD finds Süd");
    assert_eq!(count("issuer=%C3%A4rztekammer%20s%C3%BCd").await, 1);
    assert_eq!(count("q=WWW.AERZTE").await, 1, "SAN names are searched");
    assert_eq!(count("q=%22%2C%22").await, 0, "not the stored JSON of the names");
}
