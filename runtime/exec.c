/* exec.c - the executor (exec.h): steps, their order, the worker pool, and the state records. */
#include "exec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/driver.h"
#include "refresh.h"
#include "util.h"

typedef enum { OP_CREATE, OP_UPDATE, OP_DELETE } op_kind;
static const char *const op_names[] = {"create", "update", "delete"};

/* S_WAIT: not started (waiting on steps, or ready); S_HELD: ready, its call prepared, waiting
 * for room (its integration's limit, or a worker); S_QUEUED: its intent durable, handed to the
 * workers (one may have taken it already), its result not yet recorded. */
typedef enum { S_WAIT, S_HELD, S_QUEUED, S_DONE, S_FAILED, S_SKIPPED } step_state;

/* A cap on the calls in flight to one integration (its max_parallel input). */
typedef struct limit {
  char *key;                   /* the integration's inputs as canonical JSON */
  unsigned max, running;       /* running: its steps queued or in flight */
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
  /* its intent in state (intent()), so that a step queued but never started can be taken back */
  bool added;                  /* a create that added its record */
  bool reused;                 /* a create that took over a record already there: cannot be taken back */
  idp_state_status old_status; /* a delete's status before its intent */
  /* an input the plan could not know: filled in by evaluating the spec again, once it is ready */
  bool needs_fill, filled_in;
  idp_value *fill;             /* the inputs evaluated again (in the fill arena), or NULL */
  const char *fillmsg;         /* why not, from the fill callback (in the fill arena), or NULL */
  /* the call: set up by the main thread, run by a worker, recorded by the main thread */
  idp_arena arena;
  idp_value *inputs, *prior, *outputs;
  idp_drv_ctx ctx;
  int status;                  /* the call's return */
  double elapsed;
  struct step *qnext;          /* in the work queue, then in the done list */
  struct step *snext;          /* in the started list */
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
  step *work, *work_tail;      /* to run, first in first out */
  step *started, *done;        /* taken by a worker (for the START events); finished (newest first) */
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
      idp_value *e = planned(a, x, idp_json_mark_at(um, k, 0), key, addr, path, unknown, err);
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
      if (!(items[i] = planned(a, json_array_get(j, i), idp_json_mark_at(um, NULL, i), key, addr, path, unknown, err)))
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
    if (r && !(s->prior = idp_refresh_prior(&x->keep, s->st, r, x->err))) return -1;
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

/* The limit of the integration the step calls (its first integration input), or -1. A delete has
 * no inputs of its own: its prior's (the state's) say which integration it calls. */
static long limit_of(exec *x, const step *s) {
  const idp_value *ins = s->inputs ? s->inputs : s->prior ? idp_map_get(s->prior, "inputs", 6) : NULL;
  for (size_t i = 0; i < s->kind->io.ninputs; i++) {
    const idp_drv_input *in = &s->kind->io.inputs[i];
    if (in->type.kind != IDP_DRV_T_INTEGRATION) continue;
    const idp_value *v = ins && ins->kind == IDP_V_MAP ? idp_map_get(ins, in->name, strlen(in->name)) : NULL;
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

/* Takes the steps in queue order, one at a time: `parallelism` workers, so that many calls at
 * most. A step taken goes on the started list (the main thread emits its START event), a step
 * run on the done list; both wake the main thread. */
static void *worker(void *arg) {
  exec *x = arg;
  pthread_mutex_lock(&x->mu);
  for (;;) {
    while (!x->work && !x->stop) pthread_cond_wait(&x->work_cond, &x->mu);
    if (!x->work) break;
    step *s = x->work;
    if (!(x->work = s->qnext)) x->work_tail = NULL;
    s->snext = x->started;
    x->started = s;
    pthread_cond_signal(&x->done_cond);
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
  }
  pthread_mutex_unlock(&x->mu);
  return NULL;
}

/* --- the main thread's part ------------------------------------------------------------------ */

static void emit(exec *x, idp_exec_event_kind kind, const step *s, const char *msg) {
  if (!x->o->event) return;
  /* a START's step is running: its elapsed is the worker's to write */
  double elapsed = kind == IDP_EXEC_DONE || kind == IDP_EXEC_FAILED ? s->elapsed : 0;
  idp_exec_event e = {kind, s->addr, op_names[s->op], elapsed, msg,
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

/* Before the call: the inputs (planned, unknowns filled) and the prior; nothing in state yet.
 * Returns 0, 1 when there is nothing to do, 2 when the step fails (msg says why), -1 on an error. */
static int prepare(exec *x, step *s, idp_value *filled, const char *fillmsg, char *msg, size_t msgsize) {
  idp_arena *a = &s->arena;
  idp_state_res *r = idp_state_find(s->st, s->addr);
  if (s->op == OP_DELETE) {
    if (s->old_object) return s->prior ? 0 : 1;
    if (!r) return 1; /* already gone from state: nothing to do */
    if (!(s->prior = idp_refresh_prior(a, s->st, r, x->err))) return -1;
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
    if (!(s->prior = idp_refresh_prior(a, s->st, r, x->err))) return -1;
  }
  return 0;
}

/* The intent in state (decision 11), durable before the call starts: a create's record
 * pending-create with its inputs (a record already there, a replace's, is taken over), a delete's
 * record deleting. An update records nothing before its call. */
static int intent(exec *x, step *s) {
  idp_state_res *r = idp_state_find(s->st, s->addr);
  if (s->op == OP_DELETE) {
    if (!s->old_object && r) {
      s->old_status = idp_state_res_status(r);
      idp_state_res_set_status(s->st, r, IDP_STATE_DELETING);
    }
    return 0;
  }
  if (s->op != OP_CREATE) return 0;
  s->reused = r != NULL;
  if (!r) {
    if (idp_state_add(s->st, s->addr, s->driver, &r, x->err) < 0) return -1;
    s->added = true;
  }
  idp_state_res_set_status(s->st, r, IDP_STATE_PENDING_CREATE);
  return put_inputs(x, s, r);
}

/* Takes back the intent of a step that never started (an interrupt, or the write of its intent
 * failed): the record it added removed, a delete's status put back. A create that took over a
 * record already there cannot be taken back; such a step is only queued for a free worker (see
 * room()), which takes it at once. */
static void undo(step *s) {
  idp_state_error e = {0};
  idp_state_res *r = idp_state_find(s->st, s->addr);
  if (s->op == OP_CREATE && s->added && r) idp_state_remove(s->st, s->addr, &e);
  else if (s->op == OP_DELETE && !s->old_object && r) idp_state_res_set_status(s->st, r, s->old_status);
  s->added = false;
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

/* A create or update whose object changed before a later part of it failed (ctx.applied): the
 * record says the object is there, with the inputs sent, and tainted, so the next plan replaces
 * it. */
static void taint(exec *x, step *s) {
  idp_state_res *r = s->op == OP_DELETE ? NULL : idp_state_find(s->st, s->addr);
  if (!r) return;
  idp_state_error keep = *x->err;
  if (s->op == OP_UPDATE) put_inputs(x, s, r);
  *x->err = keep;
  idp_state_res_set_status(s->st, r, IDP_STATE_TAINTED);
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

/* --- the run ------------------------------------------------------------------------------------ */

/* The main thread's bookkeeping. A step goes: waiting (on others) -> ready -> prepared (inputs,
 * prior) -> held while there is no room for it -> queued (intent in state, written) -> taken by a
 * worker -> done (result in state, written). Up to cap steps are queued at once, par of them
 * running: the others are queued ahead, their intents already durable, so a worker that finishes
 * takes the next call at once instead of waiting for the main thread to record its result and
 * write the state (a write of a large state takes as long as a quick call). */
typedef struct sched {
  size_t *ready, rh, rt;      /* ready[rh..rt): waiting on nothing, not prepared yet (in order) */
  step **held;                /* prepared, waiting for room */
  size_t nheld;
  size_t queued;              /* handed to the workers (or about to be), result not taken yet */
  size_t par, cap;            /* workers; most steps queued at once (tune()) */
  bool drain;                 /* a held create taking over a record waits for a free worker: queue no more than par */
  double write_s, call_s;     /* running averages: a state write that wrote, a call */
} sched;

static double average(double avg, double x) { return avg > 0 ? (avg + x) / 2 : x; }

/* How many steps may be queued at once: one per worker, and ahead of them enough to keep the
 * workers busy while the main thread writes the state (a write of a large state takes longer
 * than a quick call): par for each call that fits in a write, plus par; at most 16 x par ahead. */
static void tune(sched *q) {
  double rounds = q->call_s > 0 ? q->write_s / q->call_s + 1 : 1;
  q->cap = q->par * (1 + (rounds > 16 ? 16 : (size_t)rounds));
}

/* s is finished: what waited on it alone is ready. */
static void release(exec *x, sched *q, const step *s) {
  for (size_t m = 0; m < s->nnext; m++) {
    step *t = &x->v[s->next[m]];
    if (--t->waits == 0 && t->state == S_WAIT) q->ready[q->rt++] = s->next[m];
  }
}

/* Is there room to queue s now? Within its integration's limit and within cap steps queued; a
 * create taking over a record already there only for a free worker, so that it starts at once
 * and is never taken back (undo). Such a create held for want of a free worker sets q->drain:
 * nothing more is queued ahead until it has one. */
static bool room(const exec *x, sched *q, const step *s) {
  if (s->lim >= 0 && x->limits[s->lim].running >= x->limits[s->lim].max) return false;
  if (s->op == OP_CREATE && idp_state_find(s->st, s->addr)) {
    if (q->queued < q->par) return true;
    q->drain = true;
    return false;
  }
  return q->queued < (q->drain ? q->par : q->cap);
}

/* s's intent into state, s onto the batch (queued after the next write). */
static int enqueue(exec *x, sched *q, step *s, step **head, step **tail) {
  if (intent(x, s) < 0) return -1;
  if (s->lim >= 0) x->limits[s->lim].running++;
  s->state = S_QUEUED;
  s->ctx = (idp_drv_ctx){.arena = &s->arena, .http = x->o->http, .address = s->addr};
  s->qnext = NULL;
  if (*tail) (*tail)->qnext = s;
  else *head = s;
  *tail = s;
  q->queued++;
  return 0;
}

/* A queued step that never started back to waiting, its intent undone. */
static void unqueue(exec *x, sched *q, step *s) {
  undo(s);
  if (s->lim >= 0) x->limits[s->lim].running--;
  s->state = S_WAIT;
  q->queued--;
  idp_arena_free(&s->arena);
  s->inputs = s->prior = NULL;
}

/* An interrupt or a fatal error: the queued steps no worker has taken are taken back, but for
 * creates that took over a record (room() queued them for a free worker, which is taking them). */
static void take_back(exec *x, sched *q) {
  pthread_mutex_lock(&x->mu);
  step *s = x->work, *back = NULL;
  x->work = x->work_tail = NULL;
  while (s) {
    step *next = s->qnext;
    s->qnext = NULL;
    if (s->op == OP_CREATE && s->reused) {
      if (x->work_tail) x->work_tail->qnext = s;
      else x->work = s;
      x->work_tail = s;
    } else {
      s->qnext = back;
      back = s;
    }
    s = next;
  }
  pthread_mutex_unlock(&x->mu);
  for (step *next; back; back = next) {
    next = back->qnext;
    unqueue(x, q, back);
  }
}

/* Does s need the spec evaluated again: an input the plan could not know? */
static bool needs_fill(const step *s) {
  if (s->op == OP_DELETE) return false;
  const json_t *au = json_object_get(json_object_get(s->rc, "change"), "after_unknown");
  const char *k;
  json_t *m;
  json_object_foreach((json_t *)au, k, m) {
    if (idp_drv_find_input(&s->kind->io, k)) return true;
  }
  return false;
}

/* Fills in the unknowns of every ready step that needs it and has not had it, with one call: a
 * call evaluates the whole spec again, so it is made for all the steps it can serve, not only for
 * those there is room to start now. (What a ready step derives from is applied: its values are
 * final.) who, addrs and out: scratch arrays of the steps' count. */
static void fill_ready(exec *x, sched *q, step **who, const char **addrs, idp_value **out, idp_arena *fill_arena) {
  size_t n = 0;
  for (size_t i = q->rh; i < q->rt; i++) {
    step *s = &x->v[q->ready[i]];
    if (s->needs_fill && !s->filled_in) {
      who[n] = s;
      addrs[n++] = s->addr;
    }
  }
  if (!n) return;
  char msg[1024] = "";
  for (size_t i = 0; i < n; i++) out[i] = NULL;
  if (x->o->fill &&
      x->o->fill(x->o->fill_payload, x->states, x->nstates, addrs, n, out, fill_arena, msg, sizeof msg) < 0) {
    for (size_t i = 0; i < n; i++) out[i] = NULL;
  }
  const char *m = msg[0] ? idp_arena_strndup(fill_arena, msg, strlen(msg)) : NULL;
  for (size_t i = 0; i < n; i++) {
    who[i]->filled_in = true;
    who[i]->fill = out[i];
    who[i]->fillmsg = m;
  }
}

/* Prepares ready steps, in order, as many as there is room for, and queues those with room (the
 * others are held: over their integration's limit, or a create taking over a record while no
 * worker is free). */
static int prepare_ready(exec *x, sched *q, step **group, const char **fill_addrs, idp_value **filled,
                         idp_arena *fill_arena, step **head, step **tail) {
  char msg[1024];
  for (;;) {
    size_t cap = q->drain ? q->par : q->cap;
    if (q->rh == q->rt || q->queued >= cap) break;
    size_t ng = q->rt - q->rh;
    if (ng > cap - q->queued) ng = cap - q->queued;
    for (size_t i = 0; i < ng; i++) {
      const step *s = &x->v[q->ready[q->rh + i]];
      if (s->needs_fill && !s->filled_in) {
        fill_ready(x, q, group, fill_addrs, filled, fill_arena);
        break;
      }
    }
    for (size_t i = 0; i < ng; i++) {
      group[i] = &x->v[q->ready[q->rh++]];
      idp_arena_init(&group[i]->arena);
    }
    for (size_t i = 0; i < ng; i++) {
      step *s = group[i];
      msg[0] = '\0';
      int p = prepare(x, s, s->fill, s->fillmsg, msg, sizeof msg);
      if (p < 0) return -1;
      if (p == 1) { /* nothing to do */
        s->state = S_DONE;
        x->res->done++;
        emit(x, IDP_EXEC_DONE, s, NULL);
        release(x, q, s);
        idp_arena_free(&s->arena);
        continue;
      }
      if (p == 2) {
        finish_failed(x, s, msg);
        idp_arena_free(&s->arena);
        continue;
      }
      s->lim = limit_of(x, s);
      if (room(x, q, s)) {
        if (enqueue(x, q, s, head, tail) < 0) return -1;
      } else {
        s->state = S_HELD;
        q->held[q->nheld++] = s;
      }
    }
  }
  return 0;
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
  sched q = {.par = nthreads, .cap = 2 * nthreads};
  q.ready = idp_xcalloc(x.n + 1, sizeof *q.ready);
  q.held = idp_xcalloc(x.n + 1, sizeof *q.held);
  for (size_t i = 0; i < x.n; i++) {
    x.v[i].needs_fill = needs_fill(&x.v[i]);
    if (!x.v[i].waits) q.ready[q.rt++] = i;
  }
  step **group = idp_xcalloc(x.n + 1, sizeof *group);
  const char **fill_addrs = idp_xcalloc(x.n + 1, sizeof *fill_addrs);
  idp_value **filled = idp_xcalloc(x.n + 1, sizeof *filled);
  idp_arena fill_arena;
  idp_arena_init(&fill_arena);
  while (rc == 0) {
    bool stopping = o->interrupted && *o->interrupted;
    step *head = NULL, *tail = NULL; /* the batch: queued once the write below made its intents durable */
    if (stopping) {
      take_back(&x, &q);
      for (size_t i = 0; i < q.nheld; i++) {
        q.held[i]->state = S_WAIT;
        idp_arena_free(&q.held[i]->arena);
      }
      q.nheld = 0;
    } else {
      /* first what waited for room, then what is ready, each in order */
      size_t w = 0;
      q.drain = false;
      for (size_t i = 0; i < q.nheld; i++) {
        step *s = q.held[i];
        if (rc < 0 || !room(&x, &q, s)) q.held[w++] = s;
        else if (enqueue(&x, &q, s, &head, &tail) < 0) rc = -1;
      }
      q.nheld = w;
      if (rc == 0) rc = prepare_ready(&x, &q, group, fill_addrs, filled, &fill_arena, &head, &tail);
    }
    /* one write: the results taken since the last one, and the intents of the batch */
    bool dirty = false;
    for (size_t i = 0; i < nstates; i++) dirty |= idp_state_dirty(states[i]);
    double t0 = now_s();
    if (rc < 0 || write_states(&x) < 0) {
      rc = -1;
      for (step *s = head, *next; s; s = next) { /* never started */
        next = s->qnext;
        unqueue(&x, &q, s);
      }
      break;
    }
    if (dirty) {
      q.write_s = average(q.write_s, now_s() - t0);
      tune(&q);
    }
    if (head) {
      pthread_mutex_lock(&x.mu);
      if (x.work_tail) x.work_tail->qnext = head;
      else x.work = head;
      x.work_tail = tail;
      pthread_cond_broadcast(&x.work_cond);
      pthread_mutex_unlock(&x.mu);
    }
    if (!q.queued) {
      if (!stopping && (q.rh < q.rt || q.nheld)) continue; /* settled without a call; look again */
      break;
    }
    /* wait for a step to start or finish, then take every one there is, oldest first */
    pthread_mutex_lock(&x.mu);
    while (!x.done && !x.started) pthread_cond_wait(&x.done_cond, &x.mu);
    step *st = x.started, *fin = x.done, *rev = NULL;
    x.started = x.done = NULL;
    pthread_mutex_unlock(&x.mu);
    for (step *next; st; st = next) {
      next = st->snext;
      st->snext = rev;
      rev = st;
    }
    for (step *s = rev; s; s = s->snext) emit(&x, IDP_EXEC_START, s, NULL);
    for (rev = NULL; fin; fin = st) {
      st = fin->qnext;
      fin->qnext = rev;
      rev = fin;
    }
    for (step *s = rev; s; s = s->qnext) {
      q.queued--;
      q.call_s = average(q.call_s, s->elapsed);
      if (s->lim >= 0) x.limits[s->lim].running--;
      if (s->status == 0 && record(&x, s) == 0) {
        s->state = S_DONE;
        count_done(&x, s);
        emit(&x, IDP_EXEC_DONE, s, NULL);
        release(&x, &q, s);
      } else {
        if (s->status != 0 && s->ctx.applied) taint(&x, s);
        finish_failed(&x, s, s->status == 0 ? err->msg : s->ctx.err);
        err->code = 0;
      }
      idp_arena_free(&s->arena);
    }
  }
  /* on a fatal error: start nothing more, let the calls in flight finish and keep what they did */
  if (q.queued) take_back(&x, &q);
  while (q.queued) {
    pthread_mutex_lock(&x.mu);
    while (!x.done) pthread_cond_wait(&x.done_cond, &x.mu);
    step *fin = x.done;
    x.done = x.started = NULL;
    pthread_mutex_unlock(&x.mu);
    for (step *s = fin; s; s = s->qnext) {
      q.queued--;
      idp_state_error e2 = {0};
      idp_state_error *keep = x.err;
      x.err = &e2;
      if (s->status == 0 && record(&x, s) == 0) {
        s->state = S_DONE;
        count_done(&x, s);
      } else {
        s->state = S_FAILED;
        res->failed++;
      }
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
  for (size_t i = 0; i < x.n; i++) {
    if (x.v[i].state == S_WAIT || x.v[i].state == S_HELD) {
      x.v[i].state = S_SKIPPED;
      res->skipped++;
      emit(&x, IDP_EXEC_SKIPPED, &x.v[i], o->interrupted && *o->interrupted ? "interrupted" : "not started");
    }
    idp_arena_free(&x.v[i].arena);
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
  free(q.ready);
  free(q.held);
  free(group);
  free(fill_addrs);
  free(filled);
  idp_arena_free(&fill_arena);
  return rc < 0 ? (err->code ? err->code : IDP_STATE_ERROR) : 0;
}
