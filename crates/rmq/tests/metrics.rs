//! The metrics documented in `rmq::metrics`, recorded by a small in-test recorder while a
//! producer sends and a push consumer consumes against the real local RocketMQ.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::broker::{api, create_topic, unique, wait_for};
use metrics::{
    Counter, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use rmq::{
    ClientConfig, ConsumeFrom, ConsumeResult, Message, MessageQueue, Producer, PushConsumer,
};

const LONG: Duration = Duration::from_secs(90);

/// A metric's identity: its name and its labels, sorted.
type Id = (String, BTreeMap<String, String>);

fn id(key: &Key) -> Id {
    (
        key.name().to_string(),
        key.labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect(),
    )
}

/// A gauge that remembers its last and its highest value.
#[derive(Default)]
struct TestGauge {
    last: Mutex<f64>,
    max: Mutex<f64>,
}

impl GaugeFn for TestGauge {
    fn increment(&self, value: f64) {
        let last = *self.last.lock().unwrap() + value;
        self.set(last);
    }
    fn decrement(&self, value: f64) {
        self.increment(-value);
    }
    fn set(&self, value: f64) {
        *self.last.lock().unwrap() = value;
        let mut max = self.max.lock().unwrap();
        *max = max.max(value);
    }
}

#[derive(Default)]
struct TestHistogram(Mutex<Vec<f64>>);

impl HistogramFn for TestHistogram {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

#[derive(Default)]
struct Store {
    counters: Mutex<BTreeMap<Id, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<Id, Arc<TestGauge>>>,
    histograms: Mutex<BTreeMap<Id, Arc<TestHistogram>>>,
    described: Mutex<BTreeMap<String, Option<Unit>>>,
}

impl Store {
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(&make_id(name, labels))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.histograms
            .lock()
            .unwrap()
            .get(&make_id(name, labels))
            .map_or(0, |h| h.0.lock().unwrap().len())
    }

    /// (last, max) of a gauge, if it was registered.
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<(f64, f64)> {
        self.gauges
            .lock()
            .unwrap()
            .get(&make_id(name, labels))
            .map(|g| (*g.last.lock().unwrap(), *g.max.lock().unwrap()))
    }
}

fn make_id(name: &str, labels: &[(&str, &str)]) -> Id {
    (
        name.to_string(),
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

struct TestRecorder(Arc<Store>);

impl Recorder for TestRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.0
            .described
            .lock()
            .unwrap()
            .insert(key.as_str().to_string(), unit);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.0
            .described
            .lock()
            .unwrap()
            .insert(key.as_str().to_string(), unit);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.0
            .described
            .lock()
            .unwrap()
            .insert(key.as_str().to_string(), unit);
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let c = Arc::clone(self.0.counters.lock().unwrap().entry(id(key)).or_default());
        Counter::from_arc(c)
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let g = Arc::clone(self.0.gauges.lock().unwrap().entry(id(key)).or_default());
        Gauge::from_arc(g)
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let h = Arc::clone(
            self.0
                .histograms
                .lock()
                .unwrap()
                .entry(id(key))
                .or_default(),
        );
        Histogram::from_arc(h)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_send_and_consume_publish_the_documented_metrics() {
    let store = Arc::new(Store::default());
    metrics::set_global_recorder(TestRecorder(Arc::clone(&store)))
        .unwrap_or_else(|_| panic!("the only recorder of this test binary"));
    rmq::metrics::describe();
    for name in [
        rmq::metrics::PRODUCER_SEND_TOTAL,
        rmq::metrics::PRODUCER_SEND_LATENCY,
        rmq::metrics::CONSUMER_PULLED_MESSAGES,
        rmq::metrics::CONSUMER_PULL_LATENCY,
        rmq::metrics::CONSUMER_CONSUMED_MESSAGES,
        rmq::metrics::CONSUMER_CONSUME_LATENCY,
        rmq::metrics::CONSUMER_LAG,
    ] {
        assert!(
            store.described.lock().unwrap().contains_key(name),
            "{name} is described"
        );
    }

    let api = api().await;
    let topic = unique("Metrics");
    create_topic(&api, &topic, 2).await;
    let ns = common::broker::namesrv();
    let producer = Producer::builder(unique("pg_metrics"))
        .client(ClientConfig::new().name_server(&ns))
        .start()
        .await
        .unwrap();
    const SENT: u64 = 6;
    for i in 0..SENT {
        let body = if i == 0 { "fail once" } else { "fine" };
        producer.send(Message::new(&topic, body)).await.unwrap();
    }
    // A queue the broker does not have: the broker refuses the send.
    let bad_queue = MessageQueue::new(topic.clone(), "broker-a", 99);
    assert!(producer
        .send_to_queue(Message::new(&topic, "nowhere"), &bad_queue)
        .await
        .is_err());
    producer.shutdown().await;
    let t = topic.as_str();
    assert_eq!(
        store.counter(
            rmq::metrics::PRODUCER_SEND_TOTAL,
            &[("topic", t), ("result", "ok")]
        ),
        SENT
    );
    assert_eq!(
        store.counter(
            rmq::metrics::PRODUCER_SEND_TOTAL,
            &[("topic", t), ("result", "failed")]
        ),
        1
    );
    assert_eq!(
        store.histogram_count(rmq::metrics::PRODUCER_SEND_LATENCY, &[("topic", t)]),
        SENT as usize + 1
    );

    let group = unique("cg_metrics");
    let consumer = PushConsumer::builder(&group)
        .client(ClientConfig::new().name_server(&ns))
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .consume_batch_size(1)
        .handler(|messages, _context| async move {
            // The first delivery of one message fails; the rest succeed.
            if messages
                .iter()
                .any(|m| m.body.as_ref() == b"fail once" && m.reconsume_times == 0)
            {
                ConsumeResult::later()
            } else {
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap();
    let g = group.as_str();
    let consumed_ok = || {
        store.counter(
            rmq::metrics::CONSUMER_CONSUMED_MESSAGES,
            &[("group", g), ("topic", t), ("result", "ok")],
        )
    };
    wait_for(LONG, || async { (consumed_ok() >= SENT - 1).then_some(()) })
        .await
        .expect("the messages are consumed");
    assert_eq!(
        store.counter(
            rmq::metrics::CONSUMER_CONSUMED_MESSAGES,
            &[("group", g), ("topic", t), ("result", "failed")]
        ),
        1
    );
    assert!(
        store.counter(
            rmq::metrics::CONSUMER_PULLED_MESSAGES,
            &[("group", g), ("topic", t)]
        ) >= SENT
    );
    assert!(
        store.histogram_count(
            rmq::metrics::CONSUMER_CONSUME_LATENCY,
            &[("group", g), ("topic", t)]
        ) >= SENT as usize
    );
    assert!(
        store.histogram_count(
            rmq::metrics::CONSUMER_PULL_LATENCY,
            &[("group", g), ("topic", t)]
        ) >= 1
    );
    // Each queue's lag was positive when its messages arrived, and drops to 0 at a later
    // pull answer (the next long poll returns within the broker's 15 s hold).
    for queue in ["0", "1"] {
        let labels = [
            ("group", g),
            ("topic", t),
            ("broker", "broker-a"),
            ("queue", queue),
        ];
        let (_, max) = store
            .gauge(rmq::metrics::CONSUMER_LAG, &labels)
            .unwrap_or_else(|| panic!("a lag gauge of queue {queue}"));
        assert!(max >= 1.0, "queue {queue} had lag {max}");
        wait_for(LONG, || async {
            store
                .gauge(rmq::metrics::CONSUMER_LAG, &labels)
                .filter(|(last, _)| *last == 0.0)
        })
        .await
        .unwrap_or_else(|| panic!("the lag of queue {queue} falls to 0"));
    }
    consumer.shutdown().await;
}
