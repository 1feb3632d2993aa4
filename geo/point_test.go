package geo

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/uber/h3-go/v4"
)

// The reference's Mumbai places.
var (
	bandraStation  = Point{Lat: 19.0544, Lng: 72.8413}
	andheriStation = Point{Lat: 19.1197, Lng: 72.8464}
	churchgate     = Point{Lat: 18.9352, Lng: 72.8269}
	powai          = Point{Lat: 19.1176, Lng: 72.9060}
	bkc            = Point{Lat: 19.0596, Lng: 72.8656}
	lowerParel     = Point{Lat: 19.0134, Lng: 72.8302}
	csmt           = Point{Lat: 18.9398, Lng: 72.8355}
	connaughtPlace = Point{Lat: 28.6315, Lng: 77.2167}
	timesSquare    = Point{Lat: 40.7580, Lng: -73.9855}
)

// h3EarthRadiusKM is the radius h3.GreatCircleDistanceKm uses; DistanceKM uses the
// reference's 6371.
const h3EarthRadiusKM = 6371.007180918475

func h3KM(a, b Point) float64 {
	return h3.GreatCircleDistanceKm(h3.LatLng{Lat: a.Lat, Lng: a.Lng}, h3.LatLng{Lat: b.Lat, Lng: b.Lng}) * EarthRadiusKM / h3EarthRadiusKM
}

// vec is a point as a unit vector, for an independent (atan2, not haversine) distance.
type vec struct{ x, y, z float64 }

func toVec(p Point) vec {
	lat, lng := p.Lat*math.Pi/180, p.Lng*math.Pi/180
	return vec{math.Cos(lat) * math.Cos(lng), math.Cos(lat) * math.Sin(lng), math.Sin(lat)}
}

func fromVec(v vec) Point {
	n := v.norm()
	return Point{Lat: math.Asin(max(-1, min(1, v.z/n))) * 180 / math.Pi, Lng: math.Atan2(v.y, v.x) * 180 / math.Pi}
}

func (a vec) dot(b vec) float64   { return a.x*b.x + a.y*b.y + a.z*b.z }
func (a vec) cross(b vec) vec     { return vec{a.y*b.z - a.z*b.y, a.z*b.x - a.x*b.z, a.x*b.y - a.y*b.x} }
func (a vec) norm() float64       { return math.Sqrt(a.dot(a)) }
func (a vec) scale(s float64) vec { return vec{a.x * s, a.y * s, a.z * s} }
func (a vec) add(b vec) vec       { return vec{a.x + b.x, a.y + b.y, a.z + b.z} }

// arcKM is the great-circle distance by the atan2 formula, stable at every distance.
func arcKM(a, b vec) float64 { return math.Atan2(a.cross(b).norm(), a.dot(b)) * EarthRadiusKM }

// destination is the point distKM from p along the initial bearing, on the sphere.
func destination(p Point, bearingDeg, distKM float64) Point {
	lat1, lng1 := p.Lat*math.Pi/180, p.Lng*math.Pi/180
	brg, d := bearingDeg*math.Pi/180, distKM/EarthRadiusKM
	lat2 := math.Asin(math.Sin(lat1)*math.Cos(d) + math.Cos(lat1)*math.Sin(d)*math.Cos(brg))
	lng2 := lng1 + math.Atan2(math.Sin(brg)*math.Sin(d)*math.Cos(lat1), math.Cos(d)-math.Sin(lat1)*math.Sin(lat2))
	lng := math.Mod(lng2*180/math.Pi+540, 360) - 180
	return Point{Lat: lat2 * 180 / math.Pi, Lng: lng}
}

// randomOnSphere is uniform over the globe's surface.
func randomOnSphere(rnd *rand.Rand) Point {
	return Point{Lat: math.Asin(2*rnd.Float64()-1) * 180 / math.Pi, Lng: rnd.Float64()*360 - 180}
}

func TestDistanceKM(t *testing.T) {
	tests := []struct {
		name string
		a, b Point
		want float64 // km, from the reference's calculate_distance_coords in Python
	}{
		{"Bandra station to BKC", bandraStation, bkc, 2.6185852977020647},
		{"Churchgate to Andheri", churchgate, andheriStation, 20.617615329499866},
		{"Powai to Lower Parel", powai, lowerParel, 14.060870523553515},
		{"CSMT to Connaught Place", csmt, connaughtPlace, 1165.902174037325},
		{"Times Square to Bandra", timesSquare, bandraStation, 12533.31276275599},
		{"zero", bandraStation, bandraStation, 0},
		{"a degree of longitude on the equator", Point{0, 10}, Point{0, 11}, EarthRadiusKM * math.Pi / 180},
		{"pole to pole", Point{90, 0}, Point{-90, 0}, EarthRadiusKM * math.Pi},
		{"across the antimeridian", Point{10, 179.5}, Point{10, -179.5}, 109.5055839436892},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DistanceKM(tt.a, tt.b)
			if math.Abs(got-tt.want) > 1e-9*max(1, tt.want) {
				t.Errorf("DistanceKM = %.12f, want %.12f", got, tt.want)
			}
			if h := h3KM(tt.a, tt.b); math.Abs(got-h) > 1e-9*max(1, h) {
				t.Errorf("DistanceKM = %.12f, h3 says %.12f", got, h)
			}
			if back := DistanceKM(tt.b, tt.a); back != got {
				t.Errorf("DistanceKM(b, a) = %v, DistanceKM(a, b) = %v", back, got)
			}
		})
	}
}

func TestDistanceKMProperties(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50000; i++ {
		a, b := randomOnSphere(rnd), randomOnSphere(rnd)
		if i%2 == 0 { // nearby, as in matching
			b = destination(a, rnd.Float64()*360, rnd.Float64()*10)
		}
		d := DistanceKM(a, b)
		if math.IsNaN(d) || d < 0 || d > math.Pi*EarthRadiusKM+1e-9 {
			t.Fatalf("DistanceKM(%v, %v) = %v", a, b, d)
		}
		if back := DistanceKM(b, a); math.Abs(back-d) > 1e-9 {
			t.Fatalf("not symmetric: %v vs %v", d, back)
		}
		// Haversine is ill-conditioned near antipodes (asin near 1): a few decimetres there.
		slack := 1e-6
		if d > 19000 {
			slack = 1e-3
		}
		if want := arcKM(toVec(a), toVec(b)); math.Abs(d-want) > slack {
			t.Fatalf("DistanceKM(%v, %v) = %.9f, atan2 formula %.9f", a, b, d, want)
		}
		if DistanceKM(a, a) != 0 {
			t.Fatalf("DistanceKM(%v, itself) = %v", a, DistanceKM(a, a))
		}
		// Antipodes are half the circumference apart, without a NaN from rounding (asin of a
		// haversine just above 1), to the few decimetres haversine resolves there.
		anti := Point{Lat: -a.Lat, Lng: a.Lng + 180}
		if anti.Lng > 180 {
			anti.Lng -= 360
		}
		if got := DistanceKM(a, anti); math.IsNaN(got) || math.Abs(got-math.Pi*EarthRadiusKM) > 1e-3 {
			t.Fatalf("DistanceKM(%v, antipode %v) = %v, want %v", a, anti, got, math.Pi*EarthRadiusKM)
		}
	}
}

func TestPointValid(t *testing.T) {
	tests := []struct {
		give Point
		want bool
	}{
		{bandraStation, true},
		{timesSquare, true},
		{Point{90, 0.1}, true},
		{Point{-90, 180}, true},
		{Point{45, -180}, true},
		{Point{0, 1e-9}, true},
		{Point{1e-9, 0}, true},
		{Point{0, 0}, false},
		{Point{math.Copysign(0, -1), 0}, false},
		{Point{90.0000001, 0}, false},
		{Point{-90.5, 10}, false},
		{Point{10, 180.0000001}, false},
		{Point{10, -181}, false},
		{Point{999, 72.8}, false},
		{Point{12, 500}, false},
		{Point{math.NaN(), 72.8}, false},
		{Point{19, math.NaN()}, false},
		{Point{math.Inf(1), 72.8}, false},
		{Point{19, math.Inf(-1)}, false},
		{Point{math.MaxFloat64, 0}, false},
	}
	for _, tt := range tests {
		if got := tt.give.Valid(); got != tt.want {
			t.Errorf("%v.Valid() = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestOffsetAndBearing(t *testing.T) {
	tests := []struct {
		name          string
		north, east   float64
		wantBearing   float64
		wantKM        float64
		bearingSlack  float64
		distanceSlack float64
	}{
		{"north", 1, 0, 0, 1, 1e-6, 1e-6},
		{"east", 0, 1, 90, 1, 0.01, 1e-4},
		{"south", -2, 0, 180, 2, 1e-6, 1e-6},
		{"west", 0, -2, 270, 2, 0.01, 1e-4},
		{"north-east", 3, 3, 45, 3 * math.Sqrt2, 0.05, 1e-3},
		{"south-west", -0.5, -0.5, 225, 0.5 * math.Sqrt2, 0.05, 1e-3},
	}
	for _, origin := range []Point{bandraStation, connaughtPlace, timesSquare, {-33.87, 151.21}} {
		for _, tt := range tests {
			q := Offset(origin, tt.north, tt.east)
			if d := DistanceKM(origin, q); math.Abs(d-tt.wantKM) > tt.distanceSlack*max(1, tt.wantKM) {
				t.Errorf("%v %s: Offset is %.6f km away, want %.6f", origin, tt.name, d, tt.wantKM)
			}
			b := Bearing(origin, q)
			diff := math.Abs(math.Mod(b-tt.wantBearing+540, 360) - 180)
			if diff > tt.bearingSlack {
				t.Errorf("%v %s: Bearing = %.4f, want %.4f", origin, tt.name, b, tt.wantBearing)
			}
		}
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 10000; i++ {
		a, b := randomOnSphere(rnd), randomOnSphere(rnd)
		if got := Bearing(a, b); got < 0 || got >= 360 || math.IsNaN(got) {
			t.Fatalf("Bearing(%v, %v) = %v, want [0, 360)", a, b, got)
		}
		// Walking the bearing for the distance arrives at b.
		if d := DistanceKM(a, b); d < 10000 {
			if miss := DistanceKM(destination(a, Bearing(a, b), d), b); miss > 1e-3 {
				t.Fatalf("Bearing(%v, %v) = %v misses by %v km", a, b, Bearing(a, b), miss)
			}
		}
	}
	if got := Bearing(bandraStation, bandraStation); got != 0 {
		t.Errorf("Bearing to itself = %v, want 0", got)
	}
}
