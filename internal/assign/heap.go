package assign

// entry is a column labelled at distance key; tie orders equal keys: skips (skipTie set)
// after real columns, then the order of labelling.
type entry struct {
	key int64
	tie uint32
	col int32 // a column, or -1-i for row i's skip
}

const skipTie = 1 << 31

func (a entry) less(b entry) bool { return a.key < b.key || a.key == b.key && a.tie < b.tie }

// heap is a binary min-heap of entries; a relabelled column leaves its old entry behind,
// which the reader drops as stale, since that is cheaper than finding it.
type heap []entry

func (h *heap) reset() { *h = (*h)[:0] }

func (h *heap) push(x entry) {
	*h = append(*h, x)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !x.less(q[p]) {
			break
		}
		q[i] = q[p]
		i = p
	}
	q[i] = x
}

func (h *heap) pop() entry {
	q := *h
	top := q[0]
	n := len(q) - 1
	x := q[n]
	q = q[:n]
	*h = q
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && q[r].less(q[l]) {
			l = r
		}
		if !q[l].less(x) {
			break
		}
		q[i] = q[l]
		i = l
	}
	if n > 0 {
		q[i] = x
	}
	return top
}
