#!/usr/bin/env bash
# System tools the tests and the data engine need: Graphviz's `dot`, Node.js with the real
# Mermaid package (tools/mermaid). Installs what is missing with apt-get when we are root,
# otherwise says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dot >/dev/null || missing+=(graphviz)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "flowparse needs: ${missing[*]} (e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

if [[ ! -f tools/mermaid/node_modules/.package-lock.json ]]; then
  echo "installing the Mermaid parser (tools/mermaid)"
  npm ci --prefix tools/mermaid --no-audit --no-fund --loglevel=error
fi
