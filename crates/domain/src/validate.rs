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

/// A display name: at most [`MAX_NAME`] characters as sent, no control characters, not blank;
/// kept trimmed.
pub fn name(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if raw.chars().count() > MAX_NAME {
        return Err(format!("must be at most {MAX_NAME} characters"));
    }
    if raw.chars().any(char::is_control) {
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

/// A password being set: of the right length, and not common or guessable — zxcvbn's estimate
/// (with its bundled lists of common passwords, names and words, and `related`: the user's
/// email, name and the like) must reach 3 of 4 ("safely unguessable").
pub fn new_password(raw: &str, related: &[&str]) -> Result<(), String> {
    password(raw)?;
    let related: Vec<&str> = related
        .iter()
        .flat_map(|r| r.split(|c: char| !c.is_alphanumeric()))
        .chain(related.iter().copied())
        .filter(|r| r.chars().count() >= 3)
        .collect();
    let estimate = zxcvbn::zxcvbn(raw, &related);
    if u8::from(estimate.score()) >= 3 {
        return Ok(());
    }
    let warning = estimate.feedback().and_then(|f| f.warning()).map(|w| format!(" ({w})")).unwrap_or_default();
    Err(format!("is too easy to guess{warning}; use a longer passphrase of unrelated words"))
}

/// Free text up to [`MAX_TEXT`] characters, without NUL (which PostgreSQL cannot store).
pub fn text(raw: &str) -> Result<String, String> {
    if raw.chars().count() > MAX_TEXT {
        return Err(format!("must be at most {MAX_TEXT} characters"));
    }
    no_nul(raw)
}

/// Refuses NUL characters.
fn no_nul(raw: &str) -> Result<String, String> {
    if raw.contains('\0') { Err("must not contain NUL characters".into()) } else { Ok(raw.to_owned()) }
}

/// Longest search term of a query string, in characters.
pub const MAX_SEARCH: usize = 500;

/// A search term up to [`MAX_SEARCH`] characters (a query string carries it, and every character
/// may take twelve bytes there).
pub fn search(raw: &str) -> Result<String, String> {
    if raw.chars().count() > MAX_SEARCH {
        return Err(format!("must be at most {MAX_SEARCH} characters"));
    }
    no_nul(raw)
}

/// A phone number: `+` and 7 to 15 digits; spaces and dashes allowed between them.
pub fn phone(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let rest = raw.strip_prefix('+').ok_or("must start with + and the country code")?;
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    let only_allowed = rest.chars().all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
    if !only_allowed || !(7..=15).contains(&digits) {
        return Err("must be + and 7 to 15 digits (spaces and dashes allowed)".into());
    }
    Ok(raw.to_owned())
}

/// Longest URL, in characters as sent.
pub const MAX_URL: usize = 2_000;

/// An absolute `http` or `https` URL with a host; white space around it is trimmed.
pub fn http_url(raw: &str) -> Result<String, String> {
    let too_long = raw.chars().count() > MAX_URL;
    let raw = raw.trim();
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or("must be an absolute http(s) URL")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let bad = host.is_empty() || raw.chars().any(|c| c.is_whitespace() || c.is_control()) || too_long;
    if bad {
        return Err("must be an absolute http(s) URL".into());
    }
    Ok(raw.to_owned())
}

/// Longest DNS name.
pub const MAX_HOSTNAME: usize = 253;

/// A TLS target's host: a DNS name (letters, digits and hyphens in dot-separated labels of at
/// most 63, lowercased) or an IPv4/IPv6 literal (without brackets).
pub fn hostname(raw: &str) -> Result<String, String> {
    let host = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(host);
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let all_numeric = host.split('.').next_back().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if host.is_empty() || host.len() > MAX_HOSTNAME || !host.split('.').all(label_ok) || all_numeric {
        return Err("must be a DNS name or an IP address".into());
    }
    Ok(host)
}

/// A TCP port, 1 to 65535.
pub fn port(raw: i64) -> Result<u16, String> {
    u16::try_from(raw).ok().filter(|p| *p > 0).ok_or_else(|| "must be between 1 and 65535".into())
}

/// Reads a whole number the way JSON Schema counts one: `3` and `3.0` alike (a fraction, or a
/// number outside `i64`, is refused). For `#[serde(deserialize_with = "…")]`.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("a whole number within 64 bits"))
        }
        #[expect(clippy::cast_possible_truncation, reason = "checked to be whole and in range first")]
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
            let in_range = v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64;
            if in_range { Ok(v as i64) } else { Err(E::invalid_type(serde::de::Unexpected::Float(v), &self)) }
        }
    }
    d.deserialize_any(Whole)
}

/// [`whole_number`] for an optional field (absent or `null` is `None`).
pub fn optional_whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "whole_number")] i64);
    Ok(<Option<Wrapped> as serde::Deserialize>::deserialize(d)?.map(|Wrapped(v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_or_guessable_new_passwords_are_refused() {
        for weak in ["password1234", "qwertyuiop123", "aaaaaaaaaaaa", "123456789012", "iloveyou1234"] {
            assert!(new_password(weak, &[]).is_err(), "{weak} was accepted");
        }
        // The user's own details are guessable too.
        let own_email = "margaret.hamilton@example.com";
        assert_eq!(new_password(own_email, &[]), Ok(()));
        assert!(new_password(own_email, &[own_email]).is_err());
        for strong in ["correct horse battery staple", "violet umbrella gravel 42 tango"] {
            assert_eq!(new_password(strong, &["someone@example.com"]), Ok(()), "{strong}");
        }
        // Length still comes first.
        assert!(new_password("Zq8#", &[]).is_err_and(|e| e.contains("12 to 1024")));
    }

    #[test]
    fn name_rejects_empty_long_and_control_characters() {
        assert!(name("  ").is_err());
        assert!(name(&"x".repeat(201)).is_err());
        assert!(name("a\u{7}b").is_err());
        // Limits count what was sent, control characters at the edges too.
        assert!(name(&format!(" {} ", "x".repeat(199))).is_err());
        assert!(name("Acme\n").is_err());
        assert_eq!(name("  Acme  ").as_deref(), Ok("Acme"));
        assert!(name(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn phones_are_plus_and_seven_to_fifteen_digits() {
        assert!(phone("+45 70 20 30 40").is_ok());
        assert!(phone("+1-555-0100-123").is_ok());
        assert!(phone("70203040").is_err());
        assert!(phone("+123").is_err());
        assert!(phone("+1234567890123456").is_err());
        assert!(phone("+45 (70) 20").is_err());
    }

    #[test]
    fn urls_must_be_absolute_http_or_https() {
        assert!(http_url("https://msp.example/support").is_ok());
        assert!(http_url("http://msp.example").is_ok());
        assert!(http_url("ftp://msp.example").is_err());
        assert!(http_url("javascript:alert(1)").is_err());
        assert!(http_url("https:///path").is_err());
        assert!(http_url("https://a b").is_err());
    }

    #[test]
    fn password_counts_characters_not_bytes() {
        assert!(password("short").is_err());
        assert!(password(&"é".repeat(12)).is_ok());
        assert!(password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn hostnames_are_dns_names_or_ip_literals() {
        assert_eq!(hostname(" WWW.Example.com. ").as_deref(), Ok("www.example.com"));
        assert_eq!(hostname("192.0.2.1").as_deref(), Ok("192.0.2.1"));
        assert_eq!(hostname("2001:db8::1").as_deref(), Ok("2001:db8::1"));
        assert!(hostname("").is_err());
        assert!(hostname("-bad.example").is_err());
        assert!(hostname("a..example").is_err());
        assert!(hostname("host:443").is_err());
        assert!(hostname("exa mple.com").is_err());
        assert!(hostname("256.1.1.1").is_err());
        assert!(hostname(&format!("{}.example", "a".repeat(64))).is_err());
        assert_eq!(port(443), Ok(443));
        assert!(port(0).is_err());
        assert!(port(65_536).is_err());
    }
}
