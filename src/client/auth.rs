//! Google credentials for the client, from `google-cloud-auth` (Google's
//! own Rust authentication library): application default credentials, that
//! is `GOOGLE_APPLICATION_CREDENTIALS` (a service-account key, or another
//! credential file), gcloud's application-default file, or the GCE/GKE
//! metadata server (`GCE_METADATA_HOST` overrides its address). Tokens are
//! cached and refreshed before they expire by the library; a failure reaches
//! the call as UNAUTHENTICATED, never a silent drop.
//!
//! `google-cloud-auth` needs a process-wide rustls provider for its own
//! HTTPS calls: building credentials installs ring's when none is installed
//! (and leaves one the application installed alone).

use std::sync::Arc;

use google_cloud_auth::credentials::{AccessTokenCredentials, Builder};

use crate::token::{TokenFuture, TokenSource};

/// The OAuth scopes Service Control accepts.
pub const SERVICE_CONTROL_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/cloud-platform",
];

/// Why credentials could not be found or read.
#[derive(Debug, thiserror::Error)]
#[error("Google credentials: {0}")]
pub struct AuthError(String);

/// Google credentials, giving bearer tokens for the transports.
///
/// ```no_run
/// use cloud_report_proto::client::{Client, GoogleCredentials, GrpcTransport};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let credentials = GoogleCredentials::application_default()?;
/// let transport = GrpcTransport::builder("https://servicecontrol.googleapis.com")
///     .tokens(credentials.token_source())
///     .connect()
///     .await?;
/// let client = Client::builder("my-api.endpoints.my-project.cloud.goog").build(transport);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct GoogleCredentials {
    inner: AccessTokenCredentials,
    /// Where they come from, for messages.
    source: Arc<str>,
}

/// Where application default credentials come from, in the order Google's
/// libraries look: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
/// application-default file, the metadata server.
fn application_default_source() -> String {
    if let Some(path) = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
        return format!(
            "the credential file {} (GOOGLE_APPLICATION_CREDENTIALS)",
            std::path::Path::new(&path).display()
        );
    }
    let gcloud = std::env::var_os("CLOUDSDK_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| std::path::Path::new(&home).join(".config").join("gcloud"))
        })
        .map(|dir| dir.join("application_default_credentials.json"));
    if let Some(file) = gcloud.filter(|f| f.is_file()) {
        return format!(
            "gcloud's application-default credentials {}",
            file.display()
        );
    }
    let host = std::env::var("GCE_METADATA_HOST")
        .unwrap_or_else(|_| "metadata.google.internal".to_owned());
    format!("the metadata server at {host}")
}

fn install_ring() {
    // Fails only when a provider is installed already, which is as good.
    // ring is the crate's provider; rustls 0.23.48 deprecates its
    // default_provider for lacking post-quantum key exchange only.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let _ = provider.install_default();
}

impl GoogleCredentials {
    /// Application default credentials with the Service Control scopes.
    ///
    /// # Errors
    ///
    /// A credential file that cannot be read or is of an unsupported kind.
    /// (With no file, the metadata server is used; whether it answers is
    /// known at the first token.)
    pub fn application_default() -> Result<Self, AuthError> {
        Self::application_default_with_scopes(SERVICE_CONTROL_SCOPES)
    }

    /// Application default credentials with other scopes.
    ///
    /// # Errors
    ///
    /// As [`application_default`](Self::application_default).
    pub fn application_default_with_scopes(scopes: &[&str]) -> Result<Self, AuthError> {
        install_ring();
        let source = application_default_source();
        let inner = Builder::default()
            .with_scopes(scopes.iter().copied())
            .build_access_token_credentials()
            .map_err(|e| AuthError(format!("from {source}: {e}")))?;
        Ok(Self {
            inner,
            source: source.into(),
        })
    }

    /// Credentials of a service-account key (the JSON file's contents),
    /// with the Service Control scopes.
    ///
    /// # Errors
    ///
    /// A key that is not a service-account key.
    pub fn service_account(key: serde_json::Value) -> Result<Self, AuthError> {
        install_ring();
        let source = match key.get("client_email").and_then(|e| e.as_str()) {
            Some(email) => format!("the service-account key of {email}"),
            None => "a service-account key".to_owned(),
        };
        let inner = google_cloud_auth::credentials::service_account::Builder::new(key)
            .with_access_specifier(
                google_cloud_auth::credentials::service_account::AccessSpecifier::from_scopes(
                    SERVICE_CONTROL_SCOPES.iter().copied(),
                ),
            )
            .build_access_token_credentials()
            .map_err(|e| AuthError(format!("from {source}: {e}")))?;
        Ok(Self {
            inner,
            source: source.into(),
        })
    }

    /// Where the credentials come from: the credential file (and the
    /// variable naming it), gcloud's file, the metadata server's address, or
    /// the service account of a key; said when they are built, so that a
    /// deployment can log it before the first token is asked for.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A token, from the cache or fetched.
    ///
    /// # Errors
    ///
    /// Why no token could be had, naming the source it was asked of.
    pub async fn token(&self) -> Result<String, String> {
        self.inner
            .access_token()
            .await
            .map(|t| t.token)
            .map_err(|e| format!("no token from {}: {e}", self.source))
    }

    /// The credentials as the token source of a transport
    /// ([`GrpcTransportBuilder::tokens`](super::GrpcTransportBuilder::tokens),
    /// and the REST client's `tokens`), named by where they come from. It
    /// asks the credentials in the background (`google-cloud-auth` caches
    /// the token and refreshes it before it expires), so that no call waits
    /// on a slow metadata server.
    pub fn token_source(&self) -> TokenSource {
        let credentials = Arc::new(self.clone());
        TokenSource::new(move || {
            let credentials = credentials.clone();
            Box::pin(async move { credentials.token().await }) as TokenFuture
        })
        .named(self.source.to_string())
    }
}
