// Package job plans a data-parallel job (a distributed dataframe pipeline: shuffles and collectives over a
// dataset) on AWS Lambda workers talking over direct TCP, Redis or S3, and on EC2 clusters: for every worker
// count, memory size and channel, and every EC2 type, the predicted time, cost and strong-scaling efficiency,
// and the configuration to run under a deadline or a budget.
package job

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/job/channel"
)

// Lambda's memory range (AWS Lambda developer guide: 128 MB to 10,240 MB in 1 MB steps).
const (
	MinMemoryMB = 128
	MaxMemoryMB = 10240
)

// Job is a job file: the data, the stages run over it, and the configurations to consider. Sizes are decimal:
// a GB is 10⁹ bytes and an MB 10⁶, as FMI's bandwidths are.
type Job struct {
	Name    string  `json:"name,omitempty"`
	InputGB float64 `json:"input_gb"`
	Stages  []Stage `json:"stages"`
	// Workers are the worker counts to consider: Lambda functions, or on EC2 one worker per vCPU.
	Workers        []int    `json:"workers"`
	LambdaMemoryMB []int    `json:"lambda_memory_mb"`
	EC2Types       []string `json:"ec2_types,omitempty"`
	// Channels are the Lambda channels to consider; all three when the file does not say.
	Channels  []string `json:"channels"`
	DeadlineS float64  `json:"deadline_s,omitempty"`
	BudgetUSD float64  `json:"budget_usd,omitempty"`
	// MemoryOverhead is the working memory a worker needs per byte of its partition (its input, the partitions
	// it builds and the ones it receives); a configuration whose workers lack it does not fit.
	MemoryOverhead float64 `json:"memory_overhead"`
	Arch           string  `json:"arch"`
	// ChannelParams is a parameters file (inferplan profile network writes one), relative to the job file.
	ChannelParams string `json:"channel_params,omitempty"`

	file  string
	lines map[string]int
}

// Stage is one step: local compute over each worker's partition, then one communication operation.
type Stage struct {
	Op string `json:"op"`
	// MB is, for a shuffle, the data it redistributes in total (the whole input when 0); for the other
	// operations each worker's message.
	MB float64 `json:"mb,omitempty"`
	// ComputeMBPerS is how fast one vCPU processes its partition in this stage; 0 for no compute.
	ComputeMBPerS float64 `json:"compute_mb_per_s,omitempty"`
}

// Defaults for keys a job file leaves out.
const (
	DefaultMemoryOverhead = 2.0
	DefaultMemoryMB       = 1769 // one vCPU
)

// File is the path the job was read from.
func (j *Job) File() string { return j.file }

// Line is the line of a field in the job file (0 when unknown): errors found later (an EC2 type the catalog
// does not know) still point at the file.
func (j *Job) Line(field string) int {
	for field != "" {
		if l, ok := j.lines[field]; ok {
			return l
		}
		// a field the file leaves out points at what holds it: stages[1].mb at stages[1]
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

// Errorf returns an input error at a field of the job file.
func (j *Job) Errorf(field, format string, args ...any) error {
	return inputerr.New(j.file, j.Line(field), field, format, args...)
}

// ChannelParamsPath is the parameters file named in the job, resolved against the job file's folder.
func (j *Job) ChannelParamsPath() string {
	if j.ChannelParams == "" || filepath.IsAbs(j.ChannelParams) {
		return j.ChannelParams
	}
	return filepath.Join(filepath.Dir(j.file), j.ChannelParams)
}

// InputBytes is the input in bytes.
func (j *Job) InputBytes() float64 { return j.InputGB * 1e9 }

// ReadFile reads and checks a job file.
func ReadFile(path string) (*Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job file: %w", err)
	}
	return Parse(data, path)
}

// Parse reads a job file's YAML (JSON is YAML too). Every problem is an input error naming the file, the line
// and the field: an unknown key, a wrong type, an unknown op, a negative size, no workers, a memory size
// Lambda does not offer.
func Parse(data []byte, file string) (*Job, error) {
	j := &Job{file: file, lines: map[string]int{}, MemoryOverhead: DefaultMemoryOverhead, Arch: "x86_64"}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, inputerr.New(file, 0, "", "empty job file")
		}
		return nil, yamlErr(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, inputerr.New(file, line, "", "a job file holds one YAML document")
	}
	if len(doc.Content) == 0 {
		return nil, inputerr.New(file, 0, "", "empty job file")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, inputerr.New(file, root.Line, "", "want a mapping of keys (input_gb, stages, workers, …)")
	}
	p := &parser{file: file, j: j}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		if seen[key] {
			return nil, inputerr.New(file, k.Line, key, "given twice")
		}
		seen[key] = true
		j.lines[key] = k.Line
		var err error
		switch key {
		case "name":
			j.Name, err = p.str(v, key)
		case "input_gb":
			j.InputGB, err = p.num(v, key)
		case "stages":
			j.Stages, err = p.stages(v)
		case "workers":
			j.Workers, err = p.ints(v, key)
		case "lambda_memory_mb":
			j.LambdaMemoryMB, err = p.ints(v, key)
		case "ec2_types":
			j.EC2Types, err = p.strs(v, key)
		case "channels":
			j.Channels, err = p.strs(v, key)
		case "deadline_s":
			j.DeadlineS, err = p.num(v, key)
		case "budget_usd":
			j.BudgetUSD, err = p.num(v, key)
		case "memory_overhead":
			j.MemoryOverhead, err = p.num(v, key)
		case "arch":
			j.Arch, err = p.str(v, key)
		case "channel_params":
			j.ChannelParams, err = p.str(v, key)
		default:
			return nil, inputerr.New(file, k.Line, key, "unknown key; a job file has input_gb, stages, workers, lambda_memory_mb, ec2_types, channels, deadline_s, budget_usd, memory_overhead, arch, channel_params and name")
		}
		if err != nil {
			return nil, err
		}
	}
	if !seen["lambda_memory_mb"] {
		j.LambdaMemoryMB = []int{DefaultMemoryMB}
	}
	if !seen["channels"] {
		j.Channels = slices.Clone(channel.LambdaChannels)
	}
	if err := j.validate(seen); err != nil {
		return nil, err
	}
	return j, nil
}

func yamlErr(file string, err error) error {
	msg := err.Error()
	// yaml.v3 says "yaml: line 3: mapping values are not allowed in this context"
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if line, perr := strconv.Atoi(num); perr == nil {
				return inputerr.New(file, line, "", "%s", tail)
			}
		}
	}
	return inputerr.New(file, 0, "", "%s", strings.TrimPrefix(msg, "yaml: "))
}

type parser struct {
	file string
	j    *Job
}

func (p *parser) errAt(n *yaml.Node, field, format string, args ...any) error {
	return inputerr.New(p.file, n.Line, field, format, args...)
}

func (p *parser) num(n *yaml.Node, field string) (float64, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" && n.Tag != "!!float" {
		return 0, p.errAt(n, field, "%q is not a number", n.Value)
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, p.errAt(n, field, "%q is not a finite number", n.Value)
	}
	p.j.lines[field] = n.Line
	return v, nil
}

func (p *parser) integer(n *yaml.Node, field string) (int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, p.errAt(n, field, "%q is not a whole number", n.Value)
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 32)
	if err != nil {
		return 0, p.errAt(n, field, "%q is not a whole number of a sensible size", n.Value)
	}
	p.j.lines[field] = n.Line
	return int(v), nil
}

func (p *parser) str(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", p.errAt(n, field, "want a string")
	}
	p.j.lines[field] = n.Line
	return n.Value, nil
}

// list accepts a sequence, or one scalar as a list of one (workers: 64).
func list(n *yaml.Node) []*yaml.Node {
	if n.Kind == yaml.SequenceNode {
		return n.Content
	}
	return []*yaml.Node{n}
}

func (p *parser) ints(n *yaml.Node, field string) ([]int, error) {
	if n.Kind != yaml.SequenceNode && n.Kind != yaml.ScalarNode {
		return nil, p.errAt(n, field, "want a list of whole numbers")
	}
	out := []int{}
	for i, e := range list(n) {
		v, err := p.integer(e, fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (p *parser) strs(n *yaml.Node, field string) ([]string, error) {
	if n.Kind != yaml.SequenceNode && n.Kind != yaml.ScalarNode {
		return nil, p.errAt(n, field, "want a list of names")
	}
	out := []string{}
	for i, e := range list(n) {
		v, err := p.str(e, fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (p *parser) stages(n *yaml.Node) ([]Stage, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, "stages", "want a list of stages, e.g. - {op: shuffle, compute_mb_per_s: 150}")
	}
	out := []Stage{}
	for i, sn := range n.Content {
		f := fmt.Sprintf("stages[%d]", i)
		p.j.lines[f] = sn.Line
		if sn.Kind != yaml.MappingNode {
			return nil, p.errAt(sn, f, "want a mapping with op, mb and compute_mb_per_s")
		}
		var s Stage
		seen := map[string]bool{}
		for k := 0; k+1 < len(sn.Content); k += 2 {
			key, v := sn.Content[k], sn.Content[k+1]
			kf := f + "." + key.Value
			if seen[key.Value] {
				return nil, p.errAt(key, kf, "given twice")
			}
			seen[key.Value] = true
			var err error
			switch key.Value {
			case "op":
				s.Op, err = p.str(v, kf)
			case "mb":
				s.MB, err = p.num(v, kf)
			case "compute_mb_per_s":
				s.ComputeMBPerS, err = p.num(v, kf)
			default:
				return nil, p.errAt(key, kf, "unknown key; a stage has op, mb and compute_mb_per_s")
			}
			if err != nil {
				return nil, err
			}
		}
		if !seen["op"] {
			return nil, p.errAt(sn, f+".op", "missing; one of %s", strings.Join(channel.Ops, ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

// validate checks values once every key is read.
func (j *Job) validate(seen map[string]bool) error {
	positive := func(field string, v float64, required bool) error {
		switch {
		case !seen[field] && required:
			return inputerr.New(j.file, 0, field, "missing")
		case !seen[field]:
			return nil
		case v < 0:
			return j.Errorf(field, "%v is negative", v)
		case v == 0:
			return j.Errorf(field, "must be positive")
		}
		return nil
	}
	if err := positive("input_gb", j.InputGB, true); err != nil {
		return err
	}
	if !seen["stages"] {
		return inputerr.New(j.file, 0, "stages", "missing: give at least one, e.g. - {op: shuffle, compute_mb_per_s: 150}")
	}
	if len(j.Stages) == 0 {
		return j.Errorf("stages", "empty: give at least one stage")
	}
	for i, s := range j.Stages {
		f := fmt.Sprintf("stages[%d]", i)
		if !slices.Contains(channel.Ops, s.Op) {
			return j.Errorf(f+".op", "unknown op %q; want one of %s", s.Op, strings.Join(channel.Ops, ", "))
		}
		if s.MB < 0 {
			return j.Errorf(f+".mb", "%v is negative", s.MB)
		}
		if s.Op != channel.Shuffle && s.MB == 0 {
			return j.Errorf(f+".mb", "a %s needs the size of each worker's message in MB", s.Op)
		}
		if s.ComputeMBPerS < 0 {
			return j.Errorf(f+".compute_mb_per_s", "%v is negative", s.ComputeMBPerS)
		}
	}
	if !seen["workers"] {
		return inputerr.New(j.file, 0, "workers", "missing: give the worker counts to consider, e.g. [8, 16, 32, 64]")
	}
	if len(j.Workers) == 0 {
		return j.Errorf("workers", "no workers: give at least one worker count")
	}
	if err := checkInts(j, "workers", j.Workers, 1, 1<<20, "at least 1"); err != nil {
		return err
	}
	if err := checkInts(j, "lambda_memory_mb", j.LambdaMemoryMB, MinMemoryMB, MaxMemoryMB,
		fmt.Sprintf("Lambda offers %d to %d MB", MinMemoryMB, MaxMemoryMB)); err != nil {
		return err
	}
	if len(j.LambdaMemoryMB) == 0 && len(j.EC2Types) == 0 {
		return j.Errorf("lambda_memory_mb", "empty, and no ec2_types: nothing to plan")
	}
	for i, t := range j.EC2Types {
		if t == "" || slices.Contains(j.EC2Types[:i], t) {
			return j.Errorf(fmt.Sprintf("ec2_types[%d]", i), "%q is empty or given twice", t)
		}
	}
	if len(j.Channels) == 0 && len(j.LambdaMemoryMB) > 0 {
		return j.Errorf("channels", "empty: give some of %s", strings.Join(channel.LambdaChannels, ", "))
	}
	for i, c := range j.Channels {
		f := fmt.Sprintf("channels[%d]", i)
		if !slices.Contains(channel.LambdaChannels, c) {
			return j.Errorf(f, "unknown channel %q; want %s (EC2 clusters come from ec2_types)", c, strings.Join(channel.LambdaChannels, ", "))
		}
		if slices.Contains(j.Channels[:i], c) {
			return j.Errorf(f, "%q given twice", c)
		}
	}
	if err := positive("deadline_s", j.DeadlineS, false); err != nil {
		return err
	}
	if err := positive("budget_usd", j.BudgetUSD, false); err != nil {
		return err
	}
	if err := positive("memory_overhead", j.MemoryOverhead, false); err != nil {
		return err
	}
	if j.Arch != "x86_64" && j.Arch != "arm64" {
		return j.Errorf("arch", "%q: want x86_64 or arm64", j.Arch)
	}
	return nil
}

func checkInts(j *Job, field string, vs []int, lo, hi int, want string) error {
	for i, v := range vs {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case v < 0:
			return j.Errorf(f, "%d is negative; %s", v, want)
		case v < lo || v > hi:
			return j.Errorf(f, "%d is out of range; %s", v, want)
		case slices.Contains(vs[:i], v):
			return j.Errorf(f, "%d given twice", v)
		}
	}
	return nil
}
