package partner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"workbench/shared/errs"
	"workbench/shared/ids"
	"workbench/shared/keyring"
)

// DefaultSchedule is the wait before each retry (PARTNER-PROTOCOL.md); a
// call that fails once more after the last one is parked as failed.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute,
	time.Hour, 4 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// Worker delivers outbox calls: per binding, in order, one worker at a
// time (a lease on the binding's queue), each call until it succeeds or
// runs out of retries.
type Worker struct {
	Store    Store
	Keys     *keyring.Keyring
	Client   *http.Client
	Now      func() time.Time
	Schedule []time.Duration // DefaultSchedule when nil
	// Jitter spreads a retry delay; ±20 % when nil.
	Jitter func(time.Duration) time.Duration
	// Lease is how long a worker may hold a binding; 6 min when zero
	// (longer than the function may run).
	Lease time.Duration
	// MaxBindings bounds the bindings one sweep handles; 200 when zero.
	MaxBindings int
}

// Stats counts what one run did.
type Stats struct {
	Bindings int `json:"bindings"`
	Sent     int `json:"sent"`
	Retried  int `json:"retried"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
}

func (st *Stats) add(o Stats) {
	st.Bindings += o.Bindings
	st.Sent += o.Sent
	st.Retried += o.Retried
	st.Failed += o.Failed
	st.Skipped += o.Skipped
}

func (w *Worker) schedule() []time.Duration {
	if w.Schedule != nil {
		return w.Schedule
	}
	return DefaultSchedule
}

func (w *Worker) jitter(d time.Duration) time.Duration {
	if w.Jitter != nil {
		return w.Jitter(d)
	}
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// Sweep delivers every binding that has a call due now.
func (w *Worker) Sweep(ctx context.Context) (Stats, error) {
	limit := w.MaxBindings
	if limit <= 0 {
		limit = 200
	}
	keys, err := w.Store.Due(ctx, w.Now(), limit)
	if err != nil {
		return Stats{}, err
	}
	return w.Deliver(ctx, keys)
}

// Deliver delivers the due calls of the given bindings.
func (w *Worker) Deliver(ctx context.Context, keys []BindingKey) (Stats, error) {
	var total Stats
	var failed []error
	cache := map[string]target{}
	for _, k := range keys {
		if !timeLeft(ctx) {
			break // the next run continues
		}
		st, err := w.deliverBinding(ctx, k, cache)
		total.add(st)
		if err != nil {
			// One binding's trouble must not hold up the others.
			slog.ErrorContext(ctx, "deliver binding", "tenant", k.TenantID, "app", k.AppID, "error", err)
			failed = append(failed, err)
		}
	}
	return total, errors.Join(failed...)
}

// timeLeft reports whether the invocation has time for one more call (a
// partner's timeout and a write).
func timeLeft(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > DefaultTimeout+time.Second
}

// target is where a binding's calls go and how they are signed.
type target struct {
	url       string
	accessKey string
}

func (w *Worker) target(ctx context.Context, appID string, cache map[string]target) (target, error) {
	if t, ok := cache[appID]; ok {
		return t, nil
	}
	app, err := w.Store.GetApp(ctx, appID)
	if err != nil {
		return target{}, err
	}
	p, err := w.Store.GetPartner(ctx, app.PartnerID)
	if err != nil {
		return target{}, err
	}
	key, err := w.Keys.Open(p.AccessKey, partnerAAD(p.ID))
	if err != nil {
		return target{}, errs.Wrap(err, "open access key")
	}
	t := target{url: app.ProductionURL, accessKey: key}
	cache[appID] = t
	return t, nil
}

func (w *Worker) deliverBinding(ctx context.Context, k BindingKey, cache map[string]target) (Stats, error) {
	st := Stats{Bindings: 1}
	lease := w.Lease
	if lease <= 0 {
		lease = 6 * time.Minute
	}
	owner := ids.New(w.Now())
	// Stop in time to hand the queue back before the lease runs out, so
	// that two workers never send a binding's calls at once.
	stopAt := w.Now().Add(lease - DefaultTimeout - 5*time.Second)
	head, ok, err := w.Store.Lease(ctx, k, owner, w.Now(), w.Now().Add(lease))
	if err != nil || !ok {
		return Stats{}, err // another worker holds this binding
	}
	defer func() {
		if err := w.Store.Unlease(context.WithoutCancel(ctx), k, owner, head); err != nil {
			slog.ErrorContext(ctx, "release binding queue", "tenant", k.TenantID, "app", k.AppID, "error", err)
		}
	}()
	b, err := w.Store.GetBinding(ctx, k.TenantID, k.AppID)
	if err != nil {
		return st, err
	}
	tgt, err := w.target(ctx, k.AppID, cache)
	if err != nil {
		return st, err
	}
	for {
		calls, next, err := w.Store.Calls(ctx, k, head, 25, true)
		if err != nil {
			return st, err
		}
		for _, c := range calls {
			seq, _ := strconv.Atoi(c.ID)
			done := func() { head = callSK(seq + 1) }
			if c.Status != CallPending {
				done()
				continue
			}
			now := w.Now()
			if c.NextAttemptAt.After(now) {
				return st, nil // in order: nothing after a call that waits
			}
			if !timeLeft(ctx) || now.After(stopAt) {
				return st, nil // the call stays due; the next run sends it
			}
			if !b.active(now) && !c.Final {
				c.Status, c.UpdatedAt = CallSkipped, now.UTC()
				c.clearDue()
				if err := w.Store.PutCall(ctx, c); err != nil {
					return st, err
				}
				st.Skipped++
				done()
				continue
			}
			a := w.send(ctx, tgt, c)
			c.Attempts = append(c.Attempts, a)
			c.UpdatedAt = w.Now().UTC()
			ok := a.Error == "" && a.HTTPStatus == http.StatusOK && a.ResultCode == "000000"
			switch {
			case ok:
				c.Status = CallSent
				c.clearDue()
				st.Sent++
			case c.Retries >= len(w.schedule()):
				c.Status = CallFailed
				c.clearDue()
				st.Failed++
			default:
				c.setDue(w.Now().Add(w.jitter(w.schedule()[c.Retries])))
				c.Retries++
				st.Retried++
			}
			if err := w.Store.PutCall(ctx, c); err != nil {
				return st, err
			}
			slog.InfoContext(ctx, "partner call", "tenant", k.TenantID, "app", k.AppID, "call", c.ID,
				"kind", c.Kind, "attempt", a.N, "status", a.HTTPStatus, "resultCode", a.ResultCode,
				"ms", a.DurationMS, "outcome", c.Status, "error", a.Error)
			if c.Status == CallPending {
				return st, nil
			}
			done()
		}
		if next == "" {
			return st, nil
		}
	}
}

// maxResponse bounds what is read of a partner's answer.
const maxResponse = 64 << 10

// send makes one attempt at c.
func (w *Worker) send(ctx context.Context, t target, c Call) Attempt {
	start := w.Now()
	a := Attempt{N: len(c.Attempts) + 1, RequestID: ids.New(start), At: start.UTC()}
	finish := func(err error) Attempt {
		a.DurationMS = w.Now().Sub(start).Milliseconds()
		if err != nil {
			a.Error = truncate(err.Error(), 300)
		}
		return a
	}
	url := t.url + SubPath(c.Kind)
	// The URL was checked at registration; check it again now, so a URL
	// that got in any other way is never called.
	if _, err := NormalizeProductionURL("productionUrl", url); err != nil {
		return finish(fmt.Errorf("production URL refused: %s", errs.As(err).Message))
	}
	plain, err := w.Keys.Open(c.Body, callAAD(c.PK, c.SK))
	if err != nil {
		return finish(fmt.Errorf("call body does not open"))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(plain), &fields); err != nil {
		return finish(fmt.Errorf("call body is not an object"))
	}
	fields["timeStamp"] = json.RawMessage(strconv.FormatInt(start.UnixMilli(), 10))
	body, _ := json.Marshal(fields)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return finish(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("x-request-id", a.RequestID)
	SignHeaders(req.Header, t.accessKey, start, body)
	resp, err := w.Client.Do(req)
	if err != nil {
		return finish(err)
	}
	defer resp.Body.Close()
	a.HTTPStatus = resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return finish(fmt.Errorf("read answer: %w", err))
	}
	var answer struct {
		ResultCode string `json:"resultCode"`
		ResultMsg  string `json:"resultMsg"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		if resp.StatusCode == http.StatusOK {
			return finish(fmt.Errorf("answer is not a resultCode JSON object"))
		}
		return finish(fmt.Errorf("HTTP %d", resp.StatusCode))
	}
	a.ResultCode = truncate(answer.ResultCode, 16)
	switch {
	case resp.StatusCode != http.StatusOK:
		return finish(fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(answer.ResultMsg, 200)))
	case answer.ResultCode != "000000":
		return finish(fmt.Errorf("resultCode %s: %s", answer.ResultCode, truncate(answer.ResultMsg, 200)))
	}
	return finish(nil)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
