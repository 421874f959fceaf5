package rmq.interop;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.apache.rocketmq.client.consumer.AllocateMessageQueueStrategy;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragely;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragelyByCircle;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueByConfig;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueConsistentHash;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Golden vectors for the queue allocation strategies, produced by Apache RocketMQ's own
 * {@code org.apache.rocketmq.client.consumer.rebalance} classes.
 *
 * <pre>
 *   Allocate        (no arguments)
 * </pre>
 *
 * Runs a fixed, deterministic set of scenarios (topic layouts x consumer counts, plus two
 * hand-made scenarios with consistent-hash ties) through AllocateMessageQueueAveragely,
 * AllocateMessageQueueAveragelyByCircle and AllocateMessageQueueConsistentHash (10 and 3 virtual
 * nodes; every 5th scenario also 1 and 0 virtual nodes and AllocateMessageQueueByConfig), and
 * prints one tab-separated line per (scenario, strategy, consumer) on stdout:
 *
 * <pre>
 *   STRATEGY  VNODES  CLIENT_ID  CID_ALL  MQ_ALL  RESULT
 * </pre>
 *
 * STRATEGY is {@code getName()}; VNODES is the virtual node count for CONSISTENT_HASH, "-"
 * otherwise; CID_ALL is the consumer id list joined by ","; MQ_ALL and RESULT are queues as
 * "topic/brokerName/queueId" joined by "," (RESULT may be empty). CID_ALL and MQ_ALL are printed
 * in the (shuffled, deterministic) input order; like RebalanceImpl, the strategy is called with
 * sorted copies. Each scenario also has one line for a client id that is not in CID_ALL. For
 * CONFIG the configured list is an arbitrary deterministic (unsorted) list and RESULT is what the
 * strategy returned. Lines starting with "#" are comments.
 *
 * Exit 0 on success, 1 on failure. Source is Java-8 compatible and only uses client API present
 * in 4.9.3 .. 5.5.0.
 */
public final class Allocate {

    /** Consumer id pool; a scenario with c consumers uses the first c (not in sorted order). */
    private static final String[] CIDS = {
        "127.0.0.1@1234#5678901",
        "10.0.0.2@DEFAULT",
        "192.168.1.7@4321#1700000000000",
        "10.0.0.10@DEFAULT",
        "172.17.0.3@9876",
        "10.0.0.2@instance-b",
        "rmq-client-7@77",
    };

    /** A client id that is never in cidAll. */
    private static final String OUTSIDER = "10.9.9.9@OUTSIDER";

    private static final int[] CONSUMER_COUNTS = {1, 2, 3, 7};

    private Allocate() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 0) {
            System.err.println("usage: Allocate");
            System.exit(2);
        }
        // Keep stdout for the vector lines only (System.out is swapped before the client logs).
        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        System.setOut(System.err);
        quiet4x();
        int rc = 0;
        try {
            run(out);
        } catch (Throwable t) {
            t.printStackTrace(System.err);
            rc = 1;
        }
        out.flush();
        System.exit(rc);
    }

    private static void run(PrintStream out) {
        out.print("# STRATEGY\tVNODES\tCLIENT_ID\tCID_ALL\tMQ_ALL\tRESULT\n");
        List<List<MessageQueue>> layouts = layouts();
        int scenario = 0;
        for (int l = 0; l < layouts.size(); l++) {
            for (int c : CONSUMER_COUNTS) {
                scenario++;
                Random random = new Random(1000L * l + c);
                List<MessageQueue> mqInput = new ArrayList<MessageQueue>(layouts.get(l));
                Collections.shuffle(mqInput, random);
                List<String> cidInput = new ArrayList<String>(Arrays.asList(CIDS).subList(0, c));
                Collections.shuffle(cidInput, random);
                // Every 5th scenario also: 1 and 0 virtual nodes, and CONFIG.
                boolean extra = scenario % 5 == 1;
                scenario(out, mqInput, cidInput, extra ? new int[] {10, 3, 1, 0} : new int[] {10, 3}, extra);
            }
        }

        // ConsistentHashRouter ties (found by brute force over the 32-bit MD5 prefix).
        // 1. Two virtual nodes with the same hash: MD5("10.1.164.31@tie-0") and
        //    MD5("10.1.276.25@tie-0") both start 0x0fecbf50; TreeMap.put keeps the node added
        //    last (cidAll is sorted, so "10.1.276.25@tie"), the other client gets nothing with
        //    one virtual node.
        scenario(out, layout("T", new String[] {"broker-a"}, new int[] {4}),
            Arrays.asList("10.1.276.25@tie", "10.1.164.31@tie"), new int[] {1, 3}, false);
        // 2. A queue whose hash equals a virtual node's: "MessageQueue [topic=TIE23545,
        //    brokerName=broker-a, queueId=0]" and "10.1.20.177@tie-0" both start 0x094fc3ce;
        //    tailMap is inclusive, so the queue goes to that node.
        scenario(out, layout("TIE23545", new String[] {"broker-a"}, new int[] {4}),
            Arrays.asList("127.0.0.1@1234#5678901", "10.1.20.177@tie"), new int[] {1, 3}, false);
    }

    /**
     * One scenario: every strategy (ConsistentHash with each of {@code vnodes}, ByConfig if
     * {@code withConfig}) for every member and one outsider.
     */
    private static void scenario(PrintStream out, List<MessageQueue> mqInput, List<String> cidInput, int[] vnodes,
        boolean withConfig) {
        // As RebalanceImpl.rebalanceByTopic: sorted copies.
        List<MessageQueue> mqAll = new ArrayList<MessageQueue>(mqInput);
        Collections.sort(mqAll);
        List<String> cidAll = new ArrayList<String>(cidInput);
        Collections.sort(cidAll);

        List<String> clients = new ArrayList<String>(cidAll);
        clients.add(OUTSIDER);

        for (String cid : clients) {
            emit(out, new AllocateMessageQueueAveragely(), "-", cid, cidInput, mqInput, mqAll, cidAll);
        }
        for (String cid : clients) {
            emit(out, new AllocateMessageQueueAveragelyByCircle(), "-", cid, cidInput, mqInput, mqAll, cidAll);
        }
        for (int v : vnodes) {
            for (String cid : clients) {
                emit(out, new AllocateMessageQueueConsistentHash(v), Integer.toString(v), cid, cidInput, mqInput,
                    mqAll, cidAll);
            }
        }
        for (int i = 0; withConfig && i < clients.size(); i++) {
            AllocateMessageQueueByConfig byConfig = new AllocateMessageQueueByConfig();
            byConfig.setMessageQueueList(configured(mqAll, i));
            emit(out, byConfig, "-", clients.get(i), cidInput, mqInput, mqAll, cidAll);
        }
    }

    /** Every 2nd/3rd/... queue of the sorted list, in reverse order (so: not sorted). */
    private static List<MessageQueue> configured(List<MessageQueue> mqAll, int i) {
        List<MessageQueue> list = new ArrayList<MessageQueue>();
        for (int j = mqAll.size() - 1; j >= 0; j--) {
            if (j % (i + 2) == 0) {
                list.add(mqAll.get(j));
            }
        }
        return list;
    }

    private static void emit(PrintStream out, AllocateMessageQueueStrategy strategy, String vnodes, String cid,
        List<String> cidInput, List<MessageQueue> mqInput, List<MessageQueue> mqAll, List<String> cidAll) {
        // Fresh copies: a strategy must not see (or leave) changes from another call.
        List<MessageQueue> result = strategy.allocate("G", cid, new ArrayList<MessageQueue>(mqAll),
            new ArrayList<String>(cidAll));
        StringBuilder sb = new StringBuilder();
        sb.append(strategy.getName()).append('\t').append(vnodes).append('\t').append(cid).append('\t');
        sb.append(join(cidInput)).append('\t').append(queues(mqInput)).append('\t').append(queues(result));
        out.print(sb.append('\n'));
    }

    private static List<List<MessageQueue>> layouts() {
        List<List<MessageQueue>> layouts = new ArrayList<List<MessageQueue>>();
        // One broker, 1..16 queues.
        for (int n : new int[] {1, 2, 3, 4, 5, 7, 8, 10, 16}) {
            layouts.add(layout("T", new String[] {"broker-a"}, new int[] {n}));
        }
        // Three brokers, m queues each.
        for (int m : new int[] {1, 2, 4}) {
            layouts.add(layout("T", new String[] {"broker-a", "broker-b", "broker-c"}, new int[] {m, m, m}));
        }
        // Uneven brokers.
        layouts.add(layout("T", new String[] {"broker-a", "broker-b", "broker-c"}, new int[] {4, 2, 1}));
        layouts.add(layout("T", new String[] {"broker-b", "broker-a"}, new int[] {8, 8}));
        // Retry topics: one queue per broker.
        layouts.add(layout("%RETRY%G", new String[] {"broker-a"}, new int[] {1}));
        layouts.add(layout("%RETRY%G", new String[] {"broker-a", "broker-b", "broker-c"}, new int[] {1, 1, 1}));
        return layouts;
    }

    private static List<MessageQueue> layout(String topic, String[] brokers, int[] counts) {
        List<MessageQueue> mqs = new ArrayList<MessageQueue>();
        for (int b = 0; b < brokers.length; b++) {
            for (int q = 0; q < counts[b]; q++) {
                mqs.add(new MessageQueue(topic, brokers[b], q));
            }
        }
        return mqs;
    }

    private static String join(List<String> items) {
        StringBuilder sb = new StringBuilder();
        for (String s : items) {
            if (sb.length() > 0) {
                sb.append(',');
            }
            sb.append(s);
        }
        return sb.toString();
    }

    private static String queues(List<MessageQueue> mqs) {
        StringBuilder sb = new StringBuilder();
        if (mqs == null) {
            return "null";
        }
        for (MessageQueue mq : mqs) {
            if (sb.length() > 0) {
                sb.append(',');
            }
            sb.append(mq.getTopic()).append('/').append(mq.getBrokerName()).append('/').append(mq.getQueueId());
        }
        return sb.toString();
    }

    /** 4.x: silence the client's inner logger (it may print to the console). */
    private static void quiet4x() {
        try {
            Class.forName("org.apache.rocketmq.logging.inner.SysLogger")
                .getMethod("setQuietMode", boolean.class).invoke(null, Boolean.TRUE);
        } catch (ReflectiveOperationException | LinkageError e) {
            // 5.x: logback, nothing to silence
        }
    }
}
