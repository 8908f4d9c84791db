//! `/api/v1/accounts/{id}/collections`: a customer's certificate collections — customer data,
//! reached from the partner side only inside an access session.

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
use tenantry_domain::{Collection, CollectionId, validate};

/// A collection's name, as sent.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionRequest {
    name: String,
}

/// A collection's checked name.
struct CollectionName(String);

impl TryFrom<CollectionRequest> for CollectionName {
    type Error = ApiError;

    fn try_from(request: CollectionRequest) -> ApiResult<Self> {
        validate::name(&request.name).map(Self).map_err(|m| ApiError::invalid("name", m))
    }
}

#[utoipa::path(operation_id = "list_collections", get, path = "/accounts/{id}/collections", tag = "collections", security(("session" = [])), params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<Collection>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::CollectionListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<Collection>>> {
    let page = page_request(&params, id_cursor::<CollectionId>)?;
    Ok(Json(app.store.list_collections(&on.grant, &page).await?.into()))
}

#[utoipa::path(operation_id = "create_collection", post, path = "/accounts/{id}/collections", tag = "collections", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), request_body = CollectionRequest, responses((status = 201, body = Collection), crate::error::Failure))]
pub async fn create(
    State(app): State<App>,
    on: Granted<act::CollectionCreated>,
    body: Payload<CollectionRequest>,
) -> ApiResult<(StatusCode, Json<Collection>)> {
    let CollectionName(name) = body.parse().await?;
    Ok((StatusCode::CREATED, Json(app.store.create_collection(&on.grant, name, &on.ctx()).await?)))
}

#[utoipa::path(operation_id = "get_collection", get, path = "/accounts/{id}/collections/{collection_id}", tag = "collections", security(("session" = [])), params(("id" = String, Path), ("collection_id" = String, Path)), responses((status = 200, body = Collection), crate::error::Failure))]
pub async fn get(State(app): State<App>, on: Granted<act::CollectionRead>) -> ApiResult<Json<Collection>> {
    Ok(Json(app.store.get_collection(&on.grant, on.child()?).await?))
}

#[utoipa::path(operation_id = "update_collection", patch, path = "/accounts/{id}/collections/{collection_id}", tag = "collections", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("collection_id" = String, Path)), request_body = CollectionRequest, responses((status = 200, body = Collection), crate::error::Failure))]
pub async fn update(
    State(app): State<App>,
    on: Changing<act::CollectionUpdated, CollectionId>,
    body: Payload<CollectionRequest>,
) -> ApiResult<Json<Collection>> {
    let CollectionName(name) = body.parse().await?;
    Ok(Json(app.store.rename_collection(&on.grant, on.child, name, &on.ctx()).await?))
}

#[utoipa::path(operation_id = "delete_collection", delete, path = "/accounts/{id}/collections/{collection_id}", tag = "collections", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("collection_id" = String, Path)), responses((status = 204, description = "Deleted"), crate::error::Failure))]
pub async fn delete(
    State(app): State<App>,
    on: Changing<act::CollectionDeleted, CollectionId>,
) -> ApiResult<StatusCode> {
    app.store.delete_collection(&on.grant, on.child, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
