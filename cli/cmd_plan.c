/* cmd_plan.c - `idp plan [DIR] [-env NAME[:TYPE]]... [-out FILE] [-json] [-detailed-exitcode]
 * [-target ADDR]... [-replace ADDR]... [-destroy] [-refresh=false | -refresh-only] [-lock-timeout D]`:
 * instantiate, lock and read the states, refresh them from the real objects (runtime/refresh.h),
 * diff (runtime/planner.h), print, and save (runtime/planfile.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../compiler/util.h"
#include "../runtime/backend.h"
#include "../runtime/planfile.h"
#include "../runtime/planner.h"
#include "../runtime/refresh.h"
#include "../runtime/state.h"
#include "cli.h"
#include "term.h"

enum { PLAN_EXIT_CHANGES = 2 };


typedef struct plan_opts {
  const char *cmd;          /* "plan", or "apply" / "destroy" planning first: for messages */
  bool json, detailed;
  bool no_refresh;          /* -refresh=false */
  bool refresh_only;        /* -refresh-only: report drift, plan nothing */
  double lock_timeout;
  const char *out;          /* -out FILE */
  json_t **keep;            /* for apply: the saved plan's JSON goes here, not to a file */
  const char *const *vars;  /* -var NAME=VALUE */
  size_t nvars;
  idp_plan_opts plan;       /* -target, -replace, -destroy */
  idp_pin_req *pin;         /* a pipeline's deploy (pipeline_deploy.c), or NULL */
} plan_opts;

/* Is the var block named name (in R's files) declared `secret = true`? */
static bool var_secret(const idp_spec_graph *R, const char *name) {
  for (size_t f = 0; f < R->nfiles; f++)
    for (const idp_item *it = R->files[f]->body.first; it; it = it->next) {
      if (it->kind != IDP_ITEM_BLOCK || strcmp(it->name, "var") != 0 || !it->labels || strcmp(it->labels->name, name) != 0)
        continue;
      for (const idp_item *a = it->body.first; a; a = a->next)
        if (a->kind == IDP_ITEM_ATTR && strcmp(a->name, "secret") == 0 && a->value->kind == IDP_E_BOOL)
          return a->value->u.boolean;
    }
  return false;
}

/* The run's arguments as a saved plan records them (and hashes them with the sources): -var
 * values in "var", a secret var's sealed (key NULL: refused). NULL with err filled on failure. */
static json_t *args_json(const idp_spec_graph *R, const idp_env_sel *sel, size_t nsel, const plan_opts *o,
                         const idp_state_key *key, idp_state_error *err) {
  json_t *a = json_object(), *envs = json_array(), *t = json_array(), *r = json_array(), *vars = json_object();
  for (size_t i = 0; i < o->nvars; i++) {
    const char *eq = strchr(o->vars[i], '=');
    char *name = idp_xstrdup(o->vars[i]);
    name[eq - o->vars[i]] = '\0';
    json_t *v = json_string(eq + 1), *sealed = NULL;
    if (var_secret(R, name)) {
      char addr[256];
      snprintf(addr, sizeof addr, "var.%s", name);
      int rc = key ? idp_state_seal(&sealed, key, addr, "plan/var", v, err)
                   : idp_state_fail(err, IDP_STATE_ENOKEY, "var %s is secret: saving its value needs IDP_STATE_KEY\n%s",
                                    name, idp_state_key_hint);
      json_decref(v);
      if (rc < 0) {
        free(name);
        json_decref(vars);
        json_decref(envs);
        json_decref(t);
        json_decref(r);
        json_decref(a);
        return NULL;
      }
      v = sealed;
    }
    json_object_set_new(vars, name, v);
    free(name);
  }
  for (size_t i = 0; i < nsel; i++) {
    json_t *e = json_object();
    json_object_set_new(e, "name", json_string(sel[i].name));
    /* the type only of an on-demand environment: apply records it in its state (decision 7) */
    bool on_demand = sel[i].type && !idp_spec_find_env(R->L.spec, sel[i].name);
    json_object_set_new(e, "type", on_demand ? json_string(sel[i].type) : json_null());
    json_array_append_new(envs, e);
  }
  for (size_t i = 0; i < o->plan.ntargets; i++) json_array_append_new(t, json_string(o->plan.targets[i]));
  for (size_t i = 0; i < o->plan.nreplace; i++) json_array_append_new(r, json_string(o->plan.replace[i]));
  json_object_set_new(a, "env", envs);
  json_object_set_new(a, "target", t);
  json_object_set_new(a, "replace", r);
  json_object_set_new(a, "destroy", json_boolean(o->plan.destroy));
  json_object_set_new(a, "var", vars);
  if (o->pin) {
    json_t *p = json_pack("{s:s, s:s, s:s}", "env", o->pin->env, "app", o->pin->app, "image", o->pin->image);
    if (o->pin->pipeline) json_object_set_new(p, "pipeline", json_string(o->pin->pipeline));
    if (o->pin->run) json_object_set_new(p, "run", json_string(o->pin->run));
    json_object_set_new(a, "pin", p);
  }
  return a;
}

/* The members -json and a saved plan share beside what idp_plan_json writes. */
static void add_header(json_t *j, idp_state *const *states, size_t nst, const idp_refresh_result *drift) {
  json_object_set_new(j, "format_version", json_string("1"));
  json_object_set_new(j, "refresh", json_boolean(drift != NULL));
  if (drift) json_object_set_new(j, "resource_drift", idp_refresh_json(drift));
  json_t *sts = json_array();
  for (size_t i = 0; i < nst; i++) {
    json_t *s = json_object();
    const char *e = idp_state_env(states[i]);
    json_object_set_new(s, "env", e ? json_string(e) : json_null());
    const char *lin = idp_state_lineage(states[i]);
    json_object_set_new(s, "lineage", lin ? json_string(lin) : json_null());
    json_object_set_new(s, "serial", json_integer(idp_state_serial(states[i])));
    json_array_append_new(sts, s);
  }
  json_object_set_new(j, "states", sts);
}

/* Decision 9: an app a pipeline deploys keeps its image between the pipeline's runs. Where such
 * an app has no pin yet in an environment the pipeline deploys it to (or one of a repository the
 * app no longer names), the image this plan resolved becomes its pin once the apply succeeds
 * (cmd_apply.c), so that later plans keep it until the pipeline moves it:
 * [{"env", "app", "image", "pipeline"}], or NULL when none. */
static json_t *images_json(const idp_spec_graph *R, idp_state *const *states, size_t nst) {
  json_t *out = NULL;
  const idp_spec *sp = R->L.spec;
  for (size_t p = 0; p < sp->npipelines; p++)
    for (size_t k = 0; k < sp->pipelines[p].nstages; k++) {
      const idp_spec_stage *s = &sp->pipelines[p].stages[k];
      if (s->deploy_app.kind != IDP_SPEC_LITERAL || s->deploy_env.kind != IDP_SPEC_LITERAL) continue;
      const char *env = s->deploy_env.s, *app = s->deploy_app.s;
      for (size_t i = 0; i < nst; i++) {
        const char *e = idp_state_env(states[i]);
        const char *img = e && strcmp(e, env) == 0 ? idp_graph_app_image(R->g, env, app) : NULL;
        const char *pin = img ? idp_state_pin(states[i], app) : NULL;
        /* none yet, or one of another repository than the app now names */
        if (!img || (pin && idp_image_same_repo(pin, img))) continue;
        if (!out) out = json_array();
        bool dup = false;
        size_t n;
        json_t *x;
        json_array_foreach(out, n, x) dup |= strcmp(json_string_value(json_object_get(x, "env")), env) == 0 &&
                                            strcmp(json_string_value(json_object_get(x, "app")), app) == 0;
        if (!dup)
          json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "env", env, "app", app, "image", img, "pipeline",
                                               sp->pipelines[p].name));
      }
    }
  return out;
}

/* Writes the saved plan of -out. */
static int save_plan(const idp_spec_graph *R, const char *dir, const idp_plan *plan, idp_state *const *states,
                     size_t nst, const idp_refresh_result *drift, const idp_env_sel *sel, size_t nsel,
                     const plan_opts *o, const idp_state_key *key, idp_state_error *err) {
  json_t *j = idp_plan_json(plan, true, key, err);
  if (!j) return err->code;
  add_header(j, states, nst, drift);
  json_t *args = args_json(R, sel, nsel, o, key, err);
  if (!args) {
    json_decref(j);
    return err->code;
  }
  char hash[80], stamp[32];
  idp_planfile_hash(hash, R->srcs, R->nfiles, args);
  time_t now = time(NULL);
  struct tm tm;
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  char *abs = realpath(dir, NULL);
  json_object_set_new(j, "kind", json_string(IDP_PLANFILE_KIND));
  json_object_set_new(j, "idp_version", json_string(IDP_VERSION));
  json_object_set_new(j, "created", json_string(stamp));
  json_object_set_new(j, "dir", json_string(abs ? abs : dir));
  json_object_set_new(j, "source_hash", json_string(hash));
  json_object_set_new(j, "args", args);
  json_t *images = o->pin ? NULL : images_json(R, states, nst);
  if (images) json_object_set_new(j, "images", images);
  free(abs);
  if (o->keep) {
    *o->keep = j;
    return 0;
  }
  int rc = idp_planfile_write(o->out, j, err);
  json_decref(j);
  return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int plan_states(idp_spec_graph *R, const char *dir, const idp_env_sel *sel, size_t nsel,
                       const plan_opts *o) {
  const idp_loaded *L = &R->L;
  const idp_graph *g = R->g;
  /* Which states: the selected environments (every declared one without -env), and the shared
   * state when the run reaches a top-level resource (always without -env). */
  size_t nenv = 0;
  const char **envs = idp_xcalloc((nsel ? nsel : L->spec->nenvs) + 1, sizeof *envs);
  if (nsel) {
    for (size_t i = 0; i < nsel; i++) envs[nenv++] = sel[i].name;
  } else {
    for (size_t i = 0; i < L->spec->nenvs; i++) envs[nenv++] = L->spec->envs[i].name;
  }
  qsort(envs, nenv, sizeof *envs, cmp_str);
  size_t w = 0;
  for (size_t i = 0; i < nenv; i++)
    if (!w || strcmp(envs[w - 1], envs[i]) != 0) envs[w++] = envs[i];
  nenv = w;
  bool shared = nsel == 0;
  for (size_t i = 0; i < g->n && !shared; i++)
    if (!g->v[i]->env) shared = true;

  int rc = IDP_EXIT_ERROR;
  idp_state_error err = {0};
  idp_backend *b = idp_backend_local(dir);
  size_t nst = 0;
  idp_state **states = idp_xcalloc(nenv + 2, sizeof *states);
  bool *deletable = idp_xcalloc(nenv + 2, sizeof *deletable);
  idp_plan *plan = NULL;
  idp_graph *pinned = NULL;
  idp_plan_opts po = o->plan;
  idp_refresh_result drift = {0};
  bool refreshed = false;
  idp_state_key key;
  bool have_key = idp_state_key_from_env(&key, NULL) == 0;
  char holder[32];
  snprintf(holder, sizeof holder, "idp %s", o->cmd);
  if (idp_backend_lock_all(b, shared, envs, nenv, o->lock_timeout, holder, &err) < 0) goto fail;
  {
    const char **which = idp_xcalloc(nenv + 2, sizeof *which);
    size_t nw = 0;
    if (shared) which[nw++] = NULL;
    for (size_t i = 0; i < nenv; i++) which[nw++] = envs[i];
    int r = idp_backend_read_many(b, which, nw, have_key ? &key : NULL, states, &err);
    free(which);
    if (r < 0) goto fail;
    for (size_t i = 0; i < nw; i++) deletable[nst++] = shared && i == 0 ? nsel == 0 : true;
    /* an env-scoped plan never deletes top-level resources */
  }
  for (size_t i = 0; i < nst; i++) {
    if (!idp_state_has_secrets(states[i])) continue;
    char *path = idp_backend_path(b, idp_state_env(states[i]));
    int r = idp_state_check_secrets(states[i], path, &err);
    free(path);
    if (r < 0) goto fail;
  }
  /* Decision 9: apps a pipeline deployed keep the image it deployed; decision 10: a deploy
   * changes only what its image reaches. */
  idp_pin_src pins = {.req = o->pin, .states = states, .nstates = nst};
  if (o->pin || idp_pins_any(states, nst)) {
    if (!(pinned = idp_spec_graph_again(R, idp_pin_lookup, &pins))) goto out;
    g = pinned;
  }
  if (o->pin && idp_deploy_scope(R, pinned, states, deletable, nst, o->pin, &po, &err) < 0) goto fail;
  if (!o->no_refresh) { /* the real objects, read through the drivers (refresh.h) */
    char msg[512];
    idp_http *http = idp_http_new(NULL, msg, sizeof msg);
    if (!http) {
      fprintf(stderr, "idp %s: error: %s\n", o->cmd, msg);
      goto out;
    }
    int r = idp_refresh(states, nst, http, 10, &drift, &err);
    idp_http_free(http);
    if (r < 0) goto fail;
    refreshed = true;
  }
  if (o->refresh_only) {
    if (o->json) {
      json_t *j = json_object();
      add_header(j, states, nst, &drift);
      char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
      json_decref(j);
      puts(text ? text : "{}");
      free(text);
    } else if (drift.n) {
      idp_refresh_print_color(&drift, stdout, idp_term_color(stdout));
      printf("Drift: %zu object%s changed outside of idp (of %zu read).\n", drift.n, drift.n == 1 ? "" : "s", drift.read);
    } else {
      printf("No changes. The %zu object%s read match%s the state.\n", drift.read, drift.read == 1 ? "" : "s",
             drift.read == 1 ? "es" : "");
    }
    fflush(stdout);
    rc = o->detailed && drift.n ? PLAN_EXIT_CHANGES : IDP_EXIT_OK;
    goto out;
  }
  if (idp_plan_make(&plan, g, states, deletable, nst, &po, &err) < 0) goto fail;
  if (!have_key) {
    for (size_t i = 0; i < plan->n; i++) {
      const idp_plan_res *r = &plan->v[i];
      if (!r->secret_state || r->action == IDP_PLAN_NOOP || r->action == IDP_PLAN_DELETE) continue;
      fprintf(stderr,
              "idp %s: error: %s would keep a secret in the state, and IDP_STATE_KEY is not set to encrypt it\n%s\n",
              o->cmd, r->addr, idp_state_key_hint);
      goto out;
    }
  }
  if ((o->out || o->keep) &&
      save_plan(R, dir, plan, states, nst, refreshed ? &drift : NULL, sel, nsel, o, have_key ? &key : NULL, &err) < 0)
    goto fail;
  if (o->json && o->keep) { /* apply -json: the plan is one event of its stream */
    json_t *j = json_pack("{s:s, s:I, s:I, s:I}", "type", "plan", "add", (json_int_t)plan->add, "change",
                          (json_int_t)plan->change, "destroy", (json_int_t)plan->destroy);
    if (refreshed) json_object_set_new(j, "resource_drift", idp_refresh_json(&drift));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    puts(text ? text : "{}");
    free(text);
  } else if (o->json) {
    json_t *j = idp_plan_json(plan, false, NULL, NULL);
    add_header(j, states, nst, refreshed ? &drift : NULL);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (!text) {
      fprintf(stderr, "idp %s: error: out of memory\n", o->cmd);
      goto out;
    }
    puts(text);
    free(text);
  } else {
    if (refreshed) idp_refresh_print_color(&drift, stdout, idp_term_color(stdout));
    if (o->pin)
      printf("Pipeline deploy of %s to %s, image %s: %s.%s\n\n", o->pin->app, o->pin->env, o->pin->image,
             o->pin->first ? "the app has no image pinned there yet, so all of it is planned"
                           : "only what the image changes is planned",
             json_array_size(o->pin->pending) ? " Other changes of the app wait for a reviewed apply (see the run)." : "");
    else if (o->plan.ntargets)
      printf("Targeting is in effect: this plan covers only the resources -target names%s; the rest are left as "
             "they are. Use it for exceptional cases, not routinely.\n\n",
             o->plan.destroy ? " and what depends on them" : " and what they depend on");
    idp_plan_print_color(plan, stdout, idp_term_color(stdout));
    if (o->out) printf("\nSaved the plan to %s: 'idp apply %s' carries out exactly these actions.\n", o->out, o->out);
  }
  if (!o->json && !o->pin)
    for (size_t i = 0; i < nst; i++) {
      const char *app;
      json_t *p;
      json_object_foreach((json_t *)idp_state_pins(states[i]), app, p) {
        const char *run = json_string_value(json_object_get(p, "run"));
        const char *pl = json_string_value(json_object_get(p, "pipeline"));
        fprintf(stderr, "idp %s: note: app %s in %s keeps %s (%s%s); only pipeline %s moves it (decision 9)\n",
                o->cmd, app, idp_state_env(states[i]), json_string_value(json_object_get(p, "image")),
                run ? "deployed by run " : "the image it was applied with", run ? run : "", pl ? pl : "runs");
      }
    }
  if (nsel == 0) {
    bool sh = false;
    char **names = NULL;
    size_t nn = 0;
    if (idp_backend_list(b, &sh, &names, &nn, NULL) == 0) {
      for (size_t i = 0; i < nn; i++)
        if (!idp_spec_find_env(L->spec, names[i]))
          fprintf(stderr, "idp %s: note: environment %s exists only in state; 'idp %s -env %s' plans it\n", o->cmd,
                  names[i], o->cmd, names[i]);
      idp_backend_free_list(names, nn);
    }
  }
  fflush(stdout);
  rc = o->detailed && idp_plan_has_changes(plan) ? PLAN_EXIT_CHANGES : IDP_EXIT_OK;
  goto out;
fail:
  fprintf(stderr, "idp %s: error: %s\n", o->cmd, err.msg);
  if (o->pin) snprintf(o->pin->why, sizeof o->pin->why, "%.*s", (int)sizeof o->pin->why - 1, err.msg);
out:
  idp_plan_free(plan);
  idp_graph_free(pinned);
  if (refreshed) idp_refresh_result_free(&drift);
  for (size_t i = 0; i < nst; i++) idp_state_free(states[i]);
  free(states);
  free(deletable);
  free(envs);
  idp_backend_free(b);
  if (have_key) idp_state_key_wipe(&key);
  return rc;
}

/* Decision 7: an on-demand environment's type is kept in its state, so `-env pr-42` needs no
 * :TYPE once it exists. Fills in the type of each selected environment given without one whose
 * state records one (copies in types[]); declared environments have none in their state. */
static void types_from_state(const char *dir, idp_env_sel *sel, size_t nsel, char **types) {
  idp_backend *b = idp_backend_local(dir);
  for (size_t i = 0; i < nsel; i++) {
    if (sel[i].type) continue;
    idp_state *st = NULL;
    if (idp_backend_read(b, sel[i].name, NULL, &st, NULL) == 0 && idp_state_env_type(st)) {
      types[i] = idp_xstrdup(idp_state_env_type(st));
      sel[i].type = types[i];
    }
    idp_state_free(st);
  }
  idp_backend_free(b);
}

static int plan(char **args, size_t nargs, idp_env_sel *sel, size_t nsel, const plan_opts *o) {
  for (size_t i = 0; i < o->nvars; i++)
    if (!strchr(o->vars[i], '=') || o->vars[i][0] == '=') {
      fprintf(stderr, "idp %s: error: a -var without a name\nhint: write -var NAME=VALUE\n", o->cmd);
      return IDP_EXIT_ERROR;
    }
  struct stat sb;
  char **types = idp_xcalloc(nsel + 1, sizeof *types);
  types_from_state(nargs == 1 && stat(args[0], &sb) == 0 && S_ISDIR(sb.st_mode) ? args[0] : ".", sel, nsel, types);
  idp_spec_graph R;
  int rc = idp_spec_graph_build(o->cmd, args, nargs, sel, nsel, true, o->vars, o->nvars, &R);
  if (rc == IDP_EXIT_OK) rc = plan_states(&R, R.spec_dir ? R.spec_dir : ".", sel, nsel, o);
  idp_spec_graph_free(&R);
  for (size_t i = 0; i < nsel; i++) free(types[i]);
  free(types);
  return rc;
}

int idp_plan_saved(const char *cmd, char **args, size_t nargs, idp_env_sel *sel, size_t nsel, const char *const *vars,
                   size_t nvars, const idp_plan_opts *po, double lock_timeout, bool json, json_t **saved) {
  plan_opts o = {.cmd = cmd,
                 .json = json,
                 .lock_timeout = lock_timeout,
                 .plan = *po,
                 .keep = saved,
                 .vars = vars,
                 .nvars = nvars};
  *saved = NULL;
  return plan(args, nargs, sel, nsel, &o);
}

int idp_plan_pinned(const char *spec_dir, idp_pin_req *req, json_t **saved) {
  plan_opts o = {.cmd = "pipeline", .keep = saved, .pin = req, .lock_timeout = 300};
  idp_env_sel sel = {.name = req->env};
  char *args[] = {(char *)spec_dir};
  *saved = NULL;
  return plan(args, 1, &sel, 1, &o);
}

int idp_cmd_plan(int argc, char **argv) {
  plan_opts o = {.cmd = "plan"};
  bool refresh = true;
  idp_env_list envs = {0};
  idp_flag_list targets = {0}, replace = {0}, vars = {0};
  const idp_flag flags[] = {
      {"env", IDP_FLAG_ENV, &envs},
      {"var", IDP_FLAG_LIST, &vars},
      {"out", IDP_FLAG_STRING, &o.out},
      {"json", IDP_FLAG_BOOL, &o.json},
      {"detailed-exitcode", IDP_FLAG_BOOL, &o.detailed},
      {"target", IDP_FLAG_LIST, &targets},
      {"replace", IDP_FLAG_LIST, &replace},
      {"destroy", IDP_FLAG_BOOL, &o.plan.destroy},
      {"refresh", IDP_FLAG_BOOL, &refresh},
      {"refresh-only", IDP_FLAG_BOOL, &o.refresh_only},
      {"lock-timeout", IDP_FLAG_DURATION, &o.lock_timeout},
      {"no-color", IDP_FLAG_BOOL, &idp_no_color},
  };
  size_t nflags = sizeof flags / sizeof *flags, nargs;
  char **args;
  int rc = IDP_EXIT_ERROR; /* not 2, which -detailed-exitcode gives to "changes present" */
  if (idp_parse_flags("plan", argc, argv, flags, nflags, &args, &nargs) == 0) {
    if (nargs > 1) {
      fprintf(stderr, "idp plan: error: one spec directory at a time ('%s', then '%s')\n", args[0], args[1]);
    } else {
      o.no_refresh = !refresh;
      o.vars = vars.v;
      o.nvars = vars.n;
      if (o.refresh_only && o.no_refresh) {
        fprintf(stderr, "idp plan: error: -refresh-only and -refresh=false contradict each other\n");
        idp_flags_free(flags, nflags, args);
        return IDP_EXIT_ERROR;
      }
      o.plan.targets = targets.v;
      o.plan.ntargets = targets.n;
      o.plan.replace = replace.v;
      o.plan.nreplace = replace.n;
      rc = plan(args, nargs, envs.v, envs.n, &o);
    }
  }
  idp_flags_free(flags, nflags, args);
  return rc;
}
