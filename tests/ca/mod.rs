//! A certificate authority generated per test run, for TLS tests on
//! 127.0.0.1.

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
