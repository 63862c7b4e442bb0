// Checks on the alert rules and the Grafana dashboard: promtool parses every rule and every panel
// expression, every metric they name is one lockstep exports, every alert has a severity, a
// summary, a description and a runbook anchor that exists, and the chart's PrometheusRule holds
// exactly the plain rule file's rules.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// knownMetrics are the metric names agreed in the team brief ("Shared names"), by program, plus
// Prometheus' own `up`. Histograms are listed by base name (_bucket/_sum/_count are derived).
var knownMetrics = map[string]bool{
	"up": true,
	// lockstep-scaler
	"lockstep_scaler_requests_total": true, "lockstep_scaler_request_rate": true,
	"lockstep_scaler_concurrency": true, "lockstep_scaler_held_requests": true,
	"lockstep_scaler_route_active": true, "lockstep_scaler_metric_value": true,
	"lockstep_scaler_metric_target": true, "lockstep_scaler_desired_replicas": true,
	"lockstep_scaler_activations_total": true, "lockstep_scaler_activation_latency_seconds": true,
	"lockstep_scaler_proxies_connected": true, "lockstep_scaler_reports_total": true,
	"lockstep_scaler_report_entries_total": true, "lockstep_scaler_rejects_total": true,
	"lockstep_scaler_keda_request_duration_seconds": true,
	"lockstep_scaler_ingest_apply_duration_seconds": true,
	"lockstep_scaler_split_weight":                  true, "lockstep_scaler_split_applied": true,
	"lockstep_scaler_route_table_version": true, "lockstep_scaler_routes": true,
	"lockstep_scaler_objects_invalid_total": true, "lockstep_scaler_watch_events_total": true,
	// added by the scaler beyond the brief's list
	"lockstep_scaler_ingest_streams": true, "lockstep_scaler_keda_streams": true,
	"lockstep_scaler_routes_evicted_total": true, "lockstep_scaler_tracked_routes": true,
	"lockstep_scaler_triggers": true,
	// lockstep-proxy
	"lockstep_proxy_requests_total": true, "lockstep_proxy_request_duration_seconds": true,
	"lockstep_proxy_in_flight": true, "lockstep_proxy_held_requests": true,
	"lockstep_proxy_cold_start_timeouts_total": true, "lockstep_proxy_queue_full_total": true,
	"lockstep_proxy_upstream_errors_total": true, "lockstep_proxy_upstream_connections": true,
	"lockstep_proxy_route_table_version": true, "lockstep_proxy_scaler_connected": true,
	"lockstep_proxy_reports_total": true,
	// added by the proxy beyond the brief's list
	"lockstep_proxy_routed_requests_total": true, "lockstep_proxy_request_rejects_total": true,
	"lockstep_proxy_client_connections": true, "lockstep_proxy_urgent_report_delay_seconds": true,
	"lockstep_proxy_routes": true, "lockstep_proxy_route_tables_total": true,
	"lockstep_proxy_route_table_rejects_total": true, "lockstep_proxy_route_source": true,
	"lockstep_proxy_report_rejects_total": true,
}

var histograms = map[string]bool{
	"lockstep_scaler_activation_latency_seconds":    true,
	"lockstep_scaler_keda_request_duration_seconds": true,
	"lockstep_scaler_ingest_apply_duration_seconds": true,
	"lockstep_proxy_request_duration_seconds":       true,
	"lockstep_proxy_urgent_report_delay_seconds":    true,
}

var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true,
	"inf": true, "nan": true, "atan2": true,
	// aggregation operators may be followed by a grouping clause instead of "("
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
	"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true,
	"quantile": true,
}

var identRe = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)

// MetricNames returns the metric names an expression selects (a small PromQL lexer: it skips
// strings, label matchers, range selectors, grouping lists and function names).
func MetricNames(expr string) []string {
	var names []string
	s := expr
	skipList := false
	for len(s) > 0 {
		switch c := s[0]; {
		case c == '"' || c == '\'' || c == '`':
			end := 1
			for end < len(s) && s[end] != c {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			s = s[min(end+1, len(s)):]
		case c == '{' || c == '[':
			closer := map[byte]byte{'{': '}', '[': ']'}[c]
			end := strings.IndexByte(s, closer)
			if end < 0 {
				return names
			}
			s = s[end+1:]
		case c == '(' && skipList:
			end := strings.IndexByte(s, ')')
			if end < 0 {
				return names
			}
			s = s[end+1:]
			skipList = false
		case identRe.MatchString(s) && !(c >= '0' && c <= '9'):
			id := identRe.FindString(s)
			s = s[len(id):]
			rest := strings.TrimLeft(s, " \t\n")
			lower := strings.ToLower(id)
			switch {
			case lower == "by" || lower == "without" || lower == "on" || lower == "ignoring" ||
				lower == "group_left" || lower == "group_right":
				skipList = strings.HasPrefix(rest, "(")
			case promqlKeywords[lower]:
			case strings.HasPrefix(rest, "("):
				// a function or aggregation
			default:
				names = append(names, id)
			}
		case c >= '0' && c <= '9':
			// a number or a duration: skip the token
			end := 1
			for end < len(s) && (isAlnum(s[end]) || s[end] == '.') {
				end++
			}
			s = s[end:]
		default:
			s = s[1:]
		}
	}
	return names
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// unknownMetrics lists names in expr that lockstep does not export.
func unknownMetrics(expr string) []string {
	var bad []string
	for _, n := range MetricNames(expr) {
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(n, suf) && histograms[strings.TrimSuffix(n, suf)] {
				base = strings.TrimSuffix(n, suf)
			}
		}
		if !knownMetrics[base] || (histograms[base] && base == n) {
			bad = append(bad, n)
		}
	}
	return bad
}

func runCommand(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// readRuleFile parses a plain Prometheus rule file strictly.
func readRuleFile(path string) ([]RuleGroup, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var f struct {
		Groups []RuleGroup `json:"groups"`
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f.Groups, nil
}

var headingRe = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)

// markdownAnchors returns the GitHub-style anchors of a Markdown file's headings.
func markdownAnchors(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	anchors := map[string]bool{}
	for _, m := range headingRe.FindAllStringSubmatch(string(data), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		anchors[b.String()] = true
	}
	return anchors, nil
}

func runRules(c *common, plain, docs string) []string {
	if plain == "" {
		return []string{"--plain is required"}
	}
	var p []string
	groups, err := readRuleFile(plain)
	if err != nil {
		return []string{err.Error()}
	}
	if c.promtool != "" {
		if out, err := runCommand(c.promtool, "check", "rules", plain); err != nil {
			p = append(p, fmt.Sprintf("promtool check rules %s: %v\n%s", plain, err, out))
		} else {
			fmt.Print(out)
		}
	}
	var anchors map[string]bool
	if docs != "" {
		if anchors, err = markdownAnchors(docs); err != nil {
			p = append(p, err.Error())
		}
	}
	alerts := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			w := "alert " + r.Alert
			if r.Alert == "" {
				p = append(p, "a rule without an alert name (recording rules do not belong in this file)")
				continue
			}
			if alerts[r.Alert] {
				p = append(p, w+": defined twice")
			}
			alerts[r.Alert] = true
			if !strings.HasPrefix(r.Alert, "Lockstep") {
				p = append(p, w+": alert names start with Lockstep")
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				p = append(p, fmt.Sprintf("%s: severity %q must be warning or critical", w, s))
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					p = append(p, fmt.Sprintf("%s: annotation %s is missing", w, a))
				}
			}
			if bad := unknownMetrics(r.Expr); len(bad) > 0 {
				p = append(p, fmt.Sprintf("%s: expression uses metrics lockstep does not export: %v", w, bad))
			}
			if len(MetricNames(r.Expr)) == 0 {
				p = append(p, w+": expression selects no metric")
			}
			url := r.Annotations["runbook_url"]
			if i := strings.Index(url, "docs/operations.md#"); i < 0 {
				p = append(p, fmt.Sprintf("%s: runbook_url %q does not point into docs/operations.md", w, url))
			} else if anchors != nil {
				anchor := url[i+len("docs/operations.md#"):]
				if !anchors[anchor] {
					p = append(p, fmt.Sprintf("%s: runbook anchor #%s is not a heading of docs/operations.md", w, anchor))
				}
				if anchor != strings.ToLower(r.Alert) {
					p = append(p, fmt.Sprintf("%s: runbook anchor #%s should be #%s", w, anchor, strings.ToLower(r.Alert)))
				}
			}
		}
	}
	// The chart's PrometheusRule (enabled, default knobs) must carry exactly these groups.
	ch, err := LoadChart(c.chart)
	if err != nil {
		return append(p, err.Error())
	}
	vals := CoalesceValues(ch.Defaults, map[string]interface{}{
		"metrics": map[string]interface{}{"prometheusRule": map[string]interface{}{"enabled": true}},
	})
	out, err := Render(ch, vals, RenderOptions{Release: Release{Name: c.release, Namespace: c.namespace}, Strict: true})
	if err != nil {
		return append(p, "render with metrics.prometheusRule.enabled: "+err.Error())
	}
	o, problems := Decode(out)
	p = append(p, problems...)
	if len(o.PrometheusRules) != 1 {
		return append(p, fmt.Sprintf("expected one PrometheusRule, got %d", len(o.PrometheusRules)))
	}
	if !reflect.DeepEqual(o.PrometheusRules[0].Spec.Groups, groups) {
		a, _ := json.MarshalIndent(o.PrometheusRules[0].Spec.Groups, "", " ")
		b, _ := json.MarshalIndent(groups, "", " ")
		p = append(p, fmt.Sprintf("the chart's PrometheusRule differs from %s:\n%s\nvs\n%s", plain, a, b))
	}
	fmt.Printf("%d alerts checked\n", len(alerts))
	return p
}

var grafanaVarRe = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}?`)

// substituteGrafana replaces Grafana's variables with values Prometheus accepts.
func substituteGrafana(expr string, defined map[string]bool) (string, []string) {
	var undefined []string
	out := grafanaVarRe.ReplaceAllStringFunc(expr, func(m string) string {
		name := grafanaVarRe.FindStringSubmatch(m)[1]
		switch name {
		case "__rate_interval", "__interval", "__range":
			return "1m"
		case "__range_s", "__interval_ms":
			return "60"
		}
		if !defined[name] {
			undefined = append(undefined, name)
		}
		return ".*"
	})
	return out, undefined
}

var labelValuesRe = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func runDashboard(c *common, file string) []string {
	if file == "" {
		return []string{"--file is required"}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return []string{err.Error()}
	}
	var dash struct {
		Title         string                   `json:"title"`
		UID           string                   `json:"uid"`
		SchemaVersion int                      `json:"schemaVersion"`
		Panels        []map[string]interface{} `json:"panels"`
		Templating    struct {
			List []map[string]interface{} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		return []string{fmt.Sprintf("%s: not JSON: %v", file, err)}
	}
	var p []string
	add := func(format string, a ...interface{}) { p = append(p, fmt.Sprintf(format, a...)) }
	if dash.Title == "" || dash.UID == "" || len(dash.UID) > 40 {
		add("dashboard needs a title and a uid of at most 40 characters")
	}
	if dash.SchemaVersion < 36 {
		add("schemaVersion %d: panels with per-panel datasource objects need >= 36", dash.SchemaVersion)
	}
	defined := map[string]bool{}
	var rules []map[string]interface{}
	for _, v := range dash.Templating.List {
		name, _ := v["name"].(string)
		defined[name] = true
		typ, _ := v["type"].(string)
		switch name {
		case "datasource":
			if typ != "datasource" || v["query"] != "prometheus" {
				add("variable datasource must be type datasource, query prometheus")
			}
		default:
			if typ != "query" {
				continue
			}
			q, _ := v["definition"].(string)
			m := labelValuesRe.FindStringSubmatch(q)
			if m == nil {
				add("variable %s: query %q is not label_values(<selector>, <label>)", name, q)
				continue
			}
			if ds, _ := v["datasource"].(map[string]interface{}); ds == nil || ds["uid"] != "${datasource}" {
				add("variable %s: datasource must be ${datasource}", name)
			}
			expr, undef := substituteGrafana(m[1], defined)
			if len(undef) > 0 {
				add("variable %s uses variables defined after it or not at all: %v", name, undef)
			}
			if bad := unknownMetrics(expr); len(bad) > 0 {
				add("variable %s: unknown metrics %v", name, bad)
			}
			rules = append(rules, map[string]interface{}{"record": "lockstep:dashboard:var_" + name, "expr": expr})
		}
	}
	for _, want := range []string{"datasource", "namespace", "route", "backend"} {
		if !defined[want] {
			add("dashboard lacks the %s variable", want)
		}
	}
	var emitted []map[string]interface{}
	ids := map[float64]bool{}
	type cell struct{ x, y int }
	used := map[cell]float64{}
	exprs := 0
	for _, panel := range dash.Panels {
		id, _ := panel["id"].(float64)
		title, _ := panel["title"].(string)
		typ, _ := panel["type"].(string)
		w := fmt.Sprintf("panel %v %q", id, title)
		if id == 0 || ids[id] {
			add("%s: id missing or duplicate", w)
		}
		ids[id] = true
		gp, _ := panel["gridPos"].(map[string]interface{})
		gx, gy := int(toF(gp["x"])), int(toF(gp["y"]))
		gw, gh := int(toF(gp["w"])), int(toF(gp["h"]))
		if gw < 1 || gh < 1 || gx < 0 || gx+gw > 24 {
			add("%s: gridPos %v outside the 24-column grid", w, gp)
		}
		for i := gx; i < gx+gw; i++ {
			for j := gy; j < gy+gh; j++ {
				if other, taken := used[cell{i, j}]; taken {
					add("%s: overlaps panel %v", w, other)
					i, j = gx+gw, gy+gh
					break
				}
				used[cell{i, j}] = id
			}
		}
		if typ == "row" {
			continue
		}
		if d, _ := panel["description"].(string); strings.TrimSpace(d) == "" {
			add("%s: no description (say what the panel shows and how to read it)", w)
		}
		if ds, _ := panel["datasource"].(map[string]interface{}); ds == nil || ds["uid"] != "${datasource}" {
			add("%s: datasource must be ${datasource}", w)
		}
		targets, _ := panel["targets"].([]interface{})
		if len(targets) == 0 {
			add("%s: no queries", w)
		}
		refs := map[string]bool{}
		for _, t := range targets {
			tm, _ := t.(map[string]interface{})
			ref, _ := tm["refId"].(string)
			expr, _ := tm["expr"].(string)
			if ref == "" || refs[ref] {
				add("%s: refId missing or duplicate", w)
			}
			refs[ref] = true
			sub, undef := substituteGrafana(expr, defined)
			if len(undef) > 0 {
				add("%s %s: undefined variables %v", w, ref, undef)
			}
			if bad := unknownMetrics(sub); len(bad) > 0 {
				add("%s %s: metrics lockstep does not export: %v", w, ref, bad)
			}
			if len(MetricNames(sub)) == 0 {
				add("%s %s: expression selects no metric", w, ref)
			}
			if strings.Contains(expr, "rate(") && !strings.Contains(expr, "$__rate_interval") {
				add("%s %s: use [$__rate_interval] in rate()/increase()", w, ref)
			}
			rules = append(rules, map[string]interface{}{
				"record": fmt.Sprintf("lockstep:dashboard:panel%v_%s", id, ref), "expr": sub})
			emitted = append(emitted, map[string]interface{}{
				"source": "dashboard", "panel": title, "refId": ref, "expr": sub})
			exprs++
		}
	}
	// promtool parses each expression as a recording rule.
	if c.promtool != "" {
		body, _ := yaml.Marshal(map[string]interface{}{"groups": []interface{}{
			map[string]interface{}{"name": "lockstep-dashboard-expressions", "rules": rules}}})
		p = append(p, promtoolCheckRules(c, "dashboard-expressions.rules.yaml", body)...)
	}
	// For the end-to-end test: every expression, variables resolved to "everything", as JSON.
	if c.emit != "" {
		data, _ := json.MarshalIndent(emitted, "", "  ")
		if err := os.WriteFile(c.emit, append(data, '\n'), 0o644); err != nil {
			p = append(p, err.Error())
		}
	}
	keys := make([]string, 0, len(defined))
	for k := range defined {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("%d panels, %d expressions, variables %v\n", len(dash.Panels), exprs, keys)
	return p
}

func toF(v interface{}) float64 {
	f, _ := v.(float64)
	return f
}
