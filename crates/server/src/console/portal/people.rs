//! The portal's pages about the account itself: its users, audit trail, API tokens, subscription
//! and the contact form.

use super::{Params, Portal, id};
use crate::console::partner::{AuditRow, SupportRow};
use crate::console::{Flash, Form, Frame, User, done, field, page, refused};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tenantry_domain::Permission;

// --- users ---

#[derive(Template)]
#[template(path = "portal/users.html")]
struct UsersPage {
    frame: Frame,
    users: Vec<User>,
    roles: Vec<&'static str>,
    can_manage: bool,
    base: String,
    activation_url: Option<String>,
}

pub(super) async fn users(p: Portal, Query(params): Query<Params>) -> Response {
    users_page(p, Flash::done(&params), None).await
}

pub(super) async fn users_page(p: Portal, flash: Flash, activation_url: Option<String>) -> Response {
    match p.list::<User>("/users").await {
        Ok(users) => page(&UsersPage {
            frame: p.frame("users", "Users", flash),
            users,
            roles: crate::console::partner::roles(p.customer.kind),
            can_manage: p.can(Permission::UserManage),
            base: p.base.clone(),
            activation_url,
        }),
        Err(problem) => refused(problem, &p.base),
    }
}

pub(super) async fn create_user(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({"email": field(&form, "email"), "name": field(&form, "name"), "role": field(&form, "role")});
    match p.act(&form).send::<Value>(Method::POST, &p.path("/users"), body).await {
        Ok(created) => {
            let link = created["activation_url"].as_str().map(str::to_owned);
            users_page(p, Flash { notice: Some("User created.".into()), error: None }, link).await
        }
        Err(problem) => users_page(p, Flash::error(&problem), None).await,
    }
}

pub(super) async fn delete_user(p: Portal, Path(params): Path<Params>, axum::Form(form): axum::Form<Form>) -> Response {
    let path = p.path(&format!("/users/{}", id(&params, "uid")));
    match p.act(&form).call(Method::DELETE, &path, None).await {
        r if r.status.is_success() => done(&p.here("/users"), "deleted"),
        r => users_page(p, Flash::error(&serde_json::from_value(r.body).unwrap_or_default()), None).await,
    }
}

// --- audit ---

#[derive(Deserialize, Clone)]
struct SessionRow {
    actor: SessionActor,
    #[serde(default)]
    reason: Option<String>,
    started_at: String,
    expires_at: String,
    status: String,
}

#[derive(Deserialize, Clone)]
struct SessionActor {
    email: String,
}

#[derive(Template)]
#[template(path = "portal/audit.html")]
struct AuditPage {
    frame: Frame,
    events: Vec<AuditRow>,
    sessions: Vec<SessionRow>,
    export: String,
}

pub(super) async fn audit(p: Portal) -> Response {
    let events = match p.first::<AuditRow>("/audit", 100).await {
        Ok(e) => e,
        Err(problem) => return refused(problem, &p.base),
    };
    let sessions = p.first::<SessionRow>("/access-sessions", 50).await.unwrap_or_default();
    let export = format!("/api/v1{}", p.path("/audit/export"));
    page(&AuditPage { frame: p.frame("audit", "Audit trail", Flash::default()), events, sessions, export })
}

// --- API tokens ---

#[derive(Deserialize, Clone)]
struct TokenRow {
    id: String,
    name: String,
    role: String,
    expires_at: String,
    #[serde(default)]
    last_used_at: Option<String>,
    #[serde(default)]
    revoked_at: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/tokens.html")]
struct TokensPage {
    frame: Frame,
    tokens: Vec<TokenRow>,
    base: String,
    token: Option<String>,
    delegated: bool,
}

pub(super) async fn tokens(p: Portal, Query(params): Query<Params>) -> Response {
    tokens_page(p, Flash::done(&params), None).await
}

pub(super) async fn tokens_page(p: Portal, flash: Flash, token: Option<String>) -> Response {
    match p.list::<TokenRow>("/api-tokens").await {
        Ok(tokens) => page(&TokensPage {
            frame: p.frame("tokens", "API tokens", flash),
            tokens,
            base: p.base.clone(),
            token,
            delegated: p.banner.is_some(),
        }),
        Err(problem) => refused(problem, &p.base),
    }
}

pub(super) async fn create_token(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let days = field(&form, "expires_in_days").parse::<i64>().unwrap_or(0);
    let body = json!({"name": field(&form, "name"), "expires_in_days": days, "password": form.get("password").cloned().unwrap_or_default()});
    match p.act(&form).send::<Value>(Method::POST, &p.path("/api-tokens"), body).await {
        Ok(created) => {
            let token = created["token"].as_str().map(str::to_owned);
            tokens_page(p, Flash { notice: Some("Token created.".into()), error: None }, token).await
        }
        Err(problem) => tokens_page(p, Flash::error(&problem), None).await,
    }
}

pub(super) async fn revoke_token(
    p: Portal,
    Path(params): Path<Params>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let path = p.path(&format!("/api-tokens/{}", id(&params, "tid")));
    match p.act(&form).call(Method::DELETE, &path, None).await {
        r if r.status.is_success() => done(&p.here("/tokens"), "revoked"),
        r => tokens_page(p, Flash::error(&serde_json::from_value(r.body).unwrap_or_default()), None).await,
    }
}

// --- subscription and contact ---

#[derive(Deserialize, Clone, Default)]
struct Counts {
    users: i64,
    certificates: i64,
    agents: i64,
    targets: i64,
}

#[derive(Deserialize, Clone)]
struct Contact {
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    homepage_url: Option<String>,
}

#[derive(Deserialize, Clone)]
struct PurchaseRow {
    plan: String,
}

#[derive(Deserialize)]
struct SubscriptionRow {
    plan: String,
    managed: bool,
    #[serde(default)]
    limits: Option<Counts>,
    usage: Counts,
    billing_contact: Contact,
    purchase_options: Vec<PurchaseRow>,
}

#[derive(Template)]
#[template(path = "portal/subscription.html")]
struct SubscriptionPage {
    frame: Frame,
    plan: String,
    managed: bool,
    limits: Counts,
    limited: bool,
    usage: Counts,
    contact: Contact,
    purchase: Vec<PurchaseRow>,
}

pub(super) async fn subscription(p: Portal) -> Response {
    let s: SubscriptionRow = match p.api.get(&p.path("/subscription")).await {
        Ok(s) => s,
        Err(problem) => return refused(problem, &p.base),
    };
    page(&SubscriptionPage {
        frame: p.frame("subscription", "Subscription", Flash::default()),
        plan: s.plan,
        managed: s.managed,
        limited: s.limits.is_some(),
        limits: s.limits.unwrap_or_default(),
        usage: s.usage,
        contact: s.billing_contact,
        purchase: s.purchase_options,
    })
}

#[derive(Template)]
#[template(path = "portal/contact.html")]
struct ContactPage {
    frame: Frame,
    sent: Vec<SupportRow>,
    action: String,
    /// Who the request goes to: the account above (its branding, or its name and contact email).
    contact: Contact,
}

pub(super) async fn contact(p: Portal, Query(params): Query<Params>) -> Response {
    contact_page(p, Flash::done(&params)).await
}

pub(super) async fn contact_page(p: Portal, flash: Flash) -> Response {
    let sent = p.first::<SupportRow>("/support-requests", 50).await.unwrap_or_default();
    let contact = match p.api.get::<SubscriptionRow>(&p.path("/subscription")).await {
        Ok(s) => s.billing_contact,
        Err(_) => Contact {
            name: p.branding.name().to_owned(),
            email: p.branding.support_email.clone(),
            phone: p.branding.support_phone.clone(),
            homepage_url: p.branding.homepage_url.clone(),
        },
    };
    page(&ContactPage { frame: p.frame("contact", "Contact", flash), sent, action: p.here("/contact"), contact })
}

pub(super) async fn send_contact(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({"subject": field(&form, "subject"), "message": form.get("message").cloned().unwrap_or_default()});
    match p.act(&form).send::<Value>(Method::POST, &p.path("/support-requests"), body).await {
        Ok(_) => done(&p.here("/contact"), "sent"),
        Err(problem) => contact_page(p, Flash::error(&problem)).await,
    }
}
