//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Driver offers end to end, driven from outside as a driver app and a rider backend
// would: `ridematch broker` and `ridematch match --offer-timeout 3s` run as processes,
// kafka-python (testdata/driver_offers.py) produces the drivers' locations, the ride
// requests, the drivers' answers and a rider's cancel, and kcat reads driver-offers and
// ride-matches read_committed. The script learns each offer id from kcat's output, as a
// gateway learns it from the topic.

// offerPlan is what driver_offers.py sends: drivers at known distances from four pickups
// more than 3 km (the engine's reach) apart, so the four scenarios run at once without
// sharing a driver, and how each driver answers an offer.
type offerPlan struct {
	Drivers  []offerPlanDriver  `json:"drivers"`
	Requests []offerPlanRequest `json:"requests"`
}

type offerPlanDriver struct {
	ID     string  `json:"id"`
	Lat    float64 `json:"lat"`
	Lng    float64 `json:"lng"`
	Answer string  `json:"answer"` // accept, decline, silent, cancel, late or slow (driver_offers.py)
}

type offerPlanRequest struct {
	ID         string  `json:"id"`
	CustomerID string  `json:"customer_id"`
	Pickup     string  `json:"pickup"`
	Lat        float64 `json:"lat"`
	Lng        float64 `json:"lng"`
}

// newOfferPlan puts, north of each pickup, its drivers at about 0.2, 0.55 and 1 km in the
// order given: the first is the best driver, the second the second best. All are sedans
// rated 4.7, so distance alone ranks them.
func newOfferPlan() offerPlan {
	var p offerPlan
	site := func(request, pickup string, lat, lng float64, answers ...string) {
		p.Requests = append(p.Requests, offerPlanRequest{ID: "REQ-OFFERS-" + request, CustomerID: "CUST-OFFERS-" + request, Pickup: pickup, Lat: lat, Lng: lng})
		for i, a := range answers {
			p.Drivers = append(p.Drivers, offerPlanDriver{
				ID: "DRV-" + request + "-" + strconv.Itoa(i+1), Lat: lat + []float64{0.002, 0.005, 0.009}[i], Lng: lng, Answer: a,
			})
		}
	}
	site("DECLINE", "bandra_station", 19.0544, 72.8413, "decline", "accept", "accept")
	site("SILENT", "andheri_station", 19.1197, 72.8464, "silent", "accept")
	site("CANCEL", "powai", 19.1176, 72.9060, "cancel", "accept")
	site("LATE", "csmt", 18.9400, 72.8354, "late", "slow")
	return p
}

// TestOffersEndToEnd: with four requests at once, each at its own pickup,
//   - DECLINE: the best driver declines, the second best is offered the ride (attempt 2)
//     and accepts: ride_matched with that driver and its offer_id; the third is never
//     offered it;
//   - SILENT: the best driver does not answer; after the offer timeout the second is
//     offered it (attempt 2) and accepts;
//   - CANCEL: the rider cancels while the best driver holds the offer: offer_withdrawn to
//     that driver and ride_cancelled on ride-matches; no one else is offered it;
//   - LATE: the best driver accepts half a second after its offer expired, while the
//     second best holds the next offer (attempt 2): the late accept changes nothing
//     (ridematch_offer_responses_dropped_total{reason="expired"} on /metrics), and the
//     second best, accepting a second after its offer, gets the ride.
func TestOffersEndToEnd(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import kafka").Run(); err != nil {
		requireTool(t, python+" cannot import kafka ("+err.Error()+")")
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		requireTool(t, "kcat is not installed")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "driver_offers.py"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	const offerTimeout = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	f := newFleet(t)
	addr, httpAddr := freeAddr(t), freeAddr(t)
	f.broker("broker", addr)
	engine := f.start("match", "match", "--brokers", addr, "--offer-timeout", offerTimeout.String(), "--request-ttl", "20s",
		"--http", httpAddr, "--log-format", "json", "--status-interval", "2s")
	f.waitReady(engine)
	metrics := func() string {
		code, body := httpGet(t, "http://"+httpAddr+"/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d %s", code, body)
		}
		return body
	}

	plan := newOfferPlan()
	planJSON, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, python, script, addr, "locations", string(planJSON)).CombinedOutput(); err != nil {
		t.Fatalf("driver_offers.py locations: %v\n%s", err, out)
	}
	// The requests go once every driver is in the engine's index, so that each request
	// sees all of its drivers.
	waitFor(t, 15*time.Second, "the engine to hold every driver", func() bool {
		m := metrics()
		n := float64(len(plan.Drivers))
		return metricValue(m, `ridematch_events_in_total{type="driver_location_update"}`) >= n &&
			metricValue(m, "ridematch_cached_drivers") >= n
	})

	// kcat follows driver-offers into the script, which answers as each driver's plan says.
	follow, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	offersIn, offersOut, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	follower := exec.CommandContext(follow, kcat, "-b", addr, "-C", "-t", "driver-offers", "-o", "beginning", "-u", "-q",
		"-X", "isolation.level=read_committed")
	var followerErr syncBuffer
	follower.Stdout, follower.Stderr = offersOut, &followerErr
	answerer := exec.CommandContext(ctx, python, script, addr, "answer", string(planJSON))
	var said, answererErr syncBuffer
	answerer.Stdin, answerer.Stdout, answerer.Stderr = offersIn, &said, &answererErr
	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	if err := answerer.Start(); err != nil {
		t.Fatal(err)
	}
	answered := make(chan struct{})
	var answerErr error
	go func() {
		defer close(answered)
		answerErr = answerer.Wait()
	}()
	t.Cleanup(func() {
		cancel() // kills the script if the test ended before it did
		<-answered
		if t.Failed() {
			t.Logf("driver_offers.py answer said:\n%s%s\nkcat following driver-offers: %s", said.String(), answererErr.String(), followerErr.String())
		}
	})
	// The children hold the pipe's ends now: the script reads to its end when kcat stops.
	offersIn.Close()
	offersOut.Close()
	sent := time.Now()

	consume := func(topic string) []map[string]any {
		t.Helper()
		cmd := exec.CommandContext(ctx, kcat, "-b", addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
			"-X", "isolation.level=read_committed", "-f", `%k\t%s\n`)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("kcat reading %s: %v\n%s", topic, err, errb.String())
		}
		var events []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l == "" {
				continue
			}
			key, value, _ := strings.Cut(l, "\t")
			var e map[string]any
			if err := json.Unmarshal([]byte(value), &e); err != nil {
				t.Fatalf("kcat read a record of %s that is not JSON: %q", topic, l)
			}
			e["_key"] = key
			events = append(events, e)
		}
		return events
	}
	var outcomes map[string][]map[string]any
	waitFor(t, 30*time.Second, "an outcome for every request and the late accept", func() bool {
		select {
		case <-answered:
			t.Fatalf("driver_offers.py answer exited early: %v", answerErr)
		default:
		}
		outcomes = map[string][]map[string]any{}
		for _, e := range consume("ride-matches") {
			outcomes[e["request_id"].(string)] = append(outcomes[e["request_id"].(string)], e)
		}
		_, _, late := sentAccept(t, said.String(), "DRV-LATE-1")
		_, _, next := sentAccept(t, said.String(), "DRV-LATE-2")
		return len(outcomes) == len(plan.Requests) && late && next
	})
	t.Logf("every request had its outcome %v after the requests were sent", time.Since(sent).Round(10*time.Millisecond))
	stopFollowing()
	_ = follower.Wait() // killed: its error says so
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("driver_offers.py answer still runs 10s after the end of its input")
	}
	if answerErr != nil {
		t.Fatalf("driver_offers.py answer: %v\n%s", answerErr, answererErr.String())
	}
	t.Logf("driver_offers.py answer said:\n%s", said.String())

	offers := map[string][]map[string]any{}    // ride_offered by request, by attempt
	withdrawn := map[string][]map[string]any{} // offer_withdrawn by request
	for _, e := range consume("driver-offers") {
		if e["_key"] != e["driver_id"] {
			t.Errorf("driver-offers record keyed %v, not by its driver: %v", e["_key"], e)
		}
		switch id := e["request_id"].(string); e["event_type"] {
		case "ride_offered":
			offers[id] = append(offers[id], e)
		case "offer_withdrawn":
			withdrawn[id] = append(withdrawn[id], e)
		default:
			t.Errorf("driver-offers holds %v", e)
		}
	}
	for _, byAttempt := range offers {
		sort.Slice(byAttempt, func(i, j int) bool { return byAttempt[i]["attempt"].(float64) < byAttempt[j]["attempt"].(float64) })
		for _, o := range byAttempt {
			at, expires := offerTime(t, o, "offer_timestamp"), offerTime(t, o, "expires_at")
			if expires.Sub(at) != offerTimeout {
				t.Errorf("offer %v expires %v after it was made, want %v", o["offer_id"], expires.Sub(at), offerTimeout)
			}
		}
	}
	// offered checks the drivers a request was offered to, in order, attempts 1, 2, ...
	offered := func(request string, drivers ...string) []map[string]any {
		t.Helper()
		var got []string
		for i, o := range offers[request] {
			got = append(got, o["driver_id"].(string))
			if o["attempt"] != float64(i+1) {
				t.Errorf("%s's offer to %s is attempt %v, want %d", request, o["driver_id"], o["attempt"], i+1)
			}
		}
		if strings.Join(got, " ") != strings.Join(drivers, " ") {
			t.Fatalf("%s was offered to %v, want %v", request, got, drivers)
		}
		return offers[request]
	}
	// outcome returns a request's one outcome on ride-matches.
	outcome := func(request, eventType string) map[string]any {
		t.Helper()
		if len(outcomes[request]) != 1 || outcomes[request][0]["event_type"] != eventType || outcomes[request][0]["_key"] != request {
			t.Fatalf("%s's outcomes are %v, want one %s keyed by the request", request, outcomes[request], eventType)
		}
		return outcomes[request][0]
	}
	matchedOn := func(request string, m, o map[string]any) {
		t.Helper()
		for _, k := range []string{"driver_id", "offer_id", "fare_estimate", "pickup_distance_km", "estimated_arrival", "surge_multiplier"} {
			if m[k] != o[k] {
				t.Errorf("%s's ride_matched has %s %v, its accepted offer %v", request, k, m[k], o[k])
			}
		}
	}

	// A decline: the second best driver is offered the ride and takes it.
	got := offered("REQ-OFFERS-DECLINE", "DRV-DECLINE-1", "DRV-DECLINE-2")
	matchedOn("REQ-OFFERS-DECLINE", outcome("REQ-OFFERS-DECLINE", "ride_matched"), got[1])
	if !offerTime(t, got[1], "offer_timestamp").Before(offerTime(t, got[0], "expires_at")) {
		t.Errorf("the decline's next offer came at %v, not before the declined offer's expiry %v", got[1]["offer_timestamp"], got[0]["expires_at"])
	}

	// Silence: the next offer once the offer timeout has passed.
	got = offered("REQ-OFFERS-SILENT", "DRV-SILENT-1", "DRV-SILENT-2")
	matchedOn("REQ-OFFERS-SILENT", outcome("REQ-OFFERS-SILENT", "ride_matched"), got[1])
	lapsed, next := offerTime(t, got[0], "expires_at"), offerTime(t, got[1], "offer_timestamp")
	if next.Before(lapsed) || next.Sub(lapsed) > time.Second {
		t.Errorf("the silent driver's offer expired at %v and the next was made at %v: want it at the expiry, within a second", lapsed, next)
	}
	t.Logf("the silent driver's offer lapsed at %v; the next offer came %v after it", lapsed.Format(time.RFC3339Nano), next.Sub(lapsed))

	// A rider's cancel while the offer is open.
	got = offered("REQ-OFFERS-CANCEL", "DRV-CANCEL-1")
	c := outcome("REQ-OFFERS-CANCEL", "ride_cancelled")
	if c["reason"] != "rider_changed_plans" {
		t.Errorf("ride_cancelled's reason is %v, want the rider's rider_changed_plans", c["reason"])
	}
	w := withdrawn["REQ-OFFERS-CANCEL"]
	if len(w) != 1 || w[0]["offer_id"] != got[0]["offer_id"] || w[0]["driver_id"] != "DRV-CANCEL-1" || w[0]["reason"] != "rider_changed_plans" {
		t.Errorf("offer_withdrawn for the cancel: %v; want one, of %v to DRV-CANCEL-1, reason rider_changed_plans", w, got[0]["offer_id"])
	}
	for r, w := range withdrawn {
		if r != "REQ-OFFERS-CANCEL" {
			t.Errorf("an offer of %s, not cancelled, was withdrawn: %v", r, w)
		}
	}

	// An accept after expiry: ignored; the next driver takes the ride.
	got = offered("REQ-OFFERS-LATE", "DRV-LATE-1", "DRV-LATE-2")
	matchedOn("REQ-OFFERS-LATE", outcome("REQ-OFFERS-LATE", "ride_matched"), got[1])
	lateID, lateAt, _ := sentAccept(t, said.String(), "DRV-LATE-1")
	_, nextAt, _ := sentAccept(t, said.String(), "DRV-LATE-2")
	if lateID != got[0]["offer_id"] || !lateAt.After(offerTime(t, got[0], "expires_at")) {
		t.Errorf("the late accept of %s, stamped %v, was not of the offer %v or not after its expiry %v", lateID, lateAt, got[0]["offer_id"], got[0]["expires_at"])
	}
	if !lateAt.Before(nextAt) {
		t.Errorf("the late accept (%v) came after the next driver's (%v): the offer it raced was no longer open", lateAt, nextAt)
	}

	m := metrics()
	for series, want := range map[string]float64{
		`ridematch_offer_responses_dropped_total{reason="expired"}`: 1,
		`ridematch_offers_made_total`:                               7,
		`ridematch_offers_total{result="accepted"}`:                 3,
		`ridematch_offers_total{result="declined"}`:                 1,
		`ridematch_offers_total{result="expired"}`:                  2,
		`ridematch_offers_total{result="withdrawn"}`:                1,
		`ridematch_offer_responses_total`:                           5,
	} {
		if got := metricValue(m, series); got != want {
			t.Errorf("/metrics: %s %v, want %v", series, got, want)
		}
	}
	f.stopGracefullyExitOnly(engine)
	t.Logf("took %v", time.Since(start).Round(100*time.Millisecond))
}

// offerTime parses one of an offer's times.
func offerTime(t *testing.T, o map[string]any, field string) time.Time {
	t.Helper()
	s, _ := o[field].(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s of %v: %v", field, o, err)
	}
	return at
}

// sentAccept returns the offer a driver accepted and the time on the accept, from what
// driver_offers.py said it sent, and whether it sent one.
func sentAccept(t *testing.T, said, driverID string) (offerID string, at time.Time, ok bool) {
	t.Helper()
	for _, l := range strings.Split(said, "\n") {
		var a struct {
			Sent     string `json:"sent"`
			OfferID  string `json:"offer_id"`
			DriverID string `json:"driver_id"`
			At       string `json:"at"`
		}
		if json.Unmarshal([]byte(l), &a) == nil && a.Sent == "offer_accepted" && a.DriverID == driverID {
			at, err := time.Parse("2006-01-02T15:04:05", a.At) // the fraction is optional
			if err != nil {
				t.Fatal(err)
			}
			return a.OfferID, at, true
		}
	}
	return "", time.Time{}, false
}

// metricValue returns the value of one series of a /metrics page, or -1 if it has none.
func metricValue(page, series string) float64 {
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}
