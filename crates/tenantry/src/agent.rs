//! `tenantry agent`: finds certificates in PEM/CRT files under the given folders and reports them
//! to the server, once or on an interval. Only certificate blocks are ever sent, never keys.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// File endings that may hold certificates.
const ENDINGS: [&str; 4] = ["pem", "crt", "cer", "cert"];
/// Files larger than this are skipped.
const MAX_FILE: u64 = 1024 * 1024;

/// Where to report, as whom, and what to scan.
pub struct AgentOptions {
    pub server: String,
    pub token: String,
    pub folders: Vec<PathBuf>,
    pub interval: Option<Duration>,
}

/// Every certificate found below `folders`, as PEM blocks, without duplicates.
pub fn scan(folders: &[PathBuf]) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending: Vec<PathBuf> = folders.to_vec();
    while let Some(path) = pending.pop() {
        let Ok(link) = std::fs::symlink_metadata(&path) else { continue };
        // Files behind links are read (certbot's live/*/cert.pem are links); linked folders are not
        // followed, so a link cannot send the scan round in circles.
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() && !link.file_type().is_symlink() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.filter_map(Result::ok).map(|e| e.path()));
            }
        } else if meta.is_file()
            && meta.len() <= MAX_FILE
            && has_certificate_ending(&path)
            && let Ok(bytes) = std::fs::read(&path)
        {
            found.extend(tenantry_monitor::certificate_blocks(&bytes));
        }
    }
    found.sort();
    found.dedup();
    found
}

fn has_certificate_ending(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| ENDINGS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Scans and reports, once or every `interval`; returns how many certificates the last report held.
pub async fn run(options: AgentOptions) -> Result<usize, String> {
    // One TLS stack: rustls with ring, for https servers.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().map_err(|e| e.to_string())?;
    let hostname = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "unknown-host".into());
    let url = format!("{}/api/v1/agent/report", options.server.trim_end_matches('/'));
    loop {
        let certificates = scan(&options.folders);
        let outcome = report(&client, &url, &options.token, &hostname, &certificates).await;
        match (outcome, options.interval) {
            (Ok(()), None) => return Ok(certificates.len()),
            (Err(e), None) => return Err(e),
            (Ok(()), Some(every)) => tokio::time::sleep(every).await,
            // On an interval, a failed round is logged and the next one tries again.
            (Err(e), Some(every)) => {
                eprintln!("{e}; trying again in {}s", every.as_secs());
                tokio::time::sleep(every).await;
            }
        }
    }
}

/// Sends the certificates in batches the server accepts (at most 500 and about 512 KiB each).
async fn report(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    hostname: &str,
    certificates: &[String],
) -> Result<(), String> {
    let mut batches: Vec<Vec<&String>> = vec![Vec::new()];
    let mut size = 0;
    for pem in certificates {
        let full = batches.last().is_some_and(|b| b.len() >= 500) || size + pem.len() > 512 * 1024;
        if full {
            batches.push(Vec::new());
            size = 0;
        }
        size += pem.len();
        if let Some(batch) = batches.last_mut() {
            batch.push(pem);
        }
    }
    for batch in batches {
        let reply = client
            .post(url)
            .header("authorization", format!("Agent {token}"))
            .json(&json!({ "hostname": hostname, "certificates": batch }))
            .send()
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        let status = reply.status();
        if !status.is_success() {
            let text = reply.text().await.unwrap_or_default();
            return Err(format!("the server refused the report ({status}): {text}"));
        }
    }
    println!("reported {} certificate(s) from {hostname}", certificates.len());
    Ok(())
}
