package rmq.interop;

import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.selector.SelectMessageQueueByHash;
import org.apache.rocketmq.common.MQVersion;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Sends a fixed set of messages with Apache RocketMQ's own DefaultMQProducer.
 *
 * <pre>
 *   Produce NAMESRV TOPIC SPEC        SPEC: varied | count:N
 * </pre>
 *
 * Producer group "rmq_interop_producer_PID", synchronous sends one after another,
 * compressMsgBodyOverHowmuch 4096. One JSON line per message on stdout (flushed at once):
 * name, what was sent (topic, tags, keys, flag, user properties, body) and the SendResult
 * (msg_id, offset_msg_id, queue_id, queue_offset, broker, send_status), plus "compression":
 * the codec the client applies (zlib/lz4/zstd, body &gt;= 4096 bytes) or null.
 * Bodies are the application bodies, before compression.
 * On a failed send a line with "error" (and no SendResult fields) is printed instead.
 * stderr ends with "sent N ok M". Exit 0 iff every send returned SEND_OK, 1 otherwise, 2 on usage.
 *
 * varied: 12 messages on 5.x, 10 on 4.9.x (no LZ4/ZSTD there: the producer's setCompressType
 * is 5.x only, hence reflection). count:N: bodies "msg-I", tag TagA, key "kI", I = 0..N-1.
 * Java-8 compatible, client API of 4.9.3 .. 5.5.0.
 */
public final class Produce {

    static final int COMPRESS_OVER = 4096;

    /** One message to send, with the compression codec the producer is switched to for it. */
    static final class Spec {
        final String name;
        final Message msg;
        final Map<String, String> userProps = new LinkedHashMap<String, String>();
        final String codec; // null: producer default (ZLIB); "LZ4" / "ZSTD": 5.x only
        String orderKey; // non-null: sent with SelectMessageQueueByHash and this argument

        Spec(String name, Message msg, String codec) {
            this.name = name;
            this.msg = msg;
            this.codec = codec;
        }

        Spec prop(String k, String v) {
            msg.putUserProperty(k, v);
            userProps.put(k, v);
            return this;
        }
    }

    private Produce() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Produce <namesrv> <topic> <varied|count:N|ordered:K:N>");
            System.exit(2);
        }
        String namesrv = args[0];
        String topic = args[1];
        String spec = args[2];
        int count = -1;
        int orderKeys = 0;
        int first = 0;
        if (spec.startsWith("ordered:")) {
            String[] parts = spec.split(":");
            try {
                orderKeys = Integer.parseInt(parts[1]);
                count = Integer.parseInt(parts[2]);
                first = parts.length > 3 ? Integer.parseInt(parts[3]) : 0;
            } catch (RuntimeException e) {
                orderKeys = -1;
            }
            if (parts.length > 4 || orderKeys < 1 || count < 0 || first < 0) {
                System.err.println("Produce: ordered:K:N[:FIRST] needs integers K >= 1, N >= 0, FIRST >= 0");
                System.exit(2);
            }
        } else if (spec.startsWith("count:")) {
            try {
                count = Integer.parseInt(spec.substring("count:".length()));
            } catch (NumberFormatException e) {
                count = -2;
            }
            if (count < 0) {
                System.err.println("Produce: count:N needs an integer N >= 0");
                System.exit(2);
            }
        } else if (!spec.equals("varied")) {
            System.err.println("Produce: unknown spec '" + spec + "' (varied | count:N)");
            System.exit(2);
        }
        PrintStream out = JsonLine.takeStdout();

        int rc;
        try {
            rc = run(namesrv, topic, count, orderKeys, first, out);
        } catch (Throwable t) {
            out.flush();
            t.printStackTrace(System.err);
            rc = 1;
        }
        out.flush();
        System.err.flush();
        System.exit(rc);
    }

    private static int run(String namesrv, String topic, int count, int orderKeys, int first, PrintStream out)
        throws Exception {
        DefaultMQProducer producer = new DefaultMQProducer("rmq_interop_producer_" + JsonLine.pid());
        producer.setNamesrvAddr(namesrv);
        producer.setCompressMsgBodyOverHowmuch(COMPRESS_OVER);
        producer.setSendMsgTimeout(10000);

        Codecs codecs = Codecs.load();
        List<Spec> specs = orderKeys > 0 ? ordered(topic, orderKeys, first, count)
            : count >= 0 ? counted(topic, count) : varied(topic, codecs.available());
        System.err.println("Produce: client " + MQVersion.getVersionDesc(MQVersion.CURRENT_VERSION)
            + ", " + specs.size() + " messages to " + topic
            + (codecs.available() ? "" : " (no setCompressType: LZ4/ZSTD skipped)"));

        int ok = 0;
        int sent = 0;
        producer.start();
        try {
            for (Spec s : specs) {
                byte[] body = s.msg.getBody();
                String compression = null;
                if (body != null && body.length >= COMPRESS_OVER) {
                    compression = s.codec == null ? "zlib" : s.codec.toLowerCase();
                }
                JsonLine line = JsonLine.obj().put("name", s.name);
                try {
                    codecs.set(producer, s.codec == null ? "ZLIB" : s.codec);
                    SendResult r = s.orderKey == null ? producer.send(s.msg)
                        : producer.send(s.msg, new SelectMessageQueueByHash(), s.orderKey);
                    MessageQueue mq = r.getMessageQueue();
                    line.put("msg_id", r.getMsgId())
                        .put("offset_msg_id", r.getOffsetMsgId())
                        .put("queue_id", mq.getQueueId())
                        .put("queue_offset", r.getQueueOffset())
                        .put("broker", mq.getBrokerName())
                        .put("send_status", r.getSendStatus().name());
                    if (r.getSendStatus() == SendStatus.SEND_OK) {
                        ok++;
                    }
                } catch (Exception e) {
                    line.put("error", e.toString());
                    e.printStackTrace(System.err);
                } finally {
                    sent++;
                }
                line.put("topic", s.msg.getTopic())
                    .put("tags", s.msg.getTags())
                    .put("keys", s.msg.getKeys())
                    .put("flag", s.msg.getFlag())
                    .putMap("properties", userProperties(s.msg))
                    .putBase64("body_base64", body)
                    .put("body_len", body == null ? 0 : body.length)
                    .put("compression", compression)
                    .emit(out);
            }
        } finally {
            producer.shutdown();
        }
        System.err.println("sent " + sent + " ok " + ok);
        return ok == specs.size() ? 0 : 1;
    }

    /** The message's properties minus the system ones (MessageConst.STRING_HASH_SET). */
    static Map<String, String> userProperties(Message m) {
        Map<String, String> user = new LinkedHashMap<String, String>();
        if (m.getProperties() != null) {
            for (Map.Entry<String, String> e : m.getProperties().entrySet()) {
                if (!MessageConst.STRING_HASH_SET.contains(e.getKey())) {
                    user.put(e.getKey(), e.getValue());
                }
            }
        }
        return user;
    }

    /** Messages i = first..first+n-1 over K order keys "order-k": k = i % K, body "order-k-seq", seq = i / K. */
    static List<Spec> ordered(String topic, int keys, int first, int n) {
        List<Spec> specs = new ArrayList<Spec>(n);
        for (int i = first; i < first + n; i++) {
            String key = "order-" + (i % keys);
            Message m = new Message(topic, "TagA", key, utf8(key + "-" + (i / keys)));
            Spec s = new Spec("ordered-" + i, m, null);
            s.orderKey = key;
            specs.add(s);
        }
        return specs;
    }

    static List<Spec> counted(String topic, int n) {
        List<Spec> specs = new ArrayList<Spec>(n);
        for (int i = 0; i < n; i++) {
            Message m = new Message(topic, "TagA", "k" + i, utf8("msg-" + i));
            specs.add(new Spec("count-" + i, m, null));
        }
        return specs;
    }

    static List<Spec> varied(String topic, boolean withCodecs) {
        List<Spec> specs = new ArrayList<Spec>();
        specs.add(new Spec("tag-a", new Message(topic, "TagA", "k-single", utf8("hello from java: TagA")), null));

        Message multi = new Message(topic, "TagB", utf8("multiple keys"));
        multi.setKeys(Arrays.asList("k-multi-1", "k-multi-2", "k-multi-3"));
        specs.add(new Spec("tag-b-multi-keys", multi, null));

        specs.add(new Spec("no-tag", new Message(topic, utf8("no tag, no keys")), null));

        specs.add(new Spec("user-props", new Message(topic, "TagA", "k-props", utf8("user properties")), null)
            .prop("color", "red")
            .prop("unicode", "h\u00e9llo w\u00f6rld \u2013 \u65e5\u672c\u8a9e \ud83d\ude80")
            .prop("\u043a\u043b\u044e\u0447", "\u0437\u043d\u0430\u0447\u0435\u043d\u0438\u0435")
            .prop("with space", "a b  c")
            .prop("json-ish", "{\"a\":1,\"b\":\"x\\\\y\"}"));

        specs.add(new Spec("one-byte", new Message(topic, "TagB", new byte[] {0}), null));

        byte[] all = new byte[256];
        for (int i = 0; i < all.length; i++) {
            all[i] = (byte) i;
        }
        specs.add(new Spec("binary-256", new Message(topic, "TagA", "k-binary", all), null));

        specs.add(new Spec("zlib-64k", new Message(topic, "TagA", "k-zlib", compressible("zlib")), null));

        Message flagged = new Message(topic, "TagB", "k-flag", utf8("custom flag"));
        flagged.setFlag(0x2a5);
        specs.add(new Spec("flag", flagged, null));

        Message uni = new Message(topic, "TagA", utf8("Gr\u00fc\u00dfe, \u4e16\u754c \ud83c\udf0d"));
        uni.setKeys(Arrays.asList("\u8ba2\u5355-8", "\u043a\u043b\u044e\u0447-8"));
        specs.add(new Spec("unicode-body-keys", uni, null));

        byte[] below = new byte[COMPRESS_OVER - 1];
        for (int i = 0; i < below.length; i++) {
            below[i] = (byte) (i * 31 + 7);
        }
        specs.add(new Spec("below-threshold-4095", new Message(topic, "TagB", "k-below", below), null)
            .prop("size", "4095"));

        if (withCodecs) {
            specs.add(new Spec("lz4-64k", new Message(topic, "TagB", "k-lz4", compressible("lz4")), "LZ4"));
            specs.add(new Spec("zstd-64k", new Message(topic, "TagA", "k-zstd", compressible("zstd")), "ZSTD"));
        }
        return specs;
    }

    /** Exactly 64 KiB of repetitive text, distinct per label. */
    static byte[] compressible(String label) {
        StringBuilder sb = new StringBuilder(65536 + 64);
        for (int i = 0; sb.length() < 65536; i++) {
            sb.append(label).append(" rmq interop compressible line ").append(i).append('\n');
        }
        sb.setLength(65536);
        return utf8(sb.toString());
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** DefaultMQProducer.setCompressType(CompressionType) on 5.x, absent on 4.9.x. */
    static final class Codecs {
        private final Method setter;
        private final Class<?> type;
        private String current = "ZLIB";

        private Codecs(Method setter, Class<?> type) {
            this.setter = setter;
            this.type = type;
        }

        static Codecs load() {
            try {
                Class<?> type = Class.forName("org.apache.rocketmq.common.compression.CompressionType");
                return new Codecs(DefaultMQProducer.class.getMethod("setCompressType", type), type);
            } catch (ReflectiveOperationException | LinkageError e) {
                return new Codecs(null, null);
            }
        }

        boolean available() {
            return setter != null;
        }

        @SuppressWarnings({"unchecked", "rawtypes"})
        void set(DefaultMQProducer p, String name) throws ReflectiveOperationException {
            if (setter == null || name.equals(current)) {
                return;
            }
            setter.invoke(p, Enum.valueOf((Class) type, name));
            current = name;
        }
    }
}
