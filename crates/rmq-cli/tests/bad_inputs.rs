//! The bad-input table of the `rmq` binary: every row is a command line with a bad argument
//! and the exit code it must end with, 2 for a usage error (an argument to change), 1 for a
//! failure (a file that cannot be read). One loop runs every row and checks that the process
//! exits with that code, prints exactly one line on stderr and nothing on stdout, does not
//! panic, and opens no connection: every row names a fake name server that counts the
//! connections it accepts, and it must accept none.
//!
//! Rows: 83 here ([`CLI_ROWS`]) and 173 in `crates/rmq/tests/bad_inputs.rs`
//! (`LIBRARY_ROWS`), 256 in all; the test checks these numbers.

use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Rows of this file's table (the loop checks the count).
const CLI_ROWS: usize = 83;

/// The place of the fake name server's address in a row's arguments.
const NS: &str = "{namesrv}";

/// What a usage error exits with (like clap's own usage errors).
const USAGE: i32 = 2;
/// What any other failure exits with.
const FAILURE: i32 = 1;

/// A fake name server on 127.0.0.1 that only counts the connections it accepts.
struct CountingNameServer {
    addr: String,
    connections: Arc<AtomicUsize>,
}

impl CountingNameServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::clone(&connections);
        // The thread ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                accepted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { addr, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// The other table's documented count, read from its source so the two files never disagree.
fn library_rows() -> usize {
    let source = include_str!("../../rmq/tests/bad_inputs.rs");
    let line = source
        .lines()
        .find(|l| l.starts_with("const LIBRARY_ROWS: usize = "))
        .expect("the library table documents its count");
    line.trim_start_matches("const LIBRARY_ROWS: usize = ")
        .trim_end_matches(';')
        .parse()
        .expect("a number")
}

struct Row {
    name: &'static str,
    args: &'static [&'static str],
    exit_code: i32,
}

const fn row(name: &'static str, args: &'static [&'static str], exit_code: i32) -> Row {
    Row {
        name,
        args,
        exit_code,
    }
}

/// Every row; `{namesrv}` stands for the fake name server's address.
const ROWS: &[Row] = &[
    // ---- arguments clap refuses
    row("unknown command", &["frobnicate", "-n", NS], USAGE),
    row(
        "unknown option",
        &["route", "T", "-n", NS, "--frobnicate"],
        USAGE,
    ),
    row(
        "--timeout-ms not a number",
        &["cluster", "-n", NS, "--timeout-ms", "soon"],
        USAGE,
    ),
    row(
        "--tls-ca and --tls-insecure together",
        &[
            "cluster",
            "-n",
            NS,
            "--tls",
            "--tls-ca",
            "ca.pem",
            "--tls-insecure",
        ],
        USAGE,
    ),
    row(
        "send without --topic",
        &["send", "-n", NS, "--body", "x"],
        USAGE,
    ),
    row(
        "send --count 0",
        &[
            "send", "-n", NS, "--topic", "T", "--body", "x", "--count", "0",
        ],
        USAGE,
    ),
    row(
        "send --batch 0",
        &[
            "send", "-n", NS, "--topic", "T", "--body", "x", "--batch", "0",
        ],
        USAGE,
    ),
    row(
        "send --batch 10001",
        &[
            "send", "-n", NS, "--topic", "T", "--body", "x", "--batch", "10001",
        ],
        USAGE,
    ),
    row(
        "send --size 0",
        &["send", "-n", NS, "--topic", "T", "--size", "0"],
        USAGE,
    ),
    row(
        "send --size over 4 MiB",
        &["send", "-n", NS, "--topic", "T", "--size", "3000000000"],
        USAGE,
    ),
    row(
        "send --body and --size together",
        &[
            "send", "-n", NS, "--topic", "T", "--body", "x", "--size", "3",
        ],
        USAGE,
    ),
    row(
        "send --mode neither sync nor oneway",
        &[
            "send", "-n", NS, "--topic", "T", "--body", "x", "--mode", "fast",
        ],
        USAGE,
    ),
    row(
        "send --compress gzip",
        &[
            "send",
            "-n",
            NS,
            "--topic",
            "T",
            "--body",
            "x",
            "--compress",
            "gzip",
        ],
        USAGE,
    ),
    row(
        "send --property without '='",
        &[
            "send",
            "-n",
            NS,
            "--topic",
            "T",
            "--body",
            "x",
            "--property",
            "color",
        ],
        USAGE,
    ),
    row(
        "send --delay-level negative",
        &[
            "send",
            "-n",
            NS,
            "--topic",
            "T",
            "--body",
            "x",
            "--delay-level=-1",
        ],
        USAGE,
    ),
    row(
        "consume --by-key without --orderly",
        &[
            "consume", "-n", NS, "--group", "G", "--topic", "T", "--by-key",
        ],
        USAGE,
    ),
    row(
        "consume --pop with --orderly",
        &[
            "consume",
            "-n",
            NS,
            "--group",
            "G",
            "--topic",
            "T",
            "--pop",
            "--orderly",
        ],
        USAGE,
    ),
    row(
        "consume --sql with --expr",
        &[
            "consume", "-n", NS, "--group", "G", "--topic", "T", "--sql", "a > 1", "--expr", "A",
        ],
        USAGE,
    ),
    row(
        "consume --count 0",
        &[
            "consume", "-n", NS, "--group", "G", "--topic", "T", "--count", "0",
        ],
        USAGE,
    ),
    row(
        "lite-pull --from yesterday",
        &["lite-pull", "-n", NS, "--topic", "T", "--from", "yesterday"],
        USAGE,
    ),
    row(
        "tx-send --outcome maybe",
        &["tx-send", "-n", NS, "-t", "T", "--outcome", "maybe"],
        USAGE,
    ),
    row(
        "tx-send --check-wait-secs 0",
        &[
            "tx-send",
            "-n",
            NS,
            "-t",
            "T",
            "--outcome",
            "commit",
            "--check-wait-secs",
            "0",
        ],
        USAGE,
    ),
    row(
        "query --max 0",
        &["query", "-n", NS, "-t", "T", "-k", "k", "--max", "0"],
        USAGE,
    ),
    row(
        "topic create --queues 0",
        &["topic", "create", "-n", NS, "-t", "T", "--queues", "0"],
        USAGE,
    ),
    row(
        "topic create with --cluster and --broker",
        &[
            "topic",
            "create",
            "-n",
            NS,
            "-t",
            "T",
            "-c",
            "C",
            "-b",
            "127.0.0.1:1",
        ],
        USAGE,
    ),
    // ---- name servers and common settings
    row("--namesrv empty", &["cluster", "-n", ""], USAGE),
    row("no --namesrv and no NAMESRV_ADDR", &["cluster"], USAGE),
    row(
        "--namesrv without port",
        &["route", "T", "-n", "127.0.0.1"],
        USAGE,
    ),
    row(
        "--namesrv port 0",
        &["route", "T", "-n", "127.0.0.1:0"],
        USAGE,
    ),
    row(
        "--namesrv port 99999",
        &["cluster", "-n", "127.0.0.1:99999"],
        USAGE,
    ),
    row(
        "--namesrv of separators only",
        &["cluster", "-n", ";;"],
        USAGE,
    ),
    row(
        "--namesrv list with garbage",
        &["cluster", "-n", "{namesrv};garbage"],
        USAGE,
    ),
    row(
        "--namesrv with a space before the port",
        &["cluster", "-n", "127.0.0.1 :9876"],
        USAGE,
    ),
    row(
        "--timeout-ms 0",
        &["cluster", "-n", NS, "--timeout-ms", "0"],
        USAGE,
    ),
    row(
        "--timeout-ms over a day",
        &["cluster", "-n", NS, "--timeout-ms", "86400001"],
        USAGE,
    ),
    row(
        "--namespace with '%'",
        &["cluster", "-n", NS, "--namespace", "a%b"],
        USAGE,
    ),
    row(
        "--access-key without --secret-key",
        &["cluster", "-n", NS, "--access-key", "ak"],
        USAGE,
    ),
    row(
        "--access-key blank",
        &[
            "cluster",
            "-n",
            NS,
            "--access-key",
            " ",
            "--secret-key",
            "sk",
        ],
        USAGE,
    ),
    row("--tls without a CA", &["cluster", "-n", NS, "--tls"], USAGE),
    row(
        "--tls-ca without --tls",
        &["cluster", "-n", NS, "--tls-ca", "/nonexistent/ca.pem"],
        USAGE,
    ),
    row(
        "--tls with a missing CA file",
        &[
            "cluster",
            "-n",
            NS,
            "--tls",
            "--tls-ca",
            "/nonexistent/ca.pem",
        ],
        USAGE,
    ),
    // ---- route, lag, query, view, topic create
    row("route of an empty topic", &["route", "", "-n", NS], USAGE),
    row(
        "route of a topic with a space",
        &["route", "a b", "-n", NS],
        USAGE,
    ),
    row("lag of an empty group", &["lag", "-g", "", "-n", NS], USAGE),
    row(
        "lag of a bad topic",
        &["lag", "-g", "G", "-t", "a b", "-n", NS],
        USAGE,
    ),
    row(
        "query of an empty topic",
        &["query", "-t", "", "-k", "k", "-n", NS],
        USAGE,
    ),
    row(
        "query of an empty key",
        &["query", "-t", "T", "-k", "", "-n", NS],
        USAGE,
    ),
    row(
        "view of a bad message id",
        &["view", "not-an-id", "-n", NS],
        USAGE,
    ),
    row(
        "topic create of a topic with a space, on every cluster",
        &["topic", "create", "-t", "a b", "-n", NS],
        USAGE,
    ),
    row(
        "topic create on a broker without port",
        &["topic", "create", "-t", "T", "-b", "garbage", "-n", NS],
        USAGE,
    ),
    row(
        "topic create on a broker list",
        &[
            "topic",
            "create",
            "-t",
            "T",
            "-b",
            "{namesrv};127.0.0.2:1",
            "-n",
            NS,
        ],
        USAGE,
    ),
    row(
        "topic create of a system topic on a broker",
        &[
            "topic",
            "create",
            "-t",
            "SCHEDULE_TOPIC_XXXX",
            "-b",
            "127.0.0.1:1",
            "-n",
            NS,
        ],
        USAGE,
    ),
    // ---- send
    row(
        "send, group empty",
        &[
            "send", "-n", NS, "--topic", "T", "--body", "x", "--group", "",
        ],
        USAGE,
    ),
    row(
        "send, group reserved",
        &[
            "send",
            "-n",
            NS,
            "--topic",
            "T",
            "--body",
            "x",
            "--group",
            "CLIENT_INNER_PRODUCER",
        ],
        USAGE,
    ),
    row(
        "send without a body",
        &["send", "-n", NS, "--topic", "T"],
        USAGE,
    ),
    row(
        "send, topic with a space",
        &["send", "-n", NS, "--topic", "a b", "--body", "x"],
        USAGE,
    ),
    row(
        "send, system topic",
        &[
            "send",
            "-n",
            NS,
            "--topic",
            "SCHEDULE_TOPIC_XXXX",
            "--body",
            "x",
        ],
        USAGE,
    ),
    row(
        "send, body empty",
        &["send", "-n", NS, "--topic", "T", "--body", ""],
        USAGE,
    ),
    row(
        "send, tag empty",
        &["send", "-n", NS, "--topic", "T", "--body", "x", "--tag", ""],
        USAGE,
    ),
    row(
        "send, key empty",
        &["send", "-n", NS, "--topic", "T", "--body", "x", "--key", ""],
        USAGE,
    ),
    row(
        "send, reserved property",
        &[
            "send",
            "-n",
            NS,
            "--topic",
            "T",
            "--body",
            "x",
            "--property",
            "UNIQ_KEY=1",
        ],
        USAGE,
    ),
    row(
        "send, property value empty",
        &[
            "send",
            "-n",
            NS,
            "--topic",
            "T",
            "--body",
            "x",
            "--property",
            "color=",
        ],
        USAGE,
    ),
    row(
        "send, delay level 19",
        &[
            "send",
            "-n",
            NS,
            "--topic",
            "T",
            "--body",
            "x",
            "--delay-level",
            "19",
        ],
        USAGE,
    ),
    row(
        "send, delayed batch",
        &[
            "send",
            "-n",
            NS,
            "--topic",
            "T",
            "--body",
            "x",
            "--batch",
            "2",
            "--delay-level",
            "3",
        ],
        USAGE,
    ),
    row(
        "send, body file too large",
        &["send", "-n", NS, "--topic", "T", "--body-file", "/dev/zero"],
        USAGE,
    ),
    row(
        "send, body file missing",
        &[
            "send",
            "-n",
            NS,
            "--topic",
            "T",
            "--body-file",
            "/nonexistent/body",
        ],
        FAILURE,
    ),
    // ---- producer
    row(
        "producer, group empty",
        &["producer", "-n", NS, "--group", ""],
        USAGE,
    ),
    row(
        "producer, instance name with a space",
        &["producer", "-n", NS, "--instance-name", "my app"],
        USAGE,
    ),
    // ---- consume
    row(
        "consume, group empty",
        &["consume", "-n", NS, "--group", "", "--topic", "T"],
        USAGE,
    ),
    row(
        "consume, group DEFAULT_CONSUMER",
        &[
            "consume",
            "-n",
            NS,
            "--group",
            "DEFAULT_CONSUMER",
            "--topic",
            "T",
        ],
        USAGE,
    ),
    row(
        "consume, topic with a space",
        &["consume", "-n", NS, "--group", "G", "--topic", "a b"],
        USAGE,
    ),
    row(
        "consume, tag expression of separators",
        &[
            "consume", "-n", NS, "--group", "G", "--topic", "T", "--expr", "||",
        ],
        USAGE,
    ),
    row(
        "consume, SQL92 expression empty",
        &[
            "consume", "-n", NS, "--group", "G", "--topic", "T", "--sql", "",
        ],
        USAGE,
    ),
    row(
        "consume, --from neither first, last nor a time",
        &[
            "consume",
            "-n",
            NS,
            "--group",
            "G",
            "--topic",
            "T",
            "--from",
            "yesterday",
        ],
        USAGE,
    ),
    row(
        "consume, instance name with '@'",
        &[
            "consume",
            "-n",
            NS,
            "--group",
            "G",
            "--topic",
            "T",
            "--instance-name",
            "a@b",
        ],
        USAGE,
    ),
    // ---- lite-pull, request, tx-send
    row(
        "lite-pull, topic empty",
        &["lite-pull", "-n", NS, "--topic", ""],
        USAGE,
    ),
    row(
        "request, topic empty",
        &["request", "-n", NS, "-t", "", "--body", "x"],
        USAGE,
    ),
    row(
        "request, body empty",
        &["request", "-n", NS, "-t", "T", "--body", ""],
        USAGE,
    ),
    row(
        "request, timeout 0",
        &[
            "request",
            "-n",
            NS,
            "-t",
            "T",
            "--body",
            "x",
            "--timeout",
            "0",
        ],
        USAGE,
    ),
    row(
        "tx-send, topic with a space",
        &["tx-send", "-n", NS, "-t", "a b", "--outcome", "commit"],
        USAGE,
    ),
    row(
        "tx-send, tag empty",
        &[
            "tx-send",
            "-n",
            NS,
            "-t",
            "T",
            "--outcome",
            "commit",
            "--tag",
            "",
        ],
        USAGE,
    ),
    row(
        "request, group empty",
        &["request", "-n", NS, "-t", "T", "--body", "x", "--group", ""],
        USAGE,
    ),
    row(
        "tx-send, group reserved",
        &[
            "tx-send",
            "-n",
            NS,
            "-t",
            "T",
            "--outcome",
            "commit",
            "--group",
            "DEFAULT_PRODUCER",
        ],
        USAGE,
    ),
];

fn run(args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .env_remove("RMQ_ACCESS_KEY")
        .env_remove("RMQ_SECRET_KEY")
        .env_remove("RMQ_LOG")
        .output()
        .expect("rmq runs")
}

#[test]
fn every_bad_argument_exits_with_one_line_and_no_connection() {
    let fake = CountingNameServer::start();
    let mut failures = Vec::new();
    for Row {
        name,
        args,
        exit_code,
    } in ROWS
    {
        let args: Vec<String> = args.iter().map(|a| a.replace(NS, &fake.addr)).collect();
        let before = fake.connections();
        let out = run(&args);
        // A connection the process made is accepted by the kernel before it exits; give the
        // counting thread a moment to take it.
        std::thread::sleep(Duration::from_millis(20));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.code() != Some(*exit_code) {
            failures.push(format!(
                "{name}: exit {:?}, expected {exit_code}; stderr: {stderr}",
                out.status.code()
            ));
        }
        if stderr.lines().count() != 1 || !stderr.ends_with('\n') {
            failures.push(format!("{name}: stderr is not one line: {stderr:?}"));
        }
        if stderr.contains("panicked") {
            failures.push(format!("{name}: panicked: {stderr}"));
        }
        if !stdout.is_empty() {
            failures.push(format!("{name}: printed on stdout: {stdout:?}"));
        }
        if fake.connections() != before {
            failures.push(format!("{name}: connected to the name server"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
    assert_eq!(
        ROWS.len(),
        CLI_ROWS,
        "update CLI_ROWS and the count in the file docs"
    );
    let total = CLI_ROWS + library_rows();
    assert!(total >= 60, "the tables hold at least 60 bad inputs");
    let docs = include_str!("bad_inputs.rs");
    for said in [
        format!("//! Rows: {CLI_ROWS} here"),
        format!("and {} in `crates/rmq/tests", library_rows()),
        format!("{total} in all"),
    ] {
        assert!(docs.contains(&said), "the file docs should say {said:?}");
    }
}
