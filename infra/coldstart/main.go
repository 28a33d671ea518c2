// Command coldstart measures every function's cold start against a hello
// function and checks the budget (README, "Cold start").
//
// It builds every function of the Makefile's FUNCTIONS list and ./hello
// for the host with the functions' build flags, provisions the template's
// tables and secrets on a moto server, and starts each binary N times as
// Lambda would: with its template environment and AWS_LAMBDA_RUNTIME_API
// naming a Runtime API stub on loopback. A run ends when the function asks
// the stub for its first invocation (GET …/invocation/next); the process is
// then killed and its rusage read.
//
// The AWS endpoint the functions see is a recording proxy in front of moto,
// so the time a function spent waiting on AWS during init is measured from
// outside the process: the union of the intervals of its requests, and its
// round trips (calls that overlap count once). Each function run is paired
// with a hello run just before it; the budget compares medians of the
// pairs' ratios, never absolute times, so a loaded machine slows both sides
// alike.
//
// Budget (exit status 1 when broken): init minus AWS time ≤ 2× hello's init,
// at most one AWS round trip during init, and a binary ≤ 1.25× hello's size
// unless it links the pinyin dictionary. The one function that reads and
// writes XLSX (MemberImportsFunction, uploads and exports) links excelize,
// whose package init alone takes longer than hello's whole init: it is
// marked ˣ and held to no init or size budget, and no other function may
// link it (link_test.go).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"workbench/infra/localstack"
	"workbench/infra/moto"
	"workbench/infra/template"
)

// buildFlags are the Makefile's GOFLAGS_LAMBDA.
var buildFlags = []string{"-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w"}

// pinyinMarker opens the pinyin dictionary (shared/directory): a binary
// holding it is exempt from the size budget.
const pinyinMarker = "workbench pinyin readings v1"

// xlsxMarker is in a binary that links excelize (its module path, in the
// build information).
const xlsxMarker = "github.com/xuri/excelize/v2"

const hello = "hello"

func main() {
	runs := flag.Int("n", 9, "runs of each function (each paired with a hello run)")
	only := flag.String("only", "", "comma-separated LogicalIds to measure (default: all)")
	initBudget := flag.Float64("init-budget", 2, "max (init − AWS time) / hello init, median of pairs")
	sizeBudget := flag.Float64("size-budget", 1.25, "max binary size / hello's, except binaries with the pinyin dictionary")
	maxTrips := flag.Int("max-round-trips", 1, "max AWS round trips during init")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*runs, *only, budget{*initBudget, *sizeBudget, *maxTrips}); err != nil {
		log.Fatal("coldstart: ", err)
	}
}

type budget struct {
	init, size float64
	roundTrips int
}

type function struct {
	id, dir, bin string
	size         int64
	pinyin       bool
	xlsx         bool
	env          []string
	runs         []sample
}

type sample struct {
	init, aws, cpu time.Duration
	calls, trips   int
	rssKB          int64
	helloInit      time.Duration
}

func run(n int, only string, b budget) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	tmpl, err := template.ParseFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		return err
	}
	fns, err := makefileFunctions(filepath.Join(root, "Makefile"), only)
	if err != nil {
		return err
	}
	for _, f := range fns {
		if _, ok := tmpl.Function(f.id); !ok {
			return fmt.Errorf("the Makefile lists %s, which template.yaml does not declare", f.id)
		}
	}
	bin, err := os.MkdirTemp("", "coldstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	h := &function{id: hello, dir: "infra/coldstart/hello"}
	all := append([]*function{h}, fns...)
	if err := build(root, bin, all); err != nil {
		return err
	}

	ctx := context.Background()
	localstack.UseLocalCredentials()
	srv, err := moto.Start(ctx, moto.Options{Dir: root, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer srv.Stop()
	ls, err := localstack.New(localstack.Config{Template: tmpl, Endpoint: srv.Endpoint, Prefix: "coldstart-"})
	if err != nil {
		return err
	}
	if err := ls.Provision(ctx); err != nil {
		return err
	}
	proxy, err := startProxy(srv.Endpoint)
	if err != nil {
		return err
	}
	stub, err := startStub()
	if err != nil {
		return err
	}
	for _, f := range all {
		vars := map[string]string{
			"AWS_ENDPOINT_URL":      proxy.url,
			"AWS_REGION":            localstack.Region,
			"AWS_ACCESS_KEY_ID":     localstack.AccessKeyID,
			"AWS_SECRET_ACCESS_KEY": localstack.SecretAccessKey,
		}
		if f.id != hello {
			if vars, err = ls.Env(f.id); err != nil {
				return err
			}
			vars["AWS_ENDPOINT_URL"] = proxy.url
		}
		f.env = lambdaEnv(f.id, vars, stub.addr)
	}

	// One unmeasured run each warms the page cache and moto.
	for _, f := range all {
		if _, err := measure(f, stub, proxy); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range n {
		order := slices.Clone(fns)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, f := range order {
			hs, err := measure(h, stub, proxy)
			if err != nil {
				return err
			}
			h.runs = append(h.runs, hs)
			s, err := measure(f, stub, proxy)
			if err != nil {
				return err
			}
			s.helloInit = hs.init
			f.runs = append(f.runs, s)
		}
	}
	return report(os.Stdout, h, fns, b)
}

// makefileFunctions reads the Makefile's FUNCTIONS list.
func makefileFunctions(path, only string) ([]*function, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range strings.Split(only, ",") {
		if id = strings.TrimSpace(id); id != "" {
			want[id] = true
		}
	}
	var fns []*function
	for _, m := range regexp.MustCompile(`(?m)^\t(\w+Function)=([\w-]+)`).FindAllStringSubmatch(string(text), -1) {
		if len(want) == 0 || want[m[1]] {
			fns = append(fns, &function{id: m[1], dir: "functions/" + m[2]})
		}
	}
	if len(fns) == 0 {
		return nil, errors.New("no function to measure")
	}
	return fns, nil
}

// build compiles every function into dir with one go build.
func build(root, dir string, fns []*function) error {
	args := append([]string{"build"}, buildFlags...)
	args = append(args, "-o", dir+string(filepath.Separator))
	for _, f := range fns {
		args = append(args, "./"+f.dir)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	for _, f := range fns {
		f.bin = filepath.Join(dir, filepath.Base(f.dir))
		data, err := os.ReadFile(f.bin)
		if err != nil {
			return err
		}
		f.size = int64(len(data))
		f.pinyin = bytes.Contains(data, []byte(pinyinMarker))
		f.xlsx = bytes.Contains(data, []byte(xlsxMarker))
	}
	return nil
}

// lambdaEnv is what Lambda gives a provided.al2023 function, with vars.
func lambdaEnv(id string, vars map[string]string, runtimeAPI string) []string {
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + runtimeAPI,
		"AWS_LAMBDA_FUNCTION_NAME=" + id,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_EC2_METADATA_DISABLED=true",
		// No developer's AWS files: Lambda has none.
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"TZ=:UTC",
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// measure starts f once and waits for its first /next.
func measure(f *function, stub *stub, proxy *proxy) (sample, error) {
	var out bytes.Buffer
	cmd := exec.Command(f.bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = f.env, &out, &out
	r := stub.arm()
	proxy.reset()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	exited := make(chan error, 1)
	done := make(chan struct{}) // closed once exited holds the exit status
	go func() { exited <- cmd.Wait(); close(done) }()
	var res stubResult
	select {
	case res = <-r:
	case err := <-exited:
		return sample{}, fmt.Errorf("%s exited before asking for an invocation (%v):\n%s", f.id, err, tail(out.String()))
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill() // it may have just exited: <-done waits either way
		<-done
		return sample{}, fmt.Errorf("%s did not ask for an invocation within 30s:\n%s", f.id, tail(out.String()))
	}
	hwm := peakRSS(cmd.Process.Pid)
	_ = cmd.Process.Kill() // it may have just exited: <-done waits either way
	<-done
	if res.initError != "" {
		return sample{}, fmt.Errorf("%s reported an init error: %s\n%s", f.id, res.initError, tail(out.String()))
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	s := sample{init: res.at.Sub(start), rssKB: hwm}
	if ru != nil {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.aws, s.calls, s.trips = proxy.between(start, res.at)
	return s, nil
}

// peakRSS reads the process's peak resident set (VmHWM) in KiB. The
// rusage of a child would not do: until exec it shares this process's
// memory, and its maximum counts that.
func peakRSS(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64) // 0 when unknown
			return kb
		}
	}
	return 0
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// stub is the Lambda Runtime API, as far as a cold start goes.
type stub struct {
	addr string
	mu   sync.Mutex
	cur  chan stubResult
}

type stubResult struct {
	at        time.Time
	initError string
}

func startStub() (*stub, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &stub{addr: ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		s.done(stubResult{at: time.Now()})
		<-r.Context().Done() // the process is killed before it gets work
	})
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.done(stubResult{at: time.Now(), initError: string(body)})
		w.WriteHeader(http.StatusAccepted)
	})
	go func() { _ = http.Serve(ln, mux) }() // it serves until the run ends
	return s, nil
}

func (s *stub) arm() <-chan stubResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = make(chan stubResult, 1)
	return s.cur
}

func (s *stub) done(r stubResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur <- r
		s.cur = nil
	}
}

// proxy forwards to moto and notes when each request started and ended.
type proxy struct {
	url   string
	mu    sync.Mutex
	spans []span
}

type span struct{ start, end time.Time }

func startProxy(target string) (*proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{url: "http://" + ln.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	timed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rp.ServeHTTP(w, r)
		p.mu.Lock()
		p.spans = append(p.spans, span{start, time.Now()})
		p.mu.Unlock()
	})
	go func() { _ = http.Serve(ln, timed) }() // it serves until the run ends
	return p, nil
}

func (p *proxy) reset() {
	p.mu.Lock()
	p.spans = nil
	p.mu.Unlock()
}

// between returns the time covered by requests that started between from
// and t (a killed run's request may end after the next run began), their
// number, and the round trips among them (overlapping requests count once).
func (p *proxy) between(from, t time.Time) (covered time.Duration, calls, trips int) {
	p.mu.Lock()
	spans := slices.Clone(p.spans)
	p.mu.Unlock()
	sort.Slice(spans, func(i, j int) bool { return spans[i].start.Before(spans[j].start) })
	var end time.Time
	for _, s := range spans {
		if s.start.Before(from) || !s.start.Before(t) {
			continue
		}
		calls++
		if s.end.After(t) {
			s.end = t
		}
		switch {
		case trips == 0 || s.start.After(end):
			trips++
			covered += s.end.Sub(s.start)
			end = s.end
		case s.end.After(end):
			covered += s.end.Sub(end)
			end = s.end
		}
	}
	return covered, calls, trips
}

// fewestTrips is the fewest AWS round trips of any run. Calls a function
// makes one after another never overlap, but concurrent ones need not
// overlap at the server either (one may be answered before the other's
// connection is up), so one run showing a single trip is the proof that a
// function waits once.
func fewestTrips(runs []sample) int {
	fewest := -1
	for _, r := range runs {
		if fewest < 0 || r.trips < fewest {
			fewest = r.trips
		}
	}
	return fewest
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func col(runs []sample, f func(sample) float64) float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return median(xs)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func report(w io.Writer, h *function, fns []*function, b budget) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "function\tinit ms\tAWS ms\tcalls\ttrips\tCPU ms\tRSS MB\tsize MB\tsize ×hello\t(init−AWS) ×hello\t")
	row := func(f *function, ratio float64, verdict string) {
		calls, trips := 0, fewestTrips(f.runs)
		for _, r := range f.runs {
			calls = max(calls, r.calls)
		}
		size := float64(f.size) / float64(h.size)
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.2f%s\t%.2f\t  %s\n", f.id,
			col(f.runs, func(s sample) float64 { return ms(s.init) }),
			col(f.runs, func(s sample) float64 { return ms(s.aws) }),
			calls, trips,
			col(f.runs, func(s sample) float64 { return ms(s.cpu) }),
			col(f.runs, func(s sample) float64 { return float64(s.rssKB) / 1024 }),
			float64(f.size)/(1<<20), size, map[bool]string{true: "ᵖ"}[f.pinyin]+map[bool]string{true: "ˣ"}[f.xlsx], ratio, verdict)
	}
	row(h, 1, "")
	var broken []string
	for _, f := range fns {
		ratio := col(f.runs, func(s sample) float64 { return float64(s.init-s.aws) / float64(s.helloInit) })
		var why []string
		if ratio > b.init && !f.xlsx {
			why = append(why, fmt.Sprintf("init %.2f× > %.2f×", ratio, b.init))
		}
		if trips := fewestTrips(f.runs); trips > b.roundTrips {
			why = append(why, fmt.Sprintf("%d AWS round trips > %d", trips, b.roundTrips))
		}
		if size := float64(f.size) / float64(h.size); size > b.size && !f.pinyin && !f.xlsx {
			why = append(why, fmt.Sprintf("size %.2f× > %.2f×", size, b.size))
		}
		verdict := "ok"
		if len(why) > 0 {
			verdict = strings.Join(why, "; ")
			broken = append(broken, f.id+": "+verdict)
		}
		row(f, ratio, verdict)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d runs each, every one paired with a hello run; medians. AWS ms: time covered by requests to the AWS endpoint before the first /next; trips: the fewest round trips of any run (overlapping requests count once). ᵖ: links the pinyin dictionary (no size budget); ˣ: links the XLSX library (no init or size budget).\n", len(fns[0].runs))
	if len(broken) > 0 {
		return fmt.Errorf("budget broken:\n  %s", strings.Join(broken, "\n  "))
	}
	fmt.Fprintln(w, "budget: ok")
	return nil
}
