package event

import (
	"strconv"
	"strings"

	"ridematch/geo"
	"ridematch/internal/fnv"
)

// Driver offer event types: ride_offered and offer_withdrawn on driver-offers, keyed by
// driver id; offer_accepted and offer_declined on driver-responses.
const (
	TypeRideOffered    = "ride_offered"
	TypeOfferWithdrawn = "offer_withdrawn"
	TypeOfferAccepted  = "offer_accepted"
	TypeOfferDeclined  = "offer_declined"
)

// Why a request whose offers ran out ended unmatched.
const (
	UnmatchedDeclined     = "declined"
	UnmatchedOfferTimeout = "offer_timeout"
)

// OfferID is the id of the offer region-log partition p made of request to driver at log
// time at: "o-", the partition, "-", then 16 hex digits of a hash of the rest. The router
// reads the partition back (OfferPartition) to send the driver's answer where the offer
// is held; the same log gives the same ids.
func OfferID(p int32, requestID, driverID string, at Time) string {
	h := fnv.New64().AddString(requestID).AddByte(0xff).AddString(driverID).AddByte(0xff).AddUint64(uint64(at))
	b := make([]byte, 0, 32)
	b = append(b, "o-"...)
	b = strconv.AppendInt(b, int64(p), 10)
	b = append(b, '-')
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b = append(b, hex[h>>(4*i)&0xf])
	}
	return string(b)
}

// OfferPartition returns the region-log partition an offer id names, and false if the id
// is not one OfferID makes.
func OfferPartition(id string) (int32, bool) {
	rest, ok := strings.CutPrefix(id, "o-")
	if !ok {
		return 0, false
	}
	num, hash, ok := strings.Cut(rest, "-")
	if !ok || len(hash) != 16 || num == "" || len(num) > 1 && num[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(hash); i++ {
		if c := hash[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return 0, false
		}
	}
	p, err := strconv.ParseInt(num, 10, 32)
	if err != nil || p < 0 {
		return 0, false
	}
	return int32(p), true
}

// RideOffered offers a request to a driver, on driver-offers: the driver answers on
// driver-responses with offer_accepted or offer_declined before ExpiresAt, by the engine's
// clock. The fare and surge are the ones the ride_matched of an accept carries.
type RideOffered struct {
	EventType        string    `json:"event_type"`
	OfferID          string    `json:"offer_id"`
	RequestID        string    `json:"request_id"`
	DriverID         string    `json:"driver_id"`
	CustomerID       string    `json:"customer_id"`
	PickupLocation   string    `json:"pickup_location"`
	DropLocation     string    `json:"drop_location"`
	PickupCoords     geo.Point `json:"pickup_coordinates"`
	DropCoords       geo.Point `json:"drop_coordinates"`
	PickupDistanceKM float64   `json:"pickup_distance_km"`
	EstimatedArrival int       `json:"estimated_arrival"` // minutes
	FareEstimate     float64   `json:"fare_estimate"`
	SurgeMultiplier  float64   `json:"surge_multiplier"`
	OfferTimestamp   Time      `json:"offer_timestamp"`
	ExpiresAt        Time      `json:"expires_at"`
	// Attempt counts the drivers this request has been offered to, this one included.
	Attempt     int    `json:"attempt"`
	RideType    string `json:"ride_type"`
	VehicleType string `json:"vehicle_type"`
}

func (e *RideOffered) Key() string  { return e.DriverID }
func (e *RideOffered) Type() string { return TypeRideOffered }

// OfferWithdrawn tells a driver an open offer is off: the rider cancelled.
type OfferWithdrawn struct {
	EventType string `json:"event_type"`
	OfferID   string `json:"offer_id"`
	RequestID string `json:"request_id"`
	DriverID  string `json:"driver_id"`
	Reason    string `json:"reason"`
	Timestamp Time   `json:"timestamp"`
}

func (e *OfferWithdrawn) Key() string  { return e.DriverID }
func (e *OfferWithdrawn) Type() string { return TypeOfferWithdrawn }
