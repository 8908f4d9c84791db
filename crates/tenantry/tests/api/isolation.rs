//! Tenant isolation, generated from one table of routes: every caller that must not see an account
//! gets, on every route and method that names it or something in it, a 404 exactly like the one
//! for a missing object; nothing changes; every probe is a denial in the caller's own trail.
//! A new endpoint is one more line in `ROUTES`.

use crate::support::{PASSWORD, Reply, Server, Session};
use serde_json::{Value, json};

crate::api_tests!(
    every_route_answers_outsiders_404_changes_nothing_and_records_the_probe,
    console_pages_answer_outsiders_not_found_and_show_nothing_of_the_customer,
);

/// Method, path and body of every route that names an account or an object in one. Placeholders:
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
    ("GET", "/api/v1/accounts/{a}/branding", ""),
    ("PUT", "/api/v1/accounts/{a}/branding", r#"{"display_name": "Hijacked"}"#),
    ("DELETE", "/api/v1/accounts/{a}/branding/logos/light", ""),
    ("GET", "/api/v1/accounts/{a}/branding/effective", ""),
    ("GET", "/api/v1/accounts/{a}/branding/effective/logos/dark", ""),
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
];

/// The objects a route's placeholders name.
#[derive(Clone)]
struct Objects {
    a: String,
    m: String,
    u: String,
    staff: String,
    c: String,
    x: String,
    t: String,
    s: String,
    g: String,
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
    }

    /// The same objects with every id replaced by one nobody has.
    fn missing(&self) -> Objects {
        let none = "01900000-0000-7000-8000-00000000dead".to_owned();
        Objects {
            a: none.clone(),
            m: self.m.clone(),
            u: none.clone(),
            staff: self.staff.clone(),
            c: none.clone(),
            x: none.clone(),
            t: none.clone(),
            s: none.clone(),
            g: none,
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
/// read, so that taking the snapshot records nothing itself).
async fn snapshot(owner: &Session, account: &str, paths: &[&str]) -> Vec<String> {
    let mut views = Vec::new();
    for path in paths.iter().chain(&["/audit?limit=500"]) {
        let reply = owner.get(&format!("/api/v1/accounts/{account}{path}")).await;
        assert_eq!(reply.status, 200, "snapshot of {path}: {}", reply.text);
        views.push(reply.text);
    }
    views
}

/// Denials by `user` in the trail of `account`, read by `reader`.
async fn denials(reader: &Session, account: &str, user: &str) -> usize {
    let reply =
        reader.get(&format!("/api/v1/accounts/{account}/audit?actor_user_id={user}&limit=500")).await.expect(200);
    reply.body["items"].as_array().map(|items| items.iter().filter(|e| e["outcome"] == "denied").count()).unwrap_or(0)
}

async fn every_route_answers_outsiders_404_changes_nothing_and_records_the_probe(s: Server) {
    let t = s.tree().await;
    let me = |session: &Session| {
        let session = session.clone();
        async move { session.get("/api/v1/me").await.id("/user/id") }
    };
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
    let certificate = s.raw(&boss, "POST", &import, "application/x-pem-file", &pem).await.expect(201).id("/items/0/id");
    let token_body = json!({"name": "ci", "expires_in_days": 10});
    let customer_token = boss
        .post(&format!("/api/v1/accounts/{}/api-tokens", t.customer_id), token_body.clone())
        .await
        .expect(201)
        .id("/id");
    let msp_token =
        t.msp.post(&format!("/api/v1/accounts/{}/api-tokens", t.msp_id), token_body).await.expect(201).id("/id");
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
    };
    // For the MSP's routes, a session into a third customer that none of the callers belongs to.
    let (third, _) = s.account(&t.msp, "customer", "Hooli", "boss@hooli.test", None).await;
    let third_session = t.msp.enter(&third, "elsewhere").await;
    let msp = Objects { a: t.msp_id.clone(), u: staff_id.clone(), t: msp_token, s: third_session, ..customer.clone() };

    // Outsiders: a sibling customer, another MSP (also inside its own customer), that MSP's
    // customer, and an unassigned technician of the same MSP.
    let sibling = s.login("boss@initech.test", PASSWORD).await;
    let (_, sibling_viewer) = s.user(&sibling, &t.sibling_id, "viewer", "viewer@initech.test").await;
    let (_, sibling_sso) = s.user(&sibling, &t.sibling_id, "sso_admin", "sso@initech.test").await;
    let rival_customer = s.login("boss@umbrella.test", PASSWORD).await;
    let rival = s.login("admin@rival.test", PASSWORD).await;
    let rival_inside = rival.inside(&rival.enter(&t.rival_customer_id, "its own customer").await);
    let (_, rival_readonly) = s.user(&rival, &t.rival_id, "msp_readonly", "ro@rival.test").await;
    let (rival_staff_id, rival_staff) = s.user(&rival, &t.rival_id, "msp_staff", "tech@rival.test").await;
    let grant = format!("/api/v1/accounts/{}/users/{rival_staff_id}/assignments/{}", t.rival_id, t.rival_customer_id);
    rival.put(&grant).await.expect(204);
    let rival_staff_inside = rival_staff.inside(&rival_staff.enter(&t.rival_customer_id, "assigned there").await);
    let (other_partner_id, other_partner) = s.account(&t.root, "partner", "Partner Two", "admin@p2.test", None).await;
    let (_, other_partner_readonly) = s.user(&other_partner, &other_partner_id, "partner_readonly", "ro@p2.test").await;

    // The MSP, probed by its own customer (the parent is invisible to it) and by outsiders.
    const MSP_VIEWS: &[&str] = &["", "/users", "/api-tokens", "/sso"];
    const CUSTOMER_VIEWS: &[&str] =
        &["", "/users", "/collections", "/certificates", "/targets", "/api-tokens", "/access-sessions", "/sso"];
    let msp_before = snapshot(&t.msp, &t.msp_id, MSP_VIEWS).await;
    // (label, caller, the caller's own account, who reads its trail)
    let callers: [(&str, &Session, &str, &Session); 6] = [
        ("customer probing its MSP", &boss, &t.customer_id, &boss),
        ("sibling customer", &sibling, &t.sibling_id, &sibling),
        ("other MSP", &rival, &t.rival_id, &rival),
        ("other MSP's read-only user", &rival_readonly, &t.rival_id, &rival),
        ("other MSP's customer", &rival_customer, &t.rival_customer_id, &rival_customer),
        ("another partner", &other_partner, &other_partner_id, &other_partner),
    ];
    for (label, caller, own_account, reader) in callers {
        let before = denials(reader, own_account, &me(caller).await).await;
        let probes = probe_all(label, caller, &msp, false).await;
        let after = denials(reader, own_account, &me(caller).await).await;
        assert_eq!(after, before + probes, "{label}: every probe recorded");
    }
    assert!(snapshot(&t.msp, &t.msp_id, MSP_VIEWS).await == msp_before, "the MSP changed");

    // The customer, probed by outsiders, with and without access sessions of their own.
    let customer_before = snapshot(&boss, &t.customer_id, CUSTOMER_VIEWS).await;
    // (label, caller, the caller's own account, who reads its trail, whether it is in the same MSP)
    let callers: [(&str, &Session, &str, &Session, bool); 10] = [
        ("sibling customer", &sibling, &t.sibling_id, &sibling, false),
        ("sibling customer's viewer", &sibling_viewer, &t.sibling_id, &sibling, false),
        ("sibling customer's sso_admin", &sibling_sso, &t.sibling_id, &sibling, false),
        ("other MSP", &rival, &t.rival_id, &rival, false),
        ("other MSP inside its own customer", &rival_inside, &t.rival_id, &rival, false),
        ("other MSP's read-only user", &rival_readonly, &t.rival_id, &rival, false),
        ("other MSP's technician inside its customer", &rival_staff_inside, &t.rival_id, &rival, false),
        ("another partner", &other_partner, &other_partner_id, &other_partner, false),
        ("another partner's read-only user", &other_partner_readonly, &other_partner_id, &other_partner, false),
        ("unassigned technician", &staff, &t.msp_id, &t.msp, true),
    ];
    for (label, caller, own_account, reader, same_msp) in callers {
        let before = denials(reader, own_account, &me(caller).await).await;
        let probes = probe_all(label, caller, &customer, same_msp).await;
        assert_eq!(
            denials(reader, own_account, &me(caller).await).await,
            before + probes,
            "{label}: every probe recorded"
        );
    }
    assert!(snapshot(&boss, &t.customer_id, CUSTOMER_VIEWS).await == customer_before, "the customer changed");

    // Lists never leak either.
    for caller in [&sibling, &rival, &staff] {
        let listed = caller.get(&format!("/api/v1/accounts?parent_id={}", t.msp_id)).await.expect(200);
        assert!(!listed.text.contains(&t.customer_id));
        let sessions = caller.get("/api/v1/access-sessions").await.expect(200);
        assert!(!sessions.text.contains(&session));
    }
    // An object id of another customer under the caller's own account is missing, not foreign.
    let other = format!("/api/v1/accounts/{}/collections/{collection}", t.sibling_id);
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
