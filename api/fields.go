package api

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The strict field check. encoding/json's DisallowUnknownFields neither
// names the path of an unknown field nor matches keys case-sensitively, so
// a document is first decoded into generic values (maps, slices,
// json.Number) and walked against the Go type by its json tags. Keys are
// visited in sorted order, so the first problem found is always the same.

// fieldProblem is the first thing wrong with a document's fields. path
// uses dots and [i], as in "items[2].metadata.lables".
type fieldProblem struct {
	path    string
	unknown bool   // an unknown field; otherwise a type mismatch
	msg     string // for a type mismatch: "expected string, got number"
}

func (p *fieldProblem) String() string {
	if p.unknown {
		return "unknown field " + quote(p.path)
	}
	return "field " + quote(p.path) + ": " + p.msg
}

// checkFields reports the first unknown field or type mismatch of v, a
// value decoded with json.Decoder.UseNumber, against type t.
func checkFields(v any, t reflect.Type, path string) *fieldProblem {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return nil // JSON null leaves any Go value as it is
	}
	mismatch := func(want string) *fieldProblem {
		return &fieldProblem{path: path, msg: "expected " + want + ", got " + jsonType(v)}
	}
	if t == intOrStringType {
		n, isNum := v.(json.Number)
		if _, isStr := v.(string); !isStr && !isNum {
			return mismatch("integer or string")
		}
		if isNum {
			if _, err := strconv.ParseInt(n.String(), 10, 32); err != nil {
				return &fieldProblem{path: path, msg: "expected integer or string, got " + n.String()}
			}
		}
		return nil
	}
	if t == quantityType {
		if _, ok := v.(json.Number); !ok {
			if _, ok := v.(string); !ok {
				return mismatch("quantity (string or number)")
			}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		return nil
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return mismatch("object")
		}
		fields := jsonFields(t)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ft, ok := fields[k]
			if !ok {
				return &fieldProblem{path: joinPath(path, k), unknown: true}
			}
			if p := checkFields(m[k], ft, joinPath(path, k)); p != nil {
				return p
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return mismatch("object")
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if p := checkFields(m[k], t.Elem(), joinPath(path, k)); p != nil {
				return p
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			s, ok := v.(string)
			if !ok {
				return mismatch("base64 string")
			}
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return &fieldProblem{path: path, msg: "invalid base64 data"}
			}
			return nil
		}
		l, ok := v.([]any)
		if !ok {
			return mismatch("array")
		}
		for i, e := range l {
			if p := checkFields(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); p != nil {
				return p
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return mismatch("string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return mismatch("boolean")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return mismatch("integer")
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			return &fieldProblem{path: path, msg: "expected integer, got " + n.String()}
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return mismatch("integer")
		}
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			return &fieldProblem{path: path, msg: "expected non-negative integer, got " + n.String()}
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return mismatch("number")
		}
	}
	return nil
}

// jsonType names the JSON type of a generic value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "unknown"
}

var quantityType = reflect.TypeFor[Quantity]()
var intOrStringType = reflect.TypeFor[IntOrString]()

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps the JSON names of t's fields to their types. Embedded
// structs without a tag name are inlined, as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	addJSONFields(t, fields)
	fieldCache.Store(t, fields)
	return fields
}

func addJSONFields(t reflect.Type, fields map[string]reflect.Type) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = ft
	}
	// Fields of embedded structs are shadowed by the outer ones.
	for _, et := range embedded {
		inner := map[string]reflect.Type{}
		addJSONFields(et, inner)
		for name, ft := range inner {
			if _, ok := fields[name]; !ok {
				fields[name] = ft
			}
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
