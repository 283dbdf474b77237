// Package testlog holds what tests use to capture logs.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that a test may read while others write it (a
// log that goroutines write).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
