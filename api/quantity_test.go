package api

import "testing"

func TestQuantity(t *testing.T) {
	for _, tt := range []struct {
		q            Quantity
		milli, value int64
	}{
		{"1", 1000, 1}, {"500m", 500, 1}, {"1500m", 1500, 2}, {"0.5", 500, 1}, {"2.25", 2250, 3},
		{"1Ki", 1024000, 1024}, {"1Gi", 1 << 30 * 1000, 1 << 30}, {"1.5Gi", 1610612736000, 1610612736},
		{"128M", 128e9, 128e6}, {"1k", 1e6, 1000}, {"1e3", 1e6, 1000}, {"1u", 1, 1}, {"0", 0, 0},
		{"", 0, 0}, {"bogus", 0, 0},
	} {
		if got := tt.q.Milli(); got != tt.milli {
			t.Errorf("%q.Milli() = %d, want %d", tt.q, got, tt.milli)
		}
		if got := tt.q.Value(); got != tt.value {
			t.Errorf("%q.Value() = %d, want %d", tt.q, got, tt.value)
		}
	}
	for _, bad := range []string{"", "-1", "1/2", "0x10", "1Zi", "m", "1.2.3", "99999999999999999Ei"} {
		if _, err := ParseQuantity(bad); err == nil {
			t.Errorf("ParseQuantity(%q) accepted", bad)
		}
	}
}

func TestQuantityJSON(t *testing.T) {
	objs, err := DecodeDocuments([]byte(`
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: busybox
    resources:
      requests: {cpu: 1, memory: 64Mi}
      limits: {cpu: 2.5}
`))
	if err != nil {
		t.Fatal(err)
	}
	c := objs[0].(*Pod).Spec.Containers[0]
	if c.Resources.Requests[ResourceCPU] != "1" || c.Resources.Limits[ResourceCPU] != "2.5" || c.Resources.Requests[ResourceMemory] != "64Mi" {
		t.Fatalf("resources %+v", c.Resources)
	}
	_, err = DecodeDocuments([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, resources: {requests: {cpu: [1]}}}]}\n"))
	if err == nil || err.Error() != `pod "p": field "spec.containers[0].resources.requests.cpu": expected quantity (string or number), got array` {
		t.Fatalf("error %v", err)
	}
}
