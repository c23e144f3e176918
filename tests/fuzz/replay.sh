#!/usr/bin/env bash
# tests/fuzz/replay.sh FUZZ_REPLAY_BINARY - runs every input of tests/fuzz/corpus/ through the fuzz
# harness (one process per input, each under `timeout 20`) and prints a TAP line per input:
# `ok - corpus/NAME`, or `not ok - corpus/NAME` with the tail of its output when it crashed, hung,
# or a sanitizer reported something. Always exits 0; the lines say what failed.
set -u
if [ $# -ne 1 ]; then
  echo "usage: $0 FUZZ_REPLAY_BINARY" >&2
  exit 2
fi
bin=$1
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
cd "$(dirname "$0")"

if [ ! -x "$bin" ]; then
  echo "not ok - fuzz_replay binary $bin is missing"
  exit 0
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=99}

n=0
for f in corpus/*; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  out=$(timeout 20 "$bin" "$f" 2>&1)
  rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "ok - $f"
  else
    case $rc in
    124) why="timed out after 20 s" ;;
    99) why="sanitizer report" ;;
    *) if [ "$rc" -gt 128 ]; then why="killed by signal $((rc - 128))"; else why="exit status $rc"; fi ;;
    esac
    echo "not ok - $f"
    echo "  # $why; repro: $bin tests/fuzz/$f"
    tail -n 30 <<<"$out" | sed 's/^/  /'
  fi
done
[ "$n" -gt 0 ] || echo "not ok - corpus is empty"
exit 0
