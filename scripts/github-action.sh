#!/usr/bin/env bash
# The step of the GitHub Action (action.yml): runs `prtiql release` or `prtiql delta` with the
# action's inputs, passed as PRTIQL_INPUT_* variables (never spliced into the script), writes
# the result to a metadata file and the action's outputs to $GITHUB_OUTPUT.
set -euo pipefail

cli="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/cli/bin/run.js"
command="${PRTIQL_INPUT_COMMAND:-release}"
metadata="${PRTIQL_INPUT_METADATA_FILE:-}"
if [ -z "$metadata" ]; then metadata="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/prtiql-${command}-$$.json"; fi

args=("$command")
# add <flag> <value>: only when the input was given
add() { if [ -n "$2" ]; then args+=("$1" "$2"); fi; }

case "$command" in
  release)
    add --image "${PRTIQL_INPUT_IMAGE:-}"
    add --channel "${PRTIQL_INPUT_CHANNEL:-}"
    add --release-version "${PRTIQL_INPUT_VERSION:-}"
    add --key "${PRTIQL_INPUT_KEY:-}"
    add --store "${PRTIQL_INPUT_STORE:-}"
    add --expires "${PRTIQL_INPUT_EXPIRES:-}"
    add --device-class "${PRTIQL_INPUT_DEVICE_CLASS:-}"
    add --base-releases "${PRTIQL_INPUT_BASE_RELEASES:-}"
    if [ "${PRTIQL_INPUT_DELTAS:-true}" = "false" ]; then args+=(--no-deltas); fi
    while IFS= read -r base; do
      base="${base#"${base%%[![:space:]]*}"}"
      base="${base%"${base##*[![:space:]]}"}"
      if [ -n "$base" ]; then args+=(--base "$base"); fi
    done <<< "${PRTIQL_INPUT_BASE:-}"
    ;;
  delta)
    add --from "${PRTIQL_INPUT_BASE:-}"
    add --to "${PRTIQL_INPUT_IMAGE:-}"
    add --store "${PRTIQL_INPUT_STORE:-}"
    ;;
  *)
    echo "::error::prtiql action: command must be release or delta, not '${command}'" >&2
    exit 2
    ;;
esac
add --platform "${PRTIQL_INPUT_PLATFORM:-}"
add --authfile "${PRTIQL_INPUT_AUTHFILE:-}"
add --endpoint-url "${PRTIQL_INPUT_ENDPOINT_URL:-}"
add --region "${PRTIQL_INPUT_REGION:-}"
if [ "${PRTIQL_INPUT_INSECURE:-false}" = "true" ]; then args+=(--insecure); fi
args+=(--metadata-file "$metadata")

node "$cli" "${args[@]}"

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "metadata-file=$metadata"
    node -e '
      const [metadata, command] = process.argv.slice(1);
      const result = JSON.parse(require("node:fs").readFileSync(metadata, "utf8"));
      console.log(`digest=${command === "release" ? result.digest : result.targetDigest}`);
      if (command === "release") console.log(`release=${result.location}`);
    ' "$metadata" "$command"
  } >> "$GITHUB_OUTPUT"
fi
