//! First start: the platform account and its first administrator, active with a given password
//! or invited with a one-time setup link.

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::routes::accounts::credentials;
use tenantry_domain::{Account, Email, Role, validate};
use tenantry_store::NewUser;

/// The platform account's name on a new installation.
pub const PLATFORM_NAME: &str = "Tenantry";
/// The invited administrator's email when none is configured.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@tenantry.local";

/// What the first start did.
#[derive(Debug)]
pub struct Bootstrap {
    pub platform: Account,
    /// The administrator created now, if the database was empty.
    pub admin_email: Option<String>,
    /// The one-time link for an administrator created without a password.
    pub setup_url: Option<String>,
}

/// Creates the platform account on an empty database, with its first `platform_admin`.
pub async fn bootstrap(app: &App, admin_email: Option<&str>, admin_password: Option<&str>) -> ApiResult<Bootstrap> {
    let email = Email::parse(admin_email.unwrap_or(DEFAULT_ADMIN_EMAIL))
        .map_err(|m| ApiError::invalid("bootstrap_admin_email", m))?;
    if let Some(p) = admin_password {
        validate::new_password(p, &[email.as_str()]).map_err(|m| ApiError::invalid("bootstrap_admin_password", m))?;
    }
    let (platform, created) = app.store.ensure_platform(PLATFORM_NAME).await?;
    if !created {
        return Ok(Bootstrap { platform, admin_email: None, setup_url: None });
    }
    let creds = credentials(app, admin_password).await?;
    let user = NewUser {
        email: email.clone(),
        name: "Platform administrator".into(),
        role: Role::PlatformAdmin,
        password_hash: creds.password_hash,
        expires_at: None,
        activation: creds.activation,
    };
    app.store.create_user_as_operator(platform.id, user).await?;
    Ok(Bootstrap { platform, admin_email: Some(email.to_string()), setup_url: creds.activation_url })
}

/// The first administrator's email while it is still invited (its setup link unused), so that a
/// later start can say how to get a new link.
pub async fn invited_first_admin(app: &App, admin_email: Option<&str>) -> Option<String> {
    let email = admin_email.unwrap_or(DEFAULT_ADMIN_EMAIL);
    let candidate = app.store.login_candidate(email).await.ok()??;
    (candidate.user.status == tenantry_domain::UserStatus::Invited).then(|| candidate.user.email.to_string())
}
