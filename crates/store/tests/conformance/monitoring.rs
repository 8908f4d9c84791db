//! Monitored targets: the scheduler's leases hand each due target to exactly one owner, even
//! across processes sharing the database, and a lost lease stores nothing.

use crate::support::Fixture;
use std::collections::HashSet;
use tenantry_domain::authz::{Grant, Relation, cap};
use tenantry_domain::{Clock, TlsCheck};
use tenantry_store::{LeasedTarget, NewTarget, Store};

crate::conformance!(
    concurrent_leases_from_two_processes_hand_each_due_target_to_exactly_one_owner,
    a_lease_blocks_others_until_it_ends_and_a_lost_lease_stores_nothing,
    released_leases_go_to_another_owner_at_once_and_the_stopped_check_stores_nothing,
);

/// `count` targets (at most the trial plan's 10) in the tree's customer; answers the store and
/// the customer's grant to read them.
async fn targets(fx: &Fixture, count: u16) -> (Store, Grant<cap::ResourceRead>) {
    let t = fx.tree().await;
    let write = t.customer.grant(cap::ResourceWrite, &t.customer.account, Relation::Own);
    let collection =
        fx.store.create_collection(&write, "Edge".into(), &t.customer.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    for port in 1..=count {
        let new = NewTarget { collection_id: collection.id, hostname: "edge.globex.test".into(), port };
        fx.store.create_target(&write, new, &t.customer.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    (fx.store.clone(), t.customer.grant(cap::ResourceRead, &t.customer.account, Relation::Own))
}

fn found(at: time::OffsetDateTime) -> TlsCheck {
    TlsCheck {
        checked_at: at,
        not_after: Some(at + time::Duration::days(60)),
        subject: None,
        issuer: None,
        error: None,
    }
}

async fn concurrent_leases_from_two_processes_hand_each_due_target_to_exactly_one_owner(fx: Fixture) {
    let (store, _) = targets(&fx, 10).await;
    // A second process: its own pool on the same database.
    let other = tenantry_store::connect(&fx.url, fx.clock.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let until = fx.clock.now() + time::Duration::minutes(10);
    let mut workers = Vec::new();
    for n in 0..4 {
        let store = if n % 2 == 0 { store.clone() } else { other.clone() };
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.lease_due_targets(&format!("worker-{n}"), until, 2).await?;
                if batch.is_empty() {
                    return Ok::<_, tenantry_store::StoreError>(mine);
                }
                mine.extend(batch.into_iter().map(|t: LeasedTarget| t.id));
            }
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}")));
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!((all.len(), distinct.len()), (10, 10), "every due target leased once, none twice");
}

async fn a_lease_blocks_others_until_it_ends_and_a_lost_lease_stores_nothing(fx: Fixture) {
    let (store, read) = targets(&fx, 1).await;
    let soon = fx.clock.now() + time::Duration::minutes(10);
    let first = store.lease_due_targets("a", soon, 10).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.len(), 1);
    assert!(store.lease_due_targets("b", soon, 10).await.unwrap_or_else(|e| panic!("{e}")).is_empty());
    // "a" stalls past its lease; "b" takes the target over and finishes first.
    fx.clock.advance(time::Duration::minutes(11));
    let later = fx.clock.now() + time::Duration::minutes(10);
    let taken = store.lease_due_targets("b", later, 10).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(taken, first);
    let next = fx.clock.now() + time::Duration::hours(6);
    let stored = store.complete_lease("b", &taken[0], found(fx.clock.now()), next).await;
    assert!(stored.unwrap_or_else(|e| panic!("{e}")));
    let stale = store.complete_lease("a", &first[0], found(fx.clock.now()), fx.clock.now()).await;
    assert!(!stale.unwrap_or_else(|e| panic!("{e}")), "a lost lease stores nothing");
    // Checked and not due again until `next`.
    assert!(store.lease_due_targets("c", later, 10).await.unwrap_or_else(|e| panic!("{e}")).is_empty());
    fx.clock.advance(time::Duration::hours(6));
    let again =
        store.lease_due_targets("c", later + time::Duration::hours(6), 10).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.len(), 1);
    // The host is down this time: the last certificate known stays, with the error beside it.
    let down = TlsCheck {
        checked_at: fx.clock.now(),
        not_after: None,
        subject: None,
        issuer: None,
        error: Some("no answer".into()),
    };
    let next = fx.clock.now() + time::Duration::hours(6);
    assert!(store.complete_lease("c", &again[0], down, next).await.unwrap_or_else(|e| panic!("{e}")));
    let kept = store.get_target(&read, again[0].id).await.unwrap_or_else(|e| panic!("{e}"));
    let last = kept.last_check.unwrap_or_else(|| panic!("no check"));
    assert_eq!(last.error.as_deref(), Some("no answer"));
    assert!(last.not_after.is_some(), "the expiry known from the earlier check is kept");
}

async fn released_leases_go_to_another_owner_at_once_and_the_stopped_check_stores_nothing(fx: Fixture) {
    let (store, _) = targets(&fx, 3).await;
    let until = fx.clock.now() + time::Duration::minutes(10);
    let held = store.lease_due_targets("stopping", until, 2).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held.len(), 2);
    let other = store.lease_due_targets("other", until, 1).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(other.len(), 1, "the third target");
    assert_eq!(store.release_leases("stopping").await.unwrap_or_else(|e| panic!("{e}")), 2);
    let taken = store.lease_due_targets("next", until, 10).await.unwrap_or_else(|e| panic!("{e}"));
    let mut ids: Vec<_> = taken.iter().map(|t| t.id).collect();
    let mut expected: Vec<_> = held.iter().map(|t| t.id).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected, "the released targets, at once, and not the one another owner holds");
    let late = store.complete_lease("stopping", &held[0], found(fx.clock.now()), until).await;
    assert!(!late.unwrap_or_else(|e| panic!("{e}")), "a check finishing after its lease was given back stores nothing");
    assert_eq!(store.release_leases("stopping").await.unwrap_or_else(|e| panic!("{e}")), 0);
}
