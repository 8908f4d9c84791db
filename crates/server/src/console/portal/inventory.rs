//! The portal's inventory pages: collections, certificates, agents and monitored domains.

use super::{Params, Portal, id};
use crate::console::{Flash, Form, Frame, List, Problem, done, field, optional, page, query, refused};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tenantry_domain::Permission;

// --- collections ---

#[derive(Deserialize, Clone)]
struct CollectionRow {
    id: String,
    name: String,
    created_at: String,
}

#[derive(Template)]
#[template(path = "portal/collections.html")]
struct CollectionsPage {
    frame: Frame,
    collections: Vec<CollectionRow>,
    can_write: bool,
    action: String,
}

pub(super) async fn collections(p: Portal, Query(params): Query<Params>) -> Response {
    collections_page(p, Flash::done(&params)).await
}

pub(super) async fn collections_page(p: Portal, flash: Flash) -> Response {
    match p.list::<CollectionRow>("/collections").await {
        Ok(collections) => page(&CollectionsPage {
            frame: p.frame("collections", "Collections", flash),
            collections,
            can_write: p.can(Permission::ResourceWrite),
            action: p.here("/collections"),
        }),
        Err(problem) => refused(problem, &p.base),
    }
}

pub(super) async fn create_collection(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    match p.act(&form).send::<Value>(Method::POST, &p.path("/collections"), json!({"name": field(&form, "name")})).await
    {
        Ok(_) => done(&p.here("/collections"), "created"),
        Err(problem) => collections_page(p, Flash::error(&problem)).await,
    }
}

// --- certificates ---

#[derive(Deserialize, Clone)]
struct CertificateRow {
    id: String,
    subject: String,
    sans: Vec<String>,
    issuer: String,
    not_after: String,
}

#[derive(Template)]
#[template(path = "portal/certificates.html")]
struct CertificatesPage {
    frame: Frame,
    certificates: Vec<CertificateRow>,
    collections: Vec<CollectionRow>,
    can_write: bool,
    base: String,
    q: String,
    next: Option<String>,
}

pub(super) async fn certificates(p: Portal, Query(params): Query<Params>) -> Response {
    certificates_page(p, Flash::done(&params), &params).await
}

pub(super) async fn certificates_page(p: Portal, flash: Flash, params: &Params) -> Response {
    let q = params.get("q").cloned().unwrap_or_default();
    let cursor = params.get("cursor").cloned().unwrap_or_default();
    let path = p.path(&format!("/certificates{}", query(&[("q", &q), ("cursor", &cursor), ("limit", "100")])));
    let listed: List<CertificateRow> = match p.api.get(&path).await {
        Ok(l) => l,
        Err(problem) => return refused(problem, &p.base),
    };
    let collections = p.list::<CollectionRow>("/collections").await.unwrap_or_default();
    let next =
        listed.next_cursor.map(|n| format!("{}{}", p.here("/certificates"), query(&[("q", &q), ("cursor", &n)])));
    page(&CertificatesPage {
        frame: p.frame("certificates", "Certificates", flash),
        certificates: listed.items,
        collections,
        can_write: p.can(Permission::ResourceWrite),
        base: p.base.clone(),
        q,
        next,
    })
}

pub(super) async fn import(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let path = p.path(&format!("/collections/{}/certificates", crate::console::encode(field(&form, "collection_id"))));
    let pem = form.get("pem").cloned().unwrap_or_default().into_bytes();
    let reply = p.act(&form).call(Method::POST, &path, Some(("application/x-pem-file", pem))).await;
    if reply.status.is_success() {
        return done(&p.here("/certificates"), "imported");
    }
    let problem: Problem = serde_json::from_value(reply.body).unwrap_or_default();
    certificates_page(p, Flash::error(&problem), &Params::new()).await
}

pub(super) async fn delete_certificate(
    p: Portal,
    Path(params): Path<Params>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let path = p.path(&format!("/certificates/{}", id(&params, "cid")));
    match p.act(&form).call(Method::DELETE, &path, None).await {
        r if r.status.is_success() => done(&p.here("/certificates"), "deleted"),
        r => {
            certificates_page(p, Flash::error(&serde_json::from_value(r.body).unwrap_or_default()), &Params::new())
                .await
        }
    }
}

// --- agents ---

#[derive(Deserialize, Clone)]
struct AgentRow {
    id: String,
    name: String,
    #[serde(default)]
    last_seen_at: Option<String>,
    #[serde(default)]
    last_hostname: Option<String>,
    certificate_count: i64,
    #[serde(default)]
    revoked_at: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/agents.html")]
struct AgentsPage {
    frame: Frame,
    agents: Vec<AgentRow>,
    collections: Vec<CollectionRow>,
    can_write: bool,
    base: String,
    token: Option<String>,
}

pub(super) async fn agents(p: Portal, Query(params): Query<Params>) -> Response {
    agents_page(p, Flash::done(&params), None).await
}

pub(super) async fn agents_page(p: Portal, flash: Flash, token: Option<String>) -> Response {
    let agents = match p.list::<AgentRow>("/agents").await {
        Ok(a) => a,
        Err(problem) => return refused(problem, &p.base),
    };
    let collections = p.list::<CollectionRow>("/collections").await.unwrap_or_default();
    page(&AgentsPage {
        frame: p.frame("agents", "Agents", flash),
        agents,
        collections,
        can_write: p.can(Permission::ResourceWrite),
        base: p.base.clone(),
        token,
    })
}

pub(super) async fn register_agent(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({"name": field(&form, "name"), "collection_id": field(&form, "collection_id")});
    match p.act(&form).send::<Value>(Method::POST, &p.path("/agents"), body).await {
        Ok(created) => {
            let token = created["token"].as_str().map(str::to_owned);
            agents_page(p, Flash { notice: Some("Agent registered.".into()), error: None }, token).await
        }
        Err(problem) => agents_page(p, Flash::error(&problem), None).await,
    }
}

pub(super) async fn revoke_agent(
    p: Portal,
    Path(params): Path<Params>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let path = p.path(&format!("/agents/{}", id(&params, "aid")));
    match p.act(&form).call(Method::DELETE, &path, None).await {
        r if r.status.is_success() => done(&p.here("/agents"), "revoked"),
        r => agents_page(p, Flash::error(&serde_json::from_value(r.body).unwrap_or_default()), None).await,
    }
}

// --- monitored domains ---

#[derive(Deserialize, Clone)]
struct TargetRow {
    id: String,
    hostname: String,
    port: u16,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    days_remaining: Option<i64>,
    #[serde(default)]
    not_after: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    checked_at: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/targets.html")]
struct TargetsPage {
    frame: Frame,
    targets: Vec<TargetRow>,
    collections: Vec<CollectionRow>,
    can_write: bool,
    base: String,
}

pub(super) async fn targets(p: Portal, Query(params): Query<Params>) -> Response {
    targets_page(p, Flash::done(&params)).await
}

pub(super) async fn targets_page(p: Portal, flash: Flash) -> Response {
    let targets = match p.list::<TargetRow>("/targets").await {
        Ok(t) => t,
        Err(problem) => return refused(problem, &p.base),
    };
    let collections = p.list::<CollectionRow>("/collections").await.unwrap_or_default();
    page(&TargetsPage {
        frame: p.frame("targets", "Monitored domains", flash),
        targets,
        collections,
        can_write: p.can(Permission::ResourceWrite),
        base: p.base.clone(),
    })
}

pub(super) async fn create_target(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let port = field(&form, "port").parse::<i64>().map(Value::from).unwrap_or_else(|_| optional(&form, "port"));
    let body =
        json!({"hostname": field(&form, "hostname"), "port": port, "collection_id": field(&form, "collection_id")});
    match p.act(&form).send::<Value>(Method::POST, &p.path("/targets"), body).await {
        Ok(_) => done(&p.here("/targets"), "created"),
        Err(problem) => targets_page(p, Flash::error(&problem)).await,
    }
}

pub(super) async fn check_target(
    p: Portal,
    Path(params): Path<Params>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let path = p.path(&format!("/targets/{}/check", id(&params, "tid")));
    match p.act(&form).send::<Value>(Method::POST, &path, json!({})).await {
        Ok(_) => done(&p.here("/targets"), "checked"),
        Err(problem) => targets_page(p, Flash::error(&problem)).await,
    }
}

pub(super) async fn delete_target(
    p: Portal,
    Path(params): Path<Params>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let path = p.path(&format!("/targets/{}", id(&params, "tid")));
    match p.act(&form).call(Method::DELETE, &path, None).await {
        r if r.status.is_success() => done(&p.here("/targets"), "deleted"),
        r => targets_page(p, Flash::error(&serde_json::from_value(r.body).unwrap_or_default())).await,
    }
}
