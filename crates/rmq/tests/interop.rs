//! What we send is read back by Apache RocketMQ's own Java consumer (`interop/java`,
//! `rocketmq-client` of the broker's version) and compared message by message.

mod common;

use common::broker::{api, create_topic, is_v4, namesrv, unique};
use common::java::java_consume_by_id;
use rmq::CompressionType;
use rmq::{Message, Producer};

struct Expected {
    msg: Message,
    uniq_key: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_java_consumer_reads_what_we_sent() {
    let api = api().await;
    let topic = unique("InteropTopic");
    create_topic(&api, &topic, 2).await;
    let mut expected: Vec<Expected> = Vec::new();

    let producer = Producer::builder(unique("interop"))
        .name_server(&namesrv())
        .start()
        .await
        .unwrap();
    let singles = vec![
        Message::new(&topic, "plain"),
        Message::new(&topic, "tagged").with_tags("TagA"),
        Message::new(&topic, "keyed").with_key("k1").with_key("k2"),
        Message::new(&topic, "props")
            .with_property("color", "blue")
            .with_property("ünï", "cödé ✓")
            .with_flag(7),
        Message::new(&topic, "zlib ".repeat(2000)).with_tags("Z"),
        Message::new(&topic, "delayed one second").with_delay_level(1),
        Message::new(&topic, vec![0u8, 1, 2, 255, 254, 0x01, 0x02]),
    ];
    for m in singles {
        let r = producer.send(m.clone()).await.unwrap();
        expected.push(Expected {
            msg: m,
            uniq_key: r.msg_id,
        });
    }
    let batch: Vec<Message> = (0..3)
        .map(|i| {
            Message::new(&topic, format!("batch {i}"))
                .with_tags("B")
                .with_key(format!("b{i}"))
        })
        .collect();
    let r = producer.send_batch(batch.clone()).await.unwrap();
    for (m, id) in batch.into_iter().zip(r.msg_id.split(',')) {
        expected.push(Expected {
            msg: m,
            uniq_key: id.to_string(),
        });
    }
    producer.shutdown().await;

    if !is_v4() {
        for kind in [CompressionType::Lz4, CompressionType::Zstd] {
            let p = Producer::builder(unique("interop_c"))
                .name_server(&namesrv())
                .compression(Some((kind, kind.default_level())))
                .start()
                .await
                .unwrap();
            let m = Message::new(&topic, format!("{kind:?} body ").repeat(1000));
            let r = p.send(m.clone()).await.unwrap();
            expected.push(Expected {
                msg: m,
                uniq_key: r.msg_id,
            });
            p.shutdown().await;
        }
    }

    let got = java_consume_by_id(&topic, expected.len()).await;
    assert_eq!(
        got.len(),
        expected.len(),
        "Java read {} of {}",
        got.len(),
        expected.len()
    );
    for e in &expected {
        let j = got
            .get(&e.uniq_key)
            .unwrap_or_else(|| panic!("Java did not see {}", e.uniq_key));
        assert_eq!(j["topic"], topic);
        assert_eq!(j["body_hex"], hex(&e.msg.body), "body of {}", e.uniq_key);
        assert_eq!(
            j["tags"].as_str(),
            e.msg.tags.as_deref(),
            "tags of {}",
            e.uniq_key
        );
        let keys = e.msg.keys.join(" ");
        assert_eq!(
            j["keys"].as_str(),
            (!keys.is_empty()).then_some(keys.as_str()),
            "keys of {}",
            e.uniq_key
        );
        assert_eq!(j["flag"], e.msg.flag);
        for (k, v) in &e.msg.properties {
            assert_eq!(
                j["properties"][k].as_str(),
                Some(v.as_str()),
                "property {k} of {}",
                e.uniq_key
            );
        }
        assert_eq!(
            j["properties"]["UNIQ_KEY"].as_str(),
            Some(e.uniq_key.as_str())
        );
        if e.msg.delay_level > 0 {
            assert_eq!(j["properties"]["DELAY"].as_str(), Some("1"));
        }
    }
    api.close().await;
}
