package bordertest

import (
	"errors"
	"fmt"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// MaxPickupKM is the engine's default reach, which the layouts below are drawn for.
const MaxPickupKM = 3.0

// Class is a ride type and a vehicle that can take it.
type Class struct {
	Ride    event.RideType
	Vehicle event.Vehicle
}

// DisjointClasses take no vehicle of each other: riders of one never compete with riders
// of another for a driver, so several scenes can share one place.
var DisjointClasses = []Class{{event.Micro, event.Hatchback}, {event.Prime, event.Sedan}, {event.AutoRide, event.Auto}}

// Driver is an available driver rated 4.5, standing still at p, stamped now.
func Driver(id string, p geo.Point, v event.Vehicle, now time.Time) event.DriverLocation {
	return event.DriverLocation{DriverID: id, Location: p, Time: event.TimeOf(now), Availability: event.Available, Vehicle: v, Rating: 4.5}
}

// Request is a ride from p to 2.8 km north-east of it, stamped now.
func Request(id string, p geo.Point, rt event.RideType, now time.Time) event.RideRequest {
	return event.RideRequest{RequestID: id, CustomerID: "CUST-" + id, Pickup: p, Drop: geo.Offset(p, 2, 2), Time: event.TimeOf(now), RideType: rt}
}

// The contention layout, in km along a crossing's normal, for the first driver on side B
// (a mirrored contention negates every figure): the far rider 0.6 km into A, the near
// rider 0.6 km into B, the first driver 0.3 km into B. Both riders prefer the first
// driver (0.9 and 0.3 km away) to the second, which is farther from each.
const (
	farRiderKM    = -0.6
	nearRiderKM   = 0.6
	firstDriverKM = 0.3
)

// SecondDrivers are where the second driver of a contention may stand.
var SecondDrivers = []struct {
	Name string
	KM   float64
}{
	{"second driver within reach of both riders", 1.8},         // 2.4 and 1.2 km from them
	{"second driver within reach of the near rider only", 2.9}, // 3.5 and 2.3 km
	{"second driver within reach of the far rider only", -2.6}, // 2.0 and 3.2 km
}

// Contention is two riders on either side of a partition border who both want the one
// compatible driver between them; a second compatible driver stands farther away.
type Contention struct {
	Name                string
	Crossing            Crossing
	FarRider, NearRider event.RideRequest
	First, Second       event.DriverLocation
	// NearFirst: the near rider's request is produced first, else the far rider's.
	NearFirst bool
}

// Requests are the two requests, in the order they are to be produced.
func (c Contention) Requests() []event.RideRequest {
	if c.NearFirst {
		return []event.RideRequest{c.NearRider, c.FarRider}
	}
	return []event.RideRequest{c.FarRider, c.NearRider}
}

// Drivers are the two drivers.
func (c Contention) Drivers() []event.DriverLocation {
	return []event.DriverLocation{c.First, c.Second}
}

// Contentions lays out every combination of where the second driver stands, which request
// comes first and which side the first driver is on (twelve cases), in DisjointClasses
// at each crossing in turn: it needs four crossings, each at least 12 km from the others,
// so that no case reaches another's drivers. Ids start with prefix. Each point is checked
// to lie on its side by the router's rule.
func Contentions(crossings []Crossing, prefix string, now time.Time) ([]Contention, error) {
	var out []Contention
	for _, mirrored := range []bool{false, true} {
		for _, nearFirst := range []bool{false, true} {
			for _, s := range SecondDrivers {
				k := len(out)
				if k/len(DisjointClasses) >= len(crossings) {
					return nil, fmt.Errorf("%d crossings are not enough for twelve contentions", len(crossings))
				}
				c, err := contentionAt(crossings[k/len(DisjointClasses)], DisjointClasses[k%len(DisjointClasses)],
					fmt.Sprintf("%s%02d", prefix, k+1), s.KM, mirrored, now)
				if err != nil {
					return nil, err
				}
				c.NearFirst = nearFirst
				order := "the far rider's request first"
				if nearFirst {
					order = "the near rider's request first"
				}
				side := "B"
				if mirrored {
					side = "A"
				}
				c.Name = fmt.Sprintf("%s: %s, %s, first driver on side %s (%s)", c.First.DriverID, s.Name, order, side, c.Crossing)
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func contentionAt(x Crossing, cl Class, id string, secondKM float64, mirrored bool, now time.Time) (Contention, error) {
	sign := 1.0
	if mirrored {
		sign = -1
	}
	kms := []float64{sign * farRiderKM, sign * nearRiderKM, sign * firstDriverKM, sign * secondKM}
	if !x.Holds(kms...) {
		return Contention{}, fmt.Errorf("%v: the points %v km from the border are not all on their sides", x, kms)
	}
	return Contention{
		Crossing:  x,
		FarRider:  Request("REQ-"+id+"-far", x.Into(kms[0]), cl.Ride, now),
		NearRider: Request("REQ-"+id+"-near", x.Into(kms[1]), cl.Ride, now),
		First:     Driver("DRV-"+id+"-first", x.Into(kms[2]), cl.Vehicle, now),
		Second:    Driver("DRV-"+id+"-second", x.Into(kms[3]), cl.Vehicle, now),
	}, nil
}

// Outcome is what Check needs of a request's final outcome: its event type, and the
// driver of a ride_matched.
type Outcome struct {
	Type, DriverID string
}

// Check says what is wrong with a contention's outcomes by issue 19's criterion (nil:
// nothing): exactly one rider gets the first driver; the other gets the second driver or
// ends ride_unmatched.
func (c Contention) Check(outcomes map[string]Outcome) error {
	_, _, _, err := c.judge(outcomes)
	return err
}

// CheckSearchesAgain is Check and more: the rider who did not get the first driver gets
// the second exactly when it is within reach, since a rider whose claim is refused
// searches again. That holds when the refusal comes within the request's TTL of log time.
// A partition catching up runs through seconds of its log while a claim goes to another
// partition and back; a request whose TTL has passed by the time the refusal comes ends
// ride_unmatched.
func (c Contention) CheckSearchesAgain(outcomes map[string]Outcome) error {
	winner, loser, lost, err := c.judge(outcomes)
	if err != nil {
		return err
	}
	km := geo.DistanceKM(loser.Pickup, c.Second.Location)
	switch reach := km <= MaxPickupKM; {
	case reach && lost.DriverID != c.Second.DriverID:
		return fmt.Errorf("%s got the first driver; %s, %.1f km from the second driver, got %s, want ride_matched with %s",
			winner.RequestID, loser.RequestID, km, lost, c.Second.DriverID)
	case !reach && lost.Type != event.TypeRideUnmatched:
		return fmt.Errorf("%s got the first driver; %s, with no other driver within reach, got %s, want ride_unmatched",
			winner.RequestID, loser.RequestID, lost)
	}
	return nil
}

// judge finds who got the first driver, and checks Check's criterion.
func (c Contention) judge(outcomes map[string]Outcome) (winner, loser event.RideRequest, lost Outcome, err error) {
	far, near := outcomes[c.FarRider.RequestID], outcomes[c.NearRider.RequestID]
	if far.Type == "" || near.Type == "" {
		return winner, loser, lost, fmt.Errorf("%w: the far rider %s, the near rider %s", ErrNoOutcome, far, near)
	}
	switch first := c.First.DriverID; {
	case far.DriverID == first && near.DriverID == first:
		return winner, loser, lost, fmt.Errorf("both riders got the first driver: %s", first)
	case far.DriverID == first:
		winner, loser, lost = c.FarRider, c.NearRider, near
	case near.DriverID == first:
		winner, loser, lost = c.NearRider, c.FarRider, far
	default:
		return winner, loser, lost, fmt.Errorf("neither rider got the first driver: the far rider %s, the near rider %s", far, near)
	}
	if lost.Type != event.TypeRideUnmatched && (lost.Type != event.TypeRideMatched || lost.DriverID != c.Second.DriverID) {
		return winner, loser, lost, fmt.Errorf("%s got the first driver; %s got %s, want ride_matched with %s or ride_unmatched",
			winner.RequestID, loser.RequestID, lost, c.Second.DriverID)
	}
	return winner, loser, lost, nil
}

func (o Outcome) String() string {
	switch {
	case o.Type == "":
		return "no outcome"
	case o.Type == event.TypeRideMatched:
		return "ride_matched with " + o.DriverID
	}
	return o.Type
}

// ErrNoOutcome is returned by Check for a rider without a final outcome.
var ErrNoOutcome = errors.New("a rider has no final outcome")
