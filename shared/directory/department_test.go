package directory

import (
	"errors"
	"slices"
	"testing"
)

func TestAncestry(t *testing.T) {
	// a ─ b ─ c, d at the top; x and y point at each other (a corrupt tree).
	tree := map[string]string{"a": "", "b": "a", "c": "b", "d": "", "x": "y", "y": "x"}
	cases := []struct {
		name, id, parent string
		want             []string
		err              error
	}{
		{"to the top's child", "d", "a", []string{"a"}, nil},
		{"deep", "d", "c", []string{"c", "b", "a"}, nil},
		{"under a sibling's child", "b", "a", []string{"a"}, nil},
		{"new department", "n", "c", []string{"c", "b", "a"}, nil},
		{"under itself", "b", "b", nil, errCycle},
		{"under its child", "a", "b", nil, errCycle},
		{"under its grandchild", "a", "c", nil, errCycle},
		{"no such parent", "a", "z", nil, errNoParent},
		{"a cycle already there", "d", "x", nil, errCycle},
	}
	for _, c := range cases {
		got, err := ancestry(tree, c.id, c.parent)
		if !errors.Is(err, c.err) || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v %v, want %v %v", c.name, got, err, c.want, c.err)
		}
	}
}
