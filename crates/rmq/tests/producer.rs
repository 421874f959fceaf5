//! Producer start-up and shutdown against the real local RocketMQ.

mod common;

use std::time::Duration;

use common::broker::{api, broker_a, namesrv, unique, wait_for};
use rmq::ValidationError;
use rmq::{Error, Message, Producer, ProducerState, SendStatus};

async fn listed(group: &str) -> Vec<String> {
    let api = api().await;
    let ids = api
        .producer_connections(&broker_a(), group)
        .await
        .map(|c| c.connection_set.into_iter().map(|c| c.client_id).collect())
        .unwrap_or_default();
    api.close().await;
    ids
}

#[tokio::test]
async fn broker_lists_the_producer_right_after_start_and_not_after_shutdown() {
    let group = unique("start_group");
    let producer = Producer::builder(&group)
        .name_server(&namesrv())
        .start()
        .await
        .unwrap();
    assert_eq!(producer.state(), ProducerState::Running);
    // The heartbeat went out during start(), not 30 s later.
    let ids = listed(&group).await;
    assert_eq!(ids, vec![producer.client_id().to_string()]);
    assert!(listed("CLIENT_INNER_PRODUCER")
        .await
        .contains(&producer.client_id().to_string()));
    let instance = producer.instance();
    assert!(instance.producer_groups().contains(&group));
    assert!(instance.publish_infos().contains_key("TBW102"));
    assert!(instance.brokers().contains_key("broker-a"));
    assert!(instance.routes().contains_key("TBW102"));

    producer.shutdown().await;
    assert_eq!(producer.state(), ProducerState::Shutdown);
    assert!(
        listed(&group).await.is_empty(),
        "still listed after shutdown"
    );
    assert!(instance.is_stopped());
    assert!(
        instance.api().pool().addresses().is_empty(),
        "connections closed"
    );
    // Idempotent, and sends fail with Shutdown.
    producer.shutdown().await;
    let err = producer.send(Message::new("T", "x")).await.unwrap_err();
    assert!(matches!(err, Error::Shutdown), "{err}");
}

#[tokio::test]
async fn same_instance_name_shares_one_instance_and_one_connection_per_broker() {
    let instance_name = unique("shared");
    let a = Producer::builder(unique("group_a"))
        .name_server(&namesrv())
        .instance_name(&instance_name)
        .start()
        .await
        .unwrap();
    let b = Producer::builder(unique("group_b"))
        .name_server(&namesrv())
        .instance_name(&instance_name)
        .start()
        .await
        .unwrap();
    assert!(a.shares_instance_with(&b));
    assert_eq!(a.client_id(), b.client_id());
    assert!(a.client_id().ends_with(&format!("@{instance_name}")));
    let addrs = a.instance().api().pool().addresses();
    let unique_addrs: std::collections::BTreeSet<_> = addrs.iter().collect();
    assert_eq!(
        addrs.len(),
        unique_addrs.len(),
        "one connection per address: {addrs:?}"
    );
    assert!(addrs.contains(&broker_a()));

    // The same group again in that instance is a typed error, and leaves the first alone.
    let err = Producer::builder(a.group())
        .name_server(&namesrv())
        .instance_name(&instance_name)
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateGroup { group, .. } if group == a.group()),
        "{err}"
    );

    // Different name servers under the same client id are rejected, not silently shared.
    let err = Producer::builder(unique("group_c"))
        .name_server("127.0.0.1:19876")
        .instance_name(&instance_name)
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation(ValidationError::ClientIdInUse { .. })
        ),
        "{err}"
    );

    a.shutdown().await;
    assert!(!b.instance().is_stopped(), "b still uses the instance");
    b.shutdown().await;
    assert!(b.instance().is_stopped());
}

#[tokio::test]
async fn a_failed_start_leaves_the_group_usable() {
    let instance_name = unique("retry");
    let group = unique("retry_group");
    let first = Producer::builder(&group)
        .name_server(&namesrv())
        .instance_name(&instance_name)
        .start()
        .await
        .unwrap();
    let dup = Producer::builder(&group)
        .name_server(&namesrv())
        .instance_name(&instance_name)
        .start()
        .await;
    assert!(matches!(dup, Err(Error::DuplicateGroup { .. })));
    first.shutdown().await;
    let again = Producer::builder(&group)
        .name_server(&namesrv())
        .instance_name(&instance_name)
        .start()
        .await
        .expect("group usable after the first producer left");
    assert_eq!(listed(&group).await, vec![again.client_id().to_string()]);
    again.shutdown().await;
}

#[tokio::test]
async fn route_changes_are_seen_within_two_poll_intervals() {
    let api = api().await;
    let topic = unique("PollTopic");
    common::broker::create_topic(&api, &topic, 2).await;
    let interval = Duration::from_secs(1);
    let producer = Producer::builder(unique("poll_group"))
        .client(
            rmq::ClientConfig::new()
                .name_server(&namesrv())
                .poll_name_server_interval(interval),
        )
        .start()
        .await
        .unwrap();
    let sent = producer.send(Message::new(&topic, "hello")).await.unwrap();
    assert_eq!(sent.status, SendStatus::SendOk);
    assert_eq!(
        producer
            .instance()
            .publish_info(&topic)
            .unwrap()
            .queues
            .len(),
        2
    );
    common::broker::create_topic(&api, &topic, 5).await;
    // The name server has the new route now; the producer must see it within two intervals
    // (plus one request's time).
    let seen = wait_for(interval * 2 + Duration::from_millis(500), || async {
        producer
            .instance()
            .publish_info(&topic)
            .filter(|p| p.queues.len() == 5)
    })
    .await;
    assert!(
        seen.is_some(),
        "queue count change not seen within two poll intervals"
    );
    producer.shutdown().await;
    api.close().await;
}

#[tokio::test]
async fn validation_errors_come_before_any_network() {
    // An unroutable name server: if anything touched the network, this would time out or
    // fail to connect instead of returning the validation error.
    let bad_ns = "127.0.0.1:1";
    let cases: Vec<(String, Error)> = vec![
        ("".into(), ValidationError::GroupBlank.into()),
        ("   ".into(), ValidationError::GroupBlank.into()),
        (
            "g".repeat(256),
            ValidationError::GroupTooLong { len: 256 }.into(),
        ),
        (
            "bad group".into(),
            ValidationError::GroupIllegalChar {
                group: "bad group".into(),
                ch: ' ',
            }
            .into(),
        ),
        (
            "DEFAULT_PRODUCER".into(),
            ValidationError::GroupReserved("DEFAULT_PRODUCER".into()).into(),
        ),
        (
            "CLIENT_INNER_PRODUCER".into(),
            ValidationError::GroupReserved("CLIENT_INNER_PRODUCER".into()).into(),
        ),
    ];
    for (group, expected) in cases {
        let err = Producer::builder(&group)
            .name_server(bad_ns)
            .start()
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), expected.to_string(), "group {group:?}");
    }
    let err = Producer::builder("ok")
        .name_server("nonsense")
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation(ValidationError::InvalidAddress {
                field: "name server address",
                ..
            })
        ),
        "{err}"
    );
    let err = Producer::builder("ok")
        .name_server(bad_ns)
        .namespace("a%b")
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation(ValidationError::NamespaceIllegalChar { ch: '%', .. })
        ),
        "{err}"
    );
    let err = Producer::builder("ok")
        .name_server(bad_ns)
        .instance_name("a@b")
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation(ValidationError::IllegalName { .. })),
        "{err}"
    );
    let err = Producer::builder("ok")
        .client(rmq::ClientConfig::new().name_server(bad_ns).unit_name(""))
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation(ValidationError::IllegalName {
                field: "unit name",
                ..
            })
        ),
        "{err}"
    );
    let err = Producer::builder("ok")
        .name_server(bad_ns)
        .send_timeout(Duration::ZERO)
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation(ValidationError::OutOfRange {
                field: "send timeout",
                ..
            })
        ),
        "{err}"
    );
    // A namespace makes a 255-character group too long.
    let err = Producer::builder("g".repeat(255))
        .name_server(bad_ns)
        .namespace("ns")
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation(ValidationError::GroupTooLong { len: 258 })
        ),
        "{err}"
    );
}
