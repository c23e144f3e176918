/* instance.h - environment instantiation and the dependency graph.
 *
 * From the full syntax tree of a spec (every file parsed with idp_parse) and a selection of
 * environments, makes every resource instance:
 *   - per selected environment, app and need (the workload need first), the resources of the
 *     provide that wins the need (spec.c's matching, decision 4), addressed
 *     `env.E/app.A/need.N/DRIVER.KIND.LOCAL` (decision 2);
 *   - the top-level resources `DRIVER.KIND.NAME` the selected environments reach through their
 *     dependencies (decision 6), or all of them when no environment is selected.
 * Each instance's attributes are evaluated (compiler/eval.h) with a resolver for env.*, env_type.*,
 * app.*, need.*, resource.*, integration.*, DRIVER.KIND.NAME.* and app.OTHER.need.*; evaluation is
 * lazy and memoized per attribute, and a cycle is an error naming the chain with its places.
 * The dependency sets of the evaluated inputs (decision 5) are the graph's edges.
 *
 * What is not known at plan time stays unknown: computed outputs of resources, derived outputs of
 * integrations (postgres host and port), and registry_image() unless a resolver is given
 * (idp_instantiate_with: `idp plan` resolves images, `idp graph` does not). */
#ifndef IDP_INSTANCE_H
#define IDP_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"
#include "eval.h"
#include "value.h"

/* One selected environment: a declared one (type NULL), or on demand with its env type. */
typedef struct idp_env_sel {
  const char *name;
  const char *type;
} idp_env_sel;

/* A resource block's `lifecycle { ... }` (literal values; checked at validate time by
 * runtime/drivers/driver_check.c). */
typedef struct idp_lifecycle {
  bool prevent_destroy;       /* a plan that would destroy (or replace) it is an error */
  bool create_before_destroy; /* a replace creates the new object before deleting the old */
  bool ignore_all;            /* ignore_changes = all: only a create sets its inputs */
  const char **ignore;        /* ignore_changes = [NAME, ...]: inputs a change of is not planned */
  size_t nignore;
} idp_lifecycle;

typedef struct idp_inst {
  const char *addr;          /* env.E/app.A/need.N/DRIVER.KIND.LOCAL or DRIVER.KIND.NAME */
  const char *driver_kind;   /* "powerdns.record" */
  const char *name;          /* the block's name label */
  const char *env, *app, *need; /* NULL for a top-level resource */
  idp_source *src;           /* the resource block's source */
  const idp_item *block;     /* the resource block */
  idp_value *inputs;         /* map: attributes set, then defaults of the driver's inputs */
  const idp_deps *deps;      /* what the inputs and depends_on derive from, without the instance itself */
  idp_lifecycle life;
} idp_inst;

typedef struct idp_inst_state idp_inst_state;

typedef struct idp_graph {
  idp_arena arena;           /* instances, values */
  idp_inst **v;              /* the instances of the run, sorted by address */
  size_t n;
  idp_inst_state *st;        /* private */
} idp_graph;

/* Instantiates files[0..nfiles) (parsed without error) for sel[0..nsel) (nsel 0: every declared
 * environment and every top-level resource). spec_dir: where file() paths resolve (NULL: the
 * current directory). Errors go to d; the graph returned is complete only when none was reported.
 * Always idp_graph_free the result. */
idp_graph *idp_instantiate(idp_file *const *files, size_t nfiles, const idp_env_sel *sel, size_t nsel,
                           const char *spec_dir, idp_diags *d);

/* What instantiation may reach outside the spec. */
typedef struct idp_inst_opts {
  const char *spec_dir;      /* where file() paths resolve; NULL: the current directory */
  idp_image_fn image;        /* resolves registry_image() (decision 9); NULL: unknown until apply */
  void *image_payload;       /* image's payload */
  /* The value of output attr of the resource at addr once it is applied (apply reads it from the
   * state), in arena a; NULL: unknown, as in a plan. The schema's secret mark is added. */
  struct idp_value *(*output)(void *payload, idp_arena *a, const char *addr, const char *attr);
  /* An integration's derived outputs (its driver's configure: postgres host and port from the
   * DSN) as a map in a, from the map of its inputs; NULL: unknown. Called once per integration,
   * and only when its inputs are known. */
  struct idp_value *(*configure)(void *payload, idp_arena *a, const char *driver, const struct idp_value *inputs);
  void *hooks_payload;       /* output's and configure's payload */
  const char *const *vars;   /* "NAME=VALUE": var values given (-var), before IDP_VAR_NAME and defaults */
  size_t nvars;
  /* Decision 9: the image a pipeline pinned for app in env ("HOST/REPO@sha256:..."), which
   * app.image then is in that environment instead of what the app block gives (evaluated: that
   * value, maybe unknown); NULL: no pin, the evaluated value stands. */
  const char *(*image_pin)(void *payload, const char *env, const char *app, const struct idp_value *evaluated);
  void *pin_payload;
} idp_inst_opts;

/* idp_instantiate with options (o->spec_dir in place of spec_dir). */
idp_graph *idp_instantiate_with(idp_file *const *files, size_t nfiles, const idp_env_sel *sel, size_t nsel,
                                const idp_inst_opts *o, idp_diags *d);
void idp_graph_free(idp_graph *g);

/* The instance at addr, or NULL. */
const idp_inst *idp_graph_find(const idp_graph *g, const char *addr);

/* The image app's `image` gave in environment env (a pin, or what registry_image() resolved),
 * when instantiation evaluated it (a workload reads it) and it is a known string; else NULL. */
const char *idp_graph_app_image(const idp_graph *g, const char *env, const char *app);

/* The driver of the integration block named name ("postgres" for integration.shared-pg), or NULL. */
const char *idp_graph_integration_driver(const idp_graph *g, const char *name);

/* Evaluates e (an expression of src) at the top level of g's spec, where var.*, integration.*
 * (`integration.main` is the map of its attributes) and top-level resources are in scope: what a
 * pipeline block's attributes read. The value lives in g's arena; NULL after errors reported to d. */
idp_value *idp_graph_eval_top(idp_graph *g, idp_source *src, const idp_expr *e, idp_diags *d);

/* Prints the graph as DOT: one node per instance (label: address and driver kind), one edge per
 * dependency, drawn from the dependency to its dependent (the order of creation). Sorted. */
void idp_graph_dot(const idp_graph *g, FILE *out);

#endif
