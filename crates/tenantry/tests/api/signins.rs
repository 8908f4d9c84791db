//! A user's own sign-ins (the contract's "Sign-in sessions"): the list, ending one, signing out
//! everywhere else, and a user manager ending all of one user's sign-ins.

use crate::support::{PASSWORD, Server};

crate::api_tests!(
    the_sign_in_list_shows_each_browser_of_the_caller_alone_and_marks_the_current_one,
    ending_one_of_ones_sign_ins_signs_that_browser_out_and_another_users_is_not_found,
    signing_out_everywhere_else_keeps_only_this_sign_in_and_ends_the_others_access_sessions,
    a_user_manager_ends_a_users_sign_ins_and_nobody_else_can,
);

/// The ids of the caller's listed sign-ins, and the current one's.
async fn listed(session: &crate::support::Session) -> (Vec<String>, Option<String>) {
    let reply = session.get("/api/v1/auth/sessions").await.expect(200);
    let items = reply.body["items"].as_array().cloned().unwrap_or_default();
    let ids = items.iter().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect();
    let current = items.iter().find(|i| i["current"] == true).and_then(|i| i["id"].as_str().map(str::to_owned));
    (ids, current)
}

async fn the_sign_in_list_shows_each_browser_of_the_caller_alone_and_marks_the_current_one(s: Server) {
    let t = s.tree().await;
    let laptop = s.login_from("admin@acme.test", PASSWORD, "Laptop/1.0").await;
    let phone = s.login_from("admin@acme.test", PASSWORD, "Phone/2.0").await;
    let reply = laptop.get("/api/v1/auth/sessions").await.expect(200);
    let items = reply.body["items"].as_array().cloned().unwrap_or_default();
    // The tree's own sign-in of this user, the laptop and the phone; nobody else's.
    assert_eq!(items.len(), 3, "{}", reply.text);
    let of = |agent: &str| items.iter().find(|i| i["user_agent"] == agent).cloned().unwrap_or_default();
    let (on_laptop, on_phone) = (of("Laptop/1.0"), of("Phone/2.0"));
    assert_eq!(on_laptop["current"], true);
    assert_eq!(on_phone["current"], false);
    assert_eq!(items.iter().filter(|i| i["current"] == true).count(), 1);
    for item in [&on_laptop, &on_phone] {
        assert_eq!(item["method"], "password");
        assert_eq!(item["ip"], "127.0.0.1");
        assert!(item["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(item["last_seen_at"].as_str().is_some());
    }
    assert_eq!(reply.body["items"][0]["user_agent"], "Phone/2.0", "newest first");
    let (from_phone, current) = listed(&phone).await;
    assert_eq!(from_phone.len(), 3);
    assert_eq!(current.as_deref(), on_phone["id"].as_str());
    // Another user's list holds only its own.
    let (root_ids, _) = listed(&t.root).await;
    assert!(root_ids.iter().all(|id| !from_phone.contains(id)));
}

async fn ending_one_of_ones_sign_ins_signs_that_browser_out_and_another_users_is_not_found(s: Server) {
    let t = s.tree().await;
    let laptop = s.login_from("admin@acme.test", PASSWORD, "Laptop/1.0").await;
    let phone = s.login_from("admin@acme.test", PASSWORD, "Phone/2.0").await;
    let (_, phone_id) = listed(&phone).await;
    let phone_id = phone_id.unwrap_or_default();
    laptop.delete(&format!("/api/v1/auth/sessions/{phone_id}")).await.expect(204);
    phone.get("/api/v1/me").await.problem(401, "unauthenticated");
    laptop.get("/api/v1/me").await.expect(200);
    // Gone from the list; ending it again, or another user's sign-in, or no id at all: 404.
    let (left, _) = listed(&laptop).await;
    assert!(!left.contains(&phone_id));
    laptop.delete(&format!("/api/v1/auth/sessions/{phone_id}")).await.problem(404, "not_found");
    let (_, root_current) = listed(&t.root).await;
    let root_current = root_current.unwrap_or_default();
    laptop.delete(&format!("/api/v1/auth/sessions/{root_current}")).await.problem(404, "not_found");
    t.root.get("/api/v1/me").await.expect(200);
    laptop.delete("/api/v1/auth/sessions/not-an-id").await.problem(404, "not_found");
    // Without the CSRF token nothing ends.
    laptop
        .send("DELETE", &format!("/api/v1/auth/sessions/{root_current}"), None, false)
        .await
        .problem(403, "csrf_failed");
    // The trail says who ended which.
    let trail = t.msp.get(&format!("/api/v1/accounts/{}/audit?action=auth.session_ended", t.msp_id)).await.expect(200);
    assert_eq!(trail.body["items"][0]["details"]["session_id"], phone_id.as_str());
}

async fn signing_out_everywhere_else_keeps_only_this_sign_in_and_ends_the_others_access_sessions(s: Server) {
    let t = s.tree().await;
    let laptop = s.login_from("admin@acme.test", PASSWORD, "Laptop/1.0").await;
    let phone = s.login_from("admin@acme.test", PASSWORD, "Phone/2.0").await;
    let inside = phone.enter(&t.customer_id, "ticket 7").await;
    laptop.delete("/api/v1/auth/sessions").await.expect(204);
    phone.get("/api/v1/me").await.problem(401, "unauthenticated");
    t.msp.get("/api/v1/me").await.problem(401, "unauthenticated");
    laptop.get("/api/v1/me").await.expect(200);
    let (left, current) = listed(&laptop).await;
    assert_eq!(left.len(), 1);
    assert_eq!(current.as_ref(), left.first());
    let sessions = t.customer.get(&format!("/api/v1/accounts/{}/access-sessions", t.customer_id)).await.expect(200);
    let entered = sessions.body["items"].as_array().cloned().unwrap_or_default();
    let entered = entered.iter().find(|x| x["id"] == inside.as_str()).cloned().unwrap_or_default();
    assert_eq!(entered["status"], "ended", "{}", sessions.text);
    let trail =
        laptop.get(&format!("/api/v1/accounts/{}/audit?action=auth.sessions_ended", t.msp_id)).await.expect(200);
    assert_eq!(trail.body["items"][0]["details"]["ended"], 2, "{}", trail.text);
}

async fn a_user_manager_ends_a_users_sign_ins_and_nobody_else_can(s: Server) {
    let t = s.tree().await;
    let (uid, first) = s.user(&t.customer, &t.customer_id, "viewer", "viewer@globex.test").await;
    let second = s.login_from("viewer@globex.test", PASSWORD, "Phone/2.0").await;
    let path = format!("/api/v1/accounts/{}/users/{uid}/sessions", t.customer_id);
    // Not a manager of the user: the viewer itself, the rival MSP, the sibling customer's admin.
    second.delete(&format!("/api/v1/accounts/{}/users/{uid}/sessions", t.customer_id)).await.problem(403, "forbidden");
    t.rival.delete(&path).await.problem(404, "not_found");
    let (_, sibling) = s.account(&t.msp, "customer", "Hooli", "boss@hooli.test", None).await;
    sibling.delete(&path).await.problem(404, "not_found");
    first.get("/api/v1/me").await.expect(200);
    // Another account's user through this account's path: as missing as no user at all.
    let (other_uid, _) = s.user(&t.msp, &t.msp_id, "msp_readonly", "ro@acme.test").await;
    t.customer
        .delete(&format!("/api/v1/accounts/{}/users/{other_uid}/sessions", t.customer_id))
        .await
        .problem(404, "not_found");
    // The customer's master admin may.
    t.customer.delete(&path).await.expect(204);
    first.get("/api/v1/me").await.problem(401, "unauthenticated");
    second.get("/api/v1/me").await.problem(401, "unauthenticated");
    t.customer.get("/api/v1/me").await.expect(200);
    // So may the MSP's admin, for its customer's user, without entering it.
    let third = s.login("viewer@globex.test", PASSWORD).await;
    t.msp.delete(&path).await.expect(204);
    third.get("/api/v1/me").await.problem(401, "unauthenticated");
    let trail = t
        .customer
        .get(&format!("/api/v1/accounts/{}/audit?action=user.sessions_ended", t.customer_id))
        .await
        .expect(200);
    let items = trail.body["items"].as_array().cloned().unwrap_or_default();
    // The refusals above are there too, as denied.
    let items: Vec<_> = items.into_iter().filter(|e| e["outcome"] == "success").collect();
    assert_eq!(items.len(), 2, "{}", trail.text);
    assert_eq!(items[1]["details"]["ended"], 2);
    assert_eq!(items[1]["target"]["id"], uid.as_str());
}
