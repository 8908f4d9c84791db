//! The expiry overview across the customers a caller may see.

use super::*;

#[async_trait::async_trait]
impl ExpiryStore for Repo {
    async fn expiring(
        &self,
        grant: &Grant<cap::ExpiryRead>,
        scope: ExpiryScope,
        page: &PageRequest,
    ) -> Result<Page<ExpiringItem>> {
        let root = grant.account_id();
        let (after_at, after_id) = match &page.after {
            Some(cursor) => {
                let (at, id) =
                    cursor.split_once('_').ok_or_else(|| DomainError::invalid("cursor", "unreadable cursor"))?;
                let at: i64 = at.parse().map_err(|_| DomainError::invalid("cursor", "unreadable cursor"))?;
                (Some(at), Some(id.to_owned()))
            }
            None => (None, None),
        };
        let rows = sqlx::query(
            "WITH visible AS (SELECT a.id, a.name FROM accounts a JOIN account_closure c ON c.descendant = a.id \
             WHERE c.ancestor = $1 AND c.depth <= $7 AND a.kind = 'customer' \
             AND ($2 IS NULL OR a.id IN (SELECT account_id FROM staff_assignments WHERE user_id = $2))), \
             items AS ( \
             SELECT 'certificate' AS kind, x.id, x.account_id, v.name AS account_name, x.collection_id, \
             x.subject AS name, x.not_after, CAST(NULL AS TEXT) AS error \
             FROM certificates x JOIN visible v ON v.id = x.account_id WHERE x.not_after <= $3 \
             UNION ALL \
             SELECT 'target' AS kind, t.id, t.account_id, v.name AS account_name, t.collection_id, \
             t.hostname || ':' || CAST(t.port AS TEXT) AS name, t.not_after, t.error \
             FROM targets t JOIN visible v ON v.id = t.account_id WHERE t.not_after IS NOT NULL AND t.not_after <= $3) \
             SELECT kind, id, account_id, account_name, collection_id, name, not_after, error FROM items \
             WHERE ($4 IS NULL OR not_after > $4 OR (not_after = $4 AND id > $5)) \
             ORDER BY not_after, id LIMIT $6",
        )
        .bind(root.to_string())
        .bind(match grant.sees_below() {
            SeesBelow::AssignedTo(staff) => Some(staff.to_string()),
            SeesBelow::All | SeesBelow::Nothing => None,
        })
        .bind(to_micros(scope.until))
        .bind(after_at)
        .bind(after_id)
        .bind(fetch_limit(page))
        // Who sees nothing below sees its own account only.
        .bind(if grant.sees_below() == SeesBelow::Nothing { 0_i64 } else { i64::MAX })
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(expiring_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |i| format!("{}_{}", to_micros(i.not_after), i.id)))
    }
}
