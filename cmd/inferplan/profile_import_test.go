package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/reports"
)

// Byte-for-byte copies of ../shared/data/latency/*.csv, kept with the package that reads them.
const (
	trtTable = "../../profiler/tables/testdata/tensorrt_bert_gpu_latency_by_batch_seqlen.csv"
	hfTable  = "../../profiler/tables/testdata/hf_encoder_p95_latency_batch1_aws_instances.csv"
)

// importArgs are the commands that made ../../testdata/profiles (its README quotes them).
var importArgs = [][]string{
	{"profile", "import", trtTable, "--table", "tensorrt-bert", "--precision", "fp16"},
	{"profile", "import", hfTable, "--table", "hf-encoder"},
}

func TestProfileImportGolden(t *testing.T) {
	for i, golden1 := range []string{"profile_import_tensorrt.golden", "profile_import_hf.golden"} {
		dir := t.TempDir()
		r := run(t, append(importArgs[i], "-o", dir)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		golden(t, golden1, strings.ReplaceAll(r.stdout, dir, "OUT"))
	}
}

// TestProfileImportReproducesTestdata: the committed profiles are exactly what the importer writes from the
// committed copies of the tables, no more and no fewer, and each reads as a profile.
func TestProfileImportReproducesTestdata(t *testing.T) {
	dir := t.TempDir()
	for _, args := range importArgs {
		if r := run(t, append(args, "-o", dir)...); r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	got, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	want, _ := filepath.Glob("../../testdata/profiles/*.json")
	names := func(paths []string) []string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = filepath.Base(p)
		}
		return out
	}
	if !slices.Equal(names(got), names(want)) {
		t.Fatalf("written %v\ncommitted %v", names(got), names(want))
	}
	if len(got) != 18 {
		t.Errorf("%d profiles, want 18 (8 TensorRT FP16 + 10 Hugging Face)", len(got))
	}
	for i := range got {
		a, _ := os.ReadFile(got[i])
		b, _ := os.ReadFile(want[i])
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the committed copy: regenerate testdata/profiles with the commands in its README", names(want)[i])
		}
		if _, err := profile.ReadFile(want[i]); err != nil {
			t.Errorf("committed %v", err)
		}
	}
}

func TestProfileImportSelection(t *testing.T) {
	dir := t.TempDir()
	r := run(t, "profile", "import", hfTable, "--table", "hf-encoder", "--model", "bert-base", "-o", dir, "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var sum reports.ProfileImport
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatal(err)
	}
	// bert-base: c6i and g5 written, inf1 and inf2 skipped; the other 4 models (8 profiles, 7 skips) left out
	if len(sum.Written) != 2 || len(sum.Skipped) != 2 || sum.LeftOut != 8 || sum.LeftOutRows != 133-4*7 || sum.Selection != "--model bert-base" {
		t.Fatalf("%+v", sum)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 2 || files[0].Name() != "cpu-c6i.2xlarge-bert-base-float32.json" || files[1].Name() != "gpu-a10g-bert-base-float32.json" {
		t.Fatalf("files %v", files)
	}
	r = run(t, "profile", "import", trtTable, "--table", "tensorrt-bert", "--model", "bert-large", "--precision", "int8", "-o", dir, "--format", "markdown")
	if r.code != 0 || !strings.Contains(r.stdout, "| gpu-t4-bert-large-int8.json ") || strings.Contains(r.stdout, "float16") ||
		!strings.Contains(r.stdout, "left out by --model bert-large --precision int8 (15 profiles)") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestProfileImportErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "never")
	bad := writeFile(t, dir, "bad.csv", "gpu,model,precision,sequence_length,batch_size,latency_p95_ms,latency_p99_ms,latency_avg_ms,tensorrt_version,source_commit\n"+
		"NVIDIA T4,BERT-base,FP16,128,1,1.94,1.95,1.9,8.5.1,c\nNVIDIA T4,BERT-base,FP16,128,one,1.94,1.95,1.9,8.5.1,c\n")
	for _, c := range []struct {
		args  []string
		words string
	}{
		{[]string{"profile", "import", trtTable, "-o", out}, "--table is required"},
		{[]string{"profile", "import", trtTable, "--table", "csv", "-o", out}, `--table "csv": want tensorrt-bert or hf-encoder`},
		{[]string{"profile", "import", trtTable, "--table", "tensorrt-bert", "--precision", "fp8", "-o", out}, `--precision "fp8": want fp16 or int8`},
		{[]string{"profile", "import", hfTable, "--table", "hf-encoder", "--precision", "fp16", "-o", out}, "--precision applies to --table tensorrt-bert only"},
		{[]string{"profile", "import", trtTable, "--table", "tensorrt-bert"}, "-o is required"},
		{[]string{"profile", "import", trtTable, "--table", "tensorrt-bert", "-o", out, "--format", "yaml"}, `"yaml" for "--format"`},
		{[]string{"profile", "import", "--table", "tensorrt-bert", "-o", out}, "takes 1 argument, got 0"},
		{[]string{"profile", "import", trtTable, "--table", "tensorrt-bert", "--model", "gpt", "-o", out},
			`--model "gpt": ` + trtTable + ` has no such model (it has bert-base, bert-large, megatron-large-with-sparsity)`},
		{[]string{"profile", "import", trtTable, "--table", "tensorrt-bert", "--model", "megatron-large-with-sparsity", "--precision", "fp16", "-o", out},
			"--model megatron-large-with-sparsity --precision fp16 select no profile"},
		{[]string{"profile", "import", filepath.Join(dir, "missing.csv"), "--table", "tensorrt-bert", "-o", out}, "missing.csv: open"},
		{[]string{"profile", "import", bad, "--table", "tensorrt-bert", "-o", out}, bad + `:3: batch_size: "one" is not a whole number ≥ 1`},
		{[]string{"profile", "import", hfTable, "--table", "tensorrt-bert", "-o", out}, hfTable + ":1: gpu: missing column: a TensorRT BERT table has the columns"},
	} {
		r := run(t, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.words) {
			t.Errorf("%v: exit %d, stderr %q", c.args[2:], r.code, r.stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: created %s before failing", c.args[2:], out)
		}
	}
}

// TestProfileImportOnlySkips: a table whose every row is on hardware no profile can hold writes nothing, says
// why, and exits 2.
func TestProfileImportOnlySkips(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(hfTable)
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for i, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if i == 0 || strings.Contains(l, ",inf2.xlarge,") {
			keep = append(keep, l)
		}
	}
	in := writeFile(t, dir, "inf2.csv", strings.Join(keep, "\n")+"\n")
	out := filepath.Join(dir, "out")
	r := run(t, "profile", "import", in, "--table", "hf-encoder", "-o", out)
	if r.code != 2 || !strings.Contains(r.stdout, "inf2.xlarge ran the model on its Neuron accelerator") ||
		!strings.Contains(r.stderr, "no row of the table can be written as a profile") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("created the output folder with nothing to write")
	}
}

func TestProfileImportCompletion(t *testing.T) {
	for flag, want := range map[string][]string{
		"--table":     {"tensorrt-bert", "hf-encoder"},
		"--precision": {"fp16", "int8"},
		"--format":    {"table", "json", "markdown"},
	} {
		r := run(t, "__complete", "profile", "import", "x.csv", flag, "")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) < len(want) || !slices.Equal(lines[:len(want)], want) {
			t.Errorf("%s completes to %q, want %q then the directive", flag, lines, want)
		}
	}
}

// TestProfileImportNameClash: two configurations whose file names coincide are refused before anything is
// written, rather than one silently overwriting the other.
func TestProfileImportNameClash(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "clash.csv", "gpu,model,precision,sequence_length,batch_size,latency_p95_ms,latency_p99_ms,latency_avg_ms,tensorrt_version,source_commit\n"+
		"NVIDIA A,X-Y,FP16,128,1,1,1,1,10.11,c\nNVIDIA A X,Y,FP16,128,1,1,1,1,10.11,c\n")
	out := filepath.Join(dir, "out")
	r := run(t, "profile", "import", in, "--table", "tensorrt-bert", "-o", out)
	if r.code != 2 || !strings.Contains(r.stderr, "two profiles would both be written to gpu-a-x-y-float16.json (x-y of gpu nvidia-a float16, y of gpu nvidia-a-x float16)") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("wrote some profiles before finding the clash")
	}
}
