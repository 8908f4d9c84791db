//! Customer resources: the TLS certificate inventory a customer keeps. Collections group what
//! agents and imports find.

use crate::clock::serde_micros;
use crate::ids::{AccountId, CollectionId};
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
