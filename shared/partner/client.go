package partner

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// Outbound configures the HTTP client that calls partners. The zero value
// is the production client. ExtraCA and Resolve exist for tests and the
// local stack only (PARTNER-PROTOCOL.md, "Local testing"): they never relax
// the URL rules, and the configuration refuses them inside Lambda
// (config.Reader.LocalOnly).
type Outbound struct {
	// ExtraCA is PEM of certificates trusted besides the system roots.
	ExtraCA string
	// Resolve maps "host:443" to the "ip:port" to dial instead, like curl
	// --resolve. Targets are dialled even when they are loopback.
	Resolve map[string]string
	// Timeout bounds a whole call; 5 s when zero.
	Timeout time.Duration
}

// DefaultTimeout is the time a partner has to answer a call.
const DefaultTimeout = 5 * time.Second

// ParseResolve reads "host:443=127.0.0.1:8443,host2:443=…".
func ParseResolve(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		from, to, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("resolve override %q is not host:443=ip:port", part)
		}
		if _, port, err := net.SplitHostPort(from); err != nil || port != "443" {
			return nil, fmt.Errorf("resolve override %q must map a host:443", part)
		}
		if _, _, err := net.SplitHostPort(to); err != nil {
			return nil, fmt.Errorf("resolve override %q must map to ip:port", part)
		}
		m[strings.ToLower(from)] = to
	}
	return m, nil
}

// ReadCA returns PEM text given as PEM or as the path of a PEM file.
func ReadCA(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "-----BEGIN") {
		return s, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return "", fmt.Errorf("read extra CA file: %w", err)
	}
	return string(b), nil
}

// NewClient returns the client for partner calls: TLS verified against the
// system roots (plus ExtraCA), no redirects, a whole-call timeout, and a
// dialer that refuses private, loopback, link-local and other non-public
// addresses after DNS resolution, so a partner's DNS cannot point us at an
// internal network.
func NewClient(o Outbound) (*http.Client, error) {
	// Nil roots are the system roots, which crypto/tls loads on the first
	// handshake: reading and parsing them is ~14 ms that a cold start
	// should not pay before any partner is called. Only the local extra CA
	// needs the pool built here.
	var roots *x509.CertPool
	if o.ExtraCA != "" {
		var err error
		if roots, err = x509.SystemCertPool(); err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM([]byte(o.ExtraCA)) {
			return nil, errors.New("partner: the extra CA holds no PEM certificate")
		}
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	public := &net.Dialer{Timeout: timeout, Control: refusePrivate}
	direct := &net.Dialer{Timeout: timeout}
	resolve := o.Resolve
	transport := &http.Transport{
		Proxy: nil, // a proxy would dial for us and skip the address check
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if _, port, _ := net.SplitHostPort(addr); port != "443" {
				return nil, fmt.Errorf("partner: refusing to dial %s: only port 443", addr)
			}
			if to, ok := resolve[strings.ToLower(addr)]; ok {
				return direct.DialContext(ctx, network, to)
			}
			return public.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       60 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// refusePrivate runs after DNS resolution, on the address actually dialled.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || !publicIP(ip) {
		return fmt.Errorf("partner: refusing to connect to non-public address %s", host)
	}
	return nil
}

var nonPublic = func() []*net.IPNet {
	var nets []*net.IPNet
	for _, c := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "2001:db8::/32",
	} {
		_, n, _ := net.ParseCIDR(c)
		nets = append(nets, n)
	}
	return nets
}()

func publicIP(ip net.IP) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, n := range nonPublic {
		if n.Contains(ip) {
			return false
		}
	}
	return true
}
