//! The wire protocol against a real Apache RocketMQ NameServer and Broker on loopback.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::broker::{api, broker_a, create_topic, is_v4, unique};
use rmq::client::expect_success;
use rmq::protocol::{
    HeartbeatData, Perm, ProducerData, RequestCode, ResponseCode, SendMessageRequestHeaderV2,
    SendMessageResponseHeader, SerializeType, MASTER_ID,
};
use rmq::Error;

#[tokio::test]
async fn route_of_tbw102_names_the_local_broker() {
    let api = api().await;
    let route = api
        .topic_route("TBW102", api.deadline())
        .await
        .expect("TBW102 route");
    let broker = route
        .broker_datas
        .iter()
        .find(|b| b.broker_name == "broker-a")
        .expect("broker-a in TBW102 route");
    assert_eq!(broker.master_addr(), Some(broker_a().as_str()));
    let queues = route
        .queue_datas
        .iter()
        .find(|q| q.broker_name == "broker-a")
        .expect("broker-a queues");
    // autoCreateTopicEnable gives TBW102 read, write and inherit.
    assert_eq!(queues.perm, Perm(Perm::READ | Perm::WRITE | Perm::INHERIT));
    assert!(queues.write_queue_nums > 0);
    api.close().await;
}

#[tokio::test]
async fn route_of_a_created_topic_and_of_a_missing_one() {
    let api = api().await;
    let topic = unique("RouteTopic");
    create_topic(&api, &topic, 3).await;
    let route = api.topic_route(&topic, api.deadline()).await.unwrap();
    let q = route
        .queue_datas
        .iter()
        .find(|q| q.broker_name == "broker-a")
        .unwrap();
    assert_eq!(
        (q.read_queue_nums, q.write_queue_nums, q.perm),
        (3, 3, Perm(6))
    );
    assert_eq!(
        route.broker_datas[0].broker_addrs.get(&MASTER_ID),
        Some(&broker_a())
    );

    let err = api
        .topic_route(&unique("NoSuchTopic"), api.deadline())
        .await
        .unwrap_err();
    assert_eq!(
        err.response_code(),
        Some(ResponseCode::TOPIC_NOT_EXIST),
        "{err}"
    );
    api.close().await;
}

#[tokio::test]
async fn cluster_info_lists_broker_a() {
    let api = api().await;
    let info = api.cluster_info().await.unwrap();
    assert!(info.cluster_addr_table["DefaultCluster"].contains(&"broker-a".to_string()));
    assert_eq!(
        info.broker_addr_table["broker-a"].master_addr(),
        Some(broker_a().as_str())
    );
    api.close().await;
}

#[tokio::test]
async fn heartbeat_with_a_producer_group_is_accepted_and_listed() {
    let api = api().await;
    let group = unique("hb_group");
    let client_id = format!("127.0.0.1@{}", unique("hb"));
    let data = HeartbeatData {
        client_id: client_id.clone(),
        consumer_data_set: vec![],
        producer_data_set: vec![ProducerData {
            group_name: group.clone(),
        }],
    };
    let broker_version = api
        .heartbeat(&broker_a(), &data, api.deadline())
        .await
        .expect("heartbeat accepted");
    assert!(broker_version >= 399, "broker version {broker_version}");
    let conns = api.producer_connections(&broker_a(), &group).await.unwrap();
    assert_eq!(conns.connection_set.len(), 1);
    assert_eq!(conns.connection_set[0].client_id, client_id);
    // And it leaves again.
    api.unregister_client(&broker_a(), &client_id, Some(&group), None, api.deadline())
        .await
        .unwrap();
    let after = api.producer_connections(&broker_a(), &group).await;
    assert!(
        after.as_ref().map_or(true, |c| c.connection_set.is_empty()),
        "still listed: {after:?}"
    );
    api.close().await;
}

#[tokio::test]
async fn one_send_message_v2_is_stored() {
    let api = api().await;
    let topic = unique("SendTopic");
    create_topic(&api, &topic, 2).await;
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let header = SendMessageRequestHeaderV2 {
            producer_group: "wire_test_group".into(),
            topic: topic.clone(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 1,
            sys_flag: 0,
            born_timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64,
            flag: 0,
            properties: Some(
                "UNIQ_KEY\u{1}0123456789ABCDEF0123456789ABCDEF\u{2}WAIT\u{1}true".into(),
            ),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: Some(false),
            broker_name: Some("broker-a".into()),
        };
        let mut cmd = api
            .command(RequestCode::SEND_MESSAGE_V2, Some(&header))
            .with_body(&b"hello from rust"[..]);
        cmd.serialize_type = serialize_type;
        let resp = expect_success(
            &broker_a(),
            api.invoke(&broker_a(), cmd, api.deadline()).await.unwrap(),
        )
        .unwrap();
        let h: SendMessageResponseHeader = resp.decode_header().expect("send response header");
        assert_eq!(h.queue_id, 1);
        assert!(h.queue_offset >= 0);
        // Offset message id: 127.0.0.1:10911 + commit-log offset, 32 hex digits.
        assert_eq!(h.msg_id.len(), 32, "{}", h.msg_id);
        assert!(h.msg_id.starts_with("7F00000100002A9F"), "{}", h.msg_id);
        if !is_v4() {
            // 5.x brokers return the UNIQ_KEY as transaction id.
            assert_eq!(
                h.transaction_id.as_deref(),
                Some("0123456789ABCDEF0123456789ABCDEF")
            );
        }
    }
    api.close().await;
}

#[tokio::test]
async fn broker_rejects_unknown_request_codes_and_the_connection_survives() {
    let api = api().await;
    let resp = api
        .invoke(
            &broker_a(),
            api.command(RequestCode(4321), None),
            api.deadline(),
        )
        .await
        .unwrap();
    assert_eq!(
        resp.response_code(),
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED
    );
    let err = expect_success(&broker_a(), resp).unwrap_err();
    assert!(matches!(err, Error::Server { .. }));
    // Same connection, next request fine.
    let info = api.cluster_info().await;
    assert!(info.is_ok());
    api.close().await;
}
