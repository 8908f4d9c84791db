//! Fixtures: a fresh store, a small account tree, and grants made by the real `authorize`.

use std::sync::Arc;
use tenantry_domain::authz::{self, Capability, Credential, Grant, Principal, Relation, Target, cap};
use tenantry_domain::{Account, AccountKind, AuditActor, Email, ManualClock, Plan, Role, User};
use tenantry_store::{Backend, Ctx, NewAccount, NewUser, Store};

pub struct Fixture {
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub url: String,
    pub platform: Account,
    pub root: User,
}

/// A user together with its account, able to act.
#[derive(Clone)]
pub struct Actor {
    pub user: User,
    pub account: Account,
}

impl Actor {
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user.id,
            email: self.user.email.to_string(),
            account_id: self.account.id,
            account_kind: self.account.kind,
            account_name: self.account.name.clone(),
            role: self.user.role,
            credential: Credential::Session,
            access: None,
        }
    }

    pub fn ctx(&self) -> Ctx {
        Ctx {
            actor: AuditActor {
                user_id: Some(self.user.id),
                email: Some(self.user.email.to_string()),
                account_id: Some(self.account.id),
                account_name: Some(self.account.name.clone()),
            },
            ip: Some("192.0.2.1".into()),
            ..Ctx::default()
        }
    }

    /// A grant from the real `authorize`, given the relation the test sets up.
    pub fn grant<P: Capability>(&self, _capability: P, target: &Account, relation: Relation) -> Grant<P> {
        let target = Target { id: target.id, kind: target.kind, relation };
        match authz::grant::<P>(&self.principal(), &target) {
            Ok(g) => g,
            Err(d) => panic!("{:?} may not {:?} on {:?}: {d:?}", self.user.role, P::PERMISSION, target.kind),
        }
    }
}

pub fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: Email::parse(email).unwrap_or_else(|e| panic!("{email}: {e}")),
        name: "Test User".into(),
        role,
        password_hash: Some("$argon2id$not-a-real-hash".into()),
        expires_at: None,
        activation: None,
    }
}

pub fn new_account(kind: AccountKind, name: &str) -> NewAccount {
    NewAccount { kind, name: name.into(), slug: None, plan: Plan::Trial, contact_email: None, region: None }
}

impl Fixture {
    pub async fn new(backend: Backend) -> Option<Self> {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance");
        let url = tenantry_store::testing::fresh_database(backend, &dir).await?;
        let clock = Arc::new(ManualClock::new());
        let store = tenantry_store::connect(&url, clock.clone()).await.unwrap_or_else(|e| panic!("connect: {e}"));
        let (platform, created) = store.ensure_platform("Tenantry").await.unwrap_or_else(|e| panic!("{e}"));
        assert!(created);
        let root = store
            .create_user_as_operator(platform.id, new_user("root@platform.test", Role::PlatformAdmin))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Some(Self { store, clock, url, platform, root })
    }

    pub fn root(&self) -> Actor {
        Actor { user: self.root.clone(), account: self.platform.clone() }
    }

    /// Creates `kind` named `name` under `parent`, acting as `by` (whose account is `parent` or
    /// above it); returns the new account's primary user as an actor.
    pub async fn create(&self, by: &Actor, parent: &Account, kind: AccountKind, name: &str, email: &str) -> Actor {
        let relation = if by.account.id == parent.id { Relation::Own } else { Relation::Below { assigned: false } };
        let grant = by.grant(cap::AccountCreate, parent, relation);
        let (account, user) = self
            .store
            .create_account(&grant, new_account(kind, name), new_user(email, kind.primary_role()), &by.ctx())
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
        Actor { user, account }
    }

    /// platform → partner → msp → two customers.
    pub async fn tree(&self) -> Tree {
        let root = self.root();
        let partner = self.create(&root, &self.platform, AccountKind::Partner, "Partner One", "p@partner.test").await;
        let msp = self.create(&partner, &partner.account, AccountKind::Msp, "Acme MSP", "admin@msp.test").await;
        let customer = self.create(&msp, &msp.account, AccountKind::Customer, "Globex", "boss@globex.test").await;
        let other = self.create(&msp, &msp.account, AccountKind::Customer, "Initech", "boss@initech.test").await;
        Tree { partner, msp, customer, other }
    }

    /// The first column of `sql`'s rows, as text.
    pub async fn column(&self, sql: &str) -> Vec<String> {
        use sqlx::{Connection, Row};
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        let result = match tenantry_store::Backend::of_url(&self.url) {
            Ok(Backend::Postgres) => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap_or_else(|e| panic!("{e}"));
                sqlx::query(sql)
                    .fetch_all(&mut c)
                    .await
                    .map(|rows| rows.iter().map(|r| r.get::<String, _>(0)).collect())
            }
            _ => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap_or_else(|e| panic!("{e}"));
                sqlx::query(sql)
                    .fetch_all(&mut c)
                    .await
                    .map(|rows| rows.iter().map(|r| r.get::<String, _>(0)).collect())
            }
        };
        result.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A raw connection's worth of SQL, for tests that tamper with storage.
    pub async fn raw(&self, sql: &str) {
        use sqlx::Connection;
        let result = match tenantry_store::Backend::of_url(&self.url) {
            Ok(Backend::Postgres) => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap_or_else(|e| panic!("{e}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut c).await.map(|_| ())
            }
            _ => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap_or_else(|e| panic!("{e}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut c).await.map(|_| ())
            }
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

pub struct Tree {
    pub partner: Actor,
    pub msp: Actor,
    pub customer: Actor,
    pub other: Actor,
}
