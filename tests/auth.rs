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

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloud_report_proto::client::{
    CheckOptions, Client, GoogleCredentials, GrpcTransport, SERVICE_CONTROL_SCOPES, Source,
};
use cloud_report_proto::emulator::{Config, Emulator};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::ServiceControllerServer;
use cloud_report_proto::rest::Gateway;

const SERVICE: &str = "auth.example.com";
const CLIENT_EMAIL: &str = "reporter@test-project.iam.gserviceaccount.com";

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

/// Checks a self-signed service-account JWT: RS256 under the key's public
/// half, issued by the account for the Service Control scopes.
fn verify_jwt(token: &str, public_key: &[u8]) -> Result<(), String> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT".into());
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| e.to_string())?;
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    )
    .verify(format!("{header}.{claims}").as_bytes(), &signature)
    .map_err(|_| "bad signature".to_owned())?;
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" || header["kid"] != "test-key-id" {
        return Err(format!("header {header}"));
    }
    if claims["iss"] != CLIENT_EMAIL || claims["scope"] != SERVICE_CONTROL_SCOPES.join(" ") {
        return Err(format!("claims {claims}"));
    }
    Ok(())
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
    let transport = GrpcTransport::builder(running.url())
        .tokens(credentials.token_source())
        .connect()
        .await
        .unwrap();
    let client = Client::builder(SERVICE)
        .check_options(CheckOptions::disabled())
        .build(transport);
    for i in 0..20 {
        let answer = client.check(&check(&format!("mds-{i}"))).await.unwrap();
        assert!(matches!(answer.source, Source::Server) && answer.allowed());
    }
    client.shutdown().await;
    assert_eq!(served.load(Ordering::SeqCst), 1, "the token is cached");

    // 2. A service-account key in GOOGLE_APPLICATION_CREDENTIALS: a JWT the
    // account signs itself, verified by the server.
    let key_pem = {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .unwrap()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string()
    };
    let key_file = home.join("key.json");
    let key = serde_json::json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "test-key-id",
        "private_key": key_pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    std::fs::write(&key_file, key.to_string()).unwrap();
    // SAFETY: as above.
    unsafe {
        std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", &key_file);
    }
    let pkcs8 = {
        use rustls::pki_types::PrivateKeyDer;
        use rustls::pki_types::pem::PemObject;
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap()
    };
    let public_key = ring::signature::RsaKeyPair::from_pkcs8(pkcs8.secret_der())
        .unwrap()
        .public()
        .as_ref()
        .to_vec();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let emulator = Emulator::new(Config::default());
    let router = Gateway::new()
        .add_service(ServiceControllerServer::new(emulator.clone()))
        .authenticate(move |headers: &axum::http::HeaderMap| {
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            verify_jwt(token, &public_key).map_err(|e| {
                cloud_report_proto::google::rpc::Status::new(
                    cloud_report_proto::google::rpc::Code::Unauthenticated,
                    e,
                )
            })?;
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(cloud_report_proto::rest::Server::new(router).serve(listener));
    for credentials in [
        GoogleCredentials::application_default().unwrap(),
        GoogleCredentials::service_account(key.clone()).unwrap(),
    ] {
        let transport = GrpcTransport::builder(format!("http://{addr}"))
            .tokens(credentials.token_source())
            .connect()
            .await
            .unwrap();
        let client = Client::builder(SERVICE)
            .check_options(CheckOptions::disabled())
            .build(transport);
        for i in 0..3 {
            let answer = client.check(&check(&format!("sa-{i}"))).await.unwrap();
            assert!(answer.allowed(), "{:?}", answer.response);
        }
        client.shutdown().await;
    }
    assert_eq!(seen.load(Ordering::SeqCst), 6);
    assert_eq!(served.load(Ordering::SeqCst), 1, "the key needs no server");

    // 3. A key that is not one: a clear error at once.
    let error = GoogleCredentials::service_account(serde_json::json!({"type": "service_account"}))
        .unwrap_err();
    assert!(
        error.to_string().starts_with("Google credentials:"),
        "{error}"
    );
    std::fs::remove_dir_all(&home).unwrap();
}
