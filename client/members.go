package client

import (
	"context"
	"time"

	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
)

// Member is one agent of the gossip pool, as the answering agent sees it.
type Member struct {
	Name    string
	Addr    string // gossip address
	State   string // alive, dead or left
	Roles   []string
	APIAddr string
	// RaftAddr is set for servers.
	RaftAddr string
	Version  string
	// Generation is the inventory the member announces; Inventory the one
	// the answering agent holds (0: none).
	Generation, InventoryGeneration uint64
	Since                           time.Time
}

// Members returns the answering agent's raw gossip view, and that agent's
// name.
func (c *Client) Members(ctx context.Context) (self string, members []Member, err error) {
	var resp *pb.MembersResponse
	err = c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewClusterClient(conn).Members(ctx, &pb.MembersRequest{})
		return err
	})
	if err != nil {
		return "", nil, err
	}
	for _, m := range resp.Members {
		since, _ := time.Parse(time.RFC3339, m.Since)
		members = append(members, Member{
			Name: m.Name, Addr: m.Addr, State: m.State, Roles: m.Roles, APIAddr: m.ApiAddr, RaftAddr: m.RaftAddr,
			Version: m.Version, Generation: m.Generation, InventoryGeneration: m.InventoryGeneration, Since: since,
		})
	}
	return resp.Self, members, nil
}
