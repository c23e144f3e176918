/* cmd_plan.c - `idp plan [DIR] [-env NAME[:TYPE]]... [-json] [-detailed-exitcode] [-refresh=false]
 * [-lock-timeout D]`: instantiate, lock and read the states, diff (runtime/planner.h), print.
 *
 * No driver has API code yet, so there is no refresh: plan always runs as with -refresh=false and
 * says so once in its header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/util.h"
#include "../runtime/backend.h"
#include "../runtime/planner.h"
#include "../runtime/state.h"
#include "cli.h"

enum { PLAN_EXIT_CHANGES = 2 };

static const char refresh_note[] =
    "Refresh skipped: no driver reads its API yet, so plan compares against the state as with -refresh=false.";

typedef struct plan_opts {
  bool json, detailed;
  double lock_timeout;
} plan_opts;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int plan_states(const idp_loaded *L, const idp_graph *g, const char *dir, const idp_env_sel *sel, size_t nsel,
                       const plan_opts *o) {
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
  idp_state_key key;
  bool have_key = idp_state_key_from_env(&key, NULL) == 0;
  if (idp_backend_lock_all(b, shared, envs, nenv, o->lock_timeout, "idp plan", &err) < 0) goto fail;
  if (shared) {
    if (idp_backend_read(b, NULL, have_key ? &key : NULL, &states[nst], &err) < 0) goto fail;
    deletable[nst++] = nsel == 0; /* an env-scoped plan never deletes top-level resources */
  }
  for (size_t i = 0; i < nenv; i++) {
    if (idp_backend_read(b, envs[i], have_key ? &key : NULL, &states[nst], &err) < 0) goto fail;
    deletable[nst++] = true;
  }
  for (size_t i = 0; i < nst; i++) {
    if (!idp_state_has_secrets(states[i])) continue;
    char *path = idp_backend_path(b, idp_state_env(states[i]));
    int r = idp_state_check_secrets(states[i], path, &err);
    free(path);
    if (r < 0) goto fail;
  }
  if (idp_plan_make(&plan, g, states, deletable, nst, &err) < 0) goto fail;
  if (!have_key) {
    for (size_t i = 0; i < plan->n; i++) {
      const idp_plan_res *r = &plan->v[i];
      if (!r->secret_state || r->action == IDP_PLAN_NOOP || r->action == IDP_PLAN_DELETE) continue;
      fprintf(stderr,
              "idp plan: error: %s would keep a secret in the state, and IDP_STATE_KEY is not set to encrypt it\n%s\n",
              r->addr, idp_state_key_hint);
      goto out;
    }
  }
  if (o->json) {
    json_t *j = idp_plan_json(plan);
    json_object_set_new(j, "format_version", json_string("1"));
    json_object_set_new(j, "refresh", json_false());
    json_object_set_new(j, "refresh_note", json_string(refresh_note));
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
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (!text) {
      fputs("idp plan: error: out of memory\n", stderr);
      goto out;
    }
    puts(text);
    free(text);
  } else {
    printf("%s\n\n", refresh_note);
    idp_plan_print(plan, stdout);
  }
  if (nsel == 0) {
    bool sh = false;
    char **names = NULL;
    size_t nn = 0;
    if (idp_backend_list(b, &sh, &names, &nn, NULL) == 0) {
      for (size_t i = 0; i < nn; i++)
        if (!idp_spec_find_env(L->spec, names[i]))
          fprintf(stderr, "idp plan: note: environment %s exists only in state; 'idp plan -env %s:TYPE' plans it\n",
                  names[i], names[i]);
      idp_backend_free_list(names, nn);
    }
  }
  fflush(stdout);
  rc = o->detailed && idp_plan_has_changes(plan) ? PLAN_EXIT_CHANGES : IDP_EXIT_OK;
  goto out;
fail:
  fprintf(stderr, "idp plan: error: %s\n", err.msg);
out:
  idp_plan_free(plan);
  for (size_t i = 0; i < nst; i++) idp_state_free(states[i]);
  free(states);
  free(deletable);
  free(envs);
  idp_backend_free(b);
  if (have_key) idp_state_key_wipe(&key);
  return rc;
}

static int plan(char **args, size_t nargs, const idp_env_sel *sel, size_t nsel, const plan_opts *o) {
  idp_spec_graph R;
  int rc = idp_spec_graph_build("plan", args, nargs, sel, nsel, &R);
  if (rc == IDP_EXIT_OK) rc = plan_states(&R.L, R.g, R.spec_dir ? R.spec_dir : ".", sel, nsel, o);
  idp_spec_graph_free(&R);
  return rc;
}

int idp_cmd_plan(int argc, char **argv) {
  static const char *const flags[] = {"env", "json", "detailed-exitcode", "refresh", "lock-timeout", "help"};
  char **args = idp_xcalloc((size_t)argc + 1, sizeof *args);
  idp_env_sel *sel = idp_xcalloc((size_t)argc + 1, sizeof *sel);
  char **copies = idp_xcalloc((size_t)argc + 1, sizeof *copies);
  size_t nargs = 0, nsel = 0;
  int rc = IDP_EXIT_ERROR; /* not 2, which -detailed-exitcode gives to "changes present" */
  bool paths_only = false;
  plan_opts o = {0};
  for (int i = 1; i < argc; i++) {
    const char *f = paths_only ? NULL : idp_flag_name(argv[i]);
    if (!f) {
      args[nargs++] = argv[i];
      continue;
    }
    if (strcmp(argv[i], "--") == 0) {
      paths_only = true;
      continue;
    }
    const char *eq = strchr(f, '=');
    size_t flen = eq ? (size_t)(eq - f) : strlen(f);
#define IS(name) (flen == strlen(name) && strncmp(f, name, flen) == 0)
    if (IS("json") || IS("detailed-exitcode")) {
      if (eq) {
        fprintf(stderr, "idp plan: error: flag '-%.*s' takes no value\n", (int)flen, f);
        goto out;
      }
      if (IS("json")) o.json = true;
      else o.detailed = true;
      continue;
    }
    if (IS("refresh")) {
      /* -refresh and -refresh=true ask for what no driver can do yet: planned as -refresh=false. */
      if (eq && strcmp(eq + 1, "false") != 0 && strcmp(eq + 1, "true") != 0) {
        fprintf(stderr, "idp plan: error: bad -refresh '%s'\nhint: write -refresh=false or -refresh=true\n", eq + 1);
        goto out;
      }
      continue;
    }
    if (!IS("env") && !IS("lock-timeout")) {
      idp_unknown_flag("plan", argv[i], flags, sizeof flags / sizeof *flags);
      goto out;
    }
    const char *val = idp_flag_value("plan", argc, argv, &i);
    if (!val) goto out;
    if (IS("lock-timeout")) {
      if (idp_parse_duration(val, &o.lock_timeout) < 0) {
        fprintf(stderr, "idp plan: error: bad -lock-timeout '%s'\nhint: write 0, 10, 10s, 500ms, 5m or 1h\n", val);
        goto out;
      }
      continue;
    }
#undef IS
    if (idp_env_flag("plan", val, &copies[nsel], &sel[nsel]) < 0) {
      nsel++;
      goto out;
    }
    nsel++;
  }
  if (nargs > 1) {
    fprintf(stderr, "idp plan: error: one spec directory at a time ('%s', then '%s')\n", args[0], args[1]);
    goto out;
  }
  rc = plan(args, nargs, sel, nsel, &o);
out:
  for (size_t i = 0; i < nsel; i++) free(copies[i]);
  free(copies);
  free(sel);
  free(args);
  return rc;
}
