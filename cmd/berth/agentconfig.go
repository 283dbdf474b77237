package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// configKey is the flag that names an agent's configuration file; the
// file cannot name it.
const configKey = "config"

// applyAgentConfig sets cmd's local flags from the YAML file at path: each
// top-level key is a flag's name without "--", and each value is what the
// flag takes (`data-dir: /var/lib/berth`, `server: true`). A list sets a
// repeatable flag once per item (`label: [zone=a, gpu=yes]`) and gives any
// other flag its items joined by commas (`join: [a:7400, b:7400]`). A flag
// given on the command line wins over the file, and the file over a
// default from the environment (BERTH_JOIN_TOKEN). An unknown key, or a
// value its flag refuses, is an error naming the file, the line and the key.
//
// skip, when not nil, names keys to ignore: `agent purge` reads the
// agent's file and uses the few keys it has.
func applyAgentConfig(cmd *cobra.Command, path string, skip func(key string) bool) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var doc any
	useNumber := func(d *json.Decoder) *json.Decoder { d.UseNumber(); return d }
	if err := yaml.UnmarshalStrict(raw, &doc, useNumber); err != nil {
		return fmt.Errorf("agent config %s: %w", path, err)
	}
	if doc == nil {
		return nil // empty: every flag keeps its value
	}
	values, ok := doc.(map[string]any)
	if !ok {
		return fmt.Errorf("agent config %s: want a mapping of flag names to values, such as `data-dir: /var/lib/berth`", path)
	}
	// Keys in the file's order, so that the first mistake is reported.
	lines := make(map[string]int, len(values))
	keys := make([]string, 0, len(values))
	for k := range values {
		lines[k] = keyLine(raw, k)
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if lines[keys[i]] != lines[keys[j]] {
			return lines[keys[i]] < lines[keys[j]]
		}
		return keys[i] < keys[j]
	})
	flags := cmd.LocalFlags()
	for _, k := range keys {
		where := path
		if lines[k] > 0 {
			where += ":" + strconv.Itoa(lines[k])
		}
		f := flags.Lookup(k)
		switch {
		case k == configKey:
			return fmt.Errorf("agent config %s: %s: a config file cannot name another", where, k)
		case skip != nil && skip(k):
			continue
		case f == nil || k == "help":
			return fmt.Errorf("agent config %s: unknown key %q (the keys are the flags of `%s`, without --)", where, k, cmd.CommandPath())
		case f.Changed:
			continue // the command line wins
		}
		items, err := configItems(values[k])
		if err != nil {
			return fmt.Errorf("agent config %s: %s: %v", where, k, err)
		}
		// A repeatable flag takes each item; any other flag the comma form.
		if _, repeatable := f.Value.(interface{ GetSlice() []string }); !repeatable {
			items = []string{strings.Join(items, ",")}
		}
		for _, it := range items {
			if err := flags.Set(k, it); err != nil {
				return fmt.Errorf("agent config %s: %s: %v", where, k, err)
			}
		}
	}
	return nil
}

// configItems turns a value decoded from YAML into the text its flag
// parses: one item, or one per element of a list.
func configItems(v any) ([]string, error) {
	switch v := v.(type) {
	case []any:
		items := make([]string, 0, len(v))
		for _, e := range v {
			s, err := configScalar(e)
			if err != nil {
				return nil, fmt.Errorf("list item: %v", err)
			}
			items = append(items, s)
		}
		return items, nil
	default:
		s, err := configScalar(v)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
}

func configScalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", fmt.Errorf("no value (write \"\" for an empty one)")
	case map[string]any:
		return "", fmt.Errorf("want a value, not a mapping")
	default:
		return "", fmt.Errorf("want a value such as a string, number or true/false, not %T", v)
	}
}

// keyLine is the 1-based line where key starts a top-level entry of the
// YAML text, or 0 when no line does (a flow mapping, say).
func keyLine(raw []byte, key string) int {
	for i, line := range bytes.Split(raw, []byte("\n")) {
		s := string(line)
		for _, q := range []string{key, `"` + key + `"`, "'" + key + "'"} {
			if rest, ok := strings.CutPrefix(s, q); ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), ":") {
				return i + 1
			}
		}
	}
	return 0
}
