// Package berthpb is the generated Go code of proto/berth.proto, Berth's
// gRPC API. It is committed; `make proto` regenerates it. Resource payloads
// are the api package's types as JSON; translation to and from them happens
// only at the gRPC edge (agent and client).
package berthpb
