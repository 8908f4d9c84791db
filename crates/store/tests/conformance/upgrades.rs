//! Upgrades: a database made at every past migration version and filled with the data that version
//! could hold migrates to the head with that data intact, its trails verifying, and the store
//! working on it. The past schemas come from the migrations themselves, and the data from today's
//! code, cut down to the tables and columns each version had; so a new migration is tested from
//! every version before it without a fixture of its own.

use crate::support::{Actor, Fixture};
use sqlx::Connection;
use tenantry_domain::Clock;
use tenantry_domain::authz::{Relation, cap};
use tenantry_store::testing::{fresh_database, migrate_to, migration_versions};
use tenantry_store::{Backend, CertificateFilter, NewCertificate, NewTarget, PageRequest, Store};

crate::conformance!(a_database_made_at_every_past_version_migrates_to_the_head_with_its_data_intact);

/// Today's data: the tree, a collection with a certificate and a target, a support request.
async fn fill(fx: &Fixture) -> Actor {
    let t = fx.tree().await;
    let boss = t.customer;
    let write = boss.grant(cap::ResourceWrite, &boss.account, Relation::Own);
    let collection =
        fx.store.create_collection(&write, "Web".into(), &boss.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    let now = fx.clock.now();
    let certificate = NewCertificate {
        subject: "CN=shop.globex.test".into(),
        sans: vec!["shop.globex.test".into()],
        issuer: "CN=Globex Issuing CA".into(),
        serial: "0a".into(),
        not_before: now,
        not_after: now + time::Duration::days(20),
        fingerprint_sha256: "cd".repeat(32),
        key_type: "EC".into(),
        key_bits: 256,
        pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
    };
    fx.store
        .import_certificates(&write, collection.id, vec![certificate], &boss.ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let target = NewTarget { collection_id: collection.id, hostname: "shop.globex.test".into(), port: 443 };
    fx.store.create_target(&write, target, &boss.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    let support = boss.grant(cap::SupportCreate, &boss.account, Relation::Own);
    fx.store
        .create_support_request(&support, "Renewal".into(), "Please renew the shop's certificate.".into(), &boss.ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    boss
}

async fn a_database_made_at_every_past_version_migrates_to_the_head_with_its_data_intact(fx: Fixture) {
    let backend = Backend::of_url(&fx.url).unwrap_or_else(|e| panic!("{e}"));
    let boss = fill(&fx).await;
    let trails = fx.store.verify_every_trail().await.unwrap_or_else(|e| panic!("{e}")).len();
    let versions = migration_versions(backend);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("upgrades");
    for &version in &versions[..versions.len() - 1] {
        let url = fresh_database(backend, &dir).await.unwrap_or_else(|| panic!("no database"));
        migrate_to(&url, version).await.unwrap_or_else(|e| panic!("version {version}: {e}"));
        let copied = copy(&fx.url, &url).await;
        assert!(copied.iter().any(|(t, _)| t == "audit_links"), "version {version}: {copied:?}");
        let store = tenantry_store::connect(&url, fx.clock.clone())
            .await
            .unwrap_or_else(|e| panic!("from version {version} to the head: {e}"));
        for (table, columns) in &copied {
            let missing = missing_rows(&fx.url, &url, table, columns).await;
            assert_eq!(missing, 0, "from version {version}: {missing} rows of {table} ({columns:?}) changed or lost");
        }
        works(&store, &boss, version, trails).await;
    }
}

/// The upgraded store: every trail verifies, the search keys of old certificates are filled in,
/// and an old user's new change extends the old chains.
async fn works(store: &Store, boss: &Actor, version: i64, trails: usize) {
    let verified = store.verify_every_trail().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.len(), trails, "from version {version}: every trail");
    assert!(verified.iter().all(|(_, v)| v.valid), "from version {version}: {verified:?}");
    let read = boss.grant(cap::ResourceRead, &boss.account, Relation::Own);
    let page = PageRequest { after: None, limit: 10 };
    let filter = CertificateFilter { q: Some("SHOP.GLOBEX".into()), ..CertificateFilter::default() };
    let found = store.list_certificates(&read, &filter, &page).await.unwrap_or_else(|e| panic!("{e}"));
    let expected = usize::from(version >= 3);
    assert_eq!(found.items.len(), expected, "from version {version}: certificates found by name");
    let write = boss.grant(cap::ResourceWrite, &boss.account, Relation::Own);
    store
        .create_collection(&write, format!("After the upgrade from {version}"), &boss.ctx())
        .await
        .unwrap_or_else(|e| panic!("from version {version}: {e}"));
    let verified = store.verify_every_trail().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(verified.iter().all(|(_, v)| v.valid), "from version {version}, after a change: {verified:?}");
}

/// Copies every table of `from` that `to` has, in the columns both have (foreign keys unchecked:
/// the rows are whole, the order is not); answers the tables and columns copied.
async fn copy(from: &str, to: &str) -> Vec<(String, Vec<String>)> {
    let mut copied = Vec::new();
    match Backend::of_url(from).unwrap_or_else(|e| panic!("{e}")) {
        Backend::Sqlite => {
            let mut c = sqlite_beside(to, from).await;
            for table in sqlite_tables(&mut c).await {
                let columns = sqlite_shared_columns(&mut c, &table).await;
                if columns.is_empty() {
                    continue;
                }
                let seeded = format!("SELECT count(*) FROM main.\"{table}\"");
                let seeded: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(seeded))
                    .fetch_one(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                // A table the migrations put rows in (a counter's first row) is theirs to fill.
                if seeded > 0 {
                    continue;
                }
                let list = quoted(&columns);
                let sql = format!("INSERT INTO main.\"{table}\" ({list}) SELECT {list} FROM src.\"{table}\"");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{table}: {e}"));
                copied.push((table, columns));
            }
        }
        Backend::Postgres => {
            let mut src = sqlx::PgConnection::connect(from).await.unwrap_or_else(|e| panic!("{e}"));
            let mut dst = sqlx::PgConnection::connect(to).await.unwrap_or_else(|e| panic!("{e}"));
            sqlx::raw_sql("SET session_replication_role = replica")
                .execute(&mut dst)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            for table in pg_tables(&mut src).await {
                let theirs = pg_columns(&mut dst, &table).await;
                let columns: Vec<String> =
                    pg_columns(&mut src, &table).await.into_iter().filter(|c| theirs.contains(c)).collect();
                if columns.is_empty() {
                    continue;
                }
                let seeded = format!("SELECT count(*) FROM \"{table}\"");
                let seeded: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(seeded))
                    .fetch_one(&mut dst)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                if seeded > 0 {
                    continue;
                }
                let list = quoted(&columns);
                let data = pg_copy_out(&mut src, &format!("COPY \"{table}\" ({list}) TO STDOUT")).await;
                let mut sink = dst
                    .copy_in_raw(&format!("COPY \"{table}\" ({list}) FROM STDIN"))
                    .await
                    .unwrap_or_else(|e| panic!("{table}: {e}"));
                sink.send(data).await.unwrap_or_else(|e| panic!("{table}: {e}"));
                sink.finish().await.unwrap_or_else(|e| panic!("{table}: {e}"));
                copied.push((table, columns));
            }
        }
    }
    copied
}

/// How many of `from`'s rows of `table`, in `columns`, `to` does not hold.
async fn missing_rows(from: &str, to: &str, table: &str, columns: &[String]) -> usize {
    let list = quoted(columns);
    match Backend::of_url(from).unwrap_or_else(|e| panic!("{e}")) {
        Backend::Sqlite => {
            let mut c = sqlite_beside(to, from).await;
            let sql = format!(
                "SELECT count(*) FROM (SELECT {list} FROM src.\"{table}\" EXCEPT SELECT {list} FROM main.\"{table}\")"
            );
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut c).await.unwrap_or_else(|e| panic!("{e}"));
            usize::try_from(n).unwrap_or_default()
        }
        Backend::Postgres => {
            let rows = |url: &str| {
                let sql = format!("COPY (SELECT {list} FROM \"{table}\") TO STDOUT");
                let url = url.to_owned();
                async move {
                    let mut c = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
                    let text = String::from_utf8(pg_copy_out(&mut c, &sql).await).unwrap_or_default();
                    text.lines().map(str::to_owned).collect::<std::collections::HashSet<_>>()
                }
            };
            let (theirs, ours) = (rows(from).await, rows(to).await);
            theirs.difference(&ours).count()
        }
    }
}

fn quoted(columns: &[String]) -> String {
    columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
}

/// A connection to the SQLite database `main_url` with `src_url`'s attached as `src`.
async fn sqlite_beside(main_url: &str, src_url: &str) -> sqlx::SqliteConnection {
    use std::str::FromStr;
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str(main_url).unwrap_or_else(|e| panic!("{e}")).foreign_keys(false);
    let mut c = sqlx::SqliteConnection::connect_with(&options).await.unwrap_or_else(|e| panic!("{e}"));
    let src = src_url.trim_start_matches("sqlite://").to_owned();
    sqlx::query("ATTACH DATABASE $1 AS src").bind(src).execute(&mut c).await.unwrap_or_else(|e| panic!("{e}"));
    c
}

async fn sqlite_tables(c: &mut sqlx::SqliteConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM src.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut *c)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn sqlite_shared_columns(c: &mut sqlx::SqliteConnection, table: &str) -> Vec<String> {
    let mut of = Vec::new();
    for schema in ["src", "main"] {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1, $2) ORDER BY cid")
            .bind(table)
            .bind(schema)
            .fetch_all(&mut *c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        of.push(names);
    }
    of[0].iter().filter(|c| of[1].contains(c)).cloned().collect()
}

async fn pg_tables(c: &mut sqlx::PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations' ORDER BY table_name",
    )
    .fetch_all(&mut *c)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn pg_columns(c: &mut sqlx::PgConnection, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *c)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn pg_copy_out(c: &mut sqlx::PgConnection, sql: &str) -> Vec<u8> {
    use futures_util::TryStreamExt;
    let stream = c.copy_out_raw(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let chunks: Vec<_> = stream.try_collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    chunks.concat()
}
