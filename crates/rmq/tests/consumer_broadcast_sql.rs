//! Broadcasting consumers and SQL92 selectors against the real local RocketMQ (the test
//! broker runs with `enablePropertyFilter=true`; SQL92 filters exist on every version of the
//! matrix, 4.9.3 included).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::broker::{api, broker_a, broker_b, create_topic_on, namesrv, unique, wait_for};
use rmq::{
    ClientConfig, ConsumeFrom, ConsumeResult, Error, Message, MessageModel, Producer, PushConsumer,
    Selector,
};

const LONG: Duration = Duration::from_secs(90);

type Seen = Arc<Mutex<Vec<String>>>;

async fn broadcast_member(
    group: &str,
    instance: &str,
    topic: &str,
    dir: &Path,
) -> (PushConsumer, Seen) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let consumer = PushConsumer::builder(group)
        .client(
            ClientConfig::new()
                .name_server(&namesrv())
                .instance_name(instance),
        )
        .message_model(MessageModel::Broadcasting)
        .offset_store_dir(dir)
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, _| {
            let sink = Arc::clone(&sink);
            async move {
                let mut sink = sink.lock().unwrap();
                for m in messages {
                    sink.push(String::from_utf8_lossy(&m.body).to_string());
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap();
    (consumer, seen)
}

async fn producer() -> Producer {
    Producer::builder(unique("pg_bcast"))
        .client(
            ClientConfig::new()
                .name_server(&namesrv())
                .instance_name(unique("p")),
        )
        .start()
        .await
        .unwrap()
}

async fn wait_count(seen: &Seen, n: usize, who: &str) {
    let ok = wait_for(LONG, || async {
        (seen.lock().unwrap().len() >= n).then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "{who} got {} of {n} messages",
        seen.lock().unwrap().len()
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_broadcasting_member_gets_every_message_and_resumes_from_its_own_file() {
    let api = api().await;
    let topic = unique("Broadcast");
    create_topic_on(&api, &[broker_a(), broker_b()], &topic, 2).await;
    let group = unique("cg_bcast");
    let dir = temp_dir("rmq-bcast-offsets");
    let names = ["b1", "b2", "b3"];
    let mut members = Vec::new();
    for name in names {
        members.push(broadcast_member(&group, name, &topic, &dir).await);
    }
    let producer = producer().await;
    let first: Vec<String> = (0..30).map(|i| format!("first-{i}")).collect();
    for body in &first {
        producer
            .send(Message::new(&topic, body.clone()))
            .await
            .unwrap();
    }
    for ((consumer, seen), name) in members.iter().zip(names) {
        wait_count(seen, first.len(), name).await;
        let got: BTreeSet<String> = seen.lock().unwrap().iter().cloned().collect();
        assert_eq!(got, first.iter().cloned().collect(), "{name}");
        // Every member reads every queue.
        assert_eq!(
            consumer
                .assigned_queues()
                .iter()
                .filter(|q| q.topic == topic)
                .count(),
            4,
            "{name}"
        );
        // No retry subscription for broadcasting.
        assert!(consumer
            .assigned_queues()
            .iter()
            .all(|q| !q.topic.starts_with("%RETRY%")));
    }
    let mut client_ids = Vec::new();
    for (consumer, _) in &members {
        client_ids.push(consumer.client_id().to_string());
        consumer.shutdown().await;
    }
    // Java's file, per client id and group.
    for id in &client_ids {
        let file = dir.join(id).join(&group).join("offsets.json");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        assert!(
            text.starts_with("{\"offsetTable\":{{\"brokerName\""),
            "{text}"
        );
    }
    assert!(
        client_ids
            .iter()
            .all(|id| id.ends_with("@b1") || id.ends_with("@b2") || id.ends_with("@b3")),
        "{client_ids:?}"
    );

    let second: Vec<String> = (0..10).map(|i| format!("second-{i}")).collect();
    for body in &second {
        producer
            .send(Message::new(&topic, body.clone()))
            .await
            .unwrap();
    }
    // After a restart each member starts where its own file says: only the new messages.
    for name in names {
        let (consumer, seen) = broadcast_member(&group, name, &topic, &dir).await;
        wait_count(&seen, second.len(), name).await;
        // Each queue is read in order, so an old message would have come before the new ones.
        let got: BTreeSet<String> = seen.lock().unwrap().iter().cloned().collect();
        assert_eq!(
            got,
            second.iter().cloned().collect(),
            "{name} after restart"
        );
        consumer.shutdown().await;
    }
    producer.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sql92_selector_delivers_only_matching_messages() {
    let api = api().await;
    let topic = unique("Sql92");
    // A concurrent consumer hands messages to parallel handlers, so the check compares sets.
    create_topic_on(&api, &[broker_a()], &topic, 1).await;
    let group = unique("cg_sql");
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let consumer = PushConsumer::builder(&group)
        .client(
            ClientConfig::new()
                .name_server(&namesrv())
                .instance_name("sql"),
        )
        .subscribe(&topic, Selector::sql("a > 5 AND color = 'blue'"))
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, _| {
            let sink = Arc::clone(&sink);
            async move {
                let mut sink = sink.lock().unwrap();
                for m in messages {
                    sink.push(String::from_utf8_lossy(&m.body).to_string());
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap();
    let producer = producer().await;
    let mut expected = Vec::new();
    for i in 0..20 {
        let color = if i % 2 == 0 { "blue" } else { "red" };
        let body = format!("m-{i}-{color}");
        if i > 5 && color == "blue" {
            expected.push(body.clone());
        }
        producer
            .send(
                Message::new(&topic, body)
                    .with_property("a", i.to_string())
                    .with_property("color", color),
            )
            .await
            .unwrap();
    }
    let last = "m-last-blue".to_string();
    producer
        .send(
            Message::new(&topic, last.clone())
                .with_property("a", "100")
                .with_property("color", "blue"),
        )
        .await
        .unwrap();
    expected.push(last);
    wait_count(&seen, expected.len(), "the SQL92 consumer").await;
    let mut delivered = seen.lock().unwrap().clone();
    delivered.sort();
    expected.sort();
    assert_eq!(delivered, expected);
    consumer.shutdown().await;
    producer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sql92_expression_the_broker_cannot_parse_fails_the_start() {
    let api = api().await;
    let topic = unique("Sql92Bad");
    create_topic_on(&api, &[broker_a()], &topic, 1).await;
    let err = PushConsumer::builder(unique("cg_sqlbad"))
        .client(
            ClientConfig::new()
                .name_server(&namesrv())
                .instance_name("sqlbad"),
        )
        .subscribe(&topic, Selector::sql("a >>> 'x"))
        .handler(|_, _| async { ConsumeResult::Success })
        .start()
        .await
        .unwrap_err();
    match &err {
        Error::FilterRejected {
            topic: t, reason, ..
        } => {
            assert_eq!(*t, topic);
            assert!(reason.contains("does not parse"), "{reason}");
        }
        other => panic!("expected FilterRejected, got {other:?}"),
    }
    assert!(!err.is_retriable());
}

#[tokio::test]
async fn an_empty_sql92_expression_is_refused_before_any_network() {
    let err = PushConsumer::builder("cg_sql_empty")
        .client(ClientConfig::new().name_server("127.0.0.1:1"))
        .subscribe("T", Selector::sql("  "))
        .handler(|_, _| async { ConsumeResult::Success })
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation(rmq::ValidationError::EmptySqlExpression)
        ),
        "{err:?}"
    );
}

/// A broker that runs without `enablePropertyFilter=true` (the test cluster enables it, so a
/// fake broker answers as such a broker does: SYSTEM_ERROR to CHECK_CLIENT_CONFIG).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_without_property_filtering_fails_the_start_with_a_typed_error() {
    use common::fake_cluster::{FakeBroker, FakeNameServer};
    use rmq::protocol::{RemotingCommand, RequestCode, ResponseCode};
    let broker = FakeBroker::start().await;
    let name_server = FakeNameServer::start("no-filter-broker", &broker.addr).await;
    let start = tokio::spawn(
        PushConsumer::builder("cg_sql_fake")
            .client(
                ClientConfig::new()
                    .name_server(&name_server.addr)
                    .instance_name("sql-fake"),
            )
            .subscribe("T", Selector::sql("a > 5"))
            .handler(|_, _| async { ConsumeResult::Success })
            .start(),
    );
    let conn = broker.connection().await;
    let check = loop {
        let cmd = conn.recv().await;
        if cmd.request_code() == RequestCode::CHECK_CLIENT_CONFIG {
            break cmd;
        }
        // Anything else of the start (none expected before the check) gets a plain success.
        conn.send(RemotingCommand::response_to(
            &cmd,
            ResponseCode::SUCCESS,
            None,
        ));
    };
    let body: serde_json::Value = serde_json::from_slice(&check.body).unwrap();
    assert_eq!(body["group"], "cg_sql_fake");
    assert_eq!(body["subscriptionData"]["expressionType"], "SQL92");
    assert_eq!(body["subscriptionData"]["subString"], "a > 5");
    assert_eq!(body["subscriptionData"]["topic"], "T");
    conn.send(RemotingCommand::response_to(
        &check,
        ResponseCode::SYSTEM_ERROR,
        Some("The broker does not support consumer to filter message by SQL92".into()),
    ));
    let err = start.await.unwrap().unwrap_err();
    match &err {
        Error::FilterRejected { addr, reason, .. } => {
            assert_eq!(*addr, broker.addr);
            assert!(reason.contains("enablePropertyFilter=true"), "{reason}");
        }
        other => panic!("expected FilterRejected, got {other:?}"),
    }
}
