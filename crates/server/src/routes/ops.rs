//! Operational endpoints: liveness, readiness and Prometheus metrics.

use crate::app::App;
use crate::client::ClientIp;
use crate::error::ApiError;
use crate::secrets::constant_time_eq;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(app): State<App>) -> impl IntoResponse {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "database not answering");
            (StatusCode::SERVICE_UNAVAILABLE, "database not answering")
        }
    }
}

/// Whether `/metrics` may answer: from loopback (not forwarded), or with
/// `Authorization: Bearer $TENANTRY_METRICS_TOKEN`.
fn may_read_metrics(app: &App, ip: Option<&ClientIp>, headers: &HeaderMap) -> bool {
    // A forwarded request is never "from loopback": a proxy on this host (trusted or not) would
    // otherwise make everyone's request look local.
    if ip.is_some_and(ClientIp::is_loopback) && !headers.contains_key("x-forwarded-for") {
        return true;
    }
    let Some(expected) = &app.settings.metrics_token else { return false };
    let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.split_once(' '));
    sent.is_some_and(|(scheme, token)| {
        scheme.eq_ignore_ascii_case("bearer") && constant_time_eq(token.trim().as_bytes(), expected.0.as_bytes())
    })
}

pub async fn metrics(State(app): State<App>, ip: Option<axum::Extension<ClientIp>>, headers: HeaderMap) -> Response {
    if !may_read_metrics(&app, ip.as_ref().map(|e| &e.0), &headers) {
        return ApiError::Forbidden("metrics answer from loopback, or with the metrics token".into()).into_response();
    }
    let m = &app.metrics;
    let body = format!(
        "# HELP tenantry_http_requests_total HTTP requests answered.\n\
         # TYPE tenantry_http_requests_total counter\n\
         tenantry_http_requests_total {}\n\
         # HELP tenantry_http_client_errors_total Requests answered with a 4xx status.\n\
         # TYPE tenantry_http_client_errors_total counter\n\
         tenantry_http_client_errors_total {}\n\
         # HELP tenantry_http_server_errors_total Requests answered with a 5xx status.\n\
         # TYPE tenantry_http_server_errors_total counter\n\
         tenantry_http_server_errors_total {}\n\
         # HELP tenantry_password_verifications_total Password hashes verified (sign-in, step-up).\n\
         # TYPE tenantry_password_verifications_total counter\n\
         tenantry_password_verifications_total {}\n\
         # HELP tenantry_password_hashes_total New passwords hashed (activation, password changes, new users).\n\
         # TYPE tenantry_password_hashes_total counter\n\
         tenantry_password_hashes_total {}\n\
         # HELP tenantry_password_overloaded_total Requests refused for want of a hashing worker.\n\
         # TYPE tenantry_password_overloaded_total counter\n\
         tenantry_password_overloaded_total {}\n\
         # HELP tenantry_mail_sent_total Notifications the SMTP relay accepted.\n\
         # TYPE tenantry_mail_sent_total counter\n\
         tenantry_mail_sent_total {}\n\
         # HELP tenantry_mail_failed_total Notifications the SMTP relay did not accept.\n\
         # TYPE tenantry_mail_failed_total counter\n\
         tenantry_mail_failed_total {}\n",
        m.requests.load(Ordering::Relaxed),
        m.client_errors.load(Ordering::Relaxed),
        m.server_errors.load(Ordering::Relaxed),
        app.passwords.verifications(),
        app.passwords.hashes(),
        app.passwords.overloaded(),
        m.mail_sent.load(Ordering::Relaxed),
        m.mail_failed.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
