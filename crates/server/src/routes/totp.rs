//! `/api/v1/auth/mfa`: a user's own TOTP factor — enrolling (a QR code to scan), confirming with
//! a first code (which hands out ten recovery codes), new recovery codes, turning it off — and a
//! user manager's reset of a user's lost factor.

use crate::app::App;
use crate::body::Payload;
use crate::credentials::{Confirmation, inline, require_reauth};
use crate::error::{ApiError, ApiResult};
use crate::granted::Changing;
use crate::mfa;
use crate::principal::Auth;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenantry_domain::action::act;
use tenantry_domain::authz::cap;
use tenantry_domain::{Action, UserId};

/// A pending enrollment: the secret to type in, or the QR code to scan.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Enrollment {
    /// Base32.
    secret: String,
    otpauth_uri: String,
    /// An SVG document.
    qr_svg: String,
}

/// The user's recovery codes, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// The first code of the authenticator, confirming the enrollment.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    code: String,
}

/// Steps the caller up (recently, or with the password in the optional body), recording a refusal
/// as `action` in its own trail.
async fn stepped_up(app: &App, auth: &Auth, body: Payload<Confirmation>, action: Action) -> ApiResult<()> {
    let body = body.read_optional().await?;
    require_reauth(app, auth, inline(body.as_ref().ok().and_then(Option::as_ref)), &auth.account, action).await?;
    body.map(drop)
}

#[utoipa::path(operation_id = "begin_totp", post, path = "/auth/mfa/totp", tag = "auth", description = "Starts enrolling a TOTP factor. Needs a recent step-up or `password` inline. 409 while one is on.", security(("session" = [], "csrf" = [])), request_body(content = Option<Confirmation>), responses((status = 200, body = Enrollment), crate::error::Failure))]
pub async fn begin(State(app): State<App>, auth: Auth, body: Payload<Confirmation>) -> ApiResult<Json<Enrollment>> {
    auth.signin()?;
    stepped_up(&app, &auth, body, Action::MfaEnabled).await?;
    let secret = mfa::new_secret()?;
    let totp = mfa::totp(&secret, auth.user.email.as_str())?;
    let (otpauth_uri, qr_svg) = mfa::enrollment(&totp)?;
    app.store.begin_totp(auth.user.id, &secret).await?;
    Ok(Json(Enrollment { secret, otpauth_uri, qr_svg }))
}

#[utoipa::path(operation_id = "confirm_totp", post, path = "/auth/mfa/totp/confirm", tag = "auth", description = "Confirms the pending factor with its current code (which counts as used) and turns MFA on.", security(("session" = [], "csrf" = [])), request_body = ConfirmRequest, responses((status = 200, body = RecoveryCodes), crate::error::Failure))]
pub async fn confirm(
    State(app): State<App>,
    auth: Auth,
    body: Payload<ConfirmRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    auth.signin()?;
    let request = body.read().await?;
    let pending = app.store.totp_factor(auth.user.id).await?.filter(|f| !f.confirmed);
    let Some(pending) = pending else {
        return Err(ApiError::Conflict("no enrollment is pending; start one first".into()));
    };
    let totp = mfa::totp(&pending.secret, auth.user.email.as_str())?;
    let Some(step) = mfa::matching_step(&totp, &request.code, app.now()) else {
        return Err(ApiError::invalid("code", "is not the authenticator's current code"));
    };
    let (codes, hashes) = mfa::new_recovery_codes()?;
    if !app.store.confirm_totp(auth.user.id, step, &hashes, &auth.ctx()).await? {
        return Err(ApiError::Conflict("no enrollment is pending; start one first".into()));
    }
    Ok(Json(RecoveryCodes { recovery_codes: codes }))
}

#[utoipa::path(operation_id = "remove_totp", delete, path = "/auth/mfa/totp", tag = "auth", description = "Turns the caller's TOTP factor off. Needs a recent step-up or `password` (and a code) inline.", security(("session" = [], "csrf" = [])), request_body(content = Option<Confirmation>), responses((status = 204, description = "Off"), crate::error::Failure))]
pub async fn remove(State(app): State<App>, auth: Auth, body: Payload<Confirmation>) -> ApiResult<StatusCode> {
    auth.signin()?;
    if auth.account.mfa_required {
        return Err(ApiError::Conflict("your account requires a second factor".into()));
    }
    stepped_up(&app, &auth, body, Action::MfaDisabled).await?;
    app.store.remove_totp(auth.user.id, &auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "renew_recovery_codes", post, path = "/auth/mfa/recovery-codes", tag = "auth", description = "Ten new recovery codes; the old ones stop working. Needs a recent step-up or `password` inline.", security(("session" = [], "csrf" = [])), request_body(content = Option<Confirmation>), responses((status = 200, body = RecoveryCodes), crate::error::Failure))]
pub async fn renew_codes(
    State(app): State<App>,
    auth: Auth,
    body: Payload<Confirmation>,
) -> ApiResult<Json<RecoveryCodes>> {
    auth.signin()?;
    stepped_up(&app, &auth, body, Action::RecoveryCodesRenewed).await?;
    let (codes, hashes) = mfa::new_recovery_codes()?;
    match app.store.replace_recovery_codes(auth.user.id, &hashes, &auth.ctx()).await {
        Err(tenantry_store::StoreError::Domain(tenantry_domain::DomainError::NotFound)) => {
            Err(ApiError::Conflict("turn TOTP on first".into()))
        }
        other => other.map(|()| Json(RecoveryCodes { recovery_codes: codes })).map_err(Into::into),
    }
}

#[utoipa::path(operation_id = "reset_user_mfa", delete, path = "/accounts/{id}/users/{user_id}/mfa", tag = "users", description = "By a manager of the user: removes its second factor (a lost phone) and ends its sign-ins. Needs a recent step-up or `password` inline.", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("user_id" = String, Path)), request_body(content = Option<Confirmation>), responses((status = 204, description = "Reset"), crate::error::Failure))]
pub async fn reset(
    State(app): State<App>,
    on: Changing<act::UserMfaReset, UserId>,
    body: Payload<Confirmation>,
) -> ApiResult<StatusCode> {
    // Taking a user's factor away is as lasting as setting its password: not for a technician
    // inside a session; and one's own factor is turned off by its own route.
    on.also(&app, cap::UserCredentials).await?;
    if on.child == on.auth.user.id {
        return Err(ApiError::Conflict("turn your own factor off with DELETE /auth/mfa/totp".into()));
    }
    let body = body.read_optional().await?;
    let inline = inline(body.as_ref().ok().and_then(Option::as_ref));
    require_reauth(&app, &on.auth, inline, &on.account, Action::UserMfaReset).await?;
    body?;
    app.store.reset_user_mfa(&on.grant, on.child, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
