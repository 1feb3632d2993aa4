"""Hostile clocks, sent as an app would with kafka-python: driver updates whose own
timestamps and record timestamps are wrong in each of the ways that once moved a running
engine's clock, then a ride request where no driver is.

Usage: python3 hostile_clocks.py BOOTSTRAP_ADDR REQUEST_ID

Each poisoned update is keyed by its name (EVIL-...). Prints nothing; exits 0 once every
record is acknowledged.
"""
import json
import sys
from datetime import datetime, timedelta, timezone

from kafka import KafkaProducer

addr, request_id = sys.argv[1], sys.argv[2]
producer = KafkaProducer(
    bootstrap_servers=[addr],
    key_serializer=lambda k: k.encode('utf-8'),
    value_serializer=lambda v: json.dumps(v).encode('utf-8'),
)


def driver(driver_id, stamp):
    return {"event_type": "driver_location_update", "driver_id": driver_id,
            "location": {"lat": 19.0545, "lng": 72.8414}, "timestamp": stamp, "speed": 12.5,
            "heading": 90.0, "availability": "available", "vehicle_type": "sedan", "rating": 4.7}


now = datetime.now(timezone.utc).replace(tzinfo=None)
year_3000_ms = int(datetime(3000, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
# 2^64 ns less ten minutes ahead: year 2611.
producer.send('driver-locations', key="EVIL-2611",
              value=driver("EVIL-2611", (now + timedelta(microseconds=2**64 // 1000) - timedelta(minutes=10)).isoformat()))
# A year-9999 stamp in a record of timestamp 0.
producer.send('driver-locations', key="EVIL-9999", value=driver("EVIL-9999", "9999-12-31T23:59:59.999999"), timestamp_ms=0)
# Both stamps in the year 3000.
producer.send('driver-locations', key="EVIL-3000", value=driver("EVIL-3000", "3000-01-01T00:00:00"), timestamp_ms=year_3000_ms)
# A phone 29 seconds fast: within the allowed skew, and data only.
producer.send('driver-locations', key="FAST", value=driver("FAST", (now + timedelta(seconds=29)).isoformat()))
# A request far from every driver, in Delhi.
producer.send('ride-requests', key=request_id, value={
    "event_type": "ride_requested", "request_id": request_id, "customer_id": "CUST001",
    "pickup_location": "connaught_place", "drop_location": "india_gate",
    "pickup_coordinates": {"lat": 28.6315, "lng": 77.2167}, "drop_coordinates": {"lat": 28.6129, "lng": 77.2295},
    "request_time": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(), "ride_type": "mini"})
producer.flush()
