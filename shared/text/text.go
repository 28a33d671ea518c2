// Package text holds the rules for text that reaches a person: names,
// titles, messages, reasons, SMS. Such text must be valid UTF-8 and must
// hold no control characters and no Unicode bidi overrides or isolates,
// which can hide or reorder what a reader sees (a name that displays as
// something else, an SMS whose words run backwards).
//
// The one JSON decoder (shared/httpapi) refuses what no field may hold
// (Forbidden) everywhere; the domain validators then call Line or Lines for
// the fields a person reads, which also decide whether line breaks belong.
package text

import (
	"fmt"
	"unicode/utf8"

	"workbench/shared/errs"
)

// Code is the error code of text that breaks these rules.
const Code = "invalid_text"

// Forbidden reports whether no text field may hold r: C0 controls other
// than tab, newline and carriage return, DEL, C1 controls, and the bidi
// embeddings, overrides (U+202A–U+202E) and isolates (U+2066–U+2069).
func Forbidden(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return false
	case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Check returns the Invalid error naming field if s is not valid UTF-8 or
// holds a forbidden rune, else nil.
func Check(field, s string) error {
	if !utf8.ValidString(s) {
		return errs.Invalidf(field, Code, "%s must be valid UTF-8", field)
	}
	for _, r := range s {
		if Forbidden(r) {
			return errs.Invalidf(field, Code, "%s must not hold %s", field, describe(r))
		}
	}
	return nil
}

// Line checks single-line text: Check's rules, and no tab, line break or
// Unicode line or paragraph separator either.
func Line(field, s string) error {
	if err := Check(field, s); err != nil {
		return err
	}
	for _, r := range s {
		switch r {
		case '\t', '\n', '\r', '\u2028', '\u2029':
			return errs.Invalidf(field, Code, "%s must be a single line (found %s)", field, describe(r))
		}
	}
	return nil
}

// Lines checks multi-line text: Check's rules; tab, newline and carriage
// return are allowed.
func Lines(field, s string) error { return Check(field, s) }

func describe(r rune) string {
	switch {
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return fmt.Sprintf("bidi control U+%04X", r)
	case r == '\u2028' || r == '\u2029':
		return fmt.Sprintf("separator U+%04X", r)
	}
	return fmt.Sprintf("control character U+%04X", r)
}
