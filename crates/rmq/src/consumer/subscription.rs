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

/// Which messages of a topic a consumer wants (Java `MessageSelector`). A plain string
/// converts into a tag expression, so `subscribe("T", "TagA || TagB")` and
/// `subscribe("T", Selector::sql("a > 5"))` both work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selector {
    /// A tag expression: `*` (every message) or tags separated by `||` (Java
    /// `MessageSelector.byTag`).
    Tag(String),
    /// An SQL92 expression over the message's properties (and `TAGS`), evaluated by the
    /// broker, e.g. `a > 5 AND color = 'blue'` (Java `MessageSelector.bySql`). The broker
    /// must run with `enablePropertyFilter=true`; the consumer checks that at start
    /// (CHECK_CLIENT_CONFIG) and fails with [`crate::Error::FilterRejected`] otherwise, or when
    /// the broker cannot parse the expression.
    Sql92(String),
}

impl Selector {
    /// A tag expression ([`Selector::Tag`]).
    pub fn tag(expression: impl Into<String>) -> Self {
        Self::Tag(expression.into())
    }

    /// An SQL92 expression ([`Selector::Sql92`]).
    pub fn sql(expression: impl Into<String>) -> Self {
        Self::Sql92(expression.into())
    }
}

impl From<&str> for Selector {
    fn from(expression: &str) -> Self {
        Self::Tag(expression.to_string())
    }
}

impl From<String> for Selector {
    fn from(expression: String) -> Self {
        Self::Tag(expression)
    }
}

impl From<&String> for Selector {
    fn from(expression: &String) -> Self {
        Self::Tag(expression.clone())
    }
}

/// `ExpressionType.TAG`.
pub(crate) const EXPRESSION_TAG: &str = "TAG";
/// `ExpressionType.SQL92`.
pub(crate) const EXPRESSION_SQL92: &str = "SQL92";

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
    /// `TAG` or `SQL92`.
    pub(crate) expression_type: &'static str,
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
            expression_type: EXPRESSION_TAG,
            sub_version: AtomicI64::new(now_ms()),
        })
    }

    /// A subscription from a [`Selector`]: tags as [`new`](Self::new); an SQL92 expression is
    /// kept as written (the broker parses it; no client-side filter).
    ///
    /// # Errors
    /// [`ValidationError::BadTagExpression`], [`ValidationError::EmptySqlExpression`].
    pub(crate) fn from_selector(
        topic: String,
        selector: &Selector,
    ) -> Result<Self, ValidationError> {
        match selector {
            Selector::Tag(expression) => Self::new(topic, expression),
            Selector::Sql92(expression) => {
                let expression = expression.trim();
                if expression.is_empty() {
                    return Err(ValidationError::EmptySqlExpression);
                }
                Ok(Self {
                    topic,
                    expression: expression.to_string(),
                    tags: Vec::new(),
                    codes: Vec::new(),
                    expression_type: EXPRESSION_SQL92,
                    sub_version: AtomicI64::new(now_ms()),
                })
            }
        }
    }

    /// Whether the broker evaluates an SQL92 expression for this subscription.
    pub(crate) fn is_sql(&self) -> bool {
        self.expression_type == EXPRESSION_SQL92
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
            "expressionType": self.expression_type,
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
    fn sql_selectors_keep_the_expression_and_no_tags() {
        let sql = Subscription::from_selector("T".into(), &Selector::sql(" a > 5 ")).unwrap();
        assert!(sql.is_sql() && sql.tags.is_empty() && sql.codes.is_empty());
        assert_eq!(sql.expression, "a > 5");
        let json = sql.heartbeat_json();
        assert_eq!(json["expressionType"], "SQL92");
        assert_eq!(json["subString"], "a > 5");
        assert!(matches!(
            Subscription::from_selector("T".into(), &Selector::sql("  ")),
            Err(ValidationError::EmptySqlExpression)
        ));
        let tag = Subscription::from_selector("T".into(), &"TagA".into()).unwrap();
        assert_eq!(tag.expression_type, "TAG");
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
