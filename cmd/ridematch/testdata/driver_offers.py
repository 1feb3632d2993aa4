"""Drivers and riders of the offers test, as apps would be with kafka-python: drivers that
stream their locations and answer the ride offers they are shown, riders that request
rides and cancel one.

Usage:
  python3 driver_offers.py BOOTSTRAP_ADDR locations PLAN_JSON
  kcat ... -C -t driver-offers ... | python3 driver_offers.py BOOTSTRAP_ADDR answer PLAN_JSON

PLAN_JSON: {"drivers": [{"id", "lat", "lng", "answer"}], "requests": [{"id", "customer_id",
"pickup", "lat", "lng"}]}. `locations` sends each driver's driver_location_update and
exits. `answer` sends the requests, then reads the offers on stdin (kcat's output: one
JSON record a line) and answers each as its driver's plan says:

  accept   offer_accepted at once
  decline  offer_declined at once, reason pickup_too_far
  silent   nothing: the offer lapses
  cancel   nothing from the driver; the rider cancels the request (ride_cancelled)
  late     offer_accepted half a second after the offer's expires_at
  slow     offer_accepted a second after the offer is read

It prints one JSON line per offer read, {"seen", "offer_id", "request_id", "driver_id",
"attempt", "answer"}, and one per answer sent, {"sent", ...}, and exits 0 at the end of
its input with nothing left to send.
"""
import json
import queue
import sys
import threading
import time
from datetime import datetime, timezone

from kafka import KafkaProducer

addr, mode, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
producer = KafkaProducer(
    bootstrap_servers=[addr],
    key_serializer=lambda k: k.encode('utf-8'),
    value_serializer=lambda v: json.dumps(v).encode('utf-8'),
    linger_ms=0,
)


def now():
    """Naive UTC isoformat, as the reference's apps write times."""
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat()


def say(**fields):
    print(json.dumps(fields), flush=True)


def send(topic, key, value):
    producer.send(topic, key=key, value=value)
    producer.flush()


if mode == 'locations':
    for d in plan["drivers"]:
        producer.send('driver-locations', key=d["id"], value={
            "event_type": "driver_location_update", "driver_id": d["id"],
            "location": {"lat": d["lat"], "lng": d["lng"]}, "timestamp": now(), "speed": 0.0,
            "heading": 0.0, "availability": "available", "vehicle_type": "sedan", "rating": 4.7})
    producer.flush()
    sys.exit(0)

if mode != 'answer':
    sys.exit("unknown mode " + mode)

answers = {d["id"]: d["answer"] for d in plan["drivers"]}
customers = {}
for r in plan["requests"]:
    customers[r["id"]] = r["customer_id"]
    producer.send('ride-requests', key=r["id"], value={
        "event_type": "ride_requested", "request_id": r["id"], "customer_id": r["customer_id"],
        "pickup_location": r["pickup"], "drop_location": "bkc",
        "pickup_coordinates": {"lat": r["lat"], "lng": r["lng"]},
        "drop_coordinates": {"lat": 19.0596, "lng": 72.8656},
        "request_time": now(), "ride_type": "prime"})
producer.flush()


def answer(offer, event_type, **extra):
    value = {"event_type": event_type, "offer_id": offer["offer_id"], "request_id": offer["request_id"],
             "driver_id": offer["driver_id"], "timestamp": now()}
    value.update(extra)
    send('driver-responses', offer["driver_id"], value)
    say(sent=event_type, offer_id=offer["offer_id"], request_id=offer["request_id"],
        driver_id=offer["driver_id"], at=value["timestamp"])


# One thread reads stdin, so that the loop below can wait for a late answer's moment and
# for the next offer at once.
lines = queue.Queue()


def read_stdin():
    for line in sys.stdin:
        lines.put(line)
    lines.put(None)


threading.Thread(target=read_stdin, daemon=True).start()

late = []  # (when, offer): accepts to send later
while True:
    late.sort(key=lambda x: x[0])
    while late and late[0][0] <= time.time():
        answer(late.pop(0)[1], "offer_accepted")
    try:
        line = lines.get(timeout=max(0.0, late[0][0] - time.time()) if late else None)
    except queue.Empty:
        continue
    if line is None:
        break
    try:
        offer = json.loads(line)
    except ValueError:
        continue
    if offer.get("event_type") != "ride_offered":
        continue
    how = answers.get(offer["driver_id"], "silent")
    say(seen=now(), offer_id=offer["offer_id"], request_id=offer["request_id"],
        driver_id=offer["driver_id"], attempt=offer["attempt"], answer=how)
    if how == "accept":
        answer(offer, "offer_accepted")
    elif how == "decline":
        answer(offer, "offer_declined", reason="pickup_too_far")
    elif how == "cancel":
        request_id = offer["request_id"]
        ts = now()
        send('ride-requests', request_id, {"event_type": "ride_cancelled", "request_id": request_id,
                                           "customer_id": customers.get(request_id), "timestamp": ts,
                                           "reason": "rider_changed_plans"})
        say(sent="ride_cancelled", request_id=request_id, at=ts)
    elif how == "late":
        expires = datetime.fromisoformat(offer["expires_at"].replace("Z", "+00:00"))
        late.append((expires.timestamp() + 0.5, offer))
    elif how == "slow":
        late.append((time.time() + 1.0, offer))

if late:
    sys.exit("the input ended with %d late answers not yet sent" % len(late))
producer.close()
