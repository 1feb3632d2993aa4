package bench

import (
	"runtime/metrics"
	"time"
)

// Cost is what the whole process spent over the latency phase's window: the broker, the
// engines, the load and the reader together, as they share the machine.
type Cost struct {
	// CPUCores is CPU time (user and system) over wall time: 2 is both cores busy.
	CPUCores float64 `json:"cpu_cores"`
	// GCCycles is the collections that ran, and AllocMBPerSec the heap allocated a second.
	GCCycles      uint64  `json:"gc_cycles"`
	AllocMBPerSec float64 `json:"alloc_mb_per_sec"`
}

// costMeter reads the process's CPU time, collections and allocation at a start.
type costMeter struct {
	at      time.Time
	cpu     time.Duration
	samples []metrics.Sample
}

var costMetrics = []string{"/gc/cycles/total:gc-cycles", "/gc/heap/allocs:bytes"}

func startCost() *costMeter {
	m := &costMeter{}
	m.read()
	return m
}

func (m *costMeter) read() {
	m.at, m.cpu = time.Now(), processCPU()
	m.samples = make([]metrics.Sample, len(costMetrics))
	for i, name := range costMetrics {
		m.samples[i].Name = name
	}
	metrics.Read(m.samples)
}

// since is the cost from the start to now.
func (m *costMeter) since() Cost {
	now := &costMeter{}
	now.read()
	wall := now.at.Sub(m.at).Seconds()
	if wall <= 0 {
		return Cost{}
	}
	c := Cost{CPUCores: (now.cpu - m.cpu).Seconds() / wall}
	if now.samples[0].Value.Kind() == metrics.KindUint64 {
		c.GCCycles = now.samples[0].Value.Uint64() - m.samples[0].Value.Uint64()
	}
	if now.samples[1].Value.Kind() == metrics.KindUint64 {
		c.AllocMBPerSec = float64(now.samples[1].Value.Uint64()-m.samples[1].Value.Uint64()) / 1e6 / wall
	}
	return c
}
