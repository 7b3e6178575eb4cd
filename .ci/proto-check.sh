#!/usr/bin/env bash
# proto-check.sh: the CI gate for proto/ and the Go code generated from it.
#
#   1. buf format: proto/ is formatted as `buf format -w` would.
#   2. buf lint: STANDARD rules (buf.yaml).
#   3. checkgenerate: `buf generate` into a temporary directory must give
#      exactly the *.pb.go files under api/ (no stale, missing or extra file).
#      In CI the working tree is the commit, so this checks what is committed.
#   4. buf breaking (FILE rules) against the previous commit, HEAD~1. Skipped,
#      with a message, when HEAD has no parent (first commit) or that commit
#      has no .proto files or no buf.yaml yet. A shallow clone without HEAD~1
#      is an error: fetch at least two commits (actions/checkout fetch-depth: 2).
#      PROTO_BREAKING_AGAINST=<git revision> compares against another commit
#      instead (for example origin/main for a pull request, or HEAD before
#      committing); that revision must exist.
#
# Needs git, and buf, protoc-gen-go and protoc-gen-go-grpc on PATH at the
# pinned versions (the Makefile installs them into .bin): another plugin
# version writes another header, which checkgenerate reports as stale.
# Runs from the repository root wherever it is called from.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export BUF_CACHE_DIR="${BUF_CACHE_DIR:-$PWD/.cache/buf}"

log() { printf 'proto-check: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

for tool in git buf protoc-gen-go protoc-gen-go-grpc; do
  command -v "$tool" >/dev/null || die "$tool not on PATH (install the pinned tools into .bin and put .bin first on PATH)"
done
log "buf $(buf --version), $(protoc-gen-go --version), $(protoc-gen-go-grpc --version)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

check_format() {
  log "buf format"
  buf format --diff --exit-code || die "proto/ is not formatted: run 'buf format -w'"
}

check_lint() {
  log "buf lint"
  buf lint || die "buf lint"
}

# check_generate regenerates into $tmp/gen and compares the *.pb.go files
# with those under api/.
check_generate() {
  log "checkgenerate"
  buf generate --output "$tmp/gen" || die "buf generate"
  mkdir -p "$tmp/gen/api" "$tmp/have/api"
  if [[ -d api ]]; then
    find api -name '*.pb.go' -print0 | tar --null -T - -cf - | tar -xf - -C "$tmp/have"
  fi
  if ! diff -rq "$tmp/have/api" "$tmp/gen/api" >"$tmp/stale"; then
    sed -e "s|$tmp/have/||g; s|$tmp/gen/|generated |g" "$tmp/stale" >&2
    die "api/ is stale: run 'make generate' (or 'buf generate') and commit the result"
  fi
}

# against_commit prints the commit to check breaking changes against, or
# nothing when there is none to compare with (skip); it fails when one
# should exist but is not in this clone.
against_commit() {
  if ! git rev-parse --verify -q HEAD >/dev/null; then
    log "buf breaking skipped: no commit yet"
    return
  fi
  local rev="${PROTO_BREAKING_AGAINST:-}" sha
  if [[ -n $rev ]]; then
    sha="$(git rev-parse --verify -q "$rev^{commit}")" || die "PROTO_BREAKING_AGAINST=$rev is not a commit here"
  elif ! sha="$(git rev-parse --verify -q 'HEAD~1^{commit}')"; then
    if [[ "$(git rev-parse --is-shallow-repository)" == true ]]; then
      die "HEAD~1 is not in this shallow clone: fetch at least two commits (fetch-depth: 2)"
    fi
    log "buf breaking skipped: HEAD is the first commit"
    return
  fi
  local files
  files="$(git ls-tree -r --name-only "$sha" -- proto)"
  if [[ $files != *.proto* ]]; then
    log "buf breaking skipped: no .proto files under proto/ at ${sha:0:12}"
    return
  fi
  if ! git cat-file -e "$sha:buf.yaml" 2>/dev/null; then
    log "buf breaking skipped: no buf.yaml at ${sha:0:12}"
    return
  fi
  printf '%s\n' "$sha"
}

check_breaking() {
  local sha
  sha="$(against_commit)"
  [[ -n $sha ]] || return 0
  log "buf breaking against ${sha:0:12} ($(git log -1 --format=%s "$sha"))"
  buf breaking --against ".git#ref=$sha" || die "breaking change against ${sha:0:12}"
}

check_format
check_lint
check_generate
check_breaking
log "ok"
