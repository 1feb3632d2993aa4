// Package matcher is the per-partition state machine that matches ride requests to
// drivers.
//
// # The log and the state
//
// The router writes every valid input event into the region log, a topic partitioned by
// H3 region: all events of one region land, in order, in one partition. A Partition is
// the state of one such partition, and Apply is its only input. It holds:
//
//   - the drivers it has heard of, indexed by H3 cell (at the index resolution) when they
//     may be matched: owned here, reporting "available", not reserved;
//   - the requests waiting for a driver, oldest first, and every request it finished in
//     the last DedupWindow, so a duplicate request id gets no second outcome;
//   - the surge state: requests per surge cell over the surge window, and each cell's
//     published multiplier (package surge);
//   - its clock, and the watermark of every input partition the routers read (Time).
//
// Nothing else goes in: no wall clock, no randomness, no map iteration order that can
// reach an output. So the same records give the same outputs, byte for byte, whatever
// crashed or rebalanced in between.
//
// # Time
//
// Every region-log record carries a log time: when the broker, or the router, says its
// input record arrived (or, from producers trusted to run simulated time, when they say it
// was made). A device's own timestamp is data beside it: it orders a driver's updates and
// caps how fresh a position is (a position is as old as the earlier of the two times), and
// it never moves a clock.
//
// The clock is the partition's watermark: the least, over every input partition the
// routers read (a source), of how far that source is known to have got. A router opens
// every frame it writes with a mark (event.LogMark): each of its sources' watermark. The
// records after the mark are in log-time order across those sources, because the router
// merges them, so each one also carries every source of the mark up to its own time, by
// at most the mark's slack (unlimited when the times are the broker's or the router's;
// the producers' 30s skew bound when they are the producers'). A frame of a mark alone is
// a tick. So one router, or
// one record, that runs ahead moves only its own sources, and the clock waits for the
// others; a source no mark has named for a thousand marks is gone and no longer waited
// for. A record that comes after the clock passed its time (late) is handled at the
// clock.
//
// Whatever falls due happens as the clock passes its moment, at that moment, in a fixed
// order at each moment: surge re-evaluation (every surge interval), the sweep that
// releases expired reservations and forgets silent drivers (every SweepInterval), a new
// search for every waiting request (every RetryInterval under Greedy, at every window's
// end, BatchWindow, under Batch and Adaptive, for the oldest BatchRequests searched; skipped, as it must find no one again, when
// no driver of a vehicle the request takes has been added to or refreshed in the index
// within its reach since its last search), the offers whose time is up (Offers), and
// ride_unmatched for requests whose log time + RequestTTL has passed. What happens therefore depends on the records
// and on when things fell due, not on how often ticks came or where they fell among the
// records.
//
// Frames without a mark come from a matcher (hand-offs, whose time moves nothing), from a
// caller applying records one by one (each moves the clock to its time), or from an
// engine older than marks, whose records carried the devices' clocks: those move the
// clock no further than the time their frame was written (Frame), so a log poisoned by
// such an engine does not poison a restore.
//
// # What each record does
//
// Every record first moves the clock as above, and what falls due happens. Then:
//
//   - A driver update moves the driver, and updates its availability, vehicle and
//     rating. An update not newer than the one held is counted and ignored. A "busy" or
//     "offline" update releases the driver's reservation: it has taken the ride.
//   - A request is matched at once if it can be (greedy, first come first served; see
//     Assignment for batch windows), or
//     waits. The search goes ring by ring (H3 GridDisk) outward from the pickup's cell,
//     over drivers that are owned, available, unreserved, fresh (updated within
//     DriverTTL), vehicle-compatible and within MaxPickupKM by haversine, and keeps the
//     best by the reference's score (ties: nearer, then smaller driver id). It stops at
//     the first ring whose nearest possible driver could not beat the best found even at
//     the top rating. The matched driver is reserved until its own update shows it busy,
//     or ReservationTimeout passes.
//   - A cancel ends a waiting request with ride_cancelled. After a match it writes
//     match_cancelled and releases the driver; the request's outcome stays its
//     ride_matched. The router sends every cancel to every partition: only the one that
//     holds the request, or the reserved driver, acts on it. A cancel for a request not
//     seen yet is held for CancelHold: should the request follow, it ends ride_cancelled.
//   - A driver's answer to an offer (accepted or declined) ends the offer it names, if it
//     is still open (Offers).
//   - A mark or a tick only moves the clock.
//
// # Assignment
//
// Config.Assignment says when a request gets its driver. Greedy, the reference's flow,
// matches it the moment it is applied, to its best driver by the search above, and a
// request with none is searched for again every RetryInterval: first come, first served.
// When requests compete for drivers, that can give the first one the driver a second one
// needed, leaving the second a far driver or none.
//
// Batch lets requests wait for the end of the current window: the clock's next multiple
// of BatchWindow (event time, so the same log closes the same windows, ticks alone close
// one, and a rebuilt partition closes them where the one it replaces did). At the window's
// end, in the fixed order of what falls due, the waiting requests (the oldest
// BatchRequests) each bring their best BatchCandidates drivers, as the search ranks them,
// and package assign gives them the assignment of the highest total score over that
// graph, exactly, in integer millionths of a point. Its result depends only on the order
// of the rows (requests, oldest first) and columns (drivers, in order of first appearance),
// so the same window gives the same matches. A request alone in its window gets its best
// driver, as greedy gives it; a request left without one waits for the next window, up to
// its TTL. A shadow a window gives a request is claimed, as greedy claims one.
//
// Adaptive matches a request at once, as greedy, unless it is contested: some waiting
// request could take the driver greedy would give it (within its reach, a vehicle it
// takes). A contested request waits for the window, with those it competes with. Where drivers are ample,
// requests rarely wait, and a request is matched as fast as greedy matches it.
//
// ride_matched says which policy the partition that wrote it ran (assignment) and whether
// a window there chose the driver (batched); a border match is written by the driver's
// owner, which granted a claim, so it says the owner's policy and not batched. A window's
// matches are recorded on the decision log like any, at the position of the record whose
// application closed the window and with the window's moment, so a replay makes each
// again at its own window, however many windows one record closes.
//
// # Offers
//
// With Config.OfferTimeout set, a match is not final when it is made: the partition that
// would make it (the driver's owner) offers the driver the request instead. It writes
// ride_offered, whose offer id names the partition (event.OfferID), so that the router
// sends the driver's answer here; it holds the driver for the offer, records the offer on
// its decision log, and the request waits for the answer, its TTL suspended. An offer
// ends one of four ways:
//
//   - accepted: an offer_accepted applied while the offer is open makes the request's
//     ride_matched, on the terms offered (distance, ETA, fare and surge as ride_offered
//     showed them), at the accept's time; the driver is held as a match holds it.
//   - declined: the driver is released, and the request is offered to its best driver
//     left, never one it was offered before (request.tried).
//   - lapsed: the clock reached expires_at unanswered. An answer whose own log time is
//     expires_at or later is late, even while the clock, held back by a slower input,
//     has not reached it; the offer lapses when the clock does.
//     The driver is released but passed over, offered nothing until its next update, and
//     the request goes on as after a decline.
//   - withdrawn: the rider cancelled; offer_withdrawn tells the driver, and the request
//     ends ride_cancelled.
//
// A request offered to MaxOffers drivers, or whose TTL has passed when an offer ends, ends
// ride_unmatched, its reason declined or offer_timeout as the last offer ended. Answers
// that change nothing (an unknown offer, another driver's, a second answer, one after the
// offer lapsed or was withdrawn) are counted by why (Stats.Dropped) and dropped.
//
// An offer holds its driver until it ends, whatever the driver's updates say meanwhile: a
// busy driver's reservation is dropped by its update, an offered one's only by the offer's
// end; a driver silent while it decides is not forgotten. OfferTimeout stays below the
// DriverTTL, since a driver silent for that long starts afresh wherever it reports next. Offers lapse after the retries and the window of their moment, so a request whose
// offer lapses is decided for once at that moment, and a replay makes the offer the log
// recorded at its moment (Decisions are keyed by request and moment).
//
// Across a border the owner makes the offer on the claimant's behalf: it grants the
// claim by offering its driver, and answers the claim when the offer ends: accepted (the
// owner wrote ride_matched), declined or lapsed (the claimant offers its next driver), or
// withdrawn (the claimant writes ride_cancelled). The claimant counts the offers and the
// drivers tried, and its claim says which offer it would make (ride_offered's attempt).
//
// A driver that moves to another partition with an offer open takes the offer's hold with
// its token; the offer stays where it was made. The hold there lasts until the offer's
// end plus ReservationTimeout, since that partition does not see the offer end: after a
// decline or a lapse the driver is free again only then, or when it comes back to the
// partition that made the offer. A claim refused because the driver holds an offer
// passes its shadow over until the driver's next update, rather than holding it.
//
// # Driver ownership
//
// A driver crossing into a region of another partition must not be matchable in both.
// The router remembers which partition it last sent each driver to. When a driver moves,
// it writes a Left record to the old partition and the update, marked as an arrival, to
// the new one. The new partition holds the arrival but cannot match the driver until it
// receives the driver's token; the old partition sends the token, with the driver's
// reservation if it has one, when it applies the Left. A token that reaches a partition
// the driver has already left again is forwarded after it. A driver unseen for longer
// than DriverTTL of log time starts afresh (genesis): its next update makes whichever
// partition gets it the owner at once, since no partition can still match it (its
// position there is older than the silence). Silence is measured in log time, never by
// the device's stamps, which a phone could move.
//
// # Borders
//
// A request must see every driver within reach, whichever partition owns it. The router
// also sends each update of a driver within MaxPickupKM of a region another partition
// owns to that partition, as a shadow (event.RouteShadow, naming the owner); a driver
// leaving a partition's reach is withdrawn there by a shadow gone offline, one that
// stays unavailable sends no shadow news, and a shadow's position is refreshed every 50 m
// or 10 s (router.Config.ShadowEvery). A shadow lives apart from the partition's own
// drivers, in the same index: the search sees both, and it never counts as supply.
//
// When a request's best candidate is a shadow, the partition claims it: it writes a
// LogClaim, carrying the request, the multiplier it quotes and the request's deadline,
// to the owner's partition, holds the shadow so that no other request of its own claims
// it too, and records the claim on its decision log. The request waits for the answer;
// its TTL does not end it meanwhile. The owner grants the first claim in its log order
// for a driver it still owns, matchable, fresh, compatible and within reach of the
// pickup: it reserves the driver, writes ride_matched itself and records the match;
// otherwise it refuses, naming the reservation that holds the driver, if any. The answer
// (LogAnswer) goes back through the claimant's log. Granted, the request is done there;
// refused, the shadow is held as the owner holds it, or passed over until its next
// update, and the request searches again, or ends unmatched if its TTL has run out. A
// cancel meanwhile waits for the answer: the owner, which sees every cancel too, writes
// match_cancelled after a grant; a cancel it saw before the claim makes it refuse, and
// the claimant writes ride_cancelled. Claims and answers, like tokens, move no clock.
//
// So no driver is given two rides (only its owner matches it), and every request one
// final outcome (its own partition's, or its owner's grant). A border request pays one
// more trip through the region log: the owner's transaction, read by the claimant.
//
// # Restore
//
// A Partition's state is a function of the last History() of its log: drivers are
// forgotten ForgetAfter after their last record, requests DedupWindow after their
// outcome, reservations expire, held cancels lapse, surge depends on the last surge window
// plus its smoothing, and every source is named in the ticks of any few seconds. So
// replaying the partition from History() before the committed offset, with
// outputs discarded, rebuilds the state that handled the records up to there; the
// replay makes exactly the matches, claims and grants its decision log recorded, each at
// the moment it was made (the index, which nothing reads while replaying, is built once
// at the end). Two limits are documented where they bite: a request id repeated after DedupWindow gets a second
// outcome, and a driver that owned its partition since before the replayed span is taken
// to be owned (a plain update is only ever sent to the owner or to a partition waiting for
// its token, and the token has arrived unless the old owner lags by more than History).
package matcher
