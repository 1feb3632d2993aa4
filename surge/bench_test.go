package surge

import (
	"math/rand/v2"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// benchCells are the surge cells (resolution 7) of a city-sized area: Mumbai's, some
// 150 of them.
func benchCells(b *testing.B) []geo.Cell {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[geo.Cell]bool{}
	var cells []geo.Cell
	for len(cells) < 150 {
		p := geo.Point{Lat: 18.90 + rng.Float64()*0.35, Lng: 72.78 + rng.Float64()*0.25}
		if c := geo.CellOf(p, 7); !seen[c] {
			seen[c] = true
			cells = append(cells, c)
		}
	}
	return cells
}

// BenchmarkAddDemand counts requests into a city's cells, as the matcher does for each
// request.
func BenchmarkAddDemand(b *testing.B) {
	cells := benchCells(b)
	p, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	t0 := event.TimeOf(time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.AddDemand(cells[i%len(cells)], t0.Add(time.Duration(i)*time.Millisecond))
		i++
	}
}

// BenchmarkEvaluate re-prices a city's cells at one boundary, each with some demand, as a
// partition does every interval.
func BenchmarkEvaluate(b *testing.B) {
	cells := benchCells(b)
	cfg := DefaultConfig()
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	t := event.TimeOf(time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC))
	supply := func(c geo.Cell) int { return int(c % 7) }
	var updates int
	emit := func(Update) { updates++ }
	b.ReportAllocs()
	for b.Loop() {
		for i, c := range cells {
			for range i % 5 {
				p.AddDemand(c, t)
			}
		}
		t = t.Add(cfg.Interval)
		p.Evaluate(t, supply, emit)
	}
	b.ReportMetric(float64(len(cells)), "cells")
}
