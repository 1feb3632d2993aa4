package event

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The input decoder is hand-written for the input event shapes: one pass, no reflection,
// no allocation beyond the strings it keeps. It decodes exactly as encoding/json would
// into the structs of decode_std_test.go (the differential fuzz test holds it to that):
// the same keys match (exact, else ASCII case-insensitive), the last of a repeated key
// wins, null is absent, the first type error in document order is the one reported, and
// any syntax error anywhere outranks it.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// jsonKind is what a JSON value is, in encoding/json's words for type errors.
type jsonKind uint8

const (
	kindNull jsonKind = iota
	kindString
	kindNumber
	kindBool
	kindObject
	kindArray
)

var kindNames = [...]string{kindNull: "null", kindString: "string", kindNumber: "number", kindBool: "bool", kindObject: "object", kindArray: "array"}

// field numbers the keys any input event uses.
type field uint8

const (
	fNone field = iota
	fEventType
	fDriverID
	fLocation
	fTimestamp
	fSpeed
	fHeading
	fAvailability
	fVehicleType
	fRating
	fRequestID
	fCustomerID
	fPickupLocation
	fDropLocation
	fPickupCoordinates
	fDropCoordinates
	fRequestTime
	fRideType
	fEstimatedDistance
	fReason
	fCancelTime
	fOfferID
	nFields
)

var fieldNames = [nFields]string{
	fEventType: "event_type", fDriverID: "driver_id", fLocation: "location", fTimestamp: "timestamp",
	fSpeed: "speed", fHeading: "heading", fAvailability: "availability", fVehicleType: "vehicle_type",
	fRating: "rating", fRequestID: "request_id", fCustomerID: "customer_id", fPickupLocation: "pickup_location",
	fDropLocation: "drop_location", fPickupCoordinates: "pickup_coordinates", fDropCoordinates: "drop_coordinates",
	fRequestTime: "request_time", fRideType: "ride_type", fEstimatedDistance: "estimated_distance",
	fReason: "reason", fCancelTime: "cancel_time", fOfferID: "offer_id",
}

// fieldKind is the JSON kind each field wants: string, number, or a {lat,lng} object.
var fieldKind = [nFields]jsonKind{
	fEventType: kindString, fDriverID: kindString, fLocation: kindObject, fTimestamp: kindString,
	fSpeed: kindNumber, fHeading: kindNumber, fAvailability: kindString, fVehicleType: kindString,
	fRating: kindNumber, fRequestID: kindString, fCustomerID: kindString, fPickupLocation: kindString,
	fDropLocation: kindString, fPickupCoordinates: kindObject, fDropCoordinates: kindObject,
	fRequestTime: kindString, fRideType: kindString, fEstimatedDistance: kindNumber,
	fReason: kindString, fCancelTime: kindString, fOfferID: kindString,
}

// The fields of each event type, as the wire structs of decode_std_test.go have them.
var (
	driverFields  = fieldSet(fDriverID, fLocation, fTimestamp, fSpeed, fHeading, fAvailability, fVehicleType, fRating)
	requestFields = fieldSet(fRequestID, fCustomerID, fPickupLocation, fDropLocation, fPickupCoordinates, fDropCoordinates, fRequestTime, fRideType, fEstimatedDistance)
	cancelFields  = fieldSet(fRequestID, fCustomerID, fTimestamp, fCancelTime, fReason)
	acceptFields  = fieldSet(fOfferID, fRequestID, fDriverID, fTimestamp)
	declineFields = acceptFields | fieldSet(fReason)
	headerFields  = fieldSet(fEventType)
)

type fieldMask uint32

func fieldSet(fs ...field) fieldMask {
	var m fieldMask
	for _, f := range fs {
		m |= 1 << f
	}
	return m
}

func (m fieldMask) has(f field) bool { return m&(1<<f) != 0 }

// point holds a {lat,lng} object as decoded: each coordinate present or not.
type point struct {
	set      bool // the object was present and not null
	lat, lng float64
	hasLat   bool
	hasLng   bool
}

// fields is every known field of one record, decoded. Strings alias the input where they
// needed no unescaping; the ones kept in an event are copied out by the validators.
type fields struct {
	str [nFields][]byte
	num [nFields]float64
	pt  [4]point // by pointSlot
	has fieldMask
	// A value of the wrong kind for its field, as json.UnmarshalTypeError: wrong holds
	// the fields that had one, errAt where in src the first of each is, and errLat and
	// errLng the fields whose first was a point's lat or lng. Only the first of a field
	// can be the first of a record; what it was is read again from src when reported.
	wrong, errLat, errLng fieldMask
	errAt                 [nFields]int
	src                   []byte
}

// pointSlot is where in fields.pt each {lat,lng} field is kept; other fields share slot 0,
// which nothing reads.
var pointSlot = [nFields]uint8{fLocation: 1, fPickupCoordinates: 2, fDropCoordinates: 3}

func (f *fields) ptOf(fd field) *point { return &f.pt[pointSlot[fd]] }

// typeErr notes a value of the wrong kind for fd at offset at of the record, inside a
// point when sub is "lat" or "lng".
func (f *fields) typeErr(at int, fd field, sub string) {
	if f.wrong.has(fd) {
		return
	}
	f.wrong |= 1 << fd
	f.errAt[fd] = at
	switch sub {
	case "lat":
		f.errLat |= 1 << fd
	case "lng":
		f.errLng |= 1 << fd
	}
}

// firstTypeError is the earliest type error among the fields in m, as encoding/json
// reports the first one it meets decoding into a struct of those fields.
func (f *fields) firstTypeError(m fieldMask) error {
	m &= f.wrong
	if m == 0 {
		return nil
	}
	first := fNone
	for fd := field(1); fd < nFields; fd++ {
		if m.has(fd) && (first == fNone || f.errAt[fd] < f.errAt[first]) {
			first = fd
		}
	}
	name, want := fieldNames[first], wantName(fieldKind[first])
	switch {
	case f.errLat.has(first):
		name, want = name+".lat", "float64"
	case f.errLng.has(first):
		name, want = name+".lng", "float64"
	}
	s := scanner{b: f.src, i: f.errAt[first]}
	got := s.kind()
	gotName := kindNames[got]
	if got == kindNumber && want == "float64" {
		gotName = "number " + string(s.number()) // beyond a float64
	}
	return invalid(ReasonWrongType, name, "want "+want+", got JSON "+gotName)
}

type scanner struct {
	b     []byte
	i     int
	bad   bool // a syntax error: nothing else matters
	depth int
}

func (s *scanner) fail() { s.bad, s.i = true, len(s.b) }

// The loops below work on local copies of the cursor, which the compiler keeps in
// registers; through s it would load and store them on every byte.

func (s *scanner) ws() {
	b, i := s.b, s.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	s.i = i
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// kind says what the value at the cursor is, without consuming it.
func (s *scanner) kind() jsonKind {
	switch c := s.peek(); {
	case c == '"':
		return kindString
	case c == '{':
		return kindObject
	case c == '[':
		return kindArray
	case c == 't' || c == 'f':
		return kindBool
	case c == 'n':
		return kindNull
	case c == '-' || (c >= '0' && c <= '9'):
		return kindNumber
	}
	s.fail()
	return kindNull
}

// literal consumes true, false or null.
func (s *scanner) literal() {
	rest := s.b[s.i:]
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(rest) >= len(lit) && string(rest[:len(lit)]) == lit {
			s.i += len(lit)
			return
		}
	}
	s.fail()
}

func (s *scanner) digits() {
	b, i := s.b, s.i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	s.i = i
}

// number consumes a JSON number and returns its text.
func (s *scanner) number() []byte {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		s.fail()
		return nil
	}
	if s.peek() == '.' {
		s.i++
		if d := s.peek(); d < '0' || d > '9' {
			s.fail()
			return nil
		}
		s.digits()
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if d := s.peek(); d < '0' || d > '9' {
			s.fail()
			return nil
		}
		s.digits()
	}
	return s.b[start:s.i]
}

// str consumes a JSON string and returns its contents unescaped, with invalid UTF-8 and
// lone surrogates replaced by U+FFFD as encoding/json does. Without escapes or non-ASCII
// bytes (nearly always) the result aliases the input and nothing is allocated.
func (s *scanner) str() []byte {
	b := s.b
	start := s.i + 1 // past the opening quote
	i := start
	for i < len(b) && plain[b[i]] {
		i++
	}
	if i < len(b) && b[i] == '"' {
		s.i = i + 1
		return b[start:i]
	}
	s.i = i
	buf := append([]byte(nil), b[start:i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return buf
		case c < 0x20:
			s.fail()
			return nil
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				s.fail()
				return nil
			}
			e := s.b[s.i]
			s.i++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return nil
				}
				if utf16.IsSurrogate(r) {
					// A high surrogate followed by an escaped low one makes one rune.
					if len(s.b)-s.i >= 6 && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
						save := s.i
						s.i += 2
						r2, ok := s.hex4()
						if !ok {
							return nil
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							buf = utf8.AppendRune(buf, dec)
							continue
						}
						s.i = save
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				s.fail()
				return nil
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, s.b[s.i:s.i+n]...)
			}
			s.i += n
		}
	}
	s.fail()
	return nil
}

// plain marks the bytes a string holds as they are: printable ASCII but the quote and
// the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *scanner) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		s.fail()
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			s.fail()
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.i += 4
	return r, true
}

// skip consumes any value.
func (s *scanner) skip() {
	switch s.kind() {
	case kindString:
		s.str()
	case kindNumber:
		s.number()
	case kindBool, kindNull:
		s.literal()
	case kindObject, kindArray:
		s.skipContainer()
	}
}

func (s *scanner) skipContainer() {
	if s.depth++; s.depth > maxDepth {
		s.fail()
		return
	}
	defer func() { s.depth-- }()
	isObject := s.b[s.i] == '{'
	closer := byte(']')
	if isObject {
		closer = '}'
	}
	s.i++
	s.ws()
	if s.peek() == closer {
		s.i++
		return
	}
	for !s.bad {
		s.ws()
		if isObject {
			if s.peek() != '"' {
				s.fail()
				return
			}
			s.str()
			s.ws()
			if s.peek() != ':' {
				s.fail()
				return
			}
			s.i++
			s.ws()
		}
		s.skip()
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case closer:
			s.i++
			return
		default:
			s.fail()
		}
	}
}

// member reads the next member's key of an object being iterated, leaving the cursor on
// its value; it reports false at the end of the object (or on a syntax error). first is
// true for the first call on an object, whose opening brace the cursor is on.
//
// hints are the keys likely to come next, each quoted and with its colon ("\"lat\":"):
// a key that is one of them byte for byte is taken without scanning it, and member
// returns the hint's index and a nil key. Otherwise hit is -1 and key the unescaped key.
func (s *scanner) member(first bool, hints []string) (key []byte, hit int, ok bool) {
	if first {
		if s.depth++; s.depth > maxDepth {
			s.fail()
			return nil, -1, false
		}
		s.i++ // {
		s.ws()
		if s.peek() == '}' {
			s.i++
			s.depth--
			return nil, -1, false
		}
	} else {
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil, -1, false
		default:
			s.fail()
			return nil, -1, false
		}
	}
	s.ws()
	if s.peek() != '"' {
		s.fail()
		return nil, -1, false
	}
	rest := s.b[s.i:]
	for h, q := range hints {
		if len(rest) >= len(q) && string(rest[:len(q)]) == q {
			s.i += len(q)
			s.ws()
			return nil, h, true
		}
	}
	key = s.str()
	s.ws()
	if s.bad || s.peek() != ':' {
		s.fail()
		return nil, -1, false
	}
	s.i++
	s.ws()
	return key, -1, true
}

// match finds the field a key names: an exact match, else one that differs only in ASCII
// case (encoding/json folds case; it also folds the Kelvin sign to k and the long s to s,
// which we do too).
func match(key []byte) field {
	switch string(key) {
	case "event_type":
		return fEventType
	case "driver_id":
		return fDriverID
	case "location":
		return fLocation
	case "timestamp":
		return fTimestamp
	case "speed":
		return fSpeed
	case "heading":
		return fHeading
	case "availability":
		return fAvailability
	case "vehicle_type":
		return fVehicleType
	case "rating":
		return fRating
	case "request_id":
		return fRequestID
	case "customer_id":
		return fCustomerID
	case "pickup_location":
		return fPickupLocation
	case "drop_location":
		return fDropLocation
	case "pickup_coordinates":
		return fPickupCoordinates
	case "drop_coordinates":
		return fDropCoordinates
	case "request_time":
		return fRequestTime
	case "ride_type":
		return fRideType
	case "estimated_distance":
		return fEstimatedDistance
	case "reason":
		return fReason
	case "cancel_time":
		return fCancelTime
	case "offer_id":
		return fOfferID
	}
	for f := field(1); f < nFields; f++ {
		if foldEqual(key, fieldNames[f]) {
			return f
		}
	}
	return fNone
}

// keyHints follows the order the reference's producers (and ours, event.AppendJSON)
// write the keys in: after each field, the ones that usually come next. Input in another
// order decodes the same, a little slower.
var keyHints = func() (h [nFields]hint) {
	next := map[field][]field{
		fNone:      {fEventType},
		fEventType: {fDriverID, fRequestID, fOfferID},
		// driver_location_update
		fDriverID: {fLocation, fTimestamp}, fLocation: {fTimestamp}, fTimestamp: {fSpeed, fReason},
		fSpeed: {fHeading}, fHeading: {fAvailability}, fAvailability: {fVehicleType},
		fVehicleType: {fRating},
		// ride_requested, ride_cancelled
		fRequestID: {fCustomerID, fTimestamp, fDriverID}, fCustomerID: {fPickupLocation, fTimestamp},
		fPickupLocation: {fDropLocation}, fDropLocation: {fPickupCoordinates},
		fPickupCoordinates: {fDropCoordinates}, fDropCoordinates: {fRequestTime},
		fRequestTime: {fRideType}, fRideType: {fEstimatedDistance},
		// offer_accepted, offer_declined
		fOfferID: {fRequestID},
	}
	for prev, fs := range next {
		for _, f := range fs {
			h[prev].fields = append(h[prev].fields, f)
			h[prev].quoted = append(h[prev].quoted, `"`+fieldNames[f]+`":`)
		}
	}
	return h
}()

var latLngHints = []string{`"lat":`, `"lng":`}

// hint is the keys likely after a field, and the same quoted for member.
type hint struct {
	fields []field
	quoted []string
}

func foldEqual(key []byte, name string) bool {
	i := 0
	for _, c := range name {
		if i >= len(key) {
			return false
		}
		k := rune(key[i])
		n := 1
		if k >= utf8.RuneSelf {
			k, n = utf8.DecodeRune(key[i:])
			switch k {
			case '\u212a': // Kelvin sign
				k = 'k'
			case '\u017f': // long s
				k = 's'
			default:
				return false
			}
		}
		if 'A' <= k && k <= 'Z' {
			k += 'a' - 'A'
		}
		if k != c {
			return false
		}
		i += n
	}
	return i == len(key)
}

// wantName is the Go type encoding/json names in a type error for a field.
func wantName(k jsonKind) string {
	switch k {
	case kindNumber:
		return "float64"
	case kindObject:
		return "event.wirePoint"
	}
	return "string"
}

// scanFields decodes every known field of a top-level object. It reports false on a
// syntax error.
func scanFields(b []byte, f *fields) bool {
	s := scanner{b: b}
	f.src = b
	s.ws()
	if s.peek() != '{' {
		return false
	}
	prev := fNone
	for first := true; ; first = false {
		key, hit, ok := s.member(first, keyHints[prev].quoted)
		if !ok {
			break
		}
		at := s.i
		var fd field
		if hit >= 0 {
			fd = keyHints[prev].fields[hit]
		} else {
			fd = match(key)
		}
		prev = fd
		if fd == fNone {
			s.skip()
			continue
		}
		got := s.kind()
		switch {
		case s.bad:
		case got == kindNull:
			s.literal()
			f.has &^= 1 << fd
			*f.ptOf(fd) = point{}
		case got != fieldKind[fd]:
			f.typeErr(at, fd, "")
			s.skip()
		case got == kindString:
			f.str[fd] = s.str()
			f.has |= 1 << fd
		case got == kindNumber:
			if v, ok := s.float(); ok {
				f.num[fd] = v
				f.has |= 1 << fd
			} else if !s.bad {
				f.typeErr(at, fd, "")
			}
		default:
			f.has |= 1 << fd
			s.point(f, fd)
		}
	}
	if s.bad {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

// float consumes a number; false when it does not fit a float64 (or on a syntax error).
func (s *scanner) float() (float64, bool) {
	if v, ok := s.shortFloat(); ok {
		return v, true
	}
	return s.longFloat()
}

// longFloat is float for any number, through strconv.
func (s *scanner) longFloat() (float64, bool) {
	text := s.number()
	if s.bad {
		return 0, false
	}
	v, err := strconv.ParseFloat(unsafeString(text), 64)
	return v, err == nil
}

// shortFloat consumes, in one pass, the numbers GPS fixes and ratings are made of: a
// mantissa of at most 15 digits, at most 22 of them after the point, and no exponent.
// Such a mantissa and power of ten are exact doubles, and one division of exact doubles
// rounds correctly (Clinger's fast path), so the value is strconv's. Anything else, or a
// number that does not end where a number must, it leaves unconsumed for longFloat.
func (s *scanner) shortFloat() (float64, bool) {
	b, i := s.b, s.i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	if i == len(b) || b[i] < '0' || b[i] > '9' {
		return 0, false
	}
	var mant uint64
	digits, exp := 0, 0
	if b[i] == '0' {
		i++
	} else {
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			mant = mant*10 + uint64(b[i]-'0')
			digits++
		}
	}
	if i < len(b) && b[i] == '.' {
		i++
		frac := i
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			exp--
			if mant == 0 && b[i] == '0' {
				continue
			}
			mant = mant*10 + uint64(b[i]-'0')
			digits++
		}
		if i == frac {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E' || b[i] >= '0' && b[i] <= '9') {
		return 0, false
	}
	if digits > 15 || exp < -22 {
		return 0, false
	}
	f := float64(mant)
	if exp < 0 {
		f /= pow10[-exp]
	}
	if neg {
		f = -f
	}
	s.i = i
	return f, true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// point decodes a {lat,lng} object into f.ptOf(fd), keeping what an earlier object with the
// same key set, as encoding/json decodes into the struct a pointer already holds.
func (s *scanner) point(f *fields, fd field) {
	p := f.ptOf(fd)
	p.set = true
	for first := true; ; first = false {
		key, hit, ok := s.member(first, latLngHints)
		if !ok {
			return
		}
		at := s.i
		var v *float64
		var has *bool
		var name string
		switch {
		case hit == 0 || hit < 0 && foldEqual(key, "lat"):
			v, has, name = &p.lat, &p.hasLat, "lat"
		case hit == 1 || hit < 0 && foldEqual(key, "lng"):
			v, has, name = &p.lng, &p.hasLng, "lng"
		default:
			s.skip()
			continue
		}
		switch k := s.kind(); {
		case s.bad:
			return
		case k == kindNull:
			s.literal()
			*has = false
		case k != kindNumber:
			f.typeErr(at, fd, name)
			s.skip()
		default:
			if x, ok := s.float(); ok {
				*v, *has = x, true
			} else if !s.bad {
				f.typeErr(at, fd, name)
			}
		}
	}
}

// unsafeString views b as a string for the length of a call that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
