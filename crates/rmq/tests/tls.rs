//! TLS against a real NameServer and broker that accept TLS only (`tls.server.mode=enforcing`),
//! started beside the main cluster for this test (`common::side_cluster`), with a CA and a
//! server certificate (for 127.0.0.1) generated here.

mod common;

use std::time::Duration;

use common::broker::{unique, wait_for};
use common::side_cluster::{self, Kind, SideCluster};
use rmq::{
    Admin, ClientConfig, ConsumeFrom, ConsumeResult, Error, Message, Producer, PushConsumer,
    TlsConfig,
};
use tokio::sync::mpsc;

fn config(cluster: &SideCluster, instance: &str, tls: Option<TlsConfig>) -> ClientConfig {
    let config = ClientConfig::new()
        .name_server(&cluster.namesrv())
        .instance_name(instance);
    match tls {
        Some(tls) => config.tls(tls),
        None => config,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_and_consume_over_tls_and_plain_or_untrusting_clients_are_refused() {
    let dir = std::env::temp_dir().join(unique("rmq-tls-certs"));
    let ca = side_cluster::generate_certificates(&dir);
    let tls_dir = dir.clone();
    let cluster = tokio::task::spawn_blocking(move || SideCluster::start(Kind::Tls(tls_dir)))
        .await
        .unwrap();
    let trusted = TlsConfig::with_ca_file(&ca);

    // The broker registers at the name server over TLS; wait until a TLS client sees it.
    let admin = Admin::new(&config(&cluster, "tls-admin", Some(trusted.clone()))).unwrap();
    let registered = wait_for(Duration::from_secs(60), || async {
        let info = admin.cluster_info().await.ok()?;
        info.broker_addr_table
            .values()
            .any(|b| b.master_addr() == Some(cluster.broker().as_str()))
            .then_some(())
    })
    .await;
    assert!(registered.is_some(), "the broker never registered over TLS");
    admin.close().await;

    // A client trusting the CA sends, and a consumer over TLS receives.
    let topic = unique("Tls");
    let producer = Producer::builder(unique("pg_tls"))
        .client(config(&cluster, "tls-producer", Some(trusted.clone())))
        .start()
        .await
        .unwrap();
    let sent = producer
        .send(Message::new(&topic, "over tls"))
        .await
        .expect("a send over TLS");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = PushConsumer::builder(unique("cg_tls"))
        .client(config(&cluster, "tls-consumer", Some(trusted.clone())))
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, _| {
            let tx = tx.clone();
            async move {
                for m in messages {
                    let _ = tx.send((m.msg_id().to_string(), m.body.clone()));
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap();
    let (id, body) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("the TLS consumer receives the message")
        .unwrap();
    assert_eq!(
        (id.as_str(), &body[..]),
        (sent.msg_id.as_str(), &b"over tls"[..])
    );
    consumer.shutdown().await;
    producer.shutdown().await;

    // The explicitly insecure mode encrypts without checking the certificate.
    let insecure = Producer::builder(unique("pg_tls_insecure"))
        .client(config(
            &cluster,
            "tls-insecure",
            Some(TlsConfig::insecure_accept_any_certificate()),
        ))
        .start()
        .await
        .unwrap();
    insecure
        .send(Message::new(&topic, "insecure"))
        .await
        .expect("the insecure mode still speaks TLS");
    insecure.shutdown().await;

    // A client trusting another CA fails the handshake; a plain client is refused.
    let other_ca = side_cluster::generate_certificates(&dir.join("other"));
    for (name, tls) in [
        ("untrusting", Some(TlsConfig::with_ca_file(&other_ca))),
        ("plain", None),
    ] {
        let admin = Admin::new(&config(&cluster, name, tls)).unwrap();
        let err = admin
            .cluster_info()
            .await
            .expect_err("the name server must refuse this client");
        println!("{name}: {err}");
        match name {
            "untrusting" => assert!(
                matches!(err, Error::Connect { .. })
                    && err.to_string().contains("TLS handshake failed"),
                "{err:?}"
            ),
            _ => assert!(
                err.to_string().contains("TLS"),
                "a plain client should be told the server wants TLS: {err:?}"
            ),
        }
        admin.close().await;
    }
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
