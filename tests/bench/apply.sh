#!/usr/bin/env bash
# tests/bench/apply.sh BUILD_DIR - apply benchmark (issue 4): `idp apply -auto-approve -json
# -parallelism P` of N http.request resources (default 1,000) against a local REST server that
# answers every call after 20 ms (BUILD_DIR/slowserver), at parallelism 10 and 50, in a graph of
# depth 1 (all independent) and of depth 10 (10 layers of N/10, each resource depending on one of
# the layer before: 100 chains of 10).
#
# Per (parallelism, depth), from a fresh state: the spec is written to BUILD_DIR/bench/apply/dD/
# (main.idp; the state under .idp/ is removed before each run), the apply runs under benchrun
# (wall time, CPU time, peak RSS of the whole process), best of BENCH_RUNS (default 3) by wall
# time; with -json, for the mean time of a call as idp saw it. Each run is checked: exit 0, the
# summary `N added, 0 changed, 0 destroyed, 0 failed, 0 skipped`, the server got exactly N
# creates, and `idp plan -refresh=false` of the directory afterwards says `No changes.` (every
# result is in the state). Then the table: the wall time against the floor max(depth,
# N/parallelism) x 20 ms, their ratio (met within 1.25x), the same against the calls' measured
# mean time instead of 20 ms (what the executor adds, apart from a slow HTTP round trip on a busy
# machine), and peak RSS.
#
# BENCH_APPLY_N (default 1000), BENCH_APPLY_PAR (default "10 50"), BENCH_APPLY_DEPTHS (default
# "1 10"), BENCH_APPLY_DELAY_MS (default 20) change the sizes; BENCH_APPLY_LINK=ref makes each
# resource reference its parent's id in its body (a value known only after apply, filled in at
# apply time) instead of depends_on; BENCH_APPLY_IDP=PATH times another idp binary (e.g. an older
# build, for a before/after). Exits 1 when something could not be run or a run went wrong; a
# missed target is reported, not an error.
set -u
if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
cd "$(dirname "$0")/../.." || exit 1
B=$1
case $B in /*) ;; *) B="$PWD/$B" ;; esac
N=${BENCH_APPLY_N:-1000}
pars=${BENCH_APPLY_PAR:-10 50}
depths=${BENCH_APPLY_DEPTHS:-1 10}
delay=${BENCH_APPLY_DELAY_MS:-20}
link=${BENCH_APPLY_LINK:-depends_on}
runs=${BENCH_RUNS:-3}
idp=${BENCH_APPLY_IDP:-$B/idp}

die() {
  echo "bench: $*" >&2
  exit 1
}
case $link in depends_on | ref) ;; *) die "BENCH_APPLY_LINK is depends_on or ref, not '$link'" ;; esac

for t in benchrun slowserver idp; do
  if [ ! -x "$B/$t" ]; then
    make --no-print-directory BUILD="$B" "$B/$t" >/dev/null || die "cannot build $B/$t"
  fi
done
for d in $depths; do
  [ $((N % d)) -eq 0 ] || die "BENCH_APPLY_N ($N) is not a multiple of the depth $d"
done

work=$B/bench/apply
mkdir -p "$work" || die "cannot make $work"
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
  fi
}
trap stop_server EXIT
rm -f "$work/port"
"$B/slowserver" "$work/port" "$delay" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || die "the test server did not start: $(cat "$work/server.err")"
BENCH_HTTP_URL=http://127.0.0.1:$(cat "$work/port")
export BENCH_HTTP_URL

# stats: the server's counters (and DELETE resets them)
stats() { curl -sS -X "${1:-GET}" "$BENCH_HTTP_URL/_stats" 2>/dev/null || echo '{}'; }
json_num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"; }
command -v curl >/dev/null 2>&1 || die "curl is needed (the server's counters)"

# gen DEPTH DIR: N resources in DEPTH layers; each of layer l > 0 depends on the one of the same
# index in layer l - 1.
gen() {
  local depth=$1 dir=$2
  mkdir -p "$dir" || die "cannot make $dir"
  awk -v n="$N" -v depth="$depth" -v link="$link" 'BEGIN {
    per = n / depth
    printf "# The apply benchmark (tests/bench/apply.sh): %d http.request resources, %d layer(s) of %d.\n", n, depth, per
    print "integration http \"bench\" {"
    print "  base_url = env(\"BENCH_HTTP_URL\")"
    print "}"
    for (l = 0; l < depth; l++)
      for (i = 0; i < per; i++) {
        name = sprintf("r%02d_%05d", l, i)
        parent = sprintf("http.request.r%02d_%05d", l - 1, i)
        print ""
        print "resource http.request \"" name "\" {"
        print "  server      = integration.bench"
        print "  create_url  = \"things\""
        if (l > 0 && link == "ref") print "  create_body = { name = \"" name "\", parent = " parent ".id }"
        else print "  create_body = { name = \"" name "\" }"
        print "  read_url    = \"things/{id}\""
        print "  delete_url  = \"things/{id}\""
        if (l > 0 && link != "ref") print "  depends_on  = [" parent "]"
        print "}"
      }
  }' >"$dir/main.idp" || die "cannot write $dir/main.idp"
}

# measure P DIR: best of $runs applies by wall time, each from a fresh state and checked. Sets $res.
measure() {
  local par=$1 dir=$2 out=$work/apply.out err=$work/apply.err best_ms='' line st want
  want="{\"added\":$N,\"changed\":0,\"destroyed\":0,\"failed\":0,\"interrupted\":false,\"skipped\":0,\"total\":$N,\"type\":\"summary\"}"
  res=
  for ((i = 0; i < runs; i++)); do
    rm -rf "$dir/.idp"
    stats DELETE >/dev/null
    line=$("$B/benchrun" "$out" -- "$idp" apply -auto-approve -json -parallelism "$par" "$dir" 2>"$err") || die "benchrun failed"
    st=${line##*status=}
    [ "$st" = 0 ] || die "idp apply -parallelism $par $dir exited $st: $(head -5 "$err")"
    [ "$(tail -1 "$out")" = "$want" ] || die "idp apply $dir: last line '$(tail -1 "$out")', want '$want'"
    local creates
    creates=$(json_num creates "$(stats)")
    [ "$creates" = "$N" ] || die "idp apply $dir: the server got ${creates:-?} creates, want $N"
    "$idp" plan "$dir" -refresh=false >"$work/plan.out" 2>&1 || die "idp plan $dir after the apply failed: $(tail -3 "$work/plan.out")"
    [ "$(tail -1 "$work/plan.out")" = "No changes." ] || die "idp plan $dir after the apply: '$(tail -1 "$work/plan.out")', want 'No changes.'"
    local ms=${line#wall_ms=}
    ms=${ms%% *}
    if [ -z "$best_ms" ] || [ "$ms" -lt "$best_ms" ]; then
      best_ms=$ms
      # the mean time of a call as idp saw it (the -json events' elapsed)
      local call
      call=$(awk -F'"elapsed":' '/"event":"done"/ { split($2, a, ","); s += a[1]; n++ } END { printf "%.1f", n ? s / n * 1000 : 0 }' "$out")
      res="$line max_in_flight=$(json_num max_in_flight "$(stats)") call_ms=$call"
    fi
  done
}

field() { # field NAME LINE
  local v=${2#*"$1"=}
  echo "${v%% *}"
}

rows=()
for d in $depths; do
  dir=$work/d$d
  gen "$d" "$dir"
  for p in $pars; do
    measure "$p" "$dir"
    rows+=("$p $d $(field wall_ms "$res") $(field user_ms "$res") $(field sys_ms "$res") $(field maxrss_kib "$res") $(field max_in_flight "$res") $(field call_ms "$res")")
  done
done

echo "== apply: $N http.request, every call answered after $delay ms (best of $runs by wall time; $link) =="
echo "floor = max(depth, N/parallelism) x $delay ms; call_ms: a call's mean time as idp saw it (-json elapsed);"
echo "at_call: wall / (max(depth, N/parallelism) x call_ms), the executor's own overhead; in_flight: the server's most at once"
printf '%11s %5s %8s %8s %6s %7s %8s %7s %7s %8s %9s  %s\n' parallelism depth floor_ms wall_ms ratio call_ms at_call user_ms sys_ms peak_MiB in_flight "target <= 1.25x"
missed=0
for r in "${rows[@]}"; do
  read -r p d wall user sys rss inflight call <<<"$r"
  rounds=$(awk -v d="$d" -v n="$N" -v p="$p" 'BEGIN { r = n / p; if (d > r) r = d; print r }')
  floor=$(awk -v r="$rounds" -v ms="$delay" 'BEGIN { printf "%d", r * ms }')
  ratio=$(awk -v w="$wall" -v f="$floor" 'BEGIN { printf "%.2f", (f > 0 ? w / f : 0) }')
  at_call=$(awk -v w="$wall" -v r="$rounds" -v c="$call" 'BEGIN { printf "%.2f", (r * c > 0 ? w / (r * c) : 0) }')
  if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.25) }'; then v=met; else
    v=MISSED
    missed=1
  fi
  printf '%11d %5d %8d %8d %5sx %7s %7sx %7d %7d %8.1f %9s  %s\n' "$p" "$d" "$floor" "$wall" "$ratio" "$call" "$at_call" \
    "$user" "$sys" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$inflight" "$v"
done
if [ $missed = 0 ]; then echo "apply within 1.25x of the floor: met"; else echo "apply within 1.25x of the floor: MISSED"; fi
exit 0
