//! Argon2id hashing, off the async executor on a few dedicated threads, so a burst of logins
//! can neither starve the threads that serve everything else nor grow memory: each hash
//! takes 19 MiB, and the allocator keeps that per thread that ever hashed, so the number of
//! hashing threads (not the number of logins) bounds it.
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{oneshot, OnceCell};

use crate::config::Secret;

/// OWASP's Argon2id recommendation: 19 MiB of memory, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
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
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
        })
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
            .run(move || {
                PasswordHash::new(&stored)
                    .map(|parsed| {
                        argon2()
                            .verify_password(password.expose().as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
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
}
