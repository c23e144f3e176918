#!/usr/bin/env bash
# tests/stress/run.sh IDP_BINARY - feeds `idp validate` hostile and huge inputs, one TAP line each.
#
# Each case generates its input into a temporary directory (removed at exit) and runs
# `timeout 60 IDP validate FILE`. A case passes when idp ends by itself (no signal, no timeout, not
# exit status 99, which the sanitizer builds use) with status 0 or 1, and with the status the case
# expects: 0 for inputs that are valid, 1 for inputs that are certainly broken. Output is counted,
# and bounded: no input may make idp print more than 64 MB.
#
# STRESS_ONLY=REGEX runs only the cases whose names match. STRESS_KEEP=DIR keeps the input of each
# failing case there (inputs from /dev/urandom cannot be made again). Always exits 0.
set -u
if [ $# -ne 1 ]; then
  echo "usage: $0 IDP_BINARY" >&2
  exit 2
fi
IDP=$1
case $IDP in /*) ;; *) IDP=$PWD/$IDP ;; esac
if [ ! -x "$IDP" ]; then
  echo "not ok - idp binary $IDP is missing"
  exit 0
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=99}
export LC_ALL=C

T=$(mktemp -d "${TMPDIR:-/tmp}/idp-stress.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
ONLY=${STRESS_ONLY:-}
KEEP=${STRESS_KEEP:-}
OUT_CAP=$((64 * 1024 * 1024))

# --- running one case -----------------------------------------------------------------------------
# After run_idp FILE: rc (timeout's status), ms (wall time), out (the first OUT_CAP bytes of stdout
# and stderr), outbytes (all of them, counted without being stored).
rc=0
ms=0
outbytes=0
out=$T/out
run_idp() {
  local t0 t1
  t0=$(date +%s%N)
  timeout 60 "$IDP" validate "$1" 2>&1 | { head -c "$OUT_CAP" >"$out"; wc -c >"$T/rest"; }
  rc=${PIPESTATUS[0]}
  t1=$(date +%s%N)
  ms=$(((t1 - t0) / 1000000))
  outbytes=$(($(wc -c <"$out") + $(cat "$T/rest")))
}

want_case() { [ -z "$ONLY" ] || [[ $1 =~ $ONLY ]]; }

# check NAME EXPECT FILE [MAX_MS]: EXPECT is 0 (valid), 1 (must report errors) or any (0 or 1).
check() {
  local name=$1 expect=$2 file=$3 max_ms=${4:-}
  local why=""
  run_idp "$file"
  case $rc in
  0 | 1)
    if [ "$expect" != any ] && [ "$rc" != "$expect" ]; then
      why="exit status $rc, expected $expect"
    fi
    ;;
  124) why="timed out after 60 s" ;;
  99) why="sanitizer report (exit status 99)" ;;
  *) if [ "$rc" -gt 128 ]; then why="killed by signal $((rc - 128))"; else why="exit status $rc"; fi ;;
  esac
  if [ -z "$why" ] && [ "$outbytes" -gt "$OUT_CAP" ]; then
    why="printed $outbytes bytes (more than $OUT_CAP)"
  fi
  if [ -z "$why" ] && [ -n "$max_ms" ] && [ "$ms" -gt "$max_ms" ]; then
    why="took $ms ms (limit $max_ms ms)"
  fi
  if [ -z "$why" ] && [ -n "${EXTRA_CHECK:-}" ]; then
    why=$($EXTRA_CHECK)
  fi
  if [ -z "$why" ]; then
    echo "ok - $name"
    return 0
  fi
  echo "not ok - $name"
  echo "  # $why; $(wc -c <"$file") bytes of input, $ms ms, $outbytes bytes of output"
  if [ -n "$KEEP" ]; then
    mkdir -p "$KEEP" && cp "$file" "$KEEP/$(tr -c 'A-Za-z0-9_.-' '_' <<<"$name").idp" &&
      echo "  # input kept in $KEEP"
  fi
  head -c 2000 "$out" | tail -n 15 | cut -c 1-200 | sed 's/^/  /'
  return 1
}

# case NAME EXPECT GENERATOR [MAX_MS]: GENERATOR writes the input to stdout.
case_() {
  local name=$1 expect=$2 gen=$3 max_ms=${4:-}
  want_case "$name" || return 0
  local f=$T/input.idp
  if ! $gen >"$f"; then
    echo "not ok - $name"
    echo "  # generating the input failed"
    return 0
  fi
  check "$name" "$expect" "$f" "$max_ms"
  rm -f "$f"
}

# --- generators --------------------------------------------------------------------------------
# rep STRING N: STRING N times, without a newline.
rep() { awk -v s="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s", s }'; }

# Deterministic pseudo-random bytes (AES-CTR keystream of the seed), so a failure can be replayed.
seeded_bytes() { # seeded_bytes SEED BYTES
  if command -v openssl >/dev/null 2>&1; then
    openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:$1" </dev/zero 2>/dev/null | head -c "$2"
  else
    head -c "$2" /dev/urandom
  fi
}

# A valid spec of about $1 bytes with unique names, written by awk (the bench has a richer one).
valid_spec() {
  awk -v target="$1" '
  BEGIN {
    n = 0; size = 0
    while (size < target) {
      s = sprintf("# block group %d\n", n)
      s = s sprintf("integration postgres \"pg-%d\" {\n  dsn = secret(env(\"PG_DSN_%d\"))\n}\n\n", n, n)
      s = s sprintf("env_type t%d {\n  replicas = %d\n  dns_zone = powerdns.zone.z%d.name\n}\n\n", n, n % 5 + 1, n)
      s = s sprintf("env \"e%d\" { type = \"t%d\" }\n\n", n, n)
      s = s sprintf("provide workload \"w%d\" {\n  match { env_type = \"t%d\" }\n}\n\n", n, n)
      s = s sprintf("provide postgres \"p%d\" {\n  match { env_type = \"t%d\" }\n", n, n)
      s = s sprintf("  resource random.password \"pw\" {\n    length = %d\n  }\n", 16 + n % 16)
      s = s sprintf("  resource postgres.role \"owner\" {\n    server   = integration.pg-%d\n    name     = \"${app.name}_${env.name}\"\n    password = resource.pw.value\n    login    = n > 3 && !false ? true : false\n  }\n", n)
      s = s sprintf("  outputs {\n    host = integration.pg-%d.host\n    port = integration.pg-%d.port * 1 + 0\n    user = resource.owner.name\n  }\n}\n\n", n, n)
      s = s sprintf("app \"a%d\" {\n  image = registry_image(integration.main, \"acme/a%d\", \"v*\")\n  port  = %d\n", n, n, 8000 + n % 1000)
      s = s sprintf("  need \"db\" { type = \"postgres\" }\n  variables {\n    URL   = \"postgres://${need.db.user}@${need.db.host}:${need.db.port}/a%d\"\n", n)
      s = s sprintf("    LIST  = [\"x\", \"y\", %d]\n    MAP   = { a = 1, \"b\" = [true, null] }\n    NOTE  = <<EOT\nline ${env.name} %d\n  $${literal}\nEOT\n  }\n}\n\n", n, n)
      printf "%s", s
      size += length(s)
      n++
    }
  }'
}

gen_random() { seeded_bytes "$SEED" "$SIZE"; }
gen_urandom() { head -c "$SIZE" /dev/urandom; }
gen_valid_10mb() { valid_spec 10485760; }

gen_nul() {
  printf 'app "a\0b" {\n  x = "before\0after"\n  # comment \0 with NUL\n  y = 1\0\n  \0 = 2\n'
  printf '  /* block \0 comment */\n  z = <<EOT\nheredoc \0 line\nEOT\n}\n\0\0\0'
}

gen_open_list() { printf 'var "v" {\n  default = '; rep '[' 10000; printf '1'; rep ']' 10000; printf '\n}\n'; }
gen_open_paren() { printf 'var "v" {\n  default = '; rep '(' 10000; printf '1'; rep ')' 10000; printf '\n}\n'; }
gen_open_map() { printf 'var "v" {\n  default = '; rep '{a = ' 10000; printf '1'; rep '}' 10000; printf '\n}\n'; }
gen_open_brace() { rep '{' 10000; rep '}' 10000; printf '\n'; }
gen_open_interp() { printf 'var "v" {\n  default = "'; rep '${"' 10000; printf 'x'; rep '"}' 10000; printf '"\n}\n'; }
gen_open_heredoc_interp() { printf 'var "v" {\n  default = <<EOT\n'; rep '${' 10000; printf 'x'; rep '}' 10000; printf '\nEOT\n}\n'; }
gen_open_stray_interp() { printf 'var "v" {\n  default = '; rep '${' 10000; printf 'x'; rep '}' 10000; printf '\n}\n'; }
gen_unclosed_mix() { printf 'var "v" {\n  default = '; rep '[({"${' 2500; printf '\n'; }
gen_closers_only() { rep ')]}' 10000; printf '\n'; }

gen_nested_blocks() {
  printf 'app "a" {\n'
  awk 'BEGIN { pad = sprintf("%80s", "")
               for (i = 0; i < 10000; i++) printf "%sb%d \"l\" {\n", substr(pad, 1, i % 80), i
               for (i = 10000; i > 0; i--) print "}" }'
  printf '}\n'
}
gen_nested_blocks_oneline() { rep 'a { ' 10000; rep '} ' 10000; printf '\n'; }

gen_long_line() { # ~1 MB on one line, valid
  printf 'var "long" { default = ['
  rep '"abcdefghijklmnopqrstuvwxyz", 12345, true, null, ' 21000
  printf '1] }\n'
}
gen_long_string() { printf 'var "s" {\n  default = "'; rep 'abcdefgh${x}\\t ' 65536; printf '"\n}\n'; }
gen_long_comment() { printf '# '; rep 'comment ' 131072; printf '\napp "a" {}\n'; }
gen_long_ident() { printf 'var "i" {\n  default = '; rep 'abcdefgh' 131072; printf '\n}\n'; }
gen_long_heredoc_line() { printf 'var "h" {\n  default = <<EOT\n'; rep 'heredoc ' 131072; printf '\nEOT\n}\n'; }
gen_long_error_line() { rep '@ ' 500000; printf '\n'; }

gen_add_chain() { printf 'var "c" {\n  default = '; rep '1 + ' 199999; printf '1\n}\n'; }
gen_add_chain_multiline() { printf 'var "c" {\n  default = ('; rep '1 +\n' 199999; printf '1)\n}\n'; }
gen_unary_chain() { printf 'var "c" {\n  default = '; rep '- ' 100000; printf 'x\n}\n'; }
gen_not_chain() { printf 'var "c" {\n  default = '; rep '!' 100000; printf 'x\n}\n'; }
gen_cond_chain() { printf 'var "c" {\n  default = '; rep 'a ? b : ' 100000; printf 'c\n}\n'; }
gen_getattr_chain() { printf 'var "c" {\n  default = a'; rep '.b' 200000; printf '\n}\n'; }
gen_index_chain() { printf 'var "c" {\n  default = a'; rep '[0]' 200000; printf '\n}\n'; }
gen_call_chain() { printf 'var "c" {\n  default = '; rep 'f(' 5000; printf 'x'; rep ')' 5000; printf '\n}\n'; }
gen_big_list() { printf 'var "c" {\n  default = [\n'; rep '  "item",\n' 200000; printf '  ]\n}\n'; }
gen_many_attrs() { printf 'app "a" {\n  variables {\n'; awk 'BEGIN { for (i = 0; i < 200000; i++) printf "    V%d = %d\n", i, i }'; printf '  }\n}\n'; }
gen_many_blocks() { awk 'BEGIN { for (i = 0; i < 100000; i++) printf "env \"e%d\" { type = \"t\" }\n", i }'; }

gen_many_errors() { awk 'BEGIN { for (i = 0; i < 100000; i++) print "@" }'; }
gen_many_dupes() { awk 'BEGIN { for (i = 0; i < 100000; i++) print "env \"same\" { type = \"t\" }" }'; }
gen_many_syntax_errors() { awk 'BEGIN { for (i = 0; i < 100000; i++) print "app \"a" i "\" { x = = 1 }" }'; }

gen_many_unclosed_blocks() { awk 'BEGIN { for (i = 0; i < 100000; i++) printf "app \"a%d\" {\n  port = %d\n", i, i }'; }
gen_many_missing_open() { awk 'BEGIN { for (i = 0; i < 100000; i++) printf "app \"a%d\"\n  port = %d\n}\n", i, i }'; }
gen_many_broken_headers() { awk 'BEGIN { for (i = 0; i < 100000; i++) printf "app true \"a%d\" @ {\n  port = %d\n}\n", i, i }'; }
gen_many_long_error_lines() { # 2,000 lines of 2,000 bytes, each with an error at its end
  awk 'BEGIN { s = sprintf("%2000s", ""); for (i = 0; i < 2000; i++) printf "%s@\n", s }'
}
gen_many_unclosed_strings() { awk 'BEGIN { for (i = 0; i < 100000; i++) printf "x%d = \"${a + \"${b\n", i }'; }

gen_comments_only() {
  printf '# a comment\n// another\n/* a block\n   comment */\n'
  awk 'BEGIN { for (i = 0; i < 10000; i++) printf "# line %d\n// line %d\n/* %d */\n", i, i, i }'
}
gen_empty() { :; }
gen_blank() { printf '\n\n  \t\n\r\n'; }

gen_crlf() {
  sed 's/$/\r/' <<'EOF'
# CRLF line endings throughout.
integration postgres "pg" {
  dsn = secret(env("PG_ADMIN_DSN"))
}
env_type development {
  replicas = 1
}
env "dev" { type = "development" }
/* a block comment
   over lines */
app "shop" {
  image = registry_image(integration.main, "acme/shop", "v*")
  port  = 8080
  need "db" { type = "postgres" }
  variables {
    URL   = "postgres://${need.db.user}@${need.db.host}"
    LIST  = [
      "a",
      "b",
    ]
    MAP = {
      a = 1
      b = "two"
    }
    TEXT = <<EOT
heredoc line ${env.name}
EOT
    STRIP = <<-EOT
      indented
      EOT
    LEVEL = env.type == "production" ? "info" : "debug"
  }
}
EOF
}

gen_heredoc_unclosed() { printf 'app "a" {\n  x = <<EOT\nsome text ${a}\nmore text\n'; rep 'line\n' 10000; }
gen_heredoc_unclosed_eof() { printf 'app "a" {\n  x = <<EOT\n'; }
gen_string_unclosed() { printf 'app "a" {\n  x = "never closed'; }
gen_string_unclosed_interp() { printf 'app "a" {\n  x = "${a + "${b'; }
gen_comment_unclosed() { printf 'app "a" {}\n/* never closed\n'; rep 'text\n' 10000; }

# --- cases -------------------------------------------------------------------------------------
for SIZE in 1024 65536 1048576 8388608; do
  for SEED in 1 2 3; do
    case_ "random bytes $SIZE, seed $SEED" any gen_random
  done
done
SIZE=262144 case_ "random bytes 262144 from /dev/urandom" any gen_urandom

if want_case "valid spec 10 MB"; then
  valid_spec 10485760 >"$T/big.idp"
  if check "valid spec 10 MB" 0 "$T/big.idp"; then
    mb=$(awk -v b="$(wc -c <"$T/big.idp")" -v ms="$ms" 'BEGIN { printf "%.1f", b / 1048576 / (ms / 1000) }')
    echo "# valid spec 10 MB: $(wc -c <"$T/big.idp") bytes validated in $ms ms ($mb MB/s, end to end)"
  fi
  rm -f "$T/big.idp"
fi

case_ "NUL bytes in code, strings, comments and heredocs" 1 gen_nul
case_ "[ nested 10,000 deep" 1 gen_open_list
case_ "( nested 10,000 deep" 1 gen_open_paren
case_ "{ maps nested 10,000 deep" 1 gen_open_map
case_ "{ braces nested 10,000 deep" 1 gen_open_brace
case_ "\${ in strings nested 10,000 deep" 1 gen_open_interp
case_ "\${ in a heredoc nested 10,000 deep" 1 gen_open_heredoc_interp
case_ "stray \${ nested 10,000 deep" 1 gen_open_stray_interp
case_ "10,000 brackets of each kind never closed" 1 gen_unclosed_mix
case_ "30,000 closers with nothing open" 1 gen_closers_only
case_ "10,000 nested blocks" 1 gen_nested_blocks
case_ "10,000 nested blocks on one line" 1 gen_nested_blocks_oneline
case_ "1 MB single line (valid)" 0 gen_long_line
case_ "1 MB string with interpolations" 0 gen_long_string
case_ "1 MB comment line" 0 gen_long_comment
case_ "1 MB identifier" 0 gen_long_ident
case_ "1 MB heredoc line" 0 gen_long_heredoc_line
case_ "1 MB single line of 500,000 errors" 1 gen_long_error_line 20000
case_ "expression chain 1 + 1 + ... of 200,000 terms" any gen_add_chain
case_ "expression chain of 200,000 terms over lines in ( )" any gen_add_chain_multiline
case_ "unary chain - - - x of 100,000" any gen_unary_chain
case_ "unary chain !!!x of 100,000" any gen_not_chain
case_ "conditional chain a ? b : ... of 100,000" any gen_cond_chain
case_ "attribute chain a.b.b... of 200,000" any gen_getattr_chain
case_ "index chain a[0][0]... of 200,000" any gen_index_chain
case_ "calls nested 5,000 deep" any gen_call_chain
case_ "list of 200,000 items" 0 gen_big_list
case_ "200,000 attributes in one block" 0 gen_many_attrs
case_ "100,000 top-level blocks" 0 gen_many_blocks

count_diags() { # a bounded number of diagnostics, and the total said
  local shown
  shown=$(grep -c ':[0-9]*:[0-9]*: error: ' "$out")
  if [ "$shown" -gt 10000 ]; then echo "printed $shown errors (more than 10,000)"; return; fi
  grep -q '^100000 errors$' "$out" || echo "no '100000 errors' summary line"
}
EXTRA_CHECK=count_diags case_ "100,000 errors in one file" 1 gen_many_errors 10000
case_ "100,000 duplicate blocks" 1 gen_many_dupes 10000
case_ "100,000 syntax errors" 1 gen_many_syntax_errors 10000

case_ "100,000 blocks never closed" 1 gen_many_unclosed_blocks 10000
case_ "100,000 blocks missing their {" 1 gen_many_missing_open 10000
case_ "100,000 broken block headers" 1 gen_many_broken_headers 10000
case_ "2,000 lines of 2,000 bytes, an error at each end" 1 gen_many_long_error_lines 10000
case_ "100,000 unclosed interpolations" 1 gen_many_unclosed_strings 10000

case_ "only comments" 0 gen_comments_only
case_ "empty file" 0 gen_empty
case_ "only blank lines" 0 gen_blank
case_ "CRLF line endings (valid)" 0 gen_crlf
case_ "heredoc never closed" 1 gen_heredoc_unclosed
case_ "heredoc opened on the last line" 1 gen_heredoc_unclosed_eof
case_ "string never closed at EOF" 1 gen_string_unclosed
case_ "interpolations never closed at EOF" 1 gen_string_unclosed_interp
case_ "block comment never closed" 1 gen_comment_unclosed
exit 0
