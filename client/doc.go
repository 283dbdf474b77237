// Package client is the Go client library of Berth's gRPC API: apply,
// create, update, delete, get, list and watch cluster objects, and manage
// the Raft quorum of servers.
//
// It may import only the api and proto packages of ours. Any server will
// do: followers forward writes to the leader. Writes carry a request ID and
// are retried on another server when the answer was lost, and the cluster
// applies them once (for WriteRetryWindow after the first try; a write still
// unanswered then fails as unavailable, outcome unknown). Reads are
// linearizable unless Stale() is given.
//
//	c, err := client.New([]string{"127.0.0.1:7400"})
//	defer c.Close()
//	objs, _ := api.DecodeDocuments(manifest)
//	res, err := c.Apply(ctx, objs...)
//	cm, err := c.Get(ctx, "ConfigMap", "default", "web")
//	if client.IsNotFound(err) { ... }
package client
