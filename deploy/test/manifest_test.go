package deploytest

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ucompass/compass/pkg/config"
)

// overlays are what `kubectl apply -k deploy/k8s/overlays/NAME` is for.
var overlays = []string{"dev", "prod"}

// namespace is where every overlay puts everything.
const namespace = "compass"

// kinds are the objects an overlay may hold, each with the Go type it
// must decode into strictly. Anything else (a Secret above all) is an error.
var kinds = map[string]func() any{
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return new(networkingv1.NetworkPolicy) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return new(monitoringv1.PrometheusRule) },
}

// object is one built object: its identity, YAML and typed value.
type object struct {
	kind, name, namespace string
	yaml                  []byte
	typed                 any
}

func (o object) String() string { return o.kind + " " + o.namespace + "/" + o.name }

// manifest is one overlay, built by Kustomize as kubectl would (files
// only from inside each kustomization's root) and strictly decoded.
type manifest struct {
	overlay    string
	objects    []object
	deployment *appsv1.Deployment
	configMaps map[string]*corev1.ConfigMap
	services   []*corev1.Service
	pdbs       []*policyv1.PodDisruptionBudget
	netpols    []*networkingv1.NetworkPolicy
	monitors   []*monitoringv1.ServiceMonitor
	rules      []*monitoringv1.PrometheusRule
}

func overlayDir(name string) string {
	return filepath.Join(repoRoot, "deploy", "k8s", "overlays", name)
}

var builds = map[string]func() (*manifest, error){}

func init() {
	for _, o := range overlays {
		builds[o] = sync.OnceValues(func() (*manifest, error) { return buildOverlay(o) })
	}
}

// build returns the overlay, built once for all tests.
func build(t *testing.T, overlay string) *manifest {
	t.Helper()
	m, err := builds[overlay]()
	if err != nil {
		t.Fatalf("overlay %s: %v", overlay, err)
	}
	return m
}

func buildOverlay(name string) (*manifest, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), overlayDir(name))
	if err != nil {
		return nil, err
	}
	m := &manifest{overlay: name, configMaps: map[string]*corev1.ConfigMap{}}
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		gvk := r.GetGvk()
		o := object{kind: gvk.Kind, name: r.GetName(), namespace: r.GetNamespace(), yaml: y}
		newT, ok := kinds[gvk.ApiVersion()+"/"+gvk.Kind]
		if !ok {
			return nil, fmt.Errorf("%s: kind %s/%s is not expected here", o, gvk.ApiVersion(), gvk.Kind)
		}
		o.typed = newT()
		if err := sigsyaml.UnmarshalStrict(y, o.typed); err != nil {
			return nil, fmt.Errorf("%s: %v", o, err)
		}
		m.objects = append(m.objects, o)
		if err := m.add(o); err != nil {
			return nil, err
		}
	}
	if m.deployment == nil {
		return nil, fmt.Errorf("no Deployment")
	}
	return m, nil
}

func (m *manifest) add(o object) error {
	switch v := o.typed.(type) {
	case *appsv1.Deployment:
		if m.deployment != nil {
			return fmt.Errorf("%s: a second Deployment", o)
		}
		m.deployment = v
	case *corev1.ConfigMap:
		m.configMaps[v.Name] = v
	case *corev1.Service:
		m.services = append(m.services, v)
	case *policyv1.PodDisruptionBudget:
		m.pdbs = append(m.pdbs, v)
	case *networkingv1.NetworkPolicy:
		m.netpols = append(m.netpols, v)
	case *monitoringv1.ServiceMonitor:
		m.monitors = append(m.monitors, v)
	case *monitoringv1.PrometheusRule:
		m.rules = append(m.rules, v)
	}
	return nil
}

// container is compassd's container; the pod has no other.
func (m *manifest) container(t *testing.T) *corev1.Container {
	t.Helper()
	cs := m.deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 || len(m.deployment.Spec.Template.Spec.InitContainers) != 0 {
		t.Fatalf("%s: want exactly one container, compassd", m.overlay)
	}
	return &cs[0]
}

// settings is what compassd is started with: its arguments and its
// environment, the ConfigMaps of envFrom resolved, each variable with the
// place it comes from.
type settings struct {
	args   []string
	env    map[string]string
	source map[string]string
}

func (m *manifest) settings(t *testing.T) settings {
	t.Helper()
	c := m.container(t)
	if len(c.Command) > 0 && (len(c.Command) != 1 || filepath.Base(c.Command[0]) != "compassd") {
		t.Errorf("%s: command %q: want the image's ENTRYPOINT (compassd)", m.overlay, c.Command)
	}
	s := settings{args: c.Args, env: map[string]string{}, source: map[string]string{}}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil || ef.Prefix != "" {
			t.Errorf("%s: envFrom %+v: want a ConfigMap without prefix", m.overlay, ef)
			continue
		}
		cm, ok := m.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Errorf("%s: envFrom ConfigMap %s is not in the overlay", m.overlay, ef.ConfigMapRef.Name)
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
			s.env[k], s.source[k] = cm.Data[k], "ConfigMap "+cm.Name
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && strings.HasPrefix(e.Name, config.EnvPrefix) {
			t.Errorf("%s: env %s: want a literal value (or the ConfigMap) so that it can be checked", m.overlay, e.Name)
		}
		s.env[e.Name], s.source[e.Name] = e.Value, "env"
	}
	return s
}

// parse runs compassd's own configuration parsing on s.
func (s settings) parse() (config.Config, error) {
	return config.Parse(s.args, func(k string) string { return s.env[k] }, &strings.Builder{})
}

// containerPort resolves a port given by name or number to the number
// the container declares.
func containerPort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// namedPort is the number of the container port called name.
func namedPort(t *testing.T, c *corev1.Container, name string) int32 {
	t.Helper()
	n, ok := containerPort(c, intstr.FromString(name))
	if !ok {
		t.Fatalf("container %s: no port named %q", c.Name, name)
	}
	return n
}

// selects reports whether selector (a matchLabels map) picks labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
