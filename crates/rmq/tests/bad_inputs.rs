//! The bad-input table of the library: the promise "bad input gets a clear, typed error before
//! anything touches the network, never a panic", row by row.
//!
//! Each row is (name, input, expected): an invalid name, body, property, subscription,
//! setting or address handed to a producer, a consumer or the admin client, and the exact
//! typed error it must get. One loop runs every row and checks three things: the error is the
//! expected one, the call did not panic (each row runs on its own task), and nothing reached
//! the network. For the last, every client points at a counting fake name server on
//! 127.0.0.1: rows that start a client use one that must never see a connection at all; rows
//! that use a started client (sends, subscribe, assign) compare its fake's accepted
//! connections and received requests before and after the call, and a valid call made first
//! shows that the fake does see what a client sends.
//!
//! Rows: 173 here ([`LIBRARY_ROWS`]) and 83 in `crates/rmq-cli/tests/bad_inputs.rs`
//! (`CLI_ROWS`), 256 in all; the test checks these numbers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rmq::protocol::{RemotingCodec, RemotingCommand, RequestCode, ResponseCode};
use rmq::{
    Admin, ClientConfig, CompressionType, ConsumeOrder, ConsumeResult, Credentials, Error,
    LitePullConsumer, LitePullConsumerBuilder, Message, MessageModel, MessageQueue, PopOptions,
    Producer, ProducerBuilder, PushConsumer, PushConsumerBuilder, SelectRandom, Selector,
    TlsConfig, TopicTarget, TraceConfig, ValidationError,
};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

/// Rows of this file's table (the loop checks the count).
const LIBRARY_ROWS: usize = 173;

/// The other table's documented count, read from its source so the two files never disagree.
fn cli_rows() -> usize {
    let source = include_str!("../../rmq-cli/tests/bad_inputs.rs");
    let line = source
        .lines()
        .find(|l| l.starts_with("const CLI_ROWS: usize = "))
        .expect("the CLI table documents its count");
    line.trim_start_matches("const CLI_ROWS: usize = ")
        .trim_end_matches(';')
        .parse()
        .expect("a number")
}

/// Longest a row may take: a validation error is immediate, so this only catches hangs.
const ROW_LIMIT: Duration = Duration::from_secs(10);
/// Time given to whatever a call might have set off in the background to reach the fake.
const SETTLE: Duration = Duration::from_millis(50);

/// What a fake name server has seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Traffic {
    connections: usize,
    requests: usize,
}

/// A fake name server on 127.0.0.1 that counts accepted connections and received request
/// frames (a frame it cannot decode counts as one request too). It answers every route
/// request with an empty route (no broker, no queue), so a client started against it has
/// nobody else to talk to and falls quiet once started.
struct CountingNameServer {
    addr: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingNameServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingNameServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (accepted, received) = (Arc::clone(&connections), Arc::clone(&requests));
        let task = tokio::spawn(async move {
            let mut peers = tokio::task::JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let received = Arc::clone(&received);
                peers.spawn(async move {
                    let mut framed = Framed::new(socket, RemotingCodec::default());
                    while let Some(frame) = framed.next().await {
                        received.fetch_add(1, Ordering::SeqCst);
                        let Ok(request) = frame else { return };
                        let response =
                            if request.request_code() == RequestCode::GET_ROUTEINFO_BY_TOPIC {
                                RemotingCommand::response_to(&request, ResponseCode::SUCCESS, None)
                                    .with_body(
                                    br#"{"brokerDatas":[],"filterServerTable":{},"queueDatas":[]}"#
                                        .to_vec(),
                                )
                            } else {
                                RemotingCommand::response_to(
                                    &request,
                                    ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                                    None,
                                )
                            };
                        if framed.send(response).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            connections,
            requests,
            task,
        }
    }

    fn traffic(&self) -> Traffic {
        Traffic {
            connections: self.connections.load(Ordering::SeqCst),
            requests: self.requests.load(Ordering::SeqCst),
        }
    }

    /// Waits until nothing new arrived for a while: started clients send their start-up
    /// requests, then nothing until their (day-long) periodic jobs.
    async fn wait_until_quiet(&self) {
        let mut last = self.traffic();
        let mut quiet_since = tokio::time::Instant::now();
        while quiet_since.elapsed() < Duration::from_millis(300) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.traffic();
            if now != last {
                last = now;
                quiet_since = tokio::time::Instant::now();
            }
        }
    }
}

/// Clients started against the live fake, and an admin client of the rejecting one.
struct Clients {
    producer: Producer,
    namespaced_producer: Producer,
    stopped_producer: Producer,
    subscribed: LitePullConsumer,
    assigned: LitePullConsumer,
    admin: Admin,
}

/// Settings of the started clients: periodic jobs once a day, so the fake stays quiet.
fn live_config(name_server: &str) -> ClientConfig {
    ClientConfig::new()
        .name_server(name_server)
        .instance_name("bad_inputs_live")
        .poll_name_server_interval(Duration::from_secs(86_400))
        .heartbeat_interval(Duration::from_secs(86_400))
        .api_timeout(Duration::from_secs(2))
}

/// The largest body of the started producers: small, so "too large" rows stay small.
const MAX_BODY: usize = 1024;
/// The namespace of the namespaced clients.
const NAMESPACE: &str = "bad_inputs_ns";
/// The queue the assigned consumer reads (paused, so it never pulls).
fn assigned_queue() -> MessageQueue {
    MessageQueue::new("BadInputsAssigned", "broker-a", 0)
}

impl Clients {
    async fn start(live: &str, rejecting: &str) -> Self {
        let producer = Producer::builder("bad_inputs_producer")
            .client(live_config(live))
            .max_message_size(MAX_BODY)
            .start()
            .await
            .unwrap();
        let namespaced_producer = Producer::builder("bad_inputs_ns_producer")
            .client(live_config(live).namespace(NAMESPACE))
            .start()
            .await
            .unwrap();
        let stopped_producer = Producer::builder("bad_inputs_stopped")
            .client(live_config(live))
            .start()
            .await
            .unwrap();
        stopped_producer.shutdown().await;
        let subscribed = LitePullConsumer::builder("bad_inputs_subscribed")
            .client(live_config(live))
            .auto_commit(false)
            .start()
            .await
            .unwrap();
        subscribed.subscribe("BadInputsTopic", "*").await.unwrap();
        let assigned = LitePullConsumer::builder("bad_inputs_assigned")
            .client(live_config(live))
            .auto_commit(false)
            .start()
            .await
            .unwrap();
        assigned.pause(&[assigned_queue()]);
        assigned.assign([assigned_queue()]).await.unwrap();
        let admin = Admin::new(&ClientConfig::new().name_server(rejecting)).unwrap();
        Self {
            producer,
            namespaced_producer,
            stopped_producer,
            subscribed,
            assigned,
            admin,
        }
    }

    async fn shutdown(&self) {
        self.producer.shutdown().await;
        self.namespaced_producer.shutdown().await;
        self.subscribed.shutdown().await;
        self.assigned.shutdown().await;
        self.admin.close().await;
    }
}

/// One call with bad input.
enum Input {
    /// `ProducerBuilder::start` (against the rejecting fake unless the row says otherwise).
    StartProducer(ProducerBuilder),
    StartPushConsumer(PushConsumerBuilder),
    StartLitePull(LitePullConsumerBuilder),
    NewAdmin(ClientConfig),
    /// `Producer::send` on the started producer (bodies up to [`MAX_BODY`]).
    Send(Message),
    SendOneway(Message),
    SendBatch(Vec<Message>),
    SendToQueue(Message, MessageQueue),
    SendWithSelector(Message),
    Request(Message, Duration),
    RequestToQueue(Message, MessageQueue),
    /// `send_in_transaction` on a producer built without a transaction listener.
    SendInTransaction(Message),
    SendReply(Message),
    /// `ProducerBuilder::validate`, the check a tool can make before starting anything.
    ValidateProducer(ProducerBuilder),
    /// `Message::validate`, the check a tool can make before starting anything.
    ValidateMessage(Message),
    /// `Producer::send` on the started producer with the namespace [`NAMESPACE`].
    SendWithNamespace(Message),
    /// `Producer::send` on a producer that was shut down.
    SendAfterShutdown(Message),
    ProducerQueues(&'static str),
    /// `LitePullConsumer::subscribe` on a consumer that subscribed before.
    Subscribe(&'static str, Selector),
    /// `LitePullConsumer::assign` on a consumer that subscribed before.
    Assign(Vec<MessageQueue>),
    /// `LitePullConsumer::subscribe` on a consumer that was assigned queues before.
    SubscribeAfterAssign(&'static str, Selector),
    /// `LitePullConsumer::seek` on the consumer that was assigned [`assigned_queue`].
    Seek(MessageQueue, i64),
    LiteQueues(&'static str),
    Committed(MessageQueue),
    AdminTopicRoute(&'static str),
    AdminConsumeProgress(&'static str, Option<&'static str>),
    AdminQueryMessage(&'static str, &'static str, i32),
    AdminViewMessage(&'static str),
    AdminCreateTopic(&'static str, &'static str, i32),
    AdminMaxOffset(MessageQueue),
    /// `Admin::create_topic_on` every cluster (8 queues).
    AdminCreateTopicEverywhere(&'static str),
    AdminProducerConnections(&'static str, &'static str),
}

impl Input {
    /// Makes the call; a client that starts although it should not is shut down again.
    async fn run(self, clients: &Clients) -> Result<(), Error> {
        match self {
            Input::StartProducer(builder) => builder.start().await?.shutdown().await,
            Input::StartPushConsumer(builder) => builder.start().await?.shutdown().await,
            Input::StartLitePull(builder) => builder.start().await?.shutdown().await,
            Input::NewAdmin(config) => Admin::new(&config)?.close().await,
            Input::Send(m) => drop(clients.producer.send(m).await?),
            Input::SendOneway(m) => clients.producer.send_oneway(m).await?,
            Input::SendBatch(ms) => drop(clients.producer.send_batch(ms).await?),
            Input::SendToQueue(m, q) => drop(clients.producer.send_to_queue(m, &q).await?),
            Input::SendWithSelector(m) => drop(
                clients
                    .producer
                    .send_with_selector(m, &SelectRandom, &())
                    .await?,
            ),
            Input::Request(m, timeout) => drop(clients.producer.request(m, timeout).await?),
            Input::RequestToQueue(m, q) => drop(
                clients
                    .producer
                    .request_to_queue(m, &q, Duration::from_secs(1))
                    .await?,
            ),
            Input::SendInTransaction(m) => drop(clients.producer.send_in_transaction(m).await?),
            Input::SendReply(m) => drop(clients.producer.send_reply(m).await?),
            Input::ValidateMessage(m) => m.validate()?,
            Input::ValidateProducer(builder) => builder.validate()?,
            Input::SendWithNamespace(m) => drop(clients.namespaced_producer.send(m).await?),
            Input::SendAfterShutdown(m) => drop(clients.stopped_producer.send(m).await?),
            Input::ProducerQueues(topic) => drop(clients.producer.queues(topic).await?),
            Input::Subscribe(topic, selector) => {
                clients.subscribed.subscribe(topic, selector).await?
            }
            Input::Assign(queues) => clients.subscribed.assign(queues).await?,
            Input::SubscribeAfterAssign(topic, selector) => {
                clients.assigned.subscribe(topic, selector).await?
            }
            Input::Seek(queue, offset) => clients.assigned.seek(&queue, offset).await?,
            Input::LiteQueues(topic) => drop(clients.subscribed.queues(topic).await?),
            Input::Committed(queue) => drop(clients.subscribed.committed(&queue).await?),
            Input::AdminTopicRoute(topic) => drop(clients.admin.topic_route(topic).await?),
            Input::AdminConsumeProgress(group, topic) => {
                drop(clients.admin.consume_progress(group, topic).await?)
            }
            Input::AdminQueryMessage(topic, key, max) => drop(
                clients
                    .admin
                    .query_message(topic, key, max, 0, i64::MAX)
                    .await?,
            ),
            Input::AdminViewMessage(id) => drop(clients.admin.view_message(id).await?),
            Input::AdminCreateTopic(broker, topic, queues) => {
                clients.admin.create_topic(broker, topic, queues).await?
            }
            Input::AdminMaxOffset(queue) => drop(clients.admin.max_offset(&queue).await?),
            Input::AdminCreateTopicEverywhere(topic) => drop(
                clients
                    .admin
                    .create_topic_on(topic, 8, TopicTarget::AllClusters)
                    .await?,
            ),
            Input::AdminProducerConnections(broker, group) => {
                drop(clients.admin.producer_connections(broker, group).await?)
            }
        }
        Ok(())
    }
}

/// The error a row must get.
enum Expected {
    /// Exactly this validation error.
    Validation(ValidationError),
    /// Another typed error, or a validation error with a part that cannot be spelled out in
    /// advance (an OS message, a generated id): what it is, and the check.
    Typed(&'static str, fn(&Error) -> bool),
}

impl Expected {
    fn holds(&self, error: &Error) -> bool {
        match self {
            Expected::Validation(expected) => {
                matches!(error, Error::Validation(got) if got == expected)
            }
            Expected::Typed(_, check) => check(error),
        }
    }

    fn describe(&self) -> String {
        match self {
            Expected::Validation(expected) => format!("Validation({expected:?})"),
            Expected::Typed(what, _) => (*what).to_string(),
        }
    }
}

impl From<ValidationError> for Expected {
    fn from(error: ValidationError) -> Self {
        Expected::Validation(error)
    }
}

struct Row {
    name: &'static str,
    input: Input,
    expected: Expected,
}

fn row(name: &'static str, input: Input, expected: impl Into<Expected>) -> Row {
    Row {
        name,
        input,
        expected: expected.into(),
    }
}

fn out_of_range(field: &'static str, expected: &'static str, got: &str) -> ValidationError {
    ValidationError::OutOfRange {
        field,
        expected,
        got: got.to_string(),
    }
}

fn invalid_address(field: &'static str, value: &str) -> ValidationError {
    ValidationError::InvalidAddress {
        field,
        value: value.to_string(),
    }
}

fn illegal_text(what: &'static str, value: &str) -> ValidationError {
    ValidationError::IllegalPropertyText {
        what,
        value: value.to_string(),
    }
}

fn illegal_name(field: &'static str, value: &str, reason: &'static str) -> ValidationError {
    ValidationError::IllegalName {
        field,
        value: value.to_string(),
        reason,
    }
}

fn topic_char(topic: &str, ch: char) -> ValidationError {
    ValidationError::TopicIllegalChar {
        topic: topic.to_string(),
        ch,
    }
}

fn group_char(group: &str, ch: char) -> ValidationError {
    ValidationError::GroupIllegalChar {
        group: group.to_string(),
        ch,
    }
}

/// Files for the TLS rows: a text that is no PEM, a directory, a real certificate whose "key"
/// is no key.
struct TlsFiles {
    dir: std::path::PathBuf,
}

impl TlsFiles {
    fn create() -> Self {
        let dir = std::env::temp_dir().join(format!("rmq-bad-inputs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a_directory.pem")).unwrap();
        std::fs::write(dir.join("not_pem.pem"), "not a certificate\n").unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(dir.join("client.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.join("not_a_key.pem"), cert.cert.pem()).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(name)
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tls_error_naming(error: &Error, file: &str) -> bool {
    matches!(error, Error::Validation(ValidationError::Tls { reason }) if reason.contains(file))
}

/// Every row. `live` is the fake of the started clients, `rejecting` the one that must never
/// see a connection.
fn rows(clients: &Clients, live: &str, rejecting: &str, tls: &TlsFiles) -> Vec<Row> {
    use Input::*;
    let config = || ClientConfig::new().name_server(rejecting);
    let producer = || Producer::builder("bad_inputs_group").client(config());
    let handler = |_, _| async { ConsumeResult::Success };
    let consumer = || {
        PushConsumer::builder("bad_inputs_group")
            .client(config())
            .subscribe("BadInputsTopic", "*")
            .handler(handler)
    };
    let lite = || LitePullConsumer::builder("bad_inputs_group").client(config());
    let msg = |topic: &str| Message::new(topic, "body");
    let ok = || msg("BadInputsTopic");
    let day_and_a_second = Duration::from_secs(86_401);
    let tls_path = |name: &str| tls.path(name);
    let live_client_id = clients.producer.client_id().to_string();
    vec![
        // ---- names: topics
        row("topic empty", Send(msg("")), ValidationError::TopicBlank),
        row(
            "topic only spaces",
            Send(msg("   ")),
            ValidationError::TopicBlank,
        ),
        row(
            "topic of 128 characters",
            Send(msg(&"t".repeat(128))),
            ValidationError::TopicTooLong { len: 128 },
        ),
        row(
            "topic with a space",
            Send(msg("a b")),
            topic_char("a b", ' '),
        ),
        row(
            "topic with a dot",
            Send(msg("orders.v1")),
            topic_char("orders.v1", '.'),
        ),
        row(
            "topic with a non-ASCII letter",
            Send(msg("thème")),
            topic_char("thème", 'è'),
        ),
        row(
            "topic with a control character",
            Send(msg("a\u{1}b")),
            topic_char("a\u{1}b", '\u{1}'),
        ),
        row(
            "system topic SCHEDULE_TOPIC_XXXX",
            Send(msg("SCHEDULE_TOPIC_XXXX")),
            ValidationError::TopicNotAllowed("SCHEDULE_TOPIC_XXXX".into()),
        ),
        row(
            "system topic RMQ_SYS_TRANS_HALF_TOPIC",
            Send(msg("RMQ_SYS_TRANS_HALF_TOPIC")),
            ValidationError::TopicNotAllowed("RMQ_SYS_TRANS_HALF_TOPIC".into()),
        ),
        row(
            "one-way send, topic empty",
            SendOneway(msg("")),
            ValidationError::TopicBlank,
        ),
        row(
            "producer queues of a bad topic",
            ProducerQueues("a/b"),
            topic_char("a/b", '/'),
        ),
        row(
            "push consumer topic empty",
            StartPushConsumer(consumer().subscribe("", "*")),
            ValidationError::TopicBlank,
        ),
        row(
            "push consumer topic too long",
            StartPushConsumer(consumer().subscribe("t".repeat(200), "*")),
            ValidationError::TopicTooLong { len: 200 },
        ),
        row(
            "lite pull subscribe, topic empty",
            Subscribe("", Selector::tag("*")),
            ValidationError::TopicBlank,
        ),
        row(
            "lite pull queues of a bad topic",
            LiteQueues("a b"),
            topic_char("a b", ' '),
        ),
        row(
            "lite pull committed offset of a bad topic",
            Committed(MessageQueue::new("a:b", "broker-a", 0)),
            topic_char("a:b", ':'),
        ),
        row(
            "lite pull assign, topic empty",
            Assign(vec![MessageQueue::new("", "broker-a", 0)]),
            ValidationError::TopicBlank,
        ),
        row(
            "admin route of an empty topic",
            AdminTopicRoute(""),
            ValidationError::TopicBlank,
        ),
        row(
            "admin max offset of an empty topic",
            AdminMaxOffset(MessageQueue::new("", "broker-a", 0)),
            ValidationError::TopicBlank,
        ),
        row(
            "admin create topic SCHEDULE_TOPIC_XXXX",
            AdminCreateTopic("127.0.0.1:1", "SCHEDULE_TOPIC_XXXX", 8),
            ValidationError::TopicNotAllowed("SCHEDULE_TOPIC_XXXX".into()),
        ),
        row(
            "admin create topic with a space, on every cluster",
            AdminCreateTopicEverywhere("a b"),
            topic_char("a b", ' '),
        ),
        // ---- names: groups
        row(
            "producer group empty",
            StartProducer(Producer::builder("").client(config())),
            ValidationError::GroupBlank,
        ),
        row(
            "producer group only spaces",
            StartProducer(Producer::builder(" \t").client(config())),
            ValidationError::GroupBlank,
        ),
        row(
            "producer group of 256 characters",
            StartProducer(Producer::builder("g".repeat(256)).client(config())),
            ValidationError::GroupTooLong { len: 256 },
        ),
        row(
            "ProducerBuilder::validate, group empty",
            ValidateProducer(Producer::builder("").client(config())),
            ValidationError::GroupBlank,
        ),
        row(
            "ProducerBuilder::validate, retries 1000",
            ValidateProducer(producer().retries(1000)),
            out_of_range("retries", "at most 100", "1000"),
        ),
        row(
            "producer group with a slash",
            StartProducer(Producer::builder("a/b").client(config())),
            group_char("a/b", '/'),
        ),
        row(
            "producer group reserved",
            StartProducer(Producer::builder("CLIENT_INNER_PRODUCER").client(config())),
            ValidationError::GroupReserved("CLIENT_INNER_PRODUCER".into()),
        ),
        row(
            "producer group with the system prefix",
            StartProducer(Producer::builder("CID_RMQ_SYS_X").client(config())),
            ValidationError::GroupReserved("CID_RMQ_SYS_X".into()),
        ),
        row(
            "push consumer group empty",
            StartPushConsumer(
                PushConsumer::builder("")
                    .client(config())
                    .subscribe("T", "*")
                    .handler(handler),
            ),
            ValidationError::GroupBlank,
        ),
        row(
            "push consumer group DEFAULT_CONSUMER",
            StartPushConsumer(
                PushConsumer::builder("DEFAULT_CONSUMER")
                    .client(config())
                    .subscribe("T", "*")
                    .handler(handler),
            ),
            ValidationError::GroupReserved("DEFAULT_CONSUMER".into()),
        ),
        row(
            "lite pull group with a space",
            StartLitePull(LitePullConsumer::builder("a b").client(config())),
            group_char("a b", ' '),
        ),
        row(
            "admin consume progress, group empty",
            AdminConsumeProgress("", None),
            ValidationError::GroupBlank,
        ),
        row(
            "admin consume progress, bad topic",
            AdminConsumeProgress("g", Some("a b")),
            topic_char("a b", ' '),
        ),
        row(
            "a second producer of a group already in the instance",
            StartProducer(Producer::builder("bad_inputs_producer").client(live_config(live))),
            Expected::Typed(
                "DuplicateGroup of bad_inputs_producer",
                |e| matches!(e, Error::DuplicateGroup { group, .. } if group == "bad_inputs_producer"),
            ),
        ),
        row(
            "an instance name in use with other settings",
            StartProducer(
                Producer::builder("bad_inputs_other")
                    .client(live_config(live).api_timeout(Duration::from_secs(1))),
            ),
            ValidationError::ClientIdInUse {
                client_id: live_client_id,
                differences: "api timeout".into(),
            },
        ),
        // ---- names: instance names, namespaces
        row(
            "instance name empty",
            StartProducer(producer().instance_name("")),
            illegal_name("instance name", "", "it is empty"),
        ),
        row(
            "instance name with '@'",
            StartProducer(producer().instance_name("a@b")),
            illegal_name(
                "instance name",
                "a@b",
                "it contains '@', the client-id separator",
            ),
        ),
        row(
            "instance name with a space",
            StartLitePull(lite().client(config().instance_name("my app"))),
            illegal_name(
                "instance name",
                "my app",
                "it contains white space or control characters",
            ),
        ),
        row(
            "unit name with a newline",
            StartProducer(producer().client(config().unit_name("u\n1"))),
            illegal_name(
                "unit name",
                "u\n1",
                "it contains white space or control characters",
            ),
        ),
        row(
            "client ip with '@'",
            StartProducer(producer().client(config().client_ip("10.0.0.1@x"))),
            illegal_name(
                "client ip",
                "10.0.0.1@x",
                "it contains '@', the client-id separator",
            ),
        ),
        row(
            "namespace with '%'",
            StartProducer(producer().namespace("ns%1")),
            ValidationError::NamespaceIllegalChar {
                namespace: "ns%1".into(),
                ch: '%',
            },
        ),
        row(
            "namespace with a dot",
            StartPushConsumer(consumer().client(config().namespace("prod.eu"))),
            ValidationError::NamespaceIllegalChar {
                namespace: "prod.eu".into(),
                ch: '.',
            },
        ),
        row(
            "topic within the limit, over it with the namespace",
            SendWithNamespace(msg(&"t".repeat(120))),
            ValidationError::TopicTooLong {
                len: NAMESPACE.len() + 1 + 120,
            },
        ),
        row(
            "consumer group within the limit, over it with the namespace",
            StartPushConsumer(
                PushConsumer::builder("g".repeat(250))
                    .client(config().namespace(NAMESPACE))
                    .subscribe("T", "*")
                    .handler(handler),
            ),
            ValidationError::GroupTooLong {
                len: NAMESPACE.len() + 1 + 250,
            },
        ),
        row(
            "subscribed topic within the limit, over it with the namespace",
            StartPushConsumer(
                consumer()
                    .client(config().namespace(NAMESPACE))
                    .subscribe("t".repeat(120), "*"),
            ),
            ValidationError::TopicTooLong {
                len: NAMESPACE.len() + 1 + 120,
            },
        ),
        row(
            "lite pull group within the limit, over it with the namespace",
            StartLitePull(
                LitePullConsumer::builder("g".repeat(250)).client(config().namespace(NAMESPACE)),
            ),
            ValidationError::GroupTooLong {
                len: NAMESPACE.len() + 1 + 250,
            },
        ),
        // ---- tags and keys
        row(
            "tag empty",
            Send(ok().with_tags("")),
            illegal_text("tag", ""),
        ),
        row(
            "tag only spaces",
            Send(ok().with_tags("  ")),
            illegal_text("tag", "  "),
        ),
        row(
            "tag with \\u0001",
            Send(ok().with_tags("a\u{1}b")),
            illegal_text("tag", "a\u{1}b"),
        ),
        row(
            "tag with \\u0002",
            Send(ok().with_tags("a\u{2}b")),
            illegal_text("tag", "a\u{2}b"),
        ),
        row(
            "key empty",
            Send(ok().with_key("")),
            illegal_text("key", ""),
        ),
        row(
            "key with \\u0001",
            Send(ok().with_key("k\u{1}")),
            illegal_text("key", "k\u{1}"),
        ),
        row(
            "second key with \\u0002",
            Send(ok().with_key("k1").with_key("k\u{2}2")),
            illegal_text("key", "k\u{2}2"),
        ),
        row(
            "admin query, key empty",
            AdminQueryMessage("BadInputsTopic", "", 32),
            illegal_text("message key", ""),
        ),
        row(
            "admin query, max 0",
            AdminQueryMessage("BadInputsTopic", "k", 0),
            out_of_range("max messages", "at least 1", "0"),
        ),
        row(
            "admin view, not an offset message id",
            AdminViewMessage("not-an-id"),
            ValidationError::InvalidMessageId("not-an-id".into()),
        ),
        row(
            "Message::validate, tag with \\u0002",
            ValidateMessage(ok().with_tags("a\u{2}b")),
            illegal_text("tag", "a\u{2}b"),
        ),
        row(
            "Message::validate, system topic",
            ValidateMessage(msg("OFFSET_MOVED_EVENT")),
            ValidationError::TopicNotAllowed("OFFSET_MOVED_EVENT".into()),
        ),
        // ---- bodies
        row(
            "body empty",
            Send(Message::new("BadInputsTopic", "")),
            ValidationError::BodyEmpty,
        ),
        row(
            "body one byte over the limit",
            Send(Message::new("BadInputsTopic", vec![b'x'; MAX_BODY + 1])),
            ValidationError::BodyTooLarge {
                len: MAX_BODY + 1,
                max: MAX_BODY,
            },
        ),
        row(
            "body empty, sent to a selected queue",
            SendWithSelector(Message::new("BadInputsTopic", "")),
            ValidationError::BodyEmpty,
        ),
        row(
            "batch empty",
            SendBatch(vec![]),
            ValidationError::BatchEmpty,
        ),
        row(
            "batch of two topics",
            SendBatch(vec![msg("A"), msg("B")]),
            ValidationError::BatchMixedTopics {
                first: "A".into(),
                other: "B".into(),
            },
        ),
        row(
            "batch with a delayed message",
            SendBatch(vec![ok(), ok().with_delay_level(2)]),
            ValidationError::BatchDelayed,
        ),
        row(
            "batch with a delivery time",
            SendBatch(vec![ok().with_deliver_time_ms(1)]),
            ValidationError::BatchDelayed,
        ),
        row(
            "batch to a retry topic",
            SendBatch(vec![msg("%RETRY%g"), msg("%RETRY%g")]),
            ValidationError::BatchRetryTopic,
        ),
        row(
            "batch mixing wait_store_msg_ok",
            SendBatch(vec![ok(), ok().with_wait_store_msg_ok(false)]),
            ValidationError::BatchWaitMismatch,
        ),
        row(
            "batch with an empty body",
            SendBatch(vec![ok(), Message::new("BadInputsTopic", "")]),
            ValidationError::BodyEmpty,
        ),
        row(
            "batch larger than the limit, every body within it",
            SendBatch(vec![
                Message::new("BadInputsTopic", vec![b'x'; 600]),
                Message::new("BadInputsTopic", vec![b'y'; 600]),
            ]),
            Expected::Typed(
                "Validation(BatchTooLarge { max: 1024, .. })",
                |e| matches!(e, Error::Validation(ValidationError::BatchTooLarge { len, max: 1024 }) if *len > 1200),
            ),
        ),
        // ---- properties
        row(
            "property name reserved (UNIQ_KEY)",
            Send(ok().with_property("UNIQ_KEY", "x")),
            ValidationError::PropertyReserved("UNIQ_KEY".into()),
        ),
        row(
            "property name reserved (TAGS)",
            Send(ok().with_property("TAGS", "x")),
            ValidationError::PropertyReserved("TAGS".into()),
        ),
        row(
            "property name empty",
            Send(ok().with_property("", "v")),
            illegal_text("property name", ""),
        ),
        row(
            "property name with \\u0001",
            Send(ok().with_property("a\u{1}b", "v")),
            illegal_text("property name", "a\u{1}b"),
        ),
        row(
            "property value with \\u0001",
            Send(ok().with_property("a", "v\u{1}w")),
            illegal_text("property value", "v\u{1}w"),
        ),
        row(
            "property value with \\u0002",
            Send(ok().with_property("a", "v\u{2}w")),
            illegal_text("property value", "v\u{2}w"),
        ),
        row(
            "property value blank",
            Send(ok().with_property("a", " ")),
            illegal_text("property value", " "),
        ),
        row(
            "properties too long (one value of 40 000 characters)",
            Send(ok().with_property("a", "v".repeat(40_000))),
            Expected::Typed(
                "Validation(PropertiesTooLong { max: 32767, .. })",
                |e| matches!(e, Error::Validation(ValidationError::PropertiesTooLong { len, max: 32767 }) if *len > 40_000),
            ),
        ),
        row(
            "delay level 19",
            Send(ok().with_delay_level(19)),
            ValidationError::DelayLevelOutOfRange { level: 19, max: 18 },
        ),
        row(
            "delay level and delivery time",
            Send(ok().with_delay_level(3).with_deliver_time_ms(1)),
            ValidationError::DelayAndDeliveryTime,
        ),
        // ---- calls that cannot apply
        row(
            "send to a queue of another topic",
            SendToQueue(ok(), MessageQueue::new("Other", "broker-a", 0)),
            ValidationError::QueueTopicMismatch {
                queue_topic: "Other".into(),
                message_topic: "BadInputsTopic".into(),
            },
        ),
        row(
            "request to a queue of another topic",
            RequestToQueue(ok(), MessageQueue::new("Other", "broker-a", 0)),
            ValidationError::QueueTopicMismatch {
                queue_topic: "Other".into(),
                message_topic: "BadInputsTopic".into(),
            },
        ),
        row(
            "request timeout 0",
            Request(ok(), Duration::ZERO),
            out_of_range("request timeout", "between 1 ms and 24 h", "0ns"),
        ),
        row(
            "request, topic empty",
            Request(msg(""), Duration::from_secs(1)),
            ValidationError::TopicBlank,
        ),
        row(
            "transactional send without a transaction listener",
            SendInTransaction(ok()),
            ValidationError::NoTransactionListener,
        ),
        row(
            "reply that is not a reply",
            SendReply(ok()),
            ValidationError::NotAReply,
        ),
        row(
            "send after shutdown",
            SendAfterShutdown(ok()),
            Expected::Typed("Shutdown", |e| matches!(e, Error::Shutdown)),
        ),
        // ---- subscriptions and expressions
        row(
            "push consumer without handler",
            StartPushConsumer(
                PushConsumer::builder("g")
                    .client(config())
                    .subscribe("T", "*"),
            ),
            ValidationError::NoHandler,
        ),
        row(
            "push consumer without subscription",
            StartPushConsumer(PushConsumer::builder("g").client(config()).handler(handler)),
            ValidationError::NoSubscription,
        ),
        row(
            "tag expression of separators only",
            StartPushConsumer(consumer().subscribe("T2", "||")),
            ValidationError::BadTagExpression("||".into()),
        ),
        row(
            "tag expression of separators and spaces",
            Subscribe("BadInputsTopic", Selector::tag(" || || ")),
            ValidationError::BadTagExpression("|| ||".into()),
        ),
        row(
            "SQL92 expression empty",
            StartPushConsumer(consumer().subscribe("T2", Selector::sql(""))),
            ValidationError::EmptySqlExpression,
        ),
        row(
            "SQL92 expression blank",
            Subscribe("BadInputsTopic", Selector::sql(" \t ")),
            ValidationError::EmptySqlExpression,
        ),
        row(
            "lite pull: assign after subscribe",
            Assign(vec![MessageQueue::new("BadInputsTopic", "broker-a", 0)]),
            ValidationError::SubscribeAndAssign { used: "subscribe" },
        ),
        row(
            "lite pull: subscribe after assign",
            SubscribeAfterAssign("BadInputsTopic", Selector::tag("*")),
            ValidationError::SubscribeAndAssign { used: "assign" },
        ),
        row(
            "lite pull: assign no queue",
            Assign(vec![]),
            ValidationError::NoQueuesAssigned,
        ),
        row(
            "lite pull: seek a queue not assigned",
            Seek(MessageQueue::new("BadInputsAssigned", "broker-b", 3), 0),
            ValidationError::QueueNotAssigned {
                topic: "BadInputsAssigned".into(),
                broker_name: "broker-b".into(),
                queue_id: 3,
            },
        ),
        // ---- ClientConfig
        row(
            "api timeout 0",
            StartProducer(producer().client(config().api_timeout(Duration::ZERO))),
            out_of_range("api timeout", "between 1 ms and 24 h", "0ns"),
        ),
        row(
            "api timeout over a day",
            StartProducer(producer().client(config().api_timeout(day_and_a_second))),
            out_of_range("api timeout", "between 1 ms and 24 h", "86401s"),
        ),
        row(
            "connect timeout 0",
            StartProducer(producer().client(config().connect_timeout(Duration::ZERO))),
            out_of_range("connect timeout", "between 1 ms and 24 h", "0ns"),
        ),
        row(
            "poll name server interval 5 ms",
            StartProducer(
                producer().client(config().poll_name_server_interval(Duration::from_millis(5))),
            ),
            out_of_range("poll name server interval", "between 10 ms and 24 h", "5ms"),
        ),
        row(
            "heartbeat interval over a day",
            StartPushConsumer(consumer().client(config().heartbeat_interval(day_and_a_second))),
            out_of_range("heartbeat interval", "between 10 ms and 24 h", "86401s"),
        ),
        row(
            "idle timeout 0",
            StartLitePull(lite().client(config().idle_timeout(Some(Duration::ZERO)))),
            out_of_range("idle timeout", "between 1 ms and 24 h", "0ns"),
        ),
        row(
            "max frame length 1 KiB",
            StartProducer(producer().client(config().max_frame_len(1024))),
            out_of_range("max frame length", "between 64 KiB and 2 GiB", "1024"),
        ),
        row(
            "max frame length usize::MAX",
            NewAdmin(config().max_frame_len(usize::MAX)),
            out_of_range(
                "max frame length",
                "between 64 KiB and 2 GiB",
                &usize::MAX.to_string(),
            ),
        ),
        row(
            "address server that is not http",
            StartProducer(producer().client(ClientConfig::new().address_server(
                "ftp://127.0.0.1/nsaddr",
                Duration::from_secs(10),
                Duration::from_secs(120),
            ))),
            invalid_address("address server URL", "ftp://127.0.0.1/nsaddr"),
        ),
        row(
            "address server interval 0",
            StartProducer(producer().client(ClientConfig::new().address_server(
                "http://127.0.0.1:1/nsaddr",
                Duration::from_secs(10),
                Duration::ZERO,
            ))),
            out_of_range("address server interval", "between 10 ms and 24 h", "0ns"),
        ),
        row(
            "credentials without access key",
            StartProducer(producer().client(config().credentials(Credentials::new(" ", "sk")))),
            ValidationError::BlankCredentials,
        ),
        row(
            "credentials without secret key",
            NewAdmin(config().credentials(Credentials::new("ak", ""))),
            ValidationError::BlankCredentials,
        ),
        row(
            "TLS CA file missing",
            StartProducer(
                producer().client(config().tls(TlsConfig::with_ca_file(tls_path("missing.pem")))),
            ),
            Expected::Typed("Validation(Tls) naming missing.pem", |e| {
                tls_error_naming(e, "missing.pem")
            }),
        ),
        row(
            "TLS CA file without a certificate",
            StartPushConsumer(
                consumer().client(config().tls(TlsConfig::with_ca_file(tls_path("not_pem.pem")))),
            ),
            Expected::Typed("Validation(Tls) naming not_pem.pem", |e| {
                tls_error_naming(e, "not_pem.pem")
            }),
        ),
        row(
            "TLS CA file that is a directory",
            NewAdmin(config().tls(TlsConfig::with_ca_file(tls_path("a_directory.pem")))),
            Expected::Typed("Validation(Tls) naming a_directory.pem", |e| {
                tls_error_naming(e, "a_directory.pem")
            }),
        ),
        row(
            "TLS client key that is a certificate",
            StartLitePull(
                lite().client(
                    config().tls(
                        TlsConfig::insecure_accept_any_certificate()
                            .client_certificate(tls_path("client.pem"), tls_path("not_a_key.pem")),
                    ),
                ),
            ),
            Expected::Typed("Validation(Tls) naming not_a_key.pem", |e| {
                tls_error_naming(e, "not_a_key.pem")
            }),
        ),
        // ---- ProducerBuilder
        row(
            "send timeout 0",
            StartProducer(producer().send_timeout(Duration::ZERO)),
            out_of_range("send timeout", "between 1 ms and 24 h", "0ns"),
        ),
        row(
            "retries 101",
            StartProducer(producer().retries(101)),
            out_of_range("retries", "at most 100", "101"),
        ),
        row(
            "max message size 0",
            StartProducer(producer().max_message_size(0)),
            out_of_range("max message size", "between 1 byte and 1 GiB", "0"),
        ),
        row(
            "max message size over 1 GiB",
            StartProducer(producer().max_message_size(1024 * 1024 * 1024 + 1)),
            out_of_range("max message size", "between 1 byte and 1 GiB", "1073741825"),
        ),
        row(
            "max in flight 0 messages",
            StartProducer(producer().max_in_flight(0, 100)),
            out_of_range(
                "max in flight",
                "greater than zero",
                "0 messages, 100 bytes",
            ),
        ),
        row(
            "zlib compression level 10",
            StartProducer(producer().compression(Some((CompressionType::Zlib, 10)))),
            out_of_range("compression level", "within the codec's range", "10"),
        ),
        row(
            "default topic queue nums 0",
            StartProducer(producer().default_topic_queue_nums(0)),
            out_of_range("default topic queue nums", "between 1 and 65535", "0"),
        ),
        row(
            "create topic key with a space",
            StartProducer(producer().create_topic_key("TBW 102")),
            topic_char("TBW 102", ' '),
        ),
        row(
            "transaction checks: none running",
            StartProducer(producer().transaction_checks(0, 10, Duration::from_secs(1))),
            out_of_range(
                "transaction checks",
                "1 to 100000 running, at most 100000 queued",
                "0 running, 10 queued",
            ),
        ),
        row(
            "transaction check timeout 0",
            StartProducer(producer().transaction_checks(1, 10, Duration::ZERO)),
            out_of_range("transaction check timeout", "between 1 ms and 24 h", "0ns"),
        ),
        // ---- TraceConfig
        row(
            "trace topic empty",
            StartProducer(producer().trace(TraceConfig::new().topic(""))),
            ValidationError::TopicBlank,
        ),
        row(
            "trace topic no client may send to",
            StartProducer(producer().trace(TraceConfig::new().topic("SCHEDULE_TOPIC_XXXX"))),
            ValidationError::TopicNotAllowed("SCHEDULE_TOPIC_XXXX".into()),
        ),
        row(
            "trace batch size 0",
            StartProducer(producer().trace(TraceConfig::new().batch_size(0))),
            out_of_range("trace batch size", "1 to 100", "0"),
        ),
        row(
            "trace flush interval over an hour",
            StartPushConsumer(
                consumer().trace(TraceConfig::new().flush_interval(Duration::from_secs(3601))),
            ),
            out_of_range("trace flush interval", "1 ms to 1 h", "3601s"),
        ),
        row(
            "trace buffer capacity 0",
            StartLitePull(lite().trace(TraceConfig::new().buffer_capacity(0))),
            out_of_range("trace buffer capacity", "1 to 1000000", "0"),
        ),
        row(
            "trace max message size 100",
            StartProducer(producer().trace(TraceConfig::new().max_message_size(100))),
            out_of_range("trace max message size", "1 KiB to 4 MiB", "100"),
        ),
        // ---- PushConsumerBuilder and PopOptions
        row(
            "consume concurrency 0",
            StartPushConsumer(consumer().consume_concurrency(0)),
            out_of_range("consume concurrency", "between 1 and 1000", "0"),
        ),
        row(
            "consume batch size 1025",
            StartPushConsumer(consumer().consume_batch_size(1025)),
            out_of_range("consume batch size", "between 1 and 1024", "1025"),
        ),
        row(
            "pull batch size 0",
            StartPushConsumer(consumer().pull_batch_size(0)),
            out_of_range("pull batch size", "between 1 and 1024", "0"),
        ),
        row(
            "flow control: 0 messages per queue",
            StartPushConsumer(consumer().flow_control(0, 100 * 1024 * 1024, 2000)),
            out_of_range("pull threshold for queue", "between 1 and 65535", "0"),
        ),
        row(
            "flow control: 1 KiB per queue",
            StartPushConsumer(consumer().flow_control(1000, 1024, 2000)),
            out_of_range(
                "pull threshold size for queue",
                "between 1 MiB and 1024 MiB",
                "1024",
            ),
        ),
        row(
            "flow control: span 0",
            StartPushConsumer(consumer().flow_control(1000, 100 * 1024 * 1024, 0)),
            out_of_range("max span", "between 1 and 65535", "0"),
        ),
        row(
            "max reconsume times -1",
            StartPushConsumer(consumer().max_reconsume_times(-1)),
            out_of_range("max reconsume times", "between 0 and 10000", "-1"),
        ),
        row(
            "suspend time 31 s",
            StartPushConsumer(consumer().suspend_time(Duration::from_secs(31))),
            out_of_range("suspend time", "between 10 ms and 30 s", "31s"),
        ),
        row(
            "consume timeout 0",
            StartPushConsumer(consumer().consume_timeout(Duration::ZERO)),
            out_of_range("consume timeout", "between 1 ms and 24 h", "0ns"),
        ),
        row(
            "persist offset interval 1 ms",
            StartPushConsumer(consumer().persist_offset_interval(Duration::from_millis(1))),
            out_of_range("persist offset interval", "between 10 ms and 24 h", "1ms"),
        ),
        row(
            "shutdown timeout over a day",
            StartPushConsumer(consumer().shutdown_timeout(day_and_a_second)),
            out_of_range("shutdown timeout", "at most 24 h", "86401s"),
        ),
        row(
            "pop invisible time 4 s",
            StartPushConsumer(
                consumer().pop(PopOptions::new().invisible_time(Duration::from_secs(4))),
            ),
            out_of_range("pop invisible time", "between 5 s and 300 s", "4s"),
        ),
        row(
            "pop batch size 33",
            StartPushConsumer(consumer().pop(PopOptions::new().batch_size(33))),
            out_of_range("pop batch size", "between 1 and 32", "33"),
        ),
        row(
            "pop max in flight 0",
            StartPushConsumer(consumer().pop(PopOptions::new().max_in_flight(0))),
            out_of_range("pop max in flight", "between 1 and 65535", "0"),
        ),
        row(
            "pop with broadcasting",
            StartPushConsumer(
                consumer()
                    .pop(PopOptions::new())
                    .message_model(MessageModel::Broadcasting),
            ),
            ValidationError::IncompatibleOptions(
                "pop consumption is clustering and concurrent only (no broadcasting, no orderly)",
            ),
        ),
        row(
            "pop with orderly consumption",
            StartPushConsumer(
                consumer()
                    .pop(PopOptions::new())
                    .consume_order(ConsumeOrder::Orderly),
            ),
            ValidationError::IncompatibleOptions(
                "pop consumption is clustering and concurrent only (no broadcasting, no orderly)",
            ),
        ),
        // ---- LitePullConsumerBuilder
        row(
            "lite pull batch size 1025",
            StartLitePull(lite().pull_batch_size(1025)),
            out_of_range("pull batch size", "between 1 and 1024", "1025"),
        ),
        row(
            "lite pull auto commit interval 999 ms",
            StartLitePull(lite().auto_commit_interval(Duration::from_millis(999))),
            out_of_range("auto commit interval", "between 1 s and 24 h", "999ms"),
        ),
        row(
            "lite pull poll timeout 0",
            StartLitePull(lite().poll_timeout(Duration::ZERO)),
            out_of_range("poll timeout", "between 1 ms and 24 h", "0ns"),
        ),
        row(
            "lite pull threshold for all 0",
            StartLitePull(lite().pull_threshold_for_all(0)),
            out_of_range("pull threshold for all", "between 1 and 6553500", "0"),
        ),
        row(
            "lite pull flow control: span 70000",
            StartLitePull(lite().flow_control(1000, 100 * 1024 * 1024, 70_000)),
            out_of_range("max span", "between 1 and 65535", "70000"),
        ),
        // ---- addresses
        row(
            "name server list empty",
            StartProducer(Producer::builder("g").name_server("")),
            invalid_address("name server address", ""),
        ),
        row(
            "name server list of separators only",
            StartPushConsumer(consumer().client(ClientConfig::new().name_server(";;"))),
            invalid_address("name server address", ";;"),
        ),
        row(
            "name server list of spaces, after a good one",
            NewAdmin(config().name_server("  ")),
            invalid_address("name server address", "  "),
        ),
        row(
            "name server without port",
            StartProducer(Producer::builder("g").name_server("127.0.0.1")),
            invalid_address("name server address", "127.0.0.1"),
        ),
        row(
            "name server with an empty port",
            StartProducer(Producer::builder("g").name_server("127.0.0.1:")),
            invalid_address("name server address", "127.0.0.1:"),
        ),
        row(
            "name server without host",
            StartProducer(Producer::builder("g").name_server(":9876")),
            invalid_address("name server address", ":9876"),
        ),
        row(
            "name server port 0",
            StartProducer(Producer::builder("g").name_server("127.0.0.1:0")),
            invalid_address("name server address", "127.0.0.1:0"),
        ),
        row(
            "name server port 99999",
            StartPushConsumer(
                consumer().client(ClientConfig::new().name_server("127.0.0.1:99999")),
            ),
            invalid_address("name server address", "127.0.0.1:99999"),
        ),
        row(
            "name server port -1",
            StartLitePull(lite().client(ClientConfig::new().name_server("127.0.0.1:-1"))),
            invalid_address("name server address", "127.0.0.1:-1"),
        ),
        row(
            "name server list with garbage after ';;'",
            NewAdmin(ClientConfig::new().name_server(&format!("{rejecting};;garbage"))),
            invalid_address("name server address", "garbage"),
        ),
        row(
            "name server that is a URL path",
            StartProducer(Producer::builder("g").name_server("http://127.0.0.1:9876/ns")),
            invalid_address("name server address", "127.0.0.1:9876/ns"),
        ),
        row(
            "name server with a space before the port",
            StartProducer(Producer::builder("g").name_server("127.0.0.1 :9876")),
            invalid_address("name server address", "127.0.0.1 :9876"),
        ),
        row(
            "name server host with a space",
            StartProducer(Producer::builder("g").name_server("name server:9876")),
            invalid_address("name server address", "name server:9876"),
        ),
        row(
            "name server port with a plus sign",
            NewAdmin(ClientConfig::new().name_server("127.0.0.1:+9876")),
            invalid_address("name server address", "127.0.0.1:+9876"),
        ),
        row(
            "name server that is no IPv4 address",
            StartLitePull(lite().client(ClientConfig::new().name_server("999.999.999.999:9876"))),
            invalid_address("name server address", "999.999.999.999:9876"),
        ),
        row(
            "name server with an unclosed bracket",
            StartProducer(Producer::builder("g").name_server("[::1:9876")),
            invalid_address("name server address", "[::1:9876"),
        ),
        row(
            "name server with user information",
            StartPushConsumer(
                consumer().client(ClientConfig::new().name_server("user@127.0.0.1:9876")),
            ),
            invalid_address("name server address", "user@127.0.0.1:9876"),
        ),
        row(
            "admin broker address empty",
            AdminCreateTopic("", "BadInputsTopic", 8),
            invalid_address("broker address", ""),
        ),
        row(
            "admin broker address that is a list",
            AdminCreateTopic("127.0.0.1:1;127.0.0.2:1", "BadInputsTopic", 8),
            invalid_address("broker address", "127.0.0.1:1;127.0.0.2:1"),
        ),
        row(
            "admin broker address without port",
            AdminCreateTopic("garbage", "BadInputsTopic", 8),
            invalid_address("broker address", "garbage"),
        ),
        row(
            "admin producer connections of a broker without port",
            AdminProducerConnections("garbage", "bad_inputs_group"),
            invalid_address("broker address", "garbage"),
        ),
        row(
            "admin producer connections of an empty group",
            AdminProducerConnections("127.0.0.1:1", ""),
            ValidationError::GroupBlank,
        ),
        row(
            "admin create topic with 0 queues",
            AdminCreateTopic("127.0.0.1:1", "BadInputsTopic", 0),
            out_of_range("queue count", "between 1 and 16384", "0"),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_typed_error_before_the_network() {
    let live = CountingNameServer::start().await;
    let rejecting = CountingNameServer::start().await;
    let clients = Arc::new(Clients::start(&live.addr, &rejecting.addr).await);
    live.wait_until_quiet().await;
    // The instrument works: a valid send asks the fake for the topic's route.
    let before = live.traffic();
    let valid = clients
        .producer
        .send(Message::new("BadInputsControl", "body"))
        .await;
    assert!(matches!(valid, Err(Error::NoRoute { .. })), "{valid:?}");
    assert!(
        live.traffic().requests > before.requests,
        "the fake saw the valid send"
    );
    live.wait_until_quiet().await;

    let tls = TlsFiles::create();
    let table = rows(&clients, &live.addr, &rejecting.addr, &tls);
    let count = table.len();
    let mut failures = Vec::new();
    for Row {
        name,
        input,
        expected,
    } in table
    {
        let before = (live.traffic(), rejecting.traffic());
        let task = tokio::spawn({
            let clients = Arc::clone(&clients);
            async move { input.run(&clients).await }
        });
        let outcome = tokio::time::timeout(ROW_LIMIT, task).await;
        tokio::time::sleep(SETTLE).await;
        let after = (live.traffic(), rejecting.traffic());
        match outcome {
            Err(_) => failures.push(format!("{name}: no answer within {ROW_LIMIT:?}")),
            Ok(Err(join)) if join.is_panic() => failures.push(format!("{name}: panicked")),
            Ok(Err(join)) => failures.push(format!("{name}: task failed: {join}")),
            Ok(Ok(Ok(()))) => failures.push(format!(
                "{name}: accepted; expected {}",
                expected.describe()
            )),
            Ok(Ok(Err(error))) if !expected.holds(&error) => failures.push(format!(
                "{name}: got {error:?} ({error}); expected {}",
                expected.describe()
            )),
            Ok(Ok(Err(error))) => {
                let text = error.to_string();
                if text.is_empty() || text.contains('\n') {
                    failures.push(format!("{name}: message is not one line: {text:?}"));
                }
            }
        }
        if after != before {
            failures.push(format!(
                "{name}: touched the network: {before:?} -> {after:?} (live, rejecting)"
            ));
        }
    }
    assert_eq!(
        rejecting.traffic().connections,
        0,
        "the rejecting fake saw a connection"
    );
    clients.shutdown().await;
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        count, LIBRARY_ROWS,
        "update LIBRARY_ROWS and the count in the file docs"
    );
    let total = LIBRARY_ROWS + cli_rows();
    assert!(total >= 60, "the tables hold at least 60 bad inputs");
    let docs = include_str!("bad_inputs.rs");
    for said in [
        format!("//! Rows: {LIBRARY_ROWS} here"),
        format!("and {} in `crates/rmq-cli", cli_rows()),
        format!("{total} in all"),
    ] {
        assert!(docs.contains(&said), "the file docs should say {said:?}");
    }
}
