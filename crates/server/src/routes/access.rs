//! Access sessions: a partner-side user entering a customer with their own identity. Opening one
//! needs a step-up with the actor's own password; each has its own console tab; the customer sees
//! every one of them.

use super::{ListBody, Params, id_cursor, page_request};
use crate::app::App;
use crate::error::ApiResult;
use crate::granted::{Confirming, Granted, SteppedUp};
use crate::mfa::SecondFactor;
use crate::principal::Auth;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenantry_domain::Action;
use tenantry_domain::action::act;
use tenantry_domain::authz::{Denial, cap};
use tenantry_domain::clock::serde_micros;
use tenantry_domain::validate::{self, Validator};
use tenantry_domain::{AccessSessionId, AccountId, Role, UserId};
use tenantry_store::{AccessSessionRecord, NewAccessSession};
use time::OffsetDateTime;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// Why the customer is entered; shown to the customer.
    reason: Option<String>,
    /// The actor's own password, as an inline step-up.
    password: Option<String>,
    /// With `password`, for a user with MFA.
    #[serde(default)]
    totp_code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

impl Confirming for OpenRequest {
    fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    fn second_factor(&self) -> SecondFactor {
        SecondFactor { totp_code: self.totp_code.clone(), recovery_code: self.recovery_code.clone() }
    }
}

/// Who entered.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActorBody {
    user_id: UserId,
    email: String,
    account_id: AccountId,
}

/// An access session as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AccessSessionBody {
    id: AccessSessionId,
    /// The customer entered.
    account_id: AccountId,
    actor: ActorBody,
    reason: Option<String>,
    #[serde(with = "serde_micros")]
    started_at: OffsetDateTime,
    #[serde(with = "serde_micros")]
    expires_at: OffsetDateTime,
    /// When it was ended (or, for one that ran out, when it expired).
    #[serde(with = "serde_micros::option")]
    ended_at: Option<OffsetDateTime>,
    /// `open`, `ended` or `expired`.
    status: &'static str,
    /// The console tab that works inside this session.
    console_url: String,
}

impl AccessSessionBody {
    fn new(app: &App, r: AccessSessionRecord) -> Self {
        let now = app.now();
        let (status, ended_at) = match r.ended_at {
            // Its sign-in ran out: it expired with it.
            Some(at) if r.end_reason.as_deref() == Some("sign_in_expired") => ("expired", Some(at)),
            Some(at) => ("ended", Some(at)),
            None if now >= r.expires_at => ("expired", Some(r.expires_at)),
            None => ("open", None),
        };
        Self {
            console_url: format!("{}/console/access/{}", app.public_url, r.id),
            id: r.id,
            account_id: r.account_id,
            actor: ActorBody { user_id: r.actor_user_id, email: r.actor_email, account_id: r.actor_account_id },
            reason: r.reason,
            started_at: r.started_at,
            expires_at: r.expires_at,
            ended_at,
            status,
        }
    }
}

#[utoipa::path(operation_id = "open_access_session", post, path = "/accounts/{id}/access-sessions", tag = "access", description = "Enter a customer. Needs a recent step-up or the actor's own `password` inline.", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "Customer account id")), request_body(content = Option<OpenRequest>), responses((status = 201, body = AccessSessionBody), crate::error::Failure))]
pub async fn open(
    State(app): State<App>,
    confirmed: SteppedUp<act::AccessSessionStarted, OpenRequest>,
) -> ApiResult<(StatusCode, Json<AccessSessionBody>)> {
    let (on, request) = confirmed.optional()?;
    let (auth, grant) = (&on.auth, &on.grant);
    let reason = request.and_then(|r| r.reason);
    let mut v = Validator::new();
    let reason = reason.and_then(|r| v.check("reason", validate::text(&r)));
    v.finish()?;
    let new = NewAccessSession {
        signin_session_id: auth.signin()?.id,
        reason: reason.filter(|r| !r.trim().is_empty()),
        expires_at: app.now() + app.settings.access_session_ttl,
    };
    let record = app.store.open_access_session(grant, new, &auth.ctx()).await?;
    Ok((StatusCode::CREATED, Json(AccessSessionBody::new(&app, record))))
}

#[utoipa::path(operation_id = "list_my_access_sessions", get, path = "/access-sessions", tag = "access", description = "The caller's open access sessions (this sign-in's).", security(("session" = [])), responses((status = 200, body = ListBody<AccessSessionBody>), crate::error::Failure))]
pub async fn mine(State(app): State<App>, auth: Auth) -> ApiResult<Json<ListBody<AccessSessionBody>>> {
    let Some(signin) = auth.session.as_ref() else {
        return Ok(Json(ListBody { items: Vec::new(), next_cursor: None }));
    };
    let open = app.store.open_access_sessions_of(auth.principal.user_id).await?;
    let items = open
        .into_iter()
        .filter(|s| s.signin_session_id == signin.id)
        .map(|s| AccessSessionBody::new(&app, s))
        .collect();
    Ok(Json(ListBody { items, next_cursor: None }))
}

#[utoipa::path(operation_id = "list_access_sessions", get, path = "/accounts/{id}/access-sessions", tag = "access", description = "Every access session into the customer, open and ended, newest first.", security(("session" = [])), params(("id" = String, Path, description = "Customer account id"), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<AccessSessionBody>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::AccessSessionListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<AccessSessionBody>>> {
    let (auth, grant) = (&on.auth, &on.grant);
    let page = page_request(&params, id_cursor::<AccessSessionId>)?;
    let inside = auth.principal.access.as_ref().is_some_and(|a| a.customer_id == grant.account_id());
    let only_own = (auth.principal.role == Role::MspStaff && !inside).then_some(auth.principal.user_id);
    let page = app.store.list_access_sessions(grant, only_own, &page).await?;
    let items = page.items.into_iter().map(|s| AccessSessionBody::new(&app, s)).collect();
    Ok(Json(ListBody { items, next_cursor: page.next }))
}

#[utoipa::path(operation_id = "end_access_session", delete, path = "/access-sessions/{session_id}", tag = "access", description = "By the actor, the MSP's msp_admin, the customer's master_admin, or platform_admin.", security(("session" = [], "csrf" = [])), params(("session_id" = String, Path)), responses((status = 204, description = "Ended"), crate::error::Failure))]
pub async fn end(State(app): State<App>, auth: Auth, Path(session_id): Path<String>) -> ApiResult<StatusCode> {
    let record = match session_id.parse::<AccessSessionId>() {
        Ok(id) => app.store.access_session(id).await?,
        Err(_) => None,
    };
    let Some(record) = record else {
        return Err(auth.deny(&app, Denial::NotFound, None, &session_id, Action::AccessSessionEnded).await);
    };
    let id = record.id;
    let customer = record.account_id.to_string();
    let (grant, account) = match auth.try_grant(&app, cap::AccessEnd, &customer).await? {
        Ok(granted) => granted,
        // A session into an account the caller cannot see is as missing as an unknown one.
        Err((Denial::NotFound, _)) => {
            return Err(auth.deny(&app, Denial::NotFound, None, &session_id, Action::AccessSessionEnded).await);
        }
        Err((denial, account)) => {
            return Err(auth.deny(&app, denial, account, &customer, Action::AccessSessionEnded).await);
        }
    };
    let inside = auth.principal.access.as_ref().is_some_and(|a| a.customer_id == record.account_id);
    if auth.principal.role == Role::MspStaff && !inside && record.actor_user_id != auth.principal.user_id {
        return Err(auth.deny(&app, Denial::Forbidden, Some(account.id), &customer, Action::AccessSessionEnded).await);
    }
    app.store.end_access_session(&grant, id, &auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
