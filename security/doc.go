// Package security holds Berth's identity and secrecy primitives: the
// cluster certificate authority and node certificates, the TLS
// configurations of every listener and dialer, join and ACL token formats,
// and the envelope encryption of Secret values. It imports only the
// standard library.
package security
