package check

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

const (
	namespace    = "copyguard"
	policyMount  = "/etc/copyguard/policies"
	examplesDir  = "../../examples/policies"
	readmePath   = "../../README.md"
	workerName   = "copyguard"
	workerPort   = 9090
	wantReplicas = 3
)

// TestRender renders the base and each overlay, strictly decoded, and
// checks what holds for all of them: every object in the namespace, every
// reference (service account, ConfigMap, Secret, probe port, selector)
// pointing at something rendered, every workload locked down.
func TestRender(t *testing.T) {
	for _, dir := range []string{baseDir, withNATSDir, rrsaDir} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := render(t, dir)
			if len(r.objects) == 0 {
				t.Fatal("rendered nothing")
			}
			checkNamespaces(t, r)
			checkReferences(t, r)
			for _, p := range podSpecs(r) {
				checkLockedDown(t, p.name, p.spec)
			}
			checkSelectors(t, r)
			checkPlaceholders(t, r)
		})
	}
}

// podSpec is a workload's pod template, named for messages.
type podSpec struct {
	name   string
	labels map[string]string
	spec   corev1.PodSpec
}

func podSpecs(r rendered) []podSpec {
	var out []podSpec
	for _, d := range all[appsv1.Deployment](r) {
		out = append(out, podSpec{"Deployment/" + d.Name, d.Spec.Template.Labels, d.Spec.Template.Spec})
	}
	for _, s := range all[appsv1.StatefulSet](r) {
		out = append(out, podSpec{"StatefulSet/" + s.Name, s.Spec.Template.Labels, s.Spec.Template.Spec})
	}
	return out
}

func checkNamespaces(t *testing.T, r rendered) {
	t.Helper()
	for _, o := range r.objects {
		if o.kind == "Namespace" {
			continue
		}
		ns := ""
		switch v := o.value.(type) {
		case interface{ GetNamespace() string }:
			ns = v.GetNamespace()
		}
		if ns != namespace {
			t.Errorf("%s/%s: namespace %q, want %q", o.kind, o.name, ns, namespace)
		}
	}
}

// checkLockedDown asserts the security settings of every pod: non-root,
// no privilege escalation, read-only root file system, all capabilities
// dropped, the RuntimeDefault seccomp profile, nothing of the host's, and
// requests and limits for CPU and memory.
func checkLockedDown(t *testing.T, name string, p corev1.PodSpec) {
	t.Helper()
	if p.HostNetwork || p.HostPID || p.HostIPC {
		t.Errorf("%s: shares the host's network, PIDs or IPC", name)
	}
	for _, v := range p.Volumes {
		if v.HostPath != nil {
			t.Errorf("%s: volume %s mounts a host path", name, v.Name)
		}
	}
	if len(p.InitContainers) > 0 || len(p.EphemeralContainers) > 0 {
		t.Errorf("%s: init or ephemeral containers are not checked here; check them or do without", name)
	}
	psc := p.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, c := range p.Containers {
		where := name + " container " + c.Name
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", where)
			continue
		}
		if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
			t.Errorf("%s: runAsNonRoot is not true", where)
		}
		uid := psc.RunAsUser
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if uid != nil && *uid == 0 {
			t.Errorf("%s: runs as uid 0", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		}
		if isTrue(sc.Privileged) {
			t.Errorf("%s: privileged", where)
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			t.Errorf("%s: readOnlyRootFilesystem is not true", where)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: capabilities do not drop ALL", where)
		} else if len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: adds capabilities %v", where, sc.Capabilities.Add)
		}
		seccomp := psc.SeccompProfile
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccomp profile is not RuntimeDefault", where)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okReq := c.Resources.Requests[res]
			lim, okLim := c.Resources.Limits[res]
			if !okReq || !okLim {
				t.Errorf("%s: %s request and limit must both be set", where, res)
			} else if req.Cmp(lim) > 0 {
				t.Errorf("%s: %s request %s above its limit %s", where, res, req.String(), lim.String())
			}
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("%s: needs a liveness and a readiness probe", where)
		}
		if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") && !strings.Contains(c.Image, "@") {
			t.Errorf("%s: image %q names no tag or digest", where, c.Image)
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkReferences follows every name a pod uses to the object it names.
func checkReferences(t *testing.T, r rendered) {
	t.Helper()
	has := func(kind, name string) bool {
		return slices.ContainsFunc(r.objects, func(o object) bool { return o.kind == kind && o.name == name })
	}
	for _, p := range podSpecs(r) {
		if sa := p.spec.ServiceAccountName; sa != "" && !has("ServiceAccount", sa) {
			t.Errorf("%s: service account %q is not rendered", p.name, sa)
		}
		for _, v := range p.spec.Volumes {
			if v.ConfigMap != nil && !has("ConfigMap", v.ConfigMap.Name) {
				t.Errorf("%s: volume %s: ConfigMap %q is not rendered", p.name, v.Name, v.ConfigMap.Name)
			}
			if v.Secret != nil && !has("Secret", v.Secret.SecretName) {
				t.Errorf("%s: volume %s: Secret %q is not rendered", p.name, v.Name, v.Secret.SecretName)
			}
		}
		for _, c := range p.spec.Containers {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil && !isTrue(e.ConfigMapRef.Optional) && !has("ConfigMap", e.ConfigMapRef.Name) {
					t.Errorf("%s: envFrom ConfigMap %q is not rendered", p.name, e.ConfigMapRef.Name)
				}
				if e.SecretRef != nil && !isTrue(e.SecretRef.Optional) && !has("Secret", e.SecretRef.Name) {
					t.Errorf("%s: envFrom Secret %q is not rendered", p.name, e.SecretRef.Name)
				}
			}
			for _, m := range c.VolumeMounts {
				if !slices.ContainsFunc(p.spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name }) &&
					!slices.ContainsFunc(volumeClaimNames(r), func(n string) bool { return n == m.Name }) {
					t.Errorf("%s: mount %s names no volume", p.name, m.Name)
				}
			}
			for _, pr := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
				if pr == nil || pr.HTTPGet == nil {
					continue
				}
				port := pr.HTTPGet.Port
				if port.StrVal != "" && !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == port.StrVal }) {
					t.Errorf("%s: probe %s uses port %q, which the container does not name", p.name, pr.HTTPGet.Path, port.StrVal)
				}
			}
		}
	}
}

func volumeClaimNames(r rendered) []string {
	var out []string
	for _, s := range all[appsv1.StatefulSet](r) {
		for _, c := range s.Spec.VolumeClaimTemplates {
			out = append(out, c.Name)
		}
	}
	return out
}

// checkSelectors: every Service and PodDisruptionBudget selects a
// workload's pods, and every Service's target port is one they have.
func checkSelectors(t *testing.T, r rendered) {
	t.Helper()
	pods := podSpecs(r)
	selects := func(sel map[string]string) []podSpec {
		var out []podSpec
		for _, p := range pods {
			ok := len(sel) > 0
			for k, v := range sel {
				ok = ok && p.labels[k] == v
			}
			if ok {
				out = append(out, p)
			}
		}
		return out
	}
	for _, s := range all[corev1.Service](r) {
		matched := selects(s.Spec.Selector)
		if len(matched) == 0 {
			t.Errorf("Service/%s selects no pod", s.Name)
			continue
		}
		for _, sp := range s.Spec.Ports {
			for _, p := range matched {
				found := false
				for _, c := range p.spec.Containers {
					for _, cp := range c.Ports {
						found = found || cp.Name == sp.TargetPort.StrVal && sp.TargetPort.StrVal != "" ||
							sp.TargetPort.StrVal == "" && cp.ContainerPort == sp.TargetPort.IntVal
					}
				}
				if !found {
					t.Errorf("Service/%s port %s: %s has no port %s", s.Name, sp.Name, p.name, sp.TargetPort.String())
				}
			}
		}
	}
	for _, b := range all[policyv1.PodDisruptionBudget](r) {
		if b.Spec.Selector == nil || len(selects(b.Spec.Selector.MatchLabels)) == 0 {
			t.Errorf("PodDisruptionBudget/%s selects no pod", b.Name)
		}
	}
}

// checkPlaceholders: a Secret shipped here holds placeholders only, each
// marked as such, so a real key is never committed by accident.
func checkPlaceholders(t *testing.T, r rendered) {
	t.Helper()
	for _, s := range all[corev1.Secret](r) {
		for k, v := range s.StringData {
			if k == "NATS_USER" {
				continue
			}
			if !strings.Contains(v, "REPLACE-ME") {
				t.Errorf("Secret/%s: %s holds %q, not a REPLACE-ME placeholder", s.Name, k, v)
			}
		}
		if len(s.Data) > 0 {
			t.Errorf("Secret/%s: data (base64) hides what is committed; use stringData placeholders", s.Name)
		}
	}
}

// TestWorker checks the base's Deployment against what `copyguard run`
// needs in a fleet: three replicas on an external NATS (never an embedded
// server), JetStream replication 3, metrics and probes on 0.0.0.0:9090,
// the pod's name as instance id, the policies mounted read-only, a
// disruption budget, static keys only as Secret placeholders.
func TestWorker(t *testing.T) {
	r := render(t, baseDir)
	d := one[appsv1.Deployment](t, r, "Deployment", workerName)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != wantReplicas {
		t.Errorf("replicas %v, want %d", d.Spec.Replicas, wantReplicas)
	}
	pod := d.Spec.Template.Spec
	if a := pod.AutomountServiceAccountToken; a == nil || *a {
		t.Error("the worker needs no Kubernetes API token: automountServiceAccountToken must be false")
	}
	c := workerContainer(t, pod)
	args := flagArgs(t, c.Args)
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Fatalf("args %v: want `run` first", c.Args)
	}
	env := envOf(t, r, c)

	for flag, want := range map[string]string{
		"replicas":    "3",
		"http-addr":   "0.0.0.0:9090",
		"instance-id": "$(POD_NAME)",
		"policy":      policyMount,
	} {
		if args[flag] != want {
			t.Errorf("--%s=%q, want %q", flag, args[flag], want)
		}
	}
	if _, ok := args["nats-host"]; ok {
		t.Error("--nats-host: the fleet uses an external NATS, never an embedded server")
	}
	url := expand(args["nats-url"], env)
	if !regexp.MustCompile(`^(nats|tls)://[^,\s]+(,(nats|tls)://[^,\s]+)*$`).MatchString(url) {
		t.Errorf("--nats-url %q expands to %q: want nats:// or tls:// URLs, and never empty (an empty URL starts an embedded server)", args["nats-url"], url)
	}
	if f := podNameField(c); f != "metadata.name" {
		t.Errorf("POD_NAME comes from %q, want the downward API's metadata.name", f)
	}

	// Every flag and COPYGUARD_* variable is one `copyguard run` knows.
	known := readmeFlags(t)
	for f := range args {
		if !known[f] {
			t.Errorf("--%s is not in the README's configuration table", f)
		}
	}
	for k := range env {
		if strings.HasPrefix(k, "COPYGUARD_") {
			f := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "COPYGUARD_")), "_", "-")
			if !known[f] {
				t.Errorf("$%s: no flag --%s in the README's configuration table", k, f)
			}
		}
	}
	for _, k := range []string{"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "NATS_USER", "NATS_PASSWORD"} {
		if _, ok := env[k]; !ok {
			t.Errorf("$%s is not given to the worker", k)
		}
	}

	checkPolicyMount(t, r, pod, c)
	checkProbe(t, "liveness", c.LivenessProbe, "/healthz", c)
	checkProbe(t, "readiness", c.ReadinessProbe, "/readyz", c)
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == workerPort }) {
		t.Errorf("the container does not expose %d", workerPort)
	}
	pdb := one[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", workerName)
	if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
		t.Error("the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}
	svc := one[corev1.Service](t, r, "Service", "copyguard-metrics")
	if !svc.Spec.PublishNotReadyAddresses {
		t.Error("Service/copyguard-metrics must list not-ready pods, or a not-ready worker's metrics are not scraped")
	}
	sa := one[corev1.ServiceAccount](t, r, "ServiceAccount", pod.ServiceAccountName)
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("ServiceAccount: automountServiceAccountToken must be false")
	}
	if d.Spec.Template.Spec.TerminationGracePeriodSeconds == nil || *d.Spec.Template.Spec.TerminationGracePeriodSeconds <= 20 {
		t.Error("terminationGracePeriodSeconds must exceed --shutdown-timeout (20s)")
	}
}

func workerContainer(t *testing.T, p corev1.PodSpec) corev1.Container {
	t.Helper()
	for _, c := range p.Containers {
		if c.Name == workerName {
			return c
		}
	}
	t.Fatalf("no container %q", workerName)
	return corev1.Container{}
}

// flagArgs reads --name=value arguments (the form the manifests use).
func flagArgs(t *testing.T, args []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range args[min(1, len(args)):] {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			t.Errorf("argument %q: write flags as --name=value", a)
			continue
		}
		out[name] = value
	}
	return out
}

// envOf is the container's environment as the kubelet builds it from
// envFrom (ConfigMaps and Secrets rendered here) and env; a value from
// the downward API is "(fieldRef)".
func envOf(t *testing.T, r rendered, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.EnvFrom {
		switch {
		case e.ConfigMapRef != nil:
			for k, v := range one[corev1.ConfigMap](t, r, "ConfigMap", e.ConfigMapRef.Name).Data {
				env[e.Prefix+k] = v
			}
		case e.SecretRef != nil:
			for k, v := range one[corev1.Secret](t, r, "Secret", e.SecretRef.Name).StringData {
				env[e.Prefix+k] = v
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			env[e.Name] = "(valueFrom)"
		} else {
			env[e.Name] = e.Value
		}
	}
	return env
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand replaces $(VAR) as the kubelet does in args; an unknown
// variable stays as written (and then fails the URL check).
func expand(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[varRef.FindStringSubmatch(m)[1]]; ok {
			return v
		}
		return m
	})
}

func podNameField(c corev1.Container) string {
	for _, e := range c.Env {
		if e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

// readmeFlags reads the flag names of the README's configuration table.
func readmeFlags(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{"config": true}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		first := strings.SplitN(line, "|", 3)[1]
		for _, m := range regexp.MustCompile("`--([a-z0-9-]+)`").FindAllStringSubmatch(first, -1) {
			out[m[1]] = true
		}
	}
	if len(out) < 10 {
		t.Fatalf("%s: found only %d flags in the configuration table", readmePath, len(out))
	}
	return out
}

// checkPolicyMount: the policies are a ConfigMap mounted read-only at
// /etc/copyguard/policies, and its files are the example policies, byte
// for byte (the manifests carry copies, as kustomize reads no file
// outside its directory).
func checkPolicyMount(t *testing.T, r rendered, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == policyMount {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("nothing is mounted at %s", policyMount)
	}
	if !mount.ReadOnly {
		t.Errorf("%s is mounted writable", policyMount)
	}
	var cmName string
	for _, v := range pod.Volumes {
		if v.Name == mount.Name && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	if cmName == "" {
		t.Fatalf("%s: volume %s is not a ConfigMap", policyMount, mount.Name)
	}
	cm := one[corev1.ConfigMap](t, r, "ConfigMap", cmName)
	examples, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range examples {
		if strings.HasSuffix(f, "_test.yaml") {
			continue
		}
		want = append(want, filepath.Base(f))
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := cm.Data[filepath.Base(f)]; !ok {
			t.Errorf("ConfigMap/%s lacks %s", cmName, filepath.Base(f))
		} else if !bytes.Equal([]byte(got), b) {
			t.Errorf("ConfigMap/%s: %s differs from %s (copy it again into deploy/kubernetes/base/policies)", cmName, filepath.Base(f), f)
		}
	}
	for k := range cm.Data {
		if !slices.Contains(want, k) {
			t.Errorf("ConfigMap/%s: %s is not an example policy", cmName, k)
		}
	}
}

func checkProbe(t *testing.T, what string, p *corev1.Probe, path string, c corev1.Container) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s probe: want an HTTP GET of %s", what, path)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s probe: path %s, want %s", what, p.HTTPGet.Path, path)
	}
	port := p.HTTPGet.Port.IntVal
	for _, cp := range c.Ports {
		if cp.Name != "" && cp.Name == p.HTTPGet.Port.StrVal {
			port = cp.ContainerPort
		}
	}
	if port != workerPort {
		t.Errorf("%s probe: port %s, want %d", what, p.HTTPGet.Port.String(), workerPort)
	}
}
