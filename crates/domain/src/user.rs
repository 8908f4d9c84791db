//! Users, their roles (each valid for some account kinds) and their email addresses.

use crate::account::AccountKind;
use crate::clock::serde_micros;
use crate::ids::{AccountId, UserId};
use crate::validate::MAX_EMAIL;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// A user's role; which ones an account may hold depends on its kind.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    PartnerAdmin,
    PartnerReadonly,
    MspAdmin,
    MspStaff,
    MspReadonly,
    MasterAdmin,
    Admin,
    Auditor,
    Viewer,
    SsoAdmin,
}

impl Role {
    pub const ALL: [Role; 11] = [
        Self::PlatformAdmin,
        Self::PartnerAdmin,
        Self::PartnerReadonly,
        Self::MspAdmin,
        Self::MspStaff,
        Self::MspReadonly,
        Self::MasterAdmin,
        Self::Admin,
        Self::Auditor,
        Self::Viewer,
        Self::SsoAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::PartnerAdmin => "partner_admin",
            Self::PartnerReadonly => "partner_readonly",
            Self::MspAdmin => "msp_admin",
            Self::MspStaff => "msp_staff",
            Self::MspReadonly => "msp_readonly",
            Self::MasterAdmin => "master_admin",
            Self::Admin => "admin",
            Self::Auditor => "auditor",
            Self::Viewer => "viewer",
            Self::SsoAdmin => "sso_admin",
        }
    }

    /// Whether an account of `kind` may have a user with this role.
    pub fn fits(self, kind: AccountKind) -> bool {
        use AccountKind::*;
        match self {
            Self::SsoAdmin => true,
            Self::PlatformAdmin => kind == Platform,
            Self::PartnerAdmin | Self::PartnerReadonly => kind == Partner,
            Self::MspAdmin | Self::MspStaff | Self::MspReadonly => kind == Msp,
            Self::MasterAdmin | Self::Admin | Self::Auditor | Self::Viewer => kind == Customer,
        }
    }
}

crate::account::display_as_str!(Role, UserStatus);

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("unknown role `{s}`"))
    }
}

/// A user's life-cycle state as stored; `expired` is derived from `expires_at` when read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Invited,
    Disabled,
    Expired,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Invited => "invited",
            Self::Disabled => "disabled",
            Self::Expired => "expired",
        }
    }
}

impl FromStr for UserStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(Self::Active),
            "invited" => Ok(Self::Invited),
            "disabled" => Ok(Self::Disabled),
            "expired" => Ok(Self::Expired),
            _ => Err(format!("unknown user status `{s}`")),
        }
    }
}

/// An email address as typed, with its case-insensitive key for uniqueness.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

/// Read back from an answer of the API, checked like a client's input.
impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Email {
    /// Accepts `local@domain` with a dotted domain, at most 254 characters as sent, no spaces
    /// inside; white space around it is trimmed.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > MAX_EMAIL {
            return Err(format!("must be at most {MAX_EMAIL} characters"));
        }
        let raw = raw.trim();
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return Err("must be an email address".into());
        };
        let bad = |s: &str| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control());
        if bad(local)
            || bad(domain)
            || local.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err("must be an email address".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lowercase form under which uniqueness is checked.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// Trusts a value read back from storage.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user as the API shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    pub mfa_enabled: bool,
    #[serde(with = "serde_micros::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "serde_micros")]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_micros::option")]
    pub last_login_at: Option<OffsetDateTime>,
}

impl User {
    /// The user as shown at `now`, with `status` as of then.
    pub fn as_of(mut self, now: OffsetDateTime) -> Self {
        self.status = self.status_at(now);
        self
    }

    /// The status as of `now`: an active user past `expires_at` is `expired`.
    pub fn status_at(&self, now: OffsetDateTime) -> UserStatus {
        match (self.status, self.expires_at) {
            (UserStatus::Active, Some(at)) if at <= now => UserStatus::Expired,
            (status, _) => status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_kind_has_its_own_roles_and_sso_admin() {
        use AccountKind::*;
        assert!(Role::MspStaff.fits(Msp));
        assert!(!Role::MspStaff.fits(Customer));
        assert!(!Role::MasterAdmin.fits(Msp));
        assert!(AccountKind::ALL.iter().all(|k| Role::SsoAdmin.fits(*k)));
        for kind in AccountKind::ALL {
            assert!(kind.primary_role().fits(kind));
        }
    }

    #[test]
    fn email_keys_ignore_case() {
        let a = Email::parse("Ada@Example.COM").map(|e| e.key());
        assert_eq!(a.as_deref(), Ok("ada@example.com"));
        assert!(Email::parse("no-at-sign").is_err());
        assert!(Email::parse("a@b").is_err());
        assert!(Email::parse("a b@c.de").is_err());
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    proptest! {
        #[test]
        fn parsed_emails_have_one_at_and_a_dotted_domain(s in "\\PC{0,40}") {
            if let Ok(e) = Email::parse(&s) {
                let (local, domain) = e.as_str().rsplit_once('@').unwrap_or_default();
                prop_assert!(!local.is_empty() && !local.contains('@'));
                prop_assert!(domain.contains('.'));
            }
        }
    }
}
