//! Bearer tokens for the crate's clients (the REST client and the gRPC
//! transport): a fixed token, or a source asked before every call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a token source gives: the token, or why there is none.
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// Where a client gets the OAuth2 bearer token of each call. A source should
/// cache tokens and refresh them before they expire (as
/// `client::GoogleCredentials` does); its error fails the call with
/// UNAUTHENTICATED, never silently.
///
/// ```
/// use cloud_report_proto::TokenSource;
///
/// let fixed = TokenSource::fixed("ya29.token");
/// let asked = TokenSource::new(|| async { Ok::<_, String>("ya29.fresh".to_owned()) });
/// # let _ = (fixed, asked);
/// ```
#[derive(Clone)]
pub struct TokenSource(Arc<dyn Fn() -> TokenFuture + Send + Sync>);

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource")
    }
}

impl TokenSource {
    /// A source asking `source` before every call.
    pub fn new<F, Fut>(source: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, String>> + Send + 'static,
    {
        Self(Arc::new(move || Box::pin(source()) as TokenFuture))
    }

    /// Always this token.
    pub fn fixed(token: impl Into<String>) -> Self {
        let token: String = token.into();
        Self::new(move || {
            let token = token.clone();
            async move { Ok(token) }
        })
    }

    /// The `Authorization` header value of a call: `Bearer <token>`.
    pub(crate) async fn authorization(&self) -> Result<http::HeaderValue, tonic::Status> {
        let token = (self.0)()
            .await
            .map_err(|e| tonic::Status::unauthenticated(format!("the token source failed: {e}")))?;
        let mut value = http::HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| tonic::Status::unauthenticated("the token is not a header value"))?;
        value.set_sensitive(true);
        Ok(value)
    }
}
