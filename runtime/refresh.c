/* refresh.c - reading the real objects before a plan (refresh.h). */
#include "refresh.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/driver.h"
#include "util.h"

idp_value *idp_refresh_prior(idp_arena *a, const idp_state *st, const idp_state_res *r, idp_state_error *err) {
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

typedef struct job {
  idp_state *st;
  idp_state_res *r;
  const char *addr;
  const idp_drv_kind *kind;
  idp_value *prior, *out;
  idp_drv_ctx ctx;
  int status;
} job;

typedef struct pool {
  job *v;
  size_t n, next;
  pthread_mutex_t mu;
} pool;

static void *reader(void *arg) {
  pool *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    size_t i = p->next < p->n ? p->next++ : p->n;
    pthread_mutex_unlock(&p->mu);
    if (i == p->n) return NULL;
    job *j = &p->v[i];
    j->status = j->kind->ops.read(&j->ctx, j->prior, &j->out);
  }
}

static const idp_value *part_of(const idp_value *v, const char *part) {
  const idp_value *m = v ? idp_map_get(v, part, strlen(part)) : NULL;
  return m && m->kind == IDP_V_MAP ? m : NULL;
}

static int cmp_drift(const void *a, const void *b) {
  return strcmp(((const idp_drift *)a)->addr, ((const idp_drift *)b)->addr);
}

/* Records what differs between prior and out in d, and puts out into the record. */
static int take(idp_refresh_result *res, job *j, idp_drift *d, idp_state_error *err) {
  static const char *const parts[] = {"inputs", "outputs"};
  idp_arena *a = &res->arena;
  size_t cap = 0;
  for (int p = 0; p < 2; p++) {
    const idp_value *b = part_of(j->prior, parts[p]), *o = part_of(j->out, parts[p]);
    cap += (b ? b->u.map.n : 0) + (o ? o->u.map.n : 0);
  }
  d->attrs = idp_arena_alloc(a, (cap + 1) * sizeof *d->attrs);
  for (int p = 0; p < 2; p++) {
    const idp_value *b = part_of(j->prior, parts[p]), *o = part_of(j->out, parts[p]);
    for (int side = 0; side < 2; side++) {
      const idp_value *m = side ? b : o;
      for (size_t i = 0; m && i < m->u.map.n; i++) {
        const char *k = m->u.map.keys[i];
        const idp_value *bv = b ? idp_map_get(b, k, m->u.map.klen[i]) : NULL;
        const idp_value *ov = o ? idp_map_get(o, k, m->u.map.klen[i]) : NULL;
        if (side && ov) continue; /* seen from the read's side */
        if (bv && ov && idp_value_equal(bv, ov) && idp_value_has_secret(bv) == idp_value_has_secret(ov)) continue;
        /* drift is what the spec sets: an output that moved on (a zone's serial, raised by the
         * records idp itself changed) is taken into the state without a word */
        if (!p) d->attrs[d->nattrs++] = (idp_drift_attr){k, bv, ov};
        const idp_drv_output *dout = p ? idp_drv_find_output(&j->kind->io, k) : NULL;
        json_t *jv = ov ? idp_value_to_json(ov, NULL) : NULL;
        int rc = idp_state_res_set(j->st, j->r, p ? IDP_STATE_OUTPUTS : IDP_STATE_INPUTS, k, jv,
                                   ov && (idp_value_has_secret(ov) || (dout && dout->secret)), err);
        json_decref(jv);
        if (rc < 0) return rc;
      }
    }
  }
  return 0;
}

int idp_refresh(idp_state *const *states, size_t n, idp_http *http, unsigned parallelism, idp_refresh_result *out,
                idp_state_error *err) {
  memset(out, 0, sizeof *out);
  idp_arena_init(&out->arena);
  size_t total = 0;
  for (size_t s = 0; s < n; s++) total += idp_state_count(states[s]);
  pool p = {.v = idp_xcalloc(total + 1, sizeof *p.v)};
  out->arenas = idp_xcalloc(total + 1, sizeof *out->arenas);
  int rc = 0;
  for (size_t s = 0; s < n && rc == 0; s++)
    for (size_t i = 0; i < idp_state_count(states[s]) && rc == 0; i++) {
      idp_state_res *r = idp_state_at(states[s], i);
      const idp_drv_kind *kind = idp_driver_find_kind(idp_state_res_driver(r), NULL);
      if (!kind || !kind->ops.read || idp_state_res_status(r) != IDP_STATE_CREATED) continue;
      job *j = &p.v[p.n];
      idp_arena *a = &out->arenas[out->narenas++];
      idp_arena_init(a);
      *j = (job){.st = states[s], .r = r, .addr = idp_state_res_address(r), .kind = kind};
      j->ctx = (idp_drv_ctx){.arena = a, .http = http, .address = j->addr};
      if (!(j->prior = idp_refresh_prior(a, states[s], r, err))) rc = err->code ? err->code : IDP_STATE_ERROR;
      p.n++;
    }
  if (rc == 0 && p.n) {
    size_t nt = parallelism ? parallelism : 10;
    if (nt > p.n) nt = p.n;
    pthread_t *t = idp_xcalloc(nt, sizeof *t);
    size_t started = 0;
    pthread_mutex_init(&p.mu, NULL);
    for (size_t i = 0; i < nt; i++)
      if (pthread_create(&t[i], NULL, reader, &p) == 0) started++;
    if (!started) reader(&p); /* no thread: read here */
    for (size_t i = 0; i < started; i++) pthread_join(t[i], NULL);
    pthread_mutex_destroy(&p.mu);
    free(t);
  }
  for (size_t i = 0; i < p.n && rc == 0; i++)
    if (p.v[i].status < 0)
      rc = idp_state_fail(err, IDP_STATE_ERROR,
                          "refreshing %s: %s\nhint: plan with -refresh=false to compare with the state as it is",
                          p.v[i].addr, p.v[i].ctx.err);
  out->read = p.n;
  out->v = idp_arena_alloc(&out->arena, (p.n + 1) * sizeof *out->v);
  for (size_t i = 0; i < p.n && rc == 0; i++) {
    job *j = &p.v[i];
    idp_drift d = {.addr = idp_arena_strndup(&out->arena, j->addr, strlen(j->addr))};
    if (!j->out) {
      d.deleted = true;
      out->v[out->n++] = d;
      continue;
    }
    rc = take(out, j, &d, err);
    if (d.nattrs) out->v[out->n++] = d;
  }
  /* the deleted leave the state last: their records held the addresses above */
  for (size_t i = 0; i < p.n && rc == 0; i++)
    if (!p.v[i].out) rc = idp_state_remove(p.v[i].st, p.v[i].addr, err);
  qsort(out->v, out->n, sizeof *out->v, cmp_drift);
  free(p.v);
  if (rc < 0) {
    idp_refresh_result_free(out);
    return rc;
  }
  return 0;
}

void idp_refresh_result_free(idp_refresh_result *r) {
  for (size_t i = 0; i < r->narenas; i++) idp_arena_free(&r->arenas[i]);
  free(r->arenas);
  idp_arena_free(&r->arena);
  memset(r, 0, sizeof *r);
}

void idp_refresh_print(const idp_refresh_result *r, FILE *out) { idp_refresh_print_color(r, out, false); }

/* ANSI SGR codes, written only when the caller asks for colour (as idp_plan_print_color). */
#define SGR_RESET "\033[0m"
#define SGR_BOLD "\033[1m"

void idp_refresh_print_color(const idp_refresh_result *r, FILE *out, bool color) {
  if (!r->n) return;
  const char *bold = color ? SGR_BOLD : "", *reset = color ? SGR_RESET : "";
  idp_buf b = {0};
  idp_buf_puts(&b, "Objects have changed outside of idp since the last apply:\n");
  for (size_t i = 0; i < r->n; i++) {
    const idp_drift *d = &r->v[i];
    if (d->deleted) {
      idp_buf_printf(&b, "\n  %s# %s has been deleted%s\n", bold, d->addr, reset);
      continue;
    }
    idp_buf_printf(&b, "\n  %s# %s has changed%s\n  %s %s {\n", bold, d->addr, reset,
                   color ? "\033[33m~" SGR_RESET : "~", d->addr);
    for (size_t k = 0; k < d->nattrs; k++) {
      const idp_drift_attr *at = &d->attrs[k];
      char sign = !at->before ? '+' : !at->after ? '-' : '~';
      const char *sgr = sign == '+' ? "\033[32m" : sign == '-' ? "\033[31m" : "\033[33m";
      idp_buf_printf(&b, "      %s%c%s %s = ", color ? sgr : "", sign, reset, at->name);
      if (at->before) idp_value_print(&b, at->before, 8);
      if (at->before && at->after) idp_buf_puts(&b, " -> ");
      if (at->after) idp_value_print(&b, at->after, 8);
      idp_buf_putc(&b, '\n');
    }
    idp_buf_puts(&b, "    }\n");
  }
  idp_buf_putc(&b, '\n');
  fwrite(idp_buf_cstr(&b), 1, b.len, out);
  idp_buf_free(&b);
}

json_t *idp_refresh_json(const idp_refresh_result *r) {
  json_t *arr = json_array();
  for (size_t i = 0; i < r->n; i++) {
    const idp_drift *d = &r->v[i];
    json_t *ch = json_array();
    for (size_t k = 0; k < d->nattrs; k++)
      json_array_append_new(ch, json_string(d->attrs[k].name));
    json_array_append_new(arr, json_pack("{s:s, s:s, s:o}", "address", d->addr, "action",
                                         d->deleted ? "delete" : "update", "changed", ch));
  }
  return arr;
}
