package assign_test

import (
	"fmt"

	"ridematch/internal/assign"
)

// Two requests, two drivers: A ranks X 100 and Y 90, B can reach only X, at 95. Greedy
// in order gives A X and B nothing, 100 in all; the best is A Y and B X, 185.
func ExampleSolver_Solve() {
	const x, y = 0, 1
	var g assign.Graph
	g.Reset(2)
	g.Add(x, 100) // request A
	g.Add(y, 90)
	g.EndRow()
	g.Add(x, 95) // request B
	g.EndRow()

	var s assign.Solver
	match := s.Solve(&g, nil)
	fmt.Println("A takes", match[0], "and B takes", match[1])
	// Output: A takes 1 and B takes 0
}
