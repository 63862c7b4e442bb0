package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// appManifests stands in for the Rollout, Services and ScaledObject that examples/mangopress
// holds, so the cross-checks run whether or not those files exist yet.
const appManifests = `# app
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: recommender, namespace: mangopress}
spec:
  strategy:
    canary:
      stableService: recommender-stable
      canaryService: recommender-canary
      trafficRouting:
        plugins:
          lockstep/http: {}
---
apiVersion: v1
kind: Service
metadata: {name: recommender-stable, namespace: mangopress}
spec: {selector: {app: recommender}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: recommender-canary, namespace: mangopress}
spec: {selector: {app: recommender}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: recommender, namespace: mangopress}
spec:
  scaleTargetRef: {apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: recommender}
  triggers:
    - type: external-push
      metadata:
        scalerAddress: lockstep-scaler.lockstep-system.svc.cluster.local:9090
        hosts: recommender.mangopress.example
        targetValue: "50"
`

func examplesDir(t *testing.T, edit func(name, text string) string) string {
	t.Helper()
	src := filepath.Join(chartDir(), "../../examples/mangopress")
	dst := t.TempDir()
	for _, name := range []string{"ingress.yaml", "argo-rollouts-config.yaml", "rbac.yaml"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), []byte(edit(name, string(data))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dst, "app.yaml"), []byte(edit("app.yaml", appManifests)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func examplesProblems(t *testing.T, file, old, new string) []string {
	dir := examplesDir(t, func(name, text string) string {
		if name != file {
			return text
		}
		if !strings.Contains(text, old) {
			t.Fatalf("%s does not contain %q", name, old)
		}
		return strings.Replace(text, old, new, 1)
	})
	c := &common{chart: chartDir(), release: "lockstep", namespace: "lockstep-system"}
	return runExamples(c, dir)
}

func TestExamplesFitTheChart(t *testing.T) {
	if p := examplesProblems(t, "app.yaml", "# app", "# app"); len(p) != 0 {
		t.Fatalf("examples plus a matching app have problems:\n%s", strings.Join(p, "\n"))
	}
	cases := []struct{ name, file, old, new, want string }{
		{"plugin location", "argo-rollouts-config.yaml", "file:///lockstep-plugin/", "file:///plugins/", "init container places the binary"},
		{"plugin name", "argo-rollouts-config.yaml", "name: lockstep/http", "name: lockstep-http", "does not match"},
		{"https without sha256", "argo-rollouts-config.yaml", "location: file:///lockstep-plugin/lockstep-rollouts-plugin", "location: https://example.com/p", "sha256"},
		{"plugin RBAC differs from the chart", "rbac.yaml", "verbs: [get, patch]", "verbs: [get, patch, update]", "the chart grants"},
		{"bridge to the wrong Service", "ingress.yaml", "externalName: lockstep-proxy.lockstep-system", "externalName: lockstep-proxy.default", "the chart's proxy Service"},
		{"Ingress host no trigger serves", "app.yaml", "hosts: recommender.mangopress.example", "hosts: api.mangopress.example", "is in no lockstep trigger's hosts"},
		{"trigger dials the wrong scaler", "app.yaml", "lockstep-scaler.lockstep-system.svc.cluster.local:9090", "lockstep-scaler.keda.svc.cluster.local:9090", "the chart's scaler Service"},
		{"Rollout without the plugin", "app.yaml", "lockstep/http: {}", "kedify/http: {}", "no lockstep/http entry"},
		{"missing canary Service", "app.yaml", "name: recommender-canary, namespace", "name: recommender-preview, namespace", "canaryService \"recommender-canary\""},
		{"uncommented file", "rbac.yaml", "# What the Argo", "What-the-Argo: x\n# What the Argo", "must open with a comment"},
		{"Ingress to a port the Service lacks", "ingress.yaml", "number: 80", "number: 8080", "is not a port of Service"},
		{"plugin asks another scaler Service", "argo-rollouts-config.yaml", "--scaler-service=lockstep-scaler", "--scaler-service=scaler", "which the chart does not render"},
		{"plugin asks a port the Service lacks", "argo-rollouts-config.yaml", "--scaler-admin-port=http-admin", "--scaler-admin-port=admin", "has no such port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, examplesProblems(t, tc.file, tc.old, tc.new), tc.want)
		})
	}
}
