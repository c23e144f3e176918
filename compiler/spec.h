/* spec.h - the spec model: a compact record of the top-level blocks, built while a streamed parse
 * hands them over (the syntax tree of each item is freed right after), for the checks that span
 * blocks and need no evaluation beyond literals, and for matching (decision 4).
 *
 * What is kept is headers and literal strings, copied into the model's own arena; the sources are
 * only pointed to (they stay loaded until the diagnostics are printed). An attribute whose value is
 * not a literal string (an expression) is recorded as such and skipped by the checks. */
#ifndef IDP_SPEC_H
#define IDP_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"
#include "source.h"

/* An attribute's value as the checks see it. */
typedef enum { IDP_SPEC_ABSENT, IDP_SPEC_LITERAL, IDP_SPEC_EXPR } idp_spec_valkind;

typedef struct idp_spec_lit {
  idp_spec_valkind kind;
  const char *s;          /* LITERAL: the string (model arena) */
  idp_loc loc;            /* LITERAL, EXPR: the value */
} idp_spec_lit;

typedef struct idp_spec_integration {
  const char *driver, *name;
  idp_source *src;
  idp_loc loc;            /* the name label */
} idp_spec_integration;

typedef struct idp_spec_env_type {
  const char *name;
  idp_source *src;
  idp_loc loc;
} idp_spec_env_type;

typedef struct idp_spec_env {
  const char *name;
  idp_source *src;
  idp_loc loc;
  idp_spec_lit type;      /* `type = "..."` */
} idp_spec_env;

/* Match criteria, in the order of their weight. */
enum { IDP_CRIT_ENV, IDP_CRIT_APP, IDP_CRIT_ENV_TYPE, IDP_NCRIT };
extern const char *const idp_spec_crit_name[IDP_NCRIT]; /* "env", "app", "env_type" */
extern const int idp_spec_crit_weight[IDP_NCRIT];       /* 4, 2, 1 */

typedef struct idp_spec_provide {
  const char *type, *name;
  idp_source *src;
  idp_loc loc;            /* the name label */
  bool has_match;
  idp_spec_lit crit[IDP_NCRIT];
  size_t next_of_type;    /* next provide of the same type, or (size_t)-1 */
} idp_spec_provide;

typedef struct idp_spec_need {
  const char *name;
  idp_loc loc;            /* the name label; for the implicit workload need, the app's */
  idp_spec_lit type;
  bool implicit;          /* the workload every app needs */
} idp_spec_need;

typedef struct idp_spec_app {
  const char *name;
  idp_source *src;
  idp_loc loc;
  idp_spec_need *needs;   /* the workload first, then the `need` blocks in order */
  size_t nneeds;
} idp_spec_app;

typedef struct idp_spec_resource {
  const char *driver_kind, *name;
  idp_source *src;
  idp_loc loc;
} idp_spec_resource;

/* An attribute of a pipeline's blocks, as the checks of step attributes see it. */
typedef struct idp_spec_pattr {
  const char *name;
  idp_loc name_loc;
  idp_expr_kind kind;     /* the value's expression kind */
  const char *s;          /* a literal string (no interpolation), else NULL */
  double number;          /* NUMBER */
  const char *integration; /* the value is `integration.NAME`: NAME; else NULL */
  idp_loc loc;            /* the value */
} idp_spec_pattr;

/* A block of a pipeline with its attributes: the pipeline's own ("pipeline"), a trigger, a
 * stage's own ("stage"), or a step of a stage (deploy, check, approval, wait). */
typedef struct idp_spec_pblock {
  const char *kind;
  const char *label;      /* trigger and check: the kind label ("image_push", "http"); else NULL */
  idp_loc loc, label_loc; /* the keyword; the label */
  idp_spec_pattr *attrs;
  size_t nattrs;
} idp_spec_pblock;

typedef struct idp_spec_stage {
  const char *name;
  idp_loc loc;
  idp_spec_pblock self;     /* the stage's own attributes (`after`) */
  idp_spec_pblock *steps;   /* its blocks, in the order written */
  size_t nsteps;
  idp_spec_lit after_attr;  /* ABSENT, EXPR (not a list of literals), or LITERAL (s unused) */
  idp_spec_lit *after;      /* the list's elements when after_attr is LITERAL; an element that
                               is not a literal string is EXPR */
  size_t nafter;
  idp_spec_lit deploy_app, deploy_env;
} idp_spec_stage;

typedef struct idp_spec_pipeline {
  const char *name;
  idp_source *src;
  idp_loc loc;
  idp_spec_stage *stages;
  size_t nstages;
  idp_spec_pblock self;     /* the pipeline's own attributes (none are defined) */
  idp_spec_pblock *triggers;
  size_t ntriggers;
} idp_spec_pipeline;

/* The provides of one type, chained through next_of_type in declaration order. */
typedef struct idp_spec_ptype {
  const char *type;
  size_t first, last, n;
} idp_spec_ptype;

typedef struct idp_spec_index idp_spec_index;

typedef struct idp_spec {
  idp_arena arena;
  idp_spec_integration *integrations; size_t nintegrations, capintegrations;
  idp_spec_env_type *env_types;       size_t nenv_types, capenv_types;
  idp_spec_env *envs;                 size_t nenvs, capenvs;
  idp_spec_provide *provides;         size_t nprovides, capprovides;
  idp_spec_ptype *ptypes;             size_t nptypes, capptypes;
  idp_spec_app *apps;                 size_t napps, capapps;
  idp_spec_resource *resources;       size_t nresources, capresources;
  idp_spec_pipeline *pipelines;       size_t npipelines, cappipelines;
  idp_spec_index *index;              /* names -> positions */
} idp_spec;

idp_spec *idp_spec_new(void);
void idp_spec_free(idp_spec *s);

/* Records one top-level item. Blocks whose labels are not as their kind takes are left out, and
 * so is a second block with the name of an earlier one (the validator reports duplicates). */
void idp_spec_item(idp_spec *s, idp_source *src, const idp_item *top);

/* Lookups by name; NULL when not declared. */
const idp_spec_env *idp_spec_find_env(const idp_spec *s, const char *name);
const idp_spec_env_type *idp_spec_find_env_type(const idp_spec *s, const char *name);
const idp_spec_app *idp_spec_find_app(const idp_spec *s, const char *name);
const idp_spec_ptype *idp_spec_find_ptype(const idp_spec *s, const char *type);

/* --- matching (decision 4) --------------------------------------------------------------------- */

enum { IDP_SPEC_NOFIT = -1, IDP_SPEC_UNDECIDED = -2 };

/* The score of provide p for a need of app in env (of type env_type; NULL when it has none):
 * env 4 + app 2 + env_type 1 over the criteria its `match` sets, 0 without one. Returns the score,
 * IDP_SPEC_NOFIT when a criterion set does not fit, or IDP_SPEC_UNDECIDED when a criterion is an
 * expression; *crit (may be NULL) gets the criterion that did not fit or could not be read. */
int idp_spec_score(const idp_spec_provide *p, const char *env, const char *app, const char *env_type,
                   int *crit);

/* The outcome of matching one need. */
typedef struct idp_spec_choice {
  size_t win;             /* the best-scoring provide, or (size_t)-1 when none fits */
  size_t tie;             /* another provide with the same best score, or (size_t)-1 */
  int score;              /* the best score */
  size_t nfit;            /* provides that fit */
  bool undecided;         /* some provide's match holds an expression: the outcome may differ */
} idp_spec_choice;

void idp_spec_choose(const idp_spec *s, const char *type, const char *env, const char *app,
                     const char *env_type, idp_spec_choice *out);

/* --- checks ---------------------------------------------------------------------------------- */

/* The checks across blocks, after the last item: env types, need types, match criteria, matching
 * per declared env x app x need (no fit, ties), pipeline stages (`after`, cycles, deploy) and the
 * attributes of triggers and steps (docs/pipelines.md: unknown or missing ones, registries that
 * are no oci_registry integration, durations, numbers out of range). Reports
 * located errors with hints to d; returns the number of errors. */
unsigned idp_spec_check(const idp_spec *s, idp_diags *d);

/* Reads a literal string: a string without interpolation. Returns it (in a) or NULL. */
const char *idp_spec_literal(idp_arena *a, const idp_expr *e);

#endif
