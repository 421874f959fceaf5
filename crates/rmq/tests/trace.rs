//! Message trace against the real broker, read back and decoded by Apache RocketMQ's own Java
//! client and trace decoder (`scripts/java-trace-dump`: `TraceDataEncoder.decoderFromTraceDataString`
//! on every body of the trace topic). The test brokers create `RMQ_SYS_TRACE_TOPIC`
//! (`traceTopicEnable=true` in scripts/rocketmq.d/broker.conf). Every version of the matrix
//! traces the same way, so nothing here depends on it.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::broker::{api, broker_a, create_topic_on, namesrv, unique, wait_for};
use common::java::run_java;
use rmq::{
    AutoBatch, ConsumeFrom, ConsumeResult, LitePullConsumer, Message, MessageExt, Producer,
    PushConsumer, SelectByHash, SendResult, TraceConfig, TransactionError, TransactionListener,
    TransactionState,
};

const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

/// Quick batches, so the records are out well before the Java reader looks.
fn trace_config() -> TraceConfig {
    TraceConfig::new().flush_interval(Duration::from_millis(100))
}

/// Runs Java's trace reader until every `type:msg_id` in `wanted` was decoded; its records
/// about those ids, grouped by `type:msg_id`.
async fn java_trace_dump(wanted: &[String]) -> HashMap<String, Vec<serde_json::Value>> {
    let mut args = vec![TRACE_TOPIC, "60000"];
    args.extend(wanted.iter().map(String::as_str));
    let lines = run_java("java-trace-dump", &args).await;
    let mut by_key: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
    for line in lines {
        assert!(line.get("decode_error").is_none(), "{line}");
        let key = format!(
            "{}:{}",
            line["type"].as_str().unwrap(),
            line["msg_id"].as_str().unwrap()
        );
        by_key.entry(key).or_default().push(line);
    }
    by_key
}

async fn topic(prefix: &str, queues: i32) -> String {
    let api = api().await;
    let topic = unique(prefix);
    create_topic_on(&api, &[broker_a()], &topic, queues).await;
    topic
}

#[tokio::test]
async fn every_send_the_broker_answered_has_one_publish_record_java_decodes() {
    let topic = topic("TracePubTopic", 4).await;
    let group = unique("trace_pub_group");
    let producer = Producer::builder(&group)
        .name_server(&namesrv())
        .trace(trace_config())
        .start()
        .await
        .unwrap();
    let plain = producer
        .send(
            Message::new(&topic, "plain body")
                .with_tags("TagT")
                .with_key("order-1")
                .with_key("order-2"),
        )
        .await
        .unwrap();
    let batch = producer
        .send_batch(vec![
            Message::new(&topic, "b1"),
            Message::new(&topic, "b2"),
            Message::new(&topic, "b3"),
        ])
        .await
        .unwrap();
    let queues = producer.queues(&topic).await.unwrap();
    let to_queue = producer
        .send_to_queue(Message::new(&topic, "to a queue"), &queues[2])
        .await
        .unwrap();
    let selected = producer
        .send_with_selector(Message::new(&topic, "selected"), &SelectByHash, "key-7")
        .await
        .unwrap();
    let delayed = producer
        .send(Message::new(&topic, "delayed").with_delay_level(1))
        .await
        .unwrap();
    // One-way sends get no answer, so Java writes no record for them; neither do we.
    producer
        .send_oneway(Message::new(&topic, "oneway"))
        .await
        .unwrap();
    producer.shutdown().await;
    let stats = producer.trace_stats().expect("tracing");
    assert_eq!(stats.recorded, 5, "{stats:?}");
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.failed_messages, 0, "{stats:?}");
    assert!(stats.sent_messages >= 1, "{stats:?}");

    let sent: [(&SendResult, &str, usize); 5] = [
        (&plain, "Normal_Msg", 10),
        (&batch, "Normal_Msg", 0),
        (&to_queue, "Normal_Msg", 10),
        (&selected, "Normal_Msg", 8),
        (&delayed, "Delay_Msg", 7),
    ];
    let wanted: Vec<String> = sent
        .iter()
        .map(|(r, _, _)| format!("Pub:{}", r.msg_id))
        .collect();
    let records = java_trace_dump(&wanted).await;
    for (result, msg_type, body_len) in sent {
        let key = format!("Pub:{}", result.msg_id);
        let pubs = &records[&key];
        assert_eq!(pubs.len(), 1, "one publish record per send: {pubs:#?}");
        let r = &pubs[0];
        assert_eq!(r["group"], group.as_str());
        assert_eq!(r["topic"], topic.as_str());
        assert_eq!(r["offset_msg_id"], result.offset_msg_id.as_str());
        assert_eq!(r["store_host"], broker_a().as_str());
        assert_eq!(r["region"], result.region_id.as_str());
        assert_eq!(r["msg_type"], msg_type);
        assert_eq!(r["success"], true);
        if body_len > 0 {
            assert_eq!(r["body_length"], body_len);
        }
        // The trace message is indexed under the message id (mqadmin queryMsgTraceById).
        let keys = r["trace_message_keys"].as_str().unwrap();
        let first_id = result.msg_id.split(',').next().unwrap();
        assert!(keys.split(' ').any(|k| k == first_id), "{keys}");
    }
    let r = &records[&format!("Pub:{}", plain.msg_id)][0];
    assert_eq!(r["tags"], "TagT");
    assert_eq!(r["keys"], "order-1 order-2");
    let keys = r["trace_message_keys"].as_str().unwrap();
    assert!(keys.split(' ').any(|k| k == "order-1"), "{keys}");
    // A batch is traced as one message without tags or keys, as Java traces it.
    let b = &records[&format!("Pub:{}", batch.msg_id)][0];
    assert_eq!(b["tags"], "null");
    assert_eq!(b["keys"], "null");
}

#[tokio::test]
async fn auto_batched_sends_have_one_publish_record_each_with_their_own_ids() {
    let topic = topic("TraceAutoBatch", 4).await;
    let group = unique("trace_auto_batch");
    let producer = Producer::builder(&group)
        .name_server(&namesrv())
        .trace(trace_config())
        .auto_batch(AutoBatch::new().max_delay(Duration::from_millis(500)))
        .start()
        .await
        .unwrap();
    let messages: Vec<Message> = (0..3)
        .map(|i| {
            Message::new(&topic, format!("auto {i}"))
                .with_tags(format!("T{i}"))
                .with_key(format!("key-{i}"))
        })
        .collect();
    let results: Vec<SendResult> =
        futures_util::future::join_all(messages.iter().map(|m| producer.send(m.clone())))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    producer.shutdown().await;
    // One batch: one queue, consecutive offsets.
    assert!(results.iter().all(|r| r.queue == results[0].queue));
    let stats = producer.trace_stats().expect("tracing");
    assert_eq!(stats.recorded, 3, "{stats:?}");
    assert_eq!(stats.failed_messages, 0, "{stats:?}");

    let wanted: Vec<String> = results
        .iter()
        .map(|r| format!("Pub:{}", r.msg_id))
        .collect();
    let records = java_trace_dump(&wanted).await;
    for (i, result) in results.iter().enumerate() {
        let pubs = &records[&format!("Pub:{}", result.msg_id)];
        assert_eq!(pubs.len(), 1, "one publish record per message: {pubs:#?}");
        let r = &pubs[0];
        assert_eq!(r["offset_msg_id"], result.offset_msg_id.as_str());
        assert_eq!(r["tags"], format!("T{i}").as_str());
        assert_eq!(r["keys"], format!("key-{i}").as_str());
        assert_eq!(r["body_length"], 6);
        assert_eq!(r["success"], true);
    }
}

#[tokio::test]
async fn handler_calls_have_before_and_after_records_linked_and_later_is_a_failure() {
    let topic = topic("TraceSubTopic", 2).await;
    let group = unique("trace_sub_group");
    let producer = Producer::builder(unique("trace_sub_producer"))
        .name_server(&namesrv())
        .start()
        .await
        .unwrap();
    let first = producer
        .send(Message::new(&topic, "later once").with_key("k-later"))
        .await
        .unwrap();
    let second = producer.send(Message::new(&topic, "fine")).await.unwrap();
    producer.shutdown().await;

    let deliveries = Arc::new(Mutex::new(Vec::<(String, i32)>::new()));
    let seen = Arc::clone(&deliveries);
    let later_id = first.msg_id.clone();
    let consumer = PushConsumer::builder(&group)
        .name_server(&namesrv())
        .consume_from(ConsumeFrom::FirstOffset)
        .subscribe(&topic, "*")
        .trace(trace_config())
        .handler(move |messages: Vec<MessageExt>, _| {
            let seen = Arc::clone(&seen);
            let later_id = later_id.clone();
            async move {
                let m = &messages[0];
                seen.lock()
                    .unwrap()
                    .push((m.msg_id().to_string(), m.reconsume_times));
                if m.msg_id() == later_id && m.reconsume_times == 0 {
                    ConsumeResult::Later { delay_level: 1 }
                } else {
                    ConsumeResult::Success
                }
            }
        })
        .start()
        .await
        .unwrap();
    let done = wait_for(Duration::from_secs(60), || async {
        (deliveries.lock().unwrap().len() >= 3).then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "deliveries: {:?}",
        deliveries.lock().unwrap()
    );
    consumer.shutdown().await;
    let stats = consumer.trace_stats().expect("tracing");
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.failed_messages, 0, "{stats:?}");

    // The first message was handled twice: wait for both calls' records.
    let mut wanted: Vec<String> = [&first.msg_id, &first.msg_id, &second.msg_id]
        .iter()
        .flat_map(|id| [format!("SubBefore:{id}"), format!("SubAfter:{id}")])
        .collect();
    wanted.sort();
    let records = java_trace_dump(&wanted).await;
    let before = &records[&format!("SubBefore:{}", first.msg_id)];
    let after = &records[&format!("SubAfter:{}", first.msg_id)];
    // Delivered twice: first "later" (a failure, contextCode FAILED = 4), then success.
    assert_eq!(before.len(), 2, "{before:#?}");
    assert_eq!(after.len(), 2, "{after:#?}");
    let by_request = |r: &serde_json::Value| r["request_id"].as_str().unwrap().to_string();
    for b in before {
        assert_eq!(b["group"], group.as_str());
        assert_eq!(b["keys"], "k-later");
        let a = after
            .iter()
            .find(|a| by_request(a) == by_request(b))
            .expect("a SubAfter with the SubBefore's request id");
        match b["retry_times"].as_i64().unwrap() {
            0 => {
                assert_eq!(a["success"], false, "{a}");
                assert_eq!(a["context_code"], 4, "{a}");
            }
            1 => {
                assert_eq!(a["success"], true, "{a}");
                assert_eq!(a["context_code"], 0, "{a}");
            }
            n => panic!("retry times {n}"),
        }
        assert_eq!(a["group"], group.as_str());
    }
    let fine = &records[&format!("SubAfter:{}", second.msg_id)];
    assert_eq!(fine.len(), 1);
    assert_eq!(fine[0]["success"], true);
    assert_eq!(
        records[&format!("SubBefore:{}", second.msg_id)][0]["keys"],
        "null"
    );
}

#[tokio::test]
async fn polls_of_a_lite_pull_consumer_are_traced_as_consumed() {
    let topic = topic("TraceLiteTopic", 1).await;
    let producer = Producer::builder(unique("trace_lite_producer"))
        .name_server(&namesrv())
        .start()
        .await
        .unwrap();
    let sent = producer.send(Message::new(&topic, "polled")).await.unwrap();
    producer.shutdown().await;
    let consumer = LitePullConsumer::builder(unique("trace_lite_group"))
        .name_server(&namesrv())
        .consume_from(ConsumeFrom::FirstOffset)
        .trace(trace_config())
        .start()
        .await
        .unwrap();
    consumer.subscribe(&topic, "*").await.unwrap();
    let got = wait_for(Duration::from_secs(30), || async {
        let batch = consumer.poll(Duration::from_millis(500)).await.unwrap();
        batch.into_iter().find(|m| m.msg_id() == sent.msg_id)
    })
    .await;
    assert!(got.is_some(), "the message was polled");
    consumer.shutdown().await;
    let records = java_trace_dump(&[
        format!("SubBefore:{}", sent.msg_id),
        format!("SubAfter:{}", sent.msg_id),
    ])
    .await;
    assert_eq!(
        records[&format!("SubAfter:{}", sent.msg_id)][0]["success"],
        true
    );
}

/// Commits every transaction; counts the local transactions.
struct CommitAll(Arc<AtomicUsize>);

impl TransactionListener for CommitAll {
    async fn execute(
        &self,
        _msg: &Message,
        _sent: &SendResult,
    ) -> Result<TransactionState, TransactionError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(TransactionState::Commit)
    }

    async fn check(&self, _msg: &MessageExt) -> Result<TransactionState, TransactionError> {
        Ok(TransactionState::Commit)
    }
}

#[tokio::test]
async fn a_transaction_has_a_half_message_publish_and_an_end_transaction_record() {
    let topic = topic("TraceTxTopic", 1).await;
    let group = unique("trace_tx_group");
    let executed = Arc::new(AtomicUsize::new(0));
    let producer = Producer::builder(&group)
        .name_server(&namesrv())
        .transaction_listener(CommitAll(Arc::clone(&executed)))
        .trace(trace_config())
        .start()
        .await
        .unwrap();
    let sent = producer
        .send_in_transaction(Message::new(&topic, "tx body").with_tags("TxTag"))
        .await
        .unwrap();
    assert_eq!(sent.state, TransactionState::Commit);
    producer.shutdown().await;
    let id = &sent.send.msg_id;
    let records = java_trace_dump(&[format!("Pub:{id}"), format!("EndTransaction:{id}")]).await;
    let half = &records[&format!("Pub:{id}")][0];
    assert_eq!(half["msg_type"], "Trans_Msg_Half");
    assert_eq!(half["group"], group.as_str());
    let end = &records[&format!("EndTransaction:{id}")][0];
    assert_eq!(end["transaction_state"], "COMMIT_MESSAGE");
    assert_eq!(end["from_transaction_check"], false);
    assert_eq!(end["msg_type"], "Trans_msg_Commit");
    assert_eq!(end["tags"], "TxTag");
    assert_eq!(end["topic"], topic.as_str());
    assert_eq!(end["store_host"], broker_a().as_str());
    assert_eq!(executed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bad_trace_settings_are_validation_errors_before_the_network() {
    // No name server listens on port 1: reaching the network would fail differently.
    let err = Producer::builder("trace_bad_group")
        .name_server("127.0.0.1:1")
        .trace(TraceConfig::new().batch_size(0))
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            rmq::Error::Validation(rmq::ValidationError::OutOfRange { .. })
        ),
        "{err}"
    );
    let err = PushConsumer::builder("trace_bad_group")
        .name_server("127.0.0.1:1")
        .subscribe("T", "*")
        .handler(|_, _| async { ConsumeResult::Success })
        .trace(TraceConfig::new().topic("bad topic"))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, rmq::Error::Validation(_)), "{err}");
}
