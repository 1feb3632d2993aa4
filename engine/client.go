package engine

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partitioner writes the outputs a stage places (Output.Placed: the region and decision
// logs) to the partitions it chose, and keys everything else as Kafka's default partitioner would, so keyed records land where
// any client expects them.
type partitioner struct {
	placed map[string]bool
	keyed  kgo.Partitioner
}

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if p.placed[topic] {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.keyed.ForTopic(topic)
}

// recordPool lends a consumer's fetches the slices their records are decoded into, and
// takes each back once all its records are Recycled: a new slice for every fetch was
// garbage the collector had to trace (records hold pointers) after every poll.
type recordPool struct {
	mu   sync.Mutex
	free [][]kgo.Record
}

// maxPooledSlices bounds the slices the pool keeps.
const maxPooledSlices = 256

func (p *recordPool) GetRecords(n int) []kgo.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := len(p.free); k > 0 && cap(p.free[k-1]) >= n {
		s := p.free[k-1]
		p.free = p.free[:k-1]
		return s[:0]
	}
	return make([]kgo.Record, 0, n)
}

func (p *recordPool) PutRecords(s []kgo.Record) {
	clear(s[:cap(s)]) // records never handed out still point into their fetch
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxPooledSlices {
		p.free = append(p.free, s)
	}
}
