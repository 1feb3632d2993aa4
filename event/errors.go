package event

import (
	"errors"
	"fmt"
)

// Reason names why a record was refused. It travels in the dead-letter header
// ridematch.reason and labels the dead-letter counters, so values are stable snake_case.
type Reason string

// Why an input record is refused.
const (
	ReasonOversized        Reason = "oversized"
	ReasonMalformedJSON    Reason = "malformed_json"
	ReasonNotObject        Reason = "not_an_object"
	ReasonUnknownEvent     Reason = "unknown_event_type"
	ReasonWrongTopic       Reason = "wrong_topic"
	ReasonMissingField     Reason = "missing_field"
	ReasonWrongType        Reason = "wrong_type"
	ReasonBadID            Reason = "bad_id"
	ReasonBadCoordinates   Reason = "bad_coordinates"
	ReasonUnknownRideType  Reason = "unknown_ride_type"
	ReasonUnknownVehicle   Reason = "unknown_vehicle_type"
	ReasonUnknownAvailable Reason = "unknown_availability"
	ReasonBadRating        Reason = "rating_out_of_range"
	ReasonBadValue         Reason = "value_out_of_range"
	ReasonBadTimestamp     Reason = "bad_timestamp"
	ReasonFutureTimestamp  Reason = "timestamp_in_future"
	ReasonStaleTimestamp   Reason = "timestamp_too_old"
	// ReasonBadRecordTime: a record whose Kafka timestamp the engine was told to trust
	// (ridematch match --clock producer) lies outside the sane range (event.Time.Valid).
	ReasonBadRecordTime Reason = "bad_record_timestamp"
	ReasonBadInternal   Reason = "bad_internal_record"
)

// ErrInvalid is matched (errors.Is) by every *InvalidError.
var ErrInvalid = errors.New("invalid event")

// InvalidError says what is wrong with an input record.
type InvalidError struct {
	Reason Reason
	Field  string // the JSON field at fault, dotted; empty when the record as a whole is
	Detail string
}

func (e *InvalidError) Error() string {
	switch {
	case e.Field != "" && e.Detail != "":
		return fmt.Sprintf("%s: %s: %s", e.Reason, e.Field, e.Detail)
	case e.Field != "":
		return fmt.Sprintf("%s: %s", e.Reason, e.Field)
	case e.Detail != "":
		return fmt.Sprintf("%s: %s", e.Reason, e.Detail)
	}
	return string(e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(r Reason, field, detail string) error {
	return &InvalidError{Reason: r, Field: field, Detail: detail}
}

// ReasonOf returns the reason of an *InvalidError anywhere in err's chain, or "" if none.
func ReasonOf(err error) Reason {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return ""
}
