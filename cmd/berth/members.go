package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/gossip"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

func newMembersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "Show the gossip pool as the agent answering sees it (raw; `get nodes` shows the recorded state)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			self, members, err := c.Members(ctx)
			if err != nil {
				return userError(err)
			}
			now := time.Now()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tADDRESS\tSTATUS\tROLES\tAPI\tVERSION\tINVENTORY\tSINCE")
			for _, m := range members {
				name := m.Name
				if name == self {
					name += " (self)"
				}
				inv := "current"
				switch {
				case m.InventoryGeneration == 0:
					inv = "none"
				case m.InventoryGeneration < m.Generation:
					inv = "stale"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, m.Addr, m.State, strings.Join(m.Roles, ","),
					orNone(m.APIAddr), orNone(m.Version), inv, humanAge(m.Since.Format(time.RFC3339), now))
			}
			return tw.Flush()
		},
	}
}

func newKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new gossip encryption key (for --gossip-key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var b [32]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), base64.StdEncoding.EncodeToString(b[:]))
			return nil
		},
	}
}

func newInventoryCmd() *cobra.Command {
	var dataDir string
	return func() *cobra.Command {
		cmd := &cobra.Command{
			Use:   "inventory",
			Short: "Print what this machine offers as a node: capacity, labels and GPUs (through NVML)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				name, err := os.Hostname()
				if err != nil {
					return err
				}
				inv, err := gossip.MeasureInventory(gossip.InventoryConfig{Name: name, DataDir: dataDir, GPUs: gossip.NVML()})
				if err != nil {
					return err
				}
				b, err := yaml.Marshal(inv)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			},
		}
		cmd.Flags().StringVar(&dataDir, "data-dir", "/", "where the agent's data would live (its file system's size is the ephemeral storage)")
		return cmd
	}()
}
