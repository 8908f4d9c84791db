//! Agents: registered with a one-time token, they report the certificates they find on a host into
//! their own account and collection, and nowhere else.

use super::{ListBody, Params, id_cursor, page_request};
use crate::app::App;
use crate::body;
use crate::body::Payload;
use crate::error::{ApiError, ApiResult};
use crate::granted::{Changing, Granted};
use crate::secrets::{random_token, token_hash};
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use tenantry_domain::Action;
use tenantry_domain::action::act;
use tenantry_domain::validate::{self, Validator};
use tenantry_domain::{Agent, AgentId, AuditTarget, Certificate, CollectionId, Outcome};
use tenantry_store::{AuditDraft, Ctx, Linking, NewCertificate};

/// What every agent token starts with.
pub const AGENT_TOKEN_PREFIX: &str = "tna_";
/// Most certificates one report may carry.
pub const MAX_REPORTED: usize = 1_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    name: String,
    collection_id: String,
}

/// A registered agent and its token, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegisteredAgent {
    agent: Agent,
    token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    hostname: String,
    /// PEM texts; private keys are refused.
    certificates: Vec<String>,
}

/// What a report stored.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportedCertificate {
    #[serde(flatten)]
    certificate: Certificate,
    duplicate: bool,
}

/// Converts parsed certificates into what the store keeps.
pub fn to_new(parsed: Vec<tenantry_monitor::ParsedCertificate>) -> Vec<NewCertificate> {
    parsed
        .into_iter()
        .map(|c| NewCertificate {
            subject: c.subject,
            sans: c.sans,
            issuer: c.issuer,
            serial: c.serial,
            not_before: c.not_before,
            not_after: c.not_after,
            fingerprint_sha256: c.fingerprint_sha256,
            key_type: c.key_type,
            key_bits: c.key_bits,
            pem: c.pem,
        })
        .collect()
}

#[utoipa::path(operation_id = "register_agent", post, path = "/accounts/{id}/agents", tag = "agents", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), request_body = RegisterRequest, responses((status = 201, body = RegisteredAgent), crate::error::Failure))]
pub async fn register(
    State(app): State<App>,
    on: Granted<act::AgentRegistered>,
    body: Payload<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<RegisteredAgent>)> {
    let request = body.read().await?;
    let mut v = Validator::new();
    let name = v.check("name", validate::name(&request.name));
    let collection = v.check(
        "collection_id",
        request.collection_id.parse::<CollectionId>().map_err(|_| "must be a collection id".to_owned()),
    );
    v.finish()?;
    let (Some(name), Some(collection)) = (name, collection) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let token = format!("{AGENT_TOKEN_PREFIX}{}", random_token()?);
    let agent = app.store.register_agent(&on.grant, collection, name, token_hash(&token), &on.ctx()).await?;
    Ok((StatusCode::CREATED, Json(RegisteredAgent { agent, token })))
}

#[utoipa::path(operation_id = "list_agents", get, path = "/accounts/{id}/agents", tag = "agents", security(("session" = [])), params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<Agent>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::AgentListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<Agent>>> {
    let page = page_request(&params, id_cursor::<AgentId>)?;
    Ok(Json(app.store.list_agents(&on.grant, &page).await?.into()))
}

#[utoipa::path(operation_id = "get_agent", get, path = "/accounts/{id}/agents/{agent_id}", tag = "agents", security(("session" = [])), params(("id" = String, Path), ("agent_id" = String, Path)), responses((status = 200, body = Agent), crate::error::Failure))]
pub async fn get(State(app): State<App>, on: Granted<act::AgentRead>) -> ApiResult<Json<Agent>> {
    Ok(Json(app.store.get_agent(&on.grant, on.child()?).await?))
}

#[utoipa::path(operation_id = "revoke_agent", delete, path = "/accounts/{id}/agents/{agent_id}", tag = "agents", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("agent_id" = String, Path)), responses((status = 204, description = "Revoked"), crate::error::Failure))]
pub async fn revoke(State(app): State<App>, on: Changing<act::AgentRevoked, AgentId>) -> ApiResult<StatusCode> {
    app.store.revoke_agent(&on.grant, on.child, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "agent_report", post, path = "/agent/report", tag = "agents", description = "With `Authorization: Agent <token>`: stores what the agent found in its own collection.", request_body = ReportRequest, responses((status = 200, body = ListBody<ReportedCertificate>), crate::error::Failure))]
pub async fn report(
    State(app): State<App>,
    super::auth::Client(client): super::auth::Client,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<Json<ListBody<ReportedCertificate>>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("agent"))
        .map(|(_, token)| token.trim())
        .ok_or(ApiError::Unauthenticated)?;
    let (agent, blocked) = app.store.agent_by_token(&token_hash(token)).await?.ok_or(ApiError::Unauthenticated)?;
    let refused = match (agent.revoked_at.is_some(), blocked) {
        (true, _) => Some((ApiError::Unauthenticated, "agent_revoked")),
        (false, true) => Some((ApiError::AccountSuspended, "account_suspended")),
        (false, false) => None,
    };
    if let Some((error, reason)) = refused {
        let draft = AuditDraft {
            account_id: agent.account_id,
            action: Action::AgentReportRefused,
            outcome: Outcome::Denied,
            target: AuditTarget { kind: "agent".into(), id: Some(agent.id.to_string()) },
            details: serde_json::json!({ "reason": reason, "name": agent.name }),
            linking: Linking::UpToActor,
        };
        let ctx = Ctx { ip: client.map(|ip| ip.to_string()), ..Ctx::default() };
        return Err(crate::principal::record_refusal(&app, draft, &ctx, error).await);
    }
    let bytes = body::read(request_body).await?;
    let request: ReportRequest = body::json(&headers, &bytes)?;
    let hostname = validate::name(&request.hostname).map_err(|m| ApiError::invalid("hostname", m))?;
    if request.certificates.len() > MAX_REPORTED {
        return Err(ApiError::invalid("certificates", format!("at most {MAX_REPORTED} per report")));
    }
    let mut parsed = Vec::new();
    for (index, pem) in request.certificates.iter().enumerate() {
        let found = tenantry_monitor::parse_bundle(pem.as_bytes())
            .map_err(|e| ApiError::invalid(&format!("certificates[{index}]"), e.to_string()))?;
        parsed.extend(found);
    }
    let stored = app.store.agent_report(&agent, hostname, to_new(parsed)).await?;
    let items =
        stored.into_iter().map(|(certificate, duplicate)| ReportedCertificate { certificate, duplicate }).collect();
    Ok(Json(ListBody { items, next_cursor: None }))
}
