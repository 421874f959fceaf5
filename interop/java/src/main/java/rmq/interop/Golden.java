package rmq.interop;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.rocketmq.remoting.protocol.LanguageCode;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.apache.rocketmq.remoting.protocol.SerializeType;

/**
 * Golden wire vectors produced / decoded by Apache RocketMQ's own RemotingCommand.
 *
 * <pre>
 *   encode    print "# rocketmq-remoting VERSION" then "NAME HEX" per vector (HEX = full frame incl. length prefix)
 *   decode    read "NAME HEX" lines from stdin, print one canonical line per frame
 *   describe  encode, then decode that output in-process and print the canonical lines
 * </pre>
 *
 * Source is kept Java-8 compatible and only uses API present in rocketmq-remoting 4.9.3 .. 5.5.0;
 * version-specific API (fastEncodeHeader) is reached by reflection.
 */
public final class Golden {

    private static final int VERSION_399 = 399;

    private Golden() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Golden encode|decode|describe");
            System.exit(2);
        }
        PrintWriter out = new PrintWriter(new OutputStreamWriter(new PrintStream(System.out, false, "UTF-8"),
            StandardCharsets.UTF_8));
        int rc = 0;
        switch (args[0]) {
            case "encode":
                out.println("# rocketmq-remoting " + remotingVersion());
                for (String[] line : encodeAll()) {
                    out.println(line[0] + " " + line[1]);
                }
                break;
            case "decode": {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                List<String> lines = new ArrayList<String>();
                String l;
                while ((l = in.readLine()) != null) {
                    lines.add(l);
                }
                rc = decodeLines(lines, out);
                break;
            }
            case "describe": {
                List<String> lines = new ArrayList<String>();
                for (String[] line : encodeAll()) {
                    lines.add(line[0] + " " + line[1]);
                }
                rc = decodeLines(lines, out);
                break;
            }
            default:
                System.err.println("unknown mode: " + args[0]);
                rc = 2;
        }
        out.flush();
        System.exit(rc);
    }

    // ------------------------------------------------------------------ vectors

    private static RemotingCommand request(int code, int opaque, SerializeType type) {
        RemotingCommand cmd = RemotingCommand.createRequestCommand(code, null);
        cmd.setOpaque(opaque);
        cmd.setVersion(VERSION_399);
        cmd.setLanguage(LanguageCode.JAVA);
        cmd.setSerializeTypeCurrentRPC(type);
        return cmd;
    }

    private static RemotingCommand response(int code, String remark, int opaque, SerializeType type) {
        RemotingCommand cmd = RemotingCommand.createResponseCommand(code, remark);
        cmd.setOpaque(opaque);
        cmd.setVersion(VERSION_399);
        cmd.setLanguage(LanguageCode.JAVA);
        cmd.setSerializeTypeCurrentRPC(type);
        return cmd;
    }

    /**
     * extFields as a plain java.util.HashMap with default capacity: this is the map
     * makeCustomHeaderToNet() creates in every version, so key order on the wire is
     * Java HashMap iteration order, as with the real client.
     */
    private static void ext(RemotingCommand cmd, String... kv) {
        HashMap<String, String> m = new HashMap<String, String>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        cmd.setExtFields(m);
    }

    private static List<Object[]> vectors() {
        List<Object[]> v = new ArrayList<Object[]>();
        SerializeType[] both = {SerializeType.JSON, SerializeType.ROCKETMQ};

        for (SerializeType t : both) {
            RemotingCommand c = request(105, 1, t);
            ext(c, "topic", "TopicTest");
            v.add(new Object[] {"route_" + suffix(t), c});
        }
        for (SerializeType t : both) {
            RemotingCommand c = request(310, 7, t);
            ext(c,
                "a", "yyzGroup2",
                "b", "yyztest2",
                "c", "TBW102",
                "d", "4",
                "e", "0",
                "f", "0",
                "g", "1491978653614",
                "h", "0",
                "i", "TAGS\u0001TAG\u0002WAIT\u0001true\u0002KEYS\u0001ffff",
                "j", "0",
                "k", "false",
                "n", "broker-a");
            c.setBody("hello rocketmq".getBytes(StandardCharsets.UTF_8));
            v.add(new Object[] {"send_v2_" + suffix(t), c});
        }
        for (SerializeType t : both) {
            RemotingCommand c = response(0, "ok", 7, t);
            ext(c, "msgId", "7F00000100002A9F0000000000000000", "queueId", "3", "queueOffset", "42");
            byte[] body = new byte[16];
            for (int i = 0; i < body.length; i++) {
                body[i] = (byte) i;
            }
            c.setBody(body);
            v.add(new Object[] {"response_" + suffix(t), c});
        }
        for (SerializeType t : both) {
            RemotingCommand c = request(37, -5, t);
            c.markOnewayRPC();
            c.setRemark("\u4e2d\u6587 remark \u2713");
            v.add(new Object[] {"oneway_" + suffix(t), c});
        }
        {
            RemotingCommand c = response(17, "No topic route info in name server for the topic: X", 2147483647,
                SerializeType.JSON);
            v.add(new Object[] {"error_json", c});
        }
        for (SerializeType t : both) {
            RemotingCommand c = request(106, 0, t);
            v.add(new Object[] {"empty_" + suffix(t), c});
        }
        {
            RemotingCommand c = request(34, 3, SerializeType.JSON);
            c.setLanguage(LanguageCode.JAVA);
            c.setBody(("{\"clientID\":\"127.0.0.1@1#1\",\"consumerDataSet\":[],\"producerDataSet\":"
                + "[{\"groupName\":\"CLIENT_INNER_PRODUCER\"},{\"groupName\":\"g\"}]}").getBytes(StandardCharsets.UTF_8));
            v.add(new Object[] {"heartbeat_json", c});
        }
        {
            RemotingCommand c = request(105, 1, SerializeType.JSON);
            c.setLanguage(LanguageCode.GO);
            c.setVersion(317);
            ext(c, "topic", "T");
            v.add(new Object[] {"go_version_json", c});
        }
        {
            RemotingCommand c = request(105, 9, SerializeType.JSON);
            ext(c,
                "quote", "a\"b",
                "backslash", "a\\b",
                "tab", "a\tb",
                "ctrl", "a\u0001b",
                "slash", "a/b");
            v.add(new Object[] {"ext_escape_json", c});
        }
        return v;
    }

    private static String suffix(SerializeType t) {
        return t == SerializeType.JSON ? "json" : "rocketmq";
    }

    private static List<String[]> encodeAll() throws Exception {
        List<String[]> r = new ArrayList<String[]>();
        for (Object[] nv : vectors()) {
            String name = (String) nv[0];
            RemotingCommand cmd = (RemotingCommand) nv[1];
            byte[] viaEncode = toBytes(cmd.encode());
            byte[] viaNetty = nettyEncoderBytes(cmd);
            byte[] chosen = viaEncode;
            if (!Arrays.equals(viaEncode, viaNetty)) {
                System.err.println("WARN " + name + ": RemotingCommand.encode() differs from the NettyEncoder path;"
                    + " using NettyEncoder bytes\n  encode(): " + hex(viaEncode) + "\n  netty:    " + hex(viaNetty));
                chosen = viaNetty;
            }
            r.add(new String[] {name, hex(chosen)});
        }
        return r;
    }

    /**
     * What this version's NettyEncoder writes: 4.9.4+ / 5.x call fastEncodeHeader(ByteBuf) then the body;
     * 4.9.3 writes encodeHeader() then the body.
     */
    private static byte[] nettyEncoderBytes(RemotingCommand cmd) throws Exception {
        Method fast = null;
        try {
            fast = RemotingCommand.class.getMethod("fastEncodeHeader", ByteBuf.class);
        } catch (NoSuchMethodException e) {
            // 4.9.3
        }
        byte[] body = cmd.getBody();
        if (fast != null) {
            ByteBuf buf = Unpooled.buffer();
            try {
                fast.invoke(cmd, buf);
                if (body != null) {
                    buf.writeBytes(body);
                }
                byte[] b = new byte[buf.readableBytes()];
                buf.readBytes(b);
                return b;
            } finally {
                buf.release();
            }
        }
        byte[] header = toBytes(cmd.encodeHeader());
        if (body == null) {
            return header;
        }
        byte[] all = Arrays.copyOf(header, header.length + body.length);
        System.arraycopy(body, 0, all, header.length, body.length);
        return all;
    }

    private static byte[] toBytes(ByteBuffer bb) {
        ByteBuffer d = bb.duplicate();
        byte[] b = new byte[d.remaining()];
        d.get(b);
        return b;
    }

    // ------------------------------------------------------------------ decode

    private static int decodeLines(List<String> lines, PrintWriter out) {
        int rc = 0;
        for (String raw : lines) {
            String line = raw.trim();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] parts = line.split("\\s+");
            String name = parts[0];
            try {
                if (parts.length != 2) {
                    throw new IllegalArgumentException("expected '<name> <hex>'");
                }
                byte[] frame = unhex(parts[1]);
                if (frame.length < 8) {
                    throw new IllegalArgumentException("frame shorter than 8 bytes");
                }
                int declared = ByteBuffer.wrap(frame, 0, 4).getInt();
                if (declared != frame.length - 4) {
                    throw new IllegalArgumentException(
                        "length prefix " + declared + " != bytes after prefix " + (frame.length - 4));
                }
                // RemotingCommand.decode expects the frame WITHOUT the length prefix
                // (NettyDecoder = LengthFieldBasedFrameDecoder(..., initialBytesToStrip = 4)) in 4.9.x and 5.x.
                RemotingCommand cmd = RemotingCommand.decode(Arrays.copyOfRange(frame, 4, frame.length));
                out.println(canonical(name, cmd));
            } catch (Throwable e) {
                rc = 1;
                out.println(name + " ERROR " + e.getClass().getName() + ": "
                    + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
        return rc;
    }

    private static String canonical(String name, RemotingCommand cmd) {
        StringBuilder sb = new StringBuilder();
        sb.append(name)
            .append(" code=").append(cmd.getCode())
            .append(" flag=").append(cmd.getFlag())
            .append(" opaque=").append(cmd.getOpaque())
            .append(" version=").append(cmd.getVersion())
            .append(" language=").append(cmd.getLanguage() == null ? "null" : cmd.getLanguage().name())
            .append(" serializeType=").append(cmd.getSerializeTypeCurrentRPC() == null ? "null"
                : cmd.getSerializeTypeCurrentRPC().name())
            .append(" remark=").append(quote(cmd.getRemark()))
            .append(" ext=");
        Map<String, String> ext = cmd.getExtFields();
        sb.append('{');
        if (ext != null) {
            boolean first = true;
            for (Map.Entry<String, String> e : new TreeMap<String, String>(ext).entrySet()) {
                if (!first) {
                    sb.append(',');
                }
                first = false;
                sb.append(quote(e.getKey())).append(':').append(quote(e.getValue()));
            }
        }
        sb.append('}');
        sb.append(" body=").append(cmd.getBody() == null ? "" : hex(cmd.getBody()));
        return sb.toString();
    }

    /** Minimal JSON quoting: only '"', '\\' and control chars (< 0x20) are escaped (as backslash-u00xx, lowercase). */
    static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder(s.length() + 2);
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    // ------------------------------------------------------------------ helpers

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    static String hex(byte[] b) {
        char[] c = new char[b.length * 2];
        for (int i = 0; i < b.length; i++) {
            c[2 * i] = HEX[(b[i] >> 4) & 0xf];
            c[2 * i + 1] = HEX[b[i] & 0xf];
        }
        return new String(c);
    }

    static byte[] unhex(String s) {
        if (s.length() % 2 != 0) {
            throw new IllegalArgumentException("odd-length hex");
        }
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            int hi = Character.digit(s.charAt(2 * i), 16);
            int lo = Character.digit(s.charAt(2 * i + 1), 16);
            if (hi < 0 || lo < 0) {
                throw new IllegalArgumentException("bad hex at offset " + (2 * i));
            }
            b[i] = (byte) ((hi << 4) | lo);
        }
        return b;
    }

    private static String remotingVersion() {
        String res = "META-INF/maven/org.apache.rocketmq/rocketmq-remoting/pom.properties";
        try (InputStream in = RemotingCommand.class.getClassLoader().getResourceAsStream(res)) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version");
                if (v != null) {
                    return v;
                }
            }
        } catch (Exception e) {
            // fall through
        }
        String v = RemotingCommand.class.getPackage().getImplementationVersion();
        return v != null ? v : "unknown";
    }
}
