//! Agent tokens: `<appliance id>.<HMAC-SHA256(key, appliance id)>`, base64url. Deterministic (a retried
//! domain creation passes the same token) and checked without storing the token; a terminated
//! appliance's token is refused by the agent API, not here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::ApplianceId;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn new(key: &[u8]) -> Self {
        TokenKey(key.to_vec())
    }

    fn mac(&self, id: ApplianceId) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).unwrap_or_else(|_| {
            // HMAC accepts keys of any length; this branch is unreachable
            <Hmac<Sha256> as KeyInit>::new_from_slice(b"x").unwrap_or_else(|_| unreachable!())
        });
        m.update(id.to_string().as_bytes());
        m
    }

    /// The token of an appliance.
    pub fn issue(&self, id: ApplianceId) -> String {
        format!("{id}.{}", B64.encode(self.mac(id).finalize().into_bytes()))
    }

    /// The appliance a token belongs to, if it is genuine.
    pub fn verify(&self, token: &str) -> Option<ApplianceId> {
        let (id, mac) = token.split_once('.')?;
        let id: ApplianceId = id.parse().ok()?;
        let mac = B64.decode(mac).ok()?;
        self.mac(id).verify_slice(&mac).ok()?;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_key_and_id() {
        let k = TokenKey::new(b"key-one");
        let id = ApplianceId::new();
        let t = k.issue(id);
        assert_eq!(k.issue(id), t, "deterministic");
        assert_eq!(k.verify(&t), Some(id));
        assert_eq!(TokenKey::new(b"key-two").verify(&t), None);
        let other = ApplianceId::new();
        let forged = format!("{other}.{}", t.split_once('.').unwrap().1);
        assert_eq!(k.verify(&forged), None);
        for bad in ["", "x", "x.y", &format!("{id}."), &format!("{id}.!!")] {
            assert_eq!(k.verify(bad), None, "{bad}");
        }
    }
}
