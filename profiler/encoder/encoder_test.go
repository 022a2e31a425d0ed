package encoder

import (
	"math"
	"testing"
)

func ids(n, s int) [][]int32 {
	out := make([][]int32, n)
	for b := range out {
		out[b] = make([]int32, s)
		for p := range out[b] {
			out[b][p] = int32((b*31 + p*7) % vocab)
		}
	}
	return out
}

func TestForwardShapesAndDeterminism(t *testing.T) {
	m, err := New(Models["bert-tiny"], 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.Forward(ids(3, 16), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 3*16*128 {
		t.Fatalf("output %d values, want %d", len(a), 3*16*128)
	}
	b, _ := m.Forward(ids(3, 16), 1)
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-5 {
			t.Fatalf("threads change the result at %d: %v vs %v", i, a[i], b[i])
		}
	}
	// each output row is layer-normalised: mean 0, variance 1 (γ = 1, β = 0)
	row := a[:128]
	var mean, v float64
	for _, x := range row {
		mean += float64(x)
	}
	mean /= 128
	for _, x := range row {
		v += (float64(x) - mean) * (float64(x) - mean)
	}
	if math.Abs(mean) > 1e-4 || math.Abs(v/128-1) > 1e-3 {
		t.Fatalf("row mean %v variance %v", mean, v/128)
	}
	m2, _ := New(Models["bert-tiny"], 2)
	c, _ := m2.Forward(ids(3, 16), 1)
	if c[0] == a[0] {
		t.Fatal("another seed gave the same weights")
	}
}

func TestForwardErrors(t *testing.T) {
	m, _ := New(Models["bert-tiny"], 1)
	if _, err := m.Forward(nil, 1); err == nil {
		t.Error("empty batch")
	}
	if _, err := m.Forward(ids(1, 600), 1); err == nil {
		t.Error("600 tokens > 512")
	}
	bad := ids(2, 8)
	bad[1] = bad[1][:7]
	if _, err := m.Forward(bad, 1); err == nil {
		t.Error("ragged batch")
	}
	if _, err := New(Config{Layers: 1, Hidden: 10, Heads: 3, FF: 4, MaxPos: 4, Vocab: 4}, 1); err == nil {
		t.Error("hidden not divisible by heads")
	}
}

func TestSoftmaxAndGelu(t *testing.T) {
	r := []float32{1, 2, 3}
	softmax(r)
	// e^(x−3) / Σ: 0.0900306, 0.244728, 0.665241
	want := []float64{0.09003057, 0.24472847, 0.66524096}
	for i := range r {
		if math.Abs(float64(r[i])-want[i]) > 1e-6 {
			t.Errorf("softmax[%d] = %v, want %v", i, r[i], want[i])
		}
	}
	// gelu(0) = 0; gelu(1) ≈ 0.841192 (tanh approximation)
	if gelu(0) != 0 || math.Abs(float64(gelu(1))-0.841192) > 1e-5 {
		t.Errorf("gelu(1) = %v", gelu(1))
	}
}

func TestFLOPsShape(t *testing.T) {
	c := Models["bert-mini"]
	// linear part ∝ n·s, attention ∝ n·s²: doubling s at fixed n more than doubles the work, doubling n exactly doubles it
	if r := FLOPs(c, 2, 128) / FLOPs(c, 1, 128); math.Abs(r-2) > 1e-12 {
		t.Errorf("batch ×2 → FLOPs ×%v", r)
	}
	if r := FLOPs(c, 1, 512) / FLOPs(c, 1, 256); r <= 2 {
		t.Errorf("length ×2 → FLOPs ×%v, want > 2", r)
	}
	// by hand for 1 layer, h=4, 1 head, ff=8, n=1, s=2: QKV 2·2·4·12 + attention 2·2·(2·2·4) + out 2·2·4·4 + FF 2·2·2·4·8
	tiny := Config{Layers: 1, Hidden: 4, Heads: 1, FF: 8}
	if got, want := FLOPs(tiny, 1, 2), float64(2*2*4*12+2*2*2*2*4+2*2*4*4+2*2*2*4*8); got != want {
		t.Errorf("FLOPs = %v, want %v", got, want)
	}
}

func BenchmarkBertMini8x128(b *testing.B) {
	m, _ := New(Models["bert-mini"], 1)
	in := ids(8, 128)
	for b.Loop() {
		if _, err := m.Forward(in, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMaskMakesPaddingInvisible: with the mask, a sequence padded inside a batch gets the hidden states it gets
// alone; without it, padding changes them.
func TestMaskMakesPaddingInvisible(t *testing.T) {
	m, _ := New(Models["bert-tiny"], 1)
	alone := ids(1, 5)
	want, err := m.Forward(alone, 1)
	if err != nil {
		t.Fatal(err)
	}
	padded := ids(2, 12) // sequence 0: the 5 tokens then padding; sequence 1: 12 other tokens
	copy(padded[0], alone[0])
	clear(padded[0][5:])
	got, err := m.ForwardMasked(padded, []int{5, 12}, 1)
	if err != nil {
		t.Fatal(err)
	}
	h := 128
	for p := 0; p < 5; p++ {
		for j := 0; j < h; j++ {
			if d := math.Abs(float64(got[p*h+j] - want[p*h+j])); d > 1e-5 {
				t.Fatalf("token %d, unit %d: %v padded vs %v alone", p, j, got[p*h+j], want[p*h+j])
			}
		}
	}
	unmasked, _ := m.Forward(padded, 1)
	if math.Abs(float64(unmasked[0]-want[0])) < 1e-6 {
		t.Error("without the mask padding made no difference; the test shows nothing")
	}
	for _, bad := range [][]int{{5}, {0, 12}, {5, 13}} {
		if _, err := m.ForwardMasked(padded, bad, 1); err == nil {
			t.Errorf("lengths %v accepted", bad)
		}
	}
}
