//! Co-branding: the name, contacts and light and dark logos of a platform, partner or MSP account,
//! and the effective branding an account's users see (its own or its nearest ancestor's).

use crate::app::App;
use crate::body;
use crate::body::Payload;
use crate::error::{ApiError, ApiResult};
use crate::granted::Granted;
use crate::principal::Auth;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tenantry_domain::Action;
use tenantry_domain::action::act;
use tenantry_domain::authz::cap;
use tenantry_domain::validate::{self, Validator};
use tenantry_domain::{AccountKind, Email};
use tenantry_store::{BrandingFields, EffectiveBranding, Logo, LogoVariant};

/// An account's branding, as set.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingBody {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    support_email: Option<String>,
    #[serde(default)]
    support_phone: Option<String>,
    #[serde(default)]
    homepage_url: Option<String>,
}

/// What an account's users see.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EffectiveBrandingBody {
    display_name: Option<String>,
    support_email: Option<String>,
    support_phone: Option<String>,
    homepage_url: Option<String>,
    logo_light_url: Option<String>,
    logo_dark_url: Option<String>,
    /// On a login page's branding only: whether its account signs in with single sign-on.
    #[serde(skip_serializing_if = "Option::is_none")]
    sso_enabled: Option<bool>,
}

impl EffectiveBrandingBody {
    /// `logos` is the URL the `light` and `dark` logos are served under.
    fn new(effective: EffectiveBranding, logos: &str) -> Self {
        let url = |present: bool, which: &str| present.then(|| format!("{logos}/{which}"));
        let f = effective.fields;
        Self {
            display_name: f.display_name,
            support_email: f.support_email,
            support_phone: f.support_phone,
            homepage_url: f.homepage_url,
            logo_light_url: url(effective.has_light_logo, "light"),
            logo_dark_url: url(effective.has_dark_logo, "dark"),
            sso_enabled: None,
        }
    }
}

impl From<BrandingFields> for BrandingBody {
    fn from(f: BrandingFields) -> Self {
        Self {
            display_name: f.display_name,
            support_email: f.support_email,
            support_phone: f.support_phone,
            homepage_url: f.homepage_url,
        }
    }
}

fn variant(raw: &str) -> ApiResult<LogoVariant> {
    match raw {
        "light" => Ok(LogoVariant::Light),
        "dark" => Ok(LogoVariant::Dark),
        _ => Err(ApiError::NotFound),
    }
}

/// Customers have no branding of their own; they see their MSP's.
fn brandable(kind: AccountKind) -> ApiResult<()> {
    if kind == AccountKind::Customer {
        Err(ApiError::Forbidden("customer accounts show their MSP's branding".into()))
    } else {
        Ok(())
    }
}

/// Largest logo dimensions and decoding memory: a small file may declare a huge image.
const MAX_LOGO_SIDE: u32 = 4096;
const MAX_LOGO_DECODE: u64 = 64 * 1024 * 1024;

/// A logo checked by its content: PNG, JPEG or WebP that decodes within bounded dimensions and
/// memory (never SVG). Runs on the blocking pool.
fn checked_logo(bytes: &[u8]) -> ApiResult<Logo> {
    let refused = || ApiError::UnsupportedMediaType("a logo must be a PNG, JPEG or WebP image".into());
    let format = image::guess_format(bytes).map_err(|_| refused())?;
    let content_type = match format {
        image::ImageFormat::Png => "image/png",
        image::ImageFormat::Jpeg => "image/jpeg",
        image::ImageFormat::WebP => "image/webp",
        _ => return Err(refused()),
    };
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_LOGO_SIDE);
    limits.max_image_height = Some(MAX_LOGO_SIDE);
    limits.max_alloc = Some(MAX_LOGO_DECODE);
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    reader.limits(limits);
    reader.decode().map_err(|_| refused())?;
    Ok(Logo { bytes: bytes.to_vec(), content_type: content_type.to_owned() })
}

#[utoipa::path(operation_id = "get_branding", get, path = "/accounts/{id}/branding", tag = "branding", security(("session" = [])), params(("id" = String, Path)), responses((status = 200, body = BrandingBody), crate::error::Failure))]
pub async fn get(State(app): State<App>, on: Granted<act::BrandingRead>) -> ApiResult<Json<BrandingBody>> {
    Ok(Json(app.store.branding(&on.grant).await?.into()))
}

#[utoipa::path(operation_id = "set_branding", put, path = "/accounts/{id}/branding", tag = "branding", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), request_body = BrandingBody, responses((status = 200, body = BrandingBody), crate::error::Failure))]
pub async fn put(
    State(app): State<App>,
    on: Granted<act::BrandingUpdated>,
    body: Payload<BrandingBody>,
) -> ApiResult<Json<BrandingBody>> {
    brandable(on.account.kind)?;
    let request = body.read().await?;
    let mut v = Validator::new();
    let fields = BrandingFields {
        display_name: request.display_name.as_deref().and_then(|n| v.check("display_name", validate::name(n))),
        support_email: request
            .support_email
            .as_deref()
            .and_then(|e| v.check("support_email", Email::parse(e)).map(|e| e.as_str().to_owned())),
        support_phone: request.support_phone.as_deref().and_then(|p| v.check("support_phone", validate::phone(p))),
        homepage_url: request.homepage_url.as_deref().and_then(|u| v.check("homepage_url", validate::http_url(u))),
    };
    v.finish()?;
    Ok(Json(app.store.set_branding(&on.grant, fields, &on.ctx()).await?.into()))
}

#[utoipa::path(operation_id = "set_logo", put, path = "/accounts/{id}/branding/logos/{variant}", tag = "branding", description = "PNG, JPEG or WebP, at most 1 MiB, checked by decoding it.", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("variant" = String, Path, description = "`light` or `dark`")), request_body(content = Vec<u8>, content_type = "image/png"), responses((status = 204, description = "Stored"), crate::error::Failure))]
pub async fn put_logo(
    State(app): State<App>,
    on: Granted<act::BrandingUpdated>,
    request_body: Body,
) -> ApiResult<StatusCode> {
    brandable(on.account.kind)?;
    let which = variant(&on.child::<String>()?)?;
    let bytes = body::read(request_body).await?;
    let logo = tokio::task::spawn_blocking(move || checked_logo(&bytes))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    app.store.set_logo(&on.grant, which, Some(logo), &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "delete_logo", delete, path = "/accounts/{id}/branding/logos/{variant}", tag = "branding", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("variant" = String, Path)), responses((status = 204, description = "Removed"), crate::error::Failure))]
pub async fn delete_logo(State(app): State<App>, on: Granted<act::BrandingUpdated>) -> ApiResult<StatusCode> {
    brandable(on.account.kind)?;
    app.store.set_logo(&on.grant, variant(&on.child::<String>()?)?, None, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "get_effective_branding", get, path = "/accounts/{id}/branding/effective", tag = "branding", description = "What the account's users see: its own branding or its nearest ancestor's.", security(("session" = [])), params(("id" = String, Path)), responses((status = 200, body = EffectiveBrandingBody), crate::error::Failure))]
pub async fn effective(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<EffectiveBrandingBody>> {
    // What its users see: anyone who sees the account sees it.
    let (grant, account) = auth.grant(&app, cap::AccountRead, &id, Action::BrandingRead).await?;
    let effective = app.store.effective_branding(&grant).await?;
    let logos = format!("{}/api/v1/accounts/{}/branding/effective/logos", app.public_url, account.id);
    Ok(Json(EffectiveBrandingBody::new(effective, &logos)))
}

#[utoipa::path(operation_id = "get_effective_logo", get, path = "/accounts/{id}/branding/effective/logos/{variant}", tag = "branding", security(("session" = [])), params(("id" = String, Path), ("variant" = String, Path)), responses((status = 200, description = "The image", content_type = "image/png"), crate::error::Failure))]
pub async fn effective_logo(
    State(app): State<App>,
    auth: Auth,
    Path((id, which)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (grant, _) = auth.grant(&app, cap::AccountRead, &id, Action::BrandingRead).await?;
    let logo = app.store.effective_logo(&grant, variant(&which)?).await?.ok_or(ApiError::NotFound)?;
    Ok(logo_response(logo, &headers, "private, max-age=300"))
}

/// A logo's bytes with an ETag; a matching `If-None-Match` answers 304.
fn logo_response(logo: Logo, headers: &HeaderMap, cache: &'static str) -> Response {
    let digest = hex::encode(sha2::Sha256::digest(&logo.bytes));
    let etag = format!("\"{}\"", &digest[..32]);
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let cache = cache.to_owned();
    ([(header::CONTENT_TYPE, logo.content_type), (header::ETAG, etag), (header::CACHE_CONTROL, cache)], logo.bytes)
        .into_response()
}

#[utoipa::path(operation_id = "get_login_branding", get, path = "/login-branding/{slug}", tag = "branding", description = "Public, for the branded login page `/login/{slug}`: the effective branding of the platform, partner or MSP account with that slug (any other slug is 404).", params(("slug" = String, Path)), responses((status = 200, body = EffectiveBrandingBody), crate::error::Failure))]
pub async fn login_branding(
    State(app): State<App>,
    Path(slug): Path<String>,
) -> ApiResult<Json<EffectiveBrandingBody>> {
    let effective = app.store.login_branding(&slug).await?.ok_or(ApiError::NotFound)?;
    let logos = format!("{}/api/v1/login-branding/{slug}/logos", app.public_url);
    let mut body = EffectiveBrandingBody::new(effective, &logos);
    body.sso_enabled = Some(app.store.sso_account(Some(&slug), None).await?.is_some());
    Ok(Json(body))
}

#[utoipa::path(operation_id = "get_login_logo", get, path = "/login-branding/{slug}/logos/{variant}", tag = "branding", description = "Public: the login page's logo.", params(("slug" = String, Path), ("variant" = String, Path)), responses((status = 200, description = "The image", content_type = "image/png"), crate::error::Failure))]
pub async fn login_logo(
    State(app): State<App>,
    Path((slug, which)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let logo = app.store.login_logo(&slug, variant(&which)?).await?.ok_or(ApiError::NotFound)?;
    Ok(logo_response(logo, &headers, "public, max-age=300"))
}
