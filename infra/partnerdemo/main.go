// Command partnerdemo is a partner's HTTPS server for trying partner sync
// on the local stack: it checks each call's signature exactly as
// docs/partners.md tells partners to, refuses stale and replayed calls,
// decrypts the clientSecret of applicationSync with its RSA private key,
// prints every call, and can fail its first calls to show retries.
//
//	go run ./infra/partnerdemo -init                    # key, certificate, public key
//	go run ./infra/partnerdemo -access-key KEY -fail 2  # serve on 127.0.0.1:8443
//
// Its files live in -dir (default .local/partnerdemo): ca.pem (the
// certificate to trust: PARTNER_EXTRA_CA), tls-key.pem, rsa-key.pem (the
// app's private key) and public.pem (the app's public key to register).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	dir := flag.String("dir", ".local/partnerdemo", "directory of the demo's keys and certificate")
	host := flag.String("host", "partner.example.com", "the domain of the production URL (mapped to this server by PARTNER_RESOLVE)")
	addr := flag.String("addr", "127.0.0.1:8443", "address to listen on")
	accessKey := flag.String("access-key", os.Getenv("PARTNER_ACCESS_KEY"), "the partner's accessKey (from POST /v1/platform/partners)")
	fail := flag.Int("fail", 0, "answer the first N calls with HTTP 503")
	initOnly := flag.Bool("init", false, "only create the keys and certificate, then exit")
	flag.Parse()

	files, err := prepare(*dir, *host)
	if err != nil {
		log.Fatal(err)
	}
	if *initOnly {
		fmt.Printf("PARTNER_EXTRA_CA=%s\nPARTNER_RESOLVE=%s:443=%s\npublic key: %s\n", files.ca, *host, *addr, files.public)
		return
	}
	if *accessKey == "" {
		log.Fatal("-access-key is required (the accessKey of POST /v1/platform/partners)")
	}
	key, err := readRSA(files.rsa)
	if err != nil {
		log.Fatal(err)
	}
	p := &partner{accessKey: *accessKey, key: key, failLeft: *fail, seen: map[string]time.Time{}}
	cert, err := tls.LoadX509KeyPair(files.ca, files.tlsKey)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Addr: *addr, Handler: p,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 5 * time.Second,
	}
	log.Printf("partner demo on https://%s (as https://%s), failing the first %d calls", *addr, *host, *fail)
	log.Fatal(srv.ListenAndServeTLS("", ""))
}

type files struct{ ca, tlsKey, rsa, public string }

// prepare creates, once, a self-signed certificate for host and the app's
// 3072-bit RSA key pair.
func prepare(dir, host string) (files, error) {
	f := files{
		ca: filepath.Join(dir, "ca.pem"), tlsKey: filepath.Join(dir, "tls-key.pem"),
		rsa: filepath.Join(dir, "rsa-key.pem"), public: filepath.Join(dir, "public.pem"),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	if _, err := os.Stat(f.ca); errors.Is(err, os.ErrNotExist) {
		tk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host},
			DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true, IsCA: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &tk.PublicKey, tk)
		if err != nil {
			return f, err
		}
		kder, _ := x509.MarshalECPrivateKey(tk)
		if err := write(f.tlsKey, "EC PRIVATE KEY", kder); err != nil {
			return f, err
		}
		if err := write(f.ca, "CERTIFICATE", der); err != nil {
			return f, err
		}
	}
	if _, err := os.Stat(f.rsa); errors.Is(err, os.ErrNotExist) {
		k, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			return f, err
		}
		pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err := write(f.rsa, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k)); err != nil {
			return f, err
		}
		if err := write(f.public, "PUBLIC KEY", pub); err != nil {
			return f, err
		}
	}
	return f, nil
}

func write(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func readRSA(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM", path)
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}

type partner struct {
	accessKey string
	key       *rsa.PrivateKey

	mu       sync.Mutex
	failLeft int
	seen     map[string]time.Time
	n        int
}

// verify is the check of docs/partners.md: the signature over accessKey +
// nonce + timestamp + raw body, a timestamp within 60 s, a new nonce.
func (p *partner) verify(h http.Header, body []byte) error {
	ts, nonce, sign := h.Get("x-timestamp"), h.Get("x-nonce"), h.Get("x-sign")
	mac := hmac.New(sha256.New, []byte(p.accessKey))
	mac.Write([]byte(p.accessKey + nonce + ts))
	mac.Write(body)
	want := strings.ToUpper(hex.EncodeToString(mac.Sum(nil)))
	if subtle.ConstantTimeCompare([]byte(want), []byte(sign)) != 1 {
		return errors.New("bad signature")
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.UnixMilli(ms)).Abs() > 60*time.Second {
		return errors.New("stale timestamp")
	}
	if len(nonce) < 16 {
		return errors.New("short nonce")
	}
	if _, ok := p.seen[nonce]; ok {
		return errors.New("replayed nonce")
	}
	p.seen[nonce] = time.Now()
	return nil
}

func (p *partner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	answer := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"resultCode": code, "resultMsg": msg}) // the status is sent
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if err := p.verify(r.Header, body); err != nil {
		log.Printf("#%d %s REFUSED: %v", p.n, r.URL.Path, err)
		answer(http.StatusOK, "000001", err.Error())
		return
	}
	if p.failLeft > 0 {
		p.failLeft--
		log.Printf("#%d %s failing on purpose (%d more)", p.n, r.URL.Path, p.failLeft)
		answer(http.StatusServiceUnavailable, "000005", "failing on purpose")
		return
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		answer(http.StatusOK, "000002", "body is not JSON")
		return
	}
	if enc, ok := v["clientSecret"].(string); ok {
		ct, _ := base64.StdEncoding.DecodeString(enc)
		plain, err := rsa.DecryptOAEP(sha256.New(), rand.Reader, p.key, ct, nil)
		if err != nil {
			log.Printf("#%d clientSecret does not decrypt: %v", p.n, err)
			answer(http.StatusOK, "000002", "clientSecret does not decrypt")
			return
		}
		v["clientSecret(decrypted)"] = string(plain)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	log.Printf("#%d %s signature ok\n%s", p.n, r.URL.Path, out)
	answer(http.StatusOK, "000000", "success")
}
