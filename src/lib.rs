//! Google Service Control v1 and Apigee v1 reporting types.
//!
//! One set of `.proto` files (in `proto/`) is compiled into messages
//! implementing `prost::Message` with the crate's own binary code (unknown
//! fields kept and written back, encoding in one pass: [`wire`]), tonic
//! client and server stubs (feature `grpc`), and the canonical proto3 JSON
//! mapping (feature `json`: the crate's JSON engine, with serde impls over
//! it), so the same Rust value speaks both of Google's wire formats: gRPC
//! (binary protobuf) and REST (JSON).
//!
//! ```
//! use cloud_report_proto::google::api::servicecontrol::v1::{Operation, ReportRequest};
//! use cloud_report_proto::google::protobuf::Timestamp;
//! use cloud_report_proto::json;
//! use prost::Message;
//!
//! let request = ReportRequest {
//!     service_name: "pubsub.googleapis.com".into(),
//!     operations: vec![Operation {
//!         operation_id: "op-1".into(),
//!         start_time: Some("2014-10-02T15:01:23Z".parse()?),
//!         end_time: Some(Timestamp { seconds: 1_412_262_084, ..Default::default() }),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//!
//! // gRPC wire format.
//! let binary = request.encode_to_vec();
//! assert_eq!(ReportRequest::decode(binary.as_slice())?, request);
//!
//! // REST wire format.
//! let text = json::to_string(&request)?;
//! assert!(text.contains(r#""endTime":"2014-10-02T15:01:24Z""#));
//! assert_eq!(json::from_str::<ReportRequest>(&text)?, request);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules mirror proto packages: `google.api.servicecontrol.v1.ReportRequest`
//! is [`google::api::servicecontrol::v1::ReportRequest`].
//!
//! [`status`] converts `google.rpc.Code` and `google.rpc.Status` to gRPC codes,
//! HTTP statuses and `tonic::Status` (details included), and reads typed error
//! details.
//!
//! # Features
//!
//! The messages, JSON and tonic's stubs (`grpc`) by default;
//! `default-features = false` gives the messages alone. The REST gateway
//! and client, the gateway client, credentials, the emulator and the CLI
//! are each behind a feature of their own (each item says which it needs).
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

/// Includes a package's generated messages (and, with `json`, their serde
/// impls) into the current module, where prost's relative paths expect them.
macro_rules! include_package {
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
        #[cfg(feature = "json")]
        include!(concat!(env!("OUT_DIR"), "/", $package, ".serde.rs"));
    };
}

mod codegen;
pub mod google;

/// The protobuf conformance suite's test messages, compiled only for the
/// conformance testee (`CLOUD_REPORT_CONFORMANCE_PROTOS`; see
/// `conformance/README.md`).
#[cfg(conformance_protos)]
#[doc(hidden)]
pub mod protobuf_test_messages {
    /// `protobuf_test_messages.proto3`.
    pub mod proto3 {
        include_package!("protobuf_test_messages.proto3");
    }
}

/// The conformance suite's protocol (`conformance.proto`), compiled only for
/// the conformance testee.
#[cfg(conformance_protos)]
#[doc(hidden)]
pub mod conformance {
    include_package!("conformance");
}

/// Compiles the README's Rust examples as doctests (with the features they
/// use: the test command's `--all-features`).
#[cfg(all(doctest, feature = "emulator", feature = "client"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Compiles the guides' Rust examples (`docs/*.md`) as doctests, each guide
/// with the features its examples use.
#[cfg(doctest)]
mod guides {
    /// `docs/types.md`.
    #[doc = include_str!("../docs/types.md")]
    pub struct Types;
    /// `docs/json.md`.
    #[cfg(feature = "json")]
    #[doc = include_str!("../docs/json.md")]
    pub struct Json;
    /// `docs/rest.md`.
    #[cfg(feature = "rest")]
    #[doc = include_str!("../docs/rest.md")]
    pub struct Rest;
    /// `docs/emulator.md`.
    #[cfg(feature = "emulator")]
    #[doc = include_str!("../docs/emulator.md")]
    pub struct Emulator;
    /// `docs/gateway-client.md`.
    #[cfg(all(
        feature = "client",
        feature = "auth",
        feature = "native-roots",
        feature = "service-config",
        feature = "emulator"
    ))]
    #[doc = include_str!("../docs/gateway-client.md")]
    pub struct GatewayClient;
    /// `docs/limits.md`.
    #[doc = include_str!("../docs/limits.md")]
    pub struct Limits;
    /// `docs/cli.md`.
    #[doc = include_str!("../docs/cli.md")]
    pub struct Cli;
    /// `docs/testing.md`.
    #[doc = include_str!("../docs/testing.md")]
    pub struct Testing;
    /// `ARCHITECTURE.md`.
    #[doc = include_str!("../ARCHITECTURE.md")]
    pub struct Architecture;
}

#[cfg(feature = "client")]
pub mod client;
#[cfg(any(feature = "rest-client", feature = "client"))]
pub mod emulator_env;
#[cfg(any(feature = "rest-client", feature = "client"))]
mod failure;
#[cfg(any(feature = "rest-client", feature = "client"))]
mod reach;
#[cfg(any(feature = "rest-client", feature = "client"))]
pub mod token;
#[cfg(any(feature = "rest-client", feature = "client"))]
pub use token::{Token, TokenFuture, TokenSource, TokenStatistics};
#[cfg(feature = "emulator")]
pub mod emulator;
#[cfg(feature = "json")]
pub mod json;
#[cfg(feature = "json")]
pub mod registry;
#[cfg(feature = "rest-client")]
pub mod rest;
#[cfg(any(feature = "rest", feature = "service-config"))]
mod schema;
#[cfg(feature = "service-config")]
pub mod service_config;
pub mod status;
#[cfg(feature = "views")]
pub mod view;
pub mod wire;

/// The encoded `google.protobuf.FileDescriptorSet` of every `.proto` file the
/// crate compiles, well-known types included, for reflection (prost-reflect,
/// gRPC server reflection, transcoding).
///
/// ```
/// use prost::Message;
/// use prost_types::FileDescriptorSet;
///
/// let set = FileDescriptorSet::decode(cloud_report_proto::FILE_DESCRIPTOR_SET)?;
/// let report = set
///     .file
///     .iter()
///     .find(|f| f.name() == "google/api/servicecontrol/v1/service_controller.proto")
///     .unwrap();
/// assert_eq!(report.service[0].name(), "ServiceController");
/// # Ok::<(), prost::DecodeError>(())
/// ```
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));
