/* planner.c - desired instances against states: the plan (planner.h). */
#include "planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/driver.h"
#include "util.h"

const char *idp_plan_action_name(idp_plan_action a) {
  switch (a) {
#define X(e, s) \
  case IDP_PLAN_##e: return s;
    IDP_PLAN_ACTIONS(X)
#undef X
  }
  return "?";
}

/* --- stored values -------------------------------------------------------------------------- */

/* A JSON value as a plan value: sealed parts, and those the secret mark tree sm marks, become
 * secret-marked placeholders; those the unknown mark tree um marks, unknowns. */
static idp_value *from_marked(idp_arena *a, const json_t *j, const json_t *um, const json_t *sm) {
  if (json_is_true(um)) return idp_value_unknown(a, IDP_V_UNKNOWN);
  if (json_is_true(sm) || idp_state_is_sealed(j)) return idp_value_taint(a, idp_value_null(a), NULL, true);
  if (json_is_object(j)) {
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)j, k, x)
      idp_map_builder_add(&mb, k, strlen(k), from_marked(a, x, idp_json_mark_at(um, k, 0), idp_json_mark_at(sm, k, 0)));
    return idp_map_builder_build(&mb, NULL);
  }
  if (json_is_array(j)) {
    size_t n = json_array_size(j);
    idp_value **items = idp_arena_alloc(a, (n ? n : 1) * sizeof *items);
    for (size_t i = 0; i < n; i++)
      items[i] = from_marked(a, json_array_get(j, i), idp_json_mark_at(um, NULL, i), idp_json_mark_at(sm, NULL, i));
    return idp_value_list(a, items, n);
  }
  idp_value *v = idp_value_from_json(a, j);
  return v ? v : idp_value_null(a);
}

/* A stored JSON value as a plan value; sealed parts become secret-marked placeholders. */
static idp_value *from_stored(idp_arena *a, const json_t *j) { return from_marked(a, j, NULL, NULL); }

/* --- comparison ----------------------------------------------------------------------------- */

typedef struct cmp_ctx {
  const idp_state *st;
  const char *addr;
  const idp_state_key *key;
  const idp_graph *g;
  const idp_plan_action *actions; /* per graph index, decided so far (dependencies come first) */
  idp_state_error *err;
  int rc;
} cmp_ctx;

static long graph_index(const idp_graph *g, const char *addr) {
  size_t lo = 0, hi = g->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(g->v[mid]->addr, addr);
    if (c == 0) return (long)mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/* An unknown reads back what the state holds when everything it derives from stays as it is. */
static bool unknown_resolves(const cmp_ctx *c, const idp_value *v) {
  if (!v->deps || v->deps->n == 0) return false;
  for (size_t i = 0; i < v->deps->n; i++) {
    long k = graph_index(c->g, v->deps->addr[i]);
    if (k < 0 || c->actions[k] != IDP_PLAN_NOOP) return false;
  }
  return true;
}

/* True if desired d differs (or may differ) from stored s; path: the attribute path for AAD. */
static bool differs(cmp_ctx *c, const idp_value *d, const json_t *s, idp_buf *path) {
  if (c->rc) return true;
  if (d->kind == IDP_V_UNKNOWN) return !unknown_resolves(c, d);
  if (idp_state_is_sealed(s)) {
    json_t *plain = NULL;
    int rc = idp_state_unseal(&plain, c->key, c->addr, idp_buf_cstr(path), s, c->err);
    if (rc < 0) {
      c->rc = rc;
      return true;
    }
    bool r = differs(c, d, plain, path);
    json_decref(plain);
    return r;
  }
  switch (d->kind) {
  case IDP_V_NULL: return !json_is_null(s);
  case IDP_V_BOOL: return !json_is_boolean(s) || json_is_true(s) != d->u.boolean;
  case IDP_V_NUMBER: return !json_is_number(s) || json_number_value(s) != d->u.number;
  case IDP_V_STRING:
    return !json_is_string(s) || json_string_length(s) != d->u.string.len ||
           memcmp(json_string_value(s), d->u.string.s, d->u.string.len) != 0;
  case IDP_V_LIST: {
    if (!json_is_array(s) || json_array_size(s) != d->u.list.n) return true;
    size_t mark = path->len;
    for (size_t i = 0; i < d->u.list.n; i++) {
      path->len = mark;
      idp_buf_printf(path, "/%zu", i);
      if (differs(c, d->u.list.items[i], json_array_get(s, i), path)) {
        path->len = mark;
        return true;
      }
    }
    path->len = mark;
    return false;
  }
  case IDP_V_MAP: {
    if (!json_is_object(s) || json_object_size(s) != d->u.map.n) return true;
    size_t mark = path->len;
    for (size_t i = 0; i < d->u.map.n; i++) {
      json_t *x = json_object_get(s, d->u.map.keys[i]);
      path->len = mark;
      idp_buf_printf(path, "/%s", d->u.map.keys[i]);
      if (!x || differs(c, d->u.map.vals[i], x, path)) {
        path->len = mark;
        return true;
      }
    }
    path->len = mark;
    return false;
  }
  case IDP_V_UNKNOWN: break;
  }
  return true;
}

/* --- ordering ------------------------------------------------------------------------------- */

/* Kahn's algorithm over nodes 0..n) (index order is address order) with edges from[i] -> to[i]:
 * fills order[0..n); ties by the lowest index. Nodes left in a cycle follow in index order. */
static void topo(size_t n, const size_t *from, const size_t *to, size_t ne, size_t *order) {
  size_t *indeg = idp_xcalloc(n + 1, sizeof *indeg);
  size_t *start = idp_xcalloc(n + 2, sizeof *start);
  size_t *adj = idp_xcalloc(ne + 1, sizeof *adj);
  for (size_t e = 0; e < ne; e++) {
    indeg[to[e]]++;
    start[from[e] + 1]++;
  }
  for (size_t i = 0; i < n; i++) start[i + 1] += start[i];
  size_t *fill = idp_xcalloc(n + 1, sizeof *fill);
  for (size_t e = 0; e < ne; e++) adj[start[from[e]] + fill[from[e]]++] = to[e];
  /* a binary min-heap of ready nodes */
  size_t *heap = idp_xcalloc(n + 1, sizeof *heap), hn = 0, k = 0;
  bool *done = idp_xcalloc(n + 1, sizeof *done);
#define PUSH(x)                                                    \
  do {                                                             \
    size_t j_ = hn++;                                              \
    heap[j_] = (x);                                                \
    while (j_ && heap[(j_ - 1) / 2] > heap[j_]) {                  \
      size_t t_ = heap[j_];                                        \
      heap[j_] = heap[(j_ - 1) / 2];                               \
      heap[(j_ - 1) / 2] = t_;                                     \
      j_ = (j_ - 1) / 2;                                           \
    }                                                              \
  } while (0)
  for (size_t i = 0; i < n; i++)
    if (!indeg[i]) PUSH(i);
  while (hn) {
    size_t x = heap[0];
    heap[0] = heap[--hn];
    for (size_t j = 0;;) {
      size_t l = 2 * j + 1, r = l + 1, m = j;
      if (l < hn && heap[l] < heap[m]) m = l;
      if (r < hn && heap[r] < heap[m]) m = r;
      if (m == j) break;
      size_t t = heap[j];
      heap[j] = heap[m];
      heap[m] = t;
      j = m;
    }
    order[k++] = x;
    done[x] = true;
    for (size_t e = start[x]; e < start[x + 1]; e++)
      if (--indeg[adj[e]] == 0) PUSH(adj[e]);
  }
#undef PUSH
  for (size_t i = 0; i < n && k < n; i++)
    if (!done[i]) order[k++] = i;
  free(indeg);
  free(start);
  free(adj);
  free(fill);
  free(heap);
  free(done);
}

/* --- building ------------------------------------------------------------------------------- */

static int cmp_attr(const void *x, const void *y) {
  const idp_plan_attr *a = x, *b = y;
  if (a->computed != b->computed) return a->computed ? 1 : -1;
  return strcmp(a->name, b->name);
}

static bool kind_has_secret_output(const idp_drv_kind *k) {
  for (size_t i = 0; k && i < k->io.noutputs; i++)
    if (k->io.outputs[i].secret) return true;
  return false;
}

static bool ignored(const idp_lifecycle *life, const char *name) {
  if (life->ignore_all) return true;
  for (size_t i = 0; i < life->nignore; i++)
    if (strcmp(life->ignore[i], name) == 0) return true;
  return false;
}

idp_value *idp_plan_stored_input(idp_arena *a, const idp_state *st, const idp_state_res *sr, const char *name,
                                  const idp_value *desired, idp_state_error *err) {
  const json_t *s = json_object_get(idp_state_res_map(sr, IDP_STATE_INPUTS), name);
  if (!s) return NULL;
  if (!idp_state_is_sealed(s)) return from_stored(a, s);
  json_t *j = NULL;
  if (idp_state_res_get(st, sr, IDP_STATE_INPUTS, name, &j, NULL, err) < 0) return NULL;
  idp_value *v = idp_value_from_json(a, j);
  json_decref(j);
  if (!v || v->kind != IDP_V_MAP || !desired || desired->kind != IDP_V_MAP || desired->secret)
    return idp_value_taint(a, v ? v : idp_value_null(a), NULL, true);
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  for (size_t i = 0; i < v->u.map.n; i++) {
    const idp_value *d = idp_map_get(desired, v->u.map.keys[i], v->u.map.klen[i]);
    bool secret = !d || idp_value_has_secret(d) || d->kind == IDP_V_UNKNOWN;
    idp_map_builder_add(&mb, v->u.map.keys[i], v->u.map.klen[i], idp_value_taint(a, v->u.map.vals[i], NULL, secret));
  }
  return idp_map_builder_build(&mb, NULL);
}

/* What an ignored input keeps: idp_plan_stored_input. NULL with c->rc set when it does not open. */
static idp_value *kept(idp_arena *a, cmp_ctx *c, idp_state_res *sr, const char *name, const idp_value *desired) {
  idp_value *v = idp_plan_stored_input(a, c->st, sr, name, desired, c->err);
  if (!v) c->rc = c->err->code ? c->err->code : IDP_STATE_ERROR;
  return v;
}

/* Fills r's attributes and action for desired inst against stored sr (may be NULL). replace: asked
 * for with -replace. An input lifecycle.ignore_changes names keeps its stored value (after =
 * before), unless the resource is created. */
static int diff_one(idp_plan *p, cmp_ctx *c, const idp_inst *inst, idp_state_res *sr, bool replace,
                    idp_plan_res *r) {
  idp_arena *a = &p->arena;
  const idp_drv_kind *kind = idp_driver_find_kind(inst->driver_kind, NULL);
  const idp_value *in = inst->inputs;
  const json_t *stored = sr ? idp_state_res_map(sr, IDP_STATE_INPUTS) : NULL;
  size_t nin = in && in->kind == IDP_V_MAP ? in->u.map.n : 0;
  size_t cap = nin + (stored ? json_object_size(stored) : 0) + (kind ? kind->io.noutputs : 0) + 1;
  r->attrs = idp_arena_alloc(a, cap * sizeof *r->attrs);
  r->nattrs = 0;
  r->secret_state = kind_has_secret_output(kind) || (in && idp_value_has_secret(in));
  bool create = !sr || idp_state_res_status(sr) == IDP_STATE_PENDING_CREATE;
  bool any = false, forces = false;
  idp_buf path = {0};
  for (size_t i = 0; i < nin; i++) {
    idp_plan_attr *at = &r->attrs[r->nattrs++];
    memset(at, 0, sizeof *at);
    at->name = in->u.map.keys[i];
    at->after = in->u.map.vals[i];
    json_t *s = stored ? json_object_get(stored, at->name) : NULL;
    at->stored = s;
    if (!create && ignored(&inst->life, at->name)) {
      if (!s) { /* not set before: stays unset */
        r->nattrs--;
        continue;
      }
      at->before = from_stored(a, s);
      if (!(at->after = kept(a, c, sr, at->name, at->after))) {
        idp_buf_free(&path);
        return c->rc;
      }
      continue;
    }
    if (create || !s) {
      at->changed = true;
    } else {
      path.len = 0;
      idp_buf_printf(&path, "inputs/%s", at->name);
      at->changed = differs(c, at->after, s, &path);
      if (c->rc) {
        idp_buf_free(&path);
        return c->rc;
      }
    }
    const idp_drv_input *di = kind ? idp_drv_find_input(&kind->io, at->name) : NULL;
    if (at->changed && !create && di && di->force_new) at->forces = forces = true;
    any |= at->changed;
  }
  idp_buf_free(&path);
  if (stored && !create) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)stored, k, x) {
      if (in && idp_map_get(in, k, strlen(k))) continue;
      idp_plan_attr *at = &r->attrs[r->nattrs++];
      memset(at, 0, sizeof *at);
      at->name = idp_arena_strndup(a, k, strlen(k));
      at->before = from_stored(a, x);
      if (ignored(&inst->life, k)) {
        if (!(at->after = kept(a, c, sr, k, NULL))) return c->rc;
        continue;
      }
      at->changed = true;
      const idp_drv_input *di = kind ? idp_drv_find_input(&kind->io, k) : NULL;
      if (di && di->force_new) at->forces = forces = true;
      any = true;
    }
  }
  idp_state_status st = sr ? idp_state_res_status(sr) : IDP_STATE_CREATED;
  if (create) {
    r->action = IDP_PLAN_CREATE;
    if (sr) r->note = "pending-create in state: the object may exist; apply adopts it (decision 11)";
  } else if (st == IDP_STATE_TAINTED) {
    r->action = IDP_PLAN_REPLACE;
    r->note = "tainted";
  } else if (st == IDP_STATE_DELETING) {
    r->action = IDP_PLAN_REPLACE;
    r->note = "a delete was started";
  } else if (replace) {
    r->action = IDP_PLAN_REPLACE;
    r->note = "asked for with -replace";
  } else if (forces) {
    r->action = IDP_PLAN_REPLACE;
  } else {
    r->action = any ? IDP_PLAN_UPDATE : IDP_PLAN_NOOP;
  }
  r->create_before_destroy = r->action == IDP_PLAN_REPLACE && inst->life.create_before_destroy;
  for (size_t i = 0; r->action != IDP_PLAN_NOOP && i < r->nattrs; i++)
    if (r->attrs[i].stored && !r->attrs[i].before) r->attrs[i].before = from_stored(a, r->attrs[i].stored);
  /* Computed outputs are new after a create or a replace. */
  if ((r->action == IDP_PLAN_CREATE || r->action == IDP_PLAN_REPLACE) && kind) {
    for (size_t i = 0; i < kind->io.noutputs; i++) {
      const idp_drv_output *o = &kind->io.outputs[i];
      if (!o->computed || (in && idp_map_get(in, o->name, strlen(o->name)))) continue;
      idp_plan_attr *at = &r->attrs[r->nattrs++];
      memset(at, 0, sizeof *at);
      at->name = o->name;
      at->after = idp_value_unknown(a, IDP_V_UNKNOWN);
      at->changed = at->computed = true;
    }
  }
  qsort(r->attrs, r->nattrs, sizeof *r->attrs, cmp_attr);
  return 0;
}

static void add_delete(idp_plan *p, idp_state_res *sr, const char *env, idp_plan_res *r) {
  idp_arena *a = &p->arena;
  memset(r, 0, sizeof *r);
  r->addr = idp_arena_strndup(a, idp_state_res_address(sr), strlen(idp_state_res_address(sr)));
  r->driver = idp_arena_strndup(a, idp_state_res_driver(sr), strlen(idp_state_res_driver(sr)));
  r->env = env ? idp_arena_strndup(a, env, strlen(env)) : NULL;
  r->action = IDP_PLAN_DELETE;
  r->ndeps = idp_state_res_ndeps(sr);
  const char **deps = idp_arena_alloc(a, (r->ndeps + 1) * sizeof *deps);
  for (size_t i = 0; i < r->ndeps; i++) deps[i] = idp_arena_strndup(a, idp_state_res_dep(sr, i), strlen(idp_state_res_dep(sr, i)));
  r->deps = deps;
  const json_t *stored = idp_state_res_map(sr, IDP_STATE_INPUTS);
  r->attrs = idp_arena_alloc(a, (json_object_size(stored) + 1) * sizeof *r->attrs);
  const char *k;
  json_t *x;
  json_object_foreach((json_t *)stored, k, x) {
    idp_plan_attr *at = &r->attrs[r->nattrs++];
    memset(at, 0, sizeof *at);
    at->name = idp_arena_strndup(a, k, strlen(k));
    at->before = from_stored(a, x);
    at->changed = true;
  }
  qsort(r->attrs, r->nattrs, sizeof *r->attrs, cmp_attr);
}

static idp_state *state_of(idp_state *const *states, size_t n, const char *env) {
  for (size_t i = 0; i < n; i++) {
    const char *e = idp_state_env(states[i]);
    if ((!e && !env) || (e && env && strcmp(e, env) == 0)) return states[i];
  }
  return NULL;
}

typedef struct del_ent {
  idp_state_res *res;
  const char *env;
} del_ent;

static int cmp_del(const void *x, const void *y) {
  return strcmp(idp_state_res_address(((const del_ent *)x)->res), idp_state_res_address(((const del_ent *)y)->res));
}

static long del_index(const del_ent *d, size_t n, const char *addr) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(idp_state_res_address(d[mid].res), addr);
    if (c == 0) return (long)mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

static void count_actions(idp_plan *p) {
  p->add = p->change = p->destroy = 0;
  for (size_t i = 0; i < p->n; i++) {
    switch (p->v[i].action) {
    case IDP_PLAN_CREATE: p->add++; break;
    case IDP_PLAN_UPDATE: p->change++; break;
    case IDP_PLAN_REPLACE: p->add++, p->destroy++; break;
    case IDP_PLAN_DELETE: p->destroy++; break;
    case IDP_PLAN_NOOP: break;
    }
  }
}

bool idp_plan_addr_under(const char *addr, const char *target) {
  size_t n = strlen(target);
  return strncmp(addr, target, n) == 0 && (addr[n] == '\0' || addr[n] == '/');
}

static bool targeted(const idp_plan_opts *o, const char *addr) {
  for (size_t i = 0; i < o->ntargets; i++)
    if (idp_plan_addr_under(addr, o->targets[i])) return true;
  return false;
}

static bool requested_replace(const idp_plan_opts *o, const char *addr) {
  for (size_t i = 0; i < o->nreplace; i++)
    if (strcmp(o->replace[i], addr) == 0) return true;
  return false;
}

typedef struct edges {
  size_t *from, *to;
  size_t n, cap;
} edges;

static void edge_add(edges *e, size_t from, size_t to) {
  if (e->n == e->cap) {
    e->cap = e->cap ? 2 * e->cap : 64;
    e->from = idp_xrealloc(e->from, e->cap * sizeof *e->from);
    e->to = idp_xrealloc(e->to, e->cap * sizeof *e->to);
  }
  e->from[e->n] = from;
  e->to[e->n++] = to;
}

/* "FILE:LINE:COL" of an instance's block, for refusals. */
static void block_where(char *buf, size_t size, const idp_inst *in) {
  unsigned line, col;
  idp_source_linecol(in->src, in->block->labels ? in->block->labels->loc.start : in->block->loc.start, &line, &col);
  snprintf(buf, size, "%s:%u:%u", in->src->path, line, col);
}

/* -target and -replace must name something of this run. */
static int check_flags(const idp_plan_opts *o, const idp_graph *g, idp_state *const *states, size_t nstates,
                       idp_state_error *err) {
  for (size_t t = 0; t < o->ntargets; t++) {
    bool hit = false;
    for (size_t i = 0; i < g->n && !hit; i++) hit = idp_plan_addr_under(g->v[i]->addr, o->targets[t]);
    for (size_t s = 0; s < nstates && !hit; s++)
      for (size_t i = 0; i < idp_state_count(states[s]) && !hit; i++)
        hit = idp_plan_addr_under(idp_state_res_address(idp_state_at(states[s], i)), o->targets[t]);
    if (!hit)
      return idp_state_fail(err, IDP_PLAN_EREFUSED,
                            "-target %s names no resource of this run\n"
                            "hint: 'idp state list' and 'idp graph' show the addresses; a target is an address or "
                            "a prefix of one at a '/' (env.dev, env.dev/app.shop)",
                            o->targets[t]);
  }
  for (size_t r = 0; r < o->nreplace; r++) {
    const char *addr = o->replace[r];
    long k = graph_index(g, addr);
    idp_state *st = k >= 0 ? state_of(states, nstates, g->v[k]->env) : NULL;
    idp_state_res *sr = st ? idp_state_find(st, addr) : NULL;
    if (k < 0)
      return idp_state_fail(err, IDP_PLAN_EREFUSED,
                            "-replace %s names no resource of this run\n"
                            "hint: give the full address of one resource, as 'idp state list' prints it",
                            addr);
    if (!sr || idp_state_res_status(sr) == IDP_STATE_PENDING_CREATE)
      return idp_state_fail(err, IDP_PLAN_EREFUSED,
                            "-replace %s: it is not in the state yet, so there is nothing to replace\n"
                            "hint: plan without -replace: it will be created", addr);
  }
  return 0;
}

/* Which desired instances the plan covers: all, or with -target the targeted ones and everything
 * they depend on (transitively). */
static bool *cover(const idp_graph *g, const idp_plan_opts *o) {
  bool *in = idp_xcalloc(g->n + 1, sizeof *in);
  size_t *stack = idp_xmalloc((g->n + 1) * sizeof *stack), sp = 0;
  for (size_t i = 0; i < g->n; i++) {
    if (o->ntargets && !targeted(o, g->v[i]->addr)) continue;
    in[i] = true;
    stack[sp++] = i;
  }
  while (sp && !o->exact) {
    const idp_deps *d = g->v[stack[--sp]]->deps;
    for (size_t j = 0; j < idp_deps_count(d); j++) {
      long k = graph_index(g, d->addr[j]);
      if (k >= 0 && !in[k]) {
        in[k] = true;
        stack[sp++] = (size_t)k;
      }
    }
  }
  free(stack);
  return in;
}

/* The resources to delete: of the deletable states, those g lacks (with -destroy: all), narrowed
 * by -target (when destroying, what depends on a target in the same state goes with it). Sorted by
 * address. */
static del_ent *deletes(const idp_graph *g, idp_state *const *states, const bool *deletable, size_t nstates,
                        const idp_plan_opts *o, size_t *nout) {
  size_t n = 0, cap = 16;
  del_ent *v = idp_xmalloc(cap * sizeof *v);
  for (size_t s = 0; s < nstates; s++) {
    if (!deletable[s]) continue;
    for (size_t i = 0; i < idp_state_count(states[s]); i++) {
      idp_state_res *sr = idp_state_at(states[s], i);
      if (!o->destroy && graph_index(g, idp_state_res_address(sr)) >= 0) continue;
      if (n == cap) v = idp_xrealloc(v, (cap *= 2) * sizeof *v);
      v[n].res = sr;
      v[n++].env = idp_state_env(states[s]);
    }
  }
  qsort(v, n, sizeof *v, cmp_del);
  if (!o->ntargets) {
    *nout = n;
    return v;
  }
  bool *keep = idp_xcalloc(n + 1, sizeof *keep);
  for (size_t i = 0; i < n; i++) keep[i] = targeted(o, idp_state_res_address(v[i].res));
  /* with -destroy, a dependent in the same state goes too: to a fixed point (chains are short) */
  for (bool grew = o->destroy; grew;) {
    grew = false;
    for (size_t i = 0; i < n; i++) {
      if (keep[i]) continue;
      for (size_t j = 0; j < idp_state_res_ndeps(v[i].res) && !keep[i]; j++) {
        long k = del_index(v, n, idp_state_res_dep(v[i].res, j));
        if (k >= 0 && keep[k] && v[k].env == v[i].env) keep[i] = grew = true;
      }
    }
  }
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    if (keep[i]) v[w++] = v[i];
  free(keep);
  *nout = w;
  return v;
}

/* Decision 6: a top-level resource is not deleted while a resource that stays depends on it. */
static int check_shared_deletes(const idp_graph *g, idp_state *const *states, size_t nstates, const del_ent *dels,
                                size_t nd, const idp_plan_opts *o, idp_state_error *err) {
  for (size_t i = 0; i < nd; i++) {
    if (dels[i].env) continue;
    const char *addr = idp_state_res_address(dels[i].res);
    for (size_t k = 0; k < g->n && !o->destroy; k++) {
      const idp_deps *d = g->v[k]->deps;
      for (size_t j = 0; j < idp_deps_count(d); j++)
        if (strcmp(d->addr[j], addr) == 0)
          return idp_state_fail(err, IDP_PLAN_EREFUSED,
                                "%s cannot be destroyed: %s%s still depends on it\n"
                                "hint: destroy that environment first, or change it so it no longer reaches %s",
                                addr, g->v[k]->env ? "environment " : "", g->v[k]->env ? g->v[k]->env : g->v[k]->addr,
                                addr);
    }
    for (size_t s = 0; s < nstates; s++)
      for (size_t r = 0; r < idp_state_count(states[s]); r++) {
        idp_state_res *sr = idp_state_at(states[s], r);
        if (del_index(dels, nd, idp_state_res_address(sr)) >= 0) continue;
        for (size_t j = 0; j < idp_state_res_ndeps(sr); j++) {
          if (strcmp(idp_state_res_dep(sr, j), addr) != 0) continue;
          const char *env = idp_state_env(states[s]);
          return idp_state_fail(err, IDP_PLAN_EREFUSED,
                                "%s cannot be destroyed: %s%s still depends on it (%s)\n"
                                "hint: destroy that environment first (idp plan -destroy -env %s), or change it "
                                "so it no longer reaches %s",
                                addr, env ? "environment " : "", env ? env : "", idp_state_res_address(sr),
                                env ? env : "...", addr);
        }
      }
  }
  return 0;
}

/* lifecycle prevent_destroy: a plan that would delete or replace such a resource is refused. */
static int check_prevent_destroy(const idp_plan *p, const idp_graph *g, idp_state_error *err) {
  for (size_t i = 0; i < p->n; i++) {
    const idp_plan_res *r = &p->v[i];
    if (r->action != IDP_PLAN_DELETE && r->action != IDP_PLAN_REPLACE) continue;
    long k = graph_index(g, r->addr);
    if (k < 0 || !g->v[k]->life.prevent_destroy) continue;
    char why[512] = "";
    if (r->action == IDP_PLAN_REPLACE) {
      size_t w = 0;
      for (size_t j = 0; j < r->nattrs && w < sizeof why; j++)
        if (r->attrs[j].forces)
          w += (size_t)snprintf(why + w, sizeof why - w, "%s%s", w ? ", " : " (", r->attrs[j].name);
      if (w && w < sizeof why) snprintf(why + w, sizeof why - w, " forces replacement)");
      else if (r->note) snprintf(why, sizeof why, " (%s)", r->note);
    }
    char at[512];
    block_where(at, sizeof at, g->v[k]);
    return idp_state_fail(err, IDP_PLAN_EREFUSED,
                          "%s has lifecycle prevent_destroy (%s), and this plan would %s it%s\n"
                          "hint: undo the change that destroys it, or remove prevent_destroy from its lifecycle "
                          "block first",
                          r->addr, at, r->action == IDP_PLAN_DELETE ? "destroy" : "replace", why);
  }
  return 0;
}

int idp_plan_make(idp_plan **out, const idp_graph *g, idp_state *const *states, const bool *deletable,
                  size_t nstates, const idp_plan_opts *o, idp_state_error *err) {
  static const idp_plan_opts plain = {0};
  if (!o) o = &plain;
  *out = NULL;
  int rc = check_flags(o, g, states, nstates, err);
  if (rc < 0) return rc;
  idp_plan *p = idp_xcalloc(1, sizeof *p);
  idp_arena_init(&p->arena);
  /* desired, in dependency order; with -destroy, none */
  bool *in = o->destroy ? idp_xcalloc(g->n + 1, sizeof *in) : cover(g, o);
  edges e = {0};
  for (size_t i = 0; i < g->n; i++) {
    const idp_deps *d = g->v[i]->deps;
    for (size_t j = 0; d && j < d->n; j++) {
      long k = graph_index(g, d->addr[j]);
      if (k >= 0 && (size_t)k != i) edge_add(&e, (size_t)k, i);
    }
  }
  size_t *order = idp_xcalloc(g->n + 1, sizeof *order);
  topo(g->n, e.from, e.to, e.n, order);
  size_t nd = 0;
  del_ent *dels = deletes(g, states, deletable, nstates, o, &nd);
  e.n = 0;
  for (size_t i = 0; i < nd; i++) {
    for (size_t j = 0; j < idp_state_res_ndeps(dels[i].res); j++) {
      long k = del_index(dels, nd, idp_state_res_dep(dels[i].res, j));
      if (k >= 0 && (size_t)k != i) edge_add(&e, i, (size_t)k); /* the dependent goes first */
    }
  }
  size_t *dorder = idp_xcalloc(nd + 1, sizeof *dorder);
  topo(nd, e.from, e.to, e.n, dorder);
  free(e.from);
  free(e.to);

  p->v = idp_arena_alloc(&p->arena, (g->n + nd + 1) * sizeof *p->v);
  /* per graph index; what the plan does not cover stays as it is (a no-op) */
  idp_plan_action *actions = idp_xcalloc(g->n + 1, sizeof *actions);
  idp_state_key key;
  bool have_key = idp_state_key_from_env(&key, NULL) == 0;
  for (size_t oi = 0; oi < g->n && rc == 0; oi++) {
    if (!in[order[oi]]) continue;
    const idp_inst *inst = g->v[order[oi]];
    idp_plan_res *r = &p->v[p->n++];
    memset(r, 0, sizeof *r);
    r->addr = inst->addr;
    r->driver = inst->driver_kind;
    r->env = inst->env;
    r->inst = inst;
    r->deps = inst->deps ? inst->deps->addr : NULL;
    r->ndeps = idp_deps_count(inst->deps);
    idp_state *st = state_of(states, nstates, inst->env);
    idp_state_res *sr = st ? idp_state_find(st, inst->addr) : NULL;
    cmp_ctx c = {.st = st, .addr = inst->addr, .g = g, .actions = actions, .err = err, .key = have_key ? &key : NULL};
    rc = diff_one(p, &c, inst, sr, requested_replace(o, inst->addr), r);
    actions[order[oi]] = r->action;
  }
  if (have_key) idp_state_key_wipe(&key);
  if (rc == 0) rc = check_shared_deletes(g, states, nstates, dels, nd, o, err);
  for (size_t oi = 0; oi < nd && rc == 0; oi++) add_delete(p, dels[dorder[oi]].res, dels[dorder[oi]].env, &p->v[p->n++]);
  if (rc == 0) rc = check_prevent_destroy(p, g, err);
  free(in);
  free(actions);
  free(order);
  free(dorder);
  free(dels);
  if (rc < 0) {
    idp_plan_free(p);
    return rc;
  }
  count_actions(p);
  *out = p;
  return 0;
}

void idp_plan_free(idp_plan *p) {
  if (!p) return;
  idp_arena_free(&p->arena);
  free(p);
}

bool idp_plan_has_changes(const idp_plan *p) { return p->add + p->change + p->destroy > 0; }

/* --- text ----------------------------------------------------------------------------------- */

/* ANSI SGR codes, written only when the caller asks for colour (a terminal: cli/term.h). */
#define SGR_RESET "\033[0m"
#define SGR_BOLD "\033[1m"
#define SGR_RED "\033[31m"
#define SGR_GREEN "\033[32m"
#define SGR_YELLOW "\033[33m"

/* A plan marker (+, ~, -, -/+, +/-): + green, ~ yellow, - red. */
static void put_sign(idp_buf *b, const char *sign, bool color) {
  for (const char *c = sign; *c; c++) {
    const char *sgr = *c == '+' ? SGR_GREEN : *c == '-' ? SGR_RED : *c == '~' ? SGR_YELLOW : NULL;
    if (color && sgr) idp_buf_printf(b, "%s%c" SGR_RESET, sgr, *c);
    else idp_buf_putc(b, *c);
  }
}

static void print_attr(idp_buf *b, const idp_plan_res *r, const idp_plan_attr *at, bool color) {
  char sign[2] = {0};
  const idp_value *before = at->before, *after = at->after;
  switch (r->action) {
  case IDP_PLAN_CREATE: sign[0] = '+'; before = NULL; break;
  case IDP_PLAN_DELETE: sign[0] = '-'; after = NULL; break;
  default: sign[0] = !before ? '+' : !after ? '-' : '~'; break;
  }
  idp_buf_puts(b, "      ");
  put_sign(b, sign, color);
  idp_buf_printf(b, " %s = ", at->name);
  if (before && after) {
    idp_value_print(b, before, 8);
    idp_buf_puts(b, " -> ");
    idp_value_print(b, after, 8);
  } else {
    idp_value_print(b, before ? before : after, 8);
  }
  if (at->forces) idp_buf_puts(b, color ? " " SGR_RED "# forces replacement" SGR_RESET : " # forces replacement");
  idp_buf_putc(b, '\n');
}

void idp_plan_print(const idp_plan *p, FILE *out) { idp_plan_print_color(p, out, false); }

void idp_plan_print_color(const idp_plan *p, FILE *out, bool color) {
  idp_buf b = {0};
  if (idp_plan_has_changes(p)) {
    idp_buf_puts(&b, "idp will perform the following actions, in dependency order:\n");
    for (size_t i = 0; i < p->n; i++) {
      const idp_plan_res *r = &p->v[i];
      const char *what, *sign;
      switch (r->action) {
      case IDP_PLAN_CREATE: what = "will be created"; sign = "+"; break;
      case IDP_PLAN_UPDATE: what = "will be updated in place"; sign = "~"; break;
      case IDP_PLAN_REPLACE:
        what = r->create_before_destroy ? "must be replaced, the new object created before the old is destroyed"
                                        : "must be replaced";
        sign = r->create_before_destroy ? "+/-" : "-/+";
        break;
      case IDP_PLAN_DELETE: what = "will be destroyed"; sign = "-"; break;
      default: continue;
      }
      idp_buf_printf(&b, "\n  %s# %s %s", color ? SGR_BOLD : "", r->addr, what);
      if (r->note) idp_buf_printf(&b, " (%s)", r->note);
      idp_buf_printf(&b, "%s\n%*s", color ? SGR_RESET : "", sign[1] ? 0 : 2, "");
      put_sign(&b, sign, color);
      idp_buf_printf(&b, " %s {\n", r->addr);
      size_t hidden = 0;
      for (size_t j = 0; j < r->nattrs; j++) {
        if (r->action == IDP_PLAN_UPDATE && !r->attrs[j].changed) {
          hidden++;
          continue;
        }
        if (r->action == IDP_PLAN_REPLACE && !r->attrs[j].changed && r->attrs[j].before) {
          idp_buf_printf(&b, "        %s = ", r->attrs[j].name);
          idp_value_print(&b, r->attrs[j].after, 8);
          idp_buf_putc(&b, '\n');
          continue;
        }
        print_attr(&b, r, &r->attrs[j], color);
      }
      if (hidden) idp_buf_printf(&b, "        # (%zu unchanged attribute%s hidden)\n", hidden, hidden == 1 ? "" : "s");
      idp_buf_puts(&b, "    }\n");
    }
    idp_buf_printf(&b, "\n%sPlan:%s %zu to add, %zu to change, %zu to destroy.\n", color ? SGR_BOLD : "",
                   color ? SGR_RESET : "", p->add, p->change, p->destroy);
  } else {
    idp_buf_puts(&b, color ? SGR_BOLD SGR_GREEN "No changes." SGR_RESET "\n" : "No changes.\n");
  }
  fwrite(idp_buf_cstr(&b), 1, b.len, out);
  idp_buf_free(&b);
}

/* --- JSON ----------------------------------------------------------------------------------- */

/* A side of a change as a map value: the attributes present on that side. */
static idp_value *side_value(idp_arena *a, const idp_plan_res *r, bool after) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  for (size_t j = 0; j < r->nattrs; j++) {
    const idp_value *v = after ? r->attrs[j].after : r->attrs[j].before;
    if (!after && !v && r->attrs[j].stored) v = from_stored(a, r->attrs[j].stored);
    if (!v) continue;
    idp_map_builder_add(&mb, r->attrs[j].name, strlen(r->attrs[j].name), (idp_value *)v);
  }
  return idp_map_builder_build(&mb, NULL);
}

typedef struct seal_ctx {
  const idp_state_key *key;
  const char *addr;
  idp_state_error *err;
  int rc;
} seal_ctx;

/* v as JSON with each secret part sealed for the address and "plan/PATH" (so it opens neither in
 * a state nor at another place of the plan); unknown parts null. */
static json_t *sealed_json(seal_ctx *c, const idp_value *v, idp_buf *path) {
  if (c->rc || v->kind == IDP_V_UNKNOWN) return json_null();
  if (v->secret) {
    json_t *plain = idp_value_to_json(v, NULL), *out = NULL;
    if (!plain) return json_null(); /* holds an unknown: nothing to keep */
    if (c->key) c->rc = idp_state_seal(&out, c->key, c->addr, idp_buf_cstr(path), plain, c->err);
    json_decref(plain);
    return out ? out : json_null();
  }
  size_t mark = path->len;
  json_t *j;
  if (v->kind == IDP_V_MAP) {
    j = json_object();
    for (size_t i = 0; i < v->u.map.n; i++) {
      path->len = mark;
      idp_buf_printf(path, "/%s", v->u.map.keys[i]);
      json_object_set_new(j, v->u.map.keys[i], sealed_json(c, v->u.map.vals[i], path));
    }
  } else if (v->kind == IDP_V_LIST) {
    j = json_array();
    for (size_t i = 0; i < v->u.list.n; i++) {
      path->len = mark;
      idp_buf_printf(path, "/%zu", i);
      json_array_append_new(j, sealed_json(c, v->u.list.items[i], path));
    }
  } else {
    j = idp_value_to_json(v, NULL);
  }
  path->len = mark;
  return j ? j : json_null();
}

static json_t *str_array(const char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(v[i]));
  return a;
}

json_t *idp_plan_json(const idp_plan *p, bool saved, const idp_state_key *key, idp_state_error *err) {
  idp_arena a;
  idp_arena_init(&a);
  json_t *arr = json_array();
  seal_ctx sc = {.key = key, .err = err};
  idp_buf path = {0};
  for (size_t i = 0; i < p->n && !sc.rc; i++) {
    const idp_plan_res *r = &p->v[i];
    json_t *o = json_object();
    json_object_set_new(o, "address", json_string(r->addr));
    json_object_set_new(o, "driver", json_string(r->driver));
    json_object_set_new(o, "env", r->env ? json_string(r->env) : json_null());
    json_object_set_new(o, "action", json_string(idp_plan_action_name(r->action)));
    if (r->note) json_object_set_new(o, "reason", json_string(r->note));
    if (r->action == IDP_PLAN_REPLACE)
      json_object_set_new(o, "replace_order", json_string(r->create_before_destroy ? "create_before_destroy"
                                                                                   : "destroy_before_create"));
    json_object_set_new(o, "dependencies", str_array(r->deps, r->ndeps));
    json_t *ch = json_object();
    idp_json_marks bm = {0}, am = {0};
    bool has_before = r->action != IDP_PLAN_CREATE, has_after = r->action != IDP_PLAN_DELETE;
    json_t *before = has_before ? idp_value_to_json(side_value(&a, r, false), &bm) : json_null();
    json_t *after = has_after ? idp_value_to_json(side_value(&a, r, true), &am) : json_null();
    if (saved && has_after) {
      /* what apply needs: the secrets of the desired side, sealed */
      json_decref(after);
      sc.addr = r->addr;
      path.len = 0;
      idp_buf_puts(&path, "plan/after");
      after = sealed_json(&sc, side_value(&a, r, true), &path);
    }
    json_object_set_new(ch, "before", before);
    json_object_set_new(ch, "after", after);
    json_object_set_new(ch, "after_unknown", am.unknown ? am.unknown : json_object());
    json_object_set_new(ch, "before_secret", bm.secret ? bm.secret : json_object());
    json_object_set_new(ch, "after_secret", am.secret ? am.secret : json_object());
    json_decref(bm.unknown);
    json_t *changed = json_array(), *rp = json_array();
    for (size_t j = 0; j < r->nattrs; j++) {
      if (r->attrs[j].changed && r->action != IDP_PLAN_NOOP) json_array_append_new(changed, json_string(r->attrs[j].name));
      if (r->attrs[j].forces) json_array_append_new(rp, json_string(r->attrs[j].name));
    }
    json_object_set_new(ch, "changed", changed);
    json_object_set_new(ch, "replace_paths", rp);
    json_object_set_new(o, "change", ch);
    json_array_append_new(arr, o);
  }
  idp_buf_free(&path);
  if (sc.rc) {
    json_decref(arr);
    idp_arena_free(&a);
    return NULL;
  }
  json_t *root = json_object();
  json_object_set_new(root, "resource_changes", arr);
  json_t *sum = json_object();
  json_object_set_new(sum, "add", json_integer((json_int_t)p->add));
  json_object_set_new(sum, "change", json_integer((json_int_t)p->change));
  json_object_set_new(sum, "destroy", json_integer((json_int_t)p->destroy));
  json_object_set_new(root, "summary", sum);
  idp_arena_free(&a);
  return root;
}

/* --- reading a plan back -------------------------------------------------------------------- */

static const char *jstr(idp_arena *a, const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? idp_arena_strndup(a, json_string_value(v), json_string_length(v)) : NULL;
}

static bool in_list(const json_t *arr, const char *name) {
  size_t i;
  json_t *x;
  json_array_foreach(arr, i, x) if (json_is_string(x) && strcmp(json_string_value(x), name) == 0) return true;
  return false;
}

static int res_from_json(idp_plan *p, const json_t *o, size_t idx, idp_plan_res *r, idp_state_error *err) {
  idp_arena *a = &p->arena;
  memset(r, 0, sizeof *r);
  r->addr = jstr(a, o, "address");
  r->driver = jstr(a, o, "driver");
  const char *action = jstr(a, o, "action");
  const json_t *env = json_object_get(o, "env"), *ch = json_object_get(o, "change");
  bool known = false;
  for (int k = IDP_PLAN_NOOP; action && k <= IDP_PLAN_DELETE && !known; k++)
    if (strcmp(action, idp_plan_action_name((idp_plan_action)k)) == 0) r->action = (idp_plan_action)k, known = true;
  if (!r->addr || !r->driver || !known || !(json_is_string(env) || json_is_null(env)) || !json_is_object(ch))
    return idp_state_fail(err, IDP_STATE_EREFUSED,
                          "resource_changes[%zu]: want address, driver, env, a known action and change", idx);
  r->env = jstr(a, o, "env");
  r->note = jstr(a, o, "reason");
  const char *order = jstr(a, o, "replace_order");
  r->create_before_destroy = order && strcmp(order, "create_before_destroy") == 0;
  const json_t *deps = json_object_get(o, "dependencies");
  r->ndeps = json_array_size(deps);
  const char **dv = idp_arena_alloc(a, (r->ndeps + 1) * sizeof *dv);
  for (size_t i = 0; i < r->ndeps; i++) dv[i] = json_is_string(json_array_get(deps, i)) ? json_string_value(json_array_get(deps, i)) : "";
  for (size_t i = 0; i < r->ndeps; i++) dv[i] = idp_arena_strndup(a, dv[i], strlen(dv[i]));
  r->deps = dv;
  const json_t *before = json_object_get(ch, "before"), *after = json_object_get(ch, "after");
  const json_t *au = json_object_get(ch, "after_unknown"), *as = json_object_get(ch, "after_secret"),
               *bs = json_object_get(ch, "before_secret"), *changed = json_object_get(ch, "changed"),
               *rp = json_object_get(ch, "replace_paths");
  size_t cap = (json_is_object(before) ? json_object_size(before) : 0) + (json_is_object(after) ? json_object_size(after) : 0) + 1;
  r->attrs = idp_arena_alloc(a, cap * sizeof *r->attrs);
  const idp_drv_kind *kind = idp_driver_find_kind(r->driver, NULL);
  const char *k;
  json_t *x;
  json_object_foreach((json_t *)after, k, x) {
    idp_plan_attr *at = &r->attrs[r->nattrs++];
    memset(at, 0, sizeof *at);
    at->name = idp_arena_strndup(a, k, strlen(k));
    at->after = from_marked(a, x, idp_json_mark_at(au, k, 0), idp_json_mark_at(as, k, 0));
    const json_t *b = json_is_object(before) ? json_object_get(before, k) : NULL;
    if (b) at->before = from_marked(a, b, NULL, idp_json_mark_at(bs, k, 0));
    at->changed = in_list(changed, k);
    at->forces = in_list(rp, k);
    at->computed = !b && kind && idp_drv_find_output(&kind->io, k) && !idp_drv_find_input(&kind->io, k);
  }
  json_object_foreach((json_t *)before, k, x) {
    if (json_is_object(after) && json_object_get(after, k)) continue;
    idp_plan_attr *at = &r->attrs[r->nattrs++];
    memset(at, 0, sizeof *at);
    at->name = idp_arena_strndup(a, k, strlen(k));
    at->before = from_marked(a, x, NULL, idp_json_mark_at(bs, k, 0));
    at->changed = r->action != IDP_PLAN_NOOP && (r->action == IDP_PLAN_DELETE || in_list(changed, k));
    at->forces = in_list(rp, k);
  }
  qsort(r->attrs, r->nattrs, sizeof *r->attrs, cmp_attr);
  return 0;
}

idp_plan *idp_plan_from_json(const json_t *j, idp_state_error *err) {
  const json_t *arr = json_object_get(j, "resource_changes");
  if (!json_is_array(arr)) {
    idp_state_fail(err, IDP_STATE_EREFUSED, "no resource_changes array");
    return NULL;
  }
  idp_plan *p = idp_xcalloc(1, sizeof *p);
  idp_arena_init(&p->arena);
  p->v = idp_arena_alloc(&p->arena, (json_array_size(arr) + 1) * sizeof *p->v);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    if (res_from_json(p, json_array_get(arr, i), i, &p->v[p->n], err) < 0) {
      idp_plan_free(p);
      return NULL;
    }
    p->n++;
  }
  count_actions(p);
  return p;
}
