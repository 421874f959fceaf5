// Fixed-count send benchmark with github.com/apache/rocketmq-client-go/v2, same flags and same
// one-line output as bench/java (JavaBench) and bench/rmq-bench:
//
//	go-client sent=N failed=F elapsed_s=X tps=Y p50_ms=A p99_ms=B max_ms=C
//
// `-w` goroutines share one producer; each takes the next message number until `-q` messages
// were attempted; latency per successful send. A warm-up send (route, connection) comes before
// the clock starts. 2 retries, 3 s timeout (the Go client has no body compression).
// Build and run through bench/run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

const maxErrorsShown = 5

func main() {
	ns := flag.String("n", "127.0.0.1:9876", "name server address (always set it: without it the client asks an HTTP address server)")
	topic := flag.String("t", "BenchmarkTest", "topic")
	workers := flag.Int("w", 16, "concurrent synchronous senders")
	size := flag.Int("s", 128, "message body size in bytes")
	total := flag.Int64("q", 100000, "number of messages to send")
	group := flag.String("group", "bench_go_producer", "producer group")
	flag.Parse()

	rlog.SetLogLevel("error") // client logs go to stderr via logrus

	p, err := rocketmq.NewProducer(
		producer.WithNameServer([]string{*ns}), // passthrough resolver; the default is an HTTP resolver
		producer.WithGroupName(*group),
		producer.WithInstanceName(fmt.Sprintf("bench-%d", os.Getpid())),
		producer.WithRetry(2),
		producer.WithSendMsgTimeout(3*time.Second),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "new producer:", err)
		os.Exit(1)
	}
	if err := p.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start producer:", err)
		os.Exit(1)
	}

	body := make([]byte, *size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}

	// warm-up: route lookup + connection + (with autoCreateTopicEnable) topic creation
	if _, err := p.SendSync(context.Background(), primitive.NewMessage(*topic, body)); err != nil {
		fmt.Fprintln(os.Stderr, "warm-up send:", err)
		os.Exit(1)
	}

	var next, failed int64
	var errMu sync.Mutex
	var errs []string
	lat := make([][]time.Duration, *workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) <= *total {
				t0 := time.Now()
				r, err := p.SendSync(context.Background(), primitive.NewMessage(*topic, body))
				d := time.Since(t0)
				if err == nil && r.Status != primitive.SendOK {
					err = fmt.Errorf("status %d", r.Status)
				}
				if err != nil {
					atomic.AddInt64(&failed, 1)
					errMu.Lock()
					if len(errs) < maxErrorsShown {
						errs = append(errs, err.Error())
					}
					errMu.Unlock()
					continue
				}
				lat[w] = append(lat[w], d)
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	_ = p.Shutdown()

	for _, e := range errs {
		fmt.Fprintln(os.Stderr, "gobench: send failed:", e)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(q float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(q*float64(len(all)-1))].Nanoseconds()) / 1e6
	}
	fmt.Printf("go-client sent=%d failed=%d elapsed_s=%.3f tps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
		len(all), failed, elapsed.Seconds(), float64(len(all))/elapsed.Seconds(), pct(0.50), pct(0.99), pct(1.0))
}
