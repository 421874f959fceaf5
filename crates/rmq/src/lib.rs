//! `rmq`: a native async client for Apache RocketMQ's remoting protocol.
#![deny(missing_docs)]

pub mod protocol;
