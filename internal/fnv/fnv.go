// Package fnv provides FNV-1a, the hash that places regions on region-log partitions,
// derives match ids and samples drivers, as values that inline: no allocation and no
// hash.Hash interface on the hot paths.
package fnv

const (
	offset32 = 2166136261
	prime32  = 16777619
	offset64 = 14695981039346656037
	prime64  = 1099511628211
)

// Hash32 is the 32-bit FNV-1a of the bytes added to New32.
type Hash32 uint32

// New32 returns the hash of no bytes.
func New32() Hash32 { return offset32 }

// AddBytes returns the hash with b's bytes added.
func (h Hash32) AddBytes(b []byte) Hash32 {
	for _, c := range b {
		h = (h ^ Hash32(c)) * prime32
	}
	return h
}

// AddString returns the hash with s's bytes added.
func (h Hash32) AddString(s string) Hash32 {
	for i := 0; i < len(s); i++ {
		h = (h ^ Hash32(s[i])) * prime32
	}
	return h
}

// Hash64 is the 64-bit FNV-1a of the bytes added to New64.
type Hash64 uint64

// New64 returns the hash of no bytes.
func New64() Hash64 { return offset64 }

// AddByte returns the hash with c added.
func (h Hash64) AddByte(c byte) Hash64 { return (h ^ Hash64(c)) * prime64 }

// AddString returns the hash with s's bytes added.
func (h Hash64) AddString(s string) Hash64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ Hash64(s[i])) * prime64
	}
	return h
}

// AddUint64 returns the hash with v's eight bytes added, least significant first.
func (h Hash64) AddUint64(v uint64) Hash64 {
	for i := 0; i < 8; i++ {
		h = (h ^ Hash64(v>>(8*i)&0xff)) * prime64
	}
	return h
}
