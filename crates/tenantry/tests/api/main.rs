//! API tests: the real server on a real TCP port 0, driven over HTTP, on SQLite always and on
//! PostgreSQL whenever `TENANTRY_TEST_POSTGRES_URL` is set (always under CI). The start-up tests
//! run the `tenantry` binary itself.
#![allow(
    clippy::disallowed_methods,
    reason = "fixtures are certificates valid against the wall clock, and unique names"
)]

mod accounts;
mod agents;
mod audit;
mod auth;
mod branding;
mod browser;
mod certificates;
mod conformance;
mod console;
mod crash;
mod delegation;
mod hardening;
mod idp;
mod input;
mod isolation;
mod mfa;
mod networks;
mod openapi;
mod operations;
mod signins;
mod single_sign_on;
mod sso;
mod startup;
mod subscription;
mod support;
mod support_requests;
mod tamper;
mod targets;
mod two_processes;
mod users;
mod webhooks;

/// Declares each test once per backend: `…::sqlite::name` and `…::postgres::name`.
#[macro_export]
macro_rules! api_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(server) = $crate::support::Server::start(tenantry_store::Backend::Sqlite).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(server) = $crate::support::Server::start(tenantry_store::Backend::Postgres).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
    };
}

/// Declares each test once per backend with a fresh database URL of its own (for tests that run
/// the binary): `…::sqlite::name` and `…::postgres::name`.
#[macro_export]
macro_rules! api_tests_with_url {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("api");
                    let backend = tenantry_store::Backend::Sqlite;
                    if let Some(url) = tenantry_store::testing::fresh_database(backend, &dir).await {
                        super::$name(backend, url).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("api");
                    let backend = tenantry_store::Backend::Postgres;
                    if let Some(url) = tenantry_store::testing::fresh_database(backend, &dir).await {
                        super::$name(backend, url).await;
                    }
                }
            )*
        }
    };
}
