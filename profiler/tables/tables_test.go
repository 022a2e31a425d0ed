package tables

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/profiler/profile"
)

// The fixtures are byte-for-byte copies of ../shared/data/latency/*.csv (the README there describes them).
const (
	trtFile = "testdata/tensorrt_bert_gpu_latency_by_batch_seqlen.csv"
	hfFile  = "testdata/hf_encoder_p95_latency_batch1_aws_instances.csv"
)

type reader func(r *bytes.Reader, name string) (*Result, error)

func trt(r *bytes.Reader, name string) (*Result, error) { return TensorRTBERT(r, name, Options{}) }
func hf(r *bytes.Reader, name string) (*Result, error)  { return HFEncoderBatch1(r, name, Options{}) }

func readFixture(t *testing.T, path string, read reader) *Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := read(bytes.NewReader(data), path)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// find returns the profile of model on hardware in dtype.
func find(t *testing.T, res *Result, model, hardware, dtype string) *profile.Profile {
	t.Helper()
	for _, p := range res.Profiles {
		m := p.Measurements[0]
		if p.Model == model && m.Hardware == hardware && m.DType == dtype {
			return p
		}
	}
	t.Fatalf("no profile of %s on %s in %s", model, hardware, dtype)
	return nil
}

// point returns the measurement at batch and size.
func point(t *testing.T, p *profile.Profile, batch int, size float64) profile.Measurement {
	t.Helper()
	for _, m := range p.Measurements {
		if m.Batch == batch && m.Size == size {
			return m
		}
	}
	t.Fatalf("%s has no point at batch %d, size %g", p.Model, batch, size)
	return profile.Measurement{}
}

// TestTensorRTBERTHandChecked compares against cells read by eye from the CSV (lines 303 and 309: T4 BERT-base
// FP16, sequence length 128, batch 1 and 8; they match NVIDIA's README at commit 1d6bf360).
func TestTensorRTBERTHandChecked(t *testing.T) {
	res := readFixture(t, trtFile, trt)
	if res.Rows != 380 || len(res.Profiles) != 19 || len(res.Skipped) != 0 {
		t.Fatalf("%d rows, %d profiles, %d skips; want 380, 19 (4 GPUs × 2 models × 2 precisions + 3 sparse Megatron), 0",
			res.Rows, len(res.Profiles), len(res.Skipped))
	}
	p := find(t, res, "bert-base", "nvidia-t4", "float16")
	if p.SizeUnit != "tokens" || len(p.Measurements) != 20 {
		t.Fatalf("size unit %q, %d points; want tokens, 20 (10 batches × 2 lengths)", p.SizeUnit, len(p.Measurements))
	}
	for _, c := range []struct {
		batch         int
		avg, p95, p99 float64
	}{{1, 1.9, 1.94, 1.95}, {8, 8.3, 8.64, 9.01}} {
		m := point(t, p, c.batch, 128)
		if m.Platform != profile.GPU || m.LatencyMs != c.avg || m.Optional["latency_p95_ms"] != c.p95 || m.Optional["latency_p99_ms"] != c.p99 {
			t.Errorf("batch %d: %+v; want gpu, avg %g, p95 %g, p99 %g", c.batch, m, c.avg, c.p95, c.p99)
		}
	}
	if m := point(t, find(t, res, "bert-large", "nvidia-t4", "float16"), 128, 384); m.LatencyMs != 1358.01 {
		t.Errorf("T4 BERT-large FP16 384×128: %g ms, want 1358.01 (the last line)", m.LatencyMs)
	}
	if m := point(t, find(t, res, "bert-base", "nvidia-a100-40gb", "int8"), 1, 128); m.LatencyMs != 0.54 || m.Optional["latency_p95_ms"] != 0.67 {
		t.Errorf("A100 BERT-base INT8 128×1: %+v, want avg 0.54, p95 0.67 (line 2)", m)
	}
	sparse := find(t, res, "megatron-large-with-sparsity", "nvidia-l40s", "int8")
	if pv, ok := ProvenanceOf(sparse); !ok || pv.Precision != "INT8 QAT sparse" || pv.Upstream != "Megatron Large with Sparsity" {
		t.Errorf("sparse Megatron provenance %+v", pv)
	}

	hardware := map[string]string{}
	for _, p := range res.Profiles {
		hardware[p.Measurements[0].Hardware] = GPUName(p.Measurements[0].Hardware)
	}
	want := map[string]string{"nvidia-t4": "t4", "nvidia-a100-40gb": "a100", "nvidia-a30": "a30", "nvidia-l40s": "l40s"}
	if !reflect.DeepEqual(hardware, want) {
		t.Errorf("hardware ids → GPU names %v, want %v", hardware, want)
	}

	for _, w := range []string{"tensorrt_bert_gpu_latency_by_batch_seqlen.csv", "github.com/NVIDIA/TensorRT", "demo/BERT/README.md",
		"1d6bf36034bb07fc88d924ebf5d34d358298e545", "TensorRT 8.5.1", "Apache-2.0", "host-to-device", "fixed-shape", "average"} {
		if !strings.Contains(p.Source, w) {
			t.Errorf("T4 source lacks %q:\n%s", w, p.Source)
		}
	}
	if strings.Contains(p.Source, "testdata/") {
		t.Errorf("source names the path the table was read from, not the table:\n%s", p.Source)
	}
	a100 := find(t, res, "bert-base", "nvidia-a100-40gb", "float16")
	if !strings.Contains(a100.Source, "TensorRT 10.11") || !strings.Contains(a100.Source, "the parent of commit 771d8efdf7f9d7b1eeb0864eb05d4dd8a7755bb5") {
		t.Errorf("A100 source:\n%s", a100.Source)
	}
	pv, ok := ProvenanceOf(p)
	if !ok || pv != (Provenance{Kind: "published", Table: "tensorrt_bert_gpu_latency_by_batch_seqlen.csv", Repository: "github.com/NVIDIA/TensorRT",
		Path: "demo/BERT/README.md", Revision: "1d6bf36034bb07fc88d924ebf5d34d358298e545", License: "Apache-2.0", Software: "TensorRT 8.5.1",
		Hardware: "NVIDIA T4", Precision: "FP16", Upstream: "BERT-base"}) {
		t.Errorf("provenance %+v", pv)
	}
	// The A30 is on no EC2 instance type: say so rather than let a planner wonder why it is never chosen.
	if notes := strings.Join(res.Notes, "\n"); !strings.Contains(notes, "nvidia-a30") || strings.Contains(notes, "nvidia-t4") {
		t.Errorf("notes should name the A30 (not on EC2) and only it:\n%s", notes)
	}
}

// TestHFEncoderHandChecked compares against cells read by eye from the CSV (line 34: bert_base_uncased on
// c6i.2xlarge at 128 tokens; line 37: on g5.2xlarge at 8 tokens, which matches the upstream result file).
func TestHFEncoderHandChecked(t *testing.T) {
	res := readFixture(t, hfFile, hf)
	if res.Rows != 133 || len(res.Profiles) != 10 {
		t.Fatalf("%d rows, %d profiles; want 133, 10 (5 models × c6i and g5)", res.Rows, len(res.Profiles))
	}
	cpu := find(t, res, "bert-base", "ec2-c6i.2xlarge", "float32")
	m := point(t, cpu, 1, 128)
	if m.Platform != profile.CPU || m.VCPUs != 8 || m.LatencyMs != 54.0554 || m.Optional["latency_p95_ms"] != 54.3145 || string(m.Extra["latency_std_ms"]) != "0.1597" {
		t.Errorf("c6i bert-base 128: %+v", m)
	}
	if InstanceType(m.Hardware) != "c6i.2xlarge" {
		t.Errorf("InstanceType(%q) = %q", m.Hardware, InstanceType(m.Hardware))
	}
	gpu := find(t, res, "bert-base", "nvidia-a10g", "float32")
	m = point(t, gpu, 1, 8)
	if m.Platform != profile.GPU || m.VCPUs != 0 || m.LatencyMs != 8.2192 || m.Optional["latency_p95_ms"] != 8.3068 || GPUName(m.Hardware) != "a10g" {
		t.Errorf("g5 bert-base 8: %+v", m)
	}
	for _, p := range res.Profiles {
		if len(p.Measurements) != 7 {
			t.Errorf("%s on %s: %d points, want 7 lengths at batch 1", p.Model, p.Measurements[0].Hardware, len(p.Measurements))
		}
		for _, m := range p.Measurements {
			if m.Batch != 1 {
				t.Errorf("%s: batch %d in a batch-1 table", p.Model, m.Batch)
			}
		}
	}
	models := map[string]bool{}
	for _, p := range res.Profiles {
		models[p.Model] = true
	}
	if !reflect.DeepEqual(models, map[string]bool{"distilbert": true, "bert-base": true, "bert-large": true, "roberta-base": true, "albert-base-v2": true}) {
		t.Errorf("models %v", models)
	}
	if pv, _ := ProvenanceOf(gpu); pv.Instance != "g5.2xlarge" || pv.Upstream != "bert-base-uncased" ||
		pv.Path != "benchmark/results/benchmmark_g5.2xlarge_bert_base_uncased.csv" || pv.License != "MIT" {
		t.Errorf("g5 provenance %+v", pv)
	}
	for _, w := range []string{"hf_encoder_p95_latency_batch1_aws_instances.csv", "github.com/philschmid/aws-neuron-samples",
		"benchmark/results/benchmmark_g5.2xlarge_bert_base_uncased.csv", "381667c71c4eedb98322f43f48677db7681ada7c", "synchronize", "Batch 1 only"} {
		if !strings.Contains(gpu.Source, w) {
			t.Errorf("g5 source lacks %q:\n%s", w, gpu.Source)
		}
	}

	// Inferentia: 4 models on inf1 (no bert-large) and 5 on inf2, 7 lengths each, every row accounted for.
	if len(res.Skipped) != 9 {
		t.Fatalf("%d skip groups, want 9: %+v", len(res.Skipped), res.Skipped)
	}
	rows := 0
	for _, s := range res.Skipped {
		rows += s.Rows
		if !strings.HasPrefix(s.Hardware, "inf") || !strings.Contains(s.Reason, "no Neuron platform") || len(s.Lines) != s.Rows {
			t.Errorf("skip %+v", s)
		}
	}
	if rows+10*7 != res.Rows {
		t.Errorf("%d rows skipped + 70 in profiles ≠ %d rows read", rows, res.Rows)
	}
	if s := res.Skipped[2]; s.Model != "bert-base" || s.Hardware != "inf1.2xlarge" || s.Lines[0] != 44 || s.Lines[6] != 50 {
		t.Errorf("bert-base on inf1: %+v, want lines 44–50", s)
	}
}

// TestWrittenProfilesParse: everything the readers make writes to a document profile.Parse reads back to the same
// profile, and rewriting that gives the same bytes; file names are distinct.
func TestWrittenProfilesParse(t *testing.T) {
	for _, c := range []struct {
		path string
		read reader
	}{{trtFile, trt}, {hfFile, hf}} {
		res := readFixture(t, c.path, c.read)
		names := map[string]bool{}
		for _, p := range res.Profiles {
			name := FileName(p)
			if names[name] {
				t.Errorf("file name %s twice", name)
			}
			names[name] = true
			var buf bytes.Buffer
			if err := p.Write(&buf); err != nil {
				t.Fatal(err)
			}
			q, err := profile.Parse(buf.Bytes(), name)
			if err != nil {
				t.Fatalf("%s does not parse: %v", name, err)
			}
			if q.Model != p.Model || q.Source != p.Source || q.SizeUnit != p.SizeUnit || len(q.Measurements) != len(p.Measurements) {
				t.Fatalf("%s: read back %q/%q/%d measurements", name, q.Model, q.SizeUnit, len(q.Measurements))
			}
			for i := range p.Measurements {
				a, b := p.Measurements[i], q.Measurements[i]
				if a.Key() != b.Key() || a.Batch != b.Batch || a.Size != b.Size || a.LatencyMs != b.LatencyMs ||
					!reflect.DeepEqual(a.Optional, b.Optional) || !reflect.DeepEqual(a.Extra, b.Extra) {
					t.Fatalf("%s measurement %d: wrote %+v, read %+v", name, i, a, b)
				}
			}
			if pv, ok := ProvenanceOf(q); !ok || pv.Kind != "published" {
				t.Errorf("%s: provenance lost on reading back", name)
			}
			var again bytes.Buffer
			if err := q.Write(&again); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
				t.Errorf("%s: rewrite differs", name)
			}
		}
	}
}

// TestResultIndependentOfRowOrder: the same rows in reverse order give the same profiles.
func TestResultIndependentOfRowOrder(t *testing.T) {
	data, err := os.ReadFile(trtFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	rev := []string{lines[0]}
	for i := len(lines) - 1; i > 0; i-- {
		rev = append(rev, lines[i])
	}
	a, err := TensorRTBERT(bytes.NewReader(data), "t.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := TensorRTBERT(strings.NewReader(strings.Join(rev, "\n")+"\n"), "t.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Profiles {
		var x, y bytes.Buffer
		_ = a.Profiles[i].Write(&x)
		_ = b.Profiles[i].Write(&y)
		if x.String() != y.String() {
			t.Fatalf("profile %d differs with the rows reversed:\n%s\n%s", i, x.String(), y.String())
		}
	}
}

const (
	trtHeader = "gpu,model,precision,sequence_length,batch_size,latency_p95_ms,latency_p99_ms,latency_avg_ms,tensorrt_version,source_commit\n"
	trtRow1   = "NVIDIA T4,BERT-base,FP16,128,1,1.94,1.95,1.9,8.5.1,1d6bf36\n"
	trtRow8   = "NVIDIA T4,BERT-base,FP16,128,8,8.64,9.01,8.3,8.5.1,1d6bf36\n"
	hfHeader  = "model,instance_type,device,batch_size,sequence_length,time_avg_ms,time_std_ms,time_p95_ms,source_file\n"
	hfRow8    = "bert_base_uncased,c6i.2xlarge,CPU,1,8,19.7695,0.2541,19.9015,b/c6i_bert.csv\n"
	hfRow16   = "bert_base_uncased,c6i.2xlarge,CPU,1,16,23.0157,0.2108,23.1138,b/c6i_bert.csv\n"
)

// TestMalformedTables: every bad table is an input error naming the file, the line and the column.
func TestMalformedTables(t *testing.T) {
	for _, c := range []struct {
		name string
		read reader
		in   string
		want string // the whole message
	}{
		{"empty", trt, "", `bad.csv:1: empty file: want a TensorRT BERT table with a header row`},
		{"header only", trt, trtHeader, `bad.csv: no data rows after the header`},
		{"missing column", hf, strings.Replace(hfHeader, "time_p95_ms", "p95", 1) + hfRow8,
			`bad.csv:1: time_p95_ms: missing column: a Hugging Face encoder table has the columns model, instance_type, batch_size, sequence_length, time_avg_ms, time_std_ms, time_p95_ms, source_file (this header: model,instance_type,device,batch_size,sequence_length,time_avg_ms,time_std_ms,p95,source_file)`},
		{"duplicate column", trt, "gpu,gpu\nx,y\n", `bad.csv:1: gpu: column appears twice in the header`},
		{"zero batch", trt, trtHeader + trtRow1 + strings.Replace(trtRow8, ",8,", ",0,", 1), `bad.csv:3: batch_size: "0" is not a whole number ≥ 1`},
		{"fractional length", hf, hfHeader + strings.Replace(hfRow8, ",8,", ",8.5,", 1), `bad.csv:2: sequence_length: "8.5" is not a whole number ≥ 1`},
		{"text latency", trt, trtHeader + strings.Replace(trtRow1, "1.9,", "fast,", 1), `bad.csv:2: latency_avg_ms: "fast" is not a number of milliseconds`},
		{"zero latency", trt, trtHeader + strings.Replace(trtRow1, "1.95", "0", 1), `bad.csv:2: latency_p99_ms: 0 ms is not a latency (want > 0)`},
		{"NaN latency", hf, hfHeader + strings.Replace(hfRow8, "19.7695", "NaN", 1), `bad.csv:2: time_avg_ms: "NaN" is not a number of milliseconds`},
		{"negative std", hf, hfHeader + strings.Replace(hfRow8, "0.2541", "-0.1", 1), `bad.csv:2: time_std_ms: -0.1 ms is not a latency (want > 0)`},
		{"not UTF-8", trt, trtHeader + strings.Replace(trtRow1, "1d6bf36", "1d6\x80", 1), `bad.csv:2: source_commit: "1d6\x80" is not valid UTF-8`},
		{"empty cell", trt, trtHeader + strings.Replace(trtRow1, "8.5.1", "", 1), `bad.csv:2: tensorrt_version: empty`},
		{"not NVIDIA", trt, trtHeader + strings.Replace(trtRow1, "NVIDIA T4", "AMD MI300X", 1), `bad.csv:2: gpu: "AMD MI300X": want an NVIDIA GPU name such as "NVIDIA T4"`},
		{"unknown precision", trt, trtHeader + strings.Replace(trtRow1, "FP16", "FP4", 1), `bad.csv:2: precision: "FP4": want FP32, TF32, FP16, BF16, INT8 or FP8, optionally followed by words such as "QAT sparse"`},
		{"no model name", hf, hfHeader + strings.Replace(hfRow8, "bert_base_uncased", "___", 1), `bad.csv:2: model: "___" has no letters or digits to name the model by`},
		{"ragged row", trt, trtHeader + trtRow1 + "NVIDIA T4,BERT-base\n", `bad.csv:3: the row has a different number of fields than the header's 10`},
		{"bare quote", hf, hfHeader + hfRow8 + `bert"base,c6i.2xlarge,CPU,1,16,1,0,1,f` + "\n", `bad.csv:3: column 5: bare " in non-quoted-field`},
		{"point twice", trt, trtHeader + trtRow1 + trtRow8 + trtRow1, `bad.csv:4: batch_size: batch 1, size 128 is already on line 2 for BERT-base NVIDIA T4 FP16`},
		{"version changes", trt, trtHeader + trtRow1 + strings.Replace(trtRow8, "8.5.1", "10.11", 1),
			`bad.csv:3: tensorrt_version: "10.11" differs from "8.5.1" on line 2 for the same BERT-base NVIDIA T4 FP16: one profile must come from one setup`},
		{"source file changes", hf, hfHeader + hfRow8 + strings.Replace(hfRow16, "b/c6i_bert.csv", "b/other.csv", 1),
			`bad.csv:3: source_file: "b/other.csv" differs from "b/c6i_bert.csv" on line 2 for the same bert_base_uncased on c6i.2xlarge: one profile must come from one setup`},
		{"two precisions, one dtype", trt, trtHeader + trtRow1 + strings.Replace(strings.Replace(trtRow1, "FP16", "INT8", 1), "T4", "A30", 1) +
			strings.Replace(strings.Replace(trtRow1, "FP16", "INT8 QAT", 1), "T4", "A30", 1),
			`bad.csv:4: precision: "INT8 QAT" gives dtype int8, as "INT8" does on line 3 for the same model and GPU: the profile format cannot tell the two apart`},
		// a quoted cell over two lines: the error is on the line the cell starts on
		{"multi-line cell", trt, trtHeader + trtRow1 + "\"NVIDIA\nT4\",BERT-base,FP16,128,1,x,1,1,1,c\n", `bad.csv:3: gpu: "NVIDIA\nT4": want an NVIDIA GPU name such as "NVIDIA T4"`},
		// ... and a bad cell after it is reported on its own line, not on the line the row starts on
		{"after a multi-line cell", trt, trtHeader + trtRow1 + "NVIDIA T4,\"BERT\nbase\",FP16,128,0,1,1,1,1,c\n", `bad.csv:4: batch_size: "0" is not a whole number ≥ 1`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := c.read(bytes.NewReader([]byte(c.in)), "bad.csv")
			if err == nil {
				t.Fatalf("no error; %d profiles", len(res.Profiles))
			}
			if !inputerr.Is(err) {
				t.Errorf("%v is not an input error (exit 2)", err)
			}
			if err.Error() != c.want {
				t.Errorf("error\n  %s\nwant\n  %s", err, c.want)
			}
		})
	}
}

// TestFlexibleHeader: a byte-order mark, reordered and extra columns, spaces around cells and CRLF line ends are
// all read as the plain table.
func TestFlexibleHeader(t *testing.T) {
	in := "\ufeffbatch_size, model ,extra,instance_type,sequence_length,time_avg_ms,time_std_ms,time_p95_ms,source_file\r\n" +
		"1, bert_base_uncased ,x,c6i.2xlarge,8, 19.7695 ,0.2541,19.9015,b/c6i_bert.csv\r\n"
	res, err := HFEncoderBatch1(strings.NewReader(in), "h.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Profiles) != 1 || res.Profiles[0].Model != "bert-base" || res.Profiles[0].Measurements[0].LatencyMs != 19.7695 {
		t.Fatalf("%+v", res.Profiles)
	}
}

// TestUnknownInstanceSkipped: an instance type the catalog does not know is skipped and reported, not guessed.
func TestUnknownInstanceSkipped(t *testing.T) {
	in := hfHeader + hfRow8 + strings.ReplaceAll(hfRow8+hfRow16, "c6i.2xlarge", "zz9.huge")
	res, err := HFEncoderBatch1(strings.NewReader(in), "h.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Profiles) != 1 || len(res.Skipped) != 1 {
		t.Fatalf("%d profiles, %d skipped", len(res.Profiles), len(res.Skipped))
	}
	s := res.Skipped[0]
	if s.Hardware != "zz9.huge" || s.Rows != 2 || !reflect.DeepEqual(s.Lines, []int{3, 4}) || !strings.Contains(s.Reason, "not in the EC2 catalog") {
		t.Errorf("%+v", s)
	}
}

func TestHardwareIDs(t *testing.T) {
	for _, c := range []struct{ id, gpu, instance string }{
		{"nvidia-t4", "t4", ""},
		{"nvidia-a100-40gb", "a100", ""},
		{"nvidia-h100-80gb-hbm3", "h100", ""}, // the measured profiles' id
		{"nvidia-a30", "a30", ""},             // on no EC2 instance: the part before any qualifier
		{"nvidia-rtx-pro-4500-blackwell", "rtx-pro-4500", ""},
		{"nvidia-", "", ""},
		{"ec2-c6i.2xlarge", "", "c6i.2xlarge"},
		{"x86_64-host-16core", "", ""},
		{"lambda-x86_64", "", ""},
	} {
		if g := GPUName(c.id); g != c.gpu {
			t.Errorf("GPUName(%q) = %q, want %q", c.id, g, c.gpu)
		}
		if i := InstanceType(c.id); i != c.instance {
			t.Errorf("InstanceType(%q) = %q, want %q", c.id, i, c.instance)
		}
	}
	for in, want := range map[string]string{"NVIDIA A100": "nvidia-a100-40gb", "NVIDIA A100 80GB": "nvidia-a100-80gb", "NVIDIA L40S": "nvidia-l40s", "NVIDIA T4": "nvidia-t4"} {
		if got, err := gpuHardwareID(in); err != nil || got != want {
			t.Errorf("gpuHardwareID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestFileName(t *testing.T) {
	mk := func(model string, m profile.Measurement) *profile.Profile {
		return &profile.Profile{Model: model, Measurements: []profile.Measurement{m}}
	}
	for _, c := range []struct {
		p    *profile.Profile
		want string
	}{
		{mk("bert-base", profile.Measurement{Platform: profile.GPU, Hardware: "nvidia-t4", DType: "float16"}), "gpu-t4-bert-base-float16.json"},
		{mk("bert-base", profile.Measurement{Platform: profile.GPU, Hardware: "nvidia-a100-40gb", DType: "int8"}), "gpu-a100-40gb-bert-base-int8.json"},
		{mk("distilbert", profile.Measurement{Platform: profile.CPU, Hardware: "ec2-c6i.2xlarge", DType: "float32"}), "cpu-c6i.2xlarge-distilbert-float32.json"},
		{mk("../../etc/Passwd", profile.Measurement{Platform: profile.CPU, Hardware: "ec2-x"}), "cpu-x-etc-passwd.json"},
	} {
		if got := FileName(c.p); got != c.want || filepath.Base(got) != got {
			t.Errorf("FileName = %q, want %q", got, c.want)
		}
	}
}

// The provenance object is plain JSON a tool can read without this package.
func TestProvenanceIsPlainJSON(t *testing.T) {
	res := readFixture(t, hfFile, hf)
	var m map[string]any
	if err := json.Unmarshal(res.Profiles[0].Extra["provenance"], &m); err != nil || m["kind"] != "published" || m["license"] != "MIT" {
		t.Fatalf("%v %v", m, err)
	}
}
