//! The emulator variables (`SERVICE_CONTROL_EMULATOR_HOST`,
//! `APIGEE_EMULATOR_HOST`) honoured by the crate's clients given Google's
//! endpoints: plain text to the emulator, no token sought; a client given
//! another URL goes where it was told. A test binary of its own: it sets
//! the process's environment.
#![cfg(all(feature = "client", feature = "emulator"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cloud_report_proto::TokenSource;
use cloud_report_proto::client::{CheckOptions, Client, GrpcTransport, RestTransport};
use cloud_report_proto::emulator::{Config, Emulator};
use cloud_report_proto::emulator_env::{
    APIGEE_EMULATOR_HOST, SERVICE_CONTROL_EMULATOR_HOST, emulator_url,
};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::rest::RestClient;

const SERVICE: &str = "env.example.com";

fn check(id: &str) -> sc::CheckRequest {
    sc::CheckRequest {
        service_name: SERVICE.into(),
        operation: Some(sc::Operation {
            operation_id: id.into(),
            operation_name: "env.v1.Things.Get".into(),
            consumer_id: "project:p".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn googles_endpoints_go_to_the_emulator_when_its_variable_is_set() {
    let running = Emulator::start(Config::default()).await.unwrap();
    let host = running.addr().to_string();
    // SAFETY: this test binary runs this one test.
    unsafe {
        std::env::set_var(SERVICE_CONTROL_EMULATOR_HOST, &host);
        std::env::remove_var(APIGEE_EMULATOR_HOST);
    }
    assert_eq!(
        emulator_url("https://servicecontrol.googleapis.com"),
        Some(format!("http://{host}"))
    );
    assert_eq!(
        emulator_url("https://servicecontrol.googleapis.com:443/"),
        Some(format!("http://{host}"))
    );
    assert_eq!(
        emulator_url("https://apigee.googleapis.com"),
        None,
        "its own variable"
    );
    assert_eq!(emulator_url("https://example.com"), None);
    // No credentials sought: a token source that counts.
    let asked = Arc::new(AtomicUsize::new(0));
    let source = {
        let asked = asked.clone();
        TokenSource::new(move || {
            asked.fetch_add(1, Ordering::SeqCst);
            async { Err::<String, _>("no credentials here".to_owned()) }
        })
    };
    let grpc = GrpcTransport::builder("https://servicecontrol.googleapis.com")
        .tokens(source.clone())
        .connect()
        .await
        .unwrap();
    let rest = RestTransport::new(
        RestClient::builder("https://servicecontrol.googleapis.com")
            .tokens(source.clone())
            .build()
            .unwrap(),
    );
    for (wire, client) in [
        (
            "grpc",
            Client::builder(SERVICE)
                .check_options(CheckOptions::disabled())
                .build(grpc),
        ),
        (
            "rest",
            Client::builder(SERVICE)
                .check_options(CheckOptions::disabled())
                .build(rest),
        ),
    ] {
        let answer = client.check(&check(wire)).await.unwrap();
        assert!(answer.allowed(), "{wire}: {answer:?}");
        client.shutdown().await;
    }
    assert_eq!(running.emulator().requests(SERVICE).len(), 2);
    assert_eq!(asked.load(Ordering::SeqCst), 0, "no token sought");
    // Another URL goes where it was told, token and all.
    let elsewhere = RestClient::builder(format!("http://{host}"))
        .bearer_token("t")
        .build()
        .unwrap();
    assert_eq!(elsewhere.base_url(), format!("http://{host}"));
    // SAFETY: as above.
    unsafe {
        std::env::set_var(SERVICE_CONTROL_EMULATOR_HOST, "");
    }
    assert_eq!(
        emulator_url("https://servicecontrol.googleapis.com"),
        None,
        "empty is unset"
    );
    running.shutdown().await;
}
