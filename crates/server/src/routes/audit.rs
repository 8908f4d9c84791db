//! `/api/v1/accounts/{id}/audit`: read a trail (newest first, filtered), export it in `seq` order
//! as JSON Lines or CSV (streamed), and verify its hash chain.

use super::{ListBody, Params, page_request, param};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::granted::Granted;
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Serialize;
use tenantry_domain::action::act;
use tenantry_domain::audit::{GENESIS, Verification};
use tenantry_domain::authz::{Grant, cap};
use tenantry_domain::clock::rfc3339_micros;
use tenantry_domain::{AccountId, AuditEvent, UserId};
use tenantry_store::AuditFilter;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const EXPORT_CHUNK: u32 = 500;

/// The CSV columns: the event's fields flattened with `_`, `details` as JSON.
pub const CSV_COLUMNS: [&str; 18] = [
    "id",
    "trail_account_id",
    "seq",
    "at",
    "account_id",
    "action",
    "outcome",
    "actor_user_id",
    "actor_email",
    "actor_account_id",
    "actor_account_name",
    "access_session_id",
    "target_type",
    "target_id",
    "ip",
    "details",
    "prev_hash",
    "hash",
];

fn time_param(raw: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| "must be an RFC 3339 time".to_owned())
}

#[utoipa::path(operation_id = "list_audit_events", get, path = "/accounts/{id}/audit", tag = "audit", description = "The account's trail, newest first.", security(("session" = [])), params(("id" = String, Path, description = "Account id"), ("action" = Option<String>, Query), ("actor_user_id" = Option<String>, Query), ("since" = Option<String>, Query, description = "RFC 3339, inclusive"), ("until" = Option<String>, Query, description = "RFC 3339, exclusive"), ("limit" = Option<u32>, Query, description = "Page size, 1–500 (default 50)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = ListBody<AuditEvent>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::AuditRead>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<AuditEvent>>> {
    let filter = AuditFilter {
        action: param(&params, "action", tenantry_domain::validate::search)?,
        actor_user_id: param(&params, "actor_user_id", |u| {
            u.parse::<UserId>().map_err(|_| "must be a user id".to_owned())
        })?,
        since: param(&params, "since", time_param)?,
        until: param(&params, "until", time_param)?,
    };
    let page = page_request(&params, |c| c.parse::<i64>().is_ok_and(|n| (1..super::CURSOR_NUMBER_BOUND).contains(&n)))?;
    Ok(Json(app.store.audit_page(&on.grant, &filter, &page).await?.into()))
}

fn csv_row(e: &AuditEvent) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let fields = [
        e.id.to_string(),
        e.trail_account_id.to_string(),
        e.seq.to_string(),
        rfc3339_micros(e.at),
        e.account_id.to_string(),
        e.action.clone(),
        e.outcome.as_str().to_owned(),
        opt(e.actor.user_id.map(|u| u.to_string())),
        opt(e.actor.email.clone()),
        opt(e.actor.account_id.map(|a| a.to_string())),
        opt(e.actor.account_name.clone()),
        opt(e.access_session_id.clone()),
        e.target.kind.clone(),
        opt(e.target.id.clone()),
        opt(e.ip.clone()),
        e.details.to_string(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ];
    let mut line = fields.iter().map(|f| crate::csv::field(f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// How an export is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

/// Whose trail an export reads: one a caller holds a grant on, or any, for the operator's
/// command line.
#[derive(Clone)]
pub enum Reader {
    Granted(Grant<cap::AuditRead>),
    Operator(AccountId),
}

impl Reader {
    fn trail(&self) -> AccountId {
        match self {
            Self::Granted(grant) => grant.account_id(),
            Self::Operator(trail) => *trail,
        }
    }

    async fn chunk(&self, app: &App, after: i64) -> Result<Vec<AuditEvent>, ApiError> {
        Ok(match self {
            Self::Granted(grant) => app.store.audit_chunk(grant, after, EXPORT_CHUNK).await?,
            Self::Operator(trail) => app.store.operator_audit_chunk(*trail, after, EXPORT_CHUNK).await?,
        })
    }
}

/// Streams the trail chunk by chunk, so an export of any size holds one chunk in memory: JSON
/// Lines closed by a signed checkpoint, or CSV with a header row.
pub fn export_stream(
    app: App,
    reader: Reader,
    format: Format,
) -> impl futures_util::Stream<Item = Result<String, ApiError>> {
    let header_row = (format == Format::Csv).then(|| format!("{}\r\n", CSV_COLUMNS.join(",")));
    let head = stream::iter(header_row.map(Ok));
    let trail = reader.trail();
    // The state: where the next chunk starts and the last event so far; `None` when done.
    let start = Some((0i64, GENESIS.to_owned(), false));
    let body = stream::try_unfold(start, move |state| {
        let (app, reader) = (app.clone(), reader.clone());
        async move {
            let Some((after, last_hash, ended)) = state else { return Ok(None) };
            if ended {
                // A JSON Lines export closes with the signed checkpoint of what it held.
                let checkpoint = app.signer.sign(trail, after, &last_hash, app.now()).map_err(ApiError::Internal)?;
                let line = serde_json::to_string(&crate::checkpoint::CheckpointLine { checkpoint })
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                return Ok(Some((format!("{line}\n"), None)));
            }
            let chunk = reader.chunk(&app, after).await?;
            let full = chunk.len() == EXPORT_CHUNK as usize;
            let mut text = String::new();
            for event in &chunk {
                match format {
                    Format::JsonLines => {
                        text.push_str(&serde_json::to_string(event).map_err(|e| ApiError::Internal(e.to_string()))?);
                        text.push('\n');
                    }
                    Format::Csv => text.push_str(&csv_row(event)),
                }
            }
            let (seq, hash) = chunk.last().map_or((after, last_hash), |e| (e.seq, e.hash.clone()));
            let next = match (full, format) {
                (true, _) => Some((seq, hash, false)),
                (false, Format::JsonLines) => Some((seq, hash, true)),
                (false, Format::Csv) => None,
            };
            Ok(Some((text, next)))
        }
    });
    futures_util::StreamExt::chain(head, body)
}

/// The service's public key for trail checkpoints.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicKeyReply {
    algorithm: &'static str,
    /// Base64 of the raw 32-byte key.
    public_key: String,
}

#[utoipa::path(operation_id = "audit_public_key", get, path = "/audit/public-key", tag = "audit", description = "Public: the key that signs the checkpoint closing every JSON Lines export; pin it, then `tenantry audit verify FILE --public-key KEY` also proves an export whole up to its checkpoint.", responses((status = 200, body = PublicKeyReply)))]
pub async fn public_key(State(app): State<App>) -> Json<PublicKeyReply> {
    Json(PublicKeyReply { algorithm: "Ed25519", public_key: app.signer.public_key() })
}

#[utoipa::path(operation_id = "export_audit_trail", get, path = "/accounts/{id}/audit/export", tag = "audit", description = "The whole trail in `seq` order, streamed.", security(("session" = [])), params(("id" = String, Path, description = "Account id"), ("format" = Option<String>, Query, description = "`jsonl` (default) or `csv`")), responses((status = 200, description = "JSON Lines or CSV", content(("application/jsonl"), ("text/csv"))), crate::error::Failure))]
pub async fn export(
    State(app): State<App>,
    on: Granted<act::AuditExported>,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    let format = match params.get("format").map(String::as_str) {
        None | Some("jsonl") => Format::JsonLines,
        Some("csv") => Format::Csv,
        Some(_) => return Err(ApiError::invalid("format", "must be `jsonl` or `csv`")),
    };
    let (content_type, extension) = match format {
        Format::JsonLines => ("application/jsonl", "jsonl"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let disposition = format!("attachment; filename=\"audit-{}.{extension}\"", on.account.id);
    let body = Body::from_stream(export_stream(app, Reader::Granted(on.grant), format));
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

#[utoipa::path(operation_id = "verify_audit_trail", get, path = "/accounts/{id}/audit/verify", tag = "audit", security(("session" = [])), params(("id" = String, Path, description = "Account id")), responses((status = 200, body = Verification), crate::error::Failure))]
pub async fn verify(State(app): State<App>, on: Granted<act::AuditVerified>) -> ApiResult<Json<Verification>> {
    Ok(Json(app.store.verify_trail(&on.grant).await?))
}
