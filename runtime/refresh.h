/* refresh.h - refresh: before a plan, each resource of the states is read from its API (the
 * driver's read), so the plan compares the spec with the real objects, not with what the last
 * apply wrote. What differs is drift: an object changed or deleted outside idp.
 *
 * The states are changed in memory only (a plan writes nothing): a changed object gets the
 * inputs and outputs its read returned, a deleted one leaves the state, so the plan updates or
 * creates it again. Drift is reported for inputs only: outputs move on by themselves (a zone's
 * SOA serial rises with every record change) and are just taken in. Reads run on a pool of threads, at most `parallelism` at once. Resources
 * whose driver has no read (no API code yet), and those not in status created, are left as they
 * are. */
#ifndef IDP_REFRESH_H
#define IDP_REFRESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "arena.h"
#include "http.h"
#include "state.h"
#include "value.h"

/* One input that changed outside idp: before (state) and after (read); either may be NULL. */
typedef struct idp_drift_attr {
  const char *name;
  const idp_value *before, *after;
} idp_drift_attr;

typedef struct idp_drift {
  const char *addr;
  bool deleted;               /* the read found no object */
  idp_drift_attr *attrs;
  size_t nattrs;
} idp_drift;

typedef struct idp_refresh_result {
  idp_arena arena;
  idp_drift *v;               /* by address */
  size_t n;
  size_t read;                /* resources read */
  idp_arena *arenas;          /* private: the reads' values live there */
  size_t narenas;
} idp_refresh_result;

/* A state record as a driver's prior: {"inputs": MAP, "outputs": MAP}, sealed values opened and
 * secret-marked. NULL with err filled when one does not open. */
idp_value *idp_refresh_prior(idp_arena *a, const idp_state *st, const idp_state_res *r, idp_state_error *err);

/* Reads every resource of states[0..n) and updates the states in memory. Returns 0 with *out
 * filled (idp_refresh_result_free it), or a negative IDP_STATE_E* code with err naming the
 * resource and the driver's message when a read failed (nothing is changed then). */
int idp_refresh(idp_state *const *states, size_t n, idp_http *http, unsigned parallelism, idp_refresh_result *out,
                idp_state_error *err);
void idp_refresh_result_free(idp_refresh_result *r);

/* The drift as text (`Objects have changed outside of idp ...`), nothing when there is none. */
void idp_refresh_print(const idp_refresh_result *r, FILE *out);
/* The same, with ANSI colours when color (markers as in idp_plan_print_color, headings bold). */
void idp_refresh_print_color(const idp_refresh_result *r, FILE *out, bool color);
/* The drift as JSON: [{"address", "action": "update"|"delete", "changed": [INPUT, ...]}]. */
json_t *idp_refresh_json(const idp_refresh_result *r);

#endif
