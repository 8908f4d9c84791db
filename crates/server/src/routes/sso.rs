//! `/api/v1/accounts/{id}/sso`: an account's OpenID Connect provider — read and set by those who
//! manage its sign-in settings (its own administrators, its MSP's admin for a customer). Setting
//! it contacts nobody; the client secret is write-only.

use crate::app::App;
use crate::body::Payload;
use crate::error::{ApiError, ApiResult};
use crate::granted::Granted;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use tenantry_domain::action::act;
use tenantry_domain::validate::{self, Validator};
use tenantry_domain::{AccountKind, Denial, Role};
use tenantry_store::SsoSettings;

/// An account's provider, as served (never its secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SsoConfig {
    enabled: bool,
    issuer: String,
    client_id: String,
    client_secret_set: bool,
    scopes: Vec<String>,
    email_claim: String,
    allowed_email_domains: Vec<String>,
    jit_provisioning: bool,
    default_role: Role,
}

impl SsoConfig {
    /// What an account that never set one shows.
    fn unset(kind: AccountKind) -> Self {
        Self {
            enabled: false,
            issuer: String::new(),
            client_id: String::new(),
            client_secret_set: false,
            scopes: default_scopes(),
            email_claim: "email".into(),
            allowed_email_domains: Vec::new(),
            jit_provisioning: false,
            default_role: least_role(kind),
        }
    }
}

impl From<SsoSettings> for SsoConfig {
    fn from(s: SsoSettings) -> Self {
        Self {
            enabled: s.enabled,
            issuer: s.issuer,
            client_id: s.client_id,
            client_secret_set: s.client_secret.is_some(),
            scopes: s.scopes,
            email_claim: s.email_claim,
            allowed_email_domains: s.allowed_email_domains,
            jit_provisioning: s.jit_provisioning,
            default_role: s.default_role,
        }
    }
}

/// A new provider configuration; `client_secret` absent keeps the stored one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoConfigRequest {
    enabled: bool,
    issuer: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    email_claim: Option<String>,
    #[serde(default)]
    allowed_email_domains: Vec<String>,
    #[serde(default)]
    jit_provisioning: bool,
    #[serde(default)]
    default_role: Option<String>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(str::to_owned).to_vec()
}

/// The role just-in-time users get unless told otherwise: the least an account of `kind` gives.
fn least_role(kind: AccountKind) -> Role {
    match kind {
        AccountKind::Customer => Role::Viewer,
        AccountKind::Msp => Role::MspReadonly,
        AccountKind::Partner => Role::PartnerReadonly,
        // The platform has no role that does not administer: no users are created at sign-in.
        AccountKind::Platform => Role::SsoAdmin,
    }
}

/// Whether `role` administers its account (users, credentials or sign-in settings).
fn administers(role: Role) -> bool {
    matches!(
        role,
        Role::PlatformAdmin | Role::PartnerAdmin | Role::MspAdmin | Role::MasterAdmin | Role::Admin | Role::SsoAdmin
    )
}

/// An issuer: `https://`, or `http://` on a loopback address when the server allows it.
fn issuer(raw: &str, allow_insecure: bool) -> Result<String, String> {
    let url = validate::http_url(raw)?.trim_end_matches('/').to_owned();
    if url.starts_with("https://") {
        return Ok(url);
    }
    let host = url.trim_start_matches("http://").split(['/', ':']).next().unwrap_or_default();
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if allow_insecure && loopback { Ok(url) } else { Err("must be an https:// URL".into()) }
}

fn token(field: &'static str, max: usize) -> impl Fn(&str) -> Result<String, String> {
    move |raw: &str| {
        let raw = raw.trim();
        let ok = !raw.is_empty() && raw.len() <= max && raw.chars().all(|c| c.is_ascii_graphic());
        if ok { Ok(raw.to_owned()) } else { Err(format!("{field} must be 1 to {max} printable characters")) }
    }
}

fn domain(raw: &str) -> Result<String, String> {
    let domain = validate::hostname(raw)?;
    if domain.contains('.') && domain.parse::<IpAddr>().is_err() {
        Ok(domain)
    } else {
        Err(format!("`{raw}` is not an email domain"))
    }
}

impl SsoConfigRequest {
    /// Checks every field for an account of `kind`.
    fn into_settings(self, kind: AccountKind, allow_insecure: bool) -> ApiResult<SsoSettings> {
        let mut v = Validator::new();
        let issuer = v.check("issuer", issuer(&self.issuer, allow_insecure));
        let client_id = v.check("client_id", token("client_id", 255)(&self.client_id));
        let client_secret =
            self.client_secret.as_deref().and_then(|s| v.check("client_secret", token("client_secret", 1024)(s)));
        let scopes = self.scopes.unwrap_or_else(default_scopes);
        let scopes: Vec<String> = scopes.iter().filter_map(|s| v.check("scopes", token("a scope", 64)(s))).collect();
        if !scopes.iter().any(|s| s == "openid") {
            v.push("scopes", "must include openid");
        }
        let email_claim =
            v.check("email_claim", token("email_claim", 64)(self.email_claim.as_deref().unwrap_or("email")));
        if self.allowed_email_domains.len() > 50 {
            v.push("allowed_email_domains", "at most 50 domains");
        }
        let mut domains: Vec<String> =
            self.allowed_email_domains.iter().filter_map(|d| v.check("allowed_email_domains", domain(d))).collect();
        domains.sort();
        domains.dedup();
        let role = match self.default_role.as_deref() {
            None => Some(least_role(kind)),
            Some(raw) => v.check(
                "default_role",
                raw.parse::<Role>().and_then(|r| {
                    if r.fits(kind) { Ok(r) } else { Err(format!("`{r}` is not a role of a {kind} account")) }
                }),
            ),
        };
        // A user the provider creates never administers: an administrator could repoint the
        // provider and sign in as anyone.
        if self.jit_provisioning && role.is_some_and(administers) {
            v.push("default_role", "users created at sign-in cannot get an administrative role");
        }
        v.finish()?;
        let (Some(issuer), Some(client_id), Some(email_claim), Some(default_role)) =
            (issuer, client_id, email_claim, role)
        else {
            return Err(ApiError::Internal("validated fields missing".into()));
        };
        Ok(SsoSettings {
            enabled: self.enabled,
            issuer,
            client_id,
            client_secret,
            scopes,
            email_claim,
            allowed_email_domains: domains,
            jit_provisioning: self.jit_provisioning,
            default_role,
        })
    }
}

#[utoipa::path(operation_id = "get_sso", get, path = "/accounts/{id}/sso", tag = "sso", security(("session" = [])), params(("id" = String, Path)), responses((status = 200, body = SsoConfig), crate::error::Failure))]
pub async fn get(State(app): State<App>, on: Granted<act::SsoRead>) -> ApiResult<Json<SsoConfig>> {
    Ok(Json(match app.store.sso_settings(&on.grant).await? {
        Some(settings) => settings.into(),
        None => SsoConfig::unset(on.account.kind),
    }))
}

#[utoipa::path(operation_id = "set_sso", put, path = "/accounts/{id}/sso", tag = "sso", description = "Stores the provider without contacting it; `enabled: false` keeps the configuration. 409 when disabling while `sso_mandatory` is on, or when another account holds one of the email domains.", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), request_body = SsoConfigRequest, responses((status = 200, body = SsoConfig), crate::error::Failure))]
pub async fn put(
    State(app): State<App>,
    on: Granted<act::SsoUpdated>,
    body: Payload<SsoConfigRequest>,
) -> ApiResult<Json<SsoConfig>> {
    // The provider decides who signs in as whom: like a password, it is not set by someone
    // working inside the customer through an access session.
    if on.auth.principal.access.is_some() {
        return Err(on.deny(&app, Denial::DelegatedCredentialForbidden).await);
    }
    let settings = body.read().await?.into_settings(on.account.kind, app.settings.sso_allow_insecure_issuer)?;
    Ok(Json(app.store.set_sso_settings(&on.grant, settings, &on.ctx()).await?.into()))
}

/// What a connection test found.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SsoTestReply {
    ok: bool,
    error: Option<String>,
    authorization_endpoint: Option<String>,
}

#[utoipa::path(operation_id = "test_sso", post, path = "/accounts/{id}/sso/test", tag = "sso", description = "Fetches the provider's discovery document and keys now.", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), responses((status = 200, body = SsoTestReply), crate::error::Failure))]
pub async fn test(State(app): State<App>, on: Granted<act::SsoRead>) -> ApiResult<Json<SsoTestReply>> {
    let Some(settings) = app.store.sso_settings(&on.grant).await? else {
        let error = Some("no provider is set".to_owned());
        return Ok(Json(SsoTestReply { ok: false, error, authorization_endpoint: None }));
    };
    Ok(Json(match app.providers.test(&settings).await {
        Ok(endpoint) => SsoTestReply { ok: true, error: None, authorization_endpoint: Some(endpoint) },
        Err(failure) => SsoTestReply { ok: false, error: Some(failure.detail), authorization_endpoint: None },
    }))
}
