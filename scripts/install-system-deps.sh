#!/usr/bin/env bash
# System tools the tests and the data engine need: Graphviz's `dot`, Node.js with the real
# Mermaid package (tools/mermaid), a C++ compiler for DeepSpeed's CPU op. Installs what is missing with apt-get when we are root,
# otherwise says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dot >/dev/null || missing+=(graphviz)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# DeepSpeed compiles its CPU communication op the first time it starts (the DeepSpeed tests).
command -v g++ >/dev/null || missing+=(g++)
# The data engine's Mermaid renderer drives headless Chromium, and its charts want CJK and
# hand-drawn fonts (Graphviz, PIL and Chromium find them through fontconfig). Without them
# the Mermaid tests skip and charts fall back to the fonts there are, so they are optional.
wanted=()
command -v chromium >/dev/null || wanted+=(chromium)
if command -v dpkg >/dev/null; then
  for font in fonts-noto-cjk fonts-humor-sans fonts-comic-neue fonts-arphic-ukai; do
    dpkg -s "$font" >/dev/null 2>&1 || wanted+=("$font")
  done
fi
if ((${#wanted[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    missing+=("${wanted[@]}")
  else
    echo "optional for the data engine: ${wanted[*]}" >&2
  fi
fi

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

if [[ ! -f tools/mermaid/node_modules/.package-lock.json \
  || tools/mermaid/package-lock.json -nt tools/mermaid/node_modules/.package-lock.json ]]; then
  echo "installing the Mermaid parser (tools/mermaid)"
  npm ci --prefix tools/mermaid --no-audit --no-fund --loglevel=error
fi
