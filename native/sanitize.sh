#!/usr/bin/env bash
# `npm run test:sanitize [-- TEST_PATHS...]`: builds the native addon a second time with AddressSanitizer and
# UndefinedBehaviorSanitizer (in build-sanitize/, beside the normal build/, which stays as it is) and runs the tests
# that reach it against that build. The fuzz and property tests only see a crash; a read one element past a typed
# array, an uninitialised beam or a signed overflow in a frame count passes them silently, and fails here.
#
# Node itself is not instrumented, so the sanitizer runtimes are preloaded. Leak checking is off: V8 and
# onnxruntime keep allocations until exit by design, and would bury the addon's own reports.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/build-sanitize"
node_gyp="${npm_config_node_gyp:?run this through npm: npm run test:sanitize}"

rm -rf "$work"
mkdir -p "$work"
ln -s "$root/native" "$work/native"
ln -s "$root/node_modules" "$work/node_modules"
# The shipped binding.gyp with -O3 swapped for sanitizer flags; everything else (sources, defines) stays the same.
node -e '
  const gyp = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const target = gyp.targets[0];
  const sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"];
  target.cflags_cc = target.cflags_cc.filter((f) => f !== "-O3").concat(["-O1", "-g", "-fno-omit-frame-pointer"], sanitize);
  target.ldflags = sanitize;
  process.stdout.write(JSON.stringify(gyp, null, 1));
' "$root/binding.gyp" >"$work/binding.gyp"
(cd "$work" && node "$node_gyp" rebuild --loglevel=warn >/dev/null)

cxx="${CXX:-g++}"
if [ "$#" -eq 0 ]; then set -- test/native test/dsp test/stream test/inference; fi
cd "$root"
LD_PRELOAD="$("$cxx" -print-file-name=libasan.so):$("$cxx" -print-file-name=libubsan.so)" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  VOXGATE_NATIVE_PATH="$work/build/Release/voxgate_native.node" \
  npx vitest run "$@"
