package router

import (
	"slices"
	"sync"

	"ridematch/geo"
	"ridematch/internal/memo"
)

// Halo finds the shadows of a driver: the region-log partitions, other than the one that
// owns it, that own a pickup within reach of it (see matcher/doc.go, Borders). A region
// is every point whose index cell descends from one region cell, so the regions within
// reach are found through cells one resolution above the index (probes): each descends
// from one region, and holds the index cells it is parent of within 1.05 of its outer
// radius (H3's children spill a little past their parent's outline). The answer is
// kept per probe-sized cell a driver is in, and errs, by at most a few hundred metres,
// on the side of sending a shadow. It is safe for concurrent use: the routers of a
// process share one.
type Halo struct {
	res        geo.Resolutions
	partitions int32
	reachKM    float64

	byCell *memo.Map[geo.Cell, HaloSet] // the shadows of a driver in a probe-sized cell
	probes *memo.Map[geo.Cell, probe]
	mu     sync.RWMutex // guards sets and named
	sets   [][]int32    // each distinct set of partitions, by HaloSet; sets[0] is empty
	named  map[string]HaloSet
}

// HaloSet names a set of partitions a Halo found; zero is the empty set.
type HaloSet uint32

type probe struct {
	center    geo.Point
	partition int32
}

// haloCap bounds each of a Halo's caches; a full one is emptied and refilled.
const haloCap = 1 << 17

// NewHalo returns the halo of a region log of n partitions, for pickups up to reachKM
// from a driver (0: no shadows).
func NewHalo(res geo.Resolutions, n int32, reachKM float64) *Halo {
	return &Halo{
		res: res, partitions: n, reachKM: reachKM,
		byCell: memo.New[geo.Cell, HaloSet](haloCap), probes: memo.New[geo.Cell, probe](haloCap),
		sets: [][]int32{nil}, named: map[string]HaloSet{"": 0},
	}
}

// Of returns the shadows of a driver in index cell c.
func (h *Halo) Of(c geo.Cell) HaloSet {
	if h.reachKM <= 0 || h.partitions < 2 {
		return 0
	}
	key := c.Parent(max(h.res.Region, h.res.Index-1))
	return h.byCell.Get(key, func(key geo.Cell) HaloSet { return h.intern(h.find(key)) })
}

// Partitions returns the partitions of s, in increasing order; the slice is shared.
func (h *Halo) Partitions(s HaloSet) []int32 {
	if s == 0 {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.sets[s]
}

// find returns the partitions other than key's own that own a probe within reach of a
// point in key.
func (h *Halo) find(key geo.Cell) []int32 {
	own := PartitionOf(key.Parent(h.res.Region), h.partitions)
	center := key.Center()
	// Within reach: a point of key and one of the probe, each within 1.05 outer radii of
	// its centre, with 5% for neighbouring cells' difference in size.
	reach := h.reachKM + 2.2*geo.RadiusKM(key)
	k := geo.NewRings(key).Within(reach) + 1
	var found []int32
	for _, ring := range geo.Disk(key, k) {
		for _, c := range ring {
			pr := h.probe(c)
			if pr.partition != own && !slices.Contains(found, pr.partition) && geo.DistanceKM(center, pr.center) <= reach {
				found = append(found, pr.partition)
			}
		}
	}
	slices.Sort(found)
	return found
}

func (h *Halo) probe(c geo.Cell) probe {
	return h.probes.Get(c, func(c geo.Cell) probe {
		return probe{center: c.Center(), partition: PartitionOf(c.Parent(h.res.Region), h.partitions)}
	})
}

// intern names a sorted set of partitions.
func (h *Halo) intern(parts []int32) HaloSet {
	b := make([]byte, 0, 4*len(parts))
	for _, p := range parts {
		b = append(b, byte(p>>24), byte(p>>16), byte(p>>8), byte(p))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.named[string(b)]
	if !ok {
		s = HaloSet(len(h.sets))
		h.sets = append(h.sets, parts)
		h.named[string(b)] = s
	}
	return s
}
