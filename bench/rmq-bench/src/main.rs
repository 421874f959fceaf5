//! Benchmarks of the `rmq` client, the Rust side of `bench/run` and `bench/run-consume`
//! (see bench/README.md).
//!
//! * `rmq-bench [send] …` (the default, flags as before): fixed-count send benchmark, the
//!   counterpart of `bench/java/JavaBench.java` and `bench/go/main.go`: same flags, same single
//!   output line
//!
//!   ```text
//!   rust-client sent=N failed=F elapsed_s=X tps=Y p50_ms=A p99_ms=B max_ms=C
//!   ```
//!
//!   One shared [`rmq::Producer`] is used by `-w` tokio tasks on a 2-worker multi-thread
//!   runtime; each task takes the next message number until `-q` messages were attempted and
//!   records the latency of every successful send (HdrHistogram, ns, 3 significant digits). A
//!   warm-up send (route lookup, connection) comes before the clock starts. Compression is off,
//!   2 retries, 3 s send timeout, as in the Java and Go programs.
//!
//! * `rmq-bench consume …`: drains a backlog of `-q` messages with one [`rmq::PushConsumer`]
//!   in a fresh group, the counterpart of `bench/java/JavaConsumeBench.java` (see `consume.rs`).

mod consume;
mod send;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Benchmarks of the rmq client: send (default) or consume.
#[derive(Debug, Parser)]
#[command(name = "rmq-bench", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: the send benchmark.
    #[command(flatten)]
    send: send::SendArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fixed-count send benchmark (also the default without a subcommand).
    Send(send::SendArgs),
    /// Drain a backlog of a topic with a push consumer in a fresh group.
    Consume(consume::ConsumeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Client logs (errors only unless RUST_LOG says otherwise) go to stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    match cli.command {
        None => rt.block_on(send::run(cli.send)),
        Some(Command::Send(args)) => rt.block_on(send::run(args)),
        Some(Command::Consume(args)) => rt.block_on(consume::run(args)),
    }
}
