//! Typed identifiers: UUIDv7 values that cannot be mixed up with one another.

use std::fmt;
use std::str::FromStr;

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new, time-ordered identifier.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            /// Only the hyphenated form (36 characters), the one ids are written in.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let hyphenated = if s.len() == 36 { s } else { "" };
                uuid::Uuid::try_parse(hyphenated).map(Self)
            }
        }
    };
}

define_id!(
    /// An account of any kind.
    AccountId
);
define_id!(
    /// A user, who belongs to exactly one account.
    UserId
);
define_id!(
    /// A sign-in (server-side session).
    SessionId
);
define_id!(
    /// An audit event, shared by every trail it is linked into.
    EventId
);
define_id!(
    /// A partner-side user's entry into a customer account.
    AccessSessionId
);
define_id!(
    /// An account-scoped bearer token.
    ApiTokenId
);
define_id!(
    /// A webhook streaming an account's trail.
    WebhookId
);
define_id!(
    /// A customer's certificate collection.
    CollectionId
);
define_id!(
    /// A certificate in a customer's inventory.
    CertificateId
);
define_id!(
    /// A support request from a customer to its parent.
    SupportRequestId
);
define_id!(
    /// An agent that reports the certificates it finds.
    AgentId
);
define_id!(
    /// A monitored `host:port` whose TLS certificate is checked.
    TargetId
);
