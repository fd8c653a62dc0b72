//! Password hashing (argon2id, run off the async executor, at most a few at once process-wide) and
//! the strength rule.

use crate::error::{ApiError, ApiResult};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Hash a password to a PHC string (argon2id, random salt).
pub fn hash(password: &str) -> ApiResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("argon2 hash: {e}")))
}

/// Whether `password` matches the PHC string `phc`. A malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Runs argon2 work on the blocking pool, at most `permits` at once: argon2id costs about 19 MiB and
/// tens of milliseconds of a core per call, so a flood of logins or password changes waits here
/// instead of exhausting the machine's CPU and memory.
#[derive(Clone, Debug)]
pub struct Hasher {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Hasher {
    pub fn new(permits: usize) -> Self {
        Hasher {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(permits.max(1))),
        }
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        actix_web::web::block(f).await.map_err(ApiError::internal)
    }

    /// [`hash`], bounded.
    pub async fn hash(&self, password: String) -> ApiResult<String> {
        self.run(move || hash(&password)).await?
    }

    /// [`verify`], bounded.
    pub async fn verify(&self, password: String, phc: String) -> ApiResult<bool> {
        self.run(move || verify(&password, &phc)).await
    }

    /// Permits free now (for tests and metrics).
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// Refuse guessable passwords: zxcvbn score 3 or more, judged with the user's own data as hints.
pub fn check_strength(field: &str, password: &str, hints: &[&str]) -> ApiResult<()> {
    common::validate::password(password).map_err(|e| {
        ApiError::field(
            field,
            &e.code,
            e.message.map(|m| m.to_string()).unwrap_or_default(),
        )
    })?;
    let estimate = zxcvbn::zxcvbn(password, hints);
    if (estimate.score() as u8) < 3 {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "add more words or characters".into());
        return Err(ApiError::field(
            field,
            "weak",
            format!("is too easy to guess: {hint}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("Correct horse battery staple", &h));
        assert!(!verify("x", "not a phc string"));
    }

    #[test]
    fn strength() {
        let table = [
            ("password1234", false),
            ("aaaaaaaaaaaaaaaa", false),
            ("alice@example.com1", false),
            ("Trombone-Quasar-Lattice-88", true),
            ("short", false),
        ];
        for (pw, ok) in table {
            assert_eq!(
                check_strength("password", pw, &["alice@example.com"]).is_ok(),
                ok,
                "{pw}"
            );
        }
    }
}
