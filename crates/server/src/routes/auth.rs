//! Sign-in and its life cycle: login, logout, me, step-up (reauth), activation, password change.

use crate::app::App;
use crate::body;
use crate::error::{ApiError, ApiResult};
use crate::principal::{Auth, SESSION_COOKIE};
use crate::secrets::{random_token, token_hash};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use tenantry_domain::authz::{Permission, own_permissions};
use tenantry_domain::clock::rfc3339_micros;
use tenantry_domain::validate::{self, MAX_EMAIL};
use tenantry_domain::{Account, AuditActor, AuditTarget, Outcome, Role, SessionId, User, UserStatus};
use tenantry_store::{AuditDraft, Ctx, Linking, NewSession};

/// A sign-in's answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginReply {
    user: User,
    account: Account,
    csrf_token: String,
    /// When the sign-in ends at the latest (RFC 3339).
    expires_at: String,
}

/// Who is signed in, and what they may do on their own account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MeReply {
    user: User,
    account: Account,
    csrf_token: String,
    permissions: Vec<Permission>,
}

/// The sign-in's CSRF token, unchanged by a step-up.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CsrfReply {
    csrf_token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
    #[serde(default)]
    #[allow(dead_code)]
    totp_code: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordOnly {
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    token: String,
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

/// The `Set-Cookie` value that carries a sign-in token (or, with `None`, removes it).
fn session_cookie(app: &App, token: Option<&str>) -> ApiResult<HeaderValue> {
    let secure = if app.secure_cookies() { "; Secure" } else { "" };
    let value = match token {
        Some(token) => format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            app.settings.session_absolute.whole_seconds()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The rate-limit scopes of a sign-in attempt: the address and the email.
fn failure_scopes(ip: &str, email: &str) -> Vec<String> {
    vec![format!("ip:{ip}"), format!("email:{}", email.trim().to_lowercase())]
}

/// Refuses with 429 while too many recent failures stand against any scope.
async fn check_rate(app: &App, scopes: &[String]) -> ApiResult<()> {
    let window = app.settings.login_failure_window;
    let failures = app.store.recent_failures(scopes, app.now() - window).await?;
    if failures >= app.settings.login_failure_limit {
        return Err(ApiError::RateLimited { retry_after_secs: window.whole_seconds().unsigned_abs() });
    }
    Ok(())
}

fn check_password_shape(field: &str, password: &str) -> ApiResult<()> {
    validate::password(password).map_err(|m| ApiError::invalid(field, m))
}

#[utoipa::path(operation_id = "login", post, path = "/auth/login", tag = "auth", request_body = LoginRequest, responses((status = 200, description = "Signed in; sets the session cookie", body = LoginReply), crate::error::Failure))]
pub async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<Response> {
    let request: LoginRequest = body::json(&headers, &bytes)?;
    if request.email.chars().count() > MAX_EMAIL {
        return Err(ApiError::invalid("email", format!("must be at most {MAX_EMAIL} characters")));
    }
    check_password_shape("password", &request.password)?;
    let ip = peer.ip().to_string();
    let scopes = failure_scopes(&ip, &request.email);
    check_rate(&app, &scopes).await?;

    let candidate = app.store.login_candidate(&request.email).await?;
    let hash = candidate.as_ref().and_then(|c| c.password_hash.as_deref());
    let verified = app.passwords.verify(&request.password, hash).await?;
    let ctx = Ctx {
        actor: match &candidate {
            Some(c) => AuditActor {
                user_id: Some(c.user.id),
                email: Some(c.user.email.to_string()),
                account_id: Some(c.account.id),
                account_name: Some(c.account.name.clone()),
            },
            None => AuditActor { email: Some(request.email.clone()), ..AuditActor::default() },
        },
        ip: Some(ip.clone()),
        ..Ctx::default()
    };
    let Some(candidate) = candidate.filter(|_| verified) else {
        let account_id = match &ctx.actor.account_id {
            Some(id) => *id,
            None => app.store.platform().await?.id,
        };
        let draft = AuditDraft {
            account_id,
            action: "auth.login_failed".into(),
            outcome: Outcome::Failure,
            target: AuditTarget { kind: "user".into(), id: ctx.actor.user_id.map(|u| u.to_string()) },
            details: serde_json::json!({ "reason": "invalid_credentials" }),
            linking: Linking::UpToActor,
        };
        app.store.record_failure(&scopes, draft, &ctx).await?;
        return Err(ApiError::InvalidCredentials);
    };

    let now = app.now();
    let refusal = match candidate.user.status_at(now) {
        UserStatus::Disabled | UserStatus::Invited => Some(ApiError::UserDisabled),
        UserStatus::Expired => Some(ApiError::UserExpired),
        UserStatus::Active if candidate.blocked => Some(ApiError::AccountSuspended),
        UserStatus::Active if candidate.account.sso_mandatory && candidate.user.role != Role::SsoAdmin => {
            Some(ApiError::SsoRequired)
        }
        UserStatus::Active => None,
    };
    if let Some(refusal) = refusal {
        let draft = AuditDraft {
            account_id: candidate.account.id,
            action: "auth.login_failed".into(),
            outcome: Outcome::Denied,
            target: AuditTarget { kind: "user".into(), id: Some(candidate.user.id.to_string()) },
            details: serde_json::json!({ "reason": refusal.code() }),
            linking: Linking::UpToActor,
        };
        app.store.record(draft, &ctx).await?;
        return Err(refusal);
    }

    let token = random_token()?;
    let csrf_token = random_token()?;
    let expires_at = now + app.settings.session_absolute;
    let session = NewSession {
        id: SessionId::new(),
        token_hash: token_hash(&token),
        user_id: candidate.user.id,
        csrf_token: csrf_token.clone(),
        expires_at,
        ip: Some(ip),
    };
    app.store.create_session(session, &ctx).await?;
    let mut user = candidate.user;
    user.last_login_at = Some(now);
    let body = LoginReply { user, account: candidate.account, csrf_token, expires_at: rfc3339_micros(expires_at) };
    Ok(([(header::SET_COOKIE, session_cookie(&app, Some(&token))?)], Json(body)).into_response())
}

#[utoipa::path(operation_id = "logout", post, path = "/auth/logout", tag = "auth", security(("session" = [], "csrf" = [])), responses((status = 204, description = "Signed out, with its access sessions"), crate::error::Failure))]
pub async fn logout(State(app): State<App>, auth: Auth) -> ApiResult<Response> {
    app.store.end_session(auth.signin()?.id, Some("auth.logout"), &auth.ctx()).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, session_cookie(&app, None)?)]).into_response())
}

#[utoipa::path(operation_id = "me", get, path = "/me", tag = "auth", security(("session" = [])), responses((status = 200, body = MeReply), crate::error::Failure))]
pub async fn me(State(app): State<App>, auth: Auth) -> ApiResult<Json<MeReply>> {
    let permissions = own_permissions(auth.principal.role, auth.principal.account_kind);
    let csrf_token = auth.session.as_ref().map(|s| s.csrf_token.clone()).unwrap_or_default();
    Ok(Json(MeReply { user: auth.user.as_of(app.now()), account: auth.account, csrf_token, permissions }))
}

/// Checks the caller's own password; a wrong one counts as a failed sign-in and is recorded.
pub async fn confirm_own_password(app: &App, auth: &Auth, password: &str) -> ApiResult<()> {
    let ip = auth.ip.clone().unwrap_or_default();
    let scopes = failure_scopes(&ip, &auth.principal.email);
    check_rate(app, &scopes).await?;
    let candidate = app.store.login_candidate(&auth.principal.email).await?;
    let hash = candidate.as_ref().and_then(|c| c.password_hash.as_deref());
    if app.passwords.verify(password, hash).await? {
        return Ok(());
    }
    let draft = AuditDraft {
        account_id: auth.principal.account_id,
        action: "auth.reauth".into(),
        outcome: Outcome::Failure,
        target: AuditTarget { kind: "user".into(), id: Some(auth.principal.user_id.to_string()) },
        details: serde_json::json!({ "reason": "invalid_credentials" }),
        linking: Linking::UpToActor,
    };
    app.store.record_failure(&scopes, draft, &auth.ctx()).await?;
    Err(ApiError::InvalidCredentials)
}

#[utoipa::path(operation_id = "reauth", post, path = "/auth/reauth", tag = "auth", security(("session" = [], "csrf" = [])), request_body = PasswordOnly, responses((status = 200, description = "Stepped up; rotates the session cookie", body = CsrfReply), crate::error::Failure))]
pub async fn reauth(State(app): State<App>, auth: Auth, headers: HeaderMap, bytes: Bytes) -> ApiResult<Response> {
    let signin = auth.signin()?;
    let request: PasswordOnly = body::json(&headers, &bytes)?;
    confirm_own_password(&app, &auth, &request.password).await?;
    let token = random_token()?;
    app.store.rotate_session(signin.id, &token_hash(&token), &auth.ctx()).await?;
    let body = CsrfReply { csrf_token: signin.csrf_token.clone() };
    Ok(([(header::SET_COOKIE, session_cookie(&app, Some(&token))?)], Json(body)).into_response())
}

#[utoipa::path(operation_id = "activate", post, path = "/auth/activate", tag = "auth", request_body = ActivateRequest, responses((status = 204, description = "Password set; the user is active"), crate::error::Failure))]
pub async fn activate(State(app): State<App>, headers: HeaderMap, bytes: Bytes) -> ApiResult<StatusCode> {
    let request: ActivateRequest = body::json(&headers, &bytes)?;
    check_password_shape("password", &request.password)?;
    let hash = app.passwords.hash(&request.password).await?;
    match app.store.activate(&token_hash(&request.token), &hash).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::invalid("token", "unknown, already used or expired")),
    }
}

#[utoipa::path(operation_id = "change_password", post, path = "/auth/password", tag = "auth", security(("session" = [], "csrf" = [])), request_body = ChangePasswordRequest, responses((status = 204, description = "Changed; other sign-ins ended"), crate::error::Failure))]
pub async fn change_password(
    State(app): State<App>,
    auth: Auth,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    let signin = auth.signin()?.id;
    let request: ChangePasswordRequest = body::json(&headers, &bytes)?;
    confirm_own_password(&app, &auth, &request.current_password).await?;
    check_password_shape("new_password", &request.new_password)?;
    let hash = app.passwords.hash(&request.new_password).await?;
    app.store.change_own_password(auth.principal.user_id, signin, &hash, &auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
