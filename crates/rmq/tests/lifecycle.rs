//! Client-instance lifecycle races, against a fake name server and broker.

mod common;

use common::fake_cluster::{FakeBroker, FakeNameServer};
use rmq::Producer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_joining_while_the_last_one_leaves_gets_a_live_instance() {
    let broker = FakeBroker::start().await;
    let ns = FakeNameServer::start("b", &broker.addr).await;
    for round in 0..20 {
        let name = format!("race_{round}");
        let leaving = Producer::builder("leaving")
            .name_server(&ns.addr)
            .instance_name(&name)
            .start()
            .await
            .unwrap();
        let builder = Producer::builder("joining")
            .name_server(&ns.addr)
            .instance_name(&name);
        // The leaver goes first: it decides it is the instance's last producer, then waits on
        // the network (UNREGISTER_CLIENT) while the joiner starts with the same client id.
        let ((), joined) = tokio::join!(leaving.shutdown(), builder.start());
        let joined = joined.expect("start succeeds while another producer leaves");
        let instance = joined.instance();
        assert!(
            !instance.is_stopped(),
            "round {round}: joined a stopped instance"
        );
        assert!(instance.producer_groups().contains(&"joining".to_string()));
        assert!(
            instance
                .heartbeat_all(tokio::time::Instant::now() + std::time::Duration::from_secs(3))
                .await
                >= 1,
            "round {round}: instance cannot reach the broker"
        );
        joined.shutdown().await;
        assert!(instance.is_stopped());
    }
}
