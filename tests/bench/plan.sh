#!/usr/bin/env bash
# tests/bench/plan.sh BUILD_DIR - plan benchmark: `idp plan -refresh=false` on generated specs of
# E environments x A apps x 3 needs (plus the workload: 4 resource instances per env x app, and 4
# top-level ones), with the matching state (no changes) and with no state (all creates).
#
# Per size, BUILD_DIR/bench/plan-ExA/ holds spec/ (genplan's files, and in spec/.idp/state/ the
# states mkplanstate writes, so that the plan finds nothing to do) and empty/ (links to the same
# files, no state). Both are made once per build of genplan and mkplanstate. Each plan runs under
# benchrun (wall time, CPU time, peak RSS of the whole process), best of BENCH_RUNS (default 3) by
# wall time; its output is checked: exactly `No changes.` with the matching state, and
# `Plan: N to add, 0 to change, 0 to destroy.` with N = 4 x E x A + 4 without one. Then the table,
# and the targets of issue 3: the 40k no-change plan under 2 s and 500 MB, and near-linear growth
# (time and RSS per instance of the largest size within 1.5x of the 40k one's).
# BENCH_PLAN_SIZES="ExA ..." (default "1x1000 10x1000 40x1000": 4k, 40k, 160k instances) picks
# other sizes. Exits 1 when something could not be run or a plan's output is not as expected.
set -u
if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
cd "$(dirname "$0")/../.."
B=$1
case $B in /*) ;; *) B="$PWD/$B" ;; esac
sizes=${BENCH_PLAN_SIZES:-1x1000 10x1000 40x1000}
runs=${BENCH_RUNS:-3}

for t in genplan mkplanstate benchrun idp; do
  if [ ! -x "$B/$t" ]; then
    make --no-print-directory BUILD="$B" "$B/$t" >/dev/null || { echo "bench: cannot build $B/$t" >&2; exit 1; }
  fi
done

# The spec reads two secrets through secret(env(...)); the states seal them with a fixed key.
export BENCH_PDNS_KEY=bench-pdns-api-key BENCH_PG_DSN=postgres://admin:bench@127.0.0.1:5432/postgres
export IDP_STATE_KEY=6964702d62656e63682d6b65792d6e6f742d612d7265616c2d7365637265742e

die() {
  echo "bench: $*" >&2
  exit 1
}

# prepare E A DIR: the spec, its matching states and the empty twin, unless DIR is up to date.
prepare() {
  local e=$1 a=$2 d=$3
  if [ -f "$d/.done" ] && [ "$d/.done" -nt "$B/genplan" ] && [ "$d/.done" -nt "$B/mkplanstate" ]; then return 0; fi
  echo "generating $d ($((4 * e * a + 4)) instances) ..."
  rm -rf "$d"
  mkdir -p "$d/spec" "$d/empty" || die "cannot make $d"
  "$B/genplan" "$e" "$a" "$d/spec" || die "genplan $e $a failed"
  for f in "$d/spec"/*.idp; do ln -s "../spec/$(basename "$f")" "$d/empty/"; done
  "$B/mkplanstate" "$d/spec" >/dev/null || die "mkplanstate $d/spec failed"
  touch "$d/.done"
}

# measure DIR WANT: best of $runs plans of DIR by wall time; checks the last line of the output is
# WANT (and, for "No changes.", that nothing else came out). Sets $res.
measure() {
  local dir=$1 want=$2 out=$B/bench/plan.out best_ms= line
  res=
  for ((i = 0; i < runs; i++)); do
    line=$("$B/benchrun" "$out" -- "$B/idp" plan "$dir" -refresh=false 2>"$B/bench/plan.err") || die "benchrun failed"
    local status=${line##*status=}
    [ "$status" = 0 ] || die "idp plan $dir exited $status: $(head -5 "$B/bench/plan.err")"
    [ "$(tail -1 "$out")" = "$want" ] || die "idp plan $dir: last line '$(tail -1 "$out")', want '$want'"
    if [ "$want" = "No changes." ] && [ "$(wc -l <"$out")" -ne 1 ]; then
      die "idp plan $dir: $(wc -l <"$out") lines for a plan without changes, want 1 (No changes.)"
    fi
    local ms=${line#wall_ms=}
    ms=${ms%% *}
    if [ -z "$best_ms" ] || [ "$ms" -lt "$best_ms" ]; then
      best_ms=$ms
      res=$line
    fi
  done
}

field() { # field NAME LINE
  local v=${2#*"$1"=}
  echo "${v%% *}"
}

mkdir -p "$B/bench"
rows=()
for s in $sizes; do
  e=${s%x*}
  a=${s#*x}
  d=$B/bench/plan-$s
  prepare "$e" "$a" "$d"
  n=$((4 * e * a + 4))
  for kind in nochange create; do
    if [ $kind = nochange ]; then
      measure "$d/spec" "No changes."
    else
      measure "$d/empty" "Plan: $n to add, 0 to change, 0 to destroy."
    fi
    rows+=("$s $n $kind $(field wall_ms "$res") $(field user_ms "$res") $(field sys_ms "$res") $(field maxrss_kib "$res")")
  done
done

echo "== plan -refresh=false (best of $runs by wall time; peak RSS of the whole process) =="
printf '%-9s %9s  %-9s %9s %9s %9s %10s %12s %14s\n' size instances state wall_ms user_ms sys_ms peak_MiB "us/instance" "KiB/instance"
for r in "${rows[@]}"; do
  read -r s n kind wall user sys rss <<<"$r"
  printf '%-9s %9d  %-9s %9d %9d %9d %10.1f %12.1f %14.2f\n' "$s" "$n" \
    "$([ $kind = nochange ] && echo no-change || echo all-create)" "$wall" "$user" "$sys" \
    "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v w="$wall" -v n="$n" 'BEGIN { print w * 1000 / n }')" \
    "$(awk -v k="$rss" -v n="$n" 'BEGIN { print k / n }')"
done

echo "== targets =="
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }
row_of() { # row_of SIZE KIND
  for r in "${rows[@]}"; do
    read -r s n kind rest <<<"$r"
    if [ "$s" = "$1" ] && [ "$kind" = "$2" ]; then
      echo "$r"
      return
    fi
  done
}
r40=$(row_of 10x1000 nochange)
if [ -n "$r40" ]; then
  read -r _ _ _ wall _ _ rss <<<"$r40"
  echo "40k no-change plan < 2000 ms:    $wall ms  -> $(verdict "$wall < 2000")"
  echo "40k no-change plan < 500 MB:     $(awk -v k="$rss" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }') MB  -> $(verdict "$rss * 1024 < 500e6")"
fi
big=$(tr ' ' '\n' <<<"$sizes" | tail -1)
for kind in nochange create; do
  r40=$(row_of 10x1000 $kind)
  rb=$(row_of "$big" $kind)
  [ -n "$r40" ] && [ -n "$rb" ] && [ "$big" != 10x1000 ] || continue
  read -r _ n1 _ w1 _ _ m1 <<<"$r40"
  read -r _ n2 _ w2 _ _ m2 <<<"$rb"
  tr=$(awk -v a="$w1" -v b="$w2" -v n1="$n1" -v n2="$n2" 'BEGIN { printf "%.2f", (b / n2) / (a / n1) }')
  mr=$(awk -v a="$m1" -v b="$m2" -v n1="$n1" -v n2="$n2" 'BEGIN { printf "%.2f", (b / n2) / (a / n1) }')
  echo "$kind: per instance, $big vs 10x1000: time ${tr}x, RSS ${mr}x  -> $(verdict "$tr <= 1.5 && $mr <= 1.5")"
done
exit 0
