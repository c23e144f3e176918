/* planner.c - desired instances against states: the plan (planner.h). */
#include "planner.h"

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

/* A stored JSON value as a plan value; sealed parts become secret-marked placeholders. */
static idp_value *from_stored(idp_arena *a, const json_t *j) {
  if (idp_state_is_sealed(j)) return idp_value_taint(a, idp_value_null(a), NULL, true);
  if (json_is_object(j)) {
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)j, k, x) idp_map_builder_add(&mb, k, strlen(k), from_stored(a, x));
    return idp_map_builder_build(&mb, NULL);
  }
  if (json_is_array(j)) {
    size_t n = json_array_size(j);
    idp_value **items = idp_arena_alloc(a, (n ? n : 1) * sizeof *items);
    for (size_t i = 0; i < n; i++) items[i] = from_stored(a, json_array_get(j, i));
    return idp_value_list(a, items, n);
  }
  idp_value *v = idp_value_from_json(a, j);
  return v ? v : idp_value_null(a);
}

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

/* Fills r's attributes and action for desired inst against stored sr (may be NULL). */
static int diff_one(idp_plan *p, cmp_ctx *c, const idp_inst *inst, idp_state_res *sr, idp_plan_res *r) {
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
    if (s) at->before = from_stored(a, s);
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
  } else if (forces) {
    r->action = IDP_PLAN_REPLACE;
  } else {
    r->action = any ? IDP_PLAN_UPDATE : IDP_PLAN_NOOP;
  }
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

int idp_plan_make(idp_plan **out, const idp_graph *g, idp_state *const *states, const bool *deletable,
                  size_t nstates, idp_state_error *err) {
  *out = NULL;
  idp_plan *p = idp_xcalloc(1, sizeof *p);
  idp_arena_init(&p->arena);
  /* desired, in dependency order */
  size_t ne = 0, cap = 16;
  size_t *from = idp_xmalloc(cap * sizeof *from), *to = idp_xmalloc(cap * sizeof *to);
  for (size_t i = 0; i < g->n; i++) {
    const idp_deps *d = g->v[i]->deps;
    for (size_t j = 0; d && j < d->n; j++) {
      long k = graph_index(g, d->addr[j]);
      if (k < 0 || (size_t)k == i) continue;
      if (ne == cap) {
        cap *= 2;
        from = idp_xrealloc(from, cap * sizeof *from);
        to = idp_xrealloc(to, cap * sizeof *to);
      }
      from[ne] = (size_t)k;
      to[ne++] = i;
    }
  }
  size_t *order = idp_xcalloc(g->n + 1, sizeof *order);
  topo(g->n, from, to, ne, order);
  /* deletes: what the deletable states hold that g does not */
  size_t nd = 0, dcap = 16;
  del_ent *dels = idp_xmalloc(dcap * sizeof *dels);
  for (size_t s = 0; s < nstates; s++) {
    if (!deletable[s]) continue;
    for (size_t i = 0; i < idp_state_count(states[s]); i++) {
      idp_state_res *sr = idp_state_at(states[s], i);
      if (graph_index(g, idp_state_res_address(sr)) >= 0) continue;
      if (nd == dcap) dels = idp_xrealloc(dels, (dcap *= 2) * sizeof *dels);
      dels[nd].res = sr;
      dels[nd++].env = idp_state_env(states[s]);
    }
  }
  qsort(dels, nd, sizeof *dels, cmp_del);
  ne = 0;
  for (size_t i = 0; i < nd; i++) {
    for (size_t j = 0; j < idp_state_res_ndeps(dels[i].res); j++) {
      long k = del_index(dels, nd, idp_state_res_dep(dels[i].res, j));
      if (k < 0 || (size_t)k == i) continue;
      if (ne == cap) {
        cap *= 2;
        from = idp_xrealloc(from, cap * sizeof *from);
        to = idp_xrealloc(to, cap * sizeof *to);
      }
      from[ne] = i; /* the dependent goes first */
      to[ne++] = (size_t)k;
    }
  }
  size_t *dorder = idp_xcalloc(nd + 1, sizeof *dorder);
  topo(nd, from, to, ne, dorder);
  free(from);
  free(to);

  p->v = idp_arena_alloc(&p->arena, (g->n + nd + 1) * sizeof *p->v);
  idp_plan_action *actions = idp_xcalloc(g->n + 1, sizeof *actions);
  int rc = 0;
  for (size_t oi = 0; oi < g->n && rc == 0; oi++) {
    const idp_inst *inst = g->v[order[oi]];
    idp_plan_res *r = &p->v[p->n++];
    memset(r, 0, sizeof *r);
    r->addr = inst->addr;
    r->driver = inst->driver_kind;
    r->env = inst->env;
    idp_state *st = state_of(states, nstates, inst->env);
    idp_state_res *sr = st ? idp_state_find(st, inst->addr) : NULL;
    idp_state_key key;
    cmp_ctx c = {.st = st, .addr = inst->addr, .g = g, .actions = actions, .err = err};
    bool have_key = idp_state_key_from_env(&key, NULL) == 0;
    c.key = have_key ? &key : NULL;
    rc = diff_one(p, &c, inst, sr, r);
    if (have_key) idp_state_key_wipe(&key);
    actions[order[oi]] = r->action;
  }
  for (size_t oi = 0; oi < nd && rc == 0; oi++) add_delete(p, dels[dorder[oi]].res, dels[dorder[oi]].env, &p->v[p->n++]);
  free(actions);
  free(order);
  free(dorder);
  free(dels);
  if (rc < 0) {
    idp_plan_free(p);
    return rc;
  }
  for (size_t i = 0; i < p->n; i++) {
    switch (p->v[i].action) {
    case IDP_PLAN_CREATE: p->add++; break;
    case IDP_PLAN_UPDATE: p->change++; break;
    case IDP_PLAN_REPLACE: p->add++, p->destroy++; break;
    case IDP_PLAN_DELETE: p->destroy++; break;
    case IDP_PLAN_NOOP: break;
    }
  }
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

static void print_attr(idp_buf *b, const idp_plan_res *r, const idp_plan_attr *at) {
  char sign;
  const idp_value *before = at->before, *after = at->after;
  switch (r->action) {
  case IDP_PLAN_CREATE: sign = '+'; before = NULL; break;
  case IDP_PLAN_DELETE: sign = '-'; after = NULL; break;
  default: sign = !before ? '+' : !after ? '-' : '~'; break;
  }
  idp_buf_printf(b, "      %c %s = ", sign, at->name);
  if (before && after) {
    idp_value_print(b, before, 8);
    idp_buf_puts(b, " -> ");
    idp_value_print(b, after, 8);
  } else {
    idp_value_print(b, before ? before : after, 8);
  }
  if (at->forces) idp_buf_puts(b, " # forces replacement");
  idp_buf_putc(b, '\n');
}

void idp_plan_print(const idp_plan *p, FILE *out) {
  idp_buf b = {0};
  if (idp_plan_has_changes(p)) {
    idp_buf_puts(&b, "idp will perform the following actions, in dependency order:\n");
    for (size_t i = 0; i < p->n; i++) {
      const idp_plan_res *r = &p->v[i];
      const char *what, *sign;
      switch (r->action) {
      case IDP_PLAN_CREATE: what = "will be created"; sign = "+"; break;
      case IDP_PLAN_UPDATE: what = "will be updated in place"; sign = "~"; break;
      case IDP_PLAN_REPLACE: what = "must be replaced"; sign = "-/+"; break;
      case IDP_PLAN_DELETE: what = "will be destroyed"; sign = "-"; break;
      default: continue;
      }
      idp_buf_printf(&b, "\n  # %s %s", r->addr, what);
      if (r->note) idp_buf_printf(&b, " (%s)", r->note);
      idp_buf_printf(&b, "\n%*s%s %s {\n", sign[1] ? 0 : 2, "", sign, r->addr);
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
        print_attr(&b, r, &r->attrs[j]);
      }
      if (hidden) idp_buf_printf(&b, "        # (%zu unchanged attribute%s hidden)\n", hidden, hidden == 1 ? "" : "s");
      idp_buf_puts(&b, "    }\n");
    }
    idp_buf_printf(&b, "\nPlan: %zu to add, %zu to change, %zu to destroy.\n", p->add, p->change, p->destroy);
  } else {
    idp_buf_puts(&b, "No changes.\n");
  }
  fwrite(idp_buf_cstr(&b), 1, b.len, out);
  idp_buf_free(&b);
}

/* --- JSON ----------------------------------------------------------------------------------- */

/* A side of a change as a map value: the attributes present on that side. */
static json_t *side_json(idp_arena *a, const idp_plan_res *r, bool after, json_t **unknown, json_t **secret) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  size_t n = 0;
  for (size_t j = 0; j < r->nattrs; j++) {
    const idp_value *v = after ? r->attrs[j].after : r->attrs[j].before;
    if (!v) continue;
    if (!after && r->action == IDP_PLAN_CREATE) continue;
    idp_map_builder_add(&mb, r->attrs[j].name, strlen(r->attrs[j].name), (idp_value *)v);
    n++;
  }
  idp_json_marks m = {0};
  json_t *j = idp_value_to_json(idp_map_builder_build(&mb, NULL), &m);
  *unknown = m.unknown ? m.unknown : json_object();
  *secret = m.secret ? m.secret : json_object();
  (void)n;
  return j;
}

json_t *idp_plan_json(const idp_plan *p) {
  idp_arena a;
  idp_arena_init(&a);
  json_t *arr = json_array();
  for (size_t i = 0; i < p->n; i++) {
    const idp_plan_res *r = &p->v[i];
    json_t *o = json_object();
    json_object_set_new(o, "address", json_string(r->addr));
    json_object_set_new(o, "driver", json_string(r->driver));
    json_object_set_new(o, "env", r->env ? json_string(r->env) : json_null());
    json_object_set_new(o, "action", json_string(idp_plan_action_name(r->action)));
    if (r->note) json_object_set_new(o, "reason", json_string(r->note));
    json_t *ch = json_object();
    json_t *bu, *bs, *au, *as;
    bool has_before = r->action != IDP_PLAN_CREATE, has_after = r->action != IDP_PLAN_DELETE;
    json_t *before = side_json(&a, r, false, &bu, &bs);
    json_t *after = side_json(&a, r, true, &au, &as);
    json_decref(bu);
    json_object_set_new(ch, "before", has_before ? before : json_null());
    if (!has_before) json_decref(before);
    json_object_set_new(ch, "after", has_after ? after : json_null());
    if (!has_after) json_decref(after);
    json_object_set_new(ch, "after_unknown", au);
    json_object_set_new(ch, "before_secret", bs);
    json_object_set_new(ch, "after_secret", as);
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
