// Package awscalls records the AWS calls each function makes as IAM
// authorizes them: an action on a resource. The local stack installs a
// Recorder on every function's SDK clients (an SDK middleware), so the
// calls that the tests and `make run` make can be evaluated against the
// function's policies by infra/iamcheck.
//
// A call is recorded as AWS authorizes it, not as the SDK names it: each
// item of TransactWriteItems and TransactGetItems under its own action
// (PutItem, UpdateItem, DeleteItem, ConditionCheckItem, GetItem) and table,
// BatchGetItem and BatchWriteItem once per table, a Query or Scan of an
// index on the index's ARN, lambda:InvokeFunction for Invoke, and an SMS
// published to a phone number on "*" (it has no ARN).
//
// Resources are named as the template names them with no prefix (the
// local program's naming), so that the same ARN comes out of a test's
// prefixed stack and out of the template's policies.
package awscalls

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Env names the directory that test binaries append their recorded calls
// to (`make test` sets it); unset, nothing is written.
const Env = "WORKBENCH_AWS_CALLS"

// A Call is one action on one resource by one function.
type Call struct {
	Function string `json:"function"` // template LogicalId
	Action   string `json:"action"`   // IAM action: dynamodb:PutItem
	// Resource is the ARN the action is authorized on, "*" for an action
	// on no resource, and empty when the recorder does not know the
	// operation's resources (iamcheck reports it).
	Resource string `json:"resource"`
	// Operation is the API operation the action was part of:
	// DynamoDB.TransactWriteItems.
	Operation string `json:"operation"`
}

// A Recorder keeps each distinct call once and, if it has a sink, writes it
// there as a JSON line when first seen, so nothing is lost when a test
// binary exits without a goodbye.
type Recorder struct {
	mu   sync.Mutex
	seen map[Call]bool
	open func() (io.Writer, error) // nil: keep in memory only
	w    io.Writer
	err  error
}

// New returns a recorder that keeps calls in memory only.
func New() *Recorder { return &Recorder{seen: map[Call]bool{}} }

// FromEnv returns a recorder that appends to a file of its own (one per
// process) in the directory named by $WORKBENCH_AWS_CALLS, or nil when the
// variable is unset. The file is created on the first call.
func FromEnv() *Recorder {
	dir := os.Getenv(Env)
	if dir == "" {
		return nil
	}
	r := New()
	r.open = func() (io.Writer, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%s-%d.jsonl", filepath.Base(os.Args[0]), os.Getpid())
		return os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	return r
}

// Add records calls.
func (r *Recorder) Add(calls ...Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range calls {
		if r.seen[c] {
			continue
		}
		r.seen[c] = true
		r.write(c)
	}
}

func (r *Recorder) write(c Call) {
	if r.open == nil || r.err != nil {
		return
	}
	if r.w == nil {
		if r.w, r.err = r.open(); r.err != nil {
			fmt.Fprintf(os.Stderr, "awscalls: %v\n", r.err)
			return
		}
	}
	line, _ := json.Marshal(c)
	// One write per line: an O_APPEND file keeps lines whole.
	if _, err := r.w.Write(append(line, '\n')); err != nil {
		r.err = err
		fmt.Fprintf(os.Stderr, "awscalls: %v\n", err)
	}
}

// Err reports the first failure to write the sink.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Calls returns the recorded calls, sorted.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Call, 0, len(r.seen))
	for c := range r.seen {
		out = append(out, c)
	}
	slices.SortFunc(out, compare)
	return out
}

func compare(a, b Call) int {
	return strings.Compare(a.Function+"\x00"+a.Action+"\x00"+a.Resource+"\x00"+a.Operation,
		b.Function+"\x00"+b.Action+"\x00"+b.Resource+"\x00"+b.Operation)
}

// ReadDir reads every *.jsonl file in dir and returns the distinct calls,
// sorted.
func ReadDir(dir string) ([]Call, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	r := New()
	for _, path := range files {
		if err := readFile(r, path); err != nil {
			return nil, err
		}
	}
	return r.Calls(), nil
}

func readFile(r *Recorder, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if c.Function == "" || c.Action == "" {
			return fmt.Errorf("%s:%d: a call without a function or an action", path, n)
		}
		r.Add(c)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
