//! Customer resources: the TLS certificate inventory a customer keeps. Collections group what
//! agents and imports find.

use crate::clock::serde_micros;
use crate::ids::{AccountId, AgentId, CertificateId, CollectionId, SupportRequestId, UserId};
use serde::Serialize;
use time::OffsetDateTime;

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
