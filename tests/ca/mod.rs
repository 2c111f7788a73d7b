//! Credentials for the tests: a certificate authority generated per run,
//! for TLS tests on 127.0.0.1, and service-account key files of two fixed
//! test keys. Each test binary uses what it needs of them.
#![allow(dead_code)]

use cloud_report_proto::rest::TlsIdentity;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA's certificate, and a server certificate it signed for 127.0.0.1
/// and localhost with its key, as PEM.
pub fn pem_files() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "cloud-report-proto test CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_pem, server.pem(), key.serialize_pem())
}

/// A CA, and a server certificate it signed for 127.0.0.1 and localhost:
/// (CA PEM, server identity).
pub fn certificates() -> (String, TlsIdentity) {
    let (ca, chain, key) = pem_files();
    (
        ca,
        TlsIdentity::from_pem(chain.as_bytes(), key.as_bytes()).unwrap(),
    )
}

/// Two RSA keys (2048 bits, PKCS#8 PEM) made for these tests alone with
/// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`: nothing
/// anywhere trusts them. Fixed, not generated per run: RSA key generation
/// in an unoptimized build takes seconds, and an optimization override for
/// its crates would be a profile of the published crate's manifest.
const KEYS: [&str; 2] = [
    include_str!("service-account-a.pem"),
    include_str!("service-account-b.pem"),
];

/// A service account's key (PKCS#8 PEM) and its key file, as the IAM API
/// hands one out, for `email` under key id `id`.
pub fn service_account_key(email: &str, id: &str) -> (String, serde_json::Value) {
    key_file(KEYS[0], email, id)
}

/// [`service_account_key`] of another key: a token it signs is not the
/// first key's.
pub fn other_service_account_key(email: &str, id: &str) -> (String, serde_json::Value) {
    key_file(KEYS[1], email, id)
}

fn key_file(pem: &str, email: &str, id: &str) -> (String, serde_json::Value) {
    let file = serde_json::json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": id,
        "private_key": pem,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    (pem.to_owned(), file)
}
