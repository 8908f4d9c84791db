//! Customer resources: the TLS certificate inventory a customer keeps. Collections group what
//! agents and imports find.

use crate::clock::serde_micros;
use crate::ids::{AccountId, AgentId, CertificateId, CollectionId, SupportRequestId, TargetId, UserId};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// A certificate collection in a customer account.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Collection {
    pub id: CollectionId,
    pub account_id: AccountId,
    pub name: String,
    #[serde(with = "serde_micros")]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_micros")]
    pub updated_at: OffsetDateTime,
}

/// A certificate in a customer's inventory.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Certificate {
    pub id: CertificateId,
    pub account_id: AccountId,
    pub collection_id: CollectionId,
    pub subject: String,
    /// DNS names and IP addresses, as plain strings.
    pub sans: Vec<String>,
    pub issuer: String,
    pub serial: String,
    #[serde(with = "serde_micros")]
    pub not_before: OffsetDateTime,
    #[serde(with = "serde_micros")]
    pub not_after: OffsetDateTime,
    pub fingerprint_sha256: String,
    pub key_type: String,
    pub key_bits: u32,
    #[serde(with = "serde_micros")]
    pub created_at: OffsetDateTime,
}

/// A support request from a customer, in its parent's inbox.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupportRequest {
    pub id: SupportRequestId,
    /// The customer that sent it.
    pub account_id: AccountId,
    pub account_name: String,
    /// The inbox it was delivered to (the customer's parent).
    pub to_account_id: AccountId,
    pub created_by: UserId,
    pub created_by_email: String,
    pub subject: String,
    pub message: String,
    /// `open` or `closed`.
    pub status: String,
    #[serde(with = "serde_micros")]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_micros")]
    pub updated_at: OffsetDateTime,
}

/// An agent: it scans hosts for certificates and reports them into one collection.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    pub id: AgentId,
    pub account_id: AccountId,
    pub collection_id: CollectionId,
    pub name: String,
    #[serde(with = "serde_micros")]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_micros::option")]
    pub last_seen_at: Option<OffsetDateTime>,
    pub last_hostname: Option<String>,
    /// Certificates this agent has reported.
    pub certificate_count: i64,
    #[serde(with = "serde_micros::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A monitored `host:port`, with what its last TLS check found.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitoredTarget {
    pub id: TargetId,
    pub account_id: AccountId,
    pub collection_id: CollectionId,
    pub hostname: String,
    pub port: u16,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// When the scheduler checks it next.
    pub next_check_at: OffsetDateTime,
    pub last_check: Option<TlsCheck>,
}

/// What one TLS handshake with a target found: the leaf certificate's facts, or why it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsCheck {
    pub checked_at: OffsetDateTime,
    pub not_after: Option<OffsetDateTime>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    /// Why the check failed (no connection, no handshake, an untrusted or wrong-host certificate).
    pub error: Option<String>,
}

/// How a certificate or a target stands, judged at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExpiryStatus {
    Ok,
    /// Expires within the configured window (`TENANTRY_EXPIRING_DAYS`).
    Expiring,
    Expired,
    /// The check failed; its error says why.
    Error,
}

/// Whole days from `now` until `not_after`, counted toward zero: 89 days and some hours left is
/// 89; expired two days and some hours ago is -2.
pub fn days_remaining(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (not_after - now).whole_days()
}

/// The status of a certificate valid until `not_after`, at `now`, with `window` as "soon".
pub fn expiry_status(not_after: OffsetDateTime, now: OffsetDateTime, window: Duration) -> ExpiryStatus {
    if not_after <= now {
        ExpiryStatus::Expired
    } else if not_after - now <= window {
        ExpiryStatus::Expiring
    } else {
        ExpiryStatus::Ok
    }
}

impl TlsCheck {
    /// An expired leaf says so even when its chain was also refused; any other failure is an error.
    pub fn status(&self, now: OffsetDateTime, window: Duration) -> ExpiryStatus {
        match (self.not_after, &self.error) {
            (Some(not_after), _) if not_after <= now => ExpiryStatus::Expired,
            (_, Some(_)) | (None, None) => ExpiryStatus::Error,
            (Some(not_after), None) => expiry_status(not_after, now, window),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const WINDOW: Duration = Duration::days(30);

    fn check(not_after: Option<OffsetDateTime>, error: Option<&str>) -> TlsCheck {
        let at = datetime!(2030-01-01 00:00 UTC);
        TlsCheck { checked_at: at, not_after, subject: None, issuer: None, error: error.map(str::to_owned) }
    }

    #[test]
    fn a_check_is_ok_expiring_expired_or_error() {
        let now = datetime!(2030-01-01 00:00 UTC);
        assert_eq!(check(Some(now + Duration::days(90)), None).status(now, WINDOW), ExpiryStatus::Ok);
        assert_eq!(check(Some(now + Duration::days(30)), None).status(now, WINDOW), ExpiryStatus::Expiring);
        assert_eq!(check(Some(now), None).status(now, WINDOW), ExpiryStatus::Expired);
        assert_eq!(check(Some(now - Duration::days(1)), Some("untrusted")).status(now, WINDOW), ExpiryStatus::Expired);
        assert_eq!(check(Some(now + Duration::days(90)), Some("wrong host")).status(now, WINDOW), ExpiryStatus::Error);
        assert_eq!(check(None, Some("refused")).status(now, WINDOW), ExpiryStatus::Error);
    }

    #[test]
    fn days_remaining_counts_whole_days_toward_zero() {
        let now = datetime!(2030-01-01 00:00 UTC);
        assert_eq!(days_remaining(now + Duration::hours(47), now), 1);
        assert_eq!(days_remaining(now + Duration::days(2), now), 2);
        assert_eq!(days_remaining(now - Duration::hours(1), now), 0);
        assert_eq!(days_remaining(now - Duration::hours(50), now), -2);
    }
}
