package event

import (
	"math"
	"strconv"
	"unicode/utf8"

	"ridematch/geo"
)

// AppendPythonISO appends t as Python's datetime.isoformat() writes a naive UTC time:
// "2026-11-25T19:00:00.123456", no zone. That is the reference's timestamp shape.
func (t Time) AppendPythonISO(b []byte) []byte {
	b = t.AppendISO(b)
	return b[:len(b)-1] // drop the Z
}

// AppendJSON appends d in the reference's driver_location_update shape.
func (d *DriverLocation) AppendJSON(b []byte) []byte {
	b = append(b, `{"event_type":"driver_location_update","driver_id":`...)
	b = appendJSONString(b, d.DriverID)
	b = append(b, `,"location":`...)
	b = appendJSONPoint(b, d.Location)
	b = append(b, `,"timestamp":"`...)
	b = d.Time.AppendPythonISO(b)
	b = append(b, `","speed":`...)
	b = appendJSONFloat(b, d.SpeedKMH)
	b = append(b, `,"heading":`...)
	b = appendJSONFloat(b, d.Heading)
	b = append(b, `,"availability":"`...)
	b = append(b, d.Availability.String()...)
	b = append(b, `","vehicle_type":"`...)
	b = append(b, d.Vehicle.String()...)
	b = append(b, `","rating":`...)
	b = appendJSONFloat(b, d.Rating)
	return append(b, '}')
}

// AppendJSON appends r in the reference's ride_requested shape, with estimated_distance
// when it is set.
func (r *RideRequest) AppendJSON(b []byte) []byte {
	b = append(b, `{"event_type":"ride_requested","request_id":`...)
	b = appendJSONString(b, r.RequestID)
	b = append(b, `,"customer_id":`...)
	b = appendJSONString(b, r.CustomerID)
	b = append(b, `,"pickup_location":`...)
	b = appendJSONString(b, r.PickupName)
	b = append(b, `,"drop_location":`...)
	b = appendJSONString(b, r.DropName)
	b = append(b, `,"pickup_coordinates":`...)
	b = appendJSONPoint(b, r.Pickup)
	b = append(b, `,"drop_coordinates":`...)
	b = appendJSONPoint(b, r.Drop)
	b = append(b, `,"request_time":"`...)
	b = r.Time.AppendPythonISO(b)
	b = append(b, `","ride_type":"`...)
	b = append(b, r.RideType.String()...)
	b = append(b, '"')
	if r.EstimatedKM > 0 {
		b = append(b, `,"estimated_distance":`...)
		b = appendJSONFloat(b, r.EstimatedKM)
	}
	return append(b, '}')
}

// AppendJSON appends c as a ride_cancelled event.
func (c *RideCancel) AppendJSON(b []byte) []byte {
	b = append(b, `{"event_type":"ride_cancelled","request_id":`...)
	b = appendJSONString(b, c.RequestID)
	if c.CustomerID != "" {
		b = append(b, `,"customer_id":`...)
		b = appendJSONString(b, c.CustomerID)
	}
	b = append(b, `,"timestamp":"`...)
	b = c.Time.AppendPythonISO(b)
	b = append(b, '"')
	if c.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, c.Reason)
	}
	return append(b, '}')
}

// AppendJSON appends r as an offer_accepted or offer_declined event, a decline's reason
// when it has one.
func (r *OfferResponse) AppendJSON(b []byte) []byte {
	if r.Accepted {
		b = append(b, `{"event_type":"offer_accepted","offer_id":`...)
	} else {
		b = append(b, `{"event_type":"offer_declined","offer_id":`...)
	}
	b = appendJSONString(b, r.OfferID)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, r.RequestID)
	b = append(b, `,"driver_id":`...)
	b = appendJSONString(b, r.DriverID)
	b = append(b, `,"timestamp":"`...)
	b = r.Time.AppendPythonISO(b)
	b = append(b, '"')
	if !r.Accepted && r.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, r.Reason)
	}
	return append(b, '}')
}

func appendJSONPoint(b []byte, p geo.Point) []byte {
	b = append(b, `{"lat":`...)
	b = appendJSONFloat(b, p.Lat)
	b = append(b, `,"lng":`...)
	b = appendJSONFloat(b, p.Lng)
	return append(b, '}')
}

// appendJSONFloat writes f in the shortest form that reads back exactly. Coordinates,
// speeds and ratings nearly always have at most six decimals: those are written from
// integers, several times faster than the general algorithm.
func appendJSONFloat(b []byte, f float64) []byte {
	const scale = 1e6
	if m := math.Round(f * scale); math.Abs(m) < 1<<53/scale && m/scale == f && m != 0 {
		n := int64(m)
		if n < 0 {
			b = append(b, '-')
			n = -n
		}
		b = strconv.AppendInt(b, n/scale, 10)
		if frac := n % scale; frac != 0 {
			var digits [6]byte
			for i := 5; i >= 0; i-- {
				digits[i] = byte('0' + frac%10)
				frac /= 10
			}
			end := 6
			for digits[end-1] == '0' {
				end--
			}
			b = append(append(b, '.'), digits[:end]...)
		}
		return b
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// appendJSONString appends s as a JSON string. Ids and names are validated UTF-8, so the
// only work is escaping quotes, backslashes and control characters.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			b = append(b, c)
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		i++
	}
	return append(b, '"')
}
