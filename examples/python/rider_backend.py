"""A rider backend for ridematch, with kafka-python, in the style of the Ola sketch
ridematch started from: it publishes a ride_requested event to ride-requests, keyed by
its request_id, and waits on ride-matches for that request's one outcome (ride_matched,
ride_unmatched or ride_cancelled, keyed by request_id).

Usage: python3 rider_backend.py [--bootstrap-servers HOST:PORT] [--pickup bandra_station]
                                [--drop bkc] [--ride-type mini] [--customer CUST001]
                                [--timeout 60]

The bootstrap servers default to $KAFKA_BOOTSTRAP_SERVERS, else localhost:9092. Exits 0
when the ride is matched, 1 when it is unmatched or cancelled, 3 when no outcome arrives
within --timeout seconds.
"""
import argparse
import json
import math
import os
import sys
import time
import uuid
from datetime import datetime, timezone

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

# Mumbai locations with coordinates: the sketch's six places, where ridematch simulate
# puts its drivers too.
MUMBAI_LOCATIONS = {
    "bandra_station": {"lat": 19.0544, "lng": 72.8413},
    "andheri_station": {"lat": 19.1197, "lng": 72.8464},
    "churchgate": {"lat": 18.9352, "lng": 72.8269},
    "powai": {"lat": 19.1176, "lng": 72.9060},
    "bkc": {"lat": 19.0596, "lng": 72.8656},
    "lower_parel": {"lat": 19.0134, "lng": 72.8302},
}

TOPICS = {
    'ride_requests': 'ride-requests',
    'ride_matches': 'ride-matches',
}

OUTCOMES = ("ride_matched", "ride_unmatched", "ride_cancelled")


class RiderBackend:
    def __init__(self, bootstrap_servers):
        self.bootstrap_servers = bootstrap_servers
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            value_serializer=lambda v: json.dumps(v, default=str).encode('utf-8'),
        )

    def open_outcomes(self):
        """A consumer of ride-matches placed at its end before the request is sent, so the
        outcome cannot slip past it, however fast the engine answers."""
        options = dict(bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False)
        # kafka-python learned isolation_level in 2.1; older ones (Debian 12 has 2.0.2)
        # read uncommitted, so an aborted transaction's records may show through.
        if 'isolation_level' in KafkaConsumer.DEFAULT_CONFIG:
            options['isolation_level'] = 'read_committed'
        else:
            print("kafka-python", getattr(__import__('kafka'), '__version__', '?'),
                  "has no isolation_level: reading uncommitted", file=sys.stderr)
        consumer = KafkaConsumer(**options)
        partitions = consumer.partitions_for_topic(TOPICS['ride_matches']) or set()
        if not partitions:
            raise SystemExit("topic %s not found on %s: is ridematch running?"
                             % (TOPICS['ride_matches'], self.bootstrap_servers))
        assigned = [TopicPartition(TOPICS['ride_matches'], p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_end()
        for tp in assigned:
            consumer.position(tp)  # resolve the end offsets now, not at the first poll
        return consumer

    def request_ride(self, customer_id, pickup_location, drop_location, ride_type):
        """Customer ka ride request, published to ride-requests keyed by request_id."""
        request_id = str(uuid.uuid4())
        ride_request_event = {
            "event_type": "ride_requested",
            "request_id": request_id,
            "customer_id": customer_id,
            "pickup_location": pickup_location,
            "drop_location": drop_location,
            "pickup_coordinates": MUMBAI_LOCATIONS[pickup_location],
            "drop_coordinates": MUMBAI_LOCATIONS[drop_location],
            # naive isoformat, as the sketch writes it, in UTC
            "request_time": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(),
            "ride_type": ride_type,
            "estimated_distance": round(calculate_distance_coords(
                MUMBAI_LOCATIONS[pickup_location], MUMBAI_LOCATIONS[drop_location]), 4),
        }
        self.producer.send(
            TOPICS['ride_requests'],
            value=ride_request_event,
            key=request_id.encode('utf-8'),
        )
        self.producer.flush()
        print(f"🚗 Ride requested: {customer_id} from {pickup_location} to {drop_location}"
              f" ({ride_type}), request {request_id}", flush=True)
        return request_id

    def wait_for_outcome(self, consumer, request_id, timeout_s):
        """Reads ride-matches until this request's outcome arrives, or timeout_s passes."""
        key = request_id.encode('utf-8')
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for message in records:
                    if message.key != key:
                        continue
                    try:
                        event = json.loads(message.value.decode('utf-8'))
                    except (ValueError, UnicodeDecodeError):
                        continue  # a transaction marker, to a client that does not know them
                    if event.get("event_type") in OUTCOMES and event.get("request_id") == request_id:
                        return event
        return None


def calculate_distance_coords(coords1, coords2):
    """Haversine formula for distance calculation"""
    R = 6371  # Earth's radius in km
    lat1, lng1 = math.radians(coords1['lat']), math.radians(coords1['lng'])
    lat2, lng2 = math.radians(coords2['lat']), math.radians(coords2['lng'])
    dlat = lat2 - lat1
    dlng = lng2 - lng1
    a = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return R * 2 * math.asin(math.sqrt(a))


def show(event):
    kind = event["event_type"]
    if kind == "ride_matched":
        print(f"✅ Ride matched! Driver {event['driver_id']} ({event.get('vehicle_type')}, "
              f"rating {event['driver_rating']}) assigned to {event['customer_id']}", flush=True)
        print(f"   pickup {event['pickup_distance_km']} km away, ETA {event['estimated_arrival']} min, "
              f"fare ₹{event['fare_estimate']} (surge x{event['surge_multiplier']}), "
              f"assignment {event.get('assignment')}"
              f"{' (batched)' if event.get('batched') else ''}, match {event['match_id']}", flush=True)
    elif kind == "ride_unmatched":
        print(f"❌ No suitable driver found for request {event['request_id']}: {event.get('reason')}"
              f" (within {event.get('max_pickup_km')} km)", flush=True)
    else:
        print(f"🚫 Ride cancelled: request {event['request_id']}: {event.get('reason')}", flush=True)


def main():
    parser = argparse.ArgumentParser(description="Request a ride from ridematch and print its outcome.")
    parser.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
                        help="comma-separated HOST:PORT list (default $KAFKA_BOOTSTRAP_SERVERS or localhost:9092)")
    parser.add_argument("--pickup", default="bandra_station", choices=sorted(MUMBAI_LOCATIONS))
    parser.add_argument("--drop", default="bkc", choices=sorted(MUMBAI_LOCATIONS))
    parser.add_argument("--ride-type", default="mini", choices=["micro", "mini", "prime", "auto"])
    parser.add_argument("--customer", default="CUST001")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the outcome")
    args = parser.parse_args()

    backend = RiderBackend(args.bootstrap_servers.split(","))
    consumer = backend.open_outcomes()
    request_id = backend.request_ride(args.customer, args.pickup, args.drop, args.ride_type)
    event = backend.wait_for_outcome(consumer, request_id, args.timeout)
    consumer.close()
    backend.producer.close()
    if event is None:
        print(f"no outcome for {request_id} within {args.timeout:g}s", file=sys.stderr)
        return 3
    show(event)
    return 0 if event["event_type"] == "ride_matched" else 1


if __name__ == "__main__":
    sys.exit(main())
