//! Backups of the embedded database: a snapshot taken while writes go on is consistent and passes
//! its checks; a tampered one fails them and is not restored; PostgreSQL is left to its own tools.

use crate::support::Fixture;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tenantry_domain::authz::{Relation, cap};
use tenantry_domain::{Clock, SystemClock};
use tenantry_store::{Backend, backup};

fn beside(url: &str, name: &str) -> PathBuf {
    let path = Path::new(url.trim_start_matches("sqlite://"));
    path.with_file_name(format!("{}-{name}", path.file_name().and_then(|n| n.to_str()).unwrap_or_default()))
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_snapshots_taken_during_writes_pass_their_checks_and_restore_whole() {
    let Some(fx) = Fixture::new(Backend::Sqlite).await else { return };
    let t = fx.tree().await;
    let write = t.customer.grant(cap::ResourceWrite, &t.customer.account, Relation::Own);
    let (store, ctx) = (fx.store.clone(), t.customer.ctx());
    let writer = tokio::spawn(async move {
        for n in 0..200 {
            store.create_collection(&write, format!("c{n}"), &ctx).await.unwrap_or_else(|e| panic!("{e}"));
        }
    });
    let mut snapshots = Vec::new();
    for n in 0..3 {
        let file = beside(&fx.url, &format!("backup-{n}"));
        let checked = backup::backup(&fx.url, &file, clock()).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(checked.is_good(), "a snapshot during writes: {checked:?}");
        snapshots.push((file, checked.events()));
    }
    writer.await.unwrap_or_else(|e| panic!("{e}"));
    let (file, events) = snapshots.pop().unwrap_or_else(|| panic!("no snapshot"));
    assert!(backup::backup(&fx.url, &file, clock()).await.is_err(), "a backup never overwrites");
    let target = beside(&fx.url, "restored.db");
    let url = format!("sqlite://{}", target.display());
    let restored = backup::restore(&file, &url, clock()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(restored.is_good());
    assert_eq!(restored.events(), events, "the restored database holds the snapshot's events");
    assert!(backup::restore(&file, &url, clock()).await.is_err(), "a restore needs an empty path");
    let store = tenantry_store::connect(&url, clock()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.verify_every_trail().await.unwrap_or_else(|e| panic!("{e}")).len(), restored.trails.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_tampered_backup_fails_its_checks_and_is_not_restored() {
    let Some(fx) = Fixture::new(Backend::Sqlite).await else { return };
    fx.tree().await;
    let file = beside(&fx.url, "backup");
    assert!(backup::backup(&fx.url, &file, clock()).await.unwrap_or_else(|e| panic!("{e}")).is_good());
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&file);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(
        "UPDATE audit_events SET actor_email = 'mallory@evil.test' WHERE rowid = (SELECT min(rowid) FROM audit_events)",
    )
    .execute(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    pool.close().await;
    let checked = backup::check(&file, clock()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!checked.is_good(), "an edited event breaks its trail's chain");
    let target = beside(&fx.url, "restored.db");
    let refused = backup::restore(&file, &format!("sqlite://{}", target.display()), clock()).await;
    assert!(refused.is_err(), "a backup that fails its checks is not restored");
    let dir = target.parent().unwrap_or_else(|| panic!("no folder"));
    let stem = target.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(&stem))
        .collect();
    assert!(left.is_empty(), "nothing is left behind: {left:?}");
}

#[tokio::test]
async fn postgres_backups_are_left_to_its_own_tools() {
    let refused = backup::backup("postgres://u@h/db", Path::new("x.db"), clock()).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("pg_dump")));
}
