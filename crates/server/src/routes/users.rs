//! `/api/v1/accounts/{id}/users`: an account's users and their roles, managed by the account's own
//! user managers or, for its customers, by the MSP's administrators.

use super::accounts::credentials;
use super::{ListBody, Params, id_cursor, page_request};
use crate::app::App;
use crate::body::Patch;
use crate::body::Payload;
use crate::error::{ApiError, ApiResult};
use crate::granted::{Changing, Granted};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenantry_domain::action::act;
use tenantry_domain::authz::cap;
use tenantry_domain::validate::{self, Validator};
use tenantry_domain::{AccountKind, Email, Role, User, UserId, UserStatus};
use tenantry_store::{NewUser, UserPatch};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    email: String,
    name: String,
    role: String,
    password: Option<String>,
    expires_at: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    expires_at: Patch<String>,
    #[serde(default)]
    password: Option<String>,
}

/// A created user, and its activation link when invited.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    user: User,
    activation_url: Option<String>,
}

fn role_for(kind: AccountKind, raw: &str) -> Result<Role, String> {
    let role: Role = raw.parse()?;
    if role.fits(kind) { Ok(role) } else { Err(format!("`{role}` is not a role of a {kind} account")) }
}

fn timestamp(raw: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| "must be an RFC 3339 time".to_owned())
}

#[utoipa::path(operation_id = "list_users", get, path = "/accounts/{id}/users", tag = "users", security(("session" = [])), params(("id" = String, Path, description = "Account id"), ("limit" = Option<u32>, Query, description = "Page size, 1–500 (default 50)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = ListBody<User>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::UserListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<User>>> {
    let page = page_request(&params, id_cursor::<UserId>)?;
    let mut page = app.store.list_users(&on.grant, &page).await?;
    let now = app.now();
    page.items = page.items.into_iter().map(|u| u.as_of(now)).collect();
    Ok(Json(page.into()))
}

#[utoipa::path(operation_id = "create_user", post, path = "/accounts/{id}/users", tag = "users", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "Account id")), request_body = CreateUserRequest, responses((status = 201, body = CreatedUser), crate::error::Failure))]
pub async fn create(
    State(app): State<App>,
    on: Granted<act::UserCreated>,
    body: Payload<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    let request = body.read().await?;
    let account = &on.account;
    // A lasting credential for the new user: only for those who may mint one.
    let minting = match request.password {
        Some(_) => Some(on.also(&app, cap::UserCredentials).await?),
        None => on.auth.try_grant(&app, cap::UserCredentials, &account.id.to_string()).await?.ok().map(|(g, _)| g),
    };
    let may_mint = minting.is_some();
    let mut v = Validator::new();
    let email = v.check("email", Email::parse(&request.email));
    let name = v.check("name", validate::name(&request.name));
    let role = v.check("role", role_for(account.kind, &request.role));
    if let Some(p) = request.password.as_deref() {
        v.check("password", validate::new_password(p, &[&request.email, &request.name]));
    }
    let expires_at = request.expires_at.as_deref().and_then(|e| v.check("expires_at", timestamp(e)));
    v.finish()?;
    let (Some(email), Some(name), Some(role)) = (email, name, role) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let creds = credentials(&app, request.password.as_deref()).await?;
    let new =
        NewUser { email, name, role, password_hash: creds.password_hash, expires_at, activation: creds.activation };
    let user = app.store.create_user(&on.grant, minting, new, &on.ctx()).await?;
    let activation_url = match creds.activation_url {
        Some(url) if !may_mint => {
            mail_activation(&app, &user, &account.name, url);
            None
        }
        other => other,
    };
    Ok((StatusCode::CREATED, Json(CreatedUser { user: user.as_of(app.now()), activation_url })))
}

/// Sends an invited user its activation link, which the one who created it may not see.
fn mail_activation(app: &App, user: &User, account_name: &str, url: String) {
    let subject = format!("Your {account_name} account on Tenantry");
    let body = format!(
        "Hello {},\n\nan account was created for you in {account_name}. Set your password here:\n\n{url}\n\n\
         The link works once and expires in {} days.\n",
        user.name,
        app.settings.activation_ttl.whole_days()
    );
    crate::mail::send_later(app, user.email.to_string(), subject, body, "activation link");
}

#[utoipa::path(operation_id = "get_user", get, path = "/accounts/{id}/users/{user_id}", tag = "users", security(("session" = [])), params(("id" = String, Path, description = "Account id"), ("user_id" = String, Path, description = "User id")), responses((status = 200, body = User), crate::error::Failure))]
pub async fn get(State(app): State<App>, on: Granted<act::UserRead>) -> ApiResult<Json<User>> {
    Ok(Json(app.store.get_user(&on.grant, on.child()?).await?.as_of(app.now())))
}

#[utoipa::path(operation_id = "update_user", patch, path = "/accounts/{id}/users/{user_id}", tag = "users", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "Account id"), ("user_id" = String, Path, description = "User id")), request_body = PatchUserRequest, responses((status = 200, body = User), crate::error::Failure))]
pub async fn patch(
    State(app): State<App>,
    on: Changing<act::UserUpdated, UserId>,
    body: Payload<PatchUserRequest>,
) -> ApiResult<Json<User>> {
    let request = body.read().await?;
    // A new password or a new email (the user's sign-in identity) is a lasting credential.
    let credentials = match request.password.is_some() || request.email.is_some() {
        true => Some(on.also(&app, cap::UserCredentials).await?),
        false => None,
    };
    let mut v = Validator::new();
    let name = request.name.as_deref().and_then(|n| v.check("name", validate::name(n)));
    let email = request.email.as_deref().and_then(|e| v.check("email", Email::parse(e)));
    let role = request.role.as_deref().and_then(|r| v.check("role", role_for(on.account.kind, r)));
    let status = request.status.as_deref().and_then(|s| {
        v.check(
            "status",
            match s {
                "active" => Ok(UserStatus::Active),
                "disabled" => Ok(UserStatus::Disabled),
                _ => Err("must be `active` or `disabled`".to_owned()),
            },
        )
    });
    let expires_at = match request.expires_at {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(e) => v.check("expires_at", timestamp(&e)).map(Some),
    };
    if let Some(p) = request.password.as_deref() {
        let user = app.store.get_user(&on.grant.weaken(), on.child).await?;
        v.check("password", validate::new_password(p, &[user.email.as_str(), &user.name]));
    }
    v.finish()?;
    let password_hash = match request.password.as_deref() {
        Some(p) => Some(app.passwords.hash(p).await?),
        None => None,
    };
    let patch = UserPatch { name, email, role, status, expires_at, password_hash };
    Ok(Json(app.store.update_user(&on.grant, credentials, on.child, patch, &on.ctx()).await?.as_of(app.now())))
}

#[utoipa::path(operation_id = "delete_user", delete, path = "/accounts/{id}/users/{user_id}", tag = "users", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "Account id"), ("user_id" = String, Path, description = "User id")), responses((status = 204, description = "Deleted"), crate::error::Failure))]
pub async fn delete(State(app): State<App>, on: Changing<act::UserDeleted, UserId>) -> ApiResult<StatusCode> {
    if on.child == on.auth.principal.user_id {
        return Err(ApiError::Conflict("you cannot delete yourself".into()));
    }
    app.store.delete_user(&on.grant, on.child, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
