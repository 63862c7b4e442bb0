// Typed subsets of the Kubernetes (and KEDA, cert-manager, Prometheus Operator) objects the chart
// renders. Documents are decoded with unknown fields disallowed, as an API server with strict
// field validation would, so a misspelt or misplaced field fails the test instead of being
// silently dropped at install time. Fields the chart copies verbatim from values (affinity,
// tolerations, HPA behavior, ...) are kept opaque.
package main

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// IntOrString is Kubernetes' intstr.IntOrString.
type IntOrString struct {
	IsString bool
	Int      int64
	Str      string
}

func (v *IntOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v.IsString = true
		return json.Unmarshal(b, &v.Str)
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("int-or-string: %s", string(b))
	}
	i, err := strconv.ParseInt(string(n), 10, 32)
	if err != nil {
		return fmt.Errorf("int-or-string: %s is not a 32-bit integer", string(b))
	}
	v.Int = i
	return nil
}

func (v IntOrString) String() string {
	if v.IsString {
		return v.Str
	}
	return strconv.FormatInt(v.Int, 10)
}

type ObjectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type LabelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions json.RawMessage   `json:"matchExpressions,omitempty"`
}

// ---- core/v1, apps/v1, policy/v1

type Deployment struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta     `json:"metadata"`
	Spec     DeploymentSpec `json:"spec"`
}

type DeploymentSpec struct {
	Replicas             *int32             `json:"replicas,omitempty"`
	RevisionHistoryLimit *int32             `json:"revisionHistoryLimit,omitempty"`
	Strategy             DeploymentStrategy `json:"strategy,omitempty"`
	Selector             *LabelSelector     `json:"selector"`
	Template             PodTemplateSpec    `json:"template"`
}

type DeploymentStrategy struct {
	Type          string `json:"type,omitempty"`
	RollingUpdate *struct {
		MaxSurge       *IntOrString `json:"maxSurge,omitempty"`
		MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
	} `json:"rollingUpdate,omitempty"`
}

type PodTemplateSpec struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     PodSpec    `json:"spec"`
}

type PodSpec struct {
	ServiceAccountName            string                 `json:"serviceAccountName,omitempty"`
	AutomountServiceAccountToken  *bool                  `json:"automountServiceAccountToken,omitempty"`
	ImagePullSecrets              []map[string]string    `json:"imagePullSecrets,omitempty"`
	PriorityClassName             string                 `json:"priorityClassName,omitempty"`
	TerminationGracePeriodSeconds *int64                 `json:"terminationGracePeriodSeconds,omitempty"`
	SecurityContext               map[string]interface{} `json:"securityContext,omitempty"`
	Affinity                      json.RawMessage        `json:"affinity,omitempty"`
	TopologySpreadConstraints     json.RawMessage        `json:"topologySpreadConstraints,omitempty"`
	NodeSelector                  map[string]string      `json:"nodeSelector,omitempty"`
	Tolerations                   json.RawMessage        `json:"tolerations,omitempty"`
	InitContainers                []Container            `json:"initContainers,omitempty"`
	Containers                    []Container            `json:"containers"`
	Volumes                       []Volume               `json:"volumes,omitempty"`
}

type Container struct {
	Name            string               `json:"name"`
	Image           string               `json:"image"`
	ImagePullPolicy string               `json:"imagePullPolicy,omitempty"`
	Command         []string             `json:"command,omitempty"`
	Args            []string             `json:"args,omitempty"`
	Env             []EnvVar             `json:"env,omitempty"`
	Ports           []ContainerPort      `json:"ports,omitempty"`
	StartupProbe    *Probe               `json:"startupProbe,omitempty"`
	LivenessProbe   *Probe               `json:"livenessProbe,omitempty"`
	ReadinessProbe  *Probe               `json:"readinessProbe,omitempty"`
	Resources       ResourceRequirements `json:"resources,omitempty"`
	SecurityContext *SecurityContext     `json:"securityContext,omitempty"`
	VolumeMounts    []VolumeMount        `json:"volumeMounts,omitempty"`
}

type EnvVar struct {
	Name      string          `json:"name"`
	Value     *string         `json:"value,omitempty"`
	ValueFrom json.RawMessage `json:"valueFrom,omitempty"`
}

type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
}

type Probe struct {
	HTTPGet *struct {
		Path   string      `json:"path,omitempty"`
		Port   IntOrString `json:"port"`
		Scheme string      `json:"scheme,omitempty"`
	} `json:"httpGet,omitempty"`
	GRPC *struct {
		Port    int32   `json:"port"` // a number: the grpc probe takes no port names
		Service *string `json:"service,omitempty"`
	} `json:"grpc,omitempty"`
	TCPSocket *struct {
		Port IntOrString `json:"port"`
	} `json:"tcpSocket,omitempty"`
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int32 `json:"periodSeconds,omitempty"`
	TimeoutSeconds      int32 `json:"timeoutSeconds,omitempty"`
	SuccessThreshold    int32 `json:"successThreshold,omitempty"`
	FailureThreshold    int32 `json:"failureThreshold,omitempty"`
}

type ResourceRequirements struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

type SecurityContext struct {
	AllowPrivilegeEscalation *bool  `json:"allowPrivilegeEscalation,omitempty"`
	ReadOnlyRootFilesystem   *bool  `json:"readOnlyRootFilesystem,omitempty"`
	RunAsNonRoot             *bool  `json:"runAsNonRoot,omitempty"`
	RunAsUser                *int64 `json:"runAsUser,omitempty"`
	RunAsGroup               *int64 `json:"runAsGroup,omitempty"`
	Privileged               *bool  `json:"privileged,omitempty"`
	Capabilities             *struct {
		Add  []string `json:"add,omitempty"`
		Drop []string `json:"drop,omitempty"`
	} `json:"capabilities,omitempty"`
	SeccompProfile map[string]string `json:"seccompProfile,omitempty"`
}

type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	SubPath   string `json:"subPath,omitempty"`
}

type Volume struct {
	Name      string `json:"name"`
	ConfigMap *struct {
		Name  string          `json:"name"`
		Items json.RawMessage `json:"items,omitempty"`
	} `json:"configMap,omitempty"`
	Secret *struct {
		SecretName string          `json:"secretName"`
		Items      json.RawMessage `json:"items,omitempty"`
		Optional   *bool           `json:"optional,omitempty"`
	} `json:"secret,omitempty"`
	EmptyDir *struct {
		Medium    string `json:"medium,omitempty"`
		SizeLimit string `json:"sizeLimit,omitempty"`
	} `json:"emptyDir,omitempty"`
}

type Service struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     ServiceSpec `json:"spec"`
}

type ServiceSpec struct {
	Type                     string            `json:"type,omitempty"`
	ClusterIP                string            `json:"clusterIP,omitempty"`
	PublishNotReadyAddresses bool              `json:"publishNotReadyAddresses,omitempty"`
	ExternalTrafficPolicy    string            `json:"externalTrafficPolicy,omitempty"`
	Selector                 map[string]string `json:"selector"`
	Ports                    []ServicePort     `json:"ports"`
}

type ServicePort struct {
	Name        string      `json:"name"`
	Port        int32       `json:"port"`
	TargetPort  IntOrString `json:"targetPort"`
	Protocol    string      `json:"protocol,omitempty"`
	AppProtocol string      `json:"appProtocol,omitempty"`
	NodePort    int32       `json:"nodePort,omitempty"`
}

type ServiceAccount struct {
	TypeMeta                     `json:",inline"`
	Metadata                     ObjectMeta `json:"metadata"`
	AutomountServiceAccountToken *bool      `json:"automountServiceAccountToken,omitempty"`
}

type ConfigMap struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta        `json:"metadata"`
	Data     map[string]string `json:"data"`
}

type PodDisruptionBudget struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		MinAvailable   *IntOrString   `json:"minAvailable,omitempty"`
		MaxUnavailable *IntOrString   `json:"maxUnavailable,omitempty"`
		Selector       *LabelSelector `json:"selector"`
	} `json:"spec"`
}

// ---- rbac.authorization.k8s.io/v1

type PolicyRule struct {
	APIGroups     []string `json:"apiGroups"`
	Resources     []string `json:"resources"`
	Verbs         []string `json:"verbs"`
	ResourceNames []string `json:"resourceNames,omitempty"`
}

type Role struct { // Role and ClusterRole
	TypeMeta `json:",inline"`
	Metadata ObjectMeta   `json:"metadata"`
	Rules    []PolicyRule `json:"rules"`
}

type RoleBinding struct { // RoleBinding and ClusterRoleBinding
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	RoleRef  struct {
		APIGroup string `json:"apiGroup"`
		Kind     string `json:"kind"`
		Name     string `json:"name"`
	} `json:"roleRef"`
	Subjects []struct {
		Kind      string `json:"kind"`
		Name      string `json:"name"`
		Namespace string `json:"namespace,omitempty"`
	} `json:"subjects"`
}

// ---- keda.sh/v1alpha1

type ScaledObject struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		Advanced        *struct {
			HorizontalPodAutoscalerConfig *struct {
				Name     string          `json:"name,omitempty"`
				Behavior json.RawMessage `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []struct {
			Type              string            `json:"type"`
			Name              string            `json:"name,omitempty"`
			MetricType        string            `json:"metricType,omitempty"`
			Metadata          map[string]string `json:"metadata"` // KEDA's metadata is map[string]string
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

type TriggerAuthentication struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
	} `json:"spec"`
}

// ---- cert-manager.io/v1

type IssuerRef struct {
	Name  string `json:"name"`
	Kind  string `json:"kind,omitempty"`
	Group string `json:"group,omitempty"`
}

type Certificate struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		SecretName  string    `json:"secretName"`
		CommonName  string    `json:"commonName,omitempty"`
		DNSNames    []string  `json:"dnsNames,omitempty"`
		IsCA        bool      `json:"isCA,omitempty"`
		Usages      []string  `json:"usages,omitempty"`
		Duration    string    `json:"duration,omitempty"`
		RenewBefore string    `json:"renewBefore,omitempty"`
		IssuerRef   IssuerRef `json:"issuerRef"`
		PrivateKey  *struct {
			Algorithm      string `json:"algorithm,omitempty"`
			Size           int    `json:"size,omitempty"`
			RotationPolicy string `json:"rotationPolicy,omitempty"`
		} `json:"privateKey,omitempty"`
	} `json:"spec"`
}

type Issuer struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		SelfSigned *struct{} `json:"selfSigned,omitempty"`
		CA         *struct {
			SecretName string `json:"secretName"`
		} `json:"ca,omitempty"`
	} `json:"spec"`
}

// ---- monitoring.coreos.com/v1

type ServiceMonitor struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		JobLabel          string `json:"jobLabel,omitempty"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames,omitempty"`
			Any        bool     `json:"any,omitempty"`
		} `json:"namespaceSelector"`
		Selector  LabelSelector `json:"selector"`
		Endpoints []struct {
			Port              string          `json:"port"`
			Path              string          `json:"path,omitempty"`
			Interval          string          `json:"interval,omitempty"`
			ScrapeTimeout     string          `json:"scrapeTimeout,omitempty"`
			HonorLabels       bool            `json:"honorLabels,omitempty"`
			Relabelings       json.RawMessage `json:"relabelings,omitempty"`
			MetricRelabelings json.RawMessage `json:"metricRelabelings,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type RuleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []Rule `json:"rules"`
}

type Rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type PrometheusRule struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Groups []RuleGroup `json:"groups"`
	} `json:"spec"`
}

// ---- networking.k8s.io/v1

type NetworkPolicyPeer struct {
	PodSelector       *LabelSelector  `json:"podSelector,omitempty"`
	NamespaceSelector *LabelSelector  `json:"namespaceSelector,omitempty"`
	IPBlock           json.RawMessage `json:"ipBlock,omitempty"`
}

type NetworkPolicy struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		PodSelector LabelSelector `json:"podSelector"`
		PolicyTypes []string      `json:"policyTypes,omitempty"`
		Ingress     []struct {
			From  []NetworkPolicyPeer `json:"from,omitempty"`
			Ports []struct {
				Port     IntOrString `json:"port"`
				Protocol string      `json:"protocol,omitempty"`
			} `json:"ports,omitempty"`
		} `json:"ingress,omitempty"`
		Egress json.RawMessage `json:"egress,omitempty"`
	} `json:"spec"`
}
