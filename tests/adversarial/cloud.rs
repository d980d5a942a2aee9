//! A hostile cloud: a raw HTTP server on loopback that redirects, sends
//! 100 MB, claims TotalCount 10^18, drips, and puts escapes in its errors.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vipdeck::sources::cloud::client::{ClientConfig, CloudError, RetryPolicy, VpcClient};
use vipdeck::sources::cloud::credentials::{CredentialProvider, CredentialSource, Credentials};

/// What the server does with each request it reads.
#[derive(Clone)]
enum Hostile {
    Redirect,
    Huge,
    EndlessPages,
    Drip,
    EscapesInError,
}

/// Reads one request (headers and the Content-Length body), then answers.
async fn serve(kind: Hostile) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let kind = kind.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if req.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let _ = answer(&mut sock, kind).await;
            });
        }
    });
    addr
}

async fn answer(sock: &mut tokio::net::TcpStream, kind: Hostile) -> std::io::Result<()> {
    match kind {
        Hostile::Redirect => {
            sock.write_all(
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://203.0.113.66/steal\r\nContent-Length: 0\r\n\r\n",
            )
            .await
        }
        Hostile::Huge => {
            // 100 MB, announced honestly: chunked, so no Content-Length
            // shortcut; vipdeck must stop reading on its own.
            sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await?;
            let chunk = vec![b' '; 1 << 20];
            let head = format!("{:x}\r\n", chunk.len());
            for _ in 0..100 {
                sock.write_all(head.as_bytes()).await?;
                sock.write_all(&chunk).await?;
                sock.write_all(b"\r\n").await?;
            }
            sock.write_all(b"0\r\n\r\n").await
        }
        Hostile::EndlessPages => {
            let body = r#"{"Response":{"TotalCount":1000000000000000000,"NetworkInterfaceSet":[{"NetworkInterfaceId":"eni-x","PrivateIpAddressSet":[]}],"RequestId":"r-1"}}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            sock.write_all(head.as_bytes()).await?;
            sock.write_all(body.as_bytes()).await
        }
        Hostile::Drip => {
            sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
                .await?;
            for _ in 0..100_000 {
                sock.write_all(b" ").await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(())
        }
        Hostile::EscapesInError => {
            let body = "{\"Response\":{\"Error\":{\"Code\":\"Fail\\u001b]52;c;cHduZWQ=\\u0007\",\"Message\":\"bad\\u001b[2J\\u202e\"},\"RequestId\":\"r\\u001b]0;title\\u0007\"}}";
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            sock.write_all(head.as_bytes()).await?;
            sock.write_all(body.as_bytes()).await
        }
    }
}

fn client(addr: SocketAddr, timeout: Duration) -> VpcClient {
    let mut cfg = ClientConfig::new(format!("http://{addr}"), "ap-guangzhou");
    cfg.timeout = timeout;
    cfg.retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };
    VpcClient::new(
        cfg,
        CredentialProvider::fixed(Credentials::new(
            "AKIDadversarial",
            "secret",
            Some("token-must-not-travel".into()),
            CredentialSource::Static("test".into()),
        )),
    )
    .expect("client")
}

/// Finding 7: the client followed a redirect and re-sent X-TC-Token.
#[tokio::test]
async fn a_redirect_is_an_error_naming_the_location() {
    let addr = serve(Hostile::Redirect).await;
    let err = client(addr, Duration::from_secs(5))
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("a redirect is not an answer");
    assert!(
        matches!(&err, CloudError::Redirect { status: 307, location, .. } if location == "http://203.0.113.66/steal"),
        "{err:?}"
    );
    assert!(err.to_string().contains("203.0.113.66"), "{err}");
}

/// Finding 8: a 100 MB body was read whole (409 MB RSS).
#[tokio::test]
async fn a_hundred_megabyte_body_is_refused_after_four_mebibytes() {
    let addr = serve(Hostile::Huge).await;
    let err = client(addr, Duration::from_secs(20))
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("too large");
    assert!(matches!(err, CloudError::TooLarge { .. }), "{err:?}");
}

/// Finding 8: TotalCount 10^18 paged without end.
#[tokio::test]
async fn total_count_ten_to_the_eighteen_stops_paging() {
    let addr = serve(Hostile::EndlessPages).await;
    let started = Instant::now();
    let err = client(addr, Duration::from_secs(5))
        .describe_network_interfaces_all(&[], &[])
        .await
        .expect_err("bounded");
    assert!(
        matches!(
            err,
            CloudError::TooManyPages {
                total: 1_000_000_000_000_000_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// A slow drip costs one timeout, not the drip's length.
#[tokio::test]
async fn a_slow_drip_costs_one_timeout() {
    let addr = serve(Hostile::Drip).await;
    let started = Instant::now();
    let err = client(addr, Duration::from_millis(800))
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("times out");
    assert!(started.elapsed() < Duration::from_secs(5), "{err:?}");
}

/// Finding 3: the cloud's Code/Message/RequestId reached the terminal raw.
/// The error keeps them exactly (JSON stays exact); the sanitiser is what
/// every text face prints them through.
#[tokio::test]
async fn escapes_in_a_cloud_error_are_shown_as_placeholders() {
    let addr = serve(Hostile::EscapesInError).await;
    let err = client(addr, Duration::from_secs(5))
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("an API error");
    let raw = err.to_string();
    assert!(raw.contains('\u{1b}'), "kept exact: {raw:?}");
    let shown = vipdeck::core::sanitize::clean(&raw);
    assert!(vipdeck::core::sanitize::is_safe(&shown));
    assert!(!shown.contains('\u{1b}') && !shown.contains('\u{202e}') && !shown.contains('\u{7}'));
    assert!(shown.contains("␛]52;c;"), "{shown}");
}
