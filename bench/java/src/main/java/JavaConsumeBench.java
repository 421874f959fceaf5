// Backlog-drain benchmark with the Java remoting client's DefaultMQPushConsumer
// (org.apache.rocketmq:rocketmq-client), same flags and same one-line output as
// `rmq-bench consume` (bench/rmq-bench/src/consume.rs):
//
//   java-consumer complete=1 handled=N distinct=D duplicates=X elapsed_s=W mps=M first_ms=F
//     max_gap_ms=G drain_cpu_s=C hwm_MiB=H body_bytes=B calls=K max_call=M shutdown_s=S
//
// One consumer in a fresh group (--group, default bench_consume_java_<pid>), subscribed to -t
// with "*", CONSUME_FROM_FIRST_OFFSET, consumeThreadMin/Max = --threads (20), batch size
// --batch (1), pullBatchSize --pull-batch (32), other settings default (pullThresholdForQueue
// 1000, ...; --flow-control M,B,S sets the thresholds and the span). With --handler-delay-us
// the listener first sleeps that long per message (simulated work). The listener records
// every message id (the 16-byte UNIQ_KEY as two longs in an open-addressing set sized for -q;
// other ids as strings) and returns CONSUME_SUCCESS. The clock starts right
// before start() and stops when the -q-th distinct id was handled; the consumer then keeps
// running for --linger-ms (late duplicates are still counted) and shuts down.
// drain_cpu_s: user+sys CPU of the process (/proc/self/stat) from before start() to the -q-th
// message; hwm_MiB: VmHWM of /proc/self/status at the end. Run through bench/run-consume.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageExt;

public final class JavaConsumeBench {
    /** Open-addressing set of 128-bit ids (hi, lo); (0, 0) marks an empty slot. */
    private static final class IdSet {
        private long[] hi, lo;
        private int size;
        private boolean hasZero;

        IdSet(int expected) {
            int cap = Integer.highestOneBit(Math.max(16, expected) * 2 - 1) << 1;
            hi = new long[cap];
            lo = new long[cap];
        }

        int size() {
            return size + (hasZero ? 1 : 0);
        }

        void add(long h, long l) {
            if (h == 0 && l == 0) {
                hasZero = true;
                return;
            }
            if ((size + 1) * 2 > hi.length) {
                grow();
            }
            if (insert(hi, lo, h, l)) {
                size++;
            }
        }

        private static boolean insert(long[] hi, long[] lo, long h, long l) {
            int mask = hi.length - 1;
            long x = (h * 0x9E3779B97F4A7C15L) ^ l;
            x ^= x >>> 31;
            x *= 0xBF58476D1CE4E5B9L;
            int i = (int) (x ^ (x >>> 29)) & mask;
            while (hi[i] != 0 || lo[i] != 0) {
                if (hi[i] == h && lo[i] == l) {
                    return false;
                }
                i = (i + 1) & mask;
            }
            hi[i] = h;
            lo[i] = l;
            return true;
        }

        private void grow() {
            long[] nh = new long[hi.length * 2], nl = new long[lo.length * 2];
            for (int i = 0; i < hi.length; i++) {
                if (hi[i] != 0 || lo[i] != 0) {
                    insert(nh, nl, hi[i], lo[i]);
                }
            }
            hi = nh;
            lo = nl;
        }
    }

    // Guarded by LOCK.
    private static final Object LOCK = new Object();
    private static IdSet ids;
    private static final HashSet<String> otherIds = new HashSet<>();
    private static long handled, calls, maxCall, bodyBytes, first, last, maxGap, done, cpuDone;
    private static long total;

    public static void main(String[] args) throws Exception {
        String ns = "127.0.0.1:9876", topic = "BenchmarkTest", group = null, flow = null;
        int threads = 20, batch = 1, pullBatch = 32;
        long delayUs = 0;
        long timeoutS = 600, lingerMs = 1000, progressMs = 1000;
        total = 100_000;
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("missing value for " + args[i]);
            }
            String v = args[i + 1];
            switch (args[i]) {
                case "-n": ns = v; break;
                case "-t": topic = v; break;
                case "-q": total = Long.parseLong(v); break;
                case "--group": group = v; break;
                case "--threads": threads = Integer.parseInt(v); break;
                case "--batch": batch = Integer.parseInt(v); break;
                case "--flow-control": flow = v; break;
                case "--pull-batch": pullBatch = Integer.parseInt(v); break;
                case "--handler-delay-us": delayUs = Long.parseLong(v); break;
                case "--timeout": timeoutS = Long.parseLong(v); break;
                case "--linger-ms": lingerMs = Long.parseLong(v); break;
                case "--progress-ms": progressMs = Long.parseLong(v); break;
                default: throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        if (total < 1 || total > Integer.MAX_VALUE / 4) {
            throw new IllegalArgumentException("-q out of range");
        }
        long pid = ProcessHandle.current().pid();
        if (group == null) {
            group = "bench_consume_java_" + pid;
        }
        ids = new IdSet((int) total);

        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setNamesrvAddr(ns);                       // always: null means "ask the HTTP address server"
        c.setInstanceName("bench-" + pid);
        c.subscribe(topic, "*");
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setConsumeThreadMin(threads);
        c.setConsumeThreadMax(threads);
        c.setConsumeMessageBatchMaxSize(batch);
        c.setPullBatchSize(pullBatch);
        if (flow != null) {
            String[] f = flow.split(",");
            if (f.length != 3) {
                throw new IllegalArgumentException("--flow-control wants MESSAGES,BYTES,SPAN");
            }
            c.setPullThresholdForQueue(Integer.parseInt(f[0].trim()));
            c.setPullThresholdSizeForQueue((int) (Long.parseLong(f[1].trim()) >> 20)); // MiB
            c.setConsumeConcurrentlyMaxSpan(Integer.parseInt(f[2].trim()));
        }
        final long delayNs = delayUs * 1000;
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            if (delayNs > 0) {
                try {
                    Thread.sleep(delayNs * msgs.size() / 1_000_000, (int) (delayNs * msgs.size() % 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            record(msgs);
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });

        double cpu0 = cpuSeconds();
        long start = System.nanoTime();
        c.start();

        long deadline = start + timeoutS * 1_000_000_000L;
        long nextProgress = System.nanoTime() + progressMs * 1_000_000L;
        long lastHandled = 0;
        boolean complete;
        synchronized (LOCK) {
            while (true) {
                if (done != 0) {
                    complete = true;
                    break;
                }
                long now = System.nanoTime();
                if (now >= deadline) {
                    complete = false;
                    break;
                }
                if (progressMs > 0 && now >= nextProgress) {
                    System.err.printf("JavaConsumeBench: t=%.1fs handled=%d distinct=%d (+%d)%n",
                        (now - start) / 1e9, handled, ids.size() + otherIds.size(), handled - lastHandled);
                    lastHandled = handled;
                    nextProgress += progressMs * 1_000_000L;
                }
                long waitNs = Math.min(deadline, progressMs > 0 ? nextProgress : deadline) - now;
                LOCK.wait(Math.max(1, waitNs / 1_000_000L));
            }
        }
        if (complete && lingerMs > 0) {
            Thread.sleep(lingerMs);
        }
        long t0 = System.nanoTime();
        c.shutdown();
        double shutdownS = (System.nanoTime() - t0) / 1e9;

        synchronized (LOCK) {
            long distinct = ids.size() + otherIds.size();
            long end = done != 0 ? done : System.nanoTime();
            double cpuEnd = done != 0 ? cpuDone / 1e3 : cpuSeconds();
            double elapsed = (end - start) / 1e9;
            System.out.printf("java-consumer complete=%d handled=%d distinct=%d duplicates=%d elapsed_s=%.3f mps=%.0f first_ms=%.1f max_gap_ms=%.1f drain_cpu_s=%.2f hwm_MiB=%.1f body_bytes=%d calls=%d max_call=%d shutdown_s=%.3f%n",
                complete ? 1 : 0, handled, distinct, handled - distinct, elapsed, distinct / elapsed,
                first != 0 ? (first - start) / 1e6 : Double.NaN, maxGap / 1e6, cpuEnd - cpu0, hwmMiB(),
                bodyBytes, calls, maxCall, shutdownS);
            if (!complete) {
                System.err.printf("JavaConsumeBench: timed out after %d s: %d of %d distinct messages handled%n",
                    timeoutS, distinct, total);
            }
        }
        System.exit(complete ? 0 : 1);              // client threads (netty, scheduled) may linger
    }

    private static void record(List<MessageExt> msgs) {
        long now = System.nanoTime();
        synchronized (LOCK) {
            for (MessageExt m : msgs) {
                String id = m.getMsgId();
                boolean hex = id != null && id.length() == 32;
                if (hex) {
                    try {
                        ids.add(Long.parseUnsignedLong(id.substring(0, 16), 16),
                            Long.parseUnsignedLong(id.substring(16), 16));
                    } catch (NumberFormatException e) {
                        hex = false;
                    }
                }
                if (!hex) {
                    otherIds.add(String.valueOf(id));
                }
                handled++;
                bodyBytes += m.getBody() == null ? 0 : m.getBody().length;
            }
            calls++;
            maxCall = Math.max(maxCall, msgs.size());
            if (first == 0) {
                first = now;
            }
            if (done == 0) {
                if (last != 0) {
                    maxGap = Math.max(maxGap, now - last);
                }
                last = now;
                if (ids.size() + otherIds.size() >= total) {
                    done = now;
                    cpuDone = Math.round(cpuSeconds() * 1e3);
                    LOCK.notifyAll();
                }
            }
        }
    }

    /** User+sys CPU seconds of this process (/proc/self/stat, USER_HZ = 100); NaN if unreadable. */
    private static double cpuSeconds() {
        try {
            String s = Files.readString(Path.of("/proc/self/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
        } catch (Exception e) {
            return Double.NaN;
        }
    }

    /** VmHWM (peak RSS) of this process in MiB; NaN if unreadable. */
    private static double hwmMiB() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) {
                    return Long.parseLong(l.substring(6).replace("kB", "").trim()) / 1024.0;
                }
            }
        } catch (Exception e) {
            // fall through
        }
        return Double.NaN;
    }
}
