//! Audit trails: one event linked into every trail it belongs to, hash-chained per trail, with
//! tampering caught at the right `seq`.

use crate::support::{Actor, Fixture};
use tenantry_domain::authz::{Grant, Relation, cap};
use tenantry_domain::{AccountKind, Action, AuditTarget, Outcome};
use tenantry_store::{AuditDraft, AuditFilter, Linking, PageRequest};

crate::conformance!(
    an_msp_change_to_a_customer_lands_once_in_both_trails,
    a_not_visible_denial_lands_only_in_the_actors_trail,
    every_trail_verifies_and_tampering_breaks_it_at_the_edited_seq,
    an_edited_link_hash_or_prev_hash_breaks_the_chain_at_that_seq,
    reordered_removed_or_truncated_links_break_the_chain_where_they_were,
    concurrent_appends_keep_every_chain_gapless_and_valid,
    a_bench_seed_writes_the_planned_tree_and_every_trail_it_touched_verifies,
    the_first_checkpoint_key_stored_is_the_one_every_process_gets,
);

fn audit_grant(actor: &Actor) -> Grant<cap::AuditRead> {
    actor.grant(cap::AuditRead, &actor.account, Relation::Own)
}

async fn events(fx: &Fixture, grant: &Grant<cap::AuditRead>) -> Vec<tenantry_domain::AuditEvent> {
    fx.store
        .audit_page(grant, &AuditFilter::default(), &PageRequest { after: None, limit: 500 })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
}

async fn an_msp_change_to_a_customer_lands_once_in_both_trails(fx: Fixture) {
    let t = fx.tree().await;
    let manage = t.msp.grant(cap::UserManage, &t.customer.account, Relation::Below { assigned: false });
    let manage_credentials =
        t.msp.grant(cap::UserCredentials, &t.customer.account, Relation::Below { assigned: false });
    let user = fx
        .store
        .create_user(
            &manage,
            Some(manage_credentials),
            crate::support::new_user("new@globex.test", tenantry_domain::Role::Viewer),
            &t.msp.ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let customer_trail = events(&fx, &t.customer.grant(cap::AuditRead, &t.customer.account, Relation::Own)).await;
    let msp_trail = events(&fx, &audit_grant(&t.msp)).await;
    let partner_trail = events(&fx, &audit_grant(&t.partner)).await;
    let find = |trail: &[tenantry_domain::AuditEvent]| {
        trail.iter().find(|e| e.action == "user.created" && e.target.id == Some(user.id.to_string())).cloned()
    };
    let in_customer = find(&customer_trail).unwrap_or_else(|| panic!("not in the customer's trail"));
    let in_msp = find(&msp_trail).unwrap_or_else(|| panic!("not in the MSP's trail"));
    assert_eq!(in_customer.id, in_msp.id, "one event, linked twice");
    assert_eq!(in_customer.trail_account_id, t.customer.account.id);
    assert_eq!(in_msp.trail_account_id, t.msp.account.id);
    assert_eq!(in_customer.account_id, t.customer.account.id);
    assert_eq!(in_customer.actor.user_id, Some(t.msp.user.id));
    assert_eq!(in_customer.actor.account_name.as_deref(), Some("Acme MSP"));
    assert!(find(&partner_trail).is_none(), "not above the actor's own account");
}

async fn a_not_visible_denial_lands_only_in_the_actors_trail(fx: Fixture) {
    let t = fx.tree().await;
    let draft = AuditDraft {
        account_id: t.other.account.id,
        action: Action::AccountRead,
        outcome: Outcome::Denied,
        target: AuditTarget { kind: "account".into(), id: Some(t.other.account.id.to_string()) },
        details: serde_json::json!({"code": "not_found"}),
        linking: Linking::ActorOnly,
    };
    let id = fx.store.record(draft, &t.customer.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    let own = events(&fx, &t.customer.grant(cap::AuditRead, &t.customer.account, Relation::Own)).await;
    let other = events(&fx, &t.other.grant(cap::AuditRead, &t.other.account, Relation::Own)).await;
    assert!(own.iter().any(|e| e.id == id && e.outcome == Outcome::Denied));
    assert!(!other.iter().any(|e| e.id == id), "the other customer never learns of the probe");
}

async fn every_trail_verifies_and_tampering_breaks_it_at_the_edited_seq(fx: Fixture) {
    let t = fx.tree().await;
    let grant = audit_grant(&t.msp);
    let clean = fx.store.verify_trail(&grant).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(clean.valid, "{clean:?}");
    assert!(clean.events >= 3);
    let trail = events(&fx, &grant).await;
    let second = trail.iter().find(|e| e.seq == 2).unwrap_or_else(|| panic!("no seq 2"));
    assert_eq!(clean.head, trail[0].hash, "the head is the newest link's hash");

    fx.raw(&format!("UPDATE audit_events SET details = '{{\"name\":\"forged\"}}' WHERE id = '{}'", second.id)).await;
    let edited = fx.store.verify_trail(&grant).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!edited.valid);
    assert_eq!(edited.first_bad_seq, Some(2));
}

async fn concurrent_appends_keep_every_chain_gapless_and_valid(fx: Fixture) {
    let t = fx.tree().await;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let store = fx.store.clone();
        let ctx = t.msp.ctx();
        let account_id = t.customer.account.id;
        tasks.push(tokio::spawn(async move {
            let draft = AuditDraft {
                account_id,
                action: Action::AuditVerified,
                outcome: Outcome::Success,
                target: AuditTarget { kind: "test".into(), id: Some(n.to_string()) },
                details: serde_json::json!({ "n": n }),
                linking: Linking::UpToActor,
            };
            store.record(draft, &ctx).await
        }));
    }
    for task in tasks {
        task.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));
    }
    for actor in [&t.customer, &t.msp] {
        let report = fx.store.verify_trail(&audit_grant(actor)).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(report.valid, "{:?} trail: {report:?}", actor.account.kind);
    }
    let msp_events = events(&fx, &audit_grant(&t.msp)).await;
    assert_eq!(msp_events.iter().filter(|e| e.action == "audit.verified").count(), 16);
    assert_eq!(t.customer.account.kind, AccountKind::Customer);
}

/// `actor`'s own trail, filled to at least six events; returns the grant and its links by seq.
async fn long_trail(fx: &Fixture, actor: &Actor) -> (Grant<cap::AuditRead>, Vec<tenantry_domain::AuditEvent>) {
    for n in 0..6 {
        let draft = AuditDraft {
            account_id: actor.account.id,
            action: Action::AuditRead,
            outcome: Outcome::Success,
            target: AuditTarget { kind: "test".into(), id: Some(n.to_string()) },
            details: serde_json::json!({ "n": n }),
            linking: Linking::UpToActor,
        };
        fx.store.record(draft, &actor.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let grant = audit_grant(actor);
    let mut trail = events(fx, &grant).await;
    trail.reverse();
    assert!(trail.len() >= 6 && fx.store.verify_trail(&grant).await.is_ok_and(|r| r.valid));
    (grant, trail)
}

async fn first_bad(fx: &Fixture, grant: &Grant<cap::AuditRead>) -> Option<i64> {
    let report = fx.store.verify_trail(grant).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.valid, report.first_bad_seq.is_none());
    report.first_bad_seq
}

async fn an_edited_link_hash_or_prev_hash_breaks_the_chain_at_that_seq(fx: Fixture) {
    let t = fx.tree().await;
    let (grant, _) = long_trail(&fx, &t.msp).await;
    let trail = t.msp.account.id;
    fx.raw(&format!(
        "UPDATE audit_links SET hash = '{}' WHERE trail_account_id = '{trail}' AND seq = 4",
        "a".repeat(64)
    ))
    .await;
    assert_eq!(first_bad(&fx, &grant).await, Some(4));

    let (grant, _) = long_trail(&fx, &t.customer).await;
    let trail = t.customer.account.id;
    fx.raw(&format!(
        "UPDATE audit_links SET prev_hash = '{}' WHERE trail_account_id = '{trail}' AND seq = 3",
        "b".repeat(64)
    ))
    .await;
    assert_eq!(first_bad(&fx, &grant).await, Some(3));
}

async fn reordered_removed_or_truncated_links_break_the_chain_where_they_were(fx: Fixture) {
    let t = fx.tree().await;
    let (grant, _) = long_trail(&fx, &t.msp).await;
    let trail = t.msp.account.id;
    let swap = format!(
        "UPDATE audit_links SET seq = -1 WHERE trail_account_id = '{trail}' AND seq = 3; \
         UPDATE audit_links SET seq = 3 WHERE trail_account_id = '{trail}' AND seq = 4; \
         UPDATE audit_links SET seq = 4 WHERE trail_account_id = '{trail}' AND seq = -1;"
    );
    fx.raw(&swap).await;
    assert_eq!(first_bad(&fx, &grant).await, Some(3), "swapped order");

    let (grant, _) = long_trail(&fx, &t.customer).await;
    let trail = t.customer.account.id;
    fx.raw(&format!("DELETE FROM audit_links WHERE trail_account_id = '{trail}' AND seq = 2")).await;
    assert_eq!(first_bad(&fx, &grant).await, Some(2), "a link removed from the middle");

    let (grant, links) = long_trail(&fx, &t.other).await;
    let trail = t.other.account.id;
    let last = links.last().map(|e| e.seq).unwrap_or_default();
    fx.raw(&format!("DELETE FROM audit_links WHERE trail_account_id = '{trail}' AND seq = {last}")).await;
    assert_eq!(first_bad(&fx, &grant).await, Some(last), "the newest link removed");
}

async fn a_bench_seed_writes_the_planned_tree_and_every_trail_it_touched_verifies(fx: Fixture) {
    let written = std::sync::atomic::AtomicU64::new(0);
    let plan = tenantry_store::SeedPlan {
        tenants: 250,
        users: 1_000,
        password_hash: "$argon2id$seeded".into(),
        certificates_per_customer: 2,
    };
    let report = fx
        .store
        .bench_seed(&plan, &|n| {
            written.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((report.partners, report.msps, report.customers), (1, 2, 247));
    assert_eq!((report.users, report.certificates), (1_000, 494));
    assert_eq!(written.into_inner(), 1_250, "progress counts every account and user");
    let users = fx.column("SELECT id FROM users WHERE email LIKE '%.bench.test'").await;
    assert_eq!(users.len(), 1_000);
    let closure = fx.column("SELECT descendant FROM account_closure WHERE ancestor = (SELECT id FROM accounts WHERE kind = 'platform') AND depth = 3").await;
    assert_eq!(closure.len(), 247, "every customer is three below the platform");
    // The platform's, the partner's, each MSP's and each customer's trail verify.
    let firsts = fx.column("SELECT email FROM users WHERE email LIKE 'user1@%.bench.test'").await;
    assert_eq!(firsts.len(), 250);
    let mut events = 0;
    for email in firsts.iter().chain(std::iter::once(&fx.root.email.to_string())) {
        let found = fx.store.login_candidate(email).await.unwrap_or_else(|e| panic!("{e}"));
        let found = found.unwrap_or_else(|| panic!("{email}"));
        let actor = Actor { user: found.user, account: found.account };
        let verdict = fx.store.verify_trail(&audit_grant(&actor)).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(verdict.valid, "{email}: {verdict:?}");
        if actor.account.kind == AccountKind::Customer {
            events += verdict.events;
        }
    }
    assert_eq!(events, 247 + (1_000 - 3), "each customer's creation and its users' (3 staff are elsewhere)");
}

async fn the_first_checkpoint_key_stored_is_the_one_every_process_gets(fx: Fixture) {
    let key =
        |n: &str| tenantry_store::SigningKey { private_key: format!("private-{n}"), public_key: format!("public-{n}") };
    let first = fx.store.audit_signing_key(key("a")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.public_key, "public-a");
    let second = fx.store.audit_signing_key(key("b")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((second.private_key.as_str(), second.public_key.as_str()), ("private-a", "public-a"));
}
