//! The fault suite's membership case against its own real cluster (see
//! `broker_faults.rs`): consumers join and leave a group during a steady stream —
//! a third member joins, one is killed with SIGKILL (the CLI in its own process), one shuts
//! down cleanly — and no message is lost; duplicates are counted and reported.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmq::{
    Admin, ClientConfig, ConsumeFrom, ConsumeResult, Message, Producer, PushConsumer, TopicTarget,
};
use rmq_faults::{report, unique, FaultCluster};
use tokio::io::AsyncBufReadExt;

/// The `rmq` binary of this build (`target/<profile>/rmq`, built with the workspace).
fn rmq_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join("rmq");
    assert!(
        binary.exists(),
        "{} is missing: build the CLI first (cargo build -p rmq-cli)",
        binary.display()
    );
    binary
}

/// Message ids handled, by member.
type Handled = Arc<Mutex<HashMap<&'static str, Vec<String>>>>;

async fn member(
    cluster: &FaultCluster,
    group: &str,
    topic: &str,
    name: &'static str,
    handled: &Handled,
) -> PushConsumer {
    let handled = Arc::clone(handled);
    PushConsumer::builder(group)
        .client(
            ClientConfig::new()
                .name_server(&cluster.namesrv())
                .instance_name(name),
        )
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, _| {
            let handled = Arc::clone(&handled);
            async move {
                let mut handled = handled.lock().unwrap();
                let mine = handled.entry(name).or_default();
                mine.extend(messages.iter().map(|m| m.msg_id().to_string()));
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumers_joining_crashing_and_leaving_during_a_stream_lose_nothing() {
    let cluster = Arc::new(
        tokio::task::spawn_blocking(FaultCluster::start)
            .await
            .unwrap(),
    );
    let topic = unique("FaultMembers");
    let admin = Admin::new(&ClientConfig::new().name_server(&cluster.namesrv())).unwrap();
    admin
        .create_topic_on(&topic, 4, TopicTarget::Cluster("DefaultCluster".into()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin
        .topic_route(&topic)
        .await
        .map(|r| r.queue_datas.len())
        .unwrap_or(0)
        < 2
    {
        assert!(Instant::now() < deadline, "{topic} never routed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    admin.close().await;
    let group = unique("fault_members");
    let handled: Handled = Arc::default();

    // Member "crashing": the CLI in its own process, its handled messages read from stdout.
    let mut crashing = tokio::process::Command::new(rmq_binary())
        .args([
            "consume",
            "-n",
            &cluster.namesrv(),
            "--group",
            &group,
            "--topic",
            &topic,
        ])
        .args([
            "--from",
            "first",
            "--json",
            "--instance-name",
            "fault-crashing",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the rmq binary runs");
    let stdout = crashing.stdout.take().unwrap();
    let from_cli = Arc::clone(&handled);
    let reader = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(id) = v["msg_id"].as_str() {
                    from_cli
                        .lock()
                        .unwrap()
                        .entry("crashing")
                        .or_default()
                        .push(id.to_string());
                }
            }
        }
    });
    let leaving = member(&cluster, &group, &topic, "fault-leaving", &handled).await;
    let staying = member(&cluster, &group, &topic, "fault-staying", &handled).await;

    let producer = Producer::builder(unique("fault_members_producer"))
        .name_server(&cluster.namesrv())
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let mut sent = Vec::new();
    let mut joining = None;
    let mut left = false;
    let mut crashed = false;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while started.elapsed() < Duration::from_secs(36) {
        tick.tick().await;
        let at = started.elapsed();
        if joining.is_none() && at >= Duration::from_secs(8) {
            joining = Some(member(&cluster, &group, &topic, "fault-joining", &handled).await);
        }
        if !crashed && at >= Duration::from_secs(16) {
            crashing.kill().await.unwrap();
            crashed = true;
        }
        if !left && at >= Duration::from_secs(24) {
            leaving.shutdown().await;
            left = true;
        }
        let i = sent.len();
        sent.push(
            producer
                .send(Message::new(&topic, format!("stream {i}")))
                .await
                .expect("send")
                .msg_id,
        );
    }
    producer.shutdown().await;
    let _ = reader.await;

    let deadline = Instant::now() + Duration::from_secs(120);
    let missing = loop {
        let seen: HashSet<String> = handled
            .lock()
            .unwrap()
            .values()
            .flatten()
            .cloned()
            .collect();
        let missing: Vec<&String> = sent.iter().filter(|id| !seen.contains(*id)).collect();
        if missing.is_empty() || Instant::now() >= deadline {
            break missing.len();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    staying.shutdown().await;
    if let Some(joining) = joining {
        joining.shutdown().await;
    }
    let handled = handled.lock().unwrap();
    let total: usize = handled.values().map(Vec::len).sum();
    let distinct: HashSet<&String> = handled.values().flatten().collect();
    let per_member: Vec<String> = handled
        .iter()
        .map(|(m, ids)| format!("{m} {}", ids.len()))
        .collect();
    // Duplicates by cause: ids the killed member handled (its last offsets never reached the
    // broker) against ids handled twice by members that left or joined cleanly.
    let by_crashed: HashSet<&String> = handled.get("crashing").into_iter().flatten().collect();
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for id in handled.values().flatten() {
        *counts.entry(id).or_default() += 1;
    }
    let after_crash: usize = counts
        .iter()
        .filter(|(id, n)| **n > 1 && by_crashed.contains(*id))
        .map(|(_, n)| n - 1)
        .sum();
    report(&format!(
        "consumers join and leave during a stream of {} messages (4 members over time: one joins at 8 s, \
         the CLI member is SIGKILLed at 16 s, one shuts down at 24 s): lost {missing}, duplicates {} \
         ({after_crash} of messages the killed member had handled; handled per member: {})",
        sent.len(),
        total - distinct.len(),
        per_member.join(", ")
    ));
    assert_eq!(missing, 0, "messages never handled");
}
