//! Co-branding records, logos, and the branding a customer sees.

use super::*;

impl Repo {
    /// Revokes one credential of an account (`sql` takes the account, the id and the time) and
    /// records `action` if it was still live; revoking twice records nothing.
    /// The branding `account`'s users see: its own record or its nearest ancestor's.
    pub(crate) async fn effective_branding_of(&self, account: AccountId) -> Result<EffectiveBranding> {
        let row = sqlx::query(nearest_branding!(
            "b.display_name, b.support_email, b.support_phone, b.homepage_url, \
             b.logo_light IS NOT NULL AS has_light, b.logo_dark IS NOT NULL AS has_dark"
        ))
        .bind(account.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(EffectiveBranding::default()) };
        Ok(EffectiveBranding {
            fields: branding_from_row(&row)?,
            has_light_logo: row.try_get("has_light")?,
            has_dark_logo: row.try_get("has_dark")?,
        })
    }

    pub(crate) async fn effective_logo_of(&self, account: AccountId, variant: LogoVariant) -> Result<Option<Logo>> {
        let sql = match variant {
            LogoVariant::Light => nearest_branding!("b.logo_light AS bytes, b.logo_light_type AS content_type"),
            LogoVariant::Dark => nearest_branding!("b.logo_dark AS bytes, b.logo_dark_type AS content_type"),
        };
        let row = sqlx::query(sql).bind(account.to_string()).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let bytes: Option<Vec<u8>> = row.try_get("bytes")?;
        let content_type: Option<String> = row.try_get("content_type")?;
        Ok(bytes.zip(content_type).map(|(bytes, content_type)| Logo { bytes, content_type }))
    }

    /// The account a login page `/login/{slug}` is branded for: the platform, a partner or an
    /// MSP — never a customer, whose name a public page must not confirm.
    pub(crate) async fn login_account(&self, slug: &str) -> Result<Option<AccountId>> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM accounts WHERE slug = $1 AND kind <> 'customer'")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        id.map(|i| i.parse().map_err(|e| corrupt("id", e))).transpose()
    }
}

#[async_trait::async_trait]
impl BrandingStore for Repo {
    async fn branding(&self, grant: &Grant<cap::BrandingRead>) -> Result<BrandingFields> {
        let account = grant.account_id();
        let row = sqlx::query(
            "SELECT display_name, support_email, support_phone, homepage_url FROM branding WHERE account_id = $1",
        )
        .bind(account.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(branding_from_row).transpose()?.unwrap_or_default())
    }

    async fn set_branding(
        &self,
        grant: &Grant<cap::BrandingManage>,
        fields: BrandingFields,
        ctx: &Ctx,
    ) -> Result<BrandingFields> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO branding (account_id, display_name, support_email, support_phone, homepage_url, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id) DO UPDATE SET display_name = $2, \
             support_email = $3, support_phone = $4, homepage_url = $5, updated_at = $6",
        )
        .bind(account.to_string())
        .bind(&fields.display_name)
        .bind(&fields.support_email)
        .bind(&fields.support_phone)
        .bind(&fields.homepage_url)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({
            "display_name": fields.display_name,
            "support_email": fields.support_email,
            "support_phone": fields.support_phone,
            "homepage_url": fields.homepage_url,
        });
        Self::append(&mut tx, now, &change(account, Action::BrandingUpdated, target("account", account), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(fields)
    }

    async fn set_logo(
        &self,
        grant: &Grant<cap::BrandingManage>,
        variant: LogoVariant,
        logo: Option<Logo>,
        ctx: &Ctx,
    ) -> Result<()> {
        let account = grant.account_id();
        let now = self.now();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO branding (account_id, updated_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account.to_string())
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let sql = match variant {
            LogoVariant::Light => {
                "UPDATE branding SET logo_light = $2, logo_light_type = $3, updated_at = $4 WHERE account_id = $1"
            }
            LogoVariant::Dark => {
                "UPDATE branding SET logo_dark = $2, logo_dark_type = $3, updated_at = $4 WHERE account_id = $1"
            }
        };
        let (bytes, content_type) = match &logo {
            Some(l) => (Some(l.bytes.clone()), Some(l.content_type.clone())),
            None => (None, None),
        };
        sqlx::query(sql)
            .bind(account.to_string())
            .bind(bytes)
            .bind(&content_type)
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await?;
        let which = match variant {
            LogoVariant::Light => "light",
            LogoVariant::Dark => "dark",
        };
        let details = serde_json::json!({ "logo": which, "content_type": content_type, "size": logo.as_ref().map(|l| l.bytes.len()) });
        Self::append(&mut tx, now, &change(account, Action::BrandingUpdated, target("account", account), details), ctx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn effective_branding(&self, grant: &Grant<cap::AccountRead>) -> Result<EffectiveBranding> {
        self.effective_branding_of(grant.account_id()).await
    }

    async fn effective_logo(&self, grant: &Grant<cap::AccountRead>, variant: LogoVariant) -> Result<Option<Logo>> {
        self.effective_logo_of(grant.account_id(), variant).await
    }

    async fn login_branding(&self, slug: &str) -> Result<Option<EffectiveBranding>> {
        match self.login_account(slug).await? {
            Some(account) => Ok(Some(self.effective_branding_of(account).await?)),
            None => Ok(None),
        }
    }

    async fn login_logo(&self, slug: &str, variant: LogoVariant) -> Result<Option<Logo>> {
        match self.login_account(slug).await? {
            Some(account) => self.effective_logo_of(account, variant).await,
            None => Ok(None),
        }
    }
}
