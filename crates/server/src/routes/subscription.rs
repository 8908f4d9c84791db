//! Plans from the customer's side and the MSP's: a customer's subscription (for a managed customer,
//! its MSP is the billing contact and nothing is for sale), the limits an MSP sets for its managed
//! customers, and the usage it bills by.

use super::{ListBody, Params, id_cursor, page_request};
use crate::app::App;
use crate::body::Payload;
use crate::error::{ApiError, ApiResult};
use crate::granted::Granted;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tenantry_domain::action::act;
use tenantry_domain::{AccountId, Limits, Plan};
use tenantry_store::Subscription;

/// Who bills the account and answers its questions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BillingContact {
    name: String,
    email: Option<String>,
    phone: Option<String>,
    homepage_url: Option<String>,
}

/// Something the account could buy.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PurchaseOption {
    plan: Plan,
    limits: Limits,
}

/// An account's subscription.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SubscriptionBody {
    plan: Plan,
    managed: bool,
    /// `null` for partner plans, which have no limits.
    limits: Option<Limits>,
    usage: Limits,
    billing_contact: BillingContact,
    purchase_options: Vec<PurchaseOption>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLimitsRequest {
    limits: Limits,
}

/// One customer's usage, for billing.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageBody {
    account_id: AccountId,
    account_name: String,
    users: i64,
    certificates: i64,
    agents: i64,
    targets: i64,
}

impl From<Subscription> for SubscriptionBody {
    fn from(s: Subscription) -> Self {
        let managed = s.account.plan == Plan::Managed;
        // The contact is the account above (a managed customer's MSP): its own branding when it
        // has one, else its name and contact email.
        let contact = s.parent.as_ref();
        let branding = s.parent_branding.unwrap_or_default();
        let billing_contact = BillingContact {
            name: branding
                .display_name
                .or_else(|| contact.map(|p| p.name.clone()))
                .unwrap_or_else(|| s.account.name.clone()),
            email: branding.support_email.or_else(|| contact.and_then(|p| p.contact_email.clone())),
            phone: branding.support_phone,
            homepage_url: branding.homepage_url,
        };
        let purchase_options = match s.account.plan {
            Plan::Trial => Plan::Standard
                .default_limits()
                .map(|limits| vec![PurchaseOption { plan: Plan::Standard, limits }])
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Self { plan: s.account.plan, managed, limits: s.limits, usage: s.usage, billing_contact, purchase_options }
    }
}

fn check_limits(limits: &Limits) -> ApiResult<()> {
    let all = [
        ("users", limits.users),
        ("certificates", limits.certificates),
        ("agents", limits.agents),
        ("targets", limits.targets),
    ];
    let bad: Vec<_> = all
        .iter()
        .filter(|(_, v)| !(0..=1_000_000_000).contains(v))
        .map(|(k, _)| tenantry_domain::FieldError::new(&format!("limits.{k}"), "must be 0 to 1,000,000,000"))
        .collect();
    if bad.is_empty() { Ok(()) } else { Err(ApiError::Validation(bad)) }
}

#[utoipa::path(operation_id = "get_subscription", get, path = "/accounts/{id}/subscription", tag = "subscription", security(("session" = [])), params(("id" = String, Path)), responses((status = 200, body = SubscriptionBody), crate::error::Failure))]
pub async fn get(State(app): State<App>, on: Granted<act::SubscriptionRead>) -> ApiResult<Json<SubscriptionBody>> {
    Ok(Json(app.store.subscription(&on.grant).await?.into()))
}

#[utoipa::path(operation_id = "set_subscription_limits", put, path = "/accounts/{id}/subscription", tag = "subscription", description = "Sets a managed customer's limits; its MSP prices and packages them.", security(("session" = [], "csrf" = [])), params(("id" = String, Path)), request_body = SetLimitsRequest, responses((status = 200, body = SubscriptionBody), crate::error::Failure))]
pub async fn put(
    State(app): State<App>,
    on: Granted<act::SubscriptionUpdated>,
    body: Payload<SetLimitsRequest>,
) -> ApiResult<Json<SubscriptionBody>> {
    let request = body.read().await?;
    check_limits(&request.limits)?;
    Ok(Json(app.store.set_limits(&on.grant, request.limits, &on.ctx()).await?.into()))
}

#[utoipa::path(operation_id = "get_usage", get, path = "/accounts/{id}/usage", tag = "subscription", description = "What each customer below holds; `format=csv` for a spreadsheet.", security(("session" = [])), params(("id" = String, Path), ("format" = Option<String>, Query, description = "`json` (default) or `csv`"), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, description = "The usage page, or with `format=csv` every row as CSV", content((ListBody<UsageBody> = "application/json"), ("text/csv"))), crate::error::Failure))]
pub async fn usage(
    State(app): State<App>,
    on: Granted<act::UsageRead>,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    let csv = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid("format", "must be `json` or `csv`")),
    };
    let mut request = page_request(&params, id_cursor::<AccountId>)?;
    let mut rows = Vec::new();
    let next = loop {
        let page = app.store.usage_below(&on.grant, &request).await?;
        rows.extend(page.items);
        // A CSV export holds every customer; JSON pages as usual.
        match (csv, page.next) {
            (true, Some(next)) => request = tenantry_store::PageRequest { after: Some(next), limit: super::MAX_LIMIT },
            (_, next) => break next,
        }
    };
    let items: Vec<UsageBody> = rows
        .into_iter()
        .map(|r| UsageBody {
            account_id: r.account_id,
            account_name: r.account_name,
            users: r.usage.users,
            certificates: r.usage.certificates,
            agents: r.usage.agents,
            targets: r.usage.targets,
        })
        .collect();
    if !csv {
        return Ok(Json(ListBody { items, next_cursor: next }).into_response());
    }
    let mut text = String::from("account_id,account_name,users,certificates,agents,targets\r\n");
    for u in &items {
        let name = crate::csv::field(&u.account_name);
        text.push_str(&format!(
            "{},{name},{},{},{},{}\r\n",
            u.account_id, u.users, u.certificates, u.agents, u.targets
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response())
}
