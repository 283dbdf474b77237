package scheduler

import (
	"encoding/binary"
	"slices"

	"github.com/berth-dev/berth/api"
)

// keyWriter appends, to one buffer, the keys that tell pods apart for the
// stages: two pods with equal keys fit and score alike on every node.
type keyWriter struct {
	b       []byte
	scratch []string
}

func (w *keyWriter) num(v int64) { w.b = binary.AppendVarint(w.b, v) }

func (w *keyWriter) str(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *keyWriter) strs(ss []string) {
	w.num(int64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

// labels writes a map in key order.
func (w *keyWriter) labels(m map[string]string) {
	keys := w.scratch[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.num(int64(len(keys)))
	for _, k := range keys {
		w.str(k)
		w.str(m[k])
	}
	w.scratch = keys
}

// class writes what the static stages read of the pod: tolerations, node
// selector, node affinity.
func (w *keyWriter) class(p *api.Pod) {
	w.num(int64(len(p.Spec.Tolerations)))
	for _, t := range p.Spec.Tolerations {
		w.str(t.Key)
		w.str(t.Operator)
		w.str(t.Value)
		w.str(t.Effect)
	}
	w.labels(p.Spec.NodeSelector)
	var na *api.NodeAffinity
	if p.Spec.Affinity != nil {
		na = p.Spec.Affinity.NodeAffinity
	}
	if na == nil || na.Required == nil {
		w.num(-1)
	} else {
		w.num(int64(len(na.Required.NodeSelectorTerms)))
		for i := range na.Required.NodeSelectorTerms {
			w.term(&na.Required.NodeSelectorTerms[i])
		}
	}
	if na == nil {
		w.num(0)
		return
	}
	w.num(int64(len(na.Preferred)))
	for i := range na.Preferred {
		w.num(int64(na.Preferred[i].Weight))
		w.term(&na.Preferred[i].Preference)
	}
}

func (w *keyWriter) term(t *api.NodeSelectorTerm) {
	for _, reqs := range [][]api.NodeSelectorRequirement{t.MatchExpressions, t.MatchFields} {
		w.num(int64(len(reqs)))
		for _, r := range reqs {
			w.str(r.Key)
			w.str(r.Operator)
			w.strs(r.Values)
		}
	}
}

// rest writes what the dynamic stages read: requests, strategy, host
// ports, anti-affinity terms, and the namespace and labels that other
// pods' anti-affinity terms select on.
func (w *keyWriter) rest(p *podInfo) {
	w.num(p.req.MilliCPU)
	w.num(p.req.Memory)
	w.num(p.req.GPU)
	w.num(p.req.Pods)
	if p.spread {
		w.num(1)
	} else {
		w.num(0)
	}
	w.num(int64(len(p.ports)))
	for _, hp := range p.ports {
		w.str(hp.Protocol)
		w.str(hp.IP)
		w.num(int64(hp.Port))
	}
	if !p.anti {
		w.num(0)
	} else {
		terms := p.pod.Spec.Affinity.PodAntiAffinity.Required
		w.num(int64(len(terms)))
		for i := range terms {
			w.podTerm(&terms[i])
		}
	}
	w.str(p.pod.Metadata.Namespace)
	w.labels(p.pod.Metadata.Labels)
}

func (w *keyWriter) podTerm(t *api.PodAffinityTerm) {
	w.strs(t.Namespaces)
	w.str(t.TopologyKey)
	if t.LabelSelector == nil {
		w.num(-1)
		return
	}
	w.labels(t.LabelSelector.MatchLabels)
	w.num(int64(len(t.LabelSelector.MatchExpressions)))
	for _, r := range t.LabelSelector.MatchExpressions {
		w.str(r.Key)
		w.str(r.Operator)
		w.strs(r.Values)
	}
}
