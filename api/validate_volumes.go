package api

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// validateRuntime checks what the node reads of a pod: volumes, mounts,
// variables from ConfigMaps and Secrets, probes and the grace period.
func validateRuntime(l *errList, s *PodSpec) {
	vols := map[string]bool{}
	for i := range s.Volumes {
		validateVolume(l, fmt.Sprintf("spec.volumes[%d]", i), &s.Volumes[i], vols)
	}
	if g := s.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		l.add("spec.terminationGracePeriodSeconds", "%d is negative", *g)
	}
	for i := range s.Containers {
		c := &s.Containers[i]
		p := fmt.Sprintf("spec.containers[%d]", i)
		for j, m := range c.VolumeMounts {
			mp := fmt.Sprintf("%s.volumeMounts[%d]", p, j)
			if !vols[m.Name] {
				l.add(mp+".name", "%s is not a volume of the pod", quote(m.Name))
			}
			if !path.IsAbs(m.MountPath) {
				l.add(mp+".mountPath", "%s is not an absolute path", quote(m.MountPath))
			} else if hasDotDot(m.MountPath) {
				l.add(mp+".mountPath", "%s may not contain \"..\"", quote(m.MountPath))
			}
			for k := range j {
				if path.Clean(c.VolumeMounts[k].MountPath) == path.Clean(m.MountPath) {
					l.add(mp+".mountPath", "%s is mounted twice", quote(m.MountPath))
				}
			}
			if m.SubPath != "" && (path.IsAbs(m.SubPath) || hasDotDot(m.SubPath)) {
				l.add(mp+".subPath", "%s must be a relative path without \"..\"", quote(m.SubPath))
			}
		}
		for j, e := range c.Env {
			ep := fmt.Sprintf("%s.env[%d]", p, j)
			if e.ValueFrom == nil {
				continue
			}
			if e.Value != "" {
				l.add(ep+".valueFrom", "may not be set with value")
			}
			n := 0
			for _, ks := range []*KeySelector{e.ValueFrom.ConfigMapKeyRef, e.ValueFrom.SecretKeyRef} {
				if ks == nil {
					continue
				}
				n++
				if ks.Name == "" || ks.Key == "" {
					l.add(ep+".valueFrom", "name and key are required")
				}
			}
			if n != 1 {
				l.add(ep+".valueFrom", "exactly one of configMapKeyRef and secretKeyRef")
			}
		}
		for j, e := range c.EnvFrom {
			ep := fmt.Sprintf("%s.envFrom[%d]", p, j)
			switch {
			case (e.ConfigMapRef == nil) == (e.SecretRef == nil):
				l.add(ep, "exactly one of configMapRef and secretRef")
			case e.ConfigMapRef != nil && e.ConfigMapRef.Name == "":
				l.add(ep+".configMapRef.name", "required")
			case e.SecretRef != nil && e.SecretRef.Name == "":
				l.add(ep+".secretRef.name", "required")
			}
		}
		validateProbe(l, p+".livenessProbe", c.LivenessProbe, c)
		validateProbe(l, p+".readinessProbe", c.ReadinessProbe, c)
		if c.LivenessProbe != nil && c.LivenessProbe.SuccessThreshold > 1 {
			l.add(p+".livenessProbe.successThreshold", "must be 1")
		}
	}
}

func validateVolume(l *errList, p string, v *Volume, names map[string]bool) {
	switch {
	case v.Name == "":
		l.add(p+".name", "required")
	case checkLabel(v.Name) != "":
		l.add(p+".name", "%s %s", quote(v.Name), checkLabel(v.Name))
	case names[v.Name]:
		l.add(p+".name", "%s is used by another volume", quote(v.Name))
	}
	names[v.Name] = true
	n := 0
	if h := v.HostPath; h != nil {
		n++
		switch {
		case !path.IsAbs(h.Path):
			l.add(p+".hostPath.path", "%s is not an absolute path", quote(h.Path))
		case hasDotDot(h.Path):
			l.add(p+".hostPath.path", "%s may not contain \"..\"", quote(h.Path))
		}
		switch h.Type {
		case "", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket":
		default:
			l.add(p+".hostPath.type", "%s is not Directory, DirectoryOrCreate, File, FileOrCreate or Socket", quote(h.Type))
		}
	}
	if e := v.EmptyDir; e != nil {
		n++
		if e.Medium != "" && e.Medium != "Memory" {
			l.add(p+".emptyDir.medium", "%s is not \"\" or \"Memory\"", quote(e.Medium))
		}
		if e.SizeLimit != nil {
			if _, err := ParseQuantity(string(*e.SizeLimit)); err != nil || e.SizeLimit.Value() <= 0 {
				l.add(p+".emptyDir.sizeLimit", "%s is not a positive quantity", quote(string(*e.SizeLimit)))
			}
		}
	}
	if c := v.PersistentVolumeClaim; c != nil {
		n++
		if msg := checkSubdomain(c.ClaimName); msg != "" {
			l.add(p+".persistentVolumeClaim.claimName", "%s %s", quote(c.ClaimName), msg)
		}
	}
	if c := v.ConfigMap; c != nil {
		n++
		if c.Name == "" {
			l.add(p+".configMap.name", "required")
		}
		validateItems(l, p+".configMap", c.Items, c.DefaultMode)
	}
	if s := v.Secret; s != nil {
		n++
		if s.SecretName == "" {
			l.add(p+".secret.secretName", "required")
		}
		validateItems(l, p+".secret", s.Items, s.DefaultMode)
	}
	if n != 1 {
		l.add(p, "exactly one of hostPath, emptyDir, persistentVolumeClaim, configMap and secret")
	}
}

func validateItems(l *errList, p string, items []KeyToPath, mode *int32) {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		l.add(p+".defaultMode", "%#o is not a file mode (0 to 0777)", *mode)
	}
	for i, it := range items {
		ip := fmt.Sprintf("%s.items[%d]", p, i)
		if it.Key == "" {
			l.add(ip+".key", "required")
		}
		if it.Path == "" || path.IsAbs(it.Path) || hasDotDot(it.Path) || path.Clean(it.Path) == "." ||
			strings.Contains(it.Path, "//") || strings.HasSuffix(it.Path, "/") || strings.ContainsRune(it.Path, 0) {
			l.add(ip+".path", "%s must be a relative path of a file, without \"..\" or empty elements", quote(it.Path))
		}
		if it.Mode != nil && (*it.Mode < 0 || *it.Mode > 0o777) {
			l.add(ip+".mode", "%#o is not a file mode (0 to 0777)", *it.Mode)
		}
	}
}

func validateProbe(l *errList, p string, pr *Probe, c *Container) {
	if pr == nil {
		return
	}
	n := 0
	if pr.Exec != nil {
		n++
		if len(pr.Exec.Command) == 0 {
			l.add(p+".exec.command", "required")
		}
	}
	if pr.HTTPGet != nil {
		n++
		validateProbePort(l, p+".httpGet.port", pr.HTTPGet.Port, c)
		switch pr.HTTPGet.Scheme {
		case "", "HTTP", "HTTPS":
		default:
			l.add(p+".httpGet.scheme", "%s is not HTTP or HTTPS", quote(pr.HTTPGet.Scheme))
		}
		if pr.HTTPGet.Path != "" && !strings.HasPrefix(pr.HTTPGet.Path, "/") {
			l.add(p+".httpGet.path", "%s does not start with /", quote(pr.HTTPGet.Path))
		}
	}
	if pr.TCPSocket != nil {
		n++
		validateProbePort(l, p+".tcpSocket.port", pr.TCPSocket.Port, c)
	}
	if n != 1 {
		l.add(p, "exactly one of exec, httpGet and tcpSocket")
	}
	for _, f := range []struct {
		name string
		v    int32
	}{{"initialDelaySeconds", pr.InitialDelaySeconds}, {"timeoutSeconds", pr.TimeoutSeconds}, {"periodSeconds", pr.PeriodSeconds}, {"successThreshold", pr.SuccessThreshold}, {"failureThreshold", pr.FailureThreshold}} {
		if f.v < 0 {
			l.add(p+"."+f.name, "%d is negative", f.v)
		}
	}
}

func validateProbePort(l *errList, p string, port IntOrString, c *Container) {
	if port.StrVal != "" {
		if !slices.ContainsFunc(c.Ports, func(cp ContainerPort) bool { return cp.Name == port.StrVal }) {
			l.add(p, "%s names no port of the container", quote(port.StrVal))
		}
		return
	}
	if port.IntVal < 1 || port.IntVal > 65535 {
		l.add(p, "%d is not in 1..65535", port.IntVal)
	}
}

// hasDotDot reports whether a path has a ".." element.
func hasDotDot(p string) bool {
	return slices.Contains(strings.Split(p, "/"), "..")
}

// ProbeDefaults returns a probe with Kubernetes' defaults filled in:
// timeout 1 s, period 10 s, thresholds 1 (success) and 3 (failure).
func ProbeDefaults(p Probe) Probe {
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	return p
}
