package rmq.interop;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.RequestCallback;
import org.apache.rocketmq.common.message.Message;

/**
 * Sends requests with Apache RocketMQ's own DefaultMQProducer.request, as the quickstart
 * rpc.RequestProducer does, through the RequestCallback variant: the 5.3.x client's
 * request(msg, timeout) counts its wait down as soon as the request is sent (apache/rocketmq
 * #8272, undone by #9608) and then reports a timeout at once; its callback variant first calls
 * onSuccess(null) on the send, then onSuccess(reply) when the reply comes, so null is skipped.
 *
 * <pre>
 *   Request NAMESRV GROUP TOPIC BODY TIMEOUT_MS COUNT
 * </pre>
 *
 * Sends COUNT requests one after the other, body BODY (then "#i" for i > 0). stdout, one JSON
 * object per line: {"event":"reply","index","body_base64","correlation_id","properties":{..}}
 * per reply, or {"event":"error","index","error"} when a request fails or times out. Exit 0
 * when every request got a reply, 1 otherwise, 2 on usage. Java-8 compatible.
 */
public final class Request {

    private Request() {
    }

    /** request(msg, timeout) through the callback variant; throws on failure or timeout. */
    private static Message request(DefaultMQProducer producer, Message msg, long timeout) throws Exception {
        final CountDownLatch done = new CountDownLatch(1);
        final AtomicReference<Message> reply = new AtomicReference<Message>();
        final AtomicReference<Throwable> failure = new AtomicReference<Throwable>();
        producer.request(msg, new RequestCallback() {
            @Override
            public void onSuccess(Message m) {
                if (m != null) {
                    reply.compareAndSet(null, m);
                    done.countDown();
                }
            }

            @Override
            public void onException(Throwable e) {
                failure.compareAndSet(null, e);
                done.countDown();
            }
        }, timeout);
        if (!done.await(timeout + 5000, TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("no reply and no timeout after " + timeout + " ms");
        }
        if (reply.get() != null) {
            return reply.get();
        }
        throw new Exception("request failed", failure.get());
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: Request <namesrv> <group> <topic> <body> <timeoutMs> <count>");
            System.exit(2);
        }
        long timeout;
        int count;
        try {
            timeout = Long.parseLong(args[4]);
            count = Integer.parseInt(args[5]);
        } catch (NumberFormatException e) {
            System.err.println("Request: timeoutMs and count must be numbers");
            System.exit(2);
            return;
        }
        PrintStream out = JsonLine.takeStdout();
        int rc = 0;
        DefaultMQProducer producer = new DefaultMQProducer(args[1]);
        producer.setNamesrvAddr(args[0]);
        producer.setInstanceName("request_" + JsonLine.pid());
        try {
            producer.start();
            for (int i = 0; i < count; i++) {
                String body = i == 0 ? args[3] : args[3] + "#" + i;
                Message msg = new Message(args[2], body.getBytes(StandardCharsets.UTF_8));
                try {
                    Message reply = request(producer, msg, timeout);
                    JsonLine.obj().put("event", "reply").put("index", i)
                        .putBase64("body_base64", reply.getBody())
                        .put("correlation_id", reply.getProperty("CORRELATION_ID"))
                        .putMap("properties", reply.getProperties())
                        .emit(out);
                } catch (Exception e) {
                    JsonLine.obj().put("event", "error").put("index", i).put("error", e.toString()).emit(out);
                    rc = 1;
                }
            }
        } catch (Throwable t) {
            t.printStackTrace(System.err);
            rc = 1;
        } finally {
            producer.shutdown();
        }
        out.flush();
        System.err.flush();
        System.exit(rc);
    }
}
