//! The second factor: RFC 6238 TOTP (SHA-1, 6 digits, 30-second steps, one step of skew) through
//! `totp-rs`, each step accepted once; the enrollment's QR code as SVG (`qrcode`), rendered here;
//! single-use recovery codes, stored as SHA-256 hashes. A sign-in or step-up of a user with MFA
//! passes through [`check_second_factor`].

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::secrets::token_hash;
use tenantry_domain::User;
use totp_rs::{Builder, Secret, Totp};

/// How many recovery codes a user holds.
pub const RECOVERY_CODES: usize = 10;

/// What a sign-in or step-up sent as its second factor.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct SecondFactor {
    /// The authenticator's current 6-digit code.
    #[serde(default)]
    pub totp_code: Option<String>,
    /// One of the user's recovery codes (each works once).
    #[serde(default)]
    pub recovery_code: Option<String>,
}

impl SecondFactor {
    pub fn is_empty(&self) -> bool {
        self.totp_code.is_none() && self.recovery_code.is_none()
    }
}

/// A TOTP generator for a base32 secret, labelled with the user's email.
pub fn totp(secret_base32: &str, label: &str) -> ApiResult<Totp> {
    let secret =
        Secret::try_from_base32(secret_base32).map_err(|e| ApiError::Internal(format!("TOTP secret: {e:?}")))?;
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some("Tenantry"))
        .with_account_name(label.replace(':', "_"))
        .build()
        .map_err(|e| ApiError::Internal(format!("TOTP: {e:?}")))
}

/// A new random secret (160 bits, as RFC 4226 recommends), base32.
pub fn new_secret() -> ApiResult<String> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    Ok(Secret::from(bytes).to_base32())
}

/// The `otpauth://` URI and its QR code as an SVG document.
pub fn enrollment(totp: &Totp) -> ApiResult<(String, String)> {
    let uri = totp.to_url().map_err(|e| ApiError::Internal(format!("otpauth URI: {e:?}")))?;
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| ApiError::Internal(format!("QR code: {e}")))?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build();
    Ok((uri, svg))
}

/// The time step a code is valid for at `now` (within one step of skew), if any.
pub fn matching_step(totp: &Totp, code: &str, now: time::OffsetDateTime) -> Option<i64> {
    let seconds = u64::try_from(now.unix_timestamp()).ok()?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    totp.check(&code, seconds).and_then(|step| i64::try_from(step).ok())
}

/// Ten new recovery codes (80 bits each, `xxxx-xxxx-xxxx-xxxx` in base32), and their hashes.
pub fn new_recovery_codes() -> ApiResult<(Vec<String>, Vec<String>)> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; 10];
        getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
        let text = Secret::from(bytes.to_vec()).to_base32().to_lowercase();
        let grouped: Vec<String> = text.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        codes.push(grouped.join("-"));
    }
    let hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    Ok((codes, hashes))
}

/// How a recovery code is stored: case, spaces and dashes do not matter.
pub fn recovery_hash(code: &str) -> String {
    let normal: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
    token_hash(&normal)
}

/// Checks a user's second factor: `MfaRequired` when none was sent, `InvalidCredentials` when
/// it is wrong or already used. A code's step, or a recovery code, is used up by the check.
pub async fn check_second_factor(app: &App, user: &User, sent: &SecondFactor) -> ApiResult<()> {
    if sent.is_empty() {
        return Err(ApiError::MfaRequired);
    }
    if let Some(code) = &sent.recovery_code {
        return match app.store.use_recovery_code(user.id, &recovery_hash(code)).await? {
            true => Ok(()),
            false => Err(ApiError::InvalidCredentials),
        };
    }
    let factor = app.store.totp_factor(user.id).await?.filter(|f| f.confirmed).ok_or(ApiError::InvalidCredentials)?;
    let totp = totp(&factor.secret, user.email.as_str())?;
    let step = sent.totp_code.as_deref().and_then(|c| matching_step(&totp, c, app.now()));
    match step {
        Some(step) if app.store.use_totp_step(user.id, step).await? => Ok(()),
        _ => Err(ApiError::InvalidCredentials),
    }
}
