//! Audit webhooks' delivery: every process leases due deliveries from the outbox, POSTs each
//! event signed with its webhook's secret, and stores the outcome; failures are retried with
//! exponential backoff and jitter for a day, a webhook's events going out in trail order.

use crate::oidc::{Reach, Resolver};
use ring::hmac;
use std::sync::Arc;
use std::time::Duration;
use tenantry_domain::Clock;
use tenantry_store::{AttemptOutcome, DueDelivery, Store};
use time::OffsetDateTime;
use tokio::task::JoinSet;

/// How long one attempt may take, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a receiver's answer that is read (the rest is not waited for).
pub const MAX_ANSWER: usize = 64 * 1024;
/// How long failing deliveries are retried.
pub const RETRY_FOR: time::Duration = time::Duration::hours(24);
/// The first retry's delay; each later one doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_RETRY: time::Duration = time::Duration::seconds(10);
pub const MAX_BACKOFF: time::Duration = time::Duration::hours(1);

/// `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, the `X-Tenantry-Signature` header.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// When the attempt after `attempts` failed ones goes, `jitter` in [0, 1) spreading it over
/// ±20 %; `None` once the delivery has been retried for [`RETRY_FOR`].
pub fn next_attempt(queued: OffsetDateTime, now: OffsetDateTime, attempts: i64, jitter: f64) -> Option<OffsetDateTime> {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let base = FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_BACKOFF);
    let spread = base.as_seconds_f64() * (0.8 + 0.4 * jitter.clamp(0.0, 1.0));
    let at = now + time::Duration::seconds_f64(spread);
    (at < queued + RETRY_FOR).then_some(at)
}

/// What one POST came to.
#[derive(Debug)]
pub struct Answer {
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

impl Answer {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// The client webhooks are POSTed with: the monitoring address rules, no redirects, no proxy.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    reach: Reach,
}

impl Sender {
    pub fn new(tls: rustls::ClientConfig, allow_private: bool) -> Result<Self, String> {
        let reach = Reach { allow_private, allow_loopback: false };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(ATTEMPT_TIMEOUT)
            .dns_resolver(Arc::new(Resolver(reach)))
            .user_agent("tenantry-webhooks")
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http, reach })
    }

    /// POSTs `body` to `url`, signed; a 2xx answer is a delivery, anything else a failure.
    pub async fn post(&self, url: &str, secret: &str, event_id: &str, body: Vec<u8>, now: OffsetDateTime) -> Answer {
        let failed = |status_code, error: String| Answer { status_code, error: Some(error) };
        let Ok(parsed) = reqwest::Url::parse(url) else { return failed(None, "the URL cannot be read".into()) };
        // A literal address is judged here; names are judged by the resolver.
        if literal_address(&parsed).is_some_and(|ip| !self.reach.allows(ip)) {
            return failed(None, "a private, loopback or link-local address".into());
        }
        let timestamp = now.unix_timestamp();
        let request = self
            .http
            .post(parsed)
            .header("content-type", "application/json")
            .header("x-tenantry-event-id", event_id)
            .header("x-tenantry-timestamp", timestamp.to_string())
            .header("x-tenantry-signature", signature(secret, timestamp, &body))
            .body(body);
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return failed(None, "timed out".into()),
            Err(e) => return failed(None, describe(e)),
        };
        let status = response.status();
        // Read a little of the answer so the connection ends cleanly, never more than the cap.
        let mut read = 0;
        while read < MAX_ANSWER {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        if status.is_success() {
            Answer { status_code: Some(status.as_u16()), error: None }
        } else {
            failed(Some(status.as_u16()), format!("answered {status}"))
        }
    }
}

/// The address a URL names literally (`http://10.0.0.1/`, `http://[::1]/`), if it does.
pub fn literal_address(url: &reqwest::Url) -> Option<std::net::IpAddr> {
    url.host_str()?.trim_matches(['[', ']']).parse().ok()
}

/// The error without the URL (which the log shows beside it anyway).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text.chars().take(500).collect()
}

/// Delivers due events in the background.
#[derive(Clone)]
pub struct Deliverer {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub sender: Sender,
    /// This process's name on its leases.
    pub owner: String,
    /// How many deliveries one round leases, and how many go at once.
    pub batch: u32,
}

impl Deliverer {
    /// One round: leases due deliveries, attempts each and stores the outcomes; answers how many
    /// were attempted.
    pub async fn run_once(&self) -> Result<usize, tenantry_store::StoreError> {
        // Longer than an attempt can take, twice over.
        let lease_until = self.clock.now() + time::Duration::seconds(60);
        let due = self.store.lease_due_deliveries(&self.owner, lease_until, self.batch).await?;
        let count = due.len();
        let mut running = JoinSet::new();
        for delivery in due {
            let this = self.clone();
            running.spawn(async move { this.deliver(delivery).await });
        }
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "storing a webhook delivery failed"),
                Err(e) => tracing::warn!(error = %e, "a webhook delivery stopped"),
            }
        }
        Ok(count)
    }

    async fn deliver(&self, due: DueDelivery) -> Result<bool, tenantry_store::StoreError> {
        let body = serde_json::to_vec(&due.event).unwrap_or_default();
        let answer = self.sender.post(&due.url, &due.secret, &due.event.id.to_string(), body, self.clock.now()).await;
        let outcome = match answer {
            Answer { status_code: Some(code), error: None } => AttemptOutcome::Delivered { status_code: code },
            Answer { status_code, error } => {
                let now = self.clock.now();
                let jitter = f64::from(rand_unit());
                AttemptOutcome::Failed {
                    status_code,
                    error: error.unwrap_or_default(),
                    retry_at: next_attempt(due.created_at, now, due.attempts + 1, jitter),
                }
            }
        };
        self.store.complete_delivery(&self.owner, &due, outcome).await
    }

    /// Runs rounds until the process ends: at once again after a full round, else after `every`.
    pub async fn run(self, every: Duration) {
        loop {
            match self.run_once().await {
                Ok(n) if n >= self.batch as usize => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "leasing webhook deliveries failed"),
            }
            tokio::time::sleep(every).await;
        }
    }
}

/// A number in [0, 1) for jitter.
fn rand_unit() -> f32 {
    let mut byte = [0u8; 2];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte);
    f32::from(u16::from_le_bytes(byte)) / 65_536.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: Python's hmac.new(secret, b"1700000000." + body, sha256).
        let sig = signature("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
    }

    #[test]
    fn retries_double_from_ten_seconds_with_jitter_and_stop_after_a_day() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let first = next_attempt(t0, t0, 1, 0.5).unwrap_or(t0) - t0;
        assert_eq!(first, time::Duration::seconds(10));
        let third = next_attempt(t0, t0, 3, 0.5).unwrap_or(t0) - t0;
        assert_eq!(third, time::Duration::seconds(40));
        let low = next_attempt(t0, t0, 1, 0.0).unwrap_or(t0) - t0;
        let high = next_attempt(t0, t0, 1, 0.999).unwrap_or(t0) - t0;
        assert!(low >= time::Duration::seconds(8) && high < time::Duration::seconds(12), "{low} {high}");
        let capped = next_attempt(t0, t0, 30, 0.5).unwrap_or(t0) - t0;
        assert_eq!(capped, time::Duration::hours(1));
        assert!(next_attempt(t0, t0 + time::Duration::hours(24), 12, 0.5).is_none(), "given up after a day");
    }
}
