"""The reference's client, as its Python sketch uses kafka-python: driver updates and a
ride request produced with json.dumps and naive isoformat() times, keyed by ids, then the
ride_matched read back from ride-matches.

Usage: python3 reference_client.py BOOTSTRAP_ADDR

Prints "request_id <uuid>", then the ride_matched event as one JSON line. Exits 3 if no
match arrives within the consumer timeout.
"""
import json
import sys
import uuid
from datetime import datetime

from kafka import KafkaConsumer, KafkaProducer

addr = sys.argv[1]

producer = KafkaProducer(
    bootstrap_servers=[addr],
    value_serializer=lambda v: json.dumps(v, default=str).encode('utf-8'),
)

# Three sedans around Bandra; DRV001 is 14 m from the pickup.
for driver_id, location in [
    ("DRV001", {"lat": 19.0545, "lng": 72.8414}),
    ("DRV002", {"lat": 19.1197, "lng": 72.8464}),
    ("DRV003", {"lat": 19.0596, "lng": 72.8656}),
]:
    producer.send(
        'driver-locations',
        value={
            "event_type": "driver_location_update",
            "driver_id": driver_id,
            "location": location,
            "timestamp": datetime.utcnow().isoformat(),
            "speed": 12.5,
            "heading": 90.0,
            "availability": "available",
            "vehicle_type": "sedan",
            "rating": 4.7,
        },
        key=driver_id.encode('utf-8'),
    )
producer.flush()

request_id = str(uuid.uuid4())
producer.send(
    'ride-requests',
    value={
        "event_type": "ride_requested",
        "request_id": request_id,
        "customer_id": "CUST001",
        "pickup_location": "bandra_station",
        "drop_location": "bkc",
        "pickup_coordinates": {"lat": 19.0544, "lng": 72.8413},
        "drop_coordinates": {"lat": 19.0596, "lng": 72.8656},
        "request_time": datetime.utcnow().isoformat(),
        "ride_type": "prime",
        "estimated_distance": 2.6192,
        "surge_multiplier": 1.0,
    },
    key=request_id.encode('utf-8'),
)
producer.flush()
print("request_id", request_id, flush=True)

options = dict(
    bootstrap_servers=[addr],
    auto_offset_reset='earliest',
    consumer_timeout_ms=20000,
)
# kafka-python learned isolation_level in 2.1; older ones (Debian 12 has 2.0.2) read
# uncommitted, and return transaction markers as records.
if 'isolation_level' in KafkaConsumer.DEFAULT_CONFIG:
    options['isolation_level'] = 'read_committed'
else:
    print("kafka-python", getattr(__import__('kafka'), '__version__', '?'),
          "has no isolation_level: reading uncommitted", file=sys.stderr)
consumer = KafkaConsumer('ride-matches', **options)
for message in consumer:
    try:
        event = json.loads(message.value.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        continue  # a transaction marker, to a client that does not know them
    if (event.get("event_type") == "ride_matched" and event.get("request_id") == request_id
            and message.key == request_id.encode('utf-8')):
        print(json.dumps(event), flush=True)
        sys.exit(0)
print("no ride_matched for", request_id, file=sys.stderr)
sys.exit(3)
