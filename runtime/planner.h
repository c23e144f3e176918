/* planner.h - the plan: desired resource instances (compiler/instance.h) diffed against the states
 * they live in (state.h), per resource create / update in place / replace / delete / no-op with
 * attribute-level changes, in dependency order.
 *
 * It lives in runtime/ because it reads states (sealed secrets, statuses) and driver schemas
 * (force_new inputs, computed outputs); compiler/ stays free of the state API.
 *
 * Rules (docs/plan-format.md has the whole list):
 *   - in desired, not in state: create. Same address in state: each input compared; an input that
 *     differs and is force_new in the driver schema makes it a replace, else an update in place.
 *     A tainted resource is replaced; a pending-create one is planned as a create; a deleting one
 *     that is still desired is replaced.
 *   - in state, not desired: delete, only for the states passed in `deletable` (the selected
 *     environments; the shared state only when the run covers every top-level resource).
 *   - an unknown desired value equals the stored one when every resource it derives from is a
 *     no-op in this plan (it will read back what the state holds); otherwise it is a change shown
 *     as `(known after apply)`.
 *   - sealed values are opened with the state's key to compare; they are never kept in the plan:
 *     a stored secret appears as `(secret)` (a secret-marked placeholder), a desired one too.
 * Order: desired instances topologically (dependencies first, ties by address), then deletes,
 * dependents first (ties by address). */
#ifndef IDP_PLANNER_H
#define IDP_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "arena.h"
#include "instance.h"
#include "state.h"
#include "value.h"

#define IDP_PLAN_ACTIONS(X)  \
  X(NOOP, "no-op")           \
  X(CREATE, "create")        \
  X(UPDATE, "update")        \
  X(REPLACE, "replace")      \
  X(DELETE, "delete")

typedef enum idp_plan_action {
#define X(e, s) IDP_PLAN_##e,
  IDP_PLAN_ACTIONS(X)
#undef X
} idp_plan_action;

const char *idp_plan_action_name(idp_plan_action a);

/* One attribute of a resource change. before/after: NULL when absent on that side. Secrets are
 * secret-marked values (a stored secret is a placeholder, never its plaintext). */
typedef struct idp_plan_attr {
  const char *name;
  const idp_value *before, *after;
  const json_t *stored;   /* the stored value (borrowed from the state); before is made from it
                             only when printed: a no-op's stays NULL (a large plan is mostly no-ops) */
  bool changed;         /* differs (or may differ: unknown after) */
  bool forces;          /* changed and force_new in the driver schema */
  bool computed;        /* a computed output (known after apply), not an input */
} idp_plan_attr;

typedef struct idp_plan_res {
  const char *addr, *driver;
  const char *env;             /* NULL: shared state */
  idp_plan_action action;
  const char *note;            /* why, when the status or a flag decided it ("tainted"), or NULL */
  bool create_before_destroy;  /* a replace that creates the new object first (lifecycle) */
  const idp_inst *inst;        /* the desired instance (NULL for a delete, or read from a file) */
  const char *const *deps;     /* what it depends on: the instance's, or (delete) the state's */
  size_t ndeps;
  idp_plan_attr *attrs;        /* sorted by name; inputs then computed outputs */
  size_t nattrs;
  bool secret_state;           /* applying it stores a secret in state */
} idp_plan_res;

typedef struct idp_plan {
  idp_arena arena;
  idp_plan_res *v;             /* in plan order; no-ops included */
  size_t n;
  size_t add, change, destroy; /* replace counts in add and destroy */
} idp_plan;

/* What narrows or turns a plan (the plan command's flags). */
typedef struct idp_plan_opts {
  /* -target ADDR: only these and, unless destroying, what they depend on (transitively); when
   * destroying, these and what depends on them in the same state. An ADDR names an instance, or
   * every instance under it at a `/` (`env.dev`, `env.dev/app.shop`). */
  const char *const *targets;
  size_t ntargets;
  const char *const *replace; /* -replace ADDR: an instance in state, planned as a replace */
  size_t nreplace;
  bool destroy;               /* -destroy: delete what the deletable states hold */
  bool exact;                 /* the targets alone, not what they depend on (a pipeline deploy,
                                 decision 10: what it leaves alone stays as it is) */
} idp_plan_opts;

/* Diffs g against states[0..nstates) (each opened with its key when it holds secrets: call
 * idp_state_check_secrets first). deletable[i]: resources of states[i] not in g are deleted.
 * o may be NULL (a plain plan). Returns 0, or a negative IDP_STATE_E* code with err filled
 * (e.g. EDECRYPT), or IDP_PLAN_EREFUSED with err naming the resource and the rule that refuses
 * the plan (prevent_destroy, a -target or -replace that names nothing, a top-level resource that
 * an environment still reaches). */
enum { IDP_PLAN_EREFUSED = -100 };
int idp_plan_make(idp_plan **out, const idp_graph *g, idp_state *const *states, const bool *deletable,
                  size_t nstates, const idp_plan_opts *o, idp_state_error *err);

/* The stored value of input name of sr (in st) as a plan value to apply again: opened when
 * sealed (a placeholder would be applied as is). The state seals an attribute whole; for a map,
 * desired (may be NULL) says which keys are secret (a key it lacks stays secret), so a workload's
 * plain env keys stay plain. NULL when not stored (err untouched) or when it does not open (err
 * filled). What an input `ignore_changes` names keeps; a pipeline deploy merges into it. */
idp_value *idp_plan_stored_input(idp_arena *a, const idp_state *st, const idp_state_res *sr, const char *name,
                                  const idp_value *desired, idp_state_error *err);

/* True if addr is target or lies under it at a `/` (env.dev/app.shop lies under env.dev). */
bool idp_plan_addr_under(const char *addr, const char *target);
void idp_plan_free(idp_plan *p);

/* True if any resource is not a no-op. */
bool idp_plan_has_changes(const idp_plan *p);

/* Terraform-like text: every change with its attributes, then the summary line
 * `Plan: N to add, N to change, N to destroy.` or `No changes.` */
void idp_plan_print(const idp_plan *p, FILE *out);
/* The same, with ANSI colours when color (+ green, ~ yellow, - red, the headings and `Plan:` bold);
 * without, byte for byte idp_plan_print. Whether to colour is the caller's (cli/term.h). */
void idp_plan_print_color(const idp_plan *p, FILE *out, bool color);
/* The -json form (docs/plan-format.md), a new reference; header members are added by the caller.
 * Secrets are written as null and marked. saved: the form of a saved plan, whose desired side
 * keeps the secrets apply needs sealed with key (key NULL: null; the caller refuses a plan whose
 * changes need one, as for the state). Returns NULL only when sealing failed (err filled). */
json_t *idp_plan_json(const idp_plan *p, bool saved, const idp_state_key *key, idp_state_error *err);

/* The plan that idp_plan_json wrote (saved or not), for printing: sealed parts and secret marks
 * become (secret), unknown marks (known after apply). Returns NULL with err filled when j is not
 * such a plan. */
idp_plan *idp_plan_from_json(const json_t *j, idp_state_error *err);

#endif
