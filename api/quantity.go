package api

import (
	"encoding/json"
	"math/big"
	"strings"
)

// Quantity is an amount of a resource, written as Kubernetes writes it:
// "500m" (milli), "2", "1.5", "1Gi", "512M", "1e3". In YAML and JSON it is
// a string or a number; it is stored as the string.
type Quantity string

// MustQuantity returns q, panicking when it does not parse. For tests and
// constants.
func MustQuantity(s string) Quantity {
	if _, err := ParseQuantity(s); err != nil {
		panic(err)
	}
	return Quantity(s)
}

// UnmarshalJSON accepts a string or a number.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*q = Quantity(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return invalidf("quantity must be a string or a number, got %s", string(b))
	}
	*q = Quantity(n.String())
	return nil
}

// Milli returns q in thousandths, rounded up (for CPU: millicores); 0 when
// q is empty or does not parse.
func (q Quantity) Milli() int64 { return q.in(1000) }

// Value returns q rounded up to a whole number (for memory: bytes); 0 when
// q is empty or does not parse.
func (q Quantity) Value() int64 { return q.in(1) }

// in returns q in units of 1/unit, rounded up.
func (q Quantity) in(unit int64) int64 {
	if q == "" {
		return 0
	}
	if v, ok := q.scaled(unit); ok {
		return v
	}
	r, err := ParseQuantity(string(q))
	if err != nil {
		return 0
	}
	return ceilInt64(r.Mul(r, big.NewRat(unit, 1)))
}

// scaled is the fast path of Milli (unit 1000) and Value (unit 1): digits
// and at most one common suffix, exactly representable.
func (q Quantity) scaled(unit int64) (int64, bool) {
	s := string(q)
	var mul, div int64 = unit, 1
	switch {
	case strings.HasSuffix(s, "Ki"), strings.HasSuffix(s, "Mi"), strings.HasSuffix(s, "Gi"), strings.HasSuffix(s, "Ti"):
		mul *= int64(1) << (10 * (1 + strings.IndexByte("KMGT", s[len(s)-2])))
		s = s[:len(s)-2]
	case strings.HasSuffix(s, "m"):
		div = 1000
		s = s[:len(s)-1]
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "M"), strings.HasSuffix(s, "G"), strings.HasSuffix(s, "T"):
		for range 1 + strings.IndexByte("kMGT", s[len(s)-1]) {
			mul *= 1000
		}
		s = s[:len(s)-1]
	}
	if s == "" || len(s) > 12 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	v := n * mul
	if v/mul != n {
		return 0, false
	}
	return (v + div - 1) / div, true
}

var quantitySuffixes = []struct {
	suffix string
	num    int64
	den    int64
}{
	// Two-letter suffixes first, so that "Mi" is not read as "M".
	{"Ki", 1 << 10, 1}, {"Mi", 1 << 20, 1}, {"Gi", 1 << 30, 1}, {"Ti", 1 << 40, 1}, {"Pi", 1 << 50, 1}, {"Ei", 1 << 60, 1},
	{"n", 1, 1_000_000_000}, {"u", 1, 1_000_000}, {"m", 1, 1000},
	{"k", 1e3, 1}, {"M", 1e6, 1}, {"G", 1e9, 1}, {"T", 1e12, 1}, {"P", 1e15, 1}, {"E", 1e18, 1},
}

// maxQuantity bounds a quantity so that its thousandths fit an int64.
var maxQuantity = big.NewRat(9_000_000_000_000_000_000, 1000)

// ParseQuantity parses a quantity. It must be a non-negative decimal
// number, optionally with an exponent (1e3) or one suffix (m, k, M, G, T,
// P, E, Ki, Mi, Gi, Ti, Pi, Ei), and at most 9e15.
func ParseQuantity(s string) (*big.Rat, error) {
	num := s
	mul := big.NewRat(1, 1)
	for _, sf := range quantitySuffixes {
		if n, ok := strings.CutSuffix(s, sf.suffix); ok && n != "" && isDigit(n[len(n)-1]) {
			num, mul = n, big.NewRat(sf.num, sf.den)
			break
		}
	}
	if num == "" || !isDigit(num[0]) && num[0] != '+' && num[0] != '.' {
		return nil, invalidf("quantity %s: must be a non-negative number with an optional suffix (m, k, M, G, Ki, Mi, Gi, ...)", quote(s))
	}
	// big.Rat reads "1.5", "1e3", "+2"; refuse what it also reads but
	// Kubernetes does not ("1/2", hexadecimal).
	if strings.ContainsAny(num, "/xXpP_") {
		return nil, invalidf("quantity %s: must be a non-negative number with an optional suffix (m, k, M, G, Ki, Mi, Gi, ...)", quote(s))
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok || r.Sign() < 0 {
		return nil, invalidf("quantity %s: must be a non-negative number with an optional suffix (m, k, M, G, Ki, Mi, Gi, ...)", quote(s))
	}
	r.Mul(r, mul)
	if r.Cmp(maxQuantity) > 0 {
		return nil, invalidf("quantity %s: too large", quote(s))
	}
	return r, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func ceilInt64(r *big.Rat) int64 {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// ResourceList maps a resource name to an amount.
type ResourceList map[string]Quantity

// Resource names.
const (
	ResourceCPU              = "cpu"
	ResourceMemory           = "memory"
	ResourceEphemeralStorage = "ephemeral-storage"
	ResourceGPU              = "nvidia.com/gpu"
	ResourcePods             = "pods"
)
