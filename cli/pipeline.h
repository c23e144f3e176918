/* pipeline.h - deploy pipelines: the `pipeline` blocks of a spec as runs need them, the engine that
 * advances a run (runtime/runs.h keeps the records), and the deploy step (decisions 9 and 10).
 *
 * The commands: `idp pipeline run|status|approve|cancel|resume` (cmd_pipeline.c), `idp serve` and
 * `idp watch` (cmd_serve.c), which start runs and have `idp pipeline resume RUN` drive them. */
#ifndef IDP_PIPELINE_H
#define IDP_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "../compiler/arena.h"
#include "../compiler/value.h"

/* --- definitions ------------------------------------------------------------------------------ */

typedef enum { IDP_STEP_APPROVAL, IDP_STEP_WAIT, IDP_STEP_DEPLOY, IDP_STEP_CHECK } idp_step_kind;

/* One step of a stage. A stage's steps run in this order: approval (the gate), wait, deploy, then
 * its checks in the order written. */
typedef struct idp_pl_step {
  idp_step_kind kind;
  unsigned approvers;        /* APPROVAL: how many distinct approvers (`approvers = N`) */
  double seconds;            /* WAIT: how long (`duration = "10m"`) */
  const char *app, *env;     /* DEPLOY */
  const char *url;           /* CHECK "http": GET url ... */
  long expect_status;        /* ... until it answers this status (default 200) */
  double timeout_s;          /* per attempt (default 10 s) */
  unsigned retries;          /* attempts after the first (default 0) ... */
  double interval_s;         /* ... this far apart (`interval`, default 5 s) */
} idp_pl_step;

typedef struct idp_pl_stage {
  const char *name;
  const char **after;        /* stages that must succeed first */
  size_t nafter;
  idp_pl_step *steps;
  size_t nsteps;
} idp_pl_stage;

/* `trigger "image_push" { registry = integration.X, repository = "...", tag = "GLOB" }` */
typedef struct idp_pl_trigger {
  const char *kind;          /* "image_push" */
  const char *registry_name; /* the integration's name ("main") */
  const idp_value *registry; /* the oci_registry integration's attribute map, as registry.h takes it */
  const char *registry_url;  /* its url attribute */
  const char *repository;    /* "acme/shop" */
  const char *tag;           /* a glob: fnmatch(3) */
} idp_pl_trigger;

typedef struct idp_pipeline_def {
  const char *name;
  const char *where;         /* "FILE:LINE:COL" of the block */
  idp_pl_trigger *triggers;
  size_t ntriggers;
  idp_pl_stage *stages;      /* in a topological order of `after` (ties in the order written) */
  size_t nstages;
} idp_pipeline_def;

typedef struct idp_pipelines {
  idp_arena arena;
  idp_pipeline_def *v;
  size_t n;
  char *spec_dir;            /* absolute */
} idp_pipelines;

/* Reads the spec in spec_dir as `idp validate` does and evaluates its pipeline blocks (trigger
 * registries, check urls, ...). Returns 0, or -1 after printing located errors (cmd names the
 * command). */
int idp_pipelines_load(const char *cmd, const char *spec_dir, idp_pipelines **out);
void idp_pipelines_free(idp_pipelines *p);
const idp_pipeline_def *idp_pipelines_find(const idp_pipelines *p, const char *name);

/* --- the engine ------------------------------------------------------------------------------- */

/* Advances run id of the spec in spec_dir as far as it can go: stages whose `after` stages all
 * succeeded run (their steps in order; the record is written after every step, so a killed
 * driver's successor continues from the last finished step, and a deploy re-planned after a
 * crash finds what was applied and deploys nothing twice); a stage waiting for approvals leaves
 * the run "waiting" and returns without holding any lock; a failed step fails its stage, its
 * dependents are "skipped" and the run "failed" with the reason. The record is re-read between
 * steps, so approvals and cancels given meanwhile count. Takes the run's lock: when another
 * process holds it, prints who and returns IDP_EXIT_OK without doing anything. Progress goes to
 * log. Returns IDP_EXIT_OK (finished, waiting, or held elsewhere) or IDP_EXIT_ERROR (the run
 * failed, or could not be read). */
int idp_pipeline_drive(const char *spec_dir, const char *id, FILE *log);

/* Starts a driver of run id in the background, detached from the terminal (`idp pipeline resume
 * ID SPEC_DIR`, this same binary, in a session of its own), its output appended to
 * SPEC_DIR/.idp/runs/ID.log (0600). Returns 0, or -1 with err set. */
int idp_pipeline_start(const char *spec_dir, const char *id, char *err, size_t errsize);

/* --- the deploy step (decisions 9 and 10) ------------------------------------------------------ */

/* What one deploy did, for the run record. */
typedef struct idp_deploy_result {
  long add, change, destroy;
  json_t *pending;           /* changes of the app the deploy left alone ("needs a reviewed
                                apply"): [{"address", "action", "attributes": [...]}]; owned */
  bool first;                /* the app had nothing in the environment: it was created in full */
} idp_deploy_result;

/* Plans and applies app in env of the spec in spec_dir with the app's image pinned to image
 * (decision 9: the pin is kept in the environment's state, so later plans keep this digest), and
 * changing only what the image change forces (decision 10). Takes the environment's lock (and the
 * shared state's, if the plan changes it) only while it runs. Returns 0, or -1 with err set (no
 * secret in it). */
int idp_pipeline_deploy(const char *spec_dir, const char *env, const char *app, const char *image,
                        const char *pipeline, const char *run_id, FILE *log, idp_deploy_result *out, char *err,
                        size_t errsize);
void idp_deploy_result_free(idp_deploy_result *r);

#endif
