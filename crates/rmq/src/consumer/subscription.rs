//! Subscriptions: a topic and a tag expression, as a consumer registers them in heartbeats
//! (Java `SubscriptionData`, built by `FilterAPI.buildSubscriptionData`) and re-checks them on
//! pulled messages.

use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::json;

use crate::error::ValidationError;
use crate::protocol::StoredMessage;
use crate::util::{java_string_hash, now_ms};

/// The expression that matches every message.
pub(crate) const SUBSCRIBE_ALL: &str = "*";

/// One subscribed topic.
#[derive(Debug)]
pub(crate) struct Subscription {
    /// Topic, namespaced.
    pub(crate) topic: String,
    /// The expression as registered (`*` or the tags joined as given).
    pub(crate) expression: String,
    /// Tags to keep; empty means every message.
    pub(crate) tags: Vec<String>,
    /// Java `String.hashCode` of each tag (what the broker filters on).
    pub(crate) codes: Vec<i32>,
    /// Version of the subscription, sent in heartbeats and pulls; reset when the queues this
    /// consumer owns for the topic change (Java `RebalancePushImpl.messageQueueChanged`).
    sub_version: AtomicI64,
}

impl Subscription {
    /// Parses a tag expression: empty or `*` is every message; otherwise tags separated by
    /// `||`, each trimmed, empty ones dropped.
    ///
    /// # Errors
    /// [`ValidationError::BadTagExpression`] when nothing but separators is left.
    pub(crate) fn new(topic: String, expression: &str) -> Result<Self, ValidationError> {
        let expression = expression.trim();
        let (expression, tags) = if expression.is_empty() || expression == SUBSCRIBE_ALL {
            (SUBSCRIBE_ALL.to_string(), Vec::new())
        } else {
            let mut tags: Vec<String> = Vec::new();
            for tag in expression
                .split("||")
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_string());
                }
            }
            if tags.is_empty() {
                return Err(ValidationError::BadTagExpression(expression.to_string()));
            }
            (expression.to_string(), tags)
        };
        let codes = tags.iter().map(|t| java_string_hash(t)).collect();
        Ok(Self {
            topic,
            expression,
            tags,
            codes,
            sub_version: AtomicI64::new(now_ms()),
        })
    }

    /// The current subscription version.
    pub(crate) fn sub_version(&self) -> i64 {
        self.sub_version.load(Ordering::Relaxed)
    }

    /// A new version, after the owned queues of the topic changed (strictly increasing, so
    /// the broker takes the next heartbeat's subscription as newer).
    pub(crate) fn bump_version(&self) {
        let now = now_ms();
        self.sub_version
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(now.max(old + 1))
            })
            .ok();
    }

    /// Whether a pulled message passes the client-side tag check (the broker filters on tag
    /// hash codes, which can collide): with tags, the message's `TAGS` must be one of them.
    pub(crate) fn matches(&self, message: &StoredMessage) -> bool {
        self.tags.is_empty()
            || message
                .tags()
                .is_some_and(|tag| self.tags.iter().any(|t| t == tag))
    }

    /// The `SubscriptionData` of heartbeats, in fastjson's alphabetical field order.
    pub(crate) fn heartbeat_json(&self) -> serde_json::Value {
        json!({
            "classFilterMode": false,
            "codeSet": self.codes,
            "expressionType": "TAG",
            "subString": self.expression,
            "subVersion": self.sub_version(),
            "tagsSet": self.tags,
            "topic": self.topic,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expressions_parse_as_java() {
        let all = Subscription::new("T".into(), " * ").unwrap();
        assert!(all.tags.is_empty() && all.expression == "*");
        assert_eq!(Subscription::new("T".into(), "").unwrap().expression, "*");
        let two = Subscription::new("T".into(), "TagA || TagB||TagA|| ").unwrap();
        assert_eq!(two.tags, vec!["TagA", "TagB"]);
        // Java: "TagA".hashCode() = 2598919.
        assert_eq!(two.codes[0], 2_598_919);
        assert!(matches!(
            Subscription::new("T".into(), "||"),
            Err(ValidationError::BadTagExpression(_))
        ));
        let json = two.heartbeat_json().to_string();
        assert!(
            json.starts_with(r#"{"classFilterMode":false,"codeSet":[2598919,"#),
            "{json}"
        );
    }

    #[test]
    fn versions_only_grow() {
        let s = Subscription::new("T".into(), "*").unwrap();
        let before = s.sub_version();
        s.bump_version();
        s.bump_version();
        assert!(s.sub_version() >= before + 2);
    }
}
