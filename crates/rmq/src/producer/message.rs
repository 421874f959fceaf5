//! [`Message`] and [`SendResult`].

use bytes::Bytes;
use serde::Serialize;

use crate::client::validate::{check_property_text, check_send_topic};
use crate::client::MessageQueue;
use crate::error::ValidationError;
use crate::protocol::is_reserved_property;

/// Highest delay level of a broker with the default `messageDelayLevel` (18 levels).
pub const MAX_DELAY_LEVEL: u32 = 18;

/// Value of property `MSG_TYPE` on a reply (Java `MixAll.REPLY_MESSAGE_FLAG`).
pub(crate) const REPLY_MESSAGE_FLAG: &str = "reply";

/// A message to send. Build it with [`Message::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// Topic (without namespace).
    pub topic: String,
    /// Payload.
    pub body: Bytes,
    /// Tag (property `TAGS`).
    pub tags: Option<String>,
    /// Keys (property `KEYS`, joined with spaces).
    pub keys: Vec<String>,
    /// User flag, carried opaquely.
    pub flag: i32,
    /// User properties.
    pub properties: Vec<(String, String)>,
    /// Delay level, 1..=18 on a default broker (property `DELAY`); 0 = none.
    pub delay_level: u32,
    /// 5.x brokers only: deliver at this epoch time in ms (property `TIMER_DELIVER_MS`).
    /// A 4.9.x broker ignores it and delivers at once.
    pub deliver_time_ms: Option<i64>,
    /// Whether the broker answers only after storing (property `WAIT`, default true).
    pub wait_store_msg_ok: bool,
    /// Reserved properties the client itself sets (request–reply), not checked as user ones.
    pub(crate) system_properties: Vec<(&'static str, String)>,
}

impl Message {
    /// A message with a topic and a body.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            body: body.into(),
            tags: None,
            keys: Vec::new(),
            flag: 0,
            properties: Vec::new(),
            delay_level: 0,
            deliver_time_ms: None,
            wait_store_msg_ok: true,
            system_properties: Vec::new(),
        }
    }

    /// Checks what every send checks before anything touches the network, except the
    /// producer's own limits (its `max_message_size`, and the topic's length once a namespace
    /// is put in front of it): the topic, a body, the tag, the keys, the properties and the
    /// delay. A send checks again; this is for refusing bad input before starting anything.
    ///
    /// # Errors
    /// The first [`ValidationError`] found.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.validate_within(usize::MAX)
    }

    /// [`Message::validate`] with a body of at most `max_body` bytes.
    pub(crate) fn validate_within(&self, max_body: usize) -> Result<(), ValidationError> {
        check_send_topic(&self.topic)?;
        if self.body.is_empty() {
            return Err(ValidationError::BodyEmpty);
        }
        if self.body.len() > max_body {
            return Err(ValidationError::BodyTooLarge {
                len: self.body.len(),
                max: max_body,
            });
        }
        if let Some(tags) = &self.tags {
            check_property_text("tag", tags)?;
        }
        for key in &self.keys {
            check_property_text("key", key)?;
        }
        for (name, value) in &self.properties {
            check_property_text("property name", name)?;
            check_property_text("property value", value)?;
            if is_reserved_property(name) {
                return Err(ValidationError::PropertyReserved(name.clone()));
            }
        }
        if self.delay_level > MAX_DELAY_LEVEL {
            return Err(ValidationError::DelayLevelOutOfRange {
                level: self.delay_level,
                max: MAX_DELAY_LEVEL,
            });
        }
        if self.delay_level > 0 && self.deliver_time_ms.is_some() {
            return Err(ValidationError::DelayAndDeliveryTime);
        }
        Ok(())
    }

    /// Sets the user flag.
    pub fn with_flag(mut self, flag: i32) -> Self {
        self.flag = flag;
        self
    }

    /// Sets the delay level (1 = 1 s … 18 = 2 h on a default broker).
    pub fn with_delay_level(mut self, level: u32) -> Self {
        self.delay_level = level;
        self
    }

    /// 5.x brokers only: deliver at `epoch_ms` (a 4.9.x broker delivers at once).
    pub fn with_deliver_time_ms(mut self, epoch_ms: i64) -> Self {
        self.deliver_time_ms = Some(epoch_ms);
        self
    }

    /// Whether the broker should answer only after storing (default true).
    pub fn with_wait_store_msg_ok(mut self, wait: bool) -> Self {
        self.wait_store_msg_ok = wait;
        self
    }

    /// Sets the tag.
    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.tags = Some(tags.into());
        self
    }

    /// Adds a key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// The value of a reserved property the client set (request–reply), if any.
    pub(crate) fn system_property(&self, name: &str) -> Option<&str> {
        self.system_properties
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a reply made by [`crate::create_reply_message`] (property `MSG_TYPE` =
    /// `reply`): it is sent with `SEND_REPLY_MESSAGE_V2`, as Java does.
    pub fn is_reply(&self) -> bool {
        self.system_property(crate::protocol::property::MESSAGE_TYPE) == Some(REPLY_MESSAGE_FLAG)
    }

    /// Adds a user property.
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((name.into(), value.into()));
        self
    }
}

/// How the broker stored a message (`SendStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SendStatus {
    /// Stored.
    SendOk,
    /// Stored, but the flush to disk timed out.
    FlushDiskTimeout,
    /// Stored, but replication timed out.
    FlushSlaveTimeout,
    /// Stored, but no slave is available.
    SlaveNotAvailable,
}

impl SendStatus {
    /// The Java name (`SEND_OK`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendOk => "SEND_OK",
            Self::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            Self::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            Self::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        }
    }
}

impl std::fmt::Display for SendStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of a send (`SendResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SendResult {
    /// Status.
    pub status: SendStatus,
    /// Client-side unique id (property `UNIQ_KEY`).
    pub msg_id: String,
    /// Broker-side id: store address and commit-log offset.
    pub offset_msg_id: String,
    /// The queue the message went to (topic without namespace).
    pub queue: MessageQueue,
    /// Offset in that queue.
    pub queue_offset: i64,
    /// Transaction id (5.x brokers return the UNIQ_KEY).
    pub transaction_id: Option<String>,
    /// Broker region (`MSG_REGION`, default `DefaultRegion`).
    pub region_id: String,
    /// Whether the broker wants this message traced (`TRACE_ON` not `false`; Java
    /// `SendResult.isTraceOn`).
    pub trace_on: bool,
}
