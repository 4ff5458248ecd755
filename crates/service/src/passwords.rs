//! Password hashing with argon2id, always off the async workers, on a few threads of its own.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use domain::Password;

use crate::ServiceError;

type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords (argon2id PHC strings) on `concurrency` dedicated threads.
///
/// Each argon2id computation holds 19 MiB and a whole core for ~30 ms. Running them on a
/// fixed set of threads bounds both: an unbounded burst of sign-ins can neither take every core
/// from the requests that do not hash, nor spread 19 MiB allocations over the blocking pool's
/// many threads (the allocator keeps freed memory per thread, so that used to grow the process
/// by 19 MiB per thread that ever hashed). Each thread also keeps its argon2 memory from one
/// computation to the next instead of allocating 19 MiB every time. Requests beyond
/// `concurrency` wait in a queue of at most `queue` (then the request is refused at once with
/// `Busy`, without hashing, instead of making every sign-in wait behind a flood), and a queued
/// computation whose request has gone (the client disconnected) is skipped. The default leaves
/// one core to everything else.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    jobs: Sender<Job>,
    /// Computations queued or running, and how many may be.
    pending: Arc<AtomicUsize>,
    capacity: usize,
    counts: Arc<HashCounters>,
    /// A hash of a random password, verified against when the account does not exist, so an
    /// unknown email costs the same time as a wrong password.
    decoy: Arc<String>,
}

impl PasswordHasher {
    /// argon2id with m = 19456 KiB, t = 2, p = 1 (the OWASP minimum the contract asks for).
    pub fn production() -> Result<Self, ServiceError> {
        Self::with_params(
            Params::DEFAULT_M_COST,
            Params::DEFAULT_T_COST,
            Params::DEFAULT_P_COST,
        )
    }

    /// The default number of hashing threads: one core fewer than the machine has (at least 1).
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(1)
            .max(1)
    }

    /// The default queue: eight waiting computations per hashing thread (at ~30 ms each, a
    /// quarter of a second of waiting at most).
    pub fn default_queue(concurrency: usize) -> usize {
        8 * concurrency.max(1)
    }

    /// Runs the computations on `concurrency` threads (at least 1) instead of the default, with
    /// the default queue for that many.
    pub fn with_concurrency(mut self, concurrency: usize) -> Result<Self, ServiceError> {
        self.jobs = start_workers(concurrency)?;
        self.capacity = concurrency.max(1) + Self::default_queue(concurrency);
        Ok(self)
    }

    /// At most `queue` computations wait for a thread (at least 1), besides those running on
    /// `concurrency` threads; call after [`with_concurrency`](Self::with_concurrency).
    pub fn with_queue(mut self, concurrency: usize, queue: usize) -> Self {
        self.capacity = concurrency.max(1) + queue.max(1);
        self
    }

    /// Custom cost parameters (memory in KiB, iterations, lanes).
    pub fn with_params(m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self, ServiceError> {
        let params = Params::new(m_cost, t_cost, p_cost, None)
            .map_err(|e| ServiceError::internal("argon2 parameters", e.to_string()))?;
        let mut random = [0u8; 32];
        getrandom::fill(&mut random)
            .map_err(|e| ServiceError::internal("randomness", e.to_string()))?;
        let concurrency = Self::default_concurrency();
        let jobs = start_workers(concurrency)?;
        // The decoy is hashed on a hashing thread too, so no other thread keeps argon2 memory.
        let (done, result) = std::sync::mpsc::channel();
        let decoy_params = params.clone();
        jobs.send(Box::new(move || {
            let _ = done.send(hash_with(&decoy_params, &random));
        }))
        .map_err(|_| ServiceError::internal("password hashing", "no hashing thread runs"))?;
        let decoy = result
            .recv()
            .map_err(|_| ServiceError::internal("password hashing", "the decoy failed"))??;
        Ok(Self {
            params,
            jobs,
            pending: Arc::new(AtomicUsize::new(0)),
            capacity: concurrency + Self::default_queue(concurrency),
            counts: Arc::default(),
            decoy: Arc::new(decoy),
        })
    }

    /// Hashes a password.
    pub async fn hash(&self, password: &Password) -> Result<String, ServiceError> {
        let params = self.params.clone();
        let plain = password.expose().as_bytes().to_vec();
        self.run(move || hash_with(&params, &plain)).await?
    }

    /// Verifies `plain` against a stored hash, or against the decoy when there is none.
    /// Always costs one argon2 computation.
    pub async fn verify(&self, plain: &str, stored: Option<&str>) -> Result<bool, ServiceError> {
        let (hash, real) = match stored {
            Some(h) => (h.to_owned(), true),
            None => (self.decoy.as_str().to_owned(), false),
        };
        let plain = plain.as_bytes().to_vec();
        let matched = self.run(move || verify_with(&plain, &hash)).await?;
        Ok(real && matched)
    }

    /// Queues `work` for a hashing thread and waits for its result; refuses with `Busy` when
    /// the queue is full. A request dropped while waiting makes its job a no-op.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let Some(slot) = Slot::take(&self.pending, self.capacity) else {
            self.counts.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ServiceError::Busy {
                retry_after_secs: 1,
            });
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let counts = Arc::clone(&self.counts);
        let job: Job = Box::new(move || {
            if done.is_closed() {
                counts.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            counts.computed.fetch_add(1, Ordering::Relaxed);
            let output = work();
            // The place is free before the caller hears back (a panic frees it too).
            drop(slot);
            let _ = done.send(output);
        });
        self.jobs
            .send(job)
            .map_err(|_| ServiceError::internal("password hashing", "no hashing thread runs"))?;
        result
            .await
            .map_err(|_| ServiceError::internal("password hashing", "the computation failed"))
    }
}

impl PasswordHasher {
    /// What the hasher has done since start, and what is queued or running now.
    pub fn stats(&self) -> HashStats {
        HashStats {
            computed: self.counts.computed.load(Ordering::Relaxed),
            skipped: self.counts.skipped.load(Ordering::Relaxed),
            refused: self.counts.refused.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed) as u64,
        }
    }
}

#[derive(Debug, Default)]
struct HashCounters {
    computed: AtomicU64,
    skipped: AtomicU64,
    refused: AtomicU64,
}

/// Password hashing since start: computations run, skipped (their request had gone), refused
/// (the queue was full), and those queued or running now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashStats {
    pub computed: u64,
    pub skipped: u64,
    pub refused: u64,
    pub pending: u64,
}

/// One place in the hashing queue, given back when the job ends (run, skipped or panicked).
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(pending: &Arc<AtomicUsize>, capacity: usize) -> Option<Self> {
        pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < capacity).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(pending)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Starts `count` hashing threads sharing one queue. They end when every sender is dropped.
fn start_workers(count: usize) -> Result<Sender<Job>, ServiceError> {
    let (jobs, queue) = channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..count.max(1) {
        let queue = Arc::clone(&queue);
        std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || work(&queue))
            .map_err(|e| ServiceError::internal("password hashing thread", e))?;
    }
    Ok(jobs)
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let next = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        // A panicking computation drops its result sender (the caller gets an error); the
        // thread lives on for the next job.
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

thread_local! {
    /// The argon2 memory of this hashing thread, kept between computations.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `blocks` KiB of this thread's argon2 memory (grown once, then reused).
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        f(&mut memory[..blocks])
    })
}

/// An argon2id PHC string for `plain` with a fresh 16-byte salt.
fn hash_with(params: &Params, plain: &[u8]) -> Result<String, ServiceError> {
    let fail =
        |e: &dyn std::fmt::Display| ServiceError::internal("password hashing", e.to_string());
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| fail(&e))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; 32];
    with_memory(params.block_count(), |memory| {
        argon.hash_password_into_with_memory(plain, &salt, &mut out, memory)
    })
    .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| fail(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| fail(&e))?),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `plain` matches the PHC string `stored` (any argon2 variant, version and cost the
/// string names); the outputs are compared in constant time.
fn verify_with(plain: &[u8], stored: &str) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let computed = with_memory(params.block_count(), |memory| {
        argon.hash_password_into_with_memory(plain, salt.as_ref(), &mut out, memory)
    });
    computed.is_ok() && Output::new(&out).is_ok_and(|actual| actual == *expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        // Small parameters: the tests check the plumbing, not the cost.
        PasswordHasher::with_params(64, 1, 1)
            .and_then(|h| h.with_concurrency(2))
            .unwrap_or_else(|e| panic!("hasher: {e}"))
            .with_queue(2, 64)
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let hasher = cheap();
        let password = Password::parse("correct horse battery").unwrap_or_else(|e| panic!("{e}"));
        let hash = hasher.hash(&password).await.unwrap_or_default();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(matches!(
            hasher.verify("correct horse battery", Some(&hash)).await,
            Ok(true)
        ));
        assert!(matches!(
            hasher.verify("wrong", Some(&hash)).await,
            Ok(false)
        ));
        assert!(matches!(hasher.verify("anything", None).await, Ok(false)));
        assert!(matches!(
            hasher.verify("x", Some("not a hash")).await,
            Ok(false)
        ));
        // Hashes made elsewhere (the argon2 crate's own hasher, other costs) verify as well.
        use argon2::password_hash::PasswordHasher as _;
        let foreign = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32, 2, 1, None).unwrap_or_else(|e| panic!("{e}")),
        )
        .hash_password(b"other secret")
        .map(|h| h.to_string())
        .unwrap_or_default();
        assert!(matches!(
            hasher.verify("other secret", Some(&foreign)).await,
            Ok(true)
        ));
        assert!(matches!(
            hasher.verify("other", Some(&foreign)).await,
            Ok(false)
        ));
    }

    #[tokio::test]
    async fn many_concurrent_verifications_all_answer() {
        let hasher = cheap();
        let password = Password::parse("correct horse battery").unwrap_or_else(|e| panic!("{e}"));
        let hash = hasher.hash(&password).await.unwrap_or_default();
        let checks = (0..32).map(|i| {
            let hasher = hasher.clone();
            let hash = hash.clone();
            async move {
                let guess = if i % 2 == 0 {
                    "correct horse battery"
                } else {
                    "nope"
                };
                hasher.verify(guess, Some(&hash)).await
            }
        });
        let results = futures_join(checks).await;
        assert_eq!(results.iter().filter(|r| matches!(r, Ok(true))).count(), 16);
        assert_eq!(
            results.iter().filter(|r| matches!(r, Ok(false))).count(),
            16
        );
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_gives_its_places_back() {
        // Real cost (about 30 ms a hash), one thread, room for one waiting hash.
        let hasher = PasswordHasher::production()
            .and_then(|h| h.with_concurrency(1))
            .unwrap_or_else(|e| panic!("hasher: {e}"))
            .with_queue(1, 1);
        let checks = (0..8).map(|_| {
            let hasher = hasher.clone();
            async move { hasher.verify("guess", None).await }
        });
        let results = futures_join(checks).await;
        let busy = results
            .iter()
            .filter(|r| matches!(r, Err(ServiceError::Busy { .. })))
            .count();
        assert!(busy >= 5, "{busy} of 8 refused with room for 2");
        let answered = results.iter().filter(|r| matches!(r, Ok(false))).count();
        assert_eq!(answered, 8 - busy, "the others were verified");
        let stats = hasher.stats();
        assert_eq!(stats.refused, busy as u64);
        assert_eq!(stats.pending, 0, "every place was given back");
        assert!(matches!(hasher.verify("guess", None).await, Ok(false)));
    }

    async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for handle in handles {
            if let Ok(v) = handle.await {
                out.push(v);
            }
        }
        out
    }
}
