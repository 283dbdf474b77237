package api

import (
	"errors"
	"testing"
)

func TestSelectorMatches(t *testing.T) {
	web := map[string]string{"app": "web", "tier": "front", "env": "prod"}
	db := map[string]string{"app": "db", "tier": "back"}
	tests := []struct {
		sel      string
		web, db  bool
		none     bool // matches labels == nil
		selector string
	}{
		{"", true, true, true, ""},
		{"  ", true, true, true, ""},
		{"app=web", true, false, false, "app=web"},
		{"app==web", true, false, false, "app=web"},
		{"app = web", true, false, false, "app=web"},
		{"tier!=back", true, false, true, "tier!=back"},
		{"env in (prod,staging)", true, false, false, "env in (prod,staging)"},
		{"env in (staging, prod, prod)", true, false, false, "env in (prod,staging)"},
		{"env notin (prod)", false, true, true, "env notin (prod)"},
		{"env", true, false, false, "env"},
		{"!env", false, true, true, "!env"},
		{"tier,app!=db", true, false, false, "app!=db,tier"},
		{"app in (web,db),tier in (back)", false, true, false, "app in (db,web),tier in (back)"},
		{"app=", false, false, false, "app="},
		{"example.com/app=web", false, false, false, "example.com/app=web"},
	}
	for _, tt := range tests {
		s, err := ParseSelector(tt.sel)
		if err != nil {
			t.Errorf("ParseSelector(%q): %v", tt.sel, err)
			continue
		}
		if got := [3]bool{s.Matches(web), s.Matches(db), s.Matches(nil)}; got != [3]bool{tt.web, tt.db, tt.none} {
			t.Errorf("%q matches web, db, nil = %v, want %v", tt.sel, got, [3]bool{tt.web, tt.db, tt.none})
		}
		if s.String() != tt.selector {
			t.Errorf("%q.String() = %q, want %q", tt.sel, s.String(), tt.selector)
		}
		if s.Empty() != (tt.selector == "") {
			t.Errorf("%q.Empty() = %v", tt.sel, s.Empty())
		}
		again, err := ParseSelector(s.String())
		if err != nil || again.String() != s.String() {
			t.Errorf("reparse of %q = %q, %v", s.String(), again.String(), err)
		}
	}
}

func TestSelectorErrors(t *testing.T) {
	tests := map[string]string{
		"app=web=x":  `selector "app=web=x": expected ',' after "app", got "="`,
		"env in ()":  `selector "env in ()": the set of values must not be empty`,
		"env in (a":  `selector "env in (a": missing ')'`,
		"env in a":   `selector "env in a": expected '(' after in or notin, got "a"`,
		"app web":    `selector "app web": expected an operator after "app", got "web"`,
		",":          `selector ",": expected a label key, got ","`,
		"app=web,":   `selector "app=web,": expected a label key at the end`,
		"!":          `selector "!": expected a label key at the end`,
		"bad key!=x": `selector "bad key!=x": expected an operator after "bad", got "key"`,
		"-app=x":     `selector "-app=x": key "-app": name must be at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character`,
		"app=-x":     `selector "app=-x": value "-x": must be empty or at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character`,
		"a=(b)":      `selector "a=(b)": expected ',' after "a", got "("`,
	}
	for in, want := range tests {
		_, err := ParseSelector(in)
		if err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSelector(%q) error = %v\n want %s", in, err, want)
		}
	}
}

func TestSelectorFromSet(t *testing.T) {
	s := SelectorFromSet(map[string]string{"tier": "front", "app": "web"})
	if s.String() != "app=web,tier=front" || !s.Matches(map[string]string{"app": "web", "tier": "front", "x": "y"}) || s.Matches(map[string]string{"app": "web"}) {
		t.Errorf("SelectorFromSet = %s", s)
	}
	var zero Selector
	if !zero.Empty() || !zero.Matches(nil) || zero.String() != "" {
		t.Error("the zero Selector must be empty and match everything")
	}
}
