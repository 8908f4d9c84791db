//! The permission catalogue and `authorize`, the one place where DESIGN's matrix is enforced.
//!
//! A [`Grant`] can only be made here; the store's tenant-scoped handles are built from one, so a
//! handler cannot reach a tenant's data without having been authorized for it.

use crate::account::AccountKind;
use crate::ids::{AccountId, UserId};
use crate::user::Role;
use serde::{Deserialize, Serialize};

/// A closed set of permissions. Beyond DESIGN's list, `account.sso_mandatory`, `staff.read`,
/// `access.list`, `access.end`, `branding.read`, `subscription.manage`, `support.manage` and
/// `api_token.create` name rows or cells of the matrix that differ from their neighbours;
/// `expiry.read` is the contract's expiry overview (`GET …/expiring`), which the matrix lacks;
/// `user.credentials` is setting a user's password or receiving its activation link (lasting
/// credentials), which a technician inside an access session may not do.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "account.read")]
    AccountRead,
    #[serde(rename = "account.create")]
    AccountCreate,
    #[serde(rename = "account.update")]
    AccountUpdate,
    #[serde(rename = "account.delete")]
    AccountDelete,
    #[serde(rename = "account.sso_mandatory")]
    AccountSsoMandatory,
    #[serde(rename = "user.read")]
    UserRead,
    #[serde(rename = "user.manage")]
    UserManage,
    #[serde(rename = "staff.read")]
    StaffRead,
    #[serde(rename = "staff.assign")]
    StaffAssign,
    #[serde(rename = "access.enter")]
    AccessEnter,
    #[serde(rename = "access.list")]
    AccessList,
    #[serde(rename = "access.end")]
    AccessEnd,
    #[serde(rename = "audit.read")]
    AuditRead,
    #[serde(rename = "branding.read")]
    BrandingRead,
    #[serde(rename = "branding.manage")]
    BrandingManage,
    #[serde(rename = "subscription.read")]
    SubscriptionRead,
    #[serde(rename = "subscription.manage")]
    SubscriptionManage,
    #[serde(rename = "support.create")]
    SupportCreate,
    #[serde(rename = "support.read")]
    SupportRead,
    #[serde(rename = "support.manage")]
    SupportManage,
    #[serde(rename = "usage.read")]
    UsageRead,
    #[serde(rename = "resource.read")]
    ResourceRead,
    #[serde(rename = "resource.write")]
    ResourceWrite,
    #[serde(rename = "api_token.manage")]
    ApiTokenManage,
    #[serde(rename = "api_token.create")]
    ApiTokenCreate,
    #[serde(rename = "sso.manage")]
    SsoManage,
    #[serde(rename = "expiry.read")]
    ExpiryRead,
    #[serde(rename = "user.credentials")]
    UserCredentials,
    #[serde(rename = "webhook.manage")]
    WebhookManage,
}

impl Permission {
    pub const ALL: [Permission; 29] = [
        Self::AccountRead,
        Self::AccountCreate,
        Self::AccountUpdate,
        Self::AccountDelete,
        Self::AccountSsoMandatory,
        Self::UserRead,
        Self::UserManage,
        Self::StaffRead,
        Self::StaffAssign,
        Self::AccessEnter,
        Self::AccessList,
        Self::AccessEnd,
        Self::AuditRead,
        Self::BrandingRead,
        Self::BrandingManage,
        Self::SubscriptionRead,
        Self::SubscriptionManage,
        Self::SupportCreate,
        Self::SupportRead,
        Self::SupportManage,
        Self::UsageRead,
        Self::ResourceRead,
        Self::ResourceWrite,
        Self::ApiTokenManage,
        Self::ApiTokenCreate,
        Self::SsoManage,
        Self::ExpiryRead,
        Self::UserCredentials,
        Self::WebhookManage,
    ];

    /// Customer data: what partner-side users reach only inside an access session (collections,
    /// certificates, agents, targets, the customer's API tokens, sending support requests).
    pub fn is_customer_data(self) -> bool {
        matches!(
            self,
            Self::ResourceRead
                | Self::ResourceWrite
                | Self::SupportCreate
                | Self::ApiTokenManage
                | Self::ApiTokenCreate
        )
    }

    /// The dotted name, as served by `GET /me` and written in audit details.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountRead => "account.read",
            Self::AccountCreate => "account.create",
            Self::AccountUpdate => "account.update",
            Self::AccountDelete => "account.delete",
            Self::AccountSsoMandatory => "account.sso_mandatory",
            Self::UserRead => "user.read",
            Self::UserManage => "user.manage",
            Self::StaffRead => "staff.read",
            Self::StaffAssign => "staff.assign",
            Self::AccessEnter => "access.enter",
            Self::AccessList => "access.list",
            Self::AccessEnd => "access.end",
            Self::AuditRead => "audit.read",
            Self::BrandingRead => "branding.read",
            Self::BrandingManage => "branding.manage",
            Self::SubscriptionRead => "subscription.read",
            Self::SubscriptionManage => "subscription.manage",
            Self::SupportCreate => "support.create",
            Self::SupportRead => "support.read",
            Self::SupportManage => "support.manage",
            Self::UsageRead => "usage.read",
            Self::ResourceRead => "resource.read",
            Self::ResourceWrite => "resource.write",
            Self::ApiTokenManage => "api_token.manage",
            Self::ApiTokenCreate => "api_token.create",
            Self::SsoManage => "sso.manage",
            Self::ExpiryRead => "expiry.read",
            Self::UserCredentials => "user.credentials",
            Self::WebhookManage => "webhook.manage",
        }
    }
}

/// How the caller authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A browser or API sign-in (session cookie).
    Session,
    /// A bearer API token; it never performs step-up actions.
    ApiToken,
}

/// An open access session the request carries (`X-Access-Session`), already checked to be the
/// caller's own, open and unexpired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessContext {
    pub access_session_id: String,
    pub customer_id: AccountId,
}

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub email: String,
    pub account_id: AccountId,
    pub account_kind: AccountKind,
    pub account_name: String,
    pub role: Role,
    pub credential: Credential,
    pub access: Option<AccessContext>,
}

/// Where the target account stands relative to the caller's own account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// The caller's own account.
    Own,
    /// Strictly below the caller's own account; `assigned` when the caller is staff assigned to it.
    Below { assigned: bool },
    /// Anywhere else: an ancestor, a sibling, another branch.
    Unrelated,
}

/// The account a request acts on, as far as authorization needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub id: AccountId,
    pub kind: AccountKind,
    pub relation: Relation,
}

/// Why a request is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The caller's role in its own account.
    Member,
    /// The caller's role in an ancestor of the account.
    Ancestor,
    /// An MSP staff assignment to the account.
    Assignment,
    /// An open access session into the account.
    AccessSession,
}

/// What `authorize` found: `permission` allowed on `account_id`, and why. A decision, not a key:
/// the store takes only a typed [`Grant`], made from one by [`grant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    account_id: AccountId,
    permission: Permission,
    basis: Basis,
    /// Which accounts below its own the holder sees, for lists across them.
    sees_below: SeesBelow,
}

impl Allowed {
    pub fn account_id(&self) -> AccountId {
        self.account_id
    }

    pub fn permission(&self) -> Permission {
        self.permission
    }

    pub fn basis(&self) -> Basis {
        self.basis
    }
}

/// Which accounts below the granted one a list may show (the matrix row "see accounts below").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeesBelow {
    All,
    /// Only the customers this MSP staff user is assigned to.
    AssignedTo(UserId),
    Nothing,
}

/// A permission as a type, so that a store method needing `user.manage` takes
/// `&Grant<cap::UserManage>` and no other grant fits. The types are in [`cap`].
///
/// The trait is sealed: only the types of [`cap`] are capabilities, so no other crate can make a
/// capability of its own (and with it an implication that would upgrade a grant).
pub trait Capability: sealed::Sealed + Copy + Send + Sync + 'static {
    const PERMISSION: Permission;
}

mod sealed {
    /// Implemented by the capability types of `cap` alone.
    pub trait Sealed {}
}

/// One type per permission, named like its [`Permission`] variant.
pub mod cap {
    use super::{Capability, Permission};

    macro_rules! capabilities {
        ($($name:ident),* $(,)?) => {
            $(
                #[doc = concat!("The capability of [`Permission::", stringify!($name), "`].")]
                #[derive(Clone, Copy, Debug, PartialEq, Eq)]
                pub struct $name;
                impl super::sealed::Sealed for $name {}
                impl Capability for $name {
                    const PERMISSION: Permission = Permission::$name;
                }
            )*
        };
    }

    capabilities!(
        AccountRead,
        AccountCreate,
        AccountUpdate,
        AccountDelete,
        AccountSsoMandatory,
        UserRead,
        UserManage,
        StaffRead,
        StaffAssign,
        AccessEnter,
        AccessList,
        AccessEnd,
        AuditRead,
        BrandingRead,
        BrandingManage,
        SubscriptionRead,
        SubscriptionManage,
        SupportCreate,
        SupportRead,
        SupportManage,
        UsageRead,
        ResourceRead,
        ResourceWrite,
        ApiTokenManage,
        ApiTokenCreate,
        SsoManage,
        ExpiryRead,
        UserCredentials,
        WebhookManage,
    );
}

/// `P` implies `Self` in the matrix: whoever holds `P` on an account holds `Self` there too (every
/// cell of the one is within the other's).
pub trait ImpliedBy<P: Capability>: Capability {}

impl ImpliedBy<cap::UserManage> for cap::UserRead {}
impl ImpliedBy<cap::ResourceWrite> for cap::ResourceRead {}
impl ImpliedBy<cap::BrandingManage> for cap::BrandingRead {}
impl ImpliedBy<cap::SupportManage> for cap::SupportRead {}
impl ImpliedBy<cap::StaffAssign> for cap::StaffRead {}

/// Proof that `authorize` allowed `P` on `account_id`; only [`grant`] makes one. The store's
/// tenant-scoped methods take the grant of the permission they need, so a write without its
/// grant cannot be written down:
///
/// ```compile_fail
/// use tenantry_domain::authz::{Grant, cap};
/// fn needs_manage(_: &Grant<cap::UserManage>) {}
/// fn with_read(read: &Grant<cap::UserRead>) {
///     needs_manage(read); // a read grant is not a manage grant
/// }
/// ```
///
/// ```compile_fail
/// use tenantry_domain::AccountId;
/// use tenantry_domain::authz::{Basis, Grant, SeesBelow, cap};
/// // Nor can a handler make one for itself: the fields are private.
/// fn forge(account_id: AccountId) -> Grant<cap::UserManage> {
///     Grant { account_id, basis: Basis::Member, sees_below: SeesBelow::All, capability: std::marker::PhantomData }
/// }
/// ```
///
/// ```compile_fail
/// use tenantry_domain::authz::{Capability, ImpliedBy, Permission, cap};
/// // No capability of one's own, to imply a stronger one: the trait is sealed.
/// #[derive(Clone, Copy)]
/// struct Any;
/// impl Capability for Any {
///     const PERMISSION: Permission = Permission::AccountRead;
/// }
/// impl ImpliedBy<Any> for cap::UserManage {}
/// ```
///
/// ```compile_fail
/// use tenantry_domain::authz::{Grant, cap};
/// // And a read grant does not become a write grant (only the other way round).
/// fn upgrade(read: &Grant<cap::ResourceRead>) -> Grant<cap::ResourceWrite> { read.weaken() }
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Grant<P: Capability> {
    account_id: AccountId,
    basis: Basis,
    sees_below: SeesBelow,
    capability: std::marker::PhantomData<P>,
}

impl<P: Capability> Clone for Grant<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: Capability> Copy for Grant<P> {}

impl<P: Capability> Grant<P> {
    /// The account this grant scopes.
    pub fn account_id(&self) -> AccountId {
        self.account_id
    }

    pub fn permission(&self) -> Permission {
        P::PERMISSION
    }

    pub fn basis(&self) -> Basis {
        self.basis
    }

    /// Which accounts below the granted one the holder sees.
    pub fn sees_below(&self) -> SeesBelow {
        self.sees_below
    }

    /// The grant of a permission this one implies (`user.manage` → `user.read`).
    pub fn weaken<Q: ImpliedBy<P>>(&self) -> Grant<Q> {
        Grant {
            account_id: self.account_id,
            basis: self.basis,
            sees_below: self.sees_below,
            capability: std::marker::PhantomData,
        }
    }
}

/// Decides whether `principal` holds `P` on `target`, as a typed grant.
pub fn grant<P: Capability>(principal: &Principal, target: &Target) -> Result<Grant<P>, Denial> {
    let allowed = authorize(principal, P::PERMISSION, target)?;
    Ok(Grant {
        account_id: allowed.account_id,
        basis: allowed.basis,
        sees_below: allowed.sees_below,
        capability: std::marker::PhantomData,
    })
}

/// Why a request is refused. `NotFound` whenever the account is invisible to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    NotFound,
    Forbidden,
    /// Partner-side callers reach customer data only through an open access session.
    AccessSessionRequired,
    /// Inside an access session, API tokens cannot be created.
    DelegatedTokenForbidden,
    /// Inside an access session, a technician cannot mint lasting credentials (passwords,
    /// activation links) for the customer's users.
    DelegatedCredentialForbidden,
    /// A partner-side API token automates the partner side; it never reads customers' data.
    TokenReadsNoCustomerData,
}

/// Decides whether `principal` may exercise `permission` on `target`.
pub fn authorize(principal: &Principal, permission: Permission, target: &Target) -> Result<Allowed, Denial> {
    // A partner-side API token automates the partner side; it never reads customers' data, the
    // expiry overview included.
    if principal.credential == Credential::ApiToken
        && principal.account_kind != AccountKind::Customer
        && permission == Permission::ExpiryRead
    {
        return Err(if visible(principal.role, target.relation) {
            Denial::TokenReadsNoCustomerData
        } else {
            Denial::NotFound
        });
    }
    let sees_below = match below_scope(principal.role) {
        BelowScope::All => SeesBelow::All,
        BelowScope::Assigned => SeesBelow::AssignedTo(principal.user_id),
        BelowScope::Nothing => SeesBelow::Nothing,
    };
    let granted = authorize_by_principal(principal, permission, target)?;
    Ok(Allowed { sees_below, ..granted })
}

/// `authorize` without the list scope (filled in by it).
fn authorize_by_principal(principal: &Principal, permission: Permission, target: &Target) -> Result<Allowed, Denial> {
    let by_role = authorize_by_role(principal.role, permission, target);
    match &principal.access {
        // An access session adds master_admin's rights on its customer to the actor's own —
        // only while the actor may still enter it (an unassigned technician may not).
        Some(access) if access.customer_id == target.id && by_role.is_err() => {
            authorize_by_role(principal.role, Permission::AccessEnter, target)?;
            authorize_in_access_session(principal.role, permission, target)
        }
        _ => by_role,
    }
}

/// What the caller's own role allows on `target`.
fn authorize_by_role(role: Role, permission: Permission, target: &Target) -> Result<Allowed, Denial> {
    if !visible(role, target.relation) {
        return Err(Denial::NotFound);
    }
    let basis = match target.relation {
        Relation::Own => Basis::Member,
        Relation::Below { assigned: true } if role == Role::MspStaff => Basis::Assignment,
        _ => Basis::Ancestor,
    };
    if allows(role, permission, target.relation, target.kind) {
        return Ok(Allowed { account_id: target.id, permission, basis, sees_below: SeesBelow::Nothing });
    }
    let may_enter = allows(role, Permission::AccessEnter, target.relation, target.kind);
    if may_enter && permission.is_customer_data() {
        return Err(Denial::AccessSessionRequired);
    }
    Err(Denial::Forbidden)
}

/// Inside an access session the actor holds `master_admin` of the entered customer, except for
/// creating API tokens, managing the webhooks that stream the customer's trail out (the
/// account's own administrators' alone) and, for a technician (`msp_staff`), minting users'
/// credentials.
fn authorize_in_access_session(role: Role, permission: Permission, target: &Target) -> Result<Allowed, Denial> {
    if permission == Permission::ApiTokenCreate {
        return Err(Denial::DelegatedTokenForbidden);
    }
    if permission == Permission::WebhookManage {
        return Err(Denial::Forbidden);
    }
    if permission == Permission::UserCredentials && role == Role::MspStaff {
        return Err(Denial::DelegatedCredentialForbidden);
    }
    if allows(Role::MasterAdmin, permission, Relation::Own, target.kind) {
        Ok(Allowed { account_id: target.id, permission, basis: Basis::AccessSession, sees_below: SeesBelow::Nothing })
    } else {
        Err(Denial::Forbidden)
    }
}

/// Which accounts below its own a role sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BelowScope {
    All,
    /// Only the customers the user is assigned to (MSP staff).
    Assigned,
    Nothing,
}

/// The row "see accounts below" of the matrix.
pub fn below_scope(role: Role) -> BelowScope {
    use Role::*;
    match role {
        PlatformAdmin | PartnerAdmin | PartnerReadonly | MspAdmin | MspReadonly => BelowScope::All,
        MspStaff => BelowScope::Assigned,
        MasterAdmin | Admin | Auditor | Viewer | SsoAdmin => BelowScope::Nothing,
    }
}

/// Whether `role` sees an account at `relation` at all.
fn visible(role: Role, relation: Relation) -> bool {
    match relation {
        Relation::Own => true,
        Relation::Below { assigned } => match below_scope(role) {
            BelowScope::All => true,
            BelowScope::Assigned => assigned,
            BelowScope::Nothing => false,
        },
        Relation::Unrelated => false,
    }
}

/// DESIGN's matrix, for an account the role already sees.
fn allows(role: Role, permission: Permission, relation: Relation, kind: AccountKind) -> bool {
    use Permission::*;
    use Role::*;
    let own = relation == Relation::Own;
    let below = matches!(relation, Relation::Below { .. });
    let customer = kind == AccountKind::Customer;
    match permission {
        AccountRead => own || below,
        AccountCreate => matches!(role, PlatformAdmin | PartnerAdmin | MspAdmin),
        AccountUpdate | AccountDelete => below && matches!(role, PlatformAdmin | PartnerAdmin | MspAdmin),
        AccountSsoMandatory => {
            (own && matches!(role, PlatformAdmin | MspAdmin | MasterAdmin | SsoAdmin))
                || (below && matches!(role, PlatformAdmin | MspAdmin))
        }
        UserRead => {
            (own && !matches!(role, Viewer | SsoAdmin))
                || (below && matches!(role, PlatformAdmin | MspAdmin | MspReadonly))
        }
        UserManage | UserCredentials => {
            (own && matches!(role, PlatformAdmin | PartnerAdmin | MspAdmin | MasterAdmin))
                || (below && matches!(role, PlatformAdmin | MspAdmin))
        }
        StaffRead => {
            (own && matches!(role, PlatformAdmin | MspAdmin | MspStaff | MspReadonly))
                || (below && role == PlatformAdmin)
        }
        StaffAssign => (own && matches!(role, PlatformAdmin | MspAdmin)) || (below && role == PlatformAdmin),
        AccessEnter => below && customer && matches!(role, PlatformAdmin | MspAdmin | MspStaff),
        AccessList => {
            (own && customer && matches!(role, MasterAdmin | Auditor))
                || (below && customer && matches!(role, PlatformAdmin | MspAdmin | MspStaff | MspReadonly))
        }
        AccessEnd => {
            (own && customer && role == MasterAdmin)
                || (below && customer && matches!(role, PlatformAdmin | MspAdmin | MspStaff))
        }
        AuditRead => {
            (own && matches!(
                role,
                PlatformAdmin | PartnerAdmin | PartnerReadonly | MspAdmin | MspReadonly | MasterAdmin | Auditor
            )) || (below && matches!(role, PlatformAdmin | MspAdmin | MspReadonly))
        }
        BrandingRead => {
            own && matches!(role, PlatformAdmin | PartnerAdmin | PartnerReadonly | MspAdmin | MspStaff | MspReadonly)
        }
        BrandingManage => own && matches!(role, PlatformAdmin | PartnerAdmin | MspAdmin),
        SubscriptionRead => {
            (own && matches!(role, PlatformAdmin | MasterAdmin | Admin | Auditor))
                || (below && matches!(role, PlatformAdmin | PartnerAdmin | PartnerReadonly | MspAdmin | MspReadonly))
        }
        SubscriptionManage => below && customer && matches!(role, PlatformAdmin | MspAdmin),
        SupportCreate => own && customer && matches!(role, MasterAdmin | Admin),
        SupportRead => {
            own && matches!(
                role,
                PlatformAdmin | PartnerAdmin | PartnerReadonly | MspAdmin | MspReadonly | MasterAdmin | Admin
            )
        }
        SupportManage => own && matches!(role, PlatformAdmin | PartnerAdmin | MspAdmin),
        UsageRead => matches!(role, PlatformAdmin | PartnerAdmin | PartnerReadonly | MspAdmin | MspReadonly),
        ResourceRead => own && customer && matches!(role, MasterAdmin | Admin | Auditor | Viewer),
        ResourceWrite => own && customer && matches!(role, MasterAdmin | Admin),
        ApiTokenManage | ApiTokenCreate => own && matches!(role, PlatformAdmin | PartnerAdmin | MspAdmin | MasterAdmin),
        // The webhooks streaming an account's own trail: its administrators (DESIGN, v2).
        WebhookManage => own && matches!(role, PlatformAdmin | PartnerAdmin | MspAdmin | MasterAdmin),
        // SSO settings and the sign-in policies (MFA, trusted networks): the account's own
        // administrators, and an MSP's admin for its customers.
        SsoManage => {
            (own && matches!(role, PlatformAdmin | PartnerAdmin | MspAdmin | MasterAdmin | SsoAdmin))
                || (below && role == MspAdmin)
        }
        // Expiry dates of what customers hold: those who may work in the customers below (and
        // see them), on their own account and below; and whoever reads a customer's resources,
        // on its own account. Read-only partner-side roles see no customer data.
        ExpiryRead => {
            (own && matches!(role, PlatformAdmin | MspAdmin | MspStaff | MasterAdmin | Admin | Auditor | Viewer))
                || (below && matches!(role, PlatformAdmin | MspAdmin | MspStaff))
        }
    }
}

/// The permissions `principal` holds on its own account (of `kind`), as `GET /me` lists them: by
/// `authorize` itself, so credentials' own rules apply.
pub fn own_permissions(principal: &Principal) -> Vec<Permission> {
    let own = Target { id: principal.account_id, kind: principal.account_kind, relation: Relation::Own };
    Permission::ALL.into_iter().filter(|p| authorize(principal, *p, &own).is_ok()).collect()
}

#[cfg(test)]
#[path = "authz_tests.rs"]
mod tests;
