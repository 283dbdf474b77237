package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// defaultAddr is the API address used when neither --addr nor BERTH_ADDR
// names one.
const defaultAddr = "127.0.0.1:7400"

// addClientCommands adds the global client flags (--addr, --timeout) and
// every user verb that talks to a cluster.
func addClientCommands(root *cobra.Command) {
	addr := os.Getenv("BERTH_ADDR")
	if addr == "" {
		addr = defaultAddr
	}
	pf := root.PersistentFlags()
	pf.String("addr", addr, "API address of one or more servers, HOST:PORT[,HOST:PORT...] (env BERTH_ADDR)")
	pf.Duration("timeout", 30*time.Second, "how long a command may take (watch runs until interrupted)")
	pf.String("config", "", "client credentials file (env BERTH_CONFIG; default ~/.berth/config, written by berth login)")
	pf.String("token", os.Getenv("BERTH_TOKEN"), "ACL token (env BERTH_TOKEN; default: the config's)")

	root.AddCommand(
		newApplyCmd(),
		newCreateCmd(),
		newGetCmd(),
		newMembersCmd(),
		newDescribeCmd(),
		newDeleteCmd(),
		newWatchCmd(),
		newCordonCmd(),
		newUncordonCmd(),
		newDrainCmd(),
		newRolloutCmd(),
		newScaleCmd(),
		newRaftCmd(),
		newSnapshotCmd(),
		newVersionCmd(),
		newRunCmd(),
		newPsCmd(),
		newLogsCmd(),
		newExecCmd(),
		newStopCmd(),
		newStartCmd(),
		newRmCmd(),
		newImageCmd(),
		newLoginCmd(),
		newTokenCmd(),
		newACLCmd(),
		newWhoAmICmd(),
		newKeyringCmd(),
	)
}

// parseAddrs splits the --addr value into host:port addresses.
func parseAddrs(s string) ([]string, error) {
	var addrs []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("--addr %q: want HOST:PORT", a)
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("--addr: no server address")
	}
	return addrs, nil
}

// commandTimeout returns the --timeout value, checked.
func commandTimeout(cmd *cobra.Command) (time.Duration, error) {
	d, err := cmd.Flags().GetDuration("timeout")
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("--timeout must be positive, got %s", d)
	}
	return d, nil
}

// newClient returns a client of the servers named by --addr, each call
// bounded by --timeout, and a function that closes it. It does not
// connect: the first call does.
func newClient(cmd *cobra.Command) (*client.Client, func(), error) {
	timeout, err := commandTimeout(cmd)
	if err != nil {
		return nil, nil, err
	}
	return newClientWith(cmd, timeout)
}

// newClientWith is newClient with each call bounded by timeout.
func newClientWith(cmd *cobra.Command, timeout time.Duration) (*client.Client, func(), error) {
	cfg, err := clientConfig(cmd)
	if err != nil {
		return nil, nil, err
	}
	addrs, err := apiAddrs(cmd, cfg)
	if err != nil {
		return nil, nil, err
	}
	opts, err := cfg.Options()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(addrs, append(opts, client.WithTimeout(timeout), client.WithUnreachableTimeout(2*time.Second))...)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Close() }, nil
}

// apiAddrs are the servers' API addresses to call: --addr (or
// BERTH_ADDR), else those of the client config, else the default.
func apiAddrs(cmd *cobra.Command, cfg *client.Config) ([]string, error) {
	addr, err := cmd.Flags().GetString("addr")
	if err != nil {
		return nil, err
	}
	if !cmd.Flags().Changed("addr") && os.Getenv("BERTH_ADDR") == "" && len(cfg.Servers) > 0 {
		return cfg.Servers, nil
	}
	return parseAddrs(addr)
}

// commandContext returns the context of one command: the command's own,
// bounded by --timeout.
func commandContext(cmd *cobra.Command) (context.Context, context.CancelFunc, error) {
	timeout, err := commandTimeout(cmd)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	return ctx, cancel, nil
}

// connect is newClient and commandContext together, for the commands that
// make bounded calls. done closes the client and cancels the context.
func connect(cmd *cobra.Command) (ctx context.Context, c *client.Client, done func(), err error) {
	c, closeClient, err := newClient(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel, err := commandContext(cmd)
	if err != nil {
		closeClient()
		return nil, nil, nil, err
	}
	return ctx, c, func() { cancel(); closeClient() }, nil
}

// userError rewords a server's message where it reads badly on a terminal:
// `configmap "web": not found` becomes `configmap "web" not found`.
func userError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.HasSuffix(msg, ": not found") {
		return fmt.Errorf("%s not found", strings.TrimSuffix(msg, ": not found"))
	}
	return err
}
