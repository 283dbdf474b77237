package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/berth-dev/berth/agent"
	"io"
	"runtime"

	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// versionInfo is what version prints: the client's build and, unless
// --client, the answering server's.
type versionInfo struct {
	Client clientVersion  `json:"clientVersion"`
	Server *serverVersion `json:"serverVersion,omitempty"`
}

// clientVersion describes this binary.
type clientVersion struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// serverVersion is the version the answering agent announces, and its
// name.
type serverVersion struct {
	Version string `json:"version"`
	Node    string `json:"node"`
}

func newVersionCmd() *cobra.Command {
	var clientOnly bool
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's version and the server's",
		Long: "Print the version of this binary and of the server that answers at --addr.\n" +
			"When no server answers, the client's is printed and the command fails (exit 1),\n" +
			"as kubectl's does; --client prints the client's alone, without calling a server.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" {
				if err := checkOutput(output, outYAML, outJSON); err != nil {
					return err
				}
			}
			v := versionInfo{Client: clientVersion{Version: agent.Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}}
			var serverErr error
			if !clientOnly {
				v.Server, serverErr = askServerVersion(cmd)
			}
			if err := printVersion(cmd.OutOrStdout(), output, v); err != nil {
				return err
			}
			if serverErr != nil {
				return fmt.Errorf("server version unknown: %w", userError(serverErr))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the client's version only; no server is called")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml or json (default: lines for people)")
	return cmd
}

// askServerVersion asks the server at --addr who it is and which version
// it runs.
func askServerVersion(cmd *cobra.Command) (*serverVersion, error) {
	ctx, c, done, err := connect(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	return memberVersion(ctx, c)
}

// memberVersion is the version the answering agent gives of itself in
// its member list.
func memberVersion(ctx context.Context, c *client.Client) (*serverVersion, error) {
	self, members, err := c.Members(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if m.Name == self {
			return &serverVersion{Version: orUnknown(m.Version), Node: self}, nil
		}
	}
	return &serverVersion{Version: "<unknown>", Node: self}, nil
}

// printVersion writes v as kubectl version does: "Client Version: ..."
// lines, or yaml or json.
func printVersion(w io.Writer, format string, v versionInfo) error {
	switch format {
	case outJSON, outYAML:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if format == outYAML {
			if b, err = yaml.JSONToYAML(b); err != nil {
				return err
			}
		} else {
			b = append(b, '\n')
		}
		_, err = w.Write(b)
		return err
	}
	fmt.Fprintf(w, "Client Version: %s\n", v.Client.Version)
	if v.Server != nil {
		fmt.Fprintf(w, "Server Version: %s (%s)\n", v.Server.Version, v.Server.Node)
	}
	return nil
}
