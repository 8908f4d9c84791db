//! TLS expiry checks: one real handshake with a target, reading the leaf certificate it presents
//! and judging its chain and name with the system's trust anchors at the service's clock.

use crate::pem::parse_der;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tenantry_domain::TlsCheck;
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Whether `ip` may be checked without `TENANTRY_MONITOR_ALLOW_PRIVATE`: a public unicast address.
/// IPv4: not private, loopback, link-local, unspecified or `0/8`, shared (carrier-grade NAT),
/// benchmarking, documentation, IETF protocol, 6to4 relay, reserved, multicast or broadcast space.
/// IPv6: only global unicast (`2000::/3`), without Teredo, ORCHID, documentation, and 6to4 that
/// hides a non-public IPv4 address; an IPv4-mapped or -compatible address is judged as its IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            let special = v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 88 && c == 99)
                || a >= 240;
            !special
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || (s[5] == 0 && s[6] != 0)) {
                // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d).
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            let global_unicast = s[0] & 0xe000 == 0x2000;
            let teredo = s[0] == 0x2001 && s[1] == 0;
            let orchid = s[0] == 0x2001 && matches!(s[1] & 0xfff0, 0x0010 | 0x0020);
            let documentation = s[0] == 0x2001 && s[1] == 0x0db8;
            if s[0] == 0x2002 {
                // 6to4 carries an IPv4 address in its next 32 bits.
                let [a, b] = s[1].to_be_bytes();
                let [c, d] = s[2].to_be_bytes();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            global_unicast && !teredo && !orchid && !documentation
        }
    }
}

/// How checks are made: which addresses may be reached, which authorities are trusted, how long
/// a check may take.
pub struct Checker {
    allow_private: bool,
    timeout: Duration,
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker").field("allow_private", &self.allow_private).field("timeout", &self.timeout).finish()
    }
}

impl Checker {
    /// Trusts the bundled web PKI roots plus any certificates in `extra_roots_pem` (an internal CA).
    pub fn new(allow_private: bool, extra_roots_pem: Option<&[u8]>, timeout: Duration) -> Result<Self, String> {
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(pem) = extra_roots_pem {
            let mut added = 0;
            for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
                let block = block.map_err(|e| format!("extra trust anchors: {e}"))?;
                if block.label != "CERTIFICATE" {
                    continue;
                }
                roots.add(CertificateDer::from(block.contents)).map_err(|e| format!("extra trust anchors: {e}"))?;
                added += 1;
            }
            if added == 0 {
                return Err("extra trust anchors: no certificate found".into());
            }
        }
        Ok(Self {
            allow_private,
            timeout,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            roots: Arc::new(roots),
        })
    }

    /// A verifying client configuration with the same trust anchors, for other outgoing
    /// connections (an account's identity provider).
    pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        Ok(rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth())
    }

    /// How long one check may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether addresses that are not public may be checked.
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Checks `host:port` now: resolves it, refuses non-public addresses unless allowed, connects,
    /// shakes hands and reads the leaf certificate. Never fails: a failure is the check's `error`.
    pub async fn check(&self, host: &str, port: u16, now: OffsetDateTime) -> TlsCheck {
        let failed = |error: String| TlsCheck {
            checked_at: now,
            not_after: None,
            subject: None,
            issuer: None,
            error: Some(error),
        };
        match tokio::time::timeout(self.timeout, self.handshake(host, port, now)).await {
            Ok(Ok(check)) => check,
            Ok(Err(error)) => failed(error),
            Err(_) => failed(format!("no answer from {host}:{port} within {} s", self.timeout.as_secs())),
        }
    }

    async fn handshake(&self, host: &str, port: u16, now: OffsetDateTime) -> Result<TlsCheck, String> {
        let addresses = self.resolve(host, port).await?;
        let mut last_error = None;
        let mut stream = None;
        for address in &addresses {
            match TcpStream::connect(address).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| match last_error {
            Some(e) => format!("could not connect to {host}:{port}: {e}"),
            None => format!("{host} has no address"),
        })?;
        let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host} is not a server name: {e}"))?;
        let inner = WebPkiServerVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
            .build()
            .map_err(|e| format!("trust anchors unusable: {e}"))?;
        let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now.unix_timestamp()).unwrap_or(0)));
        let recorder = Arc::new(Recorder { inner, at, seen: Mutex::new(None) });
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        let handshake = TlsConnector::from(Arc::new(config)).connect(name, stream).await;
        let seen = recorder.seen.lock().map_err(|_| "check state poisoned".to_owned())?.take();
        let Some((leaf, verdict)) = seen else {
            return Err(match handshake {
                Err(e) => format!("TLS handshake with {host}:{port} failed: {e}"),
                Ok(_) => format!("{host}:{port} presented no certificate"),
            });
        };
        let parsed = parse_der(&leaf, 1).map_err(|e| format!("the presented certificate is unreadable: {e}"))?;
        let error = match (verdict, handshake) {
            (Some(refusal), _) => describe(&refusal, host),
            (None, Err(e)) => Some(format!("TLS handshake with {host}:{port} failed: {e}")),
            (None, Ok(_)) => None,
        };
        Ok(TlsCheck {
            checked_at: now,
            not_after: Some(parsed.not_after),
            subject: Some(parsed.subject),
            issuer: Some(parsed.issuer),
            error,
        })
    }

    /// The addresses to try, all public unless private ones are allowed.
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("could not resolve {host}: {e}"))?
                .collect(),
        };
        // The address itself is not told: a check must not map someone's internal network.
        if !self.allow_private && addresses.iter().any(|a| !is_public(a.ip())) {
            return Err(format!(
                "{host} resolves to a private, loopback or link-local address, which may not be checked"
            ));
        }
        Ok(addresses)
    }
}

/// A refusal worth reporting; an expired or not-yet-valid leaf speaks through its dates.
fn describe(refusal: &rustls::Error, host: &str) -> Option<String> {
    match refusal {
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => None,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Some(format!("the certificate is not valid for {host}")),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            Some("the certificate is not issued by a trusted authority".into())
        }
        other => Some(format!("the certificate was refused: {other}")),
    }
}

/// Verifies as the web PKI would, at the service's clock, and remembers the leaf and the verdict
/// instead of aborting: the check reports what it saw even when the chain is refused. Signatures
/// are still verified, and nothing is ever sent over the connection.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    at: UnixTime,
    seen: Mutex<Option<(Vec<u8>, Option<rustls::Error>)>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict =
            self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, self.at).err();
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((end_entity.to_vec(), verdict));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.10",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "2001:db8::1",
            "64:ff9b::a00:5",
            "64:ff9b:1::1",
            "2002:a00:1::1",
            "2001::1",
            "2001:10::1",
            "fec0::1",
            "100::1",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "192.88.99.1",
        ] {
            assert!(!is_public(private.parse().unwrap_or_else(|e| panic!("{private}: {e}"))), "{private}");
        }
        for public in [
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(is_public(public.parse().unwrap_or_else(|e| panic!("{public}: {e}"))), "{public}");
        }
    }
}
