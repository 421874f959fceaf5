//! A scripted fake peer for faults a real server cannot be made to produce (stalls, malformed
//! frames, out-of-order replies, server requests on demand). It is a fault injector, not a
//! broker: the tests that matter run against a real RocketMQ.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rmq::protocol::{RemotingCodec, RemotingCommand, ResponseCode};
use rmq::remoting::{Connection, ConnectionConfig, ServerRequestHandler, UnsupportedRequests};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio_util::codec::Framed;

pub struct FakePeer {
    pub framed: Framed<DuplexStream, RemotingCodec>,
}

impl FakePeer {
    pub async fn recv(&mut self) -> RemotingCommand {
        self.framed
            .next()
            .await
            .expect("client sent a frame")
            .expect("client frame decodes")
    }

    pub async fn send(&mut self, cmd: RemotingCommand) {
        self.framed.send(cmd).await.expect("peer write");
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.framed
            .get_mut()
            .write_all(bytes)
            .await
            .expect("raw write");
        self.framed.get_mut().flush().await.expect("flush");
    }

    pub async fn reply(&mut self, request: &RemotingCommand, remark: &str) {
        let resp =
            RemotingCommand::response_to(request, ResponseCode::SUCCESS, Some(remark.into()));
        self.send(resp).await;
    }
}

/// A client connection over an in-memory pipe, and the fake peer at the other end.
pub fn pair_with(
    config: ConnectionConfig,
    handler: Arc<dyn ServerRequestHandler>,
) -> (Connection, FakePeer) {
    pair_with_buffer(config, handler, 1 << 20)
}

/// As [`pair_with`], with a pipe that holds at most `buffer` bytes: a peer that does not read
/// stops the client's writes once it is full.
pub fn pair_with_buffer(
    config: ConnectionConfig,
    handler: Arc<dyn ServerRequestHandler>,
    buffer: usize,
) -> (Connection, FakePeer) {
    let (client_side, peer_side) = tokio::io::duplex(buffer);
    let conn = Connection::from_stream("fake-peer", client_side, &config, handler);
    let peer = FakePeer {
        framed: Framed::new(peer_side, RemotingCodec::default()),
    };
    (conn, peer)
}

pub fn pair() -> (Connection, FakePeer) {
    pair_with(ConnectionConfig::default(), Arc::new(UnsupportedRequests))
}
