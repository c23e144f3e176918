/* exec.c - the executor (exec.h): steps, their order, the worker pool, and the state records. */
#include "exec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/driver.h"
#include "util.h"

typedef enum { OP_CREATE, OP_UPDATE, OP_DELETE } op_kind;
static const char *const op_names[] = {"create", "update", "delete"};

typedef enum { S_WAIT, S_RUNNING, S_DONE, S_FAILED, S_SKIPPED } step_state;

/* A cap on the calls in flight to one integration (its max_parallel input). */
typedef struct limit {
  char *key;                   /* the integration's inputs as canonical JSON */
  unsigned max, running;
} limit;

typedef struct step {
  op_kind op;
  const json_t *rc;            /* its entry of resource_changes */
  const char *addr, *driver;
  const idp_drv_kind *kind;
  idp_state *st;               /* the state its record lives in */
  bool old_object;             /* the delete of the object a create_before_destroy replaced */
  size_t *next, nnext, capnext; /* the steps waiting on this one */
  size_t waits;                /* unfinished steps this one waits on */
  step_state state;
  long lim;                    /* index in limits, or -1 */
  /* the call: set up by the main thread, run by a worker, recorded by the main thread */
  idp_arena arena;
  idp_value *inputs, *prior, *outputs;
  idp_drv_ctx ctx;
  int status;                  /* the call's return */
  double elapsed;
  struct step *qnext;
} step;

typedef struct exec {
  const idp_exec_opts *o;
  idp_arena keep;              /* what lives through the run: the priors of replaced objects */
  idp_state *const *states;
  size_t nstates;
  step *v;
  size_t n;
  limit *limits;
  size_t nlimits;
  /* the queues, under mu */
  pthread_mutex_t mu;
  pthread_cond_t work_cond, done_cond;
  step *work, *done;           /* to run; finished, for the main thread */
  bool stop;
  idp_exec_result *res;
  idp_state_error *err;
} exec;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- the plan's values ---------------------------------------------------------------------- */

static const json_t *mark_at(const json_t *m, const char *k, size_t i) {
  if (json_is_object(m) && k) return json_object_get(m, k);
  if (json_is_array(m) && !k) return json_array_get(m, i);
  return NULL;
}

/* A planned value: sealed parts opened (secret-marked), places the unknown mark tree um marks
 * unknown. *unknown tells whether any is. Returns NULL with err filled when a seal does not open. */
static idp_value *planned(idp_arena *a, const json_t *j, const json_t *um, const idp_state_key *key, const char *addr,
                          idp_buf *path, bool *unknown, idp_state_error *err) {
  if (json_is_true(um)) {
    *unknown = true;
    return idp_value_unknown(a, IDP_V_UNKNOWN);
  }
  if (idp_state_is_sealed(j)) {
    json_t *plain = NULL;
    if (idp_state_unseal(&plain, key, addr, idp_buf_cstr(path), j, err) < 0) return NULL;
    idp_value *v = idp_value_from_json(a, plain);
    json_decref(plain);
    return v ? idp_value_taint(a, v, NULL, true) : NULL;
  }
  size_t mark = path->len;
  idp_value *v = NULL;
  if (json_is_object(j)) {
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)j, k, x) {
      path->len = mark;
      idp_buf_printf(path, "/%s", k);
      idp_value *e = planned(a, x, mark_at(um, k, 0), key, addr, path, unknown, err);
      if (!e) return NULL;
      idp_map_builder_add(&mb, k, strlen(k), e);
    }
    v = idp_map_builder_build(&mb, NULL);
  } else if (json_is_array(j)) {
    size_t n = json_array_size(j);
    idp_value **items = idp_arena_alloc(a, (n + 1) * sizeof *items);
    for (size_t i = 0; i < n; i++) {
      path->len = mark;
      idp_buf_printf(path, "/%zu", i);
      if (!(items[i] = planned(a, json_array_get(j, i), mark_at(um, NULL, i), key, addr, path, unknown, err)))
        return NULL;
    }
    v = idp_value_list(a, items, n);
  } else {
    v = idp_value_from_json(a, j);
  }
  path->len = mark;
  return v;
}

/* The planned value p with its unknown places taken from f (the same input evaluated now): the
 * plan stays what was reviewed, only what it could not know is filled in. An unknown left (f
 * lacks it, or has it unknown too) stays unknown. */
static idp_value *merge(idp_arena *a, idp_value *p, const idp_value *f) {
  if (p->kind == IDP_V_UNKNOWN) return f ? (idp_value *)f : p;
  if (!f || !idp_value_has_unknown(p)) return p;
  if (p->kind == IDP_V_MAP && f->kind == IDP_V_MAP) {
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    for (size_t i = 0; i < p->u.map.n; i++)
      idp_map_builder_add(&mb, p->u.map.keys[i], p->u.map.klen[i],
                          merge(a, p->u.map.vals[i], idp_map_get(f, p->u.map.keys[i], p->u.map.klen[i])));
    return idp_value_taint(a, idp_map_builder_build(&mb, NULL), NULL, p->secret);
  }
  if (p->kind == IDP_V_LIST && f->kind == IDP_V_LIST && p->u.list.n == f->u.list.n) {
    idp_value **items = idp_arena_alloc(a, (p->u.list.n + 1) * sizeof *items);
    for (size_t i = 0; i < p->u.list.n; i++) items[i] = merge(a, p->u.list.items[i], f->u.list.items[i]);
    return idp_value_taint(a, idp_value_list(a, items, p->u.list.n), NULL, p->secret);
  }
  return p;
}

/* The record of a resource in state as a driver's prior: {"inputs": MAP, "outputs": MAP}, sealed
 * values opened and secret-marked. NULL with err filled when one does not open. */
static idp_value *prior_of(idp_arena *a, const idp_state *st, const idp_state_res *r, idp_state_error *err) {
  idp_map_builder top;
  idp_map_builder_init(&top, a);
  for (int p = IDP_STATE_INPUTS; p <= IDP_STATE_OUTPUTS; p++) {
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)idp_state_res_map(r, (idp_state_part)p), k, x) {
      json_t *plain = NULL;
      bool secret = false;
      if (idp_state_res_get(st, r, (idp_state_part)p, k, &plain, &secret, err) < 0) return NULL;
      idp_value *v = idp_value_from_json(a, plain);
      json_decref(plain);
      if (!v) v = idp_value_null(a);
      idp_map_builder_add(&mb, k, strlen(k), secret ? idp_value_taint(a, v, NULL, true) : v);
    }
    const char *name = idp_state_part_name((idp_state_part)p);
    idp_map_builder_add(&top, name, strlen(name), idp_map_builder_build(&mb, NULL));
  }
  return idp_map_builder_build(&top, NULL);
}

/* --- building the steps --------------------------------------------------------------------- */

static idp_state *state_of(const exec *x, const json_t *env) {
  for (size_t i = 0; i < x->nstates; i++) {
    const char *e = idp_state_env(x->states[i]);
    if ((!e && !json_is_string(env)) || (e && json_is_string(env) && strcmp(e, json_string_value(env)) == 0))
      return x->states[i];
  }
  return NULL;
}

static void edge(exec *x, size_t from, size_t to) {
  step *s = &x->v[from];
  if (from == to) return;
  for (size_t i = 0; i < s->nnext; i++)
    if (s->next[i] == to) return;
  if (s->nnext == s->capnext) {
    s->capnext = s->capnext ? 2 * s->capnext : 4;
    s->next = idp_xrealloc(s->next, s->capnext * sizeof *s->next);
  }
  s->next[s->nnext++] = to;
  x->v[to].waits++;
}

typedef struct index {
  size_t *up, *del;            /* by address: the create-or-update step, the delete step (or -1) */
  const char **addr;           /* sorted addresses */
  size_t n;
} index_t;

static long find_addr(const index_t *ix, const char *addr) {
  size_t lo = 0, hi = ix->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(ix->addr[mid], addr);
    if (c == 0) return (long)mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int build(exec *x, const json_t *plan) {
  const json_t *arr = json_object_get(plan, "resource_changes");
  size_t cap = 2 * json_array_size(arr) + 1;
  x->v = idp_xcalloc(cap, sizeof *x->v);
  size_t i;
  json_t *rc;
  json_array_foreach(arr, i, rc) {
    const char *action = json_string_value(json_object_get(rc, "action"));
    const char *addr = json_string_value(json_object_get(rc, "address"));
    const char *driver = json_string_value(json_object_get(rc, "driver"));
    if (!action || !addr || !driver)
      return idp_state_fail(x->err, IDP_STATE_EREFUSED, "resource_changes[%zu] is malformed", i);
    if (strcmp(action, "no-op") == 0) continue;
    const idp_drv_kind *kind = idp_driver_find_kind(driver, NULL);
    idp_state *st = state_of(x, json_object_get(rc, "env"));
    if (!kind || !st)
      return idp_state_fail(x->err, IDP_STATE_EREFUSED, "%s: %s", addr,
                            !kind ? "unknown driver kind" : "its state is not among the plan's states");
    step base = {.rc = rc, .addr = addr, .driver = driver, .kind = kind, .st = st, .lim = -1};
    bool cbd = json_is_string(json_object_get(rc, "replace_order")) &&
               strcmp(json_string_value(json_object_get(rc, "replace_order")), "create_before_destroy") == 0;
    if (strcmp(action, "create") == 0 || strcmp(action, "update") == 0) {
      x->v[x->n] = base;
      x->v[x->n++].op = action[0] == 'c' ? OP_CREATE : OP_UPDATE;
    } else if (strcmp(action, "delete") == 0) {
      x->v[x->n] = base;
      x->v[x->n++].op = OP_DELETE;
    } else if (strcmp(action, "replace") == 0) {
      x->v[x->n] = base;
      x->v[x->n++].op = cbd ? OP_CREATE : OP_DELETE;
      x->v[x->n] = base;
      x->v[x->n].op = cbd ? OP_DELETE : OP_CREATE;
      x->v[x->n++].old_object = cbd;
      edge(x, x->n - 2, x->n - 1);
    } else {
      return idp_state_fail(x->err, IDP_STATE_EREFUSED, "%s: unknown action '%s'", addr, action);
    }
  }
  /* by address: the up (create/update) step and the delete step of each resource */
  index_t ix = {0};
  ix.addr = idp_xcalloc(x->n + 1, sizeof *ix.addr);
  for (size_t k = 0; k < x->n; k++) ix.addr[ix.n++] = x->v[k].addr;
  qsort(ix.addr, ix.n, sizeof *ix.addr, cmp_cstr);
  size_t w = 0;
  for (size_t k = 0; k < ix.n; k++)
    if (!w || strcmp(ix.addr[w - 1], ix.addr[k]) != 0) ix.addr[w++] = ix.addr[k];
  ix.n = w;
  ix.up = idp_xmalloc((ix.n + 1) * sizeof *ix.up);
  ix.del = idp_xmalloc((ix.n + 1) * sizeof *ix.del);
  for (size_t k = 0; k < ix.n; k++) ix.up[k] = ix.del[k] = (size_t)-1;
  for (size_t k = 0; k < x->n; k++) {
    long a = find_addr(&ix, x->v[k].addr);
    if (x->v[k].op == OP_DELETE) ix.del[a] = k;
    else ix.up[a] = k;
  }
  for (size_t k = 0; k < x->n; k++) {
    step *s = &x->v[k];
    const json_t *deps = json_object_get(s->rc, "dependencies");
    json_t *d;
    size_t j;
    json_array_foreach(deps, j, d) {
      long a = json_is_string(d) ? find_addr(&ix, json_string_value(d)) : -1;
      if (a < 0) continue;
      /* a create or update waits for those of what it depends on */
      if (s->op != OP_DELETE && ix.up[a] != (size_t)-1) edge(x, ix.up[a], k);
      /* a delete goes before the delete of what it depends on */
      if (s->op == OP_DELETE && ix.del[a] != (size_t)-1) edge(x, k, ix.del[a]);
    }
    /* a delete waits for the steps of resources that depended on it (their state records) */
    if (s->op == OP_DELETE) continue;
    idp_state_res *r = idp_state_find(s->st, s->addr);
    for (size_t m = 0; r && m < idp_state_res_ndeps(r); m++) {
      long a = find_addr(&ix, idp_state_res_dep(r, m));
      if (a >= 0 && ix.del[a] != (size_t)-1 && ix.del[a] != k) edge(x, k, ix.del[a]);
    }
  }
  free(ix.addr);
  free(ix.up);
  free(ix.del);
  /* create_before_destroy: the old object's record, taken before the create reuses it */
  for (size_t k = 0; k < x->n; k++) {
    step *s = &x->v[k];
    idp_state_res *r = s->old_object ? idp_state_find(s->st, s->addr) : NULL;
    if (r && !(s->prior = prior_of(&x->keep, s->st, r, x->err))) return -1;
  }
  /* a cycle would leave steps waiting forever: refuse it up front (Kahn's count) */
  size_t *waits = idp_xmalloc((x->n + 1) * sizeof *waits), *queue = idp_xmalloc((x->n + 1) * sizeof *queue);
  size_t qh = 0, qt = 0;
  for (size_t k = 0; k < x->n; k++)
    if (!(waits[k] = x->v[k].waits)) queue[qt++] = k;
  while (qh < qt) {
    step *s = &x->v[queue[qh++]];
    for (size_t m = 0; m < s->nnext; m++)
      if (--waits[s->next[m]] == 0) queue[qt++] = s->next[m];
  }
  free(waits);
  free(queue);
  if (qt != x->n) return idp_state_fail(x->err, IDP_STATE_EREFUSED, "the plan's steps form a cycle");
  return 0;
}

/* --- integrations' limits ------------------------------------------------------------------- */

/* The limit of the integration the step calls (its first integration input), or -1. */
static long limit_of(exec *x, const step *s) {
  for (size_t i = 0; i < s->kind->io.ninputs; i++) {
    const idp_drv_input *in = &s->kind->io.inputs[i];
    if (in->type.kind != IDP_DRV_T_INTEGRATION) continue;
    const idp_value *v = s->inputs ? idp_map_get(s->inputs, in->name, strlen(in->name)) : NULL;
    const idp_value *mp = v && v->kind == IDP_V_MAP ? idp_map_get(v, "max_parallel", 12) : NULL;
    if (!mp || mp->kind != IDP_V_NUMBER || mp->u.number < 1) return -1;
    char *key = idp_value_json_text(v);
    if (!key) return -1;
    for (size_t k = 0; k < x->nlimits; k++)
      if (strcmp(x->limits[k].key, key) == 0) {
        free(key);
        return (long)k;
      }
    x->limits = idp_xrealloc(x->limits, (x->nlimits + 1) * sizeof *x->limits);
    x->limits[x->nlimits] = (limit){key, (unsigned)mp->u.number, 0};
    return (long)x->nlimits++;
  }
  return -1;
}

/* --- workers -------------------------------------------------------------------------------- */

static void *worker(void *arg) {
  exec *x = arg;
  for (;;) {
    pthread_mutex_lock(&x->mu);
    while (!x->work && !x->stop) pthread_cond_wait(&x->work_cond, &x->mu);
    if (!x->work) {
      pthread_mutex_unlock(&x->mu);
      return NULL;
    }
    step *s = x->work;
    x->work = s->qnext;
    pthread_mutex_unlock(&x->mu);
    const idp_drv_resource_ops *ops = &s->kind->ops;
    double t0 = now_s();
    switch (s->op) {
    case OP_CREATE: s->status = ops->create(&s->ctx, s->inputs, &s->outputs); break;
    case OP_UPDATE: s->status = ops->update(&s->ctx, s->prior, s->inputs, &s->outputs); break;
    case OP_DELETE: s->status = ops->delete(&s->ctx, s->prior); break;
    }
    s->elapsed = now_s() - t0;
    pthread_mutex_lock(&x->mu);
    s->qnext = x->done;
    x->done = s;
    pthread_cond_signal(&x->done_cond);
    pthread_mutex_unlock(&x->mu);
  }
}

/* --- the main thread's part ------------------------------------------------------------------ */

static void emit(exec *x, idp_exec_event_kind kind, const step *s, const char *msg) {
  if (!x->o->event) return;
  idp_exec_event e = {kind, s->addr, op_names[s->op], s->elapsed, msg,
                      x->res->done + x->res->failed + x->res->skipped, x->res->total};
  x->o->event(x->o->event_payload, &e);
}

static void skip_after(exec *x, step *s, const char *why);

static void finish_failed(exec *x, step *s, const char *msg) {
  s->state = S_FAILED;
  x->res->failed++;
  emit(x, IDP_EXEC_FAILED, s, msg);
  char why[512];
  snprintf(why, sizeof why, "%s of %s failed", op_names[s->op], s->addr);
  skip_after(x, s, why);
}

static void skip_after(exec *x, step *s, const char *why) {
  for (size_t i = 0; i < s->nnext; i++) {
    step *t = &x->v[s->next[i]];
    if (t->state != S_WAIT) continue;
    t->state = S_SKIPPED;
    x->res->skipped++;
    emit(x, IDP_EXEC_SKIPPED, t, why);
    skip_after(x, t, why);
  }
}

/* Sets one attribute in a record: secret when the value holds one (or forced). */
static int put(exec *x, step *s, idp_state_res *r, idp_state_part part, const char *name, const idp_value *v,
               bool secret) {
  json_t *j = idp_value_to_json(v, NULL);
  if (!j) return idp_state_fail(x->err, IDP_STATE_EINVALID, "%s: %s holds a value not known after apply", s->addr, name);
  int rc = idp_state_res_set(s->st, r, part, name, j, secret || idp_value_has_secret(v), x->err);
  json_decref(j);
  return rc;
}

/* Writes a record's inputs (every attribute of the map) and dependencies. */
static int put_inputs(exec *x, step *s, idp_state_res *r) {
  const json_t *old = idp_state_res_map(r, IDP_STATE_INPUTS);
  const char *k;
  json_t *unused;
  void *tmp;
  json_object_foreach_safe((json_t *)old, tmp, k, unused) {
    if (!idp_map_get(s->inputs, k, strlen(k)) && idp_state_res_set(s->st, r, IDP_STATE_INPUTS, k, NULL, false, x->err) < 0)
      return -1;
  }
  for (size_t i = 0; i < s->inputs->u.map.n; i++)
    if (put(x, s, r, IDP_STATE_INPUTS, s->inputs->u.map.keys[i], s->inputs->u.map.vals[i], false) < 0) return -1;
  const json_t *deps = json_object_get(s->rc, "dependencies");
  size_t n = json_array_size(deps);
  const char **dv = idp_xcalloc(n + 1, sizeof *dv);
  for (size_t i = 0; i < n; i++) dv[i] = json_string_value(json_array_get(deps, i));
  idp_state_res_set_deps(s->st, r, dv, n);
  free(dv);
  return 0;
}

static int put_outputs(exec *x, step *s, idp_state_res *r) {
  if (!s->outputs || s->outputs->kind != IDP_V_MAP) return 0;
  for (size_t i = 0; i < s->outputs->u.map.n; i++) {
    const char *name = s->outputs->u.map.keys[i];
    const idp_drv_output *o = idp_drv_find_output(&s->kind->io, name);
    if (put(x, s, r, IDP_STATE_OUTPUTS, name, s->outputs->u.map.vals[i], o && o->secret) < 0) return -1;
  }
  return 0;
}

/* Before the call: the inputs (planned, unknowns filled), the prior, and the intent in state. */
static int prepare(exec *x, step *s, idp_value *filled, const char *fillmsg, char *msg, size_t msgsize) {
  idp_arena *a = &s->arena;
  idp_state_res *r = idp_state_find(s->st, s->addr);
  if (s->op == OP_DELETE) {
    if (s->old_object) return s->prior ? 0 : 1;
    if (!r) return 1; /* already gone from state: nothing to do */
    if (!(s->prior = prior_of(a, s->st, r, x->err))) return -1;
    idp_state_res_set_status(s->st, r, IDP_STATE_DELETING);
    return 0;
  }
  const json_t *ch = json_object_get(s->rc, "change");
  bool unknown = false;
  idp_buf path = {0};
  idp_buf_puts(&path, "plan/after");
  s->inputs = planned(a, json_object_get(ch, "after"), json_object_get(ch, "after_unknown"), x->o->key, s->addr, &path,
                      &unknown, x->err);
  idp_buf_free(&path);
  if (!s->inputs) return -1;
  /* the planned side also lists computed outputs (unknown): keep the inputs only */
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  for (size_t i = 0; i < s->inputs->u.map.n; i++) {
    const char *k = s->inputs->u.map.keys[i];
    if (!idp_drv_find_input(&s->kind->io, k)) continue;
    idp_value *v = s->inputs->u.map.vals[i];
    if (idp_value_has_unknown(v)) {
      v = merge(a, v, filled ? idp_map_get(filled, k, strlen(k)) : NULL);
      if (idp_value_has_unknown(v)) {
        if (fillmsg && *fillmsg) snprintf(msg, msgsize, "input %s: %s", k, fillmsg);
        else snprintf(msg, msgsize, "input %s is still not known (what it derives from was not applied)", k);
        return 2;
      }
    }
    idp_map_builder_add(&mb, k, strlen(k), v);
  }
  s->inputs = idp_map_builder_build(&mb, NULL);
  if (s->op == OP_UPDATE) {
    if (!r) {
      snprintf(msg, msgsize, "not in the state any more: plan again");
      return 2;
    }
    if (!(s->prior = prior_of(a, s->st, r, x->err))) return -1;
    return 0;
  }
  /* create: the intent first (decision 11); a record already there (replace) is reused */
  if (!r && idp_state_add(s->st, s->addr, s->driver, &r, x->err) < 0) return -1;
  idp_state_res_set_status(s->st, r, IDP_STATE_PENDING_CREATE);
  if (put_inputs(x, s, r) < 0) return -1;
  return 0;
}

/* After the call: the result into state. */
static int record(exec *x, step *s) {
  idp_state_res *r = idp_state_find(s->st, s->addr);
  if (s->op == OP_DELETE) {
    if (!s->old_object && r && idp_state_remove(s->st, s->addr, x->err) < 0) return -1;
    return 0;
  }
  if (!r) return idp_state_fail(x->err, IDP_STATE_ENOTFOUND, "%s: its record vanished from state", s->addr);
  if (s->op == OP_UPDATE && put_inputs(x, s, r) < 0) return -1;
  if (put_outputs(x, s, r) < 0) {
    /* the object exists but its result cannot be kept: replace it next time */
    idp_state_res_set_status(s->st, r, IDP_STATE_TAINTED);
    return -1;
  }
  idp_state_res_set_status(s->st, r, IDP_STATE_CREATED);
  return 0;
}

static int write_states(exec *x) {
  for (size_t i = 0; i < x->nstates; i++)
    if (idp_backend_write(x->o->backend, x->states[i], NULL, x->err) < 0) return -1;
  return 0;
}

static void count_done(exec *x, const step *s) {
  const char *action = json_string_value(json_object_get(s->rc, "action"));
  x->res->done++;
  if (strcmp(action, "replace") == 0) {
    if (s->op == OP_CREATE) x->res->added++;
    else x->res->destroyed++;
  } else if (s->op == OP_CREATE) {
    x->res->added++;
  } else if (s->op == OP_UPDATE) {
    x->res->changed++;
  } else {
    x->res->destroyed++;
  }
}

/* Steps ready to start now: waiting on nothing, within the limits. */
static size_t pick(exec *x, size_t running, size_t *out) {
  size_t n = 0, par = x->o->parallelism ? x->o->parallelism : 10;
  for (size_t i = 0; i < x->n && running + n < par; i++) {
    step *s = &x->v[i];
    if (s->state != S_WAIT || s->waits) continue;
    out[n++] = i;
  }
  return n;
}

int idp_exec_run(const json_t *plan, idp_state *const *states, size_t nstates, const idp_exec_opts *o,
                 idp_exec_result *res, idp_state_error *err) {
  memset(res, 0, sizeof *res);
  exec x = {.o = o, .states = states, .nstates = nstates, .res = res, .err = err};
  int rc = build(&x, plan);
  size_t nthreads = o->parallelism ? o->parallelism : 10;
  pthread_t *threads = idp_xcalloc(nthreads, sizeof *threads);
  size_t started = 0;
  pthread_mutex_init(&x.mu, NULL);
  pthread_cond_init(&x.work_cond, NULL);
  pthread_cond_init(&x.done_cond, NULL);
  if (rc == 0) {
    for (size_t i = 0; i < x.n; i++) {
      if (x.v[i].op == OP_CREATE && !x.v[i].kind->ops.create) rc = -1;
      if (x.v[i].op == OP_UPDATE && !x.v[i].kind->ops.update) rc = -1;
      if (x.v[i].op == OP_DELETE && !x.v[i].kind->ops.delete) rc = -1;
      if (rc < 0) {
        rc = idp_state_fail(err, IDP_STATE_EREFUSED,
                            "%s: the %s driver cannot %s yet (no API code): nothing was applied", x.v[i].addr,
                            x.v[i].driver, op_names[x.v[i].op]);
        break;
      }
    }
  }
  res->total = x.n;
  for (size_t i = 0; rc == 0 && i < nthreads; i++) {
    if (pthread_create(&threads[i], NULL, worker, &x) != 0) {
      rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot start a worker thread");
      break;
    }
    started++;
  }
  size_t *ready = idp_xcalloc(x.n + 1, sizeof *ready);
  const char **fill_addrs = idp_xcalloc(x.n + 1, sizeof *fill_addrs);
  idp_value **filled = idp_xcalloc(x.n + 1, sizeof *filled);
  size_t running = 0;
  idp_arena fill_arena;
  idp_arena_init(&fill_arena);
  char msg[1024], fillmsg[1024];
  while (rc == 0) {
    size_t nready = o->interrupted && *o->interrupted ? 0 : pick(&x, running, ready);
    for (size_t i = 0; i < nready; i++) idp_arena_init(&x.v[ready[i]].arena);
    /* the unknowns, filled for all of them at once */
    size_t nfill = 0;
    for (size_t i = 0; i < nready; i++) {
      step *s = &x.v[ready[i]];
      const json_t *au = json_object_get(json_object_get(s->rc, "change"), "after_unknown");
      bool needs = false;
      const char *k;
      json_t *m;
      json_object_foreach((json_t *)au, k, m) needs |= idp_drv_find_input(&s->kind->io, k) != NULL;
      if (s->op != OP_DELETE && needs) fill_addrs[nfill++] = s->addr;
    }
    fillmsg[0] = '\0';
    for (size_t i = 0; i < nfill; i++) filled[i] = NULL;
    if (nfill && o->fill &&
        o->fill(o->fill_payload, states, nstates, fill_addrs, nfill, filled, &fill_arena, fillmsg, sizeof fillmsg) < 0) {
      for (size_t i = 0; i < nfill; i++) filled[i] = NULL;
    }
    size_t dispatched = 0;
    step *batch = NULL;
    for (size_t i = 0; i < nready; i++) {
      step *s = &x.v[ready[i]];
      idp_value *f = NULL;
      for (size_t k = 0; k < nfill; k++)
        if (fill_addrs[k] == s->addr) f = filled[k];
      msg[0] = '\0';
      int p = prepare(&x, s, f, fillmsg, msg, sizeof msg);
      if (p < 0) {
        rc = -1;
        break;
      }
      if (p == 1) { /* nothing to do */
        s->state = S_DONE;
        res->done++;
        emit(&x, IDP_EXEC_DONE, s, NULL);
        for (size_t m = 0; m < s->nnext; m++) x.v[s->next[m]].waits--;
        idp_arena_free(&s->arena);
        continue;
      }
      if (p == 2) {
        finish_failed(&x, s, msg);
        idp_arena_free(&s->arena);
        continue;
      }
      s->lim = limit_of(&x, s);
      if (s->lim >= 0 && x.limits[s->lim].running >= x.limits[s->lim].max) {
        /* over the integration's limit: not yet (its intent is harmless: written again later) */
        idp_arena_free(&s->arena);
        s->inputs = s->prior = NULL;
        continue;
      }
      if (s->lim >= 0) x.limits[s->lim].running++;
      s->state = S_RUNNING;
      s->ctx = (idp_drv_ctx){.arena = &s->arena, .http = o->http, .address = s->addr};
      s->qnext = batch;
      batch = s;
      dispatched++;
    }
    if (rc < 0) break;
    /* intents are durable before their calls start */
    if (dispatched && write_states(&x) < 0) {
      rc = -1;
      for (step *s = batch; s; s = s->qnext) s->state = S_WAIT; /* never started */
      break;
    }
    if (dispatched) {
      pthread_mutex_lock(&x.mu);
      for (step *s = batch, *next; s; s = next) {
        next = s->qnext;
        emit(&x, IDP_EXEC_START, s, NULL);
        s->qnext = x.work;
        x.work = s;
      }
      running += dispatched;
      pthread_cond_broadcast(&x.work_cond);
      pthread_mutex_unlock(&x.mu);
    }
    if (!running) {
      if (dispatched || nready) continue; /* settled without a call; look again */
      break;
    }
    /* wait for at least one result, then take every result there is */
    pthread_mutex_lock(&x.mu);
    while (!x.done) pthread_cond_wait(&x.done_cond, &x.mu);
    step *fin = x.done;
    x.done = NULL;
    pthread_mutex_unlock(&x.mu);
    for (step *s = fin; s; s = s->qnext) {
      running--;
      if (s->lim >= 0) x.limits[s->lim].running--;
      if (s->status == 0 && record(&x, s) == 0) {
        s->state = S_DONE;
        count_done(&x, s);
        emit(&x, IDP_EXEC_DONE, s, NULL);
        for (size_t m = 0; m < s->nnext; m++) x.v[s->next[m]].waits--;
      } else {
        finish_failed(&x, s, s->status == 0 ? err->msg : s->ctx.err);
        err->code = 0;
      }
      idp_arena_free(&s->arena);
    }
    if (write_states(&x) < 0) rc = -1;
  }
  /* on a fatal error: let the calls in flight finish and keep what they did */
  while (running) {
    pthread_mutex_lock(&x.mu);
    while (!x.done) pthread_cond_wait(&x.done_cond, &x.mu);
    step *fin = x.done;
    x.done = NULL;
    pthread_mutex_unlock(&x.mu);
    for (step *s = fin; s; s = s->qnext) {
      running--;
      idp_state_error e2 = {0};
      idp_state_error *keep = x.err;
      x.err = &e2;
      if (s->status == 0 && record(&x, s) == 0) count_done(&x, s);
      else res->failed++;
      x.err = keep;
      idp_arena_free(&s->arena);
    }
    idp_state_error e3 = {0};
    idp_state_error *keep = x.err;
    x.err = &e3;
    write_states(&x);
    x.err = keep;
  }
  /* what never started */
  for (size_t i = 0; i < x.n; i++)
    if (x.v[i].state == S_WAIT) {
      x.v[i].state = S_SKIPPED;
      res->skipped++;
      emit(&x, IDP_EXEC_SKIPPED, &x.v[i], o->interrupted && *o->interrupted ? "interrupted" : "not started");
    }
  pthread_mutex_lock(&x.mu);
  x.stop = true;
  pthread_cond_broadcast(&x.work_cond);
  pthread_mutex_unlock(&x.mu);
  for (size_t i = 0; i < started; i++) pthread_join(threads[i], NULL);
  pthread_mutex_destroy(&x.mu);
  pthread_cond_destroy(&x.work_cond);
  pthread_cond_destroy(&x.done_cond);
  for (size_t i = 0; i < x.n; i++) free(x.v[i].next);
  for (size_t i = 0; i < x.nlimits; i++) free(x.limits[i].key);
  free(x.limits);
  free(x.v);
  free(threads);
  idp_arena_free(&x.keep);
  free(ready);
  free(fill_addrs);
  free(filled);
  idp_arena_free(&fill_arena);
  return rc < 0 ? (err->code ? err->code : IDP_STATE_ERROR) : 0;
}
