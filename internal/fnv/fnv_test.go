package fnv

import (
	"encoding/binary"
	stdfnv "hash/fnv"
	"testing"
)

func TestHash32(t *testing.T) {
	tests := []string{"", "a", "DRV-1-001234", "3f1c2a9e-8a1b-4c57-9d2e-6b7f1e0a9c11", "\x00\xff\x80", "ünïcødé"}
	for _, give := range tests {
		std := stdfnv.New32a()
		std.Write([]byte(give))
		want := std.Sum32()
		if got := uint32(New32().AddString(give)); got != want {
			t.Errorf("New32().AddString(%q) = %#x, hash/fnv says %#x", give, got, want)
		}
		if got := uint32(New32().AddBytes([]byte(give))); got != want {
			t.Errorf("New32().AddBytes(%q) = %#x, hash/fnv says %#x", give, got, want)
		}
	}
}

func TestHash64(t *testing.T) {
	tests := []struct {
		name string
		give func(Hash64) Hash64
		want []byte // the bytes hash/fnv is given
	}{
		{"nothing", func(h Hash64) Hash64 { return h }, nil},
		{"a string", func(h Hash64) Hash64 { return h.AddString("REQ-1") }, []byte("REQ-1")},
		{"a byte", func(h Hash64) Hash64 { return h.AddByte(0xff) }, []byte{0xff}},
		{"a region", func(h Hash64) Hash64 { return h.AddUint64(0x84608b1ffffffff) }, binary.LittleEndian.AppendUint64(nil, 0x84608b1ffffffff)},
		{"zero", func(h Hash64) Hash64 { return h.AddUint64(0) }, make([]byte, 8)},
		{
			"a match",
			func(h Hash64) Hash64 {
				return h.AddString("REQ-1").AddByte(0xff).AddString("DRV-2").AddByte(0xff).AddUint64(1_795_000_000_123_456)
			},
			binary.LittleEndian.AppendUint64([]byte("REQ-1\xffDRV-2\xff"), 1_795_000_000_123_456),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			std := stdfnv.New64a()
			std.Write(tt.want)
			if got, want := uint64(tt.give(New64())), std.Sum64(); got != want {
				t.Errorf("got %#x, hash/fnv says %#x", got, want)
			}
		})
	}
}

func TestNoAllocations(t *testing.T) {
	b, s := []byte("DRV-1-001234"), "DRV-1-001234"
	var sink uint64
	allocs := testing.AllocsPerRun(100, func() {
		sink += uint64(New32().AddBytes(b).AddString(s))
		sink += uint64(New64().AddString(s).AddByte(0xff).AddUint64(sink))
	})
	if allocs != 0 {
		t.Errorf("%v allocations a run, want none", allocs)
	}
}

func BenchmarkAddUint64(b *testing.B) {
	var sink Hash64
	for i := 0; b.Loop(); i++ {
		sink ^= New64().AddUint64(uint64(i))
	}
	_ = sink
}

func BenchmarkAddUint64Std(b *testing.B) {
	var sink uint64
	var buf [8]byte
	for i := 0; b.Loop(); i++ {
		h := stdfnv.New64a()
		binary.LittleEndian.PutUint64(buf[:], uint64(i))
		h.Write(buf[:])
		sink ^= h.Sum64()
	}
	_ = sink
}
