//! Tenantry's certificate side: PEM bundles and X.509 certificates read into the facts the
//! inventory keeps, TLS expiry checks by a real handshake, and the scheduler that leases due
//! targets. It knows nothing of HTTP.

pub mod pem;
pub mod scheduler;
pub mod testing;
pub mod tls;

pub use pem::{ParsedCertificate, PemError, certificate_blocks, parse_bundle};
pub use scheduler::Scheduler;
pub use tls::{Checker, is_public};
