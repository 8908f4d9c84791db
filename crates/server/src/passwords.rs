//! Password hashing on a fixed pool of argon2id workers (OWASP: 19 MiB, 2 passes, 1 lane), off the
//! async runtime. Each worker owns its 19 MiB of argon2 memory and reuses it for every hash, so
//! memory stays bounded under any sign-in load; a request that would wait longer than
//! `max_wait` for a worker answers `overloaded` before any hash. An unknown user is verified
//! against a dummy hash, so it costs the same as a wrong password.

use crate::error::ApiError;
use crate::secrets::{constant_time_eq, random_token};
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// OWASP's argon2id parameters.
fn owasp_params() -> Result<Params, ApiError> {
    Params::new(19 * 1024, 2, 1, Some(32)).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The most argon2 memory a stored hash may ask for (4 × OWASP's 19 MiB), in KiB.
const MAX_MEMORY_KIB: u32 = 4 * 19 * 1024;

/// How the pool is sized.
#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    /// Hashes that run at once (about the core count).
    pub workers: usize,
    /// The longest a request waits for a worker before it answers `overloaded`.
    pub max_wait: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        Self { workers: cores.clamp(1, 16), max_wait: Duration::from_secs(3) }
    }
}

/// One unit of work for a worker, given the worker's argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Hashes and verifies passwords on the worker pool; cheap to clone.
#[derive(Clone)]
pub struct Passwords(Arc<Pool>);

struct Pool {
    jobs: Mutex<Option<SyncSender<(Job, OwnedSemaphorePermit)>>>,
    slots: Arc<Semaphore>,
    settings: PoolSettings,
    /// Requests waiting for a worker right now.
    waiting: AtomicUsize,
    /// A moving average of one hash's duration, in microseconds.
    mean_micros: AtomicU64,
    dummy_hash: String,
    verifications: AtomicU64,
    hashes: AtomicU64,
    overloaded: AtomicU64,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue lets the workers finish and free their memory.
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
    }
}

impl Passwords {
    /// Starts the workers and prepares the dummy hash that unknown users are verified against.
    pub fn new(settings: PoolSettings) -> Result<Self, ApiError> {
        let workers = settings.workers.max(1);
        let (sender, receiver) = std::sync::mpsc::sync_channel::<(Job, OwnedSemaphorePermit)>(workers);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || work(&receiver))
                .map_err(|e| ApiError::Internal(format!("cannot start a hashing worker: {e}")))?;
        }
        let dummy_hash = Self::hash_blocking(&random_token()?)?;
        Ok(Self(Arc::new(Pool {
            jobs: Mutex::new(Some(sender)),
            slots: Arc::new(Semaphore::new(workers)),
            settings: PoolSettings { workers, ..settings },
            waiting: AtomicUsize::new(0),
            mean_micros: AtomicU64::new(0),
            dummy_hash,
            verifications: AtomicU64::new(0),
            hashes: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
        })))
    }

    /// Hashes on the calling thread with memory of its own: for benchmarks (the raw argon2
    /// rate) and one-off commands.
    pub fn hash_blocking(password: &str) -> Result<String, ApiError> {
        hash_with(&mut Vec::new(), password.as_bytes())
    }

    /// Verifies on the calling thread with memory of its own: for benchmarks.
    pub fn verify_blocking(password: &str, hash: &str) -> bool {
        verify_with(&mut Vec::new(), password.as_bytes(), hash)
    }

    /// How many password verifications ran (served in `/metrics`).
    pub fn verifications(&self) -> u64 {
        self.0.verifications.load(Ordering::Relaxed)
    }

    /// How many new passwords were hashed (served in `/metrics`).
    pub fn hashes(&self) -> u64 {
        self.0.hashes.load(Ordering::Relaxed)
    }

    /// How many requests were turned away for want of a worker (served in `/metrics`).
    pub fn overloaded(&self) -> u64 {
        self.0.overloaded.load(Ordering::Relaxed)
    }

    /// A worker slot, or `overloaded` when the wait would be (or turns out) longer than
    /// `max_wait`. Nothing has been hashed when this refuses.
    pub async fn slot(&self) -> Result<Slot, ApiError> {
        let pool = &self.0;
        let refuse = || {
            pool.overloaded.fetch_add(1, Ordering::Relaxed);
            ApiError::Overloaded { retry_after_secs: pool.settings.max_wait.as_secs().max(1) }
        };
        // Those already waiting go first: when they alone would take longer than the longest
        // wait, waiting is pointless.
        let ahead = u32::try_from(pool.waiting.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
        let mean = Duration::from_micros(pool.mean_micros.load(Ordering::Relaxed));
        let workers = u32::try_from(pool.settings.workers).unwrap_or(1);
        let expected_wait = mean.saturating_mul(ahead.saturating_add(1)) / workers;
        if pool.slots.available_permits() == 0 && expected_wait > pool.settings.max_wait {
            return Err(refuse());
        }
        let permit = {
            // Counted while waiting, also when the request is dropped meanwhile.
            let _waiting = Waiting::new(&pool.waiting);
            tokio::time::timeout(pool.settings.max_wait, pool.slots.clone().acquire_owned()).await
        };
        match permit {
            Ok(Ok(permit)) => Ok(Slot { pool: self.0.clone(), permit }),
            Ok(Err(_)) => Err(ApiError::Internal("the hashing pool is closed".into())),
            Err(_) => Err(refuse()),
        }
    }

    /// Hashes a new password (waiting for a slot first).
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        self.slot().await?.hash(password).await
    }

    /// Verifies `password` against `hash` (waiting for a slot first); see [`Slot::verify`].
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        self.slot().await?.verify(password, hash).await
    }
}

/// One request waiting for a worker, for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A reserved worker: the hash it runs starts at once.
pub struct Slot {
    pool: Arc<Pool>,
    permit: OwnedSemaphorePermit,
}

impl Slot {
    /// Runs `job` on a worker, which keeps the slot until the job is done (even when the request
    /// that asked is gone).
    async fn run<T: Send + 'static>(
        self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let pool = self.pool.clone();
        let job: Job = Box::new(move |memory| {
            let started = Instant::now();
            let _ = reply.send(job(memory));
            let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            let old = pool.mean_micros.load(Ordering::Relaxed);
            let mean = if old == 0 { took } else { (old * 7 + took) / 8 };
            pool.mean_micros.store(mean, Ordering::Relaxed);
        });
        let sender = self.pool.jobs.lock().ok().and_then(|jobs| jobs.clone());
        let sender = sender.ok_or_else(|| ApiError::Internal("the hashing pool is closed".into()))?;
        // Never blocks: there are as many queue places as slots.
        sender.try_send((job, self.permit)).map_err(|_| ApiError::Internal("the hashing queue is full".into()))?;
        answer.await.map_err(|_| ApiError::Internal("a hashing worker stopped".into()))
    }

    pub async fn hash(self, password: &str) -> Result<String, ApiError> {
        self.pool.hashes.fetch_add(1, Ordering::Relaxed);
        let password = password.to_owned();
        self.run(move |memory| hash_with(memory, password.as_bytes())).await?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is none, so that
    /// unknown users and users without a password cost as much as a wrong password.
    pub async fn verify(self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        self.pool.verifications.fetch_add(1, Ordering::Relaxed);
        let password = password.to_owned();
        let (target, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.pool.dummy_hash.clone(), false),
        };
        let ok = self.run(move |memory| verify_with(memory, password.as_bytes(), &target)).await?;
        Ok(ok && real)
    }
}

/// A worker: takes jobs until the queue closes.
fn work(jobs: &Mutex<Receiver<(Job, OwnedSemaphorePermit)>>) {
    let mut memory = Vec::new();
    loop {
        let next = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok((job, permit)) = next else { return };
        job(&mut memory);
        drop(permit);
    }
}

/// The first `blocks` of `memory`, grown once to that size and then reused.
fn blocks(memory: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    &mut memory[..blocks]
}

fn hash_with(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, ApiError> {
    let params = owasp_params()?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let mut out = [0u8; 32];
    let count = params.block_count();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, &salt, &mut out, blocks(memory, count))
        .map_err(|e| ApiError::Internal(format!("hashing failed: {e}")))?;
    let failed = |e: argon2::password_hash::phc::Error| ApiError::Internal(format!("hash encoding failed: {e}"));
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| ApiError::Internal(e.to_string()))?,
        salt: Some(Salt::new(&salt).map_err(failed)?),
        hash: Some(Output::new(&out).map_err(failed)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the stored argon2id `hash`; any unreadable hash never matches.
fn verify_with(memory: &mut Vec<Block>, password: &[u8], hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    if parsed.algorithm != ARGON2ID_IDENT {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) = (Params::try_from(&parsed), parsed.salt, parsed.hash) else {
        return false;
    };
    // Stored hashes are ours; one claiming far more memory than ours is not honoured.
    if params.m_cost() > MAX_MEMORY_KIB || params.t_cost() > 16 || params.p_cost() > 4 {
        return false;
    }
    let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else { return false };
    let mut out = vec![0u8; expected.len()];
    let count = params.block_count();
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, blocks(memory, count))
        .is_ok()
        && constant_time_eq(&out, expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    fn pool(workers: usize, max_wait: Duration) -> Passwords {
        Passwords::new(PoolSettings { workers, max_wait }).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn a_password_verifies_only_against_its_own_hash() -> Result<(), ApiError> {
        let passwords = pool(2, Duration::from_secs(5));
        let hash = passwords.hash("correct horse battery").await?;
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(passwords.verify("correct horse battery", Some(&hash)).await?);
        assert!(!passwords.verify("wrong horse battery", Some(&hash)).await?);
        Ok(())
    }

    #[tokio::test]
    async fn hashes_are_standard_phc_strings_both_ways() -> Result<(), ApiError> {
        let passwords = pool(1, Duration::from_secs(5));
        // Ours verify with the crate's own verifier, and the crate's verify with ours.
        let ours = passwords.hash("a standard phc string").await?;
        let parsed = PasswordHash::new(&ours).map_err(|e| ApiError::Internal(e.to_string()))?;
        assert!(Argon2::default().verify_password(b"a standard phc string", &parsed).is_ok());
        let theirs = {
            use argon2::password_hash::PasswordHasher;
            Argon2::new(Algorithm::Argon2id, Version::V0x13, owasp_params()?)
                .hash_password(b"hashed elsewhere")
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .to_string()
        };
        assert!(passwords.verify("hashed elsewhere", Some(&theirs)).await?);
        assert!(!passwords.verify("hashed elsewhere", Some("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA")).await?);
        Ok(())
    }

    #[tokio::test]
    async fn a_missing_hash_never_verifies_even_with_the_dummy_password() -> Result<(), ApiError> {
        let passwords = pool(1, Duration::from_secs(5));
        assert!(!passwords.verify("anything at all", None).await?);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_dropped_while_waiting_is_no_longer_counted_as_waiting() -> Result<(), ApiError> {
        let passwords = pool(1, Duration::from_secs(5));
        let busy = passwords.slot().await?;
        // Another request waits for the only worker, and its client goes away.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), passwords.slot()).await;
        assert!(gave_up.is_err());
        assert_eq!(passwords.0.waiting.load(Ordering::Relaxed), 0);
        drop(busy);
        assert!(passwords.verify("anything at all", None).await.is_ok_and(|ok| !ok));
        Ok(())
    }

    #[tokio::test]
    async fn a_stored_hash_asking_for_far_more_memory_is_not_honoured() -> Result<(), ApiError> {
        use argon2::password_hash::PasswordHasher;
        let passwords = pool(1, Duration::from_secs(5));
        let params = Params::new(MAX_MEMORY_KIB * 2, 1, 1, Some(32)).map_err(|e| ApiError::Internal(e.to_string()))?;
        let greedy = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"a greedy stored hash")
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .to_string();
        assert!(!passwords.verify("a greedy stored hash", Some(&greedy)).await?);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_pool_answers_overloaded_instead_of_queueing_without_end() -> Result<(), ApiError> {
        let passwords = pool(1, Duration::from_millis(1));
        let hash = passwords.hash("correct horse battery").await?;
        let attempts = (0..16).map(|_| {
            let (passwords, hash) = (passwords.clone(), hash.clone());
            tokio::spawn(async move { passwords.verify("correct horse battery", Some(&hash)).await })
        });
        let results = futures_util::future::join_all(attempts).await;
        let overloaded = results.iter().filter(|r| matches!(r, Ok(Err(ApiError::Overloaded { .. })))).count();
        let verified = results.iter().filter(|r| matches!(r, Ok(Ok(true)))).count();
        assert!(overloaded > 0, "one worker and a 1 ms wait must turn some of 16 away");
        assert!(verified > 0);
        assert_eq!(overloaded + verified, 16);
        assert_eq!(passwords.overloaded(), overloaded as u64);
        // Only those that got a worker were verified (one more: the hash above is not counted).
        assert_eq!(passwords.verifications(), verified as u64);
        Ok(())
    }
}
