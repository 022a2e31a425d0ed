package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/internal/yamlfile"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

// workloadDoc is the workload file's layout (issue 10 §1 fixes services, profiles, trace, max_size, slo and
// instance_types; sharing_profiles is ours).
type workloadDoc struct {
	Services        []serviceDoc `yaml:"services"`
	InstanceTypes   []string     `yaml:"instance_types"`
	SharingProfiles []string     `yaml:"sharing_profiles"`
}

type serviceDoc struct {
	Name     string    `yaml:"name"`
	Model    string    `yaml:"model"`
	Profiles []string  `yaml:"profiles"`
	Trace    *traceDoc `yaml:"trace"`
	MaxSize  *float64  `yaml:"max_size"`
	SLO      *sloDoc   `yaml:"slo"`
}

type traceDoc struct {
	File     string `yaml:"file"`
	TimeCol  string `yaml:"time_col"`
	SizeCol  string `yaml:"size_col"`
	TimeUnit string `yaml:"time_unit"`
}

type sloDoc struct {
	Percentile *float64 `yaml:"percentile"`
	LatencyMs  *float64 `yaml:"latency_ms"`
}

// Workload is a read and checked workload file: the services with their profiles and traces loaded.
type Workload struct {
	File     string // as the user gave it
	SHA256   string
	Services []*Service
	// InstanceTypes restricts the catalog when not empty.
	InstanceTypes []string
	// Sharing holds co-location profiles for the interference model (sharing_profiles, and any the services' own
	// profile lists hold).
	Sharing []*profile.Profile
	// SpanUs is the longest service trace's span: the time the fleet runs for.
	SpanUs int64

	instanceLines map[string]int
}

// Service is one service of a workload.
type Service struct {
	Index    int
	Name     string
	Model    string
	SizeUnit string
	SLO      plan.SLO
	MaxSize  float64 // 0: no cap
	Profiles []*profile.Profile
	// ProfilePaths are the profile files as the workload names them; ProfileFiles as opened.
	ProfilePaths, ProfileFiles []string
	// Trace holds the requests with sizes truncated at MaxSize.
	Trace    *trace.Trace
	TraceRef plan.Trace
	line     int
	sloLine  int
}

// ReadWorkload reads a workload file and everything it names; relative paths are relative to the workload file.
// Errors name the file, the line and the field.
func ReadWorkload(path string) (*Workload, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &inputerr.Error{File: path, Err: err}
	}
	return ParseWorkload(data, path)
}

// ParseWorkload parses a workload document named path (relative paths in it are taken from path's folder).
func ParseWorkload(data []byte, path string) (*Workload, error) {
	var doc workloadDoc
	yd, err := yamlfile.Decode(data, path, "workload", &doc)
	if errors.Is(err, yamlfile.ErrEmpty) {
		return nil, inputerr.New(path, 0, "services", "the workload file is empty")
	}
	if err != nil {
		return nil, err
	}
	at := yd.Line
	sum := sha256.Sum256(data)
	w := &Workload{File: path, SHA256: hex.EncodeToString(sum[:]), instanceLines: map[string]int{}}
	dir := filepath.Dir(path)
	resolve := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if len(doc.Services) == 0 {
		return nil, inputerr.New(path, at("services"), "services", "no services")
	}
	seen := map[string]bool{}
	for i, sd := range doc.Services {
		f := func(k string) string { return fmt.Sprintf("services[%d].%s", i, k) }
		line := func(k ...string) int { return at(append([]string{"services", strconv.Itoa(i)}, k...)...) }
		s := &Service{Index: i, Name: sd.Name, Model: sd.Model, line: line()}
		switch {
		case sd.Name == "":
			return nil, inputerr.New(path, line(), f("name"), "missing")
		case seen[sd.Name]:
			return nil, inputerr.New(path, line("name"), f("name"), "%q is named twice", sd.Name)
		case len(sd.Profiles) == 0:
			return nil, inputerr.New(path, line(), f("profiles"), "service %q has no profiles", sd.Name)
		case sd.Trace == nil || sd.Trace.File == "":
			return nil, inputerr.New(path, line(), f("trace.file"), "service %q has no trace", sd.Name)
		case sd.SLO == nil || sd.SLO.LatencyMs == nil:
			return nil, inputerr.New(path, line(), f("slo.latency_ms"), "service %q has no SLO", sd.Name)
		}
		seen[sd.Name] = true
		s.sloLine = line("slo", "latency_ms")
		s.SLO = plan.SLO{Percentile: 99, LatencyMs: *sd.SLO.LatencyMs}
		if sd.SLO.Percentile != nil {
			s.SLO.Percentile = *sd.SLO.Percentile
		}
		if !(s.SLO.Percentile > 0 && s.SLO.Percentile <= 100) {
			return nil, inputerr.New(path, line("slo", "percentile"), f("slo.percentile"), "%v is not in (0, 100]", s.SLO.Percentile)
		}
		if !(s.SLO.LatencyMs > 0) || math.IsInf(s.SLO.LatencyMs, 0) || s.SLO.LatencyMs > 86_400_000 {
			return nil, inputerr.New(path, line("slo", "latency_ms"), f("slo.latency_ms"), "%v is not a latency bound in (0 ms, 1 day]", s.SLO.LatencyMs)
		}
		if sd.MaxSize != nil {
			if !(*sd.MaxSize > 0) || math.IsInf(*sd.MaxSize, 0) {
				return nil, inputerr.New(path, line("max_size"), f("max_size"), "%v is not a positive size", *sd.MaxSize)
			}
			s.MaxSize = *sd.MaxSize
		}
		for j, pp := range sd.Profiles {
			file := resolve(pp)
			prof, err := profile.ReadFile(file)
			if err != nil {
				// the profile's own file:line:field, inside the workload's
				return nil, inputerr.New(path, line("profiles", strconv.Itoa(j)), fmt.Sprintf("services[%d].profiles[%d]", i, j), "%v", err)
			}
			if isColocation(prof) {
				w.Sharing = append(w.Sharing, prof)
				continue
			}
			if s.Model == "" {
				s.Model = prof.Model
			}
			if s.SizeUnit == "" {
				s.SizeUnit = prof.SizeUnit
			}
			s.Profiles = append(s.Profiles, prof)
			s.ProfilePaths = append(s.ProfilePaths, pp)
			s.ProfileFiles = append(s.ProfileFiles, file)
		}
		if len(s.Profiles) == 0 {
			return nil, inputerr.New(path, line("profiles"), f("profiles"), "service %q has only co-location profiles; it needs a solo one", sd.Name)
		}
		td := sd.Trace
		unit, err := trace.ParseTimeUnit(td.TimeUnit)
		if err != nil {
			return nil, inputerr.New(path, line("trace", "time_unit"), f("trace.time_unit"), "%v", err)
		}
		file := resolve(td.File)
		tr, err := trace.ReadFile(file, trace.Options{TimeCol: td.TimeCol, SizeCol: td.SizeCol, Unit: unit})
		if err != nil {
			return nil, inputerr.New(path, line("trace", "file"), f("trace.file"), "%v", err)
		}
		s.Trace = trace.Cut(tr, 0, 0, s.MaxSize, 1)
		s.Trace.Source = td.File
		s.TraceRef = plan.Trace{File: td.File, TimeCol: td.TimeCol, SizeCol: td.SizeCol, TimeUnit: td.TimeUnit,
			Requests: tr.Len(), SpanS: float64(tr.Span()) / 1e6}
		s.TraceRef.SHA256, _ = fileSHA256(file)
		w.SpanUs = max(w.SpanUs, tr.Span())
		w.Services = append(w.Services, s)
	}
	for i, it := range doc.InstanceTypes {
		if it == "" {
			return nil, inputerr.New(path, at("instance_types", strconv.Itoa(i)), fmt.Sprintf("instance_types[%d]", i), "empty")
		}
		w.InstanceTypes = append(w.InstanceTypes, it)
		w.instanceLines[it] = at("instance_types", strconv.Itoa(i))
	}
	for i, pp := range doc.SharingProfiles {
		prof, err := profile.ReadFile(resolve(pp))
		if err != nil {
			return nil, inputerr.New(path, at("sharing_profiles", strconv.Itoa(i)), fmt.Sprintf("sharing_profiles[%d]", i), "%v", err)
		}
		if !isColocation(prof) {
			return nil, inputerr.New(path, at("sharing_profiles", strconv.Itoa(i)), fmt.Sprintf("sharing_profiles[%d]", i),
				"%s has no co-location measurements (colocated workers with batches_per_s)", pp)
		}
		w.Sharing = append(w.Sharing, prof)
	}
	return w, nil
}

// instanceError is an error about an instance type the workload names.
func (w *Workload) instanceError(typ, format string, args ...any) error {
	i := 0
	for j, t := range w.InstanceTypes {
		if t == typ {
			i = j
		}
	}
	return inputerr.New(w.File, w.instanceLines[typ], fmt.Sprintf("instance_types[%d]", i), format, args...)
}

// sloField names a service's SLO bound in the workload file.
func (w *Workload) sloField(s *Service) string {
	return fmt.Sprintf("services[%d].slo.latency_ms", s.Index)
}

// isColocation reports whether a profile holds co-location measurements (workers measured together, with their
// throughput), which feed the interference model rather than a service's latency.
func isColocation(p *profile.Profile) bool {
	for _, m := range p.Measurements {
		if _, ok := m.Extra["batches_per_s"]; ok && m.Colocated >= 1 {
			return true
		}
	}
	return false
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WithTraces is the workload with other traffic: traces[i] (times from a common origin, in microseconds) for
// service i, sizes truncated at the service's max size as on reading. The fleet runs from the origin to the
// last arrival. What a cluster gateway saw, replayed through the simulator, is this.
func (w *Workload) WithTraces(traces []*trace.Trace) (*Workload, error) {
	if len(traces) != len(w.Services) {
		return nil, fmt.Errorf("%d traces for %d services", len(traces), len(w.Services))
	}
	out := *w
	out.Services = make([]*Service, len(w.Services))
	out.SpanUs = 0
	for i, s := range w.Services {
		c := *s
		tr := &trace.Trace{Source: traces[i].Source, Requests: make([]trace.Request, len(traces[i].Requests))}
		for k, q := range traces[i].Requests {
			if s.MaxSize > 0 {
				q.Size = math.Min(q.Size, s.MaxSize)
			}
			tr.Requests[k] = q
		}
		c.Trace = tr
		if n := len(tr.Requests); n > 0 {
			out.SpanUs = max(out.SpanUs, tr.Requests[n-1].At)
		}
		out.Services[i] = &c
	}
	return &out, nil
}
