//! The JSON API's routes, one module per noun, and the list conventions they share.

pub mod access;
pub mod accounts;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod branding;
pub mod certificates;
pub mod collections;
pub mod expiring;
pub mod oidc;
pub mod ops;
pub mod signins;
pub mod sso;
pub mod staff;
pub mod subscription;
pub mod support;
pub mod targets;
pub mod tokens;
pub mod totp;
pub mod users;
pub mod webhooks;

use crate::error::{ApiError, ApiResult};
use serde::Serialize;
use std::collections::HashMap;
use tenantry_store::{Page, PageRequest};

/// Query-string parameters, as sent.
pub type Params = HashMap<String, String>;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// Reads `limit` and `cursor`; `cursor_ok` says whether a cursor is readable for this list.
pub fn page_request(params: &Params, cursor_ok: impl Fn(&str) -> bool) -> ApiResult<PageRequest> {
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid("limit", format!("must be a whole number from 1 to {MAX_LIMIT}")));
            }
        },
    };
    let after = match params.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) if cursor_ok(c) => Some(c.clone()),
        Some(_) => return Err(ApiError::invalid("cursor", "unreadable cursor")),
    };
    Ok(PageRequest { after, limit })
}

/// Numbers in cursors stay below 10¹⁸: at most 18 digits, as the OpenAPI document says.
pub const CURSOR_NUMBER_BOUND: i64 = 1_000_000_000_000_000_000;

/// A cursor made of an id of type `T`.
pub fn id_cursor<T: std::str::FromStr>(c: &str) -> bool {
    c.parse::<T>().is_ok()
}

/// The contract's list shape: `{"items": [...], "next_cursor": …|null}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListBody<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for ListBody<T> {
    fn from(page: Page<T>) -> Self {
        Self { items: page.items, next_cursor: page.next }
    }
}

/// Reads an optional query parameter with `parse`, reporting a bad value as a 422 on `field`.
pub fn param<T>(params: &Params, field: &str, parse: impl Fn(&str) -> Result<T, String>) -> ApiResult<Option<T>> {
    params.get(field).filter(|v| !v.is_empty()).map(|v| parse(v).map_err(|m| ApiError::invalid(field, m))).transpose()
}
