package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func configMap(name string, data map[string]string) *api.ConfigMap {
	c := &api.ConfigMap{Metadata: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"test": "e2e"}}, Data: data}
	api.Default(c)
	return c
}

func mustApply(t *testing.T, ctx context.Context, cl *client.Client, objs ...api.Object) []client.Result {
	t.Helper()
	res, err := cl.Apply(ctx, objs...)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func getCM(t *testing.T, ctx context.Context, cl *client.Client, name string, opts ...client.ReadOption) *api.ConfigMap {
	t.Helper()
	obj, err := cl.Get(ctx, "ConfigMap", "default", name, opts...)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return obj.(*api.ConfigMap)
}

// eventually retries f until it returns nil or the time is up.
func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	testcluster.Eventually(t, d, f)
}

func countCMs(ctx context.Context, cl *client.Client, opts ...client.ReadOption) (int, error) {
	objs, _, err := cl.List(ctx, "ConfigMap", "default", opts...)
	return len(objs), err
}

func wantCount(ctx context.Context, cl *client.Client, want int, opts ...client.ReadOption) error {
	n, err := countCMs(ctx, cl, opts...)
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%d configmaps, want %d", n, want)
	}
	return nil
}
