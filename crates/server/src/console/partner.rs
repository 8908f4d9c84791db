//! The partner console (`/console`) for platform, partner and MSP users: accounts and their users,
//! entering a customer in a new tab, staff assignments, co-branding, the audit trail, the support
//! inbox, usage and the expiry overview.

use super::{
    Account, Api, Branding, Flash, Form, Frame, List, Me, NavItem, Problem, User, done, field, optional, page, query,
    refused,
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
use tenantry_domain::{AccountKind, Permission, Role};

type Params = HashMap<String, String>;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/console", get(accounts))
        .route("/console/accounts/new", get(new_account).post(create_account))
        .route("/console/accounts/{id}", get(account))
        .route("/console/accounts/{id}/users", post(create_user))
        .route("/console/accounts/{id}/users/{uid}", post(update_user))
        .route("/console/accounts/{id}/users/{uid}/delete", post(delete_user))
        .route("/console/accounts/{id}/access", post(open_access))
        .route("/console/accounts/{id}/deletion", post(schedule_deletion))
        .route("/console/accounts/{id}/restore", post(restore))
        .route("/console/branding", get(branding).post(save_branding))
        .route("/console/staff", get(staff))
        .route("/console/staff/{uid}/assign", post(assign))
        .route("/console/staff/{uid}/unassign/{cid}", post(unassign))
        .route("/console/audit", get(audit))
        .route("/console/support", get(support))
        .route("/console/support/{rid}", post(support_status))
        .route("/console/usage", get(usage))
        .route("/console/expiring", get(expiring))
}

/// A signed-in partner-side user on a console page.
pub struct Console {
    pub api: Api,
    pub me: Me,
    pub branding: Branding,
    /// Where the service is reached.
    pub public_url: String,
}

impl FromRequestParts<App> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let api = Api::from_request_parts(parts, app).await?;
        let me: Me = match api.get("/me").await {
            Ok(me) => me,
            Err(problem) => return Err(refused(problem, "/login")),
        };
        if me.account.kind == AccountKind::Customer {
            return Err(Redirect::to("/portal").into_response());
        }
        let branding = api.get(&format!("/accounts/{}/branding/effective", me.account.id)).await.unwrap_or_default();
        Ok(Console { api, me, branding, public_url: app.public_url.clone() })
    }
}

impl Console {
    /// The frame of a page in `section`.
    pub fn frame(&self, section: &str, title: &str, flash: Flash) -> Frame {
        let me = &self.me;
        let mut nav = vec![("/console", "Accounts", "accounts")];
        if me.can(Permission::ExpiryRead) {
            nav.push(("/console/expiring", "Expiring", "expiring"));
        }
        if me.can(Permission::UserRead) {
            nav.push(("", "Our users", "users"));
        }
        if me.account.kind == AccountKind::Msp && me.can(Permission::StaffRead) {
            nav.push(("/console/staff", "Staff", "staff"));
        }
        if me.can(Permission::AuditRead) {
            nav.push(("/console/audit", "Audit trail", "audit"));
        }
        if me.can(Permission::SupportRead) {
            nav.push(("/console/support", "Support inbox", "support"));
        }
        if me.can(Permission::UsageRead) {
            nav.push(("/console/usage", "Usage", "usage"));
        }
        if me.can(Permission::BrandingRead) {
            nav.push(("/console/branding", "Branding", "branding"));
        }
        let own = format!("/console/accounts/{}", me.account.id);
        Frame {
            title: title.to_owned(),
            branding: self.branding.clone(),
            nav: nav
                .into_iter()
                .map(|(href, label, key)| NavItem {
                    href: if href.is_empty() { own.clone() } else { href.to_owned() },
                    label,
                    active: key == section,
                })
                .collect(),
            user_email: me.user.email.to_string(),
            account_name: me.account.name.clone(),
            csrf: me.csrf_token.clone(),
            banner: None,
            notice: flash.notice,
            error: flash.error,
        }
    }

    /// The permissions this user holds on account `id`, by the API's own rule.
    pub async fn held(&self, id: &str) -> Vec<Permission> {
        #[derive(Deserialize)]
        struct Held {
            permissions: Vec<Permission>,
        }
        let path = format!("/accounts/{}/permissions", super::encode(id));
        self.api.get::<Held>(&path).await.map(|h| h.permissions).unwrap_or_default()
    }

    /// The API as this user, acting with the CSRF token the form sent.
    pub fn act(&self, form: &Form) -> Api {
        self.api.clone().with_csrf(field(form, "csrf_token"))
    }
}

// --- accounts ---

#[derive(Template)]
#[template(path = "partner/accounts.html")]
struct AccountsPage {
    frame: Frame,
    accounts: Vec<Account>,
    q: String,
    kind: String,
    /// The kinds that can be below the user's account.
    kinds: Vec<&'static str>,
    next: Option<String>,
    can_create: bool,
}

async fn accounts(c: Console, Query(params): Query<Params>) -> Response {
    let q = params.get("q").cloned().unwrap_or_default();
    let kind = params.get("kind").cloned().unwrap_or_default();
    let cursor = params.get("cursor").cloned().unwrap_or_default();
    let path = format!("/accounts{}", query(&[("q", &q), ("kind", &kind), ("cursor", &cursor), ("limit", "25")]));
    let list: List<Account> = match c.api.get(&path).await {
        Ok(list) => list,
        Err(problem) => return refused(problem, "/console"),
    };
    let next = list.next_cursor.map(|n| format!("/console{}", query(&[("q", &q), ("kind", &kind), ("cursor", &n)])));
    page(&AccountsPage {
        frame: c.frame("accounts", "Accounts", Flash::done(&params)),
        accounts: list.items,
        can_create: c.me.can(Permission::AccountCreate),
        kinds: creatable(&c.me),
        q,
        kind,
        next,
    })
}

#[derive(Template)]
#[template(path = "partner/new_account.html")]
struct NewAccountPage {
    frame: Frame,
    kinds: Vec<&'static str>,
    /// The name typed before a refusal.
    name: String,
}

/// The kinds this user's account may have below itself, by the domain's rule.
fn creatable(me: &Me) -> Vec<&'static str> {
    let parent = me.account.kind;
    AccountKind::ALL.into_iter().filter(|k| parent.may_parent(*k)).map(AccountKind::as_str).collect()
}

async fn new_account(c: Console) -> Response {
    let frame = c.frame("accounts", "New account", Flash::default());
    page(&NewAccountPage { frame, kinds: creatable(&c.me), name: String::new() })
}

#[derive(Deserialize)]
struct Created {
    account: Account,
    #[serde(default)]
    activation_url: Option<String>,
}

async fn create_account(c: Console, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({
        "kind": field(&form, "kind"),
        "name": field(&form, "name"),
        "contact_email": optional(&form, "contact_email"),
        "admin": {"email": field(&form, "admin_email"), "name": field(&form, "admin_name")},
    });
    match c.act(&form).send::<Created>(Method::POST, "/accounts", body).await {
        Ok(created) => {
            let flash = Flash { notice: Some(format!("Created {}.", created.account.name)), error: None };
            account_page(c, &created.account.id.to_string(), flash, created.activation_url).await
        }
        Err(problem) => {
            let frame = c.frame("accounts", "New account", Flash::error(&problem));
            page(&NewAccountPage { frame, kinds: creatable(&c.me), name: field(&form, "name").to_owned() })
        }
    }
}

#[derive(Deserialize, Clone)]
struct AccessSessionRow {
    actor: ActorRow,
    #[serde(default)]
    reason: Option<String>,
    started_at: String,
    expires_at: String,
    status: String,
}

#[derive(Deserialize, Clone)]
struct ActorRow {
    email: String,
}

#[derive(Template)]
#[template(path = "partner/account.html")]
struct AccountPage {
    frame: Frame,
    account: Account,
    users: Vec<User>,
    can_read_users: bool,
    can_manage_users: bool,
    can_enter: bool,
    can_manage_account: bool,
    roles: Vec<&'static str>,
    sessions: Vec<AccessSessionRow>,
    activation_url: Option<String>,
    /// The caller signed in with single sign-on: it confirms with its provider (this link).
    confirm_with_sso: Option<String>,
    /// It just did.
    confirmed_with_sso: bool,
    /// The caller has a second factor: the step-up asks for its code.
    ask_code: bool,
    can_manage_security: bool,
}

/// The roles an account of `kind` may give, by the domain's rule.
pub fn roles(kind: AccountKind) -> Vec<&'static str> {
    Role::ALL.into_iter().filter(|r| r.fits(kind)).map(Role::as_str).collect()
}

async fn account(c: Console, Path(id): Path<String>, Query(params): Query<Params>) -> Response {
    let confirmed = params.get("confirmed").is_some_and(|v| v == "sso");
    account_page_with(c, &id, Flash::done(&params), None, confirmed).await
}

async fn account_page(c: Console, id: &str, flash: Flash, activation_url: Option<String>) -> Response {
    account_page_with(c, id, flash, activation_url, false).await
}

async fn account_page_with(
    c: Console,
    id: &str,
    flash: Flash,
    activation_url: Option<String>,
    confirmed_with_sso: bool,
) -> Response {
    let account: Account = match c.api.get(&format!("/accounts/{}", super::encode(id))).await {
        Ok(a) => a,
        Err(problem) => return refused(problem, "/console"),
    };
    let held = c.held(&account.id.to_string()).await;
    let can = |p: Permission| held.contains(&p);
    // Only what the caller may read is asked for: a refusal would land in both trails.
    let users: Result<List<User>, Problem> = if can(Permission::UserRead) {
        c.api.get(&format!("/accounts/{}/users?limit=200", account.id)).await
    } else {
        Err(Problem::default())
    };
    let sessions: List<AccessSessionRow> = if account.kind == AccountKind::Customer {
        c.api
            .get(&format!("/accounts/{}/access-sessions?limit=20", account.id))
            .await
            .unwrap_or(List { items: vec![], next_cursor: None })
    } else {
        List { items: vec![], next_cursor: None }
    };
    let own = account.id == c.me.account.id;
    let (can_manage_users, can_enter, can_manage_account) =
        (can(Permission::UserManage), can(Permission::AccessEnter), can(Permission::AccountDelete));
    let title = account.name.clone();
    page(&AccountPage {
        frame: c.frame(if own { "users" } else { "accounts" }, &title, flash),
        roles: roles(account.kind),
        can_read_users: can(Permission::UserRead) && users.is_ok(),
        users: users.map(|l| l.items).unwrap_or_default(),
        can_manage_users,
        can_enter,
        can_manage_account,
        sessions: sessions.items,
        activation_url,
        confirm_with_sso: (c.me.sign_in_method.as_deref() == Some("sso")).then(|| {
            let back = format!("/console/accounts/{}?confirmed=sso", account.id);
            format!("/auth/sso/start{}", super::query(&[("purpose", "reauth"), ("return_to", &back)]))
        }),
        confirmed_with_sso,
        ask_code: c.me.user.mfa_enabled,
        can_manage_security: can(Permission::SsoManage),
        account,
    })
}

async fn create_user(c: Console, Path(id): Path<String>, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({"email": field(&form, "email"), "name": field(&form, "name"), "role": field(&form, "role")});
    let path = format!("/accounts/{}/users", super::encode(&id));
    match c.act(&form).send::<Value>(Method::POST, &path, body).await {
        Ok(created) => {
            let flash = Flash { notice: Some("User created.".into()), error: None };
            let link = created["activation_url"].as_str().map(str::to_owned);
            account_page(c, &id, flash, link).await
        }
        Err(problem) => account_page(c, &id, Flash::error(&problem), None).await,
    }
}

async fn update_user(
    c: Console,
    Path((id, uid)): Path<(String, String)>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let mut body = serde_json::Map::new();
    for key in ["role", "status", "name"] {
        if !field(&form, key).is_empty() {
            body.insert(key.into(), Value::String(field(&form, key).to_owned()));
        }
    }
    let path = format!("/accounts/{}/users/{}", super::encode(&id), super::encode(&uid));
    match c.act(&form).send::<Value>(Method::PATCH, &path, Value::Object(body)).await {
        Ok(_) => done(&format!("/console/accounts/{id}"), "saved"),
        Err(problem) => account_page(c, &id, Flash::error(&problem), None).await,
    }
}

async fn delete_user(
    c: Console,
    Path((id, uid)): Path<(String, String)>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let path = format!("/accounts/{}/users/{}", super::encode(&id), super::encode(&uid));
    match c.act(&form).send::<Value>(Method::DELETE, &path, json!({})).await {
        Ok(_) => done(&format!("/console/accounts/{id}"), "deleted"),
        Err(problem) => account_page(c, &id, Flash::error(&problem), None).await,
    }
}

#[derive(Deserialize)]
struct Opened {
    id: String,
}

/// Opens an access session with the actor's own password; the form targets a new tab, which lands
/// in the customer's console.
async fn open_access(c: Console, Path(id): Path<String>, axum::Form(form): axum::Form<Form>) -> Response {
    let mut body = json!({"reason": optional(&form, "reason")});
    super::confirmation(&form, &mut body);
    let path = format!("/accounts/{}/access-sessions", super::encode(&id));
    match c.act(&form).send::<Opened>(Method::POST, &path, body).await {
        Ok(opened) => Redirect::to(&format!("/console/access/{}", opened.id)).into_response(),
        // This answer opens in the new tab: say what went wrong, and where to go on.
        Err(problem) => {
            let message = match problem.code.as_str() {
                "invalid_credentials" => "Your password was not accepted. Close this tab and try again.".to_owned(),
                "mfa_required" => {
                    "Give your authenticator code with your password. Close this tab and try again.".to_owned()
                }
                "reauth_required" => {
                    "Confirm it is you first: with your password, or with single sign-on. Close this tab and try again."
                        .to_owned()
                }
                _ => problem.message(),
            };
            let status = axum::http::StatusCode::from_u16(problem.status).unwrap_or(axum::http::StatusCode::FORBIDDEN);
            let back = format!("/console/accounts/{id}");
            super::page_with_status(status, &super::ErrorPage { title: "Not opened".into(), message, back })
        }
    }
}

async fn schedule_deletion(c: Console, Path(id): Path<String>, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({"password": form.get("password").cloned().unwrap_or_default()});
    let path = format!("/accounts/{}", super::encode(&id));
    match c.act(&form).send::<Value>(Method::DELETE, &path, body).await {
        Ok(_) => done(&format!("/console/accounts/{id}"), "scheduled"),
        Err(problem) => account_page(c, &id, Flash::error(&problem), None).await,
    }
}

async fn restore(c: Console, Path(id): Path<String>, axum::Form(form): axum::Form<Form>) -> Response {
    let path = format!("/accounts/{}/restore", super::encode(&id));
    match c.act(&form).send::<Value>(Method::POST, &path, json!({})).await {
        Ok(_) => done(&format!("/console/accounts/{id}"), "restored"),
        Err(problem) => account_page(c, &id, Flash::error(&problem), None).await,
    }
}

// --- branding ---

#[derive(Template)]
#[template(path = "partner/branding.html")]
struct BrandingPage {
    frame: Frame,
    fields: Branding,
    preview: Branding,
    can_manage: bool,
    account_id: String,
}

async fn branding(c: Console, Query(params): Query<Params>) -> Response {
    branding_page(c, Flash::done(&params), None).await
}

async fn branding_page(c: Console, flash: Flash, fields: Option<Branding>) -> Response {
    let own = c.me.account.id;
    let stored: Branding = match c.api.get(&format!("/accounts/{own}/branding")).await {
        Ok(b) => b,
        Err(problem) => return refused(problem, "/console"),
    };
    let preview = c.branding.clone();
    page(&BrandingPage {
        frame: c.frame("branding", "Branding", flash),
        fields: fields.unwrap_or(stored),
        preview,
        can_manage: c.me.can(Permission::BrandingManage),
        account_id: own.to_string(),
    })
}

async fn save_branding(c: Console, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({
        "display_name": optional(&form, "display_name"),
        "support_email": optional(&form, "support_email"),
        "support_phone": optional(&form, "support_phone"),
        "homepage_url": optional(&form, "homepage_url"),
    });
    let path = format!("/accounts/{}/branding", c.me.account.id);
    match c.act(&form).send::<Value>(Method::PUT, &path, body).await {
        Ok(_) => done("/console/branding", "saved"),
        Err(problem) => {
            let typed = Branding {
                display_name: Some(field(&form, "display_name").to_owned()),
                support_email: Some(field(&form, "support_email").to_owned()),
                support_phone: Some(field(&form, "support_phone").to_owned()),
                homepage_url: Some(field(&form, "homepage_url").to_owned()),
                ..Branding::default()
            };
            branding_page(c, Flash::error(&problem), Some(typed)).await
        }
    }
}

// --- staff ---

#[derive(Deserialize, Clone)]
struct AssignmentRow {
    account_id: String,
    account_name: String,
}

struct StaffMember {
    user: User,
    assignments: Vec<AssignmentRow>,
}

#[derive(Template)]
#[template(path = "partner/staff.html")]
struct StaffPage {
    frame: Frame,
    staff: Vec<StaffMember>,
    customers: Vec<Account>,
    can_assign: bool,
}

async fn staff(c: Console, Query(params): Query<Params>) -> Response {
    staff_page(c, Flash::done(&params)).await
}

async fn staff_page(c: Console, flash: Flash) -> Response {
    let own = c.me.account.id;
    let users: Vec<User> = match c.api.all(&format!("/accounts/{own}/users")).await {
        Ok(l) => l,
        Err(problem) => return refused(problem, "/console"),
    };
    let mut staff = Vec::new();
    for user in users.into_iter().filter(|u| u.role == Role::MspStaff) {
        if c.me.user.role == Role::MspStaff && user.id != c.me.user.id {
            continue;
        }
        let path = format!("/accounts/{own}/users/{}/assignments", user.id);
        let assignments: Vec<AssignmentRow> = c.api.all(&path).await.unwrap_or_default();
        staff.push(StaffMember { user, assignments });
    }
    let customers: Vec<Account> = c.api.all("/accounts?kind=customer").await.unwrap_or_default();
    page(&StaffPage {
        frame: c.frame("staff", "Staff and assignments", flash),
        staff,
        customers,
        can_assign: c.me.can(Permission::StaffAssign),
    })
}

async fn assign(c: Console, Path(uid): Path<String>, axum::Form(form): axum::Form<Form>) -> Response {
    let path = format!(
        "/accounts/{}/users/{}/assignments/{}",
        c.me.account.id,
        super::encode(&uid),
        super::encode(field(&form, "customer_id"))
    );
    match c.act(&form).call(Method::PUT, &path, None).await {
        r if r.status.is_success() => done("/console/staff", "assigned"),
        r => staff_page(c, Flash::error(&serde_json::from_value(r.body).unwrap_or_default())).await,
    }
}

async fn unassign(
    c: Console,
    Path((uid, cid)): Path<(String, String)>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    let path =
        format!("/accounts/{}/users/{}/assignments/{}", c.me.account.id, super::encode(&uid), super::encode(&cid));
    match c.act(&form).call(Method::DELETE, &path, None).await {
        r if r.status.is_success() => done("/console/staff", "unassigned"),
        r => staff_page(c, Flash::error(&serde_json::from_value(r.body).unwrap_or_default())).await,
    }
}

// --- audit ---

#[derive(Deserialize, Clone)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub action: String,
    pub outcome: String,
    pub actor: AuditActorRow,
    #[serde(default)]
    pub access_session_id: Option<String>,
    pub target: AuditTargetRow,
}

#[derive(Deserialize, Clone)]
pub struct AuditActorRow {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub account_name: Option<String>,
}

#[derive(Deserialize, Clone)]
pub struct AuditTargetRow {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Template)]
#[template(path = "partner/audit.html")]
struct AuditPage {
    frame: Frame,
    events: Vec<AuditRow>,
    account: String,
    action: String,
    next: Option<String>,
    export: String,
    accounts: Vec<Account>,
}

async fn audit(c: Console, Query(params): Query<Params>) -> Response {
    let account =
        params.get("account").cloned().filter(|a| !a.is_empty()).unwrap_or_else(|| c.me.account.id.to_string());
    let action = params.get("action").cloned().unwrap_or_default();
    let cursor = params.get("cursor").cloned().unwrap_or_default();
    let path = format!(
        "/accounts/{}/audit{}",
        super::encode(&account),
        query(&[("action", &action), ("cursor", &cursor), ("limit", "50")])
    );
    let events: List<AuditRow> = match c.api.get(&path).await {
        Ok(l) => l,
        Err(problem) => return refused(problem, "/console"),
    };
    let next = events
        .next_cursor
        .map(|n| format!("/console/audit{}", query(&[("account", &account), ("action", &action), ("cursor", &n)])));
    let accounts: Vec<Account> = c.api.all("/accounts?kind=customer").await.unwrap_or_default();
    page(&AuditPage {
        frame: c.frame("audit", "Audit trail", Flash::default()),
        events: events.items,
        export: format!("/api/v1/accounts/{}/audit/export", super::encode(&account)),
        account,
        action,
        next,
        accounts,
    })
}

// --- support inbox ---

#[derive(Deserialize, Clone)]
pub struct SupportRow {
    pub id: String,
    pub account_name: String,
    pub created_by_email: String,
    pub subject: String,
    pub message: String,
    pub status: String,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "partner/support.html")]
struct SupportPage {
    frame: Frame,
    requests: Vec<SupportRow>,
    can_manage: bool,
}

async fn support(c: Console, Query(params): Query<Params>) -> Response {
    support_page(c, Flash::done(&params)).await
}

async fn support_page(c: Console, flash: Flash) -> Response {
    let path = format!("/accounts/{}/support-requests?limit=200", c.me.account.id);
    let requests: List<SupportRow> = match c.api.get(&path).await {
        Ok(l) => l,
        Err(problem) => return refused(problem, "/console"),
    };
    page(&SupportPage {
        frame: c.frame("support", "Support inbox", flash),
        requests: requests.items,
        can_manage: c.me.can(Permission::SupportManage),
    })
}

async fn support_status(c: Console, Path(rid): Path<String>, axum::Form(form): axum::Form<Form>) -> Response {
    let status = field(&form, "status").to_owned();
    let path = format!("/accounts/{}/support-requests/{}", c.me.account.id, super::encode(&rid));
    match c.act(&form).send::<Value>(Method::PATCH, &path, json!({"status": status})).await {
        Ok(_) => done("/console/support", if status == "closed" { "closed" } else { "reopened" }),
        Err(problem) => support_page(c, Flash::error(&problem)).await,
    }
}

// --- usage and expiry ---

#[derive(Deserialize, Clone)]
struct UsageRow {
    account_id: String,
    account_name: String,
    users: i64,
    certificates: i64,
    agents: i64,
    targets: i64,
}

#[derive(Template)]
#[template(path = "partner/usage.html")]
struct UsagePage {
    frame: Frame,
    rows: Vec<UsageRow>,
    csv: String,
    next: Option<String>,
}

async fn usage(c: Console, Query(params): Query<Params>) -> Response {
    let own = c.me.account.id;
    let cursor = params.get("cursor").cloned().unwrap_or_default();
    let rows: List<UsageRow> =
        match c.api.get(&format!("/accounts/{own}/usage{}", query(&[("cursor", &cursor), ("limit", "100")]))).await {
            Ok(l) => l,
            Err(problem) => return refused(problem, "/console"),
        };
    page(&UsagePage {
        frame: c.frame("usage", "Usage", Flash::default()),
        rows: rows.items,
        csv: format!("/api/v1/accounts/{own}/usage?format=csv"),
        next: rows.next_cursor.map(|n| format!("/console/usage{}", query(&[("cursor", &n)]))),
    })
}

#[derive(Deserialize, Clone)]
pub struct ExpiringRow {
    pub kind: String,
    pub account_name: String,
    pub name: String,
    pub not_after: String,
    pub days_remaining: i64,
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "partner/expiring.html")]
struct ExpiringPage {
    frame: Frame,
    items: Vec<ExpiringRow>,
    within: String,
}

async fn expiring(c: Console, Query(params): Query<Params>) -> Response {
    let within = params.get("within_days").cloned().unwrap_or_default();
    let path =
        format!("/accounts/{}/expiring{}", c.me.account.id, query(&[("within_days", &within), ("limit", "200")]));
    let items: List<ExpiringRow> = match c.api.get(&path).await {
        Ok(l) => l,
        Err(problem) => return refused(problem, "/console/expiring"),
    };
    page(&ExpiringPage { frame: c.frame("expiring", "Expiring soon", Flash::default()), items: items.items, within })
}
