//! ACL against a real broker with access control, which this test starts beside the main
//! cluster (`common::side_cluster`): 4.9.x plain ACL (`aclEnable=true`, `plain_acl.yml`),
//! 5.x ACL 2.0 (authentication and authorization on, the test's user created at broker
//! start).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::broker::unique;
use common::side_cluster::{Kind, SideCluster, ACCESS_KEY, SECRET_KEY};
use rmq::{
    ClientConfig, CommandView, ConsumeFrom, ConsumeResult, Credentials, Error, Message, Producer,
    PushConsumer, RpcHook,
};
use tokio::sync::mpsc;

/// Counts the send requests that leave the client (each attempt once).
#[derive(Default)]
struct CountSends(AtomicUsize);

impl RpcHook for CountSends {
    fn before_request(&self, _addr: &str, request: &mut CommandView<'_>) {
        if matches!(request.code(), 10 | 310 | 320) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn config(ns: &str, instance: &str, credentials: Option<Credentials>) -> ClientConfig {
    let config = ClientConfig::new().name_server(ns).instance_name(instance);
    match credentials {
        Some(c) => config.credentials(c),
        None => config,
    }
}

async fn producer(
    ns: &str,
    instance: &str,
    credentials: Option<Credentials>,
    hook: Arc<CountSends>,
) -> Producer {
    Producer::builder(unique("pg_acl"))
        .client(config(ns, instance, credentials).rpc_hook(hook))
        .retries(2)
        .start()
        .await
        .expect("producer starts (the name server does not check ACL)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn brokers_with_access_control_accept_the_right_secret_and_refuse_others_once() {
    let cluster = tokio::task::spawn_blocking(|| SideCluster::start(Kind::Acl))
        .await
        .unwrap();
    let ns = cluster.namesrv();
    let topic = unique("Acl");

    // The right secret: send, and a consumer with the same credentials receives it.
    let sends = Arc::new(CountSends::default());
    let good = producer(
        &ns,
        "acl-good",
        Some(Credentials::new(ACCESS_KEY, SECRET_KEY)),
        Arc::clone(&sends),
    )
    .await;
    let sent = good
        .send(Message::new(&topic, "signed"))
        .await
        .expect("a signed send is accepted");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = PushConsumer::builder(unique("cg_acl"))
        .client(config(
            &ns,
            "acl-consumer",
            Some(Credentials::new(ACCESS_KEY, SECRET_KEY)),
        ))
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, _| {
            let tx = tx.clone();
            async move {
                for m in messages {
                    let _ = tx.send((
                        m.msg_id().to_string(),
                        String::from_utf8_lossy(&m.body).to_string(),
                    ));
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .expect("a consumer with the right credentials starts");
    let got = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("the signed consumer receives the message")
        .unwrap();
    assert_eq!(got, (sent.msg_id.clone(), "signed".to_string()));
    consumer.shutdown().await;
    good.shutdown().await;

    // A wrong secret and no credentials at all: the typed error, after one attempt only.
    for (instance, credentials) in [
        (
            "acl-wrong",
            Some(Credentials::new(ACCESS_KEY, "not-the-secret")),
        ),
        ("acl-none", None),
    ] {
        let sends = Arc::new(CountSends::default());
        let bad = producer(&ns, instance, credentials, Arc::clone(&sends)).await;
        let err = bad
            .send(Message::new(&topic, "refused"))
            .await
            .expect_err("the broker refuses the send");
        assert!(
            matches!(err, Error::Authentication { .. }),
            "{instance}: not an authentication error: {err:?}"
        );
        assert!(!err.is_retriable());
        assert_eq!(
            sends.0.load(Ordering::Relaxed),
            1,
            "{instance}: one attempt only"
        );
        assert!(
            !format!("{err} {err:?}").contains("not-the-secret"),
            "{err:?}"
        );
        println!("{instance}: {err}");
        bad.shutdown().await;
    }
    drop(cluster);
}

#[tokio::test]
async fn blank_credentials_are_refused_before_any_network() {
    for credentials in [Credentials::new(" ", "secret"), Credentials::new("ak", "")] {
        let err = Producer::builder("pg_acl_blank")
            .client(
                ClientConfig::new()
                    .name_server("127.0.0.1:1")
                    .credentials(credentials),
            )
            .start()
            .await
            .expect_err("refused");
        assert!(
            matches!(
                err,
                Error::Validation(rmq::ValidationError::BlankCredentials)
            ),
            "{err:?}"
        );
    }
}
