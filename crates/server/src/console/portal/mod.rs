//! The customer portal: what a customer's users see at `/portal`, and what a partner-side user
//! sees inside an access session at `/console/access/{id}` — the same pages, with a banner that
//! says which customer, which actor, from which MSP, until when, and a way out.

use super::partner::ExpiringRow;
use super::{
    Account, Api, Banner, Branding, Flash, Form, Frame, List, Me, NavItem, Problem, field, page, refused, when,
};
use crate::app::App;
use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::collections::HashMap;
use tenantry_domain::{AccountKind, Permission};

mod inventory;
mod people;

use inventory::*;
use people::*;

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
    customer: Account,
    branding: Branding,
    /// `/portal` or `/console/access/{sid}`.
    base: String,
    banner: Option<Banner>,
    held: Vec<Permission>,
}

#[derive(Deserialize)]
struct OpenSession {
    id: String,
    account_id: String,
    expires_at: String,
}

#[derive(Deserialize)]
struct Held {
    permissions: Vec<Permission>,
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
                let customer: Account =
                    api.get(&format!("/accounts/{}", session.account_id)).await.map_err(|p| refused(p, "/console"))?;
                let base = format!("/console/access/{sid}");
                let banner = Banner {
                    customer: customer.name.clone(),
                    actor: me.user.email.to_string(),
                    msp: me.account.name.clone(),
                    expires_at: when(&session.expires_at),
                    exit: format!("{base}/end"),
                };
                (api, customer, base, Some(banner))
            }
            None if me.account.kind == AccountKind::Customer => (api, me.account.clone(), "/portal".to_owned(), None),
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
    fn can(&self, permission: Permission) -> bool {
        self.held.contains(&permission)
    }

    fn frame(&self, section: &str, title: &str, flash: Flash) -> Frame {
        let mut nav = vec![("", "Dashboard", "dashboard", true)];
        let resources = self.can(Permission::ResourceRead);
        nav.push(("/certificates", "Certificates", "certificates", resources));
        nav.push(("/collections", "Collections", "collections", resources));
        nav.push(("/agents", "Agents", "agents", resources));
        nav.push(("/targets", "Monitored domains", "targets", resources));
        nav.push(("/users", "Users", "users", self.can(Permission::UserRead)));
        nav.push(("/audit", "Audit trail", "audit", self.can(Permission::AuditRead)));
        nav.push(("/tokens", "API tokens", "tokens", self.can(Permission::ApiTokenManage)));
        nav.push(("/subscription", "Subscription", "subscription", self.can(Permission::SubscriptionRead)));
        nav.push(("/contact", "Contact", "contact", self.can(Permission::SupportCreate)));
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
            user_email: self.me.user.email.to_string(),
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
    crate::console::encode(params.get(key).map(String::as_str).unwrap_or_default())
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
    let readable = p.can(Permission::ExpiryRead);
    let items = if readable { p.first::<ExpiringRow>("/expiring", 50).await.unwrap_or_default() } else { vec![] };
    page(&DashboardPage {
        frame: p.frame("dashboard", "Dashboard", Flash::default()),
        base: p.base.clone(),
        items,
        readable,
    })
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
    let reply =
        p.act(&form).call(Method::DELETE, &format!("/access-sessions/{}", crate::console::encode(&sid)), None).await;
    if !reply.status.is_success() {
        return refused(serde_json::from_value(reply.body).unwrap_or_default(), "/console");
    }
    let frame = Frame {
        title: "Access ended".into(),
        user_email: p.me.user.email.to_string(),
        account_name: p.me.account.name.clone(),
        ..Frame::default()
    };
    page(&EndedPage { frame, customer: p.customer.name.clone() })
}
