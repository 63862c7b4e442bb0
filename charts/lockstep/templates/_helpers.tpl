{{/*
Names, labels, images, addresses and value checks shared by every template.
*/}}

{{- define "lockstep.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name prefix: at most 47 characters, so "<fullname>-scaler-headless" stays a valid
     Service name (63). */}}
{{- define "lockstep.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lockstep.scaler.fullname" -}}{{ include "lockstep.fullname" . }}-scaler{{- end -}}
{{- define "lockstep.scaler.headless" -}}{{ include "lockstep.fullname" . }}-scaler-headless{{- end -}}
{{- define "lockstep.proxy.fullname" -}}{{ include "lockstep.fullname" . }}-proxy{{- end -}}
{{- define "lockstep.proxy.admin" -}}{{ include "lockstep.fullname" . }}-proxy-admin{{- end -}}

{{- define "lockstep.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "lockstep.labels" -}}
helm.sh/chart: {{ include "lockstep.chart" . }}
app.kubernetes.io/name: {{ include "lockstep.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lockstep
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "scaler"). These
     never change across upgrades (a Deployment's selector is immutable). */}}
{{- define "lockstep.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lockstep.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lockstep.componentLabels" -}}
{{ include "lockstep.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lockstep.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lockstep.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image reference; call with (dict "root" $ "override" .Values.scaler.image). */}}
{{- define "lockstep.image" -}}
{{- $img := mergeOverwrite (deepCopy .root.Values.image) (default dict .override) -}}
{{- $repo := required "image.repository is required" $img.repository -}}
{{- $ref := ternary (printf "%s/%s" $img.registry $repo) $repo (ne (toString (default "" $img.registry)) "") -}}
{{- if $img.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" $img.digest) -}}
{{- fail (printf "image digest %q must be sha256: followed by 64 lower-case hex digits" $img.digest) -}}
{{- end -}}
{{- printf "%s@%s" $ref $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (default .root.Chart.AppVersion (toString (default "" $img.tag))) -}}
{{- end -}}
{{- end -}}

{{- define "lockstep.imagePullPolicy" -}}
{{- $img := mergeOverwrite (deepCopy .root.Values.image) (default dict .override) -}}
{{- $img.pullPolicy -}}
{{- end -}}

{{/* In-cluster DNS names. */}}
{{- define "lockstep.scaler.serviceFQDN" -}}
{{- printf "%s.%s.svc.%s" (include "lockstep.scaler.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}
{{- define "lockstep.scaler.headlessFQDN" -}}
{{- printf "%s.%s.svc.%s" (include "lockstep.scaler.headless" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* What KEDA dials: the ScaledObjects' `scalerAddress`. */}}
{{- define "lockstep.scaler.kedaAddress" -}}
{{- printf "%s:%d" (include "lockstep.scaler.serviceFQDN" .) (int .Values.scaler.ports.keda) -}}
{{- end -}}


{{/* TLS Secret names: the ones cert-manager writes, or the ones given. */}}
{{- define "lockstep.tls.scalerSecret" -}}
{{- if .Values.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "lockstep.scaler.fullname" .) -}}
{{- else -}}
{{- required "tls.secrets.scaler is required when tls.enabled is true and tls.certManager.enabled is false" .Values.tls.secrets.scaler -}}
{{- end -}}
{{- end -}}
{{- define "lockstep.tls.proxyClientSecret" -}}
{{- if .Values.tls.certManager.enabled -}}
{{- printf "%s-client-tls" (include "lockstep.proxy.fullname" .) -}}
{{- else -}}
{{- required "tls.secrets.proxyClient is required when tls.enabled is true and tls.certManager.enabled is false (the proxies read ca.crt from it, and tls.crt/tls.key when tls.ingest.clientAuth is true)" .Values.tls.secrets.proxyClient -}}
{{- end -}}
{{- end -}}
{{- define "lockstep.tls.kedaClientSecret" -}}
{{- if .Values.tls.certManager.enabled -}}
{{- printf "%s-keda-client-tls" (include "lockstep.fullname" .) -}}
{{- else -}}
{{- required "tls.secrets.kedaClient is required when tls.keda.clientAuth is true and tls.certManager.enabled is false" .Values.tls.secrets.kedaClient -}}
{{- end -}}
{{- end -}}
{{- define "lockstep.tls.issuerName" -}}
{{- default (printf "%s-ca" (include "lockstep.fullname" .)) .Values.tls.certManager.issuerRef.name -}}
{{- end -}}

{{/* Pod anti-affinity from "soft" | "hard" | "none"; call with (dict "root" $ "component" "scaler" "mode" .Values.scaler.antiAffinity). */}}
{{- define "lockstep.antiAffinity" -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "lockstep.selectorLabels" . | fromYaml)) -}}
{{- if eq .mode "soft" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        {{- toYaml $term | nindent 8 }}
{{- else if eq .mode "hard" -}}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - {{- toYaml $term | nindent 6 }}
{{- else if ne .mode "none" -}}
{{- fail (printf "%s.antiAffinity must be soft, hard or none, got %q" .component .mode) -}}
{{- end -}}
{{- end -}}

{{/* PodDisruptionBudget spec body; call with (dict "root" $ "component" "scaler" "pdb" .Values.scaler.pdb). */}}
{{- define "lockstep.pdbSpec" -}}
{{- if not (kindIs "invalid" .pdb.minAvailable) -}}
minAvailable: {{ .pdb.minAvailable }}
{{- else -}}
maxUnavailable: {{ required (printf "%s.pdb.maxUnavailable or %s.pdb.minAvailable is required" .component .component) .pdb.maxUnavailable }}
{{- end }}
selector:
  matchLabels:
    {{- include "lockstep.selectorLabels" . | nindent 4 }}
{{- end -}}

{{/* Checks across values that a schema cannot express; rendered (empty) by every template that
     depends on them, so a bad combination fails `helm install` with a message naming the keys. */}}
{{- define "lockstep.validate" -}}
{{- range $component := list "scaler" "proxy" -}}
{{- $ports := (index $.Values $component).ports -}}
{{- range $name, $port := $ports -}}
{{- if or (lt (int $port) 1) (gt (int $port) 65535) -}}
{{- fail (printf "%s.ports.%s must be between 1 and 65535, got %v" $component $name $port) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with .Values.scaler.ports -}}
{{- if or (eq (int .keda) (int .ingest)) (eq (int .keda) (int .admin)) (eq (int .ingest) (int .admin)) -}}
{{- fail "scaler.ports.keda, scaler.ports.ingest and scaler.ports.admin must be three different ports" -}}
{{- end -}}
{{- end -}}
{{- if eq (int .Values.proxy.ports.http) (int .Values.proxy.ports.admin) -}}
{{- fail "proxy.ports.http and proxy.ports.admin must differ" -}}
{{- end -}}
{{- if lt (int .Values.scaler.replicas) 1 -}}
{{- fail "scaler.replicas must be at least 1" -}}
{{- end -}}
{{- with .Values.proxy.autoscaling -}}
{{- if .enabled -}}
{{- if lt (int .minReplicas) 1 -}}
{{- fail "proxy.autoscaling.minReplicas must be at least 1 (the proxies carry the traffic that would wake them)" -}}
{{- end -}}
{{- if lt (int .maxReplicas) (int .minReplicas) -}}
{{- fail (printf "proxy.autoscaling.maxReplicas (%v) must be >= minReplicas (%v)" .maxReplicas .minReplicas) -}}
{{- end -}}
{{- if le (float64 .targetConcurrency) 0.0 -}}
{{- fail "proxy.autoscaling.targetConcurrency must be > 0" -}}
{{- end -}}
{{- if and .cpuUtilization (not (dig "requests" "cpu" "" $.Values.proxy.resources)) -}}
{{- fail "proxy.autoscaling.cpuUtilization needs proxy.resources.requests.cpu (utilization is relative to the request)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.certManager.enabled) -}}
{{- $s := .Values.tls.secrets -}}
{{- if or (not $s.scaler) (not $s.proxyClient) (and .Values.tls.keda.enabled .Values.tls.keda.clientAuth (not $s.kedaClient)) -}}
{{- fail "tls.enabled with tls.certManager.enabled false needs your Secrets: tls.secrets.scaler and tls.secrets.proxyClient (and tls.secrets.kedaClient when tls.keda.clientAuth is true)" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.tls.enabled .Values.tls.certManager.enabled -}}
{{- if not (has .Values.tls.certManager.issuerRef.kind (list "Issuer" "ClusterIssuer")) -}}
{{- fail (printf "tls.certManager.issuerRef.kind must be Issuer or ClusterIssuer, got %q" .Values.tls.certManager.issuerRef.kind) -}}
{{- end -}}
{{- if not (has .Values.tls.certManager.privateKeyAlgorithm (list "ECDSA" "RSA" "Ed25519")) -}}
{{- fail (printf "tls.certManager.privateKeyAlgorithm must be ECDSA, RSA or Ed25519, got %q" .Values.tls.certManager.privateKeyAlgorithm) -}}
{{- end -}}
{{- end -}}
{{- range $level := list .Values.scaler.logLevel .Values.proxy.logLevel -}}
{{- if not (has $level (list "debug" "info" "warn" "error")) -}}
{{- fail (printf "logLevel must be debug, info, warn or error, got %q" $level) -}}
{{- end -}}
{{- end -}}
{{- if not (hasPrefix "/" .Values.rolloutsPlugin.pluginDir) -}}
{{- fail (printf "rolloutsPlugin.pluginDir must be an absolute path, got %q" .Values.rolloutsPlugin.pluginDir) -}}
{{- end -}}
{{- end -}}

{{/*
The programs' YAML config files. The key names follow docs/configuration.md; `scaler.config` and
`proxy.config` are merged over them, so a key the chart does not know can still be set.
*/}}
{{- define "lockstep.tlsDir" -}}/etc/lockstep/tls{{- end -}}

{{- define "lockstep.scaler.config" -}}
{{- $tls := include "lockstep.tlsDir" . -}}
{{- $keda := dict "listen" (printf "0.0.0.0:%d" (int .Values.scaler.ports.keda)) -}}
{{- $ingest := dict "listen" (printf "0.0.0.0:%d" (int .Values.scaler.ports.ingest)) -}}
{{- $admin := dict "listen" (printf "0.0.0.0:%d" (int .Values.scaler.ports.admin)) -}}
{{- if .Values.tls.enabled -}}
{{- $server := dict "cert_file" (printf "%s/server/tls.crt" $tls) "key_file" (printf "%s/server/tls.key" $tls) -}}
{{- if .Values.tls.keda.enabled -}}
{{- $t := deepCopy $server -}}
{{- if .Values.tls.keda.clientAuth -}}
{{- $_ := set $t "client_ca_file" (printf "%s/server/ca.crt" $tls) -}}
{{- end -}}
{{- $_ := set $keda "tls" $t -}}
{{- end -}}
{{- $t := deepCopy $server -}}
{{- if .Values.tls.ingest.clientAuth -}}
{{- $_ := set $t "client_ca_file" (printf "%s/server/ca.crt" $tls) -}}
{{- end -}}
{{- $_ := set $ingest "tls" $t -}}
{{- end -}}
{{- /* The Kubernetes source (rollout/rollout_settings.cc, bound into the scaler's config): watch
       what RBAC allows, and treat as lockstep's only the triggers whose scalerAddress is this
       release's scaler Service (its .svc forms match too). */ -}}
{{- $kube := dict "namespaces" (join "," .Values.watch.namespaces) "scaled_object_selector" .Values.watch.labelSelector -}}
{{- $routes := dict "scaler_hosts" (printf "%s.%s" (include "lockstep.scaler.fullname" .) .Release.Namespace) -}}
{{- $cfg := dict "log_level" .Values.scaler.logLevel "keda" $keda "ingest" $ingest "admin" $admin
      "source" (dict "mode" "kubernetes") "kubernetes" $kube "routes" $routes -}}
{{- toYaml (mergeOverwrite $cfg (deepCopy .Values.scaler.config)) -}}
{{- end -}}

{{- define "lockstep.proxy.config" -}}
{{- $tls := include "lockstep.tlsDir" . -}}
{{- $cfg := dict
      "listen" (printf "0.0.0.0:%d" (int .Values.proxy.ports.http))
      "adminListen" (printf "0.0.0.0:%d" (int .Values.proxy.ports.admin))
      "scalerDns" (printf "%s:%d" (include "lockstep.scaler.headlessFQDN" .) (int .Values.scaler.ports.ingest))
      "logLevel" .Values.proxy.logLevel
      "fleet" (printf "%s/%s" .Release.Namespace (include "lockstep.proxy.fullname" .))
      "timeouts" (dict "shutdownDelay" .Values.proxy.shutdownDelay "drain" .Values.proxy.drainTimeout) -}}
{{- /* A container sees every core of its node; with a CPU limit, run one worker per limited core. */ -}}
{{- with (dig "limits" "cpu" "" .Values.proxy.resources) -}}
{{- $cpu := toString . -}}
{{- $cores := 0.0 -}}
{{- if hasSuffix "m" $cpu -}}
{{- $cores = divf (float64 (trimSuffix "m" $cpu)) 1000.0 -}}
{{- else -}}
{{- $cores = float64 $cpu -}}
{{- end -}}
{{- $_ := set $cfg "workers" (max 1 (int (ceil $cores))) -}}
{{- end -}}
{{- if .Values.tls.enabled -}}
{{- $scalerTls := dict "serverName" (include "lockstep.scaler.headlessFQDN" .) "caFile" (printf "%s/client/ca.crt" $tls) -}}
{{- if .Values.tls.ingest.clientAuth -}}
{{- $_ := set $scalerTls "certFile" (printf "%s/client/tls.crt" $tls) -}}
{{- $_ := set $scalerTls "keyFile" (printf "%s/client/tls.key" $tls) -}}
{{- end -}}
{{- $_ := set $cfg "scalerTls" $scalerTls -}}
{{- end -}}
{{- toYaml (mergeOverwrite $cfg (deepCopy .Values.proxy.config)) -}}
{{- end -}}

{{/* The plugin's flags naming this release's scaler (VerifyWeight asks its ready replicas). */}}
{{- define "lockstep.pluginArgs" -}}
- --scaler-service={{ include "lockstep.scaler.fullname" . }}
- --scaler-namespace={{ .Release.Namespace }}
- --scaler-admin-port=http-admin
{{- end -}}
