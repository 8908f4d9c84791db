//! Strict request bodies: JSON only, unknown fields refused, and the contract's error codes —
//! unparsable JSON or a wrong Content-Type is 400, a well-formed body with wrong fields is 422.

use crate::error::ApiError;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

/// Whether the request says its body is JSON.
fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
    })
}

/// Parses a JSON body into a value first (syntax errors: 400), for handlers that look at which
/// fields are present before checking them.
pub fn json_value(headers: &HeaderMap, bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::Malformed("Content-Type must be application/json".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::Malformed(format!("body is not valid JSON: {e}")))
}

/// Turns a JSON value into `T`; unknown fields and wrong types are 422. Every body is an object,
/// never an array (which serde would otherwise read into a struct's fields by position).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if value.is_array() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::invalid("body", e.to_string()))
}

/// Parses a JSON body into `T` (400 for syntax, 422 for shape).
pub fn json<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, ApiError> {
    from_value(json_value(headers, bytes)?)
}

/// An optional JSON body: empty or `null` means `None`.
pub fn optional_json<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<Option<T>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match json_value(headers, bytes)? {
        serde_json::Value::Null => Ok(None),
        value => from_value(value).map(Some),
    }
}

/// A field that may be absent, `null`, or a value (for PATCH).
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            Some(v) => Patch::Value(v),
            None => Patch::Null,
        })
    }
}

impl<T> Patch<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    /// `None` when absent, `Some(None)` when null, `Some(Some(v))` otherwise.
    pub fn into_option(self) -> Option<Option<T>> {
        match self {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(v) => Some(Some(v)),
        }
    }
}

/// Reads a request body of at most [`crate::MAX_BODY`] bytes. Handlers call it after their
/// authorization checks, so that an oversized body to a route the caller cannot use is still 404.
pub async fn read(body: axum::body::Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, crate::MAX_BODY).await.map_err(|_| ApiError::PayloadTooLarge)
}

/// A JSON request body of type `T`, read only when the handler asks for it — after the grant
/// extractors before it have authorized the request.
pub struct Payload<T> {
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
    shape: std::marker::PhantomData<fn() -> T>,
}

impl<S: Send + Sync, T> axum::extract::FromRequest<S> for Payload<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        Ok(Self { headers: parts.headers, body, shape: std::marker::PhantomData })
    }
}

impl<T: DeserializeOwned> Payload<T> {
    /// Reads and parses the body (413, 400 for syntax, 422 for shape).
    pub async fn read(self) -> Result<T, ApiError> {
        json(&self.headers, &read(self.body).await?)
    }

    /// Reads the body into the domain's input `D`, whose conversion checks every field.
    pub async fn parse<D: TryFrom<T, Error = ApiError>>(self) -> Result<D, ApiError> {
        D::try_from(self.read().await?)
    }

    /// Reads a body that may be empty (`None`). The outer error is the read's (413); the inner
    /// one is the parse's, for handlers that judge something else first.
    pub async fn read_optional(self) -> Result<Result<Option<T>, ApiError>, ApiError> {
        let bytes = read(self.body).await?;
        Ok(optional_json(&self.headers, &bytes))
    }

    /// Reads the body as a JSON value first, for handlers that look at which fields are present.
    pub async fn read_value(self) -> Result<serde_json::Value, ApiError> {
        json_value(&self.headers, &read(self.body).await?)
    }
}
