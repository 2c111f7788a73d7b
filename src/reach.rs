//! What the crate's two client builders share, the gRPC transport's
//! ([`GrpcTransportBuilder`](crate::client::GrpcTransportBuilder)) and the
//! REST client's ([`RestClientBuilder`](crate::rest::RestClientBuilder)):
//! the roots they trust, the bearer tokens they send and how long
//! connecting may take, with one set of setters written once.

use std::time::Duration;

use crate::token::TokenSource;

/// How a client being built reaches its server.
pub(crate) struct Reach {
    /// PEM texts of roots trusted beside Mozilla's.
    pub(crate) roots: Vec<Vec<u8>>,
    /// Whether the platform's certificate store is trusted too (only ever
    /// set with the `native-roots` feature).
    pub(crate) native_roots: bool,
    /// Where the bearer tokens come from, if calls carry one.
    pub(crate) token: Option<TokenSource>,
    /// How long connecting may take.
    pub(crate) connect_timeout: Duration,
}

impl Default for Reach {
    fn default() -> Self {
        Self {
            roots: Vec::new(),
            native_roots: false,
            token: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The setters of a builder's `reach` field ([`Reach`]). `connecting` names
/// the step that fails when the platform's store is empty, `without_token`
/// says what a call does while its source has no token.
macro_rules! reach_setters {
    (connecting: $connecting:literal, without_token: $without_token:literal) => {
        /// Trusts the certificates of this PEM text as roots, beside Mozilla's
        /// (a test's own CA, a corporate proxy's).
        pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.reach.roots.push(pem.into());
            self
        }

        /// Trusts the platform's certificate store too (feature
        /// `native-roots`; `SSL_CERT_FILE` and `SSL_CERT_DIR` honoured): for a
        /// network whose proxy or private CA only the system trusts.
        #[doc = concat!($connecting, " fails when the store holds no usable certificate.")]
        #[cfg(feature = "native-roots")]
        pub fn native_roots(mut self) -> Self {
            self.reach.native_roots = true;
            self
        }

        /// Sends `authorization: Bearer <token>` with this fixed token.
        pub fn bearer_token(self, token: impl Into<String>) -> Self {
            self.tokens($crate::token::TokenSource::fixed(token))
        }

        /// Takes bearer tokens from `source`, asked in the background and
        /// kept (see [`TokenSource::new`](crate::token::TokenSource::new)):
        #[doc = $without_token]
        pub fn token_source<F, Fut>(self, source: F) -> Self
        where
            F: Fn() -> Fut + Send + Sync + 'static,
            Fut: ::std::future::Future<Output = Result<String, String>> + Send + 'static,
        {
            self.tokens($crate::token::TokenSource::new(source))
        }

        /// Takes the bearer token of every call from `source` (see
        /// [`token_source`](Self::token_source)).
        pub fn tokens(mut self, source: $crate::token::TokenSource) -> Self {
            self.reach.token = Some(source);
            self
        }

        /// How long connecting may take (default 10 s).
        pub fn connect_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.reach.connect_timeout = timeout;
            self
        }
    };
}
pub(crate) use reach_setters;
