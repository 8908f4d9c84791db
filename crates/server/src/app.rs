//! The shared application state and the settings the server runs with.

use crate::passwords::{Passwords, PoolSettings};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tenantry_domain::Clock;
use tenantry_monitor::Checker;
use tenantry_store::Store;
use time::Duration;

/// What the server needs to know; the binary builds it from flags, env and the config file.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where users reach the service, for links (activation); defaults to `http://{listen}`.
    pub public_url: Option<String>,
    pub reauth_window: Duration,
    pub access_session_ttl: Duration,
    pub deletion_grace: Duration,
    pub expiring_within: Duration,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub activation_ttl: Duration,
    /// Failed sign-ins per address or per email within `login_failure_window` before 429.
    pub login_failure_limit: i64,
    pub login_failure_window: Duration,
    pub monitor: MonitorSettings,
    /// The relay support-request notifications go through; none sends nothing.
    pub smtp: Option<crate::mail::SmtpSettings>,
    /// How many passwords are hashed at once, and how long a request waits for a turn.
    pub hashing: PoolSettings,
    /// Proxies whose `X-Forwarded-For` names the client (`TENANTRY_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// With it, `/metrics` also answers `Authorization: Bearer <token>` from anywhere.
    pub metrics_token: Option<crate::secrets::Secret>,
    /// How often the background work ends sign-ins that ran out.
    pub sweep_every: std::time::Duration,
    /// Lets an SSO issuer be `http://` on a loopback address (a local test provider).
    pub sso_allow_insecure_issuer: bool,
}

/// How monitored targets are checked.
#[derive(Clone, Debug)]
pub struct MonitorSettings {
    /// Private, loopback and link-local addresses may be checked (`TENANTRY_MONITOR_ALLOW_PRIVATE=1`).
    pub allow_private: bool,
    /// Trust anchors beyond the bundled web PKI roots (an internal CA), as PEM.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// How long after a check a target is due again.
    pub interval: Duration,
    /// How long one check may take.
    pub timeout: std::time::Duration,
    /// How often the scheduler looks for due targets.
    pub poll_every: std::time::Duration,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            extra_roots_pem: None,
            interval: Duration::hours(6),
            timeout: std::time::Duration::from_secs(10),
            poll_every: std::time::Duration::from_secs(30),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            public_url: None,
            reauth_window: Duration::seconds(300),
            access_session_ttl: Duration::hours(8),
            deletion_grace: Duration::days(30),
            expiring_within: Duration::days(30),
            session_idle: Duration::hours(1),
            session_absolute: Duration::hours(12),
            activation_ttl: Duration::days(7),
            login_failure_limit: 10,
            login_failure_window: Duration::minutes(15),
            monitor: MonitorSettings::default(),
            smtp: None,
            hashing: PoolSettings::default(),
            trusted_proxies: Vec::new(),
            metrics_token: None,
            sweep_every: std::time::Duration::from_secs(30),
            sso_allow_insecure_issuer: false,
        }
    }
}

/// Request counters served at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub client_errors: AtomicU64,
    pub server_errors: AtomicU64,
    pub mail_sent: AtomicU64,
    pub mail_failed: AtomicU64,
}

impl Metrics {
    pub fn count(&self, status: u16) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if (400..500).contains(&status) {
            self.client_errors.fetch_add(1, Ordering::Relaxed);
        } else if status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Everything a handler can reach.
pub struct Inner {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    pub passwords: Passwords,
    pub metrics: Metrics,
    pub public_url: String,
    pub checker: Arc<Checker>,
    pub mailer: Option<crate::mail::Mailer>,
    pub providers: crate::oidc::Providers,
    /// Signs trail checkpoints.
    pub signer: crate::checkpoint::Signer,
    /// Sign-ins and account views earlier requests verified.
    pub verified: crate::verified::Verified,
    /// POSTs webhook deliveries and test pings.
    pub sender: crate::delivery::Sender,
    /// This process's name on the leases of its background work (targets, deliveries).
    pub lease_owner: String,
}

/// Cheap to clone; shared by every request.
#[derive(Clone)]
pub struct App(pub Arc<Inner>);

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    pub async fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: Settings,
        listen: SocketAddr,
    ) -> Result<Self, crate::ApiError> {
        let public_url =
            settings.public_url.clone().unwrap_or_else(|| format!("http://{listen}")).trim_end_matches('/').to_owned();
        let monitor = &settings.monitor;
        let checker = Checker::new(monitor.allow_private, monitor.extra_roots_pem.as_deref(), monitor.timeout)
            .map_err(crate::ApiError::Internal)?;
        let mailer =
            settings.smtp.as_ref().map(crate::mail::Mailer::new).transpose().map_err(crate::ApiError::Internal)?;
        let passwords = Passwords::new(settings.hashing)?;
        let providers = crate::oidc::Providers::new(
            checker.client_config().map_err(crate::ApiError::Internal)?,
            monitor.allow_private,
            settings.sso_allow_insecure_issuer,
        )
        .map_err(crate::ApiError::Internal)?;
        let sender = crate::delivery::Sender::new(
            checker.client_config().map_err(crate::ApiError::Internal)?,
            monitor.allow_private,
        )
        .map_err(crate::ApiError::Internal)?;
        let key = crate::checkpoint::Signer::generate().map_err(crate::ApiError::Internal)?;
        let key = store.audit_signing_key(key).await?;
        let signer = crate::checkpoint::Signer::from_stored(&key).map_err(crate::ApiError::Internal)?;
        Ok(Self(Arc::new(Inner {
            store,
            clock,
            settings,
            passwords,
            metrics: Metrics::default(),
            public_url,
            checker: Arc::new(checker),
            mailer,
            providers,
            signer,
            verified: Default::default(),
            sender,
            lease_owner: format!("tenantry-{}", uuid::Uuid::now_v7()),
        })))
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// The link an invited user opens to set a first password.
    pub fn activation_url(&self, token: &str) -> String {
        format!("{}/activate#token={token}", self.public_url)
    }

    /// The background checker of due targets; each process leases under its own name.
    pub fn scheduler(&self) -> tenantry_monitor::Scheduler {
        tenantry_monitor::Scheduler {
            store: self.store.clone(),
            checker: self.checker.clone(),
            clock: self.clock.clone(),
            owner: self.lease_owner.clone(),
            interval: self.settings.monitor.interval,
            batch: 50,
            concurrency: 16,
        }
    }

    /// The monitoring address rule for an address literal (names are judged after resolution): a
    /// private, loopback or link-local address only where the server allows private targets.
    pub fn may_reach(&self, ip: std::net::IpAddr) -> Result<(), String> {
        if tenantry_monitor::is_public(ip) || self.checker.allows_private() {
            Ok(())
        } else {
            Err("is a private, loopback or link-local address".into())
        }
    }

    /// The background deliverer of webhook events, leasing under this process's name.
    pub fn deliverer(&self) -> crate::delivery::Deliverer {
        crate::delivery::Deliverer {
            store: self.store.clone(),
            clock: self.clock.clone(),
            sender: self.sender.clone(),
            owner: self.lease_owner.clone(),
            batch: 32,
        }
    }

    /// Ends every sign-in that ran out (absolute or idle) with its access sessions, without waiting
    /// for its cookie to come back; returns how many. Safe in every process at once.
    pub async fn end_lapsed_sign_ins(&self) -> Result<u64, tenantry_store::StoreError> {
        const BATCH: u32 = 200;
        let mut total = 0;
        loop {
            let ended = self.store.end_lapsed_sessions(self.settings.session_idle, BATCH).await?;
            total += ended;
            if ended < u64::from(BATCH) {
                return Ok(total);
            }
        }
    }

    /// The background work of the edge, every `sweep_every` until the process ends.
    pub async fn run_background(self) {
        loop {
            if let Err(e) = self.end_lapsed_sign_ins().await {
                tracing::warn!(error = %e, "ending lapsed sign-ins failed");
            }
            if let Err(e) = self.store.prune_attempts().await {
                tracing::warn!(error = %e, "forgetting old sign-in attempts failed");
            }
            tokio::time::sleep(self.settings.sweep_every).await;
        }
    }

    /// Whether the service is reached over https: cookies are then `Secure` (the sign-in's a
    /// `__Host-` cookie) and pages carry `Strict-Transport-Security`.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The sign-in cookie's name: `__Host-tenantry_session` over https.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure_cookies() { "__Host-tenantry_session" } else { crate::principal::SESSION_COOKIE }
    }
}
