//! The audit trail's actions: one [`Action`] per event name, the permission each action of the
//! API needs (the [`act`] types the edge extractors take), and how an action maps onto the
//! OCSF and CADF vocabularies that SIEMs speak.

use crate::authz::Capability;
use std::fmt;

/// What an action needs, as a type: `act::CollectionListed` needs `cap::ResourceRead`. The edge
/// takes `Granted<act::X>` and hands the handler a `Grant<act::X::Cap>`, with refusals recorded as
/// `X`.
pub trait Act: Send + Sync + 'static {
    const ACTION: Action;
    type Cap: Capability;
}

/// The OCSF class and activity of an event (OCSF 1.x, Identity & Access Management category for
/// sign-ins and accounts, Entity Management for everything else).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ocsf {
    pub class_uid: u32,
    pub activity_id: u8,
}

/// OCSF class uids used here.
pub mod ocsf_class {
    pub const ACCOUNT_CHANGE: u32 = 3001;
    pub const AUTHENTICATION: u32 = 3002;
    pub const ENTITY_MANAGEMENT: u32 = 3004;
    pub const USER_ACCESS: u32 = 3005;
}

macro_rules! actions {
    ($($variant:ident = $name:literal $(needs $cap:ident)?;)*) => {
        /// Every action the trail records, named `noun.verb` in the contract.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Action {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Action {
            /// Every action, in the order above.
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The name the trail stores and serves.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }

        /// One type per action of the API that needs a permission on an account.
        pub mod act {
            use super::{Act, Action};
            use crate::authz::cap;
            $($(
                #[doc = concat!("`", $name, "`, which needs [`cap::", stringify!($cap), "`].")]
                pub struct $variant;
                impl Act for $variant {
                    const ACTION: Action = Action::$variant;
                    type Cap = cap::$cap;
                }
            )?)*
        }
    };
}

actions! {
    AccessSessionStarted = "access_session.started" needs AccessEnter;
    AccessSessionEnded = "access_session.ended";
    AccessSessionListed = "access_session.listed" needs AccessList;
    AccountCreated = "account.created" needs AccountCreate;
    AccountUpdated = "account.updated";
    AccountRead = "account.read" needs AccountRead;
    AccountListed = "account.listed" needs AccountRead;
    AccountDeletionScheduled = "account.deletion_scheduled" needs AccountDelete;
    AccountRestored = "account.restored" needs AccountDelete;
    AgentRegistered = "agent.registered" needs ResourceWrite;
    AgentRevoked = "agent.revoked" needs ResourceWrite;
    AgentListed = "agent.listed" needs ResourceRead;
    AgentRead = "agent.read" needs ResourceRead;
    AgentReported = "agent.reported";
    AgentReportRefused = "agent.report_refused";
    ApiTokenCreated = "api_token.created" needs ApiTokenCreate;
    ApiTokenRevoked = "api_token.revoked" needs ApiTokenManage;
    ApiTokenListed = "api_token.listed" needs ApiTokenManage;
    ApiTokenRead = "api_token.read" needs ApiTokenManage;
    AuditRead = "audit.read" needs AuditRead;
    AuditExported = "audit.exported" needs AuditRead;
    AuditVerified = "audit.verified" needs AuditRead;
    Login = "auth.login";
    LoginFailed = "auth.login_failed";
    Logout = "auth.logout";
    Reauth = "auth.reauth";
    PasswordChanged = "auth.password_changed";
    CsrfFailed = "auth.csrf_failed";
    ActivationFailed = "auth.activation_failed";
    SessionRefused = "auth.session_refused";
    TokenRefused = "auth.token_refused";
    SessionEnded = "auth.session_ended";
    OtherSessionsEnded = "auth.sessions_ended";
    MfaEnabled = "auth.mfa_enabled";
    MfaDisabled = "auth.mfa_disabled";
    RecoveryCodesRenewed = "auth.recovery_codes_renewed";
    BrandingUpdated = "branding.updated" needs BrandingManage;
    BrandingRead = "branding.read" needs BrandingRead;
    CertificateImported = "certificate.imported" needs ResourceWrite;
    CertificateDeleted = "certificate.deleted" needs ResourceWrite;
    CertificateListed = "certificate.listed" needs ResourceRead;
    CertificateRead = "certificate.read" needs ResourceRead;
    CollectionCreated = "collection.created" needs ResourceWrite;
    CollectionUpdated = "collection.updated" needs ResourceWrite;
    CollectionDeleted = "collection.deleted" needs ResourceWrite;
    CollectionListed = "collection.listed" needs ResourceRead;
    CollectionRead = "collection.read" needs ResourceRead;
    ExpiringListed = "expiring.listed" needs ExpiryRead;
    StaffAssigned = "staff.assigned" needs StaffAssign;
    StaffUnassigned = "staff.unassigned" needs StaffAssign;
    StaffListed = "staff.listed" needs StaffRead;
    SubscriptionUpdated = "subscription.updated" needs SubscriptionManage;
    SubscriptionRead = "subscription.read" needs SubscriptionRead;
    SupportRequestCreated = "support_request.created" needs SupportCreate;
    SupportRequestUpdated = "support_request.updated" needs SupportManage;
    SupportRequestListed = "support_request.listed" needs SupportRead;
    TargetCreated = "target.created" needs ResourceWrite;
    TargetUpdated = "target.updated" needs ResourceWrite;
    TargetDeleted = "target.deleted" needs ResourceWrite;
    TargetChecked = "target.checked" needs ResourceWrite;
    TargetListed = "target.listed" needs ResourceRead;
    TargetRead = "target.read" needs ResourceRead;
    UsageRead = "usage.read" needs UsageRead;
    UserCreated = "user.created" needs UserManage;
    UserUpdated = "user.updated" needs UserManage;
    UserDeleted = "user.deleted" needs UserManage;
    UserListed = "user.listed" needs UserRead;
    UserRead = "user.read" needs UserRead;
    UserActivated = "user.activated";
    UserSessionsEnded = "user.sessions_ended" needs UserManage;
    UserMfaReset = "user.mfa_reset" needs UserManage;
    SsoRead = "sso.read" needs SsoManage;
    SsoUpdated = "sso.updated" needs SsoManage;
    WebhookCreated = "webhook.created" needs WebhookManage;
    WebhookUpdated = "webhook.updated" needs WebhookManage;
    WebhookDeleted = "webhook.deleted" needs WebhookManage;
    WebhookListed = "webhook.listed" needs WebhookManage;
    WebhookRead = "webhook.read" needs WebhookManage;
    WebhookTested = "webhook.tested" needs WebhookManage;
    UserActivationReissued = "user.activation_reissued";
}

impl Action {
    /// The action named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }

    /// The noun before the dot (`collection` for `collection.created`).
    pub fn noun(self) -> &'static str {
        self.as_str().split_once('.').map_or(self.as_str(), |(noun, _)| noun)
    }

    /// The verb after the dot (`created` for `collection.created`).
    pub fn verb(self) -> &'static str {
        self.as_str().split_once('.').map_or("", |(_, verb)| verb)
    }

    /// The OCSF class and activity of this action.
    pub fn ocsf(self) -> Ocsf {
        use ocsf_class::*;
        let (class_uid, activity_id) = match self {
            // Authentication: 1 logon, 2 logoff, 99 other.
            Self::Login | Self::LoginFailed | Self::Reauth => (AUTHENTICATION, 1),
            Self::Logout | Self::SessionEnded | Self::OtherSessionsEnded | Self::UserSessionsEnded => {
                (AUTHENTICATION, 2)
            }
            Self::CsrfFailed | Self::SessionRefused | Self::TokenRefused | Self::ActivationFailed => {
                (AUTHENTICATION, 99)
            }
            // Account change: 1 create, 3 password change, 6 delete, 2 enable, 99 other.
            Self::UserCreated => (ACCOUNT_CHANGE, 1),
            Self::PasswordChanged => (ACCOUNT_CHANGE, 3),
            Self::UserDeleted => (ACCOUNT_CHANGE, 6),
            Self::UserActivated => (ACCOUNT_CHANGE, 2),
            Self::MfaEnabled => (ACCOUNT_CHANGE, 10),
            Self::MfaDisabled | Self::UserMfaReset => (ACCOUNT_CHANGE, 11),
            Self::UserUpdated | Self::UserActivationReissued | Self::RecoveryCodesRenewed => (ACCOUNT_CHANGE, 99),
            // User access management: 1 assign privileges, 2 revoke privileges.
            Self::StaffAssigned | Self::AccessSessionStarted => (USER_ACCESS, 1),
            Self::StaffUnassigned | Self::AccessSessionEnded => (USER_ACCESS, 2),
            // Entity management: 1 create, 2 read, 3 update, 4 delete, 99 other.
            other => (ENTITY_MANAGEMENT, entity_activity(other.verb())),
        };
        Ocsf { class_uid, activity_id }
    }

    /// The CADF action (`create`, `read`, `read/list`, `update`, `delete`, `authenticate/login`, …).
    pub fn cadf(self) -> &'static str {
        match self {
            Self::Login | Self::LoginFailed | Self::Reauth => "authenticate/login",
            Self::Logout | Self::SessionEnded | Self::OtherSessionsEnded | Self::UserSessionsEnded => {
                "authenticate/logout"
            }
            Self::CsrfFailed | Self::SessionRefused | Self::TokenRefused | Self::ActivationFailed => "authenticate",
            Self::StaffAssigned | Self::AccessSessionStarted => "allow",
            Self::StaffUnassigned | Self::AccessSessionEnded | Self::AgentReportRefused => "deny",
            other => match other.verb() {
                "created" | "registered" | "imported" | "activated" => "create",
                "listed" => "read/list",
                "read" | "exported" | "verified" => "read",
                "deleted" | "revoked" => "delete",
                _ => "update",
            },
        }
    }
}

/// The OCSF entity-management activity of a verb.
fn entity_activity(verb: &str) -> u8 {
    match verb {
        "created" | "registered" | "imported" => 1,
        "read" | "listed" | "exported" | "verified" => 2,
        "deleted" | "revoked" => 4,
        "updated" | "checked" | "reported" | "restored" | "deletion_scheduled" => 3,
        _ => 99,
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn action_names_are_unique_and_parse_back() {
        let names: HashSet<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), Action::ALL.len());
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
            assert!(a.as_str().contains('.'), "{a} is noun.verb");
        }
        assert_eq!(Action::parse("collection.exploded"), None);
    }

    #[test]
    fn every_action_maps_onto_ocsf_and_cadf() {
        for a in Action::ALL {
            let o = a.ocsf();
            assert!((3001..=3005).contains(&o.class_uid), "{a}");
            assert!(o.activity_id == 99 || o.activity_id <= 11, "{a}");
        }
        assert_eq!(Action::Login.ocsf(), Ocsf { class_uid: 3002, activity_id: 1 });
        assert_eq!(Action::CollectionDeleted.ocsf(), Ocsf { class_uid: 3004, activity_id: 4 });
        assert_eq!(Action::UserListed.ocsf().activity_id, 2);
        assert_eq!(Action::CertificateListed.cadf(), "read/list");
        assert_eq!(Action::AgentRevoked.cadf(), "delete");
    }

    #[test]
    fn act_types_carry_their_action_and_permission() {
        use crate::authz::{Capability, Permission};
        assert_eq!(<act::CollectionListed as Act>::ACTION, Action::CollectionListed);
        assert_eq!(<<act::CollectionListed as Act>::Cap as Capability>::PERMISSION, Permission::ResourceRead);
        assert_eq!(<<act::UserCreated as Act>::Cap as Capability>::PERMISSION, Permission::UserManage);
    }
}
