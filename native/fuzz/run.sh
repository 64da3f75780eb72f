#!/usr/bin/env bash
# `npm run fuzz:native [-- SECONDS_PER_TARGET [TARGET...]]`: coverage-guided fuzzing of the pure C++ cores in
# native/src/ with libFuzzer. Each harness native/fuzz/fuzz-*.cc turns the fuzzer's bytes into calls of one core's
# public API (odd options, NaN / infinite inputs, hotwords replaced mid-stream, corrupt LM tables) and checks the
# cores' own promises (chunking gives the result of one call, output counts, stable prefixes stay stable). Built with
# AddressSanitizer and UndefinedBehaviorSanitizer, so an out-of-range read, a signed overflow, a hang (-timeout) or an
# uncaught exception is a finding, not just a crash.
#
# Why beside test:sanitize and test/native/native-fuzz.test.ts: those replay a fixed set of random calls through
# Node; here the fuzzer steers towards inputs that reach new branches, thousands of runs a second, so edge cases
# nobody wrote a test for (a table entry past the end, a score that becomes NaN) get found.
#
# Needs clang with libFuzzer (Debian: apt-get install clang libclang-rt-14-dev). Everything goes to build-fuzz/
# (gitignored): the binaries, one growing corpus per target, and crash-* / timeout-* inputs of any finding. Inputs
# under native/fuzz/regressions/<target>/ (past findings) are replayed first and seed the corpus. Not part of
# `npm test`: it runs for minutes. Exits non-zero on the first finding.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(fuzz-ctc-decoder fuzz-context-graph fuzz-token-lm fuzz-fbank fuzz-resampler)
fi
out="$root/build-fuzz"
cxx="${CXX_FUZZ:-clang++}"
# -ffp-contract=off as binding.gyp builds the cores (the resampler's and fbank's sums must not fuse).
flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -ffp-contract=off -fsanitize=address,undefined
  -fno-sanitize-recover=undefined)

mkdir -p "$out/obj"
objs=()
for src in "$root"/native/src/*.cc; do
  obj="$out/obj/$(basename "$src" .cc).o"
  "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
  objs+=("$obj")
done

for target in "${targets[@]}"; do
  "$cxx" "${flags[@]}" -fsanitize=fuzzer "$root/native/fuzz/$target.cc" "${objs[@]}" -o "$out/$target"
done

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
for target in "${targets[@]}"; do
  corpus="$out/corpus/$target"
  regressions="$root/native/fuzz/regressions/$target"
  mkdir -p "$corpus" "$out/artifacts/$target"
  seeds=()
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    echo "== $target: replaying $regressions"
    "$out/$target" "$regressions"/*
    seeds=("$regressions")
  fi
  echo "== $target: fuzzing for ${seconds}s"
  "$out/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$target/" "$corpus" "${seeds[@]}"
done
