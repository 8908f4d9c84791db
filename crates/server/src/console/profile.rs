//! The profile page (`/profile`), for every signed-in user: its sign-ins (end one, or all but
//! this one), its password, and its second factor (set it up with a QR code, turn it off) — all
//! through the API.

use super::{Api, Branding, Flash, Form, Frame, Me, Problem, done, field, page, refused};
use crate::app::App;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/profile", get(profile))
        .route("/profile/sessions/{sid}/end", post(end_session))
        .route("/profile/sessions/end-others", post(end_others))
        .route("/profile/mfa/start", post(start_mfa))
        .route("/profile/mfa/confirm", post(confirm_mfa))
        .route("/profile/mfa/off", post(mfa_off))
        .route("/profile/password", post(change_password))
}

/// A signed-in user on its profile page.
struct Profile {
    api: Api,
    me: Me,
    branding: Branding,
}

impl FromRequestParts<App> for Profile {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let api = Api::from_request_parts(parts, app).await?;
        let me: Me = api.get("/me").await.map_err(|p| refused(p, "/login"))?;
        let branding = api.get(&format!("/accounts/{}/branding/effective", me.account.id)).await.unwrap_or_default();
        Ok(Self { api, me, branding })
    }
}

impl Profile {
    fn frame(&self, flash: Flash) -> Frame {
        Frame {
            title: "Your profile".into(),
            branding: self.branding.clone(),
            nav: Vec::new(),
            user_email: self.me.user.email.to_string(),
            account_name: self.me.account.name.clone(),
            csrf: self.me.csrf_token.clone(),
            banner: None,
            notice: flash.notice,
            error: flash.error,
        }
    }

    /// The API with the form's CSRF token.
    fn acting(&self, form: &Form) -> Api {
        self.api.clone().with_csrf(field(form, "csrf_token"))
    }
}

/// One sign-in, as the page lists it.
#[derive(Deserialize)]
struct SignInRow {
    id: String,
    created_at: String,
    last_seen_at: String,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    current: bool,
}

/// A pending enrollment, to scan and confirm.
#[derive(Deserialize)]
struct Enrollment {
    secret: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    frame: Frame,
    home: &'static str,
    sessions: Vec<SignInRow>,
    mfa_enabled: bool,
    enrollment: Option<Enrollment>,
    recovery_codes: Vec<String>,
}

fn home(me: &Me) -> &'static str {
    if me.account.kind.is_partner_side() { "/console" } else { "/portal" }
}

async fn render(p: Profile, flash: Flash, enrollment: Option<Enrollment>, recovery_codes: Vec<String>) -> Response {
    let sessions = match p.api.get::<super::List<SignInRow>>("/auth/sessions").await {
        Ok(list) => list.items,
        Err(problem) => return refused(problem, "/"),
    };
    page(&ProfilePage {
        home: home(&p.me),
        mfa_enabled: p.me.user.mfa_enabled,
        frame: p.frame(flash),
        sessions,
        enrollment,
        recovery_codes,
    })
}

async fn profile(p: Profile, Query(params): Query<HashMap<String, String>>) -> Response {
    render(p, Flash::done(&params), None, Vec::new()).await
}

/// Shows `problem` on the page instead of acting.
async fn failed(p: Profile, problem: Problem) -> Response {
    // Signed out; a wrong password (also 401) is said on the page.
    if problem.code == "unauthenticated" {
        return refused(problem, "/login");
    }
    render(p, Flash::error(&problem), None, Vec::new()).await
}

async fn end_session(p: Profile, Path(sid): Path<String>, axum::Form(form): axum::Form<Form>) -> Response {
    let path = format!("/auth/sessions/{}", super::encode(&sid));
    match p.acting(&form).call(Method::DELETE, &path, None).await.into_result::<Value>() {
        Ok(_) => done("/profile", "ended"),
        Err(problem) => failed(p, problem).await,
    }
}

async fn end_others(p: Profile, axum::Form(form): axum::Form<Form>) -> Response {
    match p.acting(&form).call(Method::DELETE, "/auth/sessions", None).await.into_result::<Value>() {
        Ok(_) => done("/profile", "ended"),
        Err(problem) => failed(p, problem).await,
    }
}

/// The inline step-up a form carries: the password, and the code when one is given.
fn confirmation(form: &Form) -> Value {
    let mut body = json!({});
    super::confirmation(form, &mut body);
    body
}

async fn change_password(p: Profile, axum::Form(form): axum::Form<Form>) -> Response {
    let mut body =
        json!({ "current_password": field(&form, "password"), "new_password": field(&form, "new_password") });
    let code = confirmation(&form);
    for key in ["totp_code", "recovery_code"] {
        if let Some(value) = code.get(key) {
            body[key] = value.clone();
        }
    }
    match p.acting(&form).send::<Value>(Method::POST, "/auth/password", body).await {
        Ok(_) => done("/profile", "password_changed"),
        Err(problem) => failed(p, problem).await,
    }
}

async fn start_mfa(p: Profile, axum::Form(form): axum::Form<Form>) -> Response {
    match p.acting(&form).send::<Enrollment>(Method::POST, "/auth/mfa/totp", confirmation(&form)).await {
        Ok(enrollment) => render(p, Flash::default(), Some(enrollment), Vec::new()).await,
        Err(problem) => failed(p, problem).await,
    }
}

#[derive(Deserialize)]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

async fn confirm_mfa(p: Profile, axum::Form(form): axum::Form<Form>) -> Response {
    let body = json!({ "code": field(&form, "code").trim() });
    match p.acting(&form).send::<RecoveryCodes>(Method::POST, "/auth/mfa/totp/confirm", body).await {
        Ok(codes) => {
            let mut p = p;
            p.me.user.mfa_enabled = true;
            let flash = Flash { notice: Some("Two-factor authentication is on.".into()), error: None };
            render(p, flash, None, codes.recovery_codes).await
        }
        Err(problem) => failed(p, problem).await,
    }
}

async fn mfa_off(p: Profile, axum::Form(form): axum::Form<Form>) -> Response {
    let body = serde_json::to_vec(&confirmation(&form)).unwrap_or_default();
    let reply = p.acting(&form).call(Method::DELETE, "/auth/mfa/totp", Some(("application/json", body))).await;
    match reply.into_result::<Value>() {
        Ok(_) => done("/profile", "mfa_off"),
        Err(problem) => failed(p, problem).await,
    }
}
