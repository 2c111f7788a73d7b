//! `native_roots()`: a client trusts a CA that only the platform's
//! certificate store holds. The store is pointed at a CA the test generates
//! through `SSL_CERT_FILE`, which `rustls-native-certs` reads instead of
//! the system's; a client that does not ask for the platform's roots
//! refuses the same server. The README's production example
//! (`examples/gateway.rs`) runs here too, against the emulator over TLS with
//! a service-account key it trusts, only its URL changed. A test binary of
//! its own: it sets the process's environment (so it shares no helper with
//! `tests/tls.rs`, whose transports it builds alike).
#![cfg(all(
    feature = "client",
    feature = "auth",
    feature = "emulator",
    feature = "native-roots"
))]

use cloud_report_proto::client::{GrpcTransport, RestTransport, Transport};
use cloud_report_proto::emulator::{Config, Emulator};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::rest::RestClient;

mod ca;
#[path = "../examples/gateway.rs"]
mod gateway;

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
    let (_, key) = ca::service_account_key("gateway@my-project.iam.gserviceaccount.com", "k-1");
    let key_file = dir.join("key.json");
    std::fs::write(&key_file, key.to_string()).unwrap();
    unsafe {
        std::env::set_var("SSL_CERT_FILE", &store);
        std::env::remove_var("SSL_CERT_DIR");
        std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", &key_file);
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

    production_example_runs_against_the_emulator(&identity, &key).await;

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

/// `examples/gateway.rs`, the README's production example, as it is: TLS
/// trusted through the platform's store, application default credentials
/// from the key file, the requests built from the configuration. Only the
/// URL is the emulator's, which trusts the key.
async fn production_example_runs_against_the_emulator(
    identity: &cloud_report_proto::rest::TlsIdentity,
    key: &serde_json::Value,
) {
    use cloud_report_proto::client::gateway::CallInfo;
    use cloud_report_proto::emulator::TrustedServiceAccount;
    use cloud_report_proto::service_config::ServiceConfig;
    const SERVICE: &str = "bookstore.endpoints.my-project.cloud.goog";
    const GET_SHELF: &str = "endpoints.examples.bookstore.Bookstore.GetShelf";
    let yaml = include_str!("../examples/service-config.yaml");
    let emulator = Config::default()
        .service_config(ServiceConfig::from_yaml(yaml).unwrap())
        .state_json(include_str!("../examples/service-state.json"))
        .unwrap()
        .trust_service_account(TrustedServiceAccount::parse(&key.to_string()).unwrap());
    let running = Emulator::start_tls(emulator, identity).await.unwrap();

    let config = ServiceConfig::from_yaml(yaml).unwrap();
    let (client, requests) = gateway::connect(&running.url(), &config).await.unwrap();
    let call = |id: &str, key: &str| {
        let mut call = CallInfo::new(id, GET_SHELF);
        call.api_key = key.into();
        call.client_ip = "10.0.0.7".into();
        call
    };
    let status = gateway::handle(&client, &requests, call("call-1", "AIza-good"), || async {
        200
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    let refused = gateway::handle(
        &client,
        &requests,
        call("call-2", "AIza-expired"),
        || async { unreachable!("a refused call never reaches the backend") },
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    // Without a key: refused without a Check, unless the method allows
    // unregistered calls.
    let keyless = gateway::handle(&client, &requests, call("call-3", ""), || async { 200 })
        .await
        .unwrap_err();
    assert_eq!(keyless.code(), tonic::Code::Unauthenticated);
    let mut list = CallInfo::new(
        "call-4",
        "endpoints.examples.bookstore.Bookstore.ListShelves",
    );
    list.client_ip = "10.0.0.7".into();
    let listed = gateway::handle(&client, &requests, list, || async { 200 }).await;
    assert_eq!(listed.unwrap(), 200);
    let statistics = client.shutdown().await;
    assert_eq!(statistics.undelivered, 0);
    assert_eq!(statistics.reports.refused, 0);

    // What the emulator stored is what ESPv2 would have sent.
    let emulator = running.emulator();
    let used: i64 = emulator
        .quota_usage(SERVICE)
        .iter()
        .filter(|u| u.metric == "read-requests")
        .map(|u| u.used)
        .sum();
    assert_eq!(used, 1, "the good call's quota");
    let operations = emulator.operations(SERVICE);
    let good = operations
        .iter()
        .find(|op| op.operation_id == "call-1")
        .expect("the good call was reported");
    assert_eq!(good.consumer_id, "api_key:AIza-good");
    assert_eq!(good.labels["/credential_id"], "apikey:AIza-good");
    assert_eq!(good.labels["/response_code"], "200");
    assert_eq!(
        good.labels["servicecontrol.googleapis.com/service_agent"],
        "my-gateway/1.0"
    );
    assert_eq!(good.log_entries.len(), 1);
    assert!(
        good.metric_value_sets
            .iter()
            .any(|s| s.metric_name == "serviceruntime.googleapis.com/api/consumer/request_count")
    );
    let by_consumer = operations
        .iter()
        .find(|op| op.operation_id == "call-11")
        .expect("Check named the consumer's project: a by-consumer operation");
    assert!(
        by_consumer
            .labels
            .contains_key("serviceruntime.googleapis.com/consumer_project")
    );
    let bad = operations
        .iter()
        .find(|op| op.operation_id == "call-2")
        .expect("the refused call was reported");
    assert!(bad.consumer_id.is_empty(), "an invalid key is no consumer");
    assert_eq!(bad.labels["/response_code"], "400");
    assert_eq!(bad.labels["/status_code"], "3");
    assert!(!bad.labels.contains_key("/credential_id"));
    let checks = emulator
        .requests(SERVICE)
        .iter()
        .filter(|r| r.method.as_str() == "check")
        .count();
    assert_eq!(checks, 2, "keyless calls are not checked");
    let keyless = operations
        .iter()
        .find(|op| op.operation_id == "call-3")
        .unwrap();
    assert_eq!(keyless.labels["/response_code"], "401");
    running.shutdown().await;
}
