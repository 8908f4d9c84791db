//! Tenant isolation, generated from one table of routes: every caller that must not see an account
//! gets, on every route and method that names it or something in it, a 404 exactly like the one
//! for a missing object; nothing changes; every probe is a denial in the caller's own trail.
//! A new endpoint is one more line in `ROUTES`.

use crate::support::{PASSWORD, Reply, Server, Session, Tree};
use serde_json::{Value, json};

crate::api_tests!(
    every_route_answers_outsiders_404_changes_nothing_and_records_the_probe,
    console_pages_answer_outsiders_not_found_and_show_nothing_of_the_customer,
    probes_generated_from_the_served_routes_answer_every_outsider_as_missing_and_change_nothing,
);

/// Method, path and body of every route that names an account or an object in one (the
/// generated probes check that every such route of the served document is here). Placeholders:
/// `{a}` the target account, `{m}` its MSP, `{u}` a user of the target, `{staff}` a technician of
/// the MSP, `{c}` a collection, `{x}` a certificate, `{t}` an API token, `{s}` an access session.
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/accounts/{a}", ""),
    ("GET", "/api/v1/accounts/{a}/permissions", ""),
    ("PATCH", "/api/v1/accounts/{a}", r#"{"name": "Taken over"}"#),
    ("DELETE", "/api/v1/accounts/{a}", r#"{"password": "correct horse battery staple"}"#),
    ("POST", "/api/v1/accounts/{a}/restore", "{}"),
    (
        "POST",
        "/api/v1/accounts",
        r#"{"kind": "customer", "name": "Inside job", "parent_id": "{a}", "admin": {"email": "x@inside.test", "name": "X"}}"#,
    ),
    ("GET", "/api/v1/accounts/{a}/users", ""),
    ("POST", "/api/v1/accounts/{a}/users", r#"{"email": "mole@inside.test", "name": "Mole", "role": "admin"}"#),
    ("GET", "/api/v1/accounts/{a}/users/{u}", ""),
    ("PATCH", "/api/v1/accounts/{a}/users/{u}", r#"{"status": "disabled"}"#),
    ("DELETE", "/api/v1/accounts/{a}/users/{u}", ""),
    ("DELETE", "/api/v1/accounts/{a}/users/{u}/sessions", ""),
    ("DELETE", "/api/v1/accounts/{a}/users/{u}/mfa", r#"{"password": "correct horse battery staple"}"#),
    ("GET", "/api/v1/accounts/{a}/sso", ""),
    (
        "PUT",
        "/api/v1/accounts/{a}/sso",
        r#"{"enabled": false, "issuer": "https://evil.test", "client_id": "x", "client_secret": "stolen-secret"}"#,
    ),
    ("POST", "/api/v1/accounts/{a}/sso/test", "{}"),
    ("GET", "/api/v1/accounts/{a}/audit", ""),
    ("GET", "/api/v1/accounts/{a}/audit/export?format=csv", ""),
    ("GET", "/api/v1/accounts/{a}/audit/verify", ""),
    ("GET", "/api/v1/accounts/{m}/users/{staff}/assignments", ""),
    ("PUT", "/api/v1/accounts/{m}/users/{staff}/assignments/{a}", ""),
    ("DELETE", "/api/v1/accounts/{m}/users/{staff}/assignments/{a}", ""),
    ("POST", "/api/v1/accounts/{a}/access-sessions", r#"{"password": "correct horse battery staple"}"#),
    ("GET", "/api/v1/accounts/{a}/access-sessions", ""),
    ("DELETE", "/api/v1/access-sessions/{s}", ""),
    ("GET", "/api/v1/accounts/{a}/api-tokens", ""),
    (
        "POST",
        "/api/v1/accounts/{a}/api-tokens",
        r#"{"name": "exfil", "expires_in_days": 1, "password": "correct horse battery staple"}"#,
    ),
    ("GET", "/api/v1/accounts/{a}/api-tokens/{t}", ""),
    ("DELETE", "/api/v1/accounts/{a}/api-tokens/{t}", ""),
    ("GET", "/api/v1/accounts/{a}/collections", ""),
    ("POST", "/api/v1/accounts/{a}/collections", r#"{"name": "planted"}"#),
    ("GET", "/api/v1/accounts/{a}/collections/{c}", ""),
    ("PATCH", "/api/v1/accounts/{a}/collections/{c}", r#"{"name": "renamed"}"#),
    ("DELETE", "/api/v1/accounts/{a}/collections/{c}", ""),
    ("POST", "/api/v1/accounts/{a}/collections/{c}/certificates", ""),
    ("GET", "/api/v1/accounts/{a}/certificates", ""),
    ("GET", "/api/v1/accounts/{a}/certificates/{x}", ""),
    ("DELETE", "/api/v1/accounts/{a}/certificates/{x}", ""),
    ("GET", "/api/v1/accounts/{a}/subscription", ""),
    (
        "PUT",
        "/api/v1/accounts/{a}/subscription",
        r#"{"limits": {"users": 1000, "certificates": 1000, "agents": 1000, "targets": 1000}}"#,
    ),
    ("GET", "/api/v1/accounts/{a}/usage?format=csv", ""),
    ("GET", "/api/v1/accounts/{a}/support-requests", ""),
    ("POST", "/api/v1/accounts/{a}/support-requests", r#"{"subject": "Spoofed", "message": "from outside"}"#),
    ("PATCH", "/api/v1/accounts/{a}/support-requests/{t}", r#"{"status": "closed"}"#),
    ("GET", "/api/v1/accounts/{a}/branding", ""),
    ("PUT", "/api/v1/accounts/{a}/branding", r#"{"display_name": "Hijacked"}"#),
    ("PUT", "/api/v1/accounts/{a}/branding/logos/light", ""),
    ("DELETE", "/api/v1/accounts/{a}/branding/logos/light", ""),
    ("GET", "/api/v1/accounts/{a}/branding/effective", ""),
    ("GET", "/api/v1/accounts/{a}/branding/effective/logos/light", ""),
    ("GET", "/api/v1/accounts/{a}/agents", ""),
    ("POST", "/api/v1/accounts/{a}/agents", r#"{"name": "implant", "collection_id": "{c}"}"#),
    ("GET", "/api/v1/accounts/{a}/agents/{t}", ""),
    ("DELETE", "/api/v1/accounts/{a}/agents/{t}", ""),
    ("GET", "/api/v1/accounts/{a}/targets", ""),
    ("POST", "/api/v1/accounts/{a}/targets", r#"{"hostname": "planted.test", "collection_id": "{c}"}"#),
    ("GET", "/api/v1/accounts/{a}/targets/{g}", ""),
    ("PATCH", "/api/v1/accounts/{a}/targets/{g}", r#"{"port": 8443}"#),
    ("DELETE", "/api/v1/accounts/{a}/targets/{g}", ""),
    ("POST", "/api/v1/accounts/{a}/targets/{g}/check", "{}"),
    ("GET", "/api/v1/accounts/{a}/expiring?within_days=3650", ""),
    ("POST", "/api/v1/accounts/{a}/webhooks", r#"{"url": "https://exfil.test/in", "events": ["*"]}"#),
    ("PATCH", "/api/v1/accounts/{a}/webhooks/{t}", r#"{"url": "https://exfil.test/in"}"#),
];

/// The objects a route's placeholders name.
#[derive(Clone)]
pub(crate) struct Objects {
    a: String,
    m: String,
    u: String,
    staff: String,
    c: String,
    x: String,
    t: String,
    s: String,
    g: String,
    /// One of the probed account's owner's sign-ins (`/auth/sessions/{id}`).
    signin: String,
}

impl Objects {
    fn fill(&self, template: &str) -> String {
        template
            .replace("{a}", &self.a)
            .replace("{m}", &self.m)
            .replace("{u}", &self.u)
            .replace("{staff}", &self.staff)
            .replace("{c}", &self.c)
            .replace("{x}", &self.x)
            .replace("{t}", &self.t)
            .replace("{s}", &self.s)
            .replace("{g}", &self.g)
            .replace("{signin}", &self.signin)
    }

    /// The same objects with every id replaced by one nobody has.
    fn missing(&self) -> Objects {
        self.missing_as("01900000-0000-7000-8000-00000000dead")
    }

    /// The same objects with every id of the probed account replaced by `none`.
    fn missing_as(&self, none: &str) -> Objects {
        let none = none.to_owned();
        Objects {
            a: none.clone(),
            m: self.m.clone(),
            u: none.clone(),
            staff: self.staff.clone(),
            c: none.clone(),
            x: none.clone(),
            t: none.clone(),
            s: none.clone(),
            g: none.clone(),
            signin: none,
        }
    }
}

async fn probe(caller: &Session, objects: &Objects, method: &str, template: &str, body: &str) -> Reply {
    let body = (!body.is_empty()).then(|| serde_json::from_str::<Value>(&objects.fill(body)).unwrap_or_default());
    caller.send(method, &objects.fill(template), body, true).await
}

/// Probes every route as `caller` against `objects`; returns how many probes were made. Callers
/// who belong to the MSP (`same_msp`) see its own routes legitimately and skip the `{m}` routes.
async fn probe_all(label: &str, caller: &Session, objects: &Objects, same_msp: bool) -> usize {
    let routes: Vec<_> = ROUTES.iter().filter(|(_, template, _)| !(same_msp && template.contains("{m}"))).collect();
    for (method, template, body) in &routes {
        let seen = probe(caller, objects, method, template, body).await;
        let missing = probe(caller, &objects.missing(), method, template, body).await;
        assert_eq!(seen.status, 404, "{label}: {method} {template} answered {}", seen.text);
        assert_eq!(seen.code(), "not_found", "{label}: {method} {template}");
        assert_eq!(seen.text, missing.text, "{label}: {method} {template} differs from a missing object");
        assert_eq!(seen.headers.get("content-type"), missing.headers.get("content-type"));
    }
    routes.len() * 2
}

/// What the owner sees of an account: everything a probe could have changed (`paths` the owner may
/// read, so that taking the snapshot records nothing itself), and its trail but for denials (a
/// caller's own denials land in its own account's trail, which may be the probed one's).
async fn snapshot(owner: &Session, account: &str, paths: &[&str]) -> Vec<String> {
    let mut views = Vec::new();
    for path in paths {
        let reply = owner.get(&format!("/api/v1/accounts/{account}{path}")).await;
        assert_eq!(reply.status, 200, "snapshot of {path}: {}", reply.text);
        views.push(reply.text);
    }
    let mut cursor = String::new();
    loop {
        let reply = owner.get(&format!("/api/v1/accounts/{account}/audit?limit=500{cursor}")).await.expect(200);
        let items = reply.body["items"].as_array().cloned().unwrap_or_default();
        views.extend(items.iter().filter(|e| e["outcome"] != "denied").map(Value::to_string));
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return views,
        }
    }
}

/// Denials by `user` in the trail of `account`, read by `reader`, page by page.
async fn denials(reader: &Session, account: &str, user: &str) -> usize {
    let (mut count, mut cursor) = (0, String::new());
    loop {
        let path = format!("/api/v1/accounts/{account}/audit?actor_user_id={user}&limit=500{cursor}");
        let reply = reader.get(&path).await.expect(200);
        let items = reply.body["items"].as_array().cloned().unwrap_or_default();
        count += items.iter().filter(|e| e["outcome"] == "denied").count();
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return count,
        }
    }
}

/// The id of the sign-in `session` is.
async fn current_sign_in(session: &Session) -> String {
    let listed = session.get("/api/v1/auth/sessions").await.expect(200);
    let items = listed.body["items"].as_array().cloned().unwrap_or_default();
    let current = items.iter().find(|s| s["current"] == true).map(|s| s["id"].as_str().unwrap_or_default().to_owned());
    current.unwrap_or_else(|| panic!("no current sign-in in {}", listed.text))
}

/// A caller that must not see the account it probes: its label, its client, its own account,
/// who reads its own trail, and whether it belongs to the probed customer's MSP.
#[derive(Clone)]
pub(crate) struct Caller {
    pub label: &'static str,
    pub session: Session,
    pub own: String,
    pub reader: Session,
    pub same_msp: bool,
}

/// The MSP and one of its customers, each full of objects, and every caller that must see neither.
pub(crate) struct World {
    pub t: Tree,
    pub boss: Session,
    pub customer: Objects,
    pub msp: Objects,
    /// The legitimate access session into the customer, which no list may show an outsider.
    pub session: String,
    pub collection: String,
    /// Probing the MSP: its own customer (the parent is invisible to it) and outsiders.
    pub msp_callers: Vec<Caller>,
    /// Probing the customer: outsiders with and without access sessions of their own.
    pub customer_callers: Vec<Caller>,
}

const MSP_VIEWS: &[&str] = &["", "/users", "/api-tokens", "/sso"];
const CUSTOMER_VIEWS: &[&str] =
    &["", "/users", "/collections", "/certificates", "/targets", "/api-tokens", "/access-sessions", "/sso"];

impl World {
    pub async fn build(s: &Server) -> World {
        let t = s.tree().await;
        // Objects in the customer (Globex) and in its MSP (Acme).
        let boss = s.login("boss@globex.test", PASSWORD).await;
        let (staff_id, staff) = s.user(&t.msp, &t.msp_id, "msp_staff", "unassigned@acme.test").await;
        let (customer_user, _) = s.user(&boss, &t.customer_id, "viewer", "viewer@globex.test").await;
        let collection = boss
            .post(&format!("/api/v1/accounts/{}/collections", t.customer_id), json!({"name": "Mine"}))
            .await
            .expect(201)
            .id("/id");
        let (pem, _) = crate::certificates::certificate("probed.globex.test", 0, 30);
        let import = format!("/api/v1/accounts/{}/collections/{collection}/certificates", t.customer_id);
        let certificate =
            s.raw(&boss, "POST", &import, "application/x-pem-file", &pem).await.expect(201).id("/items/0/id");
        let token_body = json!({"name": "ci", "expires_in_days": 10});
        let customer_token = boss
            .post(&format!("/api/v1/accounts/{}/api-tokens", t.customer_id), token_body.clone())
            .await
            .expect(201)
            .id("/id");
        let msp_token = t
            .msp
            .post(&format!("/api/v1/accounts/{}/api-tokens", t.msp_id), token_body.clone())
            .await
            .expect(201)
            .id("/id");
        let session = t.msp.enter(&t.customer_id, "legitimate").await;
        let target = boss
            .post(
                &format!("/api/v1/accounts/{}/targets", t.customer_id),
                json!({"hostname": "www.globex.test", "collection_id": collection}),
            )
            .await
            .expect(201)
            .id("/id");
        let customer = Objects {
            a: t.customer_id.clone(),
            m: t.msp_id.clone(),
            u: customer_user,
            staff: staff_id.clone(),
            c: collection.clone(),
            x: certificate,
            t: customer_token,
            s: session.clone(),
            g: target,
            signin: current_sign_in(&boss).await,
        };
        // For the MSP's routes, a session into a third customer that none of the callers belongs to.
        let (third, _) = s.account(&t.msp, "customer", "Hooli", "boss@hooli.test", None).await;
        let third_session = t.msp.enter(&third, "elsewhere").await;
        let msp = Objects {
            a: t.msp_id.clone(),
            u: staff_id.clone(),
            t: msp_token,
            s: third_session,
            signin: current_sign_in(&t.msp).await,
            ..customer.clone()
        };

        // Outsiders: a sibling customer (every role, and its API token), another MSP (also inside
        // its own customer, and its API token), that MSP's customer, another partner, and an
        // unassigned technician of the same MSP.
        let sibling = s.login("boss@initech.test", PASSWORD).await;
        let (_, sibling_admin) = s.user(&sibling, &t.sibling_id, "admin", "admin@initech.test").await;
        let (_, sibling_auditor) = s.user(&sibling, &t.sibling_id, "auditor", "auditor@initech.test").await;
        let (_, sibling_viewer) = s.user(&sibling, &t.sibling_id, "viewer", "viewer@initech.test").await;
        let (_, sibling_sso) = s.user(&sibling, &t.sibling_id, "sso_admin", "sso@initech.test").await;
        let tokens = format!("/api/v1/accounts/{}/api-tokens", t.sibling_id);
        let sibling_token = sibling.bearer(&sibling.post(&tokens, token_body.clone()).await.expect(201).id("/token"));
        let rival_customer = s.login("boss@umbrella.test", PASSWORD).await;
        let rival = s.login("admin@rival.test", PASSWORD).await;
        let rival_inside = rival.inside(&rival.enter(&t.rival_customer_id, "its own customer").await);
        let tokens = format!("/api/v1/accounts/{}/api-tokens", t.rival_id);
        let rival_token = rival.bearer(&rival.post(&tokens, token_body).await.expect(201).id("/token"));
        let (_, rival_readonly) = s.user(&rival, &t.rival_id, "msp_readonly", "ro@rival.test").await;
        let (rival_staff_id, rival_staff) = s.user(&rival, &t.rival_id, "msp_staff", "tech@rival.test").await;
        let grant =
            format!("/api/v1/accounts/{}/users/{rival_staff_id}/assignments/{}", t.rival_id, t.rival_customer_id);
        rival.put(&grant).await.expect(204);
        let rival_staff_inside = rival_staff.inside(&rival_staff.enter(&t.rival_customer_id, "assigned there").await);
        let (other_partner_id, other_partner) =
            s.account(&t.root, "partner", "Partner Two", "admin@p2.test", None).await;
        let (_, other_partner_readonly) =
            s.user(&other_partner, &other_partner_id, "partner_readonly", "ro@p2.test").await;

        let caller = |label, session: &Session, own: &str, reader: &Session, same_msp| Caller {
            label,
            session: session.clone(),
            own: own.to_owned(),
            reader: reader.clone(),
            same_msp,
        };
        let mut msp_callers = vec![
            caller("customer probing its MSP", &boss, &t.customer_id, &boss, false),
            caller("sibling customer", &sibling, &t.sibling_id, &sibling, false),
            caller("other MSP", &rival, &t.rival_id, &rival, false),
            caller("other MSP's read-only user", &rival_readonly, &t.rival_id, &rival, false),
            caller("other MSP's customer", &rival_customer, &t.rival_customer_id, &rival_customer, false),
            caller("another partner", &other_partner, &other_partner_id, &other_partner, false),
        ];
        let mut customer_callers = vec![
            caller("sibling customer", &sibling, &t.sibling_id, &sibling, false),
            caller("sibling customer's admin", &sibling_admin, &t.sibling_id, &sibling, false),
            caller("sibling customer's auditor", &sibling_auditor, &t.sibling_id, &sibling, false),
            caller("sibling customer's viewer", &sibling_viewer, &t.sibling_id, &sibling, false),
            caller("sibling customer's sso_admin", &sibling_sso, &t.sibling_id, &sibling, false),
            caller("other MSP", &rival, &t.rival_id, &rival, false),
            caller("other MSP inside its own customer", &rival_inside, &t.rival_id, &rival, false),
            caller("other MSP's read-only user", &rival_readonly, &t.rival_id, &rival, false),
            caller("other MSP's technician inside its customer", &rival_staff_inside, &t.rival_id, &rival, false),
            caller("another partner", &other_partner, &other_partner_id, &other_partner, false),
            caller(
                "another partner's read-only user",
                &other_partner_readonly,
                &other_partner_id,
                &other_partner,
                false,
            ),
            caller("unassigned technician", &staff, &t.msp_id, &t.msp, true),
        ];
        let tokens = vec![
            caller("sibling customer's API token", &sibling_token, &t.sibling_id, &sibling, false),
            caller("other MSP's API token", &rival_token, &t.rival_id, &rival, false),
        ];
        msp_callers.extend(tokens.iter().cloned());
        customer_callers.extend(tokens);
        World { t, boss, customer, msp, session, collection, msp_callers, customer_callers }
    }

    /// What the MSP's and the customer's owners see of them.
    pub async fn snapshot(&self) -> (Vec<String>, Vec<String>) {
        (
            snapshot(&self.t.msp, &self.t.msp_id, MSP_VIEWS).await,
            snapshot(&self.boss, &self.t.customer_id, CUSTOMER_VIEWS).await,
        )
    }
}

async fn every_route_answers_outsiders_404_changes_nothing_and_records_the_probe(s: Server) {
    let w = World::build(&s).await;
    let me = |session: &Session| {
        let session = session.clone();
        async move { session.get("/api/v1/me").await.id("/user/id") }
    };
    let before = w.snapshot().await;
    for (callers, objects) in [(&w.msp_callers, &w.msp), (&w.customer_callers, &w.customer)] {
        for c in callers {
            // An API token's denials are recorded under the user who created it.
            let user = if c.session.cookie.is_empty() { me(&c.reader).await } else { me(&c.session).await };
            let before = denials(&c.reader, &c.own, &user).await;
            let probes = probe_all(c.label, &c.session, objects, c.same_msp).await;
            let after = denials(&c.reader, &c.own, &user).await;
            assert_eq!(after, before + probes, "{}: every probe recorded", c.label);
        }
    }
    assert!(w.snapshot().await == before, "the MSP or the customer changed");

    // Lists never leak either.
    let t = &w.t;
    let staff = &w
        .customer_callers
        .iter()
        .find(|c| c.same_msp)
        .map(|c| c.session.clone())
        .unwrap_or_else(|| panic!("no technician"));
    let sibling = s.login("boss@initech.test", PASSWORD).await;
    for caller in [&sibling, &t.rival, staff] {
        let listed = caller.get(&format!("/api/v1/accounts?parent_id={}", t.msp_id)).await.expect(200);
        assert!(!listed.text.contains(&t.customer_id));
        let sessions = caller.get("/api/v1/access-sessions").await.expect(200);
        assert!(!sessions.text.contains(&w.session));
    }
    // An object id of another customer under the caller's own account is missing, not foreign.
    let other = format!("/api/v1/accounts/{}/collections/{}", t.sibling_id, w.collection);
    sibling.get(&other).await.problem(404, "not_found");
}

async fn console_pages_answer_outsiders_not_found_and_show_nothing_of_the_customer(s: Server) {
    let t = s.tree().await;
    let boss = s.login("boss@globex.test", PASSWORD).await;
    let secret = "Quarterly secret collection";
    boss.post(&format!("/api/v1/accounts/{}/collections", t.customer_id), json!({"name": secret})).await.expect(201);
    let session = t.msp.enter(&t.customer_id, "legitimate").await;
    let inside = format!("/console/access/{session}");
    // The MSP's own tab shows the customer: the pages below do hold what an outsider must not see.
    let own = t.msp.get(&format!("{inside}/collections")).await;
    assert!(own.status == 200 && own.text.contains(secret), "{}", own.text);

    let (_, unassigned) = s.user(&t.msp, &t.msp_id, "msp_staff", "unassigned@acme.test").await;
    let sibling = s.login("boss@initech.test", PASSWORD).await;
    let rival_customer = s.login("boss@umbrella.test", PASSWORD).await;
    let pages = [
        format!("/console/accounts/{}", t.customer_id),
        format!("/console/audit?account={}", t.customer_id),
        inside.clone(),
        format!("{inside}/collections"),
        format!("{inside}/audit"),
        format!("{inside}/subscription"),
    ];
    // (label, caller, whether it is on the partner side)
    let callers = [
        ("other MSP", &t.rival, true),
        ("unassigned technician", &unassigned, true),
        ("sibling customer", &sibling, false),
        ("other MSP's customer", &rival_customer, false),
    ];
    for (label, caller, partner_side) in callers {
        for path in &pages {
            let seen = caller.get(path).await;
            assert!(!seen.text.contains(secret) && !seen.text.contains("Globex"), "{label} saw {path}: {}", seen.text);
            // Someone else's tab is an ended session to anyone; partner pages of an invisible
            // customer are 404; customers are sent to their own portal.
            let expected = match (path.starts_with("/console/access/"), partner_side) {
                (true, _) => 403,
                (false, true) => 404,
                (false, false) => 200,
            };
            assert_eq!(seen.status, expected, "{label}: {path}: {}", seen.text);
        }
        // A console form aimed at the customer changes nothing.
        let form = format!("csrf_token={}&email=mole%40inside.test&name=Mole&role=admin", caller.csrf);
        let path = format!("/console/accounts/{}/users", t.customer_id);
        let posted = s.raw(caller, "POST", &path, "application/x-www-form-urlencoded", &form).await;
        assert!(!posted.text.contains("Globex"), "{label}: {}", posted.text);
    }
    let users = boss.get(&format!("/api/v1/accounts/{}/users", t.customer_id)).await.expect(200);
    assert!(!users.text.contains("mole@inside.test"), "no console form planted a user");
    let partner_side = t.rival.get(&format!("/console/accounts/{}", t.customer_id)).await;
    assert_eq!(partner_side.status, 404);
    assert!(partner_side.text.contains("Not found"));
}

/// The placeholder of `Objects` a path parameter of the served document names, or `None` for a
/// route that names no tenant's object (public by slug).
fn placeholder(path: &str, parameter: &str) -> Option<&'static str> {
    let assignments = path.contains("/assignments");
    Some(match parameter {
        "id" if assignments => "{m}",
        "id" | "customer_id" => "{a}",
        "user_id" if assignments => "{staff}",
        "user_id" => "{u}",
        "collection_id" => "{c}",
        "certificate_id" => "{x}",
        "token_id" | "agent_id" | "request_id" | "webhook_id" => "{t}",
        "target_id" => "{g}",
        "session_id" if path.starts_with("/api/v1/auth/") => "{signin}",
        "session_id" => "{s}",
        "variant" => "light",
        "slug" => return None,
        other => panic!("{path}: say which object the new path parameter {{{other}}} names"),
    })
}

/// Every operation of the served OpenAPI document that names an account or an object in one,
/// with its probe body from `ROUTES`: (method, path with placeholders, body). A new route with
/// an id is probed without anyone listing it; one with a request body must get a body in
/// `ROUTES`, and `ROUTES` may not name a route the service does not serve.
fn generated_routes() -> Vec<(String, String, String)> {
    let document: Value = serde_json::from_str(&tenantry_server::openapi_json()).unwrap_or_default();
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    let listed = |method: &str, template: &str| {
        ROUTES.iter().find(|(m, t, _)| m.eq_ignore_ascii_case(method) && t.split('?').next() == Some(template))
    };
    let mut routes = Vec::new();
    for (path, operations) in &paths {
        let mut template = String::new();
        let mut names_an_object = false;
        let mut public = false;
        for (i, part) in path.split('{').enumerate() {
            let Some((parameter, rest)) = part.split_once('}').filter(|_| i > 0) else {
                template.push_str(part);
                continue;
            };
            match placeholder(path, parameter) {
                Some(p) => {
                    names_an_object |= p.starts_with('{');
                    template.push_str(p);
                }
                None => public = true,
            }
            template.push_str(rest);
        }
        for (method, operation) in operations.as_object().cloned().unwrap_or_default() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) || public {
                continue;
            }
            let method = method.to_uppercase();
            match listed(&method, &template) {
                Some((_, with_query, body)) => routes.push((method, (*with_query).to_owned(), (*body).to_owned())),
                None if names_an_object => {
                    assert!(
                        operation.get("requestBody").is_none(),
                        "{method} {template}: give it a probe body in ROUTES"
                    );
                    routes.push((method, template.clone(), String::new()));
                }
                None => {}
            }
        }
    }
    for (method, template, _) in ROUTES {
        assert!(
            routes.iter().any(|(m, t, _)| m == method && t == template),
            "{method} {template} is in ROUTES but not served"
        );
    }
    routes
}

/// The service called in-process, without a socket: a probe's status, media type and body.
struct InProcess(axum::Router);

impl InProcess {
    async fn send(&self, caller: &Session, method: &str, path: &str, body: &str) -> (u16, String, Vec<u8>) {
        use tower::ServiceExt;
        let mut request = axum::http::Request::builder().method(method).uri(path);
        if !caller.cookie.is_empty() {
            request = request.header("cookie", &caller.cookie).header("x-csrf-token", &caller.csrf);
        }
        for (name, value) in &caller.headers {
            request = request.header(name, value);
        }
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        let mut request =
            request.body(axum::body::Body::from(body.to_owned())).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000));
        request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        let response = self.0.clone().oneshot(request).await.unwrap_or_else(|e| match e {});
        let status = response.status().as_u16();
        let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap_or_default();
        (status, media, bytes.to_vec())
    }
}

/// How many probes to make: `TENANTRY_PROBES`, or by default 10,000 on SQLite and 2,000 on
/// PostgreSQL (the same rules over the other engine's SQL); 1,000,000 for the long run.
fn probe_count(backend: tenantry_store::Backend) -> usize {
    let default = if backend == tenantry_store::Backend::Sqlite { 10_000 } else { 2_000 };
    std::env::var("TENANTRY_PROBES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

async fn probes_generated_from_the_served_routes_answer_every_outsider_as_missing_and_change_nothing(s: Server) {
    let w = World::build(&s).await;
    let routes = generated_routes();
    assert!(routes.len() >= ROUTES.len(), "{} routes generated", routes.len());
    let service = InProcess(tenantry_server::router(s.app.clone()));
    // Every (caller, probed account, route): the caller's role and relation, with and without
    // an access session of its own, by cookie or API token, on every method.
    let mut matrix = Vec::new();
    for (callers, objects) in [(&w.msp_callers, &w.msp), (&w.customer_callers, &w.customer)] {
        for caller in callers {
            for route in routes.iter().filter(|(_, t, _)| !(caller.same_msp && t.contains("{m}"))) {
                matrix.push((caller, objects, route));
            }
        }
    }
    let before = w.snapshot().await;
    // At least one whole pass, whatever was asked.
    let total = probe_count(s.backend).max(matrix.len());
    // Visited in a scrambled order (a stride prime to the matrix), each round against missing
    // ids of its own, so that no two rounds ask the same thing in the same order.
    let stride = (1..).map(|k| matrix.len() / 2 + k).find(|k| gcd(*k, matrix.len()) == 1).unwrap_or(1);
    for n in 0..total {
        let (caller, objects, (method, template, body)) = matrix[(n * stride) % matrix.len()];
        let round = n / matrix.len();
        let missing = objects.missing_as(&format!("01900000-0000-7000-8000-{:012x}", 0xdead_0000 + round));
        let seen = service.send(&caller.session, method, &objects.fill(template), &objects.fill(body)).await;
        let absent = service.send(&caller.session, method, &missing.fill(template), &missing.fill(body)).await;
        let label = caller.label;
        // Inside an account, another tenant's object is a 404; elsewhere (one's own sign-ins)
        // any refusal will do, as long as it is the one a missing object gets.
        let refused = if template.starts_with("/api/v1/accounts/") { seen.0 == 404 } else { seen.0 >= 400 };
        assert!(refused, "{label}: {method} {template}: {} {}", seen.0, String::from_utf8_lossy(&seen.2));
        assert!(seen == absent, "{label}: {method} {template} differs from a missing object");
    }
    assert!(w.snapshot().await == before, "a probe changed the MSP or the customer");
    println!(
        "{total} probes over {} routes and {} (caller, account, route) triples: 0 leaks",
        routes.len(),
        matrix.len()
    );
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}
