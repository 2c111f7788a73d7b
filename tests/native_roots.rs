//! `native_roots()`: a client trusts a CA that only the platform's
//! certificate store holds. The store is pointed at a CA the test generates
//! through `SSL_CERT_FILE`, which `rustls-native-certs` reads instead of
//! the system's; a client that does not ask for the platform's roots
//! refuses the same server. A test binary of its own: it sets the process's environment.
#![cfg(all(feature = "client", feature = "emulator", feature = "native-roots"))]

use cloud_report_proto::client::{GrpcTransport, RestTransport, Transport};
use cloud_report_proto::emulator::{Config, Emulator};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::rest::RestClient;

mod ca;

fn check_request() -> sc::CheckRequest {
    sc::CheckRequest {
        service_name: "native.example.com".into(),
        operation: Some(sc::Operation {
            operation_id: "op-1".into(),
            operation_name: "native.v1.Things.Get".into(),
            consumer_id: "project:p".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_trust_the_platform_store_when_asked() {
    let (ca, identity) = ca::certificates();
    let dir = std::env::temp_dir().join(format!("native-roots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("ca.pem");
    std::fs::write(&store, &ca).unwrap();
    // SAFETY: the only test of this binary, before any thread reads the
    // environment. The store is this file alone (`SSL_CERT_DIR` would add
    // the machine's).
    unsafe {
        std::env::set_var("SSL_CERT_FILE", &store);
        std::env::remove_var("SSL_CERT_DIR");
    }
    let running = Emulator::start_tls(Config::default(), &identity)
        .await
        .unwrap();

    let grpc = GrpcTransport::builder(running.url())
        .native_roots()
        .connect()
        .await
        .unwrap();
    let rest = |binary| {
        RestTransport::new(
            RestClient::builder(running.url())
                .native_roots()
                .binary(binary)
                .build()
                .unwrap(),
        )
    };
    let transports: [(&str, Box<dyn Transport>); 3] = [
        ("grpc", Box::new(grpc)),
        ("json", Box::new(rest(false))),
        ("binary", Box::new(rest(true))),
    ];
    for (wire, transport) in transports {
        let answer = transport
            .check(check_request())
            .await
            .unwrap_or_else(|e| panic!("{wire}: {e:?}"));
        assert_eq!(answer.operation_id, "op-1", "{wire}");
    }

    // Without asking, the platform's store is not trusted.
    let refused = GrpcTransport::builder(running.url()).connect().await;
    assert!(refused.is_err(), "gRPC trusted a CA it was not given");
    let plain = RestTransport::new(RestClient::builder(running.url()).build().unwrap());
    let error = plain.check(check_request()).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::Unavailable, "{error:?}");

    // A store with nothing usable in it is an error when building, on
    // either transport.
    std::fs::write(&store, "not a certificate").unwrap();
    let empty = RestClient::builder(running.url()).native_roots().build();
    let message = empty.unwrap_err().to_string();
    assert!(
        message.contains("platform's certificate store"),
        "{message}"
    );
    let empty = GrpcTransport::builder(running.url())
        .native_roots()
        .connect_lazy();
    assert!(empty.is_err(), "gRPC built on an empty store");
    running.shutdown().await;
}
