//! A customer's certificate inventory: PEM imports into a collection (de-duplicated by fingerprint,
//! private keys refused), the filtered list, one certificate, deletion.

use super::{ListBody, Params, RESOURCE, id_cursor, page_request, param};
use crate::app::App;
use crate::body;
use crate::error::{ApiError, ApiResult};
use crate::principal::Auth;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use tenantry_domain::authz::{Grant, cap};
use tenantry_domain::{Certificate, CertificateId, CollectionId};
use tenantry_store::CertificateFilter;
use time::Duration;

/// One imported certificate: the stored record, and whether it was already in the account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportedCertificate {
    #[serde(flatten)]
    certificate: Certificate,
    duplicate: bool,
}

fn object_id<T: std::str::FromStr>(raw: &str) -> ApiResult<T> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// Whether the object exists, for `Auth::grant_change`.
async fn find(app: &App, seen: Grant<cap::ResourceRead>, id: &ApiResult<CertificateId>) -> ApiResult<()> {
    let id = id.as_ref().map_err(|_| ApiError::NotFound)?;
    Ok(app.store.get_certificate(&seen, *id).await.map(drop)?)
}

/// PEM comes as `application/x-pem-file` or `text/plain`.
fn require_pem(headers: &HeaderMap) -> ApiResult<()> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if matches!(media.as_str(), "application/x-pem-file" | "text/plain") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType("send PEM as application/x-pem-file or text/plain".into()))
    }
}

#[utoipa::path(operation_id = "import_certificates", post, path = "/accounts/{id}/collections/{collection_id}/certificates", tag = "certificates", description = "PEM text with one or more certificates; a private key or anything that is not a certificate refuses the whole body.", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("collection_id" = String, Path)), request_body(content = String, content_type = "application/x-pem-file"), responses((status = 201, body = ListBody<ImportedCertificate>), crate::error::Failure))]
pub async fn import(
    State(app): State<App>,
    auth: Auth,
    Path((id, cid)): Path<(String, String)>,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<(StatusCode, Json<ListBody<ImportedCertificate>>)> {
    let (grant, _) = auth.grant(&app, cap::ResourceWrite, &id, "certificate.imported").await?;
    let collection: CollectionId = object_id(&cid)?;
    app.store.get_collection(&grant.weaken(), collection).await?;
    require_pem(&headers)?;
    let bytes = body::read(request_body).await?;
    let parsed = tenantry_monitor::parse_bundle(&bytes).map_err(|e| ApiError::invalid("body", e.to_string()))?;
    let new = super::agents::to_new(parsed);
    let imported = app.store.import_certificates(&grant, collection, new, &auth.ctx()).await?;
    let items =
        imported.into_iter().map(|(certificate, duplicate)| ImportedCertificate { certificate, duplicate }).collect();
    Ok((StatusCode::CREATED, Json(ListBody { items, next_cursor: None })))
}

#[utoipa::path(operation_id = "list_certificates", get, path = "/accounts/{id}/certificates", tag = "certificates", security(("session" = [])), params(("id" = String, Path), ("expiring_within_days" = Option<u32>, Query, description = "Not yet expired, expiring within this many days"), ("expired" = Option<bool>, Query), ("issuer" = Option<String>, Query, description = "Issuer contains"), ("q" = Option<String>, Query, description = "Subject or a SAN contains"), ("collection_id" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<Certificate>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<Certificate>>> {
    let (grant, _) = auth.grant(&app, cap::ResourceRead, &id, "certificate.listed").await?;
    let now = app.now();
    let days = param(&params, "expiring_within_days", |d| {
        d.parse::<u16>().map_err(|_| "must be a whole number of days from 0 to 65535".to_owned())
    })?;
    let filter = CertificateFilter {
        expiring_before: days.map(|d| now + Duration::days(i64::from(d))),
        expired: param(&params, "expired", |e| e.parse::<bool>().map_err(|_| "must be true or false".to_owned()))?,
        now: Some(now),
        issuer: param(&params, "issuer", tenantry_domain::validate::text)?,
        q: param(&params, "q", tenantry_domain::validate::text)?,
        collection_id: param(&params, "collection_id", |c| {
            c.parse::<CollectionId>().map_err(|_| "must be a collection id".to_owned())
        })?,
    };
    let page = page_request(&params, id_cursor::<CertificateId>)?;
    Ok(Json(app.store.list_certificates(&grant, &filter, &page).await?.into()))
}

#[utoipa::path(operation_id = "get_certificate", get, path = "/accounts/{id}/certificates/{certificate_id}", tag = "certificates", security(("session" = [])), params(("id" = String, Path), ("certificate_id" = String, Path)), responses((status = 200, body = Certificate), crate::error::Failure))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path((id, cert)): Path<(String, String)>,
) -> ApiResult<Json<Certificate>> {
    let (grant, _) = auth.grant(&app, cap::ResourceRead, &id, "certificate.read").await?;
    Ok(Json(app.store.get_certificate(&grant, object_id(&cert)?).await?))
}

#[utoipa::path(operation_id = "delete_certificate", delete, path = "/accounts/{id}/certificates/{certificate_id}", tag = "certificates", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("certificate_id" = String, Path)), responses((status = 204, description = "Deleted"), crate::error::Failure))]
pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    Path((id, cert)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let cert = object_id(&cert);
    let (grant, _) =
        auth.grant_change(&app, RESOURCE, &id, "certificate.deleted", |seen| find(&app, seen, &cert)).await?;
    app.store.delete_certificate(&grant, cert?, &auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
