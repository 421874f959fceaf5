// Fixed-count send benchmark with the Java remoting client (org.apache.rocketmq:rocketmq-client),
// same flags and same one-line output as bench/go/main.go and bench/rmq-bench:
//
//   java-client sent=N failed=F elapsed_s=X tps=Y p50_ms=A p99_ms=B max_ms=C
//
// `-w` threads share one DefaultMQProducer; each takes the next message number until `-q`
// messages were attempted; latency per successful send via System.nanoTime(). A warm-up send
// (route, connection) comes before the clock starts. No compression, 2 retries, 3 s timeout.
// Run through bench/run (or bench/java/run.sh).
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;

public final class JavaBench {
    private static final int MAX_ERRORS_SHOWN = 5;

    public static void main(String[] args) throws Exception {
        String ns = "127.0.0.1:9876", topic = "BenchmarkTest", group = "bench_java_producer";
        int workers = 16, size = 128;
        long total = 100_000;
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("missing value for " + args[i]);
            }
            switch (args[i]) {
                case "-n": ns = args[i + 1]; break;
                case "-t": topic = args[i + 1]; break;
                case "-w": workers = Integer.parseInt(args[i + 1]); break;
                case "-s": size = Integer.parseInt(args[i + 1]); break;
                case "-q": total = Long.parseLong(args[i + 1]); break;
                case "--group": group = args[i + 1]; break;
                default: throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("-q too large");
        }
        DefaultMQProducer p = new DefaultMQProducer(group);
        p.setNamesrvAddr(ns);                       // always: null means "ask the HTTP address server"
        p.setInstanceName("bench-" + ProcessHandle.current().pid());
        p.setRetryTimesWhenSendFailed(2);
        p.setSendMsgTimeout(3000);
        p.setCompressMsgBodyOverHowmuch(Integer.MAX_VALUE);
        p.start();
        byte[] body = new byte[size];
        for (int i = 0; i < size; i++) {
            body[i] = (byte) ('a' + i % 26);
        }
        p.send(new Message(topic, body));           // warm-up: route, connection, topic auto-create

        final String t = topic;
        final long n = total;
        AtomicLong next = new AtomicLong(), failed = new AtomicLong();
        String[] errors = new String[MAX_ERRORS_SHOWN];
        long[] lat = new long[(int) n];             // slot i = latency of message i (0 = failed)
        Thread[] threads = new Thread[workers];
        long start = System.nanoTime();
        for (int w = 0; w < workers; w++) {
            threads[w] = new Thread(() -> {
                long i;
                while ((i = next.getAndIncrement()) < n) {
                    long t0 = System.nanoTime();
                    String err = null;
                    try {
                        SendResult r = p.send(new Message(t, body));
                        if (r.getSendStatus() != SendStatus.SEND_OK) {
                            err = "status " + r.getSendStatus();
                        }
                    } catch (Exception e) {
                        err = e.toString();
                    }
                    if (err != null) {
                        long f = failed.getAndIncrement();
                        if (f < MAX_ERRORS_SHOWN) {
                            errors[(int) f] = err;
                        }
                        continue;
                    }
                    lat[(int) i] = System.nanoTime() - t0 + 1;
                }
            }, "bench-" + w);
            threads[w].start();
        }
        for (Thread th : threads) {
            th.join();
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        p.shutdown();
        for (String e : errors) {
            if (e != null) {
                System.err.println("JavaBench: send failed: " + e.split("\n", 2)[0]);
            }
        }
        long[] all = Arrays.stream(lat).filter(v -> v > 0).sorted().toArray();
        System.out.printf("java-client sent=%d failed=%d elapsed_s=%.3f tps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f%n",
            all.length, failed.get(), elapsed, all.length / elapsed,
            pct(all, 0.50), pct(all, 0.99), pct(all, 1.0));
        System.exit(0);                             // client threads (netty, scheduled) may linger
    }

    private static double pct(long[] sorted, double q) {
        return sorted.length == 0 ? 0 : sorted[(int) (q * (sorted.length - 1))] / 1e6;
    }
}
