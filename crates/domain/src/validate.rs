//! Input limits shared by every endpoint, and a collector that reports every bad field at once.

use serde::Serialize;

/// Longest name (account, user, collection, …).
pub const MAX_NAME: usize = 200;
/// Longest email address.
pub const MAX_EMAIL: usize = 254;
/// Longest free text.
pub const MAX_TEXT: usize = 10_000;
/// Password length bounds, in characters.
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 1_024;

/// One field that failed validation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_owned(), message: message.into() }
    }
}

/// Collects field errors; [`Validator::finish`] turns them into a result.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Keeps `Ok` values, records the error of an `Err` under `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.push(field, message);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), crate::DomainError> {
        if self.errors.is_empty() { Ok(()) } else { Err(crate::DomainError::Validation(self.errors)) }
    }
}

/// A display name: trimmed, 1 to [`MAX_NAME`] characters, no control characters.
pub fn name(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > MAX_NAME {
        return Err(format!("must be at most {MAX_NAME} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed.to_owned())
}

/// A password within the length bounds (characters, not bytes).
pub fn password(raw: &str) -> Result<(), String> {
    let n = raw.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
        return Err(format!("must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"));
    }
    Ok(())
}

/// Free text up to [`MAX_TEXT`] characters.
pub fn text(raw: &str) -> Result<String, String> {
    if raw.chars().count() > MAX_TEXT {
        return Err(format!("must be at most {MAX_TEXT} characters"));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rejects_empty_long_and_control_characters() {
        assert!(name("  ").is_err());
        assert!(name(&"x".repeat(201)).is_err());
        assert!(name("a\u{7}b").is_err());
        assert_eq!(name("  Acme  ").as_deref(), Ok("Acme"));
        assert!(name(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn password_counts_characters_not_bytes() {
        assert!(password("short").is_err());
        assert!(password(&"é".repeat(12)).is_ok());
        assert!(password(&"x".repeat(1025)).is_err());
    }
}
