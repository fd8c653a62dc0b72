//! Refresh tokens: random, sent only in an HttpOnly cookie, stored as SHA-256 hashes.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "si_refresh";
pub const COOKIE_PATH: &str = "/api/v1/auth";

/// A fresh token (256 random bits, base64url).
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(B64.encode(bytes))
}

/// The stored form of a token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The cookie carrying `token`, valid for `max_age_secs`.
pub fn cookie(token: String, max_age_secs: u64, secure: bool) -> Cookie<'static> {
    Cookie::build(COOKIE, token)
        .path(COOKIE_PATH)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(
            i64::try_from(max_age_secs).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// A cookie that deletes the refresh cookie.
pub fn removal(secure: bool) -> Cookie<'static> {
    let mut c = cookie(String::new(), 0, secure);
    c.make_removal();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), digest(&b));
    }

    #[test]
    fn cookie_attributes() {
        let c = cookie("t".into(), 60, true);
        let s = c.to_string();
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/api/v1/auth",
            "Max-Age=60",
        ] {
            assert!(s.contains(part), "{s}");
        }
        assert!(!cookie("t".into(), 60, false).to_string().contains("Secure"));
    }
}
