package kubernetes

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The Karpenter and KEDA modules pull in controller-runtime and far more than these manifests need, so the two
// custom resources are declared here with the fields we write, each with its schema's json name. Strict decoding
// in the tests holds the written files to these types; the upstream sources are cited per type.

// NodePool is Karpenter's karpenter.sh/v1 NodePool (kubernetes-sigs/karpenter pkg/apis/v1/nodepool.go: NodePool,
// NodePoolSpec, NodeClaimTemplate, ObjectMeta, Disruption; pkg/apis/v1/nodeclaim.go: NodeClaimTemplateSpec,
// NodeSelectorRequirementWithMinValues, NodeClassReference).
type NodePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              NodePoolSpec `json:"spec"`
}

// NodePoolSpec is a NodePool's spec: the template of the nodes it launches, when it may take them away, and the
// most capacity it may launch.
type NodePoolSpec struct {
	Template   NodeClaimTemplate   `json:"template"`
	Disruption Disruption          `json:"disruption"`
	Limits     corev1.ResourceList `json:"limits,omitempty"`
}

// NodeClaimTemplate is what every node of the pool gets: labels, taints, requirements and the node class.
type NodeClaimTemplate struct {
	Metadata NodeClaimMetadata     `json:"metadata,omitempty"`
	Spec     NodeClaimTemplateSpec `json:"spec"`
}

// NodeClaimMetadata is Karpenter's own ObjectMeta for templates: labels and annotations only.
type NodeClaimMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// NodeClaimTemplateSpec is the node template's spec.
type NodeClaimTemplateSpec struct {
	Taints       []corev1.Taint      `json:"taints,omitempty"`
	Requirements []NodeRequirement   `json:"requirements"`
	NodeClassRef *NodeClassReference `json:"nodeClassRef"`
}

// NodeRequirement is Karpenter's NodeSelectorRequirementWithMinValues: a node selector requirement (key,
// operator, values) with an optional minimum of distinct values.
type NodeRequirement struct {
	corev1.NodeSelectorRequirement `json:",inline"`
	MinValues                      *int `json:"minValues,omitempty"`
}

// NodeClassReference names the provider's node class (on AWS an EC2NodeClass of group karpenter.k8s.aws).
type NodeClassReference struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
}

// Disruption says when Karpenter may remove the pool's nodes.
type Disruption struct {
	ConsolidationPolicy string `json:"consolidationPolicy,omitempty"` // WhenEmpty or WhenEmptyOrUnderutilized
	ConsolidateAfter    string `json:"consolidateAfter"`              // e.g. "1m", or "Never"
}

// ScaledObject is KEDA's keda.sh/v1alpha1 ScaledObject (kedacore/keda apis/keda/v1alpha1/scaledobject_types.go:
// ScaledObject, ScaledObjectSpec, ScaleTarget, AdvancedConfig, HorizontalPodAutoscalerConfig;
// scaletriggers_types.go: ScaleTriggers).
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ScaledObjectSpec `json:"spec"`
}

// ScaledObjectSpec is what KEDA scales, between which bounds, on which triggers.
type ScaledObjectSpec struct {
	ScaleTargetRef  *ScaleTarget    `json:"scaleTargetRef"`
	PollingInterval *int32          `json:"pollingInterval,omitempty"`
	MinReplicaCount *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount *int32          `json:"maxReplicaCount,omitempty"`
	Advanced        *AdvancedConfig `json:"advanced,omitempty"`
	Triggers        []ScaleTrigger  `json:"triggers"`
}

// ScaleTarget names the scaled workload.
type ScaleTarget struct {
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// AdvancedConfig tunes the HorizontalPodAutoscaler KEDA creates.
type AdvancedConfig struct {
	HorizontalPodAutoscalerConfig *HorizontalPodAutoscalerConfig `json:"horizontalPodAutoscalerConfig,omitempty"`
}

// HorizontalPodAutoscalerConfig is the HPA's behavior (autoscaling/v2).
type HorizontalPodAutoscalerConfig struct {
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

// ScaleTrigger is one scaler: for the cron scaler (keda.sh/docs/scalers/cron), metadata holds timezone (IANA),
// start and end (cron expressions, minute hour day-of-month month day-of-week) and desiredReplicas.
type ScaleTrigger struct {
	Type     string            `json:"type"`
	Name     string            `json:"name,omitempty"`
	Metadata map[string]string `json:"metadata"`
}

// DevicePluginConfig is one configuration of the NVIDIA Kubernetes device plugin (NVIDIA/k8s-device-plugin
// api/config/v1/config.go: Config; flags.go: CommandLineFlags.MigStrategy; sharing.go: Sharing; the
// ReplicatedResources of timeSlicing and mps: renameByDefault, failRequestsGreaterThanOne, resources[].name and
// replicas). The plugin reads it from a key of the ConfigMap its helm chart's config.name names, the key chosen
// per node by the label nvidia.com/device-plugin.config.
type DevicePluginConfig struct {
	Version string               `json:"version"`
	Flags   *DevicePluginFlags   `json:"flags,omitempty"`
	Sharing *DevicePluginSharing `json:"sharing,omitempty"`
}

// DevicePluginFlags are the plugin's flags a node's config sets.
type DevicePluginFlags struct {
	MigStrategy string `json:"migStrategy"` // none, single or mixed
}

// DevicePluginSharing shares each GPU of a node by time-slicing or MPS (one of the two).
type DevicePluginSharing struct {
	TimeSlicing *ReplicatedResources `json:"timeSlicing,omitempty"`
	MPS         *ReplicatedResources `json:"mps,omitempty"`
}

// ReplicatedResources advertises each device of the named resources as Replicas devices.
type ReplicatedResources struct {
	RenameByDefault            bool                 `json:"renameByDefault"`
	FailRequestsGreaterThanOne bool                 `json:"failRequestsGreaterThanOne"`
	Resources                  []ReplicatedResource `json:"resources"`
}

// ReplicatedResource is one resource and its replicas per device.
type ReplicatedResource struct {
	Name     string `json:"name"`
	Replicas int    `json:"replicas"`
}

// MIGPartedConfig is the configuration of NVIDIA's MIG manager (NVIDIA/mig-parted api/spec/v1/spec.go: Spec,
// MigConfigSpec): named layouts of MIG devices per GPU, one picked per node by the label nvidia.com/mig.config.
// The GPU Operator reads it from the key config.yaml of the ConfigMap its ClusterPolicy's migManager.config.name
// names.
type MIGPartedConfig struct {
	Version    string                     `json:"version"`
	MigConfigs map[string][]MIGConfigSpec `json:"mig-configs"`
}

// MIGConfigSpec lays out MIG devices on some GPUs of a node: Devices is "all" or a list of GPU indexes.
type MIGConfigSpec struct {
	Devices    any            `json:"devices"`
	MigEnabled bool           `json:"mig-enabled"`
	MigDevices map[string]int `json:"mig-devices,omitempty"`
}
