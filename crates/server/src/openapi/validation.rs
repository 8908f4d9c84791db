//! What the handlers check of each input, written into the OpenAPI document as JSON Schema
//! keywords (`minLength`, `maxLength`, `pattern`, `format`, `enum`, `minimum`, …), so that data a
//! generated client deems valid is accepted and data it deems invalid is refused. Built from the
//! same limits the checks use; `tests/api/conformance.rs` holds the server to it with an outside
//! property-based tester.
//!
//! Patterns are ECMA-262 and anchored. Two character sets recur: control characters (`Cc`, which
//! names refuse) and the Unicode `White_Space` set (which the checks trim from both ends).
//! Whatever depends on state rather than on the input alone cannot be said here and is named in
//! the field's description: a password's guessability, a role the account's kind has, a private
//! address the server does not allow, an address that would lock the caller out.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use tenantry_domain::validate::{
    MAX_EMAIL, MAX_HOSTNAME, MAX_NAME, MAX_SEARCH, MAX_TEXT, MAX_URL, PASSWORD_MAX, PASSWORD_MIN,
};
use tenantry_domain::{AccountKind, Role, Slug};

/// Control characters: what `char::is_control` refuses.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// `char::is_whitespace`, which `str::trim` removes.
const SPACE: &str = r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters and white space together, the inside of a character class.
const BLANK: &str = r"\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// A UUID in its hyphenated form, the only one ids are read in.
const UUID: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

fn spaces() -> String {
    format!("[{SPACE}]*")
}

/// `validate::name`: 1 to 200 characters with something besides white space, no control
/// characters.
fn name() -> Value {
    json!({
        "minLength": 1,
        "maxLength": MAX_NAME,
        "pattern": format!("^[^{CONTROL}]*[^{SPACE}{CONTROL}][^{CONTROL}]*$"),
    })
}

/// `validate::text`: no NUL.
fn text() -> Value {
    json!({ "maxLength": MAX_TEXT, "pattern": "^[^\\u0000]*$" })
}

/// `validate::search`.
fn search() -> Value {
    json!({ "maxLength": MAX_SEARCH, "pattern": "^[^\\u0000]*$" })
}

/// `validate::text`, and not only white space (a support request's message).
fn message() -> Value {
    json!({ "maxLength": MAX_TEXT, "pattern": format!("^[^\\u0000]*[^{SPACE}\\u0000][^\\u0000]*$") })
}

/// `Email::parse`: one `@` between a local part and a dotted domain, nothing blank inside,
/// white space around it trimmed.
fn email() -> Value {
    let domain_edge = format!("[^.@{BLANK}]");
    let part = format!("[^@{BLANK}]");
    let s = spaces();
    json!({
        "maxLength": MAX_EMAIL,
        "pattern": format!("^{s}{part}+@{domain_edge}{part}*\\.{part}*{domain_edge}{s}$"),
    })
}

/// A credential being presented (`validate::password`): only its length is judged here.
fn password() -> Value {
    json!({ "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX })
}

/// A password being set (`validate::new_password`).
fn new_password() -> Value {
    json!({
        "minLength": PASSWORD_MIN,
        "maxLength": PASSWORD_MAX,
        "description": "Must also be hard to guess (zxcvbn score 3 of 4, the user's own name and \
            email counting against it); a guessable one is refused with a 422 on this field.",
    })
}

/// `validate::phone`: `+`, then 7 to 15 digits with spaces and dashes between them.
fn phone() -> Value {
    let s = spaces();
    json!({ "pattern": format!("^{s}\\+[ -]*(?:[0-9][ -]*){{7,15}}{s}$") })
}

/// `validate::http_url`: an absolute `http` or `https` URL with a host, nothing blank inside.
fn url(schemes: &str) -> Value {
    let s = spaces();
    json!({
        "maxLength": MAX_URL,
        "pattern": format!("^{s}{schemes}://[^/?#{BLANK}][^{BLANK}]*{s}$"),
    })
}

fn ipv4() -> String {
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    format!("{octet}(?:\\.{octet}){{3}}")
}

/// RFC 3986's `IPv6address`.
fn ipv6() -> String {
    let h = "[0-9a-fA-F]{1,4}";
    let ls32 = format!("(?:{h}:{h}|{})", ipv4());
    let before = |n: usize| if n == 0 { format!("(?:{h})?") } else { format!("(?:(?:{h}:){{0,{n}}}{h})?") };
    let forms = [
        format!("(?:{h}:){{6}}{ls32}"),
        format!("::(?:{h}:){{5}}{ls32}"),
        format!("{}::(?:{h}:){{4}}{ls32}", before(0)),
        format!("{}::(?:{h}:){{3}}{ls32}", before(1)),
        format!("{}::(?:{h}:){{2}}{ls32}", before(2)),
        format!("{}::{h}:{ls32}", before(3)),
        format!("{}::{ls32}", before(4)),
        format!("{}::{h}", before(5)),
        format!("{}::", before(6)),
    ];
    format!("(?:{})", forms.join("|"))
}

/// A DNS name of `validate::hostname`: labels of letters, digits and inner hyphens, at most 63
/// each and 253 in all, the last not all digits; `dotted` asks for at least two labels.
fn dns_name(dotted: bool) -> String {
    let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    let last = "(?![0-9]+(?:\\.|$|[^A-Za-z0-9.-]))[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    let repeat = if dotted { "+" } else { "*" };
    let s = spaces();
    format!("(?=[A-Za-z0-9.-]{{1,{MAX_HOSTNAME}}}\\.*{s}$)(?:{label}\\.){repeat}{last}")
}

/// `validate::hostname`: a DNS name or an IP literal, trailing dots and white space trimmed.
fn hostname() -> Value {
    let s = spaces();
    json!({
        "pattern": format!("^{s}(?:{}|{}|{})\\.*{s}$", ipv4(), ipv6(), dns_name(false)),
        "description": "A DNS name or an IP address. A private, loopback or link-local address is \
            refused unless the server allows private targets.",
    })
}

/// An email domain of the SSO settings: a dotted DNS name.
fn email_domain() -> Value {
    let s = spaces();
    json!({ "pattern": format!("^{s}{}\\.*{s}$", dns_name(true)) })
}

/// A CIDR range or a single address of an account's trusted networks.
fn network() -> Value {
    let s = spaces();
    json!({
        "pattern": format!(
            "^{s}(?:{}(?:/(?:3[0-2]|[12]?[0-9]))?|{}(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?){s}$",
            ipv4(),
            ipv6()
        ),
        "description": "An IPv4-mapped IPv6 range is refused: write it as an IPv4 range.",
    })
}

/// A printable ASCII token of the SSO settings, 1 to `max` characters.
fn token(max: usize) -> Value {
    let s = spaces();
    json!({ "pattern": format!("^{s}[!-~]{{1,{max}}}{s}$") })
}

fn uuid() -> Value {
    json!({ "format": "uuid", "pattern": format!("^{UUID}$") })
}

/// A query value that may also be left empty (an empty value counts as absent).
fn or_empty(pattern: &str) -> Value {
    json!({ "pattern": format!("^(?:{pattern})?$") })
}

fn one_of(values: &[&str]) -> Value {
    json!({ "enum": values })
}

fn between(min: i64, max: i64) -> Value {
    json!({ "minimum": min, "maximum": max })
}

fn integer(min: i64, max: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

/// A filter that may also be sent empty, which counts as not sent; replaces the whole schema.
fn or_absent(schema: Value) -> Value {
    json!({ "anyOf": [{ "type": "string", "maxLength": 0 }, schema] })
}

fn roles() -> Value {
    let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    json!({ "enum": all, "description": "One of the roles of the account's kind." })
}

fn kinds(empty_too: bool) -> Value {
    let mut all: Vec<&str> = AccountKind::ALL.iter().map(|k| k.as_str()).collect();
    if empty_too {
        all.insert(0, "");
    }
    json!({ "type": "string", "enum": all })
}

fn date_time() -> Value {
    json!({ "format": "date-time" })
}

/// The keywords of a request body's field: `schema`'s `property`.
fn field(schema: &str, property: &str) -> Option<Value> {
    Some(match (schema, property) {
        ("LoginRequest", "email") => json!({ "maxLength": MAX_EMAIL, "pattern": "^[^\\u0000]*$" }),
        (_, "name" | "display_name" | "region" | "subject") => name(),
        ("ReportRequest", "hostname") => name(),
        (_, "hostname") => hostname(),
        (_, "email" | "contact_email" | "support_email") => email(),
        ("LoginRequest" | "PasswordOnly", "password") => password(),
        ("ChangePasswordRequest", "current_password") => password(),
        ("ActivateRequest" | "AdminRequest" | "CreateUserRequest" | "PatchUserRequest", "password") => new_password(),
        ("ChangePasswordRequest", "new_password") => new_password(),
        (_, "reason") => text(),
        (_, "message") => message(),
        (_, "support_phone") => phone(),
        (_, "homepage_url") => url("https?"),
        ("CreateWebhookRequest" | "UpdateWebhookRequest", "url") => url("https?"),
        ("CreateWebhookRequest", "description") => text(),
        (_, "events") => json!({
            "minItems": 1,
            "maxItems": tenantry_domain::webhook::MAX_PATTERNS,
            "items": { "maxLength": 100, "pattern": "^(?:\\*|[a-z0-9_]+\\.(?:\\*|[a-z0-9_]+))$" },
        }),
        (_, "issuer") => url("https"),
        (_, "slug") => json!({ "pattern": format!("^[a-z0-9](?:[a-z0-9-]{{0,{}}}[a-z0-9])?$", Slug::MAX - 2) }),
        (_, "collection_id" | "parent_id") => uuid(),
        (_, "role") => roles(),
        ("SsoConfigRequest", "default_role") => roles(),
        ("CreateAccountRequest", "kind") => kinds(false),
        (_, "plan") => one_of(&["trial", "standard", "managed", "partner"]),
        ("PatchAccountRequest", "status") => one_of(&["active", "suspended"]),
        ("PatchUserRequest", "status") => one_of(&["active", "disabled"]),
        ("SupportStatusBody", "status") => one_of(&["open", "closed"]),
        (_, "expires_at") => date_time(),
        (_, "expires_in_days") => between(1, 730),
        (_, "port") => between(1, 65_535),
        ("Limits", _) => between(0, 1_000_000_000),
        (_, "allowed_networks") => json!({ "maxItems": 100, "items": network() }),
        (_, "client_id") => token(255),
        (_, "client_secret") => token(1_024),
        (_, "email_claim") => token(64),
        (_, "scopes") => json!({
            "items": token(64),
            "contains": { "pattern": format!("^{s}openid{s}$", s = spaces()) },
        }),
        (_, "allowed_email_domains") => json!({ "maxItems": 50, "items": email_domain() }),
        ("ReportRequest", "certificates") => json!({ "maxItems": crate::routes::agents::MAX_REPORTED }),
        _ => return None,
    })
}

/// The keywords of a parameter `name` of `path`.
fn parameter(path: &str, location: &str, name: &str) -> Option<Value> {
    let uuid_or_empty = or_empty(UUID);
    Some(match (location, name) {
        ("path", "variant") => one_of(&["light", "dark"]),
        ("path", "slug") => field("", "slug")?,
        ("path", _) => uuid(),
        ("query", "limit") => between(1, i64::from(crate::routes::MAX_LIMIT)),
        ("query", "cursor") if path.ends_with("/audit") || path.ends_with("/deliveries") => {
            or_empty("\\+?0*[1-9][0-9]{0,17}")
        }
        ("query", "cursor") if path.ends_with("/expiring") => or_empty("[+-]?0*[0-9]{1,18}_[\\s\\S]+"),
        ("query", "cursor") => uuid_or_empty,
        ("query", "kind") => kinds(true),
        ("query", "parent_id" | "actor_user_id" | "collection_id") => uuid_or_empty,
        ("query", "q" | "issuer" | "action") => search(),
        ("query", "since" | "until") => or_absent(json!({ "type": "string", "format": "date-time" })),
        ("query", "format") if path.ends_with("/usage") => one_of(&["json", "csv"]),
        ("query", "format") => one_of(&["jsonl", "csv"]),
        ("query", "expiring_within_days") => or_absent(integer(0, i64::from(u16::MAX))),
        ("query", "within_days") => or_absent(integer(0, crate::routes::expiring::MAX_WITHIN_DAYS)),
        ("query", "expired") => or_absent(json!({ "type": "boolean" })),
        _ => return None,
    })
}

/// The schemas request bodies use, directly or nested.
pub fn request_schemas(document: &Value) -> BTreeSet<String> {
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(name) = map.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
                    out.push(name.to_owned());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    for operations in document["paths"].as_object().into_iter().flat_map(|p| p.values()) {
        for operation in operations.as_object().into_iter().flat_map(|o| o.values()) {
            refs(&operation["requestBody"], &mut pending);
        }
    }
    let mut found = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if found.insert(name.clone()) {
            refs(&document["components"]["schemas"][&name], &mut pending);
        }
    }
    found
}

/// Writes the keywords into `document`.
pub fn describe(document: &mut Value) {
    let requests = request_schemas(document);
    if let Some(schemas) = document.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for (schema_name, schema) in schemas.iter_mut().filter(|(name, _)| requests.contains(*name)) {
            let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else { continue };
            for (property, target) in properties.iter_mut() {
                if let Some(keywords) = field(schema_name, property) {
                    merge(target, keywords);
                }
            }
        }
    }
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, operations) in paths.iter_mut() {
        let Some(operations) = operations.as_object_mut() else { continue };
        for operation in operations.values_mut() {
            let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
            for parameter_doc in parameters {
                let location = parameter_doc["in"].as_str().unwrap_or_default().to_owned();
                let name = parameter_doc["name"].as_str().unwrap_or_default().to_owned();
                let Some(keywords) = parameter(path, &location, &name) else { continue };
                let schema = &mut parameter_doc["schema"];
                if keywords.get("anyOf").is_some() {
                    *schema = keywords;
                    continue;
                }
                if keywords.get("enum").is_some() || keywords.get("minimum").is_some() {
                    // Replaces a referenced enum or an unsigned integer's `minimum: 0`.
                    if let Some(schema) = schema.as_object_mut() {
                        schema.retain(|k, _| k == "type" || k == "format");
                    }
                    if schema.get("type").is_none() {
                        schema["type"] = json!("string");
                    }
                }
                merge(schema, keywords);
            }
        }
    }
}

/// Adds `keywords` to `target`, into nested objects (`items`) too; a description is appended.
fn merge(target: &mut Value, keywords: Value) {
    let (Some(target), Value::Object(keywords)) = (target.as_object_mut(), keywords) else { return };
    merge_maps(target, keywords);
}

fn merge_maps(target: &mut Map<String, Value>, keywords: Map<String, Value>) {
    for (key, value) in keywords {
        match (target.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(more)) => merge_maps(inner, more),
            (Some(Value::String(existing)), Value::String(more)) if key == "description" => {
                existing.push(' ');
                existing.push_str(&more);
            }
            (_, value) => {
                target.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields only a later check can judge (a one-time code, a token, a credential being
    /// presented): free in the document by design.
    fn judged_later(schema: &str, property: &str) -> bool {
        matches!(
            (schema, property),
            (_, "totp_code" | "recovery_code")
                | ("ActivateRequest", "token")
                | ("ConfirmRequest", "code")
                | ("OpenRequest" | "Confirmation" | "CreateTokenRequest", "password")
        )
    }

    #[test]
    fn every_checked_field_of_every_request_body_carries_its_keywords() {
        let document: Value = serde_json::from_str(&crate::openapi_json()).unwrap_or_default();
        let requests = request_schemas(&document);
        assert!(requests.contains("CreateUserRequest") && requests.contains("Limits"), "{requests:?}");
        let mut bare = Vec::new();
        for name in &requests {
            let properties = document["components"]["schemas"][name]["properties"].as_object().cloned();
            for (property, schema) in properties.unwrap_or_default() {
                let kind = schema["type"].to_string();
                let checkable = ["string", "integer", "array"].iter().any(|t| kind.contains(t));
                let keywords = ["pattern", "maxLength", "enum", "minimum", "format", "maxItems", "contains"];
                let described = keywords.iter().any(|k| schema.get(*k).is_some());
                if checkable && !described && !judged_later(name, &property) {
                    bare.push(format!("{name}.{property}"));
                }
            }
        }
        assert!(bare.is_empty(), "request fields without their checks in the document: {bare:?}");
    }

    #[test]
    fn every_parameter_carries_its_keywords() {
        let document: Value = serde_json::from_str(&crate::openapi_json()).unwrap_or_default();
        let mut bare = Vec::new();
        for (path, operations) in document["paths"].as_object().cloned().unwrap_or_default() {
            for operation in operations.as_object().cloned().unwrap_or_default().values() {
                for parameter in operation["parameters"].as_array().cloned().unwrap_or_default() {
                    let schema = &parameter["schema"];
                    let keywords = ["pattern", "maxLength", "enum", "minimum", "anyOf"];
                    if !keywords.iter().any(|k| schema.get(*k).is_some()) {
                        bare.push(format!("{path} {}", parameter["name"]));
                    }
                }
            }
        }
        assert!(bare.is_empty(), "parameters without their checks in the document: {bare:?}");
    }
}
