package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// list is the shape of a `kind: List` document. Its items are checked one
// by one against their own kinds.
type list struct {
	TypeMeta
	Metadata listMeta `json:"metadata"`
	Items    []any    `json:"items"`
}

type listMeta struct {
	ResourceVersion    string `json:"resourceVersion,omitempty"`
	Continue           string `json:"continue,omitempty"`
	RemainingItemCount *int64 `json:"remainingItemCount,omitempty"`
	SelfLink           string `json:"selfLink,omitempty"`
}

// DecodeDocuments parses a manifest: YAML, with documents split on lines
// that are exactly "---" (trailing spaces or a comment allowed), or JSON (one
// or more concatenated values). A `kind: List` document of apiVersion v1 is
// flattened into its items. Documents that hold only whitespace or comments
// are skipped.
//
// Decoding is strict: unknown fields, type mismatches and duplicate keys are
// errors naming the field's path. Each object is then defaulted (Default)
// and validated (Validate). When the input has more than one document, an
// error is prefixed "document N: " (1-based). Every error wraps ErrInvalid.
func DecodeDocuments(data []byte) ([]Object, error) {
	values, err := parseDocuments(data)
	if err != nil {
		return nil, err
	}
	var objs []Object
	for i, v := range values {
		got, err := decodeValue(v, true)
		if err != nil {
			if len(values) > 1 {
				return nil, fmt.Errorf("document %d: %w", i+1, err)
			}
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// DecodeObject decodes exactly one YAML or JSON document strictly, as
// DecodeDocuments does, then defaults and validates it. A List is refused.
func DecodeObject(data []byte) (Object, error) {
	if obj, ok := decodeCanonical(data); ok {
		Default(obj)
		if err := Validate(obj); err != nil {
			return nil, err
		}
		return obj, nil
	}
	values, err := parseDocuments(data)
	if err != nil {
		return nil, err
	}
	switch len(values) {
	case 0:
		return nil, invalidf("document is empty")
	case 1:
	default:
		return nil, invalidf("expected one document, got %d", len(values))
	}
	objs, err := decodeValue(values[0], false)
	if err != nil {
		return nil, err
	}
	return objs[0], nil
}

// decodeCanonical is the fast path of DecodeObject for JSON that is exactly
// what Encode writes (as the Go client sends): such input has no unknown,
// misspelt or mistyped field, so one typed decode reads it. Anything else
// goes the strict way, which words the errors.
func decodeCanonical(data []byte) (Object, bool) {
	// Encode writes apiVersion and kind first: read them off the front.
	apiVersion, rest, ok := cutString(data, `{"apiVersion":"`)
	if !ok {
		return nil, false
	}
	kind, _, ok := cutString(rest, `,"kind":"`)
	if !ok {
		return nil, false
	}
	info, ok := LookupKind(kind)
	if !ok || apiVersion != info.APIVersion {
		return nil, false
	}
	obj := info.New()
	if json.Unmarshal(data, obj) != nil {
		return nil, false
	}
	enc, err := Encode(obj)
	if err != nil || !bytes.Equal(enc, data) {
		return nil, false
	}
	return obj, true
}

// cutString reads a plain JSON string (no escapes) that follows prefix.
func cutString(data []byte, prefix string) (string, []byte, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(prefix))
	if !ok {
		return "", nil, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return "", nil, false
	}
	return string(rest[:i]), rest[i+1:], true
}

// DecodeStored decodes the canonical JSON of a known kind, as Encode wrote
// it, into a typed object. It does not default or validate; unknown fields
// and a kind other than the one asked for are errors.
func DecodeStored(kind string, data []byte) (Object, error) {
	info, ok := LookupKind(kind)
	if !ok {
		return nil, invalidf("kind %s is not supported", quote(kind))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalidf("%s", jsonError(data, err))
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return nil, invalidf("invalid JSON: data after the object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalidf("stored %s must be a JSON object, got %s", lower(kind), jsonType(v))
	}
	desc := describe(kind, rawName(m))
	if k, ok := m["kind"].(string); ok && k != kind {
		return nil, invalidf("%s: stored object has kind %s", desc, quote(k))
	}
	obj := info.New()
	if p := checkFields(m, reflect.TypeOf(obj), ""); p != nil {
		return nil, invalidf("%s: %s", desc, p)
	}
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, invalidf("%s: %v", desc, err)
	}
	return obj, nil
}

// Encode returns the canonical JSON of obj. encoding/json sorts map keys,
// so equal objects encode to equal bytes.
func Encode(obj Object) ([]byte, error) {
	if isNil(obj) {
		return nil, invalidf("cannot encode a nil object")
	}
	return json.Marshal(obj)
}

// separator matches a YAML document separator line.
var separator = regexp.MustCompile(`^---[ \t]*(#.*)?$`)

// parseDocuments splits data into documents and parses each into generic
// values (maps, slices, json.Number, ...), skipping empty ones.
func parseDocuments(data []byte) ([]any, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return parseJSONStream(data)
	}
	chunks := splitYAML(string(data))
	var values []any
	for i, c := range chunks {
		v, err := parseYAML(c.text)
		if err != nil && c.line > 0 {
			// Parse it again behind as many newlines as lines before
			// it, so that the error's line numbers count from the top
			// of the file. Only on an error: done for every document,
			// it would cost time and memory quadratic in their number.
			if _, e := parseYAML(strings.Repeat("\n", c.line) + c.text); e != nil {
				err = e
			}
		}
		if err != nil {
			if len(chunks) > 1 {
				return nil, fmt.Errorf("document %d: %w", i+1, err)
			}
			return nil, err
		}
		if v != nil {
			values = append(values, v)
		}
	}
	return values, nil
}

// yamlDoc is one document of a YAML stream and the number of lines before
// it.
type yamlDoc struct {
	text string
	line int
}

// splitYAML returns the documents of data that are not empty, each with
// the number of lines before it in data.
func splitYAML(data string) []yamlDoc {
	var docs []yamlDoc
	var cur strings.Builder
	start, blank := 0, true
	flush := func() {
		if !blank {
			docs = append(docs, yamlDoc{text: cur.String(), line: start})
		}
		cur.Reset()
		blank = true
	}
	lines := strings.SplitAfter(data, "\n")
	for n, line := range lines {
		text := strings.TrimRight(line, "\r\n")
		if separator.MatchString(text) {
			flush()
			start = n + 1
			continue
		}
		if t := strings.TrimSpace(text); t != "" && !strings.HasPrefix(t, "#") {
			blank = false
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

func parseYAML(doc string) (any, error) {
	j, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		return nil, invalidf("invalid YAML: %s", strings.Join(strings.Fields(msg), " "))
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalidf("invalid YAML: %v", err)
	}
	return v, nil
}

func parseJSONStream(data []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var values []any
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			err = invalidf("%s", jsonError(data, err))
			if len(values) > 0 {
				return nil, fmt.Errorf("document %d: %w", len(values)+1, err)
			}
			return nil, err
		}
		if v != nil {
			values = append(values, v)
		}
	}
	// More stops at a stray closing bracket; Decode reports it.
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		var v any
		err := invalidf("%s", jsonError(data, dec.Decode(&v)))
		return nil, err
	}
	return values, nil
}

// jsonError words a JSON parse error with the line it happened on.
func jsonError(data []byte, err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		off := min(int(syn.Offset), len(data))
		line := bytes.Count(data[:off], []byte("\n")) + 1
		return fmt.Sprintf("invalid JSON: line %d: %v", line, err)
	}
	return fmt.Sprintf("invalid JSON: %v", err)
}

// decodeValue turns one parsed document into objects: a List's items, or
// the object itself.
func decodeValue(v any, allowList bool) ([]Object, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalidf("document must be a mapping of fields, got %s", jsonType(v))
	}
	if k, _ := m["kind"].(string); k == "List" && allowList {
		return decodeList(m)
	}
	obj, err := decodeItem(m, "")
	if err != nil {
		return nil, err
	}
	return []Object{obj}, nil
}

func decodeList(m map[string]any) ([]Object, error) {
	switch av := m["apiVersion"]; av {
	case nil, "":
		return nil, invalidf("list: apiVersion: required")
	case "v1":
	default:
		return nil, invalidf("list: apiVersion %s is not valid for kind List (want \"v1\")", quoteAny(av))
	}
	if p := checkFields(m, reflect.TypeFor[list](), ""); p != nil {
		return nil, invalidf("list: %s", p)
	}
	items, _ := m["items"].([]any)
	objs := make([]Object, 0, len(items))
	for i, it := range items {
		path := fmt.Sprintf("items[%d]", i)
		im, ok := it.(map[string]any)
		if !ok {
			return nil, invalidf("%s: expected object, got %s", path, jsonType(it))
		}
		obj, err := decodeItem(im, path)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// decodeItem decodes, defaults and validates one object. path is where the
// object sits in its document ("" or "items[2]"); field paths start there.
func decodeItem(m map[string]any, path string) (Object, error) {
	subject := "document"
	if path != "" {
		subject = path
	}
	rawKind, present := m["kind"]
	kind, isString := rawKind.(string)
	switch {
	case !present || rawKind == nil || kind == "" && isString:
		return nil, invalidf("%s has no kind", subject)
	case !isString:
		return nil, invalidf("field %s: expected string, got %s", quote(joinPath(path, "kind")), jsonType(rawKind))
	}
	info, ok := LookupKind(kind)
	if !ok {
		if path != "" {
			return nil, invalidf("%s: kind %s is not supported", path, quote(kind))
		}
		return nil, invalidf("kind %s is not supported", quote(kind))
	}
	desc := describe(kind, rawName(m))
	switch av := m["apiVersion"]; av {
	case nil, "":
		return nil, invalidf("%s: %s: required", desc, joinPath(path, "apiVersion"))
	case info.APIVersion:
	default:
		return nil, invalidf("%s: apiVersion %s is not valid for kind %s (want %s)",
			desc, quoteAny(av), kind, quote(info.APIVersion))
	}
	obj := info.New()
	if p := checkFields(m, reflect.TypeOf(obj), path); p != nil {
		return nil, invalidf("%s: %s", desc, p)
	}
	j, err := json.Marshal(m)
	if err != nil {
		return nil, invalidf("%s: %v", desc, err)
	}
	if err := json.Unmarshal(j, obj); err != nil {
		return nil, invalidf("%s: %v", desc, err)
	}
	Default(obj)
	if err := validate(obj, path); err != nil {
		return nil, err
	}
	return obj, nil
}

// rawName returns metadata.name of a generic document, or "".
func rawName(m map[string]any) string {
	md, _ := m["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	return name
}

func quoteAny(v any) string {
	if s, ok := v.(string); ok {
		return quote(s)
	}
	return fmt.Sprint(v)
}
