package rmq.interop;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyContext;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.utils.MessageUtil;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Answers requests with Apache RocketMQ's own client: a DefaultMQPushConsumer on TOPIC, and for
 * every message a reply made by MessageUtil.createReplyMessage, sent with a DefaultMQProducer
 * (as the quickstart rpc.ResponseConsumer does).
 *
 * <pre>
 *   Respond NAMESRV GROUP TOPIC COUNT SECONDS
 * </pre>
 *
 * Reply body: "reply:" followed by the request body. Runs until COUNT replies were sent (0: no
 * limit) or SECONDS passed, or until killed (SIGTERM shuts both clients down). stdout, one JSON
 * object per line, flushed at once:
 * <ul>
 * <li>{"event":"started","client_id"} after both clients started;
 * <li>{"event":"reply","correlation_id","reply_to","cluster","topic","request_body_base64",
 *     "reply_body_base64","status"} per reply sent, or with "error" instead of "status";
 * <li>{"event":"stopped","replies":N} after shutdown.
 * </ul>
 * Exit 0 after a clean run, 1 on failure, 2 on usage. Java-8 compatible, 4.9.3 .. 5.x client API.
 */
public final class Respond {

    private Respond() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: Respond <namesrv> <group> <topic> <count> <seconds>");
            System.exit(2);
        }
        long count;
        double seconds;
        try {
            count = Long.parseLong(args[3]);
            seconds = Double.parseDouble(args[4]);
        } catch (NumberFormatException e) {
            System.err.println("Respond: count and seconds must be numbers");
            System.exit(2);
            return;
        }
        PrintStream out = JsonLine.takeStdout();
        int rc;
        try {
            rc = run(args[0], args[1], args[2], count, (long) (seconds * 1000), out);
        } catch (Throwable t) {
            out.flush();
            t.printStackTrace(System.err);
            rc = 1;
        }
        out.flush();
        System.err.flush();
        System.exit(rc);
    }

    private static int run(String namesrv, String group, String topic, final long count, long millis,
                           final PrintStream out) throws Exception {
        final DefaultMQProducer producer = new DefaultMQProducer(group + "_replier");
        producer.setNamesrvAddr(namesrv);
        producer.setInstanceName("respond_" + JsonLine.pid());
        final DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(group);
        consumer.setNamesrvAddr(namesrv);
        consumer.setInstanceName("respond_" + JsonLine.pid());
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.subscribe(topic, "*");
        final AtomicLong replies = new AtomicLong();
        final CountDownLatch done = new CountDownLatch(1);
        final CountDownLatch started = new CountDownLatch(1);
        consumer.registerMessageListener(new MessageListenerConcurrently() {
            @Override
            public ConsumeConcurrentlyStatus consumeMessage(List<MessageExt> msgs, ConsumeConcurrentlyContext ctx) {
                try {
                    started.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                for (MessageExt m : msgs) {
                    byte[] req = m.getBody() == null ? new byte[0] : m.getBody();
                    byte[] prefix = "reply:".getBytes(StandardCharsets.UTF_8);
                    byte[] body = new byte[prefix.length + req.length];
                    System.arraycopy(prefix, 0, body, 0, prefix.length);
                    System.arraycopy(req, 0, body, prefix.length, req.length);
                    JsonLine line = JsonLine.obj().put("event", "reply")
                        .put("correlation_id", m.getProperty("CORRELATION_ID"))
                        .put("reply_to", m.getProperty("REPLY_TO_CLIENT"))
                        .put("cluster", m.getProperty("CLUSTER"))
                        .putBase64("request_body_base64", req)
                        .putBase64("reply_body_base64", body);
                    try {
                        Message reply = MessageUtil.createReplyMessage(m, body);
                        SendResult r = producer.send(reply);
                        line.put("topic", reply.getTopic()).put("status", r.getSendStatus().name());
                    } catch (Exception e) {
                        line.put("error", e.toString());
                    }
                    line.emit(out);
                    long n = replies.incrementAndGet();
                    if (count > 0 && n >= count) {
                        done.countDown();
                    }
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            }
        });
        producer.start();
        consumer.start();
        final Object stopLock = new Object();
        final boolean[] stopped = {false};
        Runtime.getRuntime().addShutdownHook(new Thread("rmq-interop-respond-shutdown") {
            @Override
            public void run() {
                synchronized (stopLock) {
                    if (!stopped[0]) {
                        consumer.shutdown();
                        producer.shutdown();
                        stopped[0] = true;
                    }
                }
            }
        });
        JsonLine.obj().put("event", "started").put("client_id", producer.buildMQClientId())
            .put("group", group).put("topic", topic).emit(out);
        started.countDown();
        done.await(millis, TimeUnit.MILLISECONDS);
        synchronized (stopLock) {
            if (!stopped[0]) {
                consumer.shutdown();
                producer.shutdown();
                stopped[0] = true;
            }
        }
        JsonLine.obj().put("event", "stopped").put("replies", replies.get()).emit(out);
        return 0;
    }
}
