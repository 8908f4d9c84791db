//! `/auth/sso/start` and `/auth/sso/callback`: signing in, or stepping up, through an account's
//! OpenID Connect provider. The state, the nonce and the PKCE verifier are kept server-side for
//! ten minutes and taken once; a cookie binds them to the browser that started. Every failure
//! signs nobody in, lands on the login page with a reason, and is recorded.

use super::Params;
use crate::app::App;
use crate::client::{ClientIp, allowed_from};
use crate::credentials::refusal;
use crate::error::ApiError;
use crate::oidc::{Authorization, Failure};
use crate::principal::{Auth, client_ip, cookie, record_refusal};
use crate::secrets::{random_token, token_hash};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tenantry_domain::{AccountId, AccountKind, Action, AuditActor, Email, Outcome, SessionId, UserStatus};
use tenantry_store::{Ctx, NewSession, SsoFlow, SsoSettings, SsoUser, TakenFlow};

/// How long a redirect to the provider may take to come back.
const FLOW_TTL: time::Duration = time::Duration::minutes(10);
/// Sign-ons under way from one address at most.
const FLOWS_PER_ADDRESS: i64 = 30;
/// The cookie that binds a flow to its browser.
const BINDING_COOKIE: &str = "tenantry_sso";

fn binding_cookie(app: &App) -> &'static str {
    if app.secure_cookies() { "__Host-tenantry_sso" } else { BINDING_COOKIE }
}

/// A 302 to `location`.
fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The login page, telling why a single sign-on failed.
fn failed(reason: &str) -> Response {
    found(&format!("/login?error={reason}"))
}

/// A path on this service to land on: relative, not protocol-relative, printable.
fn relative(raw: &str) -> Option<String> {
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.starts_with("/\\")
        && raw.len() <= 512
        && raw.chars().all(|c| c.is_ascii_graphic());
    ok.then(|| raw.to_owned())
}

fn redirect_uri(app: &App) -> String {
    format!("{}/auth/sso/callback", app.public_url)
}

fn with_cookie(mut response: Response, value: String) -> Response {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The binding cookie's `Set-Cookie`; `None` removes it.
fn binding(app: &App, token: Option<&str>) -> String {
    let secure = if app.secure_cookies() { "; Secure" } else { "" };
    let age = if token.is_some() { FLOW_TTL.whole_seconds() } else { 0 };
    format!("{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={age}{secure}", binding_cookie(app), token.unwrap_or(""))
}

/// Records a failed sign-on in `trail` (the platform's when no account is known).
async fn record(
    app: &App,
    trail: Option<AccountId>,
    step_up: bool,
    user: Option<String>,
    failure: &Failure,
    ctx: &Ctx,
) {
    tracing::info!(reason = failure.reason, detail = %failure.detail, "single sign-on failed");
    let trail = match trail {
        Some(trail) => trail,
        None => match app.store.platform().await {
            Ok(platform) => platform.id,
            Err(e) => return tracing::error!(error = %e, "could not record a failed sign-on"),
        },
    };
    let action = if step_up { Action::Reauth } else { Action::LoginFailed };
    let mut draft = refusal(trail, action, user, failure.reason, Outcome::Failure);
    draft.details["method"] = "sso".into();
    let _ = record_refusal(app, draft, ctx, ApiError::InvalidCredentials).await;
}

fn anonymous(ip: Option<ClientIp>) -> Ctx {
    Ctx { ip: ip.map(|ip| ip.to_string()), ..Ctx::default() }
}

/// `GET /auth/sso/start?account={slug}|email={address}[&return_to=/path]`, or
/// `?purpose=reauth&return_to=/path` by a signed-in user: 302 to the provider.
pub async fn start(State(app): State<App>, mut parts: Parts, Query(params): Query<Params>) -> Response {
    let ip = client_ip(&parts);
    // Started from another site, a sign-on could sign the browser into an account of that
    // site's choosing (login CSRF): only this origin's pages, or an address typed or
    // bookmarked, start one. Clients that send no fetch metadata are not browsers.
    let site = parts.headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return failed("sso_bad_request");
    }
    let return_to = match params.get("return_to").filter(|r| !r.is_empty()) {
        None => None,
        Some(raw) => match relative(raw) {
            Some(path) => Some(path),
            None => return failed("sso_bad_request"),
        },
    };
    let step_up = match params.get("purpose").map(String::as_str) {
        None | Some("" | "login") => false,
        Some("reauth") => true,
        Some(_) => return failed("sso_bad_request"),
    };
    // A step-up uses the signed-in user's own account's provider; a sign-in the account named
    // by its slug, or the one of the email's user or domain.
    let (account, hint, step_up_of, ctx) = if step_up {
        let Ok(auth) = Auth::from_request_parts(&mut parts, &app).await else { return failed("sso_signed_out") };
        let Some(signin) = auth.session.as_ref() else { return failed("sso_signed_out") };
        (Some(auth.account.id), Some(auth.user.email.to_string()), Some(signin.id), auth.ctx())
    } else {
        let email = params.get("email").map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
        let slug = params.get("account").filter(|s| !s.is_empty());
        let account = match (slug, &email) {
            (Some(slug), _) => app.store.sso_account(Some(slug), None).await.map_err(ApiError::from),
            (None, Some(email)) => home_realm(&app, email).await,
            (None, None) => return failed("sso_bad_request"),
        };
        match account {
            Ok(account) => (account, email, None, anonymous(ip)),
            Err(e) => {
                tracing::error!(error = %e, "home-realm discovery failed");
                return failed("sso_unavailable");
            }
        }
    };
    let settings = match account {
        Some(account) => app.store.enabled_sso(account).await.ok().flatten(),
        None => None,
    };
    let (Some(account), Some(settings)) = (account, settings) else { return failed("sso_unavailable") };
    let authorization =
        match app.providers.authorization(&settings, &redirect_uri(&app), hint.as_deref(), step_up).await {
            Ok(authorization) => authorization,
            Err(failure) => {
                record(&app, Some(account), step_up, None, &failure, &ctx).await;
                return failed(failure.reason);
            }
        };
    match begin(&app, &parts.headers, account, step_up_of, return_to, ip, &authorization).await {
        Ok(Some(token)) => with_cookie(found(&authorization.url), binding(&app, Some(&token))),
        Ok(None) => failed("sso_too_many"),
        Err(e) => {
            tracing::error!(error = %e, "could not start a single sign-on");
            failed("sso_unavailable")
        }
    }
}

/// The account whose provider signs in `email`: a known user's own account (if it has single
/// sign-on; never another's), or for an unknown address the account that claims its domain.
async fn home_realm(app: &App, email: &str) -> Result<Option<AccountId>, ApiError> {
    if let Some(candidate) = app.store.login_candidate(email).await? {
        let own = app.store.enabled_sso(candidate.account.id).await?.is_some();
        return Ok(own.then_some(candidate.account.id));
    }
    let Some((_, domain)) = email.rsplit_once('@') else { return Ok(None) };
    Ok(app.store.sso_account(None, Some(domain)).await?)
}

/// Records the flow; the browser's binding token (reused when it has one), or `None` when its
/// address has too many under way.
async fn begin(
    app: &App,
    headers: &HeaderMap,
    account: AccountId,
    step_up_of: Option<SessionId>,
    return_to: Option<String>,
    ip: Option<ClientIp>,
    authorization: &Authorization,
) -> Result<Option<String>, ApiError> {
    let token = match cookie(headers, binding_cookie(app)).filter(|t| t.len() == 43) {
        Some(token) => token.to_owned(),
        None => random_token()?,
    };
    let flow = SsoFlow {
        state_hash: token_hash(&authorization.state),
        account_id: account,
        step_up_of,
        browser_hash: token_hash(&token),
        nonce: authorization.nonce.clone(),
        pkce_verifier: authorization.pkce_verifier.clone(),
        return_to,
        // Counted per address; flows of an unknown one are counted together.
        ip: Some(ip.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())),
        expires_at: app.now() + FLOW_TTL,
    };
    let begun = app.store.begin_sso_flow(flow, FLOWS_PER_ADDRESS).await?;
    Ok(begun.then_some(token))
}

/// `GET /auth/sso/callback?code&state[&iss]` (or `?error&state`): the provider's answer.
pub async fn callback(State(app): State<App>, mut parts: Parts, Query(params): Query<Params>) -> Response {
    let ip = client_ip(&parts);
    let param = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    // The flow is taken only by the browser that started it: another browser neither uses nor
    // spends it.
    let browser = cookie(&parts.headers, binding_cookie(&app)).map(token_hash).unwrap_or_default();
    let taken = match param("state") {
        Some(state) => app.store.take_sso_flow(&token_hash(state), &browser).await.unwrap_or(TakenFlow::Unknown),
        None => TakenFlow::Unknown,
    };
    let flow = match taken {
        TakenFlow::Taken(flow) => *flow,
        TakenFlow::OtherBrowser(account) => {
            let failure = Failure::new("sso_state_invalid", "the flow was started in another browser");
            record(&app, Some(account), false, None, &failure, &anonymous(ip)).await;
            return failed(failure.reason);
        }
        TakenFlow::Unknown => {
            // No account's provider was used: logged, not written to any trail (anyone may
            // send a made-up state).
            tracing::info!("single sign-on callback with an unknown, used or lapsed state");
            return with_cookie(failed("sso_state_invalid"), binding(&app, None));
        }
    };
    let step_up = flow.step_up_of.is_some();
    // A step-up is the signed-in user's: its context and its trail.
    let auth = if step_up { Auth::from_request_parts(&mut parts, &app).await.ok() } else { None };
    let ctx = auth.as_ref().map(Auth::ctx).unwrap_or_else(|| anonymous(ip));
    let answer = match checked(&app, &flow, &params).await {
        Err(failure) => Err((failure, None)),
        Ok((settings, identity)) => match &auth {
            Some(auth) if step_up => confirm(&app, auth, &flow, &identity).await.map_err(|f| (f, None)),
            _ if step_up => Err((Failure::new("sso_signed_out", "the sign-in to confirm has ended"), None)),
            _ => sign_in(&app, &parts.headers, &flow, &settings, &identity, ip).await,
        },
    };
    let response = match answer {
        Ok(response) => response,
        Err((failure, user)) => {
            let user = user.or_else(|| auth.as_ref().map(|a| a.user.id.to_string()));
            record(&app, Some(flow.account_id), step_up, user, &failure, &ctx).await;
            failed(failure.reason)
        }
    };
    with_cookie(response, binding(&app, None))
}

/// The callback's checks up to the provider's word: the provider's own `iss` and `error`, the
/// code exchange and the ID token.
async fn checked(app: &App, flow: &SsoFlow, params: &Params) -> Result<(SsoSettings, crate::oidc::Identity), Failure> {
    let settings = app
        .store
        .enabled_sso(flow.account_id)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| Failure::new("sso_unavailable", "single sign-on was turned off"))?;
    if let Some(error) = params.get("error") {
        return Err(Failure::new("sso_provider_error", format!("the provider answered {error}")));
    }
    if let Some(iss) = params.get("iss")
        && *iss != app.providers.issuer(&settings).await?
    {
        return Err(Failure::new("sso_issuer_mismatch", format!("the answer came from {iss}")));
    }
    let code =
        params.get("code").filter(|c| !c.is_empty()).ok_or_else(|| Failure::new("sso_state_invalid", "no code"))?;
    let identity = app
        .providers
        .identity(&settings, &redirect_uri(app), code, &flow.pkce_verifier, &flow.nonce, flow.step_up_of.is_some())
        .await?;
    Ok((settings, identity))
}

/// A step-up: the provider's user must be the signed-in user, in the sign-in that started.
async fn confirm(
    app: &App,
    auth: &Auth,
    flow: &SsoFlow,
    identity: &crate::oidc::Identity,
) -> Result<Response, Failure> {
    let same_signin = auth.session.as_ref().map(|s| s.id) == flow.step_up_of;
    let same_user = Email::parse(&identity.email).is_ok_and(|e| e.key() == auth.user.email.key());
    if !same_signin || !same_user || flow.account_id != auth.account.id {
        return Err(Failure::new("sso_not_same_user", format!("the provider signed in {}", identity.email)));
    }
    let token = random_token().map_err(|e| Failure::new("sso_unavailable", e.to_string()))?;
    let signin = flow.step_up_of.ok_or_else(|| Failure::new("sso_signed_out", "no sign-in"))?;
    app.store
        .rotate_session(signin, &token_hash(&token), "sso", &auth.ctx())
        .await
        .map_err(|e| Failure::new("sso_signed_out", e.to_string()))?;
    let to = flow.return_to.clone().unwrap_or_else(|| "/console".into());
    let cookie = crate::routes::auth::session_cookie(app, Some(&token))
        .map_err(|e| Failure::new("sso_unavailable", e.to_string()))?;
    let mut response = found(&to);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// A sign-in: the account's user with that email (or a new one, where the account provisions
/// it), checked as a password sign-in is, without a second factor (the provider owns it).
async fn sign_in(
    app: &App,
    headers: &HeaderMap,
    flow: &SsoFlow,
    settings: &SsoSettings,
    identity: &crate::oidc::Identity,
    ip: Option<ClientIp>,
) -> Result<Response, (Failure, Option<String>)> {
    let email = Email::parse(&identity.email)
        .map_err(|e| (Failure::new("sso_token_invalid", format!("the email claim: {e}")), None))?;
    let ctx = Ctx { actor: AuditActor { email: Some(email.to_string()), ..AuditActor::default() }, ..anonymous(ip) };
    // The account's own rules first: nothing is created or activated for a refused sign-in.
    let standing = app.store.sign_in_standing(flow.account_id).await;
    let (account, blocked) = standing.map_err(|e| (Failure::new("sso_unavailable", e.to_string()), None))?;
    if blocked {
        return Err((Failure::new("account_suspended", format!("{} is suspended", account.name)), None));
    }
    if !allowed_from(&account.allowed_networks, ip.as_ref()) {
        return Err((Failure::new("network_not_allowed", "the sign-in came from outside the trusted networks"), None));
    }
    let domain = email.as_str().rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default();
    let provision = (settings.jit_provisioning && settings.allowed_email_domains.contains(&domain)).then(|| {
        let name = identity.name.as_deref().and_then(|n| tenantry_domain::validate::name(n).ok());
        (settings.default_role, name.unwrap_or_else(|| email.as_str().split('@').next().unwrap_or_default().to_owned()))
    });
    let user = app.store.sso_user(flow.account_id, &email, provision, &ctx).await;
    let candidate = match user {
        Ok(SsoUser::Found(candidate)) => candidate,
        Ok(SsoUser::Unknown | SsoUser::Elsewhere) => {
            return Err((Failure::new("sso_unknown_user", format!("{email} is not a user of this account")), None));
        }
        Err(tenantry_store::StoreError::Domain(e)) => {
            return Err((Failure::new("sso_provisioning_refused", e.to_string()), None));
        }
        Err(e) => return Err((Failure::new("sso_unavailable", e.to_string()), None)),
    };
    let user = Some(candidate.user.id.to_string());
    let refused = match candidate.user.status_at(app.now()) {
        UserStatus::Disabled | UserStatus::Invited => Some("user_disabled"),
        UserStatus::Expired => Some("user_expired"),
        // The account's suspension and networks were judged above, before the lookup.
        UserStatus::Active => None,
    };
    if let Some(reason) = refused {
        return Err((Failure::new(reason, format!("{email} may not sign in")), user));
    }
    let token = random_token().map_err(|e| (Failure::new("sso_unavailable", e.to_string()), None))?;
    let session = NewSession {
        id: SessionId::new(),
        token_hash: token_hash(&token),
        user_id: candidate.user.id,
        csrf_token: random_token().map_err(|e| (Failure::new("sso_unavailable", e.to_string()), None))?,
        expires_at: app.now() + app.settings.session_absolute,
        ip: ip.map(|ip| ip.to_string()),
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
        method: "sso",
        attempt: None,
    };
    let ctx = Ctx { actor: crate::principal::actor(&candidate.user, &candidate.account), ..ctx };
    app.store
        .create_session(session, &ctx)
        .await
        .map_err(|e| (Failure::new("sso_unavailable", e.to_string()), None))?;
    let home = if candidate.account.kind == AccountKind::Customer { "/portal" } else { "/console" };
    let to = flow.return_to.clone().unwrap_or_else(|| home.into());
    let cookie = crate::routes::auth::session_cookie(app, Some(&token))
        .map_err(|e| (Failure::new("sso_unavailable", e.to_string()), None))?;
    let mut response = found(&to);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}
