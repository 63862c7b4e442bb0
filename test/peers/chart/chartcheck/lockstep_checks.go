// What lockstep's chart in particular must render for given values: the scaler and proxy wiring
// (ports, addresses, config files), RBAC exactly as intended, TLS material where the programs
// look for it, autoscaling of the proxies through the scaler, monitoring objects.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"sigs.k8s.io/yaml"
)

func runCheck(c *common) []string {
	ch, vals, out, err := c.render(false)
	if err != nil {
		return []string{"render: " + err.Error()}
	}
	var p []string
	// Strict mode (every key the templates read exists in values.yaml) must render the same.
	if _, _, strictOut, err := c.render(true); err != nil {
		p = append(p, "strict render (a template reads a key values.yaml lacks): "+err.Error())
	} else if !reflect.DeepEqual(out, strictOut) {
		p = append(p, "strict and non-strict renders differ")
	}
	for _, r := range out {
		if strings.Contains(r.Text, "<no value>") {
			p = append(p, r.Template+": contains <no value>")
		}
	}
	o, decodeProblems := Decode(out)
	p = append(p, decodeProblems...)
	p = append(p, CheckObjects(o, vals, c.namespace)...)
	p = append(p, checkLockstep(ch, o, vals, c)...)
	if c.promtool != "" && len(o.PrometheusRules) > 0 {
		for _, pr := range o.PrometheusRules {
			data, _ := yaml.Marshal(map[string]interface{}{"groups": pr.Spec.Groups})
			p = append(p, promtoolCheckRules(c, "prometheusrule-"+pr.Metadata.Name+".yaml", data)...)
		}
	}
	if len(o.Docs) == 0 {
		p = append(p, "nothing rendered")
	}
	fmt.Printf("rendered %d objects from %d templates\n", len(o.Docs), len(out))
	return p
}

func runExpectFailure(c *common, expect string) []string {
	if expect == "" && len(c.values) > 0 {
		// The values file states its own expectation on a "# expect: <text>" line.
		if data, err := os.ReadFile(c.values[0]); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(line, "# expect: ") {
					expect = strings.TrimSpace(strings.TrimPrefix(line, "# expect: "))
				}
			}
		}
	}
	if expect == "" {
		return []string{"--expect (or a \"# expect: \" line in the values file) is required"}
	}
	_, _, _, err := c.render(false)
	if err == nil {
		return []string{fmt.Sprintf("render succeeded, expected a failure containing %q", expect)}
	}
	if !strings.Contains(err.Error(), expect) {
		return []string{fmt.Sprintf("render failed with %q, expected it to contain %q", err.Error(), expect)}
	}
	fmt.Printf("failed as expected: %s\n", err)
	return nil
}

func str(v interface{}) string {
	if v == nil {
		return ""
	}
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprint(v)
}

func boolAt(vals map[string]interface{}, path string) bool {
	b, _ := lookupPath(vals, path).(bool)
	return b
}

func findDeployment(o *Objects, name string) *Deployment {
	for i := range o.Deployments {
		if o.Deployments[i].Metadata.Name == name {
			return &o.Deployments[i]
		}
	}
	return nil
}

func findService(o *Objects, name string) *Service {
	for i := range o.Services {
		if o.Services[i].Metadata.Name == name {
			return &o.Services[i]
		}
	}
	return nil
}

func containerPort(c Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// configOf returns the parsed --config file of a container.
func configOf(o *Objects, d *Deployment, c Container) (map[string]interface{}, string) {
	for _, a := range c.Args {
		if !strings.HasPrefix(a, "--config=") {
			continue
		}
		path := strings.TrimPrefix(a, "--config=")
		for _, m := range c.VolumeMounts {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name != m.Name || v.ConfigMap == nil || !strings.HasPrefix(path, m.MountPath+"/") {
					continue
				}
				for _, cm := range o.ConfigMaps {
					if cm.Metadata.Name == v.ConfigMap.Name {
						text := cm.Data[strings.TrimPrefix(path, m.MountPath+"/")]
						parsed := map[string]interface{}{}
						_ = yaml.Unmarshal([]byte(text), &parsed)
						return parsed, text
					}
				}
			}
		}
	}
	return nil, ""
}

// mountedFile: the path lies in a Secret volume's mount and names a key the Secret will have.
func mountedFile(d *Deployment, c Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(path, m.MountPath+"/") {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				key := strings.TrimPrefix(path, m.MountPath+"/")
				return key == "tls.crt" || key == "tls.key" || key == "ca.crt"
			}
		}
	}
	return false
}

func checkLockstep(ch *Chart, o *Objects, vals map[string]interface{}, c *common) []string {
	var p []string
	add := func(format string, a ...interface{}) { p = append(p, fmt.Sprintf(format, a...)) }
	ns := c.namespace
	full := c.release
	if !strings.Contains(c.release, ch.Metadata.Name) {
		full = c.release + "-" + ch.Metadata.Name
	}
	if fo := str(lookupPath(vals, "fullnameOverride")); fo != "" {
		full = fo
	}
	domain := str(lookupPath(vals, "clusterDomain"))
	tlsOn := boolAt(vals, "tls.enabled")
	kedaTLS := tlsOn && boolAt(vals, "tls.keda.enabled")

	// ---- scaler
	scaler := findDeployment(o, full+"-scaler")
	if scaler == nil {
		return append(p, "no scaler Deployment "+full+"-scaler")
	}
	if scaler.Spec.Replicas == nil || str(lookupPath(vals, "scaler.replicas")) != fmt.Sprint(*scaler.Spec.Replicas) {
		add("scaler replicas %v, values say %s", scaler.Spec.Replicas, str(lookupPath(vals, "scaler.replicas")))
	}
	if a := str(lookupPath(vals, "scaler.antiAffinity")); a != "none" && len(scaler.Spec.Template.Spec.Affinity) == 0 {
		add("scaler: antiAffinity %q but no affinity rendered", a)
	}
	if ru := scaler.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" {
		add("scaler: a rolling update must not take a replica down before its successor is up (maxUnavailable 0)")
	}
	sc := scaler.Spec.Template.Spec.Containers[0]
	kedaPort := containerPort(sc, "grpc-keda")
	ingestPort := containerPort(sc, "grpc-ingest")
	adminPort := containerPort(sc, "http-admin")
	for name, port := range map[string]int32{"keda": kedaPort, "ingest": ingestPort, "admin": adminPort} {
		if str(lookupPath(vals, "scaler.ports."+name)) != fmt.Sprint(port) {
			add("scaler container port for %s is %d, values say %s", name, port, str(lookupPath(vals, "scaler.ports."+name)))
		}
	}
	if sc.LivenessProbe != nil {
		if kedaTLS {
			if sc.LivenessProbe.HTTPGet == nil {
				add("scaler: with TLS on the KEDA listener the liveness probe must be HTTP (grpc probes speak plaintext)")
			}
		} else if sc.LivenessProbe.GRPC == nil || sc.LivenessProbe.GRPC.Port != kedaPort {
			add("scaler: the liveness probe must be a grpc probe on the KEDA port %d", kedaPort)
		}
	}
	if sc.StartupProbe == nil {
		add("scaler: no startup probe")
	}
	if rp := sc.ReadinessProbe; rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Path != "/readyz" || rp.HTTPGet.Port.String() != "http-admin" {
		add("scaler: readiness must be GET /readyz on http-admin")
	}
	if scaler.Spec.Template.Spec.AutomountServiceAccountToken == nil || !*scaler.Spec.Template.Spec.AutomountServiceAccountToken {
		add("scaler: needs its ServiceAccount token to watch the API")
	}
	scfg, stext := configOf(o, scaler, sc)
	if scfg == nil {
		add("scaler: no config file")
	} else {
		want := map[string]string{"keda": fmt.Sprintf("0.0.0.0:%d", kedaPort), "ingest": fmt.Sprintf("0.0.0.0:%d", ingestPort), "admin": fmt.Sprintf("0.0.0.0:%d", adminPort)}
		for k, v := range want {
			if got := str(lookupPath(scfg, k+".listen")); got != v {
				add("scaler config %s.listen = %q, container port says %q", k, got, v)
			}
		}
		// The source: Kubernetes, scoped like the RBAC, claiming only triggers aimed at this scaler.
		if str(lookupPath(scfg, "source.mode")) != "kubernetes" {
			add("scaler config source.mode = %q, want kubernetes", str(lookupPath(scfg, "source.mode")))
		}
		var nsList []string
		for _, n := range watchNSValues(vals) {
			nsList = append(nsList, n)
		}
		if got := str(lookupPath(scfg, "kubernetes.namespaces")); got != strings.Join(nsList, ",") {
			add("scaler config kubernetes.namespaces = %q, but RBAC covers %v", got, nsList)
		}
		if got := str(lookupPath(scfg, "kubernetes.scaled_object_selector")); got != str(lookupPath(vals, "watch.labelSelector")) {
			add("scaler config kubernetes.scaled_object_selector = %q does not follow watch.labelSelector", got)
		}
		if got, want := str(lookupPath(scfg, "routes.scaler_hosts")), full+"-scaler."+ns; got != want {
			add("scaler config routes.scaler_hosts = %q, want %q (the host of the ScaledObjects' scalerAddress)", got, want)
		}
		if sum := sha256.Sum256([]byte(strings.TrimSuffix(stext, "\n"))); scaler.Spec.Template.Metadata.Annotations["checksum/config"] != hex.EncodeToString(sum[:]) {
			add("scaler: checksum/config annotation does not match the config, pods would not roll on a config change")
		}
		if tlsOn {
			for _, l := range []string{"keda", "ingest"} {
				if l == "keda" && !kedaTLS {
					continue
				}
				for _, f := range []string{"cert_file", "key_file"} {
					if path := str(lookupPath(scfg, l+".tls."+f)); !mountedFile(scaler, sc, path) {
						add("scaler config %s.tls.%s = %q is not a file of a mounted Secret", l, f, path)
					}
				}
			}
			if boolAt(vals, "tls.ingest.clientAuth") && !mountedFile(scaler, sc, str(lookupPath(scfg, "ingest.tls.client_ca_file"))) {
				add("scaler config: ingest client auth without a mounted client CA")
			}
			if kedaTLS && boolAt(vals, "tls.keda.clientAuth") && !mountedFile(scaler, sc, str(lookupPath(scfg, "keda.tls.client_ca_file"))) {
				add("scaler config: KEDA client auth without a mounted client CA")
			}
		} else if lookupPath(scfg, "keda.tls") != nil || lookupPath(scfg, "ingest.tls") != nil {
			add("scaler config has tls while tls.enabled is false")
		}
	}

	svc := findService(o, full+"-scaler")
	headless := findService(o, full+"-scaler-headless")
	if svc == nil || headless == nil {
		add("scaler Services %s-scaler and %s-scaler-headless must both be rendered", full, full)
	} else {
		if svc.Spec.ClusterIP == "None" {
			add("scaler Service must not be headless: KEDA keeps one connection per address")
		}
		if headless.Spec.ClusterIP != "None" || !headless.Spec.PublishNotReadyAddresses {
			add("headless scaler Service needs clusterIP None and publishNotReadyAddresses (syncing replicas must receive reports)")
		}
		seen := map[string]bool{}
		for _, sp := range svc.Spec.Ports {
			seen[sp.TargetPort.String()] = true
		}
		for _, want := range []string{"grpc-keda", "grpc-ingest", "http-admin"} {
			if !seen[want] {
				add("scaler Service lacks a port to %s (the plugin and Prometheus find replicas through it)", want)
			}
		}
	}

	// ---- proxy
	proxy := findDeployment(o, full+"-proxy")
	if proxy == nil {
		return append(p, "no proxy Deployment "+full+"-proxy")
	}
	pc := proxy.Spec.Template.Spec.Containers[0]
	if t := proxy.Spec.Template.Spec.AutomountServiceAccountToken; t == nil || *t {
		add("proxy: must not mount a ServiceAccount token (it never talks to the API)")
	}
	if str(lookupPath(vals, "proxy.ports.http")) != fmt.Sprint(containerPort(pc, "http")) {
		add("proxy http port does not follow proxy.ports.http")
	}
	pcfg, ptext := configOf(o, proxy, pc)
	if pcfg == nil {
		add("proxy: no config file")
	} else {
		wantAddr := fmt.Sprintf("%s-scaler-headless.%s.svc.%s:%d", full, ns, domain, ingestPort)
		if got := str(lookupPath(pcfg, "scalerDns")); got != wantAddr {
			add("proxy config scalerDns = %q, want %q (the headless Service on the ingest port)", got, wantAddr)
		}
		if got := str(lookupPath(pcfg, "listen")); got != fmt.Sprintf("0.0.0.0:%d", containerPort(pc, "http")) {
			add("proxy config listen = %q does not match the http container port", got)
		}
		if got := str(lookupPath(pcfg, "adminListen")); got != fmt.Sprintf("0.0.0.0:%d", containerPort(pc, "http-admin")) {
			add("proxy config adminListen = %q does not match the http-admin container port", got)
		}
		if headless != nil {
			ok := false
			for _, sp := range headless.Spec.Ports {
				ok = ok || (int32(sp.Port) == ingestPort && sp.TargetPort.String() == "grpc-ingest")
			}
			if !ok {
				add("headless Service does not expose port %d → grpc-ingest", ingestPort)
			}
		}
		// With a CPU limit, one worker per limited core (rounded up); else the proxy's default.
		wantWorkers := ""
		if cpu := pc.Resources.Limits["cpu"]; cpu != "" {
			var cores float64
			if strings.HasSuffix(cpu, "m") {
				fmt.Sscanf(strings.TrimSuffix(cpu, "m"), "%g", &cores)
				cores /= 1000
			} else {
				fmt.Sscanf(cpu, "%g", &cores)
			}
			wantWorkers = fmt.Sprint(int(math.Max(1, math.Ceil(cores))))
		}
		if _, userSet := lookupPath(vals, "proxy.config.workers").(float64); !userSet && str(lookupPath(pcfg, "workers")) != wantWorkers {
			add("proxy config workers = %q, want %q for CPU limit %q", str(lookupPath(pcfg, "workers")), wantWorkers, pc.Resources.Limits["cpu"])
		}
		if sum := sha256.Sum256([]byte(strings.TrimSuffix(ptext, "\n"))); proxy.Spec.Template.Metadata.Annotations["checksum/config"] != hex.EncodeToString(sum[:]) {
			add("proxy: checksum/config annotation does not match the config")
		}
		if tlsOn {
			serverName := str(lookupPath(pcfg, "scalerTls.serverName"))
			if serverName != fmt.Sprintf("%s-scaler-headless.%s.svc.%s", full, ns, domain) {
				add("proxy config scalerTls.serverName = %q is not the headless Service name", serverName)
			}
			files := []string{"caFile"}
			if boolAt(vals, "tls.ingest.clientAuth") {
				files = append(files, "certFile", "keyFile")
			}
			for _, f := range files {
				if path := str(lookupPath(pcfg, "scalerTls."+f)); !mountedFile(proxy, pc, path) {
					add("proxy config scalerTls.%s = %q is not a file of a mounted Secret", f, path)
				}
			}
			if boolAt(vals, "tls.certManager.enabled") {
				p = append(p, certCovers(o, full+"-scaler-tls", serverName)...)
			}
		}
	}

	// ---- the proxies' ScaledObject
	autoscale := boolAt(vals, "proxy.autoscaling.enabled")
	var proxySO *ScaledObject
	for i := range o.ScaledObjects {
		if o.ScaledObjects[i].Spec.ScaleTargetRef.Name == full+"-proxy" {
			proxySO = &o.ScaledObjects[i]
		}
	}
	switch {
	case autoscale && proxySO == nil:
		add("proxy.autoscaling.enabled but no ScaledObject targets the proxy Deployment")
	case !autoscale && proxySO != nil:
		add("proxy.autoscaling disabled but a ScaledObject is rendered")
	case !autoscale && proxy.Spec.Replicas == nil:
		add("proxy.autoscaling disabled: the Deployment needs spec.replicas")
	case proxySO != nil:
		t := proxySO.Spec.Triggers[0]
		if t.Metadata["scalingMetric"] != "concurrency" || t.Metadata["proxyFleet"] != ns+"/"+full+"-proxy" {
			add("proxy ScaledObject must scale on the fleet's concurrency, got %v", t.Metadata)
		}
		if t.Metadata["targetValue"] != str(lookupPath(vals, "proxy.autoscaling.targetConcurrency")) &&
			t.Metadata["targetValue"] != fmt.Sprint(lookupPath(vals, "proxy.autoscaling.targetConcurrency")) {
			add("proxy ScaledObject targetValue %q does not follow proxy.autoscaling.targetConcurrency", t.Metadata["targetValue"])
		}
		if kedaTLS != (t.AuthenticationRef != nil) {
			add("proxy ScaledObject: authenticationRef (the CA for KEDA) must be set exactly when the KEDA listener uses TLS")
		}
		if boolAt(vals, "tls.certManager.enabled") && kedaTLS {
			host := strings.Split(t.Metadata["scalerAddress"], ":")[0]
			p = append(p, certCovers(o, full+"-scaler-tls", host)...)
		}
	}

	// ---- RBAC, exactly
	scalerRules := []string{
		"keda.sh/scaledobjects:get", "keda.sh/scaledobjects:list", "keda.sh/scaledobjects:watch",
		"argoproj.io/rollouts:get", "argoproj.io/rollouts:list", "argoproj.io/rollouts:watch",
		"/services:get", "/services:list", "/services:watch",
		"discovery.k8s.io/endpointslices:get", "discovery.k8s.io/endpointslices:list", "discovery.k8s.io/endpointslices:watch",
	}
	expected := map[string][]string{} // kind/ns/name -> rules
	watchNS, _ := lookupPath(vals, "watch.namespaces").([]interface{})
	if boolAt(vals, "rbac.create") {
		if len(watchNS) == 0 {
			expected["ClusterRole//"+full+"-scaler"] = scalerRules
		}
		for _, n := range watchNS {
			expected["Role/"+str(n)+"/"+full+"-scaler"] = scalerRules
		}
	}
	if boolAt(vals, "rolloutsPlugin.rbac") {
		expected["ClusterRole//"+full+"-rollouts-plugin"] = []string{"keda.sh/scaledobjects:get", "keda.sh/scaledobjects:patch"}
		expected["Role/"+ns+"/"+full+"-rollouts-plugin"] = []string{"discovery.k8s.io/endpointslices:get", "discovery.k8s.io/endpointslices:list"}
	}
	got := map[string]bool{}
	for _, r := range o.Roles {
		key := r.Kind + "/" + r.Metadata.Namespace + "/" + r.Metadata.Name
		got[key] = true
		want, ok := expected[key]
		if !ok {
			add("unexpected %s", key)
			continue
		}
		if !sameStrings(ruleSet(r.Rules), want) {
			add("%s grants %v, intended exactly %v", key, ruleSet(r.Rules), want)
		}
	}
	for key := range expected {
		if !got[key] {
			add("missing %s", key)
		}
	}
	saName := full
	if n := str(lookupPath(vals, "serviceAccount.name")); n != "" {
		saName = n
	}
	controllerSA := str(lookupPath(vals, "rolloutsPlugin.controllerNamespace")) + "/" + str(lookupPath(vals, "rolloutsPlugin.controllerServiceAccount"))
	for _, b := range o.Bindings {
		for _, s := range b.Subjects {
			who := s.Namespace + "/" + s.Name
			if strings.HasSuffix(b.RoleRef.Name, "-scaler") && who != ns+"/"+saName {
				add("%s %s binds %s, not the chart's ServiceAccount", b.Kind, b.Metadata.Name, who)
			}
			if strings.HasSuffix(b.RoleRef.Name, "-rollouts-plugin") && who != controllerSA {
				add("%s %s binds %s, not the Argo Rollouts controller %s", b.Kind, b.Metadata.Name, who, controllerSA)
			}
		}
	}

	// ---- PDBs
	for _, comp := range []string{"scaler", "proxy"} {
		want := boolAt(vals, comp+".pdb.enabled")
		found := false
		for _, b := range o.PDBs {
			found = found || b.Metadata.Name == full+"-"+comp
		}
		if want != found {
			add("%s PDB rendered=%v, values say %v", comp, found, want)
		}
	}

	// ---- monitoring
	if boolAt(vals, "metrics.serviceMonitor.enabled") {
		jobs := map[string]bool{}
		for _, sm := range o.ServiceMonitors {
			for _, s := range o.Services {
				if selectorMatches(sm.Spec.Selector.MatchLabels, s.Metadata.Labels) {
					jobs[s.Metadata.Labels[sm.Spec.JobLabel]] = true
				}
			}
		}
		if !jobs["lockstep-scaler"] || !jobs["lockstep-proxy"] {
			add("ServiceMonitors must yield jobs lockstep-scaler and lockstep-proxy (the alerts name them), got %v", jobs)
		}
	} else if len(o.ServiceMonitors) > 0 {
		add("ServiceMonitors rendered while disabled")
	}
	if boolAt(vals, "metrics.prometheusRule.enabled") != (len(o.PrometheusRules) == 1) {
		add("PrometheusRule rendered %d times, enabled=%v", len(o.PrometheusRules), boolAt(vals, "metrics.prometheusRule.enabled"))
	}
	for _, pr := range o.PrometheusRules {
		disabled, _ := lookupPath(vals, "metrics.prometheusRule.disabledAlerts").([]interface{})
		extra, _ := lookupPath(vals, "metrics.prometheusRule.alertLabels").(map[string]interface{})
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				for _, d := range disabled {
					if r.Alert == str(d) {
						add("PrometheusRule keeps disabled alert %s", r.Alert)
					}
				}
				for k, v := range extra {
					if r.Labels[k] != str(v) {
						add("PrometheusRule alert %s lacks alertLabels %s=%v", r.Alert, k, v)
					}
				}
			}
		}
	}
	var dash *ConfigMap
	for i, cm := range o.ConfigMaps {
		if cm.Metadata.Name == full+"-dashboard" {
			dash = &o.ConfigMaps[i]
		}
	}
	if boolAt(vals, "dashboards.enabled") {
		if dash == nil {
			add("dashboards.enabled but no dashboard ConfigMap")
		} else {
			if dash.Metadata.Labels["grafana_dashboard"] != "1" {
				add("dashboard ConfigMap lacks the Grafana sidecar label grafana_dashboard: \"1\"")
			}
			var js map[string]interface{}
			if err := json.Unmarshal([]byte(dash.Data["lockstep.json"]), &js); err != nil {
				add("dashboard ConfigMap: lockstep.json is not JSON: %v", err)
			}
			if dash.Data["lockstep.json"] != strings.TrimSuffix(ch.Files.Get("dashboards/lockstep.json"), "\n") {
				add("dashboard ConfigMap content differs from dashboards/lockstep.json")
			}
			if len(dash.Data["lockstep.json"]) > 1000000 {
				add("dashboard ConfigMap is over 1 MB (the ConfigMap limit)")
			}
		}
	} else if dash != nil {
		add("dashboard ConfigMap rendered while disabled")
	}

	// ---- The argo-rollouts-config the chart can write: the plugin must find this scaler.
	for _, cm := range o.ConfigMaps {
		if cm.Metadata.Name != "argo-rollouts-config" {
			continue
		}
		var items []map[string]interface{}
		if err := yaml.UnmarshalStrict([]byte(cm.Data["trafficRouterPlugins"]), &items); err != nil || len(items) != 1 {
			add("argo-rollouts-config: trafficRouterPlugins must be a list with the lockstep/http entry: %v", err)
			continue
		}
		if items[0]["name"] != "lockstep/http" || items[0]["location"] != "file://"+str(lookupPath(vals, "rolloutsPlugin.pluginDir"))+"/lockstep-rollouts-plugin" {
			add("argo-rollouts-config: entry %v does not match rolloutsPlugin.pluginDir", items[0])
		}
		p = append(p, checkPluginArgs("argo-rollouts-config", items[0]["args"], o)...)
	}

	// ---- NetworkPolicies: exactly the intended peers per scaler port.
	if boolAt(vals, "networkPolicy.enabled") {
		if len(o.NetworkPolicies) != 2 {
			add("networkPolicy.enabled: expected policies for the scaler and the proxies, got %d", len(o.NetworkPolicies))
		}
		for _, np := range o.NetworkPolicies {
			if np.Metadata.Name != full+"-scaler" {
				continue
			}
			peers := map[string][]string{}
			for _, rule := range np.Spec.Ingress {
				for _, port := range rule.Ports {
					for _, peer := range rule.From {
						switch {
						case peer.PodSelector != nil:
							peers[port.Port.String()] = append(peers[port.Port.String()], "pods:"+peer.PodSelector.MatchLabels["app.kubernetes.io/component"])
						case peer.NamespaceSelector != nil:
							peers[port.Port.String()] = append(peers[port.Port.String()], "ns:"+peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
						}
					}
				}
			}
			keda, _ := lookupPath(vals, "networkPolicy.kedaNamespaceSelector.matchLabels").(map[string]interface{})
			prom, _ := lookupPath(vals, "networkPolicy.prometheusNamespaceSelector.matchLabels").(map[string]interface{})
			want := map[string][]string{
				"grpc-keda":   {"ns:" + str(keda["kubernetes.io/metadata.name"])},
				"grpc-ingest": {"pods:proxy"},
				"http-admin":  {"ns:" + str(prom["kubernetes.io/metadata.name"]), "ns:" + str(lookupPath(vals, "rolloutsPlugin.controllerNamespace"))},
			}
			for port, w := range want {
				if !sameStrings(peers[port], w) {
					add("NetworkPolicy %s: port %s admits %v, intended %v", np.Metadata.Name, port, peers[port], w)
				}
			}
		}
	} else if len(o.NetworkPolicies) > 0 {
		add("NetworkPolicies rendered while networkPolicy.enabled is false")
	}

	// ---- TLS objects appear exactly when asked for.
	if tlsOn && boolAt(vals, "tls.certManager.enabled") {
		if len(o.Certificates) == 0 {
			add("tls with cert-manager but no Certificates")
		}
	} else if len(o.Certificates)+len(o.Issuers) > 0 {
		add("cert-manager objects rendered while tls/cert-manager is off")
	}
	return p
}

// certCovers: the Certificate named certName is valid for host.
func certCovers(o *Objects, certName, host string) []string {
	for _, c := range o.Certificates {
		if c.Metadata.Name != certName {
			continue
		}
		for _, n := range c.Spec.DNSNames {
			if n == host {
				return nil
			}
		}
		return []string{fmt.Sprintf("Certificate %s does not cover %q (dnsNames %v)", certName, host, c.Spec.DNSNames)}
	}
	return []string{fmt.Sprintf("no Certificate %s", certName)}
}

// promtoolCheckRules writes data into the workdir and runs `promtool check rules` on it.
func promtoolCheckRules(c *common, name string, data []byte) []string {
	dir := c.workdir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return []string{err.Error()}
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return []string{err.Error()}
	}
	out, err := runCommand(c.promtool, "check", "rules", path)
	if err != nil {
		return []string{fmt.Sprintf("promtool check rules %s: %v\n%s", path, err, out)}
	}
	fmt.Printf("promtool check rules %s: ok\n", name)
	return nil
}

func watchNSValues(vals map[string]interface{}) []string {
	list, _ := lookupPath(vals, "watch.namespaces").([]interface{})
	var out []string
	for _, n := range list {
		out = append(out, str(n))
	}
	return out
}
