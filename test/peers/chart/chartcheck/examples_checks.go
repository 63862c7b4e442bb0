// Checks on an examples folder (examples/mangopress): every document is valid Kubernetes YAML
// and every file opens with a comment; the kinds lockstep's packaging owns (Ingress and its
// bridging Service, argo-rollouts-config, the plugin's RBAC) decode strictly and agree with the
// chart's defaults; and whatever Rollout / ScaledObject the folder holds fits them (the Ingress
// host is a trigger host, the trigger dials the chart's scaler, the Rollout names the plugin).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

type Ingress struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		IngressClassName string          `json:"ingressClassName,omitempty"`
		TLS              json.RawMessage `json:"tls,omitempty"`
		Rules            []struct {
			Host string `json:"host,omitempty"`
			HTTP struct {
				Paths []struct {
					Path     string `json:"path"`
					PathType string `json:"pathType"`
					Backend  struct {
						Service struct {
							Name string `json:"name"`
							Port struct {
								Number int32  `json:"number,omitempty"`
								Name   string `json:"name,omitempty"`
							} `json:"port"`
						} `json:"service"`
					} `json:"backend"`
				} `json:"paths"`
			} `json:"http"`
		} `json:"rules"`
	} `json:"spec"`
}

// ExampleService is a Service that may be ExternalName (no selector needed).
type ExampleService struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Type         string            `json:"type,omitempty"`
		ExternalName string            `json:"externalName,omitempty"`
		ClusterIP    string            `json:"clusterIP,omitempty"`
		Selector     map[string]string `json:"selector,omitempty"`
		Ports        []ServicePort     `json:"ports"`
	} `json:"spec"`
}

var pluginNameRe = regexp.MustCompile(`^([a-zA-Z0-9\-]+)\/{1}([a-zA-Z0-9_\-.]+)$`)
var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

func runExamples(c *common, dir string) []string {
	if dir == "" {
		return []string{"--dir is required"}
	}
	var p []string
	add := func(format string, a ...interface{}) { p = append(p, fmt.Sprintf(format, a...)) }

	// The chart's defaults: the names the examples must agree with.
	ch, err := LoadChart(c.chart)
	if err != nil {
		return []string{err.Error()}
	}
	out, err := Render(ch, CoalesceValues(ch.Defaults, map[string]interface{}{}),
		RenderOptions{Release: Release{Name: c.release, Namespace: c.namespace}})
	if err != nil {
		return []string{"render chart defaults: " + err.Error()}
	}
	chart, problems := Decode(out)
	if len(problems) > 0 {
		return problems
	}
	var proxySvc, scalerAddr string
	for _, s := range chart.Services {
		if strings.HasSuffix(s.Metadata.Name, "-proxy") {
			proxySvc = fmt.Sprintf("%s.%s.svc.cluster.local", s.Metadata.Name, s.Metadata.Namespace)
		}
	}
	for _, so := range chart.ScaledObjects {
		scalerAddr = so.Spec.Triggers[0].Metadata["scalerAddress"]
	}
	chartRules := map[string][]string{}
	for _, r := range chart.Roles {
		if strings.HasSuffix(r.Metadata.Name, "-rollouts-plugin") {
			chartRules[r.Kind] = ruleSet(r.Rules)
		}
	}

	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	files = append(files, more...)
	sort.Strings(files)
	if len(files) == 0 {
		return []string{"no manifests in " + dir}
	}
	type generic struct {
		file string
		kind string
		name string
		ns   string
		obj  map[string]interface{}
		js   []byte
	}
	var docs []generic
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			add("%v", err)
			continue
		}
		base := filepath.Base(f)
		first := ""
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) != "" {
				first = strings.TrimSpace(line)
				break
			}
		}
		if !strings.HasPrefix(first, "#") {
			add("%s: must open with a comment saying what the file is for", base)
		}
		for i, text := range SplitDocuments(string(data)) {
			js, err := yaml.YAMLToJSONStrict([]byte(text))
			if err != nil {
				add("%s document %d: not valid YAML: %v", base, i+1, err)
				continue
			}
			var obj map[string]interface{}
			if err := json.Unmarshal(js, &obj); err != nil || obj == nil {
				add("%s document %d: not a mapping", base, i+1)
				continue
			}
			kind, _ := obj["kind"].(string)
			apiVersion, _ := obj["apiVersion"].(string)
			meta, _ := obj["metadata"].(map[string]interface{})
			name, _ := meta["name"].(string)
			ns, _ := meta["namespace"].(string)
			if kind == "" || apiVersion == "" || name == "" {
				add("%s document %d: needs apiVersion, kind and metadata.name", base, i+1)
				continue
			}
			docs = append(docs, generic{base, kind, name, ns, obj, js})
		}
	}

	strict := func(g generic, into interface{}) bool {
		dec := json.NewDecoder(bytes.NewReader(g.js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into); err != nil {
			add("%s: %s %s does not decode: %v", g.file, g.kind, g.name, err)
			return false
		}
		return true
	}
	services := map[string]ExampleService{} // ns/name
	var ingresses []Ingress
	triggerHosts := map[string]bool{}
	rollouts := map[string]map[string]interface{}{}
	var scaledObjects []generic
	for _, g := range docs {
		switch g.kind {
		case "Service":
			var s ExampleService
			// Services of the app are the rollout engineer's; decode loosely, check the bridge strictly.
			if err := json.Unmarshal(g.js, &s); err != nil {
				add("%s: Service %s: %v", g.file, g.name, err)
			}
			services[g.ns+"/"+g.name] = s
			if s.Spec.Type == "ExternalName" && strict(g, &s) && s.Spec.ExternalName != proxySvc {
				add("%s: ExternalName Service %s points at %q; the chart's proxy Service is %q", g.file, g.name, s.Spec.ExternalName, proxySvc)
			}
		case "Ingress":
			var in Ingress
			if strict(g, &in) {
				ingresses = append(ingresses, in)
			}
			if in.APIVersion != "networking.k8s.io/v1" {
				add("%s: Ingress must be networking.k8s.io/v1", g.file)
			}
		case "ConfigMap":
			var cm ConfigMap
			if !strict(g, &cm) || cm.Metadata.Name != "argo-rollouts-config" {
				continue
			}
			var items []map[string]interface{}
			if err := yaml.UnmarshalStrict([]byte(cm.Data["trafficRouterPlugins"]), &items); err != nil || len(items) == 0 {
				add("%s: trafficRouterPlugins must be a YAML list of plugins: %v", g.file, err)
				continue
			}
			found := false
			for _, it := range items {
				for k := range it {
					if k != "name" && k != "location" && k != "sha256" && k != "args" && k != "headersFrom" {
						add("%s: plugin entry has unknown key %q", g.file, k)
					}
				}
				name, _ := it["name"].(string)
				loc, _ := it["location"].(string)
				if !pluginNameRe.MatchString(name) {
					add("%s: plugin name %q does not match %s", g.file, name, pluginNameRe)
				}
				if name != "lockstep/http" {
					continue
				}
				found = true
				p = append(p, checkPluginArgs(g.file, it["args"], chart)...)
				u, err := url.Parse(loc)
				switch {
				case err != nil:
					add("%s: location %q: %v", g.file, loc, err)
				case u.Scheme == "file":
					want := "file://" + str(lookupPath(ch.Defaults, "rolloutsPlugin.pluginDir")) + "/lockstep-rollouts-plugin"
					if loc != want {
						add("%s: location %q, the chart's documented init container places the binary at %q", g.file, loc, want)
					}
				case u.Scheme == "https" || u.Scheme == "http":
					if sha, _ := it["sha256"].(string); !sha256Re.MatchString(sha) {
						add("%s: an http(s) location needs sha256 as 64 lower-case hex digits (Argo compares only that form)", g.file)
					}
				default:
					add("%s: location %q must be file:// or https://", g.file, loc)
				}
			}
			if !found {
				add("%s: no lockstep/http entry", g.file)
			}
		case "ClusterRole", "Role":
			var r Role
			if !strict(g, &r) || !strings.HasSuffix(r.Metadata.Name, "-rollouts-plugin") {
				continue
			}
			if want := chartRules[g.kind]; !sameStrings(ruleSet(r.Rules), want) {
				add("%s: %s %s grants %v, the chart grants %v", g.file, g.kind, g.name, ruleSet(r.Rules), want)
			}
		case "ClusterRoleBinding", "RoleBinding":
			var b RoleBinding
			if strict(g, &b) {
				for _, s := range b.Subjects {
					if s.Kind != "ServiceAccount" || s.Namespace == "" {
						add("%s: %s %s: subject must be a ServiceAccount with a namespace", g.file, g.kind, g.name)
					}
				}
			}
		case "Rollout":
			rollouts[g.ns+"/"+g.name] = g.obj
		case "ScaledObject":
			scaledObjects = append(scaledObjects, g)
		}
	}

	for _, g := range scaledObjects {
		spec, _ := g.obj["spec"].(map[string]interface{})
		triggers, _ := spec["triggers"].([]interface{})
		for _, t := range triggers {
			tm, _ := t.(map[string]interface{})
			md, _ := tm["metadata"].(map[string]interface{})
			addr, _ := md["scalerAddress"].(string)
			if addr == "" || !strings.Contains(addr, "lockstep") {
				continue // another scaler's trigger
			}
			if addr != scalerAddr {
				add("%s: ScaledObject %s dials %q; the chart's scaler Service is %q", g.file, g.name, addr, scalerAddr)
			}
			hosts, _ := md["hosts"].(string)
			for _, h := range strings.Split(hosts, ",") {
				triggerHosts[strings.TrimSpace(h)] = true
			}
		}
		ref, _ := spec["scaleTargetRef"].(map[string]interface{})
		if ref["kind"] == "Rollout" {
			if _, ok := rollouts[g.ns+"/"+str(ref["name"])]; !ok {
				add("%s: ScaledObject %s targets Rollout %v, which the folder does not hold", g.file, g.name, ref["name"])
			}
		}
	}
	for key, r := range rollouts {
		plugins := lookupPath(r, "spec.strategy.canary.trafficRouting.plugins")
		pm, _ := plugins.(map[string]interface{})
		if _, ok := pm["lockstep/http"]; !ok {
			add("Rollout %s: spec.strategy.canary.trafficRouting.plugins has no lockstep/http entry", key)
		}
		ns := strings.SplitN(key, "/", 2)[0]
		for _, field := range []string{"stableService", "canaryService"} {
			svc := str(lookupPath(r, "spec.strategy.canary."+field))
			if _, ok := services[ns+"/"+svc]; !ok {
				add("Rollout %s: %s %q is not a Service of the folder", key, field, svc)
			}
		}
	}
	for _, in := range ingresses {
		for _, rule := range in.Spec.Rules {
			if len(scaledObjects) > 0 && !triggerHosts[rule.Host] && !triggerHosts["*."+strings.SplitN(rule.Host, ".", 2)[len(strings.SplitN(rule.Host, ".", 2))-1]] {
				add("Ingress %s: host %q is in no lockstep trigger's hosts, so the proxies would answer 404", in.Metadata.Name, rule.Host)
			}
			for _, path := range rule.HTTP.Paths {
				b := path.Backend.Service
				s, ok := services[in.Metadata.Namespace+"/"+b.Name]
				if !ok {
					add("Ingress %s: backend Service %s is not in the Ingress's namespace %s", in.Metadata.Name, b.Name, in.Metadata.Namespace)
					continue
				}
				portOK := false
				for _, sp := range s.Spec.Ports {
					portOK = portOK || (b.Port.Number != 0 && sp.Port == b.Port.Number) || (b.Port.Name != "" && sp.Name == b.Port.Name)
				}
				if !portOK {
					add("Ingress %s: backend port %+v is not a port of Service %s", in.Metadata.Name, b.Port, b.Name)
				}
				if s.Spec.Type != "ExternalName" || s.Spec.ExternalName != proxySvc {
					add("Ingress %s: backend %s must lead to the lockstep proxies (%s)", in.Metadata.Name, b.Name, proxySvc)
				}
				if path.PathType != "Prefix" && path.PathType != "Exact" && path.PathType != "ImplementationSpecific" {
					add("Ingress %s: pathType %q", in.Metadata.Name, path.PathType)
				}
			}
		}
	}
	fmt.Printf("%d documents in %d files (%d Rollouts, %d ScaledObjects)\n", len(docs), len(files), len(rollouts), len(scaledObjects))
	return p
}

// checkPluginArgs: the plugin's --scaler-* flags (or its defaults, lockstep-scaler /
// lockstep-system / http-admin) must name a rendered scaler Service that has that admin port.
func checkPluginArgs(where string, args interface{}, o *Objects) []string {
	svc, ns, port := "lockstep-scaler", "lockstep-system", "http-admin"
	list, _ := args.([]interface{})
	for _, a := range list {
		s, _ := a.(string)
		switch {
		case strings.HasPrefix(s, "--scaler-service="):
			svc = strings.TrimPrefix(s, "--scaler-service=")
		case strings.HasPrefix(s, "--scaler-namespace="):
			ns = strings.TrimPrefix(s, "--scaler-namespace=")
		case strings.HasPrefix(s, "--scaler-admin-port="):
			port = strings.TrimPrefix(s, "--scaler-admin-port=")
		}
	}
	for _, s := range o.Services {
		if s.Metadata.Name != svc || s.Metadata.Namespace != ns {
			continue
		}
		if s.Spec.ClusterIP == "None" {
			return []string{fmt.Sprintf("%s: the plugin's scaler Service %s/%s is headless, which lists not-ready replicas too", where, ns, svc)}
		}
		for _, sp := range s.Spec.Ports {
			if sp.Name == port || fmt.Sprint(sp.Port) == port {
				return nil
			}
		}
		return []string{fmt.Sprintf("%s: the plugin asks port %q of Service %s/%s, which has no such port", where, port, ns, svc)}
	}
	return []string{fmt.Sprintf("%s: the plugin asks Service %s/%s, which the chart does not render", where, ns, svc)}
}
