//! How a process reads the store's revision (see `SignInStore::revision`): SQLite counts its own
//! commits; PostgreSQL reads the database's number, one read shared by every caller that arrived
//! before it was sent.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

#[derive(Default)]
pub(crate) struct Revision {
    /// Write transactions this process committed.
    commits: AtomicU64,
    /// Callers that asked for the database's number so far.
    arrivals: AtomicU64,
    /// The latest read: how many callers had arrived when it was sent, and what it answered.
    latest: tokio::sync::Mutex<(u64, u64)>,
}

impl Revision {
    pub(crate) fn committed(&self) {
        self.commits.fetch_add(1, SeqCst);
    }

    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(SeqCst)
    }

    /// The number `read` answers, read after this call began: a read sent after this caller
    /// arrived serves it, so callers that arrive while one read is out share the next one.
    pub(crate) async fn shared<F, Fut>(&self, read: F) -> crate::Result<u64>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = crate::Result<u64>>,
    {
        let arrived = self.arrivals.fetch_add(1, SeqCst) + 1;
        let mut latest = self.latest.lock().await;
        if latest.0 >= arrived {
            return Ok(latest.1);
        }
        let sent = self.arrivals.load(SeqCst);
        let value = read().await?;
        *latest = (sent, value);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_caller_is_answered_by_a_read_sent_after_it_arrived() {
        let revision = Revision::default();
        let source = AtomicU64::new(1);
        let read = || async { Ok(source.load(SeqCst)) };
        assert_eq!(revision.shared(read).await.ok(), Some(1));
        source.store(2, SeqCst);
        assert_eq!(revision.shared(read).await.ok(), Some(2), "an earlier read never answers a later caller");
    }

    #[tokio::test]
    async fn callers_arriving_together_share_reads() {
        let revision = Arc::new(Revision::default());
        let reads = Arc::new(AtomicU64::new(0));
        let callers: Vec<_> = (0..32)
            .map(|_| {
                let (revision, reads) = (revision.clone(), reads.clone());
                tokio::spawn(async move {
                    revision
                        .shared(|| async {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            Ok(reads.fetch_add(1, SeqCst))
                        })
                        .await
                })
            })
            .collect();
        for caller in callers {
            assert!(matches!(caller.await, Ok(Ok(_))));
        }
        assert!(reads.load(SeqCst) < 8, "32 callers took {} reads", reads.load(SeqCst));
    }
}
