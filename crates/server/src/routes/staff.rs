//! `/api/v1/accounts/{msp_id}/users/{user_id}/assignments`: which customers an MSP technician
//! (`msp_staff`) may see and enter. Revoking one ends the technician's open sessions there.

use super::{ListBody, Params, id_cursor, page_request};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::principal::Auth;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use tenantry_domain::authz::{Denial, Grant, cap};
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

/// Reading and managing staff assignments, for `Auth::grant_change`.
const STAFF: (cap::StaffRead, cap::StaffAssign) = (cap::StaffRead, cap::StaffAssign);

/// Whether the staff user and the customer exist (and, with `assigned`, the assignment), for
/// `Auth::grant_change`.
async fn find(
    app: &App,
    seen: Grant<cap::StaffRead>,
    pair: &ApiResult<(UserId, AccountId)>,
    assigned: bool,
) -> ApiResult<()> {
    let (user, customer) = pair.as_ref().map_err(|_| ApiError::NotFound)?;
    Ok(app.store.find_assignment(&seen, *user, *customer, assigned).await?)
}

fn parse<T: std::str::FromStr>(raw: &str) -> ApiResult<T> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

#[utoipa::path(operation_id = "list_assignments", get, path = "/accounts/{id}/users/{user_id}/assignments", tag = "staff", security(("session" = [])), params(("id" = String, Path, description = "MSP account id"), ("user_id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<AssignmentBody>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Path((id, uid)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<AssignmentBody>>> {
    let (grant, account) = auth.grant(&app, cap::StaffRead, &id, "staff.listed").await?;
    let uid: UserId = parse(&uid)?;
    if auth.principal.role == Role::MspStaff && uid != auth.principal.user_id {
        return Err(auth.deny(&app, Denial::Forbidden, Some(account.id), &id, "staff.listed").await);
    }
    let page = page_request(&params, id_cursor::<AccountId>)?;
    let page = app.store.list_assignments(&grant, uid, &page).await?;
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
    auth: Auth,
    Path((id, uid, customer)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let pair = parse(&uid).and_then(|u| Ok((u, parse(&customer)?)));
    let find = |seen| find(&app, seen, &pair, false);
    let (grant, _) = auth.grant_change(&app, STAFF, &id, "staff.assigned", find).await?;
    let (uid, customer) = pair?;
    app.store.assign(&grant, uid, customer, &auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "unassign_staff", delete, path = "/accounts/{id}/users/{user_id}/assignments/{customer_id}", tag = "staff", security(("session" = [], "csrf" = [])), params(("id" = String, Path, description = "MSP account id"), ("user_id" = String, Path), ("customer_id" = String, Path)), responses((status = 204, description = "Unassigned; the technician's sessions there ended"), crate::error::Failure))]
pub async fn unassign(
    State(app): State<App>,
    auth: Auth,
    Path((id, uid, customer)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let pair = parse(&uid).and_then(|u| Ok((u, parse(&customer)?)));
    let find = |seen| find(&app, seen, &pair, true);
    let (grant, _) = auth.grant_change(&app, STAFF, &id, "staff.unassigned", find).await?;
    let (uid, customer) = pair?;
    app.store.unassign(&grant, uid, customer, &auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
