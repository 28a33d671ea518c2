package directory

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"workbench/shared/errs"
)

// Limits of the member rules (SPEC.md §2).
const (
	MaxNameRunes    = 20
	MaxAccountRunes = 20
	MaxEmailBytes   = 254
)

// NormalizeName trims a member name and checks it: 1–20 characters of
// Chinese characters, letters, digits and the symbols - _ · ( ).
func NormalizeName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return "", errs.Invalidf(field, "invalid_name", "%s is required", field)
	}
	if n > MaxNameRunes {
		return "", errs.Invalidf(field, "invalid_name", "%s must be at most %d characters, not %d", field, MaxNameRunes, n)
	}
	for _, r := range name {
		if !nameRune(r) {
			return "", errs.Invalidf(field, "invalid_name",
				"%s may hold only Chinese characters, letters, digits and - _ · ( ); %q is not allowed", field, r)
		}
	}
	return name, nil
}

func nameRune(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '_' || r == '(' || r == ')'
	case r == '·':
		return true
	}
	return unicode.Is(unicode.Han, r)
}

// NormalizeMobile checks a mainland mobile: 11 digits starting with 1. A
// leading +86 or 86 with the right length is accepted and dropped, so the
// stored form is always 11 digits.
func NormalizeMobile(field, mobile string) (string, error) {
	m := strings.TrimSpace(mobile)
	if rest, ok := strings.CutPrefix(m, "+86"); ok {
		m = rest
	} else if len(m) == 13 && strings.HasPrefix(m, "86") {
		m = m[2:]
	}
	if m == "" {
		return "", errs.Invalidf(field, "invalid_mobile", "%s is required", field)
	}
	if len(m) != 11 || m[0] != '1' || strings.IndexFunc(m, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return "", errs.Invalidf(field, "invalid_mobile", "%s must be an 11-digit mainland mobile number starting with 1", field)
	}
	return m, nil
}

// NormalizeAccount checks a login account: 1–20 letters, digits, - and _.
// Accounts are unique case-insensitively, so the stored form is lower case.
func NormalizeAccount(field, account string) (string, error) {
	a := strings.TrimSpace(account)
	if a == "" {
		return "", errs.Invalidf(field, "invalid_account", "%s is required", field)
	}
	if len(a) > MaxAccountRunes {
		return "", errs.Invalidf(field, "invalid_account", "%s must be at most %d characters", field, MaxAccountRunes)
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", errs.Invalidf(field, "invalid_account", "%s may hold only letters, digits, - and _", field)
		}
	}
	return strings.ToLower(a), nil
}

// NormalizeEmail checks an optional email address; "" stays "".
func NormalizeEmail(field, email string) (string, error) {
	e := strings.TrimSpace(email)
	if e == "" {
		return "", nil
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || len(e) > MaxEmailBytes || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", errs.Invalidf(field, "invalid_email", "%s must be a plain email address such as name@example.com", field)
	}
	local, domain, _ := strings.Cut(e, "@")
	return local + "@" + strings.ToLower(domain), nil
}

// Roles a member can have.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// NormalizeRole checks a role; "" means member.
func NormalizeRole(field, role string) (string, error) {
	switch strings.TrimSpace(role) {
	case "", RoleMember:
		return RoleMember, nil
	case RoleAdmin:
		return RoleAdmin, nil
	}
	return "", errs.Invalidf(field, "invalid_role", "%s must be admin or member", field)
}
