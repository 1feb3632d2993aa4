package event

import (
	"testing"
	"time"

	"ridematch/geo"
)

var (
	benchDriver = (&DriverLocation{
		DriverID: "DRV-1-001234", Location: geo.Point{Lat: 19.0544, Lng: 72.8413}, Time: TimeOf(time.Date(2026, 11, 25, 19, 0, 0, 123456000, time.UTC)),
		SpeedKMH: 12.5, Heading: 90, Availability: Available, Vehicle: Sedan, Rating: 4.7,
	}).AppendJSON(nil)
	benchRequest = (&RideRequest{
		RequestID: "3f1c2a9e-8a1b-4c57-9d2e-6b7f1e0a9c11", CustomerID: "CUST001", PickupName: "bandra_station", DropName: "bkc",
		Pickup: geo.Point{Lat: 19.0544, Lng: 72.8413}, Drop: geo.Point{Lat: 19.0596, Lng: 72.8656},
		Time: TimeOf(time.Date(2026, 11, 25, 19, 0, 0, 123456000, time.UTC)), RideType: Prime, EstimatedKM: 2.6,
	}).AppendJSON(nil)
	benchResponse = (&OfferResponse{
		OfferID: "o-7-1a2b3c4d5e6f7a8b", RequestID: "3f1c2a9e-8a1b-4c57-9d2e-6b7f1e0a9c11", DriverID: "DRV-1-001234",
		Time: TimeOf(time.Date(2026, 11, 25, 19, 0, 3, 500000000, time.UTC)), Reason: "too_far",
	}).AppendJSON(nil)
)

func BenchmarkDecodeInput(b *testing.B) {
	for _, bb := range []struct {
		name string
		v    []byte
	}{{"driver", benchDriver}, {"request", benchRequest}, {"response", benchResponse}} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(bb.v)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeInput(bb.v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bb.name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(bb.v)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeInputStd(bb.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	in, _ := DecodeInput(benchDriver)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = in.Driver.AppendJSON(buf[:0])
	}
}

func BenchmarkLogRecord(b *testing.B) {
	in, _ := DecodeInput(benchDriver)
	rec := &LogRecord{Kind: LogDriver, Time: in.Driver.Time, Driver: in.Driver}
	buf := make([]byte, 0, 256)
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendLog(buf[:0], rec)
		}
	})
	enc := AppendLog(nil, rec)
	var out LogRecord
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			if err := DecodeLog(enc, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
