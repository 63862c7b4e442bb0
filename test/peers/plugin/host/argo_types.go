package main

// Hand-written mirrors of argo-rollouts' pkg/apis/rollouts/v1alpha1 Rollout graph and of the
// plugin RPC types (utils/plugin/types, rollout/trafficrouting/plugin/rpc), with Argo's field
// names, order and kinds, and the args registered with gob under Argo's names.

import "encoding/json"

type Rollout struct {
	TypeMeta
	ObjectMeta
	Spec   RolloutSpec
	Status RolloutStatus
}

type RolloutSpec struct {
	Replicas                *int32
	Selector                *LabelSelector
	Template                PodTemplateSpec
	WorkloadRef             *ObjectRef
	MinReadySeconds         int32
	Strategy                RolloutStrategy
	RevisionHistoryLimit    *int32
	Paused                  bool
	ProgressDeadlineSeconds *int32
	ProgressDeadlineAbort   bool
	RestartAt               *Time
	Analysis                *AnalysisRunStrategy
}

type ObjectRef struct {
	APIVersion string
	Kind       string
	Name       string
	ScaleDown  string
}

type AnalysisRunStrategy struct {
	SuccessfulRunHistoryLimit   *int32
	UnsuccessfulRunHistoryLimit *int32
}

type RolloutStrategy struct {
	BlueGreen *BlueGreenStrategy
	Canary    *CanaryStrategy
}

type BlueGreenStrategy struct {
	ActiveService               string
	PreviewService              string
	PreviewReplicaCount         *int32
	AutoPromotionEnabled        *bool
	AutoPromotionSeconds        int32
	MaxUnavailable              *IntOrString
	ScaleDownDelaySeconds       *int32
	ScaleDownDelayRevisionLimit *int32
	PrePromotionAnalysis        *RolloutAnalysis
	AntiAffinity                *AntiAffinity
	PostPromotionAnalysis       *RolloutAnalysis
	PreviewMetadata             *PodTemplateMetadata
	ActiveMetadata              *PodTemplateMetadata
	AbortScaleDownDelaySeconds  *int32
}

type CanaryStrategy struct {
	CanaryService               string
	StableService               string
	Steps                       []CanaryStep
	TrafficRouting              *RolloutTrafficRouting
	MaxUnavailable              *IntOrString
	MaxSurge                    *IntOrString
	Analysis                    *RolloutAnalysisBackground
	AntiAffinity                *AntiAffinity
	CanaryMetadata              *PodTemplateMetadata
	StableMetadata              *PodTemplateMetadata
	ScaleDownDelaySeconds       *int32
	ScaleDownDelayRevisionLimit *int32
	AbortScaleDownDelaySeconds  *int32
	DynamicStableScale          bool
	PingPong                    *PingPongSpec
	MinPodsPerReplicaSet        *int32
	ReplicaProgressThreshold    *ReplicaProgressThreshold
}

type ProgressType string

type ReplicaProgressThreshold struct {
	Type  ProgressType
	Value int32
}

type PingPongSpec struct {
	PingService string
	PongService string
}

type AntiAffinity struct {
	PreferredDuringSchedulingIgnoredDuringExecution *PreferredDuringSchedulingIgnoredDuringExecution
	RequiredDuringSchedulingIgnoredDuringExecution  *RequiredDuringSchedulingIgnoredDuringExecution
}

type PreferredDuringSchedulingIgnoredDuringExecution struct {
	Weight int32
}

type RequiredDuringSchedulingIgnoredDuringExecution struct{}

type PodTemplateMetadata struct {
	Labels      map[string]string
	Annotations map[string]string
}

type CanaryStep struct {
	SetWeight      *int32
	Pause          *RolloutPause
	Experiment     *RolloutExperimentStep
	Analysis       *RolloutAnalysis
	SetCanaryScale *SetCanaryScale
	SetHeaderRoute *SetHeaderRoute
	SetMirrorRoute *SetMirrorRoute
	Plugin         *PluginStep
}

type RolloutPause struct {
	Duration *IntOrString
}

type SetCanaryScale struct {
	Weight             *int32
	Replicas           *int32
	MatchTrafficWeight bool
}

type SetHeaderRoute struct {
	Name  string
	Match []HeaderRoutingMatch
}

type HeaderRoutingMatch struct {
	HeaderName  string
	HeaderValue *StringMatch
}

type StringMatch struct {
	Exact  string
	Prefix string
	Regex  string
}

type SetMirrorRoute struct {
	Name       string
	Match      []RouteMatch
	Percentage *int32
}

type RouteMatch struct {
	Method  *StringMatch
	Path    *StringMatch
	Headers map[string]StringMatch
}

type PluginStep struct {
	Name   string
	Config json.RawMessage
}

type DurationString string

type RolloutExperimentStep struct {
	Templates []RolloutExperimentTemplate
	Duration  DurationString
	Analyses  []RolloutExperimentStepAnalysisTemplateRef
	DryRun    []DryRun
}

type ReplicaSetSpecRef string

type RolloutExperimentTemplate struct {
	Name     string
	SpecRef  ReplicaSetSpecRef
	Replicas *int32
	Metadata PodTemplateMetadata
	Selector *LabelSelector
	Weight   *int32
	Service  *TemplateService
}

type TemplateService struct {
	Name string
}

type RolloutExperimentStepAnalysisTemplateRef struct {
	Name                  string
	TemplateName          string
	ClusterScope          bool
	Args                  []AnalysisRunArgument
	RequiredForCompletion bool
}

type RolloutAnalysis struct {
	Templates            []AnalysisTemplateRef
	Args                 []AnalysisRunArgument
	DryRun               []DryRun
	MeasurementRetention []MeasurementRetention
	AnalysisRunMetadata  AnalysisRunMetadata
}

type RolloutAnalysisBackground struct {
	RolloutAnalysis
	StartingStep *int32
}

type AnalysisTemplateRef struct {
	TemplateName string
	ClusterScope bool
}

type AnalysisRunArgument struct {
	Name      string
	Value     string
	ValueFrom *ArgumentValueFrom
}

type ValueFromPodTemplateHash string

type ArgumentValueFrom struct {
	PodTemplateHashValue *ValueFromPodTemplateHash
	FieldRef             *FieldRef
}

type FieldRef struct {
	FieldPath string
}

type DryRun struct {
	MetricName string
}

type MeasurementRetention struct {
	MetricName string
	Limit      int32
}

type AnalysisRunMetadata struct {
	Labels      map[string]string
	Annotations map[string]string
}

type RolloutTrafficRouting struct {
	Istio            *IstioTrafficRouting
	Nginx            *NginxTrafficRouting
	ALB              *ALBTrafficRouting
	SMI              *SMITrafficRouting
	Ambassador       *AmbassadorTrafficRouting
	AppMesh          *AppMeshTrafficRouting
	Traefik          *TraefikTrafficRouting
	ManagedRoutes    []MangedRoutes
	Apisix           *ApisixTrafficRouting
	Plugins          map[string]json.RawMessage
	MaxTrafficWeight *int32
}

// MangedRoutes is spelt as in Argo.
type MangedRoutes struct {
	Name string
}

type IstioTrafficRouting struct {
	VirtualService  *IstioVirtualService
	DestinationRule *IstioDestinationRule
	VirtualServices []IstioVirtualService
}

type IstioVirtualService struct {
	Name      string
	Routes    []string
	TLSRoutes []TLSRoute
	TCPRoutes []TCPRoute
}

type TLSRoute struct {
	Port     int64
	SNIHosts []string
}

type TCPRoute struct {
	Port int64
}

type IstioDestinationRule struct {
	Name             string
	CanarySubsetName string
	StableSubsetName string
}

type NginxTrafficRouting struct {
	AnnotationPrefix             string
	StableIngress                string
	AdditionalIngressAnnotations map[string]string
	CanaryIngressAnnotations     map[string]string
	StableIngresses              []string
}

type ALBTrafficRouting struct {
	Ingress          string
	ServicePort      int32
	RootService      string
	AnnotationPrefix string
	StickinessConfig *StickinessConfig
	Ingresses        []string
}

type StickinessConfig struct {
	Enabled         bool
	DurationSeconds int64
}

type SMITrafficRouting struct {
	RootService      string
	TrafficSplitName string
}

type AmbassadorTrafficRouting struct {
	Mappings []string
}

type AppMeshTrafficRouting struct {
	VirtualService   *AppMeshVirtualService
	VirtualNodeGroup *AppMeshVirtualNodeGroup
}

type AppMeshVirtualService struct {
	Name   string
	Routes []string
}

type AppMeshVirtualNodeGroup struct {
	CanaryVirtualNodeRef *AppMeshVirtualNodeReference
	StableVirtualNodeRef *AppMeshVirtualNodeReference
}

type AppMeshVirtualNodeReference struct {
	Name string
}

type TraefikTrafficRouting struct {
	WeightedTraefikServiceName string
}

type ApisixTrafficRouting struct {
	Route *ApisixRoute
}

type ApisixRoute struct {
	Name  string
	Rules []string
}

type RolloutPhase string
type PauseReason string
type RolloutConditionType string
type AnalysisPhase string
type PingPongType string
type StepPluginOperation string
type StepPluginPhase string

type RolloutStatus struct {
	Abort                      bool
	PauseConditions            []PauseCondition
	ControllerPause            bool
	AbortedAt                  *Time
	CurrentPodHash             string
	CurrentStepHash            string
	Replicas                   int32
	UpdatedReplicas            int32
	ReadyReplicas              int32
	AvailableReplicas          int32
	CurrentStepIndex           *int32
	CollisionCount             *int32
	ObservedGeneration         string
	Conditions                 []RolloutCondition
	Canary                     CanaryStatus
	BlueGreen                  BlueGreenStatus
	HPAReplicas                int32
	Selector                   string
	StableRS                   string
	RestartedAt                *Time
	PromoteFull                bool
	Phase                      RolloutPhase
	Message                    string
	WorkloadObservedGeneration string
	ALB                        *ALBStatus
	ALBs                       []ALBStatus
}

type PauseCondition struct {
	Reason    PauseReason
	StartTime Time
}

type RolloutCondition struct {
	Type               RolloutConditionType
	Status             ConditionStatus
	LastUpdateTime     Time
	LastTransitionTime Time
	Reason             string
	Message            string
}

type CanaryStatus struct {
	CurrentStepAnalysisRunStatus       *RolloutAnalysisRunStatus
	CurrentBackgroundAnalysisRunStatus *RolloutAnalysisRunStatus
	CurrentExperiment                  string
	Weights                            *TrafficWeights
	StablePingPong                     PingPongType
	StepPluginStatuses                 []StepPluginStatus
}

type RolloutAnalysisRunStatus struct {
	Name    string
	Status  AnalysisPhase
	Message string
}

type TrafficWeights struct {
	Canary     WeightDestination
	Stable     WeightDestination
	Additional []WeightDestination
	Verified   *bool
}

type WeightDestination struct {
	Weight          int32
	ServiceName     string
	PodTemplateHash string
}

type StepPluginStatus struct {
	Index      int32
	Name       string
	Operation  StepPluginOperation
	Phase      StepPluginPhase
	Message    string
	StartedAt  *Time
	FinishedAt *Time
	Backoff    DurationString
	Executions int32
	Disabled   bool
	Status     json.RawMessage
}

type BlueGreenStatus struct {
	PreviewSelector                string
	ActiveSelector                 string
	ScaleUpPreviewCheckPoint       bool
	PrePromotionAnalysisRunStatus  *RolloutAnalysisRunStatus
	PostPromotionAnalysisRunStatus *RolloutAnalysisRunStatus
}

type ALBStatus struct {
	LoadBalancer      AwsResourceRef
	CanaryTargetGroup AwsResourceRef
	StableTargetGroup AwsResourceRef
	Ingress           string
}

type AwsResourceRef struct {
	Name     string
	ARN      string
	FullName string
}
