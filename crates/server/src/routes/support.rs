//! The contact form: a customer's support requests, delivered to its parent's inbox (the MSP, for
//! a managed customer), listed on both sides and closed by the inbox's owner.

use super::{ListBody, Params, id_cursor, page_request};
use crate::app::App;
use crate::body::Payload;
use crate::error::{ApiError, ApiResult};
use crate::granted::{Changing, Granted};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tenantry_domain::action::act;
use tenantry_domain::validate::{self, Validator};
use tenantry_domain::{SupportRequest, SupportRequestId};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportRequestBody {
    subject: String,
    message: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportStatusBody {
    /// `open` or `closed`.
    status: String,
}

#[utoipa::path(operation_id = "create_support_request", post, path = "/accounts/{id}/support-requests", tag = "support", description = "Sends a request to the account's parent (its MSP, for a managed customer).", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), request_body = SupportRequestBody, responses((status = 201, body = SupportRequest), crate::error::Failure))]
pub async fn create(
    State(app): State<App>,
    on: Granted<act::SupportRequestCreated>,
    body: Payload<SupportRequestBody>,
) -> ApiResult<(StatusCode, Json<SupportRequest>)> {
    let request = body.read().await?;
    let mut v = Validator::new();
    let subject = v.check("subject", validate::name(&request.subject));
    let message = v.check(
        "message",
        validate::text(&request.message)
            .and_then(|m| if m.trim().is_empty() { Err("must not be empty".into()) } else { Ok(m) }),
    );
    v.finish()?;
    let (Some(subject), Some(message)) = (subject, message) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let (request, notify) = app.store.create_support_request(&on.grant, subject, message, &on.ctx()).await?;
    if let Some(to) = notify {
        notify_inbox(&app, to, &request);
    }
    Ok((StatusCode::CREATED, Json(request)))
}

/// Announces a new request at its inbox's address, in the background, when a relay is set.
fn notify_inbox(app: &App, to: String, request: &SupportRequest) {
    let subject = format!("Support request from {}: {}", request.account_name, request.subject);
    let body = format!(
        "{} of {} wrote:\n\n{}\n\nAnswer it in the partner console: {}/console/support\n",
        request.created_by_email, request.account_name, request.message, app.public_url
    );
    crate::mail::send_later(app, to, subject, body, "support request notification");
}

#[utoipa::path(operation_id = "list_support_requests", get, path = "/accounts/{id}/support-requests", tag = "support", description = "A customer's sent requests, or the inbox of a partner-side account; newest first.", security(("session" = [])), params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<SupportRequest>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::SupportRequestListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<SupportRequest>>> {
    let page = page_request(&params, id_cursor::<SupportRequestId>)?;
    Ok(Json(app.store.list_support_requests(&on.grant, &page).await?.into()))
}

#[utoipa::path(operation_id = "update_support_request", patch, path = "/accounts/{id}/support-requests/{request_id}", tag = "support", description = "By the inbox's owner.", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "The inbox's account"), ("request_id" = String, Path)), request_body = SupportStatusBody, responses((status = 200, body = SupportRequest), crate::error::Failure))]
pub async fn update(
    State(app): State<App>,
    on: Changing<act::SupportRequestUpdated, SupportRequestId>,
    body: Payload<SupportStatusBody>,
) -> ApiResult<Json<SupportRequest>> {
    let request = body.read().await?;
    let open = match request.status.as_str() {
        "open" => true,
        "closed" => false,
        _ => return Err(ApiError::invalid("status", "must be `open` or `closed`")),
    };
    Ok(Json(app.store.set_support_status(&on.grant, on.child, open, &on.ctx()).await?))
}
