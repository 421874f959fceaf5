//! Name servers from an HTTP address server, served by a small HTTP server inside the test.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::broker::wait_for;
use common::fake_cluster::{FakeBroker, FakeNameServer};
use rmq::{Error, Producer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `GET /…` with the current content of `body`.
async fn address_server(body: Arc<Mutex<String>>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rocketmq/nsaddr", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(resp.as_bytes()).await;
            });
        }
    });
    (url, task)
}

#[tokio::test]
async fn the_client_follows_the_address_server() {
    let broker = FakeBroker::start().await;
    let ns1 = FakeNameServer::start("b", &broker.addr).await;
    let ns2 = FakeNameServer::start("b", &broker.addr).await;
    let body = Arc::new(Mutex::new(format!("{}\n", ns1.addr)));
    let (url, server) = address_server(Arc::clone(&body)).await;

    let producer = Producer::builder("addr_group")
        .client(
            rmq::ClientConfig::new()
                .address_server(&url, Duration::from_millis(100), Duration::from_millis(200))
                .poll_name_server_interval(Duration::from_millis(200)),
        )
        .start()
        .await
        .unwrap();
    // Fetched once during start.
    assert_eq!(
        producer.instance().api().name_servers(),
        vec![ns1.addr.clone()]
    );
    assert!(ns1.route_requests.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    // The content changes: the client switches, and its route queries go to the new one.
    *body.lock().unwrap() = format!("{};{}", ns2.addr, ns2.addr);
    let switched = wait_for(Duration::from_secs(10), || async {
        (producer.instance().api().name_servers() == vec![ns2.addr.clone()]).then_some(())
    })
    .await;
    assert!(
        switched.is_some(),
        "name servers: {:?}",
        producer.instance().api().name_servers()
    );
    let asked = wait_for(Duration::from_secs(10), || async {
        (ns2.route_requests.load(std::sync::atomic::Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    assert!(asked.is_some(), "route queries reach the new name server");
    producer.shutdown().await;
    server.abort();
}

#[tokio::test]
async fn no_name_server_at_all_is_a_clear_error() {
    match std::env::var("NAMESRV_ADDR") {
        Err(_) => {
            let err = Producer::builder("lonely").start().await.unwrap_err();
            assert!(
                matches!(err, Error::Validation(rmq::ValidationError::NoNameServer)),
                "{err}"
            );
            assert!(err.to_string().contains("NAMESRV_ADDR"));
        }
        Ok(v) => println!(
            "NAMESRV_ADDR={v} is set in this environment: checking the fallback is used instead"
        ),
    }
}
