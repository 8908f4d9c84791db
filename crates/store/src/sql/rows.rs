//! Reading rows into the domain's types; a row that does not read is reported as corrupt.

use super::*;

/// A column's name under `prefix`, allocated only when there is one (rows are read by the
/// hundred: a list page).
fn prefixed(prefix: &str, name: &'static str) -> std::borrow::Cow<'static, str> {
    if prefix.is_empty() {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(format!("{prefix}{name}"))
    }
}

pub(crate) fn account_from_row(row: &DbRow) -> Result<Account> {
    account_from_row_as(row, "")
}

/// Reads an account from columns named with `prefix` (for joins).
pub(crate) fn account_from_row_as(row: &DbRow, prefix: &str) -> Result<Account> {
    let c = |name: &'static str| prefixed(prefix, name);
    Ok(Account {
        id: parse_col(row, &c("id"))?,
        kind: parse_col(row, &c("kind"))?,
        name: row.try_get(&*c("name"))?,
        slug: Slug::from_stored(row.try_get(&*c("slug"))?),
        parent_id: parse_opt_col(row, &c("parent_id"))?,
        status: parse_col(row, &c("status"))?,
        plan: parse_col(row, &c("plan"))?,
        sso_mandatory: row.try_get(&*c("sso_mandatory"))?,
        mfa_required: row.try_get(&*c("mfa_required"))?,
        allowed_networks: serde_json::from_str(&row.try_get::<String, _>(&*c("allowed_networks"))?)
            .map_err(|e| corrupt("allowed_networks", e))?,
        contact_email: row.try_get(&*c("contact_email"))?,
        region: row.try_get(&*c("region"))?,
        created_at: from_micros(row.try_get(&*c("created_at"))?),
        deletion_deadline: opt_time(row, &c("deletion_deadline"))?,
    })
}

pub(crate) fn user_from_row(row: &DbRow) -> Result<User> {
    user_from_row_as(row, "")
}

/// Reads a user from columns named with `prefix` (for joins).
pub(crate) fn user_from_row_as(row: &DbRow, prefix: &str) -> Result<User> {
    let c = |name: &'static str| prefixed(prefix, name);
    Ok(User {
        id: parse_col(row, &c("id"))?,
        account_id: parse_col(row, &c("account_id"))?,
        email: Email::from_stored(row.try_get(&*c("email"))?),
        name: row.try_get(&*c("name"))?,
        role: parse_col(row, &c("role"))?,
        status: parse_col(row, &c("status"))?,
        mfa_enabled: row.try_get(&*c("mfa_enabled"))?,
        expires_at: opt_time(row, &c("expires_at"))?,
        created_at: from_micros(row.try_get(&*c("created_at"))?),
        last_login_at: opt_time(row, &c("last_login_at"))?,
    })
}

pub(crate) fn event_from_row(row: &DbRow) -> Result<AuditEvent> {
    let outcome: String = row.try_get("outcome")?;
    let details: String = row.try_get("details")?;
    Ok(AuditEvent {
        id: parse_col(row, "id")?,
        trail_account_id: parse_col(row, "trail_account_id")?,
        seq: row.try_get("seq")?,
        at: from_micros(row.try_get("at")?),
        account_id: parse_col(row, "account_id")?,
        action: row.try_get("action")?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome", &outcome))?,
        actor: AuditActor {
            user_id: parse_opt_col(row, "actor_user_id")?,
            email: row.try_get("actor_email")?,
            account_id: parse_opt_col(row, "actor_account_id")?,
            account_name: row.try_get("actor_account_name")?,
        },
        access_session_id: row.try_get("access_session_id")?,
        target: AuditTarget { kind: row.try_get("target_type")?, id: row.try_get("target_id")? },
        ip: row.try_get("ip")?,
        details: serde_json::from_str(&details).map_err(|e| corrupt("details", e))?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

pub(crate) fn access_session_from_row(row: &DbRow) -> Result<AccessSessionRecord> {
    Ok(AccessSessionRecord {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        actor_user_id: parse_col(row, "actor_user_id")?,
        actor_email: row.try_get("actor_email")?,
        actor_account_id: parse_col(row, "actor_account_id")?,
        signin_session_id: parse_col(row, "signin_session_id")?,
        reason: row.try_get("reason")?,
        started_at: from_micros(row.try_get("started_at")?),
        expires_at: from_micros(row.try_get("expires_at")?),
        ended_at: opt_time(row, "ended_at")?,
        end_reason: row.try_get("end_reason")?,
    })
}

pub(crate) fn api_token_from_row(row: &DbRow) -> Result<ApiTokenRecord> {
    Ok(ApiTokenRecord {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        name: row.try_get("name")?,
        role: parse_col(row, "role")?,
        created_by: parse_col(row, "created_by")?,
        created_at: from_micros(row.try_get("created_at")?),
        expires_at: from_micros(row.try_get("expires_at")?),
        last_used_at: opt_time(row, "last_used_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(crate) fn certificate_from_row(row: &DbRow) -> Result<Certificate> {
    let sans: String = row.try_get("sans")?;
    Ok(Certificate {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        collection_id: parse_col(row, "collection_id")?,
        subject: row.try_get("subject")?,
        sans: serde_json::from_str(&sans).map_err(|e| corrupt("sans", e))?,
        issuer: row.try_get("issuer")?,
        serial: row.try_get("serial")?,
        not_before: from_micros(row.try_get("not_before")?),
        not_after: from_micros(row.try_get("not_after")?),
        fingerprint_sha256: row.try_get("fingerprint_sha256")?,
        key_type: row.try_get("key_type")?,
        key_bits: u32::try_from(row.try_get::<i64, _>("key_bits")?).unwrap_or(0),
        created_at: from_micros(row.try_get("created_at")?),
    })
}

pub(crate) fn support_from_row(row: &DbRow) -> Result<SupportRequest> {
    Ok(SupportRequest {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "from_account_id")?,
        account_name: row.try_get("account_name")?,
        to_account_id: parse_col(row, "to_account_id")?,
        created_by: parse_col(row, "created_by")?,
        created_by_email: row.try_get("created_by_email")?,
        subject: row.try_get("subject")?,
        message: row.try_get("message")?,
        status: row.try_get("status")?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

pub(crate) fn branding_from_row(row: &DbRow) -> Result<BrandingFields> {
    Ok(BrandingFields {
        display_name: row.try_get("display_name")?,
        support_email: row.try_get("support_email")?,
        support_phone: row.try_get("support_phone")?,
        homepage_url: row.try_get("homepage_url")?,
    })
}

pub(crate) fn agent_from_row(row: &DbRow) -> Result<Agent> {
    Ok(Agent {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        collection_id: parse_col(row, "collection_id")?,
        name: row.try_get("name")?,
        created_at: from_micros(row.try_get("created_at")?),
        last_seen_at: opt_time(row, "last_seen_at")?,
        last_hostname: row.try_get("last_hostname")?,
        certificate_count: row.try_get("certificate_count")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(crate) fn collection_from_row(row: &DbRow) -> Result<Collection> {
    Ok(Collection {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        name: row.try_get("name")?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

pub(crate) fn target_from_row(row: &DbRow) -> Result<MonitoredTarget> {
    let port: i64 = row.try_get("port")?;
    let last_check = match opt_time(row, "checked_at")? {
        Some(checked_at) => Some(TlsCheck {
            checked_at,
            not_after: opt_time(row, "not_after")?,
            subject: row.try_get("subject")?,
            issuer: row.try_get("issuer")?,
            error: row.try_get("error")?,
        }),
        None => None,
    };
    Ok(MonitoredTarget {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        collection_id: parse_col(row, "collection_id")?,
        hostname: row.try_get("hostname")?,
        port: u16::try_from(port).map_err(|e| corrupt("port", e))?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
        next_check_at: from_micros(row.try_get("next_check_at")?),
        last_check,
    })
}

pub(crate) fn leased_from_row(row: &DbRow) -> Result<LeasedTarget> {
    let port: i64 = row.try_get("port")?;
    Ok(LeasedTarget {
        id: parse_col(row, "id")?,
        account_id: parse_col(row, "account_id")?,
        hostname: row.try_get("hostname")?,
        port: u16::try_from(port).map_err(|e| corrupt("port", e))?,
    })
}

pub(crate) fn expiring_from_row(row: &DbRow) -> Result<ExpiringItem> {
    let kind: String = row.try_get("kind")?;
    Ok(ExpiringItem {
        kind: if kind == "target" { "target" } else { "certificate" },
        id: row.try_get("id")?,
        account_id: parse_col(row, "account_id")?,
        account_name: row.try_get("account_name")?,
        collection_id: parse_col(row, "collection_id")?,
        name: row.try_get("name")?,
        not_after: from_micros(row.try_get("not_after")?),
        error: row.try_get("error")?,
    })
}
