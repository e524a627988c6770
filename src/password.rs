//! Argon2id hashing, off the async executor on a few dedicated threads, so a burst of logins
//! can neither starve the threads that serve everything else nor grow memory: each hash
//! needs 19 MiB, and each hashing thread reuses one buffer for every hash it computes, so
//! the number of hashing threads (not the number of logins) bounds memory.
use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::{OsRng, RngCore as _};
use argon2::password_hash::{Output, PasswordHash, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;
use tokio::sync::{oneshot, OnceCell};

use crate::config::Secret;

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

#[derive(Clone)]
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
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
    pub fn new() -> Self {
        // Leave at least one core for serving pages while passwords are hashed.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..(cores / 2).max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job, not while hashing.
                    let next = queue.lock().map(|q| q.recv());
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

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(job());
            }))
            .map_err(|_| anyhow::anyhow!("password hashing threads are gone"))?;
        Ok(rx.await?)
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let password = Secret::new(password.to_owned());
        self.run(move || hash_phc(password.expose().as_bytes()))
            .await?
    }

    /// Checks a password against a stored hash, or against a dummy when there is none.
    pub async fn verify(&self, password: &str, stored: Option<String>) -> anyhow::Result<bool> {
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
