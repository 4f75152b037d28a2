package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Source is one policy document in memory.
type Source struct {
	// Name is the file name used in problems and in the version hash.
	Name string
	Data []byte
	// Embedded says the document is a larger format (a policy test file)
	// that keeps its policies under the `policies` key: its other top-level
	// keys are ignored and the `policies` key may be absent.
	Embedded bool
}

// Load reads policy files and directories and compiles them into a Set. A
// directory contributes the *.yaml and *.yml files directly in it (not in
// subdirectories), in name order, skipping hidden files and policy test
// files (*_test.yaml, *_test.yml). Paths are loaded in the order given; a
// file named twice is loaded once.
//
// Every problem found, in every file, is returned at once as a *LoadError.
func Load(paths ...string) (*Set, error) {
	srcs, readErr := ReadSources(paths...)
	set, err := Compile(srcs...)
	if readErr == nil {
		return set, err
	}
	var le, re *LoadError
	if !errors.As(readErr, &re) {
		return nil, readErr
	}
	all := append([]Problem(nil), re.Problems...)
	if errors.As(err, &le) {
		all = append(all, le.Problems...)
	}
	return nil, newLoadError(all)
}

// Parse compiles one in-memory policy file; name is used in problems.
func Parse(name string, src []byte) (*Set, error) {
	return Compile(Source{Name: name, Data: src})
}

// ReadSources reads the files Load would read, without compiling them. It
// returns what it could read together with a *LoadError for the rest.
func ReadSources(paths ...string) ([]Source, error) {
	var (
		srcs     []Source
		problems []Problem
		seen     = map[string]bool{}
	)
	add := func(path string) {
		abs, err := filepath.Abs(path)
		if err == nil {
			if seen[abs] {
				return
			}
			seen[abs] = true
		}
		data, err := os.ReadFile(path)
		if err != nil {
			problems = append(problems, Problem{File: path, Message: readMessage(err)})
			return
		}
		srcs = append(srcs, Source{Name: path, Data: data})
	}
	if len(paths) == 0 {
		problems = append(problems, Problem{File: "policy", Message: "no policy files given"})
	}
	for _, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			problems = append(problems, Problem{File: path, Message: readMessage(err)})
			continue
		}
		if !fi.IsDir() {
			add(path)
			continue
		}
		files, err := policyFiles(path)
		if err != nil {
			problems = append(problems, Problem{File: path, Message: readMessage(err)})
			continue
		}
		if len(files) == 0 {
			problems = append(problems, Problem{File: path, Message: "no policy files (*.yaml, *.yml) in directory"})
		}
		for _, f := range files {
			add(f)
		}
	}
	if len(problems) > 0 {
		return srcs, newLoadError(problems)
	}
	return srcs, nil
}

// policyFiles lists the policy files directly in dir, sorted by name.
func policyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !IsPolicyFileName(name) {
			continue
		}
		files = append(files, filepath.Join(dir, name))
	}
	return files, nil
}

// IsPolicyFileName reports whether a directory entry is loaded as a policy
// file: *.yaml or *.yml, but not a policy test file.
func IsPolicyFileName(name string) bool {
	return (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) && !IsTestFileName(name)
}

// IsTestFileName reports whether a file is a policy test file
// (*_test.yaml or *_test.yml).
func IsTestFileName(name string) bool {
	return strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml")
}

func readMessage(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return "cannot read: " + err.Error()
}

// Compile compiles in-memory sources into a Set, in the order given, and
// returns every problem at once as a *LoadError.
func Compile(srcs ...Source) (*Set, error) {
	regex := newRegexCache()
	env, err := newEnvsWith(regex)
	if err != nil {
		return nil, fmt.Errorf("build cel environment: %w", err)
	}
	set := &Set{byName: map[string]*Policy{}, regex: regex}
	var problems []Problem
	named := map[string]*parsedPolicy{}
	for _, src := range srcs {
		fp := &fileParser{file: src.Name, env: env}
		for _, p := range fp.parse(src) {
			if first, dup := named[p.Name]; dup {
				where := fmt.Sprintf("%s:%d", first.File, first.Line)
				if first.File == p.File {
					where = fmt.Sprintf("line %d", first.Line)
				}
				fp.problems = append(fp.problems, Problem{File: p.File, Line: p.nameLine, Col: p.nameCol,
					Policy: p.Name, Field: "name", Message: "duplicate policy name; first defined at " + where})
				continue
			}
			named[p.Name] = p
			if p.valid {
				set.byName[p.Name] = p.Policy
				set.policies = append(set.policies, p.Policy)
			}
		}
		problems = append(problems, fp.problems...)
	}
	if len(problems) > 0 {
		return nil, newLoadError(problems)
	}
	set.version = version(srcs)
	return set, nil
}

// version hashes base names and contents in a fixed order, so the same
// files give the same version however they were listed or mounted.
func version(srcs []Source) string {
	entries := make([]string, len(srcs))
	for i, s := range srcs {
		sum := sha256.Sum256(s.Data)
		entries[i] = filepath.Base(s.Name) + "\x00" + hex.EncodeToString(sum[:])
	}
	slices.Sort(entries)
	h := sha256.New()
	for _, e := range entries {
		h.Write([]byte(e))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
