//! The expiry overview: certificates and targets that expire soon (or have expired) across every
//! customer at or below an account that the caller sees — an MSP's morning check.

use super::{ListBody, Params, page_request, param};
use crate::app::App;
use crate::error::ApiResult;
use crate::granted::Granted;
use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use tenantry_domain::action::act;
use tenantry_domain::clock::serde_micros;
use tenantry_domain::{AccountId, CollectionId, ExpiryStatus, days_remaining, expiry_status};
use tenantry_store::{ExpiringItem, ExpiryScope};
use time::{Duration, OffsetDateTime};

/// Longest look-ahead, in days.
pub const MAX_WITHIN_DAYS: i64 = 3_650;

/// One certificate or target, with its customer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExpiringView {
    /// `certificate` or `target`.
    kind: &'static str,
    id: String,
    account_id: AccountId,
    account_name: String,
    collection_id: CollectionId,
    /// The certificate's subject, or the target's `host:port`.
    name: String,
    #[serde(with = "serde_micros")]
    not_after: OffsetDateTime,
    days_remaining: i64,
    status: ExpiryStatus,
    /// A target's failed last check.
    error: Option<String>,
}

impl ExpiringView {
    fn at(item: ExpiringItem, now: OffsetDateTime, window: Duration) -> Self {
        let status = match expiry_status(item.not_after, now, window) {
            ExpiryStatus::Expired => ExpiryStatus::Expired,
            _ if item.error.is_some() => ExpiryStatus::Error,
            other => other,
        };
        Self {
            kind: item.kind,
            days_remaining: days_remaining(item.not_after, now),
            status,
            id: item.id,
            account_id: item.account_id,
            account_name: item.account_name,
            collection_id: item.collection_id,
            name: item.name,
            not_after: item.not_after,
            error: item.error,
        }
    }
}

fn cursor_ok(c: &str) -> bool {
    let in_bounds = |at: i64| at.unsigned_abs() < super::CURSOR_NUMBER_BOUND.unsigned_abs();
    c.split_once('_').is_some_and(|(at, id)| at.parse::<i64>().is_ok_and(in_bounds) && !id.is_empty())
}

#[utoipa::path(operation_id = "list_expiring", get, path = "/accounts/{id}/expiring", tag = "certificates", description = "Certificates and targets valid for at most `within_days` more days (expired ones included, soonest first) across every customer at or below the account that the caller sees. `within_days` defaults to `TENANTRY_EXPIRING_DAYS`.", security(("session" = [])), params(("id" = String, Path), ("within_days" = Option<i64>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = ListBody<ExpiringView>), crate::error::Failure))]
pub async fn list(
    State(app): State<App>,
    on: Granted<act::ExpiringListed>,
    Query(params): Query<Params>,
) -> ApiResult<Json<ListBody<ExpiringView>>> {
    let within = param(&params, "within_days", |v| match v.parse::<i64>() {
        Ok(days) if (0..=MAX_WITHIN_DAYS).contains(&days) => Ok(Duration::days(days)),
        _ => Err(format!("must be a whole number of days from 0 to {MAX_WITHIN_DAYS}")),
    })?
    .unwrap_or(app.settings.expiring_within);
    let page = page_request(&params, cursor_ok)?;
    let now = app.now();
    let found = app.store.expiring(&on.grant, ExpiryScope { until: now + within }, &page).await?;
    let window = app.settings.expiring_within;
    let items = found.items.into_iter().map(|i| ExpiringView::at(i, now, window)).collect();
    Ok(Json(ListBody { items, next_cursor: found.next }))
}
