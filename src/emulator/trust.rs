//! Google's token checks for the self-signed JWTs that Google's auth
//! libraries make from a service-account key, so that the key-file path of
//! application default credentials can be tested offline: the emulator is
//! given the key file (or the key's public certificate) and accepts the
//! tokens that key signs, as Google's front end accepts them.
//!
//! A token is accepted when:
//! - it is a JWT signed with RS256 by the key (`kid`, when the token and a
//!   key file both name one, is the key's `private_key_id`);
//! - `iss` and `sub` are the account (its `client_email`; with a
//!   certificate, which names no account, `iss` and `sub` are equal);
//! - `iat` is not in the future and `exp` not in the past (a minute of skew
//!   either way), and the token lives at most an hour (and that minute);
//! - it names Service Control or Apigee: a `scope` claim with
//!   `https://www.googleapis.com/auth/cloud-platform` or
//!   `https://www.googleapis.com/auth/servicecontrol` (the scopes of the
//!   APIs), or else an `aud` of the API (`https://servicecontrol.googleapis.com/`,
//!   `https://apigee.googleapis.com/`, with or without the last slash).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The scopes a self-signed token may carry to call the emulated APIs.
pub const ACCEPTED_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/servicecontrol",
];

/// The audiences a self-signed token without a scope may name.
pub const ACCEPTED_AUDIENCES: &[&str] = &[
    "https://servicecontrol.googleapis.com/",
    "https://servicecontrol.googleapis.com",
    "https://apigee.googleapis.com/",
    "https://apigee.googleapis.com",
];

/// How far `iat` and `exp` may be off, in seconds.
const SKEW_SECONDS: i128 = 60;
/// The longest a self-signed token may live, in seconds.
const MAX_LIFETIME_SECONDS: i128 = 3600;

/// What the emulator reads of a service-account key file.
#[derive(serde::Deserialize)]
struct KeyFile {
    r#type: String,
    client_email: String,
    private_key_id: Option<String>,
    private_key: String,
}

/// A service-account key file and its RSA key, checked.
fn read_key_file(text: &str) -> Result<(KeyFile, ring::signature::RsaKeyPair), TrustError> {
    let file: KeyFile = serde_json::from_str(text)
        .map_err(|e| TrustError(format!("not a service-account key file: {e}")))?;
    if file.r#type != "service_account" {
        return Err(TrustError(format!(
            "type {:?} is not service_account",
            file.r#type
        )));
    }
    let der = PrivateKeyDer::from_pem_slice(file.private_key.as_bytes())
        .map_err(|e| TrustError(format!("private_key: {e}")))?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_der())
        .map_err(|e| TrustError(format!("private_key: not an RSA key in PKCS#8 ({e})")))?;
    Ok((file, pair))
}

/// A service account whose self-signed tokens the emulator accepts.
#[derive(Clone)]
pub struct TrustedServiceAccount {
    /// The account's email, from a key file.
    email: Option<String>,
    /// The key's id, from a key file.
    key_id: Option<String>,
    key: PublicKey,
}

#[derive(Clone)]
enum PublicKey {
    /// An RSA public key (`RSAPublicKey`, DER).
    Rsa(Vec<u8>),
    /// An X.509 certificate (DER) holding the key.
    Certificate(Vec<u8>),
}

impl std::fmt::Debug for TrustedServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedServiceAccount")
            .field("email", &self.email)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A key file or certificate that cannot be trusted: which, and why, on one
/// line.
#[derive(Debug, thiserror::Error)]
#[error("{}", crate::service_config::one_line(.0))]
pub struct TrustError(String);

impl TrustedServiceAccount {
    /// Reads a service-account key file (JSON, `"type": "service_account"`)
    /// or a certificate (PEM).
    ///
    /// # Errors
    ///
    /// The file cannot be read, or is neither.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TrustError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| TrustError(format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| TrustError(format!("{}: {e}", path.display())))
    }

    /// Reads a key file's JSON or a certificate's PEM.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        if text.trim_start().starts_with('{') {
            Self::from_key_json(text)
        } else {
            Self::from_certificate_pem(text)
        }
    }

    /// Trusts the key of a service-account key file.
    ///
    /// # Errors
    ///
    /// Not a key file, or its `private_key` is not an RSA key in PKCS#8 PEM.
    pub fn from_key_json(text: &str) -> Result<Self, TrustError> {
        let (file, pair) = read_key_file(text)?;
        Ok(Self {
            email: Some(file.client_email),
            key_id: file.private_key_id,
            key: PublicKey::Rsa(
                ring::signature::KeyPair::public_key(&pair)
                    .as_ref()
                    .to_vec(),
            ),
        })
    }

    /// A self-signed token of the key file's account, as Google's auth
    /// libraries make one (RS256, `kid` the key's id, `iss` and `sub` the
    /// account, the `cloud-platform` scope, issued 10 s before `now`,
    /// valid `lifetime`, at most an hour): what `cloud-report token` prints
    /// for a person to read an emulator that trusts the key (`curl -H
    /// "Authorization: Bearer $(cloud-report token --key-file key.json)"`).
    ///
    /// # Errors
    ///
    /// As [`from_key_json`](Self::from_key_json), or a lifetime over an
    /// hour.
    pub fn sign_token(
        key_json: &str,
        now: SystemTime,
        lifetime: std::time::Duration,
    ) -> Result<String, TrustError> {
        let (file, pair) = read_key_file(key_json)?;
        if lifetime.as_secs() > MAX_LIFETIME_SECONDS as u64 {
            return Err(TrustError(format!(
                "a token lives at most {MAX_LIFETIME_SECONDS} seconds"
            )));
        }
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &file.private_key_id {
            header["kid"] = kid.clone().into();
        }
        let claims = serde_json::json!({
            "iss": file.client_email,
            "sub": file.client_email,
            "scope": ACCEPTED_SCOPES[0],
            "iat": now.saturating_sub(10),
            "exp": now + lifetime.as_secs(),
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .map_err(|_| TrustError("the key cannot sign".to_owned()))?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// Trusts the key of a certificate (PEM), as Google publishes each
    /// service-account key's (`.../robot/v1/metadata/x509/{email}`).
    ///
    /// # Errors
    ///
    /// No certificate in the text, or one that cannot be parsed.
    pub fn from_certificate_pem(text: &str) -> Result<Self, TrustError> {
        let der = CertificateDer::from_pem_slice(text.as_bytes())
            .map_err(|e| TrustError(format!("not a key file nor a PEM certificate: {e}")))?;
        webpki::EndEntityCert::try_from(&der)
            .map_err(|e| TrustError(format!("the certificate cannot be read: {e}")))?;
        Ok(Self {
            email: None,
            key_id: None,
            key: PublicKey::Certificate(der.to_vec()),
        })
    }

    /// The account's email, when a key file named it.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// Whether `token` is one of the account's self-signed tokens, valid at
    /// `now`, as the emulator checks every bearer token.
    ///
    /// # Errors
    ///
    /// Why the token is refused (not a JWT, another key, expired, another
    /// API, another account), on one line.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<(), TrustError> {
        self.check(token, now).map(drop).map_err(TrustError)
    }

    /// [`verify`](Self::verify), giving the token's `exp` when it passes.
    fn check(&self, token: &str, now: SystemTime) -> Result<i128, String> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the token is not a JWT".into());
        };
        let decode = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|e| format!("the JWT's {what} is not base64url: {e}"))
        };
        let signed = format!("{header}.{claims}");
        let signature = decode(signature, "signature")?;
        let header: serde_json::Value = serde_json::from_slice(&decode(header, "header")?)
            .map_err(|e| format!("the JWT's header is not JSON: {e}"))?;
        let claims: serde_json::Value = serde_json::from_slice(&decode(claims, "claims")?)
            .map_err(|e| format!("the JWT's claims are not JSON: {e}"))?;
        if header["alg"] != "RS256" {
            return Err(format!("the JWT's alg is {}, not RS256", header["alg"]));
        }
        if let (Some(want), Some(kid)) = (&self.key_id, header["kid"].as_str())
            && want != kid
        {
            return Err(format!("the JWT's kid {kid:?} is not the trusted key's"));
        }
        self.verify_signature(signed.as_bytes(), &signature)?;
        let iss = claims["iss"].as_str().unwrap_or_default();
        let sub = claims["sub"].as_str().unwrap_or_default();
        match &self.email {
            Some(email) if iss != email || sub != email => {
                return Err(format!(
                    "the JWT's iss and sub must be {email} (iss {iss:?}, sub {sub:?})"
                ));
            }
            None if iss.is_empty() || iss != sub => {
                return Err(format!(
                    "the JWT's iss and sub must name the account (iss {iss:?}, sub {sub:?})"
                ));
            }
            _ => {}
        }
        // In i128: no claim, however large, overflows the arithmetic.
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i128::from(d.as_secs()));
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err("the JWT needs numeric iat and exp".into());
        };
        let (iat, exp) = (i128::from(iat), i128::from(exp));
        if exp + SKEW_SECONDS < now {
            return Err(format!("the JWT expired {} seconds ago", now - exp));
        }
        if iat - SKEW_SECONDS > now {
            return Err("the JWT's iat is in the future".into());
        }
        // Google's libraries back-date `iat` a little (google-cloud-auth by
        // 10 s, for clock skew): the hour is counted with the skew allowed.
        if exp - iat > MAX_LIFETIME_SECONDS + SKEW_SECONDS {
            return Err(format!(
                "the JWT lives {} seconds; at most {MAX_LIFETIME_SECONDS}",
                exp - iat
            ));
        }
        let scoped = claims["scope"]
            .as_str()
            .is_some_and(|s| s.split(' ').any(|s| ACCEPTED_SCOPES.contains(&s)));
        let audience = match &claims["aud"] {
            serde_json::Value::String(aud) => vec![aud.as_str()],
            serde_json::Value::Array(auds) => auds.iter().filter_map(|a| a.as_str()).collect(),
            _ => Vec::new(),
        };
        let addressed = audience.iter().any(|a| ACCEPTED_AUDIENCES.contains(a));
        if !scoped && !addressed {
            return Err(format!(
                "the JWT is not for this API: no scope of {} and audience {:?} is not {}",
                ACCEPTED_SCOPES.join(" or "),
                audience,
                ACCEPTED_AUDIENCES[0]
            ));
        }
        Ok(exp)
    }

    fn verify_signature(&self, message: &[u8], signature: &[u8]) -> Result<(), String> {
        let bad = || "the JWT's signature is not the trusted key's".to_owned();
        match &self.key {
            PublicKey::Rsa(der) => ring::signature::UnparsedPublicKey::new(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                der,
            )
            .verify(message, signature)
            .map_err(|_| bad()),
            PublicKey::Certificate(der) => {
                let der = CertificateDer::from(der.as_slice());
                let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| bad())?;
                cert.verify_signature(webpki::ring::RSA_PKCS1_2048_8192_SHA256, message, signature)
                    .map_err(|_| bad())
            }
        }
    }
}

/// Who may call an emulator: the token of `--require-token`, or a token one
/// of the trusted service accounts signed.
pub(crate) struct Callers {
    pub(crate) token: Option<crate::rest::BearerToken>,
    pub(crate) accounts: Vec<TrustedServiceAccount>,
    /// Tokens verified lately, with their `exp`: a call is authenticated by
    /// the gateway and again by the service, and a client sends one token
    /// many times; RSA is checked once.
    pub(crate) verified: std::sync::Mutex<std::collections::HashMap<String, i128>>,
}

/// The most verified tokens remembered.
const REMEMBERED_TOKENS: usize = 256;

fn unix_now() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i128::from(d.as_secs()))
}

impl Callers {
    fn verified(&self, token: &str) -> Option<i128> {
        let verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        verified.get(token).copied()
    }

    /// Remembers a verified token until its `exp`.
    fn remember(&self, token: &str, exp: i128) {
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= REMEMBERED_TOKENS {
            verified.clear();
        }
        verified.insert(token.to_owned(), exp);
    }
}

impl crate::rest::Authenticate for Callers {
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<(), crate::google::rpc::Status> {
        use crate::google::rpc::{Code, Status};
        let Some(given) = crate::rest::bearer(headers) else {
            return Err(crate::rest::missing_credential());
        };
        let by_token = self.token.as_ref().map(|t| t.authenticate(headers));
        let token = String::from_utf8_lossy(given);
        let looks_like_jwt = token.split('.').count() == 3;
        match by_token {
            Some(Ok(())) => return Ok(()),
            // A token that is no JWT was meant to be the fixed one.
            Some(Err(refused)) if self.accounts.is_empty() || !looks_like_jwt => {
                return Err(refused);
            }
            _ => {}
        }
        if let Some(exp) = self.verified(&token)
            && exp + SKEW_SECONDS >= unix_now()
        {
            return Ok(());
        }
        let now = SystemTime::now();
        let mut why = String::new();
        for account in &self.accounts {
            match account.check(&token, now) {
                Ok(exp) => {
                    self.remember(&token, exp);
                    return Ok(());
                }
                Err(e) if why.is_empty() => why = crate::service_config::one_line(&e),
                Err(_) => {}
            }
        }
        Err(Status::new(
            Code::Unauthenticated,
            format!("Request had invalid authentication credentials: {why}"),
        ))
    }
}
