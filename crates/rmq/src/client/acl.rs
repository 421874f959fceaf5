//! ACL credentials and the request signature brokers with access control check (Java
//! `AclClientRPCHook`): 4.9.x plain ACL and 5.x ACL 2.0 verify the same HmacSHA1 signature.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::protocol::RemotingCommand;
use crate::remoting::RpcHook as WireHook;

/// Header field names of the signature (Java `SessionCredentials`).
const ACCESS_KEY: &str = "AccessKey";
const SIGNATURE: &str = "Signature";
const SECURITY_TOKEN: &str = "SecurityToken";
/// Left out of the signed content: 4.9.x brokers (and 5.x for requests of version ≤ 399, which
/// this client always sends) do not sign it.
const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

/// Access key, secret key and an optional security token for brokers with ACL enabled (Java
/// `SessionCredentials`; for 5.x ACL 2.0 the access key is the user name and the secret key
/// the password).
///
/// The secret and the token never appear in `Debug` output, errors or logs.
///
/// ```
/// let credentials = rmq::Credentials::new("my-access-key", "my-secret-key");
/// assert!(!format!("{credentials:?}").contains("my-secret-key"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key: String,
    secret_key: String,
    security_token: Option<String>,
}

impl Credentials {
    /// Credentials from an access key and its secret key.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            security_token: None,
        }
    }

    /// Adds a security token (sent as `SecurityToken` and signed with the rest).
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(token.into());
        self
    }

    /// The access key (not secret).
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub(crate) fn is_blank(&self) -> bool {
        self.access_key.trim().is_empty() || self.secret_key.is_empty()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Signs every request: adds `AccessKey` (and `SecurityToken`), then `Signature` =
/// Base64(HmacSHA1(secret, the values of every header field in key order, then the body)).
/// Runs after every other hook, so it signs exactly what goes on the wire.
pub(crate) struct AclSigner {
    credentials: Credentials,
}

impl AclSigner {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Self { credentials }
    }

    /// The signature of `fields` and `body` with `secret`.
    fn signature<'a>(
        secret: &str,
        fields: impl Iterator<Item = (&'a str, &'a str)>,
        body: &[u8],
    ) -> String {
        // Java sorts with String.compareTo; the field names are ASCII, where byte order is
        // the same.
        let sorted: BTreeMap<&str, &str> = fields
            .filter(|(k, _)| *k != SIGNATURE && *k != UNIQUE_KEY_QUERY)
            .collect();
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        for value in sorted.values() {
            mac.update(value.as_bytes());
        }
        mac.update(body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

impl WireHook for AclSigner {
    fn before_request(&self, _addr: &str, request: &mut RemotingCommand) {
        let c = &self.credentials;
        request.ext_fields.insert(ACCESS_KEY, c.access_key.as_str());
        if let Some(token) = &c.security_token {
            request.ext_fields.insert(SECURITY_TOKEN, token.as_str());
        }
        let signature = Self::signature(&c.secret_key, request.ext_fields.iter(), &request.body);
        request.ext_fields.insert(SIGNATURE, signature);
    }

    fn after_response(&self, _: &str, _: &RemotingCommand, _: &mut RemotingCommand) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_javas_for_the_documented_vector() {
        // extFields {topic: TopicTest, AccessKey: RocketMQ}, secret 12345678, no body.
        let fields = [("topic", "TopicTest"), ("AccessKey", "RocketMQ")];
        assert_eq!(
            AclSigner::signature("12345678", fields.into_iter(), b""),
            "0jiwhsaYp5ObE5GObbZH1I8/FT4="
        );
    }

    #[test]
    fn signing_adds_the_fields_and_covers_the_body_but_not_the_signature_itself() {
        let signer = AclSigner::new(Credentials::new("RocketMQ", "12345678").with_security_token("tok"));
        let mut cmd = RemotingCommand::request(crate::protocol::RequestCode::SEND_MESSAGE_V2);
        cmd.ext_fields.insert("topic", "TopicTest");
        cmd.ext_fields.insert(SIGNATURE, "stale");
        cmd.body = bytes::Bytes::from_static(b"hello");
        signer.before_request("127.0.0.1:10911", &mut cmd);
        assert_eq!(cmd.ext_fields.get(ACCESS_KEY), Some("RocketMQ"));
        assert_eq!(cmd.ext_fields.get(SECURITY_TOKEN), Some("tok"));
        let fields = [("AccessKey", "RocketMQ"), ("SecurityToken", "tok"), ("topic", "TopicTest")];
        assert_eq!(
            cmd.ext_fields.get(SIGNATURE),
            Some(AclSigner::signature("12345678", fields.into_iter(), b"hello").as_str())
        );
        assert_ne!(
            cmd.ext_fields.get(SIGNATURE),
            Some(AclSigner::signature("12345678", fields.into_iter(), b"").as_str()),
            "the body is signed"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = Credentials::new("ak-visible", "sk-hidden").with_security_token("token-hidden");
        let text = format!("{c:?}");
        assert!(text.contains("ak-visible"));
        assert!(!text.contains("sk-hidden") && !text.contains("token-hidden"), "{text}");
    }
}
