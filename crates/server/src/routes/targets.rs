//! Monitored targets: `host:port` checked by a real TLS handshake, now on request and in the
//! background by the scheduler; each shows what its last check found.

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
use tenantry_domain::{AccountId, CollectionId, ExpiryStatus, MonitoredTarget, TargetId, days_remaining};
use tenantry_store::{NewTarget, TargetPatch};
use time::OffsetDateTime;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTargetRequest {
    hostname: String,
    /// 443 when left out.
    #[serde(default, deserialize_with = "tenantry_domain::validate::optional_whole_number")]
    port: Option<i64>,
    collection_id: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTargetRequest {
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default, deserialize_with = "tenantry_domain::validate::optional_whole_number")]
    port: Option<i64>,
    #[serde(default)]
    collection_id: Option<String>,
}

/// A target with its last check: `status` and the rest are null until the first check.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TargetView {
    id: TargetId,
    account_id: AccountId,
    collection_id: CollectionId,
    hostname: String,
    port: u16,
    #[serde(with = "serde_micros")]
    created_at: OffsetDateTime,
    #[serde(with = "serde_micros")]
    updated_at: OffsetDateTime,
    #[serde(with = "serde_micros")]
    next_check_at: OffsetDateTime,
    status: Option<ExpiryStatus>,
    #[serde(with = "serde_micros::option")]
    not_after: Option<OffsetDateTime>,
    days_remaining: Option<i64>,
    error: Option<String>,
    #[serde(with = "serde_micros::option")]
    checked_at: Option<OffsetDateTime>,
    subject: Option<String>,
    issuer: Option<String>,
}

impl TargetView {
    /// The target as it stands at `now`, `window` being "expiring soon".
    pub fn at(t: MonitoredTarget, now: OffsetDateTime, window: time::Duration) -> Self {
        let check = t.last_check;
        Self {
            id: t.id,
            account_id: t.account_id,
            collection_id: t.collection_id,
            hostname: t.hostname,
            port: t.port,
            created_at: t.created_at,
            updated_at: t.updated_at,
            next_check_at: t.next_check_at,
            status: check.as_ref().map(|c| c.status(now, window)),
            not_after: check.as_ref().and_then(|c| c.not_after),
            days_remaining: check.as_ref().and_then(|c| c.not_after).map(|n| days_remaining(n, now)),
            error: check.as_ref().and_then(|c| c.error.clone()),
            checked_at: check.as_ref().map(|c| c.checked_at),
            subject: check.as_ref().and_then(|c| c.subject.clone()),
            issuer: check.and_then(|c| c.issuer),
        }
    }
}

fn view(app: &App, target: MonitoredTarget) -> TargetView {
    TargetView::at(target, app.now(), app.settings.expiring_within)
}

/// The shortest time between two checks of one target on demand.
pub const MIN_CHECK_GAP: time::Duration = time::Duration::seconds(10);

/// A host that may be monitored: a literal private address is refused unless the server allows it
/// (names are judged when checked, after resolution).
fn host(app: &App, raw: &str) -> Result<String, String> {
    let host = validate::hostname(raw)?;
    if let Ok(ip) = host.parse() {
        app.may_reach(ip)?;
    }
    Ok(host)
}

fn collection(raw: &str) -> Result<CollectionId, String> {
    raw.parse().map_err(|_| "must be a collection id".to_owned())
}

#[utoipa::path(operation_id = "create_target", post, path = "/accounts/{id}/targets", tag = "targets", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), request_body = CreateTargetRequest, responses((status = 201, body = TargetView), crate::error::Failure))]
pub async fn create(
    State(app): State<App>,
    on: Granted<act::TargetCreated>,
    body: Payload<CreateTargetRequest>,
) -> ApiResult<(StatusCode, Json<TargetView>)> {
    let request = body.read().await?;
    let mut v = Validator::new();
    let hostname = v.check("hostname", host(&app, &request.hostname));
    let port = v.check("port", validate::port(request.port.unwrap_or(443)));
    let collection_id = v.check("collection_id", collection(&request.collection_id));
    v.finish()?;
    let (Some(hostname), Some(port), Some(collection_id)) = (hostname, port, collection_id) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let created = app.store.create_target(&on.grant, NewTarget { collection_id, hostname, port }, &on.ctx()).await?;
    Ok((StatusCode::CREATED, Json(view(&app, created))))
}

#[utoipa::path(operation_id = "list_targets", get, path = "/accounts/{id}/targets", tag = "targets", security(("session" = [])), params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<TargetView>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::TargetListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<TargetView>>> {
    let page = app.store.list_targets(&on.grant, &page_request(&params, id_cursor::<TargetId>)?).await?;
    let items = page.items.into_iter().map(|t| view(&app, t)).collect();
    Ok(Json(ListBody { items, next_cursor: page.next }))
}

#[utoipa::path(operation_id = "get_target", get, path = "/accounts/{id}/targets/{target_id}", tag = "targets", security(("session" = [])), params(("id" = String, Path), ("target_id" = String, Path)), responses((status = 200, body = TargetView), crate::error::Failure))]
pub async fn get(State(app): State<App>, on: Granted<act::TargetRead>) -> ApiResult<Json<TargetView>> {
    Ok(Json(view(&app, app.store.get_target(&on.grant, on.child()?).await?)))
}

#[utoipa::path(operation_id = "update_target", patch, path = "/accounts/{id}/targets/{target_id}", tag = "targets", description = "Moving a target to another host or port clears its last check and makes it due at once.", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("target_id" = String, Path)), request_body = UpdateTargetRequest, responses((status = 200, body = TargetView), crate::error::Failure))]
pub async fn update(
    State(app): State<App>,
    on: Changing<act::TargetUpdated, TargetId>,
    body: Payload<UpdateTargetRequest>,
) -> ApiResult<Json<TargetView>> {
    let request = body.read().await?;
    let mut v = Validator::new();
    let patch = TargetPatch {
        hostname: request.hostname.and_then(|h| v.check("hostname", host(&app, &h))),
        port: request.port.and_then(|p| v.check("port", validate::port(p))),
        collection_id: request.collection_id.and_then(|c| v.check("collection_id", collection(&c))),
    };
    v.finish()?;
    Ok(Json(view(&app, app.store.update_target(&on.grant, on.child, patch, &on.ctx()).await?)))
}

#[utoipa::path(operation_id = "delete_target", delete, path = "/accounts/{id}/targets/{target_id}", tag = "targets", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("target_id" = String, Path)), responses((status = 204, description = "Deleted"), crate::error::Failure))]
pub async fn delete(State(app): State<App>, on: Changing<act::TargetDeleted, TargetId>) -> ApiResult<StatusCode> {
    app.store.delete_target(&on.grant, on.child, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "check_target", post, path = "/accounts/{id}/targets/{target_id}/check", tag = "targets", description = "Checks the target now with a real TLS handshake and answers the target with the result.", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("target_id" = String, Path)), responses((status = 200, body = TargetView), crate::error::Failure))]
pub async fn check(State(app): State<App>, on: Changing<act::TargetChecked, TargetId>) -> ApiResult<Json<TargetView>> {
    let target = app.store.get_target(&on.grant.weaken(), on.child).await?;
    // Checking on demand reaches out to someone's server: at most once per target in a while, and
    // never twice at once (the claim is atomic, across processes too).
    if !app.store.claim_check(&on.grant, target.id, MIN_CHECK_GAP).await? {
        let since = target.last_check.as_ref().map(|c| app.now() - c.checked_at).unwrap_or(time::Duration::ZERO);
        let wait = (MIN_CHECK_GAP - since).clamp(time::Duration::SECOND, MIN_CHECK_GAP);
        return Err(ApiError::RateLimited { retry_after_secs: wait.as_seconds_f64().ceil() as u64 });
    }
    let found = app.checker.check(&target.hostname, target.port, app.now()).await;
    let next = found.checked_at + app.settings.monitor.interval;
    Ok(Json(view(&app, app.store.record_check(&on.grant, &target, found, next, &on.ctx()).await?)))
}
