//! What the gateway adds to a gRPC call before handing it to its service:
//! a unary call carries exactly one message, and a request that does not
//! decode is the caller's error.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use super::error::{BodyError, RestError};
use crate::google::rpc::Code;

/// The gRPC path (`/package.Service/Method`) of every method of the crate
/// that takes one request message.
pub(crate) const UNARY_METHODS: &[&str] = include!(concat!(env!("OUT_DIR"), "/unary_methods.rs"));

/// A unary call's body: fails as soon as a second message begins, where
/// tonic would read the first and drop the rest unseen.
pub(crate) struct OneMessage<B> {
    inner: B,
    /// Bytes of the length prefix seen so far, and the prefix itself.
    prefix: [u8; 5],
    prefix_len: usize,
    /// Bytes of the current message still to come.
    remaining: u64,
    /// Whether a whole message has gone by.
    complete: bool,
}

impl<B> OneMessage<B> {
    pub(crate) fn new(inner: B) -> Self {
        Self {
            inner,
            prefix: [0; 5],
            prefix_len: 0,
            remaining: 0,
            complete: false,
        }
    }

    /// Follows the framing over one chunk; `false` when a second message
    /// begins in it.
    fn follow(&mut self, mut chunk: &[u8]) -> bool {
        while !chunk.is_empty() {
            if self.remaining > 0 {
                let n = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                self.remaining -= n as u64;
                chunk = &chunk[n..];
                if self.remaining == 0 {
                    self.complete = true;
                }
                continue;
            }
            if self.complete {
                return false;
            }
            let n = (5 - self.prefix_len).min(chunk.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&chunk[..n]);
            self.prefix_len += n;
            chunk = &chunk[n..];
            if self.prefix_len == 5 {
                self.remaining = u64::from((&self.prefix[1..]).get_u32());
                self.complete = self.remaining == 0;
            }
        }
        true
    }
}

// `http_body::Body`'s signature and the poll around a frame, as the
// server's bodies (`rest/server.rs`) have them: each watches something else.
impl<B> Body for OneMessage<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && !this.follow(data)
                {
                    let error = RestError::new(
                        Code::InvalidArgument,
                        "a unary call carries more than one request message",
                    );
                    return Poll::Ready(Some(Err(BodyError::new(error).into())));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The codes of tonic's answers to a request message it could not take,
/// put right. A message that does not decode, or is missing, tonic answers
/// with INTERNAL, which clients take for the server's fault and retry (ESP
/// even fails open on it); it is the caller's fault: INVALID_ARGUMENT, as
/// Google's front end answers it. A message over the size limit tonic
/// answers with OUT_OF_RANGE; gRPC's status code table says
/// RESOURCE_EXHAUSTED. Such answers are trailers-only, so the status is in
/// the headers.
pub(crate) fn decode_error_codes(headers: &mut HeaderMap) {
    let message = |prefixes: &[&str]| {
        headers.get("grpc-message").is_some_and(|m| {
            let m = m.as_bytes();
            prefixes.iter().any(|p| {
                m.starts_with(p.as_bytes()) || m.starts_with(p.replace(' ', "%20").as_bytes())
            })
        })
    };
    let code = match headers.get("grpc-status").map(http::HeaderValue::as_bytes) {
        Some(b"13")
            if message(&[
                "failed to decode Protobuf message",
                "Missing request message",
            ]) =>
        {
            "3"
        }
        Some(b"11") if message(&["Error, decoded message length too large"]) => "8",
        _ => return,
    };
    headers.insert("grpc-status", http::HeaderValue::from_static(code));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u32) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend(std::iter::repeat_n(7, len as usize));
        out
    }

    #[test]
    fn a_second_message_is_seen_at_any_split() {
        let one = frame(3);
        let two = [frame(3), frame(0)].concat();
        for split in 0..=two.len() {
            let mut body = OneMessage::new(());
            let ok = body.follow(&two[..split]) && body.follow(&two[split..]);
            assert!(!ok, "split at {split}");
        }
        for split in 0..=one.len() {
            let mut body = OneMessage::new(());
            assert!(body.follow(&one[..split]) && body.follow(&one[split..]));
        }
        let mut empty = OneMessage::new(());
        assert!(empty.follow(&frame(0)));
        assert!(!empty.follow(&[0]));
    }

    #[test]
    fn the_unary_table_names_the_crate_methods() {
        assert!(UNARY_METHODS.contains(&"/google.api.servicecontrol.v1.ServiceController/Report"));
    }
}
