//! `/console/accounts/{id}/security`: an account's sign-in settings for those who manage them
//! (its own administrators, its MSP's admin for a customer): the policy (mandatory single
//! sign-on, required MFA, trusted networks) and the OpenID Connect provider, with a connection
//! test. All through the API.

use super::partner::Console;
use super::{Account, Flash, Form, Frame, Problem, done, field, page, refused};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tenantry_domain::authz::Permission;

pub fn routes() -> Router<crate::app::App> {
    Router::new()
        .route("/console/accounts/{id}/security", get(show))
        .route("/console/accounts/{id}/security/policy", post(save_policy))
        .route("/console/accounts/{id}/security/sso", post(save_sso))
        .route("/console/accounts/{id}/security/test", post(test))
}

/// The provider settings as the API serves them.
#[derive(Deserialize, Default)]
struct Provider {
    enabled: bool,
    issuer: String,
    client_id: String,
    client_secret_set: bool,
    allowed_email_domains: Vec<String>,
    jit_provisioning: bool,
    default_role: String,
}

#[derive(Deserialize)]
struct Tested {
    ok: bool,
    error: Option<String>,
    authorization_endpoint: Option<String>,
}

#[derive(Template)]
#[template(path = "partner/security.html")]
struct SecurityPage {
    frame: Frame,
    account: Account,
    provider: Provider,
    roles: Vec<&'static str>,
    callback_url: String,
    networks: String,
    tested: Option<Tested>,
}

async fn show(c: Console, Path(id): Path<String>, Query(params): Query<crate::routes::Params>) -> Response {
    render(c, &id, Flash::done(&params), None).await
}

async fn render(c: Console, id: &str, flash: Flash, tested: Option<Tested>) -> Response {
    let account: Account = match c.api.get(&format!("/accounts/{}", super::encode(id))).await {
        Ok(a) => a,
        Err(problem) => return refused(problem, "/console"),
    };
    if !c.held(&account.id.to_string()).await.contains(&Permission::SsoManage) {
        let problem = Problem { status: 403, code: "forbidden".into(), ..Problem::default() };
        return refused(problem, &format!("/console/accounts/{}", account.id));
    }
    let provider: Provider = c.api.get(&format!("/accounts/{}/sso", account.id)).await.unwrap_or_default();
    let title = format!("Sign-in security · {}", account.name);
    page(&SecurityPage {
        frame: c.frame("accounts", &title, flash),
        roles: super::partner::roles(account.kind),
        callback_url: format!("{}/auth/sso/callback", c.public_url),
        networks: account.allowed_networks.join("\n"),
        provider,
        tested,
        account,
    })
}

fn back(id: &str) -> String {
    format!("/console/accounts/{}/security", super::encode(id))
}

async fn save_policy(c: Console, Path(id): Path<String>, axum::Form(form): axum::Form<Form>) -> Response {
    let networks: Vec<&str> = field(&form, "allowed_networks").split_whitespace().collect();
    let body = json!({
        "sso_mandatory": form.contains_key("sso_mandatory"),
        "mfa_required": form.contains_key("mfa_required"),
        "allowed_networks": networks,
    });
    match c.act(&form).send::<Value>(Method::PATCH, &format!("/accounts/{}", super::encode(&id)), body).await {
        Ok(_) => done(&back(&id), "saved"),
        Err(problem) => render(c, &id, Flash::error(&problem), None).await,
    }
}

async fn save_sso(c: Console, Path(id): Path<String>, axum::Form(form): axum::Form<Form>) -> Response {
    let domains: Vec<&str> = field(&form, "allowed_email_domains")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|d| !d.is_empty())
        .collect();
    let mut body = json!({
        "enabled": form.contains_key("enabled"),
        "issuer": field(&form, "issuer"),
        "client_id": field(&form, "client_id"),
        "allowed_email_domains": domains,
        "jit_provisioning": form.contains_key("jit_provisioning"),
        "default_role": field(&form, "default_role"),
    });
    // An empty secret field keeps the stored secret.
    if !field(&form, "client_secret").is_empty() {
        body["client_secret"] = json!(field(&form, "client_secret"));
    }
    match c.act(&form).send::<Value>(Method::PUT, &format!("/accounts/{}/sso", super::encode(&id)), body).await {
        Ok(_) => done(&back(&id), "saved"),
        Err(problem) => render(c, &id, Flash::error(&problem), None).await,
    }
}

async fn test(c: Console, Path(id): Path<String>, axum::Form(form): axum::Form<Form>) -> Response {
    let path = format!("/accounts/{}/sso/test", super::encode(&id));
    match c.act(&form).send::<Tested>(Method::POST, &path, json!({})).await {
        Ok(tested) => render(c, &id, Flash::default(), Some(tested)).await,
        Err(problem) => render(c, &id, Flash::error(&problem), None).await,
    }
}
