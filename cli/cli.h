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

/* A command's flags as a table (cli/flags.c). Kinds and what dest points to:
 *   BOOL      bool: -x, -x=true, -x=false
 *   STRING    const char *: -x V or -x=V (the last one counts)
 *   LIST      idp_flag_list: repeatable
 *   ENV       idp_env_list: repeatable -env NAME[:TYPE]
 *   DURATION  double seconds (idp_parse_duration)
 *   COUNT     unsigned, 1 to 10000 */
typedef enum { IDP_FLAG_BOOL, IDP_FLAG_STRING, IDP_FLAG_LIST, IDP_FLAG_ENV, IDP_FLAG_DURATION, IDP_FLAG_COUNT } idp_flag_kind;
typedef struct idp_flag {
  const char *name;
  idp_flag_kind kind;
  void *dest;
} idp_flag;
typedef struct idp_flag_list {
  const char **v;
  size_t n;
} idp_flag_list;
typedef struct idp_env_list {
  struct idp_env_sel *v;
  char **copies;
  size_t n;
} idp_env_list;

/* Parses argv[1..argc) against flags[0..n): the rest (paths; everything after "--") go to *args
 * (malloc'd). Returns 0, or -1 after printing the error (unknown flags get a did-you-mean). Call
 * idp_flags_free(flags, n, *args) either way. */
int idp_parse_flags(const char *cmd, int argc, char **argv, const idp_flag *flags, size_t n, char ***args,
                    size_t *nargs);
void idp_flags_free(const idp_flag *flags, size_t n, char **args);

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

/* Reads the files named by args (as idp_collect_files does), then the files of the modules their
 * top-level `use "NAME"` blocks name (appended to L->paths, each file once; modules may use
 * others): a stdlib module is the folder idp_stdlib_dir()/NAME, a local one ("./path",
 * "../path") a folder relative to the folder of the file that uses it. An unknown module is an
 * error at the use block's label. Returns IDP_EXIT_OK, or IDP_EXIT_ERROR when a file could not be
 * read (printed); always idp_unload_spec afterwards. */
int idp_load_spec(const char *cmd, char *const *args, size_t nargs, idp_loaded *L);
void idp_unload_spec(idp_loaded *L);
/* The stdlib folder: $IDP_STDLIB when set, else the one compiled in (IDP_STDLIB_DIR: the
 * repository's stdlib/). */
const char *idp_stdlib_dir(void);

/* A spec loaded and checked as above, parsed in full, instantiated for the selected environments
 * and checked against the driver schemas: what `graph` and `plan` work on. */
typedef struct idp_spec_graph {
  idp_loaded L;
  idp_arena arena;        /* the full trees */
  idp_source **srcs;      /* loaded again for the full parse (diagnostics quote them) */
  idp_file **files;
  size_t nfiles;
  const char *spec_dir;   /* the one directory given, or NULL: file() paths resolve against it */
  struct idp_registry *registry; /* resolves registry_image() (runtime/registry.h), or NULL */
  idp_graph *g;           /* NULL unless the build succeeded */
  idp_inst_opts opts;     /* what g was instantiated with, for idp_spec_graph_again */
  const idp_env_sel *sel; /* borrowed from the caller */
  size_t nsel;
} idp_spec_graph;

/* Returns IDP_EXIT_OK with R->g set, or IDP_EXIT_ERROR after printing why. vars: -var NAME=VALUE
 * values (instance.h). images: resolve
 * registry_image() against the registries (`plan`; decision 9), else leave images unknown and stay
 * off the network (`graph`). Always idp_spec_graph_free(R) afterwards. */
int idp_spec_graph_build(const char *cmd, char **args, size_t nargs, const idp_env_sel *sel, size_t nsel,
                         bool images, const char *const *vars, size_t nvars, idp_spec_graph *R);
void idp_spec_graph_free(idp_spec_graph *R);
/* Instantiates R's spec again, as idp_spec_graph_build did (the registry's answers are cached),
 * with app images pinned by pin (decision 9; instance.h). NULL after printing the errors. */
idp_graph *idp_spec_graph_again(idp_spec_graph *R,
                                const char *(*pin)(void *, const char *, const char *, const struct idp_value *),
                                void *payload);
/* idp_inst_opts.configure for every command: the drivers' configure (derived integration outputs,
 * such as postgres host and port from the DSN, known at plan time). */
struct idp_value *idp_spec_configure(void *payload, idp_arena *a, const char *driver, const struct idp_value *inputs);

int idp_cmd_validate(int argc, char **argv);
int idp_cmd_explain(int argc, char **argv);
int idp_cmd_graph(int argc, char **argv);
int idp_cmd_fmt(int argc, char **argv);
int idp_cmd_describe(int argc, char **argv);
int idp_cmd_state(int argc, char **argv);
int idp_cmd_plan(int argc, char **argv);
int idp_cmd_apply(int argc, char **argv);
int idp_cmd_destroy(int argc, char **argv);

/* `idp plan` for apply and destroy (cmd names them in messages and the lock): plans as `idp plan`
 * does, printing the text plan (json: one line {"type": "plan", "add", "change", "destroy"} of
 * apply's event stream), and gives the saved plan's JSON in *saved (NULL on failure) instead of
 * writing a file. Returns an IDP_EXIT_*. */
struct idp_plan_opts;
struct json_t;
int idp_plan_saved(const char *cmd, char **args, size_t nargs, struct idp_env_sel *sel, size_t nsel,
                   const char *const *vars, size_t nvars, const struct idp_plan_opts *po, double lock_timeout,
                   bool json, struct json_t **saved);
int idp_cmd_show(int argc, char **argv);
/* `idp pipeline run|status|approve|cancel|resume` (cmd_pipeline.c). */
int idp_cmd_pipeline(int argc, char **argv);
/* `idp serve` and `idp watch`: the pipelines' triggers (cmd_serve.c). */
int idp_cmd_serve(int argc, char **argv);
int idp_cmd_watch(int argc, char **argv);

/* --- image pins and pipeline deploys (decisions 9 and 10; pipeline_deploy.c) -------------------- */

/* A pipeline's deploy of app to env with image (the pipeline and run are recorded with the pin).
 * pending and first are filled by idp_deploy_scope. */
typedef struct idp_pin_req {
  const char *env, *app, *image, *pipeline, *run;
  struct json_t *pending;     /* what the deploy leaves for a reviewed apply (owned by the caller) */
  bool first;                 /* the app had nothing in env: created in full */
  char why[512];              /* why planning failed, when it did (no secret) */
} idp_pin_req;

/* Where pins come from: the deploy's request (if any), then the states' pins. */
typedef struct idp_pin_src {
  const idp_pin_req *req;
  struct idp_state *const *states;
  size_t nstates;
  bool sentinel;              /* the request's app gets no image at all (finding what it reaches) */
} idp_pin_src;

/* idp_inst_opts.image_pin over an idp_pin_src: the request's image for its app and env, else the
 * state's pin while the app's image (evaluated, when known) is of the pin's repository. */
const char *idp_pin_lookup(void *payload, const char *env, const char *app, const struct idp_value *evaluated);
/* Whether two image references name the same repository ("HOST/REPO", without tag or digest). */
bool idp_image_same_repo(const char *a, const char *b);
/* True if any of states[0..n) holds a pin. */
bool idp_pins_any(struct idp_state *const *states, size_t n);
/* Narrows a plan of g (instantiated with req's pin) to what decision 10 lets a deploy change, in
 * po (targets allocated in g, exact), and marks the instances' other inputs ignored; fills
 * req->pending and req->first. Returns 0 or a negative IDP_STATE_E* / IDP_PLAN_EREFUSED code. */
struct idp_plan_opts;
struct idp_state_error;
int idp_deploy_scope(idp_spec_graph *R, idp_graph *g, struct idp_state *const *states, const bool *deletable,
                     size_t nst, idp_pin_req *req, struct idp_plan_opts *po, struct idp_state_error *err);
/* Plans req's deploy in spec_dir (cmd_plan.c) as `apply` plans first: the plan printed, the saved
 * plan's JSON in *saved. Returns an IDP_EXIT_*. */
int idp_plan_pinned(const char *spec_dir, idp_pin_req *req, struct json_t **saved);
/* Carries out a saved plan's JSON as `idp apply PLANFILE -auto-approve` would (cmd_apply.c),
 * recording the pin its args name once every step succeeded. Returns an IDP_EXIT_*; on failure,
 * why[0..whysize) gets the first failure (address, operation, message). */
int idp_apply_saved(const struct json_t *saved, const char *cmd, char *why, size_t whysize);

#endif
