//! `/api/v1/accounts/{id}/api-tokens`: account-scoped bearer tokens. Created with a step-up, shown
//! once, stored hashed; each acts with its creator's role at creation and never steps up.

use super::{ListBody, Params, id_cursor, page_request};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::granted::{Confirming, Granted, SteppedUp};
use crate::mfa::SecondFactor;
use crate::secrets::{random_token, token_hash};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenantry_domain::action::act;
use tenantry_domain::clock::serde_micros;
use tenantry_domain::validate::{self, Validator};
use tenantry_domain::{ApiTokenId, Role, UserId};
use tenantry_store::{ApiTokenRecord, NewApiToken};
use time::{Duration, OffsetDateTime};

/// What every token's secret starts with, so that leaked ones are easy to recognise.
pub const TOKEN_PREFIX: &str = "tnt_";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    name: String,
    /// 1 to 730.
    #[serde(deserialize_with = "tenantry_domain::validate::whole_number")]
    expires_in_days: i64,
    /// The creator's own password, as an inline step-up.
    password: Option<String>,
    /// With `password`, for a user with MFA.
    #[serde(default)]
    totp_code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

impl Confirming for CreateTokenRequest {
    fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    fn second_factor(&self) -> SecondFactor {
        SecondFactor { totp_code: self.totp_code.clone(), recovery_code: self.recovery_code.clone() }
    }
}

/// A token just created: the only time its secret is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    id: ApiTokenId,
    name: String,
    token: String,
    #[serde(with = "serde_micros")]
    expires_at: OffsetDateTime,
}

/// A token as listed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenBody {
    id: ApiTokenId,
    name: String,
    /// The role it acts with: its creator's at creation.
    role: Role,
    created_by: UserId,
    #[serde(with = "serde_micros")]
    created_at: OffsetDateTime,
    #[serde(with = "serde_micros")]
    expires_at: OffsetDateTime,
    #[serde(with = "serde_micros::option")]
    last_used_at: Option<OffsetDateTime>,
    #[serde(with = "serde_micros::option")]
    revoked_at: Option<OffsetDateTime>,
}

impl From<ApiTokenRecord> for TokenBody {
    fn from(t: ApiTokenRecord) -> Self {
        Self {
            id: t.id,
            name: t.name,
            role: t.role,
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[utoipa::path(operation_id = "list_api_tokens", get, path = "/accounts/{id}/api-tokens", tag = "api-tokens", security(("session" = [])), params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<TokenBody>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::ApiTokenListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<TokenBody>>> {
    let page = page_request(&params, id_cursor::<ApiTokenId>)?;
    let page = app.store.list_api_tokens(&on.grant, &page).await?;
    Ok(Json(ListBody { items: page.items.into_iter().map(TokenBody::from).collect(), next_cursor: page.next }))
}

#[utoipa::path(operation_id = "create_api_token", post, path = "/accounts/{id}/api-tokens", tag = "api-tokens", description = "Needs a recent step-up or `password` inline; refused inside an access session.", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), request_body = CreateTokenRequest, responses((status = 201, body = CreatedToken), crate::error::Failure))]
pub async fn create(
    State(app): State<App>,
    confirmed: SteppedUp<act::ApiTokenCreated, CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let (on, request) = confirmed.required()?;
    let (auth, grant) = (&on.auth, &on.grant);
    let mut v = Validator::new();
    let name = v.check("name", validate::name(&request.name));
    if !(1..=730).contains(&request.expires_in_days) {
        v.push("expires_in_days", "must be 1 to 730");
    }
    v.finish()?;
    let name = name.ok_or_else(|| ApiError::Internal("validated name missing".into()))?;
    let token = format!("{TOKEN_PREFIX}{}", random_token()?);
    let new = NewApiToken {
        name,
        token_hash: token_hash(&token),
        role: auth.principal.role,
        expires_at: app.now() + Duration::days(request.expires_in_days),
    };
    let record = app.store.create_api_token(grant, new, &auth.ctx()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken { id: record.id, name: record.name, token, expires_at: record.expires_at }),
    ))
}

#[utoipa::path(operation_id = "get_api_token", get, path = "/accounts/{id}/api-tokens/{token_id}", tag = "api-tokens", security(("session" = [])), params(("id" = String, Path), ("token_id" = String, Path)), responses((status = 200, body = TokenBody), crate::error::Failure))]
pub async fn get(State(app): State<App>, on: Granted<act::ApiTokenRead>) -> ApiResult<Json<TokenBody>> {
    Ok(Json(app.store.get_api_token(&on.grant, on.child()?).await?.into()))
}

#[utoipa::path(operation_id = "revoke_api_token", delete, path = "/accounts/{id}/api-tokens/{token_id}", tag = "api-tokens", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("token_id" = String, Path)), responses((status = 204, description = "Revoked"), crate::error::Failure))]
pub async fn revoke(State(app): State<App>, on: Granted<act::ApiTokenRevoked>) -> ApiResult<StatusCode> {
    app.store.revoke_api_token(&on.grant, on.child()?, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
