#!/usr/bin/env bash
# Builds static/vendor/plotly-2d-4.1.1.min.js: plotly.js 4.1.1 with only the trace types the pages'
# 2-D charts draw (scatter, bar, heatmap), instead of the 1.5 MB "cartesian" dist bundle (issue 20).
#
#   tools/build_plotly_2d.sh      (needs node >= 20 and npm; network: registry.npmjs.org only)
#
# plotly.js's own custom-bundle task (tasks/custom_bundle.mjs) is not in the npm package, only in
# the git repository, so this does what it does by hand: an entry module like its generated
# lib/index-custom.js (core + the chosen traces; scatter is always in core), bundled by esbuild with
# the options of the package's esbuild-config.js (iife, global Plotly, es2016, inline CSS, minified).
# Pinned versions; the output's sha256 is pinned in tests/test_assets.py, so a rebuild that differs
# shows up there.
set -euo pipefail
PLOTLY=4.1.1
ESBUILD=0.25.12
TRACES=(bar heatmap)   # + scatter, always in plotly.js's core
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/static/vendor/plotly-2d-$PLOTLY.min.js"
# A fixed directory, not mktemp: the inline-CSS plugin names its <style> element after the CSS
# file's absolute path, so the same path gives the same bytes (checked by the pinned sha256).
WORK=/tmp/plotly-2d-$PLOTLY-build
rm -rf "$WORK" && mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
echo '{"private": true}' > package.json
npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
    "plotly.js@$PLOTLY" "esbuild@$ESBUILD" esbuild-plugin-inline-css@0.0.1 esbuild-plugin-environment@0.5.0 \
    stream-browserify@3.0.0
{
  echo "var Plotly = require('plotly.js/lib/core');"
  echo "Plotly.register(["
  for t in "${TRACES[@]}"; do echo "  require('plotly.js/lib/$t'),"; done
  echo "]);"
  echo "module.exports = Plotly;"
} > entry.js
cat > build.cjs <<'JS'
const esbuild = require('esbuild');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');
const { environmentPlugin } = require('esbuild-plugin-environment');
esbuild.build({
  entryPoints: ['entry.js'], outfile: 'plotly-2d.min.js',
  format: 'iife', globalName: 'Plotly', bundle: true, minify: true, sourcemap: false,
  plugins: [InlineCSSPlugin(), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false' },
  target: 'es2016', logLevel: 'warning', legalComments: 'eof',
}).catch(() => process.exit(1));
JS
node build.cjs
mkdir -p "$(dirname "$OUT")"
{
  echo "/**"
  echo "* plotly.js v$PLOTLY (https://plotly.com/javascript/), partial bundle: traces scatter,$(IFS=,; echo "${TRACES[*]}")"
  echo "* Copyright 2012-2026, Plotly, Inc. All rights reserved. Licensed under the MIT license"
  echo "* Built by tools/build_plotly_2d.sh with esbuild $ESBUILD"
  echo "*/"
  cat plotly-2d.min.js
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$OUT: $(wc -c < "$OUT") bytes, sha256 $(sha256sum "$OUT" | cut -d' ' -f1)"
