// Command ridematch is the dispatch core of a ride service on Kafka: the embedded broker,
// topic setup, the matching engine, the load simulator, a topic reader and the benchmark.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

func main() {
	// zerolog reads its time format from a package variable; milliseconds matter in the
	// logs of a matching engine. Set once here, not per execute: commands run side by side
	// in one process (the tests) would race on it.
	zerolog.TimeFieldFormat = time.RFC3339Nano
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
