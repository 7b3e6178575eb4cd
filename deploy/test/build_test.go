package deploytest

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// repoRoot is the compass repository, two levels up from this module.
const repoRoot = "../.."

// testVersion is stamped into the binaries the tests build.
const testVersion = "v0.0.0-deploytest"

// goBuild is one `go build` invocation taken apart.
type goBuild struct {
	env   map[string]string // Go's variables (GO*, CGO_*) in force
	flags []string          // build flags, without -o
	out   string            // the -o value
	pkgs  []string          // packages built
}

// goFlagsWithValue are the go build flags that take the next word as their
// value when written without "=".
var goFlagsWithValue = map[string]bool{
	"-o": true, "-ldflags": true, "-gcflags": true, "-asmflags": true, "-tags": true,
	"-mod": true, "-modfile": true, "-p": true, "-pkgdir": true, "-toolexec": true,
	"-buildmode": true, "-compiler": true, "-installsuffix": true, "-overlay": true,
	"-pgo": true, "-gccgoflags": true, "-coverpkg": true, "-covermode": true,
}

// parseGoBuild reads a command line already split into words: variable
// assignments, then go build, its flags and its packages. env holds
// variables set before the line (a Dockerfile's ENV); the line's own
// assignments win.
func parseGoBuild(words []string, env map[string]string) (goBuild, error) {
	b := goBuild{env: map[string]string{}}
	for k, v := range env {
		if isGoVar(k) {
			b.env[k] = v
		}
	}
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
		k, v, _ := strings.Cut(words[i], "=")
		if isGoVar(k) {
			b.env[k] = v
		}
	}
	if len(words) < i+2 || words[i] != "go" || words[i+1] != "build" {
		return b, fmt.Errorf("not a go build command: %q", words)
	}
	for i += 2; i < len(words); i++ {
		w := words[i]
		switch {
		case !strings.HasPrefix(w, "-"):
			b.pkgs = append(b.pkgs, w)
		case w == "-o" && i+1 < len(words):
			i++
			b.out = words[i]
		case goFlagsWithValue[w] && i+1 < len(words):
			b.flags = append(b.flags, w, words[i+1])
			i++
		default:
			b.flags = append(b.flags, w)
		}
	}
	return b, nil
}

func isGoVar(name string) bool {
	return strings.HasPrefix(name, "GO") || strings.HasPrefix(name, "CGO_")
}

// splitWords splits a shell-like line as a Dockerfile would, quotes
// removed and vars expanded; a variable not in vars is an error.
func splitWords(line string, vars map[string]string) ([]string, error) {
	var kv []string
	for k, v := range vars {
		kv = append(kv, k+"="+v)
	}
	env := shell.EnvsFromSlice(kv)
	lex := shell.NewLex('\\')
	res, err := lex.ProcessWordWithMatches(line, env)
	if err != nil {
		return nil, err
	}
	if len(res.Unmatched) > 0 {
		return nil, fmt.Errorf("%q uses unset variables %v", line, slices.Sorted(maps.Keys(res.Unmatched)))
	}
	return lex.ProcessWords(line, env)
}

// makefileBuild is the Makefile's `build` recipe with its variables
// expanded and VERSION set to version.
func makefileBuild(t *testing.T, version string) goBuild {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"VERSION": version, "GO": "go", "BIN": "bin", "CURDIR": "."}
	var recipe string
	inBuild := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if m := regexp.MustCompile(`^(LDFLAGS|BUILDFLAGS)\s*:?=\s*(.*)$`).FindStringSubmatch(line); m != nil {
			vars[m[1]] = m[2]
		}
		switch {
		case strings.HasPrefix(line, "build:"):
			inBuild = true
		case inBuild && strings.HasPrefix(line, "\t"):
			if strings.Contains(line, " build ") {
				recipe = strings.TrimSpace(line)
			}
		default:
			inBuild = false
		}
	}
	if recipe == "" || vars["LDFLAGS"] == "" || vars["BUILDFLAGS"] == "" {
		t.Fatalf("Makefile: want LDFLAGS, BUILDFLAGS and a go build line in the build recipe; have %q, %q, %q",
			vars["LDFLAGS"], vars["BUILDFLAGS"], recipe)
	}
	ref := regexp.MustCompile(`\$\((\w+)\)`)
	for range 4 { // variables refer to variables
		recipe = ref.ReplaceAllStringFunc(recipe, func(s string) string {
			if v, ok := vars[ref.FindStringSubmatch(s)[1]]; ok {
				return v
			}
			return s
		})
	}
	if ref.MatchString(recipe) {
		t.Fatalf("Makefile build recipe: unexpanded variable in %q", recipe)
	}
	words, err := splitWords(recipe, nil)
	if err != nil {
		t.Fatalf("Makefile build recipe: %v", err)
	}
	b, err := parseGoBuild(words, nil)
	if err != nil {
		t.Fatalf("Makefile build recipe: %v", err)
	}
	return b
}

// run builds b in dir (a module root) into out and returns the binary.
func (b goBuild) run(dir, out string, pkg string) error {
	args := append([]string{"build"}, b.flags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for _, k := range slices.Sorted(maps.Keys(b.env)) {
		cmd.Env = append(cmd.Env, k+"="+b.env[k])
	}
	if outb, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, outb)
	}
	return nil
}

var compassd struct {
	once sync.Once
	path string
	err  error
}

// compassdBinary builds cmd/compassd once, as the Makefile does, into a
// directory removed when the tests end (see TestMain).
func compassdBinary(t *testing.T) string {
	t.Helper()
	compassd.once.Do(func() {
		b := makefileBuild(t, testVersion)
		compassd.path = filepath.Join(binDir, "compassd")
		compassd.err = b.run(repoRoot, compassd.path, "./cmd/compassd")
	})
	if compassd.err != nil {
		t.Fatal(compassd.err)
	}
	return compassd.path
}

// binDir holds binaries shared by tests; TestMain makes and removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploytest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestMakefileBinaryVersion(t *testing.T) {
	out, err := exec.Command(compassdBinary(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("compassd --version: %v\n%s", err, out)
	}
	if want := "compassd " + testVersion + " "; !strings.HasPrefix(string(out), want) {
		t.Errorf("compassd --version = %q, want it to start with %q", out, want)
	}
}
