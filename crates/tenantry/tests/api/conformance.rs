//! The served OpenAPI document against the server itself, judged by an outside property-based
//! tester (Schemathesis, pinned in `tests/schemathesis/requirements.txt` and installed on first
//! use): data the document deems valid must be accepted (bar the rules that depend on state,
//! named in `tests/schemathesis/hooks.py`), data it deems invalid refused, no answer may be a
//! 5xx, and every answer must match its documented status, content type and schema.
//!
//! It runs on each engine, twice: as a customer's administrator with the customer's objects as path values, and
//! as an MSP's administrator with its own. `TENANTRY_SCHEMATHESIS_EXAMPLES` (default 10 a phase
//! and operation) and `TENANTRY_SCHEMATHESIS_SEED` (default 7; `random` for a new one) widen it.

use crate::support::{Server, Session, test_settings};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use tenantry_store::Backend;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis")
}

/// The pinned tester, installed into `tests/schemathesis/.venv` once; `None` when that cannot be
/// done outside CI.
fn schemathesis() -> Option<PathBuf> {
    static INSTALLED: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let venv = dir().join(".venv");
            let bin = venv.join("bin/schemathesis");
            let pinned = std::fs::read_to_string(dir().join("requirements.txt")).unwrap_or_default();
            let stamp = venv.join("installed-requirements.txt");
            if bin.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == pinned) {
                return Some(bin);
            }
            let install = || -> Result<(), String> {
                let run = |cmd: &mut Command| match cmd.status() {
                    Ok(status) if status.success() => Ok(()),
                    other => Err(format!("{cmd:?}: {other:?}")),
                };
                run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
                run(Command::new(venv.join("bin/pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                    .arg(dir().join("requirements.txt")))?;
                std::fs::write(&stamp, &pinned).map_err(|e| e.to_string())
            };
            match install() {
                Ok(()) => Some(bin),
                Err(e) if std::env::var_os("CI").is_some() => panic!("installing Schemathesis failed: {e}"),
                Err(e) => {
                    eprintln!("skipping: Schemathesis could not be installed ({e})");
                    None
                }
            }
        })
        .clone()
}

/// Operations left out of the run: each would end the very sign-in the run works with, or
/// delete an object the other operations are pointed at (their only input is that id).
const LEFT_OUT: &[&str] = &["logout", "delete_account", "delete_user", "delete_collection", "delete_target"];

/// Runs the tester as `session` with `path_values`; answers its report.
fn run(bin: &Path, server: &Server, session: &Session, path_values: &[(&str, &str)], name: &str) -> String {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemathesis").join(name);
    std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("{e}"));
    let examples = std::env::var("TENANTRY_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "10".into());
    let seed = match std::env::var("TENANTRY_SCHEMATHESIS_SEED").as_deref() {
        Ok("random") => String::new(),
        Ok(seed) => format!("seed = {seed}\n"),
        Err(_) => "seed = 7\n".into(),
    };
    let cookie = session.cookie.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let parameters: String = path_values.iter().map(|(k, v)| format!("\"path.{k}\" = \"{v}\"\n")).collect();
    let config = format!(
        "{seed}[generation]\nmax-examples = {examples}\n\
         [checks.negative_data_rejection]\n\
         expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 422, 428, 429]\n\
         [auth.openapi.session]\napi_key = \"{cookie}\"\n[auth.openapi.csrf]\napi_key = \"{csrf}\"\n\
         [parameters]\n{parameters}",
        csrf = session.csrf,
    );
    let config_path = work.join("schemathesis.toml");
    std::fs::write(&config_path, config).unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new(bin);
    command
        .current_dir(&work)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", dir())
        .arg("--no-color")
        .arg("--config-file")
        .arg(&config_path)
        .args(["run", &server.url("/api/v1/openapi.json"), "--url", &server.url("")])
        .args(["--phases", "coverage,fuzzing", "--workers", "1", "--request-timeout", "60"])
        .args([
            "--checks",
            "not_a_server_error,negative_data_rejection,valid_data_is_accepted,status_code_conformance,\
             content_type_conformance,response_schema_conformance",
        ]);
    for operation in LEFT_OUT {
        command.args(["--exclude-operation-id", operation]);
    }
    let output = command.output().unwrap_or_else(|e| panic!("schemathesis: {e}"));
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    let failed = !output.status.success();
    // Its reports can be long (a request of a megabyte is written out): the summary says enough.
    let summary = report.find("= SUMMARY =").map_or(report.as_str(), |at| &report[at..]);
    assert!(!failed, "Schemathesis ({name}) found the document and the server apart:\n{}", shorten(&report));
    assert!(summary.contains("Tested: "), "no operation was tested ({name}):\n{summary}");
    report
}

/// The report with every line cut to 400 characters.
fn shorten(report: &str) -> String {
    report.lines().map(|l| l.chars().take(400).collect::<String>()).collect::<Vec<_>>().join("\n")
}

/// How many operations a report says were tested.
fn tested(report: &str) -> usize {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_default()
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_generated_client_s_valid_data_is_accepted_and_its_invalid_data_refused() {
        super::judged_on(tenantry_store::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_generated_client_s_valid_data_is_accepted_and_its_invalid_data_refused() {
        super::judged_on(tenantry_store::Backend::Postgres).await;
    }
}

async fn judged_on(backend: Backend) {
    let Some(bin) = schemathesis() else { return };
    // The defaults (https issuers, no private targets), as the document describes them.
    let mut settings = test_settings();
    settings.monitor.allow_private = false;
    settings.sso_allow_insecure_issuer = false;
    let Some(server) = Server::start_with(backend, settings).await else { return };
    let engine = format!("{backend:?}").to_lowercase();
    let tree = server.tree().await;
    let customer = &tree.customer_id;
    let (viewer, _) = server.user(&tree.customer, customer, "viewer", "viewer@globex.test").await;
    let (technician, _) = server.user(&tree.msp, &tree.msp_id, "msp_staff", "tech@acme.test").await;
    let collection =
        tree.customer.post(&format!("/api/v1/accounts/{customer}/collections"), json!({"name": "Web"})).await;
    let collection = collection.expect(201).id("/id");
    let target = json!({"hostname": "example.com", "collection_id": collection});
    let target = tree.customer.post(&format!("/api/v1/accounts/{customer}/targets"), target).await.expect(201);
    let request = json!({"subject": "Help", "message": "Our certificates"});
    let request = tree.customer.post(&format!("/api/v1/accounts/{customer}/support-requests"), request).await;
    let (target, request) = (target.id("/id"), request.expect(201).id("/id"));

    let customer_values = [
        ("id", customer.as_str()),
        ("user_id", &viewer),
        ("collection_id", &collection),
        ("target_id", &target),
        ("request_id", &request),
    ];
    let bin_for_customer = bin.clone();
    let report = tokio::task::block_in_place(|| {
        run(&bin_for_customer, &server, &tree.customer, &customer_values, &format!("{engine}-customer"))
    });
    let msp_values = [("id", tree.msp_id.as_str()), ("user_id", &technician), ("customer_id", customer.as_str())];
    let msp_report =
        tokio::task::block_in_place(|| run(&bin, &server, &tree.msp, &msp_values, &format!("{engine}-msp")));

    // Every operation but those left out was tried, and the sign-ins the runs used still work:
    // the runs reached the handlers rather than a refused credential.
    let documented: serde_json::Value = serde_json::from_str(&tenantry_server::openapi_json()).unwrap_or_default();
    let operations: usize =
        documented["paths"].as_object().map_or(0, |p| p.values().map(|o| o.as_object().map_or(0, |o| o.len())).sum());
    assert_eq!(tested(&report), operations - LEFT_OUT.len(), "{}", shorten(&report));
    assert_eq!(tested(&msp_report), operations - LEFT_OUT.len());
    tree.customer.get("/api/v1/me").await.expect(200);
    tree.msp.get("/api/v1/me").await.expect(200);
    // The fixtures the path values point at are still there: the checks judged real objects.
    tree.customer.get(&format!("/api/v1/accounts/{customer}/users/{viewer}")).await.expect(200);
    tree.msp.get(&format!("/api/v1/accounts/{}/users/{technician}", tree.msp_id)).await.expect(200);
}
