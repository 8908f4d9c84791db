//! `bench-seed`: a realistic tree written in batches, for measuring at scale — partners → MSPs →
//! customers below the platform, users in customers (one password hash for all), a collection
//! with certificates in each customer, and the creation events in the trails the service would
//! link them into, hash-chained as it chains them. Meant for a database no server writes to.

use super::*;
use std::collections::HashMap;

/// One value of a batched row.
enum V {
    T(String),
    I(i64),
    NullText,
}

/// Rows for one table, written in statements as large as the engines' bind limits allow.
struct Batch {
    table: &'static str,
    cols: &'static [&'static str],
    rows: Vec<Vec<V>>,
    /// After the values (an `ON CONFLICT` clause).
    suffix: &'static str,
}

impl Batch {
    fn new(table: &'static str, cols: &'static [&'static str]) -> Self {
        Self { table, cols, rows: Vec::new(), suffix: "" }
    }

    fn push(&mut self, row: Vec<V>) {
        self.rows.push(row);
    }

    async fn write(&mut self, tx: &mut Tx) -> Result<()> {
        let per_statement = (BATCH_VALUES / self.cols.len()).max(1);
        for chunk in self.rows.chunks(per_statement) {
            let mut sql = format!("INSERT INTO {} ({}) VALUES ", self.table, self.cols.join(", "));
            let mut n = 0;
            for (i, _) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for c in 0..self.cols.len() {
                    n += 1;
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("${n}"));
                }
                sql.push(')');
            }
            sql.push_str(self.suffix);
            // Built from this module's own table and column names and numbered placeholders only.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in chunk {
                for value in row {
                    query = match value {
                        V::T(t) => query.bind(t.as_str()),
                        V::I(i) => query.bind(*i),
                        V::NullText => query.bind(None::<String>),
                    };
                }
            }
            query.execute(&mut **tx).await?;
        }
        self.rows.clear();
        Ok(())
    }
}

fn t(s: impl Into<String>) -> V {
    V::T(s.into())
}

/// The trails being extended, with their heads.
struct Chains {
    heads: HashMap<AccountId, (i64, String)>,
    /// Trails whose heads moved since the last write.
    moved: Vec<AccountId>,
    events: Batch,
    links: Batch,
    count: u64,
}

impl Chains {
    /// Records one event created by `actor` (of `actor_account`), linked into `trails`.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        now: OffsetDateTime,
        account: AccountId,
        action: Action,
        target: (&str, String),
        actor: (&User, &Account),
        trails: &[AccountId],
    ) -> Result<()> {
        let id = EventId::new();
        let details = serde_json::json!({ "via": "bench-seed" });
        let actor = AuditActor {
            user_id: Some(actor.0.id),
            email: Some(actor.0.email.to_string()),
            account_id: Some(actor.1.id),
            account_name: Some(actor.1.name.clone()),
        };
        self.events.push(vec![
            t(id.to_string()),
            V::I(to_micros(now)),
            t(account.to_string()),
            t(action.as_str()),
            t("success"),
            t(actor.user_id.map(|u| u.to_string()).unwrap_or_default()),
            t(actor.email.clone().unwrap_or_default()),
            t(actor.account_id.map(|a| a.to_string()).unwrap_or_default()),
            t(actor.account_name.clone().unwrap_or_default()),
            V::NullText,
            t(target.0),
            t(target.1.clone()),
            V::NullText,
            t(details.to_string()),
        ]);
        for trail in trails {
            let (seq, prev) = self.heads.get(trail).cloned().unwrap_or((0, GENESIS.to_owned()));
            let mut event = AuditEvent {
                id,
                trail_account_id: *trail,
                seq: seq + 1,
                at: from_micros(to_micros(now)),
                account_id: account,
                action: action.as_str().to_owned(),
                outcome: Outcome::Success,
                actor: actor.clone(),
                access_session_id: None,
                target: AuditTarget { kind: target.0.to_owned(), id: Some(target.1.clone()) },
                ip: None,
                details: details.clone(),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            event.hash = event.compute_hash().map_err(|e| corrupt("event", e))?;
            self.links.push(vec![
                t(trail.to_string()),
                V::I(seq + 1),
                t(id.to_string()),
                t(prev),
                t(event.hash.clone()),
            ]);
            self.heads.insert(*trail, (seq + 1, event.hash));
            self.moved.push(*trail);
        }
        self.count += 1;
        Ok(())
    }

    /// Writes the events, their links and the moved heads, in the caller's transaction.
    async fn write(&mut self, tx: &mut Tx) -> Result<()> {
        self.events.write(tx).await?;
        self.links.write(tx).await?;
        let mut heads = Batch::new("audit_trails", &["account_id", "seq", "head_hash"]);
        heads.suffix = " ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq, head_hash = excluded.head_hash";
        self.moved.sort();
        self.moved.dedup();
        for trail in self.moved.drain(..) {
            if let Some((seq, head)) = self.heads.get(&trail) {
                heads.push(vec![t(trail.to_string()), V::I(*seq), t(head.clone())]);
            }
        }
        heads.write(tx).await
    }
}

/// The accounts and users of one batch.
struct Rows {
    accounts: Batch,
    closure: Batch,
    limits: Batch,
    users: Batch,
    collections: Batch,
    certificates: Batch,
}

impl Rows {
    fn new() -> Self {
        Self {
            accounts: Batch::new(
                "accounts",
                &["id", "kind", "name", "slug", "parent_id", "status", "plan", "created_at"],
            ),
            closure: Batch::new("account_closure", &["ancestor", "descendant", "depth"]),
            limits: Batch::new(
                "account_limits",
                &["account_id", "users", "certificates", "agents", "targets", "updated_at"],
            ),
            users: Batch::new(
                "users",
                &["id", "account_id", "email", "email_key", "name", "role", "status", "password_hash", "created_at"],
            ),
            collections: Batch::new("collections", &["id", "account_id", "name", "created_at", "updated_at"]),
            certificates: Batch::new(
                "certificates",
                &[
                    "id",
                    "account_id",
                    "collection_id",
                    "subject",
                    "sans",
                    "issuer",
                    "serial",
                    "not_before",
                    "not_after",
                    "fingerprint_sha256",
                    "key_type",
                    "key_bits",
                    "pem",
                    "created_at",
                ],
            ),
        }
    }

    async fn write(&mut self, tx: &mut Tx) -> Result<()> {
        self.accounts.write(tx).await?;
        self.closure.write(tx).await?;
        self.limits.write(tx).await?;
        self.users.write(tx).await?;
        self.collections.write(tx).await?;
        self.certificates.write(tx).await
    }
}

/// What one seeding run names its objects after, so that runs do not collide.
struct Naming {
    tag: String,
    now: OffsetDateTime,
    hash: String,
}

impl Naming {
    /// A new account below `ancestors` (nearest first): its row, closure and the domain object.
    fn account(&self, rows: &mut Rows, kind: AccountKind, n: u64, ancestors: &[AccountId]) -> Account {
        let id = AccountId::new();
        let (label, plan) = match kind {
            AccountKind::Partner => ("Partner", Plan::Partner),
            AccountKind::Msp => ("MSP", Plan::Partner),
            _ => ("Customer", Plan::Managed),
        };
        let name = format!("{label} {n}");
        let slug = format!("{}-{n}-{}", label.to_lowercase(), self.tag);
        rows.accounts.push(vec![
            t(id.to_string()),
            t(kind.as_str()),
            t(name.clone()),
            t(slug.clone()),
            ancestors.first().map(|p| t(p.to_string())).unwrap_or(V::NullText),
            t("active"),
            t(plan.as_str()),
            V::I(to_micros(self.now)),
        ]);
        rows.closure.push(vec![t(id.to_string()), t(id.to_string()), V::I(0)]);
        for (depth, ancestor) in ancestors.iter().enumerate() {
            rows.closure.push(vec![t(ancestor.to_string()), t(id.to_string()), V::I(depth as i64 + 1)]);
        }
        Account {
            id,
            kind,
            name,
            slug: Slug::from_name(&slug),
            parent_id: ancestors.first().copied(),
            status: AccountStatus::Active,
            plan,
            sso_mandatory: false,
            mfa_required: false,
            allowed_networks: Vec::new(),
            contact_email: None,
            region: None,
            created_at: self.now,
            deletion_deadline: None,
        }
    }

    /// A new active user of `account`.
    fn user(&self, rows: &mut Rows, account: &Account, n: u64, role: Role) -> Result<User> {
        let id = UserId::new();
        let email = Email::parse(&format!("user{n}@{}.{}.bench.test", account.slug.as_str(), self.tag))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        rows.users.push(vec![
            t(id.to_string()),
            t(account.id.to_string()),
            t(email.as_str()),
            t(email.key()),
            t(format!("User {n}")),
            t(role.as_str()),
            t("active"),
            t(self.hash.clone()),
            V::I(to_micros(self.now)),
        ]);
        Ok(User {
            id,
            account_id: account.id,
            email,
            name: format!("User {n}"),
            role,
            status: UserStatus::Active,
            mfa_enabled: false,
            expires_at: None,
            created_at: self.now,
            last_login_at: None,
        })
    }
}

/// Splits `total` into `parts` nearly equal shares; share `i`.
fn share(total: u64, parts: u64, i: u64) -> u64 {
    total / parts + u64::from(i < total % parts)
}

#[async_trait::async_trait]
impl SeedStore for Repo {
    async fn bench_seed(&self, plan: &SeedPlan, progress: &(dyn Fn(u64) + Send + Sync)) -> Result<SeedReport> {
        let tenants = plan.tenants.max(3);
        let partners = tenants.div_ceil(1_000).max(1);
        let msps = tenants.div_ceil(200).max(1);
        let customers = tenants - partners - msps;
        let staff = partners + msps;
        let customer_users = plan.users.saturating_sub(staff).max(customers);
        let naming = Naming {
            tag: uuid::Uuid::now_v7().simple().to_string()[24..].to_owned(),
            now: self.now(),
            hash: plan.password_hash.clone(),
        };
        let platform = self.platform().await?;
        let mut tx = self.begin_write().await?;
        let root: Option<User> = {
            let row =
                sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE account_id = $1 ORDER BY id LIMIT 1"))
                    .bind(platform.id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
            row.as_ref().map(user_from_row).transpose()?
        };
        let root = root.ok_or_else(|| DomainError::Conflict("the platform has no user yet".into()))?;
        let mut heads = HashMap::new();
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, head_hash FROM audit_trails WHERE account_id = $1")
                .bind(platform.id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        heads.insert(platform.id, head.unwrap_or((0, GENESIS.to_owned())));
        let mut chains = Chains {
            heads,
            events: Batch::new(
                "audit_events",
                &[
                    "id",
                    "at",
                    "account_id",
                    "action",
                    "outcome",
                    "actor_user_id",
                    "actor_email",
                    "actor_account_id",
                    "actor_account_name",
                    "access_session_id",
                    "target_type",
                    "target_id",
                    "ip",
                    "details",
                ],
            ),
            links: Batch::new("audit_links", &["trail_account_id", "seq", "event_id", "prev_hash", "hash"]),
            moved: Vec::new(),
            count: 0,
        };
        let mut rows = Rows::new();
        let mut report = SeedReport::default();
        let now = naming.now;

        // Partners, each with its admin, created by the platform's first user.
        let mut partner_list = Vec::new();
        for p in 0..partners {
            let partner = naming.account(&mut rows, AccountKind::Partner, p + 1, &[platform.id]);
            let admin = naming.user(&mut rows, &partner, 1, Role::PartnerAdmin)?;
            let target = ("account", partner.id.to_string());
            chains.record(
                now,
                partner.id,
                Action::AccountCreated,
                target,
                (&root, &platform),
                &[partner.id, platform.id],
            )?;
            partner_list.push((partner, admin));
        }
        rows.write(&mut tx).await?;
        chains.write(&mut tx).await?;
        report.partners = partners;
        report.users += partners;
        self.commit(tx).await?;
        progress(partners * 2);

        // One transaction per MSP: it, its admin, its customers with their users and certificates.
        let mut customer_n = 0;
        for m in 0..msps {
            let mut tx = self.begin_write().await?;
            let (partner, partner_admin) = &partner_list[(m % partners) as usize];
            let msp = naming.account(&mut rows, AccountKind::Msp, m + 1, &[partner.id, platform.id]);
            let msp_admin = naming.user(&mut rows, &msp, 1, Role::MspAdmin)?;
            let target = ("account", msp.id.to_string());
            chains.record(
                now,
                msp.id,
                Action::AccountCreated,
                target,
                (partner_admin, partner),
                &[msp.id, partner.id],
            )?;
            let mut written = 2;
            for c in (0..customers).filter(|c| c % msps == m) {
                customer_n += 1;
                let customer =
                    naming.account(&mut rows, AccountKind::Customer, c + 1, &[msp.id, partner.id, platform.id]);
                let target = ("account", customer.id.to_string());
                chains.record(
                    now,
                    customer.id,
                    Action::AccountCreated,
                    target,
                    (&msp_admin, &msp),
                    &[customer.id, msp.id],
                )?;
                let users = share(customer_users, customers, c);
                rows.limits.push(vec![
                    t(customer.id.to_string()),
                    V::I(i64::try_from(users).unwrap_or(i64::MAX).saturating_add(100)),
                    V::I(10_000),
                    V::I(100),
                    V::I(100),
                    V::I(to_micros(now)),
                ]);
                let mut master: Option<User> = None;
                for u in 0..users {
                    let role = match u {
                        0 => Role::MasterAdmin,
                        n if n % 10 == 1 => Role::Admin,
                        _ => Role::Viewer,
                    };
                    let user = naming.user(&mut rows, &customer, u + 1, role)?;
                    let target = ("user", user.id.to_string());
                    match &master {
                        None => {
                            chains.record(
                                now,
                                customer.id,
                                Action::UserCreated,
                                target,
                                (&msp_admin, &msp),
                                &[customer.id, msp.id],
                            )?;
                            master = Some(user);
                        }
                        Some(by) => {
                            chains.record(
                                now,
                                customer.id,
                                Action::UserCreated,
                                target,
                                (by, &customer),
                                &[customer.id],
                            )?;
                        }
                    }
                }
                let collection = CollectionId::new();
                rows.collections.push(vec![
                    t(collection.to_string()),
                    t(customer.id.to_string()),
                    t("Servers"),
                    V::I(to_micros(now)),
                    V::I(to_micros(now)),
                ]);
                for k in 0..u64::from(plan.certificates_per_customer) {
                    let host = format!("host{k}.{}.bench.test", customer.slug.as_str());
                    let days = i64::try_from((c * 7 + k * 31) % 400).unwrap_or(0) - 20;
                    let fingerprint = uuid::Uuid::now_v7().simple().to_string().repeat(2);
                    rows.certificates.push(vec![
                        t(CertificateId::new().to_string()),
                        t(customer.id.to_string()),
                        t(collection.to_string()),
                        t(format!("CN={host}")),
                        t(serde_json::json!([host]).to_string()),
                        t("CN=Bench CA"),
                        t(format!("{k:x}")),
                        V::I(to_micros(now - time::Duration::days(365))),
                        V::I(to_micros(now + time::Duration::days(days))),
                        t(fingerprint),
                        t("ECDSA"),
                        V::I(256),
                        t("-----BEGIN CERTIFICATE-----\nYmVuY2g=\n-----END CERTIFICATE-----\n"),
                        V::I(to_micros(now)),
                    ]);
                    report.certificates += 1;
                }
                written += 1 + users;
                report.users += users;
            }
            rows.write(&mut tx).await?;
            chains.write(&mut tx).await?;
            self.commit(tx).await?;
            report.users += 1;
            progress(written);
        }
        report.msps = msps;
        report.customers = customer_n;
        report.events = chains.count;
        Ok(report)
    }
}
