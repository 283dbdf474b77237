package controller

import "testing"

func TestCIDRAllocator(t *testing.T) {
	a, err := newCIDRAllocator("10.244.0.0/22", 24)
	if err != nil {
		t.Fatal(err)
	}
	a.use("10.244.1.0/24")
	a.use("junk")
	var got []string
	for range 4 {
		got = append(got, a.next())
	}
	want := []string{"10.244.0.0/24", "10.244.2.0/24", "10.244.3.0/24", ""}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allocations %v, want %v", got, want)
		}
	}
	for _, bad := range []struct {
		cidr string
		bits int
	}{{"10.244.0.0/16", 8}, {"nonsense", 24}, {"fd00::/64", 80}} {
		if _, err := newCIDRAllocator(bad.cidr, bad.bits); err == nil {
			t.Errorf("%s with /%d: no error", bad.cidr, bad.bits)
		}
	}
}
