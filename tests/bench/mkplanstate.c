/* mkplanstate.c - writes the states that match a spec, for the plan benchmark: afterwards
 * `idp plan DIR -refresh=false` must report "No changes.".
 *
 * Usage: mkplanstate DIR
 *
 * Parses every .idp file of DIR, instantiates every declared environment and every top-level resource
 * (as `idp plan DIR` does), and writes each instance into its state (DIR/.idp/state/ENV.json and
 * _shared.json) through the backend, as an apply of the all-create plan would leave it: status
 * created, its dependencies, its desired inputs, and a plausible value for each output. A value
 * unknown at plan time (a computed output read through a reference, such as a password reaching a
 * workload's env) is stored as a placeholder of its kind: the planner takes an unknown as equal to
 * what is stored when everything it derives from is a no-op. An attribute holding a secret is
 * sealed whole with IDP_STATE_KEY (which must be set), as are secret outputs. Existing states are
 * replaced. Linked against the build's libidp.a by the Makefile (`make bench`). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../compiler/diag.h"
#include "../../compiler/instance.h"
#include "../../compiler/source.h"
#include "../../compiler/util.h"
#include "../../grammar/parse.h"
#include "../../runtime/backend.h"
#include "../../runtime/drivers/driver.h"
#include "../../runtime/state.h"

/* A short deterministic word for a placeholder: FNV-1a of the address and path, in hex. */
static void tag_of(char out[17], const char *addr, const char *path) {
  unsigned long long h = 1469598103934665603ull;
  for (const char *s = addr; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  for (const char *s = path; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  snprintf(out, 17, "%016llx", h);
}

/* What an unknown of kind hint (or a driver type) reads back as after the apply. */
static json_t *placeholder(idp_value_kind hint, const char *addr, const char *path) {
  char tag[17];
  switch (hint) {
  case IDP_V_NUMBER: return json_integer(16384);
  case IDP_V_BOOL: return json_false();
  case IDP_V_LIST: return json_array();
  case IDP_V_MAP: return json_object();
  case IDP_V_NULL: return json_null();
  default: tag_of(tag, addr, path); return json_string(tag);
  }
}

static idp_value_kind kind_of(idp_drv_type t) {
  switch (t.kind) {
  case IDP_DRV_T_NUMBER: return IDP_V_NUMBER;
  case IDP_DRV_T_BOOL: return IDP_V_BOOL;
  case IDP_DRV_T_LIST_STRING:
  case IDP_DRV_T_LIST_NUMBER: return IDP_V_LIST;
  case IDP_DRV_T_MAP_STRING: return IDP_V_MAP;
  default: return IDP_V_STRING;
  }
}

/* The JSON v is stored as: its plaintext (marks dropped), unknowns as placeholders. */
static json_t *stored(const idp_value *v, const char *addr, const char *path) {
  switch (v->kind) {
  case IDP_V_UNKNOWN: return placeholder(v->u.unknown.hint, addr, path);
  case IDP_V_LIST: {
    json_t *a = json_array();
    for (size_t i = 0; i < v->u.list.n; i++) json_array_append_new(a, stored(v->u.list.items[i], addr, path));
    return a;
  }
  case IDP_V_MAP: {
    json_t *o = json_object();
    for (size_t i = 0; i < v->u.map.n; i++)
      json_object_setn_new_nocheck(o, v->u.map.keys[i], v->u.map.klen[i], stored(v->u.map.vals[i], addr, v->u.map.keys[i]));
    return o;
  }
  default: return idp_value_to_json(v, NULL);
  }
}

static int fail(const char *what, const idp_state_error *err) {
  fprintf(stderr, "mkplanstate: %s: %s\n", what, err->msg);
  return -1;
}

/* Adds instance in to st, as created. */
static int add(idp_state *st, const idp_inst *in, idp_state_error *err) {
  idp_state_res *r;
  if (idp_state_add(st, in->addr, in->driver_kind, &r, err) < 0) return fail(in->addr, err);
  idp_state_res_set_status(st, r, IDP_STATE_CREATED);
  size_t nd = idp_deps_count(in->deps);
  idp_state_res_set_deps(st, r, nd ? in->deps->addr : NULL, nd);
  const idp_value *m = in->inputs;
  for (size_t i = 0; m && i < m->u.map.n; i++) {
    json_t *j = stored(m->u.map.vals[i], in->addr, m->u.map.keys[i]);
    int rc = idp_state_res_set(st, r, IDP_STATE_INPUTS, m->u.map.keys[i], j, idp_value_has_secret(m->u.map.vals[i]), err);
    json_decref(j);
    if (rc < 0) return fail(in->addr, err);
  }
  const idp_drv_kind *k = idp_driver_find_kind(in->driver_kind, NULL);
  for (size_t i = 0; k && i < k->io.noutputs; i++) {
    const idp_drv_output *o = &k->io.outputs[i];
    json_t *j = placeholder(kind_of(o->type), in->addr, o->name);
    int rc = idp_state_res_set(st, r, IDP_STATE_OUTPUTS, o->name, j, o->secret, err);
    json_decref(j);
    if (rc < 0) return fail(in->addr, err);
  }
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  if (argc != 2) {
    fputs("usage: mkplanstate DIR\n", stderr);
    return 2;
  }
  const char *dir = argv[1];
  int rc = 1;
  idp_state_error err = {0};
  idp_state_key key;
  if (idp_state_key_from_env(&key, &err) < 0) {
    fail("IDP_STATE_KEY", &err);
    return 1;
  }

  /* The spec: DIR's *.idp files in name order, as idp reads a directory. */
  char **paths = NULL;
  size_t npaths = 0;
  DIR *d = opendir(dir);
  if (!d) {
    perror(dir);
    return 1;
  }
  for (struct dirent *e; (e = readdir(d));) {
    size_t n = strlen(e->d_name);
    if (e->d_name[0] == '.' || n < 5 || strcmp(e->d_name + n - 4, ".idp") != 0) continue;
    paths = idp_xrealloc(paths, (npaths + 1) * sizeof *paths);
    idp_buf p = {0};
    idp_buf_printf(&p, "%s/%s", dir, e->d_name);
    paths[npaths++] = p.data;
  }
  closedir(d);
  qsort(paths, npaths, sizeof *paths, cmp_str);

  idp_diags diags;
  idp_diags_init(&diags);
  idp_arena arena;
  idp_arena_init(&arena);
  idp_source **srcs = idp_xcalloc(npaths + 1, sizeof *srcs);
  idp_file **files = idp_xcalloc(npaths + 1, sizeof *files);
  idp_graph *g = NULL;
  idp_backend *b = idp_backend_local(dir);
  idp_state **states = NULL;
  size_t nstates = 0;
  for (size_t i = 0; i < npaths; i++) {
    if (!(srcs[i] = idp_source_load(paths[i]))) {
      perror(paths[i]);
      goto out;
    }
    idp_parse(srcs[i], &arena, &diags, &files[i]);
  }
  if (!diags.errors) g = idp_instantiate(files, npaths, NULL, 0, dir, &diags);
  if (diags.errors) {
    idp_diags_print(&diags, stderr);
    goto out;
  }

  /* One state per environment met, plus the shared one (index 0). */
  states = idp_xcalloc(g->n + 2, sizeof *states);
  states[nstates++] = idp_state_new(NULL, NULL);
  idp_state_set_key(states[0], &key);
  for (size_t i = 0; i < g->n; i++) {
    const idp_inst *in = g->v[i];
    idp_state *st = NULL;
    for (size_t s = 0; s < nstates && !st; s++) {
      const char *e = idp_state_env(states[s]);
      if ((!e && !in->env) || (e && in->env && strcmp(e, in->env) == 0)) st = states[s];
    }
    if (!st) {
      st = states[nstates++] = idp_state_new(in->env, NULL);
      idp_state_set_key(st, &key);
    }
    if (add(st, in, &err) < 0) goto out;
  }
  for (size_t s = 0; s < nstates; s++) {
    const char *e = idp_state_env(states[s]);
    idp_state *old = NULL;
    if (idp_backend_lock(b, e, 0, "mkplanstate", &err) < 0 || idp_backend_read(b, e, &key, &old, &err) < 0) {
      idp_state_free(old);
      fail(e ? e : "_shared", &err);
      goto out;
    }
    /* Replace what is there: the fresh state takes the file's lineage and serial. */
    if (idp_state_lineage(old)) idp_state_rollback(states[s], idp_state_lineage(old), idp_state_serial(old));
    idp_state_free(old);
    if (idp_backend_write(b, states[s], NULL, &err) < 0) {
      fail(e ? e : "_shared", &err);
      goto out;
    }
    idp_backend_unlock(b, e);
  }
  printf("mkplanstate: %zu resources in %zu states\n", g->n, nstates);
  rc = 0;
out:
  for (size_t s = 0; s < nstates; s++) idp_state_free(states[s]);
  free(states);
  idp_backend_free(b);
  idp_graph_free(g);
  for (size_t i = 0; i < npaths; i++) {
    idp_source_free(srcs[i]);
    free(paths[i]);
  }
  free(srcs);
  free(files);
  free(paths);
  idp_arena_free(&arena);
  idp_diags_free(&diags);
  idp_state_key_wipe(&key);
  return rc;
}
