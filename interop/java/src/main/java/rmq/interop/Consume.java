package rmq.interop;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageClientExt;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Reads back every message of a topic with Apache RocketMQ's own Java client.
 *
 * <pre>
 *   Consume NAMESRV TOPIC EXPECTED_COUNT TIMEOUT_MS
 * </pre>
 *
 * Uses a {@link DefaultLitePullConsumer} in assign mode (no rebalance) with a fresh consumer
 * group (so every queue starts at its first offset), all queues of the topic assigned, no offset
 * commits.
 * Polls until EXPECTED_COUNT messages arrived or TIMEOUT_MS passed (EXPECTED_COUNT 0: polls the
 * whole timeout and expects nothing). Prints one JSON object per message on stdout, sorted by
 * (queue_id, queue_offset, store_host), then "consumed N" on stderr. Exit 0 iff N == EXPECTED_COUNT,
 * 3 otherwise, 2 on usage errors, 1 on other failures.
 *
 * Bodies are printed as the client hands them to the application (the client inflates compressed
 * bodies; sys_flag is printed as decoded). Source is Java-8 compatible and only uses client API
 * present in 4.9.3 .. 5.5.0.
 */
public final class Consume {

    private Consume() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: Consume <namesrv> <topic> <expectedCount> <timeoutMs>");
            System.exit(2);
        }
        String namesrv = args[0];
        String topic = args[1];
        int expected;
        long timeoutMs;
        try {
            expected = Integer.parseInt(args[2]);
            timeoutMs = Long.parseLong(args[3]);
        } catch (NumberFormatException e) {
            System.err.println("Consume: expectedCount and timeoutMs must be integers");
            System.exit(2);
            return;
        }
        if (expected < 0 || timeoutMs < 0) {
            System.err.println("Consume: expectedCount and timeoutMs must be >= 0");
            System.exit(2);
        }
        // Keep stdout for the JSON lines only (System.out is swapped before the client loads).
        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        System.setOut(System.err);
        quiet4x();

        int rc;
        try {
            rc = run(namesrv, topic, expected, timeoutMs, out);
        } catch (Throwable t) {
            out.flush();
            t.printStackTrace(System.err);
            rc = 1;
        }
        out.flush();
        System.err.flush();
        System.exit(rc);
    }

    private static int run(String namesrv, String topic, int expected, long timeoutMs, PrintStream out)
        throws Exception {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        String unique = pid() + "_" + Long.toHexString(System.nanoTime()) + "_"
            + Integer.toHexString((int) (Math.random() * 0x7fffffff));

        DefaultLitePullConsumer consumer = new DefaultLitePullConsumer("rmq_interop_consume_" + unique);
        consumer.setNamesrvAddr(namesrv);
        consumer.setInstanceName("rmq_interop_consume_" + unique);
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.setAutoCommit(false);
        consumer.setPollTimeoutMillis(200);

        // offset message id (store host + commit log offset) -> message; drops any redelivery.
        Map<String, MessageExt> got = new LinkedHashMap<String, MessageExt>();
        consumer.start();
        try {
            Collection<MessageQueue> queues = fetchQueues(consumer, topic, deadline);
            if (queues != null) {
                // A fresh group has no stored offset, so CONSUME_FROM_FIRST_OFFSET starts every queue at 0
                // (should the queue's minimum be above 0, the
                // broker answers OFFSET_ILLEGAL and the client continues at nextBeginOffset; not exercised).
                // No seekToBegin(): seek interrupts the queue's running pull task, and that interrupt
                // can close the shared broker channel under concurrent requests (seen on 5.3.3: seek's
                // own minOffset call then fails with "send request to <127.0.0.1:10911> failed").
                consumer.assign(new ArrayList<MessageQueue>(queues));
                while ((expected == 0 || got.size() < expected) && System.nanoTime() < deadline) {
                    long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000L);
                    for (MessageExt m : consumer.poll(Math.min(left, 200))) {
                        got.put(offsetMsgId(m), m);
                    }
                }
            }
        } finally {
            consumer.shutdown();
        }

        List<MessageExt> msgs = new ArrayList<MessageExt>(got.values());
        Collections.sort(msgs, new Comparator<MessageExt>() {
            @Override
            public int compare(MessageExt a, MessageExt b) {
                if (a.getQueueId() != b.getQueueId()) {
                    return a.getQueueId() < b.getQueueId() ? -1 : 1;
                }
                if (a.getQueueOffset() != b.getQueueOffset()) {
                    return a.getQueueOffset() < b.getQueueOffset() ? -1 : 1;
                }
                return hostPort(a.getStoreHost()).compareTo(hostPort(b.getStoreHost()));
            }
        });
        for (MessageExt m : msgs) {
            out.println(toJson(m));
        }
        out.flush();
        System.err.println("consumed " + msgs.size());
        return msgs.size() == expected ? 0 : 3;
    }

    /**
     * 4.9.x logs through rocketmq-logging's own logger, which prints "RocketMQLog:WARN No appenders
     * could be found for logger (io.netty...)" on stderr (Netty's loggers have no appender there).
     * Its quiet mode has no system property, hence reflection; the class is absent on 5.x.
     */
    private static void quiet4x() {
        try {
            Class.forName("org.apache.rocketmq.logging.inner.SysLogger")
                .getMethod("setQuietMode", boolean.class).invoke(null, Boolean.TRUE);
        } catch (ReflectiveOperationException | LinkageError e) {
            // 5.x: logback, nothing to silence
        }
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
                System.err.println("Consume: no route for topic " + topic
                    + (last != null ? ": " + last.getErrorMessage() : ""));
                return null;
            }
            Thread.sleep(200);
        }
    }

    private static String offsetMsgId(MessageExt m) {
        return m instanceof MessageClientExt ? ((MessageClientExt) m).getOffsetMsgId() : m.getMsgId();
    }

    static String toJson(MessageExt m) {
        StringBuilder sb = new StringBuilder(256);
        byte[] body = m.getBody();
        if (body == null) {
            body = new byte[0];
        }
        sb.append('{');
        field(sb, "topic").append(str(m.getTopic()));
        sb.append(',');
        field(sb, "tags").append(str(m.getTags()));
        sb.append(',');
        field(sb, "keys").append(str(m.getKeys()));
        sb.append(',');
        field(sb, "body_hex").append('"').append(hex(body)).append('"');
        sb.append(',');
        field(sb, "body_len").append(body.length);
        sb.append(',');
        field(sb, "properties").append('{');
        Map<String, String> props = m.getProperties() == null
            ? new TreeMap<String, String>() : new TreeMap<String, String>(m.getProperties());
        boolean first = true;
        for (Map.Entry<String, String> e : props.entrySet()) {
            if (!first) {
                sb.append(',');
            }
            first = false;
            sb.append(str(e.getKey())).append(':').append(str(e.getValue()));
        }
        sb.append('}');
        sb.append(',');
        field(sb, "sys_flag").append(m.getSysFlag());
        sb.append(',');
        field(sb, "born_host").append(str(hostPort(m.getBornHost())));
        sb.append(',');
        field(sb, "store_host").append(str(hostPort(m.getStoreHost())));
        sb.append(',');
        field(sb, "queue_id").append(m.getQueueId());
        sb.append(',');
        field(sb, "queue_offset").append(m.getQueueOffset());
        sb.append(',');
        field(sb, "msg_id").append(str(m.getMsgId()));
        sb.append(',');
        field(sb, "offset_msg_id").append(str(offsetMsgId(m)));
        sb.append(',');
        field(sb, "reconsume_times").append(m.getReconsumeTimes());
        sb.append(',');
        field(sb, "delay_level").append(m.getDelayTimeLevel());
        sb.append(',');
        field(sb, "flag").append(m.getFlag());
        sb.append(',');
        field(sb, "body_crc").append(m.getBodyCRC());
        sb.append(',');
        field(sb, "commit_log_offset").append(m.getCommitLogOffset());
        sb.append(',');
        field(sb, "born_timestamp").append(m.getBornTimestamp());
        sb.append(',');
        field(sb, "store_timestamp").append(m.getStoreTimestamp());
        sb.append('}');
        return sb.toString();
    }

    private static StringBuilder field(StringBuilder sb, String name) {
        return sb.append('"').append(name).append("\":");
    }

    /** JSON string literal (or null); control characters (and DEL) as lowercase backslash-u00xx. */
    static String str(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder(s.length() + 2);
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20 || c == 0x7f) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    private static String hex(byte[] b) {
        char[] digits = "0123456789abcdef".toCharArray();
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(digits[(x >> 4) & 0xf]).append(digits[x & 0xf]);
        }
        return sb.toString();
    }

    /** "ip:port" ("[ip6]:port" for IPv6). */
    private static String hostPort(SocketAddress a) {
        if (a == null) {
            return "";
        }
        if (a instanceof InetSocketAddress) {
            InetSocketAddress isa = (InetSocketAddress) a;
            InetAddress ip = isa.getAddress();
            String host = ip != null ? ip.getHostAddress() : isa.getHostString();
            if (host.indexOf(':') >= 0) {
                host = "[" + host + "]";
            }
            return host + ":" + isa.getPort();
        }
        return a.toString();
    }

    private static String pid() {
        String name = ManagementFactory.getRuntimeMXBean().getName();
        int at = name.indexOf('@');
        return at > 0 ? name.substring(0, at) : name;
    }
}
