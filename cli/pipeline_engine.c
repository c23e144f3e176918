/* pipeline_engine.c - idp_pipeline_drive (pipeline.h): advances one run as far as it can go.
 *
 * The record is the run's whole memory. On its first drive, each stage gets a snapshot of its
 * steps from the spec ("after", and per step what it does: the approvers it needs, the wait, the
 * app and env, the check's url ...), so an edit of the spec while a run is under way changes
 * nothing of that run but what its deploys plan. Then, one stage at a time, in record order (a
 * topological order of `after`: independent stages run one after the other, never at once), the
 * first stage that can go on runs its steps in order, and the record is written after each:
 *   - approval: passes once the record holds `approvers` distinct approvals for the stage; until
 *     then the step, the stage and (when nothing else can go on) the run are "waiting", and the
 *     driver moves on to other stages or returns, holding no lock but its run lock, released then;
 *   - wait: sleeps until `started` + the duration (a resumed wait only sleeps what is left);
 *   - deploy: idp_pipeline_deploy with the run's image; records the plan counts, the changes it
 *     left alone ("pending") and whether the app was new there ("first");
 *   - check "http": GET url until it answers expect_status, at most 1 + retries attempts
 *     `interval` apart, each within `timeout`; records the attempts, the last status and error.
 * A step that fails fails its stage (its "error" says why); the stages after it are skipped and
 * the run fails with "stage X failed: REASON" once nothing else can go on. A step the record
 * shows "running" was cut short (its driver died): it runs again; a deploy planned again finds
 * what was applied and deploys nothing twice. Finished steps never run again.
 *
 * Between steps (and every second of a wait or between check attempts), the record is read again:
 * approvals and a cancel given meanwhile count. A cancelled run stops there, its unfinished
 * stages and steps marked "cancelled". */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../compiler/util.h"
#include "../runtime/http.h"
#include "../runtime/runs.h"
#include "cli.h"
#include "pipeline.h"

typedef struct driver {
  const char *dir;          /* the spec directory */
  const char *id;
  FILE *log;
  json_t *run;              /* the record as this driver knows it (owned) */
  idp_http *http;           /* for checks, started on first use */
  bool broken;              /* the record could not be written: stop */
} driver;

static void say(driver *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(driver *d, const char *fmt, ...) {
  if (!d->log) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(d->log, "%s: ", d->id);
  vfprintf(d->log, fmt, ap);
  fputc('\n', d->log);
  fflush(d->log);
  va_end(ap);
}

static const char *str(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

static bool is(const json_t *o, const char *key, const char *want) {
  const char *s = str(o, key);
  return s && strcmp(s, want) == 0;
}

static void set_str(json_t *o, const char *key, const char *v) { json_object_set_new(o, key, json_string(v)); }

static void set_now(json_t *o, const char *key) {
  char now[32];
  set_str(o, key, idp_run_time(now, sizeof now));
}

/* Writes the record (merging approvals and a cancel given meanwhile). False when it cannot. */
static bool save(driver *d) {
  if (d->broken) return false;
  char err[1024];
  if (idp_run_write(d->dir, d->run, err, sizeof err) < 0) {
    fprintf(stderr, "idp pipeline: error: %s\n", err);
    d->broken = true;
    return false;
  }
  return true;
}

/* Reads the record again for a cancel (cheap: no write unless there is one). */
static bool cancelled(driver *d) {
  if (is(d->run, "status", "cancelled")) return true;
  json_t *disk = NULL;
  char err[1024];
  if (idp_run_read(d->dir, d->id, &disk, err, sizeof err) < 0) return false;
  bool c = is(disk, "status", "cancelled");
  json_decref(disk);
  if (c) save(d); /* takes the cancel in */
  return c;
}

/* Sleeps until deadline (CLOCK_REALTIME seconds), looking for a cancel every second. Returns
 * false when cancelled. */
static bool sleep_until(driver *d, double deadline) {
  for (;;) {
    if (cancelled(d) || d->broken) return false;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double left = deadline - ((double)now.tv_sec + (double)now.tv_nsec / 1e9);
    if (left <= 0) return true;
    if (left > 1) left = 1;
    struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
  }
}

static double now_s(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* An RFC 3339 UTC time as seconds since the epoch, or -1. */
static double parse_time(const char *s) {
  struct tm tm = {0};
  if (!s) return -1;
  const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end) return -1;
  return (double)timegm(&tm);
}

/* --- the snapshot of the spec ------------------------------------------------------------------- */

static json_t *step_json(const idp_pl_step *s) {
  json_t *j = json_object();
  switch (s->kind) {
  case IDP_STEP_APPROVAL:
    set_str(j, "kind", "approval");
    json_object_set_new(j, "approvers", json_integer(s->approvers));
    break;
  case IDP_STEP_WAIT:
    set_str(j, "kind", "wait");
    json_object_set_new(j, "seconds", json_real(s->seconds));
    break;
  case IDP_STEP_DEPLOY:
    set_str(j, "kind", "deploy");
    set_str(j, "app", s->app ? s->app : "");
    set_str(j, "env", s->env ? s->env : "");
    break;
  case IDP_STEP_CHECK:
    set_str(j, "kind", "check");
    set_str(j, "type", "http");
    set_str(j, "url", s->url ? s->url : "");
    json_object_set_new(j, "expect_status", json_integer(s->expect_status));
    json_object_set_new(j, "timeout", json_real(s->timeout_s));
    json_object_set_new(j, "retries", json_integer(s->retries));
    json_object_set_new(j, "interval", json_real(s->interval_s));
    break;
  }
  set_str(j, "status", "pending");
  return j;
}

/* Fills the stages that have no "steps" yet from the pipeline in the spec. Returns 0, 1 when the
 * run cannot go on with this spec (the run is failed, saying why), or -1 (the spec did not load:
 * nothing is changed, the errors were printed). */
static int snapshot(driver *d) {
  bool need = false;
  size_t i;
  json_t *st;
  json_array_foreach(json_object_get(d->run, "stages"), i, st) { need = need || !json_object_get(st, "steps"); }
  if (!need) return 0;
  idp_pipelines *p = NULL;
  if (idp_pipelines_load("pipeline", d->dir, &p) < 0) return -1;
  const char *name = str(d->run, "pipeline");
  const idp_pipeline_def *def = idp_pipelines_find(p, name);
  char why[600] = "";
  if (!def) snprintf(why, sizeof why, "pipeline %s is not in the spec any more", name);
  json_array_foreach(json_object_get(d->run, "stages"), i, st) {
    if (!def || json_object_get(st, "steps")) continue;
    const idp_pl_stage *ps = NULL;
    for (size_t k = 0; k < def->nstages && !ps; k++)
      if (strcmp(def->stages[k].name, str(st, "name")) == 0) ps = &def->stages[k];
    if (!ps) {
      if (!why[0]) snprintf(why, sizeof why, "stage %s is not in pipeline %s any more", str(st, "name"), name);
      continue;
    }
    json_t *after = json_array(), *steps = json_array();
    for (size_t k = 0; k < ps->nafter; k++) json_array_append_new(after, json_string(ps->after[k]));
    for (size_t k = 0; k < ps->nsteps; k++) json_array_append_new(steps, step_json(&ps->steps[k]));
    json_object_set_new(st, "after", after);
    json_object_set_new(st, "steps", steps);
  }
  idp_pipelines_free(p);
  if (why[0]) {
    say(d, "cannot go on: %s", why);
    set_str(d->run, "status", "failed");
    set_str(d->run, "error", why);
    set_now(d->run, "finished");
    save(d);
    return 1;
  }
  return save(d) ? 0 : -1;
}

/* --- steps -------------------------------------------------------------------------------------- */

/* Fails step (and so its stage) with a message. */
static void step_failed(json_t *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step_failed(json_t *step, const char *fmt, ...) {
  char msg[1500];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  set_str(step, "status", "failed");
  set_str(step, "error", msg);
  set_now(step, "finished");
}

static void start_step(json_t *step) {
  set_str(step, "status", "running");
  set_now(step, "started");
  json_object_del(step, "finished");
  json_object_del(step, "error");
}

/* 0: the step is done (succeeded or failed: see its status); 1: the stage waits; -1: stop (a
 * cancel, or the record cannot be written). */
static int run_approval(driver *d, json_t *stage, json_t *step) {
  const char *name = str(stage, "name");
  size_t need = idp_run_approvers_needed(stage), have = idp_run_approvals(d->run, name);
  if (have < need) {
    if (!is(step, "status", "waiting")) {
      set_str(step, "status", "waiting");
      set_now(step, "started");
      set_str(stage, "status", "waiting");
      if (!save(d)) return -1;
    }
    say(d, "stage %s: waiting for %zu approval%s (%zu given): idp pipeline approve %s %s", name, need,
        need == 1 ? "" : "s", have, d->id, name);
    return 1;
  }
  json_t *by = json_array();
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(d->run, "approvals"), i, a) {
    if (!is(a, "stage", name)) continue;
    bool dup = false;
    size_t k;
    json_t *b;
    json_array_foreach(by, k, b) { dup = dup || strcmp(json_string_value(b), str(a, "by")) == 0; }
    if (!dup) json_array_append_new(by, json_string(str(a, "by")));
  }
  if (!json_object_get(step, "started")) set_now(step, "started");
  set_str(step, "status", "succeeded");
  json_object_set_new(step, "approved_by", by);
  set_now(step, "finished");
  say(d, "stage %s: approved", name);
  return save(d) ? 0 : -1;
}

static int run_wait(driver *d, json_t *stage, json_t *step) {
  double secs = json_number_value(json_object_get(step, "seconds"));
  double started = parse_time(str(step, "started"));
  if (!is(step, "status", "running") || started < 0) {
    start_step(step);
    started = now_s();
    if (!save(d)) return -1;
    say(d, "stage %s: waiting %gs", str(stage, "name"), secs);
  } else {
    say(d, "stage %s: waiting the rest of %gs", str(stage, "name"), secs);
  }
  if (!sleep_until(d, started + secs)) return -1;
  set_str(step, "status", "succeeded");
  set_now(step, "finished");
  return save(d) ? 0 : -1;
}

static int run_deploy(driver *d, json_t *stage, json_t *step) {
  const char *app = str(step, "app"), *env = str(step, "env"), *image = str(d->run, "image");
  start_step(step);
  json_object_del(step, "plan");
  json_object_del(step, "pending");
  if (!save(d)) return -1;
  say(d, "stage %s: deploying %s to %s (%s)", str(stage, "name"), app, env, image ? image : "no image");
  if (!image) {
    step_failed(step, "the run has no image to deploy");
    return save(d) ? 0 : -1;
  }
  idp_deploy_result res = {0};
  char err[1500] = "";
  int rc = idp_pipeline_deploy(d->dir, env, app, image, str(d->run, "pipeline"), d->id, d->log, &res, err, sizeof err);
  if (rc == 0) {
    json_t *plan = json_object();
    json_object_set_new(plan, "add", json_integer(res.add));
    json_object_set_new(plan, "change", json_integer(res.change));
    json_object_set_new(plan, "destroy", json_integer(res.destroy));
    json_object_set_new(step, "plan", plan);
    if (res.pending) json_object_set(step, "pending", res.pending);
    else json_object_set_new(step, "pending", json_array());
    json_object_set_new(step, "first", json_boolean(res.first));
    set_str(step, "status", "succeeded");
    set_now(step, "finished");
    say(d, "stage %s: deployed %s to %s: %ld to add, %ld to change, %ld to destroy%s", str(stage, "name"), app, env,
        res.add, res.change, res.destroy,
        json_array_size(res.pending) ? "; other changes of the app need a reviewed apply" : "");
  } else {
    step_failed(step, "deploy %s to %s: %s", app, env, err[0] ? err : "failed");
  }
  idp_deploy_result_free(&res);
  return save(d) ? 0 : -1;
}

/* The URL without its query and fragment, for messages. */
static const char *shown_url(const char *url, char *buf, size_t size) {
  snprintf(buf, size, "%.*s", (int)strcspn(url, "?#"), url);
  return buf;
}

static int run_check(driver *d, json_t *stage, json_t *step) {
  const char *url = str(step, "url");
  long want = (long)json_integer_value(json_object_get(step, "expect_status"));
  double timeout = json_number_value(json_object_get(step, "timeout"));
  double interval = json_number_value(json_object_get(step, "interval"));
  json_int_t retries = json_integer_value(json_object_get(step, "retries"));
  char shown[600], err[1024];
  shown_url(url ? url : "", shown, sizeof shown);
  start_step(step);
  json_object_set_new(step, "attempts", json_integer(0));
  json_object_del(step, "last_status");
  json_object_del(step, "last_error");
  if (!save(d)) return -1;
  if (!d->http) {
    idp_http_opts o = {.max_attempts = 1, .connect_timeout_s = timeout > 0 && timeout < 10 ? timeout : 10};
    d->http = idp_http_new(&o, err, sizeof err);
    if (!d->http) {
      step_failed(step, "check %s: %s", shown, err);
      return save(d) ? 0 : -1;
    }
  }
  for (json_int_t attempt = 1;; attempt++) {
    idp_http_req rq = {.method = "GET", .url = url, .timeout_s = timeout > 0 ? timeout : 10, .no_retry = true};
    idp_http_resp rs = {0};
    int rc = idp_http_do(d->http, &rq, &rs, err, sizeof err);
    json_object_set_new(step, "attempts", json_integer(attempt));
    bool ok = rc == 0 && rs.status == want;
    if (rc == 0) {
      json_object_set_new(step, "last_status", json_integer(rs.status));
      json_object_del(step, "last_error");
    } else {
      json_object_del(step, "last_status");
      set_str(step, "last_error", err);
    }
    long got = rs.status;
    idp_http_resp_free(&rs);
    if (ok) {
      set_str(step, "status", "succeeded");
      set_now(step, "finished");
      say(d, "stage %s: check %s answered %ld (attempt %lld)", str(stage, "name"), shown, got, (long long)attempt);
      return save(d) ? 0 : -1;
    }
    char what[1200];
    if (rc == 0) snprintf(what, sizeof what, "answered %ld, want %ld", got, want);
    else snprintf(what, sizeof what, "%s", err);
    if (attempt > retries) {
      step_failed(step, "check %s: %s (%lld attempt%s)", shown, what, (long long)attempt, attempt == 1 ? "" : "s");
      say(d, "stage %s: check %s: %s; giving up after %lld attempt%s", str(stage, "name"), shown, what,
          (long long)attempt, attempt == 1 ? "" : "s");
      return save(d) ? 0 : -1;
    }
    say(d, "stage %s: check %s: %s; again in %gs", str(stage, "name"), shown, what, interval);
    if (!save(d) || !sleep_until(d, now_s() + interval)) return -1;
  }
}

/* --- stages and the run ------------------------------------------------------------------------- */

/* Marks what a cancel left unfinished. */
static void mark_cancelled(json_t *run) {
  size_t i;
  json_t *st;
  json_array_foreach(json_object_get(run, "stages"), i, st) {
    if (is(st, "status", "running") || is(st, "status", "waiting") || is(st, "status", "pending")) {
      set_str(st, "status", "cancelled");
      set_now(st, "finished");
    }
    size_t k;
    json_t *step;
    json_array_foreach(json_object_get(st, "steps"), k, step) {
      if (is(step, "status", "running") || is(step, "status", "waiting")) {
        set_str(step, "status", "cancelled");
        set_now(step, "finished");
      }
    }
  }
  if (!json_object_get(run, "finished")) set_now(run, "finished");
}

/* Runs stage's unfinished steps. 0: the stage ended or waits (see its status); -1: stop. */
static int run_stage(driver *d, json_t *stage) {
  const char *name = str(stage, "name");
  if (is(stage, "status", "pending")) {
    set_str(stage, "status", "running");
    set_now(stage, "started");
    say(d, "stage %s: started", name);
    if (!save(d)) return -1;
  } else if (is(stage, "status", "waiting")) {
    set_str(stage, "status", "running");
  } else {
    say(d, "stage %s: resumed", name);
  }
  size_t i;
  json_t *step;
  json_array_foreach(json_object_get(stage, "steps"), i, step) {
    if (is(step, "status", "succeeded")) continue;
    if (cancelled(d)) return -1;
    const char *kind = str(step, "kind");
    int rc = !kind                              ? (step_failed(step, "a step without a kind"), 0)
             : strcmp(kind, "approval") == 0    ? run_approval(d, stage, step)
             : strcmp(kind, "wait") == 0        ? run_wait(d, stage, step)
             : strcmp(kind, "deploy") == 0      ? run_deploy(d, stage, step)
             : strcmp(kind, "check") == 0       ? run_check(d, stage, step)
                                                : (step_failed(step, "unknown step kind '%s'", kind), 0);
    if (rc != 0) return rc < 0 ? -1 : 0; /* 1: waiting */
    if (is(step, "status", "failed")) {
      set_str(stage, "status", "failed");
      set_str(stage, "error", str(step, "error"));
      set_now(stage, "finished");
      say(d, "stage %s: failed: %s", name, str(step, "error"));
      return save(d) ? 0 : -1;
    }
  }
  set_str(stage, "status", "succeeded");
  set_now(stage, "finished");
  say(d, "stage %s: succeeded", name);
  return save(d) ? 0 : -1;
}

/* One pass under the run lock. Returns IDP_EXIT_OK or IDP_EXIT_ERROR. */
static int drive_locked(driver *d) {
  char err[1024], now[32];
  if (idp_run_read(d->dir, d->id, &d->run, err, sizeof err) < 0) {
    fprintf(stderr, "idp pipeline: error: %s\n", err);
    return IDP_EXIT_ERROR;
  }
  if (!idp_run_finished(str(d->run, "status")) && !is(d->run, "status", "cancelled")) {
    int s = snapshot(d);
    if (s < 0) return IDP_EXIT_ERROR;
  }
  if (is(d->run, "status", "cancelled") && !json_object_get(d->run, "finished")) {
    mark_cancelled(d->run);
    save(d);
  }
  if (!idp_run_finished(str(d->run, "status"))) {
    if (idp_run_next_stage(d->run) && !is(d->run, "status", "running")) {
      set_str(d->run, "status", "running");
      if (!save(d)) return IDP_EXIT_ERROR;
    }
    for (;;) {
      char t[32];
      idp_run_skip_dependents(d->run, idp_run_time(t, sizeof t));
      if (cancelled(d)) break;
      json_t *st = idp_run_next_stage(d->run);
      if (!st) break;
      if (run_stage(d, st) < 0) break;
    }
    if (d->broken) return IDP_EXIT_ERROR;
    if (is(d->run, "status", "cancelled")) {
      mark_cancelled(d->run);
      say(d, "cancelled");
    } else {
      idp_run_conclude(d->run, idp_run_time(now, sizeof now));
    }
    if (!save(d)) return IDP_EXIT_ERROR;
  }
  const char *status = str(d->run, "status");
  if (strcmp(status, "succeeded") == 0) say(d, "succeeded (%s)", str(d->run, "image") ? str(d->run, "image") : "no image");
  else if (strcmp(status, "failed") == 0) say(d, "failed: %s", str(d->run, "error") ? str(d->run, "error") : "");
  else if (strcmp(status, "waiting") == 0) say(d, "waiting for approval");
  return strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0 ? IDP_EXIT_ERROR : IDP_EXIT_OK;
}

int idp_pipeline_drive(const char *spec_dir, const char *id, FILE *log) {
  driver d = {.dir = spec_dir, .id = id, .log = log};
  int rc = IDP_EXIT_OK;
  for (int round = 0; round < 100; round++) {
    int fd;
    char *holder = NULL, err[1024];
    int lk = idp_run_lock(spec_dir, id, &fd, &holder, err, sizeof err);
    if (lk < 0) {
      fprintf(stderr, "idp pipeline: error: %s\n", err);
      rc = IDP_EXIT_ERROR;
      break;
    }
    if (lk == 1) {
      say(&d, "driven by %s; it goes on there", holder);
      free(holder);
      break;
    }
    rc = drive_locked(&d);
    idp_run_unlock(fd);
    /* An approval given while this driver decided to wait found the lock taken: look again. */
    json_decref(d.run);
    d.run = NULL;
    if (d.broken || rc != IDP_EXIT_OK || idp_run_read(spec_dir, id, &d.run, err, sizeof err) < 0 || !idp_run_runnable(d.run) ||
        !is(d.run, "status", "waiting"))
      break;
    json_decref(d.run);
    d.run = NULL;
  }
  json_decref(d.run);
  idp_http_free(d.http);
  return rc;
}

int idp_pipeline_start(const char *spec_dir, const char *id, char *err, size_t errsize) {
  idp_buf logp = {0};
  idp_buf_printf(&logp, "%s/.idp/runs/%s.log", spec_dir, id);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errsize, "cannot start a driver: fork: %s", strerror(errno));
    idp_buf_free(&logp);
    return -1;
  }
  if (pid == 0) { /* the child starts the driver in a session of its own, and leaves */
    setsid();
    pid_t g = fork();
    if (g != 0) _exit(g < 0 ? 1 : 0);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open(logp.data, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
    char *argv[] = {"idp", "pipeline", "resume", (char *)id, (char *)spec_dir, NULL};
    execv("/proc/self/exe", argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  idp_buf_free(&logp);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    snprintf(err, errsize, "cannot start a driver in the background");
    return -1;
  }
  return 0;
}
