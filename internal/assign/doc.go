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
// Two kinds of component skip Dijkstra altogether. Rows sharing a column are connected
// (union-find over the edges), and a component in which no two rows share a first choice
// (a row's first edge of greatest weight) gives each row its first choice: every row then
// holds its best weight, which nothing can beat. A component of one row is such a
// component, so a lone request gets the driver the caller ranked best.
//
// # Ties
//
// The result depends only on the Graph, never on the Solver's history, and among
// matchings of equal weight it is chosen by one rule: Dijkstra settles equal distances
// first a real column before any skip (one more pair at the same weight), then the column
// labelled first. A row's edges are labelled in the caller's order, so where weights tie
// the caller's preference wins: a row whose first choice is free takes it, and the fast
// paths above give exactly what Dijkstra would.
//
// # Cost
//
// A Dijkstra that finds a free column at once costs a row its degree times a heap
// operation, so with drivers to spare a window costs about O(E log d) for E edges of
// degree d. Where rows contend it explores as far as the contention reaches: O(E log E)
// per row in the worst case, O(R·E log E) for R rows. Scratch space is the Solver's,
// kept between calls, so a steady window allocates nothing.
//
// Potentials stay within R·W in magnitude and every settled distance within W (a row's own
// skip is never farther), so int64 arithmetic cannot overflow for up to MaxRows rows of
// weights up to MaxWeight.
package assign
