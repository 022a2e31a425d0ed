package tables

import (
	"fmt"
	"io"
	"strings"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/pricing"
	"github.com/inferplan/inferplan/profiler/profile"
)

// TensorRT BERT table: where NVIDIA published it.
const (
	trtRepository = "github.com/NVIDIA/TensorRT"
	trtPath       = "demo/BERT/README.md"
	trtLicense    = "Apache-2.0"
)

var trtColumns = []string{"gpu", "model", "precision", "sequence_length", "batch_size",
	"latency_p95_ms", "latency_p99_ms", "latency_avg_ms", "tensorrt_version", "source_commit"}

// trtDTypes maps the first word of the table's precision to a dtype. The rest of the precision ("QAT sparse")
// is kept in the profile's provenance.
var trtDTypes = map[string]string{"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8", "fp8": "float8"}

// trtQualifiers are hardware-id qualifiers for GPUs EC2 sells in more than one variant under one name, taken from
// the table's own headings: NVIDIA measured the 40 GB A100 ("Inference performance: NVIDIA A100 (40GB)").
var trtQualifiers = map[string]string{"a100": "-40gb"}

// TensorRTBERT reads NVIDIA's TensorRT BERT latency table (tensorrt_bert_gpu_latency_by_batch_seqlen.csv, see
// ../shared/data/latency/README.md) into one GPU profile per (model, GPU, precision). name is the file name, used
// in errors and in each profile's source.
//
//   - model: the table's model lower-cased with words joined by hyphens: BERT-base → bert-base, BERT-large →
//     bert-large, "Megatron Large with Sparsity" → megatron-large-with-sparsity.
//   - hardware: "NVIDIA T4" → nvidia-t4, "NVIDIA A100" → nvidia-a100-40gb, "NVIDIA A30" → nvidia-a30,
//     "NVIDIA L40S" → nvidia-l40s (see the package comment).
//   - dtype: FP16 → float16, INT8 and "INT8 QAT sparse" → int8.
//   - batch = batch_size, size = sequence_length in tokens, latency_ms = latency_avg_ms (the table's average);
//     latency_p95_ms and latency_p99_ms are kept.
//
// Every profile's source names the table, the upstream repository, file and revision, the TensorRT version, and
// the caveats: host↔device copies are not timed and the engines are fixed-shape TensorRT engines, far faster than
// a stock PyTorch model. A malformed row is an *inputerr.Error naming the file, line and column.
func TensorRTBERT(r io.Reader, name string, opt Options) (*Result, error) {
	const kind = "TensorRT BERT"
	t, err := openTable(r, name, trtColumns, kind)
	if err != nil {
		return nil, err
	}
	type setup struct {
		gpu, model, precision, hardware, dtype string
	}
	var (
		res    = &Result{}
		order  []*group
		groups = map[string]*group{}
		setups = map[*group]setup{}
		// one profile per (model, hardware, dtype): two precisions with one dtype would be indistinguishable
		configs = map[string]*group{}
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
		gpu, err := t.str("gpu")
		if err != nil {
			return nil, err
		}
		hardware, err := gpuHardwareID(gpu)
		if err != nil {
			return nil, t.errorf("gpu", "%v", err)
		}
		rawModel, err := t.str("model")
		if err != nil {
			return nil, err
		}
		model := slug(rawModel)
		if model == "" {
			return nil, t.errorf("model", "%q has no letters or digits to name the model by", rawModel)
		}
		precision, err := t.str("precision")
		if err != nil {
			return nil, err
		}
		first, _, _ := strings.Cut(strings.ToLower(precision), " ")
		dtype, ok := trtDTypes[first]
		if !ok {
			return nil, t.errorf("precision", "%q: want FP32, TF32, FP16, BF16, INT8 or FP8, optionally followed by words such as \"QAT sparse\"", precision)
		}
		size, err := t.posInt("sequence_length")
		if err != nil {
			return nil, err
		}
		batch, err := t.posInt("batch_size")
		if err != nil {
			return nil, err
		}
		avg, err := t.ms("latency_avg_ms", false)
		if err != nil {
			return nil, err
		}
		p95, err := t.ms("latency_p95_ms", false)
		if err != nil {
			return nil, err
		}
		p99, err := t.ms("latency_p99_ms", false)
		if err != nil {
			return nil, err
		}
		version, err := t.str("tensorrt_version")
		if err != nil {
			return nil, err
		}
		commit, err := t.str("source_commit")
		if err != nil {
			return nil, err
		}

		key := fmt.Sprintf("%s %s %s", rawModel, gpu, precision)
		g := groups[key]
		if g == nil {
			g = newGroup(key, model, t.line())
			groups[key] = g
			order = append(order, g)
			setups[g] = setup{gpu, rawModel, precision, hardware, dtype}
			ck := model + "\x00" + hardware + "\x00" + dtype
			if other := configs[ck]; other != nil {
				return nil, t.errorf("precision", "%q gives dtype %s, as %q does on line %d for the same model and GPU: "+
					"the profile format cannot tell the two apart", precision, dtype, setups[other].precision, other.firstLine)
			}
			configs[ck] = g
		}
		if err := g.same(t, "tensorrt_version", version); err != nil {
			return nil, err
		}
		if err := g.same(t, "source_commit", commit); err != nil {
			return nil, err
		}
		m := profile.Measurement{Platform: profile.GPU, Hardware: hardware, DType: dtype, Batch: batch, Size: float64(size),
			LatencyMs: avg, Optional: map[string]float64{"latency_p95_ms": p95, "latency_p99_ms": p99}}
		if err := g.add(t, "batch_size", m); err != nil {
			return nil, err
		}
	}
	if res.Rows == 0 {
		return nil, inputerr.New(name, 0, "", "no data rows after the header")
	}
	table := baseName(name)
	cat := opt.catalog()
	offered := map[string]bool{}
	for _, g := range order {
		s := setups[g]
		version, revision := g.constant["tensorrt_version"], g.constant["source_commit"]
		pv := Provenance{Kind: "published", Table: table, Repository: trtRepository, Path: trtPath, Revision: revision,
			License: trtLicense, Software: "TensorRT " + version, Hardware: s.gpu, Precision: s.precision, Upstream: s.model}
		src := fmt.Sprintf("NVIDIA's published TensorRT BERT results, %s %s on %s, %s: %s %s (\"Results\"), %s, %s; copied into %s. "+
			"Measured with scripts/inference_benchmark.sh: 100 warm-up iterations, then 1000-2000 timed iterations per batch size; "+
			"latency_ms is the table's average, latency_p95_ms and latency_p99_ms its percentiles. "+
			"Caveats: host-to-device and device-to-host copies are not timed, and the engines are fixed-shape TensorRT engines built for each "+
			"sequence length, tuned well beyond stock PyTorch: a PyTorch server on the same GPU is slower.",
			s.model, s.precision, s.gpu, pv.Software, trtRepository, trtPath, describeRevision(revision), trtLicense, table)
		p, err := newProfile(g.model, src, pv, g.ms)
		if err != nil {
			return nil, err
		}
		res.Profiles = append(res.Profiles, p)
		if _, seen := offered[s.hardware]; !seen {
			offered[s.hardware] = gpuOnEC2(cat, GPUName(s.hardware))
			if !offered[s.hardware] {
				res.Notes = append(res.Notes, fmt.Sprintf("%s (%s): no EC2 instance type in the catalog has this GPU, so a cluster plan "+
					"cannot use its profiles; they are written for comparison.", s.gpu, s.hardware))
			}
		}
	}
	res.Notes = append(res.Notes, "TensorRT numbers leave out host-device copies and come from fixed-shape engines: "+
		"read them as a lower bound for the same model served from PyTorch.")
	sortResult(res)
	return res, nil
}

// gpuHardwareID turns the table's GPU name into a hardware id: "NVIDIA A100" → nvidia-a100-40gb.
func gpuHardwareID(gpu string) (string, error) {
	rest, ok := strings.CutPrefix(gpu, "NVIDIA ")
	if !ok {
		return "", fmt.Errorf("%q: want an NVIDIA GPU name such as \"NVIDIA T4\"", gpu)
	}
	id := slug(rest)
	if id == "" {
		return "", fmt.Errorf("%q names no GPU model", gpu)
	}
	// only a bare name gets the qualifier: "NVIDIA A100 80GB" already says which A100 it is
	return "nvidia-" + id + trtQualifiers[id], nil
}

// gpuOnEC2 says whether some instance type in the catalog has this GPU.
func gpuOnEC2(cat *pricing.Catalog, name string) bool {
	for _, in := range cat.Instances(pricing.Filter{GPU: name}) {
		if in.GPU != nil && in.GPU.Name == name {
			return true
		}
	}
	return false
}

// describeRevision spells out git's "~1" suffix, which the table uses for "the last version before this commit".
func describeRevision(rev string) string {
	if c, ok := strings.CutSuffix(rev, "~1"); ok {
		return fmt.Sprintf("revision %s (the parent of commit %s)", rev, c)
	}
	return "commit " + rev
}
