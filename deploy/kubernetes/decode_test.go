package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The tests read the written files back as a cluster would have to: every document decoded strictly (an unknown
// or misspelt field is an error, as is a duplicate key) into the API type of its kind, whose apiVersion must be
// the one that type belongs to.

// kinds are the API types the manifests may hold, by kind.
var kinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"Namespace":      {"v1", func() any { return &corev1.Namespace{} }},
	"ConfigMap":      {"v1", func() any { return &corev1.ConfigMap{} }},
	"Service":        {"v1", func() any { return &corev1.Service{} }},
	"ServiceAccount": {"v1", func() any { return &corev1.ServiceAccount{} }},
	"Deployment":     {"apps/v1", func() any { return &appsv1.Deployment{} }},
	"CronJob":        {"batch/v1", func() any { return &batchv1.CronJob{} }},
	"Role":           {"rbac.authorization.k8s.io/v1", func() any { return &rbacv1.Role{} }},
	"RoleBinding":    {"rbac.authorization.k8s.io/v1", func() any { return &rbacv1.RoleBinding{} }},
	"NodePool":       {"karpenter.sh/v1", func() any { return &NodePool{} }},
	"ScaledObject":   {"keda.sh/v1alpha1", func() any { return &ScaledObject{} }},
}

// decodedSet is every object of a folder of manifests, decoded.
type decodedSet struct {
	files   []string
	objects []decoded
}

type decoded struct {
	file string
	kind string
	obj  any
	meta metav1.Object
}

var docSeparator = regexp.MustCompile(`(?m)^---$\n?`)

// decodeStrict decodes one YAML stream of manifests.
func decodeStrict(name string, data []byte) ([]decoded, error) {
	var out []decoded
	for i, doc := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(doc) == "" {
			return nil, fmt.Errorf("%s: document %d is empty", name, i)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", name, i, err)
		}
		k, ok := kinds[tm.Kind]
		if !ok {
			return nil, fmt.Errorf("%s: document %d: unexpected kind %q", name, i, tm.Kind)
		}
		if tm.APIVersion != k.apiVersion {
			return nil, fmt.Errorf("%s: document %d: %s of apiVersion %q, want %q", name, i, tm.Kind, tm.APIVersion, k.apiVersion)
		}
		obj := k.new()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("%s: document %d (%s): %v", name, i, tm.Kind, err)
		}
		out = append(out, decoded{file: name, kind: tm.Kind, obj: obj, meta: obj.(metav1.Object)})
	}
	return out, nil
}

// decodeDir decodes every file of a folder.
func decodeDir(t *testing.T, dir string) *decodedSet {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &decodedSet{}
	for _, e := range entries {
		s.files = append(s.files, e.Name())
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeStrict(e.Name(), data)
		if err != nil {
			t.Fatal(err)
		}
		s.objects = append(s.objects, objs...)
	}
	return s
}

// all returns the objects of a kind, in file order.
func all[T any](s *decodedSet, kind string) []T {
	var out []T
	for _, d := range s.objects {
		if d.kind == kind {
			out = append(out, d.obj.(T))
		}
	}
	return out
}

// one returns the object of a kind and name, failing the test when there is not exactly one.
func one[T any](t *testing.T, s *decodedSet, kind, name string) T {
	t.Helper()
	var found []T
	for _, d := range s.objects {
		if d.kind == kind && d.meta.GetName() == name {
			found = append(found, d.obj.(T))
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("%d %s objects named %q, want 1", len(found), kind, name)
		return zero
	}
	return found[0]
}

// strictYAML decodes a configuration document held in a ConfigMap.
func strictYAML(t *testing.T, what, doc string, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, doc)
	}
}

func TestStrictDecodingRejectsWhatAClusterWould(t *testing.T) {
	good := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"
	if _, err := decodeStrict("ok", []byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, doc, words string }{
		{"unknown field", good + "spec:\n  finalizer: [a]\n", "unknown field"},
		{"duplicate key", good + "metadata:\n  name: y\n", "already set"},
		{"wrong apiVersion", strings.Replace(good, "v1", "apps/v1", 1), "want \"v1\""},
		{"unknown kind", strings.Replace(good, "Namespace", "Namespaces", 1), "unexpected kind"},
		{"misspelt NodePool field", "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: p\nspec:\n  template:\n    spec:\n      nodeClassRef: {group: g, kind: k, name: n}\n      requirements: []\n  disruption: {consolidateAfter: 1m}\n  limit: {cpu: 1}\n", "unknown field"},
		{"empty document", good + "---\n", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeStrict(tc.name, []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("err = %v, want one saying %q", err, tc.words)
			}
		})
	}
	// a multi-document stream splits on "---" lines only, not on "---" inside a block scalar
	twoDocs := good + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: |\n    ---\n    x\n"
	objs, err := decodeStrict("two", []byte(twoDocs))
	if err != nil || len(objs) != 2 {
		t.Fatalf("%d objects, %v", len(objs), err)
	}
	if got := objs[1].obj.(*corev1.ConfigMap).Data["a"]; !bytes.Equal([]byte(got), []byte("---\nx\n")) {
		t.Errorf("block scalar = %q", got)
	}
}
