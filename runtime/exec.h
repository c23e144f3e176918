/* exec.h - carries out a saved plan (planfile.h): its changes become steps (create, update,
 * delete; a replace is a delete then a create, or with create_before_destroy a create then a
 * delete of the old object), run by a pool of worker threads against the drivers' APIs as soon
 * as the steps they wait for have finished, at most `parallelism` at once and at most
 * `max_parallel` per integration (the integration block's input).
 *
 * Order: a create or update waits for the creates and updates of what it depends on; a delete
 * waits for the deletes of what depends on it (state dependencies) and for the steps of
 * resources that used to depend on it.
 *
 * State (decision 11): before a create the state records the intent (status pending-create with
 * the inputs), before a delete status deleting; after each step its result (outputs, status
 * created; or the record removed). Writes are grouped, one write at a time: the results that came
 * in while the last write went on are written together with the intents of the next steps, and an
 * intent is durable before its API call starts. So that the workers need not wait for a write
 * (which, for a large state, takes as long as a quick call), steps ready to run are queued ahead
 * of them with their intents written, as many as finish while a write goes on (at least
 * `parallelism`). Secrets are sealed (inputs holding one, outputs the driver schema marks secret,
 * per attribute).
 *
 * Failures: a step that fails for good (the driver's message kept) makes every step that waits on
 * it, transitively, skipped; independent steps go on. An interrupt (the flag set by a signal
 * handler) starts no new step: steps in flight finish and are recorded, and the intents of steps
 * queued ahead that no worker took are taken back (the records they added removed, a delete's
 * status restored), so the state holds only what ran. */
#ifndef IDP_EXEC_H
#define IDP_EXEC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "arena.h"
#include "backend.h"
#include "http.h"
#include "state.h"
#include "value.h"

typedef enum idp_exec_event_kind {
  IDP_EXEC_START,   /* a step started */
  IDP_EXEC_DONE,    /* a step finished */
  IDP_EXEC_FAILED,  /* a step failed: msg says why */
  IDP_EXEC_SKIPPED, /* a step did not start: msg says why (a failure it waits on, an interrupt) */
} idp_exec_event_kind;

typedef struct idp_exec_event {
  idp_exec_event_kind kind;
  const char *address;
  const char *op;          /* "create", "update", "delete" */
  double elapsed;          /* seconds the step took (DONE, FAILED) */
  const char *msg;         /* FAILED, SKIPPED */
  size_t finished, total;  /* steps finished (done, failed or skipped) so far, of all */
} idp_exec_event;

/* Evaluates the inputs of the resources at addrs[0..n) as they must be applied now, with the
 * outputs of the finished steps known (read from states): out[i] gets a map in arena a, with no
 * unknown left, or NULL and a message in err. Called for the steps whose planned inputs hold
 * values known only after apply, from the executor's own thread, never concurrently. */
typedef int (*idp_exec_fill_fn)(void *payload, idp_state *const *states, size_t nstates, const char *const *addrs,
                                size_t n, idp_value **out, idp_arena *a, char *err, size_t errsize);

typedef struct idp_exec_opts {
  unsigned parallelism;            /* 0: 10 */
  idp_http *http;                  /* the run's HTTP client */
  idp_backend *backend;            /* where the states are written (their locks held) */
  const idp_state_key *key;        /* opens the plan's sealed values; the states carry it too */
  idp_exec_fill_fn fill;           /* NULL: a plan holding unknowns fails those steps */
  void *fill_payload;
  void (*event)(void *payload, const idp_exec_event *e); /* progress, from the executor's thread */
  void *event_payload;
  volatile sig_atomic_t *interrupted; /* non-zero: start nothing more */
} idp_exec_opts;

typedef struct idp_exec_result {
  size_t total, done, failed, skipped;
  size_t added, changed, destroyed; /* as the plan's summary counts them, for what was done */
} idp_exec_result;

/* Runs the changes of plan (a saved plan's JSON) against states[0..nstates) (read with the key,
 * locked through o->backend). Returns 0 when the run went through (res says how many steps
 * failed or were skipped), or a negative IDP_STATE_E* code with err filled when it could not go
 * on (a state could not be written: what was done is in the last state written). */
int idp_exec_run(const json_t *plan, idp_state *const *states, size_t nstates, const idp_exec_opts *o,
                 idp_exec_result *res, idp_state_error *err);

#endif
