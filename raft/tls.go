package raft

import (
	"crypto/tls"
	"net"
	"time"

	hraft "github.com/hashicorp/raft"
)

// tlsStream is the Raft transport's stream layer over mutual TLS: every
// connection, in and out, is authenticated by the configurations given.
type tlsStream struct {
	net.Listener
	advertise net.Addr
	dial      *tls.Config
}

// newTLSStream listens on bind with the server configuration; peers are
// dialed with the client one.
func newTLSStream(bind string, advertise net.Addr, server, client *tls.Config) (*tlsStream, error) {
	lis, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	return &tlsStream{Listener: tls.NewListener(lis, server), advertise: advertise, dial: client}, nil
}

// Dial opens a connection to a peer and completes the handshake within
// timeout.
func (s *tlsStream) Dial(address hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(address), s.dial)
}

// Addr is the address peers dial.
func (s *tlsStream) Addr() net.Addr { return s.advertise }
