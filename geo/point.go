// Package geo provides the geometry ridematch matches on: points and great-circle
// distance, H3 cells at the index, surge and region resolutions, and ring search; and
// InRange, the check every float setting passes.
package geo

import "math"

// EarthRadiusKM is the mean Earth radius the reference's haversine uses.
const EarthRadiusKM = 6371.0

// Point is a WGS84 position in degrees.
type Point struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// Valid reports whether p is a finite position on the globe and not (0,0), the "null
// island" that broken GPS fixes and zeroed structs produce.
func (p Point) Valid() bool {
	switch {
	case math.IsNaN(p.Lat) || math.IsNaN(p.Lng) || math.IsInf(p.Lat, 0) || math.IsInf(p.Lng, 0):
		return false
	case p.Lat < -90 || p.Lat > 90 || p.Lng < -180 || p.Lng > 180:
		return false
	case p.Lat == 0 && p.Lng == 0:
		return false
	}
	return true
}

const degToRad = math.Pi / 180

// DistanceKM is the haversine great-circle distance between a and b, the reference's
// calculate_distance_coords.
func DistanceKM(a, b Point) float64 {
	lat1, lat2 := a.Lat*degToRad, b.Lat*degToRad
	dlat := lat2 - lat1
	dlng := (b.Lng - a.Lng) * degToRad
	sdlat, sdlng := math.Sin(dlat/2), math.Sin(dlng/2)
	h := sdlat*sdlat + math.Cos(lat1)*math.Cos(lat2)*sdlng*sdlng
	return 2 * EarthRadiusKM * math.Asin(math.Sqrt(h))
}

// Offset returns the point dNorth km north and dEast km east of p, on a sphere. It is
// exact enough for the few kilometres the simulator moves drivers.
func Offset(p Point, dNorthKM, dEastKM float64) Point {
	lat := p.Lat + dNorthKM/EarthRadiusKM/degToRad
	lng := p.Lng + dEastKM/(EarthRadiusKM*math.Cos(p.Lat*degToRad))/degToRad
	return Point{Lat: lat, Lng: lng}
}

// Bearing is the initial bearing from a to b in degrees clockwise from north, [0, 360).
func Bearing(a, b Point) float64 {
	lat1, lat2 := a.Lat*degToRad, b.Lat*degToRad
	dlng := (b.Lng - a.Lng) * degToRad
	y := math.Sin(dlng) * math.Cos(lat2)
	x := math.Cos(lat1)*math.Sin(lat2) - math.Sin(lat1)*math.Cos(lat2)*math.Cos(dlng)
	deg := math.Atan2(y, x) / degToRad
	if deg < 0 {
		deg += 360
	}
	return deg
}
