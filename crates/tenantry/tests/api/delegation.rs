//! MSP delegation: staff assignments, access sessions with the actor's own identity, mandatory SSO
//! on the partner side, one event in two trails, the customer's view of who entered, API tokens.

use crate::support::{PASSWORD, Reply, Server, Session, Tree};
use serde_json::{Value, json};

crate::api_tests!(
    staff_see_and_enter_only_the_customers_assigned_to_them,
    entering_needs_the_actors_own_password_once_the_step_up_window_has_passed,
    inside_a_session_the_actor_is_master_admin_except_for_creating_api_tokens,
    customer_data_needs_an_open_session_of_the_callers_own_for_that_customer,
    revoking_an_assignment_ends_the_technicians_sessions_on_their_next_request,
    an_access_session_expires_after_its_lifetime,
    mandatory_sso_stops_the_customers_password_users_but_not_the_msp,
    a_suspended_customer_can_still_be_entered_to_fix_it,
    an_event_names_the_access_session_only_when_it_is_about_that_customer,
    an_action_inside_a_session_is_one_event_in_the_customer_and_msp_trails,
    the_customer_sees_who_entered_when_why_and_whether_it_is_still_open,
    sessions_are_ended_by_the_actor_the_msp_admin_the_customer_admin_and_sign_out,
    api_tokens_are_shown_once_act_with_the_creators_role_and_never_step_up,
    an_msp_token_automates_the_partner_side_but_never_reaches_customer_data,
    collections_belong_to_one_customer_and_validate_their_input,
    the_permissions_on_an_account_follow_the_matrix_and_the_access_session,
    assigning_a_missing_user_or_customer_is_404_before_the_roles_403,
);

fn items(reply: &Reply) -> Vec<Value> {
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

/// An `msp_staff` user of the tree's MSP, signed in.
async fn technician(s: &Server, t: &Tree, email: &str) -> (String, Session) {
    s.user(&t.msp, &t.msp_id, "msp_staff", email).await
}

fn assignment(t: &Tree, staff: &str, customer: &str) -> String {
    format!("/api/v1/accounts/{}/users/{staff}/assignments/{customer}", t.msp_id)
}

async fn staff_see_and_enter_only_the_customers_assigned_to_them(s: Server) {
    let t = s.tree().await;
    let (staff_id, staff) = technician(&s, &t, "tech@acme.test").await;
    assert!(items(&staff.get("/api/v1/accounts").await.expect(200)).is_empty());
    let sessions = format!("/api/v1/accounts/{}/access-sessions", t.customer_id);
    staff.post(&sessions, json!({})).await.problem(404, "not_found");

    t.msp.put(&assignment(&t, &staff_id, &t.customer_id)).await.expect(204);
    t.msp.put(&assignment(&t, &staff_id, &t.customer_id)).await.expect(204);
    let listed = staff.get("/api/v1/accounts").await.expect(200);
    assert_eq!(items(&listed).iter().map(|a| a["name"].clone()).collect::<Vec<_>>(), [json!("Globex")]);
    let own = staff.get(&format!("/api/v1/accounts/{}/users/{staff_id}/assignments", t.msp_id)).await.expect(200);
    assert_eq!(items(&own)[0]["account_name"], "Globex");
    assert_eq!(items(&own)[0]["granted_by"], t.msp.get("/api/v1/me").await.body["user"]["id"]);
    staff.enter(&t.customer_id, "ticket 42").await;
    staff
        .post(&format!("/api/v1/accounts/{}/access-sessions", t.sibling_id), json!({}))
        .await
        .problem(404, "not_found");
    staff.get(&format!("/api/v1/accounts/{}", t.sibling_id)).await.problem(404, "not_found");

    staff.put(&assignment(&t, &staff_id, &t.sibling_id)).await.problem(403, "forbidden");
    t.msp.put(&assignment(&t, &staff_id, &t.rival_customer_id)).await.problem(404, "not_found");
    let msp_admin_id = t.msp.get("/api/v1/me").await.id("/user/id");
    t.msp.put(&assignment(&t, &msp_admin_id, &t.customer_id)).await.problem(422, "validation_failed");
    t.rival.put(&assignment(&t, &staff_id, &t.customer_id)).await.problem(404, "not_found");
    let (other_id, other) = technician(&s, &t, "tech2@acme.test").await;
    other.get(&format!("/api/v1/accounts/{}/users/{staff_id}/assignments", t.msp_id)).await.problem(403, "forbidden");
    other.get(&format!("/api/v1/accounts/{}/users/{other_id}/assignments", t.msp_id)).await.expect(200);
}

async fn entering_needs_the_actors_own_password_once_the_step_up_window_has_passed(s: Server) {
    let t = s.tree().await;
    let sessions = format!("/api/v1/accounts/{}/access-sessions", t.customer_id);
    s.clock.advance(time::Duration::minutes(6));
    t.msp.post(&sessions, json!({"reason": "late"})).await.problem(403, "reauth_required");
    t.msp.post(&sessions, json!({"password": "not my password"})).await.problem(401, "invalid_credentials");
    let boss = t.customer.get("/api/v1/me").await.id("/user/id");
    let boss_user = format!("/api/v1/accounts/{}/users/{boss}", t.customer_id);
    t.customer.patch(&boss_user, json!({"password": "the customer's own passphrase"})).await.expect(200);
    let customers_password = json!({"password": "the customer's own passphrase"});
    t.msp.post(&sessions, customers_password).await.problem(401, "invalid_credentials");
    let opened =
        t.msp.post(&sessions, json!({"reason": "with my own password", "password": PASSWORD})).await.expect(201);
    assert_eq!(opened.body["actor"]["email"], "admin@acme.test");
    assert_eq!(opened.body["reason"], "with my own password");
    assert_eq!(opened.body["status"], "open");
    assert!(opened.id("/console_url").ends_with(&opened.id("/id")));
    t.msp
        .post(&format!("/api/v1/accounts/{}/access-sessions", t.msp_id), json!({"password": PASSWORD}))
        .await
        .problem(403, "forbidden");
    let boss = s.login("boss@globex.test", "the customer's own passphrase").await;
    boss.post(&sessions, json!({})).await.problem(403, "forbidden");
    t.partner.post(&sessions, json!({})).await.problem(403, "forbidden");
    t.root.post(&sessions, json!({"password": PASSWORD})).await.expect(201);
}

async fn inside_a_session_the_actor_is_master_admin_except_for_creating_api_tokens(s: Server) {
    let t = s.tree().await;
    let inside = t.msp.inside(&t.msp.enter(&t.customer_id, "setup").await);
    let base = format!("/api/v1/accounts/{}", t.customer_id);
    inside.post(&format!("{base}/collections"), json!({"name": "Web servers"})).await.expect(201);
    inside
        .post(&format!("{base}/users"), json!({"email": "new@globex.test", "name": "N", "role": "admin"}))
        .await
        .expect(201);
    inside.get(&format!("{base}/audit")).await.expect(200);
    inside.get(&format!("{base}/api-tokens")).await.expect(200);
    let token = json!({"name": "ci", "expires_in_days": 30, "password": PASSWORD});
    inside.post(&format!("{base}/api-tokens"), token).await.problem(403, "delegated_token_forbidden");
    let trail = t.customer.get(&format!("{base}/audit?action=api_token.created")).await.expect(200);
    assert!(items(&trail).iter().any(|e| e["outcome"] == "denied" && e["actor"]["email"] == "admin@acme.test"));
    inside.post(&format!("{base}/access-sessions"), json!({})).await.expect(201);
    inside.patch(&base, json!({"status": "suspended"})).await.expect(200);
    inside.patch(&base, json!({"status": "active"})).await.expect(200);
    t.msp.get(&format!("{base}/api-tokens")).await.problem(403, "access_session_required");
    inside.get(&format!("/api/v1/accounts/{}/collections", t.sibling_id)).await.problem(403, "access_session_required");
}

async fn customer_data_needs_an_open_session_of_the_callers_own_for_that_customer(s: Server) {
    let t = s.tree().await;
    let collections = format!("/api/v1/accounts/{}/collections", t.customer_id);
    t.msp.get(&collections).await.problem(403, "access_session_required");
    t.msp.inside("not-a-session").get(&collections).await.problem(403, "access_session_required");
    let sibling_session = t.msp.enter(&t.sibling_id, "other customer").await;
    t.msp.inside(&sibling_session).get(&collections).await.problem(403, "access_session_required");
    let (staff_id, staff) = technician(&s, &t, "tech@acme.test").await;
    t.msp.put(&assignment(&t, &staff_id, &t.customer_id)).await.expect(204);
    let theirs = staff.enter(&t.customer_id, "theirs").await;
    t.msp.inside(&theirs).get(&collections).await.problem(403, "access_session_required");
    let other_signin = s.login("admin@acme.test", PASSWORD).await;
    let mine = t.msp.enter(&t.customer_id, "mine").await;
    other_signin.inside(&mine).get(&collections).await.problem(403, "access_session_required");
    t.msp.inside(&mine).get(&collections).await.expect(200);
    t.msp.delete(&format!("/api/v1/access-sessions/{mine}")).await.expect(204);
    t.msp.inside(&mine).get(&collections).await.problem(403, "access_session_required");
    t.rival.get(&collections).await.problem(404, "not_found");
}

async fn revoking_an_assignment_ends_the_technicians_sessions_on_their_next_request(s: Server) {
    let t = s.tree().await;
    let (staff_id, staff) = technician(&s, &t, "tech@acme.test").await;
    t.msp.put(&assignment(&t, &staff_id, &t.customer_id)).await.expect(204);
    let inside = staff.inside(&staff.enter(&t.customer_id, "work").await);
    let collections = format!("/api/v1/accounts/{}/collections", t.customer_id);
    inside.get(&collections).await.expect(200);
    t.msp.delete(&assignment(&t, &staff_id, &t.customer_id)).await.expect(204);
    inside.get(&collections).await.problem(404, "not_found");
    t.msp.delete(&assignment(&t, &staff_id, &t.customer_id)).await.problem(404, "not_found");
    let trail =
        t.customer.get(&format!("/api/v1/accounts/{}/audit?action=staff.unassigned", t.customer_id)).await.expect(200);
    assert_eq!(items(&trail)[0]["details"]["access_sessions_ended"], 1);
}

async fn an_access_session_expires_after_its_lifetime(s: Server) {
    let t = s.tree().await;
    let inside = t.msp.inside(&t.msp.enter(&t.customer_id, "long job").await);
    let collections = format!("/api/v1/accounts/{}/collections", t.customer_id);
    for _ in 0..8 {
        s.clock.advance(time::Duration::minutes(55));
        inside.get(&collections).await.expect(200);
    }
    s.clock.advance(time::Duration::minutes(55));
    inside.get(&collections).await.problem(403, "access_session_required");
    let boss = s.login("boss@globex.test", PASSWORD).await;
    let listed = boss.get(&format!("/api/v1/accounts/{}/access-sessions", t.customer_id)).await.expect(200);
    assert_eq!(items(&listed)[0]["status"], "expired");
}

async fn a_suspended_customer_can_still_be_entered_to_fix_it(s: Server) {
    let t = s.tree().await;
    let customer = format!("/api/v1/accounts/{}", t.customer_id);
    t.msp.patch(&customer, json!({"status": "suspended"})).await.expect(200);
    s.try_login("boss@globex.test", PASSWORD).await.0.problem(403, "account_suspended");
    let inside = t.msp.inside(&t.msp.enter(&t.customer_id, "suspended, fixing").await);
    inside.post(&format!("{customer}/collections"), json!({"name": "Kept"})).await.expect(201);
    t.msp.patch(&customer, json!({"status": "active"})).await.expect(200);
    s.login("boss@globex.test", PASSWORD).await;
}

async fn an_event_names_the_access_session_only_when_it_is_about_that_customer(s: Server) {
    let t = s.tree().await;
    let inside = t.msp.inside(&t.msp.enter(&t.customer_id, "one thing").await);
    inside
        .post(
            &format!("/api/v1/accounts/{}/users", t.msp_id),
            json!({"email": "m@acme.test", "name": "M", "role": "msp_staff"}),
        )
        .await
        .expect(201);
    let trail = t.msp.get(&format!("/api/v1/accounts/{}/audit?action=user.created", t.msp_id)).await.expect(200);
    assert!(items(&trail)[0]["access_session_id"].is_null(), "an MSP-side action is not part of the session");
}

async fn mandatory_sso_stops_the_customers_password_users_but_not_the_msp(s: Server) {
    let t = s.tree().await;
    let customer = format!("/api/v1/accounts/{}", t.customer_id);
    s.enable_sso(&t.customer, &t.customer_id).await;
    t.customer.patch(&customer, json!({"sso_mandatory": true})).await.expect(200);
    s.try_login("boss@globex.test", PASSWORD).await.0.problem(403, "sso_required");
    let inside = t.msp.inside(&t.msp.enter(&t.customer_id, "SSO is broken").await);
    inside.get(&format!("{customer}/users")).await.expect(200);
    let fixed = inside.patch(&customer, json!({"sso_mandatory": false})).await.expect(200);
    assert_eq!(fixed.body["sso_mandatory"], false);
    s.login("boss@globex.test", PASSWORD).await;
}

async fn an_action_inside_a_session_is_one_event_in_the_customer_and_msp_trails(s: Server) {
    let t = s.tree().await;
    let (staff_id, staff) = technician(&s, &t, "tech@acme.test").await;
    t.msp.put(&assignment(&t, &staff_id, &t.customer_id)).await.expect(204);
    let session = staff.enter(&t.customer_id, "rotate certs").await;
    let created = staff
        .inside(&session)
        .post(&format!("/api/v1/accounts/{}/collections", t.customer_id), json!({"name": "Edge"}))
        .await
        .expect(201);
    let collection = created.id("/id");
    staff.delete(&format!("/api/v1/access-sessions/{session}")).await.expect(204);

    let customer_trail = t.customer.get(&format!("/api/v1/accounts/{}/audit", t.customer_id)).await.expect(200);
    let msp_trail = t.msp.get(&format!("/api/v1/accounts/{}/audit", t.msp_id)).await.expect(200);
    let find = |trail: &Reply, action: &str| items(trail).into_iter().find(|e| e["action"] == action);
    for action in ["access_session.started", "collection.created", "access_session.ended", "staff.assigned"] {
        let (Some(c), Some(m)) = (find(&customer_trail, action), find(&msp_trail, action)) else {
            panic!("{action} is not in both trails");
        };
        assert_eq!(c["id"], m["id"], "{action}: one event, linked twice");
        assert_eq!(c["trail_account_id"], t.customer_id.as_str());
        assert_eq!(m["trail_account_id"], t.msp_id.as_str());
    }
    let event = find(&customer_trail, "collection.created").unwrap_or_default();
    assert_eq!(event["access_session_id"], session.as_str());
    assert_eq!(event["actor"]["email"], "tech@acme.test");
    assert_eq!(event["actor"]["account_name"], "Acme MSP");
    assert_eq!(event["target"]["id"], collection.as_str());
    let partner_trail = t.partner.get(&format!("/api/v1/accounts/{}/audit", t.partner_id)).await.expect(200);
    assert!(find(&partner_trail, "collection.created").is_none());
    t.customer.get(&format!("/api/v1/accounts/{}/audit", t.msp_id)).await.problem(404, "not_found");
    for trail in [&t.customer_id, &t.msp_id] {
        let verified = t.msp.get(&format!("/api/v1/accounts/{trail}/audit/verify")).await.expect(200);
        assert_eq!(verified.body["valid"], true);
    }
}

async fn the_customer_sees_who_entered_when_why_and_whether_it_is_still_open(s: Server) {
    let t = s.tree().await;
    let (staff_id, staff) = technician(&s, &t, "tech@acme.test").await;
    t.msp.put(&assignment(&t, &staff_id, &t.customer_id)).await.expect(204);
    let first = staff.enter(&t.customer_id, "monthly review").await;
    staff.delete(&format!("/api/v1/access-sessions/{first}")).await.expect(204);
    staff.enter(&t.customer_id, "incident 7").await;
    t.msp.enter(&t.customer_id, "admin check").await;
    let list = format!("/api/v1/accounts/{}/access-sessions", t.customer_id);
    let (_, auditor) = s.user(&t.customer, &t.customer_id, "auditor", "aud@globex.test").await;
    let (_, admin) = s.user(&t.customer, &t.customer_id, "admin", "adm@globex.test").await;
    for reader in [&t.customer, &auditor] {
        let seen = items(&reader.get(&list).await.expect(200));
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0]["reason"], "admin check", "newest first");
        assert_eq!(seen[2]["status"], "ended");
        assert!(seen[2]["ended_at"].is_string());
        assert_eq!(seen[1]["actor"]["email"], "tech@acme.test");
        assert_eq!(seen[1]["status"], "open");
    }
    admin.get(&list).await.problem(403, "forbidden");
    assert_eq!(items(&staff.get(&list).await.expect(200)).len(), 2, "staff see their own sessions");
    assert_eq!(items(&t.msp.get(&list).await.expect(200)).len(), 3);
    t.rival.get(&list).await.problem(404, "not_found");
}

async fn sessions_are_ended_by_the_actor_the_msp_admin_the_customer_admin_and_sign_out(s: Server) {
    let t = s.tree().await;
    let (staff_id, staff) = technician(&s, &t, "tech@acme.test").await;
    for customer in [&t.customer_id, &t.sibling_id] {
        t.msp.put(&assignment(&t, &staff_id, customer)).await.expect(204);
    }
    let a = staff.enter(&t.customer_id, "one").await;
    let b = staff.enter(&t.customer_id, "two, same customer").await;
    let c = staff.enter(&t.sibling_id, "three, other customer").await;
    let d = staff.enter(&t.sibling_id, "four").await;
    let open = items(&staff.get("/api/v1/access-sessions").await.expect(200));
    assert_eq!(open.len(), 4, "several at once, side by side");
    for id in [&a, &b, &c, &d] {
        let inside = staff.inside(id);
        let customer = if *id == a || *id == b { &t.customer_id } else { &t.sibling_id };
        inside.get(&format!("/api/v1/accounts/{customer}/collections")).await.expect(200);
    }
    let (_, other) = technician(&s, &t, "tech2@acme.test").await;
    other.delete(&format!("/api/v1/access-sessions/{a}")).await.problem(404, "not_found");
    staff.delete(&format!("/api/v1/access-sessions/{a}")).await.expect(204);
    t.msp.delete(&format!("/api/v1/access-sessions/{b}")).await.expect(204);
    let sibling_boss = s.login("boss@initech.test", PASSWORD).await;
    sibling_boss.delete(&format!("/api/v1/access-sessions/{c}")).await.expect(204);
    t.customer.delete(&format!("/api/v1/access-sessions/{d}")).await.problem(404, "not_found");
    assert_eq!(items(&staff.get("/api/v1/access-sessions").await.expect(200)).len(), 1);
    staff.send("POST", "/api/v1/auth/logout", None, true).await.expect(204);
    let listed = items(&t.msp.get(&format!("/api/v1/accounts/{}/access-sessions", t.sibling_id)).await.expect(200));
    assert!(listed.iter().all(|s| s["status"] == "ended"), "signing out ended them all: {listed:?}");
    let trail = sibling_boss.get(&format!("/api/v1/accounts/{}/audit?action=access_session.ended", t.sibling_id)).await;
    let ended = items(&trail.expect(200));
    assert!(ended.iter().any(|e| e["access_session_id"] == d.as_str() && e["details"]["reason"] == "sign_out"));
    assert!(ended.iter().any(|e| e["access_session_id"] == c.as_str() && e["details"]["reason"] == "ended"));
}

async fn api_tokens_are_shown_once_act_with_the_creators_role_and_never_step_up(s: Server) {
    let t = s.tree().await;
    let tokens = format!("/api/v1/accounts/{}/api-tokens", t.customer_id);
    s.clock.advance(time::Duration::minutes(6));
    let boss = s.login("boss@globex.test", PASSWORD).await;
    s.clock.advance(time::Duration::minutes(6));
    boss.post(&tokens, json!({"name": "ci", "expires_in_days": 30})).await.problem(403, "reauth_required");
    boss.post(&tokens, json!({"name": "ci", "expires_in_days": 0, "password": PASSWORD}))
        .await
        .problem(422, "validation_failed");
    boss.post(&tokens, json!({"name": "ci", "expires_in_days": 731, "password": PASSWORD}))
        .await
        .problem(422, "validation_failed");
    let created =
        boss.post(&tokens, json!({"name": "ci", "expires_in_days": 30, "password": PASSWORD})).await.expect(201);
    let secret = created.id("/token");
    assert!(secret.starts_with("tnt_"));
    let listed = boss.get(&tokens).await.expect(200);
    assert!(!listed.text.contains(&secret), "shown once, never listed");
    assert_eq!(items(&listed)[0]["role"], "master_admin");

    let bot = boss.bearer(&secret);
    let collections = format!("/api/v1/accounts/{}/collections", t.customer_id);
    bot.post(&collections, json!({"name": "from ci"})).await.expect(201);
    let me = bot.get("/api/v1/me").await.expect(200);
    assert_eq!(me.body["user"]["email"], "boss@globex.test");
    bot.post(&tokens, json!({"name": "again", "expires_in_days": 1, "password": PASSWORD}))
        .await
        .problem(403, "reauth_required");
    bot.post("/api/v1/auth/reauth", json!({"password": PASSWORD})).await.problem(403, "reauth_required");
    let token_id = created.id("/id");
    assert!(boss.get(&format!("{tokens}/{token_id}")).await.expect(200).body["last_used_at"].is_string());
    let trail = t
        .customer
        .get(&format!("/api/v1/accounts/{}/audit?action=collection.created", t.customer_id))
        .await
        .expect(200);
    assert_eq!(items(&trail)[0]["actor"]["email"], "boss@globex.test");

    s.clock.advance(time::Duration::days(31));
    bot.get(&collections).await.problem(401, "unauthenticated");
    let boss = s.login("boss@globex.test", PASSWORD).await;
    let second = boss.post(&tokens, json!({"name": "short", "expires_in_days": 1})).await.expect(201);
    let bot = boss.bearer(&second.id("/token"));
    bot.get(&collections).await.expect(200);
    boss.delete(&format!("{tokens}/{}", second.id("/id"))).await.expect(204);
    bot.get(&collections).await.problem(401, "unauthenticated");
    boss.bearer("tnt_forged").get(&collections).await.problem(401, "unauthenticated");

    let (_, viewer) = s.user(&boss, &t.customer_id, "viewer", "view@globex.test").await;
    viewer.post(&tokens, json!({"name": "v", "expires_in_days": 1})).await.problem(403, "forbidden");
    s.login("admin@rival.test", PASSWORD).await.get(&tokens).await.problem(404, "not_found");
}

async fn an_msp_token_automates_the_partner_side_but_never_reaches_customer_data(s: Server) {
    let t = s.tree().await;
    let tokens = format!("/api/v1/accounts/{}/api-tokens", t.msp_id);
    let secret =
        t.msp.post(&tokens, json!({"name": "billing sync", "expires_in_days": 90})).await.expect(201).id("/token");
    let bot = t.msp.bearer(&secret);
    let listed = bot.get("/api/v1/accounts").await.expect(200);
    assert_eq!(items(&listed).len(), 2);
    let body = json!({"kind": "customer", "name": "Automated Co", "admin": {"email": "a@auto.test", "name": "A"}});
    let created = bot.post("/api/v1/accounts", body).await.expect(201);
    let new_customer = created.id("/account/id");
    bot.get(&format!("/api/v1/accounts/{}/users", t.customer_id)).await.expect(200);
    bot.get(&format!("/api/v1/accounts/{}/audit", t.customer_id)).await.expect(200);
    let trail = t.msp.get(&format!("/api/v1/accounts/{}/audit?action=account.created", t.msp_id)).await.expect(200);
    assert!(
        items(&trail)
            .iter()
            .any(|e| e["account_id"] == new_customer.as_str() && e["actor"]["email"] == "admin@acme.test")
    );

    bot.get(&format!("/api/v1/accounts/{}/collections", t.customer_id)).await.problem(403, "access_session_required");
    bot.post(&format!("/api/v1/accounts/{}/access-sessions", t.customer_id), json!({"password": PASSWORD}))
        .await
        .problem(403, "reauth_required");
    let session = t.msp.enter(&t.customer_id, "mine, not the token's").await;
    bot.inside(&session)
        .get(&format!("/api/v1/accounts/{}/collections", t.customer_id))
        .await
        .problem(403, "access_session_required");
    bot.delete(&format!("/api/v1/accounts/{new_customer}")).await.problem(403, "reauth_required");
}

async fn collections_belong_to_one_customer_and_validate_their_input(s: Server) {
    let t = s.tree().await;
    let base = format!("/api/v1/accounts/{}/collections", t.customer_id);
    let id = t.customer.post(&base, json!({"name": "Public sites"})).await.expect(201).id("/id");
    let renamed = t.customer.patch(&format!("{base}/{id}"), json!({"name": "Public websites"})).await.expect(200);
    assert_eq!(renamed.body["name"], "Public websites");
    t.customer.post(&base, json!({"name": ""})).await.problem(422, "validation_failed");
    t.customer.post(&base, json!({"name": "x", "colour": "red"})).await.problem(422, "validation_failed");
    let boss2 = s.login("boss@initech.test", PASSWORD).await;
    boss2.get(&format!("/api/v1/accounts/{}/collections/{id}", t.sibling_id)).await.problem(404, "not_found");
    boss2.get(&format!("{base}/{id}")).await.problem(404, "not_found");
    let (_, viewer) = s.user(&t.customer, &t.customer_id, "viewer", "v@globex.test").await;
    viewer.get(&format!("{base}/{id}")).await.expect(200);
    viewer.delete(&format!("{base}/{id}")).await.problem(403, "forbidden");
    t.msp.get(&format!("/api/v1/accounts/{}/collections", t.msp_id)).await.problem(403, "forbidden");
    t.customer.delete(&format!("{base}/{id}")).await.expect(204);
    t.customer.get(&format!("{base}/{id}")).await.problem(404, "not_found");
    assert!(items(&t.customer.get(&base).await.expect(200)).is_empty());
}

async fn the_permissions_on_an_account_follow_the_matrix_and_the_access_session(s: Server) {
    let t = s.tree().await;
    let path = format!("/api/v1/accounts/{}/permissions", t.customer_id);
    let held = |reply: Reply| -> Vec<String> {
        let reply = reply.expect(200);
        reply.body["permissions"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let outside = held(t.msp.get(&path).await);
    for expected in ["account.read", "access.enter", "user.manage", "subscription.manage"] {
        assert!(outside.iter().any(|p| p == expected), "{expected} missing from {outside:?}");
    }
    assert!(!outside.iter().any(|p| p == "resource.read"), "customer data needs a session: {outside:?}");
    let inside = held(t.msp.inside(&t.msp.enter(&t.customer_id, "work").await).get(&path).await);
    assert!(inside.iter().any(|p| p == "resource.write"), "{inside:?}");
    assert!(!inside.iter().any(|p| p == "api_token.create"), "never inside a session: {inside:?}");
    let own = held(t.customer.get(&path).await);
    assert!(own.iter().any(|p| p == "api_token.create") && !own.iter().any(|p| p == "access.enter"), "{own:?}");
    let (_, stranger) = technician(&s, &t, "unassigned@acme.test").await;
    stranger.get(&path).await.problem(404, "not_found");
    t.rival.get(&path).await.problem(404, "not_found");
}

async fn assigning_a_missing_user_or_customer_is_404_before_the_roles_403(s: Server) {
    let t = s.tree().await;
    let (tech, _) = technician(&s, &t, "tech@acme.test").await;
    let (_, readonly) = s.user(&t.msp, &t.msp_id, "msp_readonly", "ro@acme.test").await;
    let missing = "01900000-0000-7000-8000-00000000dead";
    readonly.put(&assignment(&t, &tech, &t.customer_id)).await.problem(403, "forbidden");
    readonly.put(&assignment(&t, &tech, missing)).await.problem(404, "not_found");
    readonly.put(&assignment(&t, missing, &t.customer_id)).await.problem(404, "not_found");
    readonly.delete(&assignment(&t, &tech, &t.customer_id)).await.problem(404, "not_found");
    t.msp.put(&assignment(&t, &tech, &t.customer_id)).await.expect(204);
    readonly.delete(&assignment(&t, &tech, &t.customer_id)).await.problem(403, "forbidden");
    t.msp.delete(&assignment(&t, &tech, &t.customer_id)).await.expect(204);
    t.msp.delete(&assignment(&t, &tech, &t.customer_id)).await.problem(404, "not_found");
}
