//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// The harness of the process tests (process_test.go): the binary, built once; the
// processes a test starts, each with its own log; and the checks of how they stop.
//
// The file is Linux only: every child gets SIGKILL when the test binary dies (Pdeathsig),
// so a test that times out or panics leaves no engine spinning and no broker holding a
// port.

// TestMain removes the binary the process tests built, if any. It is the package's only
// TestMain: a goleak check or anything else wanted for every test goes here too.
func TestMain(m *testing.M) {
	code := m.Run()
	builtBinary.remove()
	os.Exit(code)
}

// builtBinary is the ridematch binary, built on first use and shared by every process
// test of this test binary: a package variable because TestMain must find it to remove it.
var builtBinary binaryBuild

type binaryBuild struct {
	once      sync.Once
	dir, path string
	err       error
}

// get builds the binary the first time it is asked for.
func (b *binaryBuild) get(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if b.dir, b.err = os.MkdirTemp("", "ridematch-process-test-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "ridematch")
		cmd := exec.Command(goTool, "build", "-o", b.path, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("building ridematch: %v", b.err)
	}
	return b.path
}

func (b *binaryBuild) remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// fleet is the processes one test started. Its cleanup kills those still running and,
// when the test failed, prints the end of every log.
type fleet struct {
	t     *testing.T
	bin   string
	dir   string
	procs []*proc
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{t: t, bin: builtBinary.get(t), dir: t.TempDir()}
	t.Cleanup(f.cleanup)
	return f
}

func (f *fleet) cleanup() {
	for _, p := range f.procs {
		if p.running() {
			_ = p.cmd.Process.Kill()
		}
	}
	for _, p := range f.procs {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			f.t.Errorf("%s (pid %d) still running 10s after SIGKILL", p.name, p.cmd.Process.Pid)
		}
	}
	if dir := os.Getenv("RIDEMATCH_PROCESS_LOGS"); dir != "" {
		f.keepLogs(filepath.Join(dir, strings.ReplaceAll(f.t.Name(), "/", "_")))
	}
	if f.t.Failed() {
		for _, p := range f.procs {
			f.t.Logf("--- last lines of %s: ridematch %s (%s)\n%s", p.name, strings.Join(p.args, " "), p.exitState(), lastLines(p.output(), 40))
		}
	}
}

// keepLogs copies every process's log into dir, for RIDEMATCH_PROCESS_LOGS.
func (f *fleet) keepLogs(dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Errorf("keeping the logs: %v", err)
		return
	}
	for _, p := range f.procs {
		if err := os.WriteFile(filepath.Join(dir, p.name+".log"), []byte(p.output()), 0o644); err != nil {
			f.t.Errorf("keeping the logs: %v", err)
		}
	}
	f.t.Logf("process logs kept in %s", dir)
}

// proc is one ridematch process, its stdout and stderr in one log file.
type proc struct {
	name    string
	args    []string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	// Set before done is closed.
	state    *os.ProcessState
	exitedAt time.Time
}

// start runs `ridematch args...` as a child process named name (its log is name.log).
func (f *fleet) start(name string, args ...string) *proc {
	f.t.Helper()
	p := &proc{name: name, args: args, logPath: filepath.Join(f.dir, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		f.t.Fatal(err)
	}
	p.cmd = exec.Command(f.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		f.t.Fatalf("starting %s: %v", name, err)
	}
	f.procs = append(f.procs, p)
	// Owned by the fleet: cleanup kills the process, which ends this goroutine.
	go func() {
		_ = p.cmd.Wait()
		p.state, p.exitedAt = p.cmd.ProcessState, time.Now()
		logFile.Close()
		close(p.done)
	}()
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig and returns when it was sent.
func (p *proc) signal(t *testing.T, sig os.Signal) time.Time {
	t.Helper()
	at := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling %s: %v", p.name, err)
	}
	return at
}

// waitExit waits until the process has exited or deadline has passed, and returns its
// exit code (-1 when a signal ended it) and whether it exited.
func (p *proc) waitExit(deadline time.Time) (int, bool) {
	select {
	case <-p.done:
		return p.state.ExitCode(), true
	case <-time.After(time.Until(deadline)):
		return 0, false
	}
}

func (p *proc) exitState() string {
	if p.running() {
		return "running"
	}
	return p.state.String()
}

func (p *proc) output() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.logPath, err)
	}
	return string(b)
}

// logEntry is one line of a `--log-format json` log.
type logEntry struct {
	Level   string    `json:"level"`
	Message string    `json:"message"`
	Stage   string    `json:"stage"`
	Time    time.Time `json:"time"`
	// DriversIn is the driver updates a status line says were consumed since the last.
	DriversIn uint64 `json:"drivers_in"`
	raw       string
}

// entries returns the JSON lines of the process's log; other lines (what a command prints
// to stdout) are skipped.
func (p *proc) entries() []logEntry {
	var out []logEntry
	sc := bufio.NewScanner(strings.NewReader(p.output()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e logEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Message != "" {
			e.raw = sc.Text()
			out = append(out, e)
		}
	}
	return out
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// broker starts `ridematch broker` on addr and waits until it says it is listening.
func (f *fleet) broker(name, addr string, extra ...string) *proc {
	f.t.Helper()
	p := f.start(name, append([]string{"broker", "--listen", addr, "--log-format", "json"}, extra...)...)
	waitFor(f.t, 15*time.Second, name+" to listen on "+addr, func() bool {
		if !p.running() {
			f.t.Fatalf("%s exited (%s) before it listened:\n%s", name, p.exitState(), lastLines(p.output(), 20))
		}
		return strings.Contains(p.output(), "broker listening on "+addr)
	})
	return p
}

// matchArgs are the flags every engine of these tests runs with: the acceptance scripts'
// --request-ttl, JSON logs the tests read, and a status line now and then for whoever
// reads a failed test's logs.
func matchArgs(addr string) []string {
	return []string{"match", "--brokers", addr, "--request-ttl", "5s", "--log-format", "json", "--status-interval", "2s"}
}

// match starts `ridematch match` on the broker at addr.
func (f *fleet) match(name, addr string) *proc {
	f.t.Helper()
	return f.start(name, matchArgs(addr)...)
}

// waitReady waits until both of the engine's stages have said they are ready at least
// once: joined their groups with every partition they own rebuilt.
func (f *fleet) waitReady(p *proc) {
	f.t.Helper()
	waitFor(f.t, 20*time.Second, p.name+" to be ready", func() bool {
		if !p.running() {
			f.t.Fatalf("%s exited (%s) before it was ready", p.name, p.exitState())
		}
		ready := map[string]bool{}
		for _, e := range p.entries() {
			if e.Message == "ready: every partition owned is rebuilt" {
				ready[e.Stage] = true
			}
		}
		return ready["router"] && ready["matcher"]
	})
}

// simulate starts `ridematch simulate` on addr with the acceptance scripts' settings.
func (f *fleet) simulate(name, addr string, seed, rate int, duration time.Duration) *proc {
	f.t.Helper()
	return f.start(name, "simulate", "--brokers", addr, "--drivers", "2000", "--rate", strconv.Itoa(rate),
		"--duration", duration.String(), "--seed", strconv.Itoa(seed), "--log-format", "json")
}

// waitSuccess waits for a process that ends by itself, such as the simulator, and fails
// the test unless it exits 0 within d.
func (f *fleet) waitSuccess(p *proc, d time.Duration) {
	f.t.Helper()
	code, ok := p.waitExit(time.Now().Add(d))
	switch {
	case !ok:
		f.t.Fatalf("%s still running after %v", p.name, d)
	case code != 0:
		f.t.Fatalf("%s exited with %s:\n%s", p.name, p.exitState(), lastLines(p.output(), 10))
	}
	f.t.Logf("%s: %s", p.name, lastLines(p.output(), 1))
}

// requireRunning fails the test if any of ps has exited.
func (f *fleet) requireRunning(ps ...*proc) {
	f.t.Helper()
	for _, p := range ps {
		if !p.running() {
			f.t.Fatalf("%s died (%s):\n%s", p.name, p.exitState(), lastLines(p.output(), 10))
		}
	}
}

// gracefulStopWithin is what issue 3 asks of SIGTERM: finish the batch in hand, commit or
// abort, leave the groups, exit, all within 5 s.
const gracefulStopWithin = 5 * time.Second

// stopGracefully sends SIGTERM to an engine and checks it stops as promised: exit code 0
// within 5 s, a log that says the engine stopped with no failure after the signal, and
// the groups down to the members that remain (want) within 5 s of the signal, well
// before the 6 s session timeout would have removed a member that did not leave.
func (f *fleet) stopGracefully(p *proc, adm *kadm.Client, want int) {
	f.t.Helper()
	sent := p.signal(f.t, syscall.SIGTERM)
	deadline := sent.Add(gracefulStopWithin)
	code, ok := p.waitExit(deadline)
	if !ok {
		f.t.Fatalf("%s still running %v after SIGTERM", p.name, gracefulStopWithin)
	}
	took := p.exitedAt.Sub(sent)
	f.t.Logf("%s exited %v after SIGTERM", p.name, took.Round(time.Millisecond))
	if code != 0 {
		f.t.Errorf("%s exited with %s after SIGTERM, want exit code 0", p.name, p.exitState())
	}
	stopped := false
	for _, e := range p.entries() {
		switch {
		case e.Message == "engine stopped":
			stopped = true
		case e.Time.Before(sent):
		case e.Level == "error" || e.Level == "fatal" || e.Level == "panic",
			e.Message == "leaving the group took more than 5s",
			e.Message == "stage session failed; starting a new one with state rebuilt from the log":
			f.t.Errorf("%s logged after SIGTERM: %s", p.name, e.raw)
		}
	}
	if !stopped {
		f.t.Errorf(`%s did not log "engine stopped" after SIGTERM`, p.name)
	}
	for {
		router, matcher, err := groupSizes(adm)
		if err == nil && router == want && matcher == want {
			f.t.Logf("the groups were down to %d members %v after SIGTERM", want, time.Since(sent).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			f.t.Errorf("%v after SIGTERM to %s the groups have %d (router) and %d (matcher) members (%v), want %d: it did not leave them",
				time.Since(sent).Round(time.Millisecond), p.name, router, matcher, err, want)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// groupSizes returns how many members the engine's two consumer groups have.
func groupSizes(adm *kadm.Client) (router, matcher int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	groups, err := adm.DescribeGroups(ctx, "ridematch-router", "ridematch-matcher")
	if err != nil {
		return 0, 0, err
	}
	if err := groups.Error(); err != nil {
		return 0, 0, err
	}
	return len(groups["ridematch-router"].Members), len(groups["ridematch-matcher"].Members), nil
}

// schedule runs a test's steps at fixed offsets from its start.
type schedule struct{ start time.Time }

func (s schedule) at(d time.Duration) { time.Sleep(time.Until(s.start.Add(d))) }

// stopGracefullyExitOnly is stopGracefully without the group check, for runs where a
// SIGKILLed member may still be in the groups.
func (f *fleet) stopGracefullyExitOnly(p *proc) {
	f.t.Helper()
	sent := p.signal(f.t, syscall.SIGTERM)
	code, ok := p.waitExit(sent.Add(gracefulStopWithin))
	if !ok {
		f.t.Fatalf("%s still running %v after SIGTERM", p.name, gracefulStopWithin)
	}
	if code != 0 {
		f.t.Errorf("%s exited with %s after SIGTERM, want exit code 0", p.name, p.exitState())
	}
}
