package api

import (
	"errors"
	"fmt"
	"strconv"
)

// MaxObjectBytes is the largest encoded object accepted (Kubernetes' 1 MiB).
const MaxObjectBytes = 1 << 20

// ErrInvalid is wrapped by every decoding and validation error, so callers
// can test errors.Is(err, api.ErrInvalid). The messages themselves name the
// object and the field, like kubectl's.
var ErrInvalid = errors.New("invalid object")

// invalidError carries a user-facing message and wraps ErrInvalid without
// repeating its text.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// quote writes s in double quotes, escaping as Go does.
func quote(s string) string { return strconv.Quote(s) }
