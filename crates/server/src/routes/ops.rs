//! Operational endpoints: liveness, readiness and Prometheus metrics.

use crate::app::App;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
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

pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
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
        m.mail_sent.load(Ordering::Relaxed),
        m.mail_failed.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
