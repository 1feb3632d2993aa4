package geo

import (
	"fmt"
	"math"
	"strconv"
)

// InRange checks a float setting: nil if lo <= v <= hi, otherwise an error naming the
// setting, its range and v. lo and hi must be finite, so NaN and the infinities are never
// in range, and a setting that passes stays finite through the arithmetic and JSON it
// feeds. The package that owns the setting wraps the error in its own ErrConfig.
//
// Points have the same rule (Point.Valid); every package with float settings imports geo.
func InRange(name string, v, lo, hi float64) error {
	if v >= lo && v <= hi { // false for NaN
		return nil
	}
	return fmt.Errorf("%s must be between %s and %s, not %s", name, number(lo), number(hi), number(v))
}

// number writes a bound or a value as a person would: 1000000, 0.6, 1e+308, NaN.
func number(v float64) string {
	if math.Abs(v) < 1e9 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
