package api

import (
	"maps"
	"slices"
	"strings"
)

// Selector is a parsed label selector, in kubectl's syntax: "app=web",
// "app==web", "tier!=db", "env in (a,b)", "env notin (c)", "x" (the label
// exists), "!x" (it does not); commas join requirements with AND. The zero
// Selector is empty and matches everything.
type Selector struct {
	reqs []requirement // sorted by key; stable, so the input order of equal keys stays
}

type operator int

const (
	opEquals operator = iota
	opNotEquals
	opIn
	opNotIn
	opExists
	opNotExists
)

type requirement struct {
	key    string
	op     operator
	values []string // sorted, without duplicates; one for = and !=
}

// ParseSelector parses a label selector. An empty or blank string gives the
// empty selector. Errors wrap ErrInvalid.
func ParseSelector(s string) (Selector, error) {
	p := &selParser{toks: lexSelector(s)}
	var reqs []requirement
	if len(p.toks) == 0 {
		return Selector{}, nil
	}
	for {
		r, err := p.requirement()
		if err != nil {
			return Selector{}, invalidf("selector %s: %v", quote(s), err)
		}
		reqs = append(reqs, r)
		if p.done() {
			break
		}
		if t := p.next(); t != "," {
			return Selector{}, invalidf("selector %s: expected ',' after %s, got %s", quote(s), quote(r.key), quote(t))
		}
	}
	slices.SortStableFunc(reqs, func(a, b requirement) int { return strings.Compare(a.key, b.key) })
	return Selector{reqs: reqs}, nil
}

// SelectorFromSet returns the selector that matches labels holding every
// key and value of set.
func SelectorFromSet(set map[string]string) Selector {
	var reqs []requirement
	for _, k := range slices.Sorted(maps.Keys(set)) {
		reqs = append(reqs, requirement{key: k, op: opEquals, values: []string{set[k]}})
	}
	return Selector{reqs: reqs}
}

// Matches reports whether labels satisfy every requirement of s.
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s.reqs {
		v, ok := labels[r.key]
		var match bool
		switch r.op {
		case opEquals, opIn:
			match = ok && slices.Contains(r.values, v)
		case opNotEquals, opNotIn:
			match = !ok || !slices.Contains(r.values, v)
		case opExists:
			match = ok
		case opNotExists:
			match = !ok
		}
		if !match {
			return false
		}
	}
	return true
}

// Empty reports whether s has no requirements and so matches everything.
func (s Selector) Empty() bool { return len(s.reqs) == 0 }

// String returns s in canonical form: requirements sorted by key, "=" for
// equality, set values sorted. Parsing it gives an equal selector.
func (s Selector) String() string {
	parts := make([]string, len(s.reqs))
	for i, r := range s.reqs {
		switch r.op {
		case opEquals:
			parts[i] = r.key + "=" + r.values[0]
		case opNotEquals:
			parts[i] = r.key + "!=" + r.values[0]
		case opIn:
			parts[i] = r.key + " in (" + strings.Join(r.values, ",") + ")"
		case opNotIn:
			parts[i] = r.key + " notin (" + strings.Join(r.values, ",") + ")"
		case opExists:
			parts[i] = r.key
		case opNotExists:
			parts[i] = "!" + r.key
		}
	}
	return strings.Join(parts, ",")
}

// lexSelector splits a selector into tokens: "," "(" ")" "=" "==" "!=" "!"
// and words (keys, values, "in", "notin"). Blanks separate words.
func lexSelector(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ',' || c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '=' || c == '!':
			if i+1 < len(s) && s[i+1] == '=' {
				toks = append(toks, s[i:i+2])
				i += 2
			} else {
				toks = append(toks, string(c))
				i++
			}
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r,()=!", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}

type selParser struct {
	toks []string
	pos  int
}

func (p *selParser) done() bool { return p.pos >= len(p.toks) }

func (p *selParser) peek() string {
	if p.done() {
		return ""
	}
	return p.toks[p.pos]
}

func (p *selParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func isWord(t string) bool {
	return t != "" && !strings.Contains(",()=!", t[:1])
}

type selError string

func (e selError) Error() string { return string(e) }

func (p *selParser) key() (string, error) {
	k := p.next()
	if !isWord(k) {
		if k == "" {
			return "", selError("expected a label key at the end")
		}
		return "", selError("expected a label key, got " + quote(k))
	}
	if msg := checkQualifiedName(k); msg != "" {
		return "", selError("key " + quote(k) + ": " + msg)
	}
	return k, nil
}

func (p *selParser) requirement() (requirement, error) {
	if p.peek() == "!" {
		p.next()
		k, err := p.key()
		return requirement{key: k, op: opNotExists}, err
	}
	k, err := p.key()
	if err != nil {
		return requirement{}, err
	}
	switch op := p.peek(); op {
	case "", ",":
		return requirement{key: k, op: opExists}, nil
	case "=", "==", "!=":
		p.next()
		v := ""
		if isWord(p.peek()) {
			v = p.next()
		}
		if msg := checkLabelValue(v); msg != "" {
			return requirement{}, selError("value " + quote(v) + ": " + msg)
		}
		r := requirement{key: k, op: opEquals, values: []string{v}}
		if op == "!=" {
			r.op = opNotEquals
		}
		return r, nil
	case "in", "notin":
		p.next()
		vals, err := p.set()
		if err != nil {
			return requirement{}, err
		}
		r := requirement{key: k, op: opIn, values: vals}
		if op == "notin" {
			r.op = opNotIn
		}
		return r, nil
	default:
		return requirement{}, selError("expected an operator after " + quote(k) + ", got " + quote(op))
	}
}

// set parses "(a,b,...)" into sorted, distinct values.
func (p *selParser) set() ([]string, error) {
	if t := p.next(); t != "(" {
		return nil, selError("expected '(' after in or notin, got " + quote(t))
	}
	var vals []string
	for {
		v := ""
		if isWord(p.peek()) {
			v = p.next()
		}
		if msg := checkLabelValue(v); msg != "" {
			return nil, selError("value " + quote(v) + ": " + msg)
		}
		vals = append(vals, v)
		switch t := p.next(); t {
		case ",":
			continue
		case ")":
			if len(vals) == 1 && vals[0] == "" {
				return nil, selError("the set of values must not be empty")
			}
			slices.Sort(vals)
			return slices.Compact(vals), nil
		case "":
			return nil, selError("missing ')'")
		default:
			return nil, selError("expected ',' or ')' in set, got " + quote(t))
		}
	}
}
