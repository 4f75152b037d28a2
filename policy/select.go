package policy

import (
	"runtime"
	"sync"

	"cel.dev/cel-go/cel"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/policy/internal/index"
	"github.com/copyguard/copyguard/policy/internal/query"
)

// selection is one copy that at least one cancel policy selected.
type selection struct {
	copy     *cloud.Copy
	policies []*Policy // cancel policies, in load order
	vetoed   []*Policy // protect policies that matched
}

// run is one fired policy's work for this trigger: the copies its match
// must be run on, and the index terms left to check on each of them.
type run struct {
	p *Policy
	// m is what to run on each candidate: the match, or what is left of
	// it after the index lookup; nil when nothing is left.
	m *query.Matcher
	// none is set when the index terms show that no copy can match.
	none bool
	// copies are the candidates; nil with none unset means "every copy"
	// (for a cancel policy, the snapshot of the whole inventory; for a
	// protect policy, every selected copy).
	copies  []*cloud.Copy
	filters []query.Values
	// terms are all usable index terms, filters those not used to look
	// up copies.
	terms []query.Values
}

// prepare evaluates the index terms of the fired policies (CEL, without
// the lock) and then, under one read lock, looks up the candidates of the
// cancel policies. One lock for all lookups means every copy has one
// pointer for the whole evaluation, so selections can be keyed by pointer.
func (ev *evaluation) prepare(cancels, protects []*Policy) (cr, pr []run) {
	cr, pr = make([]run, len(cancels)), make([]run, len(protects))
	for i, p := range cancels {
		cr[i] = ev.terms(p)
	}
	for i, p := range protects {
		pr[i] = ev.terms(p)
	}
	ev.idx.Read(func(x index.Reader) {
		ev.gen = x.Gen()
		var all []*cloud.Copy
		for i := range cr {
			r := &cr[i]
			if r.none {
				continue
			}
			if len(r.filters) == 0 {
				if all == nil {
					all = x.All()
				}
				r.copies = all
			} else {
				r.narrow(x, -1)
			}
		}
	})
	return cr, pr
}

// narrowProtects looks up the candidates of the protect policies whose
// index terms give fewer copies than were selected. It does so only if
// the index has not changed since prepare: the candidates are matched to
// the selections by pointer, and a copy replaced in between would have a
// new one, and so escape its veto.
func (ev *evaluation) narrowProtects(runs []run, selected int) {
	ev.idx.Read(func(x index.Reader) {
		if x.Gen() != ev.gen {
			return
		}
		for i := range runs {
			if r := &runs[i]; !r.none && len(r.filters) > 0 {
				r.narrow(x, selected)
			}
		}
	})
}

// narrow looks up the candidates of the narrowest term, unless there are
// at least limit of them (limit < 0: no limit); the other terms stay as
// filters.
func (r *run) narrow(x index.Reader, limit int) {
	best, bestN := 0, -1
	for i := range r.filters {
		if n := x.Count(r.filters[i].Term.Key, r.filters[i].Values); bestN < 0 || n < bestN {
			best, bestN = i, n
		}
	}
	if bestN == 0 {
		r.none = true
		return
	}
	if limit >= 0 && bestN >= limit {
		return
	}
	r.copies = x.Lookup(r.filters[best].Term.Key, r.filters[best].Values)
	r.filters = append(r.terms[:best:best], r.terms[best+1:]...)
	switch t := r.terms[best].Term; {
	case t.RestTrue:
		r.m = nil
	case t.Rest != nil:
		r.m = t.Rest
	}
}

// terms evaluates a policy's index terms for this trigger. A failing
// right-hand side is recorded once, rather than once per copy as running
// the match would.
func (ev *evaluation) terms(p *Policy) run {
	r := run{p: p, m: p.match}
	if ev.plain {
		return r
	}
	for i := range p.terms {
		tv, usable := p.terms[i].Eval(&ev.act)
		if !usable {
			continue
		}
		if tv.Err != nil {
			ev.errs.add(EvalError{Policy: p.Name, Field: "match", Message: tv.Err.Error() + " (in " + tv.Term.Src + ", so no copy matches)"})
			r.none = true
			return r
		}
		if len(tv.Values) == 0 {
			r.none = true
			return r
		}
		r.terms = append(r.terms, tv)
	}
	r.filters = r.terms
	return r
}

// selectAll runs the cancel policies and groups what they select, one
// selection per copy, in first-selected order.
func (ev *evaluation) selectAll(runs []run) []selection {
	ev.selected = map[*cloud.Copy]int32{}
	var out []selection
	for i := range runs {
		r := &runs[i]
		if r.none {
			continue
		}
		// A one-element slice with cap 1 shared by all copies selected by
		// this policy alone; a second policy's append copies it.
		alone := []*Policy{r.p}
		for _, c := range ev.scanAll(r) {
			if j, ok := ev.selected[c]; ok {
				// Candidates are distinct within one policy: no duplicates.
				out[j].policies = append(out[j].policies, r.p)
				continue
			}
			ev.selected[c] = int32(len(out))
			out = append(out, selection{copy: c, policies: alone})
		}
	}
	return out
}

// parallelMin is the candidate count from which a match is spread over
// all cores; below it the goroutines cost more than they save.
const parallelMin = 4096

// scanAll runs a cancel policy's match on its candidates. Chunks are
// joined in order, so the outcome is that of a sequential scan.
func (ev *evaluation) scanAll(r *run) []*cloud.Copy {
	prg := ev.program(r.m)
	workers := workersFor(len(r.copies))
	parts := make([][]*cloud.Copy, workers)
	ev.parallel(len(r.copies), workers, func(w, lo, hi int, act *activation, errs *errorLog) {
		parts[w] = ev.scan(r.p, prg, r.copies[lo:hi], r.filters, act, errs)
	})
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]*cloud.Copy, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func (ev *evaluation) scan(p *Policy, prg cel.Program, copies []*cloud.Copy, filters []query.Values, act *activation, errs *errorLog) []*cloud.Copy {
	if prg == nil && len(filters) == 0 {
		return copies // the index lookup decided: no copy needs reading
	}
	var out []*cloud.Copy
	for _, c := range copies {
		if query.Passes(c, filters) && ev.match(p, prg, c, act, errs) {
			out = append(out, c)
		}
	}
	return out
}

// veto runs the fired protect policies on the selected copies only: a
// protect policy has nothing to veto on a copy no cancel policy wants.
// When the index gives a protect policy fewer candidates than there are
// selected copies, it walks those candidates instead.
func (ev *evaluation) veto(sel []selection, runs []run) {
	if len(sel) == 0 {
		return
	}
	ev.narrowProtects(runs, len(sel))
	for i := range runs {
		r := &runs[i]
		if r.none {
			continue
		}
		prg := ev.program(r.m)
		if r.copies != nil {
			for _, c := range r.copies {
				j, ok := ev.selected[c]
				if ok && query.Passes(c, r.filters) && ev.match(r.p, prg, c, &ev.act, &ev.errs) {
					sel[j].vetoed = append(sel[j].vetoed, r.p)
				}
			}
			continue
		}
		ev.parallel(len(sel), workersFor(len(sel)), func(_, lo, hi int, act *activation, errs *errorLog) {
			for j := lo; j < hi; j++ {
				s := &sel[j]
				if query.Passes(s.copy, r.terms) && ev.match(r.p, prg, s.copy, act, errs) {
					s.vetoed = append(s.vetoed, r.p)
				}
			}
		})
	}
}

// workersFor is how many goroutines share a loop over n items: one per
// core from parallelMin items, else one. Read once per loop, so that the
// chunk count cannot change under it.
func workersFor(n int) int {
	if n < parallelMin {
		return 1
	}
	return max(runtime.GOMAXPROCS(0), 1)
}

// parallel calls work on [0, n) split into workers contiguous chunks (w
// numbers the chunk), each with its own activation and error log, which
// are merged afterwards; work must touch only its own range.
func (ev *evaluation) parallel(n, workers int, work func(w, lo, hi int, act *activation, errs *errorLog)) {
	if workers < 2 {
		work(0, 0, n, &ev.act, &ev.errs)
		return
	}
	logs := make([]errorLog, workers)
	parallelRange(n, workers, func(w, lo, hi int) {
		act := ev.act
		act.frame = nil // the frame points at ev.act
		work(w, lo, hi, &act, &logs[w])
	})
	for w := range logs {
		ev.errs.merge(&logs[w])
	}
}

// parallelRange calls f on [0, n) split into workers contiguous chunks (w
// numbers the chunk, from 0) and returns when all calls have.
func parallelRange(n, workers int, f func(w, lo, hi int)) {
	if workers < 2 {
		f(0, 0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	var once sync.Once
	var panicked any
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A panic is raised again in the caller's goroutine, where the
			// worker's handler recovers it; here it would end the process.
			defer func() {
				if r := recover(); r != nil {
					once.Do(func() { panicked = r })
				}
			}()
			f(w, lo, hi)
		}()
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
}
