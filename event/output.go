package event

import "ridematch/geo"

// MarshalText writes t in the form AppendISO gives, so Time fields read as timestamps in JSON.
func (t Time) MarshalText() ([]byte, error) { return t.AppendISO(nil), nil }

// UnmarshalText reads any form ParseTime accepts.
func (t *Time) UnmarshalText(b []byte) error {
	v, err := ParseTime(string(b))
	*t = v
	return err
}

// Outcome event types on ride-matches: each request gets exactly one of the first three.
const (
	TypeRideMatched    = "ride_matched"
	TypeRideUnmatched  = "ride_unmatched"
	TypeRideCancelled  = "ride_cancelled"
	TypeMatchCancelled = "match_cancelled"
	TypeSurgeUpdated   = "surge_updated"
)

// Output is an event the engine writes: an outcome on ride-matches, or a surge_updated.
type Output interface {
	// Key is the record key: the request id for outcomes, the H3 cell for surge.
	Key() string
	// Type is the event_type.
	Type() string
}

// RideMatched is the reference's ride_matched, plus how the match was made.
type RideMatched struct {
	EventType        string   `json:"event_type"`
	MatchID          string   `json:"match_id"`
	RequestID        string   `json:"request_id"`
	CustomerID       string   `json:"customer_id"`
	DriverID         string   `json:"driver_id"`
	PickupLocation   string   `json:"pickup_location"`
	DropLocation     string   `json:"drop_location"`
	EstimatedArrival int      `json:"estimated_arrival"` // minutes, as in the reference
	FareEstimate     float64  `json:"fare_estimate"`
	MatchTimestamp   Time     `json:"match_timestamp"`
	DriverRating     float64  `json:"driver_rating"`
	PickupDistanceKM float64  `json:"pickup_distance_km"`
	TripDistanceKM   float64  `json:"trip_distance_km"`
	Score            float64  `json:"score"`
	SurgeMultiplier  float64  `json:"surge_multiplier"`
	H3Cell           geo.Cell `json:"h3_cell"` // the pickup's surge cell, whose multiplier priced the fare
	// Assignment is the policy of the partition that made the match (greedy, batch or
	// adaptive); Batched says a batch window's assignment chose the driver, not a search
	// for this request alone.
	Assignment     string    `json:"assignment"`
	Batched        bool      `json:"batched"`
	RideType       string    `json:"ride_type"`
	VehicleType    string    `json:"vehicle_type"`
	PickupCoords   geo.Point `json:"pickup_coordinates"`
	DropCoords     geo.Point `json:"drop_coordinates"`
	DriverLocation geo.Point `json:"driver_location"`
	RequestTime    Time      `json:"request_time"`
	// OfferID is, with driver offers on, the offer the driver accepted.
	OfferID string `json:"offer_id,omitempty"`
}

func (e *RideMatched) Key() string  { return e.RequestID }
func (e *RideMatched) Type() string { return TypeRideMatched }

// Why a request ended unmatched.
const (
	UnmatchedNoDriver = "no_compatible_driver_within_range"
	UnmatchedExpired  = "request_expired_before_processing"
)

// RideUnmatched is the final outcome of a request no driver took within the request TTL.
type RideUnmatched struct {
	EventType      string    `json:"event_type"`
	RequestID      string    `json:"request_id"`
	CustomerID     string    `json:"customer_id"`
	PickupLocation string    `json:"pickup_location"`
	PickupCoords   geo.Point `json:"pickup_coordinates"`
	RideType       string    `json:"ride_type"`
	Reason         string    `json:"reason"`
	MaxPickupKM    float64   `json:"max_pickup_km"`
	RequestTime    Time      `json:"request_time"`
	Timestamp      Time      `json:"timestamp"`
	H3Cell         geo.Cell  `json:"h3_cell"`
	// Offers is how many drivers the request was offered to (driver offers on): with the
	// reason declined or offer_timeout, how the last of them ended.
	Offers int `json:"offers,omitempty"`
}

func (e *RideUnmatched) Key() string  { return e.RequestID }
func (e *RideUnmatched) Type() string { return TypeRideUnmatched }

// RideCancelled is the final outcome of a request its rider cancelled before a match.
type RideCancelled struct {
	EventType   string `json:"event_type"`
	RequestID   string `json:"request_id"`
	CustomerID  string `json:"customer_id"`
	Reason      string `json:"reason"`
	RequestTime Time   `json:"request_time"`
	Timestamp   Time   `json:"timestamp"`
}

func (e *RideCancelled) Key() string  { return e.RequestID }
func (e *RideCancelled) Type() string { return TypeRideCancelled }

// MatchCancelled says a rider cancelled after being matched: the driver is released. It is
// not a final outcome; the request's outcome stays its ride_matched.
type MatchCancelled struct {
	EventType  string `json:"event_type"`
	MatchID    string `json:"match_id"`
	RequestID  string `json:"request_id"`
	CustomerID string `json:"customer_id"`
	DriverID   string `json:"driver_id"`
	Reason     string `json:"reason"`
	Timestamp  Time   `json:"timestamp"`
}

func (e *MatchCancelled) Key() string  { return e.RequestID }
func (e *MatchCancelled) Type() string { return TypeMatchCancelled }

// SurgeUpdated is a cell's new multiplier with everything that explains it.
type SurgeUpdated struct {
	EventType       string    `json:"event_type"`
	H3Cell          geo.Cell  `json:"h3_cell"`
	Resolution      int       `json:"resolution"`
	SurgeMultiplier float64   `json:"surge_multiplier"`
	Previous        float64   `json:"previous_multiplier"`
	Demand          int       `json:"demand"` // requests in the window
	Supply          int       `json:"supply"` // available fresh drivers now
	WindowSeconds   int       `json:"window_seconds"`
	Timestamp       Time      `json:"timestamp"`
	Center          geo.Point `json:"center"`
}

func (e *SurgeUpdated) Key() string  { return e.H3Cell.String() }
func (e *SurgeUpdated) Type() string { return TypeSurgeUpdated }
