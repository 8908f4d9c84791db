//! The test server and an HTTP client that keeps a sign-in's cookie and CSRF token.

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tenantry_domain::ManualClock;
use tenantry_server::{App, Settings};
use tenantry_store::Backend;
use tokio::net::TcpListener;

pub const ADMIN_EMAIL: &str = "root@platform.test";
pub const PASSWORD: &str = "correct horse battery staple";

/// An HTTP client (rustls with ring is this project's one TLS stack; it is installed once).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap_or_else(|e| panic!("{e}"))
}

/// A running server with a clock the test can move.
pub struct Server {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    /// The server's state, for driving its background work (the scheduler) from a test.
    pub app: App,
    pub backend: Backend,
    /// The database this server serves, for a second server on the same one.
    pub database_url: String,
}

/// A certificate authority the test servers trust for TLS checks (beside the web PKI roots).
pub struct TestCa {
    pub pem: String,
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
}

impl TestCa {
    /// The one CA of this test run.
    pub fn get() -> &'static TestCa {
        static CA: std::sync::OnceLock<TestCa> = std::sync::OnceLock::new();
        CA.get_or_init(|| {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.distinguished_name.push(rcgen::DnType::CommonName, "Tenantry Test CA");
            let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
            let pem = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}")).pem();
            TestCa { pem, params, key }
        })
    }

    /// A leaf for `names`, valid from `from` to `to` days from now: its chain (DER) and PKCS#8 key.
    pub fn leaf(&self, names: &[&str], from: i64, to: i64) -> (Vec<Vec<u8>>, Vec<u8>) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone()).unwrap_or_else(|e| panic!("{e}"));
        params.distinguished_name.push(rcgen::DnType::CommonName, names.first().cloned().unwrap_or_default());
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from);
        params.not_after = now + time::Duration::days(to);
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap_or_else(|e| panic!("{e}"));
        (vec![cert.der().to_vec()], key.serialize_der())
    }

    /// A real TLS server presenting a leaf for `names` valid from `from` to `to` days from now;
    /// answers its port.
    pub async fn serve(&self, names: &[&str], from: i64, to: i64) -> u16 {
        let (chain, key) = self.leaf(names, from, to);
        tenantry_monitor::testing::serve_tls(chain, key).await.unwrap_or_else(|e| panic!("{e}")).port()
    }
}

/// A self-signed leaf for `names`, valid for `days` more days: its chain (DER) and PKCS#8 key.
pub fn self_signed(names: &[&str], days: i64) -> (Vec<Vec<u8>>, Vec<u8>) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap_or_else(|e| panic!("{e}"));
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let cert = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}"));
    (vec![cert.der().to_vec()], key.serialize_der())
}

/// The settings test servers run with: checks may reach this machine and trust [`TestCa`].
pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.monitor.allow_private = true;
    settings.monitor.extra_roots_pem = Some(TestCa::get().pem.clone().into_bytes());
    settings.monitor.timeout = std::time::Duration::from_secs(5);
    settings.sso_allow_insecure_issuer = true;
    settings
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The problem `code`, for error replies.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected reply: {}", self.text);
        self
    }

    /// Asserts a problem+json error with `status` and `code`.
    #[track_caller]
    pub fn problem(self, status: u16, code: &str) -> Self {
        assert_eq!((self.status, self.code()), (status, code), "unexpected reply: {}", self.text);
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(content_type, "application/problem+json");
        self
    }

    pub fn id(&self, pointer: &str) -> String {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no {pointer} in {}", self.text))
            .to_owned()
    }
}

async fn read(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, body, text, headers }
}

impl Server {
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, test_settings()).await
    }

    pub async fn start_with(backend: Backend, settings: Settings) -> Option<Self> {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("api");
        let database_url = tenantry_store::testing::fresh_database(backend, &dir).await?;
        let server = Self::serve(backend, database_url, Arc::new(ManualClock::new()), settings).await;
        tenantry_server::bootstrap::bootstrap(&server.app, Some(ADMIN_EMAIL), Some(PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Some(server)
    }

    /// A second server on this one's database and clock, with a store, pool and caches of its
    /// own: what another process beside this one has (PostgreSQL only; one process serves SQLite).
    pub async fn twin(&self) -> Self {
        assert_eq!(self.backend, Backend::Postgres, "one process serves a SQLite database");
        Self::serve(self.backend, self.database_url.clone(), self.clock.clone(), test_settings()).await
    }

    /// Serves `database_url` on a loopback port 0 with `clock`.
    async fn serve(backend: Backend, database_url: String, clock: Arc<ManualClock>, settings: Settings) -> Self {
        let store =
            tenantry_store::connect(&database_url, clock.clone()).await.unwrap_or_else(|e| panic!("connect: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr: SocketAddr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let app = App::new(store, clock.clone(), settings, addr).await.unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(tenantry_server::serve(listener, app.clone(), std::future::pending()));
        Self { base: format!("http://{addr}"), clock, http: client(), app, backend, database_url }
    }

    pub fn clock_now(&self) -> time::OffsetDateTime {
        tenantry_domain::Clock::now(self.clock.as_ref())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with no sign-in.
    pub async fn anon(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap_or_else(|e| panic!("{e}"))).await
    }

    /// Raw bytes with a chosen content type.
    pub async fn raw(&self, session: &Session, method: &str, path: &str, content_type: &str, body: &str) -> Reply {
        self.raw_bytes(session, method, path, content_type, body.as_bytes().to_vec()).await
    }

    /// Raw bytes with a chosen content type, as `session` (with its extra headers).
    pub async fn raw_bytes(
        &self,
        session: &Session,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let mut request = self
            .http
            .request(method, self.url(path))
            .header("cookie", &session.cookie)
            .header("x-csrf-token", &session.csrf)
            .header("content-type", content_type)
            .body(body);
        for (name, value) in &session.headers {
            request = request.header(name, value);
        }
        read(request.send().await.unwrap_or_else(|e| panic!("{e}"))).await
    }

    /// Sends `size` bytes of body over a raw connection and reads whatever answer comes, even when
    /// the server answers (and closes) before the whole body is sent. Returns the status and body.
    pub async fn oversized(
        &self,
        session: &Session,
        method: &str,
        path: &str,
        content_type: &str,
        size: usize,
    ) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.base.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap_or_else(|e| panic!("{e}"));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {size}\r\nConnection: close\r\n\r\n",
            session.cookie, session.csrf
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&vec![b'x'; size]).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text)
    }

    pub async fn try_login(&self, email: &str, password: &str) -> (Reply, Option<Session>) {
        let reply = self.anon("POST", "/api/v1/auth/login", Some(json!({"email": email, "password": password}))).await;
        let session = (reply.status == 200).then(|| Session::from_reply(self, &reply));
        (reply, session)
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        match self.try_login(email, password).await {
            (_, Some(session)) => session,
            (reply, None) => panic!("login {email} failed: {}", reply.text),
        }
    }

    /// Signs in with a `User-Agent` of its own, as a second browser would.
    pub async fn login_from(&self, email: &str, password: &str, user_agent: &str) -> Session {
        let request = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .header("user-agent", user_agent)
            .json(&json!({"email": email, "password": password}));
        let reply = read(request.send().await.unwrap_or_else(|e| panic!("{e}"))).await.expect(200);
        Session::from_reply(self, &reply)
    }

    pub async fn root(&self) -> Session {
        self.login(ADMIN_EMAIL, PASSWORD).await
    }

    /// Creates an account of `kind` under the caller's own account (or `parent`), with an active
    /// primary user `email`; returns (account id, that user's session).
    pub async fn account(
        &self,
        by: &Session,
        kind: &str,
        name: &str,
        email: &str,
        parent: Option<&str>,
    ) -> (String, Session) {
        let mut body =
            json!({"kind": kind, "name": name, "admin": {"email": email, "name": "Admin", "password": PASSWORD}});
        if let Some(parent) = parent {
            body["parent_id"] = json!(parent);
        }
        let reply = by.post("/api/v1/accounts", body).await.expect(201);
        (reply.id("/account/id"), self.login(email, PASSWORD).await)
    }

    /// Adds a user with `role` and a password to `account`; returns (user id, session).
    pub async fn user(&self, by: &Session, account: &str, role: &str, email: &str) -> (String, Session) {
        let body = json!({"email": email, "name": "User", "role": role, "password": PASSWORD});
        let reply = by.post(&format!("/api/v1/accounts/{account}/users"), body).await.expect(201);
        (reply.id("/user/id"), self.login(email, PASSWORD).await)
    }

    /// Configures and enables an OpenID provider on `account` (nothing contacts it).
    pub async fn enable_sso(&self, by: &Session, account: &str) {
        let body = json!({"enabled": true, "issuer": "https://login.example.test", "client_id": "tenantry",
            "client_secret": "provider-secret"});
        by.send("PUT", &format!("/api/v1/accounts/{account}/sso"), Some(body), true).await.expect(200);
    }

    /// platform → partner → MSP → two customers, plus another MSP with a customer.
    pub async fn tree(&self) -> Tree {
        let root = self.root().await;
        let (partner_id, partner) = self.account(&root, "partner", "Partner One", "admin@partner.test", None).await;
        let (msp_id, msp) = self.account(&partner, "msp", "Acme MSP", "admin@acme.test", None).await;
        let (customer_id, customer) = self.account(&msp, "customer", "Globex", "boss@globex.test", None).await;
        let (sibling_id, _) = self.account(&msp, "customer", "Initech", "boss@initech.test", None).await;
        let (rival_id, rival) = self.account(&partner, "msp", "Rival MSP", "admin@rival.test", None).await;
        let (rival_customer_id, _) = self.account(&rival, "customer", "Umbrella", "boss@umbrella.test", None).await;
        Tree {
            root,
            partner_id,
            partner,
            msp_id,
            msp,
            customer_id,
            customer,
            sibling_id,
            rival_id,
            rival,
            rival_customer_id,
        }
    }

    /// The text a GET answers, with `cookie` if given (exports, metrics).
    pub async fn text(&self, path: &str, cookie: Option<&str>) -> String {
        let mut request = self.http.get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap_or_else(|e| panic!("{e}")).text().await.unwrap_or_default()
    }

    /// The value of a `/metrics` counter.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.text("/metrics", None).await;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no metric {name}"))
    }
}

pub struct Tree {
    pub root: Session,
    pub partner_id: String,
    pub partner: Session,
    pub msp_id: String,
    pub msp: Session,
    pub customer_id: String,
    pub customer: Session,
    pub sibling_id: String,
    pub rival_id: String,
    pub rival: Session,
    pub rival_customer_id: String,
}

/// A signed-in client: its cookie and CSRF token.
#[derive(Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    /// Extra headers sent with every request (an access session, a bearer token).
    pub headers: Vec<(String, String)>,
    base: String,
    http: reqwest::Client,
}

impl Session {
    fn from_reply(server: &Server, reply: &Reply) -> Self {
        let set_cookie = reply.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
        Self {
            cookie: set_cookie.split(';').next().unwrap_or_default().to_owned(),
            csrf: reply.body["csrf_token"].as_str().unwrap_or_default().to_owned(),
            headers: Vec::new(),
            base: server.base.clone(),
            http: server.http.clone(),
        }
    }

    /// The sign-in a session cookie (`name=value`) carries, with its CSRF token from `/me`.
    pub async fn from_cookie(server: &Server, cookie: &str) -> Self {
        let mut session = Self {
            cookie: cookie.to_owned(),
            csrf: String::new(),
            headers: Vec::new(),
            base: server.base.clone(),
            http: server.http.clone(),
        };
        let me = session.get("/api/v1/me").await.expect(200);
        session.csrf = me.body["csrf_token"].as_str().unwrap_or_default().to_owned();
        session
    }

    /// Takes a rotated cookie from a reply (step-up).
    pub fn rotate(&mut self, reply: &Reply) {
        if let Some(c) = reply.headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = c.split(';').next().unwrap_or_default().to_owned();
        }
    }

    /// The same sign-in and headers, sent to `server` instead.
    pub fn at(&self, server: &Server) -> Session {
        Session { base: server.base.clone(), http: server.http.clone(), ..self.clone() }
    }

    /// The same sign-in, working inside access session `id`.
    pub fn inside(&self, id: &str) -> Session {
        let mut inside = self.clone();
        inside.headers.retain(|(k, _)| k != "x-access-session");
        inside.headers.push(("x-access-session".into(), id.to_owned()));
        inside
    }

    /// A client with no credentials but an `Authorization: Agent <token>` header.
    pub fn bearer_free(&self, agent_token: &str) -> Session {
        Session {
            cookie: String::new(),
            csrf: String::new(),
            headers: vec![("authorization".into(), format!("Agent {agent_token}"))],
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }

    /// A client that authenticates with a bearer API token only.
    pub fn bearer(&self, token: &str) -> Session {
        Session {
            cookie: String::new(),
            csrf: String::new(),
            headers: vec![("authorization".into(), format!("Bearer {token}"))],
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>, csrf: bool) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !self.cookie.is_empty() {
            request = request.header("cookie", &self.cookie);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if csrf && !self.csrf.is_empty() {
            request = request.header("x-csrf-token", &self.csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap_or_else(|e| panic!("{e}"))).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, false).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body), true).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send("PATCH", path, Some(body), true).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None, true).await
    }

    pub async fn put(&self, path: &str) -> Reply {
        self.send("PUT", path, None, true).await
    }

    /// Opens an access session into `customer` (the sign-in counts as the step-up); returns its id.
    pub async fn enter(&self, customer: &str, reason: &str) -> String {
        let reply = self
            .post(&format!("/api/v1/accounts/{customer}/access-sessions"), serde_json::json!({"reason": reason}))
            .await;
        reply.expect(201).id("/id")
    }
}

/// A local SMTP relay that accepts every message and hands each one's envelope and text to the
/// test; answers its port.
pub async fn smtp_sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let (mut message, mut in_data) = (String::new(), false);
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            let _ = sender.send(std::mem::take(&mut message));
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            message.push_str(&line);
                            message.push('\n');
                        }
                        continue;
                    }
                    message.push_str(&line);
                    message.push('\n');
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"502 not here\r\n",
                    };
                    let _ = write.write_all(answer).await;
                }
            });
        }
    });
    (port, receiver)
}

impl Server {
    /// Waits up to five seconds for a `/metrics` counter to reach `value`.
    pub async fn metric_reaches(&self, name: &str, value: u64) -> bool {
        for _ in 0..50 {
            if self.metric(name).await >= value {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    }
}
