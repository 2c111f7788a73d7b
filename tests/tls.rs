//! The production path end to end on 127.0.0.1: the emulator serving TLS
//! with a certificate of a CA the test generates, requiring a bearer token,
//! and the client calling it over gRPC, REST JSON and binary protobuf over
//! HTTPS with the token; a client that does not trust the CA, or sends the
//! wrong token, does not get through.
#![cfg(all(feature = "client", feature = "emulator"))]

use std::time::Duration;

use cloud_report_proto::client::{Client, GrpcTransport, RestTransport, Source, Transport};
use cloud_report_proto::emulator::{Config, Emulator, Running};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::rest::{RestClient, TlsIdentity};

use crate::ca;
#[cfg(feature = "cli")]
use crate::support;
use ca::{certificates, pem_files};

const SERVICE: &str = "tls.example.com";

async fn start(identity: &TlsIdentity) -> Running {
    Emulator::start_tls(Config::default().require_token("s3cret"), identity)
        .await
        .unwrap()
}

fn operation(id: &str) -> sc::Operation {
    let now = cloud_report_proto::google::protobuf::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
        ..Default::default()
    };
    sc::Operation {
        operation_id: id.into(),
        operation_name: "tls.v1.Things.Get".into(),
        consumer_id: "project:p".into(),
        start_time: Some(now.clone()),
        end_time: Some(now),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_transport_calls_over_tls_with_a_token() {
    let (ca, identity) = certificates();
    let running = start(&identity).await;
    assert!(running.url().starts_with("https://127.0.0.1:"));
    let grpc = GrpcTransport::builder(running.url())
        .root_certificate_pem(ca.clone())
        .bearer_token("s3cret")
        .connect()
        .await
        .unwrap();
    let rest = |binary| {
        RestTransport::new(
            RestClient::builder(running.url())
                .root_certificate_pem(ca.clone())
                .bearer_token("s3cret")
                .binary(binary)
                .build()
                .unwrap(),
        )
    };
    let clients = [
        ("grpc", Client::builder(SERVICE).build(grpc)),
        ("json", Client::builder(SERVICE).build(rest(false))),
        ("binary", Client::builder(SERVICE).build(rest(true))),
    ];
    for (wire, client) in clients {
        let answer = client
            .check(&sc::CheckRequest {
                operation: Some(operation(&format!("{wire}-check"))),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            matches!(answer.source, Source::Server),
            "{wire}: {:?}",
            answer.source
        );
        assert!(answer.allowed());
        client
            .report(operation(&format!("{wire}-report")))
            .await
            .unwrap();
        let statistics = client.shutdown().await;
        assert_eq!(statistics.reports.sent, 1, "{wire}");
    }
    let stored: Vec<String> = running
        .emulator()
        .operations(SERVICE)
        .into_iter()
        .map(|o| o.operation_id)
        .collect();
    assert_eq!(stored, ["grpc-report", "json-report", "binary-report"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_server_or_a_wrong_token_does_not_get_through() {
    let (ca, identity) = certificates();
    let running = start(&identity).await;
    let check = || sc::CheckRequest {
        service_name: SERVICE.into(),
        operation: Some(operation("x")),
        ..Default::default()
    };

    // Not trusting the CA: the handshake fails, a network failure (failing
    // open lets the request through, and says the key was not checked).
    let untrusted = RestTransport::new(
        RestClient::builder(running.url())
            .bearer_token("s3cret")
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let error = untrusted.check(check()).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::Unavailable, "{error}");
    let client = Client::builder(SERVICE).build(untrusted);
    let answer = client.check(&check()).await.unwrap();
    assert!(!answer.api_key_checked());
    client.shutdown().await;
    let grpc = GrpcTransport::builder(running.url())
        .bearer_token("s3cret")
        .connect()
        .await;
    assert!(grpc.is_err(), "connected without trusting the CA");

    // The wrong token: UNAUTHENTICATED, never failed open, and the caller
    // told INTERNAL (the gateway's credentials are not the caller's).
    let wrong = GrpcTransport::builder(running.url())
        .root_certificate_pem(ca.clone())
        .bearer_token("guess")
        .connect()
        .await
        .unwrap();
    let client = Client::builder(SERVICE).build(wrong);
    let answer = client.check(&check()).await.unwrap();
    let error = answer.source.failure().unwrap();
    assert!(!answer.allowed() && matches!(answer.source, Source::Failed(_)));
    assert_eq!(error.code(), tonic::Code::Unauthenticated, "{error}");
    assert!(error.message().contains("does not match"), "{error}");
    assert_eq!(answer.denial().unwrap().code(), tonic::Code::Internal);
    // A token source that fails: the call is not made, INTERNAL.
    let failing = GrpcTransport::builder(running.url())
        .root_certificate_pem(ca)
        .token_source(|| async { Err::<String, _>("metadata server unreachable".to_owned()) })
        .connect()
        .await
        .unwrap();
    let error = failing.check(check()).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::Internal);
    assert!(
        error.message().starts_with("Missing access token"),
        "{error}"
    );
    assert!(error.message().contains("metadata server unreachable"));
    assert!(running.emulator().operations(SERVICE).is_empty());
}

/// `cloud-report serve --tls-cert --tls-key`: HTTPS with the given
/// identity, and a connection that never completes its handshake closed
/// after the header-read timeout.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_serves_tls() {
    use tokio::io::AsyncReadExt;

    let (ca_pem, server_pem, key_pem) = pem_files();
    let dir = std::env::temp_dir().join(format!("tls-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_file, key_file) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_file, server_pem).unwrap();
    std::fs::write(&key_file, key_pem).unwrap();

    let served = support::serve::Served::start([
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--header-read-timeout".as_ref(),
        "0.3".as_ref(),
        "--tls-cert".as_ref(),
        cert_file.as_os_str(),
        "--tls-key".as_ref(),
        key_file.as_os_str(),
    ]);
    assert!(served.first_line.contains("TLS"), "{}", served.first_line);
    let addr = served.addr.clone();

    let client = Client::builder(SERVICE).build(RestTransport::new(
        RestClient::builder(format!("https://{addr}"))
            .root_certificate_pem(ca_pem)
            .binary(true)
            .build()
            .unwrap(),
    ));
    let answer = client
        .check(&sc::CheckRequest {
            operation: Some(operation("cli")),
            ..Default::default()
        })
        .await;
    // A connection that sends nothing is closed once the timeout passes.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buffer)).await;
    drop(served);
    std::fs::remove_dir_all(&dir).unwrap();
    let answer = answer.unwrap();
    assert!(
        matches!(answer.source, Source::Server),
        "{:?}",
        answer.source
    );
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
