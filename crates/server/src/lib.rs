//! Tenantry's HTTP edge: the JSON API's routes, sign-in sessions, CSRF, rate limits and security
//! headers. It reaches data only through the store's repository API and knows no SQL.

pub mod app;
pub mod body;
pub mod bootstrap;
pub mod checkpoint;
pub mod client;
pub mod console;
pub mod credentials;
pub mod csv;
pub mod delivery;
pub mod error;
pub mod granted;
pub mod mail;
pub mod mfa;
pub mod oidc;
pub mod openapi;
pub mod passwords;
pub mod principal;
pub mod routes;
pub mod secrets;
pub mod verified;

pub use app::{App, Settings};
pub use error::ApiError;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use client::ClientIp;
use futures_util::FutureExt;
use routes::{
    access, accounts, agents, audit, auth, branding, certificates, collections, expiring, ops, signins, sso, staff,
    subscription, support, targets, tokens, totp, users, webhooks,
};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing::Instrument;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest a request may take, reading its body included.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Largest request body the JSON API reads.
pub const MAX_BODY: usize = 1024 * 1024;

/// The JSON API's routes under `/api/v1`, each registered together with its OpenAPI entry.
fn api_routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::reauth))
        .routes(routes!(auth::activate))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::me))
        .routes(routes!(signins::list, signins::end_others))
        .routes(routes!(signins::end))
        .routes(routes!(signins::end_for_user))
        .routes(routes!(totp::begin, totp::remove))
        .routes(routes!(totp::confirm))
        .routes(routes!(totp::renew_codes))
        .routes(routes!(totp::reset))
        .routes(routes!(sso::get, sso::put))
        .routes(routes!(sso::test))
        .routes(routes!(accounts::list, accounts::create))
        .routes(routes!(accounts::get, accounts::patch, accounts::delete))
        .routes(routes!(accounts::restore))
        .routes(routes!(accounts::permissions))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::patch, users::delete))
        .routes(routes!(audit::list))
        .routes(routes!(audit::export))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::public_key))
        .routes(routes!(staff::list))
        .routes(routes!(staff::assign, staff::unassign))
        .routes(routes!(access::open, access::list))
        .routes(routes!(access::mine))
        .routes(routes!(access::end))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::get, tokens::revoke))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::test))
        .routes(routes!(collections::list, collections::create))
        .routes(routes!(collections::get, collections::update, collections::delete))
        .routes(routes!(certificates::import))
        .routes(routes!(certificates::list))
        .routes(routes!(certificates::get, certificates::delete))
        .routes(routes!(subscription::get, subscription::put))
        .routes(routes!(subscription::usage))
        .routes(routes!(support::create, support::list))
        .routes(routes!(support::update))
        .routes(routes!(branding::get, branding::put))
        .routes(routes!(branding::put_logo, branding::delete_logo))
        .routes(routes!(branding::effective))
        .routes(routes!(branding::effective_logo))
        .routes(routes!(branding::login_branding))
        .routes(routes!(branding::login_logo))
        .routes(routes!(agents::register, agents::list))
        .routes(routes!(agents::get, agents::revoke))
        .routes(routes!(agents::report))
        .routes(routes!(targets::create, targets::list))
        .routes(routes!(targets::get, targets::update, targets::delete))
        .routes(routes!(targets::check))
        .routes(routes!(expiring::list))
}

/// The API's routes and the OpenAPI document generated from them.
fn api() -> (Router<App>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()).nest("/api/v1", api_routes()).split_for_parts()
}

/// The OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi_json() -> String {
    let mut document = serde_json::to_value(api().1).unwrap_or_default();
    openapi::validation::describe(&mut document);
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// Every route of the service.
pub fn router(app: App) -> Router {
    let (api, _) = api();
    let document = Arc::new(openapi_json());
    // The console speaks to the same API, in-process, through the same edge.
    let api_service = Router::new()
        .merge(api.clone())
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(app.clone(), edge))
        .with_state(app.clone());
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/auth/sso/start", get(routes::oidc::start))
        .route("/auth/sso/callback", get(routes::oidc::callback))
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let document = document.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], document.as_str().to_owned()) }
            }),
        )
        .merge(api)
        .merge(console::routes(api_service))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(app.clone(), edge))
        .with_state(app)
}

/// Runs the service on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}

/// Whether `response` is of the media type `prefix`.
fn is_a(response: &Response, prefix: &[u8]) -> bool {
    response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(prefix))
}

/// Around every request: security headers, metrics, and a problem+json body for the framework's
/// own refusals (unknown method, oversized body, unreadable path or query).
async fn edge(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::now_v7().to_string();
    // Resolved once; the console's in-process calls arrive with it already set.
    if request.extensions().get::<ClientIp>().is_none()
        && let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied()
    {
        let ip = ClientIp::resolve(peer.ip(), request.headers(), &app.settings.trusted_proxies);
        request.extensions_mut().insert(ip);
    }
    let (path, method) = (request.uri().path().to_owned(), request.method().clone());
    let span =
        tracing::info_span!("request", id = %request_id, method = %request.method(), path = %request.uri().path());
    let run = std::panic::AssertUnwindSafe(next.run(request).instrument(span.clone()));
    // A request (its body included) has a minute: a trickled body cannot hold a grant open.
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, run.catch_unwind()).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => span.in_scope(|| ApiError::Internal("a handler panicked".into()).into_response()),
        Err(_) => ApiError::Overloaded { retry_after_secs: 1 }.into_response(),
    };
    if !is_a(&response, b"text/html")
        && let Some(page) = console::not_a_page(&path, &method, response.status())
    {
        response = page;
    }
    let status = response.status();
    // Problems and console pages already say what went wrong in their own format.
    let explained = is_a(&response, b"application/problem+json") || is_a(&response, b"text/html");
    if (status.is_client_error() || status.is_server_error()) && !explained {
        response = match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge.into_response(),
            StatusCode::NOT_FOUND => ApiError::NotFound.into_response(),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed.into_response(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::UnsupportedMediaType("unsupported content type".into()).into_response()
            }
            s if s.is_server_error() => ApiError::Internal(format!("unhandled {s}")).into_response(),
            _ => ApiError::Malformed("the request could not be read".into()).into_response(),
        };
    }
    app.metrics.count(response.status().as_u16());
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", value);
    }
    // Console pages set their own policy (styles, scripts and images from this origin).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    for (name, value) in
        [("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("referrer-policy", "no-referrer")]
    {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if app.secure_cookies() {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    response
}
