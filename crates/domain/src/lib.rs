//! Tenantry's domain: the types, rules and permission catalogue every other layer builds on.
//! It knows nothing of I/O, HTTP or SQL.

pub mod account;
pub mod action;
pub mod audit;
pub mod authz;
pub mod clock;
pub mod error;
pub mod ids;
pub mod resources;
pub mod user;
pub mod validate;
pub mod webhook;

pub use account::{Account, AccountKind, AccountStatus, Limits, Plan, Resource, Slug};
pub use action::Action;
pub use audit::{AuditActor, AuditEvent, AuditTarget, Outcome};
pub use authz::{Denial, Grant, Permission, Principal, Relation, authorize};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::DomainError;
pub use ids::{
    AccessSessionId, AccountId, AgentId, ApiTokenId, CertificateId, CollectionId, EventId, SessionId, SupportRequestId,
    TargetId, UserId, WebhookId,
};
pub use resources::{
    Agent, Certificate, Collection, ExpiryStatus, MonitoredTarget, SupportRequest, TlsCheck, days_remaining,
    expiry_status,
};
pub use user::{Email, Role, User, UserStatus};
pub use validate::{FieldError, Validator};
