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
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
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
        let reply = client
            .post(&url)
            .header("authorization", format!("Agent {}", options.token))
            .json(&json!({ "hostname": hostname, "certificates": certificates }))
            .send()
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("the server refused the report ({status}): {text}"));
        }
        println!("reported {} certificate(s) from {}", certificates.len(), hostname);
        match options.interval {
            Some(every) => tokio::time::sleep(every).await,
            None => return Ok(certificates.len()),
        }
    }
}
