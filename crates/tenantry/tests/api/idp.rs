//! The outside OpenID provider the single sign-on tests use (node-oidc-provider, pinned in
//! `tests/oidc/package.json`, installed on first use), and a browser's walk through it: cookies
//! per name, redirects followed by hand, the provider's development login form filled in.

use crate::support::Server;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::AsyncBufReadExt;

pub const CLIENT_ID: &str = "tenantry-test";
pub const CLIENT_SECRET: &str = "a-long-provider-client-secret";

/// A running provider; stopped when dropped.
pub struct Provider {
    pub issuer: String,
    child: tokio::process::Child,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Installs the pinned provider once per test run; `false` when npm is missing outside CI.
fn installed() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let dir = dir();
        if dir.join("node_modules/oidc-provider/package.json").exists() {
            return true;
        }
        let ran = std::process::Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status();
        match ran {
            Ok(status) if status.success() => true,
            other if std::env::var_os("CI").is_some() => {
                panic!("installing the test OpenID provider failed: {other:?}")
            }
            other => {
                eprintln!("skipping: the test OpenID provider could not be installed ({other:?})");
                false
            }
        }
    })
}

impl Provider {
    /// Starts a provider whose one client is `s`'s, authenticating with `auth_method`.
    pub async fn start(s: &Server, auth_method: &str) -> Option<Self> {
        Self::start_on(s, auth_method, 0).await
    }

    /// The same on `port` (0: any free one).
    pub async fn start_on(s: &Server, auth_method: &str, port: u16) -> Option<Self> {
        if !installed() {
            return None;
        }
        let mut child = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .current_dir(dir())
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", s.url("/auth/sso/callback"))
            .env("OIDC_AUTH_METHOD", auth_method)
            .env("OIDC_PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("node: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the OpenID provider did not start"))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("the OpenID provider exited"));
        let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let issuer = started["issuer"].as_str().unwrap_or_else(|| panic!("{line}")).to_owned();
        // Whatever else it prints is read, so that it never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Some(Self { issuer, child })
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.issuer.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{}", self.issuer))
    }

    /// Stops it and waits until it has exited.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// The provider settings of an account that signs in with it.
    pub fn settings(&self, domains: &[&str], jit: bool) -> serde_json::Value {
        serde_json::json!({"enabled": true, "issuer": self.issuer, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "allowed_email_domains": domains, "jit_provisioning": jit})
    }
}

/// One HTTP answer, not followed.
pub struct Hop {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// A browser: one cookie jar for 127.0.0.1 (cookies do not tell ports apart), no automatic
/// redirects.
pub struct Browser {
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
    base: String,
}

impl Browser {
    pub fn new(s: &Server) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        Self { http, cookies: HashMap::new(), base: s.base.clone() }
    }

    fn absolute(&self, url: &str, from: &str) -> String {
        if url.starts_with("http") {
            return url.to_owned();
        }
        let origin: String = from.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        format!("{origin}{url}")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Hop {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let response = request.header("cookie", cookie).send().await.unwrap_or_else(|e| panic!("{e}"));
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap_or_default();
            let pair = value.split(';').next().unwrap_or_default();
            let Some((name, v)) = pair.split_once('=') else { continue };
            let removed = v.is_empty() || value.to_lowercase().contains("max-age=0");
            if removed {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().to_owned(), v.to_owned());
            }
        }
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        Hop { status, location, body }
    }

    pub async fn get(&mut self, url: &str) -> Hop {
        let request = self.http.get(url);
        self.send(request).await
    }

    /// Starts at `url` and follows redirects, filling the provider's login form with `login`,
    /// until the provider sends the browser back to the service's callback (or the service to
    /// its login page): that URL.
    pub async fn through_provider(&mut self, url: &str, login: &str) -> String {
        let callback = format!("{}/auth/sso/callback", self.base);
        let mut url = url.to_owned();
        for _ in 0..12 {
            if url.starts_with(&callback) {
                return url;
            }
            let hop = self.get(&url).await;
            if let Some(next) = hop.location {
                url = self.absolute(&next, &url);
                if url.starts_with(&format!("{}/login", self.base)) {
                    return url;
                }
                continue;
            }
            assert_eq!(hop.status, 200, "{url}: {}", hop.body);
            let action = hop
                .body
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no form at {url}: {}", hop.body))
                .to_owned();
            let action = self.absolute(&action, &url);
            // The form's hidden fields (the provider's own xsrf token, the prompt), and for the
            // login form the login name and a password (any is right).
            let mut fields: Vec<(String, String)> = hidden_fields(&hop.body);
            if hop.body.contains("name=\"login\"") {
                fields.push(("login".into(), login.into()));
                fields.push(("password".into(), "any".into()));
            }
            let body = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
            let request =
                self.http.post(&action).header("content-type", "application/x-www-form-urlencoded").body(body);
            let posted = self.send(request).await;
            url = self.absolute(&posted.location.unwrap_or_else(|| panic!("login form: {}", posted.body)), &action);
        }
        panic!("no way back to the service from {url}")
    }

    /// The service's session cookie (`name=value`), if signed in.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get("tenantry_session").map(|v| format!("tenantry_session={v}"))
    }
}

/// The `name` and `value` of every hidden input of a page.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| {
        tag.split(&format!("{name}=\"")).nth(1).and_then(|rest| rest.split('"').next()).map(str::to_owned)
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value").unwrap_or_default())))
        .collect()
}

/// Form encoding of one value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
