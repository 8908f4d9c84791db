//! The scheduler: every process leases a batch of due targets, checks them a few at a time and
//! stores what it found. Leases make each due target the work of exactly one process, however
//! many share the database.

use crate::tls::Checker;
use std::sync::Arc;
use tenantry_domain::Clock;
use tenantry_store::{LeasedTarget, Store};
use time::Duration;
use tokio::task::JoinSet;

/// Re-checks due targets in the background.
#[derive(Clone)]
pub struct Scheduler {
    pub store: Store,
    pub checker: Arc<Checker>,
    pub clock: Arc<dyn Clock>,
    /// This process's name on its leases.
    pub owner: String,
    /// How long after a check the target is due again.
    pub interval: Duration,
    /// How many targets one round leases.
    pub batch: u32,
    /// How many checks run at once.
    pub concurrency: usize,
}

impl Scheduler {
    /// How long a lease lasts: long enough for a whole batch of timed-out checks, twice over.
    fn lease(&self) -> Duration {
        let rounds = self.batch.div_ceil(u32::try_from(self.concurrency.max(1)).unwrap_or(u32::MAX));
        let worst = self.checker.timeout().saturating_mul(rounds.saturating_mul(2));
        Duration::minutes(10).max(Duration::try_from(worst).unwrap_or(Duration::minutes(10)))
    }

    /// One round: leases due targets, checks them and stores the results; answers how many were
    /// checked and stored.
    pub async fn run_once(&self) -> Result<usize, tenantry_store::StoreError> {
        let lease_until = self.clock.now() + self.lease();
        let leased = self.store.lease_due_targets(&self.owner, lease_until, self.batch).await?;
        let mut pending = leased.into_iter();
        let mut running = JoinSet::new();
        let mut stored = 0;
        loop {
            while running.len() < self.concurrency.max(1) {
                let Some(target) = pending.next() else { break };
                let this = self.clone();
                running.spawn(async move { this.check_one(target).await });
            }
            match running.join_next().await {
                Some(Ok(Ok(true))) => stored += 1,
                Some(Ok(Ok(false))) => {}
                Some(Ok(Err(e))) => tracing::warn!(error = %e, "storing a scheduled check failed"),
                Some(Err(e)) => tracing::warn!(error = %e, "a scheduled check stopped"),
                None => break,
            }
        }
        Ok(stored)
    }

    async fn check_one(&self, target: LeasedTarget) -> Result<bool, tenantry_store::StoreError> {
        let check = self.checker.check(&target.hostname, target.port, self.clock.now()).await;
        let next = check.checked_at + self.interval;
        self.store.complete_lease(&self.owner, &target, check, next).await
    }

    /// Runs rounds every `every` until the process ends; a round that finds a full batch goes on
    /// at once.
    pub async fn run(self, every: std::time::Duration) {
        loop {
            match self.run_once().await {
                Ok(n) if n >= self.batch as usize => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "leasing due targets failed"),
            }
            tokio::time::sleep(every).await;
        }
    }
}
