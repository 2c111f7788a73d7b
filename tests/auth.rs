//! Google credentials end to end: application default credentials from a
//! local fake of the metadata server (reached through `GCE_METADATA_HOST`,
//! its documented token endpoint), and from a service-account key the test
//! generates (its self-signed JWT verified by the server with the key's
//! public half). The emulator checks the bearer token of every call.
//!
//! One test function: the credentials are chosen by environment variables,
//! which the process shares.
#![cfg(all(feature = "auth", feature = "emulator"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cloud_report_proto::client::{CheckOptions, Client, GoogleCredentials, GrpcTransport, Source};
use cloud_report_proto::emulator::{Config, Emulator, TrustedServiceAccount};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;

mod ca;

const SERVICE: &str = "auth.example.com";
const CLIENT_EMAIL: &str = "reporter@test-project.iam.gserviceaccount.com";

/// A client of `url` over gRPC with `credentials`' tokens, every Check
/// asked of the server.
async fn uncached_client(url: String, credentials: &GoogleCredentials) -> Client {
    let transport = GrpcTransport::builder(url)
        .tokens(credentials.token_source())
        .connect()
        .await
        .unwrap();
    Client::builder(SERVICE)
        .check_options(CheckOptions::disabled())
        .build(transport)
}

fn check(id: &str) -> sc::CheckRequest {
    sc::CheckRequest {
        operation: Some(sc::Operation {
            operation_id: id.into(),
            operation_name: "auth.v1.Things.Get".into(),
            consumer_id: "project:p".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The metadata server's token endpoint, answering `token` to requests
/// with `Metadata-Flavor: Google`; counts what it served.
async fn metadata_server(token: &'static str) -> (String, Arc<AtomicUsize>) {
    use axum::routing::get;
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    let app = axum::Router::new()
        .route(
            "/computeMetadata/v1/instance/service-accounts/default/token",
            get(move |headers: axum::http::HeaderMap| {
                let counter = counter.clone();
                async move {
                    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
                        return (axum::http::StatusCode::FORBIDDEN, String::new());
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    (
                        axum::http::StatusCode::OK,
                        serde_json::json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
                            .to_string(),
                    )
                }
            }),
        )
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr.to_string(), served)
}

#[tokio::test(flavor = "multi_thread")]
async fn application_default_credentials_reach_the_emulator() {
    let home = std::env::temp_dir().join(format!("auth-test-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let (metadata, served) = metadata_server("mds-token-1").await;
    // SAFETY: this test binary runs this one test; nothing else reads the
    // environment meanwhile.
    unsafe {
        std::env::remove_var("GOOGLE_APPLICATION_CREDENTIALS");
        std::env::set_var("HOME", &home);
        std::env::set_var("CLOUDSDK_CONFIG", &home);
        std::env::set_var("GCE_METADATA_HOST", &metadata);
    }

    // 1. The metadata server: one token fetched, cached for every call.
    let running = Emulator::start(Config::default().require_token("mds-token-1"))
        .await
        .unwrap();
    let credentials = GoogleCredentials::application_default().unwrap();
    // They say where they come from before the first token.
    assert_eq!(
        credentials.source(),
        format!("the metadata server at {metadata}")
    );
    let client = uncached_client(running.url(), &credentials).await;
    for i in 0..20 {
        let answer = client.check(&check(&format!("mds-{i}"))).await.unwrap();
        assert!(matches!(answer.source, Source::Server) && answer.allowed());
    }
    client.shutdown().await;
    assert_eq!(served.load(Ordering::SeqCst), 1, "the token is cached");

    // 2. A service-account key in GOOGLE_APPLICATION_CREDENTIALS: a JWT the
    // account signs itself, verified by the server.
    let (_, key) = ca::service_account_key(CLIENT_EMAIL, "test-key-id");
    let key_file = home.join("key.json");
    std::fs::write(&key_file, key.to_string()).unwrap();
    // SAFETY: as above.
    unsafe {
        std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", &key_file);
    }
    // The emulator trusts the key file, as `serve --trust-service-account`.
    let trusted = TrustedServiceAccount::parse(&key.to_string()).unwrap();
    let running = Emulator::start(Config::default().trust_service_account(trusted))
        .await
        .unwrap();
    for credentials in [
        GoogleCredentials::application_default().unwrap(),
        GoogleCredentials::service_account(key.clone()).unwrap(),
    ] {
        let client = uncached_client(running.url(), &credentials).await;
        for i in 0..3 {
            let answer = client.check(&check(&format!("sa-{i}"))).await.unwrap();
            assert!(answer.allowed(), "{:?}", answer.response);
            assert!(matches!(answer.source, Source::Server));
        }
        client.shutdown().await;
    }
    let seen = running.emulator().requests(SERVICE).len();
    running.shutdown().await;
    assert_eq!(seen, 6);
    assert_eq!(served.load(Ordering::SeqCst), 1, "the key needs no server");

    // 3. A key that is not one: a clear error at once.
    let error = GoogleCredentials::service_account(serde_json::json!({"type": "service_account"}))
        .unwrap_err();
    assert!(
        error.to_string().starts_with("Google credentials:"),
        "{error}"
    );
    // Where the credentials come from is said, and a failed token names it.
    let from_file = GoogleCredentials::application_default().unwrap();
    assert!(
        from_file.source().contains(&format!(
            "{} (GOOGLE_APPLICATION_CREDENTIALS)",
            key_file.display()
        )),
        "{}",
        from_file.source()
    );
    let from_key = GoogleCredentials::service_account(key.clone()).unwrap();
    assert!(
        from_key.source().contains(CLIENT_EMAIL),
        "{}",
        from_key.source()
    );
    // SAFETY: as above.
    unsafe {
        std::env::remove_var("GOOGLE_APPLICATION_CREDENTIALS");
        std::env::set_var("GCE_METADATA_HOST", "127.0.0.1:1");
    }
    let unreachable = GoogleCredentials::application_default().unwrap();
    let error = unreachable.token().await.unwrap_err();
    assert!(
        error.starts_with("no token from the metadata server at 127.0.0.1:1: "),
        "{error}"
    );

    // 4. A metadata server that hangs for 10 s: with failing open, no
    // request is let through unchecked, none waits, none reaches the
    // server; each is refused with INTERNAL for want of a token.
    let hanging = slow_metadata_server(std::time::Duration::from_secs(10)).await;
    // SAFETY: as above.
    unsafe {
        std::env::set_var("GCE_METADATA_HOST", &hanging);
    }
    let running = Emulator::start(Config::default().require_token("mds-token-1"))
        .await
        .unwrap();
    let credentials = GoogleCredentials::application_default().unwrap();
    let transport = GrpcTransport::builder(running.url())
        .tokens(credentials.token_source())
        .connect_lazy()
        .unwrap();
    let client = Client::builder(SERVICE).fail_open(true).build(transport);
    for i in 0..10 {
        let answer = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            client.check(&check(&format!("slow-{i}"))),
        )
        .await
        .expect("a Check waited on the metadata server")
        .unwrap();
        assert!(!answer.allowed(), "let through unchecked: {answer:?}");
        assert!(
            matches!(&answer.source, Source::Failed(f) if f.message().starts_with("Missing access token")
                && f.message().contains(&hanging)),
            "{answer:?}"
        );
        assert_eq!(answer.denial().unwrap().code(), tonic::Code::Internal);
    }
    let statistics = client
        .shutdown_within(std::time::Duration::from_millis(100))
        .await;
    assert_eq!(
        (statistics.check_failures, statistics.check_failed_open),
        (10, 0)
    );
    assert_eq!(running.emulator().requests(SERVICE).len(), 0);
    running.shutdown().await;
    std::fs::remove_dir_all(&home).unwrap();
}

/// A metadata server whose token endpoint answers after `delay`.
async fn slow_metadata_server(delay: std::time::Duration) -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/computeMetadata/v1/instance/service-accounts/default/token",
        get(move || async move {
            tokio::time::sleep(delay).await;
            serde_json::json!({"access_token": "late", "expires_in": 3599, "token_type": "Bearer"})
                .to_string()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

/// A JWT with these claims, signed RS256 by `pem` under key id `kid`.
/// Signed here, not by the emulator's own signer (`emulator/trust.rs`, the
/// same few lines of ring): a test of the emulator's checks does not share
/// the code it checks.
fn jwt(pem: &str, kid: &str, claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_der()).unwrap();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid});
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
    .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// `--trust-service-account` with a key file or its certificate: the
/// account's tokens are accepted on both wires; one signed by another key,
/// expired, for another API or of another account is refused with 401 /
/// UNAUTHENTICATED, saying why; the fixed token of `--require-token` is
/// accepted beside them.
#[tokio::test(flavor = "multi_thread")]
async fn trusted_service_accounts_refuse_every_other_token() {
    let (pem, file) = ca::service_account_key(CLIENT_EMAIL, "key-a");
    let (other_pem, _) = ca::other_service_account_key(CLIENT_EMAIL, "key-b");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = |extra: serde_json::Value| {
        let mut claims = serde_json::json!({"iss": CLIENT_EMAIL, "sub": CLIENT_EMAIL,
            "iat": now - 10, "exp": now + 3590});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let scoped =
        claims(serde_json::json!({"scope": "https://www.googleapis.com/auth/cloud-platform"}));
    let certificate = {
        let key =
            rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
        rcgen::CertificateParams::new(vec![CLIENT_EMAIL.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .pem()
    };
    for trusted in [
        TrustedServiceAccount::parse(&file.to_string()).unwrap(),
        TrustedServiceAccount::from_certificate_pem(&certificate).unwrap(),
    ] {
        let by_certificate = trusted.email().is_none();
        let running = Emulator::start(
            Config::default()
                .require_token("fixed")
                .trust_service_account(trusted),
        )
        .await
        .unwrap();
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let rest = |token: String| {
            let request = http
                .post(format!("{}/v1/services/{SERVICE}:check", running.url()))
                .bearer_auth(token)
                .body(r#"{"operation": {"operationId": "1", "consumerId": "project:p"}}"#);
            async move {
                let answer = request.send().await.unwrap();
                (answer.status().as_u16(), answer.text().await.unwrap())
            }
        };
        let grpc = |token: String| {
            let url = running.url();
            async move {
                let mut client =
                    sc::service_controller_client::ServiceControllerClient::connect(url)
                        .await
                        .unwrap();
                let mut request = tonic::Request::new(sc::CheckRequest {
                    service_name: SERVICE.into(),
                    ..check("g")
                });
                request
                    .metadata_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
                client.check(request).await.map(|_| ())
            }
        };
        let accepted = [
            jwt(&pem, "key-a", &scoped),
            jwt(
                &pem,
                "key-a",
                &claims(serde_json::json!({"aud": "https://servicecontrol.googleapis.com/"})),
            ),
            "fixed".to_owned(),
        ];
        for token in accepted {
            assert_eq!(rest(token.clone()).await.0, 200, "{token}");
            grpc(token).await.unwrap();
        }
        let mut refused = vec![
            (jwt(&other_pem, "key-a", &scoped), "signature"),
            (
                jwt(
                    &pem,
                    "key-a",
                    &claims(serde_json::json!({"iat": now - 7200, "exp": now - 3600,
                    "scope": "https://www.googleapis.com/auth/cloud-platform"})),
                ),
                "expired",
            ),
            (
                jwt(
                    &pem,
                    "key-a",
                    &claims(serde_json::json!({"aud": "https://pubsub.googleapis.com/"})),
                ),
                "not for this API",
            ),
            // Not a JWT: meant as the fixed token, and refused as it.
            ("not-a-jwt".to_owned(), "does not match"),
        ];
        if !by_certificate {
            refused.push((
                jwt(&pem, "key-a", &{
                    let mut c = scoped.clone();
                    c["iss"] = serde_json::json!("someone@else.iam.gserviceaccount.com");
                    c
                }),
                "iss and sub",
            ));
            refused.push((jwt(&pem, "key-b", &scoped), "kid"));
        }
        for (token, why) in refused {
            let (status, body) = rest(token.clone()).await;
            assert_eq!(status, 401, "{why}: {body}");
            assert!(body.contains(why), "{why}: {body}");
            let error = grpc(token).await.unwrap_err();
            assert_eq!(error.code(), tonic::Code::Unauthenticated, "{why}");
            assert!(error.message().contains(why), "{why}: {}", error.message());
        }
        assert!(running.emulator().requests(SERVICE).len() == 6);
        running.shutdown().await;
    }
    // Files that are no key and no certificate: one line, saying which.
    for (text, why) in [
        ("{}", "not a service-account key file"),
        (
            r#"{"type": "user", "client_email": "a", "private_key": ""}"#,
            "not service_account",
        ),
        ("garbage", "not a key file nor a PEM certificate"),
    ] {
        let error = TrustedServiceAccount::parse(text).unwrap_err().to_string();
        assert!(error.contains(why) && !error.contains('\n'), "{error}");
    }
}
