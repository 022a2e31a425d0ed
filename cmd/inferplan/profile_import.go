package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/profiler/tables"
	"github.com/inferplan/inferplan/reports"
)

type profileImportOptions struct {
	io        *ioStreams
	table     string
	model     string
	precision string
	out       string
	format    string
}

// importTables are the published tables `profile import` reads, by --table name.
var importTables = map[string]func(io.Reader, string, tables.Options) (*tables.Result, error){
	"tensorrt-bert": tables.TensorRTBERT,
	"hf-encoder":    tables.HFEncoderBatch1,
}

// importPrecisions maps --precision to the dtype written in the profiles.
var importPrecisions = map[string]string{"fp16": "float16", "int8": "int8"}

// importModels are the model names the two tables produce, offered by shell completion.
var importModels = []string{"distilbert", "bert-base", "bert-large", "roberta-base", "albert-base-v2", "megatron-large-with-sparsity"}

func newProfileImportCmd(io *ioStreams) *cobra.Command {
	o := &profileImportOptions{io: io}
	cmd := &cobra.Command{
		Use:   "import FILE --table tensorrt-bert|hf-encoder -o DIR",
		Short: "Turn a published latency table into profiles, recording where the numbers came from",
		Long: `import reads a latency table that others measured and published, and writes one profile
(contract §3.2) per model and hardware — and precision, for TensorRT — into DIR, named
<platform>-<hardware>-<model>-<dtype>.json. Every profile's source and provenance fields name the table,
the upstream repository, file, revision and licence, and the method's caveats. Tables:

  tensorrt-bert   NVIDIA's TensorRT BERT results (tensorrt_bert_gpu_latency_by_batch_seqlen.csv):
                  A100 40 GB, A30, L40S and T4, batch 1–128 × sequence length 128 and 384, INT8,
                  FP16 and sparse INT8; latency = the table's average, p95 and p99 kept.
                  Host↔device copies are not timed and the engines are fixed-shape TensorRT
                  engines: a lower bound for the same model served from PyTorch.
  hf-encoder      Hugging Face encoders at batch 1 on AWS instances
                  (hf_encoder_p95_latency_batch1_aws_instances.csv): c6i.2xlarge as a CPU profile with
                  its 8 vCPUs, g5.2xlarge as an A10G GPU profile; latency = the mean, p95 kept.
                  Inferentia rows (inf1, inf2) are skipped: the profile format has no Neuron platform.

Hardware ids name what EC2 sells: nvidia-<GPU name as EC2 reports it>[-qualifier] (nvidia-t4,
nvidia-a100-40gb, nvidia-a10g) or ec2-<instance type> for a whole CPU instance. Model names are the
measured profiles' (distilbert, bert-base, bert-large); other models keep their own names.
Rows no profile can hold are listed with the reason, never dropped silently. Files in DIR with the
same names are replaced.`,
		Example: `  inferplan profile import ../shared/data/latency/tensorrt_bert_gpu_latency_by_batch_seqlen.csv \
      --table tensorrt-bert --precision fp16 -o testdata/profiles
  inferplan profile import ../shared/data/latency/hf_encoder_p95_latency_batch1_aws_instances.csv \
      --table hf-encoder --model bert-base -o profiles/`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return runProfileImport(o, args[0]) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.table, "table", "", "which published table FILE is: tensorrt-bert or hf-encoder (required)")
	fs.StringVar(&o.model, "model", "", "write only this model's profiles (e.g. bert-base; default all)")
	fs.StringVar(&o.precision, "precision", "", "tensorrt-bert: write only this precision, fp16 or int8 (default both)")
	fs.StringVarP(&o.out, "out", "o", "", "folder to write the profiles into; created when missing (required)")
	formatFlag(cmd, &o.format, "report")
	_ = cmd.RegisterFlagCompletionFunc("table", completeFixed("tensorrt-bert", "hf-encoder"))
	_ = cmd.RegisterFlagCompletionFunc("precision", completeFixed("fp16", "int8"))
	_ = cmd.RegisterFlagCompletionFunc("model", completeFixed(importModels...))
	_ = cmd.MarkFlagDirname("out")
	return cmd
}

func runProfileImport(o *profileImportOptions, file string) error {
	// Every flag is checked before the table is read or anything is written.
	format, err := reports.ParseFormat(o.format)
	if err != nil {
		return &flagError{err: err}
	}
	read, ok := importTables[o.table]
	if !ok {
		if o.table == "" {
			return flagErrorf("--table is required: tensorrt-bert or hf-encoder")
		}
		return flagErrorf("--table %q: want tensorrt-bert or hf-encoder", o.table)
	}
	dtype := ""
	if o.precision != "" {
		if dtype, ok = importPrecisions[o.precision]; !ok {
			return flagErrorf("--precision %q: want fp16 or int8", o.precision)
		}
		if o.table != "tensorrt-bert" {
			return flagErrorf("--precision applies to --table tensorrt-bert only (the %s table has one precision, float32)", o.table)
		}
	}
	if o.model != "" && strings.TrimSpace(o.model) == "" {
		return flagErrorf("--model: empty name")
	}
	if o.out == "" {
		return flagErrorf("-o is required: the folder to write the profiles into")
	}

	f, err := os.Open(file)
	if err != nil {
		return &inputerr.Error{File: file, Err: err}
	}
	defer f.Close()
	cat, err := catalog(o.io)
	if err != nil {
		return err
	}
	res, err := read(f, file, tables.Options{Catalog: cat})
	if err != nil {
		return err
	}

	sum := reports.ProfileImport{File: filepath.Base(file), Table: o.table, Dir: o.out, Rows: res.Rows, Notes: res.Notes}
	var selected []*profile.Profile
	models := map[string]bool{}
	for _, p := range res.Profiles {
		models[p.Model] = true
		if (o.model == "" || p.Model == o.model) && (dtype == "" || p.Measurements[0].DType == dtype) {
			selected = append(selected, p)
		} else {
			sum.LeftOut++
			sum.LeftOutRows += len(p.Measurements)
		}
	}
	for _, s := range res.Skipped {
		models[s.Model] = true
		if o.model == "" || s.Model == o.model {
			sum.Skipped = append(sum.Skipped, s)
		} else {
			sum.LeftOutRows += s.Rows // left out by --model before anyone asked whether it could be a profile
		}
	}
	if o.model != "" && !models[o.model] {
		names := make([]string, 0, len(models))
		for m := range models {
			names = append(names, m)
		}
		slices.Sort(names)
		return flagErrorf("--model %q: %s has no such model (it has %s)", o.model, file, strings.Join(names, ", "))
	}
	var sel []string
	if o.model != "" {
		sel = append(sel, "--model "+o.model)
	}
	if o.precision != "" {
		sel = append(sel, "--precision "+o.precision)
	}
	sum.Selection = strings.Join(sel, " ")
	if len(selected) == 0 && len(sum.Skipped) == 0 {
		return flagErrorf("%s select no profile from %s", sum.Selection, file)
	}

	// Names are decided, and checked for clashes, before the first file is written: a half-written folder would
	// mix two imports.
	names := map[string]*profile.Profile{}
	docs := make([][]byte, len(selected))
	for i, p := range selected {
		name := tables.FileName(p)
		if other := names[name]; other != nil {
			return inputerr.New(file, 0, "", "two profiles would both be written to %s (%s of %s, %s of %s): rename a model or GPU in the table",
				name, other.Model, other.Measurements[0].Key(), p.Model, p.Measurements[0].Key())
		}
		names[name] = p
		var buf bytes.Buffer
		if err := p.Write(&buf); err != nil {
			return err
		}
		// what is written must read back: the planner will read these files with the same parser
		if _, err := profile.Parse(buf.Bytes(), name); err != nil {
			return fmt.Errorf("%s: the profile written for %s does not read back: %w", file, name, err)
		}
		docs[i] = buf.Bytes()
		sum.Written = append(sum.Written, reports.NewImportedProfile(name, p))
	}
	if len(selected) > 0 {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
		for i, w := range sum.Written {
			if err := writeFileAtomic(filepath.Join(o.out, w.File), docs[i]); err != nil {
				return err
			}
		}
	}
	if format == reports.JSON {
		err = reports.WriteJSON(o.io.Out, sum)
	} else {
		err = sum.Document().Render(o.io.Out, format)
	}
	if err != nil {
		return err
	}
	if len(selected) == 0 {
		return inputerr.New(file, 0, "", "no row of the table can be written as a profile (the skipped rows above say why)")
	}
	return nil
}
