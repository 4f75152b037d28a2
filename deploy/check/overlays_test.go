package check

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

const permissionsConf = "../nats/permissions.conf"

// TestRRSA: the rrsa overlay leaves no static key anywhere and gives the
// SDK's OIDC provider its three variables, the token file being a
// projected service account token for the STS audience.
func TestRRSA(t *testing.T) {
	r := render(t, rrsaDir)
	for _, s := range all[corev1.Secret](r) {
		for k := range s.StringData {
			if strings.HasPrefix(k, "ALIBABA_CLOUD_ACCESS_KEY") {
				t.Errorf("Secret/%s still holds %s", s.Name, k)
			}
		}
	}
	d := one[appsv1.Deployment](t, r, "Deployment", workerName)
	c := workerContainer(t, d.Spec.Template.Spec)
	env := envOf(t, r, c)
	for k := range env {
		if strings.HasPrefix(k, "ALIBABA_CLOUD_ACCESS_KEY") {
			t.Errorf("the worker still gets $%s", k)
		}
	}
	for _, k := range []string{"ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "NATS_PASSWORD"} {
		if env[k] == "" {
			t.Errorf("$%s is not set", k)
		}
	}
	tokenFile := env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"]
	found := false
	for _, m := range c.VolumeMounts {
		if path.Dir(tokenFile) != m.MountPath {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.Projected == nil {
				continue
			}
			for _, src := range v.Projected.Sources {
				if sat := src.ServiceAccountToken; sat != nil && sat.Path == path.Base(tokenFile) && sat.Audience == "sts.aliyuncs.com" {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("$ALIBABA_CLOUD_OIDC_TOKEN_FILE=%s is not a projected service account token with audience sts.aliyuncs.com", tokenFile)
	}
}

// TestWithNATS: the overlay's NATS is a 3-node JetStream cluster whose
// routes name each StatefulSet pod through the headless Service, with a
// volume per node holding the store, authentication on, and the workers
// pointed at its client Service.
func TestWithNATS(t *testing.T) {
	r := render(t, withNATSDir)
	s := one[appsv1.StatefulSet](t, r, "StatefulSet", "copyguard-nats")
	if s.Spec.Replicas == nil || *s.Spec.Replicas != 3 {
		t.Fatalf("replicas %v, want 3", s.Spec.Replicas)
	}
	headless := one[corev1.Service](t, r, "Service", s.Spec.ServiceName)
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service/%s: want clusterIP None and publishNotReadyAddresses (routes form before readiness)", headless.Name)
	}
	if len(s.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("want one volume claim template, got %d", len(s.Spec.VolumeClaimTemplates))
	}
	pvc := s.Spec.VolumeClaimTemplates[0]
	if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		t.Error("the volume claim requests no storage")
	}
	pod := s.Spec.Template.Spec
	c := pod.Containers[0]
	var dataMount, confMount string
	var confMap string
	for _, m := range c.VolumeMounts {
		if m.Name == pvc.Name {
			dataMount = m.MountPath
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				confMount, confMap = m.MountPath, v.ConfigMap.Name
			}
		}
	}
	if dataMount == "" || confMap == "" {
		t.Fatalf("the NATS container mounts no data volume (%q) or no config (%q)", dataMount, confMap)
	}
	conf := one[corev1.ConfigMap](t, r, "ConfigMap", confMap).Data
	main := conf["nats.conf"]
	if !strings.Contains(strings.Join(c.Args, " "), path.Join(confMount, "nats.conf")) {
		t.Errorf("args %v do not load %s", c.Args, path.Join(confMount, "nats.conf"))
	}
	for i := range 3 {
		route := fmt.Sprintf("nats-route://%s-%d.%s:6222", s.Name, i, headless.Name)
		if !strings.Contains(main, route) {
			t.Errorf("nats.conf has no route %s", route)
		}
	}
	for _, want := range []string{"server_name: $POD_NAME", "store_dir: " + dataMount + "/", "include ./auth.conf"} {
		if !strings.Contains(main, want) {
			t.Errorf("nats.conf lacks %q", want)
		}
	}
	perms, err := os.ReadFile(permissionsConf)
	if err != nil {
		t.Fatal(err)
	}
	if conf["auth.conf"] != string(perms) {
		t.Errorf("auth.conf differs from %s: copy it again into %s", permissionsConf, withNATSDir)
	}
	users := one[corev1.Secret](t, r, "Secret", "nats-copyguard-users").StringData
	for _, m := range regexp.MustCompile(`\$(COPYGUARD_[A-Z]+_PASSWORD)`).FindAllStringSubmatch(string(perms), -1) {
		if users[m[1]] == "" {
			t.Errorf("%s reads $%s, which Secret/nats-copyguard-users does not set", permissionsConf, m[1])
		}
	}

	d := one[appsv1.Deployment](t, r, "Deployment", workerName)
	wc := workerContainer(t, d.Spec.Template.Spec)
	url := expand(flagArgs(t, wc.Args)["nats-url"], envOf(t, r, wc))
	host := strings.TrimPrefix(url, "nats://")
	client := one[corev1.Service](t, r, "Service", strings.TrimSuffix(host, ":4222"))
	if len(client.Spec.Ports) == 0 || client.Spec.Ports[0].Port != 4222 || client.Spec.Selector["app.kubernetes.io/name"] != s.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Errorf("the workers' URL %s is not the NATS client Service on 4222", url)
	}
}
