//! PEM bundles: every `CERTIFICATE` block parsed as X.509; anything else, a private key above all,
//! refuses the whole bundle, so nothing half-read is ever stored.

use sha2::{Digest, Sha256};
use std::net::IpAddr;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::public_key::PublicKey;

/// Why a bundle was refused. The message is meant for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("no PEM certificate found")]
    Empty,
    #[error("block {block} is not valid PEM: {reason}")]
    Malformed { block: usize, reason: String },
    #[error("block {block} is a private key; private keys are never accepted or stored")]
    PrivateKey { block: usize },
    #[error("block {block} is a `{label}`, not a certificate")]
    NotCertificate { block: usize, label: String },
    #[error("block {block} is not a valid X.509 certificate: {reason}")]
    InvalidCertificate { block: usize, reason: String },
}

/// What the inventory keeps of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCertificate {
    pub subject: String,
    /// DNS names and IP addresses, as plain strings.
    pub sans: Vec<String>,
    pub issuer: String,
    /// Hex bytes separated by `:`.
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Lowercase hex SHA-256 of the DER encoding.
    pub fingerprint_sha256: String,
    /// `RSA`, `EC`, `DSA` or `unknown`.
    pub key_type: String,
    pub key_bits: u32,
    /// The certificate re-encoded as a single PEM block.
    pub pem: String,
}

/// Parses every block of `text`; any block that is not a certificate — and any text outside the
/// blocks, where an indented private key could hide — refuses the whole bundle.
pub fn parse_bundle(text: &[u8]) -> Result<Vec<ParsedCertificate>, PemError> {
    let lossy = String::from_utf8_lossy(text);
    if lossy.contains("PRIVATE KEY") {
        let block =
            lossy.lines().filter(|l| l.contains("-----BEGIN ")).take_while(|l| !l.contains("PRIVATE KEY")).count() + 1;
        return Err(PemError::PrivateKey { block });
    }
    let mut in_block = false;
    let mut blocks = 0;
    for line in lossy.lines().map(str::trim_end) {
        if in_block {
            in_block = !line.starts_with("-----END ");
        } else if line.starts_with("-----BEGIN ") {
            in_block = true;
            blocks += 1;
        } else if !line.trim().is_empty() && blocks > 0 {
            return Err(PemError::Malformed { block: blocks, reason: "text outside the PEM blocks".into() });
        } else if !line.trim().is_empty() {
            return Err(if lossy.contains("-----BEGIN ") {
                PemError::Malformed { block: 1, reason: "text outside the PEM blocks".into() }
            } else {
                PemError::Empty
            });
        }
    }
    let mut certificates = Vec::new();
    for (index, block) in Pem::iter_from_buffer(text).enumerate() {
        let block_number = index + 1;
        let pem = block.map_err(|e| PemError::Malformed { block: block_number, reason: e.to_string() })?;
        if pem.label.contains("PRIVATE KEY") {
            return Err(PemError::PrivateKey { block: block_number });
        }
        if pem.label != "CERTIFICATE" {
            return Err(PemError::NotCertificate { block: block_number, label: pem.label });
        }
        certificates.push(parse_der(&pem.contents, block_number)?);
    }
    if certificates.is_empty() {
        return Err(PemError::Empty);
    }
    Ok(certificates)
}

/// The certificate blocks of a file, re-encoded one by one; everything else in it — private keys
/// above all — is left out, so an agent never sends more than certificates.
pub fn certificate_blocks(text: &[u8]) -> Vec<String> {
    Pem::iter_from_buffer(text)
        .filter_map(Result::ok)
        .filter(|pem| pem.label == "CERTIFICATE" && x509_parser::parse_x509_certificate(&pem.contents).is_ok())
        .map(|pem| to_pem(&pem.contents))
        .collect()
}

pub(crate) fn parse_der(der: &[u8], block: usize) -> Result<ParsedCertificate, PemError> {
    let invalid = |reason: String| PemError::InvalidCertificate { block, reason };
    let (rest, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| invalid(e.to_string()))?;
    if !rest.is_empty() {
        return Err(invalid("trailing data after the certificate".into()));
    }
    let mut sans = Vec::new();
    if let Ok(Some(extension)) = cert.subject_alternative_name() {
        for name in &extension.value.general_names {
            match name {
                GeneralName::DNSName(dns) => sans.push((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        sans.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let (key_type, key_bits) = match cert.public_key().parsed() {
        Ok(key @ PublicKey::RSA(_)) => ("RSA", key.key_size()),
        Ok(key @ PublicKey::EC(_)) => ("EC", key.key_size()),
        Ok(key @ PublicKey::DSA(_)) => ("DSA", key.key_size()),
        _ => ("unknown", 0),
    };
    Ok(ParsedCertificate {
        subject: cert.subject().to_string(),
        sans,
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        fingerprint_sha256: hex::encode(Sha256::digest(der)),
        key_type: key_type.to_owned(),
        key_bits: u32::try_from(key_bits).unwrap_or(0),
        pem: to_pem(der),
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// One PEM `CERTIFICATE` block with 64-column base64 lines.
fn to_pem(der: &[u8]) -> String {
    let encoded = data_encoding::BASE64.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "certificates made for the wall clock")]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn certificate(names: &[&str], days: (i64, i64)) -> (String, String) {
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("{e}"));
        params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("test"));
        params.subject_alt_names.push(SanType::IpAddress("192.0.2.7".parse().unwrap_or_else(|e| panic!("{e}"))));
        let now = OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(days.0);
        params.not_after = now + time::Duration::days(days.1);
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let cert = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}"));
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_bundle_yields_every_certificate_with_its_facts() {
        let (a, _) = certificate(&["www.example.com", "example.com"], (-1, 90));
        let (b, _) = certificate(&["api.example.com"], (-10, -1));
        let parsed = parse_bundle(format!("{a}\n{b}").as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].sans, ["www.example.com", "example.com", "192.0.2.7"]);
        assert!(parsed[0].subject.contains("CN=www.example.com"));
        assert_eq!(parsed[0].issuer, parsed[0].subject, "self-signed");
        assert_eq!(parsed[0].key_type, "EC");
        assert_eq!(parsed[0].key_bits, 256);
        assert_eq!(parsed[0].fingerprint_sha256.len(), 64);
        assert!(parsed[1].not_after < OffsetDateTime::now_utc());
        assert!(parsed[0].serial.contains(':'));
    }

    #[test]
    fn the_stored_pem_round_trips_to_the_same_certificate() {
        let (a, _) = certificate(&["round.example.com"], (0, 30));
        let first = parse_bundle(a.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let again = parse_bundle(first[0].pem.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first, again);
    }

    #[test]
    fn certificate_blocks_leave_private_keys_behind() {
        let (cert, key) = certificate(&["agent.example.com"], (0, 30));
        let blocks = certificate_blocks(format!("{key}{cert}").as_bytes());
        assert_eq!(blocks.len(), 1);
        assert!(!blocks[0].contains("PRIVATE KEY"));
        assert_eq!(parse_bundle(blocks[0].as_bytes()).map(|c| c.len()), Ok(1));
        assert!(certificate_blocks(b"nothing here").is_empty());
    }

    #[test]
    fn a_private_key_anywhere_refuses_the_whole_bundle() {
        let (cert, key) = certificate(&["key.example.com"], (0, 30));
        assert_eq!(parse_bundle(format!("{cert}{key}").as_bytes()), Err(PemError::PrivateKey { block: 2 }));
    }

    #[test]
    fn an_indented_private_key_or_stray_text_refuses_the_bundle() {
        let (cert, key) = certificate(&["indent.example.com"], (0, 30));
        let indented: String = key.lines().map(|l| format!("  {l}\n")).collect();
        assert!(matches!(parse_bundle(format!("{cert}{indented}").as_bytes()), Err(PemError::PrivateKey { .. })));
        assert!(matches!(parse_bundle(format!("{cert}and some notes\n").as_bytes()), Err(PemError::Malformed { .. })));
        assert!(matches!(parse_bundle(format!("notes first\n{cert}").as_bytes()), Err(PemError::Malformed { .. })));
        assert_eq!(parse_bundle(format!("\n{cert}\n\n").as_bytes()).map(|c| c.len()), Ok(1));
    }

    #[test]
    fn garbage_empty_and_non_certificate_blocks_are_refused() {
        assert_eq!(parse_bundle(b"hello"), Err(PemError::Empty));
        assert_eq!(parse_bundle(b""), Err(PemError::Empty));
        let csr = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
        assert!(matches!(parse_bundle(csr.as_bytes()), Err(PemError::NotCertificate { block: 1, .. })));
        let bogus = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(parse_bundle(bogus.as_bytes()), Err(PemError::InvalidCertificate { block: 1, .. })));
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(parse_bundle(broken.as_bytes()), Err(PemError::Malformed { block: 1, .. })));
    }
}
