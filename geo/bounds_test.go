package geo

import (
	"math"
	"testing"
)

func TestInRange(t *testing.T) {
	tests := []struct {
		give   float64
		lo, hi float64
		want   string // the error; empty: in range
	}{
		{give: 50, lo: 0, hi: 1e6},
		{give: 0, lo: 0, hi: 1e6},
		{give: 1e6, lo: 0, hi: 1e6},
		{give: -0.5, lo: -1, hi: 1},
		{give: math.NaN(), lo: 0, hi: 1e6, want: "base fare must be between 0 and 1000000, not NaN"},
		{give: math.Inf(1), lo: 0, hi: 1e6, want: "base fare must be between 0 and 1000000, not +Inf"},
		{give: math.Inf(-1), lo: 0, hi: 1e6, want: "base fare must be between 0 and 1000000, not -Inf"},
		{give: 1e308, lo: 0, hi: 1e6, want: "base fare must be between 0 and 1000000, not 1e+308"},
		{give: -1e308, lo: 0, hi: 1e6, want: "base fare must be between 0 and 1000000, not -1e+308"},
		{give: -0.01, lo: 0, hi: 1e6, want: "base fare must be between 0 and 1000000, not -0.01"},
		{give: 1.5, lo: 0.1, hi: 1, want: "base fare must be between 0.1 and 1, not 1.5"},
	}
	for _, tt := range tests {
		err := InRange("base fare", tt.give, tt.lo, tt.hi)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("InRange(%v, %v, %v) = %v, want nil", tt.give, tt.lo, tt.hi, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("InRange(%v, %v, %v) = %v, want %q", tt.give, tt.lo, tt.hi, err, tt.want)
		}
	}
}
