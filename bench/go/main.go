// The Go client's side of bench/run, with github.com/apache/rocketmq-client-go/v2 (v2.1.2 with
// go.mod; the newest version with go.latest.mod, `go build -modfile=go.latest.mod`): the same
// workloads, flags and one-line JSON report as bench/java (JavaBench), bench/rust-peer and
// `rmq bench --json`.
//
//	gobench produce -n NS -t TOPIC -s SIZE -c CONCURRENCY -q COUNT [--mode sync|async]
//	        [--batch N] [--warmup N] [--group G]
//	gobench consume -n NS -t TOPIC -q COUNT [--group G] [--threads N]
//
// produce: one producer. The first send goes alone (route, connection; the time its SEND_OK
// arrived is first_ok_unix_us), then --warmup messages, then the measured --count messages,
// each phase sent the same way: sync, -c goroutines that each wait for their SendSync (a batch
// of --batch messages is one SendSync with several messages) before the next; async, SendAsync
// with at most -c sends outstanding. Latency per send call; 2 retries, 3 s timeout (the Go
// client has no body compression). consume: one push consumer in a new group,
// ConsumeFromFirstOffset, --threads (20) consume goroutines; the first message handled starts
// the clock and the -q-th stops it (messages = q - 1). cpu_s: user+sys CPU of the process over
// the measured phase (getrusage); peak_rss_kb: VmHWM of /proc/self/status.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

const (
	maxErrorsShown = 5
	timeout        = 3 * time.Second
	firstTimeout   = 30 * time.Second
)

var (
	ns          string
	topic       string
	size        int
	concurrency int
	count       int64
	mode        string
	batch       int
	warmup      int64
	group       string
	threads     int
	errorsShown int64
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "produce" && os.Args[1] != "consume") {
		die("first argument must be produce or consume")
	}
	kind := os.Args[1]
	fs := flag.NewFlagSet(kind, flag.ExitOnError)
	fs.StringVar(&ns, "n", "127.0.0.1:9876", "name server (always set: without it the client asks an HTTP address server)")
	fs.StringVar(&topic, "t", "BenchTopic", "topic")
	fs.IntVar(&size, "s", 1024, "body size in bytes")
	fs.IntVar(&concurrency, "c", 64, "sync: senders; async: sends in flight")
	fs.Int64Var(&count, "q", 100000, "messages to measure")
	fs.StringVar(&mode, "mode", "sync", "sync or async")
	fs.IntVar(&batch, "batch", 1, "messages per send call")
	fs.Int64Var(&warmup, "warmup", 1000, "warm-up messages before measuring")
	fs.StringVar(&group, "group", "", "producer or consumer group")
	fs.IntVar(&threads, "threads", 20, "consume goroutines")
	_ = fs.Parse(os.Args[2:])
	if (mode != "sync" && mode != "async") || count < 1 || batch < 1 || concurrency < 1 {
		die("bad --mode, -q, --batch or -c")
	}
	rlog.SetLogLevel("error") // client logs go to stderr via logrus
	if kind == "consume" {
		os.Exit(consume())
	}
	os.Exit(produce())
}

func die(msg string) {
	fmt.Fprintln(os.Stderr, "gobench:", msg)
	os.Exit(2)
}

func unixUs() int64 { return time.Now().UnixMicro() }

// cpuS is user+sys CPU of the whole process in seconds.
func cpuS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func peakRssKb() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func sendErr(e string) {
	if atomic.AddInt64(&errorsShown, 1) <= maxErrorsShown {
		fmt.Fprintln(os.Stderr, "gobench: send failed:", e)
	}
}

type phaseResult struct {
	ok, failed     int64
	elapsed        time.Duration
	lat            []int64 // µs per successful call
	cpu            float64
	startUs, endUs int64
}

func produce() int {
	g := group
	if g == "" {
		g = "bench_go_producer"
	}
	p, err := rocketmq.NewProducer(
		producer.WithNameServer([]string{ns}), // passthrough resolver; the default is an HTTP resolver
		producer.WithGroupName(g),
		producer.WithInstanceName(fmt.Sprintf("bench-%d", os.Getpid())),
		producer.WithRetry(2),
		producer.WithSendMsgTimeout(timeout),
	)
	if err != nil {
		die("new producer: " + err.Error())
	}
	if err := p.Start(); err != nil {
		die("start producer: " + err.Error())
	}
	body := make([]byte, size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	// Alone, with a generous timeout: route, connection.
	ctx, cancel := context.WithTimeout(context.Background(), firstTimeout)
	r, err := p.SendSync(ctx, primitive.NewMessage(topic, body))
	cancel()
	if err != nil || r.Status != primitive.SendOK {
		fmt.Fprintln(os.Stderr, "gobench: first send:", err, r)
		return 1
	}
	firstOk := unixUs()
	if warmup > 0 {
		phase(p, body, warmup)
	}
	m := phase(p, body, count)
	_ = p.Shutdown()
	report("produce", m.ok, m.failed, m.elapsed, m.lat, m.cpu, &firstOk, m.startUs, m.endUs)
	if m.failed > 0 {
		return 1
	}
	return 0
}

func msgs(body []byte, k int) []*primitive.Message {
	out := make([]*primitive.Message, k)
	for i := range out {
		out[i] = primitive.NewMessage(topic, body)
	}
	return out
}

func phase(p rocketmq.Producer, body []byte, n int64) phaseResult {
	calls := (n + int64(batch) - 1) / int64(batch)
	lat := make([]int64, calls) // slot i = µs of call i + 1 (0 = failed)
	var ok, failed, next int64
	cpu0 := cpuS()
	res := phaseResult{startUs: unixUs()}
	start := time.Now()
	callSize := func(c int64) int { return int(min(int64(batch), n-c*int64(batch))) }
	if mode == "sync" {
		var wg sync.WaitGroup
		for w := 0; w < concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c := atomic.AddInt64(&next, 1) - 1
					if c >= calls {
						return
					}
					k := callSize(c)
					t0 := time.Now()
					r, err := p.SendSync(context.Background(), msgs(body, k)...)
					if err == nil && r.Status != primitive.SendOK {
						err = fmt.Errorf("status %d", r.Status)
					}
					if err != nil {
						atomic.AddInt64(&failed, int64(k))
						sendErr(err.Error())
						continue
					}
					lat[c] = time.Since(t0).Microseconds() + 1
					atomic.AddInt64(&ok, int64(k))
				}
			}()
		}
		wg.Wait()
	} else {
		inFlight := make(chan struct{}, concurrency)
		var wg sync.WaitGroup
		for c := int64(0); c < calls; c++ {
			k := callSize(c)
			inFlight <- struct{}{}
			wg.Add(1)
			t0 := time.Now()
			call := c
			var once sync.Once
			done := func(r *primitive.SendResult, err error) {
				once.Do(func() {
					if err == nil && r.Status != primitive.SendOK {
						err = fmt.Errorf("status %d", r.Status)
					}
					if err != nil {
						atomic.AddInt64(&failed, int64(k))
						sendErr(err.Error())
					} else {
						lat[call] = time.Since(t0).Microseconds() + 1
						atomic.AddInt64(&ok, int64(k))
					}
					<-inFlight
					wg.Done()
				})
			}
			if err := p.SendAsync(context.Background(), func(_ context.Context, r *primitive.SendResult, err error) {
				done(r, err)
			}, msgs(body, k)...); err != nil {
				done(nil, err)
			}
		}
		wg.Wait()
	}
	res.elapsed = time.Since(start)
	res.endUs = unixUs()
	res.cpu = cpuS() - cpu0
	res.ok, res.failed = ok, failed
	for _, v := range lat {
		if v > 0 {
			res.lat = append(res.lat, v-1)
		}
	}
	return res
}

func consume() int {
	g := group
	if g == "" {
		g = fmt.Sprintf("bench_go_c_%d", os.Getpid())
	}
	var handled int64
	var first, last struct {
		t     time.Time
		cpu   float64
		unixU int64
	}
	done := make(chan struct{})
	c, err := rocketmq.NewPushConsumer(
		consumer.WithGroupName(g),
		consumer.WithNameServer([]string{ns}),
		consumer.WithInstance(fmt.Sprintf("bench-%d", os.Getpid())),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithConsumeGoroutineNums(threads),
	)
	if err != nil {
		die("new consumer: " + err.Error())
	}
	err = c.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		n := int64(len(ms))
		after := atomic.AddInt64(&handled, n)
		before := after - n
		if before == 0 {
			first.t, first.cpu, first.unixU = time.Now(), cpuS(), unixUs()
		}
		if before < count && after >= count {
			last.t, last.cpu, last.unixU = time.Now(), cpuS(), unixUs()
			close(done)
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		die("subscribe: " + err.Error())
	}
	if err := c.Start(); err != nil {
		die("start consumer: " + err.Error())
	}
	select {
	case <-done:
	case <-time.After(600 * time.Second):
		fmt.Fprintf(os.Stderr, "gobench: consumed %d of %d messages before the timeout\n", atomic.LoadInt64(&handled), count)
		return 1
	}
	report("consume", count-1, 0, last.t.Sub(first.t), nil, last.cpu-first.cpu, nil, first.unixU, last.unixU)
	_ = c.Shutdown()
	return 0
}

func report(kind string, messages, failed int64, elapsed time.Duration, lat []int64, cpu float64, firstOk *int64, startUs, endUs int64) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(q float64) any {
		if len(lat) == 0 {
			return nil
		}
		return lat[int(q*float64(len(lat)-1))]
	}
	secs := elapsed.Seconds()
	out := map[string]any{
		"client": "go", "kind": kind, "mode": mode, "batch": batch, "concurrency": concurrency, "size": size,
		"messages": messages, "failed": failed, "elapsed_s": secs, "tps": float64(messages) / max(secs, 1e-9),
		"p50_us": pct(0.50), "p99_us": pct(0.99), "max_us": pct(1.0),
		"cpu_s": cpu, "cpu_us_per_msg": cpu * 1e6 / float64(max(messages, 1)), "peak_rss_kb": peakRssKb(),
		"first_ok_unix_us": firstOk, "start_unix_us": startUs, "end_unix_us": endUs,
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
