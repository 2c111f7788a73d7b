//! What generated code calls: the one runtime module of the generator's
//! output (as `tonic::codegen` is tonic's), so that the generated files name
//! no other module of the crate and the modules behind can move freely.
//! Nothing here is public.

/// The binary encoding.
pub(crate) mod wire {
    pub(crate) use crate::wire::*;
}

/// The JSON engine: the field codecs, the reader and the writer.
#[cfg(feature = "json")]
pub(crate) mod json {
    pub(crate) use crate::json::codec::*;
    pub(crate) use crate::json::serde_bridge;
    pub(crate) use crate::json::{
        ReadError, ReadJson, Reader, Sealed, WriteError, WriteJson, Writer,
    };
}

/// The type table's entries.
#[cfg(feature = "json")]
pub(crate) mod registry {
    pub(crate) use crate::json::transcode::{Entry, ListField};
}

/// The message schemas' table.
#[cfg(any(feature = "rest", feature = "service-config"))]
pub(crate) mod schema {
    pub(crate) use crate::schema::{Field, Kind, Message, Type};
}

/// The REST bindings and client, and with `rest` the gateway's dispatch.
#[cfg(feature = "rest-client")]
pub(crate) mod rest {
    #[cfg(feature = "rest")]
    pub(crate) use crate::rest::dispatch::{Reply, RestService, TypedCall};
    #[cfg(feature = "rest")]
    pub(crate) use crate::rest::encode_request;
    pub(crate) use crate::rest::{
        BINDINGS, Binding, FieldError, RequestMessage, RestClient, path_text, read_text, write_text,
    };
}
