// Command wsclient is a command-line client of the WebSocket API: it
// connects with a member's access token, prints every frame it receives
// on its own line, and sends each line of its standard input as a frame.
//
//	go run ./infra/wsclient -token "$TOKEN"                 # ws://127.0.0.1:3000/ws
//	go run ./infra/wsclient -token "$TOKEN" -n 1            # exit after one event
//	echo '{"action":"ping"}' | go run ./infra/wsclient -token "$TOKEN"
//
// Events delivered twice (delivery is at least once) are printed once,
// de-duplicated as docs/realtime.md says; -raw prints every frame.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"

	"github.com/coder/websocket"

	"workbench/shared/realtime"
)

func main() {
	addr := flag.String("url", "ws://127.0.0.1:3000/ws", "the WebSocket API's `URL`")
	token := flag.String("token", os.Getenv("TOKEN"), "the member's access `token` (default $TOKEN)")
	header := flag.Bool("protocol", false, "send the token in Sec-WebSocket-Protocol, as a browser does, not in the query")
	n := flag.Int("n", 0, "exit after `n` events (0: run until closed)")
	raw := flag.Bool("raw", false, "print every frame, duplicates included")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *token, *header, *n, *raw); err != nil {
		fmt.Fprintln(os.Stderr, "wsclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, token string, header bool, n int, raw bool) error {
	u, err := url.Parse(addr)
	if err != nil {
		return err
	}
	opts := &websocket.DialOptions{}
	if header {
		opts.Subprotocols = []string{realtime.Subprotocol, token}
	} else if token != "" {
		q := u.Query()
		q.Set("token", token)
		u.RawQuery = q.Encode()
	}
	conn, resp, err := websocket.Dial(ctx, u.String(), opts)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return fmt.Errorf("the handshake was refused: %s", resp.Status)
		}
		return err
	}
	defer func() { _ = conn.CloseNow() }()
	fmt.Fprintln(os.Stderr, "connected to", addr)

	go func() {
		lines := bufio.NewScanner(os.Stdin)
		for lines.Scan() {
			if line := strings.TrimSpace(lines.Text()); line != "" {
				// A failed write means a closed connection, which Read reports.
				_ = conn.Write(ctx, websocket.MessageText, []byte(line))
			}
		}
	}()

	var seen realtime.Dedup
	events := 0
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure || ctx.Err() != nil {
				return nil
			}
			return err
		}
		var e realtime.Event
		isEvent := json.Unmarshal(data, &e) == nil && e.ID != ""
		if isEvent && !raw && !seen.First(e) {
			continue
		}
		fmt.Println(string(data))
		if isEvent {
			events++
			if n > 0 && events >= n {
				conn.Close(websocket.StatusNormalClosure, "")
				return nil
			}
		}
	}
}
