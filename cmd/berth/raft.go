package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newRaftCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "raft",
		Short: "Inspect and change the Raft quorum of servers",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newRaftPeersCmd(), newRaftLeaderCmd(), newRaftRemoveServerCmd())
	return cmd
}

func newRaftPeersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "peers",
		Short: "List the servers of the Raft configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			peers, err := c.Peers(ctx)
			if err != nil {
				return userError(err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "ID\tRAFT ADDRESS\tAPI ADDRESS\tVOTER\tLEADER")
			for _, p := range peers {
				leader := ""
				if p.Leader {
					leader = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", p.ID, p.RaftAddr, p.APIAddr, p.Voter, leader)
			}
			return tw.Flush()
		},
	}
}

func newRaftLeaderCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "leader",
		Short: "Print the leader's ID and API address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			id, addr, err := c.Leader(ctx)
			if err != nil {
				return userError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s  %s\n", id, addr)
			return nil
		},
	}
}

func newRaftRemoveServerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove-server ID",
		Short: "Remove a server from the Raft configuration",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || args[0] == "" {
				return fmt.Errorf("remove-server needs the ID of one server (see berth raft peers)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			if err := c.RemoveServer(ctx, args[0]); err != nil {
				return userError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "server %q removed\n", args[0])
			return nil
		},
	}
}
