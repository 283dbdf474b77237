package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Load images onto the nodes and list them",
	}
	cmd.AddCommand(newImageLoadCmd(), newImageLsCmd())
	return cmd
}

func newImageLoadCmd() *cobra.Command {
	var input string
	cmd := &cobra.Command{
		Use:   "load [FILE.tar | -i FILE | -]",
		Short: "Load an image archive (docker save, OCI) onto every live node",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file, err := imageInput(input, args)
			if err != nil {
				return err
			}
			r, size, closeInput, err := openImageInput(cmd, file)
			if err != nil {
				return err
			}
			defer closeInput()
			c, closeClient, err := newClient(cmd)
			if err != nil {
				return err
			}
			defer closeClient()
			// No --timeout: an upload takes as long as the archive is big.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// A bar on a terminal; a line at the end whatever stderr is.
			line := newLiveLine(cmd.ErrOrStderr())
			progress := newProgressReader(r, size, line, time.Now)
			nodes, err := c.ImageLoad(ctx, progress)
			line.clear()
			if err != nil {
				return userError(err)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), progress.summary())
			return printLoaded(cmd.OutOrStdout(), cmd.ErrOrStderr(), nodes)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "the archive to load (default: FILE, or stdin)")
	return cmd
}

// imageInput returns the archive to read: -i, the argument, or "-" for
// stdin.
func imageInput(input string, args []string) (string, error) {
	switch {
	case input != "" && len(args) > 0:
		return "", errors.New("image load takes either -i FILE or FILE, not both")
	case input != "":
		return input, nil
	case len(args) > 0:
		return args[0], nil
	}
	return "-", nil
}

// openImageInput opens the archive, and returns its size (-1 when it is
// not known: stdin, a pipe); "-" is stdin, unless it is a terminal.
func openImageInput(cmd *cobra.Command, file string) (io.Reader, int64, func(), error) {
	if file == "-" {
		in := cmd.InOrStdin()
		if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return nil, 0, nil, errors.New("image load needs an archive: FILE.tar, -i FILE, or one piped to stdin")
		}
		return in, -1, func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, nil, pathError(err)
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		if st.Size() == 0 {
			f.Close()
			return nil, 0, nil, fmt.Errorf("%s: the archive is empty", file)
		}
		size = st.Size()
	}
	return f, size, func() { f.Close() }, nil
}

// printLoaded writes what each node loaded, or why it failed; a failed
// node makes the command exit 1.
func printLoaded(stdout, stderr io.Writer, nodes []client.NodeImages) error {
	if len(nodes) == 0 {
		return errors.New("no live node took the image")
	}
	failed := false
	for _, n := range nodes {
		if n.Err != "" {
			fmt.Fprintf(stderr, "%s: error: %s\n", n.Node, n.Err)
			failed = true
			continue
		}
		for _, im := range n.Images {
			fmt.Fprintf(stdout, "%s: loaded %s (%s)\n", n.Node, im.Ref, shortDigest(im.Digest))
		}
	}
	if failed {
		return exitError{1}
	}
	return nil
}

func newImageLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images of every live node",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			nodes, err := c.ImageList(ctx)
			if err != nil {
				return userError(err)
			}
			return printImages(cmd.OutOrStdout(), cmd.ErrOrStderr(), nodes)
		},
	}
}

// printImages writes the NODE, IMAGE, DIGEST, SIZE table; the nodes that
// failed are named on stderr, and make the command exit 1.
func printImages(stdout, stderr io.Writer, nodes []client.NodeImages) error {
	tw := tabwriter.NewWriter(stdout, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NODE\tIMAGE\tDIGEST\tSIZE")
	failed := false
	for _, n := range nodes {
		for _, im := range n.Images {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Node, im.Ref, shortDigest(im.Digest), humanSize(im.Size))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Err != "" {
			fmt.Fprintf(stderr, "%s: error: %s\n", n.Node, n.Err)
			failed = true
		}
	}
	if failed {
		return exitError{1}
	}
	return nil
}

// shortDigest is a digest's first 12 hex digits, as docker images shows.
func shortDigest(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok {
		d = hex
	}
	if len(d) > 12 {
		d = d[:12]
	}
	if d == "" {
		return "<none>"
	}
	return d
}

// humanSize writes a size in decimal units with three significant digits,
// as docker images does: 4.26MB, 112kB, 1.2GB.
func humanSize(b int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f := float64(b)
	i := 0
	for f >= 999.5 && i < len(units)-1 { // 999.7kB would print as 1e+03kB
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}
