package check

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

const (
	metricsDoc    = "../../docs/metrics.md"
	operationsDoc = "../../docs/operations.md"
	rulesFile     = "../prometheus/alerts.yaml"
	dashboardFile = "../prometheus/dashboard.json"
)

// targetLabels are added by Prometheus' scrape (and Kubernetes service
// discovery relabelling), not by copyguard.
var targetLabels = []string{"job", "instance", "pod", "namespace"}

// docMetric is one row of docs/metrics.md.
type docMetric struct {
	typ    string
	labels []string
}

var rowRE = regexp.MustCompile("^\\| `(copyguard_[a-z0-9_]+)` \\| ([a-z]+) \\| (.*?) \\| .* \\|$")

// metricsReference reads the table of docs/metrics.md, which a test of
// the product module keeps equal to what the worker registers.
func metricsReference(t *testing.T) map[string]docMetric {
	t.Helper()
	b, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]docMetric{}
	for _, line := range strings.Split(string(b), "\n") {
		m := rowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labels []string
		for _, l := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(m[3], -1) {
			labels = append(labels, l[1])
		}
		out[m[1]] = docMetric{typ: m[2], labels: labels}
	}
	if len(out) < 10 {
		t.Fatalf("%s: read only %d metrics from its table", metricsDoc, len(out))
	}
	return out
}

// lookup finds a series name in the reference: a histogram's _bucket,
// _sum and _count are its own.
func lookup(ref map[string]docMetric, name string) (docMetric, bool) {
	if m, ok := ref[name]; ok {
		return m, m.typ != "histogram" && m.typ != "summary"
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if m, ok := ref[strings.TrimSuffix(name, suf)]; ok && strings.HasSuffix(name, suf) && (m.typ == "histogram" || m.typ == "summary") {
			if suf == "_bucket" {
				m.labels = append(slices.Clone(m.labels), "le")
			}
			return m, true
		}
	}
	return docMetric{}, false
}

// checkExpr parses a PromQL expression with Prometheus' parser and checks
// every series it selects against the reference: the name exists (a
// histogram by its _bucket/_sum/_count series), each label matched is one
// the series has, and a set operation (and, or, unless) without on() or
// ignoring() joins sides that keep the same labels, or it never matches.
func checkExpr(t *testing.T, where, expr string, ref map[string]docMetric) {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			m, ok := lookup(ref, n.Name)
			if !ok {
				t.Errorf("%s: %q is not a series of %s", where, n.Name, metricsDoc)
				return nil
			}
			for _, lm := range n.LabelMatchers {
				if lm.Name != model.MetricNameLabel && !slices.Contains(m.labels, lm.Name) && !slices.Contains(targetLabels, lm.Name) {
					t.Errorf("%s: %s has no label %q (it has %v)", where, n.Name, lm.Name, m.labels)
				}
			}
		case *parser.BinaryExpr:
			if n.Op.IsSetOperator() && (n.VectorMatching == nil || len(n.VectorMatching.MatchingLabels) == 0 && !n.VectorMatching.On) {
				l, r := labelsOf(n.LHS, ref), labelsOf(n.RHS, ref)
				if l != nil && r != nil && !slices.Equal(l, r) {
					t.Errorf("%s: %s joins series labelled %v with %v: it never matches; aggregate both sides to the same labels", where, n.Op, l, r)
				}
			}
		}
		return nil
	})
}

// labelsOf infers the copyguard labels (target labels aside) an
// expression's result keeps, or nil when it cannot tell.
func labelsOf(e parser.Expr, ref map[string]docMetric) []string {
	var out []string
	switch e := e.(type) {
	case *parser.VectorSelector:
		m, ok := lookup(ref, e.Name)
		if !ok {
			return nil
		}
		out = slices.Clone(m.labels)
	case *parser.MatrixSelector:
		return labelsOf(e.VectorSelector, ref)
	case *parser.ParenExpr:
		return labelsOf(e.Expr, ref)
	case *parser.Call:
		if len(e.Args) == 0 || !slices.Contains([]string{"rate", "increase", "irate", "delta", "abs"}, e.Func.Name) {
			return nil
		}
		return labelsOf(e.Args[0], ref)
	case *parser.AggregateExpr:
		inner := labelsOf(e.Expr, ref)
		if e.Without {
			if inner == nil {
				return nil
			}
			for _, l := range inner {
				if !slices.Contains(e.Grouping, l) {
					out = append(out, l)
				}
			}
		} else {
			out = slices.Clone(e.Grouping)
		}
	case *parser.BinaryExpr:
		if e.LHS.Type() == parser.ValueTypeVector && e.RHS.Type() == parser.ValueTypeScalar {
			return labelsOf(e.LHS, ref)
		}
		return nil
	default:
		return nil
	}
	out = slices.DeleteFunc(out, func(l string) bool { return slices.Contains(targetLabels, l) })
	slices.Sort(out)
	return append([]string{}, out...)
}

// TestAlertRules parses the rules with Prometheus' own rule loader
// (unknown fields refused, expressions and templates checked) and checks
// every expression against the metrics reference, every alert's labels
// and annotations, its runbook's anchor in docs/operations.md, and that
// each situation the operators asked to be told about has an alert.
func TestAlertRules(t *testing.T) {
	ref := metricsReference(t)
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	anchors := markdownAnchors(t, operationsDoc)
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := rulesFile + ": " + r.Alert + r.Record
			if r.Alert == "" {
				t.Errorf("%s: only alerts belong in this file", where)
				continue
			}
			alerts = append(alerts, r.Alert)
			checkExpr(t, where, r.Expr, ref)
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("%s: severity %q, want critical, warning or info", where, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", where, a)
				}
			}
			rb := r.Annotations["runbook"]
			file, anchor, _ := strings.Cut(rb, "#")
			if file != "docs/operations.md" || !anchors[anchor] {
				t.Errorf("%s: runbook %q is not a heading of %s", where, rb, operationsDoc)
			}
		}
	}
	for _, want := range []string{
		"CopyguardCancelFailed",        // failed results
		"CopyguardCircuitOpen",         // circuit open
		"CopyguardCredentialsRefused",  // the circuit breaker's cause
		"CopyguardPausedTooLong",       // paused too long
		"CopyguardReconcileFailing",    // reconcile failing
		"CopyguardPolicyReloadRefused", // policy reload refused
		"CopyguardNATSDisconnected",    // NATS disconnected
		"CopyguardDecidedButNotCalled", // work pending too long
		"CopyguardSlowToCall",          // work pending too long, latency
		"CopyguardNotReady",            // not ready
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

// markdownAnchors lists the anchors of a Markdown file's headings, as
// GitHub makes them.
func markdownAnchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		h = regexp.MustCompile(`[^a-z0-9 _-]`).ReplaceAllString(h, "")
		out[strings.ReplaceAll(h, " ", "-")] = true
	}
	return out
}

// grafanaVars stand in for Grafana's variables so that Prometheus' parser
// can read a panel's query.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"$job", ".*", "$region", ".*", "${job}", ".*", "${region}", ".*")

// TestDashboard reads the Grafana dashboard, parses every panel's query
// and every variable's label_values() with Prometheus' parser, checks
// them against the metrics reference, and checks that it has the panels
// asked for (decisions, results, latency, limiter, inventory).
func TestDashboard(t *testing.T) {
	ref := metricsReference(t)
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	}
	type panel struct {
		ID      int       `json:"id"`
		Type    string    `json:"type"`
		Title   string    `json:"title"`
		Targets []target  `json:"targets"`
		Panels  []panel   `json:"panels"`
		DS      *struct{} `json:"datasource"`
	}
	var dash struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	ids := map[int]bool{}
	var rows []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				rows = append(rows, strings.ToLower(p.Title))
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 || p.DS == nil {
				t.Errorf("panel %q: no query or no data source", p.Title)
			}
			for _, tg := range p.Targets {
				checkExpr(t, "panel "+p.Title+" "+tg.RefID, grafanaVars.Replace(tg.Expr), ref)
			}
		}
	}
	walk(dash.Panels)
	for _, want := range []string{"decisions", "results", "latency", "limiter", "inventory"} {
		if !slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, want) }) {
			t.Errorf("no row about %s (rows: %v)", want, rows)
		}
	}
	lv := regexp.MustCompile(`^label_values\(([a-z_:][a-z0-9_:]*), *([a-z_]+)\)$`)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := lv.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(metric, label)", v.Name, v.Definition)
			continue
		}
		checkExpr(t, "variable "+v.Name, m[1]+`{`+m[2]+`!=""}`, ref)
	}
}
