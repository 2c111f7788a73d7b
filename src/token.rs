//! Bearer tokens for the crate's clients (the REST client and the gateway
//! client's transports): a fixed token, or a source kept fresh in the
//! background, off the path of the calls that send it.
//!
//! A source's token is fetched on first use and then refreshed by a task of
//! its own: a minute before it expires when the source says when that is
//! ([`TokenSource::expiring`]), else every [`TokenSource::REFRESH`]; at once
//! when a server refuses it (HTTP 401, UNAUTHENTICATED; a source that
//! caches, as Google's credentials do, may give the same token again);
//! every [`TokenSource::RETRY`] while the source fails. Through failures an
//! expiring token is kept until it expires, as ESPv2's token subscriber
//! does; a token without a lifetime is dropped at the source's first
//! failure (the source is the judge of whether it still has a valid one).
//! Each fetch may take [`TokenSource::FETCH_TIMEOUT`]; one that takes
//! longer has failed. A task that ends (its runtime shut down, a source
//! that panicked) is started again by the next call.
//!
//! A call takes the token it finds. The gateway client's Check and
//! AllocateQuota never wait for one: without a valid token they fail at
//! once with INTERNAL and are not made (ESPv2's "Missing access token"),
//! so a metadata server that hangs can never turn into a timeout that lets
//! requests through unchecked. Other calls (reports, the REST client's)
//! wait for the fetch under way, within their own timeout, and fail with
//! UNAVAILABLE (tried again by their policy) when it fails.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// What a token source gives: the token, or why there is none.
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// What an expiring token source gives: the token with its lifetime, or why
/// there is none.
pub type ExpiringTokenFuture = Pin<Box<dyn Future<Output = Result<Token, String>> + Send>>;

/// A bearer token and how long it stays valid from when it was fetched.
///
/// ```
/// use std::time::Duration;
/// use cloud_report_proto::Token;
///
/// let token = Token::new("ya29.token").expires_in(Duration::from_secs(3599));
/// assert_eq!(token.lifetime, Some(Duration::from_secs(3599)));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Token {
    /// The token.
    pub value: String,
    /// How long it is valid from when it was fetched (OAuth2's
    /// `expires_in`); `None` for valid until the source fails.
    pub lifetime: Option<Duration>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &"[censored]")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl Token {
    /// A token without a known lifetime.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            lifetime: None,
        }
    }

    /// The token's lifetime from now.
    #[must_use]
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }
}

/// Counts of what a token source did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenStatistics {
    /// Fetches that gave a token.
    pub fetched: u64,
    /// Fetches that failed or took longer than
    /// [`TokenSource::FETCH_TIMEOUT`].
    pub failed: u64,
    /// Calls that could not be made for want of a valid token.
    pub missing: u64,
    /// Tokens a server refused (each starting a refresh).
    pub refused: u64,
}

type Fetch = Arc<dyn Fn() -> ExpiringTokenFuture + Send + Sync>;

/// Where a client gets the OAuth2 bearer token of each call; see the
/// [module documentation](self) for how it is kept fresh. Cheap to clone:
/// clones share one token and one refresh task, which ends with the last
/// clone.
///
/// ```
/// use std::time::Duration;
/// use cloud_report_proto::{Token, TokenSource};
///
/// let fixed = TokenSource::fixed("ya29.token");
/// let asked = TokenSource::new(|| async { Ok::<_, String>("ya29.fresh".to_owned()) });
/// let expiring = TokenSource::expiring(|| async {
///     Ok::<_, String>(Token::new("ya29.fresh").expires_in(Duration::from_secs(3600)))
/// })
/// .named("my token service");
/// # let _ = (fixed, asked, expiring);
/// ```
#[derive(Clone)]
pub struct TokenSource(Kind);

#[derive(Clone)]
enum Kind {
    Fixed(http::HeaderValue),
    Refreshed(Arc<Shared>),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Kind::Fixed(_) => f.write_str("TokenSource(fixed)"),
            Kind::Refreshed(shared) => write!(f, "TokenSource({})", shared.name()),
        }
    }
}

/// The token a source holds.
struct Current {
    header: http::HeaderValue,
    /// When it stops being used; `None` for valid until the source fails.
    valid_until: Option<Instant>,
}

#[derive(Default)]
struct State {
    current: Option<Current>,
    /// Why the last fetch failed, while the source fails.
    error: Option<String>,
}

/// What the clones of a refreshed source share.
struct Shared {
    /// Where tokens come from, for messages (set by any clone).
    name: Mutex<Arc<str>>,
    fetch: Fetch,
    state: Mutex<State>,
    /// Fetches ended so far: callers that wait see it move.
    attempts: watch::Sender<u64>,
    /// Asks the refresh task to fetch now (its own handle, so that the
    /// task waits without keeping the source alive).
    wake: Arc<Notify>,
    started: AtomicBool,
    fetched: AtomicU64,
    failed: AtomicU64,
    missing: AtomicU64,
    refused: AtomicU64,
}

/// A token is refreshed this long before it expires (ESPv2's token
/// subscriber: 60 s), or at half its lifetime when that is shorter.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(60);
/// The least time between two fetches started by refused tokens.
const MIN_REFUSED_GAP: Duration = Duration::from_secs(1);
/// The longest wait between two refreshes.
const DAY: Duration = Duration::from_secs(24 * 3600);

impl Drop for Shared {
    fn drop(&mut self) {
        // Wakes the refresh task, which finds the source gone and ends.
        self.wake.notify_one();
    }
}

impl TokenSource {
    /// How often a token without a lifetime is asked for again.
    pub const REFRESH: Duration = Duration::from_secs(60);
    /// How long one fetch may take.
    pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
    /// How soon a failed fetch is tried again (ESPv2's token subscriber:
    /// 2 s).
    pub const RETRY: Duration = Duration::from_secs(2);

    /// A source whose tokens have no known lifetime: `source` is asked in
    /// the background every [`REFRESH`](Self::REFRESH) (it may cache, as
    /// `client::GoogleCredentials` does), and its token is used until it
    /// fails; then calls have no token until it answers again.
    pub fn new<F, Fut>(source: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, String>> + Send + 'static,
    {
        let source = Arc::new(source);
        Self::from_fetch(Arc::new(move || {
            let fetch = source();
            Box::pin(async move { fetch.await.map(Token::new) }) as ExpiringTokenFuture
        }))
    }

    /// A source whose tokens say how long they last: each is refreshed a
    /// minute before it expires (at half its lifetime when that is
    /// shorter), and kept through failed refreshes until it expires.
    pub fn expiring<F, Fut>(source: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Token, String>> + Send + 'static,
    {
        Self::from_fetch(Arc::new(move || Box::pin(source()) as ExpiringTokenFuture))
    }

    fn from_fetch(fetch: Fetch) -> Self {
        Self(Kind::Refreshed(Arc::new(Shared {
            name: Mutex::new("the token source".into()),
            fetch,
            state: Mutex::new(State::default()),
            attempts: watch::Sender::new(0),
            wake: Arc::new(Notify::new()),
            started: AtomicBool::new(false),
            fetched: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            missing: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })))
    }

    /// Always this token.
    pub fn fixed(token: impl Into<String>) -> Self {
        let token: String = token.into();
        match bearer(&token) {
            Ok(header) => Self(Kind::Fixed(header)),
            // Not a header value: every call says so, as a failing source.
            Err(error) => Self::new(move || {
                let error = error.clone();
                async move { Err(error) }
            }),
        }
    }

    /// Names where the tokens come from (a credential file, a metadata
    /// server's address), for the errors and logs that mention it; every
    /// clone of the source takes the name.
    #[must_use]
    pub fn named(self, name: impl Into<String>) -> Self {
        if let Kind::Refreshed(shared) = &self.0 {
            let name: String = name.into();
            *shared.name.lock().unwrap_or_else(PoisonError::into_inner) = name.into();
        }
        self
    }

    /// Where the tokens come from.
    pub fn name(&self) -> Arc<str> {
        match &self.0 {
            Kind::Fixed(_) => "a fixed token".into(),
            Kind::Refreshed(shared) => shared.name(),
        }
    }

    /// The counts so far (all zero for a fixed token).
    pub fn statistics(&self) -> TokenStatistics {
        match &self.0 {
            Kind::Fixed(_) => TokenStatistics::default(),
            Kind::Refreshed(shared) => TokenStatistics {
                fetched: shared.fetched.load(Ordering::Relaxed),
                failed: shared.failed.load(Ordering::Relaxed),
                missing: shared.missing.load(Ordering::Relaxed),
                refused: shared.refused.load(Ordering::Relaxed),
            },
        }
    }

    /// Waits until the source has a valid token, at most `within`: for a
    /// gateway to start serving with a token at hand. Starts the refresh
    /// task on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// Why there is none by then: the source's last error, or that it has
    /// not answered yet.
    pub async fn ready(&self, within: Duration) -> Result<(), String> {
        let Kind::Refreshed(shared) = &self.0 else {
            return Ok(());
        };
        shared.start();
        let mut attempts = shared.attempts.subscribe();
        let waited = tokio::time::timeout(within, async {
            loop {
                if shared.valid(Instant::now()).is_some() {
                    return;
                }
                if attempts.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        let _ = waited;
        match shared.valid(Instant::now()) {
            Some(_) => Ok(()),
            None => Err(shared.why_none()),
        }
    }

    /// The `Authorization` header (`Bearer <token>`, marked sensitive) of a
    /// call that may wait: the valid token, or the outcome of the next
    /// fetch (asked for now); UNAVAILABLE when it fails, as gRPC reports a
    /// failure of call credentials, so that the call is tried again by its
    /// policy. For a [`Transport`](crate::client::Transport) of your own,
    /// on calls off the request path (reports).
    ///
    /// # Errors
    ///
    /// UNAVAILABLE, naming the source and why it has no token.
    pub async fn authorization(&self) -> Result<http::HeaderValue, tonic::Status> {
        let shared = match &self.0 {
            Kind::Fixed(header) => return Ok(header.clone()),
            Kind::Refreshed(shared) => shared,
        };
        shared.start();
        if let Some(header) = shared.valid(Instant::now()) {
            return Ok(header);
        }
        let mut attempts = shared.attempts.subscribe();
        attempts.borrow_and_update();
        // A fetch that ended between the look and the subscription.
        if let Some(header) = shared.valid(Instant::now()) {
            return Ok(header);
        }
        shared.wake.notify_one();
        // The fetch is bounded, and so is the wait for it.
        let _ = tokio::time::timeout(
            MIN_REFUSED_GAP + TokenSource::FETCH_TIMEOUT + Duration::from_secs(1),
            attempts.changed(),
        )
        .await;
        shared.valid(Instant::now()).ok_or_else(|| {
            bump(&shared.missing);
            // As gRPC takes a failure of call credentials: UNAVAILABLE, to
            // be tried again.
            tonic::Status::unavailable(shared.why_none())
        })
    }

    /// The `Authorization` header of a call that must not wait (a gateway's
    /// Check or AllocateQuota): the valid token, or INTERNAL at once
    /// ("Missing access token", as ESPv2 says), marked as no failure of the
    /// network: the client does not retry it nor let its request through.
    /// For a [`Transport`](crate::client::Transport) of your own: don't
    /// make the call when this fails.
    ///
    /// # Errors
    ///
    /// INTERNAL, naming the source and why it has no token.
    pub fn authorization_now(&self) -> Result<http::HeaderValue, tonic::Status> {
        let shared = match &self.0 {
            Kind::Fixed(header) => return Ok(header.clone()),
            Kind::Refreshed(shared) => shared,
        };
        shared.start();
        shared.valid(Instant::now()).ok_or_else(|| {
            bump(&shared.missing);
            crate::failure::settled(
                tonic::Code::Internal,
                format!(
                    "Missing access token for the Service Control call: {}",
                    shared.why_none()
                ),
                crate::failure::Settled::NoToken,
            )
        })
    }

    /// Tells the source a server refused its token (HTTP 401,
    /// UNAUTHENTICATED): a new one is fetched now (at most one a second).
    pub fn refused(&self) {
        if let Kind::Refreshed(shared) = &self.0 {
            bump(&shared.refused);
            shared.wake.notify_one();
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn bearer(token: &str) -> Result<http::HeaderValue, String> {
    // gRPC metadata takes visible ASCII alone, as do OAuth2 tokens.
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token is not a header value".to_owned());
    }
    let mut value = http::HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| "the token is not a header value".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}

impl Shared {
    fn name(&self) -> Arc<str> {
        self.name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token, when one is valid at `now`.
    fn valid(&self, now: Instant) -> Option<http::HeaderValue> {
        let state = self.state();
        let current = state.current.as_ref()?;
        match current.valid_until {
            Some(until) if now >= until => None,
            _ => Some(current.header.clone()),
        }
    }

    /// Why there is no valid token.
    fn why_none(&self) -> String {
        let state = self.state();
        match (&state.error, &state.current) {
            (Some(error), _) => format!("no token from {}: {error}", self.name()),
            (None, Some(_)) => format!("the token from {} expired", self.name()),
            (None, None) => format!("no token from {} yet", self.name()),
        }
    }

    /// Starts the refresh task, once, on the current runtime (outside one,
    /// nothing: a call there cannot be made either).
    fn start(self: &Arc<Self>) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.started.swap(true, Ordering::AcqRel) {
            runtime.spawn(refresh(Arc::downgrade(self)));
        }
    }

    /// Records a fetch's outcome; how long until the next one.
    fn record(&self, outcome: Result<Token, String>, now: Instant) -> Duration {
        let wait = match outcome {
            Ok(token) => match bearer(&token.value) {
                Ok(header) => {
                    bump(&self.fetched);
                    let mut state = self.state();
                    if let Some(error) = state.error.take() {
                        tracing::info!(source = %self.name(), %error, "access tokens are fetched again");
                    }
                    let (valid_until, wait) = match token.lifetime {
                        Some(lifetime) => {
                            let early = REFRESH_BEFORE_EXPIRY.min(lifetime / 2);
                            // A lifetime past any clock: valid until
                            // replaced, refreshed daily.
                            (now.checked_add(lifetime), (lifetime - early).min(DAY))
                        }
                        None => (None, TokenSource::REFRESH),
                    };
                    state.current = Some(Current {
                        header,
                        valid_until,
                    });
                    wait
                }
                Err(error) => self.failed(error),
            },
            Err(error) => self.failed(error),
        };
        self.attempts.send_modify(|n| *n += 1);
        wait
    }

    /// A failed fetch: logged when the source starts failing (and again
    /// when it is heard from), counted always; a token without a lifetime
    /// is dropped, one with a lifetime kept until it expires.
    fn failed(&self, error: String) -> Duration {
        bump(&self.failed);
        let mut state = self.state();
        if state.error.is_none() {
            tracing::error!(source = %self.name(), %error, "no access token: calls that need one fail until the source answers");
        }
        state.error = Some(error);
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.valid_until.is_none())
        {
            state.current = None;
        }
        TokenSource::RETRY
    }
}

/// The refresh task: fetches, waits for the next refresh (or a wake-up),
/// until the source's last clone is gone.
async fn refresh(shared: Weak<Shared>) {
    // However the task ends (its runtime shut down, a source that panicked),
    // the next call starts another.
    struct Running(Weak<Shared>);
    impl Drop for Running {
        fn drop(&mut self) {
            if let Some(shared) = self.0.upgrade() {
                shared.started.store(false, Ordering::Release);
            }
        }
    }
    let _running = Running(shared.clone());
    let mut last_fetch: Option<Instant> = None;
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let fetch = strong.fetch.clone();
        drop(strong);
        if let Some(last) = last_fetch {
            // A refused token wakes the task at once, but not more often
            // than this.
            tokio::time::sleep_until(last + MIN_REFUSED_GAP).await;
        }
        last_fetch = Some(Instant::now());
        let outcome = match tokio::time::timeout(TokenSource::FETCH_TIMEOUT, fetch()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {:?}", TokenSource::FETCH_TIMEOUT)),
        };
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let wait = strong.record(outcome, Instant::now());
        let wake = strong.wake.clone();
        // Nothing of the source is held while waiting: its last clone
        // dropped wakes the task, which ends.
        drop((strong, fetch));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A source counting its fetches, giving tokens of `lifetime`.
    fn counted(lifetime: Option<Duration>) -> (TokenSource, Arc<AtomicUsize>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = fetches.clone();
        let source = TokenSource::expiring(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let token = Token::new("t");
                Ok(match lifetime {
                    Some(lifetime) => token.expires_in(lifetime),
                    None => token,
                })
            }
        });
        (source, fetches)
    }

    #[tokio::test(start_paused = true)]
    async fn a_name_given_after_use_is_taken_and_refreshing_goes_on() {
        let (source, fetches) = counted(Some(Duration::from_secs(10)));
        let clone = source.clone();
        source.ready(Duration::from_secs(1)).await.unwrap();
        let source = source.named("the metadata server at 127.0.0.1:9");
        assert_eq!(&*clone.name(), "the metadata server at 127.0.0.1:9");
        // Refreshed at half its lifetime, again and again.
        tokio::time::sleep(Duration::from_secs(21)).await;
        assert!(fetches.load(Ordering::SeqCst) >= 4);
        assert!(source.authorization_now().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lifetime_past_any_clock_is_no_panic() {
        let (source, _) = counted(Some(Duration::MAX));
        source.ready(Duration::from_secs(1)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(source.authorization_now().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_refresh_task_ends_with_the_last_clone() {
        let (source, fetches) = counted(None);
        source.ready(Duration::from_secs(1)).await.unwrap();
        let clone = source.clone();
        drop(source);
        tokio::time::sleep(TokenSource::REFRESH + Duration::from_secs(1)).await;
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "refreshed while a clone lives"
        );
        drop(clone);
        tokio::time::sleep(TokenSource::REFRESH * 3).await;
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "no fetch once every clone is gone"
        );
    }

    #[test]
    fn a_task_ended_with_its_runtime_is_started_again() {
        let (source, fetches) = counted(Some(Duration::from_millis(50)));
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        first
            .block_on(source.ready(Duration::from_secs(1)))
            .unwrap();
        drop(first);
        std::thread::sleep(Duration::from_millis(80));
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        second.block_on(async {
            // The token expired with no task left to refresh it: the call
            // starts one, and the next token comes.
            assert!(source.authorization_now().is_err());
            source.ready(Duration::from_secs(1)).await.unwrap();
        });
        assert!(fetches.load(Ordering::SeqCst) >= 2);
    }

    #[test]
    fn a_token_that_is_no_header_value_is_refused() {
        assert!(bearer("ya29.abc-_~+/=").is_ok());
        assert!(bearer("ya29 spaced").is_err());
        assert!(bearer("ya29.é").is_err());
    }
}
