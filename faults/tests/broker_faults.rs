//! The fault suite: real failures of a real cluster of two name servers, two masters and a
//! slave (`rmq_faults::FaultCluster`, ports + 4000), under load. Each test starts the cluster
//! afresh, breaks it the way production clusters break (a master killed with SIGKILL, a broker
//! restarted, a name server down, consumers joining and leaving), and proves the client's
//! promises: every acknowledged message is stored, every stored message is handled at least
//! once, failures are few, bounded and recover. Duplicates and timings are measured and
//! written to the fault report (`target/fault-report.txt`, printed by scripts/test), never
//! asserted as times. The tests run one at a time (one cluster).

#[path = "../../crates/rmq/tests/common/fake_cluster.rs"]
#[allow(dead_code, unreachable_pub)]
mod fake_cluster;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmq::{
    Admin, ClientConfig, ConsumeFrom, LitePullConsumer, Message, MessageQueue, Producer,
    SendResult, TopicTarget,
};
use rmq_faults::{report, unique, FaultCluster, Server};

/// One test at a time: they share the fault cluster's ports.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start_cluster() -> FaultCluster {
    tokio::task::spawn_blocking(FaultCluster::start)
        .await
        .expect("cluster start")
}

/// A fresh cluster and a topic with 4 queues on each master.
async fn cluster_with_topic(prefix: &str) -> (Arc<FaultCluster>, String) {
    let cluster = Arc::new(start_cluster().await);
    let topic = unique(prefix);
    create_topic(&cluster, &topic, 4).await;
    (cluster, topic)
}

/// Runs a blocking cluster command off the runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// Creates `topic` with `queues` queues on both masters; waits until both name servers route
/// it to both.
async fn create_topic(cluster: &FaultCluster, topic: &str, queues: i32) {
    for ns in [Server::NameServer1, Server::NameServer2] {
        let admin = Admin::new(&ClientConfig::new().name_server(&ns.addr())).unwrap();
        if ns == Server::NameServer1 {
            admin
                .create_topic_on(topic, queues, TopicTarget::Cluster("DefaultCluster".into()))
                .await
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(route) = admin.topic_route(topic).await {
                if route.queue_datas.len() == 2 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "{topic} never routed by {ns:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        admin.close().await;
    }
    let _ = cluster;
}

/// Every message stored in `topic` (both masters, every queue from offset 0), by `UNIQ_KEY`:
/// how many copies of each.
async fn stored_ids(cluster: &FaultCluster, topic: &str) -> HashMap<String, usize> {
    let admin = Admin::new(&ClientConfig::new().name_server(&cluster.namesrv())).unwrap();
    let queues: Vec<MessageQueue> = admin.queues(topic).await.unwrap();
    let mut total = 0;
    for q in &queues {
        total += admin.max_offset(q).await.unwrap();
    }
    admin.close().await;
    let reader = LitePullConsumer::builder(unique("fault_reader"))
        .name_server(&cluster.namesrv())
        .consume_from(ConsumeFrom::FirstOffset)
        .auto_commit(false)
        .pull_batch_size(256)
        .start()
        .await
        .unwrap();
    reader.assign(queues).await.unwrap();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut read = 0i64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while read < total {
        assert!(
            Instant::now() < deadline,
            "read {read} of {total} stored messages"
        );
        for m in reader.poll(Duration::from_millis(500)).await.unwrap() {
            *ids.entry(m.msg_id().to_string()).or_default() += 1;
            read += 1;
        }
    }
    reader.shutdown().await;
    ids
}

/// What a paced sender saw.
#[derive(Default)]
struct SendLog {
    acked: Vec<(Duration, SendResult)>,
    /// Start time (since the run began) and error of each failed send.
    failed: Vec<(Duration, String)>,
    /// Longest send.
    slowest: Duration,
}

/// Sends `rate` messages a second for `run` to `topic`, each send its own task (pipelined),
/// calling `events` at their times (since the start) on the side.
async fn paced_sends(
    producer: &Producer,
    topic: &str,
    rate: u32,
    run: Duration,
    events: Vec<(Duration, Box<dyn FnOnce() + Send>)>,
) -> SendLog {
    let log = Arc::new(Mutex::new(SendLog::default()));
    let started = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    let mut side = tokio::task::JoinSet::new();
    let mut events: Vec<_> = events.into_iter().collect();
    events.sort_by_key(|(at, _)| *at);
    let mut events = events.into_iter().peekable();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut i = 0u64;
    while started.elapsed() < run {
        tick.tick().await;
        while events
            .peek()
            .is_some_and(|(at, _)| started.elapsed() >= *at)
        {
            let (_, event) = events.next().unwrap();
            side.spawn_blocking(event);
        }
        let producer = producer.clone();
        let log = Arc::clone(&log);
        let message = Message::new(topic, format!("paced message {i}"));
        i += 1;
        sends.spawn(async move {
            let at = started.elapsed();
            let result = producer.send(message).await;
            let took = started.elapsed() - at;
            let mut log = log.lock().unwrap();
            log.slowest = log.slowest.max(took);
            match result {
                Ok(r) => log.acked.push((at, r)),
                Err(e) => log.failed.push((at, e.to_string())),
            }
        });
    }
    while sends.join_next().await.is_some() {}
    for (_, event) in events {
        side.spawn_blocking(event);
    }
    while side.join_next().await.is_some() {}
    Arc::try_unwrap(log)
        .ok()
        .expect("every send finished")
        .into_inner()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_produce_load_loses_no_acknowledged_message() {
    let _serial = SERIAL.lock().await;
    let (cluster, topic) = cluster_with_topic("FaultProduce").await;
    let producer = Producer::builder(unique("fault_producer"))
        .name_server(&cluster.namesrv())
        .start()
        .await
        .unwrap();

    let kill_at = Duration::from_secs(8);
    let restart_at = Duration::from_secs(18);
    let (killer, restarter) = (Arc::clone(&cluster), Arc::clone(&cluster));
    let log = paced_sends(
        &producer,
        &topic,
        400,
        Duration::from_secs(30),
        vec![
            (
                kill_at,
                Box::new(move || killer.kill(Server::BrokerA)) as Box<dyn FnOnce() + Send>,
            ),
            (
                restart_at,
                Box::new(move || restarter.start_broker(Server::BrokerA)),
            ),
        ],
    )
    .await;
    producer.shutdown().await;

    // Sends stopped going to broker-a at the kill and came back after the restart.
    let to_a = |from: Duration, to: Duration| {
        log.acked
            .iter()
            .filter(|(at, r)| *at >= from && *at < to && r.queue.broker_name == "broker-a")
            .count()
    };
    assert!(
        to_a(Duration::ZERO, kill_at) > 0,
        "broker-a took sends before the kill"
    );
    let back_on_a = log
        .acked
        .iter()
        .filter(|(at, r)| *at > restart_at && r.queue.broker_name == "broker-a")
        .map(|(at, _)| *at)
        .min();

    let stored = stored_ids(&cluster, &topic).await;
    let lost: Vec<&str> = log
        .acked
        .iter()
        .map(|(_, r)| r.msg_id.as_str())
        .filter(|id| !stored.contains_key(*id))
        .collect();
    let extra_copies: usize = stored.values().map(|n| n - 1).sum();
    let last_failure = log.failed.iter().map(|(at, _)| *at).max();
    report(&format!(
        "master killed under produce load (400 msg/s for 30 s, broker-a killed at 8 s, restarted at 18 s): \
         sent {}, acknowledged {}, failed {} (last failure {:?} after the kill; first: {:?}), \
         slowest send {:?}, broker-a used again {:?} after its restart began, \
         acknowledged but lost {}, extra stored copies (retried after a lost answer) {}",
        log.acked.len() + log.failed.len(),
        log.acked.len(),
        log.failed.len(),
        last_failure.map(|t| t.saturating_sub(kill_at)),
        log.failed.first().map(|(_, e)| e.as_str()),
        log.slowest,
        back_on_a.map(|t| t - restart_at),
        lost.len(),
        extra_copies,
    ));
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    let acked: HashSet<&str> = log.acked.iter().map(|(_, r)| r.msg_id.as_str()).collect();
    assert_eq!(acked.len(), log.acked.len(), "one acknowledgement per send");
}

/// Sends `n` messages to `topic` (64 in flight); their ids.
async fn backlog(producer: &Producer, topic: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let mut sends = futures_util::stream::FuturesOrdered::new();
    use futures_util::StreamExt;
    for i in 0..n {
        let producer = producer.clone();
        let message = Message::new(topic, format!("backlog message {i}"));
        sends.push_back(async move { producer.send(message).await });
        if sends.len() >= 64 {
            ids.push(sends.next().await.unwrap().expect("backlog send").msg_id);
        }
    }
    while let Some(sent) = sends.next().await {
        ids.push(sent.expect("backlog send").msg_id);
    }
    ids
}

/// Waits until broker-a's slave knows `topic` (slaves copy topic configurations from their
/// master every 10 s and refuse pulls and offsets of topics they do not know yet).
async fn slave_knows_topic(topic: &str) {
    let api = rmq::client::ClientApi::standalone(
        vec![Server::NameServer1.addr()],
        Duration::from_secs(3),
    );
    let probe = rmq::protocol::UpdateConsumerOffsetRequestHeader {
        consumer_group: "fault_slave_probe".into(),
        topic: topic.into(),
        queue_id: 0,
        commit_offset: 0,
        broker_name: Some("broker-a".into()),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Topics are checked before groups: a 5.x slave that does not know the probe group
        // (it copies groups from its master too) already knows the topic.
        match api
            .update_consumer_offset(&Server::BrokerASlave.addr(), &probe, api.deadline())
            .await
        {
            Ok(()) => break,
            Err(e)
                if e.response_code() == Some(rmq::ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST) =>
            {
                break
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "the slave never learned {topic}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    api.close().await;
}

/// Waits until broker-a's slave holds everything its master holds for `topic`.
async fn slave_caught_up(cluster: &FaultCluster, topic: &str, queues: i32) {
    let api = rmq::client::ClientApi::standalone(
        vec![Server::NameServer1.addr()],
        Duration::from_secs(3),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut behind = 0;
        for q in 0..queues {
            let master = api
                .max_offset(&Server::BrokerA.addr(), topic, q)
                .await
                .unwrap();
            let slave = api
                .max_offset(&Server::BrokerASlave.addr(), topic, q)
                .await
                .unwrap_or(0);
            behind += master - slave;
        }
        if behind == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "slave still {behind} behind");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    api.close().await;
    let _ = cluster;
}

/// What consumers handled: (when, message id, broker) per call, in order.
type Handled = Arc<Mutex<Vec<(Instant, String, String)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_consume_load_is_read_from_its_slave_and_nothing_is_lost() {
    let _serial = SERIAL.lock().await;
    let (cluster, topic) = cluster_with_topic("FaultConsume").await;
    let producer = Producer::builder(unique("fault_backlog"))
        .name_server(&cluster.namesrv())
        .start()
        .await
        .unwrap();
    let sent = backlog(&producer, &topic, 8000).await;
    producer.shutdown().await;
    slave_caught_up(&cluster, &topic, 4).await;
    slave_knows_topic(&topic).await;

    let group = unique("fault_consume_group");
    let handled: Handled = Arc::default();
    let pace = Some(Duration::from_millis(2));
    let c1 = recording_consumer(&cluster, &group, &topic, "fault-c1", &handled, pace).await;
    let c2 = recording_consumer(&cluster, &group, &topic, "fault-c2", &handled, pace).await;
    let count = || handled.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count() < sent.len() / 4 {
        assert!(
            Instant::now() < deadline,
            "consumption never got going: {}",
            count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killer = Arc::clone(&cluster);
    blocking(move || killer.kill(Server::BrokerA)).await;
    let killed = Instant::now();
    let handled_at_kill = count();

    let wanted: HashSet<&str> = sent.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let seen: HashSet<String> = handled
            .lock()
            .unwrap()
            .iter()
            .map(|(_, id, _)| id.clone())
            .collect();
        if wanted.iter().all(|id| seen.contains(*id)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} handled 120 s after the master was killed",
            wanted.iter().filter(|id| seen.contains(**id)).count(),
            wanted.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_handled = Instant::now();
    let resumed_on_slave = handled
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _, broker)| *at > killed + Duration::from_millis(100) && broker == "broker-a")
        .map(|(at, _, _)| *at - killed)
        .min();

    // The master comes back: the group's offsets on it catch up with what was consumed.
    let restarter = Arc::clone(&cluster);
    blocking(move || restarter.start_broker(Server::BrokerA)).await;
    let restarted = Instant::now();
    let admin = Admin::new(&ClientConfig::new().name_server(&cluster.namesrv())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let lag = loop {
        let progress = admin.consume_progress(&group, Some(&topic)).await;
        let on_both = progress.as_ref().is_ok_and(|p| {
            p.queues
                .iter()
                .filter(|q| q.queue.broker_name == "broker-a")
                .count()
                == 4
        });
        match progress {
            Ok(p) if on_both && p.total_lag == 0 => break 0,
            Ok(p) if Instant::now() >= deadline => break p.total_lag,
            Err(e) if Instant::now() >= deadline => panic!("no consume progress: {e}"),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    let offsets_caught_up = restarted.elapsed();
    admin.close().await;
    c1.shutdown().await;
    c2.shutdown().await;

    let handled = handled.lock().unwrap();
    let distinct: HashSet<&str> = handled.iter().map(|(_, id, _)| id.as_str()).collect();
    report(&format!(
        "master killed under consume load ({} messages backlog on broker-a + broker-b, 2 consumers, broker-a killed after {} handled): \
         broker-a's queues read from its slave {:?} after the kill, everything handled {:?} after the kill, \
         duplicates {}, lag on the masters {} ({:?} after broker-a's restart began)",
        sent.len(),
        handled_at_kill,
        resumed_on_slave,
        all_handled - killed,
        handled.len() - distinct.len(),
        lag,
        offsets_caught_up,
    ));
    assert!(
        resumed_on_slave.is_some(),
        "broker-a's queues were consumed from its slave"
    );
    assert_eq!(lag, 0, "offsets consistent on the restarted master");
}

/// A push consumer recording every message id it handled, with its broker. With `pace`, it
/// handles one message at a time and takes that long for each (so a backlog outlasts a kill).
async fn recording_consumer(
    cluster: &FaultCluster,
    group: &str,
    topic: &str,
    name: &str,
    handled: &Handled,
    pace: Option<Duration>,
) -> rmq::PushConsumer {
    let handled = Arc::clone(handled);
    let mut builder = rmq::PushConsumer::builder(group)
        .client(
            ClientConfig::new()
                .name_server(&cluster.namesrv())
                .instance_name(name),
        )
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset);
    if pace.is_some() {
        builder = builder.consume_concurrency(1);
    }
    builder
        .handler(move |messages, context| {
            let handled = Arc::clone(&handled);
            async move {
                if let Some(pace) = pace {
                    tokio::time::sleep(pace).await;
                }
                let mut handled = handled.lock().unwrap();
                for m in messages {
                    handled.push((
                        Instant::now(),
                        m.msg_id().to_string(),
                        context.queue.broker_name.clone(),
                    ));
                }
                rmq::ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap()
}

/// Waits (up to `limit`) until every id in `wanted` was handled; the ids still missing.
async fn wait_handled(handled: &Handled, wanted: &[String], limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let seen: HashSet<String> = handled
            .lock()
            .unwrap()
            .iter()
            .map(|(_, id, _)| id.clone())
            .collect();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|id| !seen.contains(*id))
            .cloned()
            .collect();
        if missing.is_empty() || Instant::now() >= deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_and_restarted_broker_is_used_again_by_producers_and_consumers() {
    let _serial = SERIAL.lock().await;
    let (cluster, topic) = cluster_with_topic("FaultRestart").await;
    let producer = Producer::builder(unique("fault_restart_producer"))
        .name_server(&cluster.namesrv())
        .start()
        .await
        .unwrap();
    let handled: Handled = Arc::default();
    let group = unique("fault_restart_group");
    let consumer =
        recording_consumer(&cluster, &group, &topic, "fault-restart-c", &handled, None).await;

    let (killer, restarter) = (Arc::clone(&cluster), Arc::clone(&cluster));
    let restarted_at = Arc::new(Mutex::new(None::<Instant>));
    let mark = Arc::clone(&restarted_at);
    let run_started = Instant::now();
    let log = paced_sends(
        &producer,
        &topic,
        100,
        Duration::from_secs(40),
        vec![
            (
                Duration::from_secs(5),
                Box::new(move || killer.kill(Server::BrokerB)) as Box<dyn FnOnce() + Send>,
            ),
            (
                Duration::from_secs(10),
                Box::new(move || {
                    restarter.start_broker(Server::BrokerB);
                    *mark.lock().unwrap() = Some(Instant::now());
                }),
            ),
        ],
    )
    .await;
    let restarted = restarted_at.lock().unwrap().expect("broker-b restarted");
    let since_start = restarted - run_started;
    let mut sends_back = log
        .acked
        .iter()
        .filter(|(at, r)| *at > since_start && r.queue.broker_name == "broker-b")
        .map(|(at, _)| *at - since_start)
        .min();
    // A slow restart may end late in the run; the producer finds broker-b at its next route
    // refresh (every 30 s): keep sending until a send lands there.
    let mut late = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while sends_back.is_none() && Instant::now() < deadline {
        let sent = producer.send(Message::new(&topic, "after the run")).await;
        if let Ok(r) = &sent {
            if r.queue.broker_name == "broker-b" {
                sends_back = Some(restarted.elapsed());
            }
            late.push(r.msg_id.clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The pool holds no dead connection: a send to one of broker-b's queues succeeds at once.
    let queue = producer
        .queues(&topic)
        .await
        .unwrap()
        .into_iter()
        .find(|q| q.broker_name == "broker-b")
        .expect("broker-b back in the route");
    let direct = producer
        .send_to_queue(Message::new(&topic, "straight to broker-b"), &queue)
        .await;
    let open: Vec<String> = producer.instance().api().pool().addresses();
    producer.shutdown().await;

    let mut wanted: Vec<String> = log.acked.iter().map(|(_, r)| r.msg_id.clone()).collect();
    wanted.extend(late);
    if let Ok(r) = &direct {
        wanted.push(r.msg_id.clone());
    }
    let missing = wait_handled(&handled, &wanted, Duration::from_secs(90)).await;
    let consumed_back = handled
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _, broker)| *at > restarted && broker == "broker-b")
        .map(|(at, _, _)| *at - restarted)
        .min();
    consumer.shutdown().await;
    let handled = handled.lock().unwrap();
    let distinct: HashSet<&str> = handled.iter().map(|(_, id, _)| id.as_str()).collect();
    report(&format!(
        "broker-b killed and restarted under 100 msg/s: failed sends {}, sends on broker-b again {:?} \
         after it was registered, consumed from broker-b again {:?} after that, duplicates {}, \
         connections open at the end {:?}",
        log.failed.len(),
        sends_back,
        consumed_back,
        handled.len() - distinct.len(),
        open
    ));
    assert!(
        direct.is_ok(),
        "send to broker-b after its restart: {direct:?}"
    );
    assert!(
        open.contains(&Server::BrokerB.addr()),
        "a live connection to broker-b: {open:?}"
    );
    assert!(sends_back.is_some(), "sends went to broker-b again");
    assert!(missing.is_empty(), "never consumed: {missing:?}");
    assert!(log.failed.is_empty(), "failed sends: {:?}", log.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_name_server_down_routes_and_sends_go_on_through_the_other() {
    let _serial = SERIAL.lock().await;
    let (cluster, topic) = cluster_with_topic("FaultNameServer").await;
    let producer = Producer::builder(unique("fault_ns_producer"))
        .name_server(&cluster.namesrv())
        .start()
        .await
        .unwrap();
    // Warm up on the first name server (the client's choice); then it goes away.
    producer.send(Message::new(&topic, "before")).await.unwrap();
    let killer = Arc::clone(&cluster);
    blocking(move || killer.kill(Server::NameServer1)).await;

    // A topic the client never looked up: its route can only come from the second.
    let new_topic = unique("FaultNameServerNew");
    let admin = Admin::new(&ClientConfig::new().name_server(&Server::NameServer2.addr())).unwrap();
    admin
        .create_topic_on(&new_topic, 2, TopicTarget::Cluster("DefaultCluster".into()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin
        .topic_route(&new_topic)
        .await
        .map(|r| r.queue_datas.len())
        .unwrap_or(0)
        < 2
    {
        assert!(Instant::now() < deadline, "{new_topic} never routed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first_new = producer.send(Message::new(&new_topic, "new")).await;
    // A route change the periodic refresh must fetch through the second name server: the
    // topic grows from 4 to 8 queues on broker-a.
    admin
        .create_topic_on(&topic, 8, TopicTarget::Broker(Server::BrokerA.addr()))
        .await
        .unwrap();
    admin.close().await;
    let log = paced_sends(&producer, &topic, 100, Duration::from_secs(40), vec![]).await;
    let on_new_queue = log
        .acked
        .iter()
        .find(|(_, r)| r.queue.broker_name == "broker-a" && r.queue.queue_id >= 4)
        .map(|(at, _)| *at);
    let connections = Admin::new(&ClientConfig::new().name_server(&Server::NameServer2.addr()))
        .unwrap()
        .producer_connections(&Server::BrokerB.addr(), producer.group())
        .await
        .map(|c| c.connection_set.len());
    producer.shutdown().await;
    report(&format!(
        "name server 1 killed: first send to a new topic {}, sends {} failed {}, \
         the grown route used {:?} after the change, broker still lists the producer: {}",
        if first_new.is_ok() { "ok" } else { "FAILED" },
        log.acked.len(),
        log.failed.len(),
        on_new_queue,
        connections.as_ref().map(|n| *n > 0).unwrap_or(false),
    ));
    assert!(first_new.is_ok(), "route of a new topic: {first_new:?}");
    assert!(log.failed.is_empty(), "failed sends: {:?}", log.failed);
    assert!(
        on_new_queue.is_some(),
        "the periodic route refresh went through the second name server"
    );
    assert!(
        connections.is_ok_and(|n| n > 0),
        "heartbeats still reach the brokers"
    );
}

/// A fake broker that answers every connection with bytes that are no remoting frame (a
/// frame length of 2 GiB, then noise), for what no real broker does.
async fn garbage_server() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = socket
                    .write_all(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5])
                    .await;
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
        }
    });
    (addr, task)
}

/// A fake name server's route for `topic`: 4 queues on each (name, address).
fn route_json(brokers: &[(&str, &str)]) -> String {
    let datas: Vec<String> = brokers
        .iter()
        .map(|(name, addr)| {
            format!(r#"{{"brokerAddrs":{{0:"{addr}"}},"brokerName":"{name}","cluster":"DefaultCluster"}}"#)
        })
        .collect();
    let queues: Vec<String> = brokers
        .iter()
        .map(|(name, _)| {
            format!(r#"{{"brokerName":"{name}","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}}"#)
        })
        .collect();
    format!(
        r#"{{"brokerDatas":[{}],"filterServerTable":{{}},"queueDatas":[{}]}}"#,
        datas.join(","),
        queues.join(",")
    )
}

/// Sends from 32 tasks for `run`; (acknowledged, failed).
async fn full_rate(producer: &Producer, topic: &str, run: Duration) -> (usize, usize) {
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let producer = producer.clone();
        let topic = topic.to_string();
        senders.spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            while started.elapsed() < run {
                match producer.send(Message::new(&topic, vec![b'x'; 1024])).await {
                    Ok(_) => ok += 1,
                    Err(_) => failed += 1,
                }
            }
            (ok, failed)
        });
    }
    let (mut ok, mut failed) = (0, 0);
    while let Some(r) = senders.join_next().await {
        let (o, f) = r.unwrap();
        ok += o;
        failed += f;
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_and_a_malformed_broker_do_not_stop_the_real_one_serving_sends_and_pulls() {
    let _serial = SERIAL.lock().await;
    let cluster = start_cluster().await;
    let topic = unique("FaultHostile");
    create_topic(&cluster, &topic, 4).await;
    let stalled = fake_cluster::SilentServer::start(true).await;
    let (garbage, garbage_task) = garbage_server().await;
    let real = Server::BrokerA.addr();
    let healthy =
        fake_cluster::FakeNameServer::with_route(route_json(&[("broker-a", &real)])).await;
    let hostile = fake_cluster::FakeNameServer::with_route(route_json(&[
        ("broker-a", &real),
        ("broker-stalled", &stalled.addr),
        ("broker-garbage", &garbage),
    ]))
    .await;
    let run = Duration::from_secs(8);
    let producer = |ns: String| async move {
        Producer::builder(unique("fault_hostile_producer"))
            .name_server(&ns)
            .start()
            .await
            .unwrap()
    };
    let alone = producer(healthy.addr.clone()).await;
    let (alone_ok, alone_failed) = full_rate(&alone, &topic, run).await;
    alone.shutdown().await;
    let beside = producer(hostile.addr.clone()).await;
    let (beside_ok, beside_failed) = full_rate(&beside, &topic, run).await;
    let isolated = beside.isolated_brokers();
    beside.shutdown().await;

    // Pulls: every queue of the three brokers assigned; the real broker's are read whole.
    let on_real: Vec<MessageQueue> = (0..4)
        .map(|q| MessageQueue::new(&topic, "broker-a", q))
        .collect();
    let admin = Admin::new(&ClientConfig::new().name_server(&cluster.namesrv())).unwrap();
    let mut stored = 0;
    for q in &on_real {
        stored += admin.max_offset(q).await.unwrap();
    }
    admin.close().await;
    let reader = LitePullConsumer::builder(unique("fault_hostile_reader"))
        .name_server(&hostile.addr)
        .consume_from(ConsumeFrom::FirstOffset)
        .auto_commit(false)
        .pull_batch_size(256)
        .start()
        .await
        .unwrap();
    let mut all = on_real.clone();
    for broker in ["broker-stalled", "broker-garbage"] {
        all.extend((0..4).map(|q| MessageQueue::new(&topic, broker, q)));
    }
    reader.assign(all).await.unwrap();
    let pull_started = Instant::now();
    let mut read = 0i64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while read < stored && Instant::now() < deadline {
        read += reader.poll(Duration::from_millis(500)).await.unwrap().len() as i64;
    }
    let pull_time = pull_started.elapsed();
    reader.shutdown().await;
    garbage_task.abort();
    report(&format!(
        "hostile brokers beside a real one (32 senders, 1 KiB, 8 s each): real broker alone {} msg/s \
         ({alone_failed} failed); beside a stalled and a malformed broker {} msg/s ({beside_failed} \
         failed), isolated {isolated:?}; lite pull of all {stored} stored messages of the real broker \
         with the hostile queues assigned too: {read} read in {pull_time:?}",
        alone_ok as u64 / run.as_secs(),
        beside_ok as u64 / run.as_secs(),
    ));
    assert_eq!(beside_failed, 0, "sends failed beside the hostile brokers");
    assert!(beside_ok > 0);
    assert_eq!(read, stored, "the real broker's queues were read whole");
}
