package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// logsOptions are the flags of logs.
type logsOptions struct {
	follow     bool
	tail       int
	container  string
	timestamps bool
	namespace  string
}

func newLogsCmd() *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [-f] [--tail N] [-c CONTAINER] POD",
		Short: "Print the log of a pod's container (-f: and follow it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, closeClient, err := newClient(cmd)
			if err != nil {
				return err
			}
			defer closeClient()
			sigCtx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx := sigCtx
			// A follow runs until interrupted; a plain read is bounded.
			if !o.follow {
				timeout, err := commandTimeout(cmd)
				if err != nil {
					return err
				}
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(sigCtx, timeout)
				defer cancel()
			}
			opts := client.LogsOptions{Container: o.container, Follow: o.follow, Tail: o.tail, Timestamps: o.timestamps}
			err = c.Logs(ctx, o.namespace, args[0], opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if sigCtx.Err() != nil && cmd.Context().Err() == nil {
				return nil // Ctrl-C ends a follow
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("logs of pod %q: timed out (--timeout)", args[0])
			}
			return userError(err)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "go on printing what the container logs, across its restarts, until interrupted")
	f.IntVar(&o.tail, "tail", -1, "lines from the end to print first (-1: all)")
	f.StringVarP(&o.container, "container", "c", "", "the container (default: the pod's first)")
	f.BoolVar(&o.timestamps, "timestamps", false, "prefix each line with the time it was logged")
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of the pod")
	return cmd
}
