#!/usr/bin/env bash
# tests/cli/run.sh IDP_BINARY - the command line's behaviour: help, version, usage errors, exit
# statuses, where output goes, and `idp validate` on files, folders and the design baseline.
#
# Prints one TAP-style line per check, `ok - NAME` or `not ok - NAME` followed by indented detail
# (what was run, its exit status, stdout and stderr). Exits 0 even when checks fail: tests/run.sh
# counts the lines. The baseline specs are looked up in the `shared` folder next to the repo
# (override with IDP_BASELINE); when absent that check is reported as skipped.
set -u

# usage, idp, here, LC_ALL and tmp: tests/suite.sh (its ok / bad / fail / check go unused: each
# line here is printed by report, below)
# shellcheck source=../suite.sh
. "$(dirname "$0")/../suite.sh" cli "$@" || exit 0
baseline=${IDP_BASELINE:-$here/../../../shared/design/baseline}
trap 'rm -rf "$tmp"' EXIT
timeout_s=20

# run [-C DIR] ARGS...: runs idp, leaving $out, $err and $rc.
run() {
  local dir=$PWD
  if [ "${1:-}" = "-C" ]; then
    dir=$2
    shift 2
  fi
  last_cmd="(cd $dir && idp $*)"
  { (cd "$dir" && timeout -k 5 "$timeout_s" "$idp" "$@") >"$tmp/out" 2>"$tmp/err" </dev/null; } 2>/dev/null
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}

# check NAME COND_DESCRIPTION... : each failed expectation adds to $why; report prints the line.
why=()
expect_rc() { [ "$rc" -eq "$1" ] || why+=("exit status $rc, want $1"); }
expect_out_has() { grep -qF -- "$1" <<<"$out" || why+=("stdout lacks: $1"); }
expect_err_has() { grep -qF -- "$1" <<<"$err" || why+=("stderr lacks: $1"); }
expect_out_empty() { [ -z "$out" ] || why+=("stdout should be empty"); }
expect_err_empty() { [ -z "$err" ] || why+=("stderr should be empty"); }
expect_out_is() { [ "$out" = "$1" ] || why+=("stdout should be exactly: $1"); }
expect_out_starts() { case $out in "$1"*) ;; *) why+=("stdout should start with: $1") ;; esac; }
expect_err_starts() { case $err in "$1"*) ;; *) why+=("stderr should start with: $1") ;; esac; }
expect_same() { [ "$1" = "$2" ] || why+=("$3"); }

report() { # report NAME
  local bad=("${why[@]}")
  case $rc in
    0 | 1 | 2) ;;
    99) bad+=("sanitizer report (exit 99)") ;;
    124 | 137) bad+=("timed out after ${timeout_s}s") ;;
    *) [ "$rc" -gt 128 ] && bad+=("killed by signal $((rc - 128))") ;;
  esac
  if [ ${#bad[@]} -eq 0 ]; then
    echo "ok - $1"
  else
    echo "not ok - $1"
    printf '  # %s\n' "${bad[@]}"
    echo "  # ran: $last_cmd  -> exit $rc"
    [ -n "$out" ] && { echo "  # stdout:"; sed 's/^/  /' <<<"$out"; }
    [ -n "$err" ] && { echo "  # stderr:"; sed 's/^/  /' <<<"$err"; }
  fi
  why=()
}

# --- version and help ----------------------------------------------------------------------------
run version
expect_rc 0
expect_out_starts "idp "
[ "$(wc -l <<<"$out")" -eq 1 ] || why+=("want one line")
[ "${#out}" -gt 4 ] || why+=("the version after 'idp ' is empty")
expect_err_empty
report "version prints 'idp VERSION' and exits 0"
version_out=$out

for f in -version --version; do
  run "$f"
  expect_rc 0
  expect_same "$out" "$version_out" "'idp $f' should print what 'idp version' prints"
  report "'idp $f' is 'idp version'"
done

run help
expect_rc 0
for c in validate fmt version help; do
  grep -qE "^  $c( |$)" <<<"$out" || why+=("the command list lacks '$c'")
done
expect_out_starts "Usage: idp COMMAND"
expect_err_empty
report "help lists the commands on stdout, exit 0"
help_out=$out

for f in -help --help -h; do
  run "$f"
  expect_rc 0
  expect_same "$out" "$help_out" "'idp $f' should print what 'idp help' prints"
  report "'idp $f' is 'idp help'"
done

run
expect_rc 2
expect_out_empty
expect_err_has "Usage: idp COMMAND"
report "no command: usage on stderr, exit 2"

run help validate
expect_rc 0
expect_out_starts "Usage: idp validate"
expect_out_has "Exit status"
expect_err_empty
report "'idp help validate' prints the usage of validate"
help_validate=$out

for f in -help --help -h --h; do
  run validate "$f"
  expect_rc 0
  expect_same "$out" "$help_validate" "'idp validate $f' should print what 'idp help validate' prints"
  expect_err_empty
  report "'idp validate $f' prints the usage of validate"
done

run validate some/path --help
expect_rc 0
expect_same "$out" "$help_validate" "a help flag after a path should print the usage too"
report "'idp validate PATH --help' prints the usage"

run help fmt
help_fmt=$out
for f in -help --help; do
  run fmt "$f"
  expect_rc 0
  expect_same "$out" "$help_fmt" "'idp fmt $f' should print what 'idp help fmt' prints"
  report "'idp fmt $f' prints the usage of fmt"
done

run help valdate
expect_rc 2
expect_out_empty
expect_err_has "unknown command 'valdate'"
report "'idp help UNKNOWN' is an error, exit 2"

# --- unknown commands and flags --------------------------------------------------------------------
run valdate
expect_rc 2
expect_out_empty
expect_err_has "error: unknown command 'valdate'"
expect_err_has "hint: did you mean 'idp validate'?"
report "unknown command with a did-you-mean hint, exit 2"

run xyzzy
expect_rc 2
expect_out_empty
expect_err_has "error: unknown command 'xyzzy'"
expect_err_has "hint: run 'idp help'"
report "unknown command without a close match points to 'idp help', exit 2"

run --frobnicate
expect_rc 2
expect_out_empty
grep -q "error: " <<<"$err" || why+=("stderr lacks an error line")
report "unknown flag in place of a command is an error, exit 2"

run validate -frobnicate
expect_rc 2
expect_out_empty
expect_err_has "idp validate: error: unknown flag '-frobnicate'"
expect_err_has "hint: "
report "unknown flag of validate: error and hint, exit 2"

run validate --hepl
expect_rc 2
expect_out_empty
expect_err_has "error: unknown flag '--hepl'"
expect_err_has "hint: did you mean '-help'?"
report "misspelt flag gets a did-you-mean hint, exit 2"
err_two=$err
run validate -hepl
expect_rc 2
expect_same "${err//-hepl/X}" "${err_two//--hepl/X}" "'-hepl' and '--hepl' should be reported alike"
report "one dash or two: an unknown flag is reported alike"

run validate -frobnicate "$baseline"
expect_rc 2
expect_out_empty
report "an unknown flag stops validate before it reads any file"

# --- validate: paths -------------------------------------------------------------------------------
run validate "$tmp/no-such-dir/spec.idp"
expect_rc 1
expect_out_empty
expect_err_has "$tmp/no-such-dir/spec.idp"
expect_err_has "error"
report "validate on a missing path names it, exit 1"

mkdir -p "$tmp/empty"
run validate "$tmp/empty"
expect_rc 1
expect_out_empty
expect_err_has "no .idp files in $tmp/empty"
report "validate on a folder without .idp files says so, exit 1"

run -C "$tmp/empty" validate
expect_rc 1
expect_out_empty
expect_err_has "no .idp files in ."
report "validate with no argument in a folder without .idp files says so, exit 1"

mkdir -p "$tmp/mixed/sub"
printf 'app "shop" {\n  port = 8080\n}\n' >"$tmp/mixed/shop.idp"
printf 'env "dev" {\n  type = "development"\n}\n' >"$tmp/mixed/dev.idp"
printf 'not a spec {{{\n' >"$tmp/mixed/notes.txt"
printf 'broken {{{\n' >"$tmp/mixed/.hidden.idp"
printf 'broken {{{\n' >"$tmp/mixed/sub/nested.idp"
run validate "$tmp/mixed"
expect_rc 0
expect_out_is "2 files, 2 blocks: valid"
expect_err_empty
report "validate DIR takes the folder's .idp files only: not other files, hidden files or subfolders"

run -C "$tmp/mixed" validate
expect_rc 0
expect_out_is "2 files, 2 blocks: valid"
report "validate with no argument takes the current folder"

run validate "$tmp/mixed/shop.idp"
expect_rc 0
expect_out_is "1 file, 1 block: valid"
expect_err_empty
report "validate FILE: singular counts"

mkdir -p "$tmp/bad"
printf 'app "shop" {\n  port = 8080 @\n}\n' >"$tmp/bad/shop.idp"
run -C "$tmp" validate bad/
expect_rc 1
expect_out_empty
expect_err_starts "bad/shop.idp:2:15: error: "
expect_err_has "1 error"
report "errors go to stderr as PATH:LINE:COL, the path as given (no doubled '/'), exit 1"

printf 'app "billing" {\n  port = 9090\n}\n' >"$tmp/billing.idp"
run -C "$tmp" validate mixed billing.idp
expect_rc 0
expect_out_is "3 files, 3 blocks: valid"
report "validate takes several paths, folders and files mixed"

# --- validate: modules (`use`) ---------------------------------------------------------------------
# The stdlib is the repository's (IDP_STDLIB overrides the compiled-in folder).
export IDP_STDLIB="$here/../../stdlib"
mkdir -p "$tmp/usek"
cat >"$tmp/usek/main.idp" <<'SPEC'
use "kubernetes" {}

integration kubernetes "prod" {
  server = "https://127.0.0.1:6443"
}

env_type production {
  cluster  = integration.prod
  replicas = 2
}

env "prod" { type = "production" }

app "shop" {
  image = "registry.example/acme/shop@sha256:0000000000000000000000000000000000000000000000000000000000000000"
  port  = 8080
}
SPEC
run -C "$tmp/usek" validate
expect_rc 0
expect_out_is "2 files, 7 blocks: valid"
expect_err_empty
report "use \"kubernetes\": the stdlib module's file joins the spec"

run -C "$tmp/usek" graph -env prod
expect_rc 0
expect_out_has "env.prod/app.shop/need.workload/kubernetes.deployment.app"
expect_out_has "env.prod/app.shop/need.workload/kubernetes.service.svc"
report "use \"kubernetes\": graph sees the module's provide workload"

run -C "$tmp/usek" explain -env prod app.shop.need.workload
expect_rc 0
expect_out_has "kubernetes"
report "use \"kubernetes\": explain sees the module's provide"

mkdir -p "$tmp/usebad"
printf 'env "dev" {\n  type = "development"\n}\n\nuse "kubernets" {}\n' >"$tmp/usebad/main.idp"
run -C "$tmp/usebad" validate
expect_rc 1
expect_out_empty
expect_err_starts "main.idp:5:5: error: unknown module \"kubernets\""
expect_err_has "hint: the stdlib modules"
expect_err_has "kubernetes"
report "an unknown module is an error at the use label, with the stdlib modules as a hint"

mkdir -p "$tmp/stdlib2/extra"
printf 'env_type development {\n  replicas = 1\n}\n' >"$tmp/stdlib2/extra/extra.idp"
printf 'use "extra" {}\n\nenv "dev" {\n  type = "development"\n}\n' >"$tmp/usebad/main.idp"
IDP_STDLIB="$tmp/stdlib2" run -C "$tmp/usebad" validate
expect_rc 0
expect_out_is "2 files, 3 blocks: valid"
report "IDP_STDLIB names the stdlib folder"

mkdir -p "$tmp/uselocal/mods/x" "$tmp/uselocal/mods/y"
printf 'use "./mods/x" {}\n\nenv_type development {\n  replicas = 1\n}\n\nenv "dev" { type = "development" }\n' >"$tmp/uselocal/main.idp"
printf 'use "../y" {}\n\nresource random.password "shared" {\n  length = 12\n}\n' >"$tmp/uselocal/mods/x/x.idp"
printf 'use "../x" {}\nuse "." {}\n\nresource random.password "other" {\n  length = 8\n}\n' >"$tmp/uselocal/mods/y/y.idp"
run -C "$tmp/uselocal" validate
expect_rc 0
expect_out_is "3 files, 8 blocks: valid"
expect_err_empty
report "use \"./path\": local modules, relative to the using file, each once (cycles are harmless)"

run validate "$tmp/uselocal"
expect_rc 0
expect_out_is "3 files, 8 blocks: valid"
report "use \"./path\" from another folder: relative to the spec's folder"

printf 'use "../x" {}\n\nresource random.password "other" {\n  length =\n}\n' >"$tmp/uselocal/mods/y/y.idp"
run -C "$tmp/uselocal" validate
expect_rc 1
expect_err_starts "mods/y/y.idp:4:11: error: "
report "a syntax error in a module names the module file's path"

printf 'use "./mods/z" {}\n' >"$tmp/uselocal/main.idp"
run -C "$tmp/uselocal" validate
expect_rc 1
expect_err_starts "main.idp:1:5: error: module \"./mods/z\": no folder mods/z"
report "a missing local module is an error at the use label"
unset IDP_STDLIB

# --- the design baseline ---------------------------------------------------------------------------
if [ -d "$baseline" ]; then
  run validate "$baseline"
  expect_rc 0
  expect_out_is "4 files, 20 blocks: valid"
  expect_err_empty
  report "the design baseline validates: 4 files, 20 blocks"

  run -C "$baseline" validate
  expect_rc 0
  expect_out_is "4 files, 20 blocks: valid"
  report "the design baseline validates from inside its folder"

else
  echo "ok - the design baseline validates # SKIP no baseline at $baseline"
fi
# --- describe: the driver schemas -------------------------------------------------------------------
run help
grep -qE "^  describe " <<<"$out" || why+=("the command list lacks 'describe'")
report "help lists describe"

run help describe
expect_rc 0
expect_out_starts "Usage: idp describe"
expect_out_has "Exit status: 0 done, 1 no such driver or kind"
report "'idp help describe' prints its usage with the exit statuses"

run describe
expect_rc 0
expect_err_empty
expect_out_starts "Drivers and their resource kinds"
for k in powerdns.zone powerdns.record postgres.role postgres.database random.password gitops.deployment \
  kubernetes.namespace kubernetes.deployment kubernetes.service kubernetes.ingress kubernetes.secret \
  kubernetes.config_map kubernetes.manifest http.request oci_registry; do
  grep -qE "^ +$k " <<<"$out" || why+=("the list lacks $k")
done
report "describe with no name lists every driver and kind"

run describe powerdns.zone
expect_rc 0
expect_err_empty
expect_out_starts "powerdns.zone: "
grep -qE '^  NAME +TYPE +REQUIRED +DEFAULT +SECRET OK +REPLACES +DESCRIPTION$' <<<"$out" || why+=("no inputs header")
grep -qE '^  server +integration\(powerdns\) +yes +- +no +yes +' <<<"$out" || why+=("server row wrong")
grep -qE '^  nameservers +list\(string\) +no +\[\] +no +no +' <<<"$out" || why+=("nameservers row wrong (decision 13: in place)")
grep -qE '^  kind +string +no +"Native" +no +no +' <<<"$out" || why+=("kind row wrong")
grep -qE '^  NAME +TYPE +COMPUTED +SECRET +DESCRIPTION$' <<<"$out" || why+=("no outputs header")
report "describe DRIVER.KIND prints the inputs and outputs tables"

run describe random.password
grep -qE '^  value +string +yes +yes +' <<<"$out" || why+=("value should be computed and secret")
report "describe random.password: value is computed and secret"

run describe postgres
expect_rc 0
expect_out_starts "postgres: "
expect_out_has 'integration postgres "NAME" { ... }'
grep -qE '^  dsn +string +yes +- +yes +' <<<"$out" || why+=("dsn should be required and take a secret")
grep -qE '^  max_parallel +number +no +' <<<"$out" || why+=("max_parallel missing")
grep -qE '^  host +string +no +no +' <<<"$out" || why+=("host should be a non-secret output")
grep -qE '^  postgres.database +' <<<"$out" || why+=("the kinds list lacks postgres.database")
report "describe DRIVER prints the integration's inputs, outputs and kinds"

run describe random
expect_rc 0
expect_out_has "No integration block"
report "describe of a driver without integration says so"

run describe powerdns.zon
expect_rc 1
expect_out_empty
expect_err_has "idp describe: error: no driver or resource kind 'powerdns.zon'"
expect_err_has "hint: did you mean 'powerdns.zone'?"
report "describe of an unknown kind: error with did-you-mean, exit 1"

run describe postgress
expect_rc 1
expect_err_has "hint: did you mean 'postgres'?"
report "describe of a misspelt driver: did-you-mean, exit 1"

run describe xyzzy
expect_rc 1
expect_err_has "hint: run 'idp describe' for the list"
report "describe of an unknown name without a close match points to 'idp describe', exit 1"

run describe powerdns.zone powerdns.record
expect_rc 2
expect_out_empty
expect_err_has "one name at a time"
report "describe takes one name: two is a usage error, exit 2"

run describe -frobnicate
expect_rc 2
expect_err_has "idp describe: error: unknown flag '-frobnicate'"
report "describe: unknown flag, exit 2"

run describe -markdown powerdns
expect_rc 2
report "describe -markdown takes no name, exit 2"

# docs/drivers.md is `idp describe -markdown`: it cannot drift from the tables.
run describe -markdown
expect_rc 0
if ! diff -u "$here/../../docs/drivers.md" - <<<"$out" >"$tmp/md.diff"; then
  why+=("docs/drivers.md differs from 'idp describe -markdown' (regenerate it: idp describe -markdown > docs/drivers.md)")
  err=$(head -20 "$tmp/md.diff")
fi
for k in powerdns.zone postgres.role kubernetes.deployment http.request; do
  grep -qF "$(cd "$here/../.." && "$idp" describe "$k" | head -1)" "$here/../../docs/drivers.md" || why+=("docs/drivers.md lacks $k")
done
report "docs/drivers.md matches 'idp describe -markdown'"

# --- validate: driver schemas --------------------------------------------------------------------
printf 'resource powerdns.zone "z" {\n  server     = integration.dns\n  name       = "z."\n  nameserver = []\n}\n' >"$tmp/drv.idp"
run validate "$tmp/drv.idp"
expect_rc 1
expect_err_has "error: unknown input 'nameserver' of powerdns.zone"
expect_err_has "hint: did you mean 'nameservers'?"
report "validate checks resource attributes against the driver schema"
# --- state list|show|rm|mv ------------------------------------------------------------------------
# A state written by hand: its one secret was sealed with the test key below (AES-256-GCM, bound to
# the address and attribute), so mv can re-seal it. The plaintext must never appear.
state_key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
state_secret=hunter2-plaintext
sd="$tmp/statedir"
mkdir -p "$sd/.idp/state"
cat >"$sd/.idp/state/dev.json" <<'JSON'
{
  "version": 1,
  "lineage": "a247c78b-372f-4257-8cc7-8bf67589c364",
  "serial": 1,
  "env": "dev",
  "resources": [
    {
      "address": "env.dev/app.shop/need.db/postgres.role.owner",
      "driver": "postgres.role",
      "status": "created",
      "dependencies": [
        "env.dev/app.shop/need.db/random.password.pw"
      ],
      "inputs": {
        "password": {
          "$secret": "v1:wIJER/+LGk/ppwmDJcR6Un1LpeqXnrKBmNnnnqXEHsUZOQ7Wm5oWhnYR7TntkpE="
        },
        "name": "shop_dev"
      },
      "outputs": {}
    },
    {
      "address": "env.dev/app.shop/need.db/random.password.pw",
      "driver": "random.password",
      "status": "pending-create",
      "dependencies": [],
      "inputs": {},
      "outputs": {}
    }
  ]
}
JSON
cat >"$sd/.idp/state/_shared.json" <<'JSON'
{"version": 1, "lineage": "0c1d4a55-2b43-4b7e-9a61-5b0b7a3c1e20", "serial": 4, "env": null, "resources": [
  {"address": "powerdns.zone.dev-zone", "driver": "powerdns.zone", "status": "created", "dependencies": [],
   "inputs": {"name": "dev.example.com.", "nameservers": ["ns1.example.com."]}, "outputs": {"id": 7}}]}
JSON
chmod 600 "$sd/.idp/state/"*.json
state_file_ok() { ! grep -rqF -- "$state_secret" "$sd/.idp" || why+=("a state file holds the secret in plaintext"); }

run state list "$sd"
expect_rc 0
expect_out_is "$(printf '%s\n' env.dev/app.shop/need.db/postgres.role.owner env.dev/app.shop/need.db/random.password.pw powerdns.zone.dev-zone)"
expect_err_empty
report "state list DIR: every address of every state, one per line, sorted"

run -C "$sd" state list --env dev
expect_rc 0
expect_out_is "$(printf '%s\n' env.dev/app.shop/need.db/postgres.role.owner env.dev/app.shop/need.db/random.password.pw)"
report "state list -env NAME: that environment's addresses only"

run state list -env deve "$sd"
expect_rc 1
expect_err_has "no state for environment deve"
expect_err_has "did you mean '-env dev'?"
report "state list -env of an environment without state: error with a suggestion, exit 1"

run state show env.dev/app.shop/need.db/postgres.role.owner "$sd"
expect_rc 0
expect_out_has "driver:       postgres.role"
expect_out_has "status:       created"
expect_out_has "  env.dev/app.shop/need.db/random.password.pw"
expect_out_has 'password = (secret)'
expect_out_has 'name     = "shop_dev"'
grep -qF -- "$state_secret" <<<"$out$err" && why+=("show printed the secret")
expect_err_empty
report "state show: driver, status, dependencies, inputs; a secret as (secret), never its value"

IDP_STATE_KEY=$state_key run -C "$sd" state show app.shop/need.db/postgres.role.owner -env dev
expect_rc 0
expect_out_has 'password = (secret)'
grep -qF -- "$state_secret" <<<"$out$err" && why+=("show printed the secret although the key was set")
report "state show -env NAME takes an address from app.; with the key set it still hides secrets"

run state show powerdns.zone.dev-zone --dir "$sd"
expect_rc 0
expect_out_has "environment:  (shared"
expect_out_has 'nameservers = ["ns1.example.com."]'
expect_out_has "id = 7"
report "state show of a top-level resource reads the shared state"

run state show env.dev/app.shop/need.db/postgres.role.ownr "$sd"
expect_rc 1
expect_out_empty
expect_err_has "no resource env.dev/app.shop/need.db/postgres.role.ownr"
expect_err_has "did you mean env.dev/app.shop/need.db/postgres.role.owner?"
report "state show of an unknown address: error with a suggestion, exit 1"

run state show not-an-address "$sd"
expect_rc 1
expect_err_has "malformed address 'not-an-address'"
report "state show of a malformed address says what an address looks like, exit 1"

run -C "$sd" state mv env.dev/app.shop/need.db/postgres.role.owner env.dev/app.shop/need.db/postgres.role.admin
expect_rc 1
expect_err_has "holds secrets"
expect_err_has "IDP_STATE_KEY"
grep -q '"serial": 1,' "$sd/.idp/state/dev.json" || why+=("the state changed")
report "state mv of a resource with secrets and no IDP_STATE_KEY: error with the recipe, nothing changed"

IDP_STATE_KEY=$state_key run -C "$sd" state mv env.dev/app.shop/need.db/postgres.role.owner env.dev/app.shop/need.db/postgres.role.admin
expect_rc 0
expect_out_has "Moved env.dev/app.shop/need.db/postgres.role.owner to env.dev/app.shop/need.db/postgres.role.admin"
grep -q '"serial": 2,' "$sd/.idp/state/dev.json" || why+=("serial not bumped to 2")
grep -q 'a247c78b-372f-4257-8cc7-8bf67589c364' "$sd/.idp/state/dev.json" || why+=("lineage changed")
grep -q 'postgres.role.admin' "$sd/.idp/state/dev.json" || why+=("the new address is not in the file")
[ "$(stat -c %a "$sd/.idp/state/dev.json")" = 600 ] || why+=("state file mode is not 0600")
[ -z "$(find "$sd/.idp/state" -name '.*tmp*')" ] || why+=("a temp file was left behind")
state_file_ok
report "state mv with the key: renamed, secret re-sealed, serial bumped, mode 0600, no temp file"

run -C "$sd" state mv env.dev/app.shop/need.db/random.password.pw env.dev/app.shop/need.db/random.password.pw2 --lock-timeout=1s
expect_rc 0
grep -qF '"env.dev/app.shop/need.db/random.password.pw2"' "$sd/.idp/state/dev.json" || why+=("dependency not renamed")
report "state mv without secrets needs no key; dependencies on it follow; --lock-timeout=1s is taken"

IDP_STATE_KEY=$state_key run -C "$sd" state mv env.dev/app.shop/need.db/postgres.role.admin env.dev/app.shop/need.db/random.password.pw2
expect_rc 1
expect_err_has "random.password"
IDP_STATE_KEY=$state_key run -C "$sd" state mv env.dev/app.shop/need.db/random.password.pw2 powerdns.zone.dev-zone
expect_rc 1
expect_err_has "different states"
report "state mv refuses another driver kind and another state"

run -C "$sd" state mv env.dev/app.shop/need.db/random.password.pw2 env.dev/app.shop/need.db/random.password.pw2
expect_rc 0
IDP_STATE_KEY=$state_key run -C "$sd" state mv powerdns.zone.dev-zone powerdns.zone.dev-zone
expect_rc 0
grep -q '"serial": 3,' "$sd/.idp/state/dev.json" || why+=("dev serial is no longer 3")
grep -q '"serial": 4,' "$sd/.idp/state/_shared.json" || why+=("shared serial is no longer 4")
report "state mv onto itself changes nothing"

cp "$sd/.idp/state/_shared.json" "$tmp/shared.before"
run state rm powerdns.zone.nope powerdns.zone.dev-zone -dir "$sd"
expect_rc 1
expect_err_has "no resource powerdns.zone.nope"
expect_err_has "nothing was removed"
cmp -s "$tmp/shared.before" "$sd/.idp/state/_shared.json" || why+=("the shared state changed")
report "state rm with one unknown address removes nothing, exit 1"

run state rm powerdns.zone.dev-zone env.dev/app.shop/need.db/random.password.pw2 -dir "$sd" -lock-timeout 2
expect_rc 0
expect_out_has "Removed powerdns.zone.dev-zone"
expect_out_has "Removed 2 resources"
run state list "$sd"
expect_out_is "env.dev/app.shop/need.db/postgres.role.admin"
grep -q '"serial": 5,' "$sd/.idp/state/_shared.json" || why+=("shared serial not bumped to 5")
state_file_ok
report "state rm across two states: both written, serials bumped"

flock "$sd/.idp/state/dev.lock" sleep 5 &
holder=$!
sleep 0.3
run state rm env.dev/app.shop/need.db/postgres.role.admin -dir "$sd"
expect_rc 1
expect_err_has "the state of environment dev is locked"
expect_err_has "-lock-timeout"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
grep -q 'postgres.role.admin' "$sd/.idp/state/dev.json" || why+=("removed although locked")
report "state rm on a locked state fails at once naming the lock, exit 1"

run state rm env.dev/app.shop/need.db/postgres.role.admin -dir "$sd" -lock-timeout soon
expect_rc 2
expect_err_has "bad -lock-timeout 'soon'"
report "a bad -lock-timeout is a usage error, exit 2"

mkdir -p "$tmp/badstate/.idp/state"
printf '{\n  "version": 1,\n  "lineage": oops\n}\n' >"$tmp/badstate/.idp/state/dev.json"
cp "$tmp/badstate/.idp/state/dev.json" "$tmp/bad.before"
run state list "$tmp/badstate"
expect_rc 1
expect_err_has ".idp/state/dev.json:3:"
run state rm env.dev/app.a/need.b/x.y.z -dir "$tmp/badstate"
expect_rc 1
expect_err_has "malformed state file"
cmp -s "$tmp/bad.before" "$tmp/badstate/.idp/state/dev.json" || why+=("the malformed file was changed")
report "a malformed state is refused naming file:line:col and left byte for byte"

printf '{"version": 9, "lineage": "a247c78b-372f-4257-8cc7-8bf67589c364", "serial": 1, "env": "dev", "resources": []}\n' >"$tmp/badstate/.idp/state/dev.json"
run state list -env dev "$tmp/badstate"
expect_rc 1
expect_err_has "version 9 is newer than this idp supports"
report "a state of a newer format is refused"

run state frob
expect_rc 2
expect_err_has "unknown subcommand 'frob'"
run state lst
expect_rc 2
expect_err_has "did you mean 'idp state list'?"
report "state with an unknown subcommand: usage error with a suggestion"


# --- explain: which provide meets a need ----------------------------------------------------------
run help
grep -qE "^  explain " <<<"$out" || why+=("the command list lacks 'explain'")
report "help lists explain"

if [ -d "$baseline" ]; then
  run explain "$baseline" -env prod app.billing.need.db
  expect_rc 0
  expect_out_has 'winner: provide postgres "billing-prod" (score 6)'
  expect_out_has 'match: env = "prod" (+4), app = "billing" (+2)'
  expect_out_has 'provide postgres "shared-server" (score 0: fits, with a lower score)'
  expect_err_empty
  report "explain: billing-prod wins in prod with score 6 over shared-server (score 0)"

  run explain "$baseline" --env dev app.billing.need.db
  expect_rc 0
  expect_out_has 'winner: provide postgres "shared-server" (score 0)'
  expect_out_has 'provide postgres "billing-prod" (does not fit: env is "dev", its match wants "prod")'
  report "explain: shared-server in dev, billing-prod does not fit (--env)"

  run explain "$baseline" env.prod/app.billing/need.db
  expect_rc 0
  expect_out_has 'winner: provide postgres "billing-prod" (score 6)'
  report "explain takes the address form env.E/app.A/need.N"

  run explain "$baseline" -env prod app.shop
  expect_rc 0
  expect_out_starts "env.prod/app.shop/need.workload: type workload"
  expect_out_has 'winner: provide workload "cluster" (score 1)'
  expect_out_has 'provide workload "rendered" (does not fit: env_type is "production", its match wants "development")'
  report "explain app.A explains its workload"

  run -C "$baseline" explain -env pr-42:development app.shop.need.db
  expect_rc 0
  expect_out_has "env pr-42 (env_type development, on demand)"
  expect_out_has 'winner: provide postgres "shared-server" (score 0)'
  report "explain with -env NAME:TYPE makes an on-demand environment"

  run explain "$baseline" -env pr-42 app.shop.need.db
  expect_rc 1
  expect_err_has "env 'pr-42' is not declared"
  expect_err_has "hint: for an on-demand environment give its type: -env pr-42:TYPE"
  report "explain: an undeclared env without a type is an error with a hint"

  run explain "$baseline" -env prd app.shop.need.db
  expect_rc 1
  expect_err_has "hint: did you mean 'prod'?"
  run explain "$baseline" -env prod app.shop.need.dbb
  expect_rc 1
  expect_err_has "app 'shop' has no need 'dbb'"
  expect_err_has "hint: did you mean 'db'?"
  run explain "$baseline" -env dev:staging app.shop.need.db
  expect_rc 1
  expect_err_has "env 'dev' is declared with type 'development'"
  report "explain: unknown env, unknown need and a conflicting type are errors with hints"

  run explain "$baseline" -env prod
  expect_rc 2
  expect_err_has "what to explain is missing"
  run explain "$baseline" app.shop.need.db
  expect_rc 2
  expect_err_has "which environment?"
  run explain "$baseline" -env prod app.shop.db
  expect_rc 2
  expect_err_has "is not an address of a need"
  run explain "$baseline" -env prod -frob app.shop
  expect_rc 2
  expect_err_has "unknown flag '-frob'"
  report "explain: usage errors exit 2"
else
  echo "ok - explain on the baseline # SKIP no baseline at $baseline"
fi

mkdir -p "$tmp/tie"
printf 'env_type development {}\nenv "dev" { type = "development" }\nenv "prod" { type = "development" }\nprovide workload "w" {}\nprovide dns "a" {}\nprovide dns "b" {}\nprovide dns "c" {\n  match { env = "prod" }\n}\napp "shop" {\n  need "host" { type = "dns" }\n}\n' >"$tmp/tie/spec.idp"
run explain "$tmp/tie" -env dev app.shop.need.host
expect_rc 1
expect_out_has 'error: tie: provides dns "a" and "b" both fit with score 0'
expect_out_has 'provide dns "c" (does not fit: env is "dev", its match wants "prod")'
run validate "$tmp/tie"
expect_rc 1
expect_err_has "provides dns \"a\" and \"b\" both fit with score 0"
report "a tie: explain and validate both name the two provides, exit 1"


# idp graph: the baseline's instances and their dependencies as DOT (edges: dependency -> dependent).
if [ -d "$baseline" ]; then
  export PDNS_API_KEY=test-key PG_ADMIN_DSN=postgres://admin:pw@127.0.0.1:5432/postgres
  run graph "$baseline" -env dev
  expect_rc 0
  expect_err_empty
  expect_out_starts "digraph idp {"
  expect_out_has '"powerdns.zone.dev-zone" -> "env.dev/app.shop/need.host/powerdns.record.host";'
  expect_out_has '"env.dev/app.shop/need.db/postgres.database.db" -> "env.dev/app.shop/need.workload/gitops.deployment.app";'
  expect_out_has '"env.dev/app.shop/need.db/random.password.pw" [label = "env.dev/app.shop/need.db/random.password.pw\n(random.password)"];'
  [ "$(grep -c 'label = ' <<<"$out")" -eq 11 ] || why+=("want 11 nodes for -env dev")
  grep -q prod-zone <<<"$out" && why+=("prod-zone is not reached from dev")
  first=$out
  run graph --env dev "$baseline"
  expect_same "$first" "$out" "two runs (and -env / --env) give different output"
  report "graph: the baseline's dev env as DOT, deterministic"

  run graph "$baseline" -env dev -env staging
  [ "$(grep -c 'label = ' <<<"$out")" -eq 21 ] || why+=("want 21 nodes for dev + staging")
  run graph "$baseline" -env=prod
  [ "$(grep -c 'label = ' <<<"$out")" -eq 13 ] || why+=("want 13 nodes for prod")
  run graph "$baseline"
  expect_rc 0
  [ "$(grep -c 'label = ' <<<"$out")" -eq 34 ] || why+=("want 34 nodes without -env")
  run graph "$baseline" -env pr-7:development
  expect_rc 0
  expect_out_has '"powerdns.zone.dev-zone" -> "env.pr-7/app.billing/need.host/powerdns.record.host";'
  report "graph: 21 / 13 / 34 resources, and an on-demand env"

  run graph "$baseline" -env qa
  expect_rc 1
  expect_err_has "env 'qa' is not declared"
  run graph "$baseline" -frob
  expect_rc 2
  expect_err_has "unknown flag '-frob'"
  report "graph: unknown env exits 1, unknown flag 2"
  unset PDNS_API_KEY PG_ADMIN_DSN
else
  echo "ok - graph on the baseline # SKIP no baseline at $baseline"
fi

mkdir -p "$tmp/cycle"
printf 'resource random.password "a" {\n  length  = 10\n  special = random.password.b.length > 0\n}\nresource random.password "b" {\n  length = random.password.a.length\n}\n' >"$tmp/cycle/spec.idp"
run graph "$tmp/cycle"
expect_rc 1
expect_out_empty
expect_err_has "error: dependency cycle: random.password.a ("
expect_err_has "-> random.password.b ("
report "graph: a dependency cycle is an error naming the chain"

# Checks after instantiation (compiler/check.c): a secret reaching an input that may not take one
# is an error naming the chain, and its text appears nowhere; a wrong type is an error too.
mkdir -p "$tmp/secret"
cat >"$tmp/secret/spec.idp" <<'EOF'
integration postgres "shared-pg" {
  dsn = secret(env("CHK_DSN"))
}
resource random.password "pw" {
  length = 24
}
resource postgres.role "owner" {
  server   = integration.shared-pg
  name     = random.password.pw.value
  password = random.password.pw.value
}
resource postgres.role "other" {
  server           = integration.shared-pg
  name             = secret(env("CHK_NAME"))
  connection_limit = "20"
}
EOF
export CHK_DSN=postgres://admin:zq9-dsn-plain@db/postgres CHK_NAME=zq9-name-plain
run graph "$tmp/secret"
expect_rc 1
expect_out_empty
expect_err_has "spec.idp:9:3: error: secret from random.password.pw.value (random.password.pw) reaches input 'name' of postgres.role, which may not take a secret (in postgres.role.owner)"
expect_err_has "spec.idp:14:3: error: secret from secret(...) reaches input 'name' of postgres.role, which may not take a secret (in postgres.role.other)"
expect_err_has "spec.idp:15:3: error: input 'connection_limit' of postgres.role wants a number, found string \"20\" (in postgres.role.other)"
expect_err_has "3 errors"
grep -q zq9 <<<"$out$err" && why+=("a secret's plaintext is in the output")
report "graph: a secret flowing into postgres.role name is an error naming the chain, without its text"
unset CHK_DSN CHK_NAME

exit 0
