//! Tenantry's certificate side: PEM bundles and X.509 certificates read into the facts the
//! inventory keeps. It knows nothing of HTTP or SQL. (TLS expiry checks and their scheduler join it
//! with the monitoring work.)

pub mod pem;

pub use pem::{ParsedCertificate, PemError, certificate_blocks, parse_bundle};
