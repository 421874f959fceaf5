package rmq.interop;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.util.Base64;
import java.util.Collection;
import java.util.Map;
import java.util.TreeMap;

/**
 * One JSON object, built field by field, for the line-oriented interop programs
 * (Produce, PushConsume). Also their shared bits: the stdout swap, 4.9.x log silencing, pid.
 * Java-8 compatible.
 */
final class JsonLine {

    private final StringBuilder sb = new StringBuilder(256).append('{');
    private boolean first = true;

    private JsonLine key(String name) {
        if (!first) {
            sb.append(',');
        }
        first = false;
        sb.append(str(name)).append(':');
        return this;
    }

    JsonLine put(String name, String value) {
        key(name).sb.append(str(value));
        return this;
    }

    JsonLine put(String name, long value) {
        key(name).sb.append(value);
        return this;
    }

    JsonLine put(String name, boolean value) {
        key(name).sb.append(value);
        return this;
    }

    JsonLine putStrings(String name, Collection<String> values) {
        key(name).sb.append('[');
        boolean f = true;
        for (String v : values) {
            if (!f) {
                sb.append(',');
            }
            f = false;
            sb.append(str(v));
        }
        sb.append(']');
        return this;
    }

    /** A string map as a JSON object, keys sorted. */
    JsonLine putMap(String name, Map<String, String> values) {
        key(name).sb.append('{');
        boolean f = true;
        for (Map.Entry<String, String> e : new TreeMap<String, String>(values).entrySet()) {
            if (!f) {
                sb.append(',');
            }
            f = false;
            sb.append(str(e.getKey())).append(':').append(str(e.getValue()));
        }
        sb.append('}');
        return this;
    }

    JsonLine putBase64(String name, byte[] value) {
        return put(name, value == null ? null : Base64.getEncoder().encodeToString(value));
    }

    @Override
    public String toString() {
        return sb.toString() + '}';
    }

    /** Prints the object as one line and flushes at once (readers consume lines live). */
    void emit(PrintStream out) {
        String line = toString();
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }

    /** JSON string literal (or null); control characters (and DEL) as lowercase backslash-u00xx. */
    static String str(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder(s.length() + 2);
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20 || c == 0x7f) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    /**
     * Keeps the real stdout for JSON lines only: returns a UTF-8 stream on it and points
     * System.out at stderr (call before the client classes load), silences 4.9.x's own logger.
     */
    static PrintStream takeStdout() throws java.io.UnsupportedEncodingException {
        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        System.setOut(System.err);
        try {
            // 4.9.x logs through rocketmq-logging ("RocketMQLog:WARN No appenders ..." on stderr);
            // its quiet mode has no system property. The class is absent on 5.x (logback).
            Class.forName("org.apache.rocketmq.logging.inner.SysLogger")
                .getMethod("setQuietMode", boolean.class).invoke(null, Boolean.TRUE);
        } catch (ReflectiveOperationException | LinkageError e) {
            // 5.x: nothing to silence
        }
        return out;
    }

    static String pid() {
        String name = ManagementFactory.getRuntimeMXBean().getName();
        int at = name.indexOf('@');
        return at > 0 ? name.substring(0, at) : name;
    }

    private JsonLine() {
    }

    static JsonLine obj() {
        return new JsonLine();
    }
}
