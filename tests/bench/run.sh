#!/usr/bin/env bash
# tests/bench/run.sh BUILD_DIR - front-end benchmark on a generated 50 MB spec, then the plan
# benchmark (tests/bench/plan.sh: `idp plan -refresh=false` at 4k, 40k and 160k instances, with the
# matching state and with none), then the apply benchmark (tests/bench/apply.sh: 1,000
# http.request against a local server answering after 20 ms). BENCH_ONLY=frontend, plan or apply
# runs one of the three (all, or unset: every one).
#
# Builds BUILD_DIR/genspec, bench_frontend and idp when missing, writes BUILD_DIR/bench/spec-50mb.idp
# once, runs bench_frontend on it (scan vs parse + validate of the whole tree vs the streamed parse
# the CLI uses, best of 3), then times `BUILD_DIR/idp validate` on the same file end to end (best of
# 3), and checks the targets: 50 MB/s or more, and within 3x of the scan. 1 MB = 10^6 bytes.
# Rates are wall clock; on a busy machine compare the CPU figures bench_frontend shows too.
# BENCH_MB=N benchmarks an N MB spec instead. Exits 1 only when something could not be run (or,
# from plan.sh, when a plan's output is not the expected one).
set -u
if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
cd "$(dirname "$0")/../.."
B=$1
case ${BENCH_ONLY:-} in
  plan) exec tests/bench/plan.sh "$B" ;;
  apply) exec tests/bench/apply.sh "$B" ;;
  '' | all | frontend) ;;
  *) echo "bench: BENCH_ONLY is frontend, plan, apply or all, not '$BENCH_ONLY'" >&2; exit 2 ;;
esac
MB=${BENCH_MB:-50}
spec=$B/bench/spec-${MB}mb.idp

for t in genspec bench_frontend idp; do
  if [ ! -x "$B/$t" ]; then
    make --no-print-directory BUILD="$B" "$B/$t" >/dev/null || { echo "bench: cannot build $B/$t" >&2; exit 1; }
  fi
done
mkdir -p "$B/bench"
if [ ! -s "$spec" ] || [ "$B/genspec" -nt "$spec" ]; then
  echo "generating $spec ..."
  "$B/genspec" $((MB * 1000000)) "$spec" || exit 1
fi
bytes=$(wc -c <"$spec")

echo "== front end (bench_frontend, best of 3) =="
report=$("$B/bench_frontend" "$spec" 3) || { echo "$report"; echo "bench: bench_frontend failed" >&2; exit 1; }
echo "$report"

echo "== CLI end to end: idp validate (best of 3) =="
best=
for i in 1 2 3; do
  t0=$(date +%s%N)
  "$B/idp" validate "$spec" >/dev/null || { echo "bench: idp validate failed on $spec" >&2; exit 1; }
  t1=$(date +%s%N)
  ms=$(((t1 - t0) / 1000000))
  if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
done
cli_mbps=$(awk -v b="$bytes" -v ms="$best" 'BEGIN { printf "%.1f", (ms > 0 ? b / 1e6 / (ms / 1000) : 0) }')
extra=
if [ -x /usr/bin/time ]; then
  extra=$(/usr/bin/time -f '%U %S %M' "$B/idp" validate "$spec" 2>&1 >/dev/null | tail -1 |
    awk '{ printf "   (one more run: user %.2f s, sys %.2f s, peak RSS %.1f MiB)", $1, $2, $3 / 1024 }')
fi
printf 'idp validate    %8d ms  %7s MB/s%s\n' "$best" "$cli_mbps" "$extra"

echo "== targets =="
pv=$(awk '/^parse\+validate/ { print $4 }' <<<"$report")
ratio=$(awk '/^ratio +parse/ { sub(/x$/, "", $6); print $6 }' <<<"$report")
st=$(awk '/^stream/ { print $4 }' <<<"$report")
st_ratio=$(awk '/^ratio +stream/ { sub(/x$/, "", $6); print $6 }' <<<"$report")
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }
echo "parse+validate >= 50 MB/s:      $pv MB/s  -> $(verdict "$pv >= 50")"
echo "parse+validate <= 3x the scan:  ${ratio}x      -> $(verdict "$ratio <= 3")"
echo "stream >= 50 MB/s:              $st MB/s  -> $(verdict "$st >= 50")"
echo "stream <= 3x the scan:          ${st_ratio}x      -> $(verdict "$st_ratio <= 3")"
echo "idp validate >= 50 MB/s:        $cli_mbps MB/s  -> $(verdict "$cli_mbps >= 50")"
[ "${BENCH_ONLY:-}" = frontend ] && exit 0
echo
tests/bench/plan.sh "$B" || exit 1
echo
exec tests/bench/apply.sh "$B"
