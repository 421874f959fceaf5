//! The JSON bodies a name server or broker sends: `TopicRouteData`, `ClusterInfo`,
//! `ProducerConnection` and `parse_fastjson` (fastjson's bare numeric map keys), all on the same
//! input. A parsed route is normalized, turned into a `TopicPublishInfo` (what a producer sends
//! to) and queried; every parsed value must serialize and parse back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq::client::TopicPublishInfo;
use rmq::protocol::{parse_fastjson, ClusterInfo, ProducerConnection, TopicRouteData};

fuzz_target!(|body: &[u8]| {
    if let Ok(route) = TopicRouteData::from_json(body) {
        let normalized = route.normalized();
        assert_eq!(
            normalized.normalized(),
            normalized,
            "normalized() is not idempotent"
        );
        for b in &route.broker_datas {
            let _ = b.master_addr();
        }
        for q in &route.queue_datas {
            let _ = (
                q.perm.to_string(),
                q.perm.is_readable(),
                q.perm.is_inherited(),
            );
        }
        let info = TopicPublishInfo::from_route("FuzzTopic", &route);
        let _ = (info.ok(), info.next_index());
        if let Some(first) = info.select_queue(None) {
            let avoid = first.broker_name.clone();
            let _ = info.select_queue(Some(&avoid));
        }
        let json = serde_json::to_vec(&route).expect("a route serializes");
        let back = TopicRouteData::from_json(&json)
            .unwrap_or_else(|e| panic!("a serialized route does not parse: {e}"));
        assert_eq!(back, route, "route changed in a JSON round trip");
    }
    if let Ok(info) = ClusterInfo::from_json(body) {
        let json = serde_json::to_vec(&info).expect("cluster info serializes");
        let back = ClusterInfo::from_json(&json)
            .unwrap_or_else(|e| panic!("serialized cluster info does not parse: {e}"));
        assert_eq!(back, info, "cluster info changed in a JSON round trip");
    }
    if let Ok(conn) = ProducerConnection::from_json(body) {
        let json = serde_json::to_vec(&conn).expect("a connection list serializes");
        let back = ProducerConnection::from_json(&json)
            .unwrap_or_else(|e| panic!("a serialized connection list does not parse: {e}"));
        assert_eq!(back, conn, "connection list changed in a JSON round trip");
    }
    let lenient = parse_fastjson::<serde_json::Value>(body);
    // Standard JSON must parse to the same value through the lenient path.
    if let Ok(strict) = serde_json::from_slice::<serde_json::Value>(body) {
        assert_eq!(
            lenient.ok(),
            Some(strict),
            "parse_fastjson differs on standard JSON"
        );
    }
});
