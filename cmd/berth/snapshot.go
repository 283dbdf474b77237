package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

func newSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save or restore the whole cluster state",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSnapshotSaveCmd(), newSnapshotRestoreCmd())
	return cmd
}

// fileArg accepts exactly one non-empty FILE argument.
func fileArg(verb string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 || args[0] == "" {
			return fmt.Errorf("%s needs one FILE argument", verb)
		}
		return nil
	}
}

func newSnapshotSaveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "save FILE",
		Short: "Write a consistent snapshot of the cluster state to FILE",
		Args:  fileArg("snapshot save"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			n, err := saveSnapshot(ctx, c, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "snapshot saved to %s (%d bytes)\n", args[0], n)
			return nil
		},
	}
}

// saveSnapshot writes the snapshot to path.tmp, syncs it and renames it to
// path, so path is never half written.
func saveSnapshot(ctx context.Context, c *client.Client, path string) (n int64, err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, pathError(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if n, err = c.SnapshotSave(ctx, f); err != nil {
		return 0, userError(err)
	}
	if err = f.Sync(); err != nil {
		return 0, pathError(err)
	}
	if err = f.Close(); err != nil {
		return 0, pathError(err)
	}
	if err = os.Rename(tmp, path); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) {
			return 0, fmt.Errorf("rename %s to %s: %v", le.Old, le.New, le.Err)
		}
		return 0, err
	}
	// Make the rename itself durable; a failure here leaves a good file.
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}

func newSnapshotRestoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the whole cluster state with the snapshot in FILE",
		Args:  fileArg("snapshot restore"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return pathError(err)
			}
			defer f.Close()
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			rev, err := c.SnapshotRestore(ctx, f)
			if err != nil {
				return userError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "snapshot restored (revision %d)\n", rev)
			return nil
		},
	}
}
