//! [`RemotingCommand`]: the unit of the RocketMQ remoting protocol, in memory.

use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

use bytes::Bytes;

use super::code::{RequestCode, ResponseCode};
use super::ext_fields::ExtFields;
use super::header::{CommandHeader, HeaderError};

/// Bit 0 of `flag`: set on responses (`RemotingCommand.RPC_TYPE`).
pub const FLAG_RESPONSE: i32 = 1;
/// Bit 1 of `flag`: set on oneway requests, which get no response (`RPC_ONEWAY`).
pub const FLAG_ONEWAY: i32 = 2;

/// `MQVersion.Version.V4_9_3.ordinal()`: the version the Java 4.9.3 client puts in every command.
pub const VERSION_4_9_3: i32 = 399;
/// `MQVersion.Version.V5_3_3.ordinal()`.
pub const VERSION_5_3_3: i32 = 479;

/// How the header of a frame is serialized (`SerializeType`), stored in the high byte of the
/// second int of every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// fastjson-compatible JSON (`0`), what the Java client sends by default.
    #[default]
    Json,
    /// The compact binary `RocketMQSerializable` format (`1`).
    RocketMq,
}

impl SerializeType {
    /// The byte that marks this type on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::Json => 0,
            Self::RocketMq => 1,
        }
    }

    /// The type for a wire byte, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Json),
            1 => Some(Self::RocketMq),
            _ => None,
        }
    }

    /// The Java enum name (`"JSON"` or `"ROCKETMQ"`), as written in `serializeTypeCurrentRPC`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "JSON",
            Self::RocketMq => "ROCKETMQ",
        }
    }
}

/// The language a peer declares (`LanguageCode`): a byte in binary headers, a name in JSON.
///
/// Open like the codes: a byte or name this client does not know is kept, not rejected.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LanguageCode(pub u8);

const LANGUAGE_NAMES: [&str; 14] = [
    "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP",
    "OMS", "RUST", "NODE_JS",
];

impl LanguageCode {
    /// `JAVA` (0): what the Java client sends, and the default here because 4.9.3 servers do
    /// not know `RUST` (it was added in 4.9.4).
    pub const JAVA: Self = Self(0);
    /// `CPP` (1).
    pub const CPP: Self = Self(1);
    /// `OTHER` (7).
    pub const OTHER: Self = Self(7);
    /// `GO` (9).
    pub const GO: Self = Self(9);
    /// `RUST` (12): understood by 4.9.4+ and 5.x servers only.
    pub const RUST: Self = Self(12);

    /// The Java enum name, when known.
    pub fn name(self) -> Option<&'static str> {
        LANGUAGE_NAMES.get(self.0 as usize).copied()
    }

    /// The code for a Java enum name, when known.
    pub fn from_name(name: &str) -> Option<Self> {
        LANGUAGE_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self(i as u8))
    }
}

impl Default for LanguageCode {
    fn default() -> Self {
        Self::JAVA
    }
}

impl fmt::Debug for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "LanguageCode({})", self.0),
        }
    }
}

/// Process-wide request ids, like Java's static `RemotingCommand.requestId`: unique across
/// every connection of the process, wrapping to negative values after `i32::MAX`.
static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(0);

/// The next process-wide request id.
pub fn next_opaque() -> i32 {
    NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed)
}

/// One request or response of the remoting protocol.
///
/// `code` is a [`RequestCode`] on requests and a [`ResponseCode`] on responses; both views are
/// available through [`request_code`](Self::request_code) and
/// [`response_code`](Self::response_code). The body is a [`Bytes`] slice of the read buffer.
#[derive(Clone, PartialEq)]
pub struct RemotingCommand {
    /// Request or response code.
    pub code: i32,
    /// Language of the sender.
    pub language: LanguageCode,
    /// `MQVersion` ordinal of the sender.
    pub version: i32,
    /// Request id; a response carries the id of its request.
    pub opaque: i32,
    /// Bit field: [`FLAG_RESPONSE`], [`FLAG_ONEWAY`].
    pub flag: i32,
    /// Free text, mostly error messages on responses.
    pub remark: Option<String>,
    /// Header fields.
    pub ext_fields: ExtFields,
    /// The body, possibly empty.
    pub body: Bytes,
    /// How the header is serialized when this command is encoded (and how it was on decode).
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A request with a fresh process-wide opaque, language `JAVA`, version 399 and JSON header.
    pub fn request(code: RequestCode) -> Self {
        Self {
            code: code.0,
            language: LanguageCode::JAVA,
            version: VERSION_4_9_3,
            opaque: next_opaque(),
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
            serialize_type: SerializeType::Json,
        }
    }

    /// A request whose ext fields come from a typed header.
    pub fn request_with_header(code: RequestCode, header: &impl CommandHeader) -> Self {
        let mut cmd = Self::request(code);
        header.write_to(&mut cmd.ext_fields);
        cmd
    }

    /// A response to `request`: same opaque, response flag set, same header format.
    pub fn response_to(request: &Self, code: ResponseCode, remark: Option<String>) -> Self {
        Self {
            code: code.0,
            language: request.language,
            version: request.version,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            remark,
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
            serialize_type: request.serialize_type,
        }
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the remark.
    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    /// Whether this is a response.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// Whether this is a oneway request.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Marks this request as oneway.
    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    /// The code read as a request code.
    pub fn request_code(&self) -> RequestCode {
        RequestCode(self.code)
    }

    /// The code read as a response code.
    pub fn response_code(&self) -> ResponseCode {
        ResponseCode(self.code)
    }

    /// Decodes the ext fields into a typed header.
    ///
    /// # Errors
    /// [`HeaderError`] when a required field is missing or a value does not parse.
    pub fn decode_header<H: CommandHeader>(&self) -> Result<H, HeaderError> {
        H::read_from(&self.ext_fields)
    }
}

impl fmt::Debug for RemotingCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RemotingCommand");
        if self.is_response() {
            d.field("code", &self.response_code());
        } else {
            d.field("code", &self.request_code());
        }
        d.field("opaque", &self.opaque)
            .field("flag", &self.flag)
            .field("language", &self.language)
            .field("version", &self.version)
            .field("remark", &self.remark)
            .field("ext_fields", &self.ext_fields)
            // Bodies can be large and may hold user data: only their size is printed.
            .field("body_len", &self.body.len())
            .field("serialize_type", &self.serialize_type)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names() {
        assert_eq!(LanguageCode::from_name("RUST"), Some(LanguageCode::RUST));
        assert_eq!(LanguageCode::GO.name(), Some("GO"));
        assert_eq!(format!("{:?}", LanguageCode(99)), "LanguageCode(99)");
    }

    #[test]
    fn opaque_is_process_wide_and_increasing() {
        let a = RemotingCommand::request(RequestCode::HEART_BEAT).opaque;
        let b = RemotingCommand::request(RequestCode::HEART_BEAT).opaque;
        assert!(b > a);
    }

    #[test]
    fn response_copies_opaque_and_sets_flag() {
        let req = RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO);
        let resp = RemotingCommand::response_to(&req, ResponseCode::SYSTEM_ERROR, None);
        assert_eq!(resp.opaque, req.opaque);
        assert!(resp.is_response());
        assert!(!req.is_response());
    }
}
