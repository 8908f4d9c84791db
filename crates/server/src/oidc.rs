//! The OpenID Connect relying party: each account's provider discovered and its keys cached
//! (fetched again for a key it does not know), authorization requests with PKCE (S256), `state`
//! and `nonce`, the code exchange, and the ID token's checks.

use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreIdToken, CoreProviderMetadata,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
    TokenResponse,
};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tenantry_store::SsoSettings;

/// How long a provider's discovery document and keys are trusted before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// A key the cache does not know makes it fetch again, at most this often per provider (ID
/// tokens come only from the provider's token endpoint, so nobody else can make it ask).
const REFETCH_AFTER: Duration = Duration::from_secs(1);
/// The largest answer read from a provider.
const MAX_RESPONSE: usize = 1024 * 1024;
/// How long a step-up's sign-in at the provider may be old.
const FRESH_AUTHENTICATION: i64 = 300;

/// Why a single sign-on failed: a stable reason (the login page's `error`, the audit event's
/// `reason`) and what went wrong, for the log.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: &'static str,
    pub detail: String,
}

impl Failure {
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into() }
    }
}

/// A redirect to the provider, and what its callback must be checked against.
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// What the provider vouched for, after every check.
#[derive(Debug)]
pub struct Identity {
    pub email: String,
    pub name: Option<String>,
}

/// Who may be asked: the address rules of outgoing requests (identity providers, webhooks).
#[derive(Clone, Copy)]
pub(crate) struct Reach {
    pub(crate) allow_private: bool,
    pub(crate) allow_loopback: bool,
}

impl Reach {
    pub(crate) fn allows(self, ip: IpAddr) -> bool {
        tenantry_monitor::tls::is_public(ip) || self.allow_private || (self.allow_loopback && ip.is_loopback())
    }
}

/// Resolves names for an outgoing client, keeping only addresses it may reach.
pub(crate) struct Resolver(pub(crate) Reach);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let reach = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.into_iter().filter(|a| reach.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no address this server may reach").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    #[error("the answer is larger than {MAX_RESPONSE} bytes")]
    TooLarge,
}

/// The provider client as the OpenID Connect library calls it.
struct Http<'a>(&'a Providers);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http<'_> {
    type Error = HttpError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.0.send(request))
    }
}

struct Cached {
    metadata: CoreProviderMetadata,
    fetched: Instant,
}

/// Every account's provider, as this process knows it.
pub struct Providers {
    http: reqwest::Client,
    reach: Reach,
    cache: Mutex<HashMap<String, Arc<Cached>>>,
}

impl Providers {
    /// `roots` are the trust anchors (the platform's and the operator's extra ones);
    /// `allow_private` lets providers on private addresses be reached, `allow_loopback` those on
    /// this machine (with plain-http issuers, for development and tests).
    pub fn new(tls: rustls::ClientConfig, allow_private: bool, allow_loopback: bool) -> Result<Self, String> {
        let reach = Reach { allow_private, allow_loopback };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .dns_resolver(Arc::new(Resolver(reach)))
            .user_agent("tenantry")
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http, reach, cache: Mutex::new(HashMap::new()) })
    }

    /// One request to a provider, refused when its address literal may not be reached, its
    /// answer cut at `MAX_RESPONSE`.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let host = parts.uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>()
            && !self.reach.allows(ip)
        {
            return Err(HttpError::Refused(format!("{ip} is not an address this server may reach")));
        }
        let mut response =
            self.http.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer = HttpResponse::new(body);
        *answer.status_mut() = response.status();
        *answer.headers_mut() = response.headers().clone();
        Ok(answer)
    }

    /// The provider's discovery document and keys: cached, or fetched when `fresh` or stale.
    async fn metadata(&self, issuer: &str, fresh: bool) -> Result<Arc<Cached>, Failure> {
        if let Some(cached) = self.cached(issuer)
            && cached.fetched.elapsed() < METADATA_TTL
            && !(fresh && cached.fetched.elapsed() > REFETCH_AFTER)
        {
            return Ok(cached);
        }
        let url =
            IssuerUrl::new(issuer.to_owned()).map_err(|e| Failure::new("sso_provider_unreachable", e.to_string()))?;
        let http = Http(self);
        let metadata = CoreProviderMetadata::discover_async(url, &http)
            .await
            .map_err(|e| Failure::new("sso_provider_unreachable", error_chain(&e)))?;
        let cached = Arc::new(Cached { metadata, fetched: Instant::now() });
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(issuer.to_owned(), cached.clone());
        }
        Ok(cached)
    }

    fn cached(&self, issuer: &str) -> Option<Arc<Cached>> {
        self.cache.lock().ok().and_then(|cache| cache.get(issuer).cloned())
    }

    /// Fetches the discovery document and the keys now; the authorization endpoint on success.
    pub async fn test(&self, settings: &SsoSettings) -> Result<String, Failure> {
        let cached = self.metadata(&settings.issuer, true).await?;
        Ok(cached.metadata.authorization_endpoint().to_string())
    }

    /// The client of `settings` at its provider, authenticating with `client_secret_basic`, or
    /// `client_secret_post` when the provider offers only that.
    fn client(
        metadata: &CoreProviderMetadata,
        settings: &SsoSettings,
        redirect_uri: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        Failure,
    > {
        let methods = metadata.token_endpoint_auth_methods_supported();
        let post_only = methods.is_some_and(|m| {
            !m.contains(&CoreClientAuthMethod::ClientSecretBasic) && m.contains(&CoreClientAuthMethod::ClientSecretPost)
        });
        let redirect =
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| Failure::new("sso_misconfigured", e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(settings.client_id.clone()),
            settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect)
        .set_auth_type(if post_only { AuthType::RequestBody } else { AuthType::BasicAuth }))
    }

    /// Where to send the browser. A step-up asks the provider to sign its user in again now.
    pub async fn authorization(
        &self,
        settings: &SsoSettings,
        redirect_uri: &str,
        login_hint: Option<&str>,
        step_up: bool,
    ) -> Result<Authorization, Failure> {
        let cached = self.metadata(&settings.issuer, false).await?;
        let client = Self::client(&cached.metadata, settings, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for scope in settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        if step_up {
            request = request.add_prompt(CoreAuthPrompt::Login).set_max_age(Duration::ZERO);
        }
        let (url, state, nonce) = request.url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// The provider's issuer as its discovery document names it (for RFC 9207's `iss`).
    pub async fn issuer(&self, settings: &SsoSettings) -> Result<String, Failure> {
        Ok(self.metadata(&settings.issuer, false).await?.metadata.issuer().to_string())
    }

    /// Exchanges `code` and checks the ID token: signature (keys fetched again once for an
    /// unknown key), issuer, audience, expiry, nonce, a verified email, and for a step-up a fresh
    /// `auth_time`.
    pub async fn identity(
        &self,
        settings: &SsoSettings,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        step_up: bool,
    ) -> Result<Identity, Failure> {
        let cached = self.metadata(&settings.issuer, false).await?;
        let client = Self::client(&cached.metadata, settings, redirect_uri)?;
        let http = Http(self);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| Failure::new("sso_misconfigured", e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&http)
            .await
            .map_err(|e| Failure::new("sso_code_refused", error_chain(&e)))?;
        let id_token = token.id_token().ok_or_else(|| Failure::new("sso_token_invalid", "no ID token"))?.clone();
        let nonce = Nonce::new(nonce.to_owned());
        let verified = match Self::verify(&cached.metadata, settings, redirect_uri, &id_token, &nonce, step_up) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                let fresh = self.metadata(&settings.issuer, true).await?;
                Self::verify(&fresh.metadata, settings, redirect_uri, &id_token, &nonce, step_up)
            }
            other => other,
        };
        let identity = verified.map_err(|e| match e {
            ClaimsVerificationError::Other(detail) if detail.starts_with("auth_time") => {
                Failure::new("sso_stale_authentication", detail)
            }
            other => Failure::new("sso_token_invalid", error_chain(&other)),
        })?;
        Ok(identity)
    }

    fn verify(
        metadata: &CoreProviderMetadata,
        settings: &SsoSettings,
        redirect_uri: &str,
        id_token: &CoreIdToken,
        nonce: &Nonce,
        step_up: bool,
    ) -> Result<Identity, ClaimsVerificationError> {
        let client =
            Self::client(metadata, settings, redirect_uri).map_err(|f| ClaimsVerificationError::Other(f.detail))?;
        let mut verifier = client.id_token_verifier();
        if step_up {
            verifier = verifier.set_auth_time_verifier_fn(|auth_time| {
                let Some(at) = auth_time else { return Err("auth_time missing".into()) };
                let age = chrono::Utc::now().signed_duration_since(at).num_seconds();
                if (-60..=FRESH_AUTHENTICATION).contains(&age) {
                    Ok(())
                } else {
                    Err(format!("auth_time is {age} s old"))
                }
            });
        }
        let claims = id_token.claims(&verifier, nonce)?;
        if claims.email_verified() != Some(true) {
            return Err(ClaimsVerificationError::Other("email_verified: the provider did not verify the email".into()));
        }
        let email = if settings.email_claim == "email" {
            claims.email().map(|e| e.as_str().to_owned())
        } else {
            raw_claim(id_token, &settings.email_claim)
        };
        let email =
            email.ok_or_else(|| ClaimsVerificationError::Other(format!("no `{}` claim", settings.email_claim)))?;
        let name = claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
        Ok(Identity { email, name })
    }
}

/// A string claim of a token whose signature was checked, read from its payload by name.
fn raw_claim(id_token: &CoreIdToken, name: &str) -> Option<String> {
    use base64::Engine;
    let compact = serde_json::to_value(id_token).ok()?;
    let payload = compact.as_str()?.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}

/// An error and its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
