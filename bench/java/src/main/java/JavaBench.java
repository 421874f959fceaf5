// The Java client's side of bench/run, with the remoting client
// (org.apache.rocketmq:rocketmq-client, 5.5.0 by default): the same workloads, flags and one-line
// JSON report as bench/go, bench/rust-peer and `rmq bench --json`.
//
//   JavaBench produce -n NS -t TOPIC -s SIZE -c CONCURRENCY -q COUNT
//             [--mode sync|async] [--batch N] [--warmup N] [--group G]
//   JavaBench consume -n NS -t TOPIC -q COUNT [--group G] [--threads N]
//
// produce: one DefaultMQProducer. The first send goes alone (route, connection, with a 30 s timeout; the
// time its SEND_OK arrived is first_ok_unix_us), then --warmup messages, then the measured --count
// messages, each phase sent the same way: sync, -c threads that each wait for their send (or
// batch of --batch, send(Collection)) before the next; async, send(msg, SendCallback) with at
// most -c sends outstanding (a semaphore). Latency per send call (System.nanoTime, exact
// percentiles of all samples). No compression, 2 retries, 3 s timeout.
// consume: one DefaultMQPushConsumer in a new group, CONSUME_FROM_FIRST_OFFSET,
// consumeThreadMin/Max --threads (20), otherwise defaults; the first message handled starts the
// clock and the -q-th stops it (messages = q - 1).
// cpu_s: user+sys CPU of the whole process over the measured phase (/proc/self/stat, 10 ms);
// peak_rss_kb: VmHWM of /proc/self/status at the end. Run through bench/run.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;

public final class JavaBench {
    private static final int MAX_ERRORS_SHOWN = 5;
    private static final int TIMEOUT_MS = 3000;
    private static final int FIRST_TIMEOUT_MS = 30_000;

    private static String ns = "127.0.0.1:9876", topic = "BenchTopic", group = null, mode = "sync";
    private static int size = 1024, concurrency = 64, batch = 1, threads = 20;
    private static long count = 100_000, warmup = 1000;
    private static final AtomicLong errorsShown = new AtomicLong();

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || !(args[0].equals("produce") || args[0].equals("consume"))) {
            throw new IllegalArgumentException("first argument must be produce or consume");
        }
        boolean consume = args[0].equals("consume");
        for (int i = 1; i < args.length; i += 2) {
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("missing value for " + args[i]);
            }
            String v = args[i + 1];
            switch (args[i]) {
                case "-n": ns = v; break;
                case "-t": topic = v; break;
                case "-s": size = Integer.parseInt(v); break;
                case "-c": concurrency = Integer.parseInt(v); break;
                case "-q": count = Long.parseLong(v); break;
                case "--mode": mode = v; break;
                case "--batch": batch = Integer.parseInt(v); break;
                case "--warmup": warmup = Long.parseLong(v); break;
                case "--group": group = v; break;
                case "--threads": threads = Integer.parseInt(v); break;
                default: throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        if (!mode.equals("sync") && !mode.equals("async")) {
            throw new IllegalArgumentException("--mode must be sync or async");
        }
        if (count < 1 || count > Integer.MAX_VALUE - 8 || batch < 1 || concurrency < 1) {
            throw new IllegalArgumentException("bad -q, --batch or -c");
        }
        int rc;
        try {
            rc = consume ? consume() : produce();
        } catch (Throwable e) {
            System.err.println("JavaBench: " + e);
            rc = 1;
        }
        System.exit(rc);                            // client threads (netty, scheduled) may linger
    }

    // ------------------------------------------------------------------ produce

    private static final class Phase {
        long ok, failed, startUs, endUs;
        double elapsedS, cpuS;
        long[] lat = new long[0];
    }

    private static int produce() throws Exception {
        DefaultMQProducer p = new DefaultMQProducer(group == null ? "bench_java_producer" : group);
        p.setNamesrvAddr(ns);                       // always: null means "ask the HTTP address server"
        p.setInstanceName("bench-" + ProcessHandle.current().pid());
        p.setRetryTimesWhenSendFailed(2);
        p.setRetryTimesWhenSendAsyncFailed(2);
        p.setSendMsgTimeout(TIMEOUT_MS);
        p.setCompressMsgBodyOverHowmuch(Integer.MAX_VALUE);
        p.start();
        byte[] body = new byte[size];
        for (int i = 0; i < size; i++) {
            body[i] = (byte) ('a' + i % 26);
        }
        // Alone, with a generous timeout: route, connection, class loading.
        SendResult first = p.send(new Message(topic, body), FIRST_TIMEOUT_MS);
        if (first.getSendStatus() != SendStatus.SEND_OK) {
            throw new IllegalStateException("first send: " + first.getSendStatus());
        }
        long firstOkUs = unixUs();
        if (warmup > 0) {
            phase(p, body, warmup);
        }
        Phase m = phase(p, body, count);
        p.shutdown();
        report("produce", m.ok, m.failed, m.elapsedS, m.lat, m.cpuS, firstOkUs, m.startUs, m.endUs);
        return m.failed == 0 ? 0 : 1;
    }

    private static List<Message> batchOf(byte[] body, int k) {
        List<Message> l = new ArrayList<>(k);
        for (int j = 0; j < k; j++) {
            l.add(new Message(topic, body));
        }
        return l;
    }

    private static void error(String e) {
        if (errorsShown.getAndIncrement() < MAX_ERRORS_SHOWN) {
            System.err.println("JavaBench: send failed: " + e.split("\n", 2)[0]);
        }
    }

    private static Phase phase(DefaultMQProducer p, byte[] body, long n) throws Exception {
        final int calls = (int) ((n + batch - 1) / batch);
        final long[] lat = new long[calls];         // slot i = latency of call i in ns (0 = failed)
        final AtomicLong ok = new AtomicLong(), failed = new AtomicLong(), next = new AtomicLong();
        Phase ph = new Phase();
        double cpu0 = cpuS();
        ph.startUs = unixUs();
        long start = System.nanoTime();
        if (mode.equals("sync")) {
            Thread[] ts = new Thread[concurrency];
            for (int w = 0; w < concurrency; w++) {
                ts[w] = new Thread(() -> {
                    long c;
                    while ((c = next.getAndIncrement()) < calls) {
                        int k = (int) Math.min(batch, n - c * batch);
                        long t0 = System.nanoTime();
                        String err = null;
                        try {
                            SendResult r = batch == 1 ? p.send(new Message(topic, body)) : p.send(batchOf(body, k));
                            if (r.getSendStatus() != SendStatus.SEND_OK) {
                                err = "status " + r.getSendStatus();
                            }
                        } catch (Exception e) {
                            err = e.toString();
                        }
                        if (err != null) {
                            failed.addAndGet(k);
                            error(err);
                            continue;
                        }
                        lat[(int) c] = System.nanoTime() - t0 + 1;
                        ok.addAndGet(k);
                    }
                }, "bench-" + w);
                ts[w].start();
            }
            for (Thread t : ts) {
                t.join();
            }
        } else {
            final Semaphore inFlight = new Semaphore(concurrency);
            for (int c = 0; c < calls; c++) {
                final int call = c;
                final int k = (int) Math.min(batch, n - (long) c * batch);
                inFlight.acquire();
                final long t0 = System.nanoTime();
                SendCallback cb = new SendCallback() {
                    @Override
                    public void onSuccess(SendResult r) {
                        if (r.getSendStatus() == SendStatus.SEND_OK) {
                            lat[call] = System.nanoTime() - t0 + 1;
                            ok.addAndGet(k);
                        } else {
                            failed.addAndGet(k);
                            error("status " + r.getSendStatus());
                        }
                        inFlight.release();
                    }

                    @Override
                    public void onException(Throwable e) {
                        failed.addAndGet(k);
                        error(e.toString());
                        inFlight.release();
                    }
                };
                try {
                    if (batch == 1) {
                        p.send(new Message(topic, body), cb, TIMEOUT_MS);
                    } else {
                        p.send(batchOf(body, k), cb, TIMEOUT_MS);
                    }
                } catch (Exception e) {
                    failed.addAndGet(k);
                    error(e.toString());
                    inFlight.release();
                }
            }
            inFlight.acquire(concurrency);          // every callback has run
            inFlight.release(concurrency);
        }
        ph.elapsedS = (System.nanoTime() - start) / 1e9;
        ph.endUs = unixUs();
        ph.cpuS = cpuS() - cpu0;
        ph.ok = ok.get();
        ph.failed = failed.get();
        ph.lat = Arrays.stream(lat).filter(v -> v > 0).map(v -> v / 1000).sorted().toArray();
        return ph;
    }

    // ------------------------------------------------------------------ consume

    private static int consume() throws Exception {
        final long target = count;
        final AtomicLong handled = new AtomicLong();
        final long[] first = new long[3], last = new long[3];  // nanoTime, cpu ms, unix µs
        final Object done = new Object();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(
            group == null ? "bench_java_c_" + ProcessHandle.current().pid() : group);
        c.setNamesrvAddr(ns);
        c.setInstanceName("bench-" + ProcessHandle.current().pid());
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setConsumeThreadMin(threads);
        c.setConsumeThreadMax(threads);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            long before = handled.getAndAdd(msgs.size());
            if (before == 0) {
                first[0] = System.nanoTime();
                first[1] = (long) (cpuS() * 1000);
                first[2] = unixUs();
            }
            if (before < target && before + msgs.size() >= target) {
                last[0] = System.nanoTime();
                last[1] = (long) (cpuS() * 1000);
                last[2] = unixUs();
                synchronized (done) {
                    done.notifyAll();
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        long deadline = System.currentTimeMillis() + 600_000;
        synchronized (done) {
            while (last[0] == 0 && System.currentTimeMillis() < deadline) {
                done.wait(100);
            }
        }
        if (last[0] == 0) {
            System.err.printf("JavaBench: consumed %d of %d messages before the timeout%n", handled.get(), target);
            return 1;
        }
        report("consume", target - 1, 0, (last[0] - first[0]) / 1e9, new long[0],
            (last[1] - first[1]) / 1000.0, -1, first[2], last[2]);
        return 0;
    }

    // ------------------------------------------------------------------ report

    private static void report(String kind, long messages, long failed, double elapsedS, long[] latUs,
                               double cpuS, long firstOkUs, long startUs, long endUs) {
        System.out.printf("{\"client\":\"java\",\"kind\":\"%s\",\"mode\":\"%s\",\"batch\":%d,\"concurrency\":%d,"
                + "\"size\":%d,\"messages\":%d,\"failed\":%d,\"elapsed_s\":%.3f,\"tps\":%.1f,\"p50_us\":%s,"
                + "\"p99_us\":%s,\"max_us\":%s,\"cpu_s\":%.2f,\"cpu_us_per_msg\":%.2f,\"peak_rss_kb\":%d,"
                + "\"first_ok_unix_us\":%s,\"start_unix_us\":%d,\"end_unix_us\":%d}%n",
            kind, mode, batch, concurrency, size, messages, failed, elapsedS, messages / Math.max(elapsedS, 1e-9),
            pct(latUs, 0.50), pct(latUs, 0.99), pct(latUs, 1.0), cpuS, cpuS * 1e6 / Math.max(messages, 1),
            peakRssKb(), firstOkUs < 0 ? "null" : Long.toString(firstOkUs), startUs, endUs);
        System.out.flush();
    }

    private static String pct(long[] sorted, double q) {
        return sorted.length == 0 ? "null" : Long.toString(sorted[(int) (q * (sorted.length - 1))]);
    }

    private static long unixUs() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
    }

    /** utime + stime of the whole process in seconds (/proc/self/stat, 10 ms ticks). */
    static double cpuS() {
        try {
            String s = Files.readString(Path.of("/proc/self/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
        } catch (Exception e) {
            return 0;
        }
    }

    static long peakRssKb() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) {
                    return Long.parseLong(l.substring(6).replace("kB", "").trim());
                }
            }
        } catch (Exception e) {
            // no /proc
        }
        return 0;
    }
}
