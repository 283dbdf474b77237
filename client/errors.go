package client

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a failed call: the server's message and its gRPC code.
type Error struct {
	Code    codes.Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// wrap turns a gRPC status into an *Error whose text is the server's own
// message, fit to show a user.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := s.Message()
	switch s.Code() {
	case codes.Unavailable:
		msg = "cluster unavailable: " + msg
	case codes.DeadlineExceeded:
		msg = "timed out: " + msg
	}
	return &Error{Code: s.Code(), Message: msg}
}

func hasCode(err error, c codes.Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == c
}

// IsNotFound reports whether an object (or a namespace it needs) is missing.
func IsNotFound(err error) bool { return hasCode(err, codes.NotFound) }

// IsAlreadyExists reports whether a create found the object there.
func IsAlreadyExists(err error) bool { return hasCode(err, codes.AlreadyExists) }

// IsConflict reports whether a write's resourceVersion was stale.
func IsConflict(err error) bool { return hasCode(err, codes.Aborted) }

// IsInvalid reports whether the server refused an object as invalid.
func IsInvalid(err error) bool { return hasCode(err, codes.InvalidArgument) }

// IsCompacted reports whether a watch revision is older than the server
// keeps: list again and watch from the list's revision.
func IsCompacted(err error) bool { return hasCode(err, codes.OutOfRange) }

// IsUnavailable reports whether the cluster could not be reached or had no
// leader for the whole time of the call. A write that failed so may or may
// not have been applied.
func IsUnavailable(err error) bool {
	return hasCode(err, codes.Unavailable) || hasCode(err, codes.DeadlineExceeded)
}
