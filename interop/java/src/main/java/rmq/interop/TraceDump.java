package rmq.interop;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.trace.TraceBean;
import org.apache.rocketmq.client.trace.TraceContext;
import org.apache.rocketmq.client.trace.TraceDataEncoder;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Reads a trace topic with Apache RocketMQ's own Java client and decodes every trace message
 * with Java's own decoder, {@code TraceDataEncoder.decoderFromTraceDataString}.
 *
 * <pre>
 *   TraceDump NAMESRV TRACE_TOPIC TIMEOUT_MS TYPE:MSG_ID...
 * </pre>
 *
 * Reads every queue of TRACE_TOPIC from its first offset (lite pull, assign mode, fresh group,
 * nothing committed) until, for every TYPE:MSG_ID given, a record of that type (Pub, SubBefore,
 * SubAfter, EndTransaction) about that message id was decoded — as many as the argument is
 * given, so a message handled twice can be waited for — or TIMEOUT_MS passed. Prints
 * one JSON object per decoded record about one of the given ids (with the trace message's
 * KEYS), and one {"decode_error": …} object per trace message Java could not decode.
 * Exit 0 iff every TYPE:MSG_ID was seen and nothing failed to decode, 3 otherwise, 2 on usage
 * errors, 1 on other failures. Java-8 compatible; client API of 4.9.3 .. 5.5.0.
 */
public final class TraceDump {

    private TraceDump() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: TraceDump <namesrv> <traceTopic> <timeoutMs> <type:msgId>...");
            System.exit(2);
        }
        long timeoutMs;
        try {
            timeoutMs = Long.parseLong(args[2]);
        } catch (NumberFormatException e) {
            System.err.println("TraceDump: timeoutMs must be an integer");
            System.exit(2);
            return;
        }
        Map<String, Integer> wanted = new HashMap<String, Integer>();
        Set<String> ids = new HashSet<String>();
        for (int i = 3; i < args.length; i++) {
            int colon = args[i].indexOf(':');
            if (colon <= 0) {
                System.err.println("TraceDump: expected TYPE:MSG_ID, got " + args[i]);
                System.exit(2);
            }
            Integer n = wanted.get(args[i]);
            wanted.put(args[i], n == null ? 1 : n + 1);
            ids.add(args[i].substring(colon + 1));
        }
        PrintStream out = JsonLine.takeStdout();
        int rc;
        try {
            rc = run(args[0], args[1], timeoutMs, wanted, ids, out);
        } catch (Throwable t) {
            out.flush();
            t.printStackTrace(System.err);
            rc = 1;
        }
        out.flush();
        System.err.flush();
        System.exit(rc);
    }

    private static int run(String namesrv, String topic, long timeoutMs, Map<String, Integer> wanted,
        Set<String> ids, PrintStream out) throws Exception {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        String unique = JsonLine.pid() + "_" + Long.toHexString(System.nanoTime());
        DefaultLitePullConsumer consumer = new DefaultLitePullConsumer("rmq_interop_trace_dump_" + unique);
        consumer.setNamesrvAddr(namesrv);
        consumer.setInstanceName("rmq_interop_trace_dump_" + unique);
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.setAutoCommit(false);
        consumer.setPollTimeoutMillis(200);
        Map<String, Integer> seen = new HashMap<String, Integer>();
        Set<String> messages = new HashSet<String>();
        int decodeErrors = 0;
        consumer.start();
        try {
            Collection<MessageQueue> queues = fetchQueues(consumer, topic, deadline);
            if (queues == null) {
                return 3;
            }
            consumer.assign(new ArrayList<MessageQueue>(queues));
            while (!allSeen(wanted, seen) && System.nanoTime() < deadline) {
                for (MessageExt m : consumer.poll(200)) {
                    if (!messages.add(m.getMsgId())) {
                        continue;
                    }
                    String body = new String(m.getBody(), StandardCharsets.UTF_8);
                    List<TraceContext> contexts;
                    try {
                        contexts = TraceDataEncoder.decoderFromTraceDataString(body);
                    } catch (RuntimeException e) {
                        decodeErrors++;
                        out.println(JsonLine.obj().put("decode_error", String.valueOf(e))
                            .put("body", body.replace((char) 1, '|').replace((char) 2, '#')).toString());
                        continue;
                    }
                    for (TraceContext c : contexts) {
                        for (TraceBean b : c.getTraceBeans()) {
                            if (!ids.contains(b.getMsgId())) {
                                continue;
                            }
                            String key = c.getTraceType() + ":" + b.getMsgId();
                            Integer n = seen.get(key);
                            seen.put(key, n == null ? 1 : n + 1);
                            out.println(toJson(c, b, m.getKeys()));
                        }
                    }
                }
            }
        } finally {
            consumer.shutdown();
        }
        out.flush();
        List<String> missing = new ArrayList<String>();
        for (Map.Entry<String, Integer> w : wanted.entrySet()) {
            Integer n = seen.get(w.getKey());
            if (n == null || n < w.getValue()) {
                missing.add(w.getKey() + " (" + (n == null ? 0 : n) + " of " + w.getValue() + ")");
            }
        }
        System.err.println("trace records seen " + seen + ", missing " + missing + ", decode errors "
            + decodeErrors);
        return missing.isEmpty() && decodeErrors == 0 ? 0 : 3;
    }

    private static boolean allSeen(Map<String, Integer> wanted, Map<String, Integer> seen) {
        for (Map.Entry<String, Integer> w : wanted.entrySet()) {
            Integer n = seen.get(w.getKey());
            if (n == null || n < w.getValue()) {
                return false;
            }
        }
        return true;
    }

    private static String toJson(TraceContext c, TraceBean b, String keys) {
        return JsonLine.obj()
            .put("type", String.valueOf(c.getTraceType()))
            .put("timestamp", c.getTimeStamp())
            .put("region", c.getRegionId())
            .put("group", c.getGroupName())
            .put("cost_ms", c.getCostTime())
            .put("success", c.isSuccess())
            .put("request_id", c.getRequestId())
            .put("context_code", c.getContextCode())
            .put("topic", b.getTopic())
            .put("msg_id", b.getMsgId())
            .put("offset_msg_id", b.getOffsetMsgId())
            .put("tags", b.getTags())
            .put("keys", b.getKeys())
            .put("store_host", b.getStoreHost())
            .put("body_length", b.getBodyLength())
            .put("msg_type", String.valueOf(b.getMsgType()))
            .put("retry_times", b.getRetryTimes())
            .put("transaction_id", b.getTransactionId())
            .put("transaction_state", String.valueOf(b.getTransactionState()))
            .put("from_transaction_check", b.isFromTransactionCheck())
            .put("trace_message_keys", keys)
            .toString();
    }

    /** The topic's queues; retried until the deadline (the topic may not exist yet). */
    private static Collection<MessageQueue> fetchQueues(DefaultLitePullConsumer consumer, String topic, long deadline)
        throws InterruptedException {
        MQClientException last = null;
        while (true) {
            try {
                Collection<MessageQueue> queues = consumer.fetchMessageQueues(topic);
                if (queues != null && !queues.isEmpty()) {
                    return queues;
                }
            } catch (MQClientException e) {
                last = e;
            }
            if (System.nanoTime() >= deadline) {
                System.err.println("TraceDump: no route for topic " + topic
                    + (last != null ? ": " + last.getErrorMessage() : ""));
                return null;
            }
            Thread.sleep(200);
        }
    }
}
