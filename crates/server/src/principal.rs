//! Who is calling: the `Auth` extractor resolves the session cookie (or a bearer API token) into a
//! [`Principal`], enforces idle and absolute timeouts and CSRF, attaches an open access session named
//! by `X-Access-Session`, and `Auth::grant` is the only way to a [`Grant`] for an account —
//! recording every denial in the audit trail. Handlers mostly reach it through the extractors of
//! [`crate::granted`].

use crate::app::App;
use crate::client::{ClientIp, allowed_from};
use crate::error::{ApiError, ApiResult};
use crate::secrets::{constant_time_eq, token_hash};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use tenantry_domain::authz::{
    self, AccessContext, Capability, Credential, Denial, Grant, Permission, Principal, Relation, Target, authorize, cap,
};
use tenantry_domain::{AccessSessionId, Account, AccountId, Action, AuditActor, AuditTarget, Outcome, UserStatus};
use tenantry_store::{AuditDraft, Ctx, Linking, SessionRecord};

/// The name of the sign-in cookie (over https `__Host-` comes before it: see `App`).
pub const SESSION_COOKIE: &str = "tenantry_session";
/// The header that must repeat the sign-in's CSRF token on unsafe cookie-authenticated requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The header that names the caller's open access session into a customer.
pub const ACCESS_SESSION_HEADER: &str = "x-access-session";

/// A signed-in caller.
pub struct Auth {
    pub principal: Principal,
    /// The signed-in user (for an API token, its creator).
    pub user: tenantry_domain::User,
    /// The caller's own account.
    pub account: Account,
    /// The sign-in, for cookie-authenticated requests; `None` for API tokens.
    pub session: Option<SessionRecord>,
    pub ip: Option<ClientIp>,
    /// The store's revision, read before anything else of this request (see [`crate::verified`]).
    revision: u64,
}

/// The caller's address, as the edge resolved it.
pub fn client_ip(parts: &Parts) -> Option<ClientIp> {
    parts.extensions.get::<ClientIp>().copied()
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
        let ip = client_ip(parts);
        if let Some(token) = bearer(&parts.headers) {
            let revision = app.store.revision().await?;
            return Self::from_token(app, token, ip, revision).await;
        }
        let token = cookie(&parts.headers, app.session_cookie_name()).ok_or(ApiError::Unauthenticated)?;
        // Read before anything it vouches for; a request without a credential reads nothing.
        let revision = app.store.revision().await?;
        let hash = token_hash(token);
        let now = app.now();
        let fresh = |s: &SessionRecord| now < s.expires_at && now - s.last_seen_at < app.settings.session_idle;
        // What was verified under this revision is still what the database holds, but for the
        // last-seen time; one that looks lapsed is judged on the database's own.
        let session = match app.verified.session(revision, &hash).filter(fresh) {
            Some(session) => session,
            None => {
                let session = app.store.session_by_token(&hash).await?.ok_or(ApiError::Unauthenticated)?;
                app.verified.keep_session(revision, &hash, &session);
                session
            }
        };
        // Only a refusal needs the audit context.
        let ctx =
            || Ctx { actor: actor(&session.user, &session.account), ip: ip.map(|i| i.to_string()), ..Ctx::default() };
        if now >= session.expires_at || now - session.last_seen_at >= app.settings.session_idle {
            app.store.end_session(session.id, None, &ctx()).await?;
            return Err(ApiError::Unauthenticated);
        }
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            if !constant_time_eq(sent, session.csrf_token.as_bytes()) {
                let uri = parts.extensions.get::<axum::extract::OriginalUri>().map_or(&parts.uri, |o| &o.0);
                let details = serde_json::json!({ "method": parts.method.as_str(), "path": uri.path() });
                return Err(refuse_credential(app, &ctx(), Action::CsrfFailed, ApiError::CsrfFailed, details).await);
            }
        }
        if let Err(refused) = check_standing(&session.user, session.blocked, now) {
            let details = serde_json::json!({ "credential": "session", "session_id": session.id.to_string() });
            let refused = refuse_credential(app, &ctx(), Action::SessionRefused, refused, details).await;
            // A disabled or expired user's sign-in ends (its next use is a plain 401); one of a
            // suspended account stays, for when the account is restored.
            if !session.blocked {
                app.store.end_session(session.id, None, &ctx()).await?;
            }
            return Err(refused);
        }
        if !allowed_from(&session.account.allowed_networks, ip.as_ref()) {
            let details = serde_json::json!({ "credential": "session", "session_id": session.id.to_string() });
            let refused = ApiError::NetworkNotAllowed;
            return Err(refuse_credential(app, &ctx(), Action::SessionRefused, refused, details).await);
        }
        // An account that requires MFA lets a user without it only set one up.
        // A provider's sign-in is not asked for a factor of ours: the provider owns MFA.
        if session.account.mfa_required && !session.user.mfa_enabled && session.method != "sso" {
            let uri = parts.extensions.get::<axum::extract::OriginalUri>().map_or(&parts.uri, |o| &o.0);
            if !enrollment_route(&parts.method, uri.path()) {
                return Err(ApiError::MfaEnrollmentRequired);
            }
        }
        if now - session.last_seen_at >= time::Duration::minutes(1) {
            app.store.touch_session(session.id).await?;
            app.verified.touched(&hash, now);
        }
        let access = match parts.headers.get(ACCESS_SESSION_HEADER).and_then(|v| v.to_str().ok()) {
            Some(raw) => open_access_session(app, raw, &session, now).await?,
            None => None,
        };
        let principal = Principal {
            user_id: session.user.id,
            email: session.user.email.to_string(),
            account_id: session.account.id,
            account_kind: session.account.kind,
            account_name: session.account.name.clone(),
            role: session.user.role,
            credential: Credential::Session,
            access,
        };
        let (user, account) = (session.user.clone(), session.account.clone());
        Ok(Self { principal, user, account, session: Some(session), ip, revision })
    }
}

/// Records a refused credential (a failed CSRF check, a disabled user's sign-in or token) in the
/// user's own trail, and returns the refusal.
async fn refuse_credential(
    app: &App,
    ctx: &Ctx,
    action: Action,
    error: ApiError,
    mut details: serde_json::Value,
) -> ApiError {
    let Some(account_id) = ctx.actor.account_id else { return error };
    details["code"] = error.code().into();
    let draft = AuditDraft {
        account_id,
        action,
        outcome: Outcome::Denied,
        target: AuditTarget { kind: "user".into(), id: ctx.actor.user_id.map(|u| u.to_string()) },
        details,
        linking: Linking::ActorOnly,
    };
    record_refusal(app, draft, ctx, error).await
}

/// Records a refusal's event and returns the refusal; a failure to record is logged, never hides
/// the answer.
pub async fn record_refusal(app: &App, draft: AuditDraft, ctx: &Ctx, error: ApiError) -> ApiError {
    if let Err(e) = app.store.record(draft, ctx).await {
        tracing::error!(error = %e, "could not record a refusal");
    }
    error
}

/// What a sign-in of a user who must first set up a second factor may reach: who it is, the
/// enrollment (with its step-up), and the way out.
fn enrollment_route(method: &Method, path: &str) -> bool {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    matches!(
        (method.as_str(), path),
        ("GET", "/me") | ("POST", "/auth/mfa/totp" | "/auth/mfa/totp/confirm" | "/auth/reauth" | "/auth/logout")
    )
}

/// How a user appears as the actor of audit events.
pub fn actor(user: &tenantry_domain::User, account: &Account) -> AuditActor {
    AuditActor {
        user_id: Some(user.id),
        email: Some(user.email.to_string()),
        account_id: Some(account.id),
        account_name: Some(account.name.clone()),
    }
}

/// The secret of an `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Refuses users who may not act: disabled, expired, or in a suspended account (or below one).
fn check_standing(user: &tenantry_domain::User, blocked: bool, now: time::OffsetDateTime) -> ApiResult<()> {
    match user.status_at(now) {
        UserStatus::Active => {}
        UserStatus::Expired => return Err(ApiError::UserExpired),
        UserStatus::Disabled | UserStatus::Invited => return Err(ApiError::UserDisabled),
    }
    if blocked {
        return Err(ApiError::AccountSuspended);
    }
    Ok(())
}

/// The access session named by `X-Access-Session`, if it is this sign-in's own and still open;
/// otherwise none, and customer data answers `access_session_required`.
async fn open_access_session(
    app: &App,
    raw: &str,
    session: &SessionRecord,
    now: time::OffsetDateTime,
) -> ApiResult<Option<AccessContext>> {
    let Ok(id) = raw.parse::<AccessSessionId>() else { return Ok(None) };
    let Some(record) = app.store.access_session(id).await? else { return Ok(None) };
    let own = record.actor_user_id == session.user.id && record.signin_session_id == session.id;
    Ok((own && record.is_open(now))
        .then(|| AccessContext { access_session_id: record.id.to_string(), customer_id: record.account_id }))
}

impl Auth {
    /// Resolves a bearer API token: it acts with its creator's role at creation, in its account.
    async fn from_token(app: &App, token: &str, ip: Option<ClientIp>, revision: u64) -> ApiResult<Self> {
        let found = app.store.token_principal(&token_hash(token)).await?.ok_or(ApiError::Unauthenticated)?;
        let now = app.now();
        if let Err(refused) = check_standing(&found.creator, found.blocked, now) {
            let ctx =
                Ctx { actor: actor(&found.creator, &found.account), ip: ip.map(|i| i.to_string()), ..Ctx::default() };
            let details = serde_json::json!({ "credential": "api_token", "token_id": found.token.id.to_string() });
            return Err(refuse_credential(app, &ctx, Action::TokenRefused, refused, details).await);
        }
        // A token is refused where its creator's sign-in would be: outside the account's
        // networks, or without a second factor the account requires.
        let refused = if !allowed_from(&found.account.allowed_networks, ip.as_ref()) {
            Some(ApiError::NetworkNotAllowed)
        } else if found.account.mfa_required && !found.creator.mfa_enabled {
            Some(ApiError::MfaEnrollmentRequired)
        } else {
            None
        };
        if let Some(refused) = refused {
            let ctx =
                Ctx { actor: actor(&found.creator, &found.account), ip: ip.map(|i| i.to_string()), ..Ctx::default() };
            let details = serde_json::json!({ "credential": "api_token", "token_id": found.token.id.to_string() });
            return Err(refuse_credential(app, &ctx, Action::TokenRefused, refused, details).await);
        }
        if found.token.last_used_at.is_none_or(|at| now - at >= time::Duration::minutes(1)) {
            app.store.touch_api_token(found.token.id).await?;
        }
        let principal = Principal {
            user_id: found.creator.id,
            email: found.creator.email.to_string(),
            account_id: found.account.id,
            account_kind: found.account.kind,
            account_name: found.account.name.clone(),
            role: found.token.role,
            credential: Credential::ApiToken,
            access: None,
        };
        Ok(Self { principal, user: found.creator, account: found.account, session: None, ip, revision })
    }

    /// The sign-in behind a cookie-authenticated request; API tokens have none, and cannot do what
    /// needs one (step-up, sign-out, password change).
    pub fn signin(&self) -> ApiResult<&SessionRecord> {
        self.session.as_ref().ok_or(ApiError::ReauthRequired)
    }

    /// The audit context of this caller's actions.
    pub fn ctx(&self) -> Ctx {
        Ctx {
            actor: actor(&self.user, &self.account),
            ip: self.ip.map(|i| i.to_string()),
            access_session_id: self.principal.access.as_ref().map(|a| a.access_session_id.clone()),
            access_customer: self.principal.access.as_ref().map(|a| a.customer_id),
        }
    }

    /// Authorizes `capability` on the account named by `raw_id` (a path segment), as a typed grant.
    /// Invisible or missing accounts are 404 alike; every refusal is recorded with the attempted
    /// `action`.
    pub async fn grant<P: Capability>(
        &self,
        app: &App,
        _capability: P,
        raw_id: &str,
        action: Action,
    ) -> ApiResult<(Grant<P>, Account)> {
        self.grant_as::<P>(app, raw_id, action).await
    }

    /// `grant`, with the capability named by its type.
    pub async fn grant_as<P: Capability>(
        &self,
        app: &App,
        raw_id: &str,
        action: Action,
    ) -> ApiResult<(Grant<P>, Account)> {
        match self.try_grant_as::<P>(app, raw_id).await? {
            Ok(granted) => Ok(granted),
            Err((denial, account)) => Err(self.deny(app, denial, account, raw_id, action).await),
        }
    }

    /// `grant` without recording a refusal: the caller decides how to record it.
    pub async fn try_grant<P: Capability>(
        &self,
        app: &App,
        _capability: P,
        raw_id: &str,
    ) -> ApiResult<Result<(Grant<P>, Account), (Denial, Option<AccountId>)>> {
        self.try_grant_as::<P>(app, raw_id).await
    }

    /// `try_grant`, with the capability named by its type.
    async fn try_grant_as<P: Capability>(
        &self,
        app: &App,
        raw_id: &str,
    ) -> ApiResult<Result<(Grant<P>, Account), (Denial, Option<AccountId>)>> {
        let Some((target, account)) = self.target(app, raw_id).await? else {
            return Ok(Err((Denial::NotFound, raw_id.parse().ok())));
        };
        Ok(match authz::grant::<P>(&self.principal, &target) {
            Ok(grant) => Ok((grant, account)),
            Err(denial) => Err((denial, Some(target.id))),
        })
    }

    /// The account named by `raw_id` and where it stands relative to the caller; `None` when it
    /// does not exist.
    async fn target(&self, app: &App, raw_id: &str) -> ApiResult<Option<(Target, Account)>> {
        let Ok(id) = raw_id.parse::<AccountId>() else { return Ok(None) };
        let key = (id, self.principal.account_id, self.principal.user_id);
        let view = match app.verified.view(self.revision, &key) {
            Some(view) => view,
            None => {
                let Some(view) = app.store.account_view(key.0, key.1, key.2).await? else { return Ok(None) };
                app.verified.keep_view(self.revision, key, &view);
                view
            }
        };
        let relation = match view.depth_below_viewer {
            Some(0) => Relation::Own,
            Some(_) => Relation::Below { assigned: view.assigned_to_viewer },
            None => Relation::Unrelated,
        };
        Ok(Some((Target { id, kind: view.account.kind, relation }, view.account)))
    }

    /// Every permission the caller holds on the account named by `raw_id` (which it must see).
    pub async fn permissions_on(&self, app: &App, raw_id: &str) -> ApiResult<(Account, Vec<Permission>)> {
        let (_, account) = self.grant(app, cap::AccountRead, raw_id, Action::AccountRead).await?;
        let Some((target, _)) = self.target(app, raw_id).await? else { return Err(ApiError::NotFound) };
        let held = Permission::ALL.into_iter().filter(|p| authorize(&self.principal, *p, &target).is_ok()).collect();
        Ok((account, held))
    }

    /// A further capability on an account already granted (e.g. a PATCH touching several rows of
    /// the matrix); refusals are recorded like `grant`'s.
    pub async fn also<P: Capability>(
        &self,
        app: &App,
        capability: P,
        account: &Account,
        action: Action,
    ) -> ApiResult<Grant<P>> {
        self.grant(app, capability, &account.id.to_string(), action).await.map(|(g, _)| g)
    }

    /// Records a refusal and returns its error. A 404 is written only to the actor's own trail.
    pub async fn deny(
        &self,
        app: &App,
        denial: Denial,
        account: Option<AccountId>,
        raw_id: &str,
        action: Action,
    ) -> ApiError {
        let error = match denial {
            Denial::NotFound => ApiError::NotFound,
            Denial::Forbidden => ApiError::Forbidden("your role does not allow this here".into()),
            Denial::AccessSessionRequired => ApiError::AccessSessionRequired,
            Denial::DelegatedTokenForbidden => ApiError::DelegatedTokenForbidden,
            Denial::DelegatedCredentialForbidden => ApiError::DelegatedCredentialForbidden,
            Denial::TokenReadsNoCustomerData => {
                ApiError::Forbidden("an API token does not read customers' data".into())
            }
        };
        let account = if denial == Denial::NotFound { None } else { account };
        self.refuse(app, error, account, raw_id, action).await
    }

    /// Records `error` as a denied attempt at `action` and returns it: in the acted-on `account`'s
    /// trail and the caller's, or with no account (a 404) in the caller's own trail only.
    pub async fn refuse(
        &self,
        app: &App,
        error: ApiError,
        account: Option<AccountId>,
        raw_id: &str,
        action: Action,
    ) -> ApiError {
        let draft = AuditDraft {
            account_id: account.unwrap_or(self.principal.account_id),
            action,
            outcome: Outcome::Denied,
            target: AuditTarget { kind: "account".into(), id: Some(raw_id.to_owned()) },
            details: serde_json::json!({ "code": error.code() }),
            linking: if account.is_some() { Linking::UpToActor } else { Linking::ActorOnly },
        };
        record_refusal(app, draft, &self.ctx(), error).await
    }
}
