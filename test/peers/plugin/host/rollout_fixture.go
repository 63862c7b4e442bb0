package main

// A production-shaped Rollout: canary strategy with steps, traffic routing through the lockstep
// plugin, a full pod template (init + app + sidecar containers, probes, volumes of several
// kinds, affinity, tolerations, topology spread), managedFields, and a status with weights and
// timestamps.

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

func i32(v int32) *int32    { return &v }
func i64(v int64) *int64    { return &v }
func boolp(v bool) *bool    { return &v }
func strp(v string) *string { return &v }

type fixtureOptions struct {
	Namespace     string
	Name          string
	PluginConfig  string // raw JSON under trafficRouting.plugins["lockstep/http"]; "" leaves it out
	PaddingBytes  int    // extra annotation + managedFields bytes, for payloads beyond 256 KiB
	Stable        string
	Canary        string
	ManagedRoutes []string
}

func container(name, image string, port int32) Container {
	return Container{
		Name:    name,
		Image:   image,
		Command: []string{"/app/" + name},
		Args:    []string{"--listen=:" + fmt.Sprint(port), "--log-format=json", "--grace=25s"},
		Ports: []ContainerPort{
			{Name: "http", ContainerPort: port, Protocol: "TCP"},
			{Name: "metrics", ContainerPort: 9090, Protocol: "TCP"},
		},
		EnvFrom: []EnvFromSource{
			{ConfigMapRef: &ConfigMapEnvSource{LocalObjectReference: LocalObjectReference{Name: name + "-config"}}},
			{Prefix: "DB_", SecretRef: &SecretEnvSource{LocalObjectReference: LocalObjectReference{Name: name + "-db"}, Optional: boolp(true)}},
		},
		Env: []EnvVar{
			{Name: "POD_NAME", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "CPU_LIMIT", ValueFrom: &EnvVarSource{ResourceFieldRef: &ResourceFieldSelector{ContainerName: name, Resource: "limits.cpu", Divisor: Quantity{Format: "DecimalSI"}}}},
			{Name: "FEATURE_FLAGS", ValueFrom: &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{LocalObjectReference: LocalObjectReference{Name: "flags"}, Key: "web"}}},
			{Name: "API_KEY", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{LocalObjectReference: LocalObjectReference{Name: "keys"}, Key: "api"}}},
			{Name: "REGION", Value: "eu-west-1"},
		},
		Resources: ResourceRequirements{
			Limits:   ResourceList{"cpu": Quantity{Format: "DecimalSI"}, "memory": Quantity{Format: "BinarySI"}},
			Requests: ResourceList{"cpu": Quantity{Format: "DecimalSI"}, "memory": Quantity{Format: "BinarySI"}},
		},
		ResizePolicy: []ContainerResizePolicy{{ResourceName: "cpu", RestartPolicy: "NotRequired"}},
		VolumeMounts: []VolumeMount{
			{Name: "config", MountPath: "/etc/app", ReadOnly: true},
			{Name: "cache", MountPath: "/var/cache/app"},
			{Name: "tokens", MountPath: "/var/run/tokens", ReadOnly: true},
		},
		LivenessProbe: &Probe{
			ProbeHandler:        ProbeHandler{HTTPGet: &HTTPGetAction{Path: "/healthz", Port: IntOrString{Type: 1, StrVal: "http"}, Scheme: "HTTP", HTTPHeaders: []HTTPHeader{{Name: "X-Probe", Value: "liveness"}}}},
			InitialDelaySeconds: 10, PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3, SuccessThreshold: 1,
		},
		ReadinessProbe: &Probe{
			ProbeHandler:  ProbeHandler{HTTPGet: &HTTPGetAction{Path: "/ready", Port: IntOrString{IntVal: port}}},
			PeriodSeconds: 5, FailureThreshold: 2, SuccessThreshold: 1, TimeoutSeconds: 1,
		},
		StartupProbe: &Probe{
			ProbeHandler:     ProbeHandler{TCPSocket: &TCPSocketAction{Port: IntOrString{IntVal: port}}},
			FailureThreshold: 30, PeriodSeconds: 2,
		},
		Lifecycle: &Lifecycle{
			PreStop:   &LifecycleHandler{Sleep: &SleepAction{Seconds: 5}},
			PostStart: &LifecycleHandler{Exec: &ExecAction{Command: []string{"/bin/warm-cache"}}},
		},
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: "File",
		ImagePullPolicy:          "IfNotPresent",
		SecurityContext: &SecurityContext{
			Capabilities:             &Capabilities{Drop: []Capability{"ALL"}},
			RunAsNonRoot:             boolp(true),
			RunAsUser:                i64(10001),
			ReadOnlyRootFilesystem:   boolp(true),
			AllowPrivilegeEscalation: boolp(false),
			SeccompProfile:           &SeccompProfile{Type: "RuntimeDefault"},
		},
	}
}

func buildRollout(o fixtureOptions) *Rollout {
	created := Time{time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)}
	updated := Time{time.Date(2026, 11, 28, 9, 30, 0, 0, time.FixedZone("CET", 3600))}
	labels := map[string]string{"app.kubernetes.io/name": o.Name, "app.kubernetes.io/part-of": "mangopress", "team": "recommendations"}
	annotations := map[string]string{
		"rollout.argoproj.io/revision":                     "7",
		"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout"}`,
	}
	var managed []ManagedFieldsEntry
	managed = append(managed,
		ManagedFieldsEntry{Manager: "kubectl-client-side-apply", Operation: "Update", APIVersion: "argoproj.io/v1alpha1", Time: &created, FieldsType: "FieldsV1", FieldsV1: &FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{}},"f:spec":{"f:strategy":{}}}`)}},
		ManagedFieldsEntry{Manager: "rollouts-controller", Operation: "Update", APIVersion: "argoproj.io/v1alpha1", Time: &updated, FieldsType: "FieldsV1", FieldsV1: &FieldsV1{Raw: []byte(`{"f:status":{"f:canary":{"f:weights":{}}}}`)}, Subresource: "status"},
	)
	if o.PaddingBytes > 0 {
		annotations["lockstep.test/padding"] = strings.Repeat("p", o.PaddingBytes/2)
		managed = append(managed, ManagedFieldsEntry{Manager: "padding", Operation: "Apply", APIVersion: "argoproj.io/v1alpha1", FieldsType: "FieldsV1", FieldsV1: &FieldsV1{Raw: []byte(strings.Repeat("f", o.PaddingBytes/2))}})
	}
	plugins := map[string]json.RawMessage{}
	if o.PluginConfig != "" {
		plugins["lockstep/http"] = json.RawMessage(o.PluginConfig)
	}
	var managedRoutes []MangedRoutes
	for _, r := range o.ManagedRoutes {
		managedRoutes = append(managedRoutes, MangedRoutes{Name: r})
	}
	podLabels := map[string]string{"app.kubernetes.io/name": o.Name, "version": "v7"}
	selector := &LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": o.Name}}
	return &Rollout{
		TypeMeta: TypeMeta{Kind: "Rollout", APIVersion: "argoproj.io/v1alpha1"},
		ObjectMeta: ObjectMeta{
			Name: o.Name, Namespace: o.Namespace, UID: "9f4c7a52-4b8e-4f55-9b1c-2d8e1f3a6b70",
			ResourceVersion: "48213907", Generation: 12, CreationTimestamp: created,
			Labels: labels, Annotations: annotations, ManagedFields: managed,
			Finalizers: []string{"argoproj.io/rollout"},
		},
		Spec: RolloutSpec{
			Replicas: i32(6),
			Selector: selector,
			Template: PodTemplateSpec{
				ObjectMeta: ObjectMeta{Labels: podLabels, Annotations: map[string]string{"prometheus.io/scrape": "true"}},
				Spec: PodSpec{
					Volumes: []Volume{
						{Name: "config", VolumeSource: VolumeSource{ConfigMap: &ConfigMapVolumeSource{LocalObjectReference: LocalObjectReference{Name: o.Name + "-config"}, Items: []KeyToPath{{Key: "app.yaml", Path: "app.yaml"}}, DefaultMode: i32(0444)}}},
						{Name: "cache", VolumeSource: VolumeSource{EmptyDir: &EmptyDirVolumeSource{Medium: "Memory", SizeLimit: &Quantity{Format: "BinarySI"}}}},
						{Name: "tls", VolumeSource: VolumeSource{Secret: &SecretVolumeSource{SecretName: o.Name + "-tls", Optional: boolp(false)}}},
						{Name: "tokens", VolumeSource: VolumeSource{Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
							{ServiceAccountToken: &ServiceAccountTokenProjection{Audience: "vault", ExpirationSeconds: i64(3600), Path: "vault-token"}},
							{DownwardAPI: &DownwardAPIProjection{Items: []DownwardAPIVolumeFile{{Path: "labels", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.labels"}}}}},
						}}}},
						{Name: "scratch", VolumeSource: VolumeSource{Ephemeral: &EphemeralVolumeSource{VolumeClaimTemplate: &PersistentVolumeClaimTemplate{
							Spec: PersistentVolumeClaimSpec{AccessModes: []PersistentVolumeAccessMode{"ReadWriteOnce"}, StorageClassName: strp("fast"), Resources: VolumeResourceRequirements{Requests: ResourceList{"storage": Quantity{Format: "BinarySI"}}}},
						}}}},
						{Name: "models", VolumeSource: VolumeSource{CSI: &CSIVolumeSource{Driver: "secrets-store.csi.k8s.io", ReadOnly: boolp(true), VolumeAttributes: map[string]string{"secretProviderClass": "models"}}}},
					},
					InitContainers: []Container{{Name: "migrate", Image: "registry.example.com/mangopress/migrate:7.3.1", Command: []string{"/migrate", "up"}}},
					Containers: []Container{
						container("recommender", "registry.example.com/mangopress/recommender:7.3.1", 8080),
						container("envoy", "registry.example.com/envoy:1.31", 15001),
					},
					RestartPolicy:                 "Always",
					TerminationGracePeriodSeconds: i64(30),
					DNSPolicy:                     "ClusterFirst",
					NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
					ServiceAccountName:            o.Name,
					AutomountServiceAccountToken:  boolp(false),
					SecurityContext:               &PodSecurityContext{RunAsNonRoot: boolp(true), FSGroup: i64(10001), SeccompProfile: &SeccompProfile{Type: "RuntimeDefault"}, Sysctls: []Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65000"}}},
					ImagePullSecrets:              []LocalObjectReference{{Name: "registry"}},
					Affinity: &Affinity{
						NodeAffinity: &NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &NodeSelector{NodeSelectorTerms: []NodeSelectorTerm{{MatchExpressions: []NodeSelectorRequirement{{Key: "node.kubernetes.io/instance-type", Operator: "In", Values: []string{"m7i.xlarge", "m7i.2xlarge"}}}}}}},
						PodAntiAffinity: &PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: PodAffinityTerm{LabelSelector: selector, TopologyKey: "kubernetes.io/hostname"}}}},
					},
					SchedulerName:             "default-scheduler",
					Tolerations:               []Toleration{{Key: "dedicated", Operator: "Equal", Value: "web", Effect: "NoSchedule"}, {Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: i64(300)}},
					PriorityClassName:         "business-critical",
					DNSConfig:                 &PodDNSConfig{Options: []PodDNSConfigOption{{Name: "ndots", Value: strp("2")}}},
					ReadinessGates:            []PodReadinessGate{{ConditionType: "target-health.elbv2.k8s.aws/web"}},
					EnableServiceLinks:        boolp(false),
					TopologySpreadConstraints: []TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: "ScheduleAnyway", LabelSelector: selector}},
				},
			},
			MinReadySeconds: 5,
			Strategy: RolloutStrategy{Canary: &CanaryStrategy{
				CanaryService: o.Canary,
				StableService: o.Stable,
				Steps: []CanaryStep{
					{SetCanaryScale: &SetCanaryScale{Replicas: i32(1)}},
					{SetHeaderRoute: &SetHeaderRoute{Name: "canary-header", Match: []HeaderRoutingMatch{{HeaderName: "X-Canary", HeaderValue: &StringMatch{Exact: "yes"}}}}},
					{Pause: &RolloutPause{Duration: &IntOrString{Type: 1, StrVal: "5m"}}},
					{SetWeight: i32(10)},
					{Analysis: &RolloutAnalysis{Templates: []AnalysisTemplateRef{{TemplateName: "success-rate"}}, Args: []AnalysisRunArgument{{Name: "service", Value: o.Canary}, {Name: "hash", ValueFrom: &ArgumentValueFrom{FieldRef: &FieldRef{FieldPath: "metadata.labels['rollouts-pod-template-hash']"}}}}}},
					{SetWeight: i32(50)},
					{Pause: &RolloutPause{}},
				},
				TrafficRouting: &RolloutTrafficRouting{
					Plugins:          plugins,
					ManagedRoutes:    managedRoutes,
					MaxTrafficWeight: i32(100),
				},
				MaxSurge:           &IntOrString{Type: 1, StrVal: "25%"},
				MaxUnavailable:     &IntOrString{IntVal: 0},
				Analysis:           &RolloutAnalysisBackground{RolloutAnalysis: RolloutAnalysis{Templates: []AnalysisTemplateRef{{TemplateName: "latency"}}}, StartingStep: i32(3)},
				CanaryMetadata:     &PodTemplateMetadata{Labels: map[string]string{"role": "canary"}},
				StableMetadata:     &PodTemplateMetadata{Labels: map[string]string{"role": "stable"}},
				DynamicStableScale: true,
			}},
			RevisionHistoryLimit:    i32(5),
			ProgressDeadlineSeconds: i32(600),
		},
		Status: RolloutStatus{
			PauseConditions:    []PauseCondition{{Reason: "CanaryPauseStep", StartTime: updated}},
			CurrentPodHash:     "7d9f8b6c5",
			CurrentStepHash:    "5f6d7c8b9",
			Replicas:           7,
			UpdatedReplicas:    1,
			ReadyReplicas:      7,
			AvailableReplicas:  7,
			CurrentStepIndex:   i32(3),
			ObservedGeneration: "12",
			Conditions: []RolloutCondition{
				{Type: "Available", Status: "True", LastUpdateTime: created, LastTransitionTime: created, Reason: "AvailableReason", Message: "Rollout has minimum availability"},
				{Type: "Progressing", Status: "True", LastUpdateTime: updated, LastTransitionTime: updated, Reason: "ReplicaSetUpdated", Message: "ReplicaSet is progressing."},
			},
			Canary: CanaryStatus{
				CurrentStepAnalysisRunStatus: &RolloutAnalysisRunStatus{Name: o.Name + "-7d9f8b6c5-7", Status: "Running"},
				Weights: &TrafficWeights{
					Canary:   WeightDestination{Weight: 10, ServiceName: o.Canary, PodTemplateHash: "7d9f8b6c5"},
					Stable:   WeightDestination{Weight: 90, ServiceName: o.Stable, PodTemplateHash: "6c5b4a392"},
					Verified: boolp(true),
				},
			},
			HPAReplicas: 7,
			Selector:    "app.kubernetes.io/name=" + o.Name,
			StableRS:    "6c5b4a392",
			Phase:       "Paused",
			Message:     "CanaryPauseStep",
		},
	}
}
