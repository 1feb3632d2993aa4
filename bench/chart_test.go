package bench

import (
	"reflect"
	"strings"
	"testing"
)

func TestHistogram(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   []float64
		want []Bucket
	}{
		{"empty", nil, []Bucket{}},
		{"edges fall in their bucket", []float64{2, 2.01, 5}, []Bucket{{2, 1}, {5, 2}}},
		{"gaps kept, ends trimmed", []float64{0.5, 30, 30}, []Bucket{{1, 1}, {2, 0}, {5, 0}, {10, 0}, {20, 0}, {50, 2}}},
		{"overflow", []float64{4000, 9000}, []Bucket{{5000, 1}, {0, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := histogram(tc.ms); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("histogram(%v) = %v, want %v", tc.ms, got, tc.want)
			}
		})
	}
}

func TestHistogramBars(t *testing.T) {
	lines := HistogramBars([]Bucket{{10, 1}, {20, 4}, {0, 0}}, 8)
	want := []string{
		"≤ 10 ms    ██        20.0%",
		"≤ 20 ms    ████████  80.0%",
		"> 5000 ms             0.0%",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("bars:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if HistogramBars(nil, 8) != nil {
		t.Error("an empty histogram draws lines")
	}
}

func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want string
	}{
		{nil, ""},
		{[]float64{0, 0}, "▁▁"},
		{[]float64{0, 50, 100}, "▁▅█"},
		{[]float64{7, 7, 7}, "███"},
	} {
		if got := Sparkline(tc.xs); got != tc.want {
			t.Errorf("Sparkline(%v) = %q, want %q", tc.xs, got, tc.want)
		}
	}
}
