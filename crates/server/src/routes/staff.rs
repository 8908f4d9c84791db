//! `/api/v1/accounts/{msp_id}/users/{user_id}/assignments`: which customers an MSP technician
//! (`msp_staff`) may see and enter. Revoking one ends the technician's open sessions there.

use super::{ListBody, Params, id_cursor, page_request};
use crate::app::App;
use crate::error::ApiResult;
use crate::granted::{Assignment, Changing, Granted, StaffAndCustomer};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use tenantry_domain::action::act;
use tenantry_domain::authz::Denial;
use tenantry_domain::clock::serde_micros;
use tenantry_domain::{AccountId, Role, UserId};
use time::OffsetDateTime;

/// One customer a technician is assigned to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AssignmentBody {
    account_id: AccountId,
    account_name: String,
    granted_by: Option<UserId>,
    #[serde(with = "serde_micros")]
    granted_at: OffsetDateTime,
}

#[utoipa::path(operation_id = "list_assignments", get, path = "/accounts/{id}/users/{user_id}/assignments", tag = "staff", security(("session" = [])), params(("id" = String, Path, description = "MSP account id"), ("user_id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<AssignmentBody>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::StaffListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<AssignmentBody>>> {
    let uid: UserId = on.child()?;
    if on.auth.principal.role == Role::MspStaff && uid != on.auth.principal.user_id {
        return Err(on.deny(&app, Denial::Forbidden).await);
    }
    let page = page_request(&params, id_cursor::<AccountId>)?;
    let page = app.store.list_assignments(&on.grant, uid, &page).await?;
    let items = page
        .items
        .into_iter()
        .map(|a| AssignmentBody {
            account_id: a.account_id,
            account_name: a.account_name,
            granted_by: a.granted_by,
            granted_at: a.granted_at,
        })
        .collect();
    Ok(Json(ListBody { items, next_cursor: page.next }))
}

#[utoipa::path(operation_id = "assign_staff", put, path = "/accounts/{id}/users/{user_id}/assignments/{customer_id}", tag = "staff", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "MSP account id"), ("user_id" = String, Path), ("customer_id" = String, Path)), responses((status = 204, description = "Assigned"), crate::error::Failure))]
pub async fn assign(
    State(app): State<App>,
    on: Changing<act::StaffAssigned, StaffAndCustomer>,
) -> ApiResult<StatusCode> {
    app.store.assign(&on.grant, on.child.user, on.child.customer, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "unassign_staff", delete, path = "/accounts/{id}/users/{user_id}/assignments/{customer_id}", tag = "staff", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "MSP account id"), ("user_id" = String, Path), ("customer_id" = String, Path)), responses((status = 204, description = "Unassigned; the technician's sessions there ended"), crate::error::Failure))]
pub async fn unassign(State(app): State<App>, on: Changing<act::StaffUnassigned, Assignment>) -> ApiResult<StatusCode> {
    let Assignment(pair) = &on.child;
    app.store.unassign(&on.grant, pair.user, pair.customer, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
