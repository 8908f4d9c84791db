//! Sign-in pages: `/login` with the operator's branding, `/login/{slug}` with an MSP's, both with
//! a way to single sign-on (by email, or by the page's account) and the reason an earlier one
//! failed; sign-out, and setting a first password from an activation link. A sign-in form is protected by a
//! double-submit token of its own, since no sign-in exists yet to carry one.

use super::{Api, Branding, Form, field, page, page_with_status};
use crate::app::App;
use crate::principal::cookie;
use crate::secrets::{constant_time_eq, random_token};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use tenantry_domain::AccountKind;

/// The cookie that pairs a sign-in form with the browser that loaded it.
const LOGIN_COOKIE: &str = "tenantry_login";

/// The sign-in form's cookie: over https a `__Host-` one, which no other host can set.
fn login_cookie(app: &App) -> &'static str {
    if app.secure_cookies() { "__Host-tenantry_login" } else { LOGIN_COOKIE }
}

pub fn routes() -> Router<App> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/login/sso", get(sso_redirect))
        .route("/login/{slug}", get(branded_login_page).post(branded_login))
        .route("/logout", axum::routing::post(logout))
        .route("/activate", get(activate_page).post(activate))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    branding: Branding,
    action: String,
    form_token: String,
    email: String,
    error: Option<String>,
    /// Whether the user must give its authenticator's code (the password was right).
    ask_code: bool,
    /// The page's account, when it signs in with single sign-on.
    sso_account: Option<String>,
}

/// The sign-in form, with a fresh form token in a cookie and a hidden field.
fn login_form(
    app: &App,
    status: StatusCode,
    branding: Branding,
    action: String,
    email: String,
    error: Option<String>,
) -> Response {
    let form_token = random_token().unwrap_or_default();
    let ask_code = status == StatusCode::UNAUTHORIZED && error.as_deref() == Some(ASK_CODE);
    let sso_account = action
        .strip_prefix("/login/")
        .filter(|_| branding.sso_enabled == Some(true))
        .map(|slug| super::query(&[("account", slug)]));
    let page = LoginPage { branding, action, form_token: form_token.clone(), email, error, ask_code, sso_account };
    let mut response = page_with_status(status, &page);
    let secure = if app.secure_cookies() { "; Secure" } else { "" };
    let cookie = format!("{}={form_token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600{secure}", login_cookie(app));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The branding of the login page `/login/{slug}`, or the operator's for plain `/login`.
async fn login_branding(api: &Api, slug: Option<&str>) -> Option<Branding> {
    match slug {
        Some(slug) => api.get(&format!("/login-branding/{}", super::encode(slug))).await.ok(),
        None => Some(Branding::default()),
    }
}

async fn login_page(State(app): State<App>, api: Api, Query(params): Query<crate::routes::Params>) -> Response {
    let branding = login_branding(&api, None).await.unwrap_or_default();
    let error = params.get("error").map(|reason| sso_failure(reason).to_owned());
    login_form(&app, StatusCode::OK, branding, "/login".into(), String::new(), error)
}

/// What the login page says when a single sign-on came back with `reason`.
fn sso_failure(reason: &str) -> &'static str {
    match reason {
        "sso_unavailable" => "Single sign-on is not set up for this address. Sign in with your password.",
        "sso_state_invalid" => "The single sign-on took too long, or was started in another browser. Please try again.",
        "sso_unknown_user" => {
            "Your provider signed you in, but no user here has that email. Ask your administrator for access."
        }
        "sso_provisioning_refused" => "No user could be created for you here. Ask your administrator.",
        "sso_provider_unreachable" => "Your sign-in provider could not be reached. Try again later.",
        "sso_not_same_user" | "sso_stale_authentication" => {
            "The confirmation must be yours: sign in again at your provider as yourself."
        }
        "sso_signed_out" => "Your sign-in has ended. Please sign in again.",
        "sso_too_many" => "Too many sign-ins were started from your network. Wait a few minutes.",
        "sso_bad_request" => "That sign-in link is not valid.",
        "user_disabled" => "Your user is disabled. Ask your administrator.",
        "user_expired" => "Your access has expired. Ask your administrator.",
        "account_suspended" => "This account is suspended.",
        "network_not_allowed" => "Your account does not allow sign-ins from this network.",
        _ => "Single sign-on failed: your provider's answer was not accepted. Try again, or ask your administrator.",
    }
}

#[derive(Template)]
#[template(path = "sso_redirect.html")]
struct SsoRedirect {
    branding: Branding,
    to: String,
}

/// `/login/sso?email=…` (or `?account=…`): on to the service's single sign-on start. A page that
/// moves on by itself, since a form may only lead to this origin.
async fn sso_redirect(Query(params): Query<crate::routes::Params>) -> Response {
    let pairs: Vec<(&str, &str)> = ["email", "account", "return_to"]
        .into_iter()
        .filter_map(|k| params.get(k).filter(|v| !v.is_empty()).map(|v| (k, v.as_str())))
        .collect();
    let to = format!("/auth/sso/start{}", super::query(&pairs));
    page(&SsoRedirect { branding: Branding::default(), to })
}

async fn branded_login_page(State(app): State<App>, api: Api, Path(slug): Path<String>) -> Response {
    match login_branding(&api, Some(&slug)).await {
        Some(branding) => login_form(&app, StatusCode::OK, branding, format!("/login/{slug}"), String::new(), None),
        None => {
            super::refused(super::Problem { status: 404, code: "not_found".into(), ..Default::default() }, "/login")
        }
    }
}

async fn login(State(app): State<App>, api: Api, headers: HeaderMap, axum::Form(form): axum::Form<Form>) -> Response {
    sign_in(&app, api, headers, form, None).await
}

async fn branded_login(
    State(app): State<App>,
    api: Api,
    headers: HeaderMap,
    Path(slug): Path<String>,
    axum::Form(form): axum::Form<Form>,
) -> Response {
    sign_in(&app, api, headers, form, Some(slug)).await
}

#[derive(Deserialize)]
struct SignedIn {
    account: super::Account,
}

/// What the form says when the password was right and the second factor is missing.
const ASK_CODE: &str = "Enter the code from your authenticator app, or a recovery code.";

async fn sign_in(app: &App, api: Api, headers: HeaderMap, form: Form, slug: Option<String>) -> Response {
    let branding = login_branding(&api, slug.as_deref()).await.unwrap_or_default();
    let action = slug.as_deref().map(|s| format!("/login/{s}")).unwrap_or_else(|| "/login".into());
    let email = field(&form, "email").to_owned();
    let expected = cookie(&headers, login_cookie(app)).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), field(&form, "form_token").as_bytes()) {
        let error = Some("The sign-in form expired. Please try again.".to_owned());
        return login_form(app, StatusCode::FORBIDDEN, branding, action, email, error);
    }
    let mut body = json!({"email": email, "password": field(&form, "password")});
    super::confirmation(&form, &mut body);
    let code = field(&form, "code").trim();
    let reply = api.call(Method::POST, "/auth/login", Some(("application/json", body.to_string().into_bytes()))).await;
    if !reply.status.is_success() {
        let problem: super::Problem = serde_json::from_value(reply.body).unwrap_or_default();
        let error = match problem.code.as_str() {
            "invalid_credentials" if code.is_empty() => "Wrong email or password.".to_owned(),
            "invalid_credentials" => "Wrong email, password or code.".to_owned(),
            "mfa_required" => ASK_CODE.to_owned(),
            "network_not_allowed" => "Your account does not allow sign-ins from this network.".to_owned(),
            "rate_limited" => "Too many failed sign-ins. Wait a while and try again.".to_owned(),
            "validation_failed" => "Enter your email address and password.".to_owned(),
            _ => problem.detail,
        };
        return login_form(app, reply.status, branding, action, email, Some(error));
    }
    let home = match serde_json::from_value::<SignedIn>(reply.body) {
        Ok(s) if s.account.kind == AccountKind::Customer => "/portal",
        _ => "/console",
    };
    let mut response = Redirect::to(home).into_response();
    for value in reply.headers.get_all(header::SET_COOKIE) {
        response.headers_mut().append(header::SET_COOKIE, value.clone());
    }
    response
}

async fn logout(api: Api, axum::Form(form): axum::Form<Form>) -> Response {
    let reply = api.with_csrf(field(&form, "csrf_token")).call(Method::POST, "/auth/logout", None).await;
    if !reply.status.is_success() {
        return super::refused(serde_json::from_value(reply.body).unwrap_or_default(), "/console");
    }
    let mut response = Redirect::to("/login").into_response();
    for value in reply.headers.get_all(header::SET_COOKIE) {
        response.headers_mut().append(header::SET_COOKIE, value.clone());
    }
    response
}

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage {
    branding: Branding,
    error: Option<String>,
    done: bool,
    /// The token sent with a refused attempt, so that the next one can go again (the page's
    /// script fills it from the link's fragment the first time).
    token: String,
}

async fn activate_page() -> Response {
    page(&ActivatePage { branding: Branding::default(), error: None, done: false, token: String::new() })
}

async fn activate(api: Api, axum::Form(form): axum::Form<Form>) -> Response {
    let token = field(&form, "token").to_owned();
    let body = json!({"token": token, "password": form.get("password").cloned().unwrap_or_default()});
    match api.send::<serde_json::Value>(Method::POST, "/auth/activate", body).await {
        Ok(_) => page(&ActivatePage { branding: Branding::default(), error: None, done: true, token: String::new() }),
        Err(problem) => page_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ActivatePage { branding: Branding::default(), error: Some(problem.message()), done: false, token },
        ),
    }
}
