//! Configuration: defaults, then an optional TOML file (unknown keys rejected), then `TENANTRY_*`
//! environment variables (secrets also from `*_FILE`), then command-line flags.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use tenantry_server::Settings;
use tenantry_server::app::MonitorSettings;
use tenantry_server::mail::SmtpSettings;
use time::Duration;

/// Every setting, as the file spells it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    pub public_url: Option<String>,
    pub reauth_window_secs: i64,
    pub access_session_hours: i64,
    pub deletion_grace_days: i64,
    pub expiring_days: i64,
    pub session_idle_mins: i64,
    pub session_hours: i64,
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<String>,
    /// Whether targets on private, loopback and link-local addresses may be checked.
    pub monitor_allow_private: bool,
    /// A PEM file of extra trust anchors for checks (an internal CA).
    pub monitor_ca_file: Option<String>,
    pub monitor_interval_mins: i64,
    /// How often the scheduler looks for due targets.
    pub monitor_poll_secs: i64,
    pub monitor_timeout_secs: i64,
    /// The SMTP relay for notifications, e.g. `smtp://user:password@relay.example.com:587`.
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    /// Proxies (comma-separated CIDRs) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: String,
    /// Lets `/metrics` answer `Authorization: Bearer <token>` from anywhere, not only loopback.
    pub metrics_token: Option<String>,
    /// Lets an SSO issuer be `http://` on a loopback address (local test providers only).
    pub sso_allow_insecure_issuer: bool,
    /// How long a stopping server waits for the requests in flight.
    pub shutdown_grace_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://tenantry.db".into(),
            public_url: None,
            reauth_window_secs: 300,
            access_session_hours: 8,
            deletion_grace_days: 30,
            expiring_days: 30,
            session_idle_mins: 60,
            session_hours: 12,
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
            monitor_allow_private: false,
            monitor_ca_file: None,
            monitor_interval_mins: 360,
            monitor_poll_secs: 30,
            monitor_timeout_secs: 10,
            smtp_url: None,
            smtp_from: "Tenantry <tenantry@localhost>".into(),
            trusted_proxies: String::new(),
            metrics_token: None,
            sso_allow_insecure_issuer: false,
            shutdown_grace_secs: 30,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &tenantry_store::redact_url(&self.database_url))
            .field("public_url", &self.public_url)
            .field("bootstrap_admin_email", &self.bootstrap_admin_email)
            .field("bootstrap_admin_password", &self.bootstrap_admin_password.as_ref().map(|_| "***"))
            .field("smtp_url", &self.smtp_url.as_deref().map(tenantry_store::redact_url))
            .field("trusted_proxies", &self.trusted_proxies)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// Reads one environment variable, or the file named by its `_FILE` twin.
fn env_value(name: &str) -> Result<Option<String>, String> {
    if let Ok(v) = std::env::var(name) {
        return Ok(Some(v));
    }
    match std::env::var(format!("{name}_FILE")) {
        Ok(path) => std::fs::read_to_string(&path)
            .map(|s| Some(s.trim_end_matches(['\n', '\r']).to_owned()))
            .map_err(|e| format!("{name}_FILE ({path}): {e}")),
        Err(_) => Ok(None),
    }
}

fn env_number(name: &str, target: &mut i64) -> Result<(), String> {
    if let Some(v) = env_value(name)? {
        *target = v.trim().parse().map_err(|_| format!("{name} must be a whole number"))?;
    }
    Ok(())
}

impl Config {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        if let Some(v) = env_value("TENANTRY_LISTEN")? {
            config.listen = v;
        }
        if let Some(v) = env_value("TENANTRY_DATABASE_URL")? {
            config.database_url = v;
        }
        if let Some(v) = env_value("TENANTRY_PUBLIC_URL")? {
            config.public_url = Some(v);
        }
        if let Some(v) = env_value("TENANTRY_BOOTSTRAP_ADMIN_EMAIL")? {
            config.bootstrap_admin_email = Some(v);
        }
        if let Some(v) = env_value("TENANTRY_BOOTSTRAP_ADMIN_PASSWORD")? {
            config.bootstrap_admin_password = Some(v);
        }
        env_number("TENANTRY_REAUTH_WINDOW_SECS", &mut config.reauth_window_secs)?;
        env_number("TENANTRY_ACCESS_SESSION_HOURS", &mut config.access_session_hours)?;
        env_number("TENANTRY_DELETION_GRACE_DAYS", &mut config.deletion_grace_days)?;
        env_number("TENANTRY_EXPIRING_DAYS", &mut config.expiring_days)?;
        env_number("TENANTRY_SESSION_IDLE_MINS", &mut config.session_idle_mins)?;
        env_number("TENANTRY_SESSION_HOURS", &mut config.session_hours)?;
        if let Some(v) = env_value("TENANTRY_MONITOR_ALLOW_PRIVATE")? {
            config.monitor_allow_private = match v.trim() {
                "1" | "true" => true,
                "0" | "false" | "" => false,
                _ => return Err("TENANTRY_MONITOR_ALLOW_PRIVATE must be 1 or 0".into()),
            };
        }
        if let Some(v) = env_value("TENANTRY_MONITOR_CA_FILE")? {
            config.monitor_ca_file = Some(v);
        }
        env_number("TENANTRY_MONITOR_INTERVAL_MINS", &mut config.monitor_interval_mins)?;
        env_number("TENANTRY_MONITOR_POLL_SECS", &mut config.monitor_poll_secs)?;
        env_number("TENANTRY_MONITOR_TIMEOUT_SECS", &mut config.monitor_timeout_secs)?;
        env_number("TENANTRY_SHUTDOWN_GRACE_SECS", &mut config.shutdown_grace_secs)?;
        if let Some(v) = env_value("TENANTRY_SMTP_URL")? {
            config.smtp_url = Some(v);
        }
        if let Some(v) = env_value("TENANTRY_SMTP_FROM")? {
            config.smtp_from = v;
        }
        if let Some(v) = env_value("TENANTRY_TRUSTED_PROXIES")? {
            config.trusted_proxies = v;
        }
        if let Some(v) = env_value("TENANTRY_METRICS_TOKEN")? {
            config.metrics_token = Some(v).filter(|t| !t.is_empty());
        }
        if let Some(v) = env_value("TENANTRY_SSO_ALLOW_INSECURE_ISSUER")? {
            config.sso_allow_insecure_issuer = match v.trim() {
                "1" | "true" => true,
                "0" | "false" | "" => false,
                _ => return Err("TENANTRY_SSO_ALLOW_INSECURE_ISSUER must be 1 or 0".into()),
            };
        }
        Ok(config)
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen.parse().map_err(|_| format!("listen address `{}` is not host:port", self.listen))
    }

    /// How long a stopping server waits for the requests in flight (at least a second).
    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_grace_secs.max(1).unsigned_abs())
    }

    /// The server's settings; every duration must be positive.
    pub fn settings(&self) -> Result<Settings, String> {
        let positive = |name: &str, v: i64| {
            if v > 0 { Ok(v) } else { Err(format!("{name} must be positive")) }
        };
        let seconds = |name: &str, v: i64| positive(name, v).map(|v| std::time::Duration::from_secs(v.unsigned_abs()));
        Ok(Settings {
            public_url: self.public_url.clone(),
            reauth_window: Duration::seconds(positive("reauth_window_secs", self.reauth_window_secs)?),
            access_session_ttl: Duration::hours(positive("access_session_hours", self.access_session_hours)?),
            deletion_grace: Duration::days(positive("deletion_grace_days", self.deletion_grace_days)?),
            expiring_within: Duration::days(positive("expiring_days", self.expiring_days)?),
            session_idle: Duration::minutes(positive("session_idle_mins", self.session_idle_mins)?),
            session_absolute: Duration::hours(positive("session_hours", self.session_hours)?),
            monitor: MonitorSettings {
                allow_private: self.monitor_allow_private,
                extra_roots_pem: match &self.monitor_ca_file {
                    Some(path) => Some(std::fs::read(path).map_err(|e| format!("monitor_ca_file ({path}): {e}"))?),
                    None => None,
                },
                interval: Duration::minutes(positive("monitor_interval_mins", self.monitor_interval_mins)?),
                timeout: seconds("monitor_timeout_secs", self.monitor_timeout_secs)?,
                poll_every: seconds("monitor_poll_secs", self.monitor_poll_secs)?,
            },
            smtp: self.smtp_url.clone().map(|url| SmtpSettings { url, from: self.smtp_from.clone() }),
            trusted_proxies: tenantry_server::client::parse_trusted_proxies(&self.trusted_proxies)
                .map_err(|e| format!("trusted_proxies: {e}"))?,
            metrics_token: self.metrics_token.clone().map(tenantry_server::secrets::Secret),
            sso_allow_insecure_issuer: self.sso_allow_insecure_issuer,
            ..Settings::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_in_the_file_are_rejected() {
        let err = toml::from_str::<Config>("listen = \"127.0.0.1:1\"\nlisten_port = 3\n").err();
        assert!(err.is_some_and(|e| e.to_string().contains("listen_port")));
    }

    #[test]
    fn the_file_overrides_defaults_and_keeps_the_rest() -> Result<(), toml::de::Error> {
        let config: Config = toml::from_str("reauth_window_secs = 60\n")?;
        assert_eq!(config.reauth_window_secs, 60);
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert_eq!(config.database_url, "sqlite://tenantry.db");
        Ok(())
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = Config {
            database_url: "postgres://u:hunter2@db/t".into(),
            bootstrap_admin_password: Some("hunter2hunter2".into()),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
