package geo

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // peak hours are local: the zones must not depend on the host's tz database
)

// Place is a named spot in a city where rides start and end.
type Place struct {
	Name   string
	Point  Point
	Weight float64 // how much demand it draws, relative to the city's other places
}

// City is a metropolitan area: its places, its time zone (peak hours are local) and how
// much of a national load it carries.
type City struct {
	Name   string
	Zone   string
	Weight float64
	Places []Place
	// National marks the cities of `--city all`.
	National bool
}

// cities are the cities the simulator knows and the engine takes local time from. Mumbai
// comes first with the reference's six places; coordinates are the real ones.
var cities = [...]City{
	{Name: "mumbai", Zone: "Asia/Kolkata", Weight: 1.0, National: true, Places: []Place{
		{"bandra_station", Point{19.0544, 72.8413}, 3},
		{"andheri_station", Point{19.1197, 72.8464}, 3},
		{"churchgate", Point{18.9352, 72.8269}, 2},
		{"powai", Point{19.1176, 72.9060}, 2},
		{"bkc", Point{19.0596, 72.8656}, 3},
		{"lower_parel", Point{19.0134, 72.8302}, 2},
		{"dadar", Point{19.0178, 72.8478}, 2},
		{"csmt", Point{18.9398, 72.8355}, 2},
		{"juhu", Point{19.0990, 72.8265}, 1},
		{"goregaon", Point{19.1663, 72.8526}, 1},
		{"airport_t2", Point{19.0896, 72.8656}, 2},
		{"worli", Point{19.0176, 72.8162}, 1},
		{"colaba", Point{18.9067, 72.8147}, 1},
		{"malad", Point{19.1874, 72.8484}, 1},
		{"borivali", Point{19.2307, 72.8567}, 1},
		{"kurla", Point{19.0726, 72.8845}, 1},
		{"ghatkopar", Point{19.0860, 72.9081}, 1},
		{"chembur", Point{19.0522, 72.9005}, 1},
		{"vashi", Point{19.0771, 72.9986}, 1},
		{"thane", Point{19.1860, 72.9756}, 1},
	}},
	{Name: "delhi", Zone: "Asia/Kolkata", Weight: 1.0, National: true, Places: []Place{
		{"connaught_place", Point{28.6315, 77.2167}, 3},
		{"new_delhi_station", Point{28.6430, 77.2195}, 2},
		{"igi_airport_t3", Point{28.5562, 77.1000}, 2},
		{"saket", Point{28.5245, 77.2066}, 2},
		{"hauz_khas", Point{28.5494, 77.2001}, 1},
		{"karol_bagh", Point{28.6519, 77.1909}, 1},
		{"lajpat_nagar", Point{28.5677, 77.2433}, 1},
		{"nehru_place", Point{28.5491, 77.2533}, 1},
		{"chandni_chowk", Point{28.6506, 77.2303}, 1},
		{"dwarka", Point{28.5921, 77.0460}, 1},
		{"rajouri_garden", Point{28.6492, 77.1220}, 1},
		{"noida_sector_18", Point{28.5708, 77.3260}, 2},
		{"cyber_city", Point{28.4950, 77.0895}, 2},
		{"rohini", Point{28.7041, 77.1025}, 1},
		{"mayur_vihar", Point{28.6044, 77.2946}, 1},
	}},
	{Name: "bengaluru", Zone: "Asia/Kolkata", Weight: 0.8, National: true, Places: []Place{
		{"mg_road", Point{12.9756, 77.6050}, 3},
		{"koramangala", Point{12.9352, 77.6245}, 3},
		{"indiranagar", Point{12.9784, 77.6408}, 2},
		{"whitefield", Point{12.9698, 77.7500}, 2},
		{"electronic_city", Point{12.8452, 77.6602}, 2},
		{"majestic", Point{12.9767, 77.5713}, 2},
		{"hebbal", Point{13.0358, 77.5970}, 1},
		{"jayanagar", Point{12.9250, 77.5938}, 1},
		{"hsr_layout", Point{12.9116, 77.6474}, 1},
		{"marathahalli", Point{12.9591, 77.6974}, 1},
		{"yeshwanthpur", Point{13.0280, 77.5409}, 1},
		{"malleshwaram", Point{13.0031, 77.5643}, 1},
		{"btm_layout", Point{12.9166, 77.6101}, 1},
	}},
	{Name: "hyderabad", Zone: "Asia/Kolkata", Weight: 0.6, National: true, Places: []Place{
		{"hitec_city", Point{17.4435, 78.3772}, 3},
		{"gachibowli", Point{17.4401, 78.3489}, 2},
		{"secunderabad", Point{17.4399, 78.4983}, 2},
		{"charminar", Point{17.3616, 78.4747}, 1},
		{"banjara_hills", Point{17.4156, 78.4347}, 2},
		{"ameerpet", Point{17.4375, 78.4482}, 1},
		{"kukatpally", Point{17.4849, 78.4138}, 1},
	}},
	{Name: "chennai", Zone: "Asia/Kolkata", Weight: 0.6, National: true, Places: []Place{
		{"t_nagar", Point{13.0418, 80.2341}, 2},
		{"chennai_central", Point{13.0827, 80.2757}, 2},
		{"anna_nagar", Point{13.0850, 80.2101}, 1},
		{"adyar", Point{13.0012, 80.2565}, 1},
		{"guindy", Point{13.0067, 80.2206}, 1},
		{"velachery", Point{12.9815, 80.2180}, 1},
		{"sholinganallur", Point{12.9010, 80.2279}, 2},
	}},
	{Name: "kolkata", Zone: "Asia/Kolkata", Weight: 0.6, National: true, Places: []Place{
		{"howrah_station", Point{22.5839, 88.3425}, 2},
		{"park_street", Point{22.5535, 88.3522}, 2},
		{"sector_v", Point{22.5726, 88.4330}, 2},
		{"esplanade", Point{22.5646, 88.3510}, 1},
		{"new_town", Point{22.5804, 88.4622}, 1},
		{"gariahat", Point{22.5190, 88.3660}, 1},
	}},
	{Name: "pune", Zone: "Asia/Kolkata", Weight: 0.4, National: true, Places: []Place{
		{"shivajinagar", Point{18.5308, 73.8475}, 2},
		{"hinjewadi", Point{18.5913, 73.7389}, 2},
		{"koregaon_park", Point{18.5362, 73.8940}, 1},
		{"pune_station", Point{18.5289, 73.8744}, 1},
		{"kothrud", Point{18.5074, 73.8077}, 1},
		{"viman_nagar", Point{18.5679, 73.9143}, 1},
	}},
	{Name: "newyork", Zone: "America/New_York", Weight: 1.0, Places: []Place{
		{"times_square", Point{40.7580, -73.9855}, 3},
		{"penn_station", Point{40.7506, -73.9935}, 2},
		{"grand_central", Point{40.7527, -73.9772}, 2},
		{"wall_street", Point{40.7060, -74.0086}, 2},
		{"jfk", Point{40.6413, -73.7781}, 1},
		{"laguardia", Point{40.7769, -73.8740}, 1},
		{"williamsburg", Point{40.7081, -73.9571}, 1},
		{"upper_east_side", Point{40.7736, -73.9566}, 2},
		{"harlem", Point{40.8116, -73.9465}, 1},
		{"downtown_brooklyn", Point{40.6928, -73.9903}, 1},
		{"chelsea", Point{40.7465, -74.0014}, 1},
	}},
}

// Cities returns the cities the simulator knows and the engine takes local time from,
// Mumbai first. They are copies, places included: no caller can change what another reads.
func Cities() []City {
	out := make([]City, len(cities))
	for i, c := range cities {
		out[i] = c.clone()
	}
	return out
}

func (c City) clone() City {
	c.Places = slices.Clone(c.Places)
	return c
}

// CityNamed returns a copy of the city with a name (case-insensitive).
func CityNamed(name string) (City, error) {
	for _, c := range cities {
		if strings.EqualFold(c.Name, name) {
			return c.clone(), nil
		}
	}
	names := make([]string, len(cities))
	for i, c := range cities {
		names[i] = c.Name
	}
	return City{}, fmt.Errorf("unknown city %q: choose one of %s, or all", name, strings.Join(names, ", "))
}

// Center is the mean of the city's places.
func (c City) Center() Point {
	var lat, lng float64
	for _, p := range c.Places {
		lat += p.Point.Lat
		lng += p.Point.Lng
	}
	n := float64(len(c.Places))
	return Point{Lat: lat / n, Lng: lng / n}
}

// Location loads the city's zone. The zone names are fixed and the tz database is
// embedded, so this cannot fail for a City of Cities.
func (c City) Location() *time.Location {
	loc, err := time.LoadLocation(c.Zone)
	if err != nil {
		panic("geo: zone " + c.Zone + ": " + err.Error())
	}
	return loc
}

// Zones answers "what is the local time here" for any point: the zone of a known city
// within 150 km, else the nearest whole-hour solar offset, which is right to the hour
// almost everywhere peak hours matter.
type Zones struct {
	centers []Point
	locs    []*time.Location
}

// NewZones loads the zones of Cities.
func NewZones() *Zones {
	z := &Zones{}
	for _, c := range cities {
		z.centers = append(z.centers, c.Center())
		z.locs = append(z.locs, c.Location())
	}
	return z
}

// At returns the zone for p.
func (z *Zones) At(p Point) *time.Location {
	best, bestKM := -1, 150.0
	for i, c := range z.centers {
		if d := DistanceKM(p, c); d < bestKM {
			best, bestKM = i, d
		}
	}
	if best >= 0 {
		return z.locs[best]
	}
	hours := int(math.Round(p.Lng / 15))
	return time.FixedZone(fmt.Sprintf("UTC%+d", hours), hours*3600)
}
