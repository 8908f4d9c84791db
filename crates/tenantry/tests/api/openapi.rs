//! The served OpenAPI document is generated from the handlers; `docs/openapi.json` is its
//! snapshot, so a change to the API shows up as a change to that file in review.
//! `UPDATE_OPENAPI=1 cargo test openapi` rewrites the snapshot.

use crate::support::Server;
use serde_json::Value;
use tenantry_store::Backend;

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

#[tokio::test]
async fn the_served_openapi_document_matches_the_docs_snapshot() {
    let Some(server) = Server::start(Backend::Sqlite).await else { return };
    let served = server.anon("GET", "/api/v1/openapi.json", None).await.expect(200);
    assert_eq!(served.body["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true));
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(SNAPSHOT, format!("{}\n", served.text.trim_end())).unwrap_or_else(|e| panic!("{e}"));
    }
    let snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(SNAPSHOT).unwrap_or_default()).unwrap_or_default();
    assert!(
        served.body == snapshot,
        "docs/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p tenantry --test api openapi` and review the diff"
    );
}

#[tokio::test]
async fn every_contract_path_of_this_release_is_documented_with_its_methods() {
    let document: Value = serde_json::from_str(&tenantry_server::openapi_json()).unwrap_or_default();
    let expected = [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/reauth", "post"),
        ("/api/v1/auth/activate", "post"),
        ("/api/v1/auth/password", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/accounts", "get"),
        ("/api/v1/accounts", "post"),
        ("/api/v1/accounts/{id}", "get"),
        ("/api/v1/accounts/{id}", "patch"),
        ("/api/v1/accounts/{id}", "delete"),
        ("/api/v1/accounts/{id}/restore", "post"),
        ("/api/v1/accounts/{id}/users", "get"),
        ("/api/v1/accounts/{id}/users", "post"),
        ("/api/v1/accounts/{id}/users/{user_id}", "get"),
        ("/api/v1/accounts/{id}/users/{user_id}", "patch"),
        ("/api/v1/accounts/{id}/users/{user_id}", "delete"),
        ("/api/v1/accounts/{id}/audit", "get"),
        ("/api/v1/accounts/{id}/audit/export", "get"),
        ("/api/v1/accounts/{id}/audit/verify", "get"),
        ("/api/v1/accounts/{id}/users/{user_id}/assignments", "get"),
        ("/api/v1/accounts/{id}/users/{user_id}/assignments/{customer_id}", "put"),
        ("/api/v1/accounts/{id}/users/{user_id}/assignments/{customer_id}", "delete"),
        ("/api/v1/accounts/{id}/access-sessions", "post"),
        ("/api/v1/accounts/{id}/access-sessions", "get"),
        ("/api/v1/access-sessions", "get"),
        ("/api/v1/access-sessions/{session_id}", "delete"),
        ("/api/v1/accounts/{id}/api-tokens", "get"),
        ("/api/v1/accounts/{id}/api-tokens", "post"),
        ("/api/v1/accounts/{id}/api-tokens/{token_id}", "get"),
        ("/api/v1/accounts/{id}/api-tokens/{token_id}", "delete"),
        ("/api/v1/accounts/{id}/collections", "get"),
        ("/api/v1/accounts/{id}/collections", "post"),
        ("/api/v1/accounts/{id}/collections/{collection_id}", "get"),
        ("/api/v1/accounts/{id}/collections/{collection_id}", "patch"),
        ("/api/v1/accounts/{id}/collections/{collection_id}", "delete"),
    ];
    for (path, method) in expected {
        assert!(document["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
    assert!(document["components"]["schemas"]["Problem"].is_object());
    assert!(document["components"]["securitySchemes"]["session"].is_object());
}
