/* cmd_pipeline.c - `idp pipeline run|status|approve|cancel|resume`: start runs of a spec's
 * pipelines, show their records, approve and cancel them, and drive them on (pipeline_engine.c).
 *
 * Exit status (docs/pipelines.md#exit-status): 0 the run succeeded, or waits for an approval, or
 * another process drives it; 1 the run failed or was cancelled, or the command could not do what
 * it was asked (an unknown run, a refused approval, a spec with errors, a registry that does not
 * have the image); 2 bad usage. `cancel` exits 0 once the run is cancelled. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../compiler/util.h"
#include "../runtime/registry.h"
#include "../runtime/runs.h"
#include "cli.h"
#include "pipeline.h"
#include "term.h"

typedef struct opts {
  const char *cmd;          /* "pipeline run", for messages */
  const char *dir;          /* -dir, or a trailing DIR */
  const char *image, *tag, *by;
  bool no_wait, json, all;
  char **args;              /* positional arguments */
  size_t nargs;
} opts;

static bool is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static const char *str(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

static bool is(const json_t *o, const char *key, const char *want) {
  const char *s = str(o, key);
  return s && strcmp(s, want) == 0;
}

/* Takes the trailing DIR of the positional arguments when there are more than want, or when the
 * last one is a directory and want allows it to be left out. */
static int take_dir(opts *o, size_t min, size_t max) {
  if (o->nargs > max && is_dir(o->args[o->nargs - 1]) && !o->dir) o->dir = o->args[--o->nargs];
  if (o->nargs > max || o->nargs < min) return -1;
  if (!o->dir) o->dir = ".";
  if (!is_dir(o->dir)) {
    fprintf(stderr, "idp %s: error: %s is not a directory\n", o->cmd, o->dir);
    return -2;
  }
  return 0;
}

static int usage(const opts *o, const char *what) {
  fprintf(stderr, "idp %s: error: %s\nhint: see 'idp help pipeline'\n", o->cmd, what);
  return IDP_EXIT_USAGE;
}

/* The exit status a run's record stands for. */
static int exit_of(const char *dir, const char *id) {
  json_t *run = NULL;
  char err[1024];
  if (idp_run_read(dir, id, &run, err, sizeof err) < 0) {
    fprintf(stderr, "idp pipeline: error: %s\n", err);
    return IDP_EXIT_ERROR;
  }
  int rc = is(run, "status", "failed") || is(run, "status", "cancelled") ? IDP_EXIT_ERROR : IDP_EXIT_OK;
  if (is(run, "status", "waiting")) {
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(run, "stages"), i, st) {
      if (!is(st, "status", "waiting")) continue;
      printf("run %s waits for approval of stage %s: idp pipeline approve %s %s\n", str(run, "id"), str(st, "name"),
             str(run, "id"), str(st, "name"));
    }
  }
  json_decref(run);
  return rc;
}

/* Drives id in the foreground (progress on stdout), or starts a background driver (-no-wait). */
static int drive(const opts *o, const char *id) {
  if (o->no_wait) {
    char err[512];
    if (idp_pipeline_start(o->dir, id, err, sizeof err) < 0) {
      fprintf(stderr, "idp %s: error: %s\nhint: drive it with 'idp pipeline resume %s'\n", o->cmd, err, id);
      return IDP_EXIT_ERROR;
    }
    printf("run %s goes on in the background (log: %s/.idp/runs/%s.log); see 'idp pipeline status %s'\n", id, o->dir,
           id, id);
    return IDP_EXIT_OK;
  }
  int rc = idp_pipeline_drive(o->dir, id, stdout);
  int st = exit_of(o->dir, id);
  return rc != IDP_EXIT_OK ? rc : st;
}

/* The approver's name: -by, else $USER. */
static const char *who(const opts *o) {
  const char *by = o->by;
  if (!by) by = getenv("USER");
  if (!by || !*by) {
    fprintf(stderr, "idp %s: error: who is this? $USER is not set\nhint: give -by NAME\n", o->cmd);
    return NULL;
  }
  size_t n = strlen(by);
  bool ok = n <= 100;
  for (const char *p = by; *p && ok; p++) ok = !iscntrl((unsigned char)*p);
  if (!ok) {
    fprintf(stderr, "idp %s: error: -by takes a name of at most 100 printable characters\n", o->cmd);
    return NULL;
  }
  return by;
}

/* --- run ---------------------------------------------------------------------------------------- */

static bool hexdigits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return false;
  return s[n] == '\0';
}

/* The registry host part of an image reference ("127.0.0.1:5000/acme/shop"): the first component
 * when it holds a '.' or ':' or is localhost (as docker reads references), else NULL. */
static char *image_host(const char *ref) {
  const char *slash = strchr(ref, '/');
  if (!slash) return NULL;
  size_t n = (size_t)(slash - ref);
  if (!memchr(ref, '.', n) && !memchr(ref, ':', n) && !(n == 9 && strncmp(ref, "localhost", 9) == 0)) return NULL;
  char *h = idp_xmalloc(n + 1);
  memcpy(h, ref, n);
  h[n] = '\0';
  return h;
}

/* HOST[:PORT] of a registry url. */
static char *url_host(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  size_t n = strcspn(p, "/");
  char *h = idp_xmalloc(n + 1);
  memcpy(h, p, n);
  h[n] = '\0';
  return h;
}

/* Pins the run's image: -image (checked in the registry), -tag (its digest now), or the newest
 * tag matching the trigger's pattern. *image malloc'd; *trig the trigger used. */
static int pin_image(const opts *o, const idp_pipelines *p, const idp_pipeline_def *def, char **image,
                     const idp_pl_trigger **trig) {
  *image = NULL;
  *trig = NULL;
  const idp_pl_trigger *t = NULL;
  char *repo = NULL, *ref = NULL;
  int rc = IDP_EXIT_ERROR;
  if (o->image) {
    const char *at = strstr(o->image, "@sha256:");
    if (!at || !hexdigits(at + 8, 64)) {
      fprintf(stderr,
              "idp %s: error: -image '%s' is not pinned by a digest\n"
              "hint: write REPOSITORY@sha256:<64 hex digits>, or give -tag TAG to deploy the digest a tag has now\n",
              o->cmd, o->image);
      return IDP_EXIT_USAGE;
    }
    char *name = idp_xmalloc((size_t)(at - o->image) + 1);
    memcpy(name, o->image, (size_t)(at - o->image));
    name[at - o->image] = '\0';
    char *host = image_host(name);
    repo = idp_xstrdup(host ? name + strlen(host) + 1 : name);
    ref = idp_xstrdup(at + 1);
    for (size_t i = 0; i < def->ntriggers && !t; i++) {
      const idp_pl_trigger *x = &def->triggers[i];
      if (!x->registry || !x->repository || strcmp(x->repository, repo) != 0) continue;
      char *h = x->registry_url ? url_host(x->registry_url) : NULL;
      if (!host || (h && strcmp(h, host) == 0)) t = x;
      free(h);
    }
    if (!t)
      fprintf(stderr,
              "idp %s: error: -image %s: pipeline %s has no image_push trigger on that repository%s%s\n"
              "hint: the image must come from the repository a trigger of the pipeline watches (%s)\n",
              o->cmd, o->image, def->name, host ? " of registry " : "", host ? host : "", def->where);
    free(host);
    free(name);
    if (!t) goto done;
  } else {
    for (size_t i = 0; i < def->ntriggers && !t; i++)
      if (def->triggers[i].registry && def->triggers[i].repository) t = &def->triggers[i];
    if (!t) {
      fprintf(stderr,
              "idp %s: error: pipeline %s has no image_push trigger with a registry to take the image from\n"
              "hint: add trigger \"image_push\" { registry = integration.NAME, repository = \"...\" } (%s)\n",
              o->cmd, def->name, def->where);
      goto done;
    }
    repo = idp_xstrdup(t->repository);
  }
  idp_registry *r = idp_registry_new(p->spec_dir);
  char *err = NULL;
  if (o->image || o->tag) {
    if (idp_registry_digest(r, t->registry, repo, o->image ? ref : o->tag, image, &err) == 0) rc = IDP_EXIT_OK;
  } else {
    idp_value *v = NULL;
    const char *e = NULL;
    if (idp_registry_image(&v, &e, t->registry, repo, t->tag, r) == 0 && v && v->kind == IDP_V_STRING) {
      *image = idp_xstrdup(v->u.string.s);
      rc = IDP_EXIT_OK;
    } else {
      err = idp_xstrdup(e ? e : "the integration's attributes are not known before apply");
    }
  }
  if (rc != IDP_EXIT_OK)
    fprintf(stderr, "idp %s: error: %s\n%s", o->cmd, err,
            o->image  ? "hint: -image must name a manifest the registry holds\n"
            : o->tag ? ""
                     : "hint: give -tag TAG or -image REPOSITORY@sha256:...\n");
  free(err);
  idp_registry_free(r);
  *trig = t;
done:
  free(repo);
  free(ref);
  return rc;
}

static int cmd_run(opts *o) {
  if (take_dir(o, 1, 1) < 0) return o->nargs != 1 ? usage(o, "give the pipeline's name: idp pipeline run NAME [DIR]") : IDP_EXIT_USAGE;
  if (o->image && o->tag) return usage(o, "give -image or -tag, not both");
  const char *name = o->args[0];
  idp_pipelines *p = NULL;
  if (idp_pipelines_load(o->cmd, o->dir, &p) < 0) return IDP_EXIT_ERROR;
  int rc = IDP_EXIT_ERROR;
  char *image = NULL, *id = NULL;
  const idp_pipeline_def *def = idp_pipelines_find(p, name);
  if (!def) {
    fprintf(stderr, "idp %s: error: the spec in %s has no pipeline '%s'\n", o->cmd, o->dir, name);
    const char **names = idp_xcalloc(p->n + 1, sizeof *names);
    for (size_t i = 0; i < p->n; i++) names[i] = p->v[i].name;
    const char *best = idp_did_you_mean(name, names, p->n);
    if (best) fprintf(stderr, "hint: did you mean '%s'?\n", best);
    else if (p->n) {
      fputs("hint: its pipelines are:", stderr);
      for (size_t i = 0; i < p->n; i++) fprintf(stderr, " %s", names[i]);
      fputc('\n', stderr);
    }
    free(names);
    goto done;
  }
  const idp_pl_trigger *t;
  if ((rc = pin_image(o, p, def, &image, &t)) != IDP_EXIT_OK) goto done;
  rc = IDP_EXIT_ERROR;
  json_t *trigger = json_object();
  json_object_set_new(trigger, "kind", json_string("cli"));
  const char *by = getenv("USER");
  if (by && *by) json_object_set_new(trigger, "by", json_string(by));
  if (o->tag) json_object_set_new(trigger, "tag", json_string(o->tag));
  else if (!o->image) json_object_set_new(trigger, "pattern", json_string(t->tag));
  json_object_set_new(trigger, "repository", json_string(t->repository));
  if (t->registry_name) json_object_set_new(trigger, "registry", json_string(t->registry_name));
  const char **stages = idp_xcalloc(def->nstages + 1, sizeof *stages);
  for (size_t i = 0; i < def->nstages; i++) stages[i] = def->stages[i].name;
  char err[1024];
  int c = idp_run_create(o->dir, def->name, image, trigger, stages, def->nstages, NULL, &id, err, sizeof err);
  free(stages);
  if (c < 0) {
    fprintf(stderr, "idp %s: error: %s\n", o->cmd, err);
    goto done;
  }
  printf("run %s of pipeline %s: %s\n", id, def->name, image);
  fflush(stdout);
  idp_pipelines_free(p);
  p = NULL;
  rc = drive(o, id);
done:
  idp_pipelines_free(p);
  free(image);
  free(id);
  return rc;
}

/* --- status ------------------------------------------------------------------------------------- */

/* "dev:succeeded staging:running prod:pending" */
static void stage_summary(idp_buf *b, const json_t *run) {
  size_t i;
  json_t *st;
  json_array_foreach(json_object_get(run, "stages"), i, st) {
    idp_buf_printf(b, "%s%s:%s", i ? " " : "", str(st, "name"), str(st, "status"));
  }
}

/* The status shown: a run "running" or "pending" that no live process drives was interrupted. */
static const char *shown_status(const char *dir, const json_t *run, char *buf, size_t size) {
  const char *s = str(run, "status");
  if (strcmp(s, "running") == 0 || strcmp(s, "pending") == 0) {
    char *holder = NULL;
    if (idp_run_holder(dir, str(run, "id"), &holder) == 0) {
      snprintf(buf, size, "%s (no driver: idp pipeline resume %s)", s, str(run, "id"));
      return buf;
    }
    free(holder);
  }
  return s;
}

static int status_all(const opts *o) {
  char **ids = NULL, err[1024];
  size_t n = 0;
  if (idp_run_list(o->dir, &ids, &n, err, sizeof err) < 0) {
    fprintf(stderr, "idp %s: error: %s\n", o->cmd, err);
    return IDP_EXIT_ERROR;
  }
  size_t from = !o->all && n > 20 ? n - 20 : 0;
  json_t *all = json_array();
  int rc = IDP_EXIT_OK;
  for (size_t i = from; i < n; i++) {
    json_t *run = NULL;
    if (idp_run_read(o->dir, ids[i], &run, err, sizeof err) < 0) {
      fprintf(stderr, "idp %s: error: %s\n", o->cmd, err);
      rc = IDP_EXIT_ERROR;
      continue;
    }
    json_array_append_new(all, run);
  }
  if (o->json) {
    json_dumpf(all, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
  } else if (json_array_size(all) == 0) {
    printf("No runs in %s/.idp/runs.\n", o->dir);
  } else {
    int wid = 3, wp = 8, ws = 6;
    size_t i;
    json_t *run;
    char sbuf[300];
    json_array_foreach(all, i, run) {
      int a = (int)strlen(str(run, "id")), b = (int)strlen(str(run, "pipeline")),
          c = (int)strlen(shown_status(o->dir, run, sbuf, sizeof sbuf));
      wid = a > wid ? a : wid;
      wp = b > wp ? b : wp;
      ws = c > ws ? c : ws;
    }
    printf("%-*s  %-*s  %-*s  %-20s  %s\n", wid, "RUN", wp, "PIPELINE", ws, "STATUS", "CREATED", "STAGES");
    json_array_foreach(all, i, run) {
      idp_buf b = {0};
      stage_summary(&b, run);
      printf("%-*s  %-*s  %-*s  %-20s  %s\n", wid, str(run, "id"), wp, str(run, "pipeline"), ws,
             shown_status(o->dir, run, sbuf, sizeof sbuf), str(run, "created") ? str(run, "created") : "?",
             idp_buf_cstr(&b));
      idp_buf_free(&b);
    }
    if (from) printf("(%zu older runs: -all shows them)\n", from);
  }
  json_decref(all);
  idp_run_free_ids(ids, n);
  return rc;
}

static void when(const json_t *o) {
  const char *s = str(o, "started"), *f = str(o, "finished");
  if (s && f) printf(" (%s .. %s)", s, f);
  else if (s) printf(" (since %s)", s);
  else if (f) printf(" (%s)", f);
}

static void print_step(const json_t *run, const json_t *stage, const json_t *step) {
  const char *kind = str(step, "kind") ? str(step, "kind") : "?", *status = str(step, "status");
  if (strcmp(kind, "deploy") == 0) printf("    deploy %s to %s: %s", str(step, "app"), str(step, "env"), status);
  else if (strcmp(kind, "check") == 0) printf("    check %s: %s", str(step, "url"), status);
  else if (strcmp(kind, "wait") == 0) printf("    wait %gs: %s", json_number_value(json_object_get(step, "seconds")), status);
  else if (strcmp(kind, "approval") == 0)
    printf("    approval (%zu of %lld): %s", idp_run_approvals(run, str(stage, "name")),
           (long long)json_integer_value(json_object_get(step, "approvers")), status);
  else printf("    %s: %s", kind, status);
  when(step);
  putchar('\n');
  const json_t *plan = json_object_get(step, "plan");
  if (plan)
    printf("      plan: %lld to add, %lld to change, %lld to destroy%s\n",
           (long long)json_integer_value(json_object_get(plan, "add")),
           (long long)json_integer_value(json_object_get(plan, "change")),
           (long long)json_integer_value(json_object_get(plan, "destroy")),
           json_is_true(json_object_get(step, "first")) ? " (the app's first deploy there)" : "");
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(step, "pending"), i, p) {
    if (i == 0) printf("      left for a reviewed apply:\n");
    printf("        %s %s", str(p, "action") ? str(p, "action") : "change", str(p, "address") ? str(p, "address") : "?");
    size_t k;
    json_t *a;
    json_array_foreach(json_object_get(p, "attributes"), k, a) {
      if (json_is_string(a)) printf("%s%s", k ? ", " : " (", json_string_value(a));
    }
    printf("%s\n", json_array_size(json_object_get(p, "attributes")) ? ")" : "");
  }
  if (json_object_get(step, "attempts"))
    printf("      attempts: %lld%s", (long long)json_integer_value(json_object_get(step, "attempts")),
           json_object_get(step, "last_status") ? "" : "\n");
  if (json_object_get(step, "last_status"))
    printf(", last answer %lld (want %lld)\n", (long long)json_integer_value(json_object_get(step, "last_status")),
           (long long)json_integer_value(json_object_get(step, "expect_status")));
  const json_t *by = json_object_get(step, "approved_by");
  if (json_array_size(by)) {
    printf("      approved by");
    json_array_foreach(by, i, p) printf("%s %s", i ? "," : "", json_string_value(p));
    putchar('\n');
  }
  if (str(step, "error")) printf("      error: %s\n", str(step, "error"));
}

static int status_one(const opts *o, const char *id) {
  json_t *run = NULL;
  char err[1024], sbuf[300];
  if (idp_run_read(o->dir, id, &run, err, sizeof err) < 0) {
    fprintf(stderr, "idp %s: error: %s\nhint: 'idp pipeline status' lists the runs\n", o->cmd, err);
    return IDP_EXIT_ERROR;
  }
  if (o->json) {
    json_dumpf(run, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(run);
    return IDP_EXIT_OK;
  }
  printf("run %s of pipeline %s: %s\n", id, str(run, "pipeline"), shown_status(o->dir, run, sbuf, sizeof sbuf));
  printf("  image     %s\n", str(run, "image") ? str(run, "image") : "(none)");
  const json_t *t = json_object_get(run, "trigger");
  if (t) {
    char *tt = json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("  trigger   %s\n", tt ? tt : "?");
    free(tt);
  }
  printf("  created   %s\n", str(run, "created") ? str(run, "created") : "?");
  if (str(run, "updated")) printf("  updated   %s\n", str(run, "updated"));
  if (str(run, "finished")) printf("  finished  %s\n", str(run, "finished"));
  const json_t *c = json_object_get(run, "cancelled");
  if (c) printf("  cancelled by %s at %s\n", str(c, "by") ? str(c, "by") : "?", str(c, "at") ? str(c, "at") : "?");
  if (str(run, "error")) printf("  error     %s\n", str(run, "error"));
  size_t i;
  json_t *st;
  json_array_foreach(json_object_get(run, "stages"), i, st) {
    printf("  stage %s: %s", str(st, "name"), str(st, "status"));
    when(st);
    putchar('\n');
    if (json_array_size(json_object_get(st, "after"))) {
      printf("    after");
      size_t k;
      json_t *a;
      json_array_foreach(json_object_get(st, "after"), k, a) printf("%s %s", k ? "," : "", json_string_value(a));
      putchar('\n');
    }
    size_t k;
    json_t *step;
    bool shown = false; /* a failed stage's error is its failed step's: printed with the step */
    json_array_foreach(json_object_get(st, "steps"), k, step) {
      shown = shown || (str(st, "error") && str(step, "error") && strcmp(str(st, "error"), str(step, "error")) == 0);
    }
    if (str(st, "error") && !shown) printf("    error: %s\n", str(st, "error"));
    json_array_foreach(json_object_get(st, "steps"), k, step) print_step(run, st, step);
    if (is(st, "status", "waiting"))
      printf("    approve with: idp pipeline approve %s %s%s%s\n", id, str(st, "name"), strcmp(o->dir, ".") ? " " : "",
             strcmp(o->dir, ".") ? o->dir : "");
  }
  json_t *a;
  json_array_foreach(json_object_get(run, "approvals"), i, a) {
    if (i == 0) printf("  approvals\n");
    printf("    stage %s by %s at %s\n", str(a, "stage"), str(a, "by"), str(a, "at"));
  }
  json_decref(run);
  return IDP_EXIT_OK;
}

static int cmd_status(opts *o) {
  /* status [RUN] [DIR]: one argument is DIR when it is a directory, else RUN. */
  if (o->nargs == 1 && !o->dir && is_dir(o->args[0]) && !idp_run_id_ok(o->args[0])) o->dir = o->args[--o->nargs];
  if (take_dir(o, 0, 1) < 0) return o->nargs > 1 ? usage(o, "idp pipeline status [RUN] [DIR]") : IDP_EXIT_USAGE;
  return o->nargs ? status_one(o, o->args[0]) : status_all(o);
}

/* --- approve, cancel, resume ---------------------------------------------------------------------- */

typedef struct approval {
  const char *stage, *by;
  size_t have, need;
} approval;

static int approve_edit(json_t *run, void *payload, char *err, size_t errsize) {
  approval *a = payload;
  const char *id = str(run, "id"), *status = str(run, "status");
  if (idp_run_finished(status)) {
    snprintf(err, errsize, "run %s has finished (%s): there is nothing to approve", id, status);
    return -1;
  }
  json_t *st = idp_run_stage(run, a->stage);
  if (!st) {
    idp_buf b = {0};
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "stages"), i, s) { idp_buf_printf(&b, "%s%s", i ? ", " : "", str(s, "name")); }
    snprintf(err, errsize, "run %s has no stage '%s'\nhint: its stages are: %s", id, a->stage, idp_buf_cstr(&b));
    idp_buf_free(&b);
    return -1;
  }
  if (!json_object_get(st, "steps")) {
    snprintf(err, errsize, "run %s has not started yet, so stage %s cannot be approved\nhint: start it with 'idp pipeline resume %s'",
             id, a->stage, id);
    return -1;
  }
  a->need = idp_run_approvers_needed(st);
  if (!a->need) {
    snprintf(err, errsize, "stage %s of run %s does not wait for approval (it has no approval block)", a->stage, id);
    return -1;
  }
  const char *ss = str(st, "status");
  if (idp_run_finished(ss) || strcmp(ss, "skipped") == 0) {
    snprintf(err, errsize, "stage %s of run %s has finished (%s): there is nothing to approve", a->stage, id, ss);
    return -1;
  }
  size_t i;
  json_t *step;
  json_array_foreach(json_object_get(st, "steps"), i, step) {
    if (is(step, "kind", "approval") && is(step, "status", "succeeded")) {
      snprintf(err, errsize, "stage %s of run %s is approved already", a->stage, id);
      return -1;
    }
  }
  json_t *list = json_object_get(run, "approvals");
  json_array_foreach(list, i, step) {
    if (is(step, "stage", a->stage) && is(step, "by", a->by)) {
      snprintf(err, errsize, "%s approved stage %s of run %s already (at %s): approvals must come from %zu different people",
               a->by, a->stage, id, str(step, "at") ? str(step, "at") : "?", a->need);
      return -1;
    }
  }
  if (!list) {
    list = json_array();
    json_object_set_new(run, "approvals", list);
  }
  char now[32];
  json_t *e = json_object();
  json_object_set_new(e, "stage", json_string(a->stage));
  json_object_set_new(e, "by", json_string(a->by));
  json_object_set_new(e, "at", json_string(idp_run_time(now, sizeof now)));
  json_array_append_new(list, e);
  a->have = idp_run_approvals(run, a->stage);
  return 0;
}

static int cmd_approve(opts *o) {
  if (take_dir(o, 2, 2) < 0) return o->nargs != 2 ? usage(o, "idp pipeline approve RUN STAGE [DIR] [-by NAME]") : IDP_EXIT_USAGE;
  approval a = {.stage = o->args[1], .by = who(o)};
  if (!a.by) return IDP_EXIT_USAGE;
  char err[1500];
  if (idp_run_update(o->dir, o->args[0], approve_edit, &a, err, sizeof err) < 0) {
    fprintf(stderr, "idp %s: error: %s\n", o->cmd, err);
    if (!strstr(err, "hint:") && strncmp(err, "no run ", 7) == 0) fputs("hint: 'idp pipeline status' lists the runs\n", stderr);
    return IDP_EXIT_ERROR;
  }
  printf("stage %s of run %s approved by %s (%zu of %zu)\n", a.stage, o->args[0], a.by, a.have, a.need);
  fflush(stdout);
  if (a.have < a.need) return IDP_EXIT_OK;
  return drive(o, o->args[0]);
}

static int cancel_edit(json_t *run, void *payload, char *err, size_t errsize) {
  const char *status = str(run, "status");
  if (idp_run_finished(status)) {
    snprintf(err, errsize, "run %s has finished (%s): there is nothing to cancel", str(run, "id"), status);
    return -1;
  }
  char now[32];
  json_t *c = json_object();
  json_object_set_new(c, "by", json_string(payload));
  json_object_set_new(c, "at", json_string(idp_run_time(now, sizeof now)));
  json_object_set_new(run, "cancelled", c);
  json_object_set_new(run, "status", json_string("cancelled"));
  json_object_del(run, "finished"); /* the driver marks what is left, then sets it */
  return 0;
}

static int cmd_cancel(opts *o) {
  if (take_dir(o, 1, 1) < 0) return o->nargs != 1 ? usage(o, "idp pipeline cancel RUN [DIR]") : IDP_EXIT_USAGE;
  const char *by = who(o);
  if (!by) return IDP_EXIT_USAGE;
  char err[1500];
  if (idp_run_update(o->dir, o->args[0], cancel_edit, (void *)by, err, sizeof err) < 0) {
    fprintf(stderr, "idp %s: error: %s\n", o->cmd, err);
    return IDP_EXIT_ERROR;
  }
  char *holder = NULL;
  if (idp_run_holder(o->dir, o->args[0], &holder)) {
    printf("run %s cancelled: its driver (%s) stops after the step it is on\n", o->args[0], holder);
    free(holder);
    return IDP_EXIT_OK;
  }
  idp_pipeline_drive(o->dir, o->args[0], NULL); /* marks what was left unfinished */
  printf("run %s cancelled\n", o->args[0]);
  return IDP_EXIT_OK;
}

static int cmd_resume(opts *o) {
  if (take_dir(o, 1, 1) < 0) return o->nargs != 1 ? usage(o, "idp pipeline resume RUN [DIR]") : IDP_EXIT_USAGE;
  json_t *run = NULL;
  char err[1024];
  if (idp_run_read(o->dir, o->args[0], &run, err, sizeof err) < 0) {
    fprintf(stderr, "idp %s: error: %s\nhint: 'idp pipeline status' lists the runs\n", o->cmd, err);
    return IDP_EXIT_ERROR;
  }
  bool done = idp_run_finished(str(run, "status")) && json_object_get(run, "finished");
  if (done) printf("run %s has finished: %s\n", o->args[0], str(run, "status"));
  json_decref(run);
  if (done) return exit_of(o->dir, o->args[0]);
  return drive(o, o->args[0]);
}

int idp_cmd_pipeline(int argc, char **argv) {
  static const char *const subs[] = {"run", "status", "approve", "cancel", "resume"};
  enum { NSUBS = sizeof subs / sizeof *subs };
  if (argc < 2) {
    fputs("idp pipeline: error: missing the subcommand\nhint: idp pipeline run|status|approve|cancel|resume (see 'idp "
          "help pipeline')\n",
          stderr);
    return IDP_EXIT_USAGE;
  }
  int which = -1;
  for (int i = 0; i < NSUBS; i++)
    if (strcmp(argv[1], subs[i]) == 0) which = i;
  if (which < 0) {
    fprintf(stderr, "idp pipeline: error: unknown subcommand '%s'\n", argv[1]);
    const char *best = idp_did_you_mean(argv[1], subs, NSUBS);
    if (best) fprintf(stderr, "hint: did you mean 'idp pipeline %s'?\n", best);
    else fputs("hint: idp pipeline run|status|approve|cancel|resume (see 'idp help pipeline')\n", stderr);
    return IDP_EXIT_USAGE;
  }
  char cmd[32];
  snprintf(cmd, sizeof cmd, "pipeline %s", subs[which]);
  opts o = {.cmd = cmd};
  /* Each subcommand takes only its own flags. */
  idp_flag all[] = {{"dir", IDP_FLAG_STRING, &o.dir},     {"image", IDP_FLAG_STRING, &o.image},
                    {"tag", IDP_FLAG_STRING, &o.tag},     {"no-wait", IDP_FLAG_BOOL, &o.no_wait},
                    {"json", IDP_FLAG_BOOL, &o.json},     {"all", IDP_FLAG_BOOL, &o.all},
                    {"by", IDP_FLAG_STRING, &o.by},       {"no-color", IDP_FLAG_BOOL, &idp_no_color}};
  static const char *const takes[NSUBS] = {"dir image tag no-wait no-color", "dir json all", "dir by no-wait no-color",
                                           "dir by", "dir no-wait no-color"};
  idp_flag flags[9];
  size_t n = 0;
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
    const char *t = takes[which], *f = all[i].name;
    size_t fl = strlen(f);
    for (const char *p = t; (p = strstr(p, f)) != NULL; p += fl)
      if ((p == t || p[-1] == ' ') && (p[fl] == ' ' || p[fl] == '\0')) {
        flags[n++] = all[i];
        break;
      }
  }
  int rc = IDP_EXIT_USAGE;
  if (idp_parse_flags(cmd, argc - 1, argv + 1, flags, n, &o.args, &o.nargs) == 0) {
    switch (which) {
    case 0: rc = cmd_run(&o); break;
    case 1: rc = cmd_status(&o); break;
    case 2: rc = cmd_approve(&o); break;
    case 3: rc = cmd_cancel(&o); break;
    default: rc = cmd_resume(&o); break;
    }
  }
  idp_flags_free(flags, n, o.args);
  return rc;
}
