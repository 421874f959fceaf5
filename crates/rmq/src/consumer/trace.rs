//! Consume traces (Java `ConsumeMessageTraceHookImpl`): one `SubBefore` record per message
//! when a handler call starts and one `SubAfter` record per message when it ends, linked by a
//! request id. Messages the broker marked `TRACE_ON=false` are left out.

use std::sync::Arc;
use std::time::Instant;

use crate::client::validate::without_namespace;
use crate::client::{TraceDispatcher, TraceEvent};
use crate::protocol::{
    property, StoredMessage, SubAfterTrace, SubBeforeTrace, TraceConsumeCode, TraceRecord,
    UniqIdGenerator, DEFAULT_TRACE_REGION,
};
use crate::util::now_ms;

/// A handler call being traced: what its `SubAfter` records need.
pub(super) struct ConsumeTrace {
    dispatcher: Arc<TraceDispatcher>,
    request_id: String,
    group: String,
    topic: String,
    /// Message id and keys of each traced message.
    messages: Vec<(String, Option<String>)>,
    /// Messages in the call, traced or not (Java divides the cost by all of them).
    total: usize,
    started: Instant,
}

impl ConsumeTrace {
    /// Records the `SubBefore` records of a call handing `batch` to the handler of `group`;
    /// `None` when nothing in it is traced. Records name the group and topics without
    /// `namespace`.
    pub(super) fn before(
        dispatcher: &Arc<TraceDispatcher>,
        namespace: Option<&str>,
        group: &str,
        batch: &[StoredMessage],
    ) -> Option<Self> {
        let group = without_namespace(namespace, group);
        let group = group.as_str();
        let traced: Vec<&StoredMessage> = batch
            .iter()
            .filter(|m| m.property(property::TRACE_SWITCH) != Some("false"))
            .collect();
        // 4.9.x brokers stamp no region on stored messages: such calls are still traced (as
        // the 4.9.x Java client does; 5.x drops them), in the default region.
        let region = traced
            .last()?
            .property(property::MSG_REGION)
            .filter(|r| !r.is_empty())
            .unwrap_or(DEFAULT_TRACE_REGION)
            .to_string();
        let request_id = UniqIdGenerator::global().next_id();
        let timestamp_ms = now_ms();
        let records = traced
            .iter()
            .map(|m| {
                TraceRecord::SubBefore(SubBeforeTrace {
                    timestamp_ms,
                    region_id: region.clone(),
                    group: group.to_string(),
                    request_id: request_id.clone(),
                    msg_id: m.msg_id().to_string(),
                    retry_times: m.reconsume_times,
                    keys: m.keys().map(str::to_string),
                })
            })
            .collect();
        let topic = without_namespace(namespace, &traced[0].topic);
        dispatcher.record(TraceEvent {
            topic: topic.clone(),
            records,
        });
        Some(Self {
            dispatcher: Arc::clone(dispatcher),
            request_id,
            group: group.to_string(),
            topic,
            messages: traced
                .iter()
                .map(|m| (m.msg_id().to_string(), m.keys().map(str::to_string)))
                .collect(),
            total: batch.len(),
            started: Instant::now(),
        })
    }

    /// Records the `SubAfter` records: how the call ended.
    pub(super) fn after(self, code: TraceConsumeCode) {
        let cost_ms = self.started.elapsed().as_millis() as u64 / self.total.max(1) as u64;
        let timestamp_ms = now_ms();
        let records = self
            .messages
            .into_iter()
            .map(|(msg_id, keys)| {
                TraceRecord::SubAfter(SubAfterTrace {
                    request_id: self.request_id.clone(),
                    msg_id,
                    cost_ms,
                    success: code == TraceConsumeCode::Success,
                    keys,
                    code,
                    timestamp_ms,
                    group: self.group.clone(),
                })
            })
            .collect();
        self.dispatcher.record(TraceEvent {
            topic: self.topic,
            records,
        });
    }
}
