#!/usr/bin/env bash
# Builds release pairs the delta engine was never tuned on, beside ../shared/bench/corpus.sh's,
# in the corpus's layout and tar conventions (sorted, mtime 0, root owner, PAX):
# OUTDIR/pairs/<pair>/{old,new}.tar. Then: PAIRS="untuned-esbuild ..." npm run bench
# Usage: scripts/bench/untuned-pairs.sh [OUTDIR]   (default: the bench's data directory)
#   untuned-biome    @biomejs/cli-linux-x64 1.9.3 -> 1.9.4 (a Rust executable)
#   untuned-libvips  @img/sharp-libvips-linux-x64 1.0.4 -> 1.0.6 (a C shared library)
#   untuned-esbuild  @esbuild/linux-x64 0.20.1 -> 0.20.2 (a Go executable)
set -euo pipefail
umask 022
export LC_ALL=C TZ=UTC
OUT="${1:-${PRTIQL_BENCH_DATA:-$HOME/.cache/prtiql-bench-data}}"
declare -A PAIRS=(
  [untuned-biome]="@biomejs/cli-linux-x64@1.9.3 @biomejs/cli-linux-x64@1.9.4"
  [untuned-libvips]="@img/sharp-libvips-linux-x64@1.0.4 @img/sharp-libvips-linux-x64@1.0.6"
  [untuned-esbuild]="@esbuild/linux-x64@0.20.1 @esbuild/linux-x64@0.20.2"
)
mktar() { # SRCROOT OUT.tar
  (cd "$1" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$2" app)
}
for pair in "${!PAIRS[@]}"; do
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $pair "* ]] && continue
  read -r old new <<<"${PAIRS[$pair]}"
  work=$(mktemp -d); dest="$OUT/pairs/$pair"; mkdir -p "$dest"
  for side in old new; do
    spec=${!side}
    mkdir -p "$work/$side/app"
    printf '{\n  "name": "app",\n  "version": "1.0.0",\n  "private": true\n}\n' > "$work/$side/app/package.json"
    (cd "$work/$side/app" && npm install --no-audit --no-fund --ignore-scripts --force --save-exact "$spec" >/dev/null)
    mktar "$work/$side" "$dest/$side.tar"
  done
  printf 'old: %s\nnew: %s\n' "$old" "$new" > "$dest/meta.txt"
  rm -rf "$work"
  echo "$pair: $(du -h "$dest/new.tar" | cut -f1) new.tar" >&2
done
