//! The web error type: every failure becomes `application/problem+json` with a stable `code`.
//! Causes of internal errors are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tenantry_domain::{DomainError, FieldError};
use tenantry_store::StoreError;

/// Every way a request can fail, each with its status and `code` from the contract.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Malformed(String),
    #[error("sign in first")]
    Unauthenticated,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("give the code of your authenticator app or a recovery code")]
    MfaRequired,
    #[error("your account requires a second factor: set one up first")]
    MfaEnrollmentRequired,
    #[error("your account does not allow sign-ins from this network")]
    NetworkNotAllowed,
    #[error("{0}")]
    Forbidden(String),
    #[error("missing or wrong X-CSRF-Token header")]
    CsrfFailed,
    #[error("confirm with your password first")]
    ReauthRequired,
    #[error("this account requires single sign-on")]
    SsoRequired,
    #[error("this user is disabled")]
    UserDisabled,
    #[error("this user has expired")]
    UserExpired,
    #[error("this account is suspended")]
    AccountSuspended,
    #[error("open an access session for this customer first")]
    AccessSessionRequired,
    #[error("API tokens cannot be created inside an access session")]
    DelegatedTokenForbidden,
    #[error("inside an access session you cannot set passwords or receive activation links")]
    DelegatedCredentialForbidden,
    #[error("not found")]
    NotFound,
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("this email is already in use")]
    EmailTaken,
    #[error("the account has children that are not pending deletion")]
    HasChildren,
    #[error("configure and enable single sign-on first")]
    SsoNotConfigured,
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("some fields are invalid")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    PlanLimitReached(String),
    #[error("too many failed attempts; try again later")]
    RateLimited { retry_after_secs: u64 },
    #[error("the service is busy; try again shortly")]
    Overloaded { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Malformed(_) => StatusCode::BAD_REQUEST,
            Unauthenticated | InvalidCredentials | MfaRequired => StatusCode::UNAUTHORIZED,
            Forbidden(_)
            | MfaEnrollmentRequired
            | NetworkNotAllowed
            | CsrfFailed
            | ReauthRequired
            | SsoRequired
            | UserDisabled
            | UserExpired
            | AccountSuspended
            | AccessSessionRequired
            | DelegatedTokenForbidden
            | DelegatedCredentialForbidden => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict(_) | EmailTaken | HasChildren | SsoNotConfigured => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Validation(_) | PlanLimitReached(_) => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Malformed(_) => "malformed_request",
            Unauthenticated => "unauthenticated",
            InvalidCredentials => "invalid_credentials",
            MfaRequired => "mfa_required",
            MfaEnrollmentRequired => "mfa_enrollment_required",
            NetworkNotAllowed => "network_not_allowed",
            Forbidden(_) => "forbidden",
            CsrfFailed => "csrf_failed",
            ReauthRequired => "reauth_required",
            SsoRequired => "sso_required",
            UserDisabled => "user_disabled",
            UserExpired => "user_expired",
            AccountSuspended => "account_suspended",
            AccessSessionRequired => "access_session_required",
            DelegatedTokenForbidden => "delegated_token_forbidden",
            DelegatedCredentialForbidden => "delegated_credential_forbidden",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Conflict(_) => "conflict",
            EmailTaken => "email_taken",
            HasChildren => "has_children",
            SsoNotConfigured => "sso_not_configured",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType(_) => "unsupported_media_type",
            Validation(_) => "validation_failed",
            PlanLimitReached(_) => "plan_limit_reached",
            RateLimited { .. } => "rate_limited",
            Overloaded { .. } => "overloaded",
            Internal(_) => "internal_error",
        }
    }
}

/// The body of every error: RFC 9457 problem details with a stable `code`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    /// Stable, machine-readable: `not_found`, `validation_failed`, …
    code: String,
    /// With `validation_failed`: each bad field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<FieldError>>,
}

/// Every operation's error answer, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum Failure {
    /// An error: `application/problem+json` with a stable `code`.
    #[response(status = "default", content_type = "application/problem+json")]
    Problem(Problem),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let problem = Problem {
            kind: format!("urn:tenantry:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().to_owned(),
            errors: match &self {
                ApiError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let ApiError::RateLimited { retry_after_secs } | ApiError::Overloaded { retry_after_secs } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::NotFound => Self::NotFound,
            DomainError::Forbidden(why) => Self::Forbidden(why),
            DomainError::Validation(errors) => Self::Validation(errors),
            DomainError::Conflict(why) => Self::Conflict(why),
            DomainError::EmailTaken => Self::EmailTaken,
            DomainError::HasChildren => Self::HasChildren,
            DomainError::SsoNotConfigured => Self::SsoNotConfigured,
            e @ DomainError::PlanLimitReached { .. } => Self::PlanLimitReached(e.to_string()),
            DomainError::AccessSessionEnded => Self::AccessSessionRequired,
            DomainError::Internal(why) => Self::Internal(why),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Domain(e) => e.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
