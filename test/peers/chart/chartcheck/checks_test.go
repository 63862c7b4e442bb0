package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// chartDir is lockstep's chart; CTest runs this test binary from the package directory.
func chartDir() string {
	if d := os.Getenv("LOCKSTEP_CHART"); d != "" {
		return d
	}
	return "../../../../charts/lockstep"
}

// problemsAfter renders the chart with default values, replaces `old` by `new` in the named
// template's output (exactly once), and returns every problem the checks find.
func problemsAfter(t *testing.T, template, old, new string) []string {
	t.Helper()
	return problemsAfterWith(t, nil, template, old, new)
}

func problemsAfterWith(t *testing.T, values []string, template, old, new string) []string {
	t.Helper()
	c := &common{chart: chartDir(), release: "lockstep", namespace: "lockstep-system", values: values}
	ch, vals, out, err := c.render(false)
	if err != nil {
		t.Fatal(err)
	}
	replaced := false
	for i := range out {
		if out[i].Template != "lockstep/templates/"+template {
			continue
		}
		if strings.Count(out[i].Text, old) < 1 {
			t.Fatalf("%s does not contain %q", template, old)
		}
		out[i].Text = strings.Replace(out[i].Text, old, new, 1)
		replaced = true
	}
	if !replaced {
		t.Fatalf("no template %s", template)
	}
	o, p := Decode(out)
	p = append(p, CheckObjects(o, vals, c.namespace)...)
	p = append(p, checkLockstep(ch, o, vals, c)...)
	return p
}

func expectProblem(t *testing.T, problems []string, want string) {
	t.Helper()
	for _, p := range problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Fatalf("expected a problem containing %q, got %d problems:\n%s", want, len(problems), strings.Join(problems, "\n"))
}

func TestUnmodifiedChartIsClean(t *testing.T) {
	if p := problemsAfter(t, "scaler-service.yaml", "targetPort: grpc-keda", "targetPort: grpc-keda"); len(p) != 0 {
		t.Fatalf("default render has problems:\n%s", strings.Join(p, "\n"))
	}
}

func TestChecksCatchBrokenManifests(t *testing.T) {
	cases := []struct{ name, template, old, new, want string }{
		{"misspelt field", "scaler-deployment.yaml", "readinessProbe:", "readinesProbe:", `unknown field "readinesProbe"`},
		{"service port to nowhere", "scaler-service.yaml", "targetPort: grpc-keda", "targetPort: grpc-kedaa", "no container of Deployment lockstep-scaler declares"},
		{"selector mismatch", "proxy-deployment.yaml", "matchLabels:\n      app.kubernetes.io/name: lockstep", "matchLabels:\n      app.kubernetes.io/name: other", "does not match the pod template labels"},
		{"grpc probe on a port the container lacks", "scaler-deployment.yaml", "grpc:\n              port: 9090", "grpc:\n              port: 9999", "grpc.port 9999 is not a port of the container"},
		{"grpc probe with a port name", "scaler-deployment.yaml", "grpc:\n              port: 9090", "grpc:\n              port: grpc-keda", "does not decode as Deployment"},
		{"probe to an unnamed port", "proxy-deployment.yaml", "path: /readyz\n              port: http-admin", "path: /readyz\n              port: admin", `port "admin" is not a named port`},
		{"extra RBAC verb", "rbac.yaml", "- list\n    - watch\n  - apiGroups:\n    - argoproj.io", "- list\n    - watch\n    - create\n  - apiGroups:\n    - argoproj.io", "intended exactly"},
		{"RBAC wildcard", "rollouts-plugin.yaml", "verbs: [get, patch]", "verbs: [\"*\"]", "wildcard"},
		{"secrets access", "rollouts-plugin.yaml", "resources: [endpointslices]", "resources: [endpointslices, secrets]", "grants access to secrets"},
		{"binding to a missing role", "rbac.yaml", "kind: ClusterRole\n  name: lockstep-scaler", "kind: ClusterRole\n  name: lockstep-scalar", "is not rendered"},
		{"scalerAddress to the headless service", "proxy-scaledobject.yaml", "scalerAddress: lockstep-scaler.", "scalerAddress: lockstep-scaler-headless.", "headless Service"},
		{"scalerAddress to the ingest port", "proxy-scaledobject.yaml", "cluster.local:9090", "cluster.local:9091", "not the KEDA listener"},
		{"non-string trigger metadata", "proxy-scaledobject.yaml", `targetValue: "200"`, `targetValue: 200`, "does not decode as ScaledObject"},
		{"HPA-owned replicas set", "proxy-deployment.yaml", "revisionHistoryLimit: 5", "replicas: 2\n  revisionHistoryLimit: 5", "resets the HPA's count"},
		{"config not in a ConfigMap", "scaler-deployment.yaml", "--config=/etc/lockstep/config/scaler.yaml", "--config=/etc/lockstep/config/scaler.yml", `has no key "scaler.yml"`},
		{"config checksum stale", "scaler-deployment.yaml", "checksum/config: ", "checksum/config: 00", "checksum/config annotation does not match"},
		{"overlapping mounts", "proxy-deployment.yaml", "mountPath: /tmp", "mountPath: /etc/lockstep/config/tmp", "overlap"},
		{"writable config mount", "proxy-deployment.yaml", "mountPath: /etc/lockstep/config\n              readOnly: true", "mountPath: /etc/lockstep/config", "without readOnly"},
		{"long port name", "proxy-deployment.yaml", "- name: http-admin\n              containerPort", "- name: http-admin-port-x\n              containerPort", "not a valid IANA service name"},
		{"PDB selecting nothing", "scaler-pdb.yaml", "instance: lockstep\n      app.kubernetes.io/component: scaler", "instance: lockstep\n      app.kubernetes.io/component: scalar", "must select exactly one Deployment"},
		{"privilege escalation", "scaler-deployment.yaml", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "forbid privilege escalation"},
		{"capabilities kept", "proxy-deployment.yaml", "drop:\n              - ALL", "drop:\n              - NET_RAW", "must drop ALL"},
		{"root allowed", "scaler-deployment.yaml", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot must be true"},
		{"no seccomp", "proxy-deployment.yaml", "type: RuntimeDefault", "type: Unconfined", "seccompProfile.type"},
		{"duplicate key", "scaler-service.yaml", "  type: ClusterIP\n", "  type: ClusterIP\n  type: NodePort\n", "not valid YAML"},
		{"bad label value", "scaler-service.yaml", `lockstep.dev/scrape: "true"`, `lockstep.dev/scrape: "yes please"`, "not a valid label value"},
		{"namespaced object without namespace", "serviceaccount.yaml", "  namespace: lockstep-system\n", "", "without metadata.namespace"},
		{"wrong apiVersion", "scaler-pdb.yaml", "apiVersion: policy/v1", "apiVersion: policy/v1beta1", "must be apiVersion policy/v1"},
		{"proxy token mounted", "proxy-deployment.yaml", "automountServiceAccountToken: false", "automountServiceAccountToken: true", "must not mount a ServiceAccount token"},
		{"proxy dials the wrong scaler port", "proxy-configmap.yaml", "svc.cluster.local:9091", "svc.cluster.local:9090", "want \"lockstep-scaler-headless"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, problemsAfter(t, tc.template, tc.old, tc.new), tc.want)
		})
	}
}

func TestMetricNames(t *testing.T) {
	cases := map[string][]string{
		`up{job="lockstep-scaler"} == 0`:                                                                      {"up"},
		`max by (namespace, route) (lockstep_scaler_route_active{namespace=~"a|b"})`:                          {"lockstep_scaler_route_active"},
		`histogram_quantile(0.99, sum by (le) (rate(lockstep_scaler_activation_latency_seconds_bucket[5m])))`: {"lockstep_scaler_activation_latency_seconds_bucket"},
		`a / on (x) group_left (y) b or vector(0)`:                                                            {"a", "b"},
		`count(count_values("version", lockstep_proxy_route_table_version)) > 1e3`:                            {"lockstep_proxy_route_table_version"},
		`sum without (instance) (rate(x_total[1m] offset 5m)) > bool 2`:                                       {"x_total"},
	}
	for expr, want := range cases {
		if got := MetricNames(expr); !reflect.DeepEqual(got, want) {
			t.Errorf("MetricNames(%q) = %v, want %v", expr, got, want)
		}
	}
	if bad := unknownMetrics(`rate(lockstep_scaler_request_total[1m])`); len(bad) != 1 {
		t.Errorf("a misspelt metric must be reported, got %v", bad)
	}
	if bad := unknownMetrics(`lockstep_scaler_keda_request_duration_seconds`); len(bad) != 1 {
		t.Errorf("a histogram's bare name is not a series, got %v", bad)
	}
	if bad := unknownMetrics(`lockstep_proxy_request_duration_seconds_count`); len(bad) != 0 {
		t.Errorf("histogram _count is a series, got %v", bad)
	}
}

func TestGrafanaVariables(t *testing.T) {
	got, undef := substituteGrafana(`rate(x{a=~"$namespace", b=~"${route}", c=~"${backend:regex}"}[$__rate_interval])`,
		map[string]bool{"namespace": true, "route": true})
	if got != `rate(x{a=~".*", b=~".*", c=~".*"}[1m])` || !reflect.DeepEqual(undef, []string{"backend"}) {
		t.Fatalf("got %q, undefined %v", got, undef)
	}
}

// The templates keep their own checks for values that reach them without schema validation
// (e.g. `helm template --skip-schema-validation`): each invalid values file that states an
// "# expect-template:" message must fail with it when the schema is not applied.
func TestTemplateChecksWithoutSchema(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(chartDir(), "../../test/peers/chart/invalid/*.yaml"))
	if len(files) == 0 {
		t.Fatal("no invalid values files found")
	}
	n := 0
	for _, f := range files {
		data, _ := os.ReadFile(f)
		want := ""
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "# expect-template: ") {
				want = strings.TrimPrefix(line, "# expect-template: ")
			}
		}
		if want == "" {
			continue
		}
		n++
		ch, err := LoadChart(chartDir())
		if err != nil {
			t.Fatal(err)
		}
		ch.Schema = nil
		user, err := ReadValuesFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Render(ch, CoalesceValues(ch.Defaults, user), RenderOptions{Release: Release{Name: "lockstep", Namespace: "ns"}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s without schema: got %v, want an error containing %q", filepath.Base(f), err, want)
		}
	}
	if n < 10 {
		t.Fatalf("only %d files state an expect-template message", n)
	}
}

func TestSchemaValidator(t *testing.T) {
	one := 1.0
	s := &Schema{Type: schemaTypes{"object"}, AdditionalProperties: &additional{Allowed: false},
		Properties: map[string]*Schema{
			"n":    {Type: schemaTypes{"integer"}, Minimum: &one},
			"p":    {Ref: "#/definitions/pct"},
			"list": {Type: schemaTypes{"array"}, Items: &Schema{Type: schemaTypes{"string"}, Enum: []interface{}{"a", "b"}}},
			"free": {Type: schemaTypes{"object"}, AdditionalProperties: &additional{Allowed: true, Schema: &Schema{Type: schemaTypes{"string"}}}},
		},
		Definitions: map[string]*Schema{"pct": {Type: schemaTypes{"integer", "string"}, Pattern: "^[0-9]+%$"}},
	}
	errs := ValidateValues(s, map[string]interface{}{
		"n": 0.0, "p": "50", "list": []interface{}{"a", "c"}, "free": map[string]interface{}{"x": 1.0}, "extra": true,
	})
	want := []string{
		"(root): Additional property extra is not allowed",
		"free.x: Invalid type. Expected: string, given: integer",
		`list.1: must be one of "a", "b"`,
		"n: Must be greater than or equal to 1",
		"p: Does not match pattern '^[0-9]+%$'",
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
	if errs := ValidateValues(s, map[string]interface{}{"n": 2.0, "p": 3.0, "list": []interface{}{"b"}}); len(errs) != 0 {
		t.Fatalf("valid values rejected: %v", errs)
	}
	if errs := ValidateValues(s, map[string]interface{}{"n": 1.5}); len(errs) != 1 || !strings.Contains(errs[0], "given: number") {
		t.Fatalf("1.5 is not an integer: %v", errs)
	}
}

func TestNetworkPolicyChecks(t *testing.T) {
	ha := []string{filepath.Join(chartDir(), "../../test/peers/chart/values-ha-tls.yaml")}
	if p := problemsAfterWith(t, ha, "networkpolicy.yaml", "policyTypes", "policyTypes"); len(p) != 0 {
		t.Fatalf("ha render has problems:\n%s", strings.Join(p, "\n"))
	}
	cases := []struct{ name, old, new, want string }{
		{"port the pods lack", "- port: grpc-ingest", "- port: grpc-ingst", "does not declare"},
		{"ingest open to another component", "app.kubernetes.io/component: proxy\n      ports:\n        - port: grpc-ingest", "app.kubernetes.io/component: scaler\n      ports:\n        - port: grpc-ingest", "intended"},
		{"admin open to the wrong namespace", "kubernetes.io/metadata.name: argo", "kubernetes.io/metadata.name: default", "intended"},
		{"policy selecting nothing", "app.kubernetes.io/component: scaler\n  policyTypes", "app.kubernetes.io/component: scalar\n  policyTypes", "must select exactly one Deployment"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, problemsAfterWith(t, ha, "networkpolicy.yaml", tc.old, tc.new), tc.want)
		})
	}
}
