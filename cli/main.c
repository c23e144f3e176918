/* main.c - `idp COMMAND ...`: dispatch, help and version. */
#include <stdio.h>
#include <string.h>

#include "../compiler/util.h"
#include "cli.h"

#ifndef IDP_VERSION
#define IDP_VERSION "unknown"
#endif

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv); /* NULL: handled here */
  const char *summary;
  const char *usage;                  /* full help text */
} command;

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const command commands[] = {
    {"validate", idp_cmd_validate, "Check the syntax and structure of .idp files",
     "Usage: idp validate [DIR|FILE...]\n"
     "\n"
     "Parses every .idp file of each DIR (default: the current directory) and each FILE, and checks\n"
     "what can be checked without evaluating: block kinds and where they may appear, labels, names,\n"
     "duplicate blocks across all the files, attributes set twice, and the attributes of resource\n"
     "and integration blocks against their driver ('idp describe'); then, across blocks and from\n"
     "literal values: env types, need types, names in match, matching per env x app x need (no\n"
     "provide fits, or a tie), and pipeline stages. Prints `N files, N blocks: valid`,\n"
     "or every error found as file:line:col with the source line and a caret.\n"
     "\n"
     "Exit status: 0 valid, 1 errors found, 2 bad usage.\n"},
    {"explain", idp_cmd_explain, "Show which provide meets an app's need in an environment, and why",
     "Usage: idp explain [DIR] -env NAME[:TYPE] app.APP.need.NEED\n"
     "       idp explain [DIR] env.ENV/app.APP/need.NEED\n"
     "\n"
     "Reads the spec in DIR (default: the current directory) as 'idp validate' does and matches\n"
     "one need (decision 4): score = env 4 + app 2 + env_type 1 over the criteria a provide's match\n"
     "sets (no match scores 0); every criterion set must fit; the highest score wins. Prints the\n"
     "winner with its score and criteria, then every other provide of the need's type with its\n"
     "score or why it does not fit. app.APP alone means the app's workload.\n"
     "\n"
     "  -env NAME        a declared environment\n"
     "  -env NAME:TYPE   an on-demand environment of env type TYPE (decision 7)\n"
     "\n"
     "Only literal values are read: a match criterion set by an expression is shown as undecided.\n"
     "Exit status: 0 a provide wins, 1 errors (no provide fits, a tie, unknown names), 2 bad usage.\n"},
    {"graph", idp_cmd_graph, "Print the resource instances of a run and their dependencies as DOT",
     "Usage: idp graph [DIR] [-env NAME[:TYPE]]... [-var NAME=VALUE]...\n"
     "\n"
     "Reads the spec in DIR (default: the current directory), checks it as 'idp validate' does,\n"
     "instantiates the selected environments (every declared one without -env) and evaluates every\n"
     "resource's attributes. Prints a DOT digraph: one node per resource instance (its address and\n"
     "driver kind), one edge per dependency, drawn from the dependency to the resource that depends\n"
     "on it (the order of creation). Top-level resources appear when a selected environment reaches\n"
     "them (all of them without -env). Sorted by address.\n"
     "\n"
     "  -env NAME        a declared environment (repeatable)\n"
     "  -env NAME:TYPE   an on-demand environment of env type TYPE (decision 7)\n"
     "  -var NAME=VALUE  the value of var NAME (repeatable; else IDP_VAR_NAME, else its default)\n"
     "\n"
     "Exit status: 0 done, 1 errors (spec errors, unknown env, a dependency cycle), 2 bad usage.\n"},
    {"fmt", idp_cmd_fmt, "Rewrite .idp files in the canonical layout",
     "Usage: idp fmt [-check] [-diff] [DIR|FILE...]\n"
     "\n"
     "Rewrites each file in the canonical layout: two-space indentation, `=` aligned in a run of\n"
     "attributes, one blank line between top-level blocks, comments kept where they were. A file\n"
     "with syntax errors is left alone and its errors are printed.\n"
     "\n"
     "  -check   change nothing; list the files that are not formatted and exit 3 if there are any\n"
     "  -diff    change nothing; print a unified diff of what would change\n"
     "\n"
     "Exit status: 0 done (or nothing to change), 1 errors, 2 bad usage, 3 files would change (-check).\n"},
    {"describe", idp_cmd_describe, "Show what a driver's integration and resource kinds take",
     "Usage: idp describe [DRIVER | DRIVER.KIND]\n"
     "       idp describe -markdown\n"
     "\n"
     "With DRIVER.KIND (powerdns.record), prints the resource kind's inputs (type, required,\n"
     "default, whether it may take a secret, whether a change replaces the object) and outputs\n"
     "(type, known only after apply, secret). With DRIVER (powerdns), prints its integration block's\n"
     "inputs and outputs and lists its kinds. With no name, lists every driver and kind.\n"
     "\n"
     "  -markdown   print all of it as docs/drivers.md\n"
     "\n"
     "Exit status: 0 done, 1 no such driver or kind (with a suggestion), 2 bad usage.\n"},
    {"plan", idp_cmd_plan, "Show what an apply would create, update, replace or destroy",
     "Usage: idp plan [DIR] [-env NAME[:TYPE]]... [-var NAME=VALUE]... [-out FILE] [-json] [-detailed-exitcode]\n"
     "                [-target ADDR]... [-replace ADDR]... [-destroy] [-refresh=false | -refresh-only]\n"
     "                [-lock-timeout DURATION] [-no-color]\n"
     "\n"
     "Reads and checks the spec in DIR (default: the current directory), instantiates the selected\n"
     "environments (every declared one and every top-level resource without -env), locks and reads\n"
     "their states (DIR/.idp/state/: the shared state first, then environments by name), reads the\n"
     "real objects through the drivers (refresh: what changed outside idp is printed first) and prints\n"
     "per resource, in dependency order: + create, ~ update in place, -/+ replace (an input that\n"
     "forces replacement changed), - destroy, with attribute-level changes; `(known after apply)`\n"
     "for values known only after apply, `(secret)` for secrets, never their value. Ends with\n"
     "`Plan: N to add, N to change, N to destroy.` or `No changes.`. An env-scoped plan never\n"
     "destroys top-level resources. Nothing is written (the lock files aside).\n"
     "\n"
     "  -env NAME               a declared environment (repeatable)\n"
     "  -env NAME:TYPE          an on-demand environment of env type TYPE (decision 7)\n"
     "  -var NAME=VALUE         the value of var NAME (repeatable; else IDP_VAR_NAME, else its default)\n"
     "  -out FILE               also save the plan (mode 0600, secrets sealed) for 'idp apply FILE';\n"
     "                          it records the states' lineage and serial, so a stale plan is refused\n"
     "  -json                   the machine format of docs/plan-format.md (format_version \"1\")\n"
     "  -detailed-exitcode      exit 2 when the plan has changes\n"
     "  -target ADDR            only ADDR (or everything under it: env.dev, env.dev/app.shop) and\n"
     "                          what it depends on; with -destroy, what depends on it (repeatable)\n"
     "  -replace ADDR           replace ADDR although none of its inputs forces it (repeatable)\n"
     "  -destroy                destroy what the selected states hold (-env E: never top-level\n"
     "                          resources, decision 6); lifecycle prevent_destroy refuses it\n"
     "  -refresh=false          compare with the state as it is, without reading the real objects\n"
     "  -refresh-only           only report what changed outside idp (exit 2 with -detailed-exitcode)\n"
     "  -lock-timeout DURATION  wait this long for another run's lock (0, the default, fails at once)\n"
     "  -no-color               no colour (it is used only on a terminal, and never when NO_COLOR is set)\n"
     "\n"
     "A state holding secrets, or a plan that would store one, needs IDP_STATE_KEY (docs/state.md).\n"
     "Exit status: 0 done (no changes, or changes without -detailed-exitcode), 1 errors (bad usage\n"
     "included), 2 changes present with -detailed-exitcode.\n"},
    {"apply", idp_cmd_apply, "Carry out a plan against the integrations' APIs",
     "Usage: idp apply PLANFILE [-parallelism N] [-json] [-lock-timeout DURATION] [-no-color]\n"
     "       idp apply [DIR] [-env NAME[:TYPE]]... [-var NAME=VALUE]... [-target ADDR]... [-replace ADDR]...\n"
     "                 [-auto-approve] [-parallelism N] [-json] [-lock-timeout DURATION] [-no-color]\n"
     "\n"
     "With PLANFILE (from 'idp plan -out'), carries out exactly that plan, or refuses it when a\n"
     "state it was made against has changed since (a stale plan: plan again). Otherwise plans as\n"
     "'idp plan' does, prints the plan and asks for 'yes' (with no terminal to ask on, it refuses\n"
     "unless -auto-approve).\n"
     "\n"
     "Steps run as soon as what they depend on is done, at most N at once (and at most an\n"
     "integration's max_parallel). The state records the intent before each create and the result\n"
     "after each step, so an interrupted apply leaves it true to what was done; a failed step stops\n"
     "what depends on it, the rest goes on. Ctrl-C starts nothing new, lets the calls in flight\n"
     "finish and records them; a second Ctrl-C stops at once.\n"
     "\n"
     "  -parallelism N   steps in flight at once (default 10)\n"
     "  -json            one JSON object per line: each step's events, then a summary\n"
     "  -auto-approve    apply without asking\n"
     "  -no-color        print the plan without colour (used only on a terminal, never with NO_COLOR set)\n"
     "\n"
     "Exit status: 0 done, 1 a step failed or nothing could be done (stale plan, lock, no approval).\n"},
    {"destroy", idp_cmd_destroy, "Destroy what the states of a spec's environments hold",
     "Usage: idp destroy [DIR] [-env NAME]... [-var NAME=VALUE]... [-target ADDR]... [-auto-approve] [-parallelism N]\n"
     "                   [-json] [-lock-timeout DURATION] [-no-color]\n"
     "\n"
     "Plans as 'idp plan -destroy' does, asks for 'yes' and applies. -env E destroys E's resources\n"
     "and never a top-level one (decision 6); an on-demand environment needs no :TYPE, its state\n"
     "knows it. lifecycle prevent_destroy refuses the plan.\n"
     "\n"
     "Exit status: 0 done, 1 a step failed or nothing could be done.\n"},
    {"show", idp_cmd_show, "Show a saved plan",
     "Usage: idp show PLANFILE [-format text|markdown|json] [-json] [-no-color]\n"
     "\n"
     "Prints a plan saved with 'idp plan -out PLANFILE' as plan printed it, after a line saying\n"
     "when, by which idp and for which directory it was made and the hash of its sources; warns\n"
     "when a state it was made against has changed since (apply refuses such a plan). Sealed\n"
     "secrets show as (secret); the file is never changed.\n"
     "\n"
     "  -format text       as plan printed it (the default)\n"
     "  -format markdown   a summary for a merge-request comment or a CI job summary: the counts,\n"
     "                     a table per environment, each resource's changes as a diff in a\n"
     "                     collapsible <details>, drift, a warning when the plan is stale\n"
     "  -format json, -json  the form of 'idp plan -json' plus the saved plan's members and \"stale\"\n"
     "  -no-color          no colour in the text form (used only on a terminal, never with NO_COLOR)\n"
     "\n"
     "Exit status: 0 done, 1 not a saved plan (or of a newer format), 2 bad usage.\n"},
    {"state", idp_cmd_state, "List, show, remove or move resources in the state",
     "Usage: idp state list [-env NAME]... [DIR]\n"
     "       idp state show ADDR [-env NAME] [DIR]\n"
     "       idp state rm ADDR... [-dir DIR] [-lock-timeout DURATION]\n"
     "       idp state mv FROM TO [-dir DIR] [-lock-timeout DURATION]\n"
     "\n"
     "Works on the states of the spec directory DIR (default: the current directory), kept in\n"
     "DIR/.idp/state/: one per environment and one shared by the top-level resources. An address\n"
     "says which state it is in: env.E/... is environment E's, DRIVER.KIND.NAME the shared one.\n"
     "\n"
     "  list   every address, one per line, sorted (only environment NAME's with -env)\n"
     "  show   one resource: driver, status, dependencies, inputs and outputs; secrets are shown\n"
     "         as (secret). With -env NAME, ADDR may start at app.\n"
     "  rm     forget resources (all or none): the real objects are left alone, and a later plan\n"
     "         proposes to create them again\n"
     "  mv     give a resource a new address in the same state (never onto an existing one); its\n"
     "         secrets are sealed for its address, so one holding secrets needs IDP_STATE_KEY\n"
     "\n"
     "  -env NAME                the environment (list: repeatable)\n"
     "  -dir DIR                 the spec directory\n"
     "  -lock-timeout DURATION   rm, mv: wait this long for another run's lock (0, the default,\n"
     "                           fails at once naming the holder; 10, 10s, 5m, 1h)\n"
     "\n"
     "The file format, locking and encryption are described in docs/state.md.\n"
     "Exit status: 0 done, 1 errors (no such resource, locked, unreadable state), 2 bad usage.\n"},
    {"serve", idp_cmd_serve, "Start pipeline runs from registry and CI webhooks",
     "Usage: idp serve [DIR] [-listen ADDRESS:PORT] [-rescan DURATION]\n"
     "\n"
     "Reads the pipelines of the spec in DIR (default: the current directory) once, and serves:\n"
     "\n"
     "  POST /hooks/registry   a Docker distribution notification envelope ({\"events\": [...]}): each\n"
     "                         push of a tag that an image_push trigger matches (same registry,\n"
     "                         repository, tag glob) starts a run of that pipeline with the digest\n"
     "                         read again from the registry; other events are ignored. Answers 200\n"
     "                         with what each event started, or 503 when the registry could not be\n"
     "                         read (the registry sends the envelope again; what started is kept).\n"
     "  POST /hooks/ci         {\"pipeline\": NAME, \"image\": \"REPO@sha256:...\"} (or \"tag\": TAG):\n"
     "                         202 a run started, 200 a live run of that digest answers, 404 no such\n"
     "                         pipeline, 422 the digest or tag is not in the trigger's repository\n"
     "  GET  /healthz          200 ok\n"
     "  GET  /metrics          counters in the Prometheus text format\n"
     "\n"
     "The hooks need `Authorization: Bearer TOKEN`, TOKEN the value of IDP_WEBHOOK_TOKEN (serve does not\n"
     "start without it); anything else gets 401 and a log line, without its body. A malformed body, or\n"
     "one over 1 MiB, gets 400 and changes nothing. A delivery seen before starts nothing new (the\n"
     "registry's event id is recorded with the run). Each run is driven by a child 'idp pipeline\n"
     "resume RUN DIR' (its output in DIR/.idp/runs/RUN.log) that dies with the server; runs left\n"
     "unfinished by a stopped server, and approvals given meanwhile, are picked up at start and\n"
     "every -rescan. SIGINT or SIGTERM stops it: requests in flight are answered, drivers stopped.\n"
     "\n"
     "  -listen ADDRESS:PORT   where to listen (default 127.0.0.1:8080; [::1]:8080 for IPv6; port 0:\n"
     "                         any free port, logged)\n"
     "  -rescan DURATION       how often the runs are scanned for work (default 5s)\n"
     "\n"
     "The registry's notification config and the details: docs/triggers.md.\n"
     "Exit status: 0 stopped by a signal, 1 errors (no IDP_WEBHOOK_TOKEN, spec errors, cannot listen),\n"
     "2 bad usage.\n"},
    {"watch", idp_cmd_watch, "Start pipeline runs by polling registries for new images",
     "Usage: idp watch [DIR] [-interval DURATION] [-min-request-interval DURATION] [-once] [-rescan DURATION]\n"
     "\n"
     "Polls the registry of every image_push trigger of the spec in DIR (default: the current\n"
     "directory): lists the repository's tags, picks the newest that matches the trigger's glob (as\n"
     "registry_image() picks) and reads its digest. When that differs from what watch saw last, a\n"
     "run of the pipeline starts with the new digest; the first look at a trigger only records what\n"
     "is there. What was seen is kept in DIR/.idp/watch.json, so a restart does not start runs again.\n"
     "Runs are driven as 'idp serve' drives them (a child 'idp pipeline resume RUN DIR' each).\n"
     "\n"
     "  -interval DURATION              time between two polls (default 30s)\n"
     "  -min-request-interval DURATION  at most one request per this time to each registry\n"
     "                                  (default 1s)\n"
     "  -once                           poll once, drive the runs as far as they go now, and exit\n"
     "                                  (for cron and tests)\n"
     "  -rescan DURATION                how often the runs are scanned for work (default 5s)\n"
     "\n"
     "Exit status: 0 done (with -once: every registry read), 1 errors (spec errors, another watch on\n"
     "DIR, with -once: a registry could not be read), 2 bad usage.\n"},
    {"pipeline", idp_cmd_pipeline, "Run, watch, approve and cancel deploy pipelines",
     "Usage: idp pipeline run NAME [DIR] [-image REPOSITORY@sha256:DIGEST | -tag TAG] [-no-wait]\n"
     "       idp pipeline status [RUN] [DIR] [-json] [-all]\n"
     "       idp pipeline approve RUN STAGE [DIR] [-by NAME] [-no-wait]\n"
     "       idp pipeline cancel RUN [DIR] [-by NAME]\n"
     "       idp pipeline resume RUN [DIR] [-no-wait]\n"
     "\n"
     "Runs the `pipeline` blocks of the spec in DIR (default: the current directory; -dir DIR also\n"
     "works). A run deploys one image, pinned by its digest, through the pipeline's stages: a stage\n"
     "starts once the stages in its `after` succeeded, and runs its steps in order: approval, wait,\n"
     "deploy (plan + apply of the app in the env with the image pinned: decisions 9 and 10), then\n"
     "its checks. Each run is recorded in DIR/.idp/runs/PIPELINE-N.json after every step, so any\n"
     "later idp sees it and a run cut short goes on from its last finished step (docs/pipelines.md).\n"
     "\n"
     "  run      starts a run of pipeline NAME and drives it here (progress on stdout) until it\n"
     "           ends or waits for an approval. The image: -image, a digest reference that must\n"
     "           exist in the repository of one of the pipeline's image_push triggers (checked in\n"
     "           its registry); -tag TAG, the digest TAG has in the trigger's repository now; or\n"
     "           neither, the newest tag matching the trigger's `tag` pattern.\n"
     "  status   without RUN, a table of the last 20 runs (-all: every run); with RUN, its stages\n"
     "           and steps with their times, plan summaries, changes left for a reviewed apply,\n"
     "           check attempts, approvals and errors. A run that no process drives any more shows\n"
     "           as such. -json prints the record(s) as they are stored.\n"
     "  approve  records NAME's approval of STAGE (default: $USER; -by NAME), then drives the run on\n"
     "           once the stage has the approvals it needs (`approvers = N` needs N different\n"
     "           people). A finished or unknown run, an unknown stage, a stage without an approval\n"
     "           block, one approved already, or the same person twice are errors.\n"
     "  cancel   cancels a run that has not finished: its driver stops after the step it is on,\n"
     "           unfinished stages and steps are marked cancelled\n"
     "  resume   drives a run on: after a crash (a step cut short runs again; a deploy planned\n"
     "           again deploys nothing twice), or a run started with -no-wait\n"
     "\n"
     "  -no-wait  start a driver in the background instead (its log: DIR/.idp/runs/RUN.log)\n"
     "  -no-color the deploys' plans without colour (also NO_COLOR; colour only on a terminal)\n"
     "\n"
     "A stage waiting for approval holds no lock: environments stay free for other runs and plans.\n"
     "Exit status: 0 the run succeeded, waits for an approval, or is driven by another process (and\n"
     "cancel: the run is cancelled); 1 the run failed or was cancelled, or the command was refused\n"
     "(unknown run or stage, bad approval, spec errors, an image the registry does not have);\n"
     "2 bad usage.\n"},
    {"version", cmd_version, "Print the version", "Usage: idp version\n"},
    {"help", cmd_help, "Show help for idp or one command", "Usage: idp help [COMMAND]\n"},
};
enum { NCOMMANDS = sizeof commands / sizeof *commands };

static const command *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

static void usage(FILE *out) {
  fputs("Usage: idp COMMAND [ARGS]\n\n"
        "idp compiles .idp specs (integrations, environment types, apps and their needs) into a\n"
        "plan and applies it against real APIs.\n\nCommands:\n",
        out);
  for (size_t i = 0; i < NCOMMANDS; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fputs("\nRun 'idp help COMMAND' for a command's flags. Flags take one dash or two (-check, --check).\n",
        out);
}

/* prefix: how the suggestion is written, "idp " after `idp valdate`, "" after `idp help valdate`. */
static void suggest_command(const char *name, const char *prefix) {
  const char *names[NCOMMANDS];
  for (size_t i = 0; i < NCOMMANDS; i++) names[i] = commands[i].name;
  const char *best = idp_did_you_mean(name, names, NCOMMANDS);
  if (best) fprintf(stderr, "hint: did you mean '%s%s'?\n", prefix, best);
  else fputs("hint: run 'idp help' for the list of commands\n", stderr);
}

static int cmd_help(int argc, char **argv) {
  if (argc < 2) {
    usage(stdout);
    return IDP_EXIT_OK;
  }
  const command *c = find_command(argv[1]);
  if (!c) {
    fprintf(stderr, "idp help: error: unknown command '%s'\n", argv[1]);
    suggest_command(argv[1], "");
    return IDP_EXIT_USAGE;
  }
  fputs(c->usage, stdout);
  return IDP_EXIT_OK;
}

static int cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("idp %s\n", IDP_VERSION);
  return IDP_EXIT_OK;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return IDP_EXIT_USAGE;
  }
  const char *name = argv[1];
  const char *flag = idp_flag_name(name);
  if (flag && (strcmp(flag, "help") == 0 || strcmp(flag, "h") == 0)) return cmd_help(1, argv);
  if (flag && strcmp(flag, "version") == 0) return cmd_version(1, argv);
  const command *c = find_command(name);
  if (!c) {
    fprintf(stderr, "idp: error: unknown command '%s'\n", name);
    suggest_command(name, "idp ");
    return IDP_EXIT_USAGE;
  }
  for (int i = 2; i < argc; i++) {
    const char *f = idp_flag_name(argv[i]);
    if (f && (strcmp(f, "help") == 0 || strcmp(f, "h") == 0)) {
      fputs(c->usage, stdout);
      return IDP_EXIT_OK;
    }
  }
  return c->run(argc - 1, argv + 1);
}
