//go:build linux

package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/internal/bordertest"
	"ridematch/router"
)

// TestBorderKillNineMidClaim is issue 19's border contention with real processes: two
// `ridematch match` instances share the groups; twelve pairs of riders on either side of
// Mumbai's partition borders each want the one driver between them (bordertest's
// contentions); right after the requests are produced, the instance that owns the
// region-log partition every contention involves is SIGKILLed, with claims in flight, and
// a replacement starts. Read back read_committed: every request has exactly one final
// outcome, no driver is in two ride_matched (the ledger's checks), and each contention
// ends as issue 19 wants: one rider gets the driver between them, the other the second
// driver when it can reach it, else ride_unmatched.
//
// The engines run with a 20 s request TTL. The kill stops the partitions it touches for
// about 10 s (the dead member's open transactions hide the region log until the broker
// aborts them at the transaction timeout), and the partitions then run through those 10 s
// of log in a burst, while a claim takes a round trip through two transactions: with the
// acceptance scripts' 5 s TTL, a request whose claim was refused meanwhile has run out of
// time when the answer comes, and ends ride_unmatched without searching again.
func TestBorderKillNineMidClaim(t *testing.T) {
	now := time.Now().UTC()
	cases, shared := processContentions(t, now)
	f := newFleet(t)
	addr := freeAddr(t)
	f.broker("broker", addr)
	m1, m2 := f.borderMatch("m1", addr), f.borderMatch("m2", addr)
	f.waitReady(m1)
	f.waitReady(m2)
	cl := newClient(t, addr)
	adm := kadm.NewClient(cl)
	// A member killed while its group rebalances is waited for until the rebalance
	// timeout (30 s); one killed in a stable group is dropped at the session timeout (6 s).
	waitStable(t, adm, 2)
	topics := ridematch.DefaultTopics()
	victim, survivor := m1, m2
	if owner := ownerOf(t, adm, "ridematch-matcher", topics.Name(ridematch.RoleRegionLog), shared, m1, m2); owner == m2 {
		victim, survivor = m2, m1
	} else if owner == nil {
		t.Logf("no engine is found to own region-log partition %d; killing m1", shared)
	}

	s := schedule{start: time.Now()}
	var drivers []event.DriverLocation
	for _, c := range cases {
		drivers = append(drivers, c.Drivers()...)
	}
	for _, d := range drivers {
		produce(t, cl, topics.Name(ridematch.RoleDriverLocations), d.DriverID, d.AppendJSON(nil))
	}
	for _, c := range cases {
		for _, r := range c.Requests() {
			produce(t, cl, topics.Name(ridematch.RoleRideRequests), r.RequestID, r.AppendJSON(nil))
		}
	}
	victim.signal(t, syscall.SIGKILL)
	t.Logf("%s, the owner of region-log partition %d, SIGKILLed %v after the first driver was produced", victim.name, shared, time.Since(s.start).Round(time.Millisecond))
	defer keepReporting(cl, topics.Name(ridematch.RoleDriverLocations), drivers)()
	// The replacement joins once the dead member has left the groups, so that its join
	// does not start a rebalance that waits for the dead one.
	waitFor(t, 15*time.Second, "the killed engine to leave the groups", func() bool {
		router, matcher, err := groupSizes(adm)
		return err == nil && router == 1 && matcher == 1
	})
	m3 := f.borderMatch("m3", addr)

	l := collect(t, addr, 40*time.Second)
	l.check(t)
	outcomes := map[string]bordertest.Outcome{}
	for id, outs := range l.outcomes {
		if len(outs) > 0 {
			outcomes[id] = bordertest.Outcome{Type: outs[0].EventType, DriverID: outs[0].DriverID}
		}
	}
	bad := 0
	for _, c := range cases {
		if err := c.CheckSearchesAgain(outcomes); err != nil {
			bad++
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	f.requireRunning(survivor, m3)
	t.Logf("%s; %d of %d contentions as issue 19 wants; took %v", l.summary(), len(cases)-bad, len(cases), time.Since(s.start).Round(time.Second))
}

// borderMatch starts `ridematch match` as match does, with a 20 s request TTL.
func (f *fleet) borderMatch(name, addr string) *proc {
	f.t.Helper()
	args := matchArgs(addr)
	for i, a := range args {
		if a == "--request-ttl" {
			args[i+1] = "20s"
		}
	}
	return f.start(name, args...)
}

// keepReporting has the drivers report where they stand every two seconds, as drivers'
// apps do, so that no position goes stale (30 s) while the groups recover from the kill;
// the function it returns stops them.
func keepReporting(cl *kgo.Client, topic string, drivers []event.DriverLocation) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			for _, d := range drivers {
				d.Time = event.TimeOf(time.Now().UTC())
				// A lost report is made good by the next one.
				cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: []byte(d.DriverID), Value: d.AppendJSON(nil)}, nil)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// waitStable waits until both of the engine's groups are stable with members members,
// each assigned partitions.
func waitStable(t *testing.T, adm *kadm.Client, members int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("both groups to be stable with %d members", members), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, "ridematch-router", "ridematch-matcher")
		if err != nil || groups.Error() != nil {
			return false
		}
		for _, g := range groups {
			if g.State != "Stable" || len(g.Members) != members {
				return false
			}
			for _, m := range g.Members {
				if a, ok := m.Assigned.AsConsumer(); !ok || len(a.Topics) == 0 {
					return false
				}
			}
		}
		return true
	})
}

// processContentions lays out bordertest's twelve contentions at the four crossings of
// Mumbai's partition borders closest to its places that are 12 km apart, and returns them
// with the region-log partition that every one of them involves.
func processContentions(t *testing.T, now time.Time) ([]bordertest.Contention, int32) {
	t.Helper()
	city, err := geo.CityNamed("mumbai")
	if err != nil {
		t.Fatal(err)
	}
	metro := bordertest.MetroOf(city, 25)
	n := ridematch.DefaultTopics().Get(ridematch.RoleRegionLog).Partitions
	crossings := bordertest.Spread(metro.Pairs(n), 12, 1)
	slices.SortStableFunc(crossings, func(a, b bordertest.Crossing) int { return cmp.Compare(metro.Reach(a.At), metro.Reach(b.At)) })
	cases, err := bordertest.Contentions(crossings[:min(4, len(crossings))], "k", now)
	if err != nil {
		t.Fatal(err)
	}
	involved := map[int32]int{}
	for _, c := range cases {
		for _, p := range []geo.Point{c.FarRider.Pickup, c.NearRider.Pickup} {
			involved[router.PartitionOf(bordertest.Region(p), n)]++
		}
	}
	// Each case has one rider on each side of its border: a partition in every case is
	// counted once in each.
	shared := int32(-1)
	for p, k := range involved {
		if k == len(cases) && (shared < 0 || p < shared) {
			shared = p
		}
	}
	if shared < 0 {
		t.Fatalf("no region-log partition is in every contention (%v): the layout is not the one this test expects", involved)
	}
	return cases, shared
}

// ownerOf returns which of ps is the member of group assigned partition p of topic, or nil.
// The broker names each member's address; /proc says which process holds that socket.
func ownerOf(t *testing.T, adm *kadm.Client, group, topic string, p int32, ps ...*proc) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	groups, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Logf("describing %s: %v", group, err)
		return nil
	}
	for _, m := range groups[group].Members {
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, at := range a.Topics {
			if at.Topic == topic && slices.Contains(at.Partitions, p) {
				return holderOf(m.ClientHost, ps)
			}
		}
	}
	return nil
}

// holderOf returns which of ps has a TCP socket whose local address is addr (host:port).
func holderOf(addr string, ps []*proc) *proc {
	port, err := strconv.ParseUint(addr[strings.LastIndexByte(addr, ':')+1:], 10, 16)
	if err != nil {
		return nil
	}
	inode := socketInode(port)
	if inode == "" {
		return nil
	}
	for _, p := range ps {
		dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && link == "socket:["+inode+"]" {
				return p
			}
		}
	}
	return nil
}

// socketInode is the inode of the IPv4 TCP socket bound locally to port, from
// /proc/net/tcp, or "".
func socketInode(port uint64) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) > 9 && strings.HasSuffix(fields[1], want) {
			return fields[9]
		}
	}
	return ""
}
