//! Accounts and users: the tree, visibility in lists, uniqueness, deletion rules.

use crate::support::{Fixture, new_account, new_user};
use tenantry_domain::authz::{Relation, cap};
use tenantry_domain::{AccountKind, AccountStatus, Clock, DomainError, Role};
use tenantry_store::{AccountFilter, AccountGrants, AccountPatch, PageRequest, StoreError, UserPatch};

crate::conformance!(
    closure_table_places_every_account_below_its_ancestors,
    lists_show_the_subtree_filtered_and_paged,
    staff_lists_show_only_assigned_customers,
    email_is_unique_case_insensitively_and_a_failed_create_writes_nothing,
    deletion_waits_for_children_and_restore_revives,
    turning_on_mandatory_sso_ends_password_sign_ins_but_not_sso_admins,
    a_password_or_an_email_is_set_only_on_the_credentials_grant,
);

fn all() -> PageRequest {
    PageRequest { after: None, limit: 50 }
}

async fn closure_table_places_every_account_below_its_ancestors(fx: Fixture) {
    let t = fx.tree().await;
    let depth = |viewer: &crate::support::Actor, target: &crate::support::Actor| {
        let store = fx.store.clone();
        let (viewer, target) = (viewer.clone(), target.clone());
        async move {
            store
                .account_view(target.account.id, viewer.account.id, viewer.user.id)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .and_then(|v| v.depth_below_viewer)
        }
    };
    assert_eq!(depth(&t.partner, &t.customer).await, Some(2));
    assert_eq!(depth(&t.msp, &t.customer).await, Some(1));
    assert_eq!(depth(&t.customer, &t.customer).await, Some(0));
    assert_eq!(depth(&t.customer, &t.msp).await, None, "an ancestor is not below");
    assert_eq!(depth(&t.customer, &t.other).await, None, "a sibling is not below");
    assert_eq!(fx.root().account.kind, AccountKind::Platform);
    assert_eq!(t.customer.account.parent_id, Some(t.msp.account.id));
    assert_eq!(t.customer.user.role, Role::MasterAdmin);
}

async fn lists_show_the_subtree_filtered_and_paged(fx: Fixture) {
    let t = fx.tree().await;
    let grant = t.partner.grant(cap::AccountRead, &t.partner.account, Relation::Own);
    let list = |filter: AccountFilter, page: PageRequest| {
        let store = fx.store.clone();
        async move { store.list_accounts(&grant, &filter, &page).await.unwrap_or_else(|e| panic!("{e}")) }
    };
    let everything = list(AccountFilter::default(), all()).await;
    let names: Vec<_> = everything.items.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Acme MSP", "Globex", "Initech"]);
    assert!(everything.next.is_none());

    let customers = list(AccountFilter { kind: Some(AccountKind::Customer), ..Default::default() }, all()).await;
    assert_eq!(customers.items.len(), 2);
    let searched = list(AccountFilter { q: Some("GLOB".into()), ..Default::default() }, all()).await;
    assert_eq!(searched.items.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["Globex"]);
    let wildcard = list(AccountFilter { q: Some("%".into()), ..Default::default() }, all()).await;
    assert!(wildcard.items.is_empty(), "% is searched literally");

    let first = list(AccountFilter::default(), PageRequest { after: None, limit: 2 }).await;
    assert_eq!(first.items.len(), 2);
    let second = list(AccountFilter::default(), PageRequest { after: first.next.clone(), limit: 2 }).await;
    assert_eq!(second.items.len(), 1);
    assert!(second.next.is_none());
    assert_eq!(second.items[0].name, "Initech");
}

async fn staff_lists_show_only_assigned_customers(fx: Fixture) {
    let t = fx.tree().await;
    let grant = t.msp.grant(cap::UserManage, &t.msp.account, Relation::Own);
    let grant_credentials = t.msp.grant(cap::UserCredentials, &t.msp.account, Relation::Own);
    let staff = fx
        .store
        .create_user(&grant, Some(grant_credentials), new_user("tech@msp.test", Role::MspStaff), &t.msp.ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    fx.raw(&format!(
        "INSERT INTO staff_assignments (user_id, account_id, granted_by, granted_at) VALUES ('{}', '{}', NULL, 0)",
        staff.id, t.other.account.id
    ))
    .await;
    // The technician's own grant on its MSP carries what it sees below: the assigned customers.
    let tech = crate::support::Actor { user: staff, account: t.msp.account.clone() };
    let read = tech.grant(cap::AccountRead, &t.msp.account, Relation::Own);
    let page = fx.store.list_accounts(&read, &AccountFilter::default(), &all()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.items.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["Initech"]);
    // A customer's user sees nothing below its own account.
    let own = t.customer.grant(cap::AccountRead, &t.customer.account, Relation::Own);
    let none = fx.store.list_accounts(&own, &AccountFilter::default(), &all()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(none.items.is_empty());
}

async fn email_is_unique_case_insensitively_and_a_failed_create_writes_nothing(fx: Fixture) {
    let t = fx.tree().await;
    let grant = t.msp.grant(cap::AccountCreate, &t.msp.account, Relation::Own);
    let before = fx
        .store
        .audit_page(&t.msp.grant(cap::AuditRead, &t.msp.account, Relation::Own), &Default::default(), &all())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let result = fx
        .store
        .create_account(
            &grant,
            new_account(AccountKind::Customer, "Dupe Inc"),
            new_user("BOSS@Globex.Test", Role::MasterAdmin),
            &t.msp.ctx(),
        )
        .await;
    assert!(matches!(result, Err(StoreError::Domain(DomainError::EmailTaken))), "{result:?}");
    let read = t.msp.grant(cap::AccountRead, &t.msp.account, Relation::Own);
    let filter = AccountFilter { q: Some("dupe".into()), ..Default::default() };
    let page = fx.store.list_accounts(&read, &filter, &all()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(page.items.is_empty(), "the account was rolled back with its user");
    let after = fx
        .store
        .audit_page(&t.msp.grant(cap::AuditRead, &t.msp.account, Relation::Own), &Default::default(), &all())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before.items.len(), after.items.len(), "no audit event for a change that did not happen");
}

async fn deletion_waits_for_children_and_restore_revives(fx: Fixture) {
    let t = fx.tree().await;
    let below = Relation::Below { assigned: false };
    let on_msp = t.partner.grant(cap::AccountDelete, &t.msp.account, below);
    let deadline = fx.clock.now() + time::Duration::days(30);
    let refused = fx.store.schedule_deletion(&on_msp, deadline, &t.partner.ctx()).await;
    assert!(matches!(refused, Err(StoreError::Domain(DomainError::HasChildren))), "{refused:?}");

    for customer in [&t.customer, &t.other] {
        let grant = t.partner.grant(cap::AccountDelete, &customer.account, below);
        let account =
            fx.store.schedule_deletion(&grant, deadline, &t.partner.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(account.status, AccountStatus::PendingDeletion);
        assert_eq!(account.deletion_deadline, Some(deadline));
    }
    let msp = fx.store.schedule_deletion(&on_msp, deadline, &t.partner.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(msp.status, AccountStatus::PendingDeletion);

    let restored = fx.store.restore_account(&on_msp, &t.partner.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(restored.status, AccountStatus::Active);
    assert_eq!(restored.deletion_deadline, None);
    let again = fx.store.restore_account(&on_msp, &t.partner.ctx()).await;
    assert!(matches!(again, Err(StoreError::Domain(DomainError::Conflict(_)))), "{again:?}");
}

async fn turning_on_mandatory_sso_ends_password_sign_ins_but_not_sso_admins(fx: Fixture) {
    let t = fx.tree().await;
    let manage = t.customer.grant(cap::UserManage, &t.customer.account, Relation::Own);
    let manage_credentials = t.customer.grant(cap::UserCredentials, &t.customer.account, Relation::Own);
    let breakglass = fx
        .store
        .create_user(
            &manage,
            Some(manage_credentials),
            new_user("glass@globex.test", Role::SsoAdmin),
            &t.customer.ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let boss = crate::sessions::sign_in(&fx, t.customer.user.id, "boss-token").await;
    let glass = crate::sessions::sign_in(&fx, breakglass.id, "glass-token").await;
    let grant = t.customer.grant(cap::AccountSsoMandatory, &t.customer.account, Relation::Own);
    let patch = AccountPatch { sso_mandatory: Some(true), ..Default::default() };
    // Mandatory needs an enabled provider first.
    let refused = fx
        .store
        .update_account(
            AccountGrants { sso_mandatory: Some(grant), ..Default::default() },
            patch.clone(),
            &t.customer.ctx(),
        )
        .await;
    assert!(matches!(refused, Err(tenantry_store::StoreError::Domain(tenantry_domain::DomainError::SsoNotConfigured))));
    let sso = t.customer.grant(cap::SsoManage, &t.customer.account, Relation::Own);
    let provider = tenantry_store::SsoSettings {
        enabled: true,
        issuer: "https://login.globex.test".into(),
        client_id: "tenantry".into(),
        client_secret: Some("s3cret".into()),
        scopes: vec!["openid".into(), "email".into()],
        email_claim: "email".into(),
        allowed_email_domains: vec!["globex.test".into()],
        jit_provisioning: false,
        default_role: Role::Viewer,
    };
    fx.store.set_sso_settings(&sso, provider, &t.customer.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    let grants = AccountGrants { sso_mandatory: Some(grant), ..Default::default() };
    let account = fx.store.update_account(grants, patch, &t.customer.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(account.sso_mandatory);
    assert!(fx.store.session_by_token(&boss).await.unwrap_or_else(|e| panic!("{e}")).is_none());
    assert!(fx.store.session_by_token(&glass).await.unwrap_or_else(|e| panic!("{e}")).is_some());
}

async fn a_password_or_an_email_is_set_only_on_the_credentials_grant(fx: Fixture) {
    let t = fx.tree().await;
    let manage = t.msp.grant(cap::UserManage, &t.customer.account, Relation::Below { assigned: false });
    let credentials = t.msp.grant(cap::UserCredentials, &t.customer.account, Relation::Below { assigned: false });
    let refused =
        fx.store.create_user(&manage, None, new_user("pw@globex.test", Role::MasterAdmin), &t.msp.ctx()).await;
    assert!(matches!(refused, Err(StoreError::Domain(DomainError::Forbidden(_)))), "{refused:?}");
    // Another account's credentials grant does not fit either.
    let elsewhere = t.msp.grant(cap::UserCredentials, &t.other.account, Relation::Below { assigned: false });
    let refused = fx
        .store
        .create_user(&manage, Some(elsewhere), new_user("pw@globex.test", Role::MasterAdmin), &t.msp.ctx())
        .await;
    assert!(matches!(refused, Err(StoreError::Domain(DomainError::Forbidden(_)))), "{refused:?}");
    // An invitation needs none; setting its password or its email later does.
    let mut invited = new_user("invited@globex.test", Role::Viewer);
    invited.password_hash = None;
    let user = fx.store.create_user(&manage, None, invited, &t.msp.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    let password = UserPatch { password_hash: Some("$argon2id$x".into()), ..Default::default() };
    let refused = fx.store.update_user(&manage, None, user.id, password.clone(), &t.msp.ctx()).await;
    assert!(matches!(refused, Err(StoreError::Domain(DomainError::Forbidden(_)))), "{refused:?}");
    let email = UserPatch {
        email: Some(tenantry_domain::Email::parse("x@attacker.test").unwrap_or_else(|e| panic!("{e}"))),
        ..Default::default()
    };
    let refused = fx.store.update_user(&manage, None, user.id, email, &t.msp.ctx()).await;
    assert!(matches!(refused, Err(StoreError::Domain(DomainError::Forbidden(_)))), "{refused:?}");
    let renamed = UserPatch { name: Some("Renamed".into()), ..Default::default() };
    fx.store.update_user(&manage, None, user.id, renamed, &t.msp.ctx()).await.unwrap_or_else(|e| panic!("{e}"));
    fx.store
        .update_user(&manage, Some(credentials), user.id, password, &t.msp.ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
