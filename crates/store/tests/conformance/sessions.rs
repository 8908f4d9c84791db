//! Sign-ins: lookup by token hash, rotation, ending, lapsing; attempt reservations under the
//! failed-attempt limits; access sessions opened against a concurrent unassignment.

use crate::support::{Fixture, new_user};
use tenantry_domain::authz::{Relation, cap};
use tenantry_domain::{Action, Clock, Role, SessionId, UserId};
use tenantry_store::{NewAccessSession, NewSession, PageRequest, SsoFlow, SsoUser, TakenFlow};

crate::conformance!(
    a_rotated_session_answers_only_to_its_new_token,
    an_ended_session_is_gone,
    attempts_are_counted_per_scope_within_the_window_and_released_on_success,
    concurrent_attempts_from_two_processes_never_pass_the_limit,
    a_grant_judged_before_an_unassignment_opens_no_session_after_it,
    a_lapsed_sign_in_ends_its_access_sessions_at_the_moment_it_lapsed,
    a_change_made_in_an_access_session_that_ended_meanwhile_is_refused,
    a_single_sign_on_flow_is_taken_once_and_not_after_it_lapsed,
    a_provider_finds_its_accounts_users_and_provisions_only_when_asked,
);

/// Starts a sign-in for `user` under `token_hash`; returns the hash.
pub async fn sign_in(fx: &Fixture, user: UserId, token_hash: &str) -> String {
    let session = NewSession {
        id: SessionId::new(),
        token_hash: token_hash.to_owned(),
        user_id: user,
        csrf_token: "csrf".into(),
        expires_at: fx.clock.now() + time::Duration::hours(12),
        ip: None,
        user_agent: None,
        method: "password",
        attempt: None,
    };
    fx.store.create_session(session, &fx.root().ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    token_hash.to_owned()
}

async fn a_rotated_session_answers_only_to_its_new_token(fx: Fixture) {
    let old = sign_in(&fx, fx.root.id, "old-hash").await;
    let record =
        fx.store.session_by_token(&old).await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("no session"));
    assert_eq!(record.user.id, fx.root.id);
    assert_eq!(record.csrf_token, "csrf");
    fx.clock.advance(time::Duration::minutes(3));
    fx.store
        .rotate_session(record.id, "new-hash", "password", &fx.root().ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(fx.store.session_by_token(&old).await.unwrap_or_else(|e| panic!("{e}")).is_none());
    let rotated = fx
        .store
        .session_by_token("new-hash")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no session"));
    assert_eq!(rotated.id, record.id, "the same sign-in");
    assert_eq!(rotated.csrf_token, record.csrf_token, "the CSRF token lives as long as the sign-in");
    assert!(rotated.reauth_at > record.reauth_at);
}

async fn an_ended_session_is_gone(fx: Fixture) {
    let token = sign_in(&fx, fx.root.id, "bye").await;
    let record = fx
        .store
        .session_by_token(&token)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no session"));
    fx.store.end_session(record.id, Some(Action::Logout), &fx.root().ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(fx.store.session_by_token(&token).await.unwrap_or_else(|e| panic!("{e}")).is_none());
}

async fn attempts_are_counted_per_scope_within_the_window_and_released_on_success(fx: Fixture) {
    let scopes = vec!["ip:192.0.2.9".to_owned(), "email:x@y.test".to_owned()];
    let reserve = |s: Vec<String>, limit: i64| {
        let (store, since) = (fx.store.clone(), fx.clock.now() - time::Duration::minutes(15));
        async move { store.reserve_attempt(&s, limit, since).await.unwrap_or_else(|e| panic!("{e}")) }
    };
    for _ in 0..3 {
        assert!(reserve(scopes.clone(), 4).await.is_some());
    }
    // The address alone reaches the limit of 4; the email has 3.
    assert!(reserve(scopes[..1].to_vec(), 4).await.is_some());
    assert!(reserve(scopes.clone(), 4).await.is_none(), "the worst scope counts");
    assert!(reserve(scopes[1..].to_vec(), 4).await.is_some(), "the email on its own had room for one more");
    assert!(reserve(scopes[1..].to_vec(), 4).await.is_none());
    // A success takes its reservation back.
    let other = vec!["email:ok@y.test".to_owned()];
    for _ in 0..10 {
        let reservation = reserve(other.clone(), 2).await.unwrap_or_else(|| panic!("refused"));
        fx.store.release_attempt(reservation).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // And the window moves on.
    fx.clock.advance(time::Duration::minutes(16));
    assert!(reserve(scopes, 4).await.is_some());
}

async fn concurrent_attempts_from_two_processes_never_pass_the_limit(fx: Fixture) {
    // A second pool on the same database stands for a second process.
    let other = tenantry_store::connect(&fx.url, fx.clock.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let since = fx.clock.now() - time::Duration::minutes(15);
    let attempts = (0..40).map(|n| {
        let store = if n % 2 == 0 { fx.store.clone() } else { other.clone() };
        let scopes = vec![format!("email:target@y.test"), format!("ip:198.51.100.{n}")];
        tokio::spawn(async move { store.reserve_attempt(&scopes, 5, since).await.map(|r| r.is_some()) })
    });
    let results = futures_util::future::join_all(attempts).await;
    let passed = results.into_iter().filter(|r| matches!(r, Ok(Ok(true)))).count();
    assert_eq!(passed, 5, "exactly the limit of attempts is let through");
}

async fn a_grant_judged_before_an_unassignment_opens_no_session_after_it(fx: Fixture) {
    let t = fx.tree().await;
    let msp = &t.msp;
    let staff_grant = msp.grant(cap::UserManage, &msp.account, Relation::Own);
    let staff_grant_credentials = msp.grant(cap::UserCredentials, &msp.account, Relation::Own);
    let staff = fx
        .store
        .create_user(&staff_grant, Some(staff_grant_credentials), new_user("tech@msp.test", Role::MspStaff), &msp.ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let assign = msp.grant(cap::StaffAssign, &msp.account, Relation::Own);
    fx.store.assign(&assign, staff.id, t.customer.account.id, &msp.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    let tech = crate::support::Actor { user: staff.clone(), account: msp.account.clone() };
    let signin = crate::sessions::sign_in(&fx, staff.id, "tech-hash").await;
    let signin = fx
        .store
        .session_by_token(&signin)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no sign-in"));
    // Judged while assigned …
    let enter = tech.grant(cap::AccessEnter, &t.customer.account, Relation::Below { assigned: true });
    // … then unassigned before the session is stored.
    fx.store.unassign(&assign, staff.id, t.customer.account.id, &msp.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    let new = NewAccessSession {
        signin_session_id: signin.id,
        reason: None,
        expires_at: fx.clock.now() + time::Duration::hours(8),
    };
    let opened = fx.store.open_access_session(&enter, new, &tech.ctx()).await;
    assert!(opened.is_err(), "a session was opened for a technician no longer assigned");
    let list = t.customer.grant(cap::AccessList, &t.customer.account, Relation::Own);
    let page = fx
        .store
        .list_access_sessions(&list, None, &PageRequest { after: None, limit: 50 })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(page.items.is_empty());
}

/// The MSP administrator signed in and inside the customer: its sign-in's token hash, the
/// sign-in, and the access session.
async fn msp_inside_customer(
    fx: &Fixture,
    t: &crate::support::Tree,
) -> (String, tenantry_store::SessionRecord, tenantry_store::AccessSessionRecord) {
    let token = sign_in(fx, t.msp.user.id, "msp-hash").await;
    let signin = fx
        .store
        .session_by_token(&token)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no sign-in"));
    let enter = t.msp.grant(cap::AccessEnter, &t.customer.account, Relation::Below { assigned: false });
    let new = NewAccessSession {
        signin_session_id: signin.id,
        reason: Some("ticket 1".into()),
        expires_at: fx.clock.now() + time::Duration::hours(8),
    };
    let opened = fx.store.open_access_session(&enter, new, &t.msp.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    (token, signin, opened)
}

async fn a_lapsed_sign_in_ends_its_access_sessions_at_the_moment_it_lapsed(fx: Fixture) {
    let t = fx.tree().await;
    let (token, signin, opened) = msp_inside_customer(&fx, &t).await;
    let idle = time::Duration::hours(1);
    assert_eq!(
        fx.store.end_lapsed_sessions(idle, 100).await.unwrap_or_else(|e| panic!("{e}")),
        0,
        "nothing lapsed yet"
    );
    let lapsed_at = signin.last_seen_at + idle;
    fx.clock.advance(time::Duration::hours(3));
    // Two processes sweep at once: the sign-in ends once.
    let other = tenantry_store::connect(&fx.url, fx.clock.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = tokio::join!(fx.store.end_lapsed_sessions(idle, 100), other.end_lapsed_sessions(idle, 100));
    assert_eq!(a.unwrap_or_else(|e| panic!("{e}")) + b.unwrap_or_else(|e| panic!("{e}")), 1);
    assert!(fx.store.session_by_token(&token).await.unwrap_or_else(|e| panic!("{e}")).is_none());
    let ended =
        fx.store.access_session(opened.id).await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("gone"));
    assert_eq!(ended.ended_at, Some(lapsed_at));
    assert_eq!(ended.end_reason.as_deref(), Some("sign_in_expired"));
    let read = t.customer.grant(cap::AuditRead, &t.customer.account, Relation::Own);
    let filter = tenantry_store::AuditFilter { action: Some("access_session.ended".into()), ..Default::default() };
    let events = fx
        .store
        .audit_page(&read, &filter, &PageRequest { after: None, limit: 50 })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(events.items.len(), 1, "one access_session.ended event");
    assert_eq!(events.items[0].details["reason"], "sign_in_expired");
}

async fn a_change_made_in_an_access_session_that_ended_meanwhile_is_refused(fx: Fixture) {
    let t = fx.tree().await;
    let (_, _, opened) = msp_inside_customer(&fx, &t).await;
    // The request was authorized inside the session …
    let write = t.msp.grant(cap::UserManage, &t.customer.account, Relation::Below { assigned: false });
    let write_credentials = t.msp.grant(cap::UserCredentials, &t.customer.account, Relation::Below { assigned: false });
    let ctx = tenantry_store::Ctx {
        access_session_id: Some(opened.id.to_string()),
        access_customer: Some(t.customer.account.id),
        ..t.msp.ctx()
    };
    fx.store
        .create_user(&write, Some(write_credentials), new_user("first@globex.test", Role::Viewer), &ctx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // … and the session ends before its change commits.
    let end = t.customer.grant(cap::AccessEnd, &t.customer.account, Relation::Own);
    fx.store.end_access_session(&end, opened.id, &t.customer.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    let late =
        fx.store.create_user(&write, Some(write_credentials), new_user("late@globex.test", Role::Viewer), &ctx).await;
    assert!(
        matches!(late, Err(tenantry_store::StoreError::Domain(tenantry_domain::DomainError::AccessSessionEnded))),
        "{late:?}"
    );
    let read = t.customer.grant(cap::UserRead, &t.customer.account, Relation::Own);
    let users =
        fx.store.list_users(&read, &PageRequest { after: None, limit: 50 }).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(users.items.iter().all(|u| u.email.as_str() != "late@globex.test"), "nothing was written");
}

fn flow(fx: &Fixture, state: &str, ip: &str) -> SsoFlow {
    SsoFlow {
        state_hash: state.to_owned(),
        account_id: fx.platform.id,
        step_up_of: None,
        browser_hash: "browser".into(),
        nonce: "nonce".into(),
        pkce_verifier: "verifier".into(),
        return_to: Some("/console".into()),
        ip: Some(ip.to_owned()),
        expires_at: fx.clock.now() + time::Duration::minutes(10),
    }
}

async fn a_single_sign_on_flow_is_taken_once_and_not_after_it_lapsed(fx: Fixture) {
    let begun = fx.store.begin_sso_flow(flow(&fx, "state-1", "192.0.2.1"), 2).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(begun);
    // Another browser neither takes nor spends it.
    let elsewhere = fx.store.take_sso_flow("state-1", "another").await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(elsewhere, TakenFlow::OtherBrowser(a) if a == fx.platform.id));
    let taken = fx.store.take_sso_flow("state-1", "browser").await.unwrap_or_else(|e| panic!("{e}"));
    let TakenFlow::Taken(taken) = taken else { panic!("not taken: {taken:?}") };
    assert_eq!((taken.nonce.as_str(), taken.return_to.as_deref()), ("nonce", Some("/console")));
    let again = fx.store.take_sso_flow("state-1", "browser").await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(again, TakenFlow::Unknown), "once");

    // One address may have only so many under way.
    for state in ["state-2", "state-3"] {
        assert!(fx.store.begin_sso_flow(flow(&fx, state, "192.0.2.1"), 2).await.unwrap_or_else(|e| panic!("{e}")));
    }
    assert!(!fx.store.begin_sso_flow(flow(&fx, "state-4", "192.0.2.1"), 2).await.unwrap_or_else(|e| panic!("{e}")));
    assert!(fx.store.begin_sso_flow(flow(&fx, "state-5", "192.0.2.9"), 2).await.unwrap_or_else(|e| panic!("{e}")));
    fx.clock.advance(time::Duration::minutes(11));
    let lapsed = fx.store.take_sso_flow("state-2", "browser").await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(lapsed, TakenFlow::Unknown), "lapsed");
    // Lapsed flows no longer count against their address.
    assert!(fx.store.begin_sso_flow(flow(&fx, "state-6", "192.0.2.1"), 2).await.unwrap_or_else(|e| panic!("{e}")));
}

async fn a_provider_finds_its_accounts_users_and_provisions_only_when_asked(fx: Fixture) {
    let t = fx.tree().await;
    let email = |raw: &str| tenantry_domain::Email::parse(raw).unwrap_or_else(|e| panic!("{e}"));
    let ctx = fx.root().ctx();
    let own = fx.store.sso_user(t.customer.account.id, &t.customer.user.email, None, &ctx).await;
    assert!(matches!(own, Ok(SsoUser::Found(c)) if c.user.id == t.customer.user.id));
    let elsewhere = fx.store.sso_user(t.customer.account.id, &t.msp.user.email, None, &ctx).await;
    assert!(matches!(elsewhere, Ok(SsoUser::Elsewhere)));
    let unknown = fx.store.sso_user(t.customer.account.id, &email("new@globex.test"), None, &ctx).await;
    assert!(matches!(unknown, Ok(SsoUser::Unknown)));
    let provision = Some((Role::Viewer, "New Person".to_owned()));
    let made = fx.store.sso_user(t.customer.account.id, &email("new@globex.test"), provision, &ctx).await;
    let Ok(SsoUser::Found(made)) = made else { panic!("provisioned: {made:?}") };
    assert_eq!((made.user.role, made.user.status), (Role::Viewer, tenantry_domain::UserStatus::Active));
    assert!(made.password_hash.is_none(), "a provisioned user has no password");
    assert_eq!(made.account.id, t.customer.account.id);
}
