#!/usr/bin/env bash
# Runs one libFuzzer target for CTest (tests/fuzz/CMakeLists.txt); fails on any crash, sanitizer
# report or property failure.
#
#   run_fuzz_target.sh fuzz       BINARY SEED_DIR WORK_DIR SECONDS [DICT]
#     copies the seed corpus into WORK_DIR/corpus (the source tree is never written), fuzzes it
#     for SECONDS and prints "target: X, executions: N, corpus: M, seconds: S" from libFuzzer's
#     final "Done N runs in S second(s)" line. Crashing inputs land in WORK_DIR/artifacts/.
#   run_fuzz_target.sh regression BINARY SEED_DIR WORK_DIR 0
#     runs the target once over every seed file.
#
# libFuzzer's own output is kept in WORK_DIR/fuzz.log; its last lines are shown on a failure.
set -euo pipefail

mode="$1" binary="$2" seeds="$3" work="$4" seconds="$5" dict="${6:-}"
target="$(basename "$binary")"
target="${target#fuzz_}"

# Sanitizer reports stop the process with a stack (libFuzzer then saves the input); leaks are
# reported at the end of each input by libFuzzer itself.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

rm -rf "$work"
mkdir -p "$work/artifacts"
log="$work/fuzz.log"
common=(-timeout=10 -rss_limit_mb=2048 -max_len=4096 "-artifact_prefix=$work/artifacts/")

status=0
if [[ $mode == regression ]]; then
  mapfile -t files < <(find "$seeds" -type f | sort)
  ((${#files[@]} > 0)) || { echo "no seed files in $seeds" >&2; exit 1; }
  "$binary" "${common[@]}" "${files[@]}" >"$log" 2>&1 || status=$?
  if ((status == 0)); then
    echo "target: $target, seed files: ${#files[@]}, all passed"
  fi
else
  cp -r "$seeds" "$work/corpus"
  args=("${common[@]}" "-max_total_time=$seconds" -print_final_stats=1)
  [[ -n $dict ]] && args+=("-dict=$dict")
  "$binary" "${args[@]}" "$work/corpus" >"$log" 2>&1 || status=$?
  done_line="$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)"
  if ((status == 0)) && [[ -z $done_line ]]; then
    echo "libFuzzer did not report its runs (no 'Done' line)" >&2
    status=1
  fi
  if ((status == 0)); then
    read -r _ runs _ _ secs _ <<<"$done_line"
    corpus="$(find "$work/corpus" -type f | wc -l)"
    summary="target: $target, executions: $runs, corpus: $corpus, seconds: $secs"
    echo "$summary" | tee "$work/summary.txt"
  fi
fi

if ((status != 0)); then
  echo "target: $target FAILED (exit $status); the end of $log:"
  tail -n 60 "$log"
  if compgen -G "$work/artifacts/*" >/dev/null; then
    echo "crashing input(s), to reproduce with $binary <file>:"
    ls -1 "$work"/artifacts/*
  fi
fi
exit "$status"
