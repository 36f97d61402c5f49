#!/usr/bin/env bash
# Builds FerretDB (a MongoDB-wire-compatible server over SQLite) from the Go
# module proxy, for the MongoDB adapter's tests (test/store/mongo*.test.ts).
# Idempotent: a binary that already reports the wanted version is kept.
# Prints the binary's path as its last line; test/helpers/ferretdb.ts finds it
# through FERRETDB_BIN, then PATH, then this script's default location.
#
# Why not `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`:
# - it first asks the proxy for the module's version list (a deprecation
#   check), which some proxies/mirrors refuse (403), and
# - a binary built that way panics at start: FerretDB's build/version package
#   embeds build/version/version.txt, which `bin/task gen-version` writes and
#   the published module does not contain.
# So: download the exact module version (one proxy request per module, no
# list), copy its source, write version.txt, and `go build` in the copy.
# Measured on 2 shared cores with empty Go caches: ~2 minutes.
set -euo pipefail

FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.2}"
PREFIX="${FERRETDB_PREFIX:-$HOME/.cache/eventide/ferretdb-$FERRETDB_VERSION}"
BIN="$PREFIX/bin/ferretdb"
GO="${GO:-}"
if [ -z "$GO" ]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)"; else GO=/usr/local/go/bin/go; fi
fi

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "version: $FERRETDB_VERSION"; then
  echo "ferretdb $FERRETDB_VERSION already built" >&2
  echo "$BIN"
  exit 0
fi

[ -x "$GO" ] || { echo "install-ferretdb: no Go toolchain (set GO= or install Go 1.21+)" >&2; exit 1; }
echo "install-ferretdb: building FerretDB $FERRETDB_VERSION with $("$GO" version)" >&2
started=$(date +%s)

MODULE_DIR="$("$GO" mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
[ -d "$MODULE_DIR" ] || { echo "install-ferretdb: go mod download gave no source directory" >&2; exit 1; }

SRC="$PREFIX/src"
rm -rf "$SRC"
mkdir -p "$PREFIX/bin"
cp -R "$MODULE_DIR" "$SRC"
chmod -R u+w "$SRC"
echo "$FERRETDB_VERSION" > "$SRC/build/version/version.txt"
# -trimpath keeps the build reproducible; CGO is not needed (pure-Go SQLite).
(cd "$SRC" && CGO_ENABLED=0 GOFLAGS=-mod=mod "$GO" build -trimpath -o "$BIN" ./cmd/ferretdb)
rm -rf "$SRC"

"$BIN" --version >&2
echo "install-ferretdb: built in $(( $(date +%s) - started )) s" >&2
echo "$BIN"
