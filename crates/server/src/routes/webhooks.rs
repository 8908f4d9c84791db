//! `/api/v1/accounts/{id}/webhooks`: webhooks streaming the account's own trail to an outside
//! receiver (a SIEM), their delivery log and a test ping. The account's own administrators
//! manage them, never through an access session.

use super::{ListBody, Params, id_cursor, page_request};
use crate::app::App;
use crate::body::Payload;
use crate::error::{ApiError, ApiResult};
use crate::granted::{Changing, Granted};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenantry_domain::action::act;
use tenantry_domain::clock::serde_micros;
use tenantry_domain::validate::{self, Validator};
use tenantry_domain::{Action, AuditTarget, EventId, Outcome, WebhookId, webhook};
use tenantry_store::{AuditDraft, Delivery, Linking, Webhook, WebhookPatch};
use time::OffsetDateTime;

/// What every webhook secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are POSTed; the monitoring address rules apply.
    url: String,
    /// Which events: action names (`user.created`), a noun's every action (`user.*`) or `*`.
    events: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// A webhook as shown (never its secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookBody {
    id: WebhookId,
    url: String,
    events: Vec<String>,
    description: Option<String>,
    enabled: bool,
    #[serde(with = "serde_micros")]
    created_at: OffsetDateTime,
    #[serde(with = "serde_micros")]
    updated_at: OffsetDateTime,
}

impl From<Webhook> for WebhookBody {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.events,
            description: w.description,
            enabled: w.enabled,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A webhook just created: the only time its secret is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    webhook: WebhookBody,
    /// Signs every delivery: `X-Tenantry-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
    secret: String,
}

/// One event's delivery, as the log lists it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryBody {
    event_id: EventId,
    seq: i64,
    /// `pending`, `delivered` or `failed`.
    status: &'static str,
    attempts: i64,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    /// When it is tried next, while pending.
    #[serde(with = "serde_micros::option")]
    next_attempt_at: Option<OffsetDateTime>,
}

impl From<Delivery> for DeliveryBody {
    fn from(d: Delivery) -> Self {
        Self {
            event_id: d.event_id,
            seq: d.seq,
            status: d.status.as_str(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
        }
    }
}

/// What a test ping came to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PingResult {
    delivered: bool,
    status_code: Option<u16>,
    error: Option<String>,
}

/// A receiver's URL: absolute http(s), and a literal private address only where the server
/// allows private targets (names are judged when a delivery resolves them; a URL no HTTP client
/// can read fails each delivery, as its log then says).
fn receiver(app: &App, raw: &str) -> Result<String, String> {
    let url = validate::http_url(raw)?;
    if let Some(ip) = reqwest::Url::parse(&url).ok().as_ref().and_then(crate::delivery::literal_address) {
        app.may_reach(ip)?;
    }
    Ok(url)
}

fn patterns(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.is_empty() || raw.len() > webhook::MAX_PATTERNS {
        return Err(format!("must list 1 to {} patterns", webhook::MAX_PATTERNS));
    }
    let mut checked = raw.iter().map(|p| webhook::pattern(p)).collect::<Result<Vec<_>, _>>()?;
    checked.dedup();
    Ok(checked)
}

#[utoipa::path(operation_id = "list_webhooks", get, path = "/accounts/{id}/webhooks", tag = "webhooks", security(("session" = [])), params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<WebhookBody>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::WebhookListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<WebhookBody>>> {
    let page = page_request(&params, id_cursor::<WebhookId>)?;
    let page = app.store.list_webhooks(&on.grant, &page).await?;
    Ok(Json(ListBody { items: page.items.into_iter().map(WebhookBody::from).collect(), next_cursor: page.next }))
}

#[utoipa::path(operation_id = "create_webhook", post, path = "/accounts/{id}/webhooks", tag = "webhooks", description = "Every later event of the account's trail that matches `events` is POSTed to `url`, signed with the secret shown once here.", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), request_body = CreateWebhookRequest, responses((status = 201, body = CreatedWebhook), crate::error::Failure))]
pub async fn create(
    State(app): State<App>,
    on: Granted<act::WebhookCreated>,
    body: Payload<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    let request = body.read().await?;
    let mut v = Validator::new();
    let url = v.check("url", receiver(&app, &request.url));
    let events = v.check("events", patterns(&request.events));
    let description = match &request.description {
        Some(text) => v.check("description", validate::text(text)),
        None => None,
    };
    v.finish()?;
    let (Some(url), Some(events)) = (url, events) else { return Err(ApiError::Internal("validated".into())) };
    let secret = format!("{SECRET_PREFIX}{}", crate::secrets::random_token()?);
    let new = tenantry_store::NewWebhook { url, events, description, secret: secret.clone() };
    let webhook = app.store.create_webhook(&on.grant, new, &on.ctx()).await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhook { webhook: webhook.into(), secret })))
}

#[utoipa::path(operation_id = "get_webhook", get, path = "/accounts/{id}/webhooks/{webhook_id}", tag = "webhooks", security(("session" = [])), params(("id" = String, Path), ("webhook_id" = String, Path)), responses((status = 200, body = WebhookBody), crate::error::Failure))]
pub async fn get(State(app): State<App>, on: Granted<act::WebhookRead>) -> ApiResult<Json<WebhookBody>> {
    Ok(Json(app.store.get_webhook(&on.grant, on.child()?).await?.into()))
}

#[utoipa::path(operation_id = "update_webhook", patch, path = "/accounts/{id}/webhooks/{webhook_id}", tag = "webhooks", description = "A disabled webhook queues nothing until it is enabled again.", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("webhook_id" = String, Path)), request_body = UpdateWebhookRequest, responses((status = 200, body = WebhookBody), crate::error::Failure))]
pub async fn update(
    State(app): State<App>,
    on: Changing<act::WebhookUpdated, WebhookId>,
    body: Payload<UpdateWebhookRequest>,
) -> ApiResult<Json<WebhookBody>> {
    let request = body.read().await?;
    let mut v = Validator::new();
    let url = request.url.as_deref().and_then(|u| v.check("url", receiver(&app, u)));
    let events = request.events.as_deref().and_then(|e| v.check("events", patterns(e)));
    v.finish()?;
    let patch = WebhookPatch { url, events, enabled: request.enabled };
    Ok(Json(app.store.update_webhook(&on.grant, on.child, patch, &on.ctx()).await?.into()))
}

#[utoipa::path(operation_id = "delete_webhook", delete, path = "/accounts/{id}/webhooks/{webhook_id}", tag = "webhooks", description = "Deletes the webhook and its delivery log.", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("webhook_id" = String, Path)), responses((status = 204, description = "Deleted"), crate::error::Failure))]
pub async fn delete(State(app): State<App>, on: Changing<act::WebhookDeleted, WebhookId>) -> ApiResult<StatusCode> {
    app.store.delete_webhook(&on.grant, on.child, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "list_webhook_deliveries", get, path = "/accounts/{id}/webhooks/{webhook_id}/deliveries", tag = "webhooks", description = "The delivery log, newest event first.", security(("session" = [])), params(("id" = String, Path), ("webhook_id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<DeliveryBody>), crate::error::Failure))]
pub async fn deliveries(
    State(app): State<App>,
    on: Granted<act::WebhookRead>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<DeliveryBody>>> {
    let page = page_request(&params, |c| c.parse::<i64>().is_ok_and(|n| (1..super::CURSOR_NUMBER_BOUND).contains(&n)))?;
    let page = app.store.list_deliveries(&on.grant, on.child()?, &page).await?;
    Ok(Json(ListBody { items: page.items.into_iter().map(DeliveryBody::from).collect(), next_cursor: page.next }))
}

#[utoipa::path(operation_id = "test_webhook", post, path = "/accounts/{id}/webhooks/{webhook_id}/test", tag = "webhooks", description = "POSTs a signed `{\"type\":\"ping\"}` to the webhook at once and says what came of it.", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("webhook_id" = String, Path)), responses((status = 200, body = PingResult), crate::error::Failure))]
pub async fn test(State(app): State<App>, on: Changing<act::WebhookTested, WebhookId>) -> ApiResult<Json<PingResult>> {
    let (hook, secret) = app.store.webhook_with_secret(&on.grant, on.child).await?;
    let ping_id = EventId::new().to_string();
    let body =
        serde_json::json!({ "type": "ping", "id": ping_id, "webhook_id": hook.id, "account_id": hook.account_id });
    let body = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let answer = app.sender.post(&hook.url, &secret, &ping_id, body, app.now()).await;
    let draft = AuditDraft {
        account_id: hook.account_id,
        action: Action::WebhookTested,
        outcome: if answer.delivered() { Outcome::Success } else { Outcome::Failure },
        target: AuditTarget { kind: "webhook".into(), id: Some(hook.id.to_string()) },
        details: serde_json::json!({ "status_code": answer.status_code, "error": answer.error }),
        linking: Linking::UpToActor,
    };
    app.store.record(draft, &on.ctx()).await?;
    Ok(Json(PingResult { delivered: answer.delivered(), status_code: answer.status_code, error: answer.error }))
}
