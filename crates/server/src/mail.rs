//! E-mail through an optional SMTP relay: a new support request is announced at its inbox's
//! support address, and an activation link that its creator may not see goes to the user.
//! Without a relay nothing is sent; a relay that fails loses no request.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where mail goes out, and as whom.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtp://host:25` (plain, for a relay on the same host or network), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtp://host:587?tls=opportunistic`, or `smtps://host:465` (TLS from the start);
    /// credentials as `smtp://user:password@host…`.
    pub url: String,
    /// The sender, e.g. `Tenantry <tenantry@example.com>`.
    pub from: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &tenantry_store::redact_url(&self.url))
            .field("from", &self.from)
            .finish()
    }
}

/// Sends mail through the configured relay.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &SmtpSettings) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| format!("SMTP relay URL: {e}"))?
            .build();
        let from = settings.from.parse().map_err(|e| format!("SMTP sender `{}`: {e}", settings.from))?;
        Ok(Self { transport, from })
    }

    /// Sends one plain-text message to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|e| format!("recipient `{to}`: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|e| format!("message: {e}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| format!("SMTP: {e}"))
    }
}

/// Sends one message in the background when a relay is set; the outcome is counted in
/// `/metrics` and a failure logged as `what`.
pub fn send_later(app: &crate::App, to: String, subject: String, body: String, what: &'static str) {
    if app.mailer.is_none() {
        tracing::info!(what, "no SMTP relay is set: nothing sent");
        return;
    }
    let app = app.clone();
    tokio::spawn(async move {
        let Some(mailer) = &app.mailer else { return };
        match mailer.send(&to, &subject, body).await {
            Ok(()) => app.metrics.mail_sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(error = %e, what, "mail not sent");
                app.metrics.mail_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            }
        };
    });
}
