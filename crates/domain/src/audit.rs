//! Audit events and the per-trail hash chain: how a link's hash is computed and how a trail is verified.
//!
//! `hash` = lowercase hex SHA-256 of the hex `prev_hash` followed by the RFC 8785 canonical JSON of
//! the event as served, without `prev_hash` and `hash`. The first link's `prev_hash` is 64 zeros.

use crate::clock::serde_micros;
use crate::ids::{AccountId, EventId, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The `prev_hash` of a trail's first link.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How an attempted action ended.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Self::Success),
            "denied" => Some(Self::Denied),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }
}

/// Who acted. Unknown users (a failed sign-in with an unknown email) have no ids.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct AuditActor {
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub account_id: Option<AccountId>,
    pub account_name: Option<String>,
}

/// What was acted on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditTarget {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
}

/// One event as read from one trail.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    pub id: EventId,
    pub trail_account_id: AccountId,
    pub seq: i64,
    #[serde(with = "serde_micros")]
    pub at: OffsetDateTime,
    pub account_id: AccountId,
    pub action: String,
    pub outcome: Outcome,
    pub actor: AuditActor,
    pub access_session_id: Option<String>,
    pub target: AuditTarget,
    pub ip: Option<String>,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    /// The hash this link must carry, given its own `prev_hash` and content.
    pub fn compute_hash(&self) -> Result<String, serde_json::Error> {
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(self.canonical()?.as_bytes());
        Ok(hex::encode(hasher.finalize()))
    }

    /// The RFC 8785 canonical JSON of the event without `prev_hash` and `hash`, written field by
    /// field in the canonical (sorted) order; `details` goes through the general canonicalizer.
    /// Byte for byte what `serde_jcs` makes of the whole event (a property test holds it to
    /// that), without building and sorting a tree for every event.
    pub fn canonical(&self) -> Result<String, serde_json::Error> {
        use serde_json::to_string as json;
        let mut out = String::with_capacity(640);
        let mut field = |key: &str, value: String| {
            out.push(if out.is_empty() { '{' } else { ',' });
            out.push('"');
            out.push_str(key);
            out.push_str("\":");
            out.push_str(&value);
        };
        let a = &self.actor;
        let actor = format!(
            "{{\"account_id\":{},\"account_name\":{},\"email\":{},\"user_id\":{}}}",
            json(&a.account_id)?,
            json(&a.account_name)?,
            json(&a.email)?,
            json(&a.user_id)?
        );
        let target = format!("{{\"id\":{},\"type\":{}}}", json(&self.target.id)?, json(&self.target.kind)?);
        field("access_session_id", json(&self.access_session_id)?);
        field("account_id", json(&self.account_id)?);
        field("action", json(&self.action)?);
        field("actor", actor);
        field("at", json(&crate::clock::rfc3339_micros(self.at))?);
        field("details", serde_jcs::to_string(&self.details)?);
        field("id", json(&self.id)?);
        field("ip", json(&self.ip)?);
        field("outcome", json(&self.outcome)?);
        // As JCS writes every number: an IEEE double (exact below 2^53, which no trail reaches).
        field("seq", serde_jcs::to_string(&self.seq)?);
        field("target", target);
        field("trail_account_id", json(&self.trail_account_id)?);
        out.push('}');
        Ok(out)
    }
}

/// The verdict on one trail.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub valid: bool,
    pub events: u64,
    pub head: String,
    pub first_bad_seq: Option<i64>,
}

/// Checks a trail read in `seq` order: consecutive seqs from 1, each `prev_hash` the previous
/// `hash`, each `hash` recomputed from the content, all in the same trail.
#[derive(Debug)]
pub struct ChainVerifier {
    trail: Option<AccountId>,
    expected_seq: i64,
    head: String,
    events: u64,
    first_bad_seq: Option<i64>,
}

/// What the chain check needs of an event: where it sits, its hashes, and whether its own hash
/// matches its content.
#[derive(Clone, Debug)]
pub struct Link {
    pub trail: AccountId,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub hash_ok: bool,
}

impl Link {
    pub fn of(event: &AuditEvent, hash_ok: bool) -> Self {
        Self {
            trail: event.trail_account_id,
            seq: event.seq,
            prev_hash: event.prev_hash.clone(),
            hash: event.hash.clone(),
            hash_ok,
        }
    }
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self { trail: None, expected_seq: 1, head: GENESIS.to_owned(), events: 0, first_bad_seq: None }
    }
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next event of the trail.
    pub fn push(&mut self, event: &AuditEvent) {
        let hash_ok = event.compute_hash().is_ok_and(|h| h == event.hash);
        self.push_link(&Link::of(event, hash_ok));
    }

    /// Feeds the next event as a link whose own hash was already checked (by another thread).
    pub fn push_link(&mut self, link: &Link) {
        self.events += 1;
        let same_trail = *self.trail.get_or_insert(link.trail) == link.trail;
        let ok = same_trail && link.seq == self.expected_seq && link.prev_hash == self.head && link.hash_ok;
        if !ok && self.first_bad_seq.is_none() {
            self.first_bad_seq = Some(self.expected_seq);
        }
        self.expected_seq += 1;
        self.head.clone_from(&link.hash);
    }

    pub fn finish(self) -> Verification {
        Verification {
            valid: self.first_bad_seq.is_none(),
            events: self.events,
            head: self.head,
            first_bad_seq: self.first_bad_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(trail: AccountId, seq: i64, prev: &str) -> AuditEvent {
        let mut e = AuditEvent {
            id: EventId::new(),
            trail_account_id: trail,
            seq,
            at: crate::clock::from_micros(1_700_000_000_123_456),
            account_id: trail,
            action: "account.created".into(),
            outcome: Outcome::Success,
            actor: AuditActor::default(),
            access_session_id: None,
            target: AuditTarget { kind: "account".into(), id: None },
            ip: Some("127.0.0.1".into()),
            details: serde_json::json!({"name": "Acme", "b": [1, 2]}),
            prev_hash: prev.to_owned(),
            hash: String::new(),
        };
        e.hash = e.compute_hash().unwrap_or_default();
        e
    }

    fn chain(n: i64) -> Vec<AuditEvent> {
        let trail = AccountId::new();
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let e = event(trail, seq, &prev);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(events: &[AuditEvent]) -> Verification {
        let mut v = ChainVerifier::new();
        events.iter().for_each(|e| v.push(e));
        v.finish()
    }

    #[test]
    fn an_untouched_chain_verifies_and_reports_its_head() {
        let events = chain(5);
        let report = verify(&events);
        assert!(report.valid);
        assert_eq!(report.events, 5);
        assert_eq!(Some(&report.head), events.last().map(|e| &e.hash));
    }

    #[test]
    fn an_edited_event_breaks_the_chain_at_its_seq() {
        let mut events = chain(5);
        events[2].details = serde_json::json!({"name": "Evil"});
        assert_eq!(verify(&events).first_bad_seq, Some(3));
    }

    #[test]
    fn a_removed_or_reordered_event_breaks_the_chain() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(verify(&events).first_bad_seq, Some(2));
        let mut events = chain(5);
        events.swap(3, 4);
        assert_eq!(verify(&events).first_bad_seq, Some(4));
    }

    #[test]
    fn the_hash_is_sha256_of_prev_hash_and_canonical_json() {
        let e = chain(1).remove(0);
        let mut value = serde_json::to_value(&e).unwrap_or_default();
        if let Some(m) = value.as_object_mut() {
            m.remove("hash");
            m.remove("prev_hash");
        }
        let canonical = serde_jcs::to_string(&value).unwrap_or_default();
        assert!(canonical.starts_with("{\"access_session_id\":null,\"account_id\":"));
        assert!(canonical.contains("\"at\":\"2023-11-14T22:13:20.123456Z\""));
        let digest = Sha256::digest(format!("{GENESIS}{canonical}").as_bytes());
        assert_eq!(e.hash, hex::encode(digest));
    }

    /// The general way: the whole event as a tree, canonicalized by `serde_jcs`.
    fn canonical_by_tree(e: &AuditEvent) -> String {
        let mut value = serde_json::to_value(e).unwrap_or_default();
        if let Some(m) = value.as_object_mut() {
            m.remove("hash");
            m.remove("prev_hash");
        }
        serde_jcs::to_string(&value).unwrap_or_default()
    }

    fn text() -> impl proptest::strategy::Strategy<Value = String> {
        // Quotes, backslashes, control characters, non-ASCII and astral characters included.
        proptest::string::string_regex("[a-z\"\\\\\u{0}-\u{1f}\u{7f}é€\u{2028}\u{1F600} ]{0,12}")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    proptest::proptest! {
        #[test]
        fn the_field_by_field_canonical_form_is_the_general_one(
            action in text(),
            email in proptest::option::of(text()),
            name in proptest::option::of(text()),
            kind in text(),
            id in proptest::option::of(text()),
            ip in proptest::option::of(text()),
            session in proptest::option::of(text()),
            key in text(),
            value in text(),
            number in proptest::prelude::any::<i64>(),
            float in -1.0e12f64..1.0e12,
            seq in 1i64..i64::MAX,
            micros in 0i64..4_000_000_000_000_000,
        ) {
            let trail = AccountId::new();
            let e = AuditEvent {
                id: EventId::new(),
                trail_account_id: trail,
                seq,
                at: crate::clock::from_micros(micros),
                account_id: AccountId::new(),
                action,
                outcome: Outcome::Denied,
                actor: AuditActor { user_id: Some(UserId::new()), email, account_id: Some(trail), account_name: name },
                access_session_id: session,
                target: AuditTarget { kind, id },
                ip,
                details: serde_json::json!({ key: value, "z": [number, float, null, true], "a": {"b": "c"} }),
                prev_hash: GENESIS.to_owned(),
                hash: String::new(),
            };
            proptest::prop_assert_eq!(e.canonical().unwrap_or_default(), canonical_by_tree(&e));
        }
    }
}
