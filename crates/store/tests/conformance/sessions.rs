//! Sign-ins: lookup by token hash, rotation, ending, failure counters.

use crate::support::Fixture;
use tenantry_domain::{AuditTarget, Clock, Outcome, SessionId, UserId};
use tenantry_store::{AuditDraft, Ctx, Linking, NewSession};

crate::conformance!(
    a_rotated_session_answers_only_to_its_new_token,
    an_ended_session_is_gone,
    failures_count_per_scope_within_the_window,
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
    fx.store.rotate_session(record.id, "new-hash", &fx.root().ctx()).await.unwrap_or_else(|e| panic!("{e}"));
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
    fx.store.end_session(record.id, Some("auth.logout"), &fx.root().ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(fx.store.session_by_token(&token).await.unwrap_or_else(|e| panic!("{e}")).is_none());
}

async fn failures_count_per_scope_within_the_window(fx: Fixture) {
    let draft = || AuditDraft {
        account_id: fx.platform.id,
        action: "auth.login_failed".into(),
        outcome: Outcome::Failure,
        target: AuditTarget { kind: "user".into(), id: None },
        details: serde_json::json!({}),
        linking: Linking::UpToActor,
    };
    let scopes = vec!["ip:192.0.2.9".to_owned(), "email:x@y.test".to_owned()];
    let start = fx.clock.now();
    for _ in 0..3 {
        fx.store.record_failure(&scopes, draft(), &Ctx::default()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    fx.store.record_failure(&scopes[..1], draft(), &Ctx::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let count = |s: Vec<String>, since| {
        let store = fx.store.clone();
        async move { store.recent_failures(&s, since).await.unwrap_or_else(|e| panic!("{e}")) }
    };
    assert_eq!(count(vec![scopes[0].clone()], start).await, 4);
    assert_eq!(count(vec![scopes[1].clone()], start).await, 3);
    assert_eq!(count(scopes.clone(), start).await, 4, "the worst scope counts");
    fx.clock.advance(time::Duration::minutes(16));
    assert_eq!(count(scopes, fx.clock.now() - time::Duration::minutes(15)).await, 0);
}
