package check

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The kustomizations deploy/ ships, relative to this package.
const (
	baseDir     = "../kubernetes/base"
	withNATSDir = "../kubernetes/overlays/with-nats"
	rrsaDir     = "../kubernetes/overlays/rrsa"
)

// rendered is one kustomization's output, strictly decoded.
type rendered struct {
	dir     string
	objects []object
}

// object is one rendered resource: its typed value and where it came from.
type object struct {
	kind, name string
	value      any
}

// newObject returns an empty typed value for apiVersion/kind, or nil for
// a kind deploy/ is not expected to ship.
func newObject(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/Secret":
		return &corev1.Secret{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Service":
		return &corev1.Service{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	}
	return nil
}

// render runs kustomize (the library kubectl -k uses) on dir and decodes
// every object into its API type, refusing unknown and duplicate fields
// with the same case-sensitive decoder the API server's strict mode uses.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := rendered{dir: dir}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s/%s: %v", dir, r.GetKind(), r.GetName(), err)
		}
		o, err := decode(y)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		out.objects = append(out.objects, o)
	}
	return out
}

// decode strictly decodes one YAML object into its API type.
func decode(y []byte) (object, error) {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return object{}, err
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := k8sjson.UnmarshalCaseSensitivePreserveInts(j, &meta); err != nil {
		return object{}, err
	}
	o := object{kind: meta.Kind, name: meta.Metadata.Name, value: newObject(meta.APIVersion, meta.Kind)}
	if o.value == nil {
		return o, fmt.Errorf("%s %s/%s: not a kind this check knows; add its type to newObject", meta.APIVersion, meta.Kind, meta.Metadata.Name)
	}
	strict, err := k8sjson.UnmarshalStrict(j, o.value)
	if err != nil {
		return o, fmt.Errorf("%s/%s: %w", o.kind, o.name, err)
	}
	if len(strict) > 0 {
		var msgs []string
		for _, e := range strict {
			msgs = append(msgs, e.Error())
		}
		return o, fmt.Errorf("%s/%s: %s", o.kind, o.name, strings.Join(msgs, "; "))
	}
	return o, nil
}

// all returns the objects of type T.
func all[T any](r rendered) []T {
	var out []T
	for _, o := range r.objects {
		if v, ok := o.value.(*T); ok {
			out = append(out, *v)
		}
	}
	return out
}

// one returns the object of type T named name.
func one[T any](t *testing.T, r rendered, kind, name string) T {
	t.Helper()
	for _, o := range r.objects {
		if v, ok := o.value.(*T); ok && o.kind == kind && o.name == name {
			return *v
		}
	}
	t.Fatalf("%s: no %s %q in the output", r.dir, kind, name)
	var zero T
	return zero
}
