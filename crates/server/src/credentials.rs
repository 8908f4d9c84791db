//! Checking a password under the failed-attempt limits, for sign-in and step-up alike: the
//! attempt is reserved in the database first (exact under any concurrency, shared by every
//! process), then a hashing slot is taken (or `overloaded`, still counted), then the hash runs;
//! a success takes the reservation back. Step-ups are judged here too.

use crate::app::App;
use crate::client::ClientIp;
use crate::error::{ApiError, ApiResult};
use crate::mfa::{self, SecondFactor};
use crate::principal::{Auth, record_refusal};
use tenantry_domain::authz::Credential;
use tenantry_domain::{Account, AccountId, Action, AuditTarget, Outcome, User};
use tenantry_store::{AuditDraft, Linking, Reservation};

/// The rate-limit scopes of an attempt: the client's address (IPv6 per /64) and the email.
pub fn scopes(ip: Option<&ClientIp>, email: &str) -> Vec<String> {
    let mut scopes = vec![format!("email:{}", email.trim().to_lowercase())];
    if let Some(ip) = ip {
        scopes.push(ip.rate_scope());
    }
    scopes
}

/// Reserves one attempt under `scopes`, or refuses with 429 while a scope holds the limit.
pub async fn reserve(app: &App, scopes: &[String]) -> ApiResult<Reservation> {
    let window = app.settings.login_failure_window;
    let since = app.now() - window;
    match app.store.reserve_attempt(scopes, app.settings.login_failure_limit, since).await? {
        Some(reservation) => Ok(reservation),
        None => Err(ApiError::RateLimited { retry_after_secs: window.whole_seconds().unsigned_abs() }),
    }
}

/// What a password check found.
pub enum Checked {
    /// The password is right; the attempt's reservation is to be released (with the sign-in it
    /// starts, or on its own).
    Verified(Reservation),
    /// The password is wrong (or the user unknown); the attempt stays counted.
    Wrong,
}

/// Checks `password` against `hash` (`None`: an unknown user, checked against the dummy hash at
/// the same cost), within the limits of `scopes`. `RateLimited` and `Overloaded` come before any
/// hash.
pub async fn check_password(app: &App, scopes: &[String], password: &str, hash: Option<&str>) -> ApiResult<Checked> {
    let reservation = reserve(app, scopes).await?;
    // A request turned away for want of a worker still counts: it carried a password.
    let slot = app.passwords.slot().await?;
    Ok(if slot.verify(password, hash).await? { Checked::Verified(reservation) } else { Checked::Wrong })
}

/// The audit event of a refused sign-in or step-up: `action` with `reason` in the trail of
/// `account` (and up to the actor's).
pub fn refusal(account: AccountId, action: Action, user: Option<String>, reason: &str, outcome: Outcome) -> AuditDraft {
    AuditDraft {
        account_id: account,
        action,
        outcome,
        target: AuditTarget { kind: "user".into(), id: user },
        details: serde_json::json!({ "reason": reason }),
        linking: Linking::UpToActor,
    }
}

/// Why a right password was not enough: the audit reason, the outcome and the answer.
pub type Refused = (&'static str, Outcome, ApiError);

/// After a right password, the second factor of a user with MFA (nothing for one without): the
/// attempt's reservation comes back when it passes. A missing factor releases it (the password
/// was right); a wrong or replayed code keeps it counted, like a wrong password.
pub async fn second_factor(
    app: &App,
    user: &User,
    sent: &SecondFactor,
    reservation: Reservation,
) -> ApiResult<Result<Reservation, Refused>> {
    if !user.mfa_enabled {
        return Ok(Ok(reservation));
    }
    match mfa::check_second_factor(app, user, sent).await {
        Ok(()) => Ok(Ok(reservation)),
        Err(e @ ApiError::MfaRequired) => {
            app.store.release_attempt(reservation).await?;
            Ok(Err(("mfa_required", Outcome::Denied, e)))
        }
        Err(e @ ApiError::InvalidCredentials) => Ok(Err(("invalid_second_factor", Outcome::Failure, e))),
        Err(e) => Err(e),
    }
}

/// Checks the caller's own password, and its second factor when it has one (a step-up): limited
/// and recorded like a sign-in, as `auth.reauth` failures in the caller's trail.
pub async fn confirm_own_password(app: &App, auth: &Auth, password: &str, second: &SecondFactor) -> ApiResult<()> {
    let scopes = scopes(auth.ip.as_ref(), &auth.principal.email);
    let candidate = app.store.login_candidate(&auth.principal.email).await?;
    let hash = candidate.as_ref().and_then(|c| c.password_hash.as_deref());
    let (reason, outcome, error) = match check_password(app, &scopes, password, hash).await {
        Ok(Checked::Verified(reservation)) => match second_factor(app, &auth.user, second, reservation).await? {
            Ok(reservation) => return Ok(app.store.release_attempt(reservation).await?),
            Err(refused) => refused,
        },
        Ok(Checked::Wrong) => ("invalid_credentials", Outcome::Failure, ApiError::InvalidCredentials),
        Err(e @ ApiError::RateLimited { .. }) => ("rate_limited", Outcome::Denied, e),
        Err(e) => return Err(e),
    };
    let user = Some(auth.principal.user_id.to_string());
    let draft = refusal(auth.principal.account_id, Action::Reauth, user, reason, outcome);
    Err(record_refusal(app, draft, &auth.ctx(), error).await)
}

/// Step-up check for **[reauth]** actions on `account`: a recent step-up (or sign-in), or the
/// caller's own `password` (with its second factor, if it has one) sent inline with the request.
/// A refusal is recorded as `action`.
pub async fn require_reauth(
    app: &App,
    auth: &Auth,
    inline: Option<(&str, SecondFactor)>,
    account: &Account,
    action: Action,
) -> ApiResult<()> {
    let recent = auth.session.as_ref().is_some_and(|s| app.now() - s.reauth_at <= app.settings.reauth_window);
    match (auth.principal.credential, inline) {
        (Credential::Session, Some((password, second))) => confirm_own_password(app, auth, password, &second).await,
        (Credential::Session, None) if recent => Ok(()),
        _ => {
            let raw = account.id.to_string();
            Err(auth.refuse(app, ApiError::ReauthRequired, Some(account.id), &raw, action).await)
        }
    }
}

/// An optional body that only carries an inline step-up.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    password: Option<String>,
    #[serde(default)]
    totp_code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

impl crate::granted::Confirming for Confirmation {
    fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    fn second_factor(&self) -> SecondFactor {
        SecondFactor { totp_code: self.totp_code.clone(), recovery_code: self.recovery_code.clone() }
    }
}

/// The inline step-up a body carries, if any.
pub fn inline<T: crate::granted::Confirming>(body: Option<&T>) -> Option<(&str, SecondFactor)> {
    let body = body?;
    Some((body.password()?, body.second_factor()))
}
