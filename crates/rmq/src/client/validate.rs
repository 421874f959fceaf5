//! Checks on names, run before anything touches the network (Java `Validators`,
//! `TopicValidator`, `MixAll`), and namespace wrapping (`NamespaceUtil`).

use crate::error::ValidationError;

/// Longest group name (`Validators.CHARACTER_MAX_LENGTH`).
pub const GROUP_MAX_LEN: usize = 255;
/// Longest topic name (`Validators.TOPIC_MAX_LENGTH`).
pub const TOPIC_MAX_LEN: usize = 127;
/// The template topic for auto-created topics (`TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC`).
pub const AUTO_CREATE_TOPIC: &str = "TBW102";
/// The group the client instance registers for itself (`MixAll.CLIENT_INNER_PRODUCER_GROUP`).
pub const CLIENT_INNER_PRODUCER_GROUP: &str = "CLIENT_INNER_PRODUCER";
/// The group a Java producer gets without a name (`MixAll.DEFAULT_PRODUCER_GROUP`).
pub const DEFAULT_PRODUCER_GROUP: &str = "DEFAULT_PRODUCER";

/// Group names reserved by RocketMQ itself (`MixAll`); none of them may name a producer.
pub const RESERVED_GROUPS: &[&str] = &[
    DEFAULT_PRODUCER_GROUP,
    CLIENT_INNER_PRODUCER_GROUP,
    "DEFAULT_CONSUMER",
    "TOOLS_CONSUMER",
    "SCHEDULE_CONSUMER",
    "FILTERSRV_CONSUMER",
    "__MONITOR_CONSUMER",
    "SELF_TEST_P_GROUP",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_ONSAPI_PULL",
];

/// Prefix of system consumer groups (`MixAll.CID_RMQ_SYS_PREFIX`), exempt from namespaces.
pub const SYSTEM_GROUP_PREFIX: &str = "CID_RMQ_SYS_";

/// System topics (`TopicValidator.SYSTEM_TOPIC_SET`, 5.3.3), exempt from namespaces.
pub const SYSTEM_TOPICS: &[&str] = &[
    AUTO_CREATE_TOPIC,
    "SCHEDULE_TOPIC_XXXX",
    "BenchmarkTest",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
    "CHECKPOINT_TOPIC",
];

/// Prefix of system topics (`TopicValidator.SYSTEM_TOPIC_PREFIX`).
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";

fn is_legal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-')
}

/// Checks a producer group as Java's `checkConfig` does, plus every reserved name.
///
/// # Errors
/// The first rule broken.
pub fn check_producer_group(group: &str) -> Result<(), ValidationError> {
    check_group_name(group)?;
    if RESERVED_GROUPS.contains(&group) || group.starts_with(SYSTEM_GROUP_PREFIX) {
        return Err(ValidationError::GroupReserved(group.to_string()));
    }
    Ok(())
}

/// The rules every group name follows (Java `Validators.checkGroup`): not blank, at most 255
/// UTF-16 units, only `%|a-zA-Z0-9_-`.
///
/// # Errors
/// The first rule broken.
pub fn check_group_name(group: &str) -> Result<(), ValidationError> {
    if group.trim().is_empty() {
        return Err(ValidationError::GroupBlank);
    }
    let len = group.encode_utf16().count(); // Java measures UTF-16 units
    if len > GROUP_MAX_LEN {
        return Err(ValidationError::GroupTooLong { len });
    }
    if let Some(ch) = group.chars().find(|c| !is_legal_char(*c)) {
        return Err(ValidationError::GroupIllegalChar {
            group: group.to_string(),
            ch,
        });
    }
    Ok(())
}

/// Checks a consumer group as Java's `DefaultMQPushConsumerImpl.checkConfig` does: the
/// group rules, and not `DEFAULT_CONSUMER`.
///
/// # Errors
/// The first rule broken.
pub fn check_consumer_group(group: &str) -> Result<(), ValidationError> {
    check_group_name(group)?;
    if group == "DEFAULT_CONSUMER" {
        return Err(ValidationError::GroupReserved(group.to_string()));
    }
    Ok(())
}

/// The retry topic of a consumer group (`MixAll.getRetryTopic`).
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_PREFIX}{group}")
}

/// Topics to which clients may not send (`TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`, 5.3.3).
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    "SCHEDULE_TOPIC_XXXX",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];

/// Checks a topic to send to (Java `Validators.checkTopic` and `isNotAllowedSendTopic`).
///
/// # Errors
/// The first rule broken.
pub fn check_send_topic(topic: &str) -> Result<(), ValidationError> {
    check_topic_name(topic)?;
    if NOT_ALLOWED_SEND_TOPICS.contains(&topic) {
        return Err(ValidationError::TopicNotAllowed(topic.to_string()));
    }
    Ok(())
}

/// Checks the shape of a topic name (blank, length, characters; Java
/// `Validators.checkTopic`), system topics included.
///
/// # Errors
/// The first rule broken.
pub fn check_topic_name(topic: &str) -> Result<(), ValidationError> {
    if topic.trim().is_empty() {
        return Err(ValidationError::TopicBlank);
    }
    let len = topic.encode_utf16().count();
    if len > TOPIC_MAX_LEN {
        return Err(ValidationError::TopicTooLong { len });
    }
    if let Some(ch) = topic.chars().find(|c| !is_legal_char(*c)) {
        return Err(ValidationError::TopicIllegalChar {
            topic: topic.to_string(),
            ch,
        });
    }
    Ok(())
}

/// Checks the length of a topic as it goes on the wire, namespace included: a topic within
/// the limit can pass it once wrapped (Java checks the wrapped topic too).
///
/// # Errors
/// [`ValidationError::TopicTooLong`] with the wrapped length.
pub fn check_wire_topic_len(wire_topic: &str) -> Result<(), ValidationError> {
    let len = wire_topic.encode_utf16().count();
    if len > TOPIC_MAX_LEN {
        return Err(ValidationError::TopicTooLong { len });
    }
    Ok(())
}

/// Checks the length of a group as it goes on the wire, namespace included.
///
/// # Errors
/// [`ValidationError::GroupTooLong`] with the wrapped length.
pub fn check_wire_group_len(wire_group: &str) -> Result<(), ValidationError> {
    let len = wire_group.encode_utf16().count();
    if len > GROUP_MAX_LEN {
        return Err(ValidationError::GroupTooLong { len });
    }
    Ok(())
}

/// Checks text that goes into the properties string.
///
/// # Errors
/// [`ValidationError::IllegalPropertyText`].
pub fn check_property_text(what: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() || value.contains(['\u{1}', '\u{2}']) {
        return Err(ValidationError::IllegalPropertyText {
            what,
            value: value.to_string(),
        });
    }
    Ok(())
}

/// Checks a namespace: it becomes part of every group and topic name, so only characters those
/// allow, and no `%` (the separator).
///
/// # Errors
/// [`ValidationError::NamespaceIllegalChar`].
pub fn check_namespace(namespace: &str) -> Result<(), ValidationError> {
    match namespace
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        Some(ch) => Err(ValidationError::NamespaceIllegalChar {
            namespace: namespace.to_string(),
            ch,
        }),
        None => Ok(()),
    }
}

/// Checks an instance or unit name: non-empty, no `@` (the client-id separator), no white
/// space or control characters.
///
/// # Errors
/// [`ValidationError::IllegalName`].
pub fn check_client_name(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let reason = if value.is_empty() {
        "it is empty"
    } else if value.contains('@') {
        "it contains '@', the client-id separator"
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it contains white space or control characters"
    } else {
        return Ok(());
    };
    Err(ValidationError::IllegalName {
        field,
        value: value.to_string(),
        reason,
    })
}

const RETRY_PREFIX: &str = "%RETRY%";
const DLQ_PREFIX: &str = "%DLQ%";

fn is_system_resource(resource: &str) -> bool {
    SYSTEM_TOPICS.contains(&resource)
        || resource.starts_with(SYSTEM_TOPIC_PREFIX)
        || resource.starts_with(SYSTEM_GROUP_PREFIX)
}

fn split_retry_dlq(resource: &str) -> (&str, &str) {
    for prefix in [RETRY_PREFIX, DLQ_PREFIX] {
        if let Some(rest) = resource.strip_prefix(prefix) {
            return (prefix, rest);
        }
    }
    ("", resource)
}

/// Puts `resource` (a topic or group) into `namespace`: `ns%resource`, keeping a `%RETRY%` or
/// `%DLQ%` prefix in front; system resources and already-wrapped names are unchanged
/// (`NamespaceUtil.wrapNamespace`).
pub fn wrap_namespace(namespace: Option<&str>, resource: &str) -> String {
    let Some(ns) = namespace.filter(|ns| !ns.is_empty()) else {
        return resource.to_string();
    };
    if resource.is_empty() || is_system_resource(resource) {
        return resource.to_string();
    }
    let (prefix, rest) = split_retry_dlq(resource);
    if rest.starts_with(&format!("{ns}%")) {
        return resource.to_string();
    }
    format!("{prefix}{ns}%{rest}")
}

/// Removes `namespace` from `resource` if it carries it (`NamespaceUtil.withoutNamespace`).
pub fn without_namespace(namespace: Option<&str>, resource: &str) -> String {
    let Some(ns) = namespace.filter(|ns| !ns.is_empty()) else {
        return resource.to_string();
    };
    let (prefix, rest) = split_retry_dlq(resource);
    match rest.strip_prefix(&format!("{ns}%")) {
        Some(bare) => format!("{prefix}{bare}"),
        None => resource.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_wrapping_follows_java() {
        assert_eq!(wrap_namespace(Some("ns1"), "TopicA"), "ns1%TopicA");
        assert_eq!(wrap_namespace(Some("ns1"), "%RETRY%G"), "%RETRY%ns1%G");
        assert_eq!(wrap_namespace(Some("ns1"), "TBW102"), "TBW102");
        assert_eq!(wrap_namespace(Some("ns1"), "ns1%TopicA"), "ns1%TopicA");
        assert_eq!(wrap_namespace(None, "TopicA"), "TopicA");
        assert_eq!(wrap_namespace(Some(""), "TopicA"), "TopicA");
        assert_eq!(without_namespace(Some("ns1"), "ns1%TopicA"), "TopicA");
        assert_eq!(without_namespace(Some("ns1"), "%DLQ%ns1%G"), "%DLQ%G");
        assert_eq!(without_namespace(Some("ns2"), "ns1%TopicA"), "ns1%TopicA");
    }

    /// The cases of Java's `NamespaceUtilTest` (5.3.3), plus the system-resource rules.
    #[test]
    fn namespace_util_cases_of_java() {
        let ns = Some("MQ_INST_XXX");
        let wrong = Some("MQ_INST_XXX1");
        assert_eq!(without_namespace(ns, "MQ_INST_XXX%TOPIC_XXX"), "TOPIC_XXX");
        assert_eq!(without_namespace(ns, "MQ_INST_XXX%GID_XXX"), "GID_XXX");
        assert_eq!(
            without_namespace(ns, "%RETRY%MQ_INST_XXX%GID_XXX"),
            "%RETRY%GID_XXX"
        );
        assert_eq!(
            without_namespace(wrong, "%RETRY%MQ_INST_XXX%GID_XXX"),
            "%RETRY%MQ_INST_XXX%GID_XXX"
        );
        let topic = wrap_namespace(ns, "TOPIC_XXX");
        assert_eq!(topic, "MQ_INST_XXX%TOPIC_XXX");
        assert_eq!(wrap_namespace(ns, &topic), topic, "wrapping twice is a no-op");
        let retry = wrap_namespace(ns, "%RETRY%GID_XXX");
        assert_eq!(retry, "%RETRY%MQ_INST_XXX%GID_XXX");
        assert_eq!(wrap_namespace(ns, &retry), retry);
        let dlq = wrap_namespace(ns, "%DLQ%GID_XXX");
        assert_eq!(dlq, "%DLQ%MQ_INST_XXX%GID_XXX");
        assert_eq!(wrap_namespace(ns, &dlq), dlq);
        assert_eq!(without_namespace(ns, &dlq), "%DLQ%GID_XXX");
        // System resources are never wrapped: the topic set, the `rmq_sys_` prefix and
        // `CID_RMQ_SYS_` groups (`isSystemResource`).
        for system in SYSTEM_TOPICS {
            assert_eq!(wrap_namespace(ns, system), *system);
        }
        assert_eq!(wrap_namespace(ns, "rmq_sys_topic"), "rmq_sys_topic");
        assert_eq!(wrap_namespace(ns, "CID_RMQ_SYS_TRANS"), "CID_RMQ_SYS_TRANS");
        // Another namespace's name is wrapped again (Java only checks its own prefix).
        assert_eq!(wrap_namespace(ns, "other%T"), "MQ_INST_XXX%other%T");
        // The consumer's retry topic is the wrapped group's (`MixAll.getRetryTopic` of the
        // namespaced group, as `wrapNamespaceAndRetry`), and unwraps to the plain one.
        let group = wrap_namespace(ns, "GID_XXX");
        assert_eq!(retry_topic(&group), "%RETRY%MQ_INST_XXX%GID_XXX");
        assert_eq!(without_namespace(ns, &retry_topic(&group)), "%RETRY%GID_XXX");
        assert_eq!(without_namespace(ns, ""), "");
        assert_eq!(wrap_namespace(ns, ""), "");
    }

    #[test]
    fn group_rules() {
        assert_eq!(check_producer_group(""), Err(ValidationError::GroupBlank));
        assert_eq!(check_producer_group("  "), Err(ValidationError::GroupBlank));
        assert_eq!(
            check_producer_group(&"g".repeat(256)),
            Err(ValidationError::GroupTooLong { len: 256 })
        );
        assert!(check_producer_group(&"g".repeat(255)).is_ok());
        assert_eq!(
            check_producer_group("a b"),
            Err(ValidationError::GroupIllegalChar {
                group: "a b".into(),
                ch: ' '
            })
        );
        assert_eq!(
            check_producer_group("grüppe"),
            Err(ValidationError::GroupIllegalChar {
                group: "grüppe".into(),
                ch: 'ü'
            })
        );
        for reserved in RESERVED_GROUPS {
            assert_eq!(
                check_producer_group(reserved),
                Err(ValidationError::GroupReserved(reserved.to_string()))
            );
        }
        assert_eq!(
            check_producer_group("CID_RMQ_SYS_TRANS"),
            Err(ValidationError::GroupReserved("CID_RMQ_SYS_TRANS".into()))
        );
        assert!(check_producer_group("ns%my_group|1-2").is_ok());
    }

    #[test]
    fn names_and_namespaces() {
        assert!(check_namespace("prod-1_a").is_ok());
        assert!(matches!(
            check_namespace("a%b"),
            Err(ValidationError::NamespaceIllegalChar { ch: '%', .. })
        ));
        assert!(check_client_name("instance name", "12#34").is_ok());
        assert!(matches!(
            check_client_name("instance name", "a@b"),
            Err(ValidationError::IllegalName { .. })
        ));
        assert!(check_client_name("unit name", "").is_err());
        assert!(check_client_name("unit name", "a b").is_err());
    }
}
