//! Argon2id hashing, off the async executor on a few dedicated threads, so a burst of logins
//! can neither starve the threads that serve everything else nor grow memory: each hash
//! needs 19 MiB, and each hashing thread reuses one buffer for every hash it computes, so
//! the number of hashing threads (not the number of logins) bounds memory.
//!
//! The queue in front of the threads is bounded too: when it is full a login is answered
//! 503 at once instead of waiting behind a flood (which kept logins slow long after the flood
//! ended), and a job whose request has gone (timed out, client disconnected) is skipped.
use std::cell::RefCell;
use std::sync::mpsc::{self, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::{OsRng, RngCore as _};
use argon2::password_hash::{Output, PasswordHash, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;
use tokio::sync::{oneshot, OnceCell};

use crate::secret::Secret;

/// OWASP's Argon2id recommendation: 19 MiB of memory, 2 passes, 1 lane.
fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).expect("constant Argon2 parameters are valid")
}

thread_local! {
    /// This hashing thread's Argon2 working memory. Allocating 19 MiB per hash made glibc
    /// raise its mmap threshold and keep up to ~57 MiB of freed arena per thread; one
    /// buffer allocated once stays at 19 MiB (bench/README.md, finding 3).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2id of `pwd` with `params` into `out`. Hashes with our own parameters use the
/// thread's buffer; others (hashes stored under older parameters) allocate their own.
fn argon2id_into(
    params: Params,
    pwd: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = params.block_count();
    let ours = blocks == self::params().block_count();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    if !ours {
        return argon.hash_password_into(pwd, salt, out);
    }
    BLOCKS.with_borrow_mut(|memory| {
        if memory.len() != blocks {
            *memory = vec![Block::new(); blocks];
        }
        argon.hash_password_into_with_memory(pwd, salt, out, &mut memory[..])
    })
}

/// A new PHC string (`$argon2id$v=19$m=...`) for `pwd` with a fresh 128-bit salt.
fn hash_phc(pwd: &[u8]) -> anyhow::Result<String> {
    let mut salt_bytes = [0u8; 16];
    OsRng.fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| anyhow::anyhow!("argon2 salt encoding failed: {e}"))?;
    let params = params();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2id_into(params.clone(), pwd, &salt_bytes, &mut out)
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: params
            .try_into()
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("argon2 output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `pwd` matches the stored PHC string; anything unparsable matches nothing.
fn verify_phc(pwd: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let argon2id_v13 = parsed.algorithm == argon2::ARGON2ID_IDENT
        && parsed
            .version
            .is_none_or(|v| v == u32::from(Version::V0x13));
    if !argon2id_v13 {
        // Other Argon2 variants verify the generic (allocating) way.
        return Argon2::default().verify_password(pwd, &parsed).is_ok();
    }
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    argon2id_into(params, pwd, salt, &mut out).is_ok()
        && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

type Job = Box<dyn FnOnce() + Send>;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing thread is busy and the queue is full: ask the client to retry shortly.
    #[error("password hashing is saturated")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Threads that hash: half the cores, leaving the rest for serving pages while passwords are
/// hashed.
pub fn hashing_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).max(1)
}

/// The default queue length (`NEWSREAD_PASSWORD_QUEUE`): a few hashes per thread, i.e. a
/// wait of a fraction of a second at most before a hash starts.
pub fn default_queue() -> u32 {
    u32::try_from(4 * hashing_threads()).unwrap_or(u32::MAX)
}

#[derive(Clone)]
pub struct Passwords {
    jobs: mpsc::SyncSender<Job>,
    /// A real hash to verify against when the account does not exist, so a wrong username
    /// takes as long as a wrong password.
    dummy: Arc<OnceCell<String>>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

impl Passwords {
    /// Hashing threads with the default queue length.
    pub fn new() -> Self {
        Self::with_queue(default_queue() as usize)
    }

    /// Hashing threads with at most `queue` jobs waiting for one (at least one).
    pub fn with_queue(queue: usize) -> Self {
        Self::start(hashing_threads(), queue.max(1))
    }

    fn start(threads: usize, queue: usize) -> Self {
        let (jobs, waiting) = mpsc::sync_channel::<Job>(queue);
        let waiting = Arc::new(Mutex::new(waiting));
        for i in 0..threads {
            let waiting = waiting.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job, not while hashing.
                    let next = waiting.lock().map(|q| q.recv());
                    match next {
                        Ok(Ok(job)) => job(),
                        _ => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self {
            jobs,
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// Runs `job` on a hashing thread, or fails at once with [`PasswordError::Busy`] when the
    /// queue is full. If the caller stops waiting (its request timed out or its client went
    /// away), the job is skipped when its turn comes.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (tx, rx) = oneshot::channel();
        let queued = self.jobs.try_send(Box::new(move || {
            if tx.is_closed() {
                tracing::debug!("password job skipped: its request has gone");
                return;
            }
            let _ = tx.send(job());
        }));
        match queued {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(PasswordError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(anyhow::anyhow!("password hashing threads are gone").into())
            }
        }
        rx.await
            .map_err(|_| anyhow::anyhow!("a password hashing thread dropped a job").into())
    }

    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = Secret::new(password.to_owned());
        Ok(self
            .run(move || hash_phc(password.expose().as_bytes()))
            .await??)
    }

    /// Checks a password against a stored hash, or against a dummy when there is none.
    pub async fn verify(
        &self,
        password: &str,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let (stored, real) = match stored {
            Some(h) => (h, true),
            None => (
                self.dummy
                    .get_or_try_init(|| self.hash("not-a-real-password"))
                    .await?
                    .clone(),
                false,
            ),
        };
        let password = Secret::new(password.to_owned());
        let ok = self
            .run(move || verify_phc(password.expose().as_bytes(), &stored))
            .await?;
        Ok(ok && real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn hashes_are_salted_argon2id_and_verify() {
        let p = Passwords::new();
        let a = p.hash("correct horse").await.unwrap();
        let b = p.hash("correct horse").await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(p.verify("correct horse", Some(a.clone())).await.unwrap());
        assert!(!p.verify("wrong horse", Some(a)).await.unwrap());
        assert!(!p.verify("not-a-real-password", None).await.unwrap());
        assert!(!p.verify("x", Some("garbage".into())).await.unwrap());
    }

    /// A job that holds the only hashing thread until `release` is sent.
    fn occupy(p: &Passwords) -> std::sync::mpsc::Sender<()> {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let queued = p.jobs.try_send(Box::new(move || {
            let _ = started_tx.send(());
            let _ = wait.recv();
        }));
        assert!(queued.is_ok());
        started.recv().expect("the blocking job started");
        release
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_and_abandoned_jobs_are_skipped() {
        let p = Passwords::start(1, 2);
        let release = occupy(&p);
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let job = |ran: &Arc<std::sync::atomic::AtomicUsize>| {
            let ran = ran.clone();
            move || {
                ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        };
        // Two jobs fill the queue; their requests then go away (futures dropped) while
        // they wait.
        let mut waiting: Vec<_> = (0..2).map(|_| Box::pin(p.run(job(&ran)))).collect();
        for w in &mut waiting {
            assert!(
                futures_util::poll!(w.as_mut()).is_pending(),
                "queued behind the busy thread"
            );
        }
        // A third is refused at once: no waiting behind the flood.
        assert!(matches!(p.run(job(&ran)).await, Err(PasswordError::Busy)));
        drop(waiting);
        release.send(()).unwrap();
        // The next job runs only after the abandoned ones were taken off the queue (it may
        // be refused until the thread has made room).
        loop {
            match p.run(|| ()).await {
                Ok(()) => break,
                Err(PasswordError::Busy) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            ran.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "abandoned jobs were hashed"
        );
        assert!(p.verify("x", None).await.is_ok(), "still serving");
    }

    #[test]
    fn hashes_interoperate_with_the_reference_implementation() {
        use argon2::password_hash::PasswordHasher as _;
        // Ours verifies with the argon2 crate's own verifier...
        let ours = hash_phc(b"tr0ub4dor&3").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"tr0ub4dor&3", &parsed)
            .is_ok());
        // ...and hashes made by it (other parameters too) verify with ours, on a thread
        // whose buffer has already been used for a different hash.
        let salt = SaltString::generate(&mut OsRng);
        for p in [params(), Params::new(8 * 1024, 3, 1, None).unwrap()] {
            let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
                .hash_password(b"tr0ub4dor&3", &salt)
                .unwrap()
                .to_string();
            assert!(verify_phc(b"tr0ub4dor&3", &theirs), "{theirs}");
            assert!(!verify_phc(b"tr0ub4dor&4", &theirs), "{theirs}");
        }
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params())
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert!(verify_phc(b"pw", &argon2i));
        assert!(!verify_phc(b"pw2", &argon2i));
    }
}
