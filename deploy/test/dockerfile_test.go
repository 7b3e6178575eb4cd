package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/version"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"

	"github.com/ucompass/compass/pkg/config"
)

// dockerfile is the repository's Dockerfile, parsed by BuildKit.
type dockerfile struct {
	data   []byte
	result *parser.Result
	stages []instructions.Stage
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	stages, _, err := instructions.Parse(res.AST, linter.New(&linter.Config{}))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a build stage and a runtime stage", len(stages))
	}
	return dockerfile{data: data, result: res, stages: stages}
}

func (d dockerfile) final() instructions.Stage { return d.stages[len(d.stages)-1] }

// stageCommands returns the commands of type T in s.
func stageCommands[T instructions.Command](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// stubResolver answers BuildKit's base image look-ups without a registry:
// an image of one layer for the platform asked for, with an empty config.
type stubResolver struct{}

func (stubResolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	goos, arch := "linux", "amd64"
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		goos, arch = opt.ImageOpt.Platform.OS, opt.ImageOpt.Platform.Architecture
	}
	cfg, err := json.Marshal(map[string]any{
		"os": goos, "architecture": arch,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest.FromString(ref).String()}},
		"config": map[string]any{},
	})
	return ref, "", cfg, err
}

// TestDockerfileLint runs BuildKit's Dockerfile checks (what `docker build
// --check` runs, experimental rules included through the file's check
// directive) and the parser's own warnings. Not covered without a build
// context: CopyIgnoredFile (TestDockerfileContextBuild builds through
// .dockerignore instead).
func TestDockerfileLint(t *testing.T) {
	d := parseDockerfile(t)
	for _, w := range d.result.Warnings {
		t.Errorf("Dockerfile parser: %s", w.Short)
	}
	if !regexp.MustCompile(`(?m)\A# check=.*error=true`).Match(d.data) {
		t.Errorf("Dockerfile: want a first line `# check=error=true...` so that docker build fails on lint warnings")
	}
	src := llb.NewSourceMap(nil, "Dockerfile", "Dockerfile", d.data)
	src.Definition = &llb.Definition{}
	res, err := dockerfile2llb.DockerfileLint(context.Background(), d.data, dockerfile2llb.ConvertOpt{
		SourceMap:    src,
		MetaResolver: stubResolver{},
	})
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		t.Errorf("Dockerfile:%d: %s: %s (%s)", line, w.RuleName, w.Detail, w.URL)
	}
	if res.Error != nil {
		t.Errorf("Dockerfile: %s", res.Error.Message)
	}
}

// TestDockerfileBaseImagesPinned: every FROM names a version, never latest,
// and the Go image is at least go.mod's Go.
func TestDockerfileBaseImagesPinned(t *testing.T) {
	d := parseDockerfile(t)
	seen := map[string]bool{}
	goImages := 0
	for _, s := range d.stages {
		if seen[strings.ToLower(s.BaseName)] {
			continue // an earlier stage
		}
		seen[strings.ToLower(s.Name)] = true
		ref, err := reference.ParseNormalizedNamed(s.BaseName)
		if err != nil {
			t.Errorf("FROM %s: %v", s.BaseName, err)
			continue
		}
		if err := pinned(ref); err != nil {
			t.Errorf("FROM %s: %v", s.BaseName, err)
		}
		if reference.Path(ref) == "library/golang" {
			goImages++
			checkGoImage(t, ref)
		}
	}
	if goImages == 0 {
		t.Errorf("Dockerfile: no stage builds FROM golang")
	}
}

// pinned accepts a digest, or a tag other than latest that carries a
// version: in the tag (golang:1.26.8-bookworm) or, for distroless, which
// publishes no version tags, in the repository (static-debian12:nonroot).
func pinned(ref reference.Named) error {
	if _, ok := ref.(reference.Digested); ok {
		return nil
	}
	tagged, ok := ref.(reference.Tagged)
	if !ok {
		return fmt.Errorf("no tag and no digest")
	}
	tag := tagged.Tag()
	if tag == "latest" {
		return fmt.Errorf("tag latest moves")
	}
	hasVersion := regexp.MustCompile(`\d`).MatchString
	if hasVersion(tag) || strings.HasPrefix(reference.Path(ref), "distroless/") && hasVersion(reference.Path(ref)) {
		return nil
	}
	return fmt.Errorf("tag %q names no version", tag)
}

func checkGoImage(t *testing.T, ref reference.Named) {
	t.Helper()
	tagged, _ := ref.(reference.Tagged)
	if tagged == nil {
		return
	}
	imageGo := "go" + regexp.MustCompile(`^[0-9.]+`).FindString(tagged.Tag())
	modGo := "go" + goModGo(t)
	if !version.IsValid(imageGo) || strings.Count(imageGo, ".") < 2 {
		t.Errorf("FROM %s: want an exact Go release (1.x.y) in the tag", ref)
	} else if version.Compare(imageGo, modGo) < 0 {
		t.Errorf("FROM %s: Go %s is older than go.mod's go %s", ref, imageGo, modGo)
	}
}

func goModGo(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod: no go line")
	}
	return string(m[1])
}

// TestDockerfileRuntimeStage: the shipped image runs compassd as a
// numeric non-root user and exposes exactly compassd's three listeners.
func TestDockerfileRuntimeStage(t *testing.T) {
	final := parseDockerfile(t).final()
	users := stageCommands[*instructions.UserCommand](final)
	if len(users) == 0 {
		t.Errorf("runtime stage: no USER (the base image's user is not ours to rely on)")
	} else {
		uid, gid, _ := strings.Cut(users[len(users)-1].User, ":")
		if n, err := strconv.Atoi(uid); err != nil || n == 0 {
			t.Errorf("USER %s: want a numeric non-root uid (Kubernetes' runAsNonRoot can only verify a number)", users[len(users)-1].User)
		}
		if gid != "" {
			if _, err := strconv.Atoi(gid); err != nil {
				t.Errorf("USER %s: want a numeric gid", users[len(users)-1].User)
			}
		}
	}
	var exposed []string
	for _, e := range stageCommands[*instructions.ExposeCommand](final) {
		exposed = append(exposed, e.Ports...)
	}
	slices.Sort(exposed)
	if want := listenerPorts(t); !slices.Equal(exposed, want) {
		t.Errorf("EXPOSE %v, want compassd's default listener ports %v", exposed, want)
	}
	eps := stageCommands[*instructions.EntrypointCommand](final)
	if len(eps) != 1 || eps[0].PrependShell || len(eps[0].CmdLine) == 0 || filepath.Base(eps[0].CmdLine[0]) != "compassd" {
		t.Fatalf("runtime stage: want one exec-form ENTRYPOINT [\".../compassd\"]")
	}
	copied := false
	for _, c := range stageCommands[*instructions.CopyCommand](final) {
		copied = copied || c.From != "" && c.DestPath == eps[0].CmdLine[0]
	}
	if !copied {
		t.Errorf("runtime stage: nothing is copied from the build stage to %s", eps[0].CmdLine[0])
	}
}

// listenerPorts are the ports of compassd's default listeners (the admin
// default is loopback; its port is the one to expose all the same).
func listenerPorts(t *testing.T) []string {
	t.Helper()
	c := config.Default()
	var ports []string
	for _, addr := range []string{c.Listen, c.AdminListen, c.HTTPListen} {
		ports = append(ports, portOf(t, addr))
	}
	slices.Sort(ports)
	return ports
}

func portOf(t *testing.T, hostport string) string {
	t.Helper()
	i := strings.LastIndex(hostport, ":")
	if i < 0 {
		t.Fatalf("%q is not host:port", hostport)
	}
	return hostport[i+1:]
}

// dockerfileBuild is the build stage's `go build` with its ENV and ARG
// values in force and VERSION set to version.
func dockerfileBuild(t *testing.T, d dockerfile, version string) (goBuild, instructions.Stage) {
	t.Helper()
	for _, s := range d.stages[:len(d.stages)-1] {
		env := map[string]string{}
		vars := map[string]string{"VERSION": version}
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					env[kv.Key], vars[kv.Key] = kv.Value, kv.Value
				}
			case *instructions.RunCommand:
				line := strings.Join(c.CmdLine, " ")
				if !strings.Contains(line, "go build") {
					continue
				}
				words, err := splitWords(line, vars)
				if err != nil {
					t.Fatalf("Dockerfile RUN: %v", err)
				}
				b, err := parseGoBuild(words, env)
				if err != nil {
					t.Fatalf("Dockerfile RUN: %v", err)
				}
				return b, s
			}
		}
	}
	t.Fatal("Dockerfile: no RUN go build in a build stage")
	return goBuild{}, instructions.Stage{}
}

// TestDockerfileBuildFlags: the image's binary is built exactly as `make
// build` builds it.
func TestDockerfileBuildFlags(t *testing.T) {
	d := parseDockerfile(t)
	docker, _ := dockerfileBuild(t, d, testVersion)
	mk := makefileBuild(t, testVersion)
	if !slices.Equal(docker.flags, mk.flags) {
		t.Errorf("Dockerfile go build flags\n  %q\nwant the Makefile's\n  %q", docker.flags, mk.flags)
	}
	if fmt.Sprint(docker.env) != fmt.Sprint(mk.env) {
		t.Errorf("Dockerfile go build environment %v, want the Makefile's %v", docker.env, mk.env)
	}
	if docker.env["CGO_ENABLED"] != "0" {
		t.Errorf("Dockerfile go build: CGO_ENABLED=%q, want 0 (a static binary for distroless/static)", docker.env["CGO_ENABLED"])
	}
	if !slices.Equal(docker.pkgs, []string{"./cmd/compassd"}) {
		t.Errorf("Dockerfile go build packages %q, want ./cmd/compassd", docker.pkgs)
	}
}

// TestDockerfileContextBuild builds compassd as the image does: from the
// files .dockerignore lets into the context, with the Dockerfile's exact
// command line; the binary must print the stamped version.
func TestDockerfileContextBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds compassd")
	}
	d := parseDockerfile(t)
	b, stage := dockerfileBuild(t, d, testVersion)
	copiesContext := false
	for _, c := range stageCommands[*instructions.CopyCommand](stage) {
		copiesContext = copiesContext || c.From == "" && slices.Equal(c.SourcePaths, []string{"."})
	}
	if !copiesContext {
		t.Fatalf("build stage: want COPY . . (this test builds in a copy of the context)")
	}
	ctxDir := filepath.Join(t.TempDir(), "context")
	copyContext(t, repoRoot, ctxDir)
	bin := filepath.Join(t.TempDir(), "compassd")
	if err := b.run(ctxDir, bin, b.pkgs[0]); err != nil {
		t.Fatalf("build in the Docker context: %v", err)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("compassd --version: %v\n%s", err, out)
	}
	if want := "compassd " + testVersion + " "; !strings.HasPrefix(string(out), want) {
		t.Errorf("compassd --version = %q, want it to start with %q", out, want)
	}
}

// copyContext copies the files of src that .dockerignore does not exclude.
func copyContext(t *testing.T, src, dst string) {
	t.Helper()
	f, err := os.Open(filepath.Join(src, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel == "." {
			return nil
		}
		skip, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		switch {
		case err != nil:
			return err
		case skip && e.IsDir() && !pm.Exclusions():
			return filepath.SkipDir
		case skip || e.IsDir() || !e.Type().IsRegular():
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Docker context: %d files", n)
}
