//! Signed client assertions (RFC 7523), the certificate credential Entra ID recommends for
//! production: a JWT signed with the certificate's RSA key, naming the certificate by its
//! SHA-256 thumbprint (`x5t#S256`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::RsaKeyPair;
use schemars::JsonSchema;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// The `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How a client assertion is signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum SignatureAlgorithm {
    /// RSASSA-PSS with SHA-256.
    #[default]
    PS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
}

/// A client certificate: its thumbprint and signing key.
#[derive(Clone)]
pub struct ClientCertificate {
    thumbprint: String,
    key: Arc<RsaKeyPair>,
    algorithm: SignatureAlgorithm,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The DER bytes of the first PEM block labelled `label` (or any of `labels`).
fn pem_block(text: &str, labels: &[&str]) -> Option<(String, Vec<u8>)> {
    for label in labels {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        if let Some(start) = text.find(&begin) {
            let body = &text[start + begin.len()..];
            let stop = body.find(&end)?;
            let b64: String = body[..stop].chars().filter(|c| !c.is_whitespace()).collect();
            return STANDARD.decode(b64).ok().map(|der| ((*label).to_owned(), der));
        }
    }
    None
}

impl ClientCertificate {
    /// Reads a PEM certificate and its PEM RSA private key (PKCS#8 or PKCS#1).
    pub fn from_pem(
        certificate: &str,
        private_key: &str,
        algorithm: SignatureAlgorithm,
    ) -> Result<Self, String> {
        let (_, cert_der) = pem_block(certificate, &["CERTIFICATE"])
            .ok_or("the certificate is not a PEM `CERTIFICATE` block")?;
        let (label, key_der) = pem_block(private_key, &["PRIVATE KEY", "RSA PRIVATE KEY"])
            .ok_or("the private key is not a PEM `PRIVATE KEY` or `RSA PRIVATE KEY` block")?;
        let key = if label == "PRIVATE KEY" {
            RsaKeyPair::from_pkcs8(&key_der)
        } else {
            RsaKeyPair::from_der(&key_der)
        }
        .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(&cert_der));
        Ok(Self { thumbprint, key: Arc::new(key), algorithm })
    }

    /// The certificate's SHA-256 thumbprint, base64url.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A fresh assertion for `client_id` at `audience` (the token endpoint), valid 10 minutes.
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<String, String> {
        let (alg, padding): (&str, &'static dyn ring::signature::RsaEncoding) = match self.algorithm
        {
            SignatureAlgorithm::PS256 => ("PS256", &ring::signature::RSA_PSS_SHA256),
            SignatureAlgorithm::RS256 => ("RS256", &ring::signature::RSA_PKCS1_SHA256),
        };
        let now = chrono::Utc::now().timestamp();
        let mut jti = [0u8; 16];
        let rng = ring::rand::SystemRandom::new();
        ring::rand::SecureRandom::fill(&rng, &mut jti)
            .map_err(|_| "no randomness for the assertion id")?;
        let header = serde_json::json!({ "alg": alg, "typ": "JWT", "x5t#S256": self.thumbprint });
        let claims = serde_json::json!({
            "aud": audience, "iss": client_id, "sub": client_id,
            "jti": URL_SAFE_NO_PAD.encode(jti), "iat": now, "nbf": now, "exp": now + 600,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(padding, &rng, signing_input.as_bytes(), &mut signature)
            .map_err(|_| "signing the client assertion failed")?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}
