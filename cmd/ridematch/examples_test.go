package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"ridematch"
)

// TestExampleRider runs examples/python/rider_backend.py, the kafka-python rider backend
// of the examples, against the embedded broker, an engine and the reference's three
// drivers around Bandra, and checks that it printed the ride matched to DRV001.
func TestExampleRider(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import kafka").Run(); err != nil {
		requireTool(t, python+" cannot import kafka ("+err.Error()+")")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "examples", "python", "rider_backend.py"))
	if err != nil {
		t.Fatal(err)
	}
	topics := ridematch.DefaultTopics()
	b := startBroker(t, topics)
	engine := startEngine(t, b.Addr())
	cl := newClient(t, b.Addr())
	drivers, _ := referenceEvents("", pythonNow())
	for _, d := range drivers {
		produce(t, cl, topics.Name(ridematch.RoleDriverLocations), d[0], []byte(d[1]))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script, "--bootstrap-servers", b.Addr(),
		"--pickup", "bandra_station", "--drop", "bkc", "--ride-type", "prime", "--timeout", "15")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	t.Logf("rider_backend.py's output:\n%s%s", out.String(), errb.String())
	if err != nil {
		t.Fatalf("rider_backend.py: %v", err)
	}
	want := regexp.MustCompile(`(?m)^🚗 Ride requested: CUST001 from bandra_station to bkc \(prime\), request [0-9a-f-]{36}\n` +
		`✅ Ride matched! Driver DRV001 \(sedan, rating 4\.7\) assigned to CUST001\n` +
		`   pickup 0\.01\d km away, ETA \d+ min, fare ₹81\.4\d? \(surge x1\), assignment adaptive, match \S+\n$`)
	if !want.MatchString(out.String()) {
		t.Errorf("the rider backend's output is not the match of DRV001")
	}
	stopEngine(t, engine)
}
