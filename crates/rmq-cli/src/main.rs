//! `rmq`: command-line tool for Apache RocketMQ, built on the `rmq` client library.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use rmq::{Admin, ClientConfig, ClusterInfo, Credentials, TlsConfig, TopicRoute};

mod admin_cmds;
mod bench;
mod lag;
mod lite_pull;
mod request;
mod tx_send;

/// Largest body the CLI sends: the producer's default `max_message_size` (4 MiB). Checked
/// before anything is allocated or read.
const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Parser, Debug)]
#[command(
    name = "rmq",
    version,
    about = "Talk to Apache RocketMQ name servers and brokers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Common {
    /// Name server address(es), `;`-separated (falls back to NAMESRV_ADDR).
    #[arg(long, short = 'n', env = "NAMESRV_ADDR", global = true)]
    namesrv: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Timeout of each request, in milliseconds.
    #[arg(long, default_value_t = 3000, global = true)]
    timeout_ms: u64,
    /// ACL access key for brokers with access control (falls back to RMQ_ACCESS_KEY); every
    /// request is signed as the Java client signs it. Needs --secret-key.
    #[arg(long, env = "RMQ_ACCESS_KEY", global = true)]
    access_key: Option<String>,
    /// ACL secret key (falls back to RMQ_SECRET_KEY, which keeps it out of process lists).
    #[arg(long, env = "RMQ_SECRET_KEY", global = true, hide_env_values = true)]
    secret_key: Option<String>,
    /// TLS to every name server and broker (Java `tls.enable=true`); needs --tls-ca or
    /// --tls-insecure.
    #[arg(long, global = true)]
    tls: bool,
    /// With --tls: trust the certificate authorities of this PEM file.
    #[arg(long, value_name = "FILE", global = true)]
    tls_ca: Option<std::path::PathBuf>,
    /// With --tls: accept any server certificate (self-signed development setups only).
    #[arg(long, global = true, conflicts_with = "tls_ca")]
    tls_insecure: bool,
    /// Namespace wrapped around topics and groups on the wire (`<ns>%<name>`, as Java's
    /// `NamespaceUtil`); output shows the plain names.
    #[arg(long, global = true)]
    namespace: Option<String>,
}

#[derive(Args, Debug)]
struct ConsumeArgs {
    /// Consumer group.
    #[arg(long)]
    group: String,
    /// Topic.
    #[arg(long)]
    topic: String,
    /// Tag expression: `*` or `TagA || TagB`.
    #[arg(long, default_value = "*")]
    expr: String,
    /// An SQL92 filter over message properties instead of a tag expression, e.g.
    /// `a > 5 AND color = 'blue'` (the broker needs `enablePropertyFilter=true`).
    #[arg(long, value_name = "EXPR", conflicts_with = "expr")]
    sql: Option<String>,
    /// Orderly: one message at a time per queue, printed in queue order (queues are locked
    /// at their brokers, so no other member of the group reads them meanwhile).
    #[arg(long)]
    orderly: bool,
    /// With `--orderly`: ordered per message key instead of per queue.
    #[arg(long, requires = "orderly")]
    by_key: bool,
    /// Broadcasting: receive every message, whatever other members of the group get; offsets
    /// are kept in `$HOME/.rocketmq_offsets/<client id>/<group>/offsets.json`.
    #[arg(long)]
    broadcast: bool,
    /// With `--broadcast`: the directory of the offsets files (default
    /// `$HOME/.rocketmq_offsets`).
    #[arg(long, value_name = "DIR", requires = "broadcast")]
    offset_dir: Option<std::path::PathBuf>,
    /// Instance name in the client id (default `DEFAULT`; give each member on one host its
    /// own for `--broadcast`, whose offsets file is named by the client id).
    #[arg(long)]
    instance_name: Option<String>,
    /// Where a queue without a stored offset starts: `last`, `first` or an epoch-ms time.
    #[arg(long, default_value = "last")]
    from: String,
    /// Stop after this many messages.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Stop after this many seconds (exit 1 if `--count` messages did not arrive by then).
    #[arg(long)]
    timeout: Option<u64>,
    /// Pop instead of pull (RocketMQ 5.x brokers): the brokers balance the group and each
    /// message is acked once printed.
    #[arg(long, conflicts_with_all = ["orderly", "broadcast"])]
    pop: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show a topic's route: brokers and queues.
    Route {
        /// The topic.
        topic: String,
        #[command(flatten)]
        common: Common,
    },
    /// Send messages and print one result per message.
    Send(Box<SendArgs>),
    /// Show the brokers and clusters known to the name server.
    Cluster {
        #[command(flatten)]
        common: Common,
    },
    /// Consume messages of a topic as a member of a consumer group, printing one line (or one
    /// JSON object) per message, until `--count` messages arrived, `--timeout` passed or Ctrl-C.
    Consume(Box<ConsumeArgs>),
    /// Read a topic's queues directly with a lite pull consumer (no group subscription,
    /// nothing committed), printing one line (or one JSON object) per message, until
    /// `--count` messages arrived, `--timeout` passed or Ctrl-C.
    LitePull {
        #[command(flatten)]
        args: lite_pull::LitePullArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Show a consumer group's progress per queue: broker offset, consumer offset and lag,
    /// and the total lag (like `mqadmin consumerProgress -g G`).
    Lag {
        #[command(flatten)]
        args: lag::LagArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Send one request and print its reply (request-reply: a responder consuming the topic
    /// answers with a reply message); exit 1 when no reply comes within `--timeout` ms.
    Request {
        #[command(flatten)]
        args: request::RequestArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Send one transactional message whose local transaction commits, rolls back, or stays
    /// unknown until the broker checks back and the check commits it.
    TxSend {
        #[command(flatten)]
        args: tx_send::TxSendArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Find stored messages of a topic by message key (like `mqadmin queryMsgByKey`).
    Query {
        #[command(flatten)]
        args: admin_cmds::QueryArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Show one stored message, body included, by its offset message id (like `mqadmin
    /// queryMsgById`).
    View {
        #[command(flatten)]
        args: admin_cmds::ViewArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Topic administration: `rmq topic create`.
    Topic {
        #[command(subcommand)]
        command: admin_cmds::TopicCommand,
        #[command(flatten)]
        common: Common,
    },
    /// Benchmarks against the brokers: `rmq bench produce` and `rmq bench consume` report
    /// messages per second, latency percentiles and the client's CPU and memory.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
        #[command(flatten)]
        common: Common,
    },
    /// Start a producer, show its client id and what every broker reports about it, then
    /// shut it down and show that the brokers forgot it.
    Producer {
        /// Producer group.
        #[arg(long, default_value = "rmq_cli_producer")]
        group: String,
        /// Instance name (default: PID#nanotime, as the Java client).
        #[arg(long)]
        instance_name: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

/// The client settings every command uses: the name servers, the API timeout, the ACL
/// credentials, TLS and the namespace.
fn client_config(common: &Common) -> Result<ClientConfig> {
    let mut config = ClientConfig::new()
        .name_server(&name_servers(common)?)
        .api_timeout(Duration::from_millis(common.timeout_ms));
    if let Some(namespace) = &common.namespace {
        config = config.namespace(namespace);
    }
    let config =
        match (&common.access_key, &common.secret_key) {
            (Some(ak), Some(sk)) => config.credentials(Credentials::new(ak, sk)),
            (None, None) => config,
            _ => return Err(UsageError(
                "--access-key and --secret-key go together (or RMQ_ACCESS_KEY and RMQ_SECRET_KEY)"
                    .into(),
            )
            .into()),
        };
    match (common.tls, &common.tls_ca, common.tls_insecure) {
        (false, None, false) => Ok(config),
        (true, Some(ca), false) => Ok(config.tls(TlsConfig::with_ca_file(ca))),
        (true, None, true) => Ok(config.tls(TlsConfig::insecure_accept_any_certificate())),
        (true, None, false) => Err(UsageError(
            "--tls needs --tls-ca FILE (or --tls-insecure for self-signed development setups)"
                .into(),
        )
        .into()),
        _ => Err(UsageError("--tls-ca and --tls-insecure need --tls".into()).into()),
    }
}

fn admin(common: &Common) -> Result<Admin> {
    Ok(Admin::new(&client_config(common)?)?)
}

fn print_route(topic: &str, route: &TopicRoute) {
    println!("topic {topic}");
    println!("brokers:");
    for b in &route.broker_datas {
        let addrs: Vec<String> = b
            .broker_addrs
            .iter()
            .map(|(id, a)| format!("{id}={a}"))
            .collect();
        println!(
            "  {:<20} cluster={:<16} addrs {}",
            b.broker_name,
            b.cluster,
            addrs.join(" ")
        );
    }
    println!("queues:");
    for q in &route.queue_datas {
        println!(
            "  {:<20} read={:<3} write={:<3} perm={} ({})",
            q.broker_name, q.read_queue_nums, q.write_queue_nums, q.perm.0, q.perm
        );
    }
    if let Some(conf) = &route.order_topic_conf {
        println!("order topic conf: {conf}");
    }
}

fn print_cluster(info: &ClusterInfo) {
    for (cluster, brokers) in &info.cluster_addr_table {
        println!("cluster {cluster}");
        for name in brokers {
            match info.broker_addr_table.get(name) {
                Some(b) => {
                    let addrs: Vec<String> = b
                        .broker_addrs
                        .iter()
                        .map(|(id, a)| format!("{id}={a}"))
                        .collect();
                    println!("  {:<20} {}", name, addrs.join(" "));
                }
                None => println!("  {name:<20} (no addresses)"),
            }
        }
    }
}

#[derive(Args, Debug)]
struct SendArgs {
    /// Topic.
    #[arg(long)]
    topic: String,
    /// Producer group.
    #[arg(long, default_value = "rmq_cli_producer")]
    group: String,
    /// Tag.
    #[arg(long)]
    tag: Option<String>,
    /// Key (repeatable; `{i}` is replaced by the message number).
    #[arg(long = "key")]
    keys: Vec<String>,
    /// User property `name=value` (repeatable).
    #[arg(long = "property", value_parser = parse_property)]
    properties: Vec<(String, String)>,
    /// Body text.
    #[arg(long, conflicts_with_all = ["body_file", "size"])]
    body: Option<String>,
    /// Body from a file.
    #[arg(long, conflicts_with = "size")]
    body_file: Option<std::path::PathBuf>,
    /// Generated body of this many bytes (at most 4 MiB).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_BODY as i64))]
    size: Option<u32>,
    /// Number of messages.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// sync (wait for the broker) or oneway.
    #[arg(long, default_value = "sync", value_parser = ["sync", "oneway"])]
    mode: String,
    /// Send in batches of this many messages.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch: Option<u32>,
    /// Send to this queue id (on the first broker that has it).
    #[arg(long)]
    queue: Option<i32>,
    /// Delay level (1 = 1 s … 18 = 2 h).
    #[arg(long)]
    delay_level: Option<u32>,
    /// Compression for bodies over 4 KiB (lz4 and zstd need 5.x consumers).
    #[arg(long, value_parser = ["zlib", "lz4", "zstd"])]
    compress: Option<String>,
    #[command(flatten)]
    common: Common,
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not name=value"))
}

fn body_of(args: &SendArgs) -> Result<Vec<u8>> {
    if let Some(text) = &args.body {
        return Ok(text.clone().into_bytes());
    }
    if let Some(path) = &args.body_file {
        use std::io::Read;
        // Read at most one byte past the limit: a device or a huge file is never read whole.
        let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        let mut body = Vec::new();
        file.take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("read {}", path.display()))?;
        if body.len() > MAX_BODY {
            return Err(UsageError(format!(
                "{} is larger than the 4 MiB message limit",
                path.display()
            ))
            .into());
        }
        return Ok(body);
    }
    if let Some(n) = args.size {
        return Ok((0..n as usize).map(|i| b'a' + (i % 26) as u8).collect());
    }
    Err(UsageError("give the body with --body, --body-file or --size".into()).into())
}

fn result_json(r: &rmq::SendResult) -> serde_json::Value {
    serde_json::json!({
        "status": r.status,
        "msg_id": r.msg_id,
        "offset_msg_id": r.offset_msg_id,
        "topic": r.queue.topic,
        "broker": r.queue.broker_name,
        "queue_id": r.queue.queue_id,
        "queue_offset": r.queue_offset,
    })
}

fn print_results(json: bool, results: &[rmq::SendResult]) {
    for r in results {
        if json {
            println!("{}", result_json(r));
        } else {
            println!(
                "{} msg_id={} offset_msg_id={} {}/{}/{} offset={}",
                r.status,
                r.msg_id,
                r.offset_msg_id,
                r.queue.topic,
                r.queue.broker_name,
                r.queue.queue_id,
                r.queue_offset
            );
        }
    }
}

fn print_error(json: bool, e: &rmq::Error) {
    if json {
        println!(
            "{}",
            serde_json::json!({"status": "ERROR", "error": e.to_string()})
        );
    } else {
        println!("ERROR {e}");
    }
}

/// One result per message of a batch, from the comma-separated ids.
fn split_batch(r: rmq::SendResult) -> Vec<rmq::SendResult> {
    let offsets: Vec<String> = r.offset_msg_id.split(',').map(str::to_string).collect();
    r.msg_id
        .split(',')
        .enumerate()
        .map(|(j, id)| {
            let mut one = r.clone();
            one.msg_id = id.to_string();
            one.offset_msg_id = offsets.get(j).cloned().unwrap_or_default();
            one.queue_offset = r.queue_offset + j as i64;
            one
        })
        .collect()
}

async fn run_send(args: SendArgs) -> Result<()> {
    use rmq::CompressionType;
    let body = body_of(&args)?;
    let compression = match args.compress.as_deref() {
        Some("lz4") => CompressionType::Lz4,
        Some("zstd") => CompressionType::Zstd,
        _ => CompressionType::Zlib,
    };
    let make = |i: u64| {
        let mut m = rmq::Message::new(&args.topic, body.clone());
        if let Some(t) = &args.tag {
            m = m.with_tags(t);
        }
        for k in &args.keys {
            m = m.with_key(k.replace("{i}", &i.to_string()));
        }
        for (k, v) in &args.properties {
            m = m.with_property(k, v);
        }
        if let Some(level) = args.delay_level {
            m = m.with_delay_level(level);
        }
        m
    };
    // The messages differ only in the number put into their keys, which cannot make a key
    // valid or invalid: checking the first checks them all, before anything is started.
    make(0).validate()?;
    if args.batch.is_some() && args.delay_level.is_some_and(|level| level > 0) {
        return Err(rmq::ValidationError::BatchDelayed.into());
    }
    let producer = rmq::Producer::builder(&args.group)
        .client(client_config(&args.common)?)
        .send_timeout(Duration::from_millis(args.common.timeout_ms))
        .compression(Some((compression, compression.default_level())))
        .start()
        .await
        .context("start producer")?;
    let queue = match args.queue {
        Some(id) => {
            let queues = producer
                .queues(&args.topic)
                .await
                .context("queues of the topic")?;
            Some(
                queues
                    .into_iter()
                    .find(|q| q.queue_id == id)
                    .with_context(|| format!("no queue {id} for {}", args.topic))?,
            )
        }
        None => None,
    };
    let json = args.common.json;
    let mut failures = 0u64;
    let mut i = 0;
    while i < args.count {
        let outcome = if let Some(size) = args.batch {
            let n = u64::from(size).min(args.count - i);
            let msgs: Vec<_> = (i..i + n).map(make).collect();
            i += n;
            producer.send_batch(msgs).await.map(split_batch)
        } else {
            let msg = make(i);
            i += 1;
            if args.mode == "oneway" {
                match producer.send_oneway(msg).await {
                    Ok(()) => {
                        if json {
                            println!(
                                "{}",
                                serde_json::json!({"status": "SENT_ONEWAY", "topic": args.topic})
                            );
                        } else {
                            println!("SENT_ONEWAY topic={}", args.topic);
                        }
                        continue;
                    }
                    Err(e) => Err(e),
                }
            } else {
                match &queue {
                    Some(q) => producer.send_to_queue(msg, q).await,
                    None => producer.send(msg).await,
                }
                .map(|r| vec![r])
            }
        };
        match outcome {
            Ok(results) => print_results(json, &results),
            Err(e) => {
                failures += 1;
                print_error(json, &e);
            }
        }
    }
    producer.shutdown().await;
    if failures > 0 {
        bail!("{failures} send(s) failed");
    }
    Ok(())
}

fn name_servers(common: &Common) -> Result<String> {
    match common.namesrv.as_deref() {
        Some(list) if !list.trim().is_empty() => Ok(list.to_string()),
        _ => Err(UsageError(
            "no name server address: pass --namesrv 127.0.0.1:9876 or set NAMESRV_ADDR".into(),
        )
        .into()),
    }
}

/// Every master broker of the cluster: (broker name, address), sorted.
async fn masters(admin: &Admin) -> Result<Vec<(String, String)>> {
    let info = admin.cluster_info().await.context("cluster info")?;
    let mut brokers: Vec<(String, String)> = info
        .broker_addr_table
        .values()
        .filter_map(|b| {
            b.master_addr()
                .map(|a| (b.broker_name.clone(), a.to_string()))
        })
        .collect();
    brokers.sort();
    Ok(brokers)
}

/// What each master broker reports for `group`: (broker, address, client ids).
async fn producer_connections(
    admin: &Admin,
    brokers: &[(String, String)],
    group: &str,
) -> Vec<(
    String,
    String,
    Result<Vec<rmq::ClientConnection>, rmq::Error>,
)> {
    let mut out = Vec::new();
    for (name, addr) in brokers {
        let conns = admin
            .producer_connections(addr, group)
            .await
            .map(|c| c.connection_set);
        out.push((name.clone(), addr.clone(), conns));
    }
    out
}

async fn run_producer(group: &str, instance_name: Option<&str>, common: &Common) -> Result<()> {
    let mut client = client_config(common)?;
    if let Some(name) = instance_name {
        client = client.instance_name(name);
    }
    let builder = rmq::Producer::builder(group).client(client);
    // A bad group or setting is refused before the brokers are asked about anything.
    builder.validate()?;
    // The admin connections are separate from the producer's, so they outlive its shutdown.
    let admin = admin(common)?;
    let brokers = masters(&admin).await?;
    if brokers.is_empty() {
        bail!("the name server lists no master broker");
    }
    let producer = builder.start().await.context("start producer")?;
    let before = producer_connections(&admin, &brokers, producer.group()).await;
    producer.shutdown().await;
    let after = producer_connections(&admin, &brokers, producer.group()).await;
    admin.close().await;
    let after: Vec<(String, Result<usize, rmq::Error>)> = after
        .into_iter()
        .map(|(name, _, conns)| {
            // A group without producers is an error answer, not a failure to ask.
            let n = match conns {
                Ok(c) => Ok(c.len()),
                Err(e) if e.response_code() == Some(rmq::ResponseCode::SYSTEM_ERROR) => Ok(0),
                Err(e) => Err(e),
            };
            (name, n)
        })
        .collect();
    if common.json {
        let doc = serde_json::json!({
            "group": producer.group(),
            "client_id": producer.client_id(),
            "brokers": before.iter().map(|(name, addr, conns)| serde_json::json!({
                "broker": name,
                "addr": addr,
                "connections": conns.as_ref().map(|c| serde_json::to_value(c).unwrap_or_default()).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()})),
            })).collect::<Vec<_>>(),
            "after_shutdown": after.iter().map(|(name, n)| match n {
                Ok(n) => serde_json::json!({"broker": name, "connections": n}),
                Err(e) => serde_json::json!({"broker": name, "error": e.to_string()}),
            }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return check_answers(&before, &after);
    }
    println!(
        "producer started: group={} client_id={}",
        producer.group(),
        producer.client_id()
    );
    for (name, addr, conns) in &before {
        match conns {
            Ok(conns) => {
                for c in conns {
                    let mark = if c.client_id == producer.client_id() {
                        "  <- this producer"
                    } else {
                        ""
                    };
                    println!(
                        "  {name} ({addr}) lists client_id={} from {} language={} version={}{mark}",
                        c.client_id,
                        c.client_addr,
                        c.language.as_deref().unwrap_or("?"),
                        c.version
                    );
                }
            }
            Err(e) => println!("  {name} ({addr}): {e}"),
        }
    }
    println!("producer shut down");
    for (name, n) in &after {
        match n {
            Ok(n) => println!(
                "  {name} now lists {n} connection(s) for group {}",
                producer.group()
            ),
            Err(e) => println!("  {name}: {e}"),
        }
    }
    check_answers(&before, &after)
}

/// Fails when a broker could not be asked, before or after the shutdown: nothing is printed
/// as an answer that was not one.
fn check_answers<T, U>(
    before: &[(String, String, Result<T, rmq::Error>)],
    after: &[(String, Result<U, rmq::Error>)],
) -> Result<()> {
    let failed = before.iter().filter(|(_, _, r)| r.is_err()).count()
        + after.iter().filter(|(_, r)| r.is_err()).count();
    if failed > 0 {
        bail!("{failed} broker question(s) failed");
    }
    Ok(())
}

/// One consumed message as a JSON object.
fn message_json(queue: &rmq::MessageQueue, m: &rmq::MessageExt) -> serde_json::Value {
    use base64::Engine as _;
    let (body, encoding) = match std::str::from_utf8(&m.body) {
        Ok(text) => (text.to_string(), None),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&m.body),
            Some("base64"),
        ),
    };
    let properties: serde_json::Map<String, serde_json::Value> = m
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let mut doc = serde_json::json!({
        "msg_id": m.msg_id(),
        "offset_msg_id": m.offset_msg_id,
        "topic": m.topic,
        "tags": m.tags(),
        "keys": m.keys(),
        "broker": queue.broker_name,
        "queue_id": m.queue_id,
        "queue_offset": m.queue_offset,
        "reconsume_times": m.reconsume_times,
        "born_host": m.born_host.to_string(),
        "born_timestamp": m.born_timestamp,
        "store_timestamp": m.store_timestamp,
        "body": body,
        "body_len": m.body.len(),
        "properties": properties,
    });
    if let Some(encoding) = encoding {
        doc["body_encoding"] = serde_json::Value::from(encoding);
    }
    doc
}

async fn run_consume(args: ConsumeArgs) -> Result<()> {
    use tokio::sync::{mpsc, oneshot};
    let from = match args.from.as_str() {
        "last" => rmq::ConsumeFrom::LastOffset,
        "first" => rmq::ConsumeFrom::FirstOffset,
        other => rmq::ConsumeFrom::Timestamp(other.parse().map_err(|_| {
            UsageError(format!(
                "--from must be last, first or an epoch-ms time, not {other:?}"
            ))
        })?),
    };
    type Delivery = (rmq::MessageQueue, rmq::MessageExt, oneshot::Sender<()>);
    let (tx, mut rx) = mpsc::channel::<Delivery>(64);
    // A message is acknowledged only once it was printed; one the tool no longer wants (after
    // --count, at a timeout) is not, so the group gets it again later.
    let mut client = client_config(&args.common)?;
    if let Some(name) = &args.instance_name {
        client = client.instance_name(name);
    }
    let mut builder = rmq::PushConsumer::builder(&args.group)
        .client(client)
        .subscribe(
            &args.topic,
            match &args.sql {
                Some(sql) => rmq::Selector::sql(sql),
                None => rmq::Selector::tag(&args.expr),
            },
        )
        .consume_from(from)
        .shutdown_timeout(Duration::from_secs(1));
    if args.pop {
        builder = builder.pop(rmq::PopOptions::new());
    }
    if args.orderly {
        builder = builder.consume_order(if args.by_key {
            rmq::ConsumeOrder::OrderlyByKey
        } else {
            rmq::ConsumeOrder::Orderly
        });
    }
    if args.broadcast {
        builder = builder.message_model(rmq::MessageModel::Broadcasting);
    }
    if let Some(dir) = &args.offset_dir {
        builder = builder.offset_store_dir(dir);
    }
    let consumer = builder
        .handler(move |messages, context| {
            let tx = tx.clone();
            async move {
                for m in messages {
                    let (ack, printed) = oneshot::channel();
                    if tx.send((context.queue.clone(), m, ack)).await.is_err()
                        || printed.await.is_err()
                    {
                        return rmq::ConsumeResult::later();
                    }
                }
                rmq::ConsumeResult::Success
            }
        })
        .start()
        .await
        .context("start consumer")?;
    eprintln!(
        "consuming {} as {} in group {}",
        args.topic,
        consumer.client_id(),
        consumer.group()
    );
    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut handled: u64 = 0;
    let outcome = loop {
        if args.count.is_some_and(|n| handled >= n) {
            break Ok(());
        }
        let next = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                None => Some(rx.recv().await),
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break Ok(()),
            got = next => match got {
                None => {
                    break match args.count {
                        Some(n) => Err(anyhow::anyhow!(
                            "timed out after {} s: {handled} of {n} messages arrived",
                            args.timeout.unwrap_or_default()
                        )),
                        None => Ok(()),
                    };
                }
                Some(None) => break Ok(()),
                Some(Some((queue, m, ack))) => {
                    if args.common.json {
                        println!("{}", message_json(&queue, &m));
                    } else {
                        println!(
                            "{} {}/{}/{}@{} tags={} keys={} reconsume={} body={:?}",
                            m.msg_id(),
                            m.topic,
                            queue.broker_name,
                            m.queue_id,
                            m.queue_offset,
                            m.tags().unwrap_or("-"),
                            m.keys().unwrap_or("-"),
                            m.reconsume_times,
                            String::from_utf8_lossy(&m.body)
                        );
                    }
                    let _ = ack.send(());
                    handled += 1;
                }
            }
        }
    };
    drop(rx);
    consumer.shutdown().await;
    eprintln!("consumed {handled}");
    outcome
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Route { topic, common } => {
            let api = admin(&common)?;
            let route = api
                .topic_route(&topic)
                .await
                .with_context(|| format!("route of {topic}"));
            api.close().await;
            let route = route?;
            if common.json {
                println!("{}", serde_json::to_string_pretty(&route)?);
            } else {
                print_route(&topic, &route);
            }
        }
        Command::Send(args) => run_send(*args).await?,
        Command::Consume(args) => run_consume(*args).await?,
        Command::LitePull { args, common } => {
            lite_pull::run(args, client_config(&common)?, common.json, message_json).await?
        }
        Command::Lag { args, common } => {
            let api = admin(&common)?;
            let outcome = lag::run(&api, &args, common.json).await;
            api.close().await;
            outcome?
        }
        Command::Request { args, common } => {
            request::run(&args, client_config(&common)?, common.json).await?
        }
        Command::TxSend { args, common } => {
            let timeout = Duration::from_millis(common.timeout_ms);
            tx_send::run(&args, client_config(&common)?, timeout, common.json).await?
        }
        Command::Query { args, common } => {
            let api = admin(&common)?;
            let outcome = admin_cmds::query(&api, &args, common.json, message_json).await;
            api.close().await;
            outcome?
        }
        Command::View { args, common } => {
            let api = admin(&common)?;
            let outcome = admin_cmds::view(&api, &args, common.json, message_json).await;
            api.close().await;
            outcome?
        }
        Command::Topic { command, common } => {
            let api = admin(&common)?;
            let outcome = admin_cmds::topic(&api, &command, common.json).await;
            api.close().await;
            outcome?
        }
        Command::Bench { command, common } => bench::run(command, &common).await?,
        Command::Producer {
            group,
            instance_name,
            common,
        } => run_producer(&group, instance_name.as_deref(), &common).await?,
        Command::Cluster { common } => {
            let api = admin(&common)?;
            let info = api.cluster_info().await.context("cluster info");
            api.close().await;
            let info = info?;
            if common.json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print_cluster(&info);
            }
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RMQ_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return argument_error(&e),
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain; no backtrace for user errors.
            eprintln!("error: {}", cause_chain(&e));
            if is_usage_error(&e) {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

/// Reports what clap refused. Help and version go out as clap writes them; an argument error
/// is one line on stderr, like every other error of this tool (clap's own text spans several
/// lines: the error, a tip, the usage, a pointer to `--help`), and exits 2.
fn argument_error(e: &clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return std::process::ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    }
    eprintln!("{}", first_paragraph(&e.render().to_string()));
    std::process::ExitCode::from(2)
}

/// The first paragraph of a text (up to its first blank line) on one line.
fn first_paragraph(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .take_while(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The error and its causes on one line, each cause once: the library's errors already name
/// their cause in their message (`cannot connect to …: connection refused`), so a cause whose
/// text is already there is not repeated.
fn cause_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// An argument the user must change (exit code 2, like clap's own usage errors).
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Usage errors: our own, and every input the library rejected before the network.
fn is_usage_error(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<UsageError>()
            || cause.is::<rmq::ValidationError>()
            || matches!(
                cause.downcast_ref::<rmq::Error>(),
                Some(rmq::Error::Validation(_))
            )
    })
}
