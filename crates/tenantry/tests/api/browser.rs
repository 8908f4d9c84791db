//! The console in a real browser: Debian's `chromium`, headless, driven through `chromedriver`,
//! against the real server. The main journeys of partners, technicians and customers; screenshots
//! of the key pages land in `target/screenshots/`. Without a browser the tests say so and pass,
//! except under CI, where a missing browser fails them.

use crate::support::{ADMIN_EMAIL, PASSWORD, Server, Session};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless browser session and the driver process behind it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: std::path::PathBuf,
    base: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver and a headless chromium at 1280×900; `None` (outside CI) without them.
pub async fn browser(server: &Server) -> Option<Browser> {
    if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs {CHROMIUM} and {CHROMEDRIVER} (Debian: chromium chromium-driver)"
        );
        eprintln!("browser tests skipped: {CHROMIUM} or {CHROMEDRIVER} missing");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).ok()?;
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("chromedriver: {e}"));
    let profile = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("chromium-{port}"));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let mut last = None;
    for _ in 0..50 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return Some(Browser { client, driver, _profile: profile, base: server.base.clone() }),
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no browser session: {last:?}");
}

impl Browser {
    pub async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    pub async fn select(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.select_by_value(value).await.unwrap_or_else(|e| panic!("{css} = {value}: {e}"));
    }

    /// Clicks `css` and waits until the page it leads to has loaded (forms and links).
    pub async fn click(&self, css: &str) {
        let marker = "window.__tenantry_before = true;";
        self.client.execute(marker, vec![]).await.unwrap_or_else(|e| panic!("{e}"));
        let button = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        button.click().await.unwrap_or_else(|e| panic!("{css}: {e}"));
        self.settle().await;
    }

    /// Waits until the current window shows a new, fully loaded document.
    async fn settle(&self) {
        for _ in 0..100 {
            let probe = "return window.__tenantry_before === undefined && document.readyState === 'complete';";
            if self.client.execute(probe, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page did not change");
    }

    /// Clicks `css`, which opens a new tab, and switches to that tab once it has loaded.
    pub async fn click_into_new_tab(&self, css: &str) {
        let before = self.client.windows().await.unwrap_or_default();
        let button = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        button.click().await.unwrap_or_else(|e| panic!("{css}: {e}"));
        for _ in 0..100 {
            let now = self.client.windows().await.unwrap_or_default();
            if let Some(new) = now.into_iter().find(|w| !before.contains(w)) {
                self.client.switch_to_window(new).await.unwrap_or_else(|e| panic!("{e}"));
                for _ in 0..100 {
                    let loaded = "return document.readyState === 'complete' && location.href !== 'about:blank';";
                    if self.client.execute(loaded, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("the new tab did not load");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no new tab opened");
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        match self.client.wait().at_most(Duration::from_secs(5)).for_element(Locator::Css(css)).await {
            Ok(found) => found.text().await.unwrap_or_else(|e| panic!("{css}: {e}")),
            Err(e) => {
                let page = match self.client.find(Locator::Css("body")).await {
                    Ok(body) => body.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                panic!("{css} not at {}: {e}\n{page}", self.path().await)
            }
        }
    }

    /// The whole page's visible text.
    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.map(|u| u.path().to_owned()).unwrap_or_default()
    }

    /// Signs in at `/login` (or a branded login page) as `email`.
    pub async fn sign_in(&self, login_path: &str, email: &str) {
        self.open(login_path).await;
        self.fill("#email", email).await;
        self.fill("#password", PASSWORD).await;
        self.click("main form button[type=submit]").await;
        let path = self.path().await;
        assert!(
            path.starts_with("/console") || path.starts_with("/portal"),
            "signed in at {path}: {}",
            self.page_text().await
        );
    }

    /// Waits until `css` is on the page (after redirects that a click does not wait for).
    pub async fn wait_for(&self, css: &str) {
        for _ in 0..100 {
            if self.client.find(Locator::Css(css)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {css} at {}: {}", self.path().await, self.page_text().await);
    }

    /// At the OpenID provider's development login form: signs in as `login`.
    pub async fn provider_sign_in(&self, login: &str) {
        self.wait_for("input[name=login]").await;
        self.fill("input[name=login]", login).await;
        self.fill("input[name=password]", "any").await;
        self.click("button[type=submit]").await;
    }

    pub async fn sign_out(&self) {
        self.click("form[action='/logout'] button").await;
    }

    /// Keeps a screenshot of the page as `target/screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().map(|p| p.join("screenshots"));
        let Some(dir) = dir else { return };
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// Declares each journey as a test in one fresh server (SQLite) with its own browser.
macro_rules! browser_tests {
    ($($name:ident),* $(,)?) => {
        mod chromium {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(server) = $crate::support::Server::start(tenantry_store::Backend::Sqlite).await else { return };
                    let Some(browser) = super::browser(&server).await else { return };
                    super::$name(&server, &browser).await;
                    browser.close().await;
                }
            )*
        }
    };
}

browser_tests!(
    an_operator_creates_an_msp_whose_admin_brands_the_console_and_sets_up_a_customer,
    a_technician_works_in_two_customers_side_by_side_and_an_unassigned_one_cannot_enter,
    the_customer_sees_its_msps_technician_in_its_trail_and_its_branding_on_subscription_and_contact,
    a_customer_signs_in_by_sso_on_its_msps_page_and_a_technician_steps_up_by_sso_into_a_customer_that_mandates_it,
);

fn assignment(t: &crate::support::Tree, staff: &str, customer: &str) -> String {
    format!("/api/v1/accounts/{}/users/{staff}/assignments/{customer}", t.msp_id)
}

async fn an_operator_creates_an_msp_whose_admin_brands_the_console_and_sets_up_a_customer(s: &Server, b: &Browser) {
    b.sign_in("/login", ADMIN_EMAIL).await;
    b.screenshot("partner-accounts").await;
    b.open("/console/accounts/new").await;
    b.select("#kind", "msp").await;
    b.fill("#name", "Acme MSP").await;
    b.fill("#admin_email", "admin@acme.test").await;
    b.fill("#admin_name", "Ada Admin").await;
    b.click("main form button[type=submit]").await;
    assert!(b.page_text().await.contains("Created Acme MSP."));
    let link = b.text("[data-testid=activation-url]").await;
    let activation = link.strip_prefix(&s.base).unwrap_or_else(|| panic!("activation link {link}")).to_owned();
    b.sign_out().await;

    // The MSP's administrator sets a password from the one-time link, then signs in.
    b.open(&activation).await;
    b.fill("#password", PASSWORD).await;
    b.click("main form button[type=submit]").await;
    assert!(b.page_text().await.contains("Your password is set"));
    b.sign_in("/login", "admin@acme.test").await;

    // Co-branding, previewed in both themes, with a logo.
    b.open("/console/branding").await;
    b.fill("#display_name", "Acme Managed Security").await;
    b.fill("#support_email", "help@acme.test").await;
    b.fill("#support_phone", "+45 70 20 30 40").await;
    b.fill("#homepage_url", "https://acme.test/support").await;
    b.click("[data-testid=branding-form] button").await;
    assert_eq!(b.text("[data-testid=notice]").await, "Saved.");
    assert!(b.text("[data-testid=preview-dark]").await.contains("Acme Managed Security"));
    let logo = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("logo.png");
    std::fs::write(&logo, crate::branding::PNG).unwrap_or_else(|e| panic!("{e}"));
    let input = b.client.find(Locator::Css("#logo-light")).await.unwrap_or_else(|e| panic!("{e}"));
    input.send_keys(&logo.display().to_string()).await.unwrap_or_else(|e| panic!("{e}"));
    b.click("form[data-logo$='/light'] button").await;
    b.client
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("[data-testid=preview-light] img"))
        .await
        .unwrap_or_else(|e| panic!("the light logo is not previewed: {e}"));
    assert_eq!(b.text("[data-testid=brand-name]").await, "Acme Managed Security", "the console wears it too");
    b.screenshot("partner-branding").await;

    // A customer with its primary user, then one more user in its Users card.
    b.open("/console/accounts/new").await;
    b.fill("#name", "Globex").await;
    b.fill("#admin_email", "boss@globex.test").await;
    b.fill("#admin_name", "Gloria Boss").await;
    b.click("main form button[type=submit]").await;
    assert_eq!(b.text("[data-testid=account-kind]").await, "customer");
    b.fill("#new-email", "viewer@globex.test").await;
    b.fill("#new-name", "Victor Viewer").await;
    b.select("#new-role", "viewer").await;
    b.click("[data-testid=new-user] button").await;
    let users = b.text("[data-testid=users]").await;
    assert!(users.contains("boss@globex.test") && users.contains("viewer@globex.test"), "{users}");
    b.screenshot("partner-customer-account").await;

    // Each console action was the API's own operation: one event, with the MSP admin as actor.
    let msp = s.login("admin@acme.test", PASSWORD).await;
    let customer = b.path().await.split('/').nth(3).unwrap_or_default().to_owned();
    let trail = msp.get(&format!("/api/v1/accounts/{customer}/audit?action=user.created")).await.expect(200);
    let events = trail.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{}", trail.text);
    assert_eq!(events[0]["actor"]["email"], "admin@acme.test");
}

/// Opens `customer`'s account page in the current window and enters it; answers with the new
/// tab's console path.
async fn enter(b: &Browser, customer: &str) -> String {
    b.open(&format!("/console/accounts/{customer}")).await;
    b.fill("#access-password", PASSWORD).await;
    b.click_into_new_tab("[data-testid=access-account]").await;
    if b.client.find(Locator::Css("[data-testid=access-banner]")).await.is_err() {
        panic!("no banner at {}: {}", b.path().await, b.page_text().await);
    }
    b.path().await
}

async fn a_technician_works_in_two_customers_side_by_side_and_an_unassigned_one_cannot_enter(s: &Server, b: &Browser) {
    let t = s.tree().await;
    let (tech, _) = s.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
    t.msp.put(&assignment(&t, &tech, &t.customer_id)).await.expect(204);
    t.msp.put(&assignment(&t, &tech, &t.sibling_id)).await.expect(204);
    s.user(&t.msp, &t.msp_id, "msp_staff", "new@acme.test").await;

    b.sign_in("/login", "tech@acme.test").await;
    let console = b.client.window().await.unwrap_or_else(|e| panic!("{e}"));
    let accounts = b.text("[data-testid=accounts]").await;
    assert!(accounts.contains("Globex") && accounts.contains("Initech"), "{accounts}");

    let globex = enter(b, &t.customer_id).await;
    let globex_tab = b.client.window().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.text("[data-testid=banner-customer]").await, "Globex");
    assert_eq!(b.text("[data-testid=banner-actor]").await, "tech@acme.test");
    assert_eq!(b.text("[data-testid=banner-msp]").await, "Acme MSP");
    b.open(&format!("{globex}/collections")).await;
    b.fill("#collection-name", "Globex edge").await;
    b.click("[data-testid=new-collection] button").await;
    b.screenshot("technician-tab-globex").await;

    b.client.switch_to_window(console.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let initech = enter(b, &t.sibling_id).await;
    let initech_tab = b.client.window().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.text("[data-testid=banner-customer]").await, "Initech");
    b.open(&format!("{initech}/collections")).await;
    b.fill("#collection-name", "Initech edge").await;
    b.click("[data-testid=new-collection] button").await;
    assert!(b.text("[data-testid=collections]").await.contains("Initech edge"));
    b.screenshot("technician-tab-initech").await;

    // Back in the first tab: still Globex, acting there and only there.
    b.client.switch_to_window(globex_tab).await.unwrap_or_else(|e| panic!("{e}"));
    b.open(&format!("{globex}/collections")).await;
    assert_eq!(b.text("[data-testid=banner-customer]").await, "Globex");
    let listed = b.text("[data-testid=collections]").await;
    assert!(listed.contains("Globex edge") && !listed.contains("Initech edge"), "{listed}");
    b.fill("#collection-name", "Globex backup").await;
    b.click("[data-testid=new-collection] button").await;
    assert!(b.text("[data-testid=collections]").await.contains("Globex backup"));

    // Leaving Globex stops that tab; the Initech tab goes on.
    b.click("[data-testid=access-banner] button").await;
    assert!(b.text("[data-testid=ended]").await.contains("You have left Globex"));
    b.open(&format!("{globex}/collections")).await;
    assert_eq!(b.text("[data-testid=error-title]").await, "This access session has ended");
    b.client.switch_to_window(initech_tab).await.unwrap_or_else(|e| panic!("{e}"));
    b.open(&format!("{initech}/collections")).await;
    assert!(b.text("[data-testid=collections]").await.contains("Initech edge"));

    // Both customers' trails name the technician, through an access session.
    let boss = s.login("boss@globex.test", PASSWORD).await;
    let trail = boss.get(&format!("/api/v1/accounts/{}/audit?action=collection.created", t.customer_id)).await;
    let events = trail.expect(200).body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["actor"]["email"] == "tech@acme.test" && e["access_session_id"].is_string()));

    // A technician without assignment sees neither the customer nor its tabs.
    b.client.switch_to_window(console).await.unwrap_or_else(|e| panic!("{e}"));
    b.open("/console").await;
    b.sign_out().await;
    b.sign_in("/login", "new@acme.test").await;
    assert!(!b.text("[data-testid=accounts]").await.contains("Globex"));
    b.open(&format!("/console/accounts/{}", t.customer_id)).await;
    assert_eq!(b.text("[data-testid=error-title]").await, "Not found");
    assert!(!b.page_text().await.contains("Globex"));
    b.open(&format!("{initech}/collections")).await;
    assert_eq!(b.text("[data-testid=error-title]").await, "This access session has ended");
    assert!(!b.page_text().await.contains("Initech edge"));
    b.screenshot("unassigned-technician").await;
}

async fn the_customer_sees_its_msps_technician_in_its_trail_and_its_branding_on_subscription_and_contact(
    s: &Server,
    b: &Browser,
) {
    let t = s.tree().await;
    let branding = json!({
        "display_name": "Acme Managed Security",
        "support_email": "help@acme.test",
        "support_phone": "+45 70 20 30 40",
        "homepage_url": "https://acme.test/support"
    });
    t.msp.send("PUT", &format!("/api/v1/accounts/{}/branding", t.msp_id), Some(branding), true).await.expect(200);
    let slug = t.msp.get(&format!("/api/v1/accounts/{}", t.msp_id)).await.expect(200).id("/slug");
    let (tech_id, tech) = s.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
    t.msp.put(&assignment(&t, &tech_id, &t.customer_id)).await.expect(204);
    let inside: Session = tech.inside(&tech.enter(&t.customer_id, "certificate renewal").await);
    let collections = format!("/api/v1/accounts/{}/collections", t.customer_id);
    inside.post(&collections, json!({"name": "Set up by Acme"})).await.expect(201);

    b.open(&format!("/login/{slug}")).await;
    assert_eq!(b.text("[data-testid=brand-name]").await, "Acme Managed Security");
    b.screenshot("customer-branded-login").await;
    b.sign_in(&format!("/login/{slug}"), "boss@globex.test").await;
    assert_eq!(b.path().await, "/portal");
    assert_eq!(b.text("[data-testid=brand-name]").await, "Acme Managed Security");

    b.open("/portal/audit").await;
    let sessions = b.text("[data-testid=access-sessions]").await;
    assert!(sessions.contains("tech@acme.test") && sessions.contains("certificate renewal"), "{sessions}");
    let events = b.text("[data-testid=audit]").await;
    assert!(events.contains("collection.created") && events.contains("tech@acme.test"), "{events}");
    b.screenshot("customer-audit").await;

    b.open("/portal/subscription").await;
    assert_eq!(b.text("[data-testid=contact-name]").await, "Acme Managed Security");
    assert_eq!(b.text("[data-testid=contact-email]").await, "help@acme.test");
    assert_eq!(b.text("[data-testid=contact-phone]").await, "+45 70 20 30 40");
    let page = b.page_text().await;
    assert!(page.contains("There is nothing to buy here") && !page.contains("Upgrade"), "{page}");
    b.screenshot("customer-subscription").await;

    b.open("/portal/contact").await;
    assert!(b.text("[data-testid=support-contact]").await.contains("help@acme.test"));
    b.fill("#subject", "Renewal").await;
    b.fill("#message", "Please renew www.globex.test.").await;
    b.click("[data-testid=contact-form] button").await;
    assert_eq!(b.text("[data-testid=notice]").await, "Your message was sent.");
    b.screenshot("customer-contact").await;
    let inbox = t.msp.get(&format!("/api/v1/accounts/{}/support-requests", t.msp_id)).await.expect(200);
    assert!(inbox.text.contains("Please renew www.globex.test."), "the MSP's inbox has it");
}

async fn a_customer_signs_in_by_sso_on_its_msps_page_and_a_technician_steps_up_by_sso_into_a_customer_that_mandates_it(
    s: &Server,
    b: &Browser,
) {
    let t = s.tree().await;
    let (tech, _) = s.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
    t.msp.put(&assignment(&t, &tech, &t.customer_id)).await.expect(204);
    let Some(msp_provider) = crate::idp::Provider::start(s, "client_secret_basic").await else { return };
    let Some(customer_provider) = crate::idp::Provider::start(s, "client_secret_basic").await else { return };
    let sso = |account: &str| format!("/api/v1/accounts/{account}/sso");
    t.msp.send("PUT", &sso(&t.msp_id), Some(msp_provider.settings(&["acme.test"], false)), true).await.expect(200);
    let customer_sso = customer_provider.settings(&["globex.test"], false);
    t.customer.send("PUT", &sso(&t.customer_id), Some(customer_sso), true).await.expect(200);
    t.customer.patch(&format!("/api/v1/accounts/{}", t.customer_id), json!({"sso_mandatory": true})).await.expect(200);

    // A customer's user, on its MSP's login page, by email: its own account's provider.
    let slug = t.msp.get(&format!("/api/v1/accounts/{}", t.msp_id)).await.expect(200).id("/slug");
    let login = format!("/login/{slug}");
    b.open(&login).await;
    b.screenshot("sso-branded-login").await;
    b.fill("#sso-email", "boss@globex.test").await;
    b.click("[data-testid=sso-submit]").await;
    b.provider_sign_in("boss@globex.test").await;
    b.wait_for("form[action='/logout']").await;
    assert!(b.path().await.starts_with("/portal"), "signed in: {}", b.page_text().await);
    b.sign_out().await;

    // The MSP's technician, by the page's account: the MSP's provider.
    b.open(&login).await;
    b.click("[data-testid=sso-account]").await;
    b.provider_sign_in("tech@acme.test").await;
    b.wait_for("[data-testid=accounts]").await;
    s.clock.advance(time::Duration::minutes(10));

    // Entering the customer: confirmed with the MSP's provider, never the customer's.
    b.open(&format!("/console/accounts/{}", t.customer_id)).await;
    b.click("[data-testid=confirm-sso]").await;
    b.provider_sign_in("tech@acme.test").await;
    b.wait_for("[data-testid=sso-confirmed]").await;
    b.screenshot("sso-step-up-confirmed").await;
    b.click_into_new_tab("[data-testid=access-account]").await;
    assert_eq!(b.text("[data-testid=banner-customer]").await, "Globex");
    assert_eq!(b.text("[data-testid=banner-actor]").await, "tech@acme.test");
}
