package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

func TestDescribe(t *testing.T) {
	cm := configMap("default", "web", 5*24*time.Hour)
	cm.Metadata.Labels = map[string]string{"tier": "front", "app": "web"}
	cm.Data = map[string]string{"b": "two\nlines\n", "a": "1"}
	sec := secret("prod", "db", time.Minute)
	sec.Metadata.Annotations = map[string]string{"note": "x"}
	tests := []struct {
		name string
		obj  api.Object
		want string
	}{
		{"configmap", cm, "" +
			"Name:             web\n" +
			"Namespace:        default\n" +
			"Labels:           app=web\n" +
			"                  tier=front\n" +
			"Annotations:      <none>\n" +
			"UID:              u-web\n" +
			"ResourceVersion:  7\n" +
			"Created:          2025-05-27T12:00:00Z (5d ago)\n" +
			"\n" +
			"Data\n" +
			"====\n" +
			"a:\n" +
			"----\n" +
			"1\n" +
			"\n" +
			"b:\n" +
			"----\n" +
			"two\n" +
			"lines\n" +
			"\n" +
			"BinaryData\n" +
			"====\n" +
			"bin: 3 bytes\n"},
		{"secret", sec, "" +
			"Name:             db\n" +
			"Namespace:        prod\n" +
			"Labels:           <none>\n" +
			"Annotations:      note=x\n" +
			"UID:              u-db\n" +
			"ResourceVersion:  7\n" +
			"Created:          2025-06-01T11:59:00Z (60s ago)\n" +
			"Type:             Opaque\n" +
			"\n" +
			"Data\n" +
			"====\n" +
			"password:  8 bytes\n"},
		{"namespace", namespace("prod", time.Hour), "" +
			"Name:             prod\n" +
			"Labels:           <none>\n" +
			"Annotations:      <none>\n" +
			"UID:              u-prod\n" +
			"ResourceVersion:  7\n" +
			"Created:          2025-06-01T11:00:00Z (60m ago)\n" +
			"Status:           Active\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := describeObject(&buf, tt.obj, now); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", buf.String(), tt.want)
			}
			if strings.Contains(buf.String(), "hunter22") {
				t.Fatal("describe shows a secret's value")
			}
		})
	}
}
