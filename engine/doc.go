// Package engine runs a topology of stages on Kafka: by default ridematch's router
// (validate, dead-letter, time and repartition by H3 region) and matcher (one state
// machine per region-log partition).
//
// A topology is a value (Topology, DefaultTopology). Each Stage declares its consumer
// group, the topic roles it reads and writes, how much of an input's log rebuilds a
// partition's state, and a preload log if it has one; Validate checks the declaration
// against topics.yaml before anything connects, and `ridematch topics --topology` prints
// it. One runner runs any stage: its members consume, apply, produce and commit each
// batch in one Kafka transaction, and rebuild a partition's state from its log whenever
// the partition is assigned.
//
// What a stage does is its Processor: it opens a State per input partition and acts
// between polls (Idle). A State applies live records (Apply, writing to an Outbox) and
// replays old ones (Replay, writing nothing). Optional interfaces add what only some
// stages need: a Merger handles a whole poll itself (the router merges its inputs in
// log-time order), a Holder holds records back past a commit, and a Preloader reads a
// second log before its replay (the matcher's decision log).
//
// The logic lives in packages router and matcher; this package is the plumbing around
// them.
package engine
