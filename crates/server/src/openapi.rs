//! The OpenAPI 3.1 document, generated from the handlers' annotations; served at
//! `/api/v1/openapi.json` and kept as `docs/openapi.json`, which a test compares with it. The
//! input checks are written into it by [`validation`].

pub mod validation;

use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Tenantry API",
        version = "1",
        description = "Multi-tenant accounts with a partner console for MSPs. Errors are \
            application/problem+json with a stable `code`; lists are `{items, next_cursor}`."
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Sign-in, step-up, activation, password"),
        (name = "accounts", description = "The account tree: platform, partners, MSPs, customers"),
        (name = "users", description = "Users and their roles"),
        (name = "audit", description = "Hash-chained audit trails: read, export, verify"),
        (name = "staff", description = "MSP technicians' assignments to customers"),
        (name = "access", description = "Entering a customer account with one's own identity"),
        (name = "api-tokens", description = "Account-scoped bearer tokens"),
        (name = "collections", description = "A customer's certificate collections"),
        (name = "certificates", description = "A customer's certificate inventory"),
        (name = "subscription", description = "Plans, limits and usage"),
        (name = "support", description = "The contact form and the parent's inbox"),
        (name = "branding", description = "Co-branding: names, contacts and logos"),
        (name = "agents", description = "Agents that report the certificates they find")
    )
)]
pub struct ApiDoc;

/// The session cookie and the CSRF header that must accompany unsafe requests.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::principal::SESSION_COOKIE))),
        );
        components
            .add_security_scheme("csrf", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-CSRF-Token"))));
    }
}
