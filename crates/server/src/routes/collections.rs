//! `/api/v1/accounts/{id}/collections`: a customer's certificate collections — customer data,
//! reached from the partner side only inside an access session.

use super::{ListBody, Params, RESOURCE, id_cursor, page_request};
use crate::app::App;
use crate::body;
use crate::error::{ApiError, ApiResult};
use crate::principal::Auth;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use tenantry_domain::authz::{Grant, cap};
use tenantry_domain::{Collection, CollectionId, validate};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionRequest {
    name: String,
}

fn collection_id(raw: &str) -> ApiResult<CollectionId> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// Whether the object exists, for `Auth::grant_change`.
async fn find(app: &App, seen: Grant<cap::ResourceRead>, id: &ApiResult<CollectionId>) -> ApiResult<()> {
    let id = id.as_ref().map_err(|_| ApiError::NotFound)?;
    Ok(app.store.get_collection(&seen, *id).await.map(drop)?)
}

fn name(headers: &HeaderMap, bytes: &[u8]) -> ApiResult<String> {
    let request: CollectionRequest = body::json(headers, bytes)?;
    validate::name(&request.name).map_err(|m| ApiError::invalid("name", m))
}

#[utoipa::path(operation_id = "list_collections", get, path = "/accounts/{id}/collections", tag = "collections", security(("session" = [])), params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<Collection>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<Collection>>> {
    let (grant, _) = auth.grant(&app, cap::ResourceRead, &id, "collection.listed").await?;
    let page = page_request(&params, id_cursor::<CollectionId>)?;
    Ok(Json(app.store.list_collections(&grant, &page).await?.into()))
}

#[utoipa::path(operation_id = "create_collection", post, path = "/accounts/{id}/collections", tag = "collections", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), request_body = CollectionRequest, responses((status = 201, body = Collection), crate::error::Failure))]
pub async fn create(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<(StatusCode, Json<Collection>)> {
    let (grant, _) = auth.grant(&app, cap::ResourceWrite, &id, "collection.created").await?;
    let bytes = body::read(request_body).await?;
    let name = name(&headers, &bytes)?;
    Ok((StatusCode::CREATED, Json(app.store.create_collection(&grant, name, &auth.ctx()).await?)))
}

#[utoipa::path(operation_id = "get_collection", get, path = "/accounts/{id}/collections/{collection_id}", tag = "collections", security(("session" = [])), params(("id" = String, Path), ("collection_id" = String, Path)), responses((status = 200, body = Collection), crate::error::Failure))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path((id, cid)): Path<(String, String)>,
) -> ApiResult<Json<Collection>> {
    let (grant, _) = auth.grant(&app, cap::ResourceRead, &id, "collection.read").await?;
    Ok(Json(app.store.get_collection(&grant, collection_id(&cid)?).await?))
}

#[utoipa::path(operation_id = "update_collection", patch, path = "/accounts/{id}/collections/{collection_id}", tag = "collections", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("collection_id" = String, Path)), request_body = CollectionRequest, responses((status = 200, body = Collection), crate::error::Failure))]
pub async fn update(
    State(app): State<App>,
    auth: Auth,
    Path((id, cid)): Path<(String, String)>,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<Json<Collection>> {
    let cid = collection_id(&cid);
    let (grant, _) =
        auth.grant_change(&app, RESOURCE, &id, "collection.updated", |seen| find(&app, seen, &cid)).await?;
    let cid = cid?;
    let bytes = body::read(request_body).await?;
    let name = name(&headers, &bytes)?;
    Ok(Json(app.store.rename_collection(&grant, cid, name, &auth.ctx()).await?))
}

#[utoipa::path(operation_id = "delete_collection", delete, path = "/accounts/{id}/collections/{collection_id}", tag = "collections", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("collection_id" = String, Path)), responses((status = 204, description = "Deleted"), crate::error::Failure))]
pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    Path((id, cid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let cid = collection_id(&cid);
    let (grant, _) =
        auth.grant_change(&app, RESOURCE, &id, "collection.deleted", |seen| find(&app, seen, &cid)).await?;
    app.store.delete_collection(&grant, cid?, &auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
