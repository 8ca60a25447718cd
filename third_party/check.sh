#!/usr/bin/env bash
# Checks that each patched copy in third_party/ is its upstream release, less
# the paths in patches/<copy>/removed, plus patches/<copy>/*.patch applied in
# order: nothing else. Upstream comes from the Go module cache (downloaded
# through the module proxy if missing), at the version the root go.mod
# requires. On a difference it prints the diff that no patch explains: save
# a new change as the next patch, with a first paragraph saying why.
set -euo pipefail
cd "$(dirname "$0")"

check() {
  local copy=$1 module=$2 version dir work p status=0
  version=$(cd .. && go list -m -f '{{.Version}}' "$module")
  dir=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || { echo "third_party: $module@$version not in the module cache" >&2; return 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  cp -R "$dir/." "$work/"
  chmod -R u+w "$work"
  while read -r p _; do
    case "$p" in '' | '#'*) continue ;; esac
    [ -e "$work/$p" ] || { echo "third_party: $copy: removed path $p is not in upstream $version" >&2; return 1; }
    rm -rf "${work:?}/$p"
  done <"patches/$copy/removed"
  for p in "patches/$copy"/[0-9][0-9][0-9][0-9]-*.patch; do
    if ! patch -d "$work" -p1 -F0 -s --no-backup-if-mismatch <"$p"; then
      echo "third_party: $copy: $p does not apply to $module $version" >&2
      return 1
    fi
  done
  if ! diff -ruN "$work" "$copy" >"$work.diff"; then
    echo "third_party: $copy differs from $module $version plus its patches:" >&2
    cat "$work.diff" >&2
    status=1
  fi
  rm -f "$work.diff"
  [ "$status" -eq 0 ] && echo "third_party: $copy = $module $version + $(ls "patches/$copy"/*.patch | wc -l) patches"
  return "$status"
}

check go-nostr github.com/nbd-wtf/go-nostr
check khatru github.com/fiatjaf/khatru
