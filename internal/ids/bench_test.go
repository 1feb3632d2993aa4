package ids

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkMapGet looks up drivers' ids in random order, in a map of as many as a
// router holds: each lookup lands somewhere cold in the map, as in the engine.
func BenchmarkMapGet(b *testing.B) {
	const drivers = 100_000
	var m Map[int32]
	ids := make([]string, drivers)
	for i := range ids {
		ids[i] = fmt.Sprintf("DRV-%d-%06d", i%7, i)
		m.Set(ids[i], int32(i))
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(drivers)
	// Each lookup's id is a fresh copy, as a decoded record's is: hot, unlike the map.
	keys := make([]string, drivers)
	for i, j := range order {
		keys[i] = strings.Clone(ids[j])
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := m.Get(keys[i%drivers]); !ok {
			b.Fatal("an id went missing")
		}
	}
}
