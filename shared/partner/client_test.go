package partner

import (
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPublicIP(t *testing.T) {
	for ip, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::1": false,
		"fe80::1": false, "fc00::1": false, "::ffff:10.0.0.1": false, "::ffff:127.0.0.1": false,
		"224.0.0.1": false, "::": false,
	} {
		if got := publicIP(net.ParseIP(ip)); got != want {
			t.Errorf("publicIP(%s) = %v, want %v", ip, got, want)
		}
	}
}

func TestParseResolve(t *testing.T) {
	if _, err := ParseResolve("a.example.com:8443=127.0.0.1:1"); err == nil {
		t.Fatal("resolve override of a port other than 443 accepted")
	}
	if m, err := ParseResolve("A.example.com:443=127.0.0.1:8443, b.example.com:443=127.0.0.1:9443"); err != nil || len(m) != 2 || m["a.example.com:443"] != "127.0.0.1:8443" {
		t.Fatalf("ParseResolve = %v, %v", m, err)
	}
}

func TestClientRefusesPrivateAddressesAndOtherPorts(t *testing.T) {
	c, err := NewClient(Outbound{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"https://127.0.0.1/", "https://localhost/", "https://[::1]/", "https://10.0.0.1/", "https://169.254.169.254/"} {
		_, err := c.Get(u)
		if err == nil || !strings.Contains(err.Error(), "non-public") {
			t.Errorf("GET %s: %v, want a refusal after resolution", u, err)
		}
	}
	if _, err := c.Get("https://127.0.0.1:8443/"); err == nil || !strings.Contains(err.Error(), "only port 443") {
		t.Errorf("port 8443: %v", err)
	}
}

func TestClientFollowsNoRedirectAndChecksTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://169.254.169.254/latest/meta-data", http.StatusFound)
	}))
	defer srv.Close()
	resolve := map[string]string{"isv.example.com:443": srv.Listener.Addr().String()}
	// Without the test CA the certificate is refused.
	c, _ := NewClient(Outbound{Resolve: resolve})
	if _, err := c.Get("https://isv.example.com/"); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	c, err := NewClient(Outbound{Resolve: resolve, ExtraCA: ca})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get("https://isv.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d: the redirect was followed", resp.StatusCode)
	}
}
