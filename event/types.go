// Package event defines ridematch's wire events: the JSON shapes of the public topics (the
// reference's input events and the engine's outcomes) and the compact binary records of
// the internal region log.
package event

import "ridematch/geo"

// Vehicle is a driver's vehicle type, as the reference names them.
type Vehicle uint8

// The reference's vehicle types.
const (
	Hatchback Vehicle = iota + 1
	Sedan
	Auto
)

var vehicleNames = [...]string{Hatchback: "hatchback", Sedan: "sedan", Auto: "auto"}

func (v Vehicle) String() string {
	if int(v) < len(vehicleNames) && v > 0 {
		return vehicleNames[v]
	}
	return "unknown"
}

// Vehicles returns every vehicle type.
func Vehicles() [3]Vehicle { return [...]Vehicle{Hatchback, Sedan, Auto} }

// ParseVehicle reads a vehicle_type value.
func ParseVehicle(s string) (Vehicle, bool) {
	for v, n := range vehicleNames {
		if n == s && n != "" {
			return Vehicle(v), true
		}
	}
	return 0, false
}

// RideType is the kind of ride a rider asks for.
type RideType uint8

// The reference's ride types.
const (
	Micro RideType = iota + 1
	Mini
	Prime
	AutoRide
)

var rideNames = [...]string{Micro: "micro", Mini: "mini", Prime: "prime", AutoRide: "auto"}

func (r RideType) String() string {
	if int(r) < len(rideNames) && r > 0 {
		return rideNames[r]
	}
	return "unknown"
}

// RideTypes returns every ride type.
func RideTypes() [4]RideType { return [...]RideType{Micro, Mini, Prime, AutoRide} }

// ParseRideType reads a ride_type value.
func ParseRideType(s string) (RideType, bool) {
	for r, n := range rideNames {
		if n == s && n != "" {
			return RideType(r), true
		}
	}
	return 0, false
}

// Compatible is the reference's type_compatibility table: which vehicles may serve a ride.
func (r RideType) Compatible(v Vehicle) bool {
	switch r {
	case Micro:
		return v == Hatchback
	case Mini:
		return v == Hatchback || v == Sedan
	case Prime:
		return v == Sedan
	case AutoRide:
		return v == Auto
	}
	return false
}

// Availability is what a driver reports about itself.
type Availability uint8

// Driver availabilities. The reference sends "available" and marks matched drivers "busy";
// "offline" is a driver logging off.
const (
	Available Availability = iota + 1
	Busy
	Offline
)

var availabilityNames = [...]string{Available: "available", Busy: "busy", Offline: "offline"}

func (a Availability) String() string {
	if int(a) < len(availabilityNames) && a > 0 {
		return availabilityNames[a]
	}
	return "unknown"
}

// ParseAvailability reads an availability value.
func ParseAvailability(s string) (Availability, bool) {
	for a, n := range availabilityNames {
		if n == s && n != "" {
			return Availability(a), true
		}
	}
	return 0, false
}

// DriverLocation is the reference's driver_location_update.
type DriverLocation struct {
	DriverID     string
	Location     geo.Point
	Time         Time
	SpeedKMH     float64
	Heading      float64
	Availability Availability
	Vehicle      Vehicle
	Rating       float64
}

// RideRequest is the reference's ride_requested.
type RideRequest struct {
	RequestID  string
	CustomerID string
	PickupName string // the reference's pickup_location, a place name; may be empty
	DropName   string
	Pickup     geo.Point
	Drop       geo.Point
	Time       Time
	RideType   RideType
	// EstimatedKM is the client's trip distance (the reference's estimated_distance), 0 when
	// absent; the fare falls back to the great-circle distance.
	EstimatedKM float64
}

// RideCancel is a rider cancelling a request.
type RideCancel struct {
	RequestID  string
	CustomerID string
	Time       Time
	Reason     string
}

// OfferResponse is a driver's answer to a ride_offered: offer_accepted or offer_declined,
// read from driver-responses.
type OfferResponse struct {
	OfferID   string
	RequestID string
	DriverID  string
	Accepted  bool
	Time      Time
	Reason    string // a decline's, optional
}

// Kind says which event an Input holds.
type Kind uint8

// Input event kinds.
const (
	KindDriverLocation Kind = iota + 1
	KindRideRequest
	KindRideCancel
	KindOfferResponse
)

// Input is one decoded input event; Kind says which field is set. A struct, not an
// interface, so decoding allocates nothing beyond the strings it keeps.
type Input struct {
	Kind    Kind
	Driver  DriverLocation
	Request RideRequest
	Cancel  RideCancel
	// Response is an offer_accepted or offer_declined.
	Response OfferResponse
}

// Time is the event's own timestamp.
func (in *Input) Time() Time {
	switch in.Kind {
	case KindDriverLocation:
		return in.Driver.Time
	case KindRideRequest:
		return in.Request.Time
	case KindRideCancel:
		return in.Cancel.Time
	case KindOfferResponse:
		return in.Response.Time
	}
	return 0
}
