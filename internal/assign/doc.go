// Package assign solves the assignment of waiting ride requests to drivers exactly: the
// matching of greatest total weight over a sparse graph of allowed pairs.
//
// # The problem
//
// A Graph has rows (requests) and columns (drivers); row i may take only the columns of
// its own edges, each with a positive integer weight (the caller quantises its float
// scores, so sums are exact). A matching gives each row at most one column and each column
// at most one row; a row left out adds nothing. Solve finds a matching of greatest total
// weight.
//
// # The method
//
// Each row gets a private "skip" column of weight 0, so that every row can be assigned, and
// weights become costs W-weight (W = MaxWeight, so skip costs W): the least-cost assignment
// of every row to a column or its skip is then a matching of greatest weight. It is found by
// successive shortest augmenting paths, the sparse Hungarian (Jonker–Volgenant) method:
// rows are added one at a time, in index order; Dijkstra, on costs reduced by column
// potentials so that none is negative, runs from the new row over the alternating graph
// (a column leads on to the row that holds it) and stops at the first free column or skip
// it settles; the path to it is flipped, and the potentials of the columns settled on the
// way are lowered so that every reduced cost stays non-negative and every pair made stays
// at reduced cost zero. These are the linear program's dual variables: when the last row
// is in, they prove that no assignment costs less, so the result is exact.
//
// Most rows need no heap: Dijkstra's first step from a row is to its nearest column by
// reduced cost, and if that column is free, or the skip is nearer than any, the row takes
// it with nothing else to do, which nearest finds in one pass over the row's edges. Until
// potentials move, a row's nearest column is its first edge of greatest weight, so a lone
// request, or every request of a group sharing drivers whose first choices do not clash,
// gets the driver the caller ranked best. Components of the graph (rows sharing drivers) need no splitting:
// Dijkstra moves only along edges, so it never leaves the new row's component.
//
// # Ties
//
// The result depends only on the Graph, never on the Solver's history, and among
// matchings of equal weight it is chosen by one rule: rows are added in index order, and
// Dijkstra settles equal distances first a real column before any skip (one more pair for
// the same weight), then the column whose distance was found first. A row's edges are
// scanned in the caller's order, so the caller's preference breaks ties between equal
// weights: a row whose first choice is free, with nothing moved, takes it.
//
// # Cost
//
// A row whose nearest column is free costs a pass over its edges, so with drivers to
// spare a window costs about O(E) for E edges. Where rows contend, Dijkstra explores only
// as far as the contention reaches, stopping at the first free column: O(E log E) per row
// in the worst case, O(R·E log E) for R rows. Scratch space is the Solver's, kept between
// calls, so a steady window allocates nothing.
//
// Every potential lies in [-W, 0]: minus a column's potential is its dual price, which
// never exceeds the weight of the pair holding it, since a row's skip keeps the row's own
// price non-negative. Every settled distance lies in [0, W], as a row's own skip is never
// farther. So int64 arithmetic on weights up to MaxWeight has room to spare.
package assign
