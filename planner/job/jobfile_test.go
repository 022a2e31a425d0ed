package job

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

func TestParseExample(t *testing.T) {
	j, err := ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Job{
		InputGB: 10,
		Stages: []Stage{
			{Op: "shuffle", ComputeMBPerS: 150},
			{Op: "allreduce", MB: 64, ComputeMBPerS: 400},
		},
		Workers:        []int{8, 16, 32, 64, 128},
		LambdaMemoryMB: []int{1769, 3538, 10240},
		EC2Types:       []string{"c6i.4xlarge", "c6in.8xlarge"},
		Channels:       []string{"direct", "redis", "s3"}, // all three when the file does not say
		DeadlineS:      120,
		MemoryOverhead: 2,
		Arch:           "x86_64",
	}
	got := *j
	got.file, got.lines = "", nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
	}
	if j.Line("deadline_s") != 9 || j.Line("stages[1].mb") != 5 || j.Line("ec2_types[1]") != 8 {
		t.Errorf("lines: deadline_s %d, stages[1].mb %d, ec2_types[1] %d; want 9, 5, 8", j.Line("deadline_s"), j.Line("stages[1].mb"), j.Line("ec2_types[1]"))
	}
	if j.InputBytes() != 10e9 {
		t.Errorf("10 GB is %g bytes, want 1e10 (decimal, as FMI's MB)", j.InputBytes())
	}
}

func TestParseDefaultsAndShortForms(t *testing.T) {
	// JSON is YAML; a single worker count needs no list
	j, err := Parse([]byte(`{"input_gb": 1.5, "stages": [{"op": "gather", "mb": 2}], "workers": 4, "budget_usd": 0.25, "channels": ["s3"]}`), "j.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(j.Workers, []int{4}) || !reflect.DeepEqual(j.LambdaMemoryMB, []int{DefaultMemoryMB}) ||
		!reflect.DeepEqual(j.Channels, []string{"s3"}) || j.BudgetUSD != 0.25 || j.MemoryOverhead != DefaultMemoryOverhead {
		t.Errorf("parsed %+v", j)
	}
}

func TestChannelParamsPathIsRelativeToTheJobFile(t *testing.T) {
	j, err := Parse([]byte("input_gb: 1\nstages: [{op: shuffle}]\nworkers: [2]\nchannel_params: calib/net.json\n"), filepath.Join("jobs", "nightly.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := j.ChannelParamsPath(); got != filepath.Join("jobs", "calib", "net.json") {
		t.Errorf("ChannelParamsPath = %q", got)
	}
	j.ChannelParams = "/abs/net.json"
	if got := j.ChannelParamsPath(); got != "/abs/net.json" {
		t.Errorf("absolute path changed to %q", got)
	}
}

// TestBadJobFiles: every mistake is an input error (exit 2) naming the file, the line and the field.
func TestBadJobFiles(t *testing.T) {
	const ok = "input_gb: 10\nstages:\n  - {op: shuffle, compute_mb_per_s: 150}\nworkers: [8, 16]\n"
	cases := []struct {
		name, doc, want string // want: the start of the message, file:line: field
	}{
		{"unknown key", ok + "deadline: 60\n", "job.yaml:5: deadline: unknown key"},
		{"unknown stage key", "input_gb: 10\nstages:\n  - {op: shuffle, compute: 150}\nworkers: [8]\n", "job.yaml:3: stages[0].compute: unknown key"},
		{"unknown op", "input_gb: 10\nstages:\n  - {op: shuffle}\n  - {op: scan, mb: 1}\nworkers: [8]\n", "job.yaml:4: stages[1].op: unknown op \"scan\""},
		{"negative input", strings.Replace(ok, "input_gb: 10", "input_gb: -10", 1), "job.yaml:1: input_gb: -10 is negative"},
		{"negative mb", "input_gb: 10\nstages:\n  - {op: allreduce, mb: -64}\nworkers: [8]\n", "job.yaml:3: stages[0].mb: -64 is negative"},
		{"negative compute", "input_gb: 10\nstages:\n  - {op: shuffle, compute_mb_per_s: -1}\nworkers: [8]\n", "job.yaml:3: stages[0].compute_mb_per_s: -1 is negative"},
		{"collective without a size", "input_gb: 10\nstages:\n  - {op: broadcast}\nworkers: [8]\n", "job.yaml:3: stages[0].mb: a broadcast needs"},
		{"missing op", "input_gb: 10\nstages:\n  - {mb: 5}\nworkers: [8]\n", "job.yaml:3: stages[0].op: missing"},
		{"no workers", strings.Replace(ok, "workers: [8, 16]", "workers: []", 1), "job.yaml:4: workers: no workers"},
		{"workers missing", "input_gb: 10\nstages:\n  - {op: shuffle}\n", "job.yaml: workers: missing"},
		{"zero workers", strings.Replace(ok, "[8, 16]", "[8, 0]", 1), "job.yaml:4: workers[1]: 0 is out of range"},
		{"negative workers", strings.Replace(ok, "[8, 16]", "[-8]", 1), "job.yaml:4: workers[0]: -8 is negative"},
		{"duplicate workers", strings.Replace(ok, "[8, 16]", "[8, 8]", 1), "job.yaml:4: workers[1]: 8 given twice"},
		{"fractional workers", strings.Replace(ok, "[8, 16]", "[8, 2.5]", 1), "job.yaml:4: workers[1]: \"2.5\" is not a whole number"},
		{"memory too small", ok + "lambda_memory_mb: [1769, 64]\n", "job.yaml:5: lambda_memory_mb[1]: 64 is out of range; Lambda offers 128 to 10240 MB"},
		{"memory too large", ok + "lambda_memory_mb:\n  - 20000\n", "job.yaml:6: lambda_memory_mb[0]: 20000 is out of range"},
		{"no stages", "input_gb: 10\nstages: []\nworkers: [8]\n", "job.yaml:2: stages: empty"},
		{"stages missing", "input_gb: 10\nworkers: [8]\n", "job.yaml: stages: missing"},
		{"input missing", "stages: [{op: shuffle}]\nworkers: [8]\n", "job.yaml: input_gb: missing"},
		{"input not a number", strings.Replace(ok, "input_gb: 10", "input_gb: ten", 1), "job.yaml:1: input_gb: \"ten\" is not a number"},
		{"unknown channel", ok + "channels: [direct, carrier-pigeon]\n", "job.yaml:5: channels[1]: unknown channel \"carrier-pigeon\""},
		{"ec2 is not a lambda channel", ok + "channels: [ec2]\n", "job.yaml:5: channels[0]: unknown channel \"ec2\""},
		{"negative deadline", ok + "deadline_s: -5\n", "job.yaml:5: deadline_s: -5 is negative"},
		{"zero budget", ok + "budget_usd: 0\n", "job.yaml:5: budget_usd: must be positive"},
		{"bad arch", ok + "arch: riscv\n", "job.yaml:5: arch: \"riscv\": want x86_64 or arm64"},
		{"key twice", ok + "workers: [4]\n", "job.yaml:5: workers: given twice"},
		{"duplicate ec2", ok + "ec2_types: [c6i.large, c6i.large]\n", "job.yaml:5: ec2_types[1]:"},
		{"not a mapping", "- 1\n- 2\n", "job.yaml:1: want a mapping"},
		{"syntax", "input_gb: [1\n", "job.yaml:"},
		{"two documents", ok + "---\ninput_gb: 2\n", "job.yaml:6: a job file holds one YAML document"},
		{"empty", "", "job.yaml: empty job file"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.doc), "job.yaml")
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !inputerr.Is(err) {
			t.Errorf("%s: %v is not an input error (exit 2)", c.name, err)
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s:\n got %q\nwant %q…", c.name, err, c.want)
		}
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !os.IsNotExist(errorsUnwrapAll(err)) {
		t.Errorf("err = %v", err)
	}
}

func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// FuzzParse: whatever the bytes, Parse returns a job or an input error, never panics; a job it accepts is
// valid, and writing it as JSON and parsing that again gives the same job.
func FuzzParse(f *testing.F) {
	f.Add([]byte("input_gb: 1\nstages: [{op: reduce, mb: 3}]\nworkers: [1, 2, 3]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if !inputerr.Is(err) {
				t.Fatalf("error %v is not an input error", err)
			}
			return
		}
		if !(j.InputGB > 0) || len(j.Stages) == 0 || len(j.Workers) == 0 {
			t.Fatalf("accepted an invalid job %+v", j)
		}
		for _, m := range j.LambdaMemoryMB {
			if m < MinMemoryMB || m > MaxMemoryMB {
				t.Fatalf("accepted memory %d", m)
			}
		}
		data2, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		j2, err := Parse(data2, "again.json")
		if err != nil {
			t.Fatalf("its own JSON %s does not parse: %v", data2, err)
		}
		a, b := *j, *j2
		a.file, a.lines, b.file, b.lines = "", nil, "", nil
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the job:\n%+v\n%+v", a, b)
		}
	})
}
