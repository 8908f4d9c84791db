//! The certificate inventory's search keys: written with each certificate, and filled in at start
//! for certificates stored before they existed.

use crate::support::Fixture;
use tenantry_domain::Clock;
use tenantry_domain::authz::{Relation, cap};
use tenantry_store::{CertificateFilter, NewCertificate, PageRequest};

crate::conformance!(certificates_stored_before_the_search_keys_are_found_after_a_restart);

async fn certificates_stored_before_the_search_keys_are_found_after_a_restart(fx: Fixture) {
    let t = fx.tree().await;
    let write = t.customer.grant(cap::ResourceWrite, &t.customer.account, Relation::Own);
    let collection =
        fx.store.create_collection(&write, "Web".into(), &t.customer.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    let now = fx.clock.now();
    let certificate = NewCertificate {
        subject: "CN=Ärztekammer Süd".into(),
        sans: vec!["aerzte.example".into(), "www.aerzte.example".into()],
        issuer: "CN=Ärzte CA".into(),
        serial: "01".into(),
        not_before: now,
        not_after: now + time::Duration::days(30),
        fingerprint_sha256: "ab".repeat(32),
        key_type: "EC".into(),
        key_bits: 256,
        pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
    };
    fx.store
        .import_certificates(&write, collection.id, vec![certificate], &t.customer.ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // As stored before the keys existed.
    fx.raw("UPDATE certificates SET names_key = '', issuer_key = ''").await;
    let restarted = tenantry_store::connect(&fx.url, fx.clock.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let read = t.customer.grant(cap::ResourceRead, &t.customer.account, Relation::Own);
    let page = PageRequest { after: None, limit: 10 };
    let search = |q: Option<&str>, issuer: Option<&str>| CertificateFilter {
        q: q.map(str::to_owned),
        issuer: issuer.map(str::to_owned),
        ..CertificateFilter::default()
    };
    for (q, issuer, found) in [
        (Some("ÄRZTEKAMMER"), None, 1),
        (Some("WWW.AERZTE"), None, 1),
        (Some("\",\""), None, 0),
        (None, Some("ärzte ca"), 1),
    ] {
        let listed =
            restarted.list_certificates(&read, &search(q, issuer), &page).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.items.len(), found, "q={q:?} issuer={issuer:?}");
    }
}
