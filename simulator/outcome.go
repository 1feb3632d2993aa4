package simulator

import "ridematch/event"

// Outcome is an outcome the engine sent, as World.Apply takes it: event.DecodeOutcome
// reads it from ride-matches.
type Outcome = event.RideOutcome
