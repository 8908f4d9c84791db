//! Sign-ins and account views verified by an earlier request, kept for the next one while the
//! store's [revision](tenantry_store::SignInStore::revision) has not moved.
//!
//! The rule that makes it exact: a caller reads the revision *before* it reads the database, and
//! an entry is kept under that revision and used only while the revision is still the same. Every
//! change that could alter an entry (sign-out, a disabled user, a suspended account, a new policy,
//! an unassignment, a step-up's new token) moves the revision when it commits, so the request
//! after it reads the database again. Only a sign-in's last-seen time may be older here than in
//! the database (another process touched it), so a sign-in that looks idle is read again before
//! it is refused.

use std::collections::HashMap;
use std::sync::Mutex;
use tenantry_domain::{AccountId, UserId};
use tenantry_store::{AccountView, SessionRecord};

/// Entries kept of each kind; past it the oldest revision's entries are dropped all at once.
const CAPACITY: usize = 4_096;

/// Who is asking about which account: an account view depends on the viewer.
pub type ViewKey = (AccountId, AccountId, UserId);

#[derive(Default)]
pub struct Verified {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    revision: u64,
    sessions: HashMap<String, SessionRecord>,
    views: HashMap<ViewKey, AccountView>,
}

impl Entries {
    /// The entries kept under `revision`, emptied first when it is newer than theirs; none for
    /// an older revision (a request that began before the latest change).
    fn at(&mut self, revision: u64) -> Option<&mut Self> {
        if revision > self.revision {
            self.sessions.clear();
            self.views.clear();
            self.revision = revision;
        }
        (revision == self.revision).then_some(self)
    }
}

impl Verified {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves nothing half-written worth refusing service over.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The sign-in of `token_hash` as read under `revision`, if it was.
    pub fn session(&self, revision: u64, token_hash: &str) -> Option<SessionRecord> {
        self.entries().at(revision)?.sessions.get(token_hash).cloned()
    }

    /// Keeps `session`, read after `revision` was; nothing when the revision has moved since.
    pub fn keep_session(&self, revision: u64, token_hash: &str, session: &SessionRecord) {
        let mut entries = self.entries();
        let Some(entries) = entries.at(revision) else { return };
        if entries.sessions.len() >= CAPACITY {
            entries.sessions.clear();
        }
        entries.sessions.insert(token_hash.to_owned(), session.clone());
    }

    /// Records that the sign-in of `token_hash` was seen (touched) at `at`.
    pub fn touched(&self, token_hash: &str, at: time::OffsetDateTime) {
        if let Some(session) = self.entries().sessions.get_mut(token_hash) {
            session.last_seen_at = at;
        }
    }

    /// The view of `key` as read under `revision`, if it was.
    pub fn view(&self, revision: u64, key: &ViewKey) -> Option<AccountView> {
        self.entries().at(revision)?.views.get(key).cloned()
    }

    /// Keeps `view`, read after `revision` was; nothing when the revision has moved since.
    pub fn keep_view(&self, revision: u64, key: ViewKey, view: &AccountView) {
        let mut entries = self.entries();
        let Some(entries) = entries.at(revision) else { return };
        if entries.views.len() >= CAPACITY {
            entries.views.clear();
        }
        entries.views.insert(key, view.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> AccountView {
        let account = tenantry_domain::Account {
            id: AccountId::new(),
            kind: tenantry_domain::AccountKind::Customer,
            name: "Acme".into(),
            slug: tenantry_domain::Slug::parse("acme").unwrap_or_else(|e| panic!("{e}")),
            parent_id: None,
            status: tenantry_domain::AccountStatus::Active,
            plan: tenantry_domain::Plan::Standard,
            sso_mandatory: false,
            mfa_required: false,
            allowed_networks: Vec::new(),
            contact_email: None,
            region: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            deletion_deadline: None,
        };
        AccountView { account, depth_below_viewer: Some(0), assigned_to_viewer: false }
    }

    #[test]
    fn an_entry_is_used_only_under_the_revision_it_was_read_after() {
        let verified = Verified::default();
        let key = (AccountId::new(), AccountId::new(), UserId::new());
        verified.keep_view(3, key, &view());
        assert!(verified.view(3, &key).is_some());
        assert!(verified.view(4, &key).is_none(), "a moved revision drops what was kept");
        assert!(verified.view(3, &key).is_none(), "and an older one never brings it back");
    }

    #[test]
    fn what_was_read_before_the_revision_moved_is_not_kept() {
        let verified = Verified::default();
        let key = (AccountId::new(), AccountId::new(), UserId::new());
        // A request reads revision 5, another's change moves it to 6 and is seen, then the
        // first request's (possibly older) read arrives.
        assert!(verified.view(6, &key).is_none());
        verified.keep_view(5, key, &view());
        assert!(verified.view(6, &key).is_none());
    }
}
