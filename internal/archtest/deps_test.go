package archtest

import (
	"bufio"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// layer is what an imported package is, for the rules.
type layer string

const (
	std     layer = "the standard library"
	core    layer = "core (event, policy, cloud, worker)"
	busPkg  layer = "bus"
	ecsPkg  layer = "cloud/ecs"
	simPkg  layer = "cloud/ecssim"
	data    layer = "examples"
	wiring  layer = "internal/*"
	cmdPkg  layer = "cmd/*"
	natsLib layer = "NATS"
	sdkLib  layer = "the Alibaba Cloud SDK"
	libs    layer = "other third-party modules"
)

// moduleLayer places a package of this module by its path relative to the
// module root; "" means no rule covers it.
func moduleLayer(rel string) layer {
	under := func(p string) bool { return rel == p || strings.HasPrefix(rel, p+"/") }
	switch {
	case under("cloud/ecssim"):
		return simPkg
	case under("cloud/ecs"):
		return ecsPkg
	case rel == "cloud", under("event"), under("policy"), under("worker"):
		return core
	case under("bus"):
		return busPkg
	case under("examples"):
		return data
	case under("internal"):
		return wiring
	case under("cmd"):
		return cmdPkg
	}
	return ""
}

// externalLayer places a package from outside the module.
func externalLayer(path string) layer {
	first, _, _ := strings.Cut(path, "/")
	switch {
	case !strings.Contains(first, "."):
		return std
	case strings.HasPrefix(path, "github.com/nats-io/"):
		return natsLib
	case strings.HasPrefix(path, "github.com/aliyun/alibaba-cloud-sdk-go/"):
		return sdkLib
	}
	return libs
}

// rule says what a layer may import, and why, in STYLE.md's words.
type rule struct {
	may []layer
	// testMay is what its tests may import besides (see checkTest).
	testMay []layer
	why     string
}

// rules is the table the test enforces. A layer missing on the right of
// every rule (cmd/*) is imported by nothing.
func rules() map[layer]rule {
	all := []layer{std, core, busPkg, ecsPkg, simPkg, data, wiring, natsLib, sdkLib, libs}
	return map[layer]rule{
		core: {may: []layer{std, core, libs},
			why: "core packages import no adapter, no wiring (internal/*), no NATS and no cloud SDK; declare a small interface in the core package and implement it in an adapter"},
		busPkg: {may: []layer{std, core, natsLib, libs},
			why: "bus is the JetStream adapter: it imports core and NATS, not the cloud SDK, other adapters or wiring"},
		ecsPkg: {may: []layer{std, core, sdkLib, libs},
			why: "cloud/ecs is the Alibaba adapter: it imports core and the SDK, not NATS, the simulator, other adapters or wiring"},
		simPkg: {may: []layer{std}, testMay: []layer{sdkLib},
			why: "cloud/ecssim shares no code with cloud/ecs, so each checks the other: standard library only (its tests may drive it with the real SDK)"},
		data: {may: []layer{std},
			why: "examples only embeds files"},
		wiring: {may: all,
			why: "internal/* wires core and adapters together; nothing but cmd/ is above it"},
		cmdPkg: {may: all,
			why: "cmd/ imports everything; nothing imports cmd/"},
	}
}

// pkg is one package directory of the module.
type pkg struct {
	rel         string              // path relative to the module root, "" for the root
	imports     map[string][]string // import path → files importing it (non-test files)
	testImports map[string][]string // the same for _test.go files
}

// graph is the module's packages by relative path.
type graph struct {
	module string
	pkgs   map[string]*pkg
}

// rel turns an import path into a module-relative path, or ok=false.
func (g graph) rel(path string) (string, bool) {
	if path == g.module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, g.module+"/")
	return r, ok
}

// layerOf places an import path.
func (g graph) layerOf(path string) layer {
	if r, ok := g.rel(path); ok {
		return moduleLayer(r)
	}
	return externalLayer(path)
}

// closure is every import path p brings in through non-test imports,
// itself excluded.
func (g graph) closure(p string) map[string]bool {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(path string) {
		r, ok := g.rel(path)
		if !ok {
			return
		}
		q := g.pkgs[r]
		if q == nil {
			return
		}
		for imp := range q.imports {
			if !seen[imp] {
				seen[imp] = true
				visit(imp)
			}
		}
	}
	visit(p)
	delete(seen, p)
	return seen
}

func name(rel string) string {
	if rel == "" {
		return "the module root"
	}
	return rel
}

// check returns one line per forbidden arrow, sorted.
func check(g graph) []string {
	rs := rules()
	var bad []string
	for _, p := range g.pkgs {
		from := moduleLayer(p.rel)
		r, ok := rs[from]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: no rule covers this package; place it in moduleLayer and the rules table (internal/archtest)", name(p.rel)))
			continue
		}
		self := g.module
		if p.rel != "" {
			self += "/" + p.rel
		}
		for imp, files := range p.imports {
			to := g.layerOf(imp)
			if !slices.Contains(r.may, to) {
				bad = append(bad, fmt.Sprintf("%s → %s (%s, in %s): %s may not import %s; %s",
					name(p.rel), imp, to, strings.Join(files, ", "), from, to, r.why))
			}
		}
		for imp, files := range p.testImports {
			if msg := checkTest(g, self, from, r, imp); msg != "" {
				bad = append(bad, fmt.Sprintf("%s tests → %s (in %s): %s", name(p.rel), imp, strings.Join(files, ", "), msg))
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// checkTest judges one import of a package's tests. A test may import
// what its package may, the package itself, anything listed in testMay,
// and any helper package (internal/*, cloud/ecssim, ...) that brings in
// no adapter and no outside module the package itself may not import: a
// core package's tests may use internal/waitfor or internal/benchdata,
// but not internal/natstest, which brings in bus and NATS.
func checkTest(g graph, self string, from layer, r rule, imp string) string {
	to := g.layerOf(imp)
	if imp == self || slices.Contains(r.may, to) || slices.Contains(r.testMay, to) {
		return ""
	}
	if to == cmdPkg || to == "" {
		return fmt.Sprintf("nothing may import %s", to)
	}
	if _, ok := g.rel(imp); !ok {
		return fmt.Sprintf("%s may not import %s; %s", from, to, r.why)
	}
	deps := g.closure(imp)
	deps[imp] = true
	via := map[layer][]string{}
	for dep := range deps {
		l := g.layerOf(dep)
		if _, inModule := g.rel(dep); inModule && l != busPkg && l != ecsPkg && l != cmdPkg {
			continue // a helper: judged by what it brings in, which is in deps too
		}
		if dep != self && !slices.Contains(r.may, l) && !slices.Contains(r.testMay, l) {
			via[l] = append(via[l], dep)
		}
	}
	if len(via) == 0 {
		return ""
	}
	var parts []string
	for l, deps := range via {
		sort.Strings(deps)
		more := ""
		if len(deps) > 1 {
			more = fmt.Sprintf(" and %d more", len(deps)-1)
		}
		parts = append(parts, fmt.Sprintf("%s (%s%s)", l, deps[0], more))
	}
	sort.Strings(parts)
	return fmt.Sprintf("it brings in %s, which %s may not import; %s", strings.Join(parts, ", "), from, r.why)
}

// load parses the imports of every Go file under root.
func load(root string) (graph, error) {
	module, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return graph{}, err
	}
	g := graph{module: module, pkgs: map[string]*pkg{}}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n := d.Name()
			if path != root && (n == "testdata" || n == "vendor" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); path != root && err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		rel := filepath.ToSlash(dir)
		if rel == "." {
			rel = ""
		}
		p := g.pkgs[rel]
		if p == nil {
			p = &pkg{rel: rel, imports: map[string][]string{}, testImports: map[string][]string{}}
			g.pkgs[rel] = p
		}
		into := p.imports
		if strings.HasSuffix(path, "_test.go") {
			into = p.testImports
		}
		for _, is := range f.Imports {
			imp, err := strconv.Unquote(is.Path.Value)
			if err != nil {
				return err
			}
			into[imp] = append(into[imp], filepath.Base(path))
		}
		return nil
	})
	return g, err
}

func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New(gomod + ": no module line")
}

// TestImportArrows checks every import in the module against the rules.
func TestImportArrows(t *testing.T) {
	t.Parallel()
	g, err := load(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"event", "policy", "cloud", "worker", "bus", "cloud/ecs", "cloud/ecssim", "cmd/copyguard", "internal/app"} {
		if g.pkgs[want] == nil {
			t.Fatalf("package %s not found under ../..: the test is not looking at the module", want)
		}
	}
	for _, msg := range check(g) {
		t.Error("forbidden import: " + msg)
	}
}
