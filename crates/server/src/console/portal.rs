//! The customer portal: what a customer's users see at `/portal`, and what a partner-side user
//! sees inside an access session at `/console/access/{id}` — the same pages, with a banner that
//! says which customer, which actor, from which MSP, until when, and a way out.

use super::partner::{AuditRow, ExpiringRow, SupportRow};
use super::{
    AccountRow, Api, Banner, Branding, Flash, Form, Frame, List, Me, NavItem, Problem, UserRow, done, field, optional,
    page, query, refused, when,
};
use crate::app::App;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

type Params = HashMap<String, String>;

/// The portal's pages, served under `/portal` and under `/console/access/{sid}`.
fn pages() -> Router<App> {
    Router::new()
        .route("/", get(dashboard))
        .route("/collections", get(collections).post(create_collection))
        .route("/certificates", get(certificates).post(import))
        .route("/certificates/{cid}/delete", post(delete_certificate))
        .route("/agents", get(agents).post(register_agent))
        .route("/agents/{aid}/revoke", post(revoke_agent))
        .route("/targets", get(targets).post(create_target))
        .route("/targets/{tid}/check", post(check_target))
        .route("/targets/{tid}/delete", post(delete_target))
        .route("/users", get(users).post(create_user))
        .route("/users/{uid}/delete", post(delete_user))
        .route("/audit", get(audit))
        .route("/tokens", get(tokens).post(create_token))
        .route("/tokens/{tid}/revoke", post(revoke_token))
        .route("/subscription", get(subscription))
        .route("/contact", get(contact).post(send_contact))
        .route("/end", post(end))
}

pub fn routes() -> Router<App> {
    Router::new().nest("/portal", pages()).nest("/console/access/{sid}", pages())
}

/// A customer's account as the caller works in it: its own, or one entered by access session.
pub struct Portal {
    api: Api,
    me: Me,
    customer: AccountRow,
    branding: Branding,
    /// `/portal` or `/console/access/{sid}`.
    base: String,
    banner: Option<Banner>,
    held: Vec<String>,
}

#[derive(Deserialize)]
struct OpenSession {
    id: String,
    account_id: String,
    expires_at: String,
}

#[derive(Deserialize)]
struct Held {
    permissions: Vec<String>,
}

impl FromRequestParts<App> for Portal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let api = Api::from_request_parts(parts, app).await?;
        let me: Me = api.get("/me").await.map_err(|p| refused(p, "/login"))?;
        // Under `/console/access/{sid}` the tab's access session is a path parameter.
        let params = axum::extract::RawPathParams::from_request_parts(parts, app).await.ok();
        let delegated = params.and_then(|p| p.iter().find(|(k, _)| *k == "sid").map(|(_, v)| v.to_owned()));
        let (api, customer, base, banner) = match delegated {
            Some(sid) => {
                let open: List<OpenSession> = api.get("/access-sessions").await.map_err(|p| refused(p, "/console"))?;
                let Some(session) = open.items.into_iter().find(|s| s.id == sid) else {
                    let ended = Problem { status: 403, code: "access_session_required".into(), ..Problem::default() };
                    return Err(refused(ended, "/console"));
                };
                let api = api.inside(&sid);
                let customer: AccountRow =
                    api.get(&format!("/accounts/{}", session.account_id)).await.map_err(|p| refused(p, "/console"))?;
                let base = format!("/console/access/{sid}");
                let banner = Banner {
                    customer: customer.name.clone(),
                    actor: me.user.email.clone(),
                    msp: me.account.name.clone(),
                    expires_at: when(&session.expires_at),
                    exit: format!("{base}/end"),
                };
                (api, customer, base, Some(banner))
            }
            None if me.account.kind == "customer" => (api, me.account.clone(), "/portal".to_owned(), None),
            None => return Err(Redirect::to("/console").into_response()),
        };
        let held: Held = api
            .get(&format!("/accounts/{}/permissions", customer.id))
            .await
            .unwrap_or(Held { permissions: Vec::new() });
        let branding = api.get(&format!("/accounts/{}/branding/effective", customer.id)).await.unwrap_or_default();
        Ok(Portal { api, me, customer, branding, base, banner, held: held.permissions })
    }
}

impl Portal {
    fn can(&self, permission: &str) -> bool {
        self.held.iter().any(|p| p == permission)
    }

    fn frame(&self, section: &str, title: &str, flash: Flash) -> Frame {
        let mut nav = vec![("", "Dashboard", "dashboard", true)];
        let resources = self.can("resource.read");
        nav.push(("/certificates", "Certificates", "certificates", resources));
        nav.push(("/collections", "Collections", "collections", resources));
        nav.push(("/agents", "Agents", "agents", resources));
        nav.push(("/targets", "Monitored domains", "targets", resources));
        nav.push(("/users", "Users", "users", self.can("user.read")));
        nav.push(("/audit", "Audit trail", "audit", self.can("audit.read")));
        nav.push(("/tokens", "API tokens", "tokens", self.can("api_token.manage")));
        nav.push(("/subscription", "Subscription", "subscription", self.can("subscription.read")));
        nav.push(("/contact", "Contact", "contact", self.can("support.create")));
        Frame {
            title: title.to_owned(),
            branding: self.branding.clone(),
            nav: nav
                .into_iter()
                .filter(|(_, _, _, shown)| *shown)
                .map(|(href, label, key, _)| NavItem {
                    href: format!("{}{href}", self.base),
                    label,
                    active: key == section,
                })
                .collect(),
            user_email: self.me.user.email.clone(),
            account_name: self.customer.name.clone(),
            csrf: self.me.csrf_token.clone(),
            banner: self.banner.clone(),
            notice: flash.notice,
            error: flash.error,
        }
    }

    fn act(&self, form: &Form) -> Api {
        self.api.clone().with_csrf(field(form, "csrf_token"))
    }

    /// A path of this customer in the API.
    fn path(&self, rest: &str) -> String {
        format!("/accounts/{}{rest}", self.customer.id)
    }

    fn here(&self, rest: &str) -> String {
        format!("{}{rest}", self.base)
    }

    /// All of one of this customer's lists.
    async fn list<T: serde::de::DeserializeOwned>(&self, rest: &str) -> Result<Vec<T>, Problem> {
        self.api.all(&self.path(rest)).await
    }

    /// The first `limit` of one of this customer's lists (newest first where the list is).
    async fn first<T: serde::de::DeserializeOwned>(&self, rest: &str, limit: u32) -> Result<Vec<T>, Problem> {
        let sep = if rest.contains('?') { '&' } else { '?' };
        self.api.get::<List<T>>(&self.path(&format!("{rest}{sep}limit={limit}"))).await.map(|l| l.items)
    }
}

fn id(params: &Params, key: &str) -> String {
    super::encode(params.get(key).map(String::as_str).unwrap_or_default())
}

// --- dashboard ---

#[derive(Template)]
#[template(path = "portal/dashboard.html")]
struct DashboardPage {
    frame: Frame,
    base: String,
    items: Vec<ExpiringRow>,
    readable: bool,
}

async fn dashboard(p: Portal) -> Response {
    let readable = p.can("expiry.read");
    let items = if readable { p.first::<ExpiringRow>("/expiring", 50).await.unwrap_or_default() } else { vec![] };
    page(&DashboardPage {
        frame: p.frame("dashboard", "Dashboard", Flash::default()),
        base: p.base.clone(),
        items,
        readable,
    })
}

// --- collections ---

#[derive(Deserialize, Clone)]
struct CollectionRow {
    id: String,
    name: String,
    created_at: String,
}

#[derive(Template)]
#[template(path = "portal/collections.html")]
struct CollectionsPage {
    frame: Frame,
    collections: Vec<CollectionRow>,
    can_write: bool,
    action: String,
}

async fn collections(p: Portal, Query(params): Query<Params>) -> Response {
    collections_page(p, Flash::done(&params)).await
}

async fn collections_page(p: Portal, flash: Flash) -> Response {
    match p.list::<CollectionRow>("/collections").await {
        Ok(collections) => page(&CollectionsPage {
            frame: p.frame("collections", "Collections", flash),
            collections,
            can_write: p.can("resource.write"),
            action: p.here("/collections"),
        }),
        Err(problem) => refused(problem, &p.base),
    }
}

async fn create_collection(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    match p.act(&form).send::<Value>(Method::POST, &p.path("/collections"), json!({"name": field(&form, "name")})).await
    {
        Ok(_) => done(&p.here("/collections"), "created"),
        Err(problem) => collections_page(p, Flash::error(&problem)).await,
    }
}

// --- certificates ---

#[derive(Deserialize, Clone)]
struct CertificateRow {
    id: String,
    subject: String,
    sans: Vec<String>,
    issuer: String,
    not_after: String,
}

#[derive(Template)]
#[template(path = "portal/certificates.html")]
struct CertificatesPage {
    frame: Frame,
    certificates: Vec<CertificateRow>,
    collections: Vec<CollectionRow>,
    can_write: bool,
    base: String,
    q: String,
    next: Option<String>,
}

async fn certificates(p: Portal, Query(params): Query<Params>) -> Response {
    certificates_page(p, Flash::done(&params), &params).await
}

async fn certificates_page(p: Portal, flash: Flash, params: &Params) -> Response {
    let q = params.get("q").cloned().unwrap_or_default();
    let cursor = params.get("cursor").cloned().unwrap_or_default();
    let path = p.path(&format!("/certificates{}", query(&[("q", &q), ("cursor", &cursor), ("limit", "100")])));
    let listed: List<CertificateRow> = match p.api.get(&path).await {
        Ok(l) => l,
        Err(problem) => return refused(problem, &p.base),
    };
    let collections = p.list::<CollectionRow>("/collections").await.unwrap_or_default();
    let next =
        listed.next_cursor.map(|n| format!("{}{}", p.here("/certificates"), query(&[("q", &q), ("cursor", &n)])));
    page(&CertificatesPage {
        frame: p.frame("certificates", "Certificates", flash),
        certificates: listed.items,
        collections,
        can_write: p.can("resource.write"),
        base: p.base.clone(),
        q,
        next,
    })
}

async fn import(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let path = p.path(&format!("/collections/{}/certificates", super::encode(field(&form, "collection_id"))));
    let pem = form.get("pem").cloned().unwrap_or_default().into_bytes();
    let reply = p.act(&form).call(Method::POST, &path, Some(("application/x-pem-file", pem))).await;
    if reply.status.is_success() {
        return done(&p.here("/certificates"), "imported");
    }
    let problem: Problem = serde_json::from_value(reply.body).unwrap_or_default();
    certificates_page(p, Flash::error(&problem), &Params::new()).await
}

async fn delete_certificate(p: Portal, Path(params): Path<Params>, axum::Form(form): axum::Form<Form>) -> Response {
    let path = p.path(&format!("/certificates/{}", id(&params, "cid")));
    match p.act(&form).call(Method::DELETE, &path, None).await {
        r if r.status.is_success() => done(&p.here("/certificates"), "deleted"),
        r => {
            certificates_page(p, Flash::error(&serde_json::from_value(r.body).unwrap_or_default()), &Params::new())
                .await
        }
    }
}

// --- agents ---

#[derive(Deserialize, Clone)]
struct AgentRow {
    id: String,
    name: String,
    #[serde(default)]
    last_seen_at: Option<String>,
    #[serde(default)]
    last_hostname: Option<String>,
    certificate_count: i64,
    #[serde(default)]
    revoked_at: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/agents.html")]
struct AgentsPage {
    frame: Frame,
    agents: Vec<AgentRow>,
    collections: Vec<CollectionRow>,
    can_write: bool,
    base: String,
    token: Option<String>,
}

async fn agents(p: Portal, Query(params): Query<Params>) -> Response {
    agents_page(p, Flash::done(&params), None).await
}

async fn agents_page(p: Portal, flash: Flash, token: Option<String>) -> Response {
    let agents = match p.list::<AgentRow>("/agents").await {
        Ok(a) => a,
        Err(problem) => return refused(problem, &p.base),
    };
    let collections = p.list::<CollectionRow>("/collections").await.unwrap_or_default();
    page(&AgentsPage {
        frame: p.frame("agents", "Agents", flash),
        agents,
        collections,
        can_write: p.can("resource.write"),
        base: p.base.clone(),
        token,
    })
}

async fn register_agent(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({"name": field(&form, "name"), "collection_id": field(&form, "collection_id")});
    match p.act(&form).send::<Value>(Method::POST, &p.path("/agents"), body).await {
        Ok(created) => {
            let token = created["token"].as_str().map(str::to_owned);
            agents_page(p, Flash { notice: Some("Agent registered.".into()), error: None }, token).await
        }
        Err(problem) => agents_page(p, Flash::error(&problem), None).await,
    }
}

async fn revoke_agent(p: Portal, Path(params): Path<Params>, axum::Form(form): axum::Form<Form>) -> Response {
    let path = p.path(&format!("/agents/{}", id(&params, "aid")));
    match p.act(&form).call(Method::DELETE, &path, None).await {
        r if r.status.is_success() => done(&p.here("/agents"), "revoked"),
        r => agents_page(p, Flash::error(&serde_json::from_value(r.body).unwrap_or_default()), None).await,
    }
}

// --- monitored domains ---

#[derive(Deserialize, Clone)]
struct TargetRow {
    id: String,
    hostname: String,
    port: u16,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    days_remaining: Option<i64>,
    #[serde(default)]
    not_after: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    checked_at: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/targets.html")]
struct TargetsPage {
    frame: Frame,
    targets: Vec<TargetRow>,
    collections: Vec<CollectionRow>,
    can_write: bool,
    base: String,
}

async fn targets(p: Portal, Query(params): Query<Params>) -> Response {
    targets_page(p, Flash::done(&params)).await
}

async fn targets_page(p: Portal, flash: Flash) -> Response {
    let targets = match p.list::<TargetRow>("/targets").await {
        Ok(t) => t,
        Err(problem) => return refused(problem, &p.base),
    };
    let collections = p.list::<CollectionRow>("/collections").await.unwrap_or_default();
    page(&TargetsPage {
        frame: p.frame("targets", "Monitored domains", flash),
        targets,
        collections,
        can_write: p.can("resource.write"),
        base: p.base.clone(),
    })
}

async fn create_target(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let port = field(&form, "port").parse::<i64>().map(Value::from).unwrap_or_else(|_| optional(&form, "port"));
    let body =
        json!({"hostname": field(&form, "hostname"), "port": port, "collection_id": field(&form, "collection_id")});
    match p.act(&form).send::<Value>(Method::POST, &p.path("/targets"), body).await {
        Ok(_) => done(&p.here("/targets"), "created"),
        Err(problem) => targets_page(p, Flash::error(&problem)).await,
    }
}

async fn check_target(p: Portal, Path(params): Path<Params>, axum::Form(form): axum::Form<Form>) -> Response {
    let path = p.path(&format!("/targets/{}/check", id(&params, "tid")));
    match p.act(&form).send::<Value>(Method::POST, &path, json!({})).await {
        Ok(_) => done(&p.here("/targets"), "checked"),
        Err(problem) => targets_page(p, Flash::error(&problem)).await,
    }
}

async fn delete_target(p: Portal, Path(params): Path<Params>, axum::Form(form): axum::Form<Form>) -> Response {
    let path = p.path(&format!("/targets/{}", id(&params, "tid")));
    match p.act(&form).call(Method::DELETE, &path, None).await {
        r if r.status.is_success() => done(&p.here("/targets"), "deleted"),
        r => targets_page(p, Flash::error(&serde_json::from_value(r.body).unwrap_or_default())).await,
    }
}

// --- users ---

#[derive(Template)]
#[template(path = "portal/users.html")]
struct UsersPage {
    frame: Frame,
    users: Vec<UserRow>,
    roles: Vec<&'static str>,
    can_manage: bool,
    base: String,
    activation_url: Option<String>,
}

async fn users(p: Portal, Query(params): Query<Params>) -> Response {
    users_page(p, Flash::done(&params), None).await
}

async fn users_page(p: Portal, flash: Flash, activation_url: Option<String>) -> Response {
    match p.list::<UserRow>("/users").await {
        Ok(users) => page(&UsersPage {
            frame: p.frame("users", "Users", flash),
            users,
            roles: super::partner::roles(&p.customer.kind),
            can_manage: p.can("user.manage"),
            base: p.base.clone(),
            activation_url,
        }),
        Err(problem) => refused(problem, &p.base),
    }
}

async fn create_user(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({"email": field(&form, "email"), "name": field(&form, "name"), "role": field(&form, "role")});
    match p.act(&form).send::<Value>(Method::POST, &p.path("/users"), body).await {
        Ok(created) => {
            let link = created["activation_url"].as_str().map(str::to_owned);
            users_page(p, Flash { notice: Some("User created.".into()), error: None }, link).await
        }
        Err(problem) => users_page(p, Flash::error(&problem), None).await,
    }
}

async fn delete_user(p: Portal, Path(params): Path<Params>, axum::Form(form): axum::Form<Form>) -> Response {
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

async fn audit(p: Portal) -> Response {
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

async fn tokens(p: Portal, Query(params): Query<Params>) -> Response {
    tokens_page(p, Flash::done(&params), None).await
}

async fn tokens_page(p: Portal, flash: Flash, token: Option<String>) -> Response {
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

async fn create_token(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
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

async fn revoke_token(p: Portal, Path(params): Path<Params>, axum::Form(form): axum::Form<Form>) -> Response {
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

async fn subscription(p: Portal) -> Response {
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

async fn contact(p: Portal, Query(params): Query<Params>) -> Response {
    contact_page(p, Flash::done(&params)).await
}

async fn contact_page(p: Portal, flash: Flash) -> Response {
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

async fn send_contact(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({"subject": field(&form, "subject"), "message": form.get("message").cloned().unwrap_or_default()});
    match p.act(&form).send::<Value>(Method::POST, &p.path("/support-requests"), body).await {
        Ok(_) => done(&p.here("/contact"), "sent"),
        Err(problem) => contact_page(p, Flash::error(&problem)).await,
    }
}

// --- leaving a customer ---

#[derive(Template)]
#[template(path = "portal/ended.html")]
struct EndedPage {
    frame: Frame,
    customer: String,
}

/// Ends this tab's access session; the tab stops acting in the customer.
async fn end(p: Portal, axum::Form(form): axum::Form<Form>) -> Response {
    let Some(sid) = p.api.access.clone() else { return Redirect::to("/portal").into_response() };
    let reply = p.act(&form).call(Method::DELETE, &format!("/access-sessions/{}", super::encode(&sid)), None).await;
    if !reply.status.is_success() {
        return refused(serde_json::from_value(reply.body).unwrap_or_default(), "/console");
    }
    let frame = Frame {
        title: "Access ended".into(),
        user_email: p.me.user.email.clone(),
        account_name: p.me.account.name.clone(),
        ..Frame::default()
    };
    page(&EndedPage { frame, customer: p.customer.name.clone() })
}
