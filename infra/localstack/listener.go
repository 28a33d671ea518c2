package localstack

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// Listener wraps l so that the requests net/http refuses before any handler
// runs (a NUL or a line break in a header, a malformed request line) get
// the API's answer, a JSON error body with an X-Request-Id, instead of the
// server's plain-text "400 Bad Request". On AWS, API Gateway refuses such
// requests itself; the local stack answers them as the API does the rest.
func Listener(l net.Listener) net.Listener { return listener{l} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return conn{c}, nil
}

type conn struct{ net.Conn }

// serverErrorHeaders is what net/http writes after the status line of an
// answer it gives on its own; a handler's answer always has more headers
// (Date at least), so it never starts like this.
const serverErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c conn) Write(b []byte) (int, error) {
	status, ok := serverError(b)
	if !ok {
		return c.Conn.Write(b)
	}
	code, msg := "bad_request", "the request is malformed: a header holds a character headers may not hold (a NUL, a line break), or the request line is broken"
	switch status {
	case 431:
		code, msg = "headers_too_large", "the request headers are too large"
	case 501:
		code, msg = "unsupported_transfer_encoding", "the transfer encoding is not supported"
	}
	body, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": msg}})
	body = append(body, '\n')
	resp := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nX-Request-Id: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		status, http.StatusText(status), base64.StdEncoding.EncodeToString(random(10)), len(body))
	if _, err := c.Conn.Write(append([]byte(resp), body...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// serverError reports whether b is an answer net/http wrote on its own, and
// its status.
func serverError(b []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(b, []byte("HTTP/1.1 "))
	if !ok || len(rest) < 3 {
		return 0, false
	}
	line, _, ok := bytes.Cut(rest, []byte("\r\n"))
	if !ok || !bytes.HasPrefix(rest[len(line):], []byte(serverErrorHeaders)) {
		return 0, false
	}
	status, err := strconv.Atoi(string(line[:3]))
	if err != nil || status < 400 {
		return 0, false
	}
	return status, true
}
