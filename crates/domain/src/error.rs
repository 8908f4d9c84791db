//! The domain's error type: what went wrong, in terms of the domain, never of HTTP or SQL.

use crate::validate::FieldError;

/// Why an operation did not happen. The web layer maps each variant to a status and a stable code.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DomainError {
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("email is already in use")]
    EmailTaken,
    #[error("the account has children that are not pending deletion")]
    HasChildren,
    /// Single sign-on cannot be mandatory before it is configured and enabled.
    #[error("enable single sign-on first")]
    SsoNotConfigured,
    #[error("the plan allows at most {limit} {resource}")]
    PlanLimitReached { resource: &'static str, limit: i64 },
    /// The access session a change was made in ended (or its actor was unassigned) before the
    /// change could commit.
    #[error("the access session has ended")]
    AccessSessionEnded,
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// A single-field validation error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}
