/* cmd_apply.c - `idp apply [PLANFILE | DIR] ...` and `idp destroy [DIR] ...`: carry out a plan
 * (runtime/exec.h), a saved one exactly as saved, or one made now and approved. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../compiler/util.h"
#include "../runtime/backend.h"
#include "../runtime/exec.h"
#include "../runtime/http.h"
#include "../runtime/planfile.h"
#include "../runtime/planner.h"
#include "cli.h"
#include "term.h"

typedef struct apply_opts {
  const char *cmd;           /* "apply" or "destroy" */
  bool auto_approve, json;
  unsigned parallelism;
  double lock_timeout;
  char *why;                 /* idp_apply_saved: the first failure goes here (whysize bytes) */
  size_t whysize;
} apply_opts;

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
  (void)sig;
  interrupted = 1;
  signal(SIGINT, SIG_DFL); /* a second Ctrl-C stops at once */
}

/* --- progress ------------------------------------------------------------------------------- */

typedef struct failure {
  char *addr, *op, *msg;
} failure;

typedef struct progress {
  const apply_opts *o;
  failure *fails;
  size_t nfails;
} progress;

static void on_event(void *payload, const idp_exec_event *e) {
  progress *p = payload;
  static const char *const ing[] = {"creating", "updating", "deleting"}, *const ed[] = {"created", "updated", "deleted"};
  int k = e->op[0] == 'c' ? 0 : e->op[0] == 'u' ? 1 : 2;
  if (e->kind == IDP_EXEC_FAILED) {
    p->fails = idp_xrealloc(p->fails, (p->nfails + 1) * sizeof *p->fails);
    p->fails[p->nfails++] = (failure){idp_xstrdup(e->address), idp_xstrdup(e->op), idp_xstrdup(e->msg ? e->msg : "")};
  }
  if (p->o->json) {
    static const char *const kinds[] = {"start", "done", "failed", "skipped"};
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "type", "step", "event", kinds[e->kind], "address",
                          e->address, "op", e->op, "finished", (json_int_t)e->finished, "total", (json_int_t)e->total);
    if (e->kind == IDP_EXEC_DONE || e->kind == IDP_EXEC_FAILED) json_object_set_new(j, "elapsed", json_real(e->elapsed));
    if (e->msg) json_object_set_new(j, "message", json_string(e->msg));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    puts(text);
    free(text);
    json_decref(j);
  } else {
    switch (e->kind) {
    case IDP_EXEC_START: printf("%s: %s...\n", e->address, ing[k]); break;
    case IDP_EXEC_DONE: printf("%s: %s in %.1fs [%zu/%zu]\n", e->address, ed[k], e->elapsed, e->finished, e->total); break;
    case IDP_EXEC_FAILED:
      printf("%s: %s failed after %.1fs: %s [%zu/%zu]\n", e->address, e->op, e->elapsed, e->msg, e->finished, e->total);
      break;
    case IDP_EXEC_SKIPPED: printf("%s: %s skipped: %s [%zu/%zu]\n", e->address, e->op, e->msg, e->finished, e->total); break;
    }
  }
  fflush(stdout);
}

/* --- values known only after apply ---------------------------------------------------------- */

/* The spec of the saved plan, read again when a step needs what the plan could not know: the
 * outputs of resources applied meanwhile (read from the states), derived integration outputs. It
 * must be the spec the plan was made from (same source hash). Each call instantiates it afresh
 * and copies the inputs asked for into the executor's arena. */
typedef struct refill {
  const json_t *saved;
  const apply_opts *o;
  const idp_state_key *key;   /* opens a secret var's value */
  char **vars;                /* the plan's -var values, "NAME=VALUE" */
  size_t nvars;
  bool tried, ok;
  idp_spec_graph R;
  idp_env_list envs;
  idp_state *const *states; /* during a call */
  size_t nstates;
  idp_pin_req pin;            /* a pipeline deploy's pin (args "pin"; strings borrowed), if pin.env */
} refill;

/* idp_inst_opts.output: an applied resource's output, from its record in state. */
static idp_value *state_output(void *payload, idp_arena *a, const char *addr, const char *attr) {
  refill *f = payload;
  const char *slash = strncmp(addr, "env.", 4) == 0 ? strchr(addr, '/') : NULL;
  for (size_t i = 0; i < f->nstates; i++) {
    const char *env = idp_state_env(f->states[i]);
    if (slash ? !env || strlen(env) != (size_t)(slash - addr - 4) || strncmp(env, addr + 4, strlen(env)) != 0 : env != NULL)
      continue;
    idp_state_res *r = idp_state_find(f->states[i], addr);
    if (!r || idp_state_res_status(r) != IDP_STATE_CREATED) return NULL;
    json_t *j = NULL;
    bool secret = false;
    if (idp_state_res_get(f->states[i], r, IDP_STATE_OUTPUTS, attr, &j, &secret, NULL) < 0) return NULL;
    idp_value *v = idp_value_from_json(a, j);
    json_decref(j);
    return v && secret ? idp_value_taint(a, v, NULL, true) : v;
  }
  return NULL;
}

/* Reads the spec of the plan's directory and checks it is the one planned. */
static bool refill_load(refill *f, char *err, size_t errsize) {
  f->tried = true;
  const json_t *args = json_object_get(f->saved, "args");
  const json_t *envs = json_object_get(args, "env");
  size_t n = json_array_size(envs);
  f->envs.v = idp_xcalloc(n + 1, sizeof *f->envs.v);
  for (size_t i = 0; i < n; i++) {
    const json_t *e = json_array_get(envs, i);
    f->envs.v[i].name = json_string_value(json_object_get(e, "name"));
    f->envs.v[i].type = json_string_value(json_object_get(e, "type"));
  }
  f->envs.n = n;
  const json_t *vars = json_object_get(args, "var");
  f->vars = idp_xcalloc(json_object_size(vars) + 1, sizeof *f->vars);
  const char *name;
  json_t *v;
  json_object_foreach((json_t *)vars, name, v) {
    json_t *plain = NULL;
    if (idp_state_is_sealed(v)) {
      char addr[256];
      idp_state_error e = {0};
      snprintf(addr, sizeof addr, "var.%s", name);
      if (idp_state_unseal(&plain, f->key, addr, "plan/var", v, &e) < 0) {
        snprintf(err, errsize, "the plan's var %s does not open: %s", name, e.msg);
        return false;
      }
      v = plain;
    }
    idp_buf b = {0};
    idp_buf_printf(&b, "%s=%s", name, json_string_value(v) ? json_string_value(v) : "");
    f->vars[f->nvars++] = b.data;
    json_decref(plain);
  }
  const json_t *pin = json_object_get(args, "pin");
  f->pin.env = json_string_value(json_object_get(pin, "env"));
  f->pin.app = json_string_value(json_object_get(pin, "app"));
  f->pin.image = json_string_value(json_object_get(pin, "image"));
  char *dir = (char *)json_string_value(json_object_get(f->saved, "dir"));
  if (idp_spec_graph_build(f->o->cmd, &dir, 1, f->envs.v, f->envs.n, false, (const char *const *)f->vars, f->nvars,
                           &f->R) != IDP_EXIT_OK) {
    snprintf(err, errsize, "the spec in %s no longer plans (see above): plan again", dir);
    return false;
  }
  char hash[80];
  idp_planfile_hash(hash, f->R.srcs, f->R.nfiles, args);
  const char *want = json_string_value(json_object_get(f->saved, "source_hash"));
  if (!want || strcmp(hash, want) != 0) {
    snprintf(err, errsize,
             "the spec in %s changed since the plan was made (sources %s, planned from %s), so what the plan left to "
             "apply time cannot be worked out: plan again",
             dir, hash, want ? want : "(none)");
    return false;
  }
  return f->ok = true;
}

static int refill_fill(void *payload, idp_state *const *states, size_t nstates, const char *const *addrs, size_t n,
                       idp_value **out, idp_arena *a, char *err, size_t errsize) {
  refill *f = payload;
  if (!f->tried) refill_load(f, err, errsize);
  if (!f->ok) {
    if (!*err) snprintf(err, errsize, "the spec could not be read again: plan again");
    return -1;
  }
  f->states = states;
  f->nstates = nstates;
  idp_pin_src pins = {.req = f->pin.env && f->pin.app && f->pin.image ? &f->pin : NULL, .states = states,
                      .nstates = nstates};
  idp_inst_opts io = {.spec_dir = f->R.spec_dir,
                      .output = state_output,
                      .configure = idp_spec_configure,
                      .hooks_payload = f,
                      .vars = (const char *const *)f->vars,
                      .nvars = f->nvars,
                      .image_pin = idp_pin_lookup,
                      .pin_payload = &pins};
  idp_diags d;
  idp_diags_init(&d);
  idp_graph *g = idp_instantiate_with(f->R.files, f->R.nfiles, f->envs.v, f->envs.n, &io, &d);
  int rc = 0;
  if (d.errors) {
    idp_diags_print(&d, stderr);
    snprintf(err, errsize, "the spec did not evaluate again (see above)");
    rc = -1;
  }
  for (size_t i = 0; i < n; i++) {
    const idp_inst *in = rc == 0 ? idp_graph_find(g, addrs[i]) : NULL;
    out[i] = in ? idp_value_copy(a, in->inputs) : NULL;
  }
  idp_graph_free(g);
  idp_diags_free(&d);
  return rc;
}

static void refill_free(refill *f) {
  if (f->tried) idp_spec_graph_free(&f->R);
  free(f->envs.v);
  for (size_t i = 0; i < f->nvars; i++) {
    explicit_bzero(f->vars[i], strlen(f->vars[i])); /* may be a secret var's */
    free(f->vars[i]);
  }
  free(f->vars);
}

/* --- running a saved plan ------------------------------------------------------------------- */

static bool changes_shared(const json_t *saved) {
  size_t i;
  json_t *rc;
  json_array_foreach(json_object_get(saved, "resource_changes"), i, rc) {
    const char *a = json_string_value(json_object_get(rc, "action"));
    if (json_is_null(json_object_get(rc, "env")) && a && strcmp(a, "no-op") != 0) return true;
  }
  return false;
}

/* Decision 7: an on-demand environment's type goes into its state (the saved plan's args name
 * the type of on-demand environments only), so `destroy -env pr-7` needs none. */
static void record_env_types(const json_t *saved, idp_state *const *states, size_t nst) {
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(json_object_get(saved, "args"), "env"), i, e) {
    const char *name = json_string_value(json_object_get(e, "name")), *type = json_string_value(json_object_get(e, "type"));
    for (size_t k = 0; name && type && k < nst; k++)
      if (idp_state_env(states[k]) && strcmp(idp_state_env(states[k]), name) == 0) idp_state_set_env_type(states[k], type);
  }
}

/* Whether st holds a resource of app. */
static bool app_in_state(const idp_state *st, const char *app) {
  char prefix[128];
  snprintf(prefix, sizeof prefix, "env.%s/app.%s", idp_state_env(st), app);
  for (size_t k = 0; k < idp_state_count(st); k++)
    if (idp_plan_addr_under(idp_state_res_address(idp_state_at(st, k)), prefix)) return true;
  return false;
}

/* Decision 9, once a run succeeded: the pin a pipeline deploy's plan names goes into its
 * environment's state; an app a pipeline deploys that got its image from a reviewed apply keeps
 * that image as its pin (the plan's "images"); an app with nothing left in an environment loses
 * its pin there. */
static int record_pins(const json_t *saved, idp_backend *b, idp_state *const *states, size_t nst, idp_state_error *err) {
  const json_t *pin = json_object_get(json_object_get(saved, "args"), "pin");
  const char *env = json_string_value(json_object_get(pin, "env"));
  char stamp[32];
  time_t now = time(NULL);
  struct tm tm;
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  for (size_t i = 0; i < nst; i++) {
    const char *e = idp_state_env(states[i]);
    if (!e) continue;
    if (env && strcmp(env, e) == 0)
      idp_state_set_pin(states[i], json_string_value(json_object_get(pin, "app")),
                        json_string_value(json_object_get(pin, "image")),
                        json_string_value(json_object_get(pin, "pipeline")), json_string_value(json_object_get(pin, "run")),
                        stamp);
    size_t n;
    json_t *im;
    json_array_foreach(json_object_get(saved, "images"), n, im) {
      const char *app = json_string_value(json_object_get(im, "app")), *ie = json_string_value(json_object_get(im, "env"));
      if (app && ie && strcmp(ie, e) == 0 && app_in_state(states[i], app))
        idp_state_set_pin(states[i], app, json_string_value(json_object_get(im, "image")),
                          json_string_value(json_object_get(im, "pipeline")), NULL, stamp);
    }
    const char *app;
    json_t *v;
    void *tmp;
    json_object_foreach_safe((json_t *)idp_state_pins(states[i]), tmp, app, v)
      if (!app_in_state(states[i], app)) idp_state_set_pin(states[i], app, NULL, NULL, NULL, NULL);
    if (idp_state_dirty(states[i]) && idp_backend_write(b, states[i], NULL, err) < 0) return -1;
  }
  return 0;
}

static int run_saved(const json_t *saved, const apply_opts *o) {
  const char *dir = json_string_value(json_object_get(saved, "dir"));
  const json_t *sts = json_object_get(saved, "states");
  size_t nst = json_array_size(sts), nenv = 0;
  const char **envs = idp_xcalloc(nst + 1, sizeof *envs);
  idp_state **states = idp_xcalloc(nst + 1, sizeof *states);
  for (size_t i = 0; i < nst; i++) {
    const json_t *e = json_object_get(json_array_get(sts, i), "env");
    if (json_is_string(e)) envs[nenv++] = json_string_value(e);
  }
  idp_state_error err = {0};
  idp_state_key key;
  bool have_key = idp_state_key_from_env(&key, NULL) == 0;
  idp_backend *b = idp_backend_local(dir);
  idp_http *http = NULL;
  int rc = IDP_EXIT_ERROR;
  progress prog = {.o = o};
  char msg[512];
  if (idp_backend_lock_all(b, changes_shared(saved), envs, nenv, o->lock_timeout, "idp apply", &err) < 0) goto fail;
  for (size_t i = 0; i < nst; i++) {
    const json_t *e = json_object_get(json_array_get(sts, i), "env");
    if (idp_backend_read(b, json_is_string(e) ? json_string_value(e) : NULL, have_key ? &key : NULL, &states[i], &err) < 0 ||
        idp_planfile_check_state(saved, states[i], &err) < 0)
      goto fail;
    if (idp_state_has_secrets(states[i])) {
      char *path = idp_backend_path(b, idp_state_env(states[i]));
      int r = idp_state_check_secrets(states[i], path, &err);
      free(path);
      if (r < 0) goto fail;
    }
  }
  record_env_types(saved, states, nst);
  if (!(http = idp_http_new(NULL, msg, sizeof msg))) {
    fprintf(stderr, "idp %s: error: %s\n", o->cmd, msg);
    goto out;
  }
  refill f = {.saved = saved, .o = o, .key = have_key ? &key : NULL};
  idp_exec_opts eo = {.parallelism = o->parallelism,
                      .http = http,
                      .backend = b,
                      .key = have_key ? &key : NULL,
                      .fill = refill_fill,
                      .fill_payload = &f,
                      .event = on_event,
                      .event_payload = &prog,
                      .interrupted = &interrupted};
  idp_exec_result res;
  struct sigaction sa = {.sa_handler = on_interrupt}, old;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  int er = idp_exec_run(saved, states, nst, &eo, &res, &err);
  sigaction(SIGINT, &old, NULL);
  refill_free(&f);
  if (o->json) {
    json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "type", "summary", "added", (json_int_t)res.added,
                          "changed", (json_int_t)res.changed, "destroyed", (json_int_t)res.destroyed, "failed",
                          (json_int_t)res.failed, "skipped", (json_int_t)res.skipped, "total", (json_int_t)res.total,
                          "interrupted", interrupted != 0);
    if (er < 0) json_object_set_new(j, "error", json_string(err.msg));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    puts(text);
    free(text);
    json_decref(j);
  }
  if (er < 0) {
    fprintf(stderr, "idp %s: error: %s\n", o->cmd, err.msg);
    goto out;
  }
  if (!o->json) {
    const char *what = strcmp(o->cmd, "destroy") != 0 ? "Apply" : "Destroy";
    if (res.failed || res.skipped) {
      printf("\n%s %s: %zu of %zu steps failed, %zu skipped; done: %zu added, %zu changed, %zu destroyed.\n", what,
             interrupted ? "interrupted" : "failed", res.failed, res.total, res.skipped, res.added, res.changed,
             res.destroyed);
    } else {
      printf("\n%s complete! Resources: %zu added, %zu changed, %zu destroyed.\n", what, res.added, res.changed,
             res.destroyed);
    }
  }
  for (size_t i = 0; i < prog.nfails; i++)
    fprintf(stderr, "idp %s: error: %s: %s: %s\n", o->cmd, prog.fails[i].addr, prog.fails[i].op, prog.fails[i].msg);
  if (o->why && prog.nfails)
    snprintf(o->why, o->whysize, "%s: %s: %s", prog.fails[0].addr, prog.fails[0].op, prog.fails[0].msg);
  else if (o->why && interrupted)
    snprintf(o->why, o->whysize, "interrupted");
  if (interrupted) fprintf(stderr, "idp %s: interrupted: the steps in flight finished and are recorded\n", o->cmd);
  rc = res.failed || res.skipped ? IDP_EXIT_ERROR : IDP_EXIT_OK;
  if (rc == IDP_EXIT_OK && !interrupted && record_pins(saved, b, states, nst, &err) < 0) goto fail;
  goto out;
fail:
  fprintf(stderr, "idp %s: error: %s\n", o->cmd, err.msg);
  if (o->why) snprintf(o->why, o->whysize, "%s", err.msg);
out:
  for (size_t i = 0; i < prog.nfails; i++) {
    free(prog.fails[i].addr);
    free(prog.fails[i].op);
    free(prog.fails[i].msg);
  }
  free(prog.fails);
  idp_http_free(http);
  for (size_t i = 0; i < nst; i++) idp_state_free(states[i]);
  free(states);
  free(envs);
  idp_backend_free(b);
  if (have_key) idp_state_key_wipe(&key);
  return rc;
}

/* --- planning first ------------------------------------------------------------------------- */

static bool has_changes(const json_t *saved) {
  const json_t *s = json_object_get(saved, "summary");
  return json_integer_value(json_object_get(s, "add")) + json_integer_value(json_object_get(s, "change")) +
             json_integer_value(json_object_get(s, "destroy")) >
         0;
}

/* Asks for `yes` on the terminal. */
static bool approved(const apply_opts *o) {
  if (o->auto_approve) return true;
  if (!isatty(STDIN_FILENO)) {
    fprintf(stderr,
            "idp %s: error: no terminal to ask for approval on, so nothing was done\n"
            "hint: pass -auto-approve, or save the plan (idp plan -out FILE) and apply FILE\n",
            o->cmd);
    return false;
  }
  printf("\nDo you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ");
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin) || strcmp(line, "yes\n") != 0) {
    printf("\n%s cancelled.\n", strcmp(o->cmd, "destroy") != 0 ? "Apply" : "Destroy");
    return false;
  }
  putchar('\n');
  return true;
}

static int plan_then_apply(char **args, size_t nargs, idp_env_list *envs, const idp_flag_list *vars,
                           const idp_plan_opts *po, const apply_opts *o) {
  json_t *saved = NULL;
  int rc = idp_plan_saved(o->cmd, args, nargs, envs->v, envs->n, vars->v, vars->n, po, o->lock_timeout, o->json, &saved);
  if (rc != IDP_EXIT_OK || !saved) return IDP_EXIT_ERROR;
  if (!has_changes(saved)) rc = IDP_EXIT_OK; /* the plan said "No changes." */
  else if (!approved(o)) rc = IDP_EXIT_ERROR;
  else rc = run_saved(saved, o);
  json_decref(saved);
  return rc;
}

static bool is_plan_file(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int apply_or_destroy(int argc, char **argv, bool destroy) {
  apply_opts o = {.cmd = destroy ? "destroy" : "apply"};
  idp_env_list envs = {0};
  idp_flag_list targets = {0}, replace = {0}, vars = {0};
  const idp_flag all[] = {
      {"env", IDP_FLAG_ENV, &envs},
      {"var", IDP_FLAG_LIST, &vars},
      {"auto-approve", IDP_FLAG_BOOL, &o.auto_approve},
      {"parallelism", IDP_FLAG_COUNT, &o.parallelism},
      {"json", IDP_FLAG_BOOL, &o.json},
      {"lock-timeout", IDP_FLAG_DURATION, &o.lock_timeout},
      {"no-color", IDP_FLAG_BOOL, &idp_no_color},
      {"target", IDP_FLAG_LIST, &targets},
      {"replace", IDP_FLAG_LIST, &replace},
  };
  size_t nflags = destroy ? 8 : 9, nargs; /* destroy takes no -replace */
  char **args;
  int rc = IDP_EXIT_ERROR;
  if (idp_parse_flags(o.cmd, argc, argv, all, nflags, &args, &nargs) < 0) goto out;
  if (nargs > 1) {
    fprintf(stderr, "idp %s: error: one plan file or spec directory at a time ('%s', then '%s')\n", o.cmd, args[0],
            args[1]);
    goto out;
  }
  if (!destroy && nargs == 1 && is_plan_file(args[0])) {
    if (envs.n || targets.n || replace.n || vars.n) {
      fprintf(stderr,
              "idp apply: error: a saved plan is applied as it was planned: -env, -var, -target and -replace belong "
              "to 'idp plan'\n");
      goto out;
    }
    json_t *saved = NULL;
    idp_state_error err = {0};
    if (idp_planfile_read(args[0], &saved, &err) < 0) {
      fprintf(stderr, "idp apply: error: %s\n", err.msg);
      goto out;
    }
    rc = run_saved(saved, &o);
    json_decref(saved);
    goto out;
  }
  idp_plan_opts po = {.targets = targets.v, .ntargets = targets.n, .replace = replace.v, .nreplace = replace.n,
                      .destroy = destroy};
  rc = plan_then_apply(args, nargs, &envs, &vars, &po, &o);
out:
  idp_flags_free(all, nflags, args);
  return rc;
}

int idp_apply_saved(const json_t *saved, const char *cmd, char *why, size_t whysize) {
  apply_opts o = {.cmd = cmd, .auto_approve = true, .lock_timeout = 300, .why = why, .whysize = whysize};
  if (why && whysize) why[0] = '\0';
  return run_saved(saved, &o);
}

int idp_cmd_apply(int argc, char **argv) { return apply_or_destroy(argc, argv, false); }
int idp_cmd_destroy(int argc, char **argv) { return apply_or_destroy(argc, argv, true); }
