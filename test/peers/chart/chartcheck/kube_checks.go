// Checks on a rendered chart: each document decodes strictly as the kind it claims, and the
// objects fit together the way Kubernetes, KEDA, cert-manager and the Prometheus Operator will
// resolve them at run time (selectors, port names, Secrets, RBAC, addresses).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Doc is one rendered document.
type Doc struct {
	Template string
	Kind     string
	Name     string
	NS       string
	JSON     []byte
}

// Objects holds the decoded objects by kind.
type Objects struct {
	Docs            []Doc
	Deployments     []Deployment
	Services        []Service
	ServiceAccounts []ServiceAccount
	ConfigMaps      []ConfigMap
	PDBs            []PodDisruptionBudget
	Roles           []Role // Role and ClusterRole
	Bindings        []RoleBinding
	ScaledObjects   []ScaledObject
	TriggerAuths    []TriggerAuthentication
	Certificates    []Certificate
	Issuers         []Issuer
	ServiceMonitors []ServiceMonitor
	PrometheusRules []PrometheusRule
	NetworkPolicies []NetworkPolicy
}

type kindInfo struct {
	apiVersion string
	namespaced bool
	target     func(o *Objects) interface{} // appends a new zero value and returns a pointer to it
}

var kinds = map[string]kindInfo{
	"Deployment": {"apps/v1", true, func(o *Objects) interface{} {
		o.Deployments = append(o.Deployments, Deployment{})
		return &o.Deployments[len(o.Deployments)-1]
	}},
	"Service": {"v1", true, func(o *Objects) interface{} {
		o.Services = append(o.Services, Service{})
		return &o.Services[len(o.Services)-1]
	}},
	"ServiceAccount": {"v1", true, func(o *Objects) interface{} {
		o.ServiceAccounts = append(o.ServiceAccounts, ServiceAccount{})
		return &o.ServiceAccounts[len(o.ServiceAccounts)-1]
	}},
	"ConfigMap": {"v1", true, func(o *Objects) interface{} {
		o.ConfigMaps = append(o.ConfigMaps, ConfigMap{})
		return &o.ConfigMaps[len(o.ConfigMaps)-1]
	}},
	"PodDisruptionBudget": {"policy/v1", true, func(o *Objects) interface{} {
		o.PDBs = append(o.PDBs, PodDisruptionBudget{})
		return &o.PDBs[len(o.PDBs)-1]
	}},
	"ClusterRole": {"rbac.authorization.k8s.io/v1", false, func(o *Objects) interface{} {
		o.Roles = append(o.Roles, Role{})
		return &o.Roles[len(o.Roles)-1]
	}},
	"Role": {"rbac.authorization.k8s.io/v1", true, func(o *Objects) interface{} {
		o.Roles = append(o.Roles, Role{})
		return &o.Roles[len(o.Roles)-1]
	}},
	"ClusterRoleBinding": {"rbac.authorization.k8s.io/v1", false, func(o *Objects) interface{} {
		o.Bindings = append(o.Bindings, RoleBinding{})
		return &o.Bindings[len(o.Bindings)-1]
	}},
	"RoleBinding": {"rbac.authorization.k8s.io/v1", true, func(o *Objects) interface{} {
		o.Bindings = append(o.Bindings, RoleBinding{})
		return &o.Bindings[len(o.Bindings)-1]
	}},
	"ScaledObject": {"keda.sh/v1alpha1", true, func(o *Objects) interface{} {
		o.ScaledObjects = append(o.ScaledObjects, ScaledObject{})
		return &o.ScaledObjects[len(o.ScaledObjects)-1]
	}},
	"TriggerAuthentication": {"keda.sh/v1alpha1", true, func(o *Objects) interface{} {
		o.TriggerAuths = append(o.TriggerAuths, TriggerAuthentication{})
		return &o.TriggerAuths[len(o.TriggerAuths)-1]
	}},
	"Certificate": {"cert-manager.io/v1", true, func(o *Objects) interface{} {
		o.Certificates = append(o.Certificates, Certificate{})
		return &o.Certificates[len(o.Certificates)-1]
	}},
	"Issuer": {"cert-manager.io/v1", true, func(o *Objects) interface{} {
		o.Issuers = append(o.Issuers, Issuer{})
		return &o.Issuers[len(o.Issuers)-1]
	}},
	"ServiceMonitor": {"monitoring.coreos.com/v1", true, func(o *Objects) interface{} {
		o.ServiceMonitors = append(o.ServiceMonitors, ServiceMonitor{})
		return &o.ServiceMonitors[len(o.ServiceMonitors)-1]
	}},
	"NetworkPolicy": {"networking.k8s.io/v1", true, func(o *Objects) interface{} {
		o.NetworkPolicies = append(o.NetworkPolicies, NetworkPolicy{})
		return &o.NetworkPolicies[len(o.NetworkPolicies)-1]
	}},
	"PrometheusRule": {"monitoring.coreos.com/v1", true, func(o *Objects) interface{} {
		o.PrometheusRules = append(o.PrometheusRules, PrometheusRule{})
		return &o.PrometheusRules[len(o.PrometheusRules)-1]
	}},
}

var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	ianaSvcName      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	labelValue       = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	labelNamePart    = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	quantity         = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`)
	envName          = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
)

// Decode parses every rendered document strictly into its kind.
func Decode(rendered []Rendered) (*Objects, []string) {
	o := &Objects{}
	var problems []string
	seen := map[string]string{}
	for _, r := range rendered {
		if strings.HasSuffix(r.Template, "NOTES.txt") {
			continue
		}
		for i, text := range SplitDocuments(r.Text) {
			where := fmt.Sprintf("%s (document %d)", r.Template, i+1)
			js, err := yaml.YAMLToJSONStrict([]byte(text))
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: not valid YAML: %v", where, err))
				continue
			}
			var tm struct {
				APIVersion string     `json:"apiVersion"`
				Kind       string     `json:"kind"`
				Metadata   ObjectMeta `json:"metadata"`
			}
			if err := json.Unmarshal(js, &tm); err != nil {
				problems = append(problems, fmt.Sprintf("%s: not a Kubernetes object: %v", where, err))
				continue
			}
			info, ok := kinds[tm.Kind]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: kind %q is not one the chart is expected to render", where, tm.Kind))
				continue
			}
			if tm.APIVersion != info.apiVersion {
				problems = append(problems, fmt.Sprintf("%s: %s must be apiVersion %s, got %q", where, tm.Kind, info.apiVersion, tm.APIVersion))
			}
			where = fmt.Sprintf("%s %s/%s (%s)", tm.Kind, tm.Metadata.Namespace, tm.Metadata.Name, r.Template)
			problems = append(problems, checkMeta(where, tm.Kind, tm.Metadata, info.namespaced)...)
			key := tm.Kind + "/" + tm.Metadata.Namespace + "/" + tm.Metadata.Name
			if prev, dup := seen[key]; dup {
				problems = append(problems, fmt.Sprintf("%s: rendered twice (also in %s)", where, prev))
			}
			seen[key] = r.Template
			dec := json.NewDecoder(bytes.NewReader(js))
			dec.DisallowUnknownFields()
			if err := dec.Decode(info.target(o)); err != nil {
				problems = append(problems, fmt.Sprintf("%s: does not decode as %s: %v", where, tm.Kind, err))
			}
			o.Docs = append(o.Docs, Doc{r.Template, tm.Kind, tm.Metadata.Name, tm.Metadata.Namespace, js})
		}
	}
	return o, problems
}

func checkMeta(where, kind string, m ObjectMeta, namespaced bool) []string {
	var p []string
	if m.Name == "" {
		p = append(p, where+": metadata.name is empty")
	} else {
		re, max := dns1123Subdomain, 253
		if kind == "Service" || kind == "Deployment" {
			// Service names become DNS labels; Deployment names prefix pod names.
			re, max = dns1123Label, 63
		}
		if !re.MatchString(m.Name) || len(m.Name) > max {
			p = append(p, fmt.Sprintf("%s: metadata.name %q is not a valid %s name", where, m.Name, kind))
		}
	}
	if namespaced && m.Namespace == "" {
		p = append(p, where+": namespaced kind without metadata.namespace")
	}
	if !namespaced && m.Namespace != "" {
		p = append(p, where+": cluster-scoped kind with metadata.namespace")
	}
	for k, v := range m.Labels {
		p = append(p, checkLabel(where, k, v)...)
	}
	for k := range m.Annotations {
		p = append(p, checkLabelKey(where+" annotation", k)...)
	}
	return p
}

func checkLabelKey(where, k string) []string {
	name := k
	if i := strings.LastIndex(k, "/"); i >= 0 {
		prefix := k[:i]
		name = k[i+1:]
		if !dns1123Subdomain.MatchString(prefix) || len(prefix) > 253 {
			return []string{fmt.Sprintf("%s: key %q has an invalid prefix", where, k)}
		}
	}
	if len(name) > 63 || !labelNamePart.MatchString(name) {
		return []string{fmt.Sprintf("%s: key %q is not a valid label/annotation name", where, k)}
	}
	return nil
}

func checkLabel(where, k, v string) []string {
	p := checkLabelKey(where+" label", k)
	if len(v) > 63 || !labelValue.MatchString(v) {
		p = append(p, fmt.Sprintf("%s: label %s=%q is not a valid label value", where, k, v))
	}
	return p
}

func selectorMatches(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// CheckObjects runs the cross-object checks. vals are the coalesced values the chart saw.
func CheckObjects(o *Objects, vals map[string]interface{}, namespace string) []string {
	var p []string
	add := func(format string, a ...interface{}) { p = append(p, fmt.Sprintf(format, a...)) }

	configMaps := map[string]ConfigMap{}
	for _, cm := range o.ConfigMaps {
		configMaps[cm.Metadata.Namespace+"/"+cm.Metadata.Name] = cm
	}
	// Secrets that will exist: those cert-manager writes, and those the values name.
	secrets := map[string]bool{}
	for _, c := range o.Certificates {
		secrets[c.Metadata.Namespace+"/"+c.Spec.SecretName] = true
	}
	for _, s := range []string{"tls.secrets.scaler", "tls.secrets.proxyClient", "tls.secrets.kedaClient"} {
		if v, ok := lookupPath(vals, s).(string); ok && v != "" {
			secrets[namespace+"/"+v] = true
		}
	}
	serviceAccounts := map[string]bool{}
	for _, sa := range o.ServiceAccounts {
		serviceAccounts[sa.Metadata.Namespace+"/"+sa.Metadata.Name] = true
	}
	if create, _ := lookupPath(vals, "serviceAccount.create").(bool); !create {
		if n, _ := lookupPath(vals, "serviceAccount.name").(string); n != "" {
			serviceAccounts[namespace+"/"+n] = true
		}
	}

	// ---- Deployments
	for _, d := range o.Deployments {
		w := "Deployment " + d.Metadata.Name
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
			add("%s: spec.selector.matchLabels is empty", w)
		} else if !selectorMatches(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
			add("%s: spec.selector %v does not match the pod template labels %v", w, d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
		}
		for k, v := range d.Spec.Template.Metadata.Labels {
			p = append(p, checkLabel(w+" pod template", k, v)...)
		}
		ps := d.Spec.Template.Spec
		if ps.ServiceAccountName != "" && !serviceAccounts[d.Metadata.Namespace+"/"+ps.ServiceAccountName] {
			add("%s: serviceAccountName %q is neither rendered nor given in values", w, ps.ServiceAccountName)
		}
		if len(ps.Containers) == 0 {
			add("%s: no containers", w)
		}
		volumes := map[string]Volume{}
		for _, v := range ps.Volumes {
			if _, dup := volumes[v.Name]; dup {
				add("%s: volume %q defined twice", w, v.Name)
			}
			volumes[v.Name] = v
			n := 0
			if v.ConfigMap != nil {
				n++
				if _, ok := configMaps[d.Metadata.Namespace+"/"+v.ConfigMap.Name]; !ok {
					add("%s: volume %q mounts ConfigMap %q, which the chart does not render", w, v.Name, v.ConfigMap.Name)
				}
			}
			if v.Secret != nil {
				n++
				if !secrets[d.Metadata.Namespace+"/"+v.Secret.SecretName] {
					add("%s: volume %q mounts Secret %q, which neither a Certificate writes nor the values name", w, v.Name, v.Secret.SecretName)
				}
			}
			if v.EmptyDir != nil {
				n++
				if v.EmptyDir.SizeLimit != "" && !quantity.MatchString(v.EmptyDir.SizeLimit) {
					add("%s: volume %q sizeLimit %q is not a quantity", w, v.Name, v.EmptyDir.SizeLimit)
				}
			}
			if n != 1 {
				add("%s: volume %q must have exactly one source, has %d", w, v.Name, n)
			}
		}
		names := map[string]bool{}
		for _, c := range append(append([]Container{}, ps.InitContainers...), ps.Containers...) {
			cw := fmt.Sprintf("%s container %q", w, c.Name)
			if !dns1123Label.MatchString(c.Name) || names[c.Name] {
				add("%s: invalid or duplicate container name", cw)
			}
			names[c.Name] = true
			if c.Image == "" || !(strings.Contains(c.Image, ":") || strings.Contains(c.Image, "@sha256:")) {
				add("%s: image %q has neither a tag nor a digest", cw, c.Image)
			}
			if c.ImagePullPolicy != "" && c.ImagePullPolicy != "Always" && c.ImagePullPolicy != "IfNotPresent" && c.ImagePullPolicy != "Never" {
				add("%s: imagePullPolicy %q is not Always, IfNotPresent or Never", cw, c.ImagePullPolicy)
			}
			portNames := map[string]int32{}
			portNums := map[int32]bool{}
			for _, cp := range c.Ports {
				if cp.Name != "" {
					if len(cp.Name) > 15 || !ianaSvcName.MatchString(cp.Name) || !strings.ContainsAny(cp.Name, "abcdefghijklmnopqrstuvwxyz") {
						add("%s: port name %q is not a valid IANA service name (<= 15 chars)", cw, cp.Name)
					}
					if _, dup := portNames[cp.Name]; dup {
						add("%s: port name %q used twice", cw, cp.Name)
					}
					portNames[cp.Name] = cp.ContainerPort
				}
				if cp.ContainerPort < 1 || cp.ContainerPort > 65535 || portNums[cp.ContainerPort] {
					add("%s: containerPort %d is out of range or used twice", cw, cp.ContainerPort)
				}
				portNums[cp.ContainerPort] = true
				if cp.Protocol != "" && cp.Protocol != "TCP" && cp.Protocol != "UDP" && cp.Protocol != "SCTP" {
					add("%s: protocol %q", cw, cp.Protocol)
				}
			}
			for kind, pr := range map[string]*Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
				if pr == nil {
					continue
				}
				handlers := 0
				if pr.HTTPGet != nil {
					handlers++
					p = append(p, checkPortRef(cw+" "+kind+".httpGet", pr.HTTPGet.Port, portNames, portNums)...)
					if !strings.HasPrefix(pr.HTTPGet.Path, "/") {
						add("%s %s: httpGet.path %q must start with /", cw, kind, pr.HTTPGet.Path)
					}
				}
				if pr.GRPC != nil {
					handlers++
					if !portNums[pr.GRPC.Port] {
						add("%s %s: grpc.port %d is not a port of the container", cw, kind, pr.GRPC.Port)
					}
				}
				if pr.TCPSocket != nil {
					handlers++
					p = append(p, checkPortRef(cw+" "+kind+".tcpSocket", pr.TCPSocket.Port, portNames, portNums)...)
				}
				if handlers != 1 {
					add("%s %s: must have exactly one handler, has %d", cw, kind, handlers)
				}
				if pr.TimeoutSeconds > 0 && pr.PeriodSeconds > 0 && pr.TimeoutSeconds > pr.PeriodSeconds {
					add("%s %s: timeoutSeconds %d exceeds periodSeconds %d", cw, kind, pr.TimeoutSeconds, pr.PeriodSeconds)
				}
			}
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				add("%s: needs both a readiness and a liveness probe", cw)
			}
			for _, q := range []map[string]string{c.Resources.Requests, c.Resources.Limits} {
				for res, v := range q {
					if !quantity.MatchString(v) {
						add("%s: resources %s=%q is not a quantity", cw, res, v)
					}
				}
			}
			envs := map[string]bool{}
			for _, e := range c.Env {
				if !envName.MatchString(e.Name) || envs[e.Name] {
					add("%s: env %q invalid or duplicate", cw, e.Name)
				}
				envs[e.Name] = true
				if (e.Value == nil) == (len(e.ValueFrom) == 0) && e.Value == nil {
					add("%s: env %q has neither value nor valueFrom", cw, e.Name)
				}
			}
			mountPaths := map[string]string{}
			for _, m := range c.VolumeMounts {
				v, ok := volumes[m.Name]
				if !ok {
					add("%s: volumeMount %q names no volume", cw, m.Name)
				}
				if !strings.HasPrefix(m.MountPath, "/") {
					add("%s: mountPath %q is not absolute", cw, m.MountPath)
				}
				for other, otherName := range mountPaths {
					if other == m.MountPath || strings.HasPrefix(m.MountPath, other+"/") || strings.HasPrefix(other, m.MountPath+"/") {
						add("%s: mounts %q and %q overlap (%s, %s); nested mounts into read-only volumes fail at start", cw, m.MountPath, other, m.Name, otherName)
					}
				}
				mountPaths[m.MountPath] = m.Name
				if ok && (v.Secret != nil || v.ConfigMap != nil) && !m.ReadOnly {
					add("%s: %q mounts a Secret/ConfigMap without readOnly", cw, m.Name)
				}
			}
			if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				add("%s: securityContext must forbid privilege escalation and make the root filesystem read-only", cw)
			}
			p = append(p, checkRestricted(cw, ps, c)...)
			// --config=<path>: the file must be a key of a mounted ConfigMap, and parse as YAML.
			for _, a := range c.Args {
				if !strings.HasPrefix(a, "--config=") {
					continue
				}
				path := strings.TrimPrefix(a, "--config=")
				found := false
				for _, m := range c.VolumeMounts {
					v := volumes[m.Name]
					if v.ConfigMap == nil || !strings.HasPrefix(path, m.MountPath+"/") {
						continue
					}
					key := strings.TrimPrefix(path, m.MountPath+"/")
					cm := configMaps[d.Metadata.Namespace+"/"+v.ConfigMap.Name]
					data, ok := cm.Data[key]
					if !ok {
						add("%s: --config %s: ConfigMap %s has no key %q", cw, path, cm.Metadata.Name, key)
						break
					}
					var parsed map[string]interface{}
					if err := yaml.UnmarshalStrict([]byte(data), &parsed); err != nil {
						add("%s: --config %s: not valid YAML: %v", cw, path, err)
					}
					found = true
				}
				if !found {
					add("%s: --config %s is not inside a mounted ConfigMap", cw, path)
				}
			}
		}
	}

	// ---- Services: selectors select pods, named target ports exist in those pods.
	for _, s := range o.Services {
		w := "Service " + s.Metadata.Name
		var pods []Deployment
		for _, d := range o.Deployments {
			if d.Metadata.Namespace == s.Metadata.Namespace && selectorMatches(s.Spec.Selector, d.Spec.Template.Metadata.Labels) {
				pods = append(pods, d)
			}
		}
		if len(pods) != 1 {
			add("%s: selector %v must select the pods of exactly one Deployment, selects %d", w, s.Spec.Selector, len(pods))
		}
		if s.Spec.ClusterIP == "None" && s.Spec.Type != "" && s.Spec.Type != "ClusterIP" {
			add("%s: headless Service must be type ClusterIP", w)
		}
		if s.Spec.Type != "" && s.Spec.Type != "ClusterIP" && s.Spec.Type != "NodePort" && s.Spec.Type != "LoadBalancer" {
			add("%s: type %q", w, s.Spec.Type)
		}
		names := map[string]bool{}
		for _, sp := range s.Spec.Ports {
			if sp.Name == "" || !dns1123Label.MatchString(sp.Name) || names[sp.Name] {
				add("%s: port name %q missing, invalid or duplicate", w, sp.Name)
			}
			names[sp.Name] = true
			if sp.Port < 1 || sp.Port > 65535 {
				add("%s: port %d out of range", w, sp.Port)
			}
			for _, d := range pods {
				if !podHasPort(d, sp.TargetPort) {
					add("%s: port %q targets %s, which no container of Deployment %s declares", w, sp.Name, sp.TargetPort, d.Metadata.Name)
				}
			}
		}
	}

	// ---- PodDisruptionBudgets
	for _, b := range o.PDBs {
		w := "PodDisruptionBudget " + b.Metadata.Name
		if (b.Spec.MinAvailable == nil) == (b.Spec.MaxUnavailable == nil) {
			add("%s: exactly one of minAvailable and maxUnavailable must be set", w)
		}
		var sel map[string]string
		if b.Spec.Selector != nil {
			sel = b.Spec.Selector.MatchLabels
		}
		matched := 0
		for _, d := range o.Deployments {
			if !selectorMatches(sel, d.Spec.Template.Metadata.Labels) {
				continue
			}
			matched++
			if d.Spec.Replicas != nil && b.Spec.MinAvailable != nil && !b.Spec.MinAvailable.IsString && int64(*d.Spec.Replicas) <= b.Spec.MinAvailable.Int {
				add("%s: minAvailable %d with %d replicas blocks every voluntary eviction (node drains hang)", w, b.Spec.MinAvailable.Int, *d.Spec.Replicas)
			}
			if b.Spec.MaxUnavailable != nil && !b.Spec.MaxUnavailable.IsString && b.Spec.MaxUnavailable.Int < 1 {
				add("%s: maxUnavailable 0 blocks every voluntary eviction", w)
			}
		}
		if matched != 1 {
			add("%s: selector must select exactly one Deployment's pods, selects %d", w, matched)
		}
	}

	// ---- RBAC: bindings point at rendered roles and existing subjects; no wildcard, no secrets.
	roles := map[string]Role{}
	for _, r := range o.Roles {
		roles[r.Kind+"/"+r.Metadata.Namespace+"/"+r.Metadata.Name] = r
		for _, rule := range r.Rules {
			for _, x := range append(append(append([]string{}, rule.Verbs...), rule.Resources...), rule.APIGroups...) {
				if x == "*" {
					add("%s %s: wildcard in rule %+v", r.Kind, r.Metadata.Name, rule)
				}
			}
			for _, res := range rule.Resources {
				if res == "secrets" || res == "pods/exec" {
					add("%s %s: grants access to %s", r.Kind, r.Metadata.Name, res)
				}
			}
		}
	}
	for _, b := range o.Bindings {
		w := b.Kind + " " + b.Metadata.Name
		if b.RoleRef.APIGroup != "rbac.authorization.k8s.io" {
			add("%s: roleRef.apiGroup %q", w, b.RoleRef.APIGroup)
		}
		ns := b.Metadata.Namespace
		if b.RoleRef.Kind == "ClusterRole" {
			ns = ""
		}
		if _, ok := roles[b.RoleRef.Kind+"/"+ns+"/"+b.RoleRef.Name]; !ok {
			add("%s: roleRef %s %q is not rendered", w, b.RoleRef.Kind, b.RoleRef.Name)
		}
		if b.Kind == "ClusterRoleBinding" && b.RoleRef.Kind != "ClusterRole" {
			add("%s: a ClusterRoleBinding must reference a ClusterRole", w)
		}
		if len(b.Subjects) == 0 {
			add("%s: no subjects", w)
		}
		for _, s := range b.Subjects {
			if s.Kind != "ServiceAccount" || s.Namespace == "" {
				add("%s: subject %+v must be a ServiceAccount with a namespace", w, s)
			}
		}
	}

	// ---- ScaledObjects: the target is a rendered Deployment that leaves replicas to the HPA,
	// and every external trigger's scalerAddress is the scaler Service's KEDA port.
	for _, so := range o.ScaledObjects {
		w := "ScaledObject " + so.Metadata.Name
		ref := so.Spec.ScaleTargetRef
		var target *Deployment
		for i, d := range o.Deployments {
			if d.Metadata.Name == ref.Name && d.Metadata.Namespace == so.Metadata.Namespace {
				target = &o.Deployments[i]
			}
		}
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || target == nil {
			add("%s: scaleTargetRef %+v is not a rendered apps/v1 Deployment", w, ref)
		} else if target.Spec.Replicas != nil {
			add("%s: Deployment %s sets spec.replicas, which resets the HPA's count on every upgrade", w, ref.Name)
		}
		if so.Spec.MinReplicaCount == nil || so.Spec.MaxReplicaCount == nil || *so.Spec.MinReplicaCount < 1 || *so.Spec.MaxReplicaCount < *so.Spec.MinReplicaCount {
			add("%s: needs 1 <= minReplicaCount <= maxReplicaCount", w)
		}
		if len(so.Spec.Triggers) == 0 {
			add("%s: no triggers", w)
		}
		for _, t := range so.Spec.Triggers {
			if t.Type == "cpu" || t.Type == "memory" {
				if t.MetricType != "Utilization" && t.MetricType != "AverageValue" {
					add("%s: %s trigger needs metricType Utilization or AverageValue", w, t.Type)
				}
				if v, err := strconv.ParseFloat(t.Metadata["value"], 64); err != nil || v <= 0 {
					add("%s: %s trigger value %q must be a number > 0", w, t.Type, t.Metadata["value"])
				}
				if target != nil {
					for _, c := range target.Spec.Template.Spec.Containers {
						if c.Resources.Requests[t.Type] == "" && t.MetricType == "Utilization" {
							add("%s: %s utilization needs a %s request on container %s", w, t.Type, t.Type, c.Name)
						}
					}
				}
				continue
			}
			if t.Type != "external" && t.Type != "external-push" {
				add("%s: trigger type %q, expected external or external-push", w, t.Type)
				continue
			}
			if t.MetricType != "" && t.MetricType != "AverageValue" && t.MetricType != "Value" {
				add("%s: metricType %q", w, t.MetricType)
			}
			p = append(p, checkScalerAddress(w, t.Metadata["scalerAddress"], o, so.Metadata.Namespace)...)
			if v, err := strconv.ParseFloat(t.Metadata["targetValue"], 64); err != nil || v <= 0 {
				add("%s: targetValue %q must be a number > 0", w, t.Metadata["targetValue"])
			}
			if t.AuthenticationRef != nil {
				found := false
				for _, ta := range o.TriggerAuths {
					if ta.Metadata.Name == t.AuthenticationRef.Name && ta.Metadata.Namespace == so.Metadata.Namespace {
						found = true
					}
				}
				if !found {
					add("%s: authenticationRef %q is not rendered in its namespace", w, t.AuthenticationRef.Name)
				}
			}
		}
	}
	for _, ta := range o.TriggerAuths {
		w := "TriggerAuthentication " + ta.Metadata.Name
		params := map[string]bool{}
		for _, r := range ta.Spec.SecretTargetRef {
			params[r.Parameter] = true
			if !secrets[ta.Metadata.Namespace+"/"+r.Name] {
				add("%s: parameter %s reads Secret %q, which neither a Certificate writes nor the values name", w, r.Parameter, r.Name)
			}
			if r.Parameter != "caCert" && r.Parameter != "tlsClientCert" && r.Parameter != "tlsClientKey" {
				add("%s: parameter %q is not one KEDA's external scaler reads", w, r.Parameter)
			}
		}
		if params["tlsClientCert"] != params["tlsClientKey"] {
			add("%s: tlsClientCert and tlsClientKey go together", w)
		}
	}

	// ---- cert-manager: issuers resolve, secrets are unique.
	issuers := map[string]Issuer{}
	for _, is := range o.Issuers {
		issuers[is.Metadata.Namespace+"/"+is.Metadata.Name] = is
		if (is.Spec.SelfSigned == nil) == (is.Spec.CA == nil) {
			add("Issuer %s: exactly one of selfSigned and ca", is.Metadata.Name)
		}
		if is.Spec.CA != nil && !secrets[is.Metadata.Namespace+"/"+is.Spec.CA.SecretName] {
			add("Issuer %s: CA Secret %q is written by no Certificate", is.Metadata.Name, is.Spec.CA.SecretName)
		}
	}
	givenIssuer, _ := lookupPath(vals, "tls.certManager.issuerRef.name").(string)
	secretNames := map[string]string{}
	for _, c := range o.Certificates {
		w := "Certificate " + c.Metadata.Name
		if prev, dup := secretNames[c.Spec.SecretName]; dup {
			add("%s: secretName %q also written by %s", w, c.Spec.SecretName, prev)
		}
		secretNames[c.Spec.SecretName] = c.Metadata.Name
		ir := c.Spec.IssuerRef
		if ir.Kind == "Issuer" || ir.Kind == "" {
			if _, ok := issuers[c.Metadata.Namespace+"/"+ir.Name]; !ok && ir.Name != givenIssuer {
				add("%s: issuerRef Issuer %q is neither rendered nor given", w, ir.Name)
			}
		} else if ir.Kind != "ClusterIssuer" || ir.Name != givenIssuer {
			add("%s: issuerRef %+v is not the configured ClusterIssuer", w, ir)
		}
		if c.Spec.CommonName == "" && len(c.Spec.DNSNames) == 0 {
			add("%s: needs a commonName or dnsNames", w)
		}
		if len(c.Spec.CommonName) > 64 {
			add("%s: commonName %q is longer than 64 bytes (X.509 limit)", w, c.Spec.CommonName)
		}
	}

	// ---- NetworkPolicies: they select the pods they mean, and every port they open exists there.
	for _, np := range o.NetworkPolicies {
		w := "NetworkPolicy " + np.Metadata.Name
		var pods []Deployment
		for _, d := range o.Deployments {
			if d.Metadata.Namespace == np.Metadata.Namespace && selectorMatches(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Metadata.Labels) {
				pods = append(pods, d)
			}
		}
		if len(pods) != 1 {
			add("%s: podSelector must select exactly one Deployment's pods, selects %d", w, len(pods))
		}
		for _, rule := range np.Spec.Ingress {
			for _, port := range rule.Ports {
				for _, d := range pods {
					if !podHasPort(d, port.Port) {
						add("%s: opens port %s, which Deployment %s does not declare", w, port.Port, d.Metadata.Name)
					}
				}
			}
			for _, peer := range rule.From {
				if peer.PodSelector != nil && peer.NamespaceSelector == nil {
					n := 0
					for _, d := range o.Deployments {
						if d.Metadata.Namespace == np.Metadata.Namespace && selectorMatches(peer.PodSelector.MatchLabels, d.Spec.Template.Metadata.Labels) {
							n++
						}
					}
					if n == 0 {
						add("%s: a podSelector peer %v selects no rendered pods", w, peer.PodSelector.MatchLabels)
					}
				}
			}
		}
	}

	// ---- ServiceMonitors: each selects exactly one Service, whose port exists, and no pod is
	// scraped twice.
	scraped := map[string]string{}
	for _, sm := range o.ServiceMonitors {
		w := "ServiceMonitor " + sm.Metadata.Name
		var matched []Service
		for _, s := range o.Services {
			inNS := sm.Spec.NamespaceSelector.Any
			for _, n := range sm.Spec.NamespaceSelector.MatchNames {
				inNS = inNS || n == s.Metadata.Namespace
			}
			if inNS && selectorMatches(sm.Spec.Selector.MatchLabels, s.Metadata.Labels) {
				matched = append(matched, s)
			}
		}
		if len(matched) != 1 {
			add("%s: selector must match exactly one Service, matches %d", w, len(matched))
			continue
		}
		s := matched[0]
		if sm.Spec.JobLabel == "" || s.Metadata.Labels[sm.Spec.JobLabel] == "" {
			add("%s: jobLabel %q is not a label of Service %s, so the job name is not stable", w, sm.Spec.JobLabel, s.Metadata.Name)
		}
		for _, ep := range sm.Spec.Endpoints {
			ok := false
			for _, sp := range s.Spec.Ports {
				ok = ok || sp.Name == ep.Port
			}
			if !ok {
				add("%s: endpoint port %q is not a port of Service %s", w, ep.Port, s.Metadata.Name)
			}
			if !ep.HonorLabels {
				add("%s: honorLabels must be true, or lockstep's namespace label is renamed exported_namespace", w)
			}
			key := s.Metadata.Namespace + "/" + fmt.Sprint(s.Spec.Selector) + "/" + ep.Port
			if prev, dup := scraped[key]; dup {
				add("%s: scrapes the same pods and port as %s", w, prev)
			}
			scraped[key] = sm.Metadata.Name
		}
	}
	return p
}

func checkPortRef(where string, port IntOrString, names map[string]int32, nums map[int32]bool) []string {
	if port.IsString {
		if _, ok := names[port.Str]; !ok {
			return []string{fmt.Sprintf("%s: port %q is not a named port of the container", where, port.Str)}
		}
		return nil
	}
	if !nums[int32(port.Int)] {
		return []string{fmt.Sprintf("%s: port %d is not a port of the container", where, port.Int)}
	}
	return nil
}

func podHasPort(d Deployment, target IntOrString) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, cp := range c.Ports {
			if (target.IsString && cp.Name == target.Str) || (!target.IsString && int64(cp.ContainerPort) == target.Int) {
				return true
			}
		}
	}
	return false
}

// checkScalerAddress: KEDA dials "<service>.<namespace>.svc[.<domain>]:<port>"; the Service must
// be rendered and that port must reach the scaler's KEDA listener (container port grpc-keda).
func checkScalerAddress(where, addr string, o *Objects, fromNS string) []string {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return []string{fmt.Sprintf("%s: scalerAddress %q is not host:port", where, addr)}
	}
	port, _ := strconv.Atoi(portText)
	labels := strings.Split(host, ".")
	svcName, ns := labels[0], fromNS
	if len(labels) > 1 {
		ns = labels[1]
	}
	if len(labels) > 2 && labels[2] != "svc" {
		return []string{fmt.Sprintf("%s: scalerAddress host %q is not a Service DNS name", where, host)}
	}
	for _, s := range o.Services {
		if s.Metadata.Name != svcName || s.Metadata.Namespace != ns {
			continue
		}
		if s.Spec.ClusterIP == "None" {
			return []string{fmt.Sprintf("%s: scalerAddress %q is a headless Service; KEDA keeps one connection, use the ClusterIP Service", where, addr)}
		}
		for _, sp := range s.Spec.Ports {
			if int(sp.Port) == port {
				if sp.TargetPort.String() != "grpc-keda" {
					return []string{fmt.Sprintf("%s: scalerAddress port %d reaches %s, not the KEDA listener grpc-keda", where, port, sp.TargetPort)}
				}
				return nil
			}
		}
		return []string{fmt.Sprintf("%s: Service %s has no port %d", where, svcName, port)}
	}
	return []string{fmt.Sprintf("%s: scalerAddress %q names no rendered Service", where, addr)}
}

// lookupPath reads "a.b.c" from nested values.
func lookupPath(m map[string]interface{}, path string) interface{} {
	var cur interface{} = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]interface{})
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// ruleSet flattens RBAC rules into sorted "group/resource:verb" strings.
func ruleSet(rules []PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, g+"/"+res+":"+v)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func sameStrings(a, b []string) bool {
	a2 := append([]string{}, a...)
	b2 := append([]string{}, b...)
	sort.Strings(a2)
	sort.Strings(b2)
	return reflect.DeepEqual(a2, b2)
}

// checkRestricted applies the Pod Security Standards "restricted" profile to one container, so
// the chart installs into namespaces labelled pod-security.kubernetes.io/enforce: restricted.
func checkRestricted(where string, ps PodSpec, c Container) []string {
	var p []string
	podNonRoot, _ := ps.SecurityContext["runAsNonRoot"].(bool)
	podSeccomp, _ := ps.SecurityContext["seccompProfile"].(map[string]interface{})
	sc := c.SecurityContext
	if sc == nil {
		sc = &SecurityContext{}
	}
	if !(podNonRoot || (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)) || (sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot) {
		p = append(p, where+": restricted profile: runAsNonRoot must be true")
	}
	if uid, ok := ps.SecurityContext["runAsUser"].(float64); ok && uid == 0 {
		p = append(p, where+": restricted profile: runAsUser 0")
	}
	seccomp := ""
	if podSeccomp != nil {
		seccomp, _ = podSeccomp["type"].(string)
	}
	if t := sc.SeccompProfile["type"]; t != "" {
		seccomp = t
	}
	if seccomp != "RuntimeDefault" && seccomp != "Localhost" {
		p = append(p, where+": restricted profile: seccompProfile.type must be RuntimeDefault or Localhost")
	}
	dropAll := false
	if sc.Capabilities != nil {
		for _, d := range sc.Capabilities.Drop {
			dropAll = dropAll || d == "ALL"
		}
		for _, a := range sc.Capabilities.Add {
			if a != "NET_BIND_SERVICE" {
				p = append(p, where+": restricted profile: may add only NET_BIND_SERVICE, adds "+a)
			}
		}
	}
	if !dropAll {
		p = append(p, where+": restricted profile: capabilities must drop ALL")
	}
	if sc.Privileged != nil && *sc.Privileged {
		p = append(p, where+": privileged")
	}
	return p
}
