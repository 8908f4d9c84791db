//! Sign-in and its life cycle: login, logout, me, step-up (reauth), activation, password change.

use crate::app::App;
use crate::body;
use crate::client::ClientIp;
use crate::client::allowed_from;
use crate::credentials::{self, Checked, refusal};
use crate::error::{ApiError, ApiResult};
use crate::mfa::SecondFactor;
use crate::principal::{Auth, client_ip};
use crate::secrets::{random_token, token_hash};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tenantry_domain::Action;
use tenantry_domain::authz::{Permission, own_permissions};
use tenantry_domain::clock::rfc3339_micros;
use tenantry_domain::validate::{self, MAX_EMAIL};
use tenantry_domain::{Account, AuditActor, Outcome, Role, SessionId, User, UserStatus};
use tenantry_store::{Ctx, NewSession};

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
    /// How this sign-in proved who it is (`password` or `sso`); null for an API token.
    sign_in_method: Option<String>,
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
    /// For a user with MFA: its authenticator's code …
    #[serde(default)]
    totp_code: Option<String>,
    /// … or one of its recovery codes.
    #[serde(default)]
    recovery_code: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordOnly {
    password: String,
    /// With the password, for a user with MFA.
    #[serde(default)]
    totp_code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
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
    /// With the current password, for a user with MFA.
    #[serde(default)]
    totp_code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

/// The `Set-Cookie` value that carries a sign-in token (or, with `None`, removes it). Over https
/// it is a `__Host-` cookie: Secure, for this host only, on every path.
pub(crate) fn session_cookie(app: &App, token: Option<&str>) -> ApiResult<HeaderValue> {
    let secure = if app.secure_cookies() { "; Secure" } else { "" };
    let name = app.session_cookie_name();
    let value = match token {
        Some(token) => format!(
            "{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            app.settings.session_absolute.whole_seconds()
        ),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The client's address, for handlers that take no `Auth`.
pub struct Client(pub Option<ClientIp>);

impl axum::extract::FromRequestParts<App> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, ApiError> {
        Ok(Self(client_ip(parts)))
    }
}

#[utoipa::path(operation_id = "login", post, path = "/auth/login", tag = "auth", request_body = LoginRequest, responses((status = 200, description = "Signed in; sets the session cookie", body = LoginReply), crate::error::Failure))]
pub async fn login(
    State(app): State<App>,
    Client(ip): Client,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<Response> {
    let request: LoginRequest = body::json(&headers, &bytes)?;
    if request.email.chars().count() > MAX_EMAIL || request.email.contains('\0') {
        return Err(ApiError::invalid("email", format!("must be at most {MAX_EMAIL} characters, without NUL")));
    }
    validate::password(&request.password).map_err(|m| ApiError::invalid("password", m))?;
    let scopes = credentials::scopes(ip.as_ref(), &request.email);
    let candidate = app.store.login_candidate(&request.email).await?;
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
        ip: ip.map(|ip| ip.to_string()),
        ..Ctx::default()
    };
    // Failures land in the user's account's trail, or the platform's for an unknown email.
    let trail = match &candidate {
        Some(c) => c.account.id,
        None => app.store.platform().await?.id,
    };
    let user = candidate.as_ref().map(|c| c.user.id.to_string());
    let hash = candidate.as_ref().and_then(|c| c.password_hash.as_deref());
    let checked = match credentials::check_password(&app, &scopes, &request.password, hash).await {
        Err(e @ ApiError::RateLimited { .. }) => {
            let draft = refusal(trail, Action::LoginFailed, user, e.code(), Outcome::Denied);
            return Err(crate::principal::record_refusal(&app, draft, &ctx, e).await);
        }
        other => other?,
    };
    let (Some(candidate), Checked::Verified(attempt)) = (candidate, checked) else {
        let draft = refusal(trail, Action::LoginFailed, user, "invalid_credentials", Outcome::Failure);
        return Err(crate::principal::record_refusal(&app, draft, &ctx, ApiError::InvalidCredentials).await);
    };

    let now = app.now();
    let refused = match candidate.user.status_at(now) {
        UserStatus::Disabled | UserStatus::Invited => Some(ApiError::UserDisabled),
        UserStatus::Expired => Some(ApiError::UserExpired),
        UserStatus::Active if candidate.blocked => Some(ApiError::AccountSuspended),
        UserStatus::Active if !allowed_from(&candidate.account.allowed_networks, ip.as_ref()) => {
            Some(ApiError::NetworkNotAllowed)
        }
        UserStatus::Active if candidate.account.sso_mandatory && candidate.user.role != Role::SsoAdmin => {
            Some(ApiError::SsoRequired)
        }
        UserStatus::Active => None,
    };
    if let Some(refused) = refused {
        // The password was right: not a guess.
        app.store.release_attempt(attempt).await?;
        let draft = refusal(trail, Action::LoginFailed, user, refused.code(), Outcome::Denied);
        return Err(crate::principal::record_refusal(&app, draft, &ctx, refused).await);
    }
    let second = SecondFactor { totp_code: request.totp_code, recovery_code: request.recovery_code };
    let attempt = match credentials::second_factor(&app, &candidate.user, &second, attempt).await? {
        Ok(attempt) => attempt,
        Err((reason, outcome, error)) => {
            let draft = refusal(trail, Action::LoginFailed, user, reason, outcome);
            return Err(crate::principal::record_refusal(&app, draft, &ctx, error).await);
        }
    };
    let token = random_token()?;
    let csrf_token = random_token()?;
    let expires_at = now + app.settings.session_absolute;
    let session = NewSession {
        id: SessionId::new(),
        token_hash: token_hash(&token),
        user_id: candidate.user.id,
        csrf_token: csrf_token.clone(),
        expires_at,
        ip: ip.map(|ip| ip.to_string()),
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
        method: "password",
        attempt: Some(attempt),
    };
    app.store.create_session(session, &ctx).await?;
    let mut user = candidate.user;
    user.last_login_at = Some(now);
    let body = LoginReply { user, account: candidate.account, csrf_token, expires_at: rfc3339_micros(expires_at) };
    Ok(([(header::SET_COOKIE, session_cookie(&app, Some(&token))?)], Json(body)).into_response())
}

#[utoipa::path(operation_id = "logout", post, path = "/auth/logout", tag = "auth", security(("session" = [], "csrf" = [])), responses((status = 204, description = "Signed out, with its access sessions"), crate::error::Failure))]
pub async fn logout(State(app): State<App>, auth: Auth) -> ApiResult<Response> {
    app.store.end_session(auth.signin()?.id, Some(Action::Logout), &auth.ctx()).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, session_cookie(&app, None)?)]).into_response())
}

#[utoipa::path(operation_id = "me", get, path = "/me", tag = "auth", security(("session" = [])), responses((status = 200, body = MeReply), crate::error::Failure))]
pub async fn me(State(app): State<App>, auth: Auth) -> ApiResult<Json<MeReply>> {
    let permissions = own_permissions(&auth.principal);
    let csrf_token = auth.session.as_ref().map(|s| s.csrf_token.clone()).unwrap_or_default();
    let sign_in_method = auth.session.as_ref().map(|s| s.method.clone());
    Ok(Json(MeReply {
        user: auth.user.as_of(app.now()),
        account: auth.account,
        csrf_token,
        permissions,
        sign_in_method,
    }))
}

#[utoipa::path(operation_id = "reauth", post, path = "/auth/reauth", tag = "auth", security(("session" = [], "csrf" = [])), request_body = PasswordOnly, responses((status = 200, description = "Stepped up; rotates the session cookie", body = CsrfReply), crate::error::Failure))]
pub async fn reauth(State(app): State<App>, auth: Auth, headers: HeaderMap, bytes: Bytes) -> ApiResult<Response> {
    let signin = auth.signin()?;
    let request: PasswordOnly = body::json(&headers, &bytes)?;
    let second = SecondFactor { totp_code: request.totp_code, recovery_code: request.recovery_code };
    credentials::confirm_own_password(&app, &auth, &request.password, &second).await?;
    let token = random_token()?;
    app.store.rotate_session(signin.id, &token_hash(&token), "password", &auth.ctx()).await?;
    let body = CsrfReply { csrf_token: signin.csrf_token.clone() };
    Ok(([(header::SET_COOKIE, session_cookie(&app, Some(&token))?)], Json(body)).into_response())
}

#[utoipa::path(operation_id = "activate", post, path = "/auth/activate", tag = "auth", request_body = ActivateRequest, responses((status = 204, description = "Password set; the user is active"), crate::error::Failure))]
pub async fn activate(
    State(app): State<App>,
    Client(ip): Client,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    let request: ActivateRequest = body::json(&headers, &bytes)?;
    validate::password(&request.password).map_err(|m| ApiError::invalid("password", m))?;
    // The token is looked up before anything is hashed; unknown ones count against the address.
    let scopes: Vec<String> = ip.iter().map(ClientIp::rate_scope).collect();
    let reservation = match credentials::reserve(&app, &scopes).await {
        Err(e @ ApiError::RateLimited { .. }) => {
            let ctx = Ctx { ip: ip.map(|ip| ip.to_string()), ..Ctx::default() };
            let draft =
                refusal(app.store.platform().await?.id, Action::ActivationFailed, None, e.code(), Outcome::Denied);
            return Err(crate::principal::record_refusal(&app, draft, &ctx, e).await);
        }
        other => other?,
    };
    let token_hash = token_hash(&request.token);
    let Some(user) = app.store.invited_user(&token_hash).await? else {
        return Err(ApiError::invalid("token", "unknown, already used or expired"));
    };
    app.store.release_attempt(reservation).await?;
    validate::new_password(&request.password, &[user.email.as_str(), &user.name])
        .map_err(|m| ApiError::invalid("password", m))?;
    let hash = app.passwords.hash(&request.password).await?;
    match app.store.activate(&token_hash, &hash).await? {
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
    let second = SecondFactor { totp_code: request.totp_code, recovery_code: request.recovery_code };
    credentials::confirm_own_password(&app, &auth, &request.current_password, &second).await?;
    validate::new_password(&request.new_password, &[auth.user.email.as_str(), &auth.user.name])
        .map_err(|m| ApiError::invalid("new_password", m))?;
    let hash = app.passwords.hash(&request.new_password).await?;
    app.store.change_own_password(auth.principal.user_id, signin, &hash, &auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
