/* cli.h - the idp command line: shared helpers of the commands in cli/. */
#ifndef IDP_CLI_H
#define IDP_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "../compiler/arena.h"
#include "../compiler/diag.h"
#include "../compiler/instance.h"
#include "../compiler/spec.h"

/* Exit statuses. fmt -check uses 3 for "files would change", as gofmt-style tools do in CI. */
enum { IDP_EXIT_OK = 0, IDP_EXIT_ERROR = 1, IDP_EXIT_USAGE = 2, IDP_EXIT_FMT_CHANGES = 3 };

/* The .idp files named by args (files, or directories whose *.idp files are taken in name order);
 * no args means the current directory. Returns 0, or prints an error and returns -1. The list
 * and its strings are malloc'd: free with idp_free_files. */
int idp_collect_files(const char *cmd, char *const *args, size_t nargs, char ***out, size_t *n);
void idp_free_files(char **files, size_t n);

/* Flags: "-x" and "--x" are the same flag (decision 7). Returns the name without dashes, or NULL
 * when arg is not a flag ("-" alone is a path: standard input). "--" ends the flags: commands
 * take every argument after it as a path. */
const char *idp_flag_name(const char *arg);
/* The value of the flag at argv[*i]: what follows '=' in it, else the next argument (then *i
 * moves past it). NULL, after an error naming cmd, when there is none. */
const char *idp_flag_value(const char *cmd, int argc, char **argv, int *i);
/* A -env value, NAME or NAME:TYPE (decision 7), into sel; *copy holds the strings sel points into
 * (free it). Returns 0, or -1 after an error naming cmd. */
int idp_env_flag(const char *cmd, const char *val, char **copy, struct idp_env_sel *sel);
/* Reports an unknown flag of cmd, with a suggestion from known[0..n). */
void idp_unknown_flag(const char *cmd, const char *arg, const char *const *known, size_t n);

/* A spec read the way `idp validate` reads it: streamed item by item through the structural
 * checks, recording the spec model (compiler/spec.h). The sources stay loaded for diagnostics. */
typedef struct idp_loaded {
  idp_diags diags;        /* what the parse and the structural checks found */
  idp_arena arena;
  idp_spec *spec;
  idp_source **srcs;
  size_t nfiles, nblocks;
  unsigned syntax_errors; /* of the parse (the rest of diags.errors are the structural checks') */
  char **paths;
  size_t npaths;          /* 0: no .idp files (an error was printed) */
} idp_loaded;

/* Reads the files named by args (as idp_collect_files does). Returns IDP_EXIT_OK, or
 * IDP_EXIT_ERROR when a file could not be read (printed); always idp_unload_spec afterwards. */
int idp_load_spec(const char *cmd, char *const *args, size_t nargs, idp_loaded *L);
void idp_unload_spec(idp_loaded *L);

/* A spec loaded and checked as above, parsed in full, instantiated for the selected environments
 * and checked against the driver schemas: what `graph` and `plan` work on. */
typedef struct idp_spec_graph {
  idp_loaded L;
  idp_arena arena;        /* the full trees */
  idp_source **srcs;      /* loaded again for the full parse (diagnostics quote them) */
  idp_file **files;
  size_t nfiles;
  const char *spec_dir;   /* the one directory given, or NULL: file() paths resolve against it */
  idp_graph *g;           /* NULL unless the build succeeded */
} idp_spec_graph;

/* Returns IDP_EXIT_OK with R->g set, or IDP_EXIT_ERROR after printing why. Always
 * idp_spec_graph_free(R) afterwards. */
int idp_spec_graph_build(const char *cmd, char **args, size_t nargs, const idp_env_sel *sel, size_t nsel,
                         idp_spec_graph *R);
void idp_spec_graph_free(idp_spec_graph *R);

int idp_cmd_validate(int argc, char **argv);
int idp_cmd_explain(int argc, char **argv);
int idp_cmd_graph(int argc, char **argv);
int idp_cmd_fmt(int argc, char **argv);
int idp_cmd_describe(int argc, char **argv);
int idp_cmd_state(int argc, char **argv);
int idp_cmd_plan(int argc, char **argv);

#endif
