//! The repository API's commands and query results; the traits are in `repository`.

use tenantry_domain::Action;
use tenantry_domain::authz::{Grant, cap};
use tenantry_domain::{
    AccessSessionId, Account, AccountId, AccountKind, AccountStatus, ApiTokenId, AuditActor, AuditTarget, CollectionId,
    Email, Limits, Outcome, Plan, Role, SessionId, Slug, TargetId, User, UserId, WebhookId,
};
use time::OffsetDateTime;

/// Who performs a change, from where; stamped on the change's audit event.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    pub actor: AuditActor,
    pub ip: Option<String>,
    pub access_session_id: Option<String>,
    /// The customer that access session entered: the session is named only on events about it.
    pub access_customer: Option<AccountId>,
}

/// Which trails an event is linked into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linking {
    /// The acted-on account and each ancestor up to and including the actor's own account (or,
    /// when the actor's account is not above it, the acted-on account and the actor's own).
    UpToActor,
    /// Only the actor's own account (a request for something the actor cannot see).
    ActorOnly,
}

/// An event to record on its own (sign-ins, denials), outside any other change.
#[derive(Clone, Debug)]
pub struct AuditDraft {
    pub account_id: AccountId,
    pub action: Action,
    pub outcome: Outcome,
    pub target: AuditTarget,
    pub details: serde_json::Value,
    pub linking: Linking,
}

/// A new account with its primary user.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub kind: AccountKind,
    pub name: String,
    /// Given by the client; derived from the name when `None`.
    pub slug: Option<Slug>,
    pub plan: Plan,
    pub contact_email: Option<String>,
    pub region: Option<String>,
}

/// A one-time activation secret for an invited user; only its hash is stored.
#[derive(Clone, Debug)]
pub struct ActivationSecret {
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
}

/// A new user: with a password hash it is active, without one it is invited.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub activation: Option<ActivationSecret>,
}

/// Fields of an account that may change. `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub slug: Option<Slug>,
    pub contact_email: Option<Option<String>>,
    pub sso_mandatory: Option<bool>,
    pub status: Option<AccountStatus>,
    pub mfa_required: Option<bool>,
    /// CIDR ranges, checked and normalised by the caller.
    pub allowed_networks: Option<Vec<String>>,
}

/// The grants an account change stands on: its details (name, slug, contact email, status) need
/// `account.update`, `sso_mandatory` needs `account.sso_mandatory`, the sign-in policies
/// (`mfa_required`, `allowed_networks`) need `sso.manage`. The store applies no field without its grant.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccountGrants {
    pub update: Option<Grant<cap::AccountUpdate>>,
    pub sso_mandatory: Option<Grant<cap::AccountSsoMandatory>>,
    pub security: Option<Grant<cap::SsoManage>>,
}

/// Fields of a user that may change. `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub email: Option<Email>,
    pub role: Option<Role>,
    /// `Active` or `Disabled`.
    pub status: Option<tenantry_domain::UserStatus>,
    pub expires_at: Option<Option<OffsetDateTime>>,
    pub password_hash: Option<String>,
}

/// Filters of `GET /accounts`.
#[derive(Clone, Debug, Default)]
pub struct AccountFilter {
    pub kind: Option<AccountKind>,
    pub parent_id: Option<AccountId>,
    pub q: Option<String>,
}

/// Filters of an audit trail.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_user_id: Option<UserId>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// One page of a list; `next` is the cursor of the page after it.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Where to start and how many to return.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

/// An account together with where it sits relative to a viewer's account.
#[derive(Clone, Debug)]
pub struct AccountView {
    pub account: Account,
    /// Distance from the viewer's account down to this one; `None` when not at or below it.
    pub depth_below_viewer: Option<i64>,
    /// Whether the viewer (a staff user) is assigned to this account.
    pub assigned_to_viewer: bool,
}

/// What sign-in needs to know about the user behind an email.
#[derive(Clone, Debug)]
pub struct LoginCandidate {
    pub user: User,
    pub password_hash: Option<String>,
    pub account: Account,
    /// The account or one of its ancestors is suspended or pending deletion.
    pub blocked: bool,
}

/// A new sign-in.
#[derive(Debug)]
pub struct NewSession {
    pub id: SessionId,
    pub token_hash: String,
    pub user_id: UserId,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
    pub ip: Option<String>,
    /// The client's `User-Agent`, as sent (cut to 512 characters).
    pub user_agent: Option<String>,
    /// How the user proved who it is: `password` or `sso`.
    pub method: &'static str,
    /// The sign-in attempt's reservation, released in the same transaction.
    pub attempt: Option<Reservation>,
}

/// An account's OpenID Connect provider, as stored.
#[derive(Clone, Debug)]
pub struct SsoSettings {
    pub enabled: bool,
    pub issuer: String,
    pub client_id: String,
    /// Given on a change: `None` keeps the stored secret.
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub email_claim: String,
    /// Lowercase; each belongs to one account at most.
    pub allowed_email_domains: Vec<String>,
    pub jit_provisioning: bool,
    pub default_role: Role,
}

/// A single sign-on under way, between the redirect to the provider and its callback.
#[derive(Clone, Debug)]
pub struct SsoFlow {
    /// SHA-256 of the `state` sent to the provider.
    pub state_hash: String,
    /// The account whose provider is used.
    pub account_id: AccountId,
    /// A step-up of this sign-in; `None` for a sign-in.
    pub step_up_of: Option<SessionId>,
    /// SHA-256 of the browser's binding cookie.
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// A relative path to land on afterwards.
    pub return_to: Option<String>,
    pub ip: Option<String>,
    pub expires_at: OffsetDateTime,
}

/// What taking a flow found.
#[derive(Clone, Debug)]
pub enum TakenFlow {
    Taken(Box<SsoFlow>),
    /// A live flow of this account, but started in another browser.
    OtherBrowser(AccountId),
    /// Unknown, used or lapsed.
    Unknown,
}

/// A user a provider vouched for, found in (or provisioned into) the provider's account.
#[derive(Clone, Debug)]
pub enum SsoUser {
    Found(Box<LoginCandidate>),
    /// The email is unknown to the account, and it may not provision it.
    Unknown,
    /// The email is taken by a user of another account.
    Elsewhere,
}

/// A user's TOTP factor as stored.
#[derive(Clone, Debug)]
pub struct TotpFactor {
    /// Base32.
    pub secret: String,
    pub confirmed: bool,
    pub last_step: i64,
}

/// One open sign-in, as its user sees it in its list.
#[derive(Clone, Debug)]
pub struct SignInSummary {
    pub id: SessionId,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub method: String,
}

/// A live sign-in and who it belongs to.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user: User,
    pub account: Account,
    pub blocked: bool,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub reauth_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// How the user proved who it is: `password` or `sso`.
    pub method: String,
}

/// Attempts reserved by `reserve_attempt`: failures unless released.
#[derive(Debug)]
#[must_use = "a reservation stays a failure unless it is released"]
pub struct Reservation {
    ids: Vec<String>,
}

impl Reservation {
    /// For the store's backends only.
    pub(crate) fn new(ids: Vec<String>) -> Self {
        Self { ids }
    }

    pub(crate) fn ids(&self) -> &[String] {
        &self.ids
    }
}

/// An MSP staff member's assignment to a customer.
#[derive(Clone, Debug)]
pub struct Assignment {
    pub account_id: AccountId,
    pub account_name: String,
    pub granted_by: Option<UserId>,
    pub granted_at: OffsetDateTime,
}

/// A partner-side user's entry into a customer, tied to the sign-in that opened it.
#[derive(Clone, Debug)]
pub struct AccessSessionRecord {
    pub id: AccessSessionId,
    pub account_id: AccountId,
    pub actor_user_id: UserId,
    pub actor_email: String,
    pub actor_account_id: AccountId,
    pub signin_session_id: SessionId,
    pub reason: Option<String>,
    pub started_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
    /// Why it ended: `ended`, `sign_out`, `sign_in_expired`, `unassigned`, …
    pub end_reason: Option<String>,
}

impl AccessSessionRecord {
    /// Open: not ended and not past its expiry.
    pub fn is_open(&self, now: OffsetDateTime) -> bool {
        self.ended_at.is_none() && now < self.expires_at
    }
}

/// Opening an access session.
#[derive(Clone, Debug)]
pub struct NewAccessSession {
    pub signin_session_id: SessionId,
    pub reason: Option<String>,
    pub expires_at: OffsetDateTime,
}

/// An API token as listed (never its secret).
#[derive(Clone, Debug)]
pub struct ApiTokenRecord {
    pub id: ApiTokenId,
    pub account_id: AccountId,
    pub name: String,
    pub role: Role,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// A new API token: its hash, and the creator's role it will act with.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub name: String,
    pub token_hash: String,
    pub role: Role,
    pub expires_at: OffsetDateTime,
}

/// What a bearer token resolves to: the token, its creator and account.
#[derive(Clone, Debug)]
pub struct TokenPrincipal {
    pub token: ApiTokenRecord,
    pub creator: User,
    pub account: Account,
    pub blocked: bool,
}

/// A certificate to add to the inventory, as parsed from PEM.
#[derive(Clone, Debug)]
pub struct NewCertificate {
    pub subject: String,
    pub sans: Vec<String>,
    pub issuer: String,
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub fingerprint_sha256: String,
    pub key_type: String,
    pub key_bits: u32,
    pub pem: String,
}

/// Filters of the certificate list; times are decided by the caller's clock.
#[derive(Clone, Debug, Default)]
pub struct CertificateFilter {
    /// Not yet expired, but expiring before this time.
    pub expiring_before: Option<OffsetDateTime>,
    /// `Some(true)`: only expired ones; `Some(false)`: only unexpired ones.
    pub expired: Option<bool>,
    pub now: Option<OffsetDateTime>,
    /// Issuer contains (case-insensitive).
    pub issuer: Option<String>,
    /// Subject or a SAN contains (case-insensitive).
    pub q: Option<String>,
    pub collection_id: Option<CollectionId>,
}

/// An account's co-branding details (each may be unset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrandingFields {
    pub display_name: Option<String>,
    pub support_email: Option<String>,
    pub support_phone: Option<String>,
    pub homepage_url: Option<String>,
}

/// Which logo: for light or for dark themes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoVariant {
    Light,
    Dark,
}

/// A logo's bytes and media type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logo {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// The branding an account's users see: the record of the account itself or of its nearest
/// ancestor that has one.
#[derive(Clone, Debug, Default)]
pub struct EffectiveBranding {
    pub fields: BrandingFields,
    pub has_light_logo: bool,
    pub has_dark_logo: bool,
}

/// An account's subscription: its plan, the limits in force, what it holds, and its parent (the
/// billing contact of a managed customer).
#[derive(Clone, Debug)]
pub struct Subscription {
    pub account: Account,
    /// `None` for partner plans, which have no limits.
    pub limits: Option<Limits>,
    pub usage: Limits,
    pub parent: Option<Account>,
    /// The parent's branding record, if it has one (a managed customer's billing contact).
    pub parent_branding: Option<BrandingFields>,
}

/// What one customer below holds, for billing.
#[derive(Clone, Debug)]
pub struct UsageRow {
    pub account_id: AccountId,
    pub account_name: String,
    pub usage: Limits,
}

/// A target to add to a collection.
#[derive(Clone, Debug)]
pub struct NewTarget {
    pub collection_id: CollectionId,
    pub hostname: String,
    pub port: u16,
}

/// Changes to a target; `None` leaves a field as it is. Moving it to another host or port clears
/// its last check and makes it due at once.
#[derive(Clone, Debug, Default)]
pub struct TargetPatch {
    pub collection_id: Option<CollectionId>,
    pub hostname: Option<String>,
    pub port: Option<u16>,
}

/// A due target the scheduler leased: only this lease's owner checks it until `lease_until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeasedTarget {
    pub id: TargetId,
    pub account_id: AccountId,
    pub hostname: String,
    pub port: u16,
}

/// What an expiry overview covers: the customers at or below the grant's account that the grant
/// sees (for MSP staff, the assigned ones).
#[derive(Clone, Copy, Debug)]
pub struct ExpiryScope {
    /// Everything valid until this moment or earlier (expired ones included).
    pub until: OffsetDateTime,
}

/// A certificate or a target that expires soon, in the expiry overview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiringItem {
    /// `certificate` or `target`.
    pub kind: &'static str,
    pub id: String,
    pub account_id: AccountId,
    pub account_name: String,
    pub collection_id: CollectionId,
    /// The certificate's subject, or the target's `host:port`.
    pub name: String,
    pub not_after: OffsetDateTime,
    /// A target's failed last check.
    pub error: Option<String>,
}

/// What `bench-seed` writes below the platform.
#[derive(Clone, Debug)]
pub struct SeedPlan {
    /// Accounts in all: about one partner per 1,000, one MSP per 200, the rest customers.
    pub tenants: u64,
    /// Users in all: one admin per partner and MSP, the rest spread over the customers.
    pub users: u64,
    /// The one password hash every seeded user gets.
    pub password_hash: String,
    pub certificates_per_customer: u32,
}

/// What `bench-seed` wrote.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    pub partners: u64,
    pub msps: u64,
    pub customers: u64,
    pub users: u64,
    pub certificates: u64,
    pub events: u64,
}

/// The service's Ed25519 key for trail checkpoints, hex-encoded.
#[derive(Clone, Debug)]
pub struct SigningKey {
    /// PKCS#8.
    pub private_key: String,
    /// The raw 32 bytes.
    pub public_key: String,
}

/// A webhook streaming an account's trail (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub account_id: AccountId,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A webhook to create; `secret` signs its deliveries.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub secret: String,
}

/// A change to a webhook; `None` keeps a field.
#[derive(Clone, Debug, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(format!("unknown delivery status {other}")),
        }
    }
}

/// One event's delivery to one webhook, as its log lists it.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event_id: tenantry_domain::EventId,
    pub seq: i64,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// A delivery leased to a process: what to send where, signed with what.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub webhook_id: WebhookId,
    pub url: String,
    pub secret: String,
    pub seq: i64,
    pub attempts: i64,
    /// When the event was queued: retries stop a day after.
    pub created_at: OffsetDateTime,
    pub event: tenantry_domain::AuditEvent,
}

/// What an attempt came to.
#[derive(Clone, Debug)]
pub enum AttemptOutcome {
    Delivered {
        status_code: u16,
    },
    /// Failed; tried again at `retry_at`, or given up on when `None`.
    Failed {
        status_code: Option<u16>,
        error: String,
        retry_at: Option<OffsetDateTime>,
    },
}
