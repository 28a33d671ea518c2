package config

import (
	"strings"
	"testing"
	"time"
)

func TestReaderCollectsEveryProblem(t *testing.T) {
	r := NewReader(Map(map[string]string{
		"NAME": " value ", "N": "12", "BAD_N": "twelve", "D": "15m", "BAD_D": "soon", "B": "true", "BAD_B": "maybe",
	}))
	if got := r.Required("NAME"); got != "value" {
		t.Errorf("Required trims: %q", got)
	}
	if got := r.String("UNSET", "def"); got != "def" {
		t.Errorf("String default: %q", got)
	}
	if r.Int("N", 0) != 12 || r.Int("UNSET", 7) != 7 || r.Int("BAD_N", 3) != 3 {
		t.Error("Int")
	}
	if r.Duration("D", 0) != 15*time.Minute || r.Duration("BAD_D", time.Second) != time.Second {
		t.Error("Duration")
	}
	if !r.Bool("B", false) || r.Bool("BAD_B", false) {
		t.Error("Bool")
	}
	r.Required("MISSING")
	err := r.Err()
	if err == nil {
		t.Fatal("no error for bad and missing settings")
	}
	for _, name := range []string{"BAD_N", "BAD_D", "BAD_B", "MISSING"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if NewReader(Map(map[string]string{"A": "x"})).Err() != nil {
		t.Error("a reader that read nothing has an error")
	}
}

func TestLocalOnlyIsRefusedInLambda(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		want    string
		refused bool
	}{
		{map[string]string{"CA": "pem"}, "pem", false},
		{map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f"}, "", false},
		{map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f", "CA": "pem"}, "pem", true},
	} {
		r := NewReader(Map(tc.env))
		got := r.LocalOnly("CA")
		err := r.Err()
		if got != tc.want || (err != nil) != tc.refused || (err != nil && !strings.Contains(err.Error(), "CA")) {
			t.Errorf("%v: LocalOnly = %q, error %v", tc.env, got, err)
		}
	}
}
