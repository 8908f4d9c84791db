//! The extractors through which a handler reaches an account: it names the action it performs and
//! receives the grant that action needs. `Granted<act::X>` reads the account id from the path,
//! authorizes X's permission and records a refusal as X; `Changing<act::X, C>` first finds the
//! child object `C` that the rest of the path names, so that a missing object is a 404 whatever
//! the caller's role (the contract's order), and then judges the change; `SteppedUp<act::X, T>`
//! adds the step-up of **[reauth]** actions.

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::principal::Auth;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::str::FromStr;
use tenantry_domain::action::Act;
use tenantry_domain::authz::{Capability, Denial, Grant, cap};
use tenantry_domain::{
    Account, AccountId, AgentId, CertificateId, CollectionId, SupportRequestId, TargetId, UserId, WebhookId,
};
use tenantry_store::Ctx;

/// A caller granted `A`'s permission on the account the path names.
pub struct Granted<A: Act> {
    pub auth: Auth,
    pub grant: Grant<A::Cap>,
    pub account: Account,
    /// The path's segments after the account id.
    rest: Vec<String>,
}

impl<A: Act> Granted<A> {
    /// The path's segment after the account id, as an id; an unreadable one is 404.
    pub fn child<T: FromStr>(&self) -> ApiResult<T> {
        self.rest.first().and_then(|raw| raw.parse().ok()).ok_or(ApiError::NotFound)
    }

    /// A further capability on the same account (a request that touches several rows of the
    /// matrix); a refusal is recorded as `A`.
    pub async fn also<Q: Capability>(&self, app: &App, capability: Q) -> ApiResult<Grant<Q>> {
        self.auth.also(app, capability, &self.account, A::ACTION).await
    }

    /// Records `denial` of `A` on this account and returns its error.
    pub async fn deny(&self, app: &App, denial: Denial) -> ApiError {
        self.auth.deny(app, denial, Some(self.account.id), &self.account.id.to_string(), A::ACTION).await
    }

    /// The audit context of the caller's actions.
    pub fn ctx(&self) -> Ctx {
        self.auth.ctx()
    }
}

/// The path's parameters, in order (the account id first).
async fn path_segments(parts: &mut Parts, app: &App) -> ApiResult<Vec<String>> {
    let params = RawPathParams::from_request_parts(parts, app).await.map_err(|_| ApiError::NotFound)?;
    Ok(params.iter().map(|(_, value)| value.to_owned()).collect())
}

/// The account id the path names first, and the segments after it.
async fn account_and_rest(parts: &mut Parts, app: &App) -> ApiResult<(String, Vec<String>)> {
    let mut segments = path_segments(parts, app).await?;
    if segments.is_empty() {
        return Err(ApiError::Internal("a granted route without an account in its path".into()));
    }
    let account = segments.remove(0);
    Ok((account, segments))
}

impl<A: Act> FromRequestParts<App> for Granted<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let auth = Auth::from_request_parts(parts, app).await?;
        let (raw, rest) = account_and_rest(parts, app).await?;
        let (grant, account) = auth.grant_as::<A::Cap>(app, &raw, A::ACTION).await?;
        Ok(Self { auth, grant, account, rest })
    }
}

/// An object inside an account that the path names after the account id, with the permission
/// that sees it and the one that changes it.
pub trait Child: Sized + Send + Sync + 'static {
    type Read: Capability;
    type Write: Capability;

    /// The object the segments after the account id name; `None` when they name none.
    fn from_path(segments: &[String]) -> Option<Self>;

    /// `Ok` when the object exists in the granted account; `NotFound` otherwise.
    fn find(&self, app: &App, seen: &Grant<Self::Read>) -> impl Future<Output = ApiResult<()>> + Send;
}

/// A caller granted the change `A` of the child object `C` the path names, which exists.
pub struct Changing<A: Act, C: Child> {
    pub auth: Auth,
    pub grant: Grant<A::Cap>,
    pub account: Account,
    pub child: C,
}

impl<A: Act, C: Child> Changing<A, C> {
    /// A further capability on the same account; a refusal is recorded as `A`.
    pub async fn also<Q: Capability>(&self, app: &App, capability: Q) -> ApiResult<Grant<Q>> {
        self.auth.also(app, capability, &self.account, A::ACTION).await
    }

    /// The audit context of the caller's actions.
    pub fn ctx(&self) -> Ctx {
        self.auth.ctx()
    }
}

impl<A, C> FromRequestParts<App> for Changing<A, C>
where
    A: Act<Cap = C::Write>,
    C: Child,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let auth = Auth::from_request_parts(parts, app).await?;
        let (raw, rest) = account_and_rest(parts, app).await?;
        let (seen, _) = auth.grant_as::<C::Read>(app, &raw, A::ACTION).await?;
        let child = C::from_path(&rest);
        let found = match &child {
            Some(child) => child.find(app, &seen).await,
            None => Err(ApiError::NotFound),
        };
        match (found, child) {
            (Ok(()), Some(child)) => {
                let (grant, account) = auth.grant_as::<A::Cap>(app, &raw, A::ACTION).await?;
                Ok(Self { auth, grant, account, child })
            }
            // Not there: a denied attempt like any other 404, in the actor's own trail.
            (Err(ApiError::NotFound), _) | (Ok(()), None) => {
                Err(auth.refuse(app, ApiError::NotFound, None, &raw, A::ACTION).await)
            }
            (Err(e), _) => Err(e),
        }
    }
}

/// One id after the account id.
fn single<T: FromStr>(segments: &[String]) -> Option<T> {
    segments.first()?.parse().ok()
}

macro_rules! children {
    ($($id:ty: $read:ident => $write:ident by $get:ident;)*) => {
        $(
            impl Child for $id {
                type Read = cap::$read;
                type Write = cap::$write;

                fn from_path(segments: &[String]) -> Option<Self> {
                    single(segments)
                }

                async fn find(&self, app: &App, seen: &Grant<cap::$read>) -> ApiResult<()> {
                    Ok(app.store.$get(seen, *self).await.map(drop)?)
                }
            }
        )*
    };
}

children! {
    UserId: UserRead => UserManage by get_user;
    CollectionId: ResourceRead => ResourceWrite by get_collection;
    CertificateId: ResourceRead => ResourceWrite by get_certificate;
    AgentId: ResourceRead => ResourceWrite by get_agent;
    TargetId: ResourceRead => ResourceWrite by get_target;
    SupportRequestId: SupportRead => SupportManage by get_support_request;
    WebhookId: WebhookManage => WebhookManage by get_webhook;
}

/// A technician of the MSP and a customer, both named by the path, for assigning the one to the
/// other: both must exist.
pub struct StaffAndCustomer {
    pub user: UserId,
    pub customer: AccountId,
}

/// An existing assignment of a technician to a customer, named by the path.
pub struct Assignment(pub StaffAndCustomer);

impl StaffAndCustomer {
    fn from_segments(segments: &[String]) -> Option<Self> {
        match segments {
            [user, customer] => Some(Self { user: user.parse().ok()?, customer: customer.parse().ok()? }),
            _ => None,
        }
    }
}

impl Child for StaffAndCustomer {
    type Read = cap::StaffRead;
    type Write = cap::StaffAssign;

    fn from_path(segments: &[String]) -> Option<Self> {
        Self::from_segments(segments)
    }

    async fn find(&self, app: &App, seen: &Grant<cap::StaffRead>) -> ApiResult<()> {
        Ok(app.store.find_assignment(seen, self.user, self.customer, false).await?)
    }
}

impl Child for Assignment {
    type Read = cap::StaffRead;
    type Write = cap::StaffAssign;

    fn from_path(segments: &[String]) -> Option<Self> {
        StaffAndCustomer::from_segments(segments).map(Self)
    }

    async fn find(&self, app: &App, seen: &Grant<cap::StaffRead>) -> ApiResult<()> {
        Ok(app.store.find_assignment(seen, self.0.user, self.0.customer, true).await?)
    }
}

/// A request body that may carry the caller's own password, for an inline step-up.
pub trait Confirming {
    fn password(&self) -> Option<&str>;

    /// The second factor sent beside the password (for users with MFA).
    fn second_factor(&self) -> crate::mfa::SecondFactor {
        crate::mfa::SecondFactor::default()
    }
}

/// `Granted<A>` for an action marked **[reauth]**: the caller stepped up recently, or sends its
/// own password in the JSON body `T` (checked like a sign-in, refusals recorded as `A`). The body
/// is read after the grant, and its shape judged only after the step-up.
pub struct SteppedUp<A: Act, T> {
    on: Granted<A>,
    parsed: ApiResult<Option<T>>,
    headers: axum::http::HeaderMap,
    bytes: axum::body::Bytes,
}

impl<A: Act, T: Confirming + DeserializeOwned + Send> FromRequest<App> for SteppedUp<A, T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &App) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let on = Granted::<A>::from_request_parts(&mut parts, app).await?;
        let bytes = crate::body::read(body).await?;
        let parsed = crate::body::optional_json::<T>(&parts.headers, &bytes);
        let inline = crate::credentials::inline(parsed.as_ref().ok().and_then(Option::as_ref));
        crate::credentials::require_reauth(app, &on.auth, inline, &on.account, A::ACTION).await?;
        Ok(Self { on, parsed, headers: parts.headers, bytes })
    }
}

impl<A: Act, T: DeserializeOwned> SteppedUp<A, T> {
    /// The grant and the body, which may be empty.
    pub fn optional(self) -> ApiResult<(Granted<A>, Option<T>)> {
        Ok((self.on, self.parsed?))
    }

    /// The grant and the body, which must be there.
    pub fn required(self) -> ApiResult<(Granted<A>, T)> {
        match self.parsed? {
            Some(body) => Ok((self.on, body)),
            None => crate::body::json(&self.headers, &self.bytes).map(|body| (self.on, body)),
        }
    }
}
