package kubernetes

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // --timezone names are checked the same on hosts without a zoneinfo database

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/inferplan/inferplan/pricing"
)

// Defaults of Options.
const (
	DefaultNamespace             = "inferplan"
	DefaultImage                 = "ghcr.io/inferplan/inferplan:latest"
	DefaultNodeClass             = "default"
	DefaultDevicePluginNamespace = "nvidia-device-plugin"
	DefaultKubectlImage          = "registry.k8s.io/kubectl:v1.34.0"
	DefaultTimezone              = "UTC"
)

// Options say how a plan becomes manifests; the zero value of a field takes its default.
type Options struct {
	// Namespace holds every namespaced object but the device plugin's configuration.
	Namespace string
	// Image runs `inferplan workers` and `inferplan serve` (and the worker's harness).
	Image string
	// Harness is the workers' --harness command; empty leaves the flag out.
	Harness string
	// NodeClass is the Karpenter EC2NodeClass every NodePool launches nodes from.
	NodeClass string
	// CronJobs scale scaled pools with CronJobs running kubectl instead of KEDA ScaledObjects.
	CronJobs bool
	// ScheduleStart is the time of day, in Timezone, at which window 0 of a scaled plan's schedule starts, every day.
	ScheduleStart time.Duration
	// Timezone is an IANA time zone name for the schedule.
	Timezone string
	// LambdaFunctions name the Lambda functions the gateway sends spilled requests to, each "SERVICE=FUNCTION" or
	// a bare "FUNCTION" for every spilling service not named otherwise; every service the plan spills needs one.
	LambdaFunctions []string
	// DevicePluginNamespace is where the NVIDIA device plugin (or the GPU Operator) runs: its configuration
	// ConfigMaps must be there.
	DevicePluginNamespace string
	// KubectlImage runs `kubectl scale` in the CronJobs.
	KubectlImage string
	// PlanFile is the plan's path as the user gave it, for messages.
	PlanFile string
	// Catalog gives instance types' vCPUs, GPU count and GPU memory; nil takes the embedded price snapshot.
	Catalog *pricing.Catalog
}

// OptionError is a bad option value; Option names it as Options names it, lower-case with dashes
// ("schedule-start"), which is the command's flag name.
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func optionErrorf(option, format string, args ...any) error {
	return &OptionError{Option: option, Err: fmt.Errorf(format, args...)}
}

// withDefaults fills the fields left empty.
func (o Options) withDefaults() Options {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&o.Namespace, DefaultNamespace)
	def(&o.Image, DefaultImage)
	def(&o.NodeClass, DefaultNodeClass)
	def(&o.DevicePluginNamespace, DefaultDevicePluginNamespace)
	def(&o.KubectlImage, DefaultKubectlImage)
	def(&o.Timezone, DefaultTimezone)
	if o.Catalog == nil {
		o.Catalog = pricing.Embedded()
	}
	return o
}

// Validate checks every option on its own, before any plan is read.
func (o Options) Validate() error {
	o = o.withDefaults()
	for _, c := range []struct{ option, value string }{{"namespace", o.Namespace}, {"device-plugin-namespace", o.DevicePluginNamespace}} {
		if errs := validation.IsDNS1123Label(c.value); len(errs) > 0 {
			return optionErrorf(c.option, "%q is not a namespace name: %s", c.value, strings.Join(errs, "; "))
		}
	}
	// names derived from the namespace (NodePools "<namespace>-p0", device plugin config keys) must stay valid
	if len(o.Namespace) > 50 {
		return optionErrorf("namespace", "%q is longer than 50 characters, too long to prefix the NodePools' names", o.Namespace)
	}
	if errs := validation.IsDNS1123Subdomain(o.NodeClass); len(errs) > 0 {
		return optionErrorf("node-class", "%q is not an EC2NodeClass name: %s", o.NodeClass, strings.Join(errs, "; "))
	}
	for _, c := range []struct{ option, value string }{{"image", o.Image}, {"kubectl-image", o.KubectlImage}} {
		if strings.ContainsAny(c.value, " \t\n") {
			return optionErrorf(c.option, "%q is not a container image reference (it has white space)", c.value)
		}
	}
	if o.ScheduleStart < 0 || o.ScheduleStart >= 24*time.Hour || o.ScheduleStart%time.Minute != 0 {
		return optionErrorf("schedule-start", "%v is not a whole minute of the day", o.ScheduleStart)
	}
	if _, err := time.LoadLocation(o.Timezone); err != nil || o.Timezone == "Local" {
		return optionErrorf("timezone", "%q is not an IANA time zone name such as UTC or Europe/Berlin", o.Timezone)
	}
	if _, _, err := o.spillFunctions(); err != nil {
		return err
	}
	if strings.ContainsAny(o.Harness, "\n\x00") {
		return optionErrorf("harness", "the command has a line break or a NUL byte")
	}
	return nil
}

// ParseClock reads a time of day written HH:MM (24-hour).
func ParseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("%q is not a time of day written HH:MM, such as 00:00 or 18:30", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// spillFunctions reads LambdaFunctions: the function of each named service, and the one for every other service.
func (o Options) spillFunctions() (byService map[string]string, fallback string, err error) {
	byService = map[string]string{}
	for _, v := range o.LambdaFunctions {
		svc, fn, named := strings.Cut(v, "=")
		if !named {
			svc, fn = "", v
		}
		switch {
		case fn == "" || len(fn) > 170 || strings.ContainsAny(fn, " \t\n="):
			return nil, "", optionErrorf("lambda-function", "%q is not FUNCTION or SERVICE=FUNCTION (a Lambda function name or ARN)", v)
		case named && svc == "":
			return nil, "", optionErrorf("lambda-function", "%q names no service", v)
		case !named && fallback != "":
			return nil, "", optionErrorf("lambda-function", "two functions for every service: %s and %s", fallback, fn)
		case !named:
			fallback = fn
		case byService[svc] != "":
			return nil, "", optionErrorf("lambda-function", "service %s named twice", svc)
		default:
			byService[svc] = fn
		}
	}
	return byService, fallback, nil
}
