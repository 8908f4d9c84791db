//! The console: server-rendered pages for partners, MSPs and customers. Every page reads, and
//! every form acts, through the JSON API itself — the same handler, authorization and audit event
//! as an API client gets — by dispatching an in-process request with the browser's own sign-in.
//! It holds no rule of its own about who may do what.

mod auth;
mod partner;
mod portal;
mod profile;
mod security;

use crate::app::App;
use crate::principal::cookie;
use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::net::SocketAddr;
use tenantry_domain::{Account, Permission, User};
use tower::ServiceExt;

/// The Content-Security-Policy of console pages: only this origin's styles, scripts and images;
/// forms post only here; no framing.
pub const CONSOLE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                               connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The most pages of 500 a console page reads of one list.
const MAX_PAGES: usize = 100;

/// The JSON API as a service the console calls in-process.
#[derive(Clone)]
pub struct ApiService(pub Router);

/// The console's routes; `api` is the JSON API with its state.
pub fn routes(api: Router) -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console/static/app.css", get(|| async { asset("text/css", include_str!("../../static/app.css")) }))
        .route(
            "/console/static/app.js",
            get(|| async { asset("text/javascript", include_str!("../../static/app.js")) }),
        )
        .merge(auth::routes())
        .merge(partner::routes())
        .merge(portal::routes())
        .merge(profile::routes())
        .merge(security::routes())
        .layer(axum::Extension(ApiService(api)))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// An error from the API, as the console shows it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub errors: Vec<FieldProblem>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl Problem {
    /// One line for people: the detail and each field's complaint.
    pub fn message(&self) -> String {
        if self.errors.is_empty() {
            return self.detail.clone();
        }
        let fields: Vec<String> =
            self.errors.iter().map(|e| format!("{} {}", capitalized(&e.field.replace('_', " ")), e.message)).collect();
        format!("{}.", fields.join("; "))
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// An answer of the API: status, headers, body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    fn into_result<T: DeserializeOwned>(self) -> Result<T, Problem> {
        if self.status.is_success() {
            serde_json::from_value(if self.body.is_null() { Value::Object(Default::default()) } else { self.body })
                .map_err(|e| Problem {
                    status: 500,
                    code: "internal_error".into(),
                    detail: e.to_string(),
                    errors: vec![],
                })
        } else {
            Err(serde_json::from_value(self.body).unwrap_or_default())
        }
    }
}

/// The browser's sign-in, speaking to the API in-process.
#[derive(Clone)]
pub struct Api {
    service: Router,
    cookie: Option<String>,
    /// The CSRF token a form sent, repeated to the API as its header.
    pub csrf: Option<String>,
    /// The access session of a console tab inside a customer.
    pub access: Option<String>,
    peer: Option<SocketAddr>,
    client: Option<crate::client::ClientIp>,
    /// The browser's `User-Agent`, so that its sign-ins list it.
    user_agent: Option<HeaderValue>,
    cookie_name: &'static str,
}

impl FromRequestParts<App> for Api {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let service = parts
            .extensions
            .get::<ApiService>()
            .map(|s| s.0.clone())
            .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        Ok(Api {
            service,
            cookie: cookie(&parts.headers, app.session_cookie_name()).map(str::to_owned),
            csrf: None,
            access: None,
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
            client: crate::principal::client_ip(parts),
            user_agent: parts.headers.get(header::USER_AGENT).cloned(),
            cookie_name: app.session_cookie_name(),
        })
    }
}

impl Api {
    /// Sends one request to the API; `body` with its content type.
    pub async fn call(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Reply {
        let mut request = Request::builder().method(method).uri(format!("/api/v1{path}"));
        if let Some(c) = &self.cookie {
            request = request.header(header::COOKIE, format!("{}={c}", self.cookie_name));
        }
        if let Some(t) = &self.csrf {
            request = request.header(crate::principal::CSRF_HEADER, t);
        }
        if let Some(a) = &self.access {
            request = request.header(crate::principal::ACCESS_SESSION_HEADER, a);
        }
        if let Some(ua) = &self.user_agent {
            request = request.header(header::USER_AGENT, ua);
        }
        let (content_type, bytes) = match body {
            Some((content_type, bytes)) => (Some(content_type), bytes),
            None => (None, Vec::new()),
        };
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let mut request = match request.body(Body::from(bytes)) {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        if let Some(client) = self.client {
            request.extensions_mut().insert(client);
        }
        let response = match self.service.clone().oneshot(request).await {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 8 * 1024 * 1024).await.unwrap_or_default();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Problem> {
        self.call(Method::GET, path, None).await.into_result()
    }

    /// Every item of a list, following its cursor page by page (`path` has no `limit` or `cursor`).
    pub async fn all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, Problem> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        for _ in 0..MAX_PAGES {
            let page_path = match &cursor {
                Some(c) => format!("{path}{sep}limit=500&cursor={}", encode(c)),
                None => format!("{path}{sep}limit=500"),
            };
            let page: List<T> = self.get(&page_path).await?;
            items.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(items)
    }

    /// A JSON request (`POST`, `PUT`, `PATCH`, `DELETE`).
    pub async fn send<T: DeserializeOwned>(&self, method: Method, path: &str, body: Value) -> Result<T, Problem> {
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        self.call(method, path, Some(("application/json", bytes))).await.into_result()
    }

    /// The same sign-in acting with a form's CSRF token.
    pub fn with_csrf(mut self, csrf: &str) -> Self {
        self.csrf = Some(csrf.to_owned());
        self
    }

    /// The same sign-in inside access session `id`.
    pub fn inside(mut self, id: &str) -> Self {
        self.access = Some(id.to_owned());
        self
    }
}

fn failed(e: impl std::fmt::Display) -> Reply {
    let body = serde_json::json!({"status": 500, "code": "internal_error", "detail": e.to_string()});
    Reply { status: StatusCode::INTERNAL_SERVER_ERROR, headers: HeaderMap::new(), body }
}

/// `GET /me`: who is signed in.
#[derive(Clone, Debug, Deserialize)]
pub struct Me {
    pub user: User,
    pub account: Account,
    pub csrf_token: String,
    pub permissions: Vec<Permission>,
    /// `sso` when the user signed in through its account's provider.
    #[serde(default)]
    pub sign_in_method: Option<String>,
}

impl Me {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// The contract's list shape.
#[derive(Clone, Debug, Deserialize)]
pub struct List<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// What the header and footer of a page show.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Branding {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub support_email: Option<String>,
    #[serde(default)]
    pub support_phone: Option<String>,
    #[serde(default)]
    pub homepage_url: Option<String>,
    #[serde(default)]
    pub logo_light_url: Option<String>,
    #[serde(default)]
    pub logo_dark_url: Option<String>,
    /// A login page's: whether its account signs in with single sign-on.
    #[serde(default)]
    pub sso_enabled: Option<bool>,
}

impl Branding {
    pub fn name(&self) -> &str {
        self.display_name.as_deref().unwrap_or("Tenantry")
    }

    /// A logo URL as a path on this origin (the API answers absolute URLs).
    pub fn light(&self) -> Option<String> {
        self.logo_light_url.as_deref().map(local_path)
    }

    pub fn dark(&self) -> Option<String> {
        self.logo_dark_url.as_deref().or(self.logo_light_url.as_deref()).map(local_path)
    }
}

fn local_path(url: &str) -> String {
    match url.find("/api/") {
        Some(at) => url[at..].to_owned(),
        None => url.to_owned(),
    }
}

/// Renders a template as a console page.
pub fn page(template: &impl Template) -> Response {
    page_with_status(StatusCode::OK, template)
}

pub fn page_with_status(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
                (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONSOLE_CSP)),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A page that says what went wrong, in the console's frame.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    pub back: String,
}

/// The answer to an API refusal on a page: sign in again, or a page saying why.
pub fn refused(problem: Problem, back: &str) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::UNAUTHORIZED {
        return Redirect::to("/login").into_response();
    }
    let title = match problem.code.as_str() {
        "not_found" => "Not found".to_owned(),
        "access_session_required" => "This access session has ended".to_owned(),
        _ => status.canonical_reason().unwrap_or("Refused").to_owned(),
    };
    let message = match problem.code.as_str() {
        "not_found" => "There is nothing here, or it is not yours to see.".to_owned(),
        "access_session_required" => "This tab does not act in the customer's account: its access session has ended, \
                                      or was opened from another sign-in (an access session belongs to the sign-in \
                                      that opened it). Close it and access the account again from the partner console."
            .to_owned(),
        _ => problem.message(),
    };
    page_with_status(status, &ErrorPage { title, message, back: back.to_owned() })
}

/// A console address that names no page (an unknown path, or a form's address opened again after
/// a reload) answers a page that says so, not the API's JSON.
pub fn not_a_page(path: &str, method: &Method, status: StatusCode) -> Option<Response> {
    let console = ["/console", "/portal", "/login", "/activate", "/logout"].iter().any(|p| path.starts_with(p));
    if !console {
        return None;
    }
    let back = match path.rsplit_once('/') {
        Some((parent, _)) if !parent.is_empty() => parent.to_owned(),
        _ => "/console".to_owned(),
    };
    let (title, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED if method == Method::GET => (
            "Nothing to show here",
            "This address is where a form was sent; it has no page of its own. Go back to the page the form was on.",
        ),
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
            ("Not found", "There is nothing here, or it is not yours to see.")
        }
        _ => return None,
    };
    let page = ErrorPage { title: title.into(), message: message.into(), back };
    Some(page_with_status(StatusCode::NOT_FOUND, &page))
}

/// A form's fields, with its CSRF token.
pub type Form = std::collections::HashMap<String, String>;

/// The value of a form field, trimmed; empty when absent.
pub fn field<'a>(form: &'a Form, name: &str) -> &'a str {
    form.get(name).map(|v| v.trim()).unwrap_or_default()
}

/// A form field, or JSON null when empty.
pub fn optional(form: &Form, name: &str) -> Value {
    match field(form, name) {
        "" => Value::Null,
        v => Value::String(v.to_owned()),
    }
}

/// Percent-encodes one path segment or query value.
pub fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)]).map(|s| s.trim_start_matches('=').to_owned()).unwrap_or_default()
}

/// A date-time as the console shows it: `2026-11-28 14:03 UTC`.
pub fn when(raw: &str) -> String {
    match time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339) {
        Ok(t) => when_at(&t),
        Err(_) => raw.to_owned(),
    }
}

/// A time, to the minute, in UTC.
pub fn when_at(t: &time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

/// One link of the navigation.
#[derive(Clone, Debug)]
pub struct NavItem {
    pub href: String,
    pub label: &'static str,
    pub active: bool,
}

/// Inside a customer: who acts where, until when, and the way out.
#[derive(Clone, Debug)]
pub struct Banner {
    pub customer: String,
    pub actor: String,
    pub msp: String,
    pub expires_at: String,
    pub exit: String,
}

/// What every console page shows around its content.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    pub title: String,
    pub branding: Branding,
    pub nav: Vec<NavItem>,
    pub user_email: String,
    pub account_name: String,
    pub csrf: String,
    pub banner: Option<Banner>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// A page's outcome to show: what was just done, or why it was refused.
#[derive(Clone, Debug, Default)]
pub struct Flash {
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Flash {
    pub fn error(problem: &Problem) -> Self {
        Self { notice: None, error: Some(problem.message()) }
    }

    /// From a `?done=` query after a redirect: a fixed message per known action, nothing else.
    pub fn done(params: &std::collections::HashMap<String, String>) -> Self {
        let notice = params.get("done").and_then(|d| DONE.iter().find(|(k, _)| k == d)).map(|(_, m)| (*m).to_owned());
        Self { notice, error: None }
    }
}

/// The messages a `?done=` may name.
const DONE: &[(&str, &str)] = &[
    ("created", "Created."),
    ("saved", "Saved."),
    ("password_changed", "Password changed. Your other sign-ins have ended."),
    ("deleted", "Deleted."),
    ("assigned", "Assigned."),
    ("unassigned", "Assignment removed."),
    ("imported", "Certificates imported."),
    ("checked", "Checked."),
    ("revoked", "Revoked."),
    ("sent", "Your message was sent."),
    ("closed", "Request closed."),
    ("reopened", "Request reopened."),
    ("restored", "Account restored."),
    ("scheduled", "Deletion scheduled."),
    ("ended", "Signed out there."),
    ("mfa_off", "Two-factor authentication is off."),
];

/// Builds a query string from pairs, leaving out empty values.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs.iter().copied().filter(|(_, v)| !v.is_empty()).collect();
    match serde_urlencoded::to_string(kept) {
        Ok(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

/// Puts a step-up form's inline password and second factor into `body`: six digits are the
/// authenticator's code, anything else a recovery code; an empty password is left out, so that
/// a recent step-up (with single sign-on) counts instead.
pub fn confirmation(form: &Form, body: &mut Value) {
    let password = field(form, "password");
    if !password.is_empty() {
        body["password"] = Value::String(password.to_owned());
    }
    let code: String = field(form, "code").chars().filter(|c| !c.is_whitespace()).collect();
    if !code.is_empty() {
        let key =
            if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) { "totp_code" } else { "recovery_code" };
        body[key] = Value::String(code);
    }
}

/// A redirect after a form, with what was done.
pub fn done(to: &str, what: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}done={what}")).into_response()
}
