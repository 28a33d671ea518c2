// Command local serves the whole stack on one machine, as `make run` does:
// moto stands in for AWS, the tables and secrets of template.yaml are
// created on it, every function is built in-process and served behind the
// local API gateway.
//
// moto keeps nothing across restarts, so the program snapshots the tables
// into <data>/data: when it stops, and a couple of seconds after any
// request that may have changed something, so that even a hard kill loses
// little. The next start restores the snapshot unless -fresh (or FRESH=1)
// is given.
//
// It exits, snapshotting, on SIGINT or SIGTERM, and when its parent process
// dies: make does not pass SIGTERM on to the commands it runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"workbench/infra/awscalls"
	"workbench/infra/localstack"
	"workbench/infra/moto"
	"workbench/infra/template"
	"workbench/shared/logging"
	"workbench/shared/stack"
)

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:3000", "`address` to serve the API on")
	flag.StringVar(&o.data, "data", ".local", "`directory` of the local state (the snapshot goes in its data/)")
	flag.BoolVar(&o.fresh, "fresh", envBool("FRESH"), "start with empty tables, discarding the snapshot (also FRESH=1)")
	flag.StringVar(&o.template, "template", "template.yaml", "the SAM `template` to serve")
	flag.Parse()
	o.debounce = 2 * time.Second
	o.python = "."

	// The functions log through the default logger, as in Lambda: request ids
	// come from their contexts.
	logging.Setup(os.Stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = withParent(ctx)
	ready := func(url string) {
		fmt.Printf("Workbench local stack ready on %s (data in %s; Ctrl-C to stop)\n", url, filepath.Join(o.data, "data"))
	}
	if err := run(ctx, o, ready); err != nil {
		slog.Error("local stack failed", "err", err)
		os.Exit(1)
	}
}

type options struct {
	addr, data, template string
	fresh                bool
	debounce             time.Duration // from a mutating request to its snapshot
	python               string        // directory whose .local/venv may hold moto
}

// run serves until ctx ends, then snapshots and stops.
func run(ctx context.Context, o options, ready func(url string)) error {
	localstack.UseLocalCredentials()
	tmpl, err := template.ParseFile(o.template)
	if err != nil {
		return err
	}

	server, err := moto.Start(ctx, moto.Options{Dir: o.python, Log: os.Stderr})
	if errors.Is(err, moto.ErrNotInstalled) {
		slog.Info("installing moto", "venv", filepath.Dir(filepath.Dir(moto.VenvPython(o.python))), "requirement", moto.Requirement)
		var py string
		if py, err = moto.Install(ctx, o.python, os.Stderr); err != nil {
			return err
		}
		server, err = moto.Start(ctx, moto.Options{Python: py, Log: os.Stderr})
	}
	if err != nil {
		return err
	}
	defer server.Stop()
	slog.Info("moto started", "endpoint", server.Endpoint)

	// WORKBENCH_AWS_CALLS=dir records the functions' AWS calls for
	// `go run ./infra/iamcheck -calls dir`.
	ls, err := localstack.New(localstack.Config{Template: tmpl, Endpoint: server.Endpoint, Logger: slog.Default(),
		Settings: localOverrides(), Recorder: awscalls.FromEnv()})
	if err != nil {
		return err
	}
	if err := ls.Provision(ctx); err != nil {
		return err
	}
	snapshotDir := filepath.Join(o.data, "data")
	if o.fresh {
		if err := os.RemoveAll(snapshotDir); err != nil {
			return fmt.Errorf("discard the snapshot: %w", err)
		}
		slog.Info("starting fresh", "snapshot", snapshotDir)
	} else {
		if err := ls.Restore(ctx, snapshotDir); err != nil {
			return fmt.Errorf("%w (start with -fresh, or FRESH=1, to discard the snapshot)", err)
		}
		slog.Info("snapshot restored", "snapshot", snapshotDir)
	}

	// The gateway's address is known before the functions are built: the
	// push function posts to the local Management API there.
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	url := "http://" + ln.Addr().String()
	ls.SetGatewayURL(url)

	builders := make(map[string]localstack.Builder, len(stack.Functions))
	for id, b := range stack.Functions {
		builders[id] = localstack.Builder(b)
	}
	fns, err := ls.Build(ctx, builders)
	if err != nil {
		return err
	}
	gw, err := ls.Gateway(fns)
	if err != nil {
		return err
	}
	streams, err := ls.Streams(fns)
	if err != nil {
		return err
	}
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer func() { stopStreams(); streams.Wait() }()
	if err := streams.Start(streamCtx); err != nil {
		return err
	}
	snap := &snapshotter{delay: o.debounce, save: func() error { return ls.Snapshot(context.Background(), snapshotDir) }}
	gw.OnMutation = func() {
		snap.touch()
		streams.Nudge()
	}

	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(localstack.Listener(ln)) }()
	slog.Info("ready", "url", url, "functions", len(fns), "routes", len(gw.Routes), "moto", server.Endpoint)
	if gw.WebSockets != nil {
		slog.Info("websocket api", "url", "ws://"+ln.Addr().String()+gw.WebSockets.Path(), "stream_poll", streams.Interval.String())
	}
	if ready != nil {
		ready(url)
	}

	select {
	case <-ctx.Done():
		slog.Info("stopping", "cause", context.Cause(ctx))
	case err = <-served:
		err = fmt.Errorf("serve: %w", err)
	case <-server.Done():
		return errors.New("moto exited; the data since the last snapshot is lost")
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if gw.WebSockets != nil {
		gw.WebSockets.Close()
	}
	if serr := srv.Shutdown(shutdown); serr != nil {
		// Requests still open after the grace period are cut; the snapshot
		// is saved all the same.
		slog.Warn("shutdown", "error", serr)
	}
	if serr := snap.flush(); serr != nil {
		return errors.Join(err, serr)
	}
	slog.Info("snapshot saved", "snapshot", snapshotDir)
	return err
}

// snapshotter saves a snapshot a little after the last of a burst of
// changes, and at most maxDelay after the first.
type snapshotter struct {
	delay time.Duration
	save  func() error

	mu      sync.Mutex // guards timer and since
	timer   *time.Timer
	since   time.Time // of the first change not yet saved
	running sync.Mutex
}

func (s *snapshotter) touch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer == nil {
		s.since = time.Now()
		s.timer = time.AfterFunc(s.delay, s.fire)
		return
	}
	if time.Since(s.since) < 5*s.delay {
		s.timer.Reset(s.delay)
	}
}

func (s *snapshotter) fire() {
	s.mu.Lock()
	s.timer = nil
	s.mu.Unlock()
	if err := s.run(); err != nil {
		slog.Error("snapshot failed", "err", err)
	}
}

func (s *snapshotter) run() error {
	s.running.Lock()
	defer s.running.Unlock()
	return s.save()
}

// flush cancels a pending snapshot and saves one now.
func (s *snapshotter) flush() error {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.mu.Unlock()
	return s.run()
}

// withParent returns a context that ends when the process's parent dies,
// which shows as a change of parent process id.
func withParent(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	parent := os.Getppid()
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if os.Getppid() != parent {
					cancel(errors.New("the parent process exited"))
					return
				}
			}
		}
	}()
	return ctx
}

// localOverrides passes the partner functions' local-only settings (README,
// "Partner sync") from this process's environment to the functions, which
// read only their own settings.
func localOverrides() map[string]string {
	m := map[string]string{}
	for _, name := range []string{"PARTNER_EXTRA_CA", "PARTNER_RESOLVE", "PARTNER_RETRY_SCHEDULE"} {
		if v := os.Getenv(name); v != "" {
			m[name] = v
		}
	}
	return m
}

func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}
