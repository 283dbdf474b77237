package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// stdinName names standard input in messages.
const stdinName = "<stdin>"

// manifest is one input file's bytes.
type manifest struct {
	name string // the path, or stdinName
	data []byte
}

// manifestExts are the file extensions read from a directory.
var manifestExts = []string{".yaml", ".yml", ".json"}

// readManifests reads the files named by -f: a file, a directory (its
// *.yaml, *.yml and *.json files sorted by name, not recursive) or "-" for
// stdin.
func readManifests(paths []string, stdin io.Reader) ([]manifest, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("-f is required: a file, a directory or - for stdin")
	}
	var out []manifest
	usedStdin := false
	for _, p := range paths {
		if p == "-" {
			if usedStdin {
				return nil, fmt.Errorf("-f - given more than once")
			}
			usedStdin = true
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			out = append(out, manifest{name: stdinName, data: data})
			continue
		}
		if p == "" {
			return nil, fmt.Errorf("-f: empty file name")
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, pathError(err)
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, pathError(err)
			}
			out = append(out, manifest{name: p, data: data})
			continue
		}
		files, err := dirManifests(p)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}

// dirManifests reads the manifest files directly inside dir, sorted by name.
func dirManifests(dir string) ([]manifest, error) {
	entries, err := os.ReadDir(dir) // sorted by file name
	if err != nil {
		return nil, pathError(err)
	}
	var out []manifest
	for _, e := range entries {
		if e.IsDir() || !slices.Contains(manifestExts, strings.ToLower(filepath.Ext(e.Name()))) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, pathError(err)
		}
		out = append(out, manifest{name: p, data: data})
	}
	return out, nil
}

// pathError words an os error without Go's "open"/"stat" prefix:
// `web.yaml: no such file or directory`.
func pathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// decodeManifests decodes every document of every file, in order. An error
// names the file unless the only input was stdin; api's message is kept as
// it is.
func decodeManifests(files []manifest) ([]api.Object, error) {
	var objs []api.Object
	for _, f := range files {
		got, err := api.DecodeDocuments(f.data)
		if err != nil {
			if len(files) == 1 && f.name == stdinName {
				return nil, err
			}
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// loadObjects reads and decodes the manifests of -f; verb names the command
// in the message for an input with no objects.
func loadObjects(cmd *cobra.Command, paths []string, verb string) ([]api.Object, error) {
	files, err := readManifests(paths, cmd.InOrStdin())
	if err != nil {
		return nil, err
	}
	objs, err := decodeManifests(files)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("no objects passed to %s", verb)
	}
	return objs, nil
}

type writeFunc func(c *client.Client, ctx context.Context, objs ...api.Object) ([]client.Result, error)

// newWriteCmd builds apply and create: read the manifests, send all their
// objects in one call (all or nothing), print one line per object.
func newWriteCmd(verb, short string, write writeFunc) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   verb + " -f FILE|DIR|-",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			objs, err := loadObjects(cmd, files, verb)
			if err != nil {
				return err
			}
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			res, err := write(c, ctx, objs...)
			if err != nil {
				return userError(err)
			}
			// Results come in the order of the objects sent.
			for i, r := range res {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", objectName(objs[i]), r.Action)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil,
		"manifest file, directory of *.yaml, *.yml and *.json files, or - for stdin (repeatable)")
	return cmd
}

func newApplyCmd() *cobra.Command {
	return newWriteCmd("apply", "Create or update the objects of manifests, all or nothing", (*client.Client).Apply)
}

func newCreateCmd() *cobra.Command {
	return newWriteCmd("create", "Create the objects of manifests, all or nothing; none may exist", (*client.Client).Create)
}
