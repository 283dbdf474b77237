// Command berth is Berth's one binary: `berth agent` runs a daemon, and the
// other verbs (apply, get, delete, describe, watch, rollout, scale, drain,
// raft, snapshot, ...) talk to a cluster through the client package.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/driver/logfile"
	"github.com/spf13/cobra"
)

func main() {
	// containerd's shim starts this binary as a container's logger.
	if logfile.IsLoggerInvocation(os.Args) {
		os.Exit(logfile.RunLogger(os.Args, driver.FenceWatchdog))
	}
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a code and no further message (the
// command printed what it had to say).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "Berth runs containers across a fleet of machines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newAgentCmd(), newKeygenCmd(), newInventoryCmd(), newTLSCmd())
	addClientCommands(root)
	root.AddCommand(newTopCmd(), newEventsCmd(), newDashboardCmd())
	// Last: it walks the commands added above.
	registerCompletions(root)
	return root
}
