package bench

import (
	"runtime"
	"testing"
	"time"
)

var sink []byte

// TestCostMeter: a busy loop shows as CPU time, and its allocations and the collection
// it forces as such.
func TestCostMeter(t *testing.T) {
	m := startCost()
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
		sink = make([]byte, 64<<10)
	}
	runtime.GC()
	c := m.since()
	if c.CPUCores < 0.3 || c.CPUCores > float64(runtime.NumCPU())+0.5 {
		t.Errorf("a busy loop on one goroutine used %.2f cores", c.CPUCores)
	}
	if c.GCCycles < 1 {
		t.Errorf("%d collections counted after runtime.GC", c.GCCycles)
	}
	if c.AllocMBPerSec < 1 {
		t.Errorf("%.1f MB/s allocated by a loop allocating 64 KiB at a time", c.AllocMBPerSec)
	}
}
