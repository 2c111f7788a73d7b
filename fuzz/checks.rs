#![allow(dead_code)] // each fuzz target uses one of the checks
//! What the fuzz targets check, shared with `tests/fuzz_corpus.rs`, which
//! replays every corpus file as an ordinary test. Each check must never
//! panic, and whatever is accepted must round-trip exactly.

use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::google::cloud::apigee::v1 as apigee;
use cloud_report_proto::google::cloud::audit::AuditLog;
use cloud_report_proto::google::rpc::Status;
use cloud_report_proto::json;
use cloud_report_proto::registry;
use prost::Message;

/// The top-level types, chosen by an input's first byte.
pub const TYPES: &[&str] = &[
    "google.api.servicecontrol.v1.ReportRequest",
    "google.api.servicecontrol.v1.ReportResponse",
    "google.api.servicecontrol.v1.CheckRequest",
    "google.api.servicecontrol.v1.CheckResponse",
    "google.api.servicecontrol.v1.AllocateQuotaRequest",
    "google.api.servicecontrol.v1.AllocateQuotaResponse",
    "google.rpc.Status",
    "google.cloud.audit.AuditLog",
    "google.cloud.apigee.v1.ReportInstanceStatusRequest",
    "google.cloud.apigee.v1.DeploymentChangeReport",
];

/// Calls `f::<T>(args)` for the top-level type `T` named `name`.
macro_rules! with_type {
    ($name:expr, $f:ident($($arg:expr),*)) => {
        match $name {
            "google.api.servicecontrol.v1.ReportRequest" => $f::<sc::ReportRequest>($($arg),*),
            "google.api.servicecontrol.v1.ReportResponse" => $f::<sc::ReportResponse>($($arg),*),
            "google.api.servicecontrol.v1.CheckRequest" => $f::<sc::CheckRequest>($($arg),*),
            "google.api.servicecontrol.v1.CheckResponse" => $f::<sc::CheckResponse>($($arg),*),
            "google.api.servicecontrol.v1.AllocateQuotaRequest" => {
                $f::<sc::AllocateQuotaRequest>($($arg),*)
            }
            "google.api.servicecontrol.v1.AllocateQuotaResponse" => {
                $f::<sc::AllocateQuotaResponse>($($arg),*)
            }
            "google.rpc.Status" => $f::<Status>($($arg),*),
            "google.cloud.audit.AuditLog" => $f::<AuditLog>($($arg),*),
            "google.cloud.apigee.v1.ReportInstanceStatusRequest" => {
                $f::<apigee::ReportInstanceStatusRequest>($($arg),*)
            }
            _ => $f::<apigee::DeploymentChangeReport>($($arg),*),
        }
    };
}

fn split(data: &[u8]) -> Option<(&'static str, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((TYPES[usize::from(first) % TYPES.len()], rest))
}

/// JSON parse of a top-level type: the engine reads by the JSON grammar
/// that `serde_json` reads, every entry point reads alike, and what parses
/// writes back and reads back as the same binary.
pub fn json(data: &[u8]) {
    let Some((type_name, text)) = split(data) else {
        return;
    };
    let entry = registry::lookup(type_name).expect("registered");
    let ours = entry.json_to_binary(text);
    // What the engine reads is JSON by serde_json's reading (where the text
    // is UTF-8: serde_json lets invalid UTF-8 through in ignored values).
    if ours.is_ok()
        && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(text)
    {
        panic!("only our reader reads it: {e}");
    }
    // The typed entry point, the registry (the CLI's and the gateway's) and
    // serde's `Deserialize` (an adapter over the engine, here on
    // serde_json's reader) read the same messages, and the same with
    // unknown fields ignored.
    fn typed<T: Message + json::ReadJson>(
        text: &[u8],
        options: &json::ParseOptions,
    ) -> Result<Vec<u8>, String> {
        json::from_slice_with::<T>(text, options)
            .map(|m| m.encode_to_vec())
            .map_err(|e| e.to_string())
    }
    fn through_serde<T: Message + serde::de::DeserializeOwned>(
        text: &[u8],
    ) -> Result<Vec<u8>, String> {
        serde_json::from_slice::<T>(text)
            .map(|m| m.encode_to_vec())
            .map_err(|e| e.to_string())
    }
    let strict = json::ParseOptions::default();
    let lenient = json::ParseOptions::default().ignore_unknown_fields(true);
    let ours = ours.map_err(|e| e.to_string());
    // Reading in pieces (the CLI's, one element of a top-level list at a
    // time) gives the same bytes, or the same error at the same place.
    for options in [&strict, &lenient] {
        let mut pieces = Vec::new();
        let in_pieces = entry
            .json_to_binary_in_pieces(text, options, |piece| {
                pieces.extend_from_slice(piece);
                Ok::<(), std::convert::Infallible>(())
            })
            .map(|()| pieces)
            .map_err(|e| e.to_string());
        let whole = entry
            .json_to_binary_with(text, options)
            .map_err(|e| e.to_string());
        assert_eq!(in_pieces, whole, "reading in pieces disagrees");
    }
    let others = [
        ("typed", with_type!(type_name, typed(text, &strict)), &ours),
        ("serde", with_type!(type_name, through_serde(text)), &ours),
        (
            "typed, lenient",
            with_type!(type_name, typed(text, &lenient)),
            &entry
                .json_to_binary_with(text, &lenient)
                .map_err(|e| e.to_string()),
        ),
    ];
    for (path, other, registry) in &others {
        match (other, registry) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "the {path} reader disagrees"),
            (Err(_), Err(_)) => {}
            (Err(e), Ok(_)) => panic!("only the registry reads it, not {path}: {e}"),
            (Ok(_), Err(e)) => panic!("only {path} reads it: {e}"),
        }
    }
    let Ok(binary) = ours else {
        return;
    };
    // Writing may fail only for values JSON cannot hold (NaN in a Value).
    let Ok(written) = entry.binary_to_json(&binary, false) else {
        return;
    };
    // serde's `Serialize` (an adapter over the engine) gives serde_json the
    // same document.
    fn serialized<T: Message + Default + serde::Serialize>(binary: &[u8]) -> String {
        let message = T::decode(binary).expect("decodes");
        serde_json::to_string(&message).expect("writes")
    }
    assert_eq!(with_type!(type_name, serialized(&binary)), written);
    let again = entry
        .json_to_binary(written.as_bytes())
        .expect("our own output parses");
    assert_eq!(
        entry.binary_to_json(&again, false).expect("writes again"),
        written
    );
}

/// Binary decode of a top-level type: what decodes re-encodes to bytes that
/// decode and encode to the same bytes, and writes JSON or fails cleanly.
pub fn binary(data: &[u8]) {
    let Some((type_name, bytes)) = split(data) else {
        return;
    };
    #[cfg(feature = "views")]
    trait Checked: Message + Default + json::WriteJson + cloud_report_proto::view::Viewed {}
    #[cfg(feature = "views")]
    impl<T: Message + Default + json::WriteJson + cloud_report_proto::view::Viewed> Checked for T {}
    #[cfg(not(feature = "views"))]
    trait Checked: Message + Default + json::WriteJson {}
    #[cfg(not(feature = "views"))]
    impl<T: Message + Default + json::WriteJson> Checked for T {}
    fn check<T: Checked>(bytes: &[u8]) {
        if let Ok(message) = T::decode(bytes) {
            // Decode, encode, decode: the second encoding is the first byte
            // for byte, unknown fields included. Compared as bytes: a NaN is
            // not equal to itself, but its encoding is.
            let encoded = message.encode_to_vec();
            assert_eq!(message.encoded_len(), encoded.len());
            let again = T::decode(encoded.as_slice()).expect("re-decodes");
            assert_eq!(again.encode_to_vec(), encoded);
            // Every way of encoding writes the same bytes.
            let mut into = Vec::new();
            message.encode(&mut into).expect("a Vec grows");
            assert_eq!(into, encoded);
            let delimited = message.encode_length_delimited_to_vec();
            assert_eq!(
                T::decode_length_delimited(delimited.as_slice())
                    .expect("re-decodes")
                    .encode_to_vec(),
                encoded
            );
            let mut raw = Vec::new();
            message.encode_raw(&mut raw);
            assert_eq!(raw, encoded);
            let _ = json::to_string(&message);
        }
        // A view is made exactly when the owned message is, and gives it
        // back byte for byte.
        #[cfg(feature = "views")]
        {
            let view = cloud_report_proto::view::decode_view::<T>(bytes);
            match (T::decode(bytes), view) {
                (Ok(owned), Ok(view)) => {
                    assert_eq!(
                        view.to_owned_message().encode_to_vec(),
                        owned.encode_to_vec()
                    );
                }
                (Err(_), Err(_)) => {}
                (owned, view) => panic!(
                    "owned decoding {:?}, view {:?}",
                    owned.map(|_| ()),
                    view.map(|_| ())
                ),
            }
        }
    }
    with_type!(type_name, check(bytes));
}

/// The Any registry: a type name (up to a NUL) and a payload, through both
/// transcoding directions.
pub fn any(data: &[u8]) {
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let Ok(name) = std::str::from_utf8(&data[..nul]) else {
        return;
    };
    let Some(entry) = registry::lookup(name) else {
        return;
    };
    let payload = &data[nul + 1..];
    let _ = entry.binary_to_json(payload, true);
    let _ = entry.json_to_binary(payload);
    let _ = entry.normalize_binary(payload);
}
