package driver

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
)

// normalizeRef is ref's full name (busybox: docker.io/library/busybox:latest).
func normalizeRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", err
	}
	return named.String(), nil
}

// resolver reaches registries over HTTPS, or plain HTTP for the hosts
// the config lists.
func (c *Containerd) resolver(ctx context.Context) docker.ResolverOptions {
	hosts := func(host string) ([]docker.RegistryHost, error) {
		var o config.HostOptions
		if slices.Contains(c.cfg.PlainHTTP, host) {
			o.DefaultScheme = "http"
		}
		return config.ConfigureHosts(ctx, o)(host)
	}
	return docker.ResolverOptions{Hosts: hosts}
}

// PullImage pulls ref and unpacks it into the snapshotter.
func (c *Containerd) PullImage(ctx context.Context, ref string) (Image, error) {
	ctx = c.ns(ctx)
	named, err := normalizeRef(ref)
	if err != nil {
		return Image{}, fmt.Errorf("driver: pull %q: %w: %w", ref, err, ErrImage)
	}
	img, err := c.client.Pull(ctx, named,
		client.WithResolver(docker.NewResolver(c.resolver(ctx))),
		client.WithPullUnpack,
		client.WithPullSnapshotter(c.cfg.Snapshotter),
	)
	if err != nil {
		return Image{}, fmt.Errorf("driver: pull %q: %w: %w", ref, err, ErrImage)
	}
	return c.describe(ctx, img)
}

// ImportImages imports an OCI or Docker archive and unpacks its named
// images.
func (c *Containerd) ImportImages(ctx context.Context, archive io.Reader) ([]Image, error) {
	ctx = c.ns(ctx)
	imgs, err := c.client.Import(ctx, archive)
	if err != nil {
		return nil, fmt.Errorf("driver: import images: %w: %w", err, ErrImage)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("driver: import images: the archive names no image: %w", ErrImage)
	}
	out := make([]Image, 0, len(imgs))
	for _, i := range imgs {
		img := client.NewImage(c.client, i)
		if err := img.Unpack(ctx, c.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("driver: import images: unpack %q: %w: %w", i.Name, err, ErrImage)
		}
		d, err := c.describe(ctx, img)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// GetImage returns the image named ref (or its normalized name).
func (c *Containerd) GetImage(ctx context.Context, ref string) (Image, error) {
	ctx = c.ns(ctx)
	img, err := c.client.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		if named, nerr := normalizeRef(ref); nerr == nil && named != ref {
			img, err = c.client.GetImage(ctx, named)
		}
	}
	if err != nil {
		return Image{}, fmt.Errorf("driver: image %q: %w", ref, notFound(err))
	}
	return c.describe(ctx, img)
}

// ListImages returns the namespace's images.
func (c *Containerd) ListImages(ctx context.Context) ([]Image, error) {
	ctx = c.ns(ctx)
	imgs, err := c.client.ListImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("driver: list images: %w", err)
	}
	out := make([]Image, 0, len(imgs))
	for _, img := range imgs {
		d, err := c.describe(ctx, img)
		if errdefs.IsNotFound(err) {
			continue // content missing (a partial pull)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (c *Containerd) describe(ctx context.Context, img client.Image) (Image, error) {
	size, err := img.Size(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("driver: image %q size: %w", img.Name(), err)
	}
	return Image{Ref: img.Name(), Digest: img.Target().Digest.String(), Size: size}, nil
}
