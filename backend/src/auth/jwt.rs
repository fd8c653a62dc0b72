//! Access tokens: HS256 JWTs carrying user, tenant, role and token version. The algorithm is pinned on
//! decode; exp, nbf, iss and aud are required and checked.

use common::{Role, TenantId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: UserId,
    pub tid: TenantId,
    pub role: Role,
    /// The user's token version when issued; a bump invalidates the token.
    pub ver: i32,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub jti: String,
}

/// Signing and verification keys with the validation rules.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub issuer: String,
    pub audience: String,
    pub ttl_secs: u64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl_secs,
        }
    }

    /// Claims for a user, valid from now for the configured lifetime.
    pub fn claims(&self, user: UserId, tenant: TenantId, role: Role, ver: i32) -> Claims {
        let now = jsonwebtoken::get_current_timestamp();
        Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user,
            tid: tenant,
            role,
            ver,
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs,
            jti: uuid::Uuid::new_v4().to_string(),
        }
    }

    pub fn encode(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    pub fn decode(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    fn keys() -> JwtKeys {
        JwtKeys::new(&[7u8; 32], "scaleinfra", "scaleinfra-api", 900)
    }

    #[test]
    fn round_trip() {
        let k = keys();
        let c = k.claims(UserId::new(), TenantId::new(), Role::Admin, 3);
        let t = k.encode(&c).unwrap();
        assert_eq!(k.decode(&t).unwrap(), c);
    }

    #[test]
    fn refuses_forged_or_stale_tokens() {
        let k = keys();
        let good = k.claims(UserId::new(), TenantId::new(), Role::User, 0);
        let mut expired = good.clone();
        expired.exp = expired.iat - 60;
        let mut early = good.clone();
        early.nbf = early.iat + 3600;
        let mut wrong_aud = good.clone();
        wrong_aud.aud = "other".into();
        let mut wrong_iss = good.clone();
        wrong_iss.iss = "other".into();
        for bad in [expired, early, wrong_aud, wrong_iss] {
            let t = k.encode(&bad).unwrap();
            assert!(k.decode(&t).is_err(), "{bad:?}");
        }
        let other_key = JwtKeys::new(&[8u8; 32], "scaleinfra", "scaleinfra-api", 900);
        assert!(k.decode(&other_key.encode(&good).unwrap()).is_err());
        // alg: none with the same claims
        let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = B64.encode(serde_json::to_vec(&good).unwrap());
        assert!(k.decode(&format!("{header}.{body}.")).is_err());
        // HS512 with the right key is still refused: the algorithm is pinned
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &good,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert!(k.decode(&hs512).is_err());
    }
}
