//! The console over plain HTTP: every page renders for the roles that use it, in a customer's own
//! portal and inside an access session; its forms act through the API (so refusals read like the
//! API's) and keep CSRF; the sign-in form resists login CSRF; console pages carry their own CSP.

use crate::certificates::certificate;
use crate::support::{PASSWORD, Reply, Server, Session, TestCa};
use serde_json::json;

crate::api_tests!(
    every_console_page_renders_for_the_roles_that_use_it,
    portal_forms_import_register_monitor_and_contact_through_the_api,
    console_forms_without_the_sign_ins_csrf_token_change_nothing,
    the_sign_in_form_needs_its_own_form_token_and_lands_by_account_kind,
    an_mfa_user_signs_in_through_the_form_with_its_authenticator_code,
    the_profile_page_ends_other_sign_ins_and_sets_up_and_removes_the_second_factor,
    the_security_page_sets_the_policy_and_the_provider_and_tests_the_connection,
    the_login_pages_offer_single_sign_on_and_say_why_one_failed,
    the_profile_page_changes_the_password_with_the_current_one,
);

/// A form post from `who`'s browser: its cookie, and `fields` urlencoded (with its CSRF token
/// unless `csrf` is false).
async fn form(s: &Server, who: &Session, path: &str, fields: &[(&str, &str)], csrf: bool) -> Reply {
    let mut pairs: Vec<(&str, &str)> = fields.to_vec();
    if csrf {
        pairs.push(("csrf_token", &who.csrf));
    }
    let body = urlencoded(&pairs);
    s.raw(who, "POST", path, "application/x-www-form-urlencoded", &body).await
}

fn urlencoded(pairs: &[(&str, &str)]) -> String {
    let encode = |v: &str| {
        v.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

#[track_caller]
fn page(reply: &Reply, contains: &str) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    let content_type = reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(reply.text.contains(contains), "no {contains:?} in {}", reply.text);
}

async fn every_console_page_renders_for_the_roles_that_use_it(s: Server) {
    let t = s.tree().await;
    for (path, title) in [
        ("/console".to_owned(), "Accounts"),
        ("/console/accounts/new".to_owned(), "New account"),
        (format!("/console/accounts/{}", t.customer_id), "Globex"),
        (format!("/console/accounts/{}", t.msp_id), "Acme MSP"),
        ("/console/staff".to_owned(), "Staff and assignments"),
        ("/console/branding".to_owned(), "Branding"),
        ("/console/audit".to_owned(), "Audit trail"),
        (format!("/console/audit?account={}", t.customer_id), "Audit trail"),
        ("/console/support".to_owned(), "Support inbox"),
        ("/console/usage".to_owned(), "Usage"),
        ("/console/expiring?within_days=90".to_owned(), "Expiring soon"),
    ] {
        let reply = t.msp.get(&path).await;
        page(&reply, title);
        let csp = reply.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
    }
    let boss = s.login("boss@globex.test", PASSWORD).await;
    let session = t.msp.enter(&t.customer_id, "checking").await;
    for base in ["/portal".to_owned(), format!("/console/access/{session}")] {
        let who = if base == "/portal" { &boss } else { &t.msp };
        for (rest, title) in [
            ("", "Dashboard"),
            ("/certificates", "Certificates"),
            ("/collections", "Collections"),
            ("/agents", "Agents"),
            ("/targets", "Monitored domains"),
            ("/users", "Users"),
            ("/audit", "Audit trail"),
            ("/tokens", "API tokens"),
            ("/subscription", "Subscription"),
            ("/contact", "Contact"),
        ] {
            let reply = who.get(&format!("{base}{rest}")).await;
            page(&reply, title);
            assert_eq!(reply.text.contains("data-testid=\"access-banner\""), base != "/portal", "{base}{rest}");
        }
    }
    // Customers have no partner console; partner-side users have no portal of their own.
    assert!(boss.get("/console").await.text.contains("Dashboard"));
    assert!(t.msp.get("/portal").await.text.contains("Accounts"));
    // Signed out, every page sends to the sign-in.
    let anonymous = s.anon("GET", "/console/branding", None).await;
    page(&anonymous, "Sign in");
}

async fn portal_forms_import_register_monitor_and_contact_through_the_api(s: Server) {
    let t = s.tree().await;
    let boss = s.login("boss@globex.test", PASSWORD).await;
    form(&s, &boss, "/portal/collections", &[("name", "Web")], true).await;
    let collections = boss.get(&format!("/api/v1/accounts/{}/collections", t.customer_id)).await.expect(200);
    let collection = collections.id("/items/0/id");

    let (pem, _) = certificate("www.globex.test", -1, 20);
    let imported =
        form(&s, &boss, "/portal/certificates", &[("collection_id", &collection), ("pem", &pem)], true).await;
    page(&imported, "Certificates imported.");
    assert!(imported.text.contains("CN=www.globex.test"));
    let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
    let refused = form(&s, &boss, "/portal/certificates", &[("collection_id", &collection), ("pem", key)], true).await;
    assert!(refused.text.contains("role=\"alert\"") && refused.text.contains("private key"), "{}", refused.text);

    let registered =
        form(&s, &boss, "/portal/agents", &[("name", "web-1"), ("collection_id", &collection)], true).await;
    page(&registered, "tna_");

    let port = TestCa::get().serve(&["localhost"], -1, 90).await.to_string();
    let body = [("hostname", "localhost"), ("port", port.as_str()), ("collection_id", collection.as_str())];
    page(&form(&s, &boss, "/portal/targets", &body, true).await, "localhost");
    let targets = boss.get(&format!("/api/v1/accounts/{}/targets", t.customer_id)).await.expect(200);
    let target = targets.id("/items/0/id");
    let checked = form(&s, &boss, &format!("/portal/targets/{target}/check"), &[], true).await;
    page(&checked, "Checked.");
    assert!(checked.text.contains(">ok"), "{}", checked.text);

    let token =
        form(&s, &boss, "/portal/tokens", &[("name", "ci"), ("expires_in_days", "30"), ("password", PASSWORD)], true)
            .await;
    page(&token, "tnt_");
    let sent = form(&s, &boss, "/portal/contact", &[("subject", "Help"), ("message", "Renew it, please.")], true).await;
    page(&sent, "Your message was sent.");

    // Inside an access session the MSP acts with master admin rights, but creates no API token.
    let session = t.msp.enter(&t.customer_id, "helping").await;
    let inside = format!("/console/access/{session}");
    let body = [("name", "msp"), ("expires_in_days", "30"), ("password", PASSWORD)];
    let refused = form(&s, &t.msp, &format!("{inside}/tokens"), &body, true).await;
    assert!(refused.text.contains("role=\"alert\"") && !refused.text.contains("tnt_"), "{}", refused.text);
    page(&form(&s, &t.msp, &format!("{inside}/collections"), &[("name", "By the MSP")], true).await, "By the MSP");
    let trail = boss.get(&format!("/api/v1/accounts/{}/audit?action=collection.created", t.customer_id)).await;
    let events = trail.expect(200).body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 2, "one event per console action");
    assert_eq!(events[0]["actor"]["email"], "admin@acme.test");
    assert_eq!(events[0]["access_session_id"], json!(session));
}

async fn console_forms_without_the_sign_ins_csrf_token_change_nothing(s: Server) {
    let t = s.tree().await;
    let boss = s.login("boss@globex.test", PASSWORD).await;
    let forged = form(&s, &boss, "/portal/collections", &[("name", "Forged"), ("csrf_token", "guess")], false).await;
    assert!(!forged.text.contains("Created."), "{}", forged.text);
    let missing = form(&s, &t.msp, "/console/accounts/new", &[("kind", "customer"), ("name", "Forged")], false).await;
    assert!(missing.text.contains("role=\"alert\""), "{}", missing.text);
    let collections = boss.get(&format!("/api/v1/accounts/{}/collections", t.customer_id)).await.expect(200);
    assert!(!collections.text.contains("Forged"));
    let accounts = t.msp.get("/api/v1/accounts?q=Forged").await.expect(200);
    assert_eq!(accounts.body["items"], json!([]));
    // A forged sign-out signs nobody out, and says so.
    let signed_out = form(&s, &boss, "/logout", &[], false).await;
    assert_eq!(signed_out.status, 403, "{}", signed_out.text);
    boss.get("/api/v1/me").await.expect(200);
    form(&s, &boss, "/logout", &[], true).await;
    boss.get("/api/v1/me").await.problem(401, "unauthenticated");
}

async fn the_sign_in_form_needs_its_own_form_token_and_lands_by_account_kind(s: Server) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let form_page = http.get(s.url("/login")).send().await.unwrap_or_else(|e| panic!("{e}"));
    let cookie = form_page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let html = form_page.text().await.unwrap_or_default();
    let token = html.split("name=\"form_token\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
    let post = |cookie: String, token: String, email: &'static str| {
        let http = http.clone();
        let url = s.url("/login");
        async move {
            let body = format!(
                "form_token={token}&email={}&password={}",
                email.replace('@', "%40"),
                PASSWORD.replace(' ', "+")
            );
            http.post(url)
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    // A cross-site form has no matching cookie: refused before any password is checked.
    let forged = post(String::new(), token.to_owned(), "root@platform.test").await;
    assert_eq!(forged.status(), 403);
    let root = post(cookie.clone(), token.to_owned(), "root@platform.test").await;
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers().get("location").and_then(|v| v.to_str().ok()), Some("/console"));
    assert!(
        root.headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("tenantry_session="))
    );
    s.tree().await;
    let boss = post(cookie, token.to_owned(), "boss@globex.test").await;
    assert_eq!(boss.headers().get("location").and_then(|v| v.to_str().ok()), Some("/portal"));
}

async fn an_mfa_user_signs_in_through_the_form_with_its_authenticator_code(s: Server) {
    let t = s.tree().await;
    let started = t.customer.post("/api/v1/auth/mfa/totp", json!({})).await.expect(200);
    let secret = started.body["secret"].as_str().unwrap_or_default().to_owned();
    let code_now = || {
        let totp = tenantry_server::mfa::totp(&secret, "x@y.test").unwrap_or_else(|e| panic!("{e}"));
        totp.generate(u64::try_from(s.clock_now().unix_timestamp()).unwrap_or_default()).to_string()
    };
    t.customer.post("/api/v1/auth/mfa/totp/confirm", json!({"code": code_now()})).await.expect(200);
    s.clock.advance(time::Duration::seconds(30));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let post = |code: String| {
        let http = http.clone();
        let (login, url) = (s.url("/login"), s.url("/login"));
        async move {
            let form_page = http.get(login).send().await.unwrap_or_else(|e| panic!("{e}"));
            let cookie = form_page
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .unwrap_or_default()
                .to_owned();
            let html = form_page.text().await.unwrap_or_default();
            let token =
                html.split("name=\"form_token\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
            let body = format!(
                "form_token={token}&email=boss%40globex.test&password={}&code={code}",
                PASSWORD.replace(' ', "+")
            );
            http.post(url)
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("user-agent", "Console/3.0")
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    // The password alone: the form asks for the code, keeping the email.
    let asked = post(String::new()).await;
    assert_eq!(asked.status(), 401);
    let html = asked.text().await.unwrap_or_default();
    assert!(html.contains("data-testid=\"code-asked\"") && html.contains("authenticator app"), "{html}");
    assert!(html.contains("value=\"boss@globex.test\""));
    let wrong = post("000000".into()).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap_or_default().contains("Wrong email, password or code."));
    let signed_in = post(code_now()).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers().get("location").and_then(|v| v.to_str().ok()), Some("/portal"));
    // The console's sign-in is listed with the browser that made it.
    let listed = t.customer.get("/api/v1/auth/sessions").await.expect(200);
    assert!(listed.text.contains("Console/3.0"), "{}", listed.text);
}

async fn the_profile_page_ends_other_sign_ins_and_sets_up_and_removes_the_second_factor(s: Server) {
    let t = s.tree().await;
    let boss = s.login_from("boss@globex.test", PASSWORD, "Laptop/1.0").await;
    let other = s.login_from("boss@globex.test", PASSWORD, "Phone/2.0").await;
    let shown = s.raw(&boss, "GET", "/profile", "text/plain", "").await;
    page(&shown, "Laptop/1.0 <strong>(this browser)</strong>");
    page(&shown, "Phone/2.0");
    page(&s.raw(&t.msp, "GET", "/profile", "text/plain", "").await, "Where you are signed in");
    // Everywhere else: the phone and the tree's own sign-in end; this one stays.
    page(&form(&s, &boss, "/profile/sessions/end-others", &[], true).await, "Signed out there.");
    other.get("/api/v1/me").await.problem(401, "unauthenticated");
    t.customer.get("/api/v1/me").await.problem(401, "unauthenticated");
    // Without the sign-in's CSRF token nothing changes.
    let forged = form(&s, &boss, "/profile/mfa/start", &[("password", PASSWORD)], false).await;
    assert!(!forged.text.contains("<svg") && forged.text.contains("CSRF"), "{}", forged.text);
    let started = form(&s, &boss, "/profile/mfa/start", &[("password", PASSWORD)], true).await;
    page(&started, "<svg");
    let secret = started
        .text
        .split("data-testid=\"totp-secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_default()
        .to_owned();
    let code_now = || {
        let totp = tenantry_server::mfa::totp(&secret, "x@y.test").unwrap_or_else(|e| panic!("{e}"));
        totp.generate(u64::try_from(s.clock_now().unix_timestamp()).unwrap_or_default()).to_string()
    };
    let confirmed = form(&s, &boss, "/profile/mfa/confirm", &[("code", &code_now())], true).await;
    page(&confirmed, "data-testid=\"recovery-codes\"");
    assert_eq!(confirmed.text.matches("<li><code>").count(), 10);
    assert_eq!(boss.get("/api/v1/me").await.body["user"]["mfa_enabled"], true);
    s.clock.advance(time::Duration::seconds(30));
    let off = form(&s, &boss, "/profile/mfa/off", &[("password", PASSWORD), ("code", &code_now())], true).await;
    page(&off, "Two-factor authentication is off.");
    assert_eq!(boss.get("/api/v1/me").await.body["user"]["mfa_enabled"], false);
}

async fn the_security_page_sets_the_policy_and_the_provider_and_tests_the_connection(s: Server) {
    let t = s.tree().await;
    let Some(provider) = crate::idp::Provider::start(&s, "client_secret_basic").await else { return };
    let security = format!("/console/accounts/{}/security", t.customer_id);
    // The MSP's admin manages its customer's sign-in settings; the account page links there.
    page(&t.msp.get(&format!("/console/accounts/{}", t.customer_id)).await, "security-link");
    page(&t.msp.get(&security).await, "/auth/sso/callback");
    let saved = form(
        &s,
        &t.msp,
        &format!("{security}/sso"),
        &[
            ("enabled", "on"),
            ("issuer", &provider.issuer),
            ("client_id", crate::idp::CLIENT_ID),
            ("client_secret", crate::idp::CLIENT_SECRET),
            ("allowed_email_domains", "globex.test, globex.example"),
            ("default_role", "viewer"),
        ],
        true,
    )
    .await;
    page(&saved, "Saved");
    let stored = t.msp.get(&format!("/api/v1/accounts/{}/sso", t.customer_id)).await.expect(200);
    assert_eq!(stored.body["enabled"], true);
    assert_eq!(stored.body["allowed_email_domains"], json!(["globex.example", "globex.test"]));
    page(&form(&s, &t.msp, &format!("{security}/test"), &[], true).await, "sso-test-ok");

    let policy = [("mfa_required", "on"), ("allowed_networks", "127.0.0.0/8\n10.0.0.0/8")];
    page(&form(&s, &t.msp, &format!("{security}/policy"), &policy, true).await, "Saved");
    let account = t.msp.get(&format!("/api/v1/accounts/{}", t.customer_id)).await.expect(200);
    assert_eq!(account.body["mfa_required"], true);
    assert_eq!(account.body["allowed_networks"], json!(["127.0.0.0/8", "10.0.0.0/8"]));
    // A bad range is the API's refusal on the page, and changes nothing.
    let bad = form(&s, &t.msp, &format!("{security}/policy"), &[("allowed_networks", "not-a-range")], true).await;
    page(&bad, "allowed_networks");
    assert!(bad.text.contains("role=\"alert\""), "the refusal is shown: {}", bad.text);
    let account = t.msp.get(&format!("/api/v1/accounts/{}", t.customer_id)).await.expect(200);
    assert_eq!(account.body["mfa_required"], true);
    // Another MSP's admin sees no such page.
    assert_eq!(t.rival.get(&security).await.status, 404);
}

async fn the_login_pages_offer_single_sign_on_and_say_why_one_failed(s: Server) {
    let t = s.tree().await;
    let login = s.anon("GET", "/login?error=sso_unknown_user", None).await;
    page(&login, "no user here has that email");
    page(&login, "sso-form");
    // The email form goes on through a page of this origin, which moves on to the start.
    let on = s.anon("GET", "/login/sso?email=boss%40globex.test", None).await;
    page(&on, "url=/auth/sso/start?email=boss%40globex.test");
    let slug = t.msp.get(&format!("/api/v1/accounts/{}", t.msp_id)).await.expect(200).id("/slug");
    let branded = s.anon("GET", &format!("/login/{slug}"), None).await;
    page(&branded, "sso-form");
    assert!(!branded.text.contains("sso-account"), "no provider of its own yet");
    s.enable_sso(&t.msp, &t.msp_id).await;
    let branded = s.anon("GET", &format!("/login/{slug}"), None).await;
    page(&branded, &format!("/auth/sso/start?account={slug}"));
}

async fn the_profile_page_changes_the_password_with_the_current_one(s: Server) {
    let t = s.tree().await;
    let other = s.login_from("boss@globex.test", PASSWORD, "Phone/2.0").await;
    let new = "a brand new passphrase for globex";
    let wrong =
        form(&s, &t.customer, "/profile/password", &[("password", "not it"), ("new_password", new)], true).await;
    assert!(wrong.text.contains("role=\"alert\""), "{}", wrong.text);
    s.anon("POST", "/api/v1/auth/login", Some(json!({"email": "boss@globex.test", "password": new}))).await.expect(401);
    let changed =
        form(&s, &t.customer, "/profile/password", &[("password", PASSWORD), ("new_password", new)], true).await;
    page(&changed, "Password changed");
    s.anon("POST", "/api/v1/auth/login", Some(json!({"email": "boss@globex.test", "password": new}))).await.expect(200);
    other.get("/api/v1/me").await.problem(401, "unauthenticated");
    t.customer.get("/api/v1/me").await.expect(200);
}
