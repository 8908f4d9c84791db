//! The repository API: one trait a noun, each implemented for SQLite and PostgreSQL, and
//! [`Repository`], their union, which the rest of the service holds as [`crate::Store`].

use crate::Result;
use crate::types::*;
use tenantry_domain::Action;
use tenantry_domain::authz::{Grant, cap};
use tenantry_domain::{
    AccessSessionId, Account, AccountId, Agent, AgentId, ApiTokenId, AuditEvent, Certificate, CertificateId,
    Collection, CollectionId, Email, EventId, Limits, MonitoredTarget, Role, SessionId, SupportRequest,
    SupportRequestId, TargetId, TlsCheck, User, UserId, WebhookId, audit::Verification,
};
use time::OffsetDateTime;

/// The platform account and the database itself.
#[async_trait::async_trait]
pub trait PlatformStore: Send + Sync {
    /// Answers when the database does.
    async fn ping(&self) -> Result<()>;

    /// Creates the platform account on an empty database; returns it, and whether it was created.
    async fn ensure_platform(&self, name: &str) -> Result<(Account, bool)>;
    /// The platform account.
    async fn platform(&self) -> Result<Account>;
}

/// Accounts: the tree, its closure table, status and deletion.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// An account and its relation to `viewer`'s account (unscoped: used to authorize).
    async fn account_view(&self, id: AccountId, viewer: AccountId, viewer_user: UserId) -> Result<Option<AccountView>>;
    async fn create_account(
        &self,
        parent: &Grant<cap::AccountCreate>,
        account: NewAccount,
        admin: NewUser,
        ctx: &Ctx,
    ) -> Result<(Account, User)>;
    /// The accounts below the viewer's that its grant sees (all, the assigned ones, none).
    async fn list_accounts(
        &self,
        viewer: &Grant<cap::AccountRead>,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<Account>>;
    /// Changes the fields of `patch`, each on its grant of `grants` (a field without one is refused).
    async fn update_account(&self, grants: AccountGrants, patch: AccountPatch, ctx: &Ctx) -> Result<Account>;
    async fn schedule_deletion(
        &self,
        grant: &Grant<cap::AccountDelete>,
        deadline: OffsetDateTime,
        ctx: &Ctx,
    ) -> Result<Account>;
    async fn restore_account(&self, grant: &Grant<cap::AccountDelete>, ctx: &Ctx) -> Result<Account>;
}

/// An account's users and their roles.
#[async_trait::async_trait]
pub trait UserStore: Send + Sync {
    async fn list_users(&self, grant: &Grant<cap::UserRead>, page: &PageRequest) -> Result<Page<User>>;
    /// One user (grant: `user.read` or `user.manage`).
    async fn get_user(&self, grant: &Grant<cap::UserRead>, id: UserId) -> Result<User>;
    /// Creates a user; one with a password needs the `credentials` grant on the same account.
    async fn create_user(
        &self,
        grant: &Grant<cap::UserManage>,
        credentials: Option<Grant<cap::UserCredentials>>,
        user: NewUser,
        ctx: &Ctx,
    ) -> Result<User>;
    /// Changes a user; a new password or email (lasting credentials) needs the `credentials` grant.
    async fn update_user(
        &self,
        grant: &Grant<cap::UserManage>,
        credentials: Option<Grant<cap::UserCredentials>>,
        id: UserId,
        patch: UserPatch,
        ctx: &Ctx,
    ) -> Result<User>;
    async fn delete_user(&self, grant: &Grant<cap::UserManage>, id: UserId, ctx: &Ctx) -> Result<()>;
    /// Ends every sign-in of a user of the granted account, with their access sessions, recording
    /// `user.sessions_ended`; `NotFound` for a user elsewhere.
    async fn end_user_sign_ins(&self, grant: &Grant<cap::UserManage>, id: UserId, ctx: &Ctx) -> Result<u64>;
    /// Creates a user outside any request (operator command, bootstrap); audited as the system.
    async fn create_user_as_operator(&self, account: AccountId, user: NewUser) -> Result<User>;
    /// An operator's new one-time link for an invited user (the old links stop working); `None`
    /// when no invited user has that email.
    async fn reissue_activation(&self, email: &str, activation: ActivationSecret) -> Result<Option<User>>;
}

/// Sign-ins: attempts under the limits, sessions, step-up, activation.
#[async_trait::async_trait]
pub trait SignInStore: Send + Sync {
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
    /// A number that moves whenever a committed change may have altered what
    /// [`session_by_token`](Self::session_by_token) or [`AccountStore::account_view`] answer (a
    /// sign-in, user, account, place in the tree or staff assignment), in this process or in any
    /// other sharing the database. Read it *before* reading those: an answer read after it stays
    /// true while it has not moved. A last-seen touch does not move it.
    async fn revision(&self) -> Result<u64>;
    async fn touch_session(&self, id: SessionId) -> Result<()>;
    /// Step-up: a new token for the same sign-in, `reauth_at` now, and `auth.reauth` recorded.
    async fn rotate_session(&self, id: SessionId, new_token_hash: &str, method: &str, ctx: &Ctx) -> Result<()>;
    /// Ends a sign-in; `action` is recorded when given.
    async fn end_session(&self, id: SessionId, action: Option<Action>, ctx: &Ctx) -> Result<()>;
    /// `user`'s open sign-ins seen since `seen_since` (older ones have lapsed), newest first.
    async fn list_sign_ins(
        &self,
        user: UserId,
        seen_since: OffsetDateTime,
        page: &PageRequest,
    ) -> Result<Page<SignInSummary>>;
    /// Ends one of `user`'s own open sign-ins with its access sessions, recording
    /// `auth.session_ended`; `NotFound` when it is not one.
    async fn end_own_sign_in(&self, user: UserId, id: SessionId, ctx: &Ctx) -> Result<()>;
    /// Ends every open sign-in of `user` but `keep`, with their access sessions, recording
    /// `auth.sessions_ended`; returns how many ended.
    async fn end_other_sign_ins(&self, user: UserId, keep: SessionId, ctx: &Ctx) -> Result<u64>;
    /// Sets the caller's own password and ends its other sign-ins.
    async fn change_own_password(&self, user: UserId, keep: SessionId, password_hash: &str, ctx: &Ctx) -> Result<()>;
    /// The invited user an unused, unexpired activation token belongs to.
    async fn invited_user(&self, token_hash: &str) -> Result<Option<User>>;
    /// Sets an invited user's first password; `None` when the token is unknown, used or expired.
    async fn activate(&self, token_hash: &str, password_hash: &str) -> Result<Option<User>>;
}

/// An account's single sign-on provider.
#[async_trait::async_trait]
pub trait SsoStore: Send + Sync {
    /// The account's provider settings, if ever set.
    async fn sso_settings(&self, grant: &Grant<cap::SsoManage>) -> Result<Option<SsoSettings>>;
    /// Replaces them (a `None` secret keeps the stored one) and records `sso.updated`, without
    /// the secret. `Conflict` when disabling while `sso_mandatory` is on, or when another account
    /// holds one of the email domains.
    async fn set_sso_settings(
        &self,
        grant: &Grant<cap::SsoManage>,
        settings: SsoSettings,
        ctx: &Ctx,
    ) -> Result<SsoSettings>;
    /// The provider an account signs in with, if it is enabled (for the sign-in flow, which has
    /// no grant: the provider itself is the proof).
    async fn enabled_sso(&self, account: AccountId) -> Result<Option<SsoSettings>>;
    /// The account with enabled single sign-on that `slug` names, or that claims `domain`.
    async fn sso_account(&self, slug: Option<&str>, domain: Option<&str>) -> Result<Option<AccountId>>;
    /// Records a flow unless its address already has `per_ip` flows under way (`false`); drops
    /// the ones that lapsed.
    async fn begin_sso_flow(&self, flow: SsoFlow, per_ip: i64) -> Result<bool>;
    /// Takes a flow by its state's hash, once, in the browser that started it: a second take, one
    /// after it lapsed, or one from another browser (which leaves the flow in place) takes nothing.
    async fn take_sso_flow(&self, state_hash: &str, browser_hash: &str) -> Result<TakenFlow>;
    /// An account as a sign-in judges it: the account, and whether it or an ancestor is blocked.
    async fn sign_in_standing(&self, account: AccountId) -> Result<(Account, bool)>;
    /// The user of `account` with `email`; when unknown and `provision` holds a role and a name,
    /// creates it active, without a password, within the account's user limit, recording
    /// `user.created`. An invited user becomes active (the provider proved the address).
    async fn sso_user(
        &self,
        account: AccountId,
        email: &Email,
        provision: Option<(Role, String)>,
        ctx: &Ctx,
    ) -> Result<SsoUser>;
}

/// A user's own second factor (TOTP) and recovery codes; and a user manager's reset of it.
#[async_trait::async_trait]
pub trait MfaStore: Send + Sync {
    /// Starts (or restarts) enrolling `user` with `secret`; `Conflict` while a confirmed factor
    /// is on.
    async fn begin_totp(&self, user: UserId, secret: &str) -> Result<()>;
    /// The user's factor, pending or confirmed.
    async fn totp_factor(&self, user: UserId) -> Result<Option<TotpFactor>>;
    /// Confirms the pending factor with the code of `step` (which counts as used), stores the
    /// recovery codes' hashes, turns `mfa_enabled` on and records `auth.mfa_enabled`; `false`
    /// when there was no pending factor.
    async fn confirm_totp(&self, user: UserId, step: i64, recovery_hashes: &[String], ctx: &Ctx) -> Result<bool>;
    /// Accepts a confirmed factor's code of `step` once: `false` when that step (or a later one)
    /// was already used.
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool>;
    /// Uses up one recovery code: `false` when it is not an unused code of the user.
    async fn use_recovery_code(&self, user: UserId, code_hash: &str) -> Result<bool>;
    /// Replaces the user's recovery codes and records `auth.recovery_codes_renewed`; `NotFound`
    /// without a confirmed factor.
    async fn replace_recovery_codes(&self, user: UserId, recovery_hashes: &[String], ctx: &Ctx) -> Result<()>;
    /// Removes the user's factor and codes and records `auth.mfa_disabled`.
    async fn remove_totp(&self, user: UserId, ctx: &Ctx) -> Result<()>;
    /// A user manager removes a user's factor (a lost phone), ends its sign-ins and records
    /// `user.mfa_reset`; `NotFound` for a user elsewhere.
    async fn reset_user_mfa(&self, grant: &Grant<cap::UserManage>, id: UserId, ctx: &Ctx) -> Result<()>;
}

/// MSP staff assignments to customers.
#[async_trait::async_trait]
pub trait StaffStore: Send + Sync {
    async fn list_assignments(
        &self,
        grant: &Grant<cap::StaffRead>,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<Assignment>>;
    /// Assigns an `msp_staff` user of the MSP to one of its customers (idempotent).
    async fn assign(&self, grant: &Grant<cap::StaffAssign>, user: UserId, customer: AccountId, ctx: &Ctx)
    -> Result<()>;
    /// Whether `user` is a user of the MSP and `customer` one of its customers (and, with
    /// `assigned`, whether the one is assigned to the other); `NotFound` otherwise. Grant:
    /// `staff.read` or `staff.assign` on the MSP.
    async fn find_assignment(
        &self,
        grant: &Grant<cap::StaffRead>,
        user: UserId,
        customer: AccountId,
        assigned: bool,
    ) -> Result<()>;
    /// Removes an assignment and ends that user's open access sessions into the customer.
    async fn unassign(
        &self,
        grant: &Grant<cap::StaffAssign>,
        user: UserId,
        customer: AccountId,
        ctx: &Ctx,
    ) -> Result<()>;
}

/// Access sessions: a partner-side actor inside a customer.
#[async_trait::async_trait]
pub trait AccessStore: Send + Sync {
    /// Opens one (grant: `access.enter` on the customer); records `access_session.started`.
    async fn open_access_session(
        &self,
        grant: &Grant<cap::AccessEnter>,
        new: NewAccessSession,
        ctx: &Ctx,
    ) -> Result<AccessSessionRecord>;
    /// One access session, unscoped (to resolve `X-Access-Session` and to authorize ending it).
    async fn access_session(&self, id: AccessSessionId) -> Result<Option<AccessSessionRecord>>;
    /// The open access sessions a user holds.
    async fn open_access_sessions_of(&self, user: UserId) -> Result<Vec<AccessSessionRecord>>;
    /// Every session into the granted customer (grant: `access.list`), optionally one actor's only.
    async fn list_access_sessions(
        &self,
        grant: &Grant<cap::AccessList>,
        actor: Option<UserId>,
        page: &PageRequest,
    ) -> Result<Page<AccessSessionRecord>>;
    /// Ends one (grant: `access.end` on its customer); records `access_session.ended`.
    async fn end_access_session(&self, grant: &Grant<cap::AccessEnd>, id: AccessSessionId, ctx: &Ctx) -> Result<()>;
}

/// API tokens of an account.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    async fn create_api_token(
        &self,
        grant: &Grant<cap::ApiTokenCreate>,
        new: NewApiToken,
        ctx: &Ctx,
    ) -> Result<ApiTokenRecord>;
    async fn list_api_tokens(
        &self,
        grant: &Grant<cap::ApiTokenManage>,
        page: &PageRequest,
    ) -> Result<Page<ApiTokenRecord>>;
    async fn get_api_token(&self, grant: &Grant<cap::ApiTokenManage>, id: ApiTokenId) -> Result<ApiTokenRecord>;
    async fn revoke_api_token(&self, grant: &Grant<cap::ApiTokenManage>, id: ApiTokenId, ctx: &Ctx) -> Result<()>;
    /// A live (unrevoked, unexpired) token by hash, with its active creator and account.
    async fn token_principal(&self, token_hash: &str) -> Result<Option<TokenPrincipal>>;
    async fn touch_api_token(&self, id: ApiTokenId) -> Result<()>;
}

/// Certificate collections of a customer.
#[async_trait::async_trait]
pub trait CollectionStore: Send + Sync {
    async fn list_collections(&self, grant: &Grant<cap::ResourceRead>, page: &PageRequest) -> Result<Page<Collection>>;
    /// One collection (grant: `resource.read` or `resource.write`).
    async fn get_collection(&self, grant: &Grant<cap::ResourceRead>, id: CollectionId) -> Result<Collection>;
    async fn create_collection(&self, grant: &Grant<cap::ResourceWrite>, name: String, ctx: &Ctx)
    -> Result<Collection>;
    async fn rename_collection(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        id: CollectionId,
        name: String,
        ctx: &Ctx,
    ) -> Result<Collection>;
    async fn delete_collection(&self, grant: &Grant<cap::ResourceWrite>, id: CollectionId, ctx: &Ctx) -> Result<()>;
}

/// Certificates: imports, search, deletion.
#[async_trait::async_trait]
pub trait CertificateStore: Send + Sync {
    /// Adds certificates to a collection; one already in the account comes back as it is, marked
    /// `true` (a duplicate). All or nothing, with one `certificate.imported` event.
    async fn import_certificates(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        collection: CollectionId,
        certificates: Vec<NewCertificate>,
        ctx: &Ctx,
    ) -> Result<Vec<(Certificate, bool)>>;
    async fn list_certificates(
        &self,
        grant: &Grant<cap::ResourceRead>,
        filter: &CertificateFilter,
        page: &PageRequest,
    ) -> Result<Page<Certificate>>;
    async fn get_certificate(&self, grant: &Grant<cap::ResourceRead>, id: CertificateId) -> Result<Certificate>;
    async fn delete_certificate(&self, grant: &Grant<cap::ResourceWrite>, id: CertificateId, ctx: &Ctx) -> Result<()>;
}

/// Plans, limits set by an MSP, and usage.
#[async_trait::async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// The granted account's subscription (grant: `subscription.read`).
    async fn subscription(&self, grant: &Grant<cap::SubscriptionRead>) -> Result<Subscription>;
    /// Sets a managed customer's limits (grant: `subscription.manage`); `Conflict` otherwise.
    async fn set_limits(
        &self,
        grant: &Grant<cap::SubscriptionManage>,
        limits: Limits,
        ctx: &Ctx,
    ) -> Result<Subscription>;
    /// What each customer below the granted account holds (grant: `usage.read`).
    async fn usage_below(&self, grant: &Grant<cap::UsageRead>, page: &PageRequest) -> Result<Page<UsageRow>>;
}

/// Support requests and inboxes.
#[async_trait::async_trait]
pub trait SupportStore: Send + Sync {
    /// Sends a request from the granted customer to its parent's inbox (grant: `support.create`).
    /// Delivers a request to the account's parent; answers it with the address the parent's
    /// inbox is notified at (its branding's support email, else its contact email), if any.
    async fn create_support_request(
        &self,
        grant: &Grant<cap::SupportCreate>,
        subject: String,
        message: String,
        ctx: &Ctx,
    ) -> Result<(SupportRequest, Option<String>)>;
    /// A customer's sent requests, or a partner-side account's inbox (grant: `support.read`).
    async fn list_support_requests(
        &self,
        grant: &Grant<cap::SupportRead>,
        page: &PageRequest,
    ) -> Result<Page<SupportRequest>>;
    /// One request, sent by or delivered to the grant's account (`support.read` or
    /// `support.manage`).
    async fn get_support_request(
        &self,
        grant: &Grant<cap::SupportRead>,
        id: SupportRequestId,
    ) -> Result<SupportRequest>;
    /// Opens or closes a request in the granted account's inbox (grant: `support.manage`).
    async fn set_support_status(
        &self,
        grant: &Grant<cap::SupportManage>,
        id: SupportRequestId,
        open: bool,
        ctx: &Ctx,
    ) -> Result<SupportRequest>;
}

/// Co-branding records, logos, and the branding a customer sees.
#[async_trait::async_trait]
pub trait BrandingStore: Send + Sync {
    /// The granted account's own branding record (grant: `branding.read`).
    async fn branding(&self, grant: &Grant<cap::BrandingRead>) -> Result<BrandingFields>;
    /// Replaces it (grant: `branding.manage`).
    async fn set_branding(
        &self,
        grant: &Grant<cap::BrandingManage>,
        fields: BrandingFields,
        ctx: &Ctx,
    ) -> Result<BrandingFields>;
    /// Sets or (with `None`) removes a logo (grant: `branding.manage`).
    async fn set_logo(
        &self,
        grant: &Grant<cap::BrandingManage>,
        variant: LogoVariant,
        logo: Option<Logo>,
        ctx: &Ctx,
    ) -> Result<()>;
    /// What the granted account's users see (grant: `account.read`).
    async fn effective_branding(&self, grant: &Grant<cap::AccountRead>) -> Result<EffectiveBranding>;
    /// The logo they see, if any (grant: `account.read`).
    async fn effective_logo(&self, grant: &Grant<cap::AccountRead>, variant: LogoVariant) -> Result<Option<Logo>>;
    /// The branding of the login page `/login/{slug}`, public by design: only the platform,
    /// partner and MSP accounts have one; any other slug answers `None`.
    async fn login_branding(&self, slug: &str) -> Result<Option<EffectiveBranding>>;
    async fn login_logo(&self, slug: &str, variant: LogoVariant) -> Result<Option<Logo>>;
}

/// Agents: registration, revocation, and what they report.
#[async_trait::async_trait]
pub trait AgentStore: Send + Sync {
    /// Registers an agent reporting into `collection` (grant: `resource.write`); counts against
    /// the plan's agents.
    async fn register_agent(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        collection: CollectionId,
        name: String,
        token_hash: String,
        ctx: &Ctx,
    ) -> Result<Agent>;
    async fn list_agents(&self, grant: &Grant<cap::ResourceRead>, page: &PageRequest) -> Result<Page<Agent>>;
    async fn get_agent(&self, grant: &Grant<cap::ResourceRead>, id: AgentId) -> Result<Agent>;
    /// Revokes an agent's token (grant: `resource.write`).
    async fn revoke_agent(&self, grant: &Grant<cap::ResourceWrite>, id: AgentId, ctx: &Ctx) -> Result<()>;
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
}

/// Monitored targets, their checks and the scheduler's leases.
#[async_trait::async_trait]
pub trait TargetStore: Send + Sync {
    async fn create_target(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        new: NewTarget,
        ctx: &Ctx,
    ) -> Result<MonitoredTarget>;
    async fn list_targets(&self, grant: &Grant<cap::ResourceRead>, page: &PageRequest)
    -> Result<Page<MonitoredTarget>>;
    /// With `resource.read` or `resource.write`.
    async fn get_target(&self, grant: &Grant<cap::ResourceRead>, id: TargetId) -> Result<MonitoredTarget>;
    async fn update_target(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        id: TargetId,
        patch: TargetPatch,
        ctx: &Ctx,
    ) -> Result<MonitoredTarget>;
    async fn delete_target(&self, grant: &Grant<cap::ResourceWrite>, id: TargetId, ctx: &Ctx) -> Result<()>;
    /// Claims a target for a check on demand: `false` when it was checked within `gap`, or is being
    /// checked right now (by a user or the scheduler). The claim ends when the check is recorded.
    async fn claim_check(&self, grant: &Grant<cap::ResourceWrite>, id: TargetId, gap: time::Duration) -> Result<bool>;
    /// Records a check a user asked for (audited as `target.checked`) of `checked` as it was read
    /// before the handshake; a target moved meanwhile is a conflict. The next scheduled check is
    /// due at `next_check_at`.
    async fn record_check(
        &self,
        grant: &Grant<cap::ResourceWrite>,
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
    /// Ends every lease `owner` holds, on targets and on webhook deliveries, so that another
    /// process takes that work at once (a process stopping answers how many it gave back); the
    /// checks and deliveries still running store nothing.
    async fn release_leases(&self, owner: &str) -> Result<u64>;
}

/// The expiry overview across the customers a caller may see.
#[async_trait::async_trait]
pub trait ExpiryStore: Send + Sync {
    async fn expiring(
        &self,
        grant: &Grant<cap::ExpiryRead>,
        scope: ExpiryScope,
        page: &PageRequest,
    ) -> Result<Page<ExpiringItem>>;
}

/// Audit trails: appending to every trail an event belongs to, reading, verifying.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// The key trail checkpoints are signed with: the stored one, or `candidate` stored now when
    /// there is none yet (every process agrees on the first one stored).
    async fn audit_signing_key(&self, candidate: SigningKey) -> Result<SigningKey>;
    /// Records an event that accompanies no other change (a denial, a failed step-up).
    async fn record(&self, draft: AuditDraft, ctx: &Ctx) -> Result<EventId>;
    async fn audit_page(
        &self,
        grant: &Grant<cap::AuditRead>,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>>;
    /// The trail in `seq` order, from `after_seq` (exclusive), at most `limit` events.
    async fn audit_chunk(&self, grant: &Grant<cap::AuditRead>, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>>;
    async fn verify_trail(&self, grant: &Grant<cap::AuditRead>) -> Result<Verification>;
    /// For the operator's commands (`tenantry audit export`): as [`AuditStore::audit_chunk`],
    /// for any trail.
    async fn operator_audit_chunk(&self, trail: AccountId, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>>;
    /// For the operator's commands (a backup's check): every trail in the database, each judged
    /// as [`AuditStore::verify_trail`] judges one.
    async fn verify_every_trail(&self) -> Result<Vec<(AccountId, Verification)>>;
}

/// Webhooks of an account and their outbox of deliveries.
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, grant: &Grant<cap::WebhookManage>, new: NewWebhook, ctx: &Ctx) -> Result<Webhook>;
    async fn list_webhooks(&self, grant: &Grant<cap::WebhookManage>, page: &PageRequest) -> Result<Page<Webhook>>;
    async fn get_webhook(&self, grant: &Grant<cap::WebhookManage>, id: WebhookId) -> Result<Webhook>;
    /// The webhook with its signing secret, for a test ping.
    async fn webhook_with_secret(&self, grant: &Grant<cap::WebhookManage>, id: WebhookId) -> Result<(Webhook, String)>;
    async fn update_webhook(
        &self,
        grant: &Grant<cap::WebhookManage>,
        id: WebhookId,
        patch: WebhookPatch,
        ctx: &Ctx,
    ) -> Result<Webhook>;
    /// Deletes the webhook with its deliveries.
    async fn delete_webhook(&self, grant: &Grant<cap::WebhookManage>, id: WebhookId, ctx: &Ctx) -> Result<()>;
    /// The delivery log, newest first.
    async fn list_deliveries(
        &self,
        grant: &Grant<cap::WebhookManage>,
        id: WebhookId,
        page: &PageRequest,
    ) -> Result<Page<Delivery>>;
    /// Leases up to `limit` due deliveries to `owner` until `lease_until`: of each enabled webhook
    /// only its oldest pending delivery, so that a webhook's events go out in trail order and a
    /// failing one holds back the later ones (on PostgreSQL with `FOR UPDATE SKIP LOCKED`).
    async fn lease_due_deliveries(
        &self,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>>;
    /// Stores an attempt by `owner` and ends its lease; a lost lease stores nothing (`false`).
    async fn complete_delivery(&self, owner: &str, due: &DueDelivery, outcome: AttemptOutcome) -> Result<bool>;
}

/// `Repository` is the union of the nouns' traits, and anything implementing them all is one.
macro_rules! union {
    ($($noun:ident),* $(,)?) => {
        /// The one repository API, every noun's trait; implemented for SQLite and PostgreSQL.
        pub trait Repository: $($noun +)* Send + Sync + 'static {}

        impl<T: $($noun +)* Send + Sync + 'static> Repository for T {}
    };
}

/// Bulk data for measuring at scale.
#[async_trait::async_trait]
pub trait SeedStore: Send + Sync {
    /// Writes `plan`'s tree below the platform in one transaction per MSP, calling `progress`
    /// with the accounts and users each one wrote. For a database no server writes to.
    async fn bench_seed(&self, plan: &SeedPlan, progress: &(dyn Fn(u64) + Send + Sync)) -> Result<SeedReport>;
}

union!(
    SeedStore,
    PlatformStore,
    AccountStore,
    UserStore,
    SignInStore,
    MfaStore,
    SsoStore,
    StaffStore,
    AccessStore,
    TokenStore,
    CollectionStore,
    CertificateStore,
    SubscriptionStore,
    SupportStore,
    BrandingStore,
    AgentStore,
    TargetStore,
    ExpiryStore,
    AuditStore,
    WebhookStore,
);
