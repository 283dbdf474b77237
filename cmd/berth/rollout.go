package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// annotationRestartedAt is the pod template annotation `rollout restart`
// sets, kubectl's: a changed template makes the controller replace every
// pod.
const annotationRestartedAt = "kubectl.kubernetes.io/restartedAt"

func newRolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Follow, list, undo, restart, pause or resume the rollout of a workload",
	}
	cmd.AddCommand(
		newRolloutStatusCmd(),
		newRolloutHistoryCmd(),
		newRolloutUndoCmd(),
		newRolloutRestartCmd(),
		newRolloutPauseCmd("pause", "Pause a Deployment's rollout: template changes wait until it resumes", true),
		newRolloutPauseCmd("resume", "Resume a paused Deployment's rollout", false),
	)
	return cmd
}

func newRolloutHistoryCmd() *cobra.Command {
	var namespace string
	var revision int64
	cmd := &cobra.Command{
		Use:   "history deployment/NAME [--revision N]",
		Short: "List a Deployment's revisions, or show one revision's pod template",
		RunE: func(cmd *cobra.Command, args []string) error {
			info, name, err := parseResourceArg("rollout history", args, "Deployment")
			if err != nil {
				return err
			}
			if revision < 0 {
				return fmt.Errorf("rollout history: --revision must be positive, got %d", revision)
			}
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			d, rss, err := deploymentHistory(ctx, c, namespaceFor(info, namespace, false), name)
			if err != nil {
				return err
			}
			return printHistory(cmd.OutOrStdout(), d, rss, revision)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of the Deployment")
	f.Int64Var(&revision, "revision", 0, "show the pod template of this revision")
	return cmd
}

// deploymentHistory reads a Deployment and the ReplicaSets it controls,
// by revision.
func deploymentHistory(ctx context.Context, c *client.Client, ns, name string) (*api.Deployment, []*api.ReplicaSet, error) {
	obj, err := c.Get(ctx, "Deployment", ns, name)
	if err != nil {
		return nil, nil, userError(err)
	}
	d := obj.(*api.Deployment)
	objs, _, err := c.List(ctx, "ReplicaSet", ns)
	if err != nil {
		return nil, nil, userError(err)
	}
	return d, ownedReplicaSets(d, objs), nil
}

// ownedReplicaSets returns those of objs that d controls, by revision.
func ownedReplicaSets(d *api.Deployment, objs []api.Object) []*api.ReplicaSet {
	var out []*api.ReplicaSet
	for _, o := range objs {
		rs, ok := o.(*api.ReplicaSet)
		if !ok {
			continue
		}
		if ref := api.ControllerOf(&rs.Metadata); ref != nil && ref.UID == d.Metadata.UID && ref.Kind == "Deployment" {
			out = append(out, rs)
		}
	}
	slices.SortStableFunc(out, func(a, b *api.ReplicaSet) int {
		return cmp.Compare(revisionOf(&a.Metadata), revisionOf(&b.Metadata))
	})
	return out
}

// revisionOf is an object's revision annotation; 0 when absent or bad.
func revisionOf(md *api.ObjectMeta) int64 {
	n, err := strconv.ParseInt(md.Annotations[api.AnnotationRevision], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// printHistory writes kubectl's rollout history: the revisions and their
// change causes, or with revision > 0 that revision's pod template.
func printHistory(w io.Writer, d *api.Deployment, rss []*api.ReplicaSet, revision int64) error {
	ref := resourceName("Deployment") + "/" + d.Metadata.Name
	if revision > 0 {
		for _, rs := range rss {
			if revisionOf(&rs.Metadata) == revision {
				fmt.Fprintf(w, "%s with revision #%d\n", ref, revision)
				tpl := rs.Spec.Template
				if cause := rs.Metadata.Annotations[api.AnnotationChangeCause]; cause != "" {
					tpl.Metadata.Annotations = maps.Clone(tpl.Metadata.Annotations)
					if tpl.Metadata.Annotations == nil {
						tpl.Metadata.Annotations = map[string]string{}
					}
					tpl.Metadata.Annotations[api.AnnotationChangeCause] = cause
				}
				return describePodTemplate(w, tpl)
			}
		}
		return fmt.Errorf("unable to find the specified revision")
	}
	fmt.Fprintln(w, ref)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	for _, rs := range rss {
		if r := revisionOf(&rs.Metadata); r > 0 {
			fmt.Fprintf(tw, "%d\t%s\n", r, orNone(rs.Metadata.Annotations[api.AnnotationChangeCause]))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return nil
}

func newRolloutUndoCmd() *cobra.Command {
	var namespace string
	var to int64
	cmd := &cobra.Command{
		Use:   "undo deployment/NAME [--to-revision N]",
		Short: "Roll a Deployment back to its previous revision, or to --to-revision",
		RunE: func(cmd *cobra.Command, args []string) error {
			info, name, err := parseResourceArg("rollout undo", args, "Deployment")
			if err != nil {
				return err
			}
			if to < 0 {
				return fmt.Errorf("rollout undo: --to-revision must be positive, got %d", to)
			}
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			msg, err := undo(ctx, c, namespaceFor(info, namespace, false), name, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s %s\n", resourceName("Deployment"), name, msg)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of the Deployment")
	f.Int64Var(&to, "to-revision", 0, "the revision to roll back to (0: the previous one)")
	return cmd
}

// undo rolls a Deployment back to revision to (0: the previous) and says
// what it did. A conflict (a controller wrote the Deployment meanwhile)
// starts over from the read.
func undo(ctx context.Context, c *client.Client, ns, name string, to int64) (string, error) {
	for {
		d, rss, err := deploymentHistory(ctx, c, ns, name)
		if err != nil {
			return "", err
		}
		if d.Spec.Paused {
			return "", fmt.Errorf("you cannot rollback a paused deployment; resume it first with 'berth rollout resume deployment/%s' and try again", name)
		}
		target, err := undoTarget(d, rss, to)
		if err != nil {
			return "", err
		}
		if !rollBack(d, target) {
			return fmt.Sprintf("skipped rollback (current template already matches revision %d)", revisionOf(&target.Metadata)), nil
		}
		_, err = c.Update(ctx, d)
		if client.IsConflict(err) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return "", userError(err)
		}
		return "rolled back", nil
	}
}

// undoTarget picks the ReplicaSet to roll back to: revision to, or with to
// 0 the highest revision below the Deployment's current one.
func undoTarget(d *api.Deployment, rss []*api.ReplicaSet, to int64) (*api.ReplicaSet, error) {
	if to > 0 {
		for _, rs := range rss {
			if revisionOf(&rs.Metadata) == to {
				return rs, nil
			}
		}
		return nil, fmt.Errorf("unable to find specified revision %d in history", to)
	}
	current := revisionOf(&d.Metadata)
	if current == 0 {
		for _, rs := range rss {
			current = max(current, revisionOf(&rs.Metadata))
		}
	}
	var best *api.ReplicaSet
	for _, rs := range rss {
		if r := revisionOf(&rs.Metadata); r > 0 && r < current && (best == nil || r > revisionOf(&best.Metadata)) {
			best = rs
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no rollout history found for deployment %q", d.Metadata.Name)
	}
	return best, nil
}

// rollBack copies rs's pod template, less the pod-template-hash label, and
// its change cause into d; false when d's template is that one already.
func rollBack(d *api.Deployment, rs *api.ReplicaSet) bool {
	tpl := withoutHash(rs.Spec.Template)
	if templatesEqual(d.Spec.Template, tpl) {
		return false
	}
	d.Spec.Template = tpl
	if cause, ok := rs.Metadata.Annotations[api.AnnotationChangeCause]; ok {
		if d.Metadata.Annotations == nil {
			d.Metadata.Annotations = map[string]string{}
		}
		d.Metadata.Annotations[api.AnnotationChangeCause] = cause
	} else {
		delete(d.Metadata.Annotations, api.AnnotationChangeCause)
	}
	return true
}

// withoutHash returns t without the pod-template-hash label. Only the
// labels are copied: t's other maps and slices are shared.
func withoutHash(t api.PodTemplateSpec) api.PodTemplateSpec {
	t.Metadata.Labels = maps.Clone(t.Metadata.Labels)
	delete(t.Metadata.Labels, api.LabelPodTemplateHash)
	if len(t.Metadata.Labels) == 0 {
		t.Metadata.Labels = nil
	}
	return t
}

// templatesEqual compares two pod templates, ignoring their
// pod-template-hash labels (and nil against empty).
func templatesEqual(a, b api.PodTemplateSpec) bool {
	ja, erra := json.Marshal(withoutHash(a))
	jb, errb := json.Marshal(withoutHash(b))
	return erra == nil && errb == nil && string(ja) == string(jb)
}

func newRolloutRestartCmd() *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "restart (deployment|statefulset)/NAME",
		Short: "Replace every pod of a Deployment or StatefulSet, as a rollout",
		RunE: func(cmd *cobra.Command, args []string) error {
			info, name, err := parseResourceArg("rollout restart", args, "Deployment", "StatefulSet")
			if err != nil {
				return err
			}
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			at := time.Now().Format(time.RFC3339)
			if _, _, err := modify(ctx, c, info.Kind, namespaceFor(info, namespace, false), name, func(obj api.Object) (bool, error) {
				return restartTemplate(obj, at)
			}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s restarted\n", resourceName(info.Kind), name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the object")
	return cmd
}

// restartTemplate stamps a workload's pod template with the restart time.
func restartTemplate(obj api.Object, at string) (bool, error) {
	var tpl *api.PodTemplateSpec
	switch o := obj.(type) {
	case *api.Deployment:
		if o.Spec.Paused {
			return false, fmt.Errorf("can't restart paused deployment (run rollout resume first)")
		}
		tpl = &o.Spec.Template
	case *api.StatefulSet:
		tpl = &o.Spec.Template
	default:
		return false, fmt.Errorf("rollout restart is only for deployments and statefulsets")
	}
	if tpl.Metadata.Annotations == nil {
		tpl.Metadata.Annotations = map[string]string{}
	}
	tpl.Metadata.Annotations[annotationRestartedAt] = at
	return true, nil
}

// newRolloutPauseCmd makes pause (paused true) or resume.
func newRolloutPauseCmd(verb, short string, paused bool) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   verb + " deployment/NAME",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			info, name, err := parseResourceArg("rollout "+verb, args, "Deployment")
			if err != nil {
				return err
			}
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			_, changed, err := modify(ctx, c, info.Kind, namespaceFor(info, namespace, false), name, func(obj api.Object) (bool, error) {
				d := obj.(*api.Deployment)
				if d.Spec.Paused == paused {
					return false, nil
				}
				d.Spec.Paused = paused
				return true, nil
			})
			if err != nil {
				return err
			}
			what := map[bool]string{true: "paused", false: "resumed"}[paused]
			if !changed {
				what = "already " + what
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s %s\n", resourceName(info.Kind), name, what)
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the Deployment")
	return cmd
}
