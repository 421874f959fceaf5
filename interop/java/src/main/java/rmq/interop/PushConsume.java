package rmq.interop;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyContext;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.impl.consumer.ProcessQueue;
import org.apache.rocketmq.client.impl.factory.MQClientInstance;
import org.apache.rocketmq.common.MixAll;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageClientExt;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Consumes with Apache RocketMQ's own DefaultMQPushConsumer for a fixed time.
 *
 * <pre>
 *   PushConsume NAMESRV GROUP TOPIC EXPR SECONDS [INSTANCE_NAME]
 * </pre>
 *
 * Clustering, CONSUME_FROM_FIRST_OFFSET, 4 consume threads, tag expression EXPR, instance name
 * as given (else the client default). stdout, one JSON object per line, each flushed at once:
 * <ul>
 * <li>{"event":"started","client_id",...} right after start() returned (before any other line);
 * <li>{"event":"message",...} per delivery handed to the listener (redeliveries included), with
 *     "delivery" (1 = first time this msg_id was seen here) and "result" (what was returned);
 * <li>{"event":"assignment","client_id","queues":[TOPIC/BROKER/QUEUE_ID..],"retry_queues":[..]}
 *     whenever the rebalance assignment (process queue table, polled every 200 ms) changes, and
 *     once more with "final":true before shutdown; "queues" holds TOPIC's queues, "retry_queues"
 *     the group's %RETRY% queues the push consumer subscribes to by itself; both sorted;
 * <li>{"event":"stopped","client_id","messages":N} after shutdown() returned.
 * </ul>
 * RMQ_JAVA_LATER=N: the listener returns RECONSUME_LATER for the first N deliveries of every
 * msg_id; RMQ_JAVA_LATER_DELAY_LEVEL=L (default 0 = broker's choice, 3 + reconsume_times, i.e.
 * 10 s first) sets the retry delay level. Once a RECONSUME_LATER happened and no %RETRY% queue
 * is assigned yet, the retry topic's route is refreshed and a rebalance requested every second
 * (a fresh group's retry topic appears only with its first sent-back message). Exit 0 after a clean run, 1 on failure, 2 on usage.
 * The consumer is also shut down on SIGTERM. Java-8 compatible, client API of 4.9.3 .. 5.5.0
 * (the assignment and client id come from the impl objects: no MessageQueueListener on 4.9.x
 * push consumers).
 */
public final class PushConsume {

    private PushConsume() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5 && args.length != 6) {
            System.err.println("usage: PushConsume <namesrv> <group> <topic> <expr> <seconds> [instanceName]");
            System.exit(2);
        }
        double seconds;
        int later;
        int delayLevel;
        try {
            seconds = Double.parseDouble(args[4]);
            later = envInt("RMQ_JAVA_LATER");
            delayLevel = envInt("RMQ_JAVA_LATER_DELAY_LEVEL");
        } catch (NumberFormatException e) {
            System.err.println("PushConsume: seconds, RMQ_JAVA_LATER, RMQ_JAVA_LATER_DELAY_LEVEL must be numbers");
            System.exit(2);
            return;
        }
        if (!(seconds >= 0) || later < 0) {
            System.err.println("PushConsume: seconds and RMQ_JAVA_LATER must be >= 0");
            System.exit(2);
        }
        PrintStream out = JsonLine.takeStdout();

        int rc;
        try {
            rc = new PushConsume().run(args[0], args[1], args[2], args[3], (long) (seconds * 1000),
                args.length == 6 ? args[5] : null, later, delayLevel, out);
        } catch (Throwable t) {
            out.flush();
            t.printStackTrace(System.err);
            rc = 1;
        }
        out.flush();
        System.err.flush();
        System.exit(rc);
    }

    private static int envInt(String name) {
        String v = System.getenv(name);
        return v == null || v.trim().isEmpty() ? 0 : Integer.parseInt(v.trim());
    }

    private volatile String clientId;
    private final CountDownLatch startedPrinted = new CountDownLatch(1);
    private final ConcurrentMap<String, AtomicInteger> deliveries = new ConcurrentHashMap<String, AtomicInteger>();
    private final AtomicLong handled = new AtomicLong();
    /** Set once a listener call returned RECONSUME_LATER. */
    private volatile boolean laterSeen;

    private int run(String namesrv, String group, final String topic, String expr, long millis,
                    String instanceName, final int later, final int delayLevel, final PrintStream out)
        throws Exception {
        final DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(group);
        consumer.setNamesrvAddr(namesrv);
        // clustering is the default (MessageModel moved packages in 5.x, so it is not named here)
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.setConsumeThreadMin(4);
        consumer.setConsumeThreadMax(4);
        // Let in-flight listener calls finish (and their offsets update) before offsets are persisted.
        consumer.setAwaitTerminationMillisWhenShutdown(5000);
        if (instanceName != null) {
            consumer.setInstanceName(instanceName);
        }
        consumer.subscribe(topic, expr);
        consumer.registerMessageListener(new MessageListenerConcurrently() {
            @Override
            public ConsumeConcurrentlyStatus consumeMessage(List<MessageExt> msgs, ConsumeConcurrentlyContext ctx) {
                awaitStartedLine();
                ConsumeConcurrentlyStatus status = ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
                int[] counts = new int[msgs.size()];
                for (int i = 0; i < msgs.size(); i++) {
                    AtomicInteger n = deliveries.get(msgs.get(i).getMsgId());
                    if (n == null) {
                        AtomicInteger fresh = new AtomicInteger();
                        n = deliveries.putIfAbsent(msgs.get(i).getMsgId(), fresh);
                        if (n == null) {
                            n = fresh;
                        }
                    }
                    counts[i] = n.incrementAndGet();
                    if (counts[i] <= later) {
                        status = ConsumeConcurrentlyStatus.RECONSUME_LATER;
                    }
                }
                if (status == ConsumeConcurrentlyStatus.RECONSUME_LATER) {
                    laterSeen = true;
                    if (delayLevel != 0) {
                        ctx.setDelayLevelWhenNextConsume(delayLevel);
                    }
                }
                MessageQueue mq = ctx.getMessageQueue();
                String id = clientId(consumer);
                for (int i = 0; i < msgs.size(); i++) {
                    MessageExt m = msgs.get(i);
                    JsonLine.obj().put("event", "message")
                        .put("client_id", id)
                        .put("msg_id", m.getMsgId())
                        .put("offset_msg_id", m instanceof MessageClientExt
                            ? ((MessageClientExt) m).getOffsetMsgId() : m.getMsgId())
                        .put("topic", m.getTopic())
                        .put("tags", m.getTags())
                        .put("keys", m.getKeys())
                        .put("queue_id", m.getQueueId())
                        .put("queue_offset", m.getQueueOffset())
                        .put("broker", mq != null ? mq.getBrokerName() : null)
                        .put("reconsume_times", m.getReconsumeTimes())
                        .putBase64("body_base64", m.getBody() == null ? new byte[0] : m.getBody())
                        .put("delivery", counts[i])
                        .put("result", status.name())
                        .emit(out);
                    handled.incrementAndGet();
                }
                return status;
            }
        });

        consumer.start();
        final Object stopLock = new Object();
        final boolean[] stopped = {false};
        Thread hook = new Thread("rmq-interop-push-consume-shutdown") {
            @Override
            public void run() { // SIGTERM: shut down cleanly too (no-op after a normal stop)
                synchronized (stopLock) {
                    if (!stopped[0]) {
                        consumer.shutdown();
                        stopped[0] = true;
                    }
                }
            }
        };
        Runtime.getRuntime().addShutdownHook(hook);
        String id = clientId(consumer);
        JsonLine.obj().put("event", "started").put("client_id", id)
            .put("group", group).put("topic", topic).put("expr", expr).emit(out);
        startedPrinted.countDown();

        long deadline = System.nanoTime() + millis * 1_000_000L;
        List<List<String>> last = assignmentChanged(consumer, topic, null, false, out);
        long lastKick = 0;
        while (true) {
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) {
                break;
            }
            Thread.sleep(Math.min(200, left));
            List<List<String>> now = assignmentChanged(consumer, topic, last, false, out);
            if (now != null) {
                last = now;
            }
            // A fresh group's %RETRY% topic only gets a route with the first sent-back message; the
            // client would pick it up with its 30 s route poll / 20 s rebalance. Ask at once instead.
            if (laterSeen && last.get(1).isEmpty() && System.nanoTime() - lastKick > 1_000_000_000L) {
                lastKick = System.nanoTime();
                kickRetryRoute(consumer);
            }
        }
        consumer.suspend(); // no new pulls; the final assignment is what shutdown releases
        assignmentChanged(consumer, topic, null, true, out);
        synchronized (stopLock) {
            if (!stopped[0]) {
                consumer.shutdown();
                stopped[0] = true;
            }
        }
        JsonLine.obj().put("event", "stopped").put("client_id", id).put("messages", handled.get()).emit(out);
        return 0;
    }

    @SuppressWarnings("deprecation")
    private static void kickRetryRoute(DefaultMQPushConsumer consumer) {
        MQClientInstance f = consumer.getDefaultMQPushConsumerImpl().getmQClientFactory();
        if (f != null) {
            // returns false when the route is unchanged, but the route may be known while the last
            // rebalance ran before it arrived: wake the rebalance service regardless
            f.updateTopicRouteInfoFromNameServer(MixAll.getRetryTopic(consumer.getConsumerGroup()));
            f.rebalanceImmediately();
        }
    }

    private void awaitStartedLine() {
        try {
            startedPrinted.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @SuppressWarnings("deprecation") // getDefaultMQPushConsumerImpl(): the only way on 4.9.x
    private String clientId(DefaultMQPushConsumer consumer) {
        String id = clientId;
        if (id == null) {
            MQClientInstance f = consumer.getDefaultMQPushConsumerImpl().getmQClientFactory();
            id = f != null ? f.getClientId() : null;
            clientId = id;
        }
        return id;
    }

    /**
     * The current assignment as [topic queues, retry queues]; printed (and returned) if it differs
     * from prev or if force; otherwise null. prev == null on the first call: printed only if non-empty.
     */
    @SuppressWarnings("deprecation")
    private List<List<String>> assignmentChanged(DefaultMQPushConsumer consumer, String topic,
                                                 List<List<String>> prev, boolean force, PrintStream out) {
        List<String> queues = new ArrayList<String>();
        List<String> retry = new ArrayList<String>();
        String retryTopic = MixAll.getRetryTopic(consumer.getConsumerGroup());
        for (Map.Entry<MessageQueue, ProcessQueue> e
            : consumer.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().entrySet()) {
            if (e.getValue().isDropped()) {
                continue;
            }
            MessageQueue mq = e.getKey();
            String s = mq.getTopic() + "/" + mq.getBrokerName() + "/" + mq.getQueueId();
            if (mq.getTopic().equals(topic)) {
                queues.add(s);
            } else if (mq.getTopic().equals(retryTopic)) {
                retry.add(s);
            } else {
                queues.add(s); // not expected
            }
        }
        Collections.sort(queues, QUEUE_ORDER);
        Collections.sort(retry, QUEUE_ORDER);
        List<List<String>> now = new ArrayList<List<String>>(2);
        now.add(queues);
        now.add(retry);
        boolean changed = prev == null ? !(queues.isEmpty() && retry.isEmpty()) : !now.equals(prev);
        if (changed || force) {
            JsonLine line = JsonLine.obj().put("event", "assignment").put("client_id", clientId(consumer))
                .putStrings("queues", queues).putStrings("retry_queues", retry);
            if (force) {
                line.put("final", true);
            }
            line.emit(out);
        }
        return changed || prev == null ? now : null;
    }

    /** topic, broker, then numeric queue id. */
    private static final java.util.Comparator<String> QUEUE_ORDER = new java.util.Comparator<String>() {
        @Override
        public int compare(String a, String b) {
            int ia = a.lastIndexOf('/');
            int ib = b.lastIndexOf('/');
            int c = a.substring(0, ia).compareTo(b.substring(0, ib));
            if (c != 0) {
                return c;
            }
            return Integer.compare(Integer.parseInt(a.substring(ia + 1)), Integer.parseInt(b.substring(ib + 1)));
        }
    };
}
