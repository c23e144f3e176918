/* runs.h - pipeline run records, kept next to the states (the same backend: SPEC_DIR/.idp/runs/),
 * so that any later idp process (`idp pipeline status`, `idp serve` after a restart) sees them.
 *
 * A run record is a JSON object (docs/pipelines.md has the whole format):
 *   {"kind": "idp-pipeline-run", "version": 1, "id": "shop-release-3", "pipeline": "shop-release",
 *    "status": "pending|running|waiting|succeeded|failed|cancelled",
 *    "image": "HOST[:PORT]/REPO@sha256:...", "trigger": {"kind": "registry|ci|cli|watch", ...},
 *    "created", "updated", "finished": RFC 3339 UTC,
 *    "stages": [{"name", "status": "pending|waiting|running|succeeded|failed|skipped|cancelled",
 *                "started", "finished", "error",
 *                "steps": [{"kind": "approval|wait|deploy|check", "status", "started", "finished",
 *                           "error", ...kind-specific: "env", "app", "plan": {"add", "change",
 *                           "destroy"}, "pending": [...], "url", "attempts", "approved_by"...}]}],
 *    "approvals": [{"stage", "by", "at"}], "error": "why the run failed"}
 * Each record is one file RUNID.json, written atomically (temp file, fsync, rename) with mode
 * 0600; a record that is malformed or of a newer version is refused and never overwritten.
 *
 * Errors: 0, or -1 with a message in err (naming the run and the file). */
#ifndef IDP_RUNS_H
#define IDP_RUNS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define IDP_RUN_KIND "idp-pipeline-run"

/* Creates the record of a new run of pipeline `pipeline` for image in dir's backend, status
 * "pending", with one pending stage per name of stages[0..nstages) (the pipeline's stages in
 * order). trigger is taken (a reference is stolen). The id is PIPELINE-N, N one more than the
 * highest before (made with O_EXCL, so two processes never get the same).
 *
 * dedupe_key (may be NULL): a key such as "registry-event:ID" or "ci:PIPELINE:DIGEST". When a run
 * was already created with that key, nothing is created, *id gets that run's id and the return
 * is 1. The key is recorded durably before the run is visible, so a replayed delivery never
 * starts a second run, even across a crash. Returns 0 (created), 1 (existed) or -1. *id is
 * malloc'd. */
int idp_run_create(const char *dir, const char *pipeline, const char *image, json_t *trigger,
                   const char *const *stages, size_t nstages, const char *dedupe_key, char **id, char *err,
                   size_t errsize);

/* Reads run id: -1 naming the file (and line:column) when it is missing, malformed or newer. */
int idp_run_read(const char *dir, const char *id, json_t **out, char *err, size_t errsize);

/* Writes run (its "id" names the file), setting "updated" to now. Refuses (-1) when the file on
 * disk is malformed or newer. */
int idp_run_write(const char *dir, json_t *run, char *err, size_t errsize);

/* The ids of every run, oldest first (by creation), malloc'd array of malloc'd strings; free
 * with idp_run_free_ids. A directory without runs gives n = 0. */
int idp_run_list(const char *dir, char ***ids, size_t *n, char *err, size_t errsize);
void idp_run_free_ids(char **ids, size_t n);

/* The run's driver lock: one process advances a run at a time (flock on RUNID.lock, held until
 * idp_run_unlock or exit, so a killed process never leaves it taken). Returns 0 and *fd, 1 when
 * another process holds it (*holder, may be NULL, gets "pid N on HOST since TIME" as recorded, a
 * malloc'd string), or -1. */
int idp_run_lock(const char *dir, const char *id, int *fd, char **holder, char *err, size_t errsize);
void idp_run_unlock(int fd);

/* Who drives run id now, without touching its lock (taking it, even for a moment, could turn a
 * driver that starts meanwhile away): 1 with *holder ("pid N on HOST since TIME", malloc'd) when
 * the lock file names a process that is alive (on another host: assumed alive), 0 when it names
 * none or a dead one (a driver killed mid-run: `idp pipeline resume` goes on). */
int idp_run_holder(const char *dir, const char *id, char **holder);

/* Whether a driver has work to do on run: it is pending or running, or it is waiting and a
 * stage of it can go on (idp_run_next_stage: the approvals a waiting stage needs were given). A
 * cancelled run has none: `idp pipeline cancel` marks what was left (or the driver at work does,
 * between two steps). */
bool idp_run_runnable(const json_t *run);

/* Whether status (of a run) is final: succeeded, failed, cancelled. */
bool idp_run_finished(const char *status);

/* --- beyond the first contract: what the engine and the commands share ------------------------ */

/* Whether id can name a run: PIPELINE-N, PIPELINE of [A-Za-z0-9_.-] not starting with '.' or '-'
 * (so no path), at most 200 bytes. */
bool idp_run_id_ok(const char *id);

/* Reads run id, lets edit change it, and writes it back, all under the runs' update lock (a
 * flock on .idp/runs/.update.lock held only meanwhile), so that two processes editing one record
 * (an approval, a cancel, a driver's step) never lose each other's change. edit returns 0 to
 * write, 1 to leave the file as it is, or -1 with a message in err (returned as is). */
typedef int (*idp_run_edit_fn)(json_t *run, void *payload, char *err, size_t errsize);
int idp_run_update(const char *dir, const char *id, idp_run_edit_fn edit, void *payload, char *err,
                   size_t errsize);

/* idp_run_write merges what others may have written meanwhile into run before writing it (under
 * the update lock): approvals given (the union, by stage and approver), and a cancel (sticky: a
 * run cancelled on disk stays cancelled, with its "cancelled" member). run is changed in place to
 * what was written, so a driver sees those at once. */

/* The time now as RFC 3339 UTC, "2024-05-01T12:00:00Z", into buf (at least 32 bytes). */
const char *idp_run_time(char *buf, size_t size);

/* The stage of run named name, or NULL. */
json_t *idp_run_stage(const json_t *run, const char *name);

/* How many distinct people approved stage (the "approvals" entries naming it). */
size_t idp_run_approvals(const json_t *run, const char *stage);

/* How many approvers stage's approval step asks for (0 when it has none). */
size_t idp_run_approvers_needed(const json_t *stage);

/* The next stage a driver can work on, in record order (a topological order of `after`): one
 * pending or running, or waiting with the approvals it needs, whose `after` stages all
 * succeeded. NULL when there is none. */
json_t *idp_run_next_stage(const json_t *run);

/* Marks "skipped" (with "error": "stage X failed" or "... was skipped"/"... was cancelled") every
 * pending stage of run that comes after a stage that failed, was skipped or cancelled. Returns
 * how many it marked. */
size_t idp_run_skip_dependents(json_t *run, const char *now);

/* Once no stage can go on (idp_run_next_stage is NULL): sets run's status to "waiting" when a
 * stage waits for approvals, else "failed" (with "error": "stage X failed: REASON" of the first
 * failed stage), else "succeeded" (every stage did), and "finished" when final. A cancelled run
 * is left alone. Returns the status. */
const char *idp_run_conclude(json_t *run, const char *now);

#endif
