//! A real TLS server on a local port, for tests and benchmarks of the checker: it presents the
//! chain it is given to every client and closes after the handshake.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Serves `chain` (leaf first, DER) with the PKCS#8 `key` on `127.0.0.1:0` until the runtime
/// ends; answers the address.
pub async fn serve_tls(chain: Vec<Vec<u8>>, key: Vec<u8>) -> std::io::Result<SocketAddr> {
    serve_tls_counted(chain, key).await.map(|(address, _)| address)
}

/// [`serve_tls`], also answering a count of the handshakes completed so far.
pub async fn serve_tls_counted(chain: Vec<Vec<u8>>, key: Vec<u8>) -> std::io::Result<(SocketAddr, Arc<AtomicUsize>)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = chain.into_iter().map(CertificateDer::from).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(std::io::Error::other)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counter = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
                }
            });
        }
    });
    Ok((address, handshakes))
}
