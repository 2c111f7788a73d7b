//! `rest::Server` serving a router of the user's own on 127.0.0.1: the
//! exchange timeout on both wires, idle keep-alive connections closed, new
//! connections answered 503 when every connection is busy, a request
//! answered before its body was read, and a graceful shutdown that lets
//! requests in flight finish.
#![cfg(feature = "rest")]

use crate::support::{plain_http, plain_http_builder};
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::{get, post};
use cloud_report_proto::rest::{Limits, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A router whose `/slow/{ms}` answers after that many milliseconds, whose
/// `/echo` answers with the body's length and whose `/refuse` answers 401
/// without reading the body.
fn router() -> axum::Router {
    axum::Router::new()
        .route(
            "/refuse",
            post(|| async { (axum::http::StatusCode::UNAUTHORIZED, "no") }),
        )
        .route(
            "/slow/{ms}",
            get(
                |axum::extract::Path(ms): axum::extract::Path<u64>| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "done"
                },
            ),
        )
        .route(
            "/echo",
            post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        )
}

async fn start(
    limits: Limits,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(Server::new(router()).limits(limits).serve_with_shutdown(
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    (addr, stop, server)
}

#[tokio::test]
async fn an_exchange_past_the_request_timeout_is_answered_on_its_wire() {
    let mut limits = Limits::default();
    limits.request_timeout = Some(Duration::from_millis(300));
    let (addr, _stop, _server) = start(limits).await;
    let rest = plain_http()
        .get(format!("http://{addr}/slow/5000"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 504);
    let body: serde_json::Value = serde_json::from_slice(&rest.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["status"], "DEADLINE_EXCEEDED");

    let grpc = plain_http_builder()
        .http2_prior_knowledge()
        .build()
        .unwrap()
        .get(format!("http://{addr}/slow/5000"))
        .header("content-type", "application/grpc")
        .send()
        .await
        .unwrap();
    assert_eq!(grpc.status(), 200);
    assert_eq!(grpc.headers()["grpc-status"], "4");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let mut limits = Limits::default();
    limits.idle_timeout = Duration::from_millis(500);
    let (addr, _stop, _server) = start(limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /slow/0 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the idle connection is closed");
    read.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    assert!(answer.ends_with(b"done"));
}

#[tokio::test]
async fn when_every_connection_is_busy_new_ones_are_answered_503() {
    let mut limits = Limits::default();
    limits.max_connections = 3;
    limits.body_timeout = Duration::from_secs(1);
    let (addr, _stop, _server) = start(limits).await;
    // Three connections each in the middle of a request body.
    let mut busy = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
            .await
            .unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = plain_http_builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let refused = client
        .post(format!("http://{addr}/echo"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    let body: serde_json::Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["status"], "UNAVAILABLE");
    // Once the stalled bodies time out, clients are served again.
    for stream in &mut busy {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    let served = client
        .post(format!("http://{addr}/echo"))
        .body("xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(served.text().await.unwrap(), "3");
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let (addr, stop, server) = start(Limits::default()).await;
    let slow = tokio::spawn(plain_http().get(format!("http://{addr}/slow/500")).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let answer = slow.await.unwrap().unwrap();
    assert_eq!(answer.text().await.unwrap(), "done");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}

/// One HTTP/1.1 answer read from `stream`: its head (lowercase) and body
/// (by its Content-Length).
async fn read_answer(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(
            n > 0,
            "closed before an answer: {:?}",
            String::from_utf8_lossy(&read)
        );
        read.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(read[..head_end].to_vec())
        .unwrap()
        .to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    while read.len() < head_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0);
        read.extend_from_slice(&buf[..n]);
    }
    (head, read[head_end..head_end + length].to_vec())
}

/// A request answered before its body was read (a refused token, as
/// google-auth's session then retries on the same connection): the rest of
/// a short body that follows is read and the connection carries the next
/// request; a long body's answer says `Connection: close`, as does one whose
/// client waits for `100 Continue`, and the connection is closed.
#[tokio::test]
async fn a_request_answered_before_its_body_was_read() {
    let (addr, _stop, _server) = start(Limits::default()).await;
    let next = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz";
    for (head, body) in [
        ("Content-Length: 5\r\n", &b"hello"[..]),
        (
            "Transfer-Encoding: chunked\r\n",
            &b"5\r\nhello\r\n0\r\n\r\n"[..],
        ),
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("POST /refuse HTTP/1.1\r\nHost: a\r\n{head}\r\n").as_bytes())
            .await
            .unwrap();
        // The body comes after the answer is decided.
        tokio::time::sleep(Duration::from_millis(200)).await;
        stream.write_all(body).await.unwrap();
        let (answer, _) = read_answer(&mut stream).await;
        assert!(answer.starts_with("http/1.1 401"), "{answer}");
        assert!(!answer.contains("connection: close"), "{answer}");
        stream.write_all(next).await.unwrap();
        let (answer, text) = read_answer(&mut stream).await;
        assert!(answer.starts_with("http/1.1 200"), "{answer}");
        assert_eq!(text, b"3");
    }

    for head in [
        "Content-Length: 1000000\r\n",
        "Content-Length: 5\r\nExpect: 100-continue\r\n",
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("POST /refuse HTTP/1.1\r\nHost: a\r\n{head}\r\n").as_bytes())
            .await
            .unwrap();
        let (answer, _) = read_answer(&mut stream).await;
        assert!(answer.starts_with("http/1.1 401"), "{answer}");
        assert!(answer.contains("connection: close"), "{head}: {answer}");
        let mut rest = Vec::new();
        // Closed, with nothing more said.
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
            .await
            .expect("the connection is closed");
        assert!(rest.is_empty(), "{rest:?}");
    }
}
