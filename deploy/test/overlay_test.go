package deploytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ucompass/compass/pkg/config"
)

// forEachOverlay runs f on every overlay as a subtest.
func forEachOverlay(t *testing.T, f func(t *testing.T, m *manifest)) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) { f(t, build(t, o)) })
	}
}

// TestOverlayObjects: the overlays build, every object decodes strictly
// into its API type (buildOverlay: kinds has no Secret, so no secret data
// can be committed) and sits in the one namespace.
func TestOverlayObjects(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, m *manifest) {
		for _, o := range m.objects {
			if o.namespace != namespace {
				t.Errorf("%s: namespace %q, want %q", o, o.namespace, namespace)
			}
		}
		if len(m.services) != 3 || len(m.pdbs) != 1 || len(m.netpols) != 1 {
			t.Errorf("want 3 Services, 1 PodDisruptionBudget, 1 NetworkPolicy; have %d, %d, %d",
				len(m.services), len(m.pdbs), len(m.netpols))
		}
	})
}

// TestOverlayFlags: every argument and every COMPASS_ variable is one of
// compassd's flags, and compassd's own parsing accepts the result: dev is
// --dev, prod authenticates with files from mounted Secrets.
func TestOverlayFlags(t *testing.T) {
	flags := map[string]bool{}
	envs := map[string]string{}
	for _, f := range config.Flags() {
		flags[f] = true
		envs[config.EnvName(f)] = f
	}
	forEachOverlay(t, func(t *testing.T, m *manifest) {
		s := m.settings(t)
		for _, a := range s.args {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !strings.HasPrefix(a, "-") || !flags[name] {
				t.Errorf("arg %q is not a compassd flag (config.Flags)", a)
			}
		}
		for k, src := range s.source {
			_, known := envs[k]
			// envFrom passes a ConfigMap's every key: any key there is meant for compassd.
			if (strings.HasPrefix(k, config.EnvPrefix) || strings.HasPrefix(src, "ConfigMap")) && !known {
				t.Errorf("%s: %s is not a compassd flag's variable (config.Flags, config.EnvName)", src, k)
			}
		}
		cfg, err := s.parse()
		if err != nil {
			t.Fatalf("compassd would not start: %v", err)
		}
		if want := m.overlay == "dev"; cfg.Dev != want {
			t.Errorf("--dev is %v, want %v", cfg.Dev, want)
		}
		if !cfg.Dev && (cfg.JWTKeyFile == "" || cfg.AdminTokenFile == "") {
			t.Errorf("without --dev both --jwt-key-file and --admin-token-file are needed")
		}
		for flag, path := range map[string]string{"jwt-key-file": cfg.JWTKeyFile, "admin-token-file": cfg.AdminTokenFile} {
			if path == "" {
				continue
			}
			if _, err := secretFile(m, path); err != nil {
				t.Errorf("--%s %s: %v", flag, path, err)
			}
		}
	})
}

// secretFile reports whether path lies under one of the container's
// volume mounts, and if so whether a read-only Secret mount provides it
// (a Secret item whose path it is).
func secretFile(m *manifest, path string) (mounted bool, err error) {
	c := &m.deployment.Spec.Template.Spec.Containers[0]
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok {
			continue
		}
		i := slices.IndexFunc(m.deployment.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 {
			return true, fmt.Errorf("no volume %s", vm.Name)
		}
		v := m.deployment.Spec.Template.Spec.Volumes[i]
		if v.Secret == nil || v.Secret.SecretName == "" || !vm.ReadOnly || vm.SubPath != "" {
			return true, fmt.Errorf("volume %s is not a read-only Secret mount", v.Name)
		}
		if !slices.ContainsFunc(v.Secret.Items, func(it corev1.KeyToPath) bool { return it.Path == rel }) {
			return true, fmt.Errorf("Secret %s's items do not include %s", v.Secret.SecretName, rel)
		}
		return true, nil
	}
	return false, fmt.Errorf("no volume is mounted there")
}

// TestOverlayPod: the pod's security, shutdown and probes.
func TestOverlayPod(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, m *manifest) {
		spec := m.deployment.Spec.Template.Spec
		c := m.container(t)
		checkSecurity(t, spec, c)
		if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
			t.Errorf("enableServiceLinks must be false: service links set COMPASS_* variables compassd would read")
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("automountServiceAccountToken must be false: compassd does not call the API")
		}
		cfg, err := m.settings(t).parse()
		if err != nil {
			t.Fatal(err)
		}
		var preStop time.Duration
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
		if spec.TerminationGracePeriodSeconds == nil ||
			time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second <= preStop+cfg.DrainTimeout {
			t.Errorf("terminationGracePeriodSeconds must exceed the preStop sleep (%v) plus --drain-timeout (%v)", preStop, cfg.DrainTimeout)
		}
		checkProbes(t, c, cfg)
		wantReplicas := map[string]int32{"dev": 1, "prod": 3}[m.overlay]
		if r := m.deployment.Spec.Replicas; r == nil || *r != wantReplicas {
			t.Errorf("replicas %v, want %d", r, wantReplicas)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("want CPU and memory requests and a memory limit")
		}
		checkImage(t, c.Image)
		checkSpread(t, m)
		if m.overlay == "dev" && slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil }) {
			t.Errorf("dev mounts a Secret; it must start without any")
		}
	})
}

func checkSecurity(t *testing.T, spec corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	psc, csc := spec.SecurityContext, c.SecurityContext
	if psc == nil || csc == nil {
		t.Fatalf("want pod and container securityContext")
	}
	uid, gid := dockerfileUser(t)
	switch {
	case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Errorf("pod: runAsNonRoot must be true")
	case psc.RunAsUser == nil || *psc.RunAsUser != uid || psc.RunAsGroup == nil || *psc.RunAsGroup != gid:
		t.Errorf("pod: runAsUser/runAsGroup must be the image's USER %d:%d", uid, gid)
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("pod: seccompProfile must be RuntimeDefault")
	case csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation:
		t.Errorf("container: allowPrivilegeEscalation must be false")
	case csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem:
		t.Errorf("container: readOnlyRootFilesystem must be true")
	case csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0:
		t.Errorf("container: capabilities must drop ALL and add none")
	case csc.Privileged != nil && *csc.Privileged:
		t.Errorf("container: privileged")
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0) {
			t.Errorf("volume %s: defaultMode must keep the secret from others (0440)", v.Name)
		}
	}
}

// dockerfileUser is the uid and gid of the image's USER.
func dockerfileUser(t *testing.T) (int64, int64) {
	t.Helper()
	var user string
	for _, u := range stageCommands[*instructions.UserCommand](parseDockerfile(t).final()) {
		user = u.User
	}
	u, g, _ := strings.Cut(user, ":")
	uid, err1 := strconv.ParseInt(u, 10, 64)
	gid, err2 := strconv.ParseInt(g, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("Dockerfile USER %q: want uid:gid, numeric", user)
	}
	return uid, gid
}

// checkProbes: startup and readiness ask /readyz, liveness /healthz (which
// stays 200 while draining), each on compassd's HTTP listener; a gRPC
// probe would have to be on the admin listener. TestProbesAnswer GETs them.
func checkProbes(t *testing.T, c *corev1.Container, cfg config.Config) {
	t.Helper()
	probes := map[string]struct {
		p    *corev1.Probe
		path string
	}{
		"startupProbe":   {c.StartupProbe, "/readyz"},
		"readinessProbe": {c.ReadinessProbe, "/readyz"},
		"livenessProbe":  {c.LivenessProbe, "/healthz"},
	}
	for name, want := range probes {
		p := want.p
		switch {
		case p == nil:
			t.Errorf("%s: missing", name)
		case p.HTTPGet != nil:
			port, ok := containerPort(c, p.HTTPGet.Port)
			if !ok || strconv.Itoa(int(port)) != portOf(t, cfg.HTTPListen) {
				t.Errorf("%s: port %s is not --http-listen %s", name, p.HTTPGet.Port.String(), cfg.HTTPListen)
			}
			if p.HTTPGet.Path != want.path || p.HTTPGet.Host != "" || p.HTTPGet.Scheme == corev1.URISchemeHTTPS {
				t.Errorf("%s: GET %s (host %q, scheme %q), want %s over HTTP to the pod itself", name, p.HTTPGet.Path, p.HTTPGet.Host, p.HTTPGet.Scheme, want.path)
			}
		case p.GRPC != nil && name == "livenessProbe":
			if strconv.Itoa(int(p.GRPC.Port)) != portOf(t, cfg.AdminListen) {
				t.Errorf("%s: gRPC port %d is not --admin-listen %s", name, p.GRPC.Port, cfg.AdminListen)
			}
		default:
			t.Errorf("%s: want httpGet (exec has no shell on distroless; tcpSocket says nothing)", name)
		}
	}
}

func checkImage(t *testing.T, image string) {
	t.Helper()
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		t.Errorf("image %q: %v", image, err)
		return
	}
	_, digested := ref.(reference.Digested)
	tagged, _ := ref.(reference.Tagged)
	if !digested && (tagged == nil || tagged.Tag() == "latest") {
		t.Errorf("image %s: want a tag other than latest, or a digest", image)
	}
}

// checkSpread: pods spread over nodes, counted per ReplicaSet.
func checkSpread(t *testing.T, m *manifest) {
	t.Helper()
	labels := m.deployment.Spec.Template.Labels
	for _, c := range m.deployment.Spec.Template.Spec.TopologySpreadConstraints {
		if c.TopologyKey == "kubernetes.io/hostname" && c.WhenUnsatisfiable == corev1.DoNotSchedule &&
			c.LabelSelector != nil && selects(c.LabelSelector.MatchLabels, labels) {
			return
		}
	}
	t.Errorf("want a topologySpreadConstraint on kubernetes.io/hostname, DoNotSchedule, selecting the pods")
}

// TestOverlayListeners: each listener listens beyond loopback on the port
// its container port declares.
func TestOverlayListeners(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, m *manifest) {
		c := m.container(t)
		cfg, err := m.settings(t).parse()
		if err != nil {
			t.Fatal(err)
		}
		for flag, want := range map[string]struct{ addr, port string }{
			"listen":       {cfg.Listen, "data"},
			"admin-listen": {cfg.AdminListen, "admin"},
			"http-listen":  {cfg.HTTPListen, "metrics"},
		} {
			host, port, err := net.SplitHostPort(want.addr)
			if err != nil {
				t.Errorf("--%s %q: %v", flag, want.addr, err)
				continue
			}
			if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
				t.Errorf("--%s %s: loopback is unreachable from Services and probes", flag, want.addr)
			}
			if n := namedPort(t, c, want.port); strconv.Itoa(int(n)) != port {
				t.Errorf("--%s %s: container port %q is %d", flag, want.addr, want.port, n)
			}
		}
	})
}

// TestOverlayServices: Services, the PodDisruptionBudget and the
// NetworkPolicy select the pods and name ports the container has; the data
// plane is a LoadBalancer keeping client addresses in prod, and never
// exposed in dev (no authentication).
func TestOverlayServices(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, m *manifest) {
		c := m.container(t)
		labels := m.deployment.Spec.Template.Labels
		if !selects(m.deployment.Spec.Selector.MatchLabels, labels) {
			t.Errorf("Deployment selector does not select its pods")
		}
		for _, s := range m.services {
			if !selects(s.Spec.Selector, labels) {
				t.Errorf("Service %s: selector %v does not select the pods", s.Name, s.Spec.Selector)
			}
			for _, p := range s.Spec.Ports {
				if _, ok := containerPort(c, p.TargetPort); !ok || p.Name == "" {
					t.Errorf("Service %s: port %d: targetPort %s is not a container port, or the port has no name", s.Name, p.Port, p.TargetPort.String())
				}
			}
		}
		data := serviceFor(t, m, c, "data")
		switch {
		case m.overlay == "dev" && data.Spec.Type != corev1.ServiceTypeClusterIP:
			t.Errorf("Service %s: type %s; dev is unauthenticated and must stay ClusterIP", data.Name, data.Spec.Type)
		case m.overlay == "prod" && (data.Spec.Type != corev1.ServiceTypeLoadBalancer || data.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal):
			t.Errorf("Service %s: want type LoadBalancer with externalTrafficPolicy Local", data.Name)
		}
		for _, port := range []string{"admin", "metrics"} {
			if s := serviceFor(t, m, c, port); s.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("Service %s: type %s, want ClusterIP", s.Name, s.Spec.Type)
			}
		}
		pdb := m.pdbs[0]
		if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, labels) {
			t.Errorf("PodDisruptionBudget %s does not select the pods", pdb.Name)
		}
		if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() < 1 {
			t.Errorf("PodDisruptionBudget %s: want maxUnavailable >= 1, so that one replica can still be drained", pdb.Name)
		}
		checkNetworkPolicy(t, m.netpols[0], c, labels)
	})
}

// serviceFor is the one Service that targets the container port called port.
func serviceFor(t *testing.T, m *manifest, c *corev1.Container, port string) *corev1.Service {
	t.Helper()
	want := namedPort(t, c, port)
	var found []*corev1.Service
	for _, s := range m.services {
		for _, p := range s.Spec.Ports {
			if n, _ := containerPort(c, p.TargetPort); n == want {
				found = append(found, s)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one Service for container port %s, have %d", port, len(found))
	}
	return found[0]
}

// checkNetworkPolicy: the data plane is open; admin and metrics only from
// namespaces carrying their label.
func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, c *corev1.Container, labels map[string]string) {
	t.Helper()
	if !selects(np.Spec.PodSelector.MatchLabels, labels) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Fatalf("NetworkPolicy %s: want it to select the pods and govern Ingress", np.Name)
	}
	want := map[string]map[string]string{
		"data":    nil,
		"admin":   {"compass.ucompass.dev/admin": "true"},
		"metrics": {"compass.ucompass.dev/metrics": "true"},
	}
	for port, nsLabels := range want {
		n := namedPort(t, c, port)
		var peers [][]networkingv1.NetworkPolicyPeer
		for _, r := range np.Spec.Ingress {
			for _, p := range r.Ports {
				if p.Port == nil {
					t.Errorf("NetworkPolicy %s: a rule without port opens every port", np.Name)
					continue
				}
				if got, ok := containerPort(c, *p.Port); !ok {
					t.Errorf("NetworkPolicy %s: port %s is not a container port", np.Name, p.Port.String())
				} else if got == n {
					peers = append(peers, r.From)
				}
			}
		}
		wantPeers := [][]networkingv1.NetworkPolicyPeer{nil}
		if nsLabels != nil {
			wantPeers = [][]networkingv1.NetworkPolicyPeer{{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: nsLabels}}}}
		}
		if !reflect.DeepEqual(peers, wantPeers) {
			got, _ := json.Marshal(peers)
			t.Errorf("NetworkPolicy %s: port %s is open to %s, want only namespaces labelled %v", np.Name, port, got, nsLabels)
		}
	}
}

// TestOverlaysMatchKubectl: `kubectl kustomize` (the Kustomize inside
// kubectl, which `kubectl apply -k` uses) builds the same objects.
func TestOverlaysMatchKubectl(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kubectl is not installed; CI compares with kubectl kustomize")
		}
		t.Skip("kubectl is not installed")
	}
	forEachOverlay(t, func(t *testing.T, m *manifest) {
		out, err := exec.Command("kubectl", "kustomize", overlayDir(m.overlay)).Output()
		if err != nil {
			t.Fatalf("kubectl kustomize: %v", err)
		}
		var docs [][]byte
		for _, o := range m.objects {
			docs = append(docs, o.yaml)
		}
		want, have := byIdentity(t, docs), byIdentity(t, bytes.Split(out, []byte("\n---\n")))
		for id, v := range want {
			if !reflect.DeepEqual(have[id], v) {
				t.Errorf("%s: kubectl kustomize builds it otherwise, or not at all", id)
			}
		}
		for id := range have {
			if _, ok := want[id]; !ok {
				t.Errorf("%s: only kubectl kustomize builds it", id)
			}
		}
	})
}

// byIdentity decodes YAML documents into plain values by kind and name.
func byIdentity(t *testing.T, docs [][]byte) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, d := range docs {
		var v struct {
			Kind     string
			Metadata struct{ Name string }
		}
		var all any
		if err := sigsyaml.Unmarshal(d, &v); err != nil {
			t.Fatal(err)
		}
		if err := sigsyaml.Unmarshal(d, &all); err != nil {
			t.Fatal(err)
		}
		out[v.Kind+" "+v.Metadata.Name] = all
	}
	return out
}
