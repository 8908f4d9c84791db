//! `/api/v1/accounts`: the account tree — list, create (with the primary user), read, update,
//! schedule deletion, restore.

use super::{ListBody, Params, id_cursor, page_request, param};
use crate::app::App;
use crate::body::Payload;
use crate::body::{self, Patch};
use crate::credentials::Confirmation;
use crate::error::{ApiError, ApiResult};
use crate::granted::{Granted, SteppedUp};
use crate::principal::Auth;
use crate::secrets::{random_token, token_hash};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use tenantry_domain::Action;
use tenantry_domain::action::act;
use tenantry_domain::authz::{Denial, Permission, cap};
use tenantry_domain::validate::{self, Validator};
use tenantry_domain::{Account, AccountId, AccountKind, AccountStatus, Email, Plan, Slug, User};
use tenantry_store::{AccountFilter, AccountGrants, AccountPatch, ActivationSecret, NewAccount, NewUser};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    kind: String,
    name: String,
    slug: Option<String>,
    /// The parent; the caller's own account when absent. Read from the raw body before the typed
    /// parse, so that an invisible parent is a 404 whatever else the body holds.
    #[allow(dead_code)]
    parent_id: Option<String>,
    plan: Option<String>,
    contact_email: Option<String>,
    region: Option<String>,
    admin: AdminRequest,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminRequest {
    email: String,
    name: String,
    password: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAccountRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    contact_email: Patch<String>,
    #[serde(default)]
    sso_mandatory: Option<bool>,
    #[serde(default)]
    status: Option<String>,
    /// Whether the account's users must sign in with a second factor.
    #[serde(default)]
    mfa_required: Option<bool>,
    /// CIDR ranges its users may sign in from; empty means anywhere.
    #[serde(default)]
    allowed_networks: Option<Vec<String>>,
}

/// A created account with its primary user, and the user's activation link when invited.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedAccount {
    account: Account,
    initial_user: User,
    activation_url: Option<String>,
}

/// A new user's password hash, or the activation secret and its link when there is no password.
pub struct Credentials {
    pub password_hash: Option<String>,
    pub activation: Option<ActivationSecret>,
    pub activation_url: Option<String>,
}

/// Hashes the given password, or mints a one-time activation link.
pub async fn credentials(app: &App, password: Option<&str>) -> ApiResult<Credentials> {
    match password {
        Some(p) => Ok(Credentials {
            password_hash: Some(app.passwords.hash(p).await?),
            activation: None,
            activation_url: None,
        }),
        None => {
            let token = random_token()?;
            Ok(Credentials {
                password_hash: None,
                activation: Some(ActivationSecret {
                    token_hash: token_hash(&token),
                    expires_at: app.now() + app.settings.activation_ttl,
                }),
                activation_url: Some(app.activation_url(&token)),
            })
        }
    }
}

/// An optional email field, checked.
pub fn optional_email(v: &mut Validator, field: &str, raw: Option<&str>) -> Option<String> {
    raw.and_then(|e| v.check(field, Email::parse(e)).map(|e| e.as_str().to_owned()))
}

#[utoipa::path(operation_id = "list_accounts", get, path = "/accounts", tag = "accounts", security(("session" = [])), params(("kind" = Option<AccountKind>, Query), ("parent_id" = Option<String>, Query), ("q" = Option<String>, Query, description = "Name or slug contains"), ("limit" = Option<u32>, Query, description = "Page size, 1–500 (default 50)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = ListBody<Account>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<Account>>> {
    let own = auth.principal.account_id.to_string();
    let (grant, _) = auth.grant(&app, cap::AccountRead, &own, Action::AccountListed).await?;
    let filter = AccountFilter {
        kind: param(&params, "kind", |k| k.parse::<AccountKind>())?,
        parent_id: param(&params, "parent_id", |p| {
            p.parse::<AccountId>().map_err(|_| "must be an account id".to_owned())
        })?,
        q: param(&params, "q", validate::search)?,
    };
    let page = page_request(&params, id_cursor::<AccountId>)?;
    let page = app.store.list_accounts(&grant, &filter, &page).await?;
    Ok(Json(page.into()))
}

#[utoipa::path(operation_id = "create_account", post, path = "/accounts", tag = "accounts", security(("session" = [], "csrf" = [])), request_body = CreateAccountRequest, responses((status = 201, body = CreatedAccount), crate::error::Failure))]
pub async fn create(
    State(app): State<App>,
    auth: Auth,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<(StatusCode, Json<CreatedAccount>)> {
    let value = body::json_value(&headers, &bytes)?;
    let parent_raw = match value.get("parent_id") {
        Some(serde_json::Value::String(id)) => id.clone(),
        _ => auth.principal.account_id.to_string(),
    };
    let (grant, parent) = auth.grant(&app, cap::AccountCreate, &parent_raw, Action::AccountCreated).await?;
    let asked_kind = value.get("kind").and_then(|k| k.as_str()).and_then(|k| k.parse::<AccountKind>().ok());
    if let Some(kind) = asked_kind.filter(|k| !parent.kind.may_parent(*k)) {
        let denial = auth.deny(&app, Denial::Forbidden, Some(parent.id), &parent_raw, Action::AccountCreated).await;
        return Err(match denial {
            ApiError::Forbidden(_) => {
                ApiError::Forbidden(format!("a {} account cannot create a {kind} account", parent.kind))
            }
            other => other,
        });
    }
    let request: CreateAccountRequest = body::from_value(value)?;
    let kind: AccountKind = request.kind.parse().map_err(|m: String| ApiError::invalid("kind", m))?;

    let mut v = Validator::new();
    let name = v.check("name", validate::name(&request.name));
    let slug = request.slug.as_deref().and_then(|s| v.check("slug", Slug::parse(s)));
    let plan = request.plan.as_deref().and_then(|p| v.check("plan", p.parse::<Plan>()));
    let contact_email = optional_email(&mut v, "contact_email", request.contact_email.as_deref());
    let region = request.region.as_deref().and_then(|r| v.check("region", validate::name(r)));
    let admin_email = v.check("admin.email", Email::parse(&request.admin.email));
    let admin_name = v.check("admin.name", validate::name(&request.admin.name));
    if let Some(p) = request.admin.password.as_deref() {
        v.check("admin.password", validate::new_password(p, &[&request.admin.email, &request.admin.name]));
    }
    v.finish()?;
    let (Some(name), Some(admin_email), Some(admin_name)) = (name, admin_email, admin_name) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };

    let creds = credentials(&app, request.admin.password.as_deref()).await?;
    let new =
        NewAccount { kind, name, slug, plan: Plan::for_new_account(kind, parent.kind, plan), contact_email, region };
    let admin = NewUser {
        email: admin_email,
        name: admin_name,
        role: kind.primary_role(),
        password_hash: creds.password_hash,
        expires_at: None,
        activation: creds.activation,
    };
    let (account, user): (Account, User) = app.store.create_account(&grant, new, admin, &auth.ctx()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccount { account, initial_user: user.as_of(app.now()), activation_url: creds.activation_url }),
    ))
}

/// What the caller may do on an account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PermissionsReply {
    permissions: Vec<Permission>,
}

#[utoipa::path(operation_id = "get_account_permissions", get, path = "/accounts/{id}/permissions", tag = "accounts", description = "The permissions the caller holds on the account, by the same rule every request is authorized with (inside an access session, with it). Consoles use it to offer only what will be allowed.", security(("session" = [])), params(("id" = String, Path, description = "Account id")), responses((status = 200, body = PermissionsReply), crate::error::Failure))]
pub async fn permissions(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<PermissionsReply>> {
    let (_, permissions) = auth.permissions_on(&app, &id).await?;
    Ok(Json(PermissionsReply { permissions }))
}

#[utoipa::path(operation_id = "get_account", get, path = "/accounts/{id}", tag = "accounts", security(("session" = [])), params(("id" = String, Path, description = "Account id")), responses((status = 200, body = Account), crate::error::Failure))]
pub async fn get(on: Granted<act::AccountRead>) -> ApiResult<Json<Account>> {
    Ok(Json(on.account))
}

#[utoipa::path(operation_id = "update_account", patch, path = "/accounts/{id}", tag = "accounts", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "Account id")), request_body = PatchAccountRequest, responses((status = 200, body = Account), crate::error::Failure))]
pub async fn patch(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    body: Payload<PatchAccountRequest>,
) -> ApiResult<Json<Account>> {
    let (_, account) = auth.grant(&app, cap::AccountRead, &id, Action::AccountUpdated).await?;
    let value = body.read_value().await?;
    let has = |key: &str| value.get(key).is_some();
    // Each field is judged by its own row of the matrix.
    let mut grants = AccountGrants::default();
    if ["name", "slug", "contact_email", "status"].iter().any(|k| has(k)) {
        grants.update = Some(auth.also(&app, cap::AccountUpdate, &account, Action::AccountUpdated).await?);
    }
    if has("sso_mandatory") {
        grants.sso_mandatory = Some(auth.also(&app, cap::AccountSsoMandatory, &account, Action::AccountUpdated).await?);
    }
    if has("mfa_required") || has("allowed_networks") {
        grants.security = Some(auth.also(&app, cap::SsoManage, &account, Action::AccountUpdated).await?);
    }
    let request: PatchAccountRequest = body::from_value(value)?;

    let mut v = Validator::new();
    let name = request.name.as_deref().and_then(|n| v.check("name", validate::name(n)));
    let slug = request.slug.as_deref().and_then(|s| v.check("slug", Slug::parse(s)));
    let contact_email = match request.contact_email {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(e) => v.check("contact_email", Email::parse(&e)).map(|e| Some(e.as_str().to_owned())),
    };
    let status = request.status.as_deref().and_then(|s| {
        v.check(
            "status",
            match s {
                "active" => Ok(AccountStatus::Active),
                "suspended" => Ok(AccountStatus::Suspended),
                _ => Err("must be `active` or `suspended`".to_owned()),
            },
        )
    });
    let allowed_networks = request.allowed_networks.as_deref().and_then(|raw| {
        let networks = v.check("allowed_networks", crate::client::parse_networks(raw))?;
        // The caller's own account: never a list that would shut out this very request.
        let locks_out =
            account.id == auth.principal.account_id && !crate::client::allowed_from(&networks, auth.ip.as_ref());
        if locks_out {
            v.push("allowed_networks", "would lock out your own current address");
            return None;
        }
        Some(networks)
    });
    v.finish()?;
    let patch = AccountPatch {
        name,
        slug,
        contact_email,
        sso_mandatory: request.sso_mandatory,
        status,
        mfa_required: request.mfa_required,
        allowed_networks,
    };
    let nothing = patch.name.is_none()
        && patch.slug.is_none()
        && patch.contact_email.is_none()
        && patch.sso_mandatory.is_none()
        && patch.status.is_none()
        && patch.mfa_required.is_none()
        && patch.allowed_networks.is_none();
    if nothing {
        return Ok(Json(account));
    }
    Ok(Json(app.store.update_account(grants, patch, &auth.ctx()).await?))
}

#[utoipa::path(operation_id = "delete_account", delete, path = "/accounts/{id}", tag = "accounts", description = "Schedules deletion. Needs a recent step-up or `password` in the body.", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "Account id")), request_body(content = Option<Confirmation>, description = "Optional inline step-up"), responses((status = 204, description = "Deletion scheduled"), crate::error::Failure))]
pub async fn delete(
    State(app): State<App>,
    confirmed: SteppedUp<act::AccountDeletionScheduled, Confirmation>,
) -> ApiResult<StatusCode> {
    let (on, _) = confirmed.optional()?;
    let deadline = app.now() + app.settings.deletion_grace;
    app.store.schedule_deletion(&on.grant, deadline, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "restore_account", post, path = "/accounts/{id}/restore", tag = "accounts", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "Account id")), responses((status = 200, body = Account), crate::error::Failure))]
pub async fn restore(State(app): State<App>, on: Granted<act::AccountRestored>) -> ApiResult<Json<Account>> {
    Ok(Json(app.store.restore_account(&on.grant, &on.ctx()).await?))
}
