#!/usr/bin/env bash
# Checks that docker-compose.yml parses with `docker compose config`.
# No Docker engine is needed for that, only the compose CLI plugin; where it
# is missing, it is built once from the Go module proxy into the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
COMPOSE_VERSION=v2.40.3
cache="${TRACELAKE_CACHE_DIR:-$HOME/.cache/tracelake}/tools"
plugin_dir="$HOME/.docker/cli-plugins"

if ! docker compose version >/dev/null 2>&1; then
  command -v docker >/dev/null || { echo "compose-check: the docker CLI is not installed" >&2; exit 2; }
  bin="$cache/docker-compose-$COMPOSE_VERSION"
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { echo "compose-check: needs Go to build the compose plugin" >&2; exit 2; }
    echo "compose-check: building docker compose $COMPOSE_VERSION (once, a few minutes)" >&2
    work=$(mktemp -d)
    trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
    dir=$(cd "$work" && go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" \
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    cp -r "$dir" "$work/src" && chmod -R u+w "$work/src"
    mkdir -p "$cache"
    (cd "$work/src" && go build -o "$bin.tmp" ./cmd) && mv "$bin.tmp" "$bin"
  fi
  mkdir -p "$plugin_dir" && ln -sf "$bin" "$plugin_dir/docker-compose"
fi
docker compose -f docker-compose.yml config --quiet
echo "compose-check: docker-compose.yml is valid"
