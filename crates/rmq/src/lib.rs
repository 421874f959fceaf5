#![doc = include_str!("../../../README.md")]
#![deny(missing_docs)]

pub mod client;
mod error;
pub mod producer;
pub mod protocol;
pub mod remoting;

pub use error::{CloseReason, Error, Result};
pub use producer::{Message, Producer, ProducerBuilder, ProducerState, SendResult, SendStatus};
