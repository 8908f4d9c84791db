//! The repository API: commands, query results and the [`Repository`] trait both backends implement.

use crate::Result;
use tenantry_domain::authz::{BelowScope, Grant};
use tenantry_domain::{
    AccessSessionId, Account, AccountId, AccountKind, AccountStatus, Agent, AgentId, ApiTokenId, AuditActor,
    AuditEvent, AuditTarget, Certificate, CertificateId, Collection, CollectionId, Email, EventId, Limits,
    MonitoredTarget, Outcome, Plan, Role, SessionId, Slug, SupportRequest, SupportRequestId, TargetId, TlsCheck, User,
    UserId, audit::Verification,
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
    pub action: String,
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
    /// The sign-in attempt's reservation, released in the same transaction.
    pub attempt: Option<Reservation>,
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

/// Which customers an expiry overview covers: those at or below the grant's account, and for
/// MSP staff only the assigned ones.
#[derive(Clone, Copy, Debug)]
pub struct ExpiryScope {
    pub assigned_to: Option<UserId>,
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

/// The one repository API; implemented for SQLite and PostgreSQL.
#[async_trait::async_trait]
pub trait Repository: Send + Sync + 'static {
    /// Answers when the database does.
    async fn ping(&self) -> Result<()>;

    // --- bootstrap ---
    /// Creates the platform account on an empty database; returns it, and whether it was created.
    async fn ensure_platform(&self, name: &str) -> Result<(Account, bool)>;
    /// The platform account.
    async fn platform(&self) -> Result<Account>;

    // --- accounts ---
    /// An account and its relation to `viewer`'s account (unscoped: used to authorize).
    async fn account_view(&self, id: AccountId, viewer: AccountId, viewer_user: UserId) -> Result<Option<AccountView>>;
    async fn create_account(
        &self,
        parent: &Grant,
        account: NewAccount,
        admin: NewUser,
        ctx: &Ctx,
    ) -> Result<(Account, User)>;
    async fn list_accounts(
        &self,
        viewer: &Grant,
        scope: BelowScope,
        viewer_user: UserId,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<Account>>;
    async fn update_account(&self, grant: &Grant, patch: AccountPatch, ctx: &Ctx) -> Result<Account>;
    async fn schedule_deletion(&self, grant: &Grant, deadline: OffsetDateTime, ctx: &Ctx) -> Result<Account>;
    async fn restore_account(&self, grant: &Grant, ctx: &Ctx) -> Result<Account>;

    // --- users ---
    async fn list_users(&self, grant: &Grant, page: &PageRequest) -> Result<Page<User>>;
    /// One user (grant: `user.read` or `user.manage`).
    async fn get_user(&self, grant: &Grant, id: UserId) -> Result<User>;
    async fn create_user(&self, grant: &Grant, user: NewUser, ctx: &Ctx) -> Result<User>;
    async fn update_user(&self, grant: &Grant, id: UserId, patch: UserPatch, ctx: &Ctx) -> Result<User>;
    async fn delete_user(&self, grant: &Grant, id: UserId, ctx: &Ctx) -> Result<()>;
    /// Creates a user outside any request (operator command, bootstrap); audited as the system.
    async fn create_user_as_operator(&self, account: AccountId, user: NewUser) -> Result<User>;
    /// An operator's new one-time link for an invited user (the old links stop working); `None`
    /// when no invited user has that email.
    async fn reissue_activation(&self, email: &str, activation: ActivationSecret) -> Result<Option<User>>;

    // --- sign-in ---
    async fn login_candidate(&self, email: &str) -> Result<Option<LoginCandidate>>;
    /// Reserves one attempt under each of `scopes`, counted as a failure from now on, unless a
    /// scope already holds `limit` failures since `since` (`None`: refused). Exact under any
    /// concurrency: each scope is locked while it is counted.
    async fn reserve_attempt(
        &self,
        scopes: &[String],
        limit: i64,
        since: OffsetDateTime,
    ) -> Result<Option<Reservation>>;
    /// Takes a reservation back: the attempt succeeded.
    async fn release_attempt(&self, reservation: Reservation) -> Result<()>;
    /// Forgets attempts older than a day, and the scopes left without any.
    async fn prune_attempts(&self) -> Result<()>;
    /// Ends up to `limit` sign-ins that ran out (absolute expiry, or idle for `idle`) with their
    /// access sessions, each recorded as ended at the moment it lapsed; returns how many. Safe
    /// to run in every process at once.
    async fn end_lapsed_sessions(&self, idle: time::Duration, limit: u32) -> Result<u64>;
    /// Starts a sign-in and records `auth.login`.
    async fn create_session(&self, session: NewSession, ctx: &Ctx) -> Result<()>;
    async fn session_by_token(&self, token_hash: &str) -> Result<Option<SessionRecord>>;
    async fn touch_session(&self, id: SessionId) -> Result<()>;
    /// Step-up: a new token for the same sign-in, `reauth_at` now, and `auth.reauth` recorded.
    async fn rotate_session(&self, id: SessionId, new_token_hash: &str, ctx: &Ctx) -> Result<()>;
    /// Ends a sign-in; `action` is recorded when given.
    async fn end_session(&self, id: SessionId, action: Option<&str>, ctx: &Ctx) -> Result<()>;
    /// Sets the caller's own password and ends its other sign-ins.
    async fn change_own_password(&self, user: UserId, keep: SessionId, password_hash: &str, ctx: &Ctx) -> Result<()>;
    /// The invited user an unused, unexpired activation token belongs to.
    async fn invited_user(&self, token_hash: &str) -> Result<Option<User>>;
    /// Sets an invited user's first password; `None` when the token is unknown, used or expired.
    async fn activate(&self, token_hash: &str, password_hash: &str) -> Result<Option<User>>;

    // --- staff assignments (grant: `staff.read` / `staff.assign` on the MSP) ---
    async fn list_assignments(&self, grant: &Grant, user: UserId, page: &PageRequest) -> Result<Page<Assignment>>;
    /// Assigns an `msp_staff` user of the MSP to one of its customers (idempotent).
    async fn assign(&self, grant: &Grant, user: UserId, customer: AccountId, ctx: &Ctx) -> Result<()>;
    /// Whether `user` is a user of the MSP and `customer` one of its customers (and, with
    /// `assigned`, whether the one is assigned to the other); `NotFound` otherwise. Grant:
    /// `staff.read` or `staff.assign` on the MSP.
    async fn find_assignment(&self, grant: &Grant, user: UserId, customer: AccountId, assigned: bool) -> Result<()>;
    /// Removes an assignment and ends that user's open access sessions into the customer.
    async fn unassign(&self, grant: &Grant, user: UserId, customer: AccountId, ctx: &Ctx) -> Result<()>;

    // --- access sessions ---
    /// Opens one (grant: `access.enter` on the customer); records `access_session.started`.
    async fn open_access_session(&self, grant: &Grant, new: NewAccessSession, ctx: &Ctx)
    -> Result<AccessSessionRecord>;
    /// One access session, unscoped (to resolve `X-Access-Session` and to authorize ending it).
    async fn access_session(&self, id: AccessSessionId) -> Result<Option<AccessSessionRecord>>;
    /// The open access sessions a user holds.
    async fn open_access_sessions_of(&self, user: UserId) -> Result<Vec<AccessSessionRecord>>;
    /// Every session into the granted customer (grant: `access.list`), optionally one actor's only.
    async fn list_access_sessions(
        &self,
        grant: &Grant,
        actor: Option<UserId>,
        page: &PageRequest,
    ) -> Result<Page<AccessSessionRecord>>;
    /// Ends one (grant: `access.end` on its customer); records `access_session.ended`.
    async fn end_access_session(&self, grant: &Grant, id: AccessSessionId, ctx: &Ctx) -> Result<()>;

    // --- API tokens ---
    async fn create_api_token(&self, grant: &Grant, new: NewApiToken, ctx: &Ctx) -> Result<ApiTokenRecord>;
    async fn list_api_tokens(&self, grant: &Grant, page: &PageRequest) -> Result<Page<ApiTokenRecord>>;
    async fn get_api_token(&self, grant: &Grant, id: ApiTokenId) -> Result<ApiTokenRecord>;
    async fn revoke_api_token(&self, grant: &Grant, id: ApiTokenId, ctx: &Ctx) -> Result<()>;
    /// A live (unrevoked, unexpired) token by hash, with its active creator and account.
    async fn token_principal(&self, token_hash: &str) -> Result<Option<TokenPrincipal>>;
    async fn touch_api_token(&self, id: ApiTokenId) -> Result<()>;

    // --- collections (grant: `resource.read` / `resource.write` on the customer) ---
    async fn list_collections(&self, grant: &Grant, page: &PageRequest) -> Result<Page<Collection>>;
    /// One collection (grant: `resource.read` or `resource.write`).
    async fn get_collection(&self, grant: &Grant, id: CollectionId) -> Result<Collection>;
    async fn create_collection(&self, grant: &Grant, name: String, ctx: &Ctx) -> Result<Collection>;
    async fn rename_collection(&self, grant: &Grant, id: CollectionId, name: String, ctx: &Ctx) -> Result<Collection>;
    async fn delete_collection(&self, grant: &Grant, id: CollectionId, ctx: &Ctx) -> Result<()>;

    // --- certificates (grant: `resource.read` / `resource.write` on the customer) ---
    /// Adds certificates to a collection; one already in the account comes back as it is, marked
    /// `true` (a duplicate). All or nothing, with one `certificate.imported` event.
    async fn import_certificates(
        &self,
        grant: &Grant,
        collection: CollectionId,
        certificates: Vec<NewCertificate>,
        ctx: &Ctx,
    ) -> Result<Vec<(Certificate, bool)>>;
    async fn list_certificates(
        &self,
        grant: &Grant,
        filter: &CertificateFilter,
        page: &PageRequest,
    ) -> Result<Page<Certificate>>;
    async fn get_certificate(&self, grant: &Grant, id: CertificateId) -> Result<Certificate>;
    async fn delete_certificate(&self, grant: &Grant, id: CertificateId, ctx: &Ctx) -> Result<()>;

    // --- plans, limits, usage ---
    /// The granted account's subscription (grant: `subscription.read`).
    async fn subscription(&self, grant: &Grant) -> Result<Subscription>;
    /// Sets a managed customer's limits (grant: `subscription.manage`); `Conflict` otherwise.
    async fn set_limits(&self, grant: &Grant, limits: Limits, ctx: &Ctx) -> Result<Subscription>;
    /// What each customer below the granted account holds (grant: `usage.read`).
    async fn usage_below(&self, grant: &Grant, page: &PageRequest) -> Result<Page<UsageRow>>;

    // --- support ---
    /// Sends a request from the granted customer to its parent's inbox (grant: `support.create`).
    /// Delivers a request to the account's parent; answers it with the address the parent's
    /// inbox is notified at (its branding's support email, else its contact email), if any.
    async fn create_support_request(
        &self,
        grant: &Grant,
        subject: String,
        message: String,
        ctx: &Ctx,
    ) -> Result<(SupportRequest, Option<String>)>;
    /// A customer's sent requests, or a partner-side account's inbox (grant: `support.read`).
    async fn list_support_requests(&self, grant: &Grant, page: &PageRequest) -> Result<Page<SupportRequest>>;
    /// One request, sent by or delivered to the grant's account (`support.read` or
    /// `support.manage`).
    async fn get_support_request(&self, grant: &Grant, id: SupportRequestId) -> Result<SupportRequest>;
    /// Opens or closes a request in the granted account's inbox (grant: `support.manage`).
    async fn set_support_status(
        &self,
        grant: &Grant,
        id: SupportRequestId,
        open: bool,
        ctx: &Ctx,
    ) -> Result<SupportRequest>;

    // --- branding ---
    /// The granted account's own branding record (grant: `branding.read`).
    async fn branding(&self, grant: &Grant) -> Result<BrandingFields>;
    /// Replaces it (grant: `branding.manage`).
    async fn set_branding(&self, grant: &Grant, fields: BrandingFields, ctx: &Ctx) -> Result<BrandingFields>;
    /// Sets or (with `None`) removes a logo (grant: `branding.manage`).
    async fn set_logo(&self, grant: &Grant, variant: LogoVariant, logo: Option<Logo>, ctx: &Ctx) -> Result<()>;
    /// What the granted account's users see (grant: `account.read`).
    async fn effective_branding(&self, grant: &Grant) -> Result<EffectiveBranding>;
    /// The logo they see, if any (grant: `account.read`).
    async fn effective_logo(&self, grant: &Grant, variant: LogoVariant) -> Result<Option<Logo>>;
    /// The branding of the login page `/login/{slug}`, public by design: only the platform,
    /// partner and MSP accounts have one; any other slug answers `None`.
    async fn login_branding(&self, slug: &str) -> Result<Option<EffectiveBranding>>;
    async fn login_logo(&self, slug: &str, variant: LogoVariant) -> Result<Option<Logo>>;

    // --- agents ---
    /// Registers an agent reporting into `collection` (grant: `resource.write`); counts against
    /// the plan's agents.
    async fn register_agent(
        &self,
        grant: &Grant,
        collection: CollectionId,
        name: String,
        token_hash: String,
        ctx: &Ctx,
    ) -> Result<Agent>;
    async fn list_agents(&self, grant: &Grant, page: &PageRequest) -> Result<Page<Agent>>;
    async fn get_agent(&self, grant: &Grant, id: AgentId) -> Result<Agent>;
    /// Revokes an agent's token (grant: `resource.write`).
    async fn revoke_agent(&self, grant: &Grant, id: AgentId, ctx: &Ctx) -> Result<()>;
    /// An agent by token hash (revoked ones too: a refusal is recorded), and whether its account
    /// (or an ancestor) is suspended.
    async fn agent_by_token(&self, token_hash: &str) -> Result<Option<(Agent, bool)>>;
    /// Stores what an agent found, in its own account and collection only, as one import.
    async fn agent_report(
        &self,
        agent: &Agent,
        hostname: String,
        certificates: Vec<NewCertificate>,
    ) -> Result<Vec<(Certificate, bool)>>;

    // --- monitored targets (grant: `resource.read` / `resource.write` on the customer) ---
    async fn create_target(&self, grant: &Grant, new: NewTarget, ctx: &Ctx) -> Result<MonitoredTarget>;
    async fn list_targets(&self, grant: &Grant, page: &PageRequest) -> Result<Page<MonitoredTarget>>;
    /// With `resource.read` or `resource.write`.
    async fn get_target(&self, grant: &Grant, id: TargetId) -> Result<MonitoredTarget>;
    async fn update_target(
        &self,
        grant: &Grant,
        id: TargetId,
        patch: TargetPatch,
        ctx: &Ctx,
    ) -> Result<MonitoredTarget>;
    async fn delete_target(&self, grant: &Grant, id: TargetId, ctx: &Ctx) -> Result<()>;
    /// Claims a target for a check on demand: `false` when it was checked within `gap`, or is being
    /// checked right now (by a user or the scheduler). The claim ends when the check is recorded.
    async fn claim_check(&self, grant: &Grant, id: TargetId, gap: time::Duration) -> Result<bool>;
    /// Records a check a user asked for (audited as `target.checked`) of `checked` as it was read
    /// before the handshake; a target moved meanwhile is a conflict. The next scheduled check is
    /// due at `next_check_at`.
    async fn record_check(
        &self,
        grant: &Grant,
        checked: &MonitoredTarget,
        check: TlsCheck,
        next_check_at: OffsetDateTime,
        ctx: &Ctx,
    ) -> Result<MonitoredTarget>;
    /// Leases up to `limit` due targets to `owner` until `lease_until`; a target leased by one
    /// caller is not handed to another until its lease ends (on PostgreSQL with `FOR UPDATE SKIP
    /// LOCKED`, so concurrent processes never wait on each other's leases).
    async fn lease_due_targets(
        &self,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<LeasedTarget>>;
    /// Stores a scheduled check by `owner` and ends its lease; a lease that was lost (expired and
    /// taken by another owner, or the target moved or deleted) stores nothing and answers `false`.
    async fn complete_lease(
        &self,
        owner: &str,
        target: &LeasedTarget,
        check: TlsCheck,
        next_check_at: OffsetDateTime,
    ) -> Result<bool>;

    // --- expiry overview (grant: `expiry.read`) ---
    async fn expiring(&self, grant: &Grant, scope: ExpiryScope, page: &PageRequest) -> Result<Page<ExpiringItem>>;

    // --- audit ---
    /// Records an event that accompanies no other change (a denial, a failed step-up).
    async fn record(&self, draft: AuditDraft, ctx: &Ctx) -> Result<EventId>;
    async fn audit_page(&self, grant: &Grant, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>>;
    /// The trail in `seq` order, from `after_seq` (exclusive), at most `limit` events.
    async fn audit_chunk(&self, grant: &Grant, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>>;
    async fn verify_trail(&self, grant: &Grant) -> Result<Verification>;
}
