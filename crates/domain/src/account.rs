//! Accounts: the tree `platform → partner (nests) → msp → customer`, plans and slugs.

use crate::clock::serde_micros;
use crate::ids::AccountId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// What an account is; fixed at creation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Platform,
    Partner,
    Msp,
    Customer,
}

impl AccountKind {
    pub const ALL: [AccountKind; 4] = [Self::Platform, Self::Partner, Self::Msp, Self::Customer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Partner => "partner",
            Self::Msp => "msp",
            Self::Customer => "customer",
        }
    }

    /// Whether an account of this kind may have a child of kind `child`.
    /// Platform and partner create partner, MSP and customer accounts; an MSP creates customers only.
    pub fn may_parent(self, child: AccountKind) -> bool {
        match self {
            Self::Platform | Self::Partner => child != Self::Platform,
            Self::Msp => child == Self::Customer,
            Self::Customer => false,
        }
    }

    /// The role of the primary user created with an account of this kind.
    pub fn primary_role(self) -> crate::Role {
        match self {
            Self::Platform => crate::Role::PlatformAdmin,
            Self::Partner => crate::Role::PartnerAdmin,
            Self::Msp => crate::Role::MspAdmin,
            Self::Customer => crate::Role::MasterAdmin,
        }
    }

    /// Whether this is the partner side of the platform (everything but customers).
    pub fn is_partner_side(self) -> bool {
        self != Self::Customer
    }
}

/// Shown as their contract names.
macro_rules! display_as_str {
    ($($t:ty),*) => {
        $(impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        })*
    };
}
pub(crate) use display_as_str;

display_as_str!(AccountKind, AccountStatus, Plan, Slug);

impl FromStr for AccountKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown account kind `{s}`"))
    }
}

/// Whether an account's users may sign in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Suspended,
    PendingDeletion,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::PendingDeletion => "pending_deletion",
        }
    }
}

impl FromStr for AccountStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "pending_deletion" => Ok(Self::PendingDeletion),
            _ => Err(format!("unknown account status `{s}`")),
        }
    }
}

/// A commercial plan.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Trial,
    Standard,
    Managed,
    Partner,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trial => "trial",
            Self::Standard => "standard",
            Self::Managed => "managed",
            Self::Partner => "partner",
        }
    }

    /// The plan a new account gets: `partner` for partner and MSP accounts, `managed` for a
    /// customer under an MSP, otherwise `trial` unless `standard` was asked for.
    pub fn for_new_account(kind: AccountKind, parent: AccountKind, requested: Option<Plan>) -> Plan {
        match (kind, parent) {
            (AccountKind::Partner | AccountKind::Msp | AccountKind::Platform, _) => Plan::Partner,
            (AccountKind::Customer, AccountKind::Msp) => Plan::Managed,
            (AccountKind::Customer, _) => match requested {
                Some(Plan::Standard) => Plan::Standard,
                _ => Plan::Trial,
            },
        }
    }
}

impl FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "trial" => Ok(Self::Trial),
            "standard" => Ok(Self::Standard),
            "managed" => Ok(Self::Managed),
            "partner" => Ok(Self::Partner),
            _ => Err(format!("unknown plan `{s}`")),
        }
    }
}

/// What a plan allows an account to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(deserialize_with = "crate::validate::whole_number")]
    pub users: i64,
    #[serde(deserialize_with = "crate::validate::whole_number")]
    pub certificates: i64,
    #[serde(deserialize_with = "crate::validate::whole_number")]
    pub agents: i64,
    #[serde(deserialize_with = "crate::validate::whole_number")]
    pub targets: i64,
}

impl Limits {
    /// The limit that applies to `resource`.
    pub fn of(&self, resource: Resource) -> i64 {
        match resource {
            Resource::Users => self.users,
            Resource::Certificates => self.certificates,
            Resource::Agents => self.agents,
            Resource::Targets => self.targets,
        }
    }
}

/// What plans limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Users,
    Certificates,
    Agents,
    Targets,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Certificates => "certificates",
            Self::Agents => "agents",
            Self::Targets => "targets",
        }
    }
}

impl Plan {
    /// The plan's limits; partner plans (partner and MSP accounts) have none.
    pub fn default_limits(self) -> Option<Limits> {
        match self {
            Self::Trial => Some(Limits { users: 5, certificates: 100, agents: 2, targets: 10 }),
            Self::Standard | Self::Managed => Some(Limits { users: 50, certificates: 5_000, agents: 50, targets: 500 }),
            Self::Partner => None,
        }
    }
}

/// A unique, lowercase, URL-safe account handle; names the branded login page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

/// Read back from an answer of the API, checked like a client's input.
impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Slug {
    pub const MAX: usize = 63;

    /// Parses a slug given by a client: 1–63 of `a-z 0-9 -`, not starting or ending with `-`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok_chars = raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if raw.is_empty() || raw.len() > Self::MAX || !ok_chars || raw.starts_with('-') || raw.ends_with('-') {
            return Err("must be 1–63 lowercase letters, digits or inner dashes".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// Derives a slug from a display name; falls back to `account` when nothing is left.
    pub fn from_name(name: &str) -> Self {
        let mut out = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
            if out.len() >= Self::MAX - 8 {
                break;
            }
        }
        let trimmed = out.trim_matches('-');
        Self(if trimmed.is_empty() { "account".to_owned() } else { trimmed.to_owned() })
    }

    /// The same slug with a numeric suffix, to resolve a collision.
    pub fn with_suffix(&self, n: u32) -> Self {
        Self(format!("{}-{n}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Trusts a value read back from storage.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

/// An account as the API shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub kind: AccountKind,
    pub name: String,
    pub slug: Slug,
    pub parent_id: Option<AccountId>,
    pub status: AccountStatus,
    pub plan: Plan,
    pub sso_mandatory: bool,
    /// Whether the account's users must sign in with a second factor.
    #[serde(default)]
    pub mfa_required: bool,
    /// The networks (CIDR ranges) its users' sign-ins and tokens may come from; empty: anywhere.
    #[serde(default)]
    pub allowed_networks: Vec<String>,
    pub contact_email: Option<String>,
    pub region: Option<String>,
    #[serde(with = "serde_micros")]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_micros::option")]
    pub deletion_deadline: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msp_creates_customers_only_and_customers_create_nothing() {
        use AccountKind::*;
        assert!(Msp.may_parent(Customer));
        assert!(!Msp.may_parent(Msp));
        assert!(!Msp.may_parent(Partner));
        assert!(Partner.may_parent(Partner));
        assert!(Platform.may_parent(Msp));
        assert!(!Platform.may_parent(Platform));
        assert!(AccountKind::ALL.iter().all(|k| !Customer.may_parent(*k)));
    }

    #[test]
    fn plans_follow_the_parent_and_kind() {
        use AccountKind::*;
        assert_eq!(Plan::for_new_account(Customer, Msp, Some(Plan::Standard)), Plan::Managed);
        assert_eq!(Plan::for_new_account(Customer, Partner, None), Plan::Trial);
        assert_eq!(Plan::for_new_account(Customer, Platform, Some(Plan::Standard)), Plan::Standard);
        assert_eq!(Plan::for_new_account(Msp, Partner, Some(Plan::Trial)), Plan::Partner);
    }

    #[test]
    fn slugs_are_derived_lowercase_and_validated() {
        assert_eq!(Slug::from_name("Acme Corp. (EU)").as_str(), "acme-corp-eu");
        assert_eq!(Slug::from_name("!!!").as_str(), "account");
        assert!(Slug::parse("Acme").is_err());
        assert!(Slug::parse("-acme").is_err());
        assert!(Slug::parse("acme-2").is_ok());
    }
}
