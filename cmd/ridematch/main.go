// Command ridematch is the dispatch core of a ride service on Kafka: the embedded broker,
// topic setup, the matching engine, the load simulator, a topic reader and the benchmark.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
