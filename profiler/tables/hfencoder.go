package tables

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/pricing"
	"github.com/inferplan/inferplan/profiler/profile"
)

// Hugging Face encoder table: where Philipp Schmid published it. The table itself names only the file in the
// repository (source_file); the revisions are those its README (../shared/data/latency/README.md) records.
const (
	hfRepository   = "github.com/philschmid/aws-neuron-samples"
	hfSnapshot     = "381667c71c4eedb98322f43f48677db7681ada7c"
	hfLastChanged  = "863aff21bd5f361505588cb6aaae679cc4b6b14e"
	hfLicense      = "MIT"
	hfCPUScript    = "benchmark/scripts/inference_transformers.py"
	hfGPUScript    = "benchmark/scripts/inference_transformers_gpu.py"
	hfMethodCommon = "Input padded to the sequence length, batch 1, 10 warm-up calls, then 100 calls timed with time.perf_counter; " +
		"latency_ms is their mean, latency_p95_ms their 95th percentile (numpy), latency_std_ms their standard deviation."
)

var hfColumns = []string{"model", "instance_type", "batch_size", "sequence_length", "time_avg_ms", "time_std_ms", "time_p95_ms", "source_file"}

// hfModels maps Hugging Face model ids to the measured profiles' names; other models keep their id.
var hfModels = map[string]string{
	"distilbert-base-uncased": "distilbert",
	"bert-base-uncased":       "bert-base",
	"bert-large-uncased":      "bert-large",
}

// HFEncoderBatch1 reads the Hugging Face encoder table (hf_encoder_p95_latency_batch1_aws_instances.csv, see
// ../shared/data/latency/README.md) into one profile per (model, instance type). name is the file name, used in
// errors and in each profile's source.
//
//   - model: the table writes Hugging Face ids with "-" turned into "_" (the benchmark's file names do); the id is
//     restored and mapped to the measured profiles' names: distilbert-base-uncased → distilbert,
//     bert-base-uncased → bert-base, bert-large-uncased → bert-large; others keep their id (roberta-base,
//     albert-base-v2).
//   - hardware, from the instance type's entry in the EC2 catalog: an instance without GPU or accelerator is a
//     cpu profile on ec2-<type> with the instance's vCPUs (c6i.2xlarge → ec2-c6i.2xlarge, 8 vCPUs); an instance
//     with an NVIDIA GPU is a gpu profile on nvidia-<gpu> (g5.2xlarge → nvidia-a10g).
//   - dtype float32: neither benchmark script converts the model to half precision.
//   - batch = batch_size (always 1), size = sequence_length in tokens, latency_ms = time_avg_ms; time_p95_ms is
//     kept as latency_p95_ms and time_std_ms as latency_std_ms.
//
// Rows that cannot be a profile are skipped and listed in Result.Skipped with the reason, never dropped
// silently: Inferentia instances (the profile format has no Neuron platform) and instance types missing from the
// catalog. A malformed row is an *inputerr.Error naming the file, line and column.
func HFEncoderBatch1(r io.Reader, name string, opt Options) (*Result, error) {
	const kind = "Hugging Face encoder"
	t, err := openTable(r, name, hfColumns, kind)
	if err != nil {
		return nil, err
	}
	cat := opt.catalog()
	type target struct {
		instance, upstream string
		platform           profile.Platform
		hardware           string
		vcpus              float64
		skip               string // why the rows cannot be a profile; "" when they can
	}
	var (
		res     = &Result{}
		order   []*group
		groups  = map[string]*group{}
		targets = map[*group]target{}
	)
	for {
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		res.Rows++
		rawModel, err := t.str("model")
		if err != nil {
			return nil, err
		}
		upstream := strings.ReplaceAll(rawModel, "_", "-")
		model := hfModels[upstream]
		if model == "" {
			if model = slug(upstream); model == "" {
				return nil, t.errorf("model", "%q has no letters or digits to name the model by", rawModel)
			}
		}
		instance, err := t.str("instance_type")
		if err != nil {
			return nil, err
		}
		batch, err := t.posInt("batch_size")
		if err != nil {
			return nil, err
		}
		size, err := t.posInt("sequence_length")
		if err != nil {
			return nil, err
		}
		avg, err := t.ms("time_avg_ms", false)
		if err != nil {
			return nil, err
		}
		std, err := t.ms("time_std_ms", true)
		if err != nil {
			return nil, err
		}
		p95, err := t.ms("time_p95_ms", false)
		if err != nil {
			return nil, err
		}
		file, err := t.str("source_file")
		if err != nil {
			return nil, err
		}

		key := rawModel + " on " + instance
		g := groups[key]
		if g == nil {
			g = newGroup(key, model, t.line())
			groups[key] = g
			order = append(order, g)
			tg := target{instance: instance, upstream: upstream}
			tg.platform, tg.hardware, tg.vcpus, tg.skip = instanceHardware(cat, instance)
			targets[g] = tg
		}
		if err := g.same(t, "source_file", file); err != nil {
			return nil, err
		}
		tg := targets[g]
		m := profile.Measurement{Platform: tg.platform, Hardware: tg.hardware, VCPUs: tg.vcpus, DType: "float32", Batch: batch,
			Size: float64(size), LatencyMs: avg, Optional: map[string]float64{"latency_p95_ms": p95},
			Extra: map[string]json.RawMessage{"latency_std_ms": json.RawMessage(strconv.FormatFloat(std, 'g', -1, 64))}}
		if err := g.add(t, "sequence_length", m); err != nil {
			return nil, err
		}
	}
	if res.Rows == 0 {
		return nil, inputerr.New(name, 0, "", "no data rows after the header")
	}
	table := baseName(name)
	gpuNote := false
	for _, g := range order {
		tg := targets[g]
		if tg.skip != "" {
			res.Skipped = append(res.Skipped, Skip{Model: g.model, Hardware: tg.instance, Rows: len(g.ms), Lines: g.lines, Reason: tg.skip})
			continue
		}
		file := g.constant["source_file"]
		pv := Provenance{Kind: "published", Table: table, Repository: hfRepository, Path: file,
			Revision: hfSnapshot, License: hfLicense,
			Software: "PyTorch, Hugging Face transformers", Upstream: tg.upstream, Instance: tg.instance}
		method := fmt.Sprintf("Method (%s): eager PyTorch on the CPU with its default thread count.", hfCPUScript)
		if tg.platform == profile.GPU {
			gpuNote = true
			method = fmt.Sprintf("Method (%s): eager PyTorch on the GPU; calls are timed without torch.cuda.synchronize, so "+
				"back-to-back calls measure the longer of the GPU time and the host's kernel-launch time: a time that "+
				"stays flat as tokens grow is launch-bound there.", hfGPUScript)
		}
		src := fmt.Sprintf("Hugging Face transformers AutoModelForSequenceClassification %q, float32, on an AWS %s, "+
			"measured and published by Philipp Schmid: %s %s at commit %s (results last changed in %s, 2023-02-14), %s licence; "+
			"copied into %s. %s %s Batch 1 only.",
			tg.upstream, tg.instance, hfRepository, file, hfSnapshot, hfLastChanged, hfLicense, table, hfMethodCommon, method)
		p, err := newProfile(g.model, src, pv, g.ms)
		if err != nil {
			return nil, err
		}
		res.Profiles = append(res.Profiles, p)
	}
	res.Notes = append(res.Notes, "Batch 1 only: these profiles say nothing about how latency grows with batch size.")
	if gpuNote {
		res.Notes = append(res.Notes, "GPU rows were timed without synchronising the GPU: "+
			"read them as per-call service time of back-to-back calls, not as one call's latency.")
	}
	sortResult(res)
	return res, nil
}

// instanceHardware says what an instance type is in a profile, from the EC2 catalog: a CPU instance, an NVIDIA
// GPU, or a reason it cannot be one.
func instanceHardware(cat *pricing.Catalog, typ string) (platform profile.Platform, hardware string, vcpus float64, skip string) {
	in, ok := cat.Instance(typ)
	switch {
	case !ok:
		return "", "", 0, fmt.Sprintf("instance type %s is not in the EC2 catalog (%s), so its hardware is unknown", typ, cat.Source())
	case in.Accelerator != nil:
		return "", "", 0, fmt.Sprintf("%s ran the model on its Neuron accelerator (%s, %d NeuronCores), compiled with the Neuron SDK: "+
			"the profile format has no Neuron platform (only lambda, cpu and gpu)", typ, in.Accelerator.Name, in.Accelerator.NeuronCores)
	case in.GPU != nil && !strings.EqualFold(in.GPU.Manufacturer, "nvidia"):
		return "", "", 0, fmt.Sprintf("%s has a %s %s GPU; hardware ids name NVIDIA GPUs only", typ, in.GPU.Manufacturer, in.GPU.Name)
	case in.GPU != nil:
		return profile.GPU, "nvidia-" + in.GPU.Name, 0, ""
	case in.VCPUs < 1:
		return "", "", 0, fmt.Sprintf("the EC2 catalog gives %s no vCPUs", typ)
	}
	return profile.CPU, "ec2-" + typ, float64(in.VCPUs), ""
}
