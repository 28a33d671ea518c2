package partner

import (
	"net"
	"net/url"
	"strings"

	"workbench/shared/errs"
)

// NormalizeProductionURL checks an app's production URL against the rules
// of PARTNER-PROTOCOL.md — https, port 443, a domain name (never an IP in
// any spelling, never localhost), no user-info, query or fragment — and
// returns it in canonical form: lower-case host, no ":443", no trailing
// slash. Each failure is a 400 naming the rule. The same check runs again
// at send time, so a URL that slipped in by other means is never called.
func NormalizeProductionURL(field, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errs.Invalidf(field, "url_required", "%s is required", field)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "", errs.Invalidf(field, "url_invalid", "%s is not a URL", field)
	}
	if u.Scheme != "https" {
		return "", errs.Invalidf(field, "url_not_https", "%s must use https", field)
	}
	if u.User != nil {
		return "", errs.Invalidf(field, "url_has_userinfo", "%s must not carry user-info (user:password@)", field)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", errs.Invalidf(field, "url_has_query", "%s must not carry a query string", field)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", errs.Invalidf(field, "url_has_fragment", "%s must not carry a fragment", field)
	}
	if strings.HasPrefix(u.Host, "[") {
		return "", errs.Invalidf(field, "url_ip_host", "%s must name a domain, not an IP address", field)
	}
	host, port := u.Hostname(), u.Port()
	if port != "" && port != "443" || strings.HasSuffix(u.Host, ":") {
		return "", errs.Invalidf(field, "url_port_not_443", "%s must use port 443", field)
	}
	if host == "" {
		return "", errs.Invalidf(field, "url_no_host", "%s must name a host", field)
	}
	if err := checkDomain(field, host); err != nil {
		return "", err
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	return "https://" + strings.ToLower(host) + path, nil
}

// checkDomain accepts only a plain DNS name of two or more labels. Anything
// that a resolver could read as an IP address is refused: dotted quads,
// but also 0x7f.1, 2130706433, 0177.0.0.1 and 127.1, which inet_aton and
// many HTTP stacks accept. A name whose last label is all digits or starts
// with 0x cannot be a real domain (no top-level domain looks like that), so
// refusing those catches every numeric spelling at once.
func checkDomain(field, host string) error {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if net.ParseIP(h) != nil || strings.Contains(h, ":") {
		return errs.Invalidf(field, "url_ip_host", "%s must name a domain, not an IP address", field)
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return errs.Invalidf(field, "url_localhost", "%s must not point at localhost", field)
	}
	labels := strings.Split(h, ".")
	last := labels[len(labels)-1]
	if numericLabel(last) {
		return errs.Invalidf(field, "url_ip_host", "%s must name a domain, not an IP address", field)
	}
	if len(labels) < 2 || len(h) > 253 {
		return errs.Invalidf(field, "url_not_domain", "%s must name a fully qualified domain such as partner.example.com", field)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return errs.Invalidf(field, "url_not_domain", "%s must name a valid domain", field)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return errs.Invalidf(field, "url_not_domain", "%s must name a valid domain (ASCII letters, digits and -; use punycode for other scripts)", field)
			}
		}
	}
	return nil
}

func numericLabel(l string) bool {
	if strings.HasPrefix(l, "0x") {
		return true
	}
	if l == "" {
		return false
	}
	for _, r := range l {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
