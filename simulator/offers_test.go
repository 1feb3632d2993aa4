package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"ridematch"
	"ridematch/event"
)

// offerIDs are n offer ids as the engine makes them.
func offerIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = event.OfferID(int32(i%12), fmt.Sprintf("REQ-%d", i), fmt.Sprintf("DRV-%d", i%97), testStart+event.Time(i)*1000)
	}
	return ids
}

// TestDecide: over many offers, a fleet accepts its accept rate, declines DeclineShare of
// the rest and lets the others lapse; at 0 it answers nothing. Each answer is the same
// whenever it is drawn.
func TestDecide(t *testing.T) {
	tests := []struct {
		give                      float64
		accept, decline, lapse    float64
		wantNoAnswer, wantAllSure bool
	}{
		{give: 0, lapse: 1, wantNoAnswer: true},
		{give: 0.5, accept: 0.5, decline: 0.5 * DeclineShare, lapse: 0.5 * (1 - DeclineShare)},
		{give: 0.85, accept: 0.85, decline: 0.15 * DeclineShare, lapse: 0.15 * (1 - DeclineShare)},
		{give: 1, accept: 1, wantAllSure: true},
	}
	ids := offerIDs(20_000)
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.give), func(t *testing.T) {
			var n [3]int
			for _, id := range ids {
				a, reason := Decide(1, tt.give, id)
				n[a]++
				if (a == Decline) != (reason != "") || a == Decline && !slices.Contains(declineReasons[:], reason) {
					t.Fatalf("%s: %v with reason %q", id, a, reason)
				}
				if a2, r2 := Decide(1, tt.give, id); a2 != a || r2 != reason {
					t.Fatalf("%s: %v then %v", id, a, a2)
				}
			}
			for a, want := range []float64{tt.accept, tt.decline, tt.lapse} {
				got := float64(n[a]) / float64(len(ids))
				if math.Abs(got-want) > 0.012 {
					t.Errorf("%v: %.3f of the offers, want %.3f", Answer(a), got, want)
				}
			}
			if tt.wantNoAnswer && n[Lapse] != len(ids) || tt.wantAllSure && n[Accept] != len(ids) {
				t.Errorf("answers %v", n)
			}
		})
	}
	// Another seed is another fleet.
	same := 0
	for _, id := range ids[:1000] {
		a, _ := Decide(1, 0.5, id)
		b, _ := Decide(2, 0.5, id)
		if a == b {
			same++
		}
	}
	if same > 700 {
		t.Errorf("seeds 1 and 2 answer %d of 1000 offers alike", same)
	}
}

func TestResponseDelay(t *testing.T) {
	tests := []struct {
		lo, hi time.Duration
	}{
		{time.Second, 5 * time.Second},
		{2 * time.Second, 2 * time.Second},
		{0, 1500 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.lo, tt.hi), func(t *testing.T) {
			least, most := time.Duration(math.MaxInt64), time.Duration(0)
			for i := range 2000 {
				d := ResponseDelay(7, i, tt.lo, tt.hi)
				if d != ResponseDelay(7, i, tt.lo, tt.hi) || d%time.Millisecond != 0 || d < tt.lo || d > tt.hi {
					t.Fatalf("driver %d: %v", i, d)
				}
				least, most = min(least, d), max(most, d)
			}
			if span := tt.hi.Truncate(time.Millisecond) - tt.lo; least-tt.lo > span/20 || tt.hi-most > span/20+time.Millisecond {
				t.Errorf("delays from %v to %v, want them spread over %v to %v", least, most, tt.lo, tt.hi)
			}
		})
	}
}

// offerWith returns an offer id that decide gives answer a at rate.
func offerWith(t *testing.T, seed uint64, rate float64, a Answer, skip int) string {
	t.Helper()
	for _, id := range offerIDs(1000) {
		if got, _ := Decide(seed, rate, id); got == a {
			if skip--; skip < 0 {
				return id
			}
		}
	}
	t.Fatalf("no offer id is answered %v", a)
	return ""
}

type worldStep struct {
	at       time.Duration // after the start
	offer    string        // an offer id to offer to driver 0 (or driver, when set)
	driver   string
	withdraw string // an offer id to withdraw
}

// TestWorldAnswersOffers: a driver answers an offer after its response delay, at a whole
// millisecond, unless it lets the offer lapse or the offer is withdrawn first; offers to
// other fleets' drivers are none of its business.
func TestWorldAnswersOffers(t *testing.T) {
	cfg := testConfig("mumbai", 3, 0)
	accepted := offerWith(t, cfg.Seed, cfg.AcceptRate, Accept, 0)
	accepted2 := offerWith(t, cfg.Seed, cfg.AcceptRate, Accept, 1)
	declined := offerWith(t, cfg.Seed, cfg.AcceptRate, Decline, 0)
	lapsed := offerWith(t, cfg.Seed, cfg.AcceptRate, Lapse, 0)
	type answer struct {
		offer    string
		accepted bool
		after    time.Duration // the driver's delay after the offer's step
	}
	const offered = 1234567 * time.Microsecond
	tests := []struct {
		name       string
		acceptRate float64
		give       []worldStep
		want       []answer
		wantCounts [5]uint64 // offers, accepted, declined, ignored, withdrawn
	}{
		{"accepted", 0.85, []worldStep{{at: offered, offer: accepted}}, []answer{{accepted, true, 0}}, [5]uint64{1, 1, 0, 0, 0}},
		{"declined", 0.85, []worldStep{{at: offered, offer: declined}}, []answer{{declined, false, 0}}, [5]uint64{1, 0, 1, 0, 0}},
		{"left to lapse", 0.85, []worldStep{{at: offered, offer: lapsed}}, nil, [5]uint64{1, 0, 0, 1, 0}},
		{"withdrawn first", 0.85, []worldStep{{at: offered, offer: accepted}, {at: offered + 500*time.Millisecond, withdraw: accepted}}, nil, [5]uint64{1, 0, 0, 0, 1}},
		{"withdrawn after the answer", 0.85, []worldStep{{at: offered, offer: accepted}, {at: offered + 6*time.Second, withdraw: accepted}}, []answer{{accepted, true, 0}}, [5]uint64{1, 1, 0, 0, 0}},
		{"withdrawing another offer", 0.85, []worldStep{{at: offered, offer: accepted}, {at: offered + 10*time.Millisecond, withdraw: accepted2}}, []answer{{accepted, true, 0}}, [5]uint64{1, 1, 0, 0, 0}},
		{"another fleet's driver", 0.85, []worldStep{{at: offered, offer: accepted, driver: "DRV-2-000001"}}, nil, [5]uint64{}},
		{"the same offer twice", 0.85, []worldStep{{at: offered, offer: accepted}, {at: offered + 100*time.Millisecond, offer: accepted}}, []answer{{accepted, true, 0}}, [5]uint64{1, 1, 0, 0, 0}},
		{"two offers in order", 0.85, []worldStep{{at: offered, offer: declined}, {at: offered + 300*time.Millisecond, offer: accepted}},
			[]answer{{declined, false, 0}, {accepted, true, 300 * time.Millisecond}}, [5]uint64{2, 1, 1, 0, 0}},
		{"a fleet that never answers", 0, []worldStep{{at: offered, offer: accepted}, {at: offered, offer: declined}}, nil, [5]uint64{2, 0, 0, 2, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.AcceptRate = tt.acceptRate
			w := newTestWorld(t, c)
			driver := w.DriverIDs()[0]
			delay := w.drivers[0].responseDelay
			type sent struct {
				r  event.OfferResponse
				at event.Time
			}
			var got []sent
			emit := func(in *event.Input) {
				if in.Kind == event.KindOfferResponse {
					got = append(got, sent{in.Response, in.Time()})
				}
			}
			for _, s := range tt.give {
				w.Step(testStart.Add(s.at), emit)
				switch {
				case s.offer != "":
					d := driver
					if s.driver != "" {
						d = s.driver
					}
					w.Offer(&event.RideOffered{OfferID: s.offer, RequestID: "REQ-" + s.offer, DriverID: d})
				case s.withdraw != "":
					w.Withdraw(&event.OfferWithdrawn{OfferID: s.withdraw, RequestID: "REQ-" + s.withdraw, DriverID: driver, Reason: "rider_cancelled"})
				}
			}
			w.Step(testStart.Add(time.Minute), emit)
			if len(got) != len(tt.want) {
				t.Fatalf("answers %+v, want %+v", got, tt.want)
			}
			for i, a := range got {
				want := tt.want[i]
				// Offered at a time with microseconds: answered at the next whole millisecond.
				at := testStart.Add(offered + want.after + delay).Std().Truncate(time.Millisecond).Add(time.Millisecond)
				if a.r.OfferID != want.offer || a.r.RequestID != "REQ-"+want.offer || a.r.DriverID != driver || a.r.Accepted != want.accepted ||
					a.r.Time != a.at || !a.at.Std().Equal(at) || a.r.Accepted == (a.r.Reason != "") {
					t.Errorf("answer %d: %+v at %v, want %+v at %v", i, a.r, a.at, want, at)
				}
			}
			n := w.Counts()
			if g := [5]uint64{n.Offers, n.Accepted, n.Declined, n.Ignored, n.Withdrawn}; g != tt.wantCounts || n.Answering != 0 {
				t.Errorf("counts %v, %d answering; want %v", g, n.Answering, tt.wantCounts)
			}
		})
	}
}

// TestAnswersLeaveTheWorldAlone: offers and the answers to them change nothing else the
// world emits, whatever the drivers answer: the seeded streams are the same.
func TestAnswersLeaveTheWorldAlone(t *testing.T) {
	cfg := testConfig("mumbai", 200, 5)
	cfg.CancelRate = 0.2
	quiet, busy := newTestWorld(t, cfg), newTestWorld(t, cfg)
	ids, drivers := offerIDs(400), busy.DriverIDs()
	end := testStart.Add(5 * time.Minute)
	var a, b [][]byte
	answers := 0
	for i, s := 0, testStart; s < end; i, s = i+1, s.Add(250*time.Millisecond) {
		a = append(a, record(quiet, s)...)
		busy.Step(s, func(in *event.Input) {
			if in.Kind == event.KindOfferResponse {
				answers++
				return
			}
			b = append(b, encode(in))
		})
		if i < len(ids) {
			busy.Offer(&event.RideOffered{OfferID: ids[i], RequestID: "REQ", DriverID: drivers[i%len(drivers)]})
			if i%7 == 0 {
				busy.Withdraw(&event.OfferWithdrawn{OfferID: ids[i-i%14]})
			}
		}
	}
	if answers < 300 {
		t.Fatalf("%d answers to %d offers", answers, len(ids))
	}
	if len(a) != len(b) {
		t.Fatalf("%d events without offers, %d with", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("event %d differs:\n%s\n%s", i, a[i], b[i])
		}
	}
}

// TestResponseJSON: the answers go on driver-responses as its schemas say.
func TestResponseJSON(t *testing.T) {
	tp := ridematch.DefaultTopics().Get(ridematch.RoleDriverResponses)
	schemas := map[string]*jsonschema.Schema{}
	for _, e := range tp.Events {
		b, err := fs.ReadFile(ridematch.Schemas(), tp.Schemas[e])
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		url := "https://ridematch.invalid/schemas/" + tp.Schemas[e]
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
		if schemas[e], err = c.Compile(url); err != nil {
			t.Fatal(err)
		}
	}
	at := event.TimeOf(time.Date(2026, 11, 25, 19, 0, 0, 123_000_000, time.UTC))
	tests := []struct {
		give event.OfferResponse
		want string
	}{
		{event.OfferResponse{OfferID: "o-3-0123456789abcdef", RequestID: "R1", DriverID: "DRV001", Accepted: true, Time: at},
			`{"event_type":"offer_accepted","offer_id":"o-3-0123456789abcdef","request_id":"R1","driver_id":"DRV001","timestamp":"2026-11-25T19:00:00.123000Z"}`},
		{event.OfferResponse{OfferID: "o-3-0123456789abcdef", RequestID: "R1", DriverID: "DRV001", Time: at, Reason: "fare_too_low"},
			`{"event_type":"offer_declined","offer_id":"o-3-0123456789abcdef","request_id":"R1","driver_id":"DRV001","timestamp":"2026-11-25T19:00:00.123000Z","reason":"fare_too_low"}`},
	}
	for _, tt := range tests {
		got := appendResponseJSON(nil, &tt.give)
		if string(got) != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(got))
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			EventType string `json:"event_type"`
		}
		_ = json.Unmarshal(got, &head)
		if err := schemas[head.EventType].Validate(doc); err != nil {
			t.Errorf("%s: %v", got, err)
		}
	}
}

func TestDecodeOfferNotice(t *testing.T) {
	offered := `{"event_type":"ride_offered","offer_id":"o-1-00000000000000aa","request_id":"R1","driver_id":"DRV001","customer_id":"C1",` +
		`"pickup_location":"bandra_station","drop_location":"bkc","pickup_coordinates":{"lat":19.0544,"lng":72.8413},"drop_coordinates":{"lat":19.0596,"lng":72.8656},` +
		`"pickup_distance_km":1.2,"estimated_arrival":4,"fare_estimate":81.5,"surge_multiplier":1.2,"offer_timestamp":"2026-11-25T19:00:00.000000Z",` +
		`"expires_at":"2026-11-25T19:00:15.000000Z","attempt":1,"ride_type":"mini","vehicle_type":"hatchback"}`
	withdrawn := `{"event_type":"offer_withdrawn","offer_id":"o-1-00000000000000aa","request_id":"R1","driver_id":"DRV001","reason":"rider_cancelled","timestamp":"2026-11-25T19:00:03.000000Z"}`
	tests := []struct {
		name          string
		give          string
		wantErr       bool
		wantWithdrawn bool
	}{
		{"offered", offered, false, false},
		{"withdrawn", withdrawn, false, true},
		{"an outcome", `{"event_type":"ride_matched","offer_id":"o-1-00000000000000aa","driver_id":"DRV001"}`, true, false},
		{"no offer id", `{"event_type":"ride_offered","driver_id":"DRV001"}`, true, false},
		{"no driver", `{"event_type":"offer_withdrawn","offer_id":"o-1-00000000000000aa"}`, true, false},
		{"a bad time", `{"event_type":"ride_offered","offer_id":"o","driver_id":"D","expires_at":"soon"}`, true, false},
		{"a number for an id", `{"event_type":"ride_offered","offer_id":1,"driver_id":"D"}`, true, false},
		{"not JSON", `ride_offered`, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := decodeOfferNotice([]byte(tt.give))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if (n.withdrawn != nil) != tt.wantWithdrawn || (n.offered != nil) == tt.wantWithdrawn {
				t.Fatalf("got %+v", n)
			}
			if o := n.offered; o != nil && (o.OfferID != "o-1-00000000000000aa" || o.DriverID != "DRV001" || o.RequestID != "R1" ||
				o.ExpiresAt.String() != "2026-11-25T19:00:15.000000Z" || o.PickupDistanceKM != 1.2 || o.Attempt != 1) {
				t.Errorf("offer %+v", o)
			}
			if w := n.withdrawn; w != nil && (w.OfferID != "o-1-00000000000000aa" || w.DriverID != "DRV001" || w.Reason != "rider_cancelled") {
				t.Errorf("withdrawal %+v", w)
			}
		})
	}
}

func FuzzDecodeOfferNotice(f *testing.F) {
	f.Add([]byte(`{"event_type":"ride_offered","offer_id":"o-1-00000000000000aa","request_id":"R1","driver_id":"DRV001","expires_at":"2026-11-25T19:00:15Z"}`))
	f.Add([]byte(`{"event_type":"offer_withdrawn","offer_id":"o","driver_id":"D"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeOfferNotice(b)
		if err != nil {
			return
		}
		switch {
		case (n.offered == nil) == (n.withdrawn == nil):
			t.Fatalf("%s: %+v", b, n)
		case n.offered != nil && (n.offered.OfferID == "" || n.offered.DriverID == ""),
			n.withdrawn != nil && (n.withdrawn.OfferID == "" || n.withdrawn.DriverID == ""):
			t.Fatalf("%s: an offer without its ids", b)
		}
	})
}

// TestRunAnswersOffers runs the simulator on the embedded broker, offers its drivers rides
// on driver-offers as the engine would, withdraws some, and reads back driver-responses:
// each offer of this fleet is answered as Decide says, by its driver after its response
// delay, keyed by the driver, except those left to lapse and those withdrawn first.
func TestRunAnswersOffers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	b := startBroker(t, ctx, log)
	defer b.Close()
	topics := ridematch.DefaultTopics()
	offersTopic := topics.Name(ridematch.RoleDriverOffers)
	responsesTopic := topics.Name(ridematch.RoleDriverResponses)

	cfg := DefaultConfig()
	cfg.Cluster.Brokers = []string{b.Addr()}
	cfg.Drivers, cfg.Rate, cfg.Seed = 60, 0, 3
	// Simulated time is wall time, so that an answer's time, less its driver's delay,
	// is when the offer was produced.
	cfg.Speedup, cfg.Duration, cfg.ReportInterval = 1, 7*time.Second, 100*time.Millisecond
	sim, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}

	// The stand-in engine: once the simulator reports (it reads driver-offers from the
	// end by then), two offers to each driver, a few to another fleet's, and a withdrawal
	// of every tenth offer right behind it.
	type offer struct {
		id, driver string
		index      int
		withdrawn  bool
		at         time.Time
	}
	var offers []offer
	for round := range 2 {
		for i := range cfg.Drivers {
			driver := fmt.Sprintf("DRV-%d-%06d", cfg.Seed, i+1)
			n := len(offers)
			offers = append(offers, offer{id: event.OfferID(int32(i%12), fmt.Sprintf("REQ-%d-%d", round, i), driver, testStart+event.Time(round)),
				driver: driver, index: i, withdrawn: n%10 == 9})
		}
	}
	reported := make(chan struct{})
	var once sync.Once
	engineDone := make(chan error, 1)
	go func() {
		select {
		case <-reported:
		case <-ctx.Done():
			engineDone <- ctx.Err()
			return
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0))
		if err != nil {
			engineDone <- err
			return
		}
		defer cl.Close()
		var recs []*kgo.Record
		add := func(driver string, v any) {
			j, _ := json.Marshal(v)
			recs = append(recs, &kgo.Record{Topic: offersTopic, Key: []byte(driver), Value: j})
		}
		at := event.TimeOf(time.Now())
		for i := range offers {
			o := &offers[i]
			o.at = time.Now()
			add(o.driver, &event.RideOffered{EventType: event.TypeRideOffered, OfferID: o.id, RequestID: "REQ-" + o.id, DriverID: o.driver,
				OfferTimestamp: at, ExpiresAt: at.Add(15 * time.Second), Attempt: 1})
			if o.withdrawn {
				add(o.driver, &event.OfferWithdrawn{EventType: event.TypeOfferWithdrawn, OfferID: o.id, RequestID: "REQ-" + o.id, DriverID: o.driver, Reason: "rider_cancelled", Timestamp: at})
			}
		}
		for i := range 5 {
			other := fmt.Sprintf("DRV-99-%06d", i+1)
			add(other, &event.RideOffered{EventType: event.TypeRideOffered, OfferID: fmt.Sprintf("o-0-%016x", i), DriverID: other, OfferTimestamp: at, ExpiresAt: at.Add(15 * time.Second)})
		}
		engineDone <- cl.ProduceSync(ctx, recs...).FirstErr()
	}()

	st, err := sim.Run(ctx, func(Stats) { once.Do(func() { close(reported) }) })
	if err != nil {
		t.Fatal(err)
	}
	if err := <-engineDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("final: %+v", st.Counts)

	// What each offer should get.
	want := map[string]offer{}
	var drawn, accepts, declines, lapses, withdrawals uint64
	for _, o := range offers {
		a, _ := Decide(cfg.Seed, cfg.AcceptRate, o.id)
		if a == Accept {
			drawn++
		}
		switch {
		case a == Lapse:
			lapses++
		case o.withdrawn:
			withdrawals++
		case a == Accept:
			accepts++
			want[o.id] = o
		default:
			declines++
			want[o.id] = o
		}
	}
	if share := float64(drawn) / float64(len(offers)); declines == 0 || math.Abs(share-cfg.AcceptRate) > 0.1 {
		t.Errorf("%d of %d offers to accept, %d to decline: the seed's share is far from %v", drawn, len(offers), declines, cfg.AcceptRate)
	}
	if st.Offers != uint64(len(offers)) || st.Accepted != accepts || st.Declined != declines || st.Ignored != lapses ||
		st.Withdrawn != withdrawals || st.Answering != 0 {
		t.Errorf("counts %+v; want %d offers, %d accepted, %d declined, %d ignored, %d withdrawn", st.Counts, len(offers), accepts, declines, lapses, withdrawals)
	}
	if st.Undelivered != 0 || st.Delivered != st.GPSUpdates+accepts+declines {
		t.Errorf("delivered %d, undelivered %d, of %d GPS updates and %d answers", st.Delivered, st.Undelivered, st.GPSUpdates, accepts+declines)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(responsesTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d answers", got, len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			var v offerResponseJSON
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatalf("%s: %v", r.Value, err)
			}
			o, ok := want[v.OfferID]
			if !ok {
				t.Fatalf("an answer to offer %s, which should get none: %s", v.OfferID, r.Value)
			}
			delete(want, v.OfferID)
			a, reason := Decide(cfg.Seed, cfg.AcceptRate, o.id)
			wantType := map[Answer]string{Accept: event.TypeOfferAccepted, Decline: event.TypeOfferDeclined}[a]
			if v.EventType != wantType || v.Reason != reason || v.DriverID != o.driver || v.RequestID != "REQ-"+o.id || string(r.Key) != o.driver {
				t.Errorf("%s keyed %s: want %s (reason %q) from %s", r.Value, r.Key, wantType, reason, o.driver)
			}
			if !r.Timestamp.Equal(v.Timestamp.Std()) {
				t.Errorf("%s: record time %v", r.Value, r.Timestamp)
			}
			// Offered when the test produced it, give or take the loop's tick; answered
			// the driver's delay later.
			seen := v.Timestamp.Std().Add(-ResponseDelay(cfg.Seed, o.index, cfg.ResponseMin, cfg.ResponseMax))
			if seen.Before(o.at.Add(-50*time.Millisecond)) || seen.After(o.at.Add(time.Second)) {
				t.Errorf("%s: answered %v after its delay, produced at %v", r.Value, seen, o.at)
			}
		})
	}
	if len(want) != 0 {
		t.Errorf("%d offers not answered", len(want))
	}
}
