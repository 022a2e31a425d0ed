// Package example embeds the real data behind `inferplan plan --example`: the DeepSpeech Lambda profile measured
// by the MBS authors, the MBS workload's size mix, and the Azure LLM 2023 conversation trace (provenance in
// data/README.md).
package example

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

var (
	//go:embed data/lambda-deepspeech.json
	profileJSON []byte
	//go:embed data/lambda-deepspeech-size-mix.json
	sizeMixJSON []byte
	//go:embed data/azure_llm_2023_conv.csv
	azureConvCSV []byte
)

// Names under which the embedded files appear in messages and plans.
const (
	ProfileName = "example:lambda-deepspeech.json"
	SizeMixName = "example:lambda-deepspeech-size-mix.json"
	TraceName   = "example:azure_llm_2023_conv.csv"
)

// Seed is the seed with which the example draws request sizes from the size mix.
const Seed = 1

// SliceSeconds is how much of the Azure trace the example plans: its first 20 minutes.
const SliceSeconds = 20 * 60

// Profile returns the DeepSpeech Lambda profile.
func Profile() (*profile.Profile, error) {
	return profile.Read(bytes.NewReader(profileJSON), ProfileName)
}

// SizeMix returns the MBS "original" workload size shares.
func SizeMix() (*trace.SizeMix, error) {
	return trace.ParseSizeMix(sizeMixJSON, SizeMixName)
}

// AzureConv returns the whole Azure conversation trace with its own token counts as sizes.
func AzureConv() (*trace.Trace, error) {
	return trace.Read(bytes.NewReader(azureConvCSV), TraceName, trace.Options{TimeCol: "TIMESTAMP", SizeCol: "ContextTokens"})
}

// AzureConvCSV returns the raw bytes of the Azure conversation trace (for benchmarks of the reader).
func AzureConvCSV() []byte { return azureConvCSV }

// Scenario returns the whole Azure conversation trace's arrivals with DeepSpeech sizes drawn from the MBS size mix
// with the given seed: the planning scenario of issue #3.
func Scenario(seed uint64) (*trace.Trace, error) {
	arr, err := AzureConv()
	if err != nil {
		return nil, fmt.Errorf("example trace: %w", err)
	}
	mix, err := SizeMix()
	if err != nil {
		return nil, fmt.Errorf("example size mix: %w", err)
	}
	return trace.WithSizes(arr, mix, seed), nil
}

// Trace returns the example's trace: the first SliceSeconds of Scenario(Seed).
func Trace() (*trace.Trace, error) {
	t, err := Scenario(Seed)
	if err != nil {
		return nil, err
	}
	s := t.Slice(0, SliceSeconds*1e6)
	s.Source = fmt.Sprintf("%s, first %d minutes", t.Source, SliceSeconds/60)
	return s, nil
}

// ProfileJSON returns the raw bytes of the embedded profile (for digests).
func ProfileJSON() []byte { return profileJSON }
