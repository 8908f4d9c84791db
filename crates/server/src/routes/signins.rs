//! `/api/v1/auth/sessions`: a user's own sign-ins — where and with what it is signed in — and
//! ending them, one or every one but the current ("sign out everywhere else"); and a user
//! manager ending all of one user's sign-ins.

use super::{ListBody, Params, id_cursor, page_request};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::granted::Changing;
use crate::principal::Auth;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use tenantry_domain::action::act;
use tenantry_domain::clock::serde_micros;
use tenantry_domain::{SessionId, UserId};
use tenantry_store::SignInSummary;
use time::OffsetDateTime;

/// One of the caller's sign-ins.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInBody {
    id: SessionId,
    #[serde(with = "serde_micros")]
    created_at: OffsetDateTime,
    #[serde(with = "serde_micros")]
    last_seen_at: OffsetDateTime,
    ip: Option<String>,
    user_agent: Option<String>,
    /// `password` or `sso`.
    method: String,
    /// Whether this is the sign-in making the request.
    current: bool,
}

impl SignInBody {
    fn new(s: SignInSummary, current: SessionId) -> Self {
        Self {
            current: s.id == current,
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            ip: s.ip,
            user_agent: s.user_agent,
            method: s.method,
        }
    }
}

#[utoipa::path(operation_id = "list_sign_ins", get, path = "/auth/sessions", tag = "auth", description = "The caller's open sign-ins, newest first.", security(("session" = [])), params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<SignInBody>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<SignInBody>>> {
    let current = auth.signin()?.id;
    let page = page_request(&params, id_cursor::<SessionId>)?;
    let seen_since = app.now() - app.settings.session_idle;
    let page = app.store.list_sign_ins(auth.principal.user_id, seen_since, &page).await?;
    let items = page.items.into_iter().map(|s| SignInBody::new(s, current)).collect();
    Ok(Json(ListBody { items, next_cursor: page.next }))
}

#[utoipa::path(operation_id = "end_sign_in", delete, path = "/auth/sessions/{session_id}", tag = "auth", description = "Ends one of the caller's sign-ins, with its access sessions.", security(("session" = [], "csrf" = [])), params(("session_id" = String, Path)), responses((status = 204, description = "Ended"), crate::error::Failure))]
pub async fn end(State(app): State<App>, auth: Auth, Path(raw): Path<String>) -> ApiResult<StatusCode> {
    auth.signin()?;
    let id: SessionId = raw.parse().map_err(|_| ApiError::NotFound)?;
    app.store.end_own_sign_in(auth.principal.user_id, id, &auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "end_other_sign_ins", delete, path = "/auth/sessions", tag = "auth", description = "Signs out everywhere else: ends every sign-in of the caller but this one, with their access sessions.", security(("session" = [], "csrf" = [])), responses((status = 204, description = "Ended"), crate::error::Failure))]
pub async fn end_others(State(app): State<App>, auth: Auth) -> ApiResult<StatusCode> {
    let current = auth.signin()?.id;
    app.store.end_other_sign_ins(auth.principal.user_id, current, &auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "end_user_sign_ins", delete, path = "/accounts/{id}/users/{user_id}/sessions", tag = "users", description = "By a manager of the user: ends all its sign-ins, with their access sessions.", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("user_id" = String, Path)), responses((status = 204, description = "Ended"), crate::error::Failure))]
pub async fn end_for_user(
    State(app): State<App>,
    on: Changing<act::UserSessionsEnded, UserId>,
) -> ApiResult<StatusCode> {
    app.store.end_user_sign_ins(&on.grant, on.child, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
