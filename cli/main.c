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
     "duplicate blocks across all the files, attributes set twice. Prints `N files, N blocks: valid`,\n"
     "or every error found as file:line:col with the source line and a caret.\n"
     "\n"
     "Exit status: 0 valid, 1 errors found, 2 bad usage.\n"},
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
