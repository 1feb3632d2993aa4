package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
)

// The dashboard docker-compose.yml provisions, and the data source it names by uid.
const (
	dashboardFile   = "grafana/ridematch.json"
	datasourcesFile = "grafana/provisioning/datasources/prometheus.yml"
)

// dashboard is what the tests read of a Grafana dashboard's JSON model.
type dashboard struct {
	UID           string           `json:"uid"`
	Title         string           `json:"title"`
	SchemaVersion int              `json:"schemaVersion"`
	Panels        []dashboardPanel `json:"panels"`
	Templating    struct {
		List []templateVariable `json:"list"`
	} `json:"templating"`
}

type dashboardPanel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *datasourceRef `json:"datasource"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		Datasource *datasourceRef `json:"datasource"`
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type templateVariable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *datasourceRef  `json:"datasource"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": "..."}
}

// promQuery is one PromQL expression of the dashboard, and where it is.
type promQuery struct {
	where, expr string
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// panels returns every panel, those inside collapsed rows included.
func (d dashboard) panels() []dashboardPanel {
	var all []dashboardPanel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	return all
}

// queries returns every PromQL expression: the panels' targets and the query variables.
func (d dashboard) queries() ([]promQuery, error) {
	var qs []promQuery
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			qs = append(qs, promQuery{fmt.Sprintf("panel %d %q, target %s", p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q.Query); err != nil {
			if err := json.Unmarshal(v.Query, &q); err != nil {
				return nil, fmt.Errorf("variable %s: query is neither a string nor {\"query\": ...}: %w", v.Name, err)
			}
		}
		qs = append(qs, promQuery{"variable " + v.Name, q.Query})
	}
	return qs, nil
}

// selector is a metric name a PromQL expression references, with its label matchers.
type selector struct {
	metric   string
	matchers []labelMatcher
}

type labelMatcher struct {
	label, op, value string
}

// selectors finds the ridematch_ and kgo_ metrics an expression references: identifiers
// outside string literals, with the matchers of the braces that follow them. It is a
// tokenizer, not a PromQL parser: enough for the expressions a dashboard holds.
func selectors(expr string) []selector {
	var found []selector
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			_, i = stringLiteral(expr, i)
		case c == '#': // a comment, to the end of the line
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '$': // a Grafana variable: $name or ${name}
			i++
			if i < len(expr) && expr[i] == '{' {
				for i < len(expr) && expr[i] != '}' {
					i++
				}
			}
			for i < len(expr) && isIdentChar(expr[i]) {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdentChar(expr[j]) {
				j++
			}
			name := expr[i:j]
			i = j
			if !strings.HasPrefix(name, "ridematch_") && !strings.HasPrefix(name, "kgo_") {
				continue
			}
			s := selector{metric: name}
			for i < len(expr) && expr[i] == ' ' {
				i++
			}
			if i < len(expr) && expr[i] == '{' {
				s.matchers, i = matchers(expr, i+1)
			}
			found = append(found, s)
		default:
			i++
		}
	}
	return found
}

// matchers reads label matchers (label op "value", separated by commas) from expr[i:] up
// to the closing brace, and returns them and the index after it.
func matchers(expr string, i int) ([]labelMatcher, int) {
	var ms []labelMatcher
	for i < len(expr) && expr[i] != '}' {
		if !isIdentStart(expr[i]) {
			i++
			continue
		}
		j := i
		for j < len(expr) && isIdentChar(expr[j]) {
			j++
		}
		m := labelMatcher{label: expr[i:j]}
		for j < len(expr) && expr[j] == ' ' {
			j++
		}
		k := j
		for k < len(expr) && strings.IndexByte("=!~", expr[k]) >= 0 {
			k++
		}
		m.op = expr[j:k]
		for k < len(expr) && expr[k] == ' ' {
			k++
		}
		m.value, i = stringLiteral(expr, k)
		ms = append(ms, m)
	}
	return ms, min(i+1, len(expr))
}

// stringLiteral reads the quoted string at expr[i] and returns its content and the index
// after its closing quote.
func stringLiteral(expr string, i int) (string, int) {
	if i >= len(expr) {
		return "", i
	}
	q := expr[i]
	var b strings.Builder
	for j := i + 1; j < len(expr); j++ {
		switch {
		case expr[j] == q:
			return b.String(), j + 1
		case expr[j] == '\\' && q != '`' && j+1 < len(expr):
			j++
		}
		b.WriteByte(expr[j])
	}
	return b.String(), len(expr)
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

func TestSelectors(t *testing.T) {
	tests := []struct {
		give string
		want []selector
	}{
		{`sum by (kind) (rate(ridematch_outcomes_total{instance=~"$instance"}[$__rate_interval]))`,
			[]selector{{"ridematch_outcomes_total", []labelMatcher{{"instance", "=~", "$instance"}}}}},
		{`histogram_quantile(0.99, max by (le) (rate(ridematch_match_latency_seconds_bucket{kind="ride_matched", x!="a,}b"}[5m])))`,
			[]selector{{"ridematch_match_latency_seconds_bucket", []labelMatcher{{"kind", "=", "ride_matched"}, {"x", "!=", "a,}b"}}}}},
		{`rate(kgo_fetch_bytes_total[1m]) / ignoring(topic) kgo_produce_bytes_total`,
			[]selector{{"kgo_fetch_bytes_total", nil}, {"kgo_produce_bytes_total", nil}}},
		{`label_values(ridematch_ready, instance)`, []selector{{"ridematch_ready", nil}}},
		{`up{job="ridematch_not_a_metric"} + go_goroutines # ridematch_comment`, nil},
		{`time() - max(ridematch_consumer_lag_updated_timestamp_seconds)`,
			[]selector{{"ridematch_consumer_lag_updated_timestamp_seconds", nil}}},
	}
	for _, tt := range tests {
		if got := selectors(tt.give); !slices.EqualFunc(got, tt.want, func(a, b selector) bool {
			return a.metric == b.metric && slices.Equal(a.matchers, b.matchers)
		}) {
			t.Errorf("selectors(%q) = %v; want %v", tt.give, got, tt.want)
		}
	}
}

// exportedCheck says what is wrong with a selector against a scrape of /metrics, or "".
// A classic histogram or summary is stored by Prometheus as its _bucket, _sum and _count
// series, never under its own name; every other type under its own name. Matchers on
// instance and job (labels Prometheus adds) and on Grafana variables are not checked;
// every other matcher needs its label on the metric, and = and =~ need a series it matches.
func exportedCheck(s selector, families map[string]*dto.MetricFamily) string {
	f := families[s.metric]
	if f != nil && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
		return fmt.Sprintf("%s is a %s: query its _bucket, _sum or _count", s.metric, strings.ToLower(f.GetType().String()))
	}
	if f == nil {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(s.metric, suffix)
			if !ok {
				continue
			}
			if bf := families[base]; bf != nil && (bf.GetType() == dto.MetricType_HISTOGRAM ||
				suffix != "_bucket" && bf.GetType() == dto.MetricType_SUMMARY) {
				f = bf
			}
		}
	}
	if f == nil {
		return fmt.Sprintf("%s is not exported", s.metric)
	}
	for _, m := range s.matchers {
		if m.label == "instance" || m.label == "job" || strings.Contains(m.value, "$") {
			continue
		}
		hasLabel, matched := false, false
		re, err := regexp.Compile("^(?:" + m.value + ")$")
		if err != nil {
			return fmt.Sprintf("%s{%s%s%q}: %v", s.metric, m.label, m.op, m.value, err)
		}
		for _, series := range f.GetMetric() {
			for _, l := range series.GetLabel() {
				if l.GetName() != m.label {
					continue
				}
				hasLabel = true
				matched = matched || m.op == "=" && l.GetValue() == m.value || m.op == "=~" && re.MatchString(l.GetValue())
			}
		}
		switch {
		case !hasLabel:
			return fmt.Sprintf("%s has no label %s", s.metric, m.label)
		case (m.op == "=" || m.op == "=~") && !matched:
			return fmt.Sprintf("no series of %s has %s%s%q", s.metric, m.label, m.op, m.value)
		}
	}
	return ""
}

// TestDashboardWellFormed checks the dashboard's JSON model: a Grafana 11 dashboard whose
// panels have unique ids, fit the 24-column grid without overlapping, say what they show,
// and query the provisioned Prometheus by its uid; its variables are defined where used.
func TestDashboardWellFormed(t *testing.T) {
	d := readDashboard(t)
	b, err := os.ReadFile(datasourcesFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+uid:\s*(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s provisions no data source with a uid", datasourcesFile)
	}
	dsUID := string(m[1])

	if d.UID == "" || d.Title == "" {
		t.Errorf("the dashboard has uid %q, title %q; want both", d.UID, d.Title)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d; want 39 or later (Grafana 11)", d.SchemaVersion)
	}
	variables := map[string]bool{}
	for _, v := range d.Templating.List {
		variables[v.Name] = true
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != dsUID) {
			t.Errorf("variable %s: data source %+v; want uid %s", v.Name, v.Datasource, dsUID)
		}
	}
	ids := map[int]string{}
	var panels int
	for _, p := range d.panels() {
		if prev, dup := ids[p.ID]; dup || p.ID <= 0 {
			t.Errorf("panel %q has id %d, as has %q; want unique positive ids", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %d %q: gridPos %+v does not fit the 24-column grid", p.ID, p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue // a row holds panels; it queries nothing
		}
		panels++
		if p.Title == "" || p.Description == "" || p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %d %q: want a title, a description and a unit", p.ID, p.Title)
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != dsUID {
			t.Errorf("panel %d %q: data source %+v; want prometheus, uid %s", p.ID, p.Title, p.Datasource, dsUID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no targets", p.ID, p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %d %q: target %q with expression %q; want unique refIds and an expression", p.ID, p.Title, tg.RefID, tg.Expr)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != dsUID {
				t.Errorf("panel %d %q: target %s queries data source %s; want %s", p.ID, p.Title, tg.RefID, tg.Datasource.UID, dsUID)
			}
		}
	}
	if panels == 0 {
		t.Fatal("the dashboard has no panels")
	}
	// Grafana moves overlapping panels about on load: the layout would not be this one.
	taken := map[[2]int]string{}
	for _, p := range d.Panels {
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := taken[[2]int{x, y}]; ok {
					t.Fatalf("panel %q overlaps %q at column %d, row %d", p.Title, other, x, y)
				}
				taken[[2]int{x, y}] = p.Title
			}
		}
	}
	qs, err := d.queries()
	if err != nil {
		t.Fatal(err)
	}
	variable := regexp.MustCompile(`\$\{?(\w+)`)
	for _, q := range qs {
		for _, v := range variable.FindAllStringSubmatch(q.expr, -1) {
			if !strings.HasPrefix(v[1], "__") && !variables[v[1]] {
				t.Errorf("%s uses $%s, which the dashboard does not define", q.where, v[1])
			}
		}
		if len(selectors(q.expr)) == 0 {
			t.Errorf("%s queries no ridematch_ or kgo_ metric: %s", q.where, q.expr)
		}
	}
}

// TestDashboardMetricsExported runs an engine with a simulated city and a malformed
// request, scrapes its /metrics, and checks that every metric the dashboard queries is
// exported, with the labels and label values its matchers name: renaming a metric or a
// label fails here, not on someone's empty panel.
func TestDashboardMetricsExported(t *testing.T) {
	qs, err := readDashboard(t).queries()
	if err != nil {
		t.Fatal(err)
	}
	live := startLive(t)

	// A malformed request, so that ridematch_dead_lettered_total has a reason.
	cl, err := kgo.NewClient(kgo.SeedBrokers(live.broker), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := &kgo.Record{Topic: live.topics.Name(ridematch.RoleRideRequests), Key: []byte("r-bad"), Value: []byte("{not json")}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// The labelled series come with traffic (a match, a lag reading, a fetch): poll
	// until every selector holds or the time is up, then report what does not.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	var problems []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		_, _, body := get(t, live.base+"/metrics")
		families, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("/metrics: %v", err)
		}
		problems = problems[:0]
		for _, q := range qs {
			for _, s := range selectors(q.expr) {
				if p := exportedCheck(s, families); p != "" {
					problems = append(problems, q.where+": "+p)
				}
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, p := range slices.Compact(problems) {
		t.Error(p)
	}
}
