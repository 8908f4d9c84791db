//! A customer's certificate inventory: PEM imports into a collection (de-duplicated by fingerprint,
//! private keys refused), the filtered list, one certificate, deletion.

use super::{ListBody, Params, id_cursor, page_request, param};
use crate::app::App;
use crate::body;
use crate::error::{ApiError, ApiResult};
use crate::granted::{Changing, Granted};
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use tenantry_domain::action::act;
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
    on: Granted<act::CertificateImported>,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<(StatusCode, Json<ListBody<ImportedCertificate>>)> {
    let collection: CollectionId = on.child()?;
    app.store.get_collection(&on.grant.weaken(), collection).await?;
    require_pem(&headers)?;
    let bytes = body::read(request_body).await?;
    let parsed = tenantry_monitor::parse_bundle(&bytes).map_err(|e| ApiError::invalid("body", e.to_string()))?;
    let new = super::agents::to_new(parsed);
    let imported = app.store.import_certificates(&on.grant, collection, new, &on.ctx()).await?;
    let items =
        imported.into_iter().map(|(certificate, duplicate)| ImportedCertificate { certificate, duplicate }).collect();
    Ok((StatusCode::CREATED, Json(ListBody { items, next_cursor: None })))
}

#[utoipa::path(operation_id = "list_certificates", get, path = "/accounts/{id}/certificates", tag = "certificates", security(("session" = [])), params(("id" = String, Path), ("expiring_within_days" = Option<u32>, Query, description = "Not yet expired, expiring within this many days"), ("expired" = Option<bool>, Query), ("issuer" = Option<String>, Query, description = "Issuer contains"), ("q" = Option<String>, Query, description = "Subject or a SAN contains"), ("collection_id" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<Certificate>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::CertificateListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<Certificate>>> {
    let now = app.now();
    let days = param(&params, "expiring_within_days", |d| {
        d.parse::<u16>().map_err(|_| "must be a whole number of days from 0 to 65535".to_owned())
    })?;
    let filter = CertificateFilter {
        expiring_before: days.map(|d| now + Duration::days(i64::from(d))),
        expired: param(&params, "expired", |e| e.parse::<bool>().map_err(|_| "must be true or false".to_owned()))?,
        now: Some(now),
        issuer: param(&params, "issuer", tenantry_domain::validate::search)?,
        q: param(&params, "q", tenantry_domain::validate::search)?,
        collection_id: param(&params, "collection_id", |c| {
            c.parse::<CollectionId>().map_err(|_| "must be a collection id".to_owned())
        })?,
    };
    let page = page_request(&params, id_cursor::<CertificateId>)?;
    Ok(Json(app.store.list_certificates(&on.grant, &filter, &page).await?.into()))
}

#[utoipa::path(operation_id = "get_certificate", get, path = "/accounts/{id}/certificates/{certificate_id}", tag = "certificates", security(("session" = [])), params(("id" = String, Path), ("certificate_id" = String, Path)), responses((status = 200, body = Certificate), crate::error::Failure))]
pub async fn get(State(app): State<App>, on: Granted<act::CertificateRead>) -> ApiResult<Json<Certificate>> {
    Ok(Json(app.store.get_certificate(&on.grant, on.child()?).await?))
}

#[utoipa::path(operation_id = "delete_certificate", delete, path = "/accounts/{id}/certificates/{certificate_id}", tag = "certificates", security(("session" = [], "csrf" = [])), params(("id" = String, Path), ("certificate_id" = String, Path)), responses((status = 204, description = "Deleted"), crate::error::Failure))]
pub async fn delete(
    State(app): State<App>,
    on: Changing<act::CertificateDeleted, CertificateId>,
) -> ApiResult<StatusCode> {
    app.store.delete_certificate(&on.grant, on.child, &on.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
