//! `authorize` against a reference model: DESIGN's matrix transcribed as data, one row per
//! permission, checked exhaustively over role × permission × relation × target kind × access
//! session, and by a property test over the same space.

use super::*;
use crate::account::AccountKind::{self, *};
use crate::user::Role::{self, *};
use proptest::prelude::*;

/// Where a cell of the matrix applies: the caller's own account, accounts below it (only those
/// it sees), and whether the target must be a customer.
struct Row {
    permission: Permission,
    own: &'static [Role],
    below: &'static [Role],
    customers_only: bool,
}

const EVERYONE: &[Role] = &Role::ALL;
const SEES_BELOW: &[Role] = &[PlatformAdmin, PartnerAdmin, PartnerReadonly, MspAdmin, MspStaff, MspReadonly];

/// DESIGN's matrix, row by row. "below" cells for `msp_*` roles read "its customers"; MSP staff
/// see only assigned customers, which the visibility rule (row "see accounts below") handles.
const MATRIX: &[Row] = &[
    // read own account / see accounts below
    Row { permission: Permission::AccountRead, own: EVERYONE, below: SEES_BELOW, customers_only: false },
    // create / update / delete / restore accounts below (creating names the parent)
    Row {
        permission: Permission::AccountCreate,
        own: &[PlatformAdmin, PartnerAdmin, MspAdmin],
        below: &[PlatformAdmin, PartnerAdmin, MspAdmin],
        customers_only: false,
    },
    Row {
        permission: Permission::AccountUpdate,
        own: &[],
        below: &[PlatformAdmin, PartnerAdmin, MspAdmin],
        customers_only: false,
    },
    Row {
        permission: Permission::AccountDelete,
        own: &[],
        below: &[PlatformAdmin, PartnerAdmin, MspAdmin],
        customers_only: false,
    },
    // set sso_mandatory
    Row {
        permission: Permission::AccountSsoMandatory,
        own: &[PlatformAdmin, MspAdmin, MasterAdmin, SsoAdmin],
        below: &[PlatformAdmin, MspAdmin],
        customers_only: false,
    },
    // read users / manage users, own account and below
    Row {
        permission: Permission::UserRead,
        own: &[
            PlatformAdmin,
            PartnerAdmin,
            PartnerReadonly,
            MspAdmin,
            MspStaff,
            MspReadonly,
            MasterAdmin,
            Admin,
            Auditor,
        ],
        below: &[PlatformAdmin, MspAdmin, MspReadonly],
        customers_only: false,
    },
    Row {
        permission: Permission::UserManage,
        own: &[PlatformAdmin, PartnerAdmin, MspAdmin, MasterAdmin],
        below: &[PlatformAdmin, MspAdmin],
        customers_only: false,
    },
    // setting a user's password or receiving its activation link: as managing users
    Row {
        permission: Permission::UserCredentials,
        own: &[PlatformAdmin, PartnerAdmin, MspAdmin, MasterAdmin],
        below: &[PlatformAdmin, MspAdmin],
        customers_only: false,
    },
    // staff assignments: platform ✓, msp_admin manage, msp_staff read own, msp_readonly read
    Row {
        permission: Permission::StaffRead,
        own: &[PlatformAdmin, MspAdmin, MspStaff, MspReadonly],
        below: &[PlatformAdmin],
        customers_only: false,
    },
    Row {
        permission: Permission::StaffAssign,
        own: &[PlatformAdmin, MspAdmin],
        below: &[PlatformAdmin],
        customers_only: false,
    },
    // open an access session
    Row {
        permission: Permission::AccessEnter,
        own: &[],
        below: &[PlatformAdmin, MspAdmin, MspStaff],
        customers_only: true,
    },
    // list a customer's access sessions / end one
    Row {
        permission: Permission::AccessList,
        own: &[MasterAdmin, Auditor],
        below: &[PlatformAdmin, MspAdmin, MspStaff, MspReadonly],
        customers_only: true,
    },
    Row {
        permission: Permission::AccessEnd,
        own: &[MasterAdmin],
        below: &[PlatformAdmin, MspAdmin, MspStaff],
        customers_only: true,
    },
    // read audit: own trail / trails below
    Row {
        permission: Permission::AuditRead,
        own: &[PlatformAdmin, PartnerAdmin, PartnerReadonly, MspAdmin, MspReadonly, MasterAdmin, Auditor],
        below: &[PlatformAdmin, MspAdmin, MspReadonly],
        customers_only: false,
    },
    // branding, own account (read / manage)
    Row {
        permission: Permission::BrandingRead,
        own: &[PlatformAdmin, PartnerAdmin, PartnerReadonly, MspAdmin, MspStaff, MspReadonly],
        below: &[],
        customers_only: false,
    },
    Row {
        permission: Permission::BrandingManage,
        own: &[PlatformAdmin, PartnerAdmin, MspAdmin],
        below: &[],
        customers_only: false,
    },
    // subscription: read / set a customer's limits
    Row {
        permission: Permission::SubscriptionRead,
        own: &[PlatformAdmin, MasterAdmin, Admin, Auditor],
        below: &[PlatformAdmin, PartnerAdmin, PartnerReadonly, MspAdmin, MspReadonly],
        customers_only: false,
    },
    Row {
        permission: Permission::SubscriptionManage,
        own: &[],
        below: &[PlatformAdmin, MspAdmin],
        customers_only: true,
    },
    // support: send / read inbox
    Row { permission: Permission::SupportCreate, own: &[MasterAdmin, Admin], below: &[], customers_only: true },
    Row {
        permission: Permission::SupportRead,
        own: &[PlatformAdmin, PartnerAdmin, PartnerReadonly, MspAdmin, MspReadonly, MasterAdmin, Admin],
        below: &[],
        customers_only: false,
    },
    // closing requests in an inbox: its owner's administrators (beyond the matrix: read-only roles
    // read an inbox but do not act on it)
    Row {
        permission: Permission::SupportManage,
        own: &[PlatformAdmin, PartnerAdmin, MspAdmin],
        below: &[],
        customers_only: false,
    },
    // usage below (read on the caller's own account lists what is below it)
    Row {
        permission: Permission::UsageRead,
        own: &[PlatformAdmin, PartnerAdmin, PartnerReadonly, MspAdmin, MspReadonly],
        below: &[PlatformAdmin, PartnerAdmin, PartnerReadonly, MspAdmin, MspReadonly],
        customers_only: false,
    },
    // customer resources: partner side only via an access session
    Row {
        permission: Permission::ResourceRead,
        own: &[MasterAdmin, Admin, Auditor, Viewer],
        below: &[],
        customers_only: true,
    },
    Row { permission: Permission::ResourceWrite, own: &[MasterAdmin, Admin], below: &[], customers_only: true },
    // API tokens, own account; SSO settings, own account
    Row {
        permission: Permission::ApiTokenManage,
        own: &[PlatformAdmin, PartnerAdmin, MspAdmin, MasterAdmin],
        below: &[],
        customers_only: false,
    },
    Row {
        permission: Permission::ApiTokenCreate,
        own: &[PlatformAdmin, PartnerAdmin, MspAdmin, MasterAdmin],
        below: &[],
        customers_only: false,
    },
    // webhooks of an account: its own administrators, never through an access session
    Row {
        permission: Permission::WebhookManage,
        own: &[PlatformAdmin, PartnerAdmin, MspAdmin, MasterAdmin],
        below: &[],
        customers_only: false,
    },
    Row {
        permission: Permission::SsoManage,
        own: &[PlatformAdmin, PartnerAdmin, MspAdmin, MasterAdmin, SsoAdmin],
        below: &[MspAdmin],
        customers_only: false,
    },
    // the expiry overview (the contract's `GET …/expiring`, beyond the matrix): those who may work
    // in the customers below, and a customer's own resource readers
    Row {
        permission: Permission::ExpiryRead,
        own: &[PlatformAdmin, MspAdmin, MspStaff, MasterAdmin, Admin, Auditor, Viewer],
        below: &[PlatformAdmin, MspAdmin, MspStaff],
        customers_only: false,
    },
];

/// The relations a test names; the store reduces ancestor, sibling and foreign to `Unrelated`.
#[derive(Clone, Copy, Debug)]
enum Place {
    Own,
    Ancestor,
    Descendant { assigned: bool },
    Sibling,
    Foreign,
}

impl Place {
    const ALL: [Place; 6] = [
        Place::Own,
        Place::Ancestor,
        Place::Descendant { assigned: false },
        Place::Descendant { assigned: true },
        Place::Sibling,
        Place::Foreign,
    ];

    fn relation(self) -> Relation {
        match self {
            Place::Own => Relation::Own,
            Place::Descendant { assigned } => Relation::Below { assigned },
            Place::Ancestor | Place::Sibling | Place::Foreign => Relation::Unrelated,
        }
    }
}

/// What the reference model expects.
fn model(
    role: Role,
    permission: Permission,
    place: Place,
    kind: AccountKind,
    in_session: bool,
) -> Result<Basis, Denial> {
    let row = MATRIX.iter().find(|r| r.permission == permission).unwrap_or_else(|| panic!("{permission:?} missing"));
    let by_role = model_by_role(row, role, place, kind);
    if !in_session || by_role.is_ok() {
        return by_role;
    }
    // Inside an access session into this customer the actor also holds master_admin's rights there
    // while it may still enter the customer, except creating API tokens and, for a technician,
    // minting users' credentials.
    let enter = MATRIX.iter().find(|r| r.permission == Permission::AccessEnter).unwrap_or_else(|| panic!("enter"));
    model_by_role(enter, role, place, kind)?;
    if permission == Permission::ApiTokenCreate {
        return Err(Denial::DelegatedTokenForbidden);
    }
    if permission == Permission::WebhookManage {
        return Err(Denial::Forbidden);
    }
    if permission == Permission::UserCredentials && role == MspStaff {
        return Err(Denial::DelegatedCredentialForbidden);
    }
    let fits = !row.customers_only || kind == Customer;
    if row.own.contains(&MasterAdmin) && fits { Ok(Basis::AccessSession) } else { Err(Denial::Forbidden) }
}

fn model_by_role(row: &Row, role: Role, place: Place, kind: AccountKind) -> Result<Basis, Denial> {
    let visible = match place {
        Place::Own => true,
        Place::Descendant { assigned } => SEES_BELOW.contains(&role) && (role != MspStaff || assigned),
        Place::Ancestor | Place::Sibling | Place::Foreign => false,
    };
    if !visible {
        return Err(Denial::NotFound);
    }
    let (cell, basis) = match place {
        Place::Own => (row.own, Basis::Member),
        Place::Descendant { .. } if role == MspStaff => (row.below, Basis::Assignment),
        _ => (row.below, Basis::Ancestor),
    };
    if cell.contains(&role) && (!row.customers_only || kind == Customer) {
        return Ok(basis);
    }
    // "Customer data (collections, certificates, agents, targets, API tokens, sending support
    // requests) needs it": the partner-side roles that may enter get access_session_required.
    let customer_data = matches!(
        row.permission,
        Permission::ResourceRead
            | Permission::ResourceWrite
            | Permission::SupportCreate
            | Permission::ApiTokenManage
            | Permission::ApiTokenCreate
    );
    let may_enter = matches!(place, Place::Descendant { .. })
        && kind == Customer
        && [PlatformAdmin, MspAdmin, MspStaff].contains(&role);
    if customer_data && may_enter { Err(Denial::AccessSessionRequired) } else { Err(Denial::Forbidden) }
}

fn principal(role: Role, access: Option<AccountId>) -> Principal {
    Principal {
        user_id: UserId::new(),
        email: "someone@example.test".into(),
        account_id: AccountId::new(),
        account_kind: AccountKind::Msp,
        account_name: "Somewhere".into(),
        role,
        credential: Credential::Session,
        access: access.map(|customer_id| AccessContext { access_session_id: "s".into(), customer_id }),
    }
}

fn check(role: Role, permission: Permission, place: Place, kind: AccountKind, in_session: bool) -> Result<(), String> {
    let target_id = AccountId::new();
    let access = in_session.then_some(target_id);
    let target = Target { id: target_id, kind, relation: place.relation() };
    let actual = authorize(&principal(role, access), permission, &target).map(|g| {
        assert_eq!(g.account_id(), target_id);
        assert_eq!(g.permission(), permission);
        g.basis()
    });
    let expected = model(role, permission, place, kind, in_session);
    if actual == expected {
        Ok(())
    } else {
        Err(format!(
            "{role:?} {permission:?} on {kind:?} at {place:?} (session: {in_session}): got {actual:?}, expected {expected:?}"
        ))
    }
}

#[test]
fn the_matrix_covers_every_permission_once() {
    for permission in Permission::ALL {
        assert_eq!(MATRIX.iter().filter(|r| r.permission == permission).count(), 1, "{permission:?}");
    }
}

#[test]
fn authorize_matches_the_matrix_for_every_role_permission_relation_and_kind() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for role in Role::ALL {
        for permission in Permission::ALL {
            for place in Place::ALL {
                for kind in AccountKind::ALL {
                    for in_session in [false, true] {
                        cases += 1;
                        if let Err(e) = check(role, permission, place, kind, in_session) {
                            failures.push(e);
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {cases} cases differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_session_into_another_customer_grants_nothing_there() {
    let entered = AccountId::new();
    let elsewhere = Target { id: AccountId::new(), kind: Customer, relation: Relation::Unrelated };
    for permission in Permission::ALL {
        assert_eq!(authorize(&principal(MspAdmin, Some(entered)), permission, &elsewhere), Err(Denial::NotFound));
    }
}

#[test]
fn named_cells_of_the_matrix() {
    let below = |assigned| Relation::Below { assigned };
    let target = |kind, relation| Target { id: AccountId::new(), kind, relation };
    let p = |role| principal(role, None);
    // MSP staff see only assigned customers; the rest are invisible.
    assert_eq!(
        authorize(&p(MspStaff), Permission::AccountRead, &target(Customer, below(false))),
        Err(Denial::NotFound)
    );
    assert!(authorize(&p(MspStaff), Permission::AccessEnter, &target(Customer, below(true))).is_ok());
    // Partners never see customer data or users.
    assert_eq!(
        authorize(&p(PartnerAdmin), Permission::UserRead, &target(Customer, below(false))),
        Err(Denial::Forbidden)
    );
    // Partner-side users reach customer data only through an access session.
    assert_eq!(
        authorize(&p(MspAdmin), Permission::ResourceRead, &target(Customer, below(false))),
        Err(Denial::AccessSessionRequired)
    );
    // An account never deletes itself; only a customer can be entered.
    assert_eq!(
        authorize(&p(PlatformAdmin), Permission::AccountDelete, &target(Platform, Relation::Own)),
        Err(Denial::Forbidden)
    );
    assert_eq!(
        authorize(&p(PlatformAdmin), Permission::AccessEnter, &target(Msp, below(false))),
        Err(Denial::Forbidden)
    );
    // Inside an access session: master_admin's rights, except creating API tokens and, for a
    // technician, users' credentials (an MSP administrator keeps them).
    let customer = target(Customer, below(true));
    let inside = principal(MspStaff, Some(customer.id));
    assert!(authorize(&inside, Permission::ResourceWrite, &customer).is_ok());
    assert!(authorize(&inside, Permission::ApiTokenManage, &customer).is_ok());
    assert!(authorize(&inside, Permission::UserManage, &customer).is_ok());
    assert_eq!(authorize(&inside, Permission::ApiTokenCreate, &customer), Err(Denial::DelegatedTokenForbidden));
    assert_eq!(authorize(&inside, Permission::UserCredentials, &customer), Err(Denial::DelegatedCredentialForbidden));
    let admin_customer = target(Customer, below(false));
    assert!(
        authorize(&principal(MspAdmin, Some(admin_customer.id)), Permission::UserCredentials, &admin_customer).is_ok()
    );
}

#[test]
fn a_partner_side_api_token_never_reads_the_expiry_overview_a_customers_token_does() {
    let own = |kind| Target { id: AccountId::new(), kind, relation: Relation::Own };
    let below = Target { id: AccountId::new(), kind: Customer, relation: Relation::Below { assigned: false } };
    let token =
        |role, kind| Principal { credential: Credential::ApiToken, account_kind: kind, ..principal(role, None) };
    assert_eq!(
        authorize(&token(MspAdmin, Msp), Permission::ExpiryRead, &own(Msp)),
        Err(Denial::TokenReadsNoCustomerData)
    );
    assert_eq!(authorize(&token(MspAdmin, Msp), Permission::ExpiryRead, &below), Err(Denial::TokenReadsNoCustomerData));
    assert!(!own_permissions(&token(MspAdmin, Msp)).contains(&Permission::ExpiryRead), "nor listed by GET /me");
    assert!(authorize(&token(MspAdmin, Msp), Permission::UserRead, &below).is_ok(), "the partner side it automates");
    assert!(authorize(&token(MasterAdmin, Customer), Permission::ExpiryRead, &own(Customer)).is_ok());
    assert!(authorize(&principal(MspAdmin, None), Permission::ExpiryRead, &below).is_ok(), "a signed-in MSP admin");
}

#[test]
fn an_open_access_session_grants_nothing_once_its_technician_is_unassigned() {
    // The session row may still be open (it is ended in the unassignment's transaction, but a
    // request can race it): the assignment, read with every request, decides.
    let unassigned = Target { id: AccountId::new(), kind: Customer, relation: Relation::Below { assigned: false } };
    let inside = principal(MspStaff, Some(unassigned.id));
    for permission in Permission::ALL {
        assert_eq!(authorize(&inside, permission, &unassigned), Err(Denial::NotFound), "{permission:?}");
    }
    // And a session names nothing outside the actor's subtree, whatever the role.
    let foreign = Target { id: AccountId::new(), kind: Customer, relation: Relation::Unrelated };
    for role in Role::ALL {
        assert_eq!(
            authorize(&principal(role, Some(foreign.id)), Permission::ResourceRead, &foreign),
            Err(Denial::NotFound)
        );
    }
}

fn any_role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

fn any_permission() -> impl Strategy<Value = Permission> {
    prop::sample::select(Permission::ALL.to_vec())
}

fn any_place() -> impl Strategy<Value = Place> {
    prop::sample::select(Place::ALL.to_vec())
}

fn any_kind() -> impl Strategy<Value = AccountKind> {
    prop::sample::select(AccountKind::ALL.to_vec())
}

proptest! {
    #[test]
    fn authorize_agrees_with_the_reference_model(
        role in any_role(),
        permission in any_permission(),
        place in any_place(),
        kind in any_kind(),
        in_session in any::<bool>(),
    ) {
        prop_assert_eq!(check(role, permission, place, kind, in_session), Ok(()));
    }

    #[test]
    fn nothing_outside_the_callers_subtree_is_ever_visible(role in any_role(), permission in any_permission(), kind in any_kind()) {
        let target = Target { id: AccountId::new(), kind, relation: Relation::Unrelated };
        prop_assert_eq!(authorize(&principal(role, None), permission, &target), Err(Denial::NotFound));
    }
}
