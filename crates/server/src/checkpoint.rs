//! Signed checkpoints of audit trails: the service signs (Ed25519) which event is a trail's head,
//! so that an export also proves it is whole up to that point; and the offline check of an
//! export, with or without the service's public key.

use base64::Engine;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use tenantry_domain::AccountId;
use tenantry_domain::audit::{AuditEvent, ChainVerifier, GENESIS, Link, Verification};

/// What a signature covers, before the checkpoint's canonical JSON.
const CONTEXT: &str = "tenantry audit checkpoint v1\n";

/// A trail's head, signed: at `at`, the trail held events 1 to `seq`, the last with hash `head`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub trail_account_id: AccountId,
    pub seq: i64,
    pub head: String,
    /// RFC 3339.
    pub at: String,
    /// Base64 of the Ed25519 signature.
    #[serde(default)]
    pub signature: String,
}

impl Checkpoint {
    fn message(&self) -> Result<String, String> {
        let mut unsigned = self.clone();
        unsigned.signature = String::new();
        let mut value = serde_json::to_value(&unsigned).map_err(|e| e.to_string())?;
        if let Some(map) = value.as_object_mut() {
            map.remove("signature");
        }
        Ok(format!("{CONTEXT}{}", serde_jcs::to_string(&value).map_err(|e| e.to_string())?))
    }

    /// Whether `public_key` (raw, 32 bytes) signed this checkpoint.
    pub fn verify(&self, public_key: &[u8]) -> bool {
        let Ok(message) = self.message() else { return false };
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(&self.signature) else { return false };
        UnparsedPublicKey::new(&ED25519, public_key).verify(message.as_bytes(), &signature).is_ok()
    }
}

/// The last line of a JSON Lines export.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointLine {
    pub checkpoint: Checkpoint,
}

/// The service's signing key.
pub struct Signer {
    pair: Ed25519KeyPair,
}

impl Signer {
    /// A new key, as the store keeps it.
    pub fn generate() -> Result<tenantry_store::SigningKey, String> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| e.to_string())?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| e.to_string())?;
        Ok(tenantry_store::SigningKey {
            private_key: hex::encode(pkcs8.as_ref()),
            public_key: hex::encode(pair.public_key().as_ref()),
        })
    }

    pub fn from_stored(key: &tenantry_store::SigningKey) -> Result<Self, String> {
        let pkcs8 = hex::decode(&key.private_key).map_err(|e| e.to_string())?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|e| e.to_string())?;
        Ok(Self { pair })
    }

    /// The public key, base64 of its 32 bytes.
    pub fn public_key(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.pair.public_key().as_ref())
    }

    /// Signs that `trail` ends at `seq` with `head` (seq 0 and the genesis hash: empty).
    pub fn sign(&self, trail: AccountId, seq: i64, head: &str, at: time::OffsetDateTime) -> Result<Checkpoint, String> {
        let mut checkpoint = Checkpoint {
            trail_account_id: trail,
            seq,
            head: head.to_owned(),
            at: tenantry_domain::clock::rfc3339_micros(at),
            signature: String::new(),
        };
        let signature = self.pair.sign(checkpoint.message()?.as_bytes());
        checkpoint.signature = base64::engine::general_purpose::STANDARD.encode(signature.as_ref());
        Ok(checkpoint)
    }
}

/// What the offline check of an export found.
#[derive(Debug)]
pub struct ExportReport {
    pub chain: Verification,
    /// `verified`, `absent` (no checkpoint line), `mismatch` (it names another head than the
    /// events end with), `bad_signature`, or `unchecked` (a checkpoint, but no key given).
    pub checkpoint: &'static str,
    /// The chain verifies, and with a key its checkpoint too.
    pub valid: bool,
}

impl ExportReport {
    /// As `tenantry audit verify` prints it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "valid": self.valid,
            "chain_valid": self.chain.valid,
            "events": self.chain.events,
            "head": self.chain.head,
            "first_bad_seq": self.chain.first_bad_seq,
            "checkpoint": self.checkpoint,
        })
    }
}

/// One line of an export, parsed and (for an event) its own hash checked.
enum Line {
    Event(Link),
    Checkpoint(Checkpoint),
}

fn parse_line(n: usize, line: &str) -> Result<Line, String> {
    if line.trim_start().starts_with("{\"checkpoint\"") {
        let parsed: CheckpointLine = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        return Ok(Line::Checkpoint(parsed.checkpoint));
    }
    let event: AuditEvent = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
    let hash_ok = event.compute_hash().is_ok_and(|h| h == event.hash);
    Ok(Line::Event(Link::of(&event, hash_ok)))
}

/// Lines read, parsed and hashed at a time, spread over the machine's cores.
const BATCH: usize = 8_192;

/// Checks a JSON Lines export as it is read (memory stays constant whatever its length): the
/// hash chain, and its closing checkpoint against `public_key` (raw bytes) when one is given. A
/// line after the checkpoint, or one that is neither, is an error. Parsing and hashing run on
/// every core; the chain is then followed in order.
pub fn verify_export(input: impl std::io::BufRead, public_key: Option<&[u8]>) -> Result<ExportReport, String> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(8);
    let mut verifier = ChainVerifier::new();
    let mut checkpoint: Option<Checkpoint> = None;
    let (mut last_seq, mut last_hash, mut trail) = (0, GENESIS.to_owned(), None);
    let mut lines = input.lines().enumerate();
    loop {
        let mut batch: Vec<(usize, String)> = Vec::with_capacity(BATCH);
        for (n, line) in lines.by_ref() {
            let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
            if !line.trim().is_empty() {
                batch.push((n, line));
                if batch.len() == BATCH {
                    break;
                }
            }
        }
        if batch.is_empty() {
            break;
        }
        let per_worker = batch.len().div_ceil(workers);
        let parsed: Vec<Vec<Result<Line, String>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .chunks(per_worker)
                .map(|chunk| scope.spawn(move || chunk.iter().map(|(n, l)| parse_line(*n, l)).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| "a verifying thread failed".to_owned()))
                .collect::<Result<Vec<_>, String>>()
        })?;
        for (i, line) in parsed.into_iter().flatten().enumerate() {
            if checkpoint.is_some() {
                return Err(format!("line {}: after the checkpoint", batch[i].0 + 1));
            }
            match line? {
                Line::Checkpoint(c) => checkpoint = Some(c),
                Line::Event(link) => {
                    last_seq = link.seq;
                    last_hash.clone_from(&link.hash);
                    trail.get_or_insert(link.trail);
                    verifier.push_link(&link);
                }
            }
        }
    }
    let chain = verifier.finish();
    let status = match (&checkpoint, public_key) {
        (None, _) => "absent",
        (Some(_), None) => "unchecked",
        (Some(c), Some(key)) if !c.verify(key) => "bad_signature",
        (Some(c), Some(_))
            if c.seq != last_seq || c.head != last_hash || trail.is_some_and(|t| t != c.trail_account_id) =>
        {
            "mismatch"
        }
        (Some(_), Some(_)) => "verified",
    };
    let valid = chain.valid && (public_key.is_none() || status == "verified");
    Ok(ExportReport { chain, checkpoint: status, valid })
}
