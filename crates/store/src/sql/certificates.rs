//! Certificates: imports, search, deletion.

use super::*;

/// What `q` searches in a certificate: its subject and SAN names, lowercased here so that both
/// engines fold case alike.
pub(crate) fn names_key(c: &Certificate) -> String {
    std::iter::once(c.subject.as_str())
        .chain(c.sans.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
}

/// What an import stored: each certificate with whether it was already there, and the
/// fingerprints added and found.
pub(crate) struct Imported {
    pub(crate) results: Vec<(Certificate, bool)>,
    pub(crate) added: Vec<String>,
    pub(crate) duplicates: Vec<String>,
}

impl Repo {
    /// Adds certificates to a collection inside the caller's transaction: those already in the
    /// account come back marked as duplicates; the plan's limit counts only new ones.
    pub(crate) async fn import_into(
        tx: &mut Tx,
        now: OffsetDateTime,
        account: AccountId,
        collection: CollectionId,
        certificates: Vec<NewCertificate>,
        agent: Option<AgentId>,
    ) -> Result<Imported> {
        Self::lock_account(tx, account).await?;
        // What the account already holds of these, in one query per chunk.
        let mut known: std::collections::HashMap<String, Certificate> = std::collections::HashMap::new();
        let fingerprints: Vec<&String> = certificates.iter().map(|c| &c.fingerprint_sha256).collect();
        for chunk in fingerprints.chunks(500) {
            let mut query = sqlx::QueryBuilder::<Db>::new(concat!(
                "SELECT ",
                certificate_cols!(),
                " FROM certificates WHERE account_id = "
            ));
            query.push_bind(account.to_string()).push(" AND fingerprint_sha256 IN (");
            let mut list = query.separated(", ");
            for fingerprint in chunk {
                list.push_bind((*fingerprint).clone());
            }
            query.push(")");
            for row in query.build().fetch_all(&mut **tx).await? {
                let certificate = certificate_from_row(&row)?;
                known.insert(certificate.fingerprint_sha256.clone(), certificate);
            }
        }
        let fresh: std::collections::HashSet<&String> =
            fingerprints.iter().copied().filter(|f| !known.contains_key(*f)).collect();
        Self::enforce_limit(tx, account, Resource::Certificates, i64::try_from(fresh.len()).unwrap_or(i64::MAX))
            .await?;
        let created_at = tenantry_domain::clock::truncate_to_micros(now);
        let mut results = Vec::with_capacity(certificates.len());
        let (mut added, mut duplicates) = (Vec::new(), Vec::new());
        let mut inserting = Vec::new();
        for new in certificates {
            if let Some(existing) = known.get(&new.fingerprint_sha256) {
                duplicates.push(new.fingerprint_sha256.clone());
                results.push((existing.clone(), true));
                continue;
            }
            let certificate = Certificate {
                id: CertificateId::new(),
                account_id: account,
                collection_id: collection,
                subject: new.subject.clone(),
                sans: new.sans.clone(),
                issuer: new.issuer.clone(),
                serial: new.serial.clone(),
                not_before: tenantry_domain::clock::truncate_to_micros(new.not_before),
                not_after: tenantry_domain::clock::truncate_to_micros(new.not_after),
                fingerprint_sha256: new.fingerprint_sha256.clone(),
                key_type: new.key_type.clone(),
                key_bits: new.key_bits,
                created_at,
            };
            known.insert(new.fingerprint_sha256.clone(), certificate.clone());
            added.push(new.fingerprint_sha256.clone());
            results.push((certificate.clone(), false));
            let sans = serde_json::to_string(&certificate.sans).map_err(|e| corrupt("sans", e))?;
            inserting.push((certificate, sans, new.pem));
        }
        // Many rows to a statement (17 parameters each, well under either engine's limit).
        for chunk in inserting.chunks(200) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO certificates (id, account_id, collection_id, subject, sans, issuer, serial, not_before, \
                 not_after, fingerprint_sha256, key_type, key_bits, pem, created_at, agent_id, names_key, issuer_key) ",
            );
            query.push_values(chunk, |mut row, (c, sans, pem)| {
                row.push_bind(c.id.to_string())
                    .push_bind(c.account_id.to_string())
                    .push_bind(c.collection_id.to_string())
                    .push_bind(c.subject.clone())
                    .push_bind(sans.clone())
                    .push_bind(c.issuer.clone())
                    .push_bind(c.serial.clone())
                    .push_bind(to_micros(c.not_before))
                    .push_bind(to_micros(c.not_after))
                    .push_bind(c.fingerprint_sha256.clone())
                    .push_bind(c.key_type.clone())
                    .push_bind(i64::from(c.key_bits))
                    .push_bind(pem.clone())
                    .push_bind(to_micros(c.created_at))
                    .push_bind(agent.map(|a| a.to_string()))
                    .push_bind(names_key(c))
                    .push_bind(c.issuer.to_lowercase());
            });
            query.build().execute(&mut **tx).await?;
        }
        Ok(Imported { results, added, duplicates })
    }

    /// Fills the search keys of certificates stored before they existed, a batch at a time.
    pub(crate) async fn backfill_search_keys(&self) -> Result<()> {
        let mut after = String::new();
        loop {
            let mut tx = self.begin_write().await?;
            let rows = sqlx::query(concat!(
                "SELECT ",
                certificate_cols!(),
                " FROM certificates WHERE names_key = '' AND id > $1 ORDER BY id LIMIT 500"
            ))
            .bind(&after)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = rows.last() else { return Ok(()) };
            after = last.try_get("id")?;
            for row in &rows {
                let c = certificate_from_row(row)?;
                sqlx::query("UPDATE certificates SET names_key = $2, issuer_key = $3 WHERE id = $1")
                    .bind(c.id.to_string())
                    .bind(names_key(&c))
                    .bind(c.issuer.to_lowercase())
                    .execute(&mut *tx)
                    .await?;
            }
            self.commit(tx).await?;
        }
    }
}

#[async_trait::async_trait]
impl CertificateStore for Repo {
    async fn import_certificates(
        &self,
        grant: &Grant<cap::ResourceWrite>,
        collection: CollectionId,
        certificates: Vec<NewCertificate>,
        ctx: &Ctx,
    ) -> Result<Vec<(Certificate, bool)>> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        Self::collection_in(&mut tx, account, collection).await?;
        let imported = Self::import_into(&mut tx, now, account, collection, certificates, None).await?;
        let details = serde_json::json!({
            "collection_id": collection.to_string(),
            "added": imported.added,
            "duplicates": imported.duplicates,
        });
        let draft = change(account, Action::CertificateImported, target("collection", collection), details);
        Self::append(&mut tx, now, &draft, ctx).await?;
        self.commit(tx).await?;
        Ok(imported.results)
    }

    async fn list_certificates(
        &self,
        grant: &Grant<cap::ResourceRead>,
        filter: &CertificateFilter,
        page: &PageRequest,
    ) -> Result<Page<Certificate>> {
        let account = grant.account_id();
        let now = filter.now.map(to_micros);
        let rows = sqlx::query(concat!(
            "SELECT ",
            certificate_cols!(),
            " FROM certificates WHERE account_id = $1 ",
            "AND ($2 IS NULL OR (not_after > $3 AND not_after <= $2)) ",
            "AND ($4 IS NULL OR ($4 = 1 AND not_after <= $3) OR ($4 = 0 AND not_after > $3)) ",
            "AND ($5 IS NULL OR issuer_key LIKE $5 ESCAPE '\\') ",
            "AND ($6 IS NULL OR names_key LIKE $6 ESCAPE '\\') ",
            "AND ($7 IS NULL OR collection_id = $7) ",
            "AND ($8 IS NULL OR id > $8) ORDER BY id LIMIT $9"
        ))
        .bind(account.to_string())
        .bind(filter.expiring_before.map(to_micros))
        .bind(now.unwrap_or(0))
        .bind(filter.expired.map(i64::from))
        .bind(filter.issuer.as_deref().map(contains_pattern))
        .bind(filter.q.as_deref().map(contains_pattern))
        .bind(filter.collection_id.map(|c| c.to_string()))
        .bind(&page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(certificate_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |c| c.id.to_string()))
    }

    async fn get_certificate(&self, grant: &Grant<cap::ResourceRead>, id: CertificateId) -> Result<Certificate> {
        let account = grant.account_id();
        let sql = concat!("SELECT ", certificate_cols!(), " FROM certificates WHERE account_id = $1 AND id = $2");
        self.row_of_account(sql, account, id.to_string(), certificate_from_row).await
    }

    async fn delete_certificate(&self, grant: &Grant<cap::ResourceWrite>, id: CertificateId, ctx: &Ctx) -> Result<()> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            certificate_cols!(),
            " FROM certificates WHERE account_id = $1 AND id = $2"
        ))
        .bind(account.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        let certificate = certificate_from_row(&row)?;
        sqlx::query("DELETE FROM certificates WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let details =
            serde_json::json!({ "subject": certificate.subject, "fingerprint_sha256": certificate.fingerprint_sha256 });
        Self::append(
            &mut tx,
            now,
            &change(account, Action::CertificateDeleted, target("certificate", id), details),
            ctx,
        )
        .await?;
        self.commit(tx).await?;
        Ok(())
    }
}
