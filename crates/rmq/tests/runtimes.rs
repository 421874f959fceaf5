//! One client id used from two tokio runtimes, against the real local servers: the shared
//! client instance's tasks run on the runtime that started it, and that runtime may shut
//! down while a member on another runtime still sends (as between two `#[tokio::test]`s, or
//! an application with a runtime per subsystem).

mod common;

use common::broker::{api, create_topic, namesrv, unique};
use rmq::{Message, Producer};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A producer of a group of its own under the shared instance name.
async fn start_producer(group_prefix: &str, instance_name: &str) -> Producer {
    Producer::builder(unique(group_prefix))
        .name_server(&namesrv())
        .instance_name(instance_name)
        .start()
        .await
        .unwrap()
}

#[test]
fn members_outlive_the_runtime_that_started_their_shared_instance() {
    let instance_name = unique("two_runtimes");
    let topic = unique("TwoRuntimes");
    let first_runtime = runtime();
    let second_runtime = runtime();

    // The first runtime starts the instance (its jobs and connections run there) …
    let first = first_runtime.block_on(async {
        create_topic(&api().await, &topic, 2).await;
        let producer = start_producer("first_runtime", &instance_name).await;
        producer.send(Message::new(&topic, "one")).await.unwrap();
        producer
    });
    // … and a member on the second runtime joins it.
    let second = second_runtime.block_on(async {
        let producer = start_producer("second_runtime", &instance_name).await;
        assert_eq!(
            producer.instance().client_id(),
            first.instance().client_id()
        );
        producer.send(Message::new(&topic, "two")).await.unwrap();
        producer
    });

    // The first runtime ends without anyone shutting down: its tasks are gone.
    drop(first_runtime);

    second_runtime.block_on(async {
        // The member of the shared instance still sends, over fresh connections.
        for i in 0..5 {
            second
                .send(Message::new(&topic, format!("after {i}")))
                .await
                .unwrap_or_else(|e| panic!("send {i} after the first runtime ended: {e}"));
        }
        // A member that starts now gets a live instance of that client id.
        let third = start_producer("third_runtime", &instance_name).await;
        assert!(!std::sync::Arc::ptr_eq(third.instance(), first.instance()));
        third.send(Message::new(&topic, "three")).await.unwrap();
        assert!(
            third
                .instance()
                .heartbeat_all(tokio::time::Instant::now() + std::time::Duration::from_secs(5))
                .await
                >= 1,
            "the new instance reaches the brokers"
        );
        third.shutdown().await;
        second.shutdown().await;
    });
    drop(first);
}
