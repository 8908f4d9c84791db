//! Who is calling: the `Auth` extractor resolves the session cookie into a [`Principal`], enforces
//! idle and absolute timeouts and CSRF, and `Auth::grant` is the only way a handler gets a
//! [`Grant`] for an account — recording every denial in the audit trail.

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::secrets::{constant_time_eq, token_hash};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use std::net::SocketAddr;
use tenantry_domain::authz::{Credential, Denial, Grant, Permission, Principal, Relation, Target, authorize};
use tenantry_domain::{Account, AccountId, AuditActor, AuditTarget, Outcome, UserStatus};
use tenantry_store::{AuditDraft, Ctx, Linking, SessionRecord};

/// The name of the sign-in cookie.
pub const SESSION_COOKIE: &str = "tenantry_session";
/// The header that must repeat the sign-in's CSRF token on unsafe cookie-authenticated requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in caller.
pub struct Auth {
    pub principal: Principal,
    pub session: SessionRecord,
    pub ip: Option<String>,
}

/// The caller's address, as seen on the connection.
pub fn client_ip(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip().to_string())
}

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(ApiError::Unauthenticated)?;
        let session = app.store.session_by_token(&token_hash(token)).await?.ok_or(ApiError::Unauthenticated)?;
        let now = app.now();
        if now >= session.expires_at || now - session.last_seen_at >= app.settings.session_idle {
            app.store.end_session(session.id, None, &Ctx::default()).await?;
            return Err(ApiError::Unauthenticated);
        }
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            if !constant_time_eq(sent, session.csrf_token.as_bytes()) {
                return Err(ApiError::CsrfFailed);
            }
        }
        match session.user.status_at(now) {
            UserStatus::Active => {}
            UserStatus::Expired => return Err(ApiError::UserExpired),
            UserStatus::Disabled | UserStatus::Invited => return Err(ApiError::UserDisabled),
        }
        if session.blocked {
            return Err(ApiError::AccountSuspended);
        }
        if now - session.last_seen_at >= time::Duration::minutes(1) {
            app.store.touch_session(session.id).await?;
        }
        let principal = Principal {
            user_id: session.user.id,
            email: session.user.email.to_string(),
            account_id: session.account.id,
            account_kind: session.account.kind,
            account_name: session.account.name.clone(),
            role: session.user.role,
            credential: Credential::Session,
            access: None,
        };
        Ok(Self { principal, session, ip: client_ip(parts) })
    }
}

impl Auth {
    /// The audit context of this caller's actions.
    pub fn ctx(&self) -> Ctx {
        Ctx {
            actor: AuditActor {
                user_id: Some(self.principal.user_id),
                email: Some(self.principal.email.clone()),
                account_id: Some(self.principal.account_id),
                account_name: Some(self.principal.account_name.clone()),
            },
            ip: self.ip.clone(),
            access_session_id: self.principal.access.as_ref().map(|a| a.access_session_id.clone()),
        }
    }

    /// Authorizes `permission` on the account named by `raw_id` (a path segment). Invisible or
    /// missing accounts are 404 alike; every refusal is recorded with the attempted `action`.
    pub async fn grant(
        &self,
        app: &App,
        permission: Permission,
        raw_id: &str,
        action: &str,
    ) -> ApiResult<(Grant, Account)> {
        let Ok(id) = raw_id.parse::<AccountId>() else {
            return Err(self.deny(app, Denial::NotFound, None, raw_id, action).await);
        };
        let view = app.store.account_view(id, self.principal.account_id, self.principal.user_id).await?;
        let Some(view) = view else {
            return Err(self.deny(app, Denial::NotFound, Some(id), raw_id, action).await);
        };
        let relation = match view.depth_below_viewer {
            Some(0) => Relation::Own,
            Some(_) => Relation::Below { assigned: view.assigned_to_viewer },
            None => Relation::Unrelated,
        };
        let target = Target { id, kind: view.account.kind, relation };
        match authorize(&self.principal, permission, &target) {
            Ok(grant) => Ok((grant, view.account)),
            Err(denial) => Err(self.deny(app, denial, Some(id), raw_id, action).await),
        }
    }

    /// A further permission on an account already granted (e.g. a PATCH touching several rows of
    /// the matrix); refusals are recorded like `grant`'s.
    pub async fn also(&self, app: &App, permission: Permission, account: &Account, action: &str) -> ApiResult<Grant> {
        self.grant(app, permission, &account.id.to_string(), action).await.map(|(g, _)| g)
    }

    /// Records a refusal and returns its error. A 404 is written only to the actor's own trail.
    pub async fn deny(
        &self,
        app: &App,
        denial: Denial,
        account: Option<AccountId>,
        raw_id: &str,
        action: &str,
    ) -> ApiError {
        let (error, linking) = match denial {
            Denial::NotFound => (ApiError::NotFound, Linking::ActorOnly),
            Denial::Forbidden => (ApiError::Forbidden("your role does not allow this here".into()), Linking::UpToActor),
            Denial::AccessSessionRequired => (ApiError::AccessSessionRequired, Linking::UpToActor),
            Denial::DelegatedTokenForbidden => (ApiError::DelegatedTokenForbidden, Linking::UpToActor),
        };
        let draft = AuditDraft {
            account_id: account.unwrap_or(self.principal.account_id),
            action: action.to_owned(),
            outcome: Outcome::Denied,
            target: AuditTarget { kind: "account".into(), id: Some(raw_id.to_owned()) },
            details: serde_json::json!({ "code": error.code() }),
            linking,
        };
        if let Err(e) = app.store.record(draft, &self.ctx()).await {
            tracing::error!(error = %e, "could not record a denial");
        }
        error
    }

    /// Step-up check for **[reauth]** actions: a recent step-up (or sign-in), or the caller's own
    /// `password` sent inline with the request.
    pub async fn require_reauth(&self, app: &App, inline_password: Option<&str>) -> ApiResult<()> {
        if self.principal.credential != Credential::Session {
            return Err(ApiError::ReauthRequired);
        }
        if let Some(password) = inline_password {
            return crate::routes::auth::confirm_own_password(app, self, password).await;
        }
        if app.now() - self.session.reauth_at <= app.settings.reauth_window {
            Ok(())
        } else {
            Err(ApiError::ReauthRequired)
        }
    }
}
