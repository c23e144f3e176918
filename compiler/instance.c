/* instance.c - environment instantiation and the dependency graph (see instance.h). */
#include "instance.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/driver.h"
#include "eval.h"
#include "schema.h"
#include "spec.h"
#include "util.h"

#define NONE ((size_t)-1)

/* --- hash tables: chained, entries in the graph's arena, buckets malloc'd and doubled as the
 * entries reach their number (a run makes hundreds of thousands of instances and memos) ------- */

/* FNV-1a, continued from h over s and its terminating NUL (so that ("ab", "c") and ("a", "bc")
 * differ). */
static size_t hash_str(size_t h, const char *s) {
  for (;; s++) {
    h = (h ^ (unsigned char)*s) * (size_t)1099511628211u;
    if (!*s) return h;
  }
}
#define HASH_SEED ((size_t)14695981039346656037u)

/* A pointer's bits mixed into h (pointers are aligned: their low bits say little). */
static size_t hash_ptr(size_t h, const void *p) {
  size_t x = (size_t)(uintptr_t)p;
  x ^= x >> 17;
  return (h ^ x) * (size_t)0x9E3779B97F4A7C15u;
}

/* Doubles the buckets of table t (fields b, nb) whose entries, of type `type`, are chained through
 * `next`; hash_of(entry) gives an entry's hash. 64 buckets to start with. */
#define HTAB_GROW(t, type, hash_of)                                                  \
  do {                                                                               \
    size_t nb_ = (t)->nb ? 2 * (t)->nb : 64;                                         \
    type **b_ = idp_xcalloc(nb_, sizeof *b_);                                        \
    for (size_t i_ = 0; i_ < (t)->nb; i_++)                                          \
      for (type *e_ = (t)->b[i_], *n_; e_; e_ = n_) {                                \
        size_t h_ = hash_of(e_) & (nb_ - 1);                                         \
        n_ = e_->next;                                                               \
        e_->next = b_[h_];                                                           \
        b_[h_] = e_;                                                                 \
      }                                                                              \
    free((t)->b);                                                                    \
    (t)->b = b_;                                                                     \
    (t)->nb = nb_;                                                                   \
  } while (0)

/* Strings to values. */
typedef struct hent {
  const char *key;
  size_t hash;
  void *val;
  struct hent *next;
} hent;

typedef struct htab {
  hent **b;                   /* nb buckets, malloc'd (NULL while empty) */
  size_t nb, n;
} htab;

static size_t hent_hash(const hent *e) { return e->hash; }

static void *hget(const htab *t, const char *key) {
  if (!t->nb) return NULL;
  size_t h = hash_str(HASH_SEED, key);
  for (hent *e = t->b[h & (t->nb - 1)]; e; e = e->next)
    if (e->hash == h && strcmp(e->key, key) == 0) return e->val;
  return NULL;
}

/* Adds key (not copied) -> val; an earlier entry of the same key stays first in hget's way. */
static void hput(idp_arena *a, htab *t, const char *key, void *val) {
  if (t->n >= t->nb) HTAB_GROW(t, hent, hent_hash);
  hent *e = idp_arena_alloc(a, sizeof *e);
  e->key = key;
  e->hash = hash_str(HASH_SEED, key);
  e->val = val;
  size_t i = e->hash & (t->nb - 1);
  hent **at = &t->b[i];
  while (*at) at = &(*at)->next; /* append: hget finds the first one put */
  *at = e;
  t->n++;
}

/* --- the model --------------------------------------------------------------------------------- */

/* A top-level block of the tree. */
typedef struct top {
  const char *kind, *l1, *l2; /* block kind and its first two labels (NULL when absent) */
  idp_source *src;
  const idp_item *it;
  size_t app;                 /* an app's place in the spec's apps (its groups' row), else NONE */
  idp_value *name_v;          /* an app's app.name, made on first use */
} top;

/* The index of the top-level blocks: (kind, l1, l2) -> the first such block, where l1 or l2 NULL
 * stands for any label there. Each block is entered as (kind, l1, NULL) and (kind, l1, l2), an
 * integration also as (kind, NULL, l2): references name integrations by their name alone. */
typedef struct topent {
  const char *kind, *l1, *l2;
  size_t hash;
  const top *t;
  struct topent *next;
} topent;

typedef struct toptab {
  topent **b;
  size_t nb, n;
} toptab;

typedef struct inst_env {
  const char *name, *type;
  const top *type_block;      /* NULL when the env has no type */
  idp_value *name_v, *type_v; /* env.name and env.type, made on first use (values are shared) */
} inst_env;

typedef struct inst inst;

/* One (env, app, need) and the provide that met it. */
typedef struct group {
  size_t env;
  const top *app;
  const char *need;
  const top *provide;
  const char *prefix;         /* "env.E/app.A/need.N/" */
  inst **res;                 /* the instances of the provide's resources, in block order */
  size_t nres;
} group;

struct inst {
  idp_inst pub;               /* first: an idp_inst * is an inst * */
  size_t group;               /* NONE for a top-level resource */
  size_t idx;                 /* its place in the state's `all` */
  const idp_drv_kind *kind;   /* its driver kind, or NULL when unknown */
  const idp_deps *self;       /* {its address}, made on first use */
  struct memo *memos;         /* one per attribute of its block, in order; made on first use */
  bool included, evaluated;
};

enum { M_NEW, M_BUSY, M_DONE };

/* What a memo holds: the attribute of an instance, an integration, a need's output (a group's),
 * an app's attribute or variable (in an env), or an env type's attribute (in an env). */
typedef enum { MEMO_INPUT, MEMO_INTEGRATION, MEMO_OUTPUT, MEMO_APP, MEMO_VARIABLE, MEMO_ENV_TYPE, MEMO_VAR } memo_kind;

/* One attribute evaluated once in one place; (owner, app, it) names it. A large run holds
 * several per instance: kept small (its hash is recomputed when the table grows). */
typedef struct memo {
  memo_kind kind;
  int state;
  const void *owner;          /* INPUT: the inst; INTEGRATION: its top; OUTPUT: the group;
                                 APP, VARIABLE, ENV_TYPE: the inst_env (NULL outside one) */
  const top *app;             /* APP, VARIABLE: the app; else NULL */
  const idp_item *it;         /* the attribute */
  idp_value *val;
  struct memo *next;          /* hash chain */
} memo;

typedef struct memotab {
  memo **b;
  size_t nb, n;
} memotab;

/* An attribute being evaluated: a link of a cycle's chain. */
typedef struct frame {
  const memo *m;
  idp_source *src;
  idp_loc loc;
} frame;

struct idp_inst_state {
  idp_graph *g;
  idp_arena *a;
  idp_diags *d;
  const char *spec_dir;
  idp_image_fn image;         /* registry_image(), or NULL: unknown until apply */
  void *image_payload;
  idp_inst_opts hooks;        /* output and configure (instance.h) */
  struct configured *configured; /* configure's answers, per integration block */
  top *tops;
  size_t ntops;
  idp_spec *spec;
  inst_env *envs;
  size_t nenvs;
  group *groups;
  size_t ngroups;
  size_t napps;               /* apps in the spec: a row of grp_first per env */
  size_t *grp_first;          /* [env * napps + app]: its first group; groups of one (env, app) */
  size_t *grp_count;          /*   are consecutive, grp_count of them (malloc'd) */
  inst **all;
  size_t nall;
  htab insts;                 /* address -> inst */
  memotab memos;
  toptab tops_ix;
  idp_buf scratch;            /* transient keys */
  frame *fr;
  size_t nfr, capfr;
};

/* What the resolver sees: where the expression being evaluated stands. */
typedef struct scope {
  idp_inst_state *st;
  const inst_env *env;        /* NULL at the top level */
  const top *app;             /* NULL outside an app's context */
  const group *grp;           /* inside a provide: its (env, app, need) */
  bool in_app;                /* evaluating the app block itself (decision 12) */
} scope;

/* The attribute name of b, or NULL; *index (may be NULL) gets its place among b's attributes. */
static const idp_item *body_attr_at(const idp_body *b, const char *name, size_t *index) {
  size_t i = 0;
  for (const idp_item *it = b->first; it; it = it->next) {
    if (it->kind != IDP_ITEM_ATTR) continue;
    if (strcmp(it->name, name) == 0) {
      if (index) *index = i;
      return it;
    }
    i++;
  }
  return NULL;
}

static const idp_item *body_attr(const idp_body *b, const char *name) { return body_attr_at(b, name, NULL); }

static const idp_item *body_block(const idp_body *b, const char *kind) {
  for (const idp_item *it = b->first; it; it = it->next)
    if (it->kind == IDP_ITEM_BLOCK && strcmp(it->name, kind) == 0) return it;
  return NULL;
}

static size_t top_hash(const char *kind, const char *l1, const char *l2) {
  size_t h = hash_str(HASH_SEED, kind);
  h = l1 ? hash_str(h, l1) : hash_ptr(h, NULL);
  return l2 ? hash_str(h, l2) : hash_ptr(h, NULL);
}

static size_t topent_hash(const topent *e) { return e->hash; }

static bool same_label(const char *x, const char *y) { return x == y || (x && y && strcmp(x, y) == 0); }

static const topent *top_lookup(const toptab *ix, const char *kind, const char *l1, const char *l2, size_t h) {
  if (!ix->nb) return NULL;
  for (const topent *e = ix->b[h & (ix->nb - 1)]; e; e = e->next)
    if (e->hash == h && strcmp(e->kind, kind) == 0 && same_label(e->l1, l1) && same_label(e->l2, l2)) return e;
  return NULL;
}

/* Enters t under (kind, l1, l2) unless a block came there first. */
static void top_enter(idp_inst_state *st, const top *t, const char *l1, const char *l2) {
  toptab *ix = &st->tops_ix;
  size_t h = top_hash(t->kind, l1, l2);
  if (top_lookup(ix, t->kind, l1, l2, h)) return;
  if (ix->n >= ix->nb) HTAB_GROW(ix, topent, topent_hash);
  topent *e = idp_arena_alloc(st->a, sizeof *e);
  *e = (topent){t->kind, l1, l2, h, t, ix->b[h & (ix->nb - 1)]};
  ix->b[h & (ix->nb - 1)] = e;
  ix->n++;
}

/* The first top-level block of kind with labels l1 and l2 (NULL: any). */
static const top *find_top(const idp_inst_state *st, const char *kind, const char *l1, const char *l2) {
  const topent *e = top_lookup(&st->tops_ix, kind, l1, l2, top_hash(kind, l1, l2));
  return e ? e->t : NULL;
}

/* --- values -------------------------------------------------------------------------------------- */

static idp_value_kind hint_of(idp_drv_type t) {
  switch (t.kind) {
  case IDP_DRV_T_STRING: return IDP_V_STRING;
  case IDP_DRV_T_NUMBER: return IDP_V_NUMBER;
  case IDP_DRV_T_BOOL: return IDP_V_BOOL;
  case IDP_DRV_T_LIST_STRING:
  case IDP_DRV_T_LIST_NUMBER: return IDP_V_LIST;
  case IDP_DRV_T_MAP_STRING: return IDP_V_MAP;
  default: return IDP_V_UNKNOWN;
  }
}

static idp_value *default_value(idp_arena *a, const idp_drv_input *in) {
  switch (in->def.kind) {
  case IDP_DRV_DEF_STRING: return idp_value_cstring(a, in->def.u.string);
  case IDP_DRV_DEF_NUMBER: return idp_value_number(a, in->def.u.number);
  case IDP_DRV_DEF_BOOL: return idp_value_bool(a, in->def.u.boolean);
  case IDP_DRV_DEF_EMPTY:
    if (in->type.kind == IDP_DRV_T_LIST_STRING || in->type.kind == IDP_DRV_T_LIST_NUMBER)
      return idp_value_list(a, NULL, 0);
    else {
      idp_map_builder mb;
      idp_map_builder_init(&mb, a);
      return idp_map_builder_build(&mb, NULL);
    }
  default: return NULL;
  }
}

static idp_value *unknown_of(idp_arena *a, idp_value_kind hint, const idp_deps *deps, bool secret) {
  return idp_value_taint(a, idp_value_unknown(a, hint), deps, secret);
}

/* --- evaluation ------------------------------------------------------------------------------- */

static int resolve(idp_ref_result *res, const char *root, const idp_ref_step *steps, size_t n, void *payload);

static void where(idp_buf *b, idp_source *src, idp_loc loc) {
  unsigned line, col;
  idp_source_linecol(src, loc.start, &line, &col);
  idp_buf_printf(b, "%s:%u:%u", src->path, line, col);
}

/* How a cycle's chain names m: "ADDRESS.ATTR", "integration.NAME.ATTR", "env.E/app.A/need.N.OUTPUT",
 * "env.E/app.A.ATTR", "env.E/app.A.variables.NAME", "env_type.T.ATTR (env E)". */
static void memo_label(idp_buf *b, const idp_inst_state *st, const memo *m) {
  const char *attr = m->it->name;
  const inst_env *env = m->owner;
  switch (m->kind) {
  case MEMO_INPUT: idp_buf_printf(b, "%s.%s", ((const inst *)m->owner)->pub.addr, attr); break;
  case MEMO_INTEGRATION: idp_buf_printf(b, "integration.%s.%s", ((const top *)m->owner)->l2, attr); break;
  case MEMO_OUTPUT: {
    const group *g = m->owner;
    idp_buf_printf(b, "env.%s/app.%s/need.%s.%s", st->envs[g->env].name, g->app->l1, g->need, attr);
    break;
  }
  case MEMO_APP: idp_buf_printf(b, "env.%s/app.%s.%s", env ? env->name : "", m->app->l1, attr); break;
  case MEMO_VARIABLE: idp_buf_printf(b, "env.%s/app.%s.variables.%s", env ? env->name : "", m->app->l1, attr); break;
  case MEMO_ENV_TYPE: idp_buf_printf(b, "env_type.%s.%s (env %s)", env->type_block->l1, attr, env->name); break;
  case MEMO_VAR: idp_buf_printf(b, "var.%s", ((const top *)m->owner)->l1); break;
  }
}

/* Reports the cycle that reaching m again closes. */
static void report_cycle(idp_inst_state *st, const memo *m) {
  size_t i = st->nfr;
  while (i > 0 && st->fr[i - 1].m != m) i--;
  if (i == 0) return;
  i--;
  idp_buf b = {0};
  idp_buf_puts(&b, "dependency cycle: ");
  for (size_t k = i; k < st->nfr; k++) {
    memo_label(&b, st, st->fr[k].m);
    idp_buf_puts(&b, " (");
    where(&b, st->fr[k].src, st->fr[k].loc);
    idp_buf_puts(&b, ") -> ");
  }
  memo_label(&b, st, st->fr[i].m);
  idp_diag_error(st->d, st->fr[i].src, st->fr[i].loc, "%s", idp_buf_cstr(&b));
  idp_diag_hint(st->d, "each arrow reads 'needs'; remove one of these references");
  idp_buf_free(&b);
}

static size_t memo_key_hash(const void *owner, const top *app, const idp_item *it) {
  size_t h = hash_ptr(hash_ptr(hash_ptr(HASH_SEED, owner), app), it);
  return h ^ (h >> 29); /* the buckets take the low bits; a product's best bits are its high ones */
}

static size_t memo_hash(const memo *m) { return memo_key_hash(m->owner, m->app, m->it); }

/* The memo of attribute it of (owner, app), made on first use: any but an instance's input. */
static memo *memo_get(idp_inst_state *st, memo_kind kind, const void *owner, const top *app, const idp_item *it) {
  memotab *t = &st->memos;
  if (t->nb)
    for (memo *m = t->b[memo_key_hash(owner, app, it) & (t->nb - 1)]; m; m = m->next)
      if (m->owner == owner && m->app == app && m->it == it) return m;
  if (t->n >= t->nb) HTAB_GROW(t, memo, memo_hash);
  size_t h = memo_key_hash(owner, app, it);
  memo *m = idp_arena_alloc(st->a, sizeof *m);
  *m = (memo){.kind = kind, .state = M_NEW, .owner = owner, .app = app, .it = it};
  m->next = t->b[h & (t->nb - 1)];
  t->b[h & (t->nb - 1)] = m;
  t->n++;
  return m;
}

/* The memo of it, the index-th attribute of in's block. An instance keeps its own: they are most
 * memos, and a table lookup costs a cache miss or two. */
static memo *inst_memo(idp_inst_state *st, inst *in, size_t index, const idp_item *it) {
  if (!in->memos) {
    size_t n = 0;
    for (const idp_item *x = in->pub.block->body.first; x; x = x->next) n += x->kind == IDP_ITEM_ATTR;
    in->memos = idp_arena_alloc(st->a, (n ? n : 1) * sizeof *in->memos);
  }
  memo *m = &in->memos[index];
  if (!m->it) *m = (memo){.kind = MEMO_INPUT, .state = M_NEW, .owner = in, .it = it};
  return m;
}

/* The value of m's attribute (in src), evaluated once in scope sc. An error gives an unknown value
 * (already reported). */
static idp_value *memo_eval(const scope *sc, memo *m, idp_source *src) {
  idp_inst_state *st = sc->st;
  const idp_item *it = m->it;
  if (m->state == M_DONE) return m->val;
  if (m->state == M_BUSY) {
    report_cycle(st, m);
    return idp_value_unknown(st->a, IDP_V_UNKNOWN);
  }
  m->state = M_BUSY;
  if (st->nfr == st->capfr) {
    st->capfr = st->capfr ? 2 * st->capfr : 16;
    st->fr = idp_xrealloc(st->fr, st->capfr * sizeof *st->fr);
  }
  st->fr[st->nfr++] = (frame){m, src, it->name_loc};
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, st->a, st->d, src);
  c.resolve = resolve;
  c.resolve_payload = (void *)sc;
  c.in_app = sc->in_app;
  c.spec_dir = st->spec_dir;
  c.image_resolver = st->image;
  c.image_payload = st->image_payload;
  idp_value *v = NULL;
  if (idp_eval(&c, it->value, &v) != IDP_EVAL_OK || !v) v = idp_value_unknown(st->a, IDP_V_UNKNOWN);
  st->nfr--;
  m->state = M_DONE;
  m->val = v;
  return v;
}

static scope inst_scope(idp_inst_state *st, const inst *in) {
  scope sc = {.st = st};
  if (in->group != NONE) {
    const group *g = &st->groups[in->group];
    sc.env = &st->envs[g->env];
    sc.app = g->app;
    sc.grp = g;
  }
  return sc;
}

/* The value of one attribute of a resource instance, as a reference reads it: an input set or
 * its default, or an output (unknown until apply); marked as depending on the instance. Returns
 * NULL when the kind has no such attribute. */
static const idp_deps *self_deps(idp_inst_state *st, inst *in) {
  if (!in->self) in->self = idp_deps_one(st->a, in->pub.addr);
  return in->self;
}

static idp_value *inst_attr(idp_inst_state *st, inst *in, const char *attr) {
  idp_arena *a = st->a;
  const idp_deps *self = self_deps(st, in);
  size_t index;
  const idp_item *it = body_attr_at(&in->pub.block->body, attr, &index);
  const idp_drv_kind *k = in->kind;
  if (it) {
    scope sc = inst_scope(st, in);
    return idp_value_taint(a, memo_eval(&sc, inst_memo(st, in, index, it), in->pub.src), self, false);
  }
  if (!k) return NULL;
  const idp_drv_input *ip = idp_drv_find_input(&k->io, attr);
  if (ip) {
    idp_value *v = default_value(a, ip);
    return idp_value_taint(a, v ? v : idp_value_null(a), self, false);
  }
  const idp_drv_output *op = idp_drv_find_output(&k->io, attr);
  if (!op) return NULL;
  idp_value *v = st->hooks.output ? st->hooks.output(st->hooks.hooks_payload, a, in->pub.addr, attr) : NULL;
  if (v) return idp_value_taint(a, v, self, op->secret);
  return unknown_of(a, hint_of(op->type), self, op->secret);
}

static idp_value *integration_handle(idp_inst_state *st, const top *t);

/* What an integration's configure gave (NULL outputs: unknown). */
struct configured {
  const top *t;
  idp_value *outputs;
  struct configured *next;
};

/* An integration's attribute: an input set or its default, or a derived output (unknown at plan
 * time: the driver computes it when it configures the integration). NULL when there is none. */
static idp_value *integration_attr(idp_inst_state *st, const top *t, const char *attr) {
  idp_arena *a = st->a;
  const idp_item *it = body_attr(&t->it->body, attr);
  if (it) {
    scope sc = {.st = st};
    return memo_eval(&sc, memo_get(st, MEMO_INTEGRATION, t, NULL, it), t->src);
  }
  const idp_driver *drv = idp_driver_find(t->l1);
  if (!drv) return NULL;
  const idp_drv_input *ip = idp_drv_find_input(&drv->io, attr);
  if (ip) {
    idp_value *v = default_value(a, ip);
    return v ? v : idp_value_null(a);
  }
  const idp_drv_output *op = idp_drv_find_output(&drv->io, attr);
  if (!op) return NULL;
  if (st->hooks.configure) {
    struct configured *c = st->configured;
    while (c && c->t != t) c = c->next;
    if (!c) {
      c = idp_arena_alloc(a, sizeof *c);
      c->t = t;
      idp_value *handle = integration_handle(st, t);
      if (!idp_value_has_unknown(handle)) c->outputs = st->hooks.configure(st->hooks.hooks_payload, a, drv->name, handle);
      c->next = st->configured;
      st->configured = c;
    }
    idp_value *v = c->outputs ? idp_map_get(c->outputs, attr, strlen(attr)) : NULL;
    if (v) return idp_value_taint(a, v, NULL, op->secret);
  }
  return unknown_of(a, hint_of(op->type), NULL, op->secret);
}

/* An integration as a whole (`target = integration.manifests`): the map of its attributes set. */
/* A var's value: given (-var NAME=VALUE, then the environment's IDP_VAR_NAME), else its default;
 * a given string becomes a number or a bool when the default is one; `secret = true` marks it.
 * No value at all is an error at the block, reported once. */
static idp_value *var_value(idp_inst_state *st, const top *t) {
  idp_arena *a = st->a;
  memo *done = memo_get(st, MEMO_VAR, t, NULL, t->it);
  if (done->state == M_DONE) return done->val;
  const char *name = t->l1, *given = NULL;
  size_t nl = strlen(name);
  for (size_t i = 0; i < st->hooks.nvars; i++)
    if (strncmp(st->hooks.vars[i], name, nl) == 0 && st->hooks.vars[i][nl] == '=') given = st->hooks.vars[i] + nl + 1;
  char envname[128];
  snprintf(envname, sizeof envname, "IDP_VAR_%s", name);
  if (!given) given = getenv(envname);
  const idp_item *def = body_attr(&t->it->body, "default"), *sec = body_attr(&t->it->body, "secret");
  scope sc = {.st = st};
  idp_value *dv = def ? memo_eval(&sc, memo_get(st, MEMO_VAR, t, NULL, def), t->src) : NULL, *v = dv;
  if (given) {
    v = idp_value_cstring(a, given);
    char *end;
    double d = strtod(given, &end);
    if (dv && dv->kind == IDP_V_NUMBER && *given && !*end) v = idp_value_number(a, d);
    else if (dv && dv->kind == IDP_V_BOOL && (strcmp(given, "true") == 0 || strcmp(given, "false") == 0))
      v = idp_value_bool(a, given[0] == 't');
    else if (dv && (dv->kind == IDP_V_NUMBER || dv->kind == IDP_V_BOOL)) {
      idp_diag_error(st->d, t->src, t->it->labels->loc, "var '%s' takes a %s (its default is one), not '%s'", name,
                     idp_value_kind_name(dv->kind), sec ? "(secret)" : given);
      v = idp_value_unknown(a, dv->kind);
    }
  } else if (!dv) {
    idp_diag_error(st->d, t->src, t->it->labels->loc, "var '%s' has no value", name);
    idp_diag_hint(st->d, "give one: -var %s=VALUE, or export %s, or set a default in the block", name, envname);
    v = idp_value_unknown(a, IDP_V_UNKNOWN);
  }
  if (sec && sec->value->kind == IDP_E_BOOL && sec->value->u.boolean) v = idp_value_taint(a, v, NULL, true);
  done->state = M_DONE;
  done->val = v;
  return v;
}

static idp_value *integration_handle(idp_inst_state *st, const top *t) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, st->a);
  for (const idp_item *it = t->it->body.first; it; it = it->next)
    if (it->kind == IDP_ITEM_ATTR) idp_map_builder_add(&mb, it->name, strlen(it->name), integration_attr(st, t, it->name));
  return idp_map_builder_build(&mb, NULL);
}

static const group *find_group(const idp_inst_state *st, size_t env, const top *app, const char *need) {
  if (app->app == NONE) return NULL;
  size_t row = env * st->napps + app->app;
  for (size_t i = st->grp_first[row]; i < st->grp_first[row] + st->grp_count[row]; i++)
    if (strcmp(st->groups[i].need, need) == 0) return &st->groups[i];
  return NULL;
}

/* An output of the provide that met g (output NULL: all of them as a map). NULL when not there. */
static idp_value *need_output(idp_inst_state *st, const group *g, const char *output) {
  const idp_item *outs = body_block(&g->provide->it->body, "outputs");
  if (!outs) return NULL;
  scope sc = {.st = st, .env = &st->envs[g->env], .app = g->app, .grp = g};
  if (output) {
    const idp_item *it = body_attr(&outs->body, output);
    if (!it) return NULL;
    return memo_eval(&sc, memo_get(st, MEMO_OUTPUT, g, NULL, it), g->provide->src);
  }
  idp_map_builder mb;
  idp_map_builder_init(&mb, st->a);
  for (const idp_item *it = outs->body.first; it; it = it->next)
    if (it->kind == IDP_ITEM_ATTR) idp_map_builder_add(&mb, it->name, strlen(it->name), need_output(st, g, it->name));
  return idp_map_builder_build(&mb, NULL);
}

/* app.name, app.image, app.port, app.variables of the app in sc (evaluated in the app's context,
 * with in_app set). NULL for another attribute. */
static idp_value *app_attr(const scope *sc, const char *attr) {
  idp_inst_state *st = sc->st;
  idp_arena *a = st->a;
  const top *app = sc->app;
  scope asc = {.st = st, .env = sc->env, .app = app, .in_app = true};
  if (strcmp(attr, "name") == 0) {
    top *t = &st->tops[app - st->tops];
    if (!t->name_v) t->name_v = idp_value_cstring(a, t->l1);
    return t->name_v;
  }
  if (strcmp(attr, "image") != 0 && strcmp(attr, "port") != 0 && strcmp(attr, "variables") != 0) return NULL;
  const idp_item *it = body_attr(&app->it->body, attr);
  if (it && sc->env && st->hooks.image_pin && strcmp(attr, "image") == 0) { /* decision 9 */
    memo *m = memo_get(st, MEMO_APP, sc->env, app, it);
    if (m->state == M_DONE) return m->val;
    idp_value *v = memo_eval(&asc, m, app->src);
    const char *pin = st->hooks.image_pin(st->hooks.pin_payload, sc->env->name, app->l1, v);
    if (pin) m->val = idp_value_cstring(a, pin);
    return m->val;
  }
  if (it) return memo_eval(&asc, memo_get(st, MEMO_APP, sc->env, app, it), app->src);
  if (strcmp(attr, "variables") != 0) return idp_value_null(a);
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  const idp_item *vars = body_block(&app->it->body, "variables");
  for (const idp_item *v = vars ? vars->body.first : NULL; v; v = v->next) {
    if (v->kind != IDP_ITEM_ATTR) continue;
    idp_map_builder_add(&mb, v->name, strlen(v->name), memo_eval(&asc, memo_get(st, MEMO_VARIABLE, sc->env, app, v), app->src));
  }
  return idp_map_builder_build(&mb, NULL);
}

/* The hint for a missing attribute of a block with schema io: "WHAT has no attribute 'A'", with a
 * did-you-mean over its inputs and outputs. */
static const char *no_attr_hint(idp_arena *a, const char *what, const idp_drv_io *io, const char *attr) {
  const char *near = NULL;
  if (io) {
    size_t n = io->ninputs + io->noutputs, k = 0;
    const char **names = idp_arena_alloc(a, (n + 1) * sizeof *names);
    for (size_t i = 0; i < io->ninputs; i++) names[k++] = io->inputs[i].name;
    for (size_t i = 0; i < io->noutputs; i++) names[k++] = io->outputs[i].name;
    near = idp_did_you_mean(attr, names, k);
  }
  return near ? idp_arena_sprintf(a, "%s has no attribute '%s'; did you mean '%s'?", what, attr, near)
              : idp_arena_sprintf(a, "%s has no attribute '%s'", what, attr);
}

static const idp_drv_io *kind_io(const char *dotted) {
  const idp_drv_kind *k = idp_driver_find_kind(dotted, NULL);
  return k ? &k->io : NULL;
}

static const char *step(const idp_ref_step *steps, size_t n, size_t i) { return i < n ? steps[i].name : NULL; }

static int not_found(idp_ref_result *res, size_t used, const char *hint) {
  res->used = used;
  res->hint = hint;
  return IDP_EVAL_NOT_FOUND;
}

static int found(idp_ref_result *res, size_t used, idp_value *v) {
  if (!v) return IDP_EVAL_NOT_FOUND;
  res->used = used;
  res->value = v;
  return IDP_EVAL_OK;
}

static int resolve(idp_ref_result *res, const char *root, const idp_ref_step *steps, size_t n, void *payload) {
  const scope *sc = payload;
  idp_inst_state *st = sc->st;
  idp_arena *a = st->a;
  const char *s0 = step(steps, n, 0), *s1 = step(steps, n, 1);

  if (strcmp(root, "var") == 0) {
    if (!s0) return not_found(res, 0, "write var.NAME");
    const top *t = find_top(st, "var", s0, NULL);
    if (!t) return not_found(res, 0, idp_arena_sprintf(a, "no var is named '%s'", s0));
    return found(res, 1, var_value(st, t));
  }
  if (strcmp(root, "env") == 0) {
    if (!sc->env) return not_found(res, 0, "env.* is read inside a provide, an app or an env_type");
    inst_env *env = &st->envs[sc->env - st->envs];
    if (s0 && strcmp(s0, "name") == 0) {
      if (!env->name_v) env->name_v = idp_value_cstring(a, env->name);
      return found(res, 1, env->name_v);
    }
    if (s0 && strcmp(s0, "type") == 0) {
      if (!env->type_v) env->type_v = env->type ? idp_value_cstring(a, env->type) : idp_value_null(a);
      return found(res, 1, env->type_v);
    }
    return not_found(res, 0, "an environment has `name` and `type`");
  }
  if (strcmp(root, "env_type") == 0) {
    if (!sc->env) return not_found(res, 0, "env_type.* is read inside a provide or an app");
    if (!s0) return not_found(res, 0, NULL);
    const top *t = sc->env->type_block;
    const idp_item *it = t ? body_attr(&t->it->body, s0) : NULL;
    if (!it) return not_found(res, 0, idp_arena_sprintf(a, "env type '%s' sets no '%s'", sc->env->type ? sc->env->type : "(none)", s0));
    scope esc = {.st = st, .env = sc->env};
    return found(res, 1, memo_eval(&esc, memo_get(st, MEMO_ENV_TYPE, sc->env, NULL, it), t->src));
  }
  if (strcmp(root, "app") == 0) {
    if (!s0) return not_found(res, 0, NULL);
    if (sc->app) {
      idp_value *v = app_attr(sc, s0);
      if (v) return found(res, 1, v);
    }
    /* app.OTHER.need.NAME[.OUTPUT]: another app's need in the same environment. */
    const top *other = find_top(st, "app", s0, NULL);
    if (!other) return not_found(res, 0, sc->app ? "an app has name, image, port and variables; app.OTHER.need.NAME.OUTPUT reads another app's need" : "app.* is read inside a provide or an app");
    if (!sc->env) return not_found(res, 0, "another app's needs are read inside an environment");
    if (!s1 || strcmp(s1, "need") != 0 || !step(steps, n, 2)) return not_found(res, 1, "write app.OTHER.need.NAME.OUTPUT");
    const group *g = find_group(st, (size_t)(sc->env - st->envs), other, step(steps, n, 2));
    if (!g) return not_found(res, 2, idp_arena_sprintf(a, "app '%s' has no need '%s'", s0, step(steps, n, 2)));
    const char *o = step(steps, n, 3);
    idp_value *v = need_output(st, g, o);
    if (!v) return not_found(res, 3, idp_arena_sprintf(a, "the provide that meets it has no output '%s'", o ? o : ""));
    return found(res, o ? 4 : 3, v);
  }
  if (strcmp(root, "need") == 0) {
    if (!sc->app || !sc->in_app || !sc->env) return not_found(res, 0, "need.* is read inside an app");
    if (!s0) return not_found(res, 0, NULL);
    const group *g = find_group(st, (size_t)(sc->env - st->envs), sc->app, s0);
    if (!g) return not_found(res, 0, idp_arena_sprintf(a, "app '%s' has no need '%s'", sc->app->l1, s0));
    idp_value *v = need_output(st, g, s1);
    if (!v) return not_found(res, 1, idp_arena_sprintf(a, "provide %s \"%s\" has no output '%s'", g->provide->l1, g->provide->l2, s1 ? s1 : ""));
    return found(res, s1 ? 2 : 1, v);
  }
  if (strcmp(root, "resource") == 0) {
    if (!sc->grp) return not_found(res, 0, "resource.NAME reads a provide's own resource; a top-level one is DRIVER.KIND.NAME");
    if (!s0) return not_found(res, 0, NULL);
    const idp_item *blk = NULL;
    for (const idp_item *it = sc->grp->provide->it->body.first; it && !blk; it = it->next)
      if (it->kind == IDP_ITEM_BLOCK && strcmp(it->name, "resource") == 0 && it->nlabels == 2 &&
          strcmp(it->labels->next->name, s0) == 0)
        blk = it;
    if (!blk) return not_found(res, 0, idp_arena_sprintf(a, "provide %s \"%s\" has no resource '%s'", sc->grp->provide->l1, sc->grp->provide->l2, s0));
    inst *in = NULL;
    for (size_t i = 0; i < sc->grp->nres && !in; i++)
      if (strcmp(sc->grp->res[i]->pub.driver_kind, blk->labels->name) == 0 && strcmp(sc->grp->res[i]->pub.name, s0) == 0)
        in = sc->grp->res[i];
    if (!in) return not_found(res, 0, NULL);
    if (!s1) return found(res, 1, unknown_of(a, IDP_V_MAP, self_deps(st, in), false));
    return found(res, 2, inst_attr(st, in, s1)) == IDP_EVAL_OK
               ? IDP_EVAL_OK
               : not_found(res, 1, no_attr_hint(a, in->pub.driver_kind, kind_io(in->pub.driver_kind), s1));
  }
  if (strcmp(root, "integration") == 0) {
    if (!s0) return not_found(res, 0, NULL);
    const top *t = find_top(st, "integration", NULL, s0);
    if (!t) return not_found(res, 0, idp_arena_sprintf(a, "no integration is named '%s'", s0));
    if (!s1) return found(res, 1, integration_handle(st, t));
    return found(res, 2, integration_attr(st, t, s1)) == IDP_EVAL_OK
               ? IDP_EVAL_OK
               : not_found(res, 1, no_attr_hint(a, idp_arena_sprintf(a, "integration %s", t->l1),
                                                idp_driver_find(t->l1) ? &idp_driver_find(t->l1)->io : NULL, s1));
  }
  /* DRIVER.KIND.NAME[.ATTR]: a top-level resource. */
  if (!s0 || !s1) return not_found(res, 0, NULL);
  st->scratch.len = 0;
  idp_buf_printf(&st->scratch, "%s.%s.%s", root, s0, s1);
  inst *in = hget(&st->insts, idp_buf_cstr(&st->scratch));
  if (!in || in->group != NONE) return not_found(res, 1, idp_arena_sprintf(a, "no top-level resource %s.%s.%s", root, s0, s1));
  const char *attr = step(steps, n, 2);
  if (!attr) return found(res, 2, unknown_of(a, IDP_V_MAP, self_deps(st, in), false));
  return found(res, 3, inst_attr(st, in, attr)) == IDP_EVAL_OK
             ? IDP_EVAL_OK
             : not_found(res, 2, no_attr_hint(a, in->pub.driver_kind, kind_io(in->pub.driver_kind), attr));
}

/* The name a lifecycle's ignore_changes element gives: a bare name or a string. NULL otherwise. */
static const char *lifecycle_name(idp_arena *a, const idp_expr *e) {
  if (e->kind == IDP_E_REF) return e->u.ref.name;
  if (e->kind == IDP_E_TEMPLATE && !e->u.template.heredoc && e->u.template.parts && !e->u.template.parts->next &&
      e->u.template.parts->text)
    return idp_arena_strndup(a, e->u.template.parts->text, e->u.template.parts->len);
  return NULL;
}

/* The block's lifecycle, as written (driver_check.c reported anything malformed already). */
static void read_lifecycle(idp_arena *a, const idp_item *block, idp_lifecycle *life) {
  const idp_item *lc = body_block(&block->body, "lifecycle");
  if (!lc) return;
  for (const idp_item *it = lc->body.first; it; it = it->next) {
    if (it->kind != IDP_ITEM_ATTR) continue;
    const idp_expr *e = it->value;
    if (strcmp(it->name, "prevent_destroy") == 0 && e->kind == IDP_E_BOOL) life->prevent_destroy = e->u.boolean;
    if (strcmp(it->name, "create_before_destroy") == 0 && e->kind == IDP_E_BOOL) life->create_before_destroy = e->u.boolean;
    if (strcmp(it->name, "ignore_changes") != 0) continue;
    if (e->kind == IDP_E_REF && strcmp(e->u.ref.name, "all") == 0) {
      life->ignore_all = true;
      continue;
    }
    if (e->kind != IDP_E_LIST) continue;
    life->ignore = idp_arena_alloc(a, (e->u.list.n + 1) * sizeof *life->ignore);
    for (const idp_expr *x = e->u.list.items; x; x = x->next) {
      const char *name = lifecycle_name(a, x);
      if (name) life->ignore[life->nignore++] = name;
    }
  }
}

/* Evaluates an instance's inputs and their dependencies: those of its inputs, and those of the
 * references its `depends_on` lists (a meta-argument, not an input). */
static void eval_inst(idp_inst_state *st, inst *in) {
  if (in->evaluated) return;
  in->evaluated = true;
  idp_arena *a = st->a;
  scope sc = inst_scope(st, in);
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  const idp_deps *deps = NULL;
  size_t index = 0;
  for (const idp_item *it = in->pub.block->body.first; it; it = it->next) {
    if (it->kind != IDP_ITEM_ATTR) continue;
    idp_value *v = memo_eval(&sc, inst_memo(st, in, index++, it), in->pub.src);
    if (strcmp(it->name, "depends_on") != 0) idp_map_builder_add(&mb, it->name, strlen(it->name), v);
    deps = idp_deps_union(a, deps, idp_value_deps_deep(a, v));
  }
  read_lifecycle(a, in->pub.block, &in->pub.life);
  const idp_drv_kind *k = in->kind;
  for (size_t i = 0; k && i < k->io.ninputs; i++) {
    const idp_drv_input *ip = &k->io.inputs[i];
    if (body_attr(&in->pub.block->body, ip->name)) continue;
    idp_value *v = default_value(a, ip);
    if (v) idp_map_builder_add(&mb, ip->name, strlen(ip->name), v);
  }
  in->pub.inputs = idp_map_builder_build(&mb, NULL);
  in->pub.deps = idp_deps_remove(a, deps, in->pub.addr);
}

/* --- building the run -------------------------------------------------------------------------- */

static void add_inst(idp_inst_state *st, size_t *cap, inst *in) {
  if (st->nall == *cap) {
    *cap = *cap ? 2 * *cap : 64;
    st->all = idp_xrealloc(st->all, *cap * sizeof *st->all);
  }
  in->idx = st->nall;
  st->all[st->nall++] = in;
}

static bool select_envs(idp_inst_state *st, const idp_env_sel *sel, size_t nsel) {
  idp_arena *a = st->a;
  const idp_spec *s = st->spec;
  size_t n = nsel ? nsel : s->nenvs;
  st->envs = idp_arena_alloc(a, (n + 1) * sizeof *st->envs);
  bool ok = true;
  idp_loc none = {0, 0};
  for (size_t i = 0; i < n; i++) {
    const char *name = nsel ? sel[i].name : s->envs[i].name;
    const char *type = nsel ? sel[i].type : NULL;
    const idp_spec_env *e = idp_spec_find_env(s, name);
    bool dup = false;
    for (size_t j = 0; j < st->nenvs; j++) dup |= strcmp(st->envs[j].name, name) == 0;
    if (dup) continue;
    if (e) {
      if (e->type.kind == IDP_SPEC_EXPR) {
        idp_diag_error(st->d, e->src, e->type.loc, "the type of env '%s' must be a literal name", name);
        ok = false;
        continue;
      }
      const char *declared = e->type.kind == IDP_SPEC_LITERAL ? e->type.s : NULL;
      if (type && (!declared || strcmp(type, declared) != 0)) {
        idp_diag_error(st->d, NULL, none, "env '%s' is declared with type '%s', not '%s'", name, declared ? declared : "(none)", type);
        idp_diag_hint(st->d, "leave out :TYPE for a declared env, or choose another name for an on-demand one");
        ok = false;
        continue;
      }
      type = declared;
    } else if (!type) {
      idp_diag_error(st->d, NULL, none, "env '%s' is not declared", name);
      idp_diag_hint(st->d, "for an on-demand environment give its type: -env %s:TYPE", name);
      ok = false;
      continue;
    } else if (!idp_schema_valid_name(name)) {
      idp_diag_error(st->d, NULL, none, "'%s' is not an environment name", name);
      idp_diag_hint(st->d, "names match [a-z][a-z0-9-]{0,29}");
      ok = false;
      continue;
    }
    const top *tb = type ? find_top(st, "env_type", type, NULL) : NULL;
    if (type && !tb) {
      idp_diag_error(st->d, NULL, none, "env type '%s' of env '%s' is not declared", type, name);
      ok = false;
      continue;
    }
    st->envs[st->nenvs++] = (inst_env){idp_arena_strndup(a, name, strlen(name)), type ? idp_arena_strndup(a, type, strlen(type)) : NULL, tb,
                                       NULL, NULL};
  }
  return ok;
}

static bool make_groups(idp_inst_state *st, size_t *cap) {
  idp_arena *a = st->a;
  const idp_spec *s = st->spec;
  bool ok = true;
  size_t max = 0;
  for (size_t i = 0; i < s->napps; i++) max += s->apps[i].nneeds;
  st->groups = idp_arena_alloc(a, (max * st->nenvs + 1) * sizeof *st->groups);
  st->napps = s->napps;
  st->grp_first = idp_xcalloc(st->nenvs * s->napps + 1, sizeof *st->grp_first);
  st->grp_count = idp_xcalloc(st->nenvs * s->napps + 1, sizeof *st->grp_count);
  for (size_t e = 0; e < st->nenvs; e++) {
    const inst_env *env = &st->envs[e];
    for (size_t i = 0; i < s->napps; i++) {
      const idp_spec_app *sa = &s->apps[i];
      const top *app = find_top(st, "app", sa->name, NULL);
      st->grp_first[e * s->napps + i] = st->ngroups;
      for (size_t j = 0; j < sa->nneeds && app; j++) {
        const idp_spec_need *nd = &sa->needs[j];
        if (nd->type.kind != IDP_SPEC_LITERAL) {
          idp_diag_error(st->d, sa->src, nd->type.kind == IDP_SPEC_EXPR ? nd->type.loc : nd->loc,
                         "the type of need '%s' must be a literal name", nd->name);
          ok = false;
          continue;
        }
        idp_spec_choice ch;
        idp_spec_choose(s, nd->type.s, env->name, sa->name, env->type, &ch);
        if (ch.win == NONE || ch.tie != NONE) {
          if (ch.win == NONE)
            idp_diag_error(st->d, sa->src, nd->loc, "no provide %s fits need '%s' of app '%s' in env '%s'", nd->type.s, nd->name, sa->name, env->name);
          else
            idp_diag_error(st->d, sa->src, nd->loc, "need '%s' of app '%s' in env '%s': provides %s \"%s\" and \"%s\" tie with score %d",
                           nd->name, sa->name, env->name, nd->type.s, s->provides[ch.win].name, s->provides[ch.tie].name, ch.score);
          idp_diag_hint(st->d, "run 'idp explain -env %s app.%s.need.%s'", env->name, sa->name, nd->name);
          ok = false;
          continue;
        }
        const top *p = find_top(st, "provide", nd->type.s, s->provides[ch.win].name);
        if (!p) continue;
        group *g = &st->groups[st->ngroups];
        *g = (group){e, app, nd->name, p, idp_arena_sprintf(a, "env.%s/app.%s/need.%s/", env->name, sa->name, nd->name),
                     NULL, 0};
        size_t nblocks = 0;
        for (const idp_item *it = p->it->body.first; it; it = it->next) nblocks += it->kind == IDP_ITEM_BLOCK;
        g->res = idp_arena_alloc(a, (nblocks + 1) * sizeof *g->res);
        for (const idp_item *it = p->it->body.first; it; it = it->next) {
          if (it->kind != IDP_ITEM_BLOCK || strcmp(it->name, "resource") != 0 || it->nlabels != 2) continue;
          inst *in = idp_arena_alloc(a, sizeof *in);
          in->group = st->ngroups;
          in->pub = (idp_inst){.addr = idp_arena_sprintf(a, "%s%s.%s", g->prefix, it->labels->name, it->labels->next->name),
                               .driver_kind = it->labels->name, .name = it->labels->next->name,
                               .env = env->name, .app = sa->name, .need = g->need, .src = p->src, .block = it};
          if (hget(&st->insts, in->pub.addr)) continue;
          in->kind = idp_driver_find_kind(in->pub.driver_kind, NULL);
          hput(a, &st->insts, in->pub.addr, in);
          in->included = true;
          add_inst(st, cap, in);
          g->res[g->nres++] = in;
        }
        st->ngroups++;
      }
      st->grp_count[e * s->napps + i] = st->ngroups - st->grp_first[e * s->napps + i];
    }
  }
  return ok;
}

static int cmp_inst(const void *x, const void *y) {
  return strcmp((*(idp_inst *const *)x)->addr, (*(idp_inst *const *)y)->addr);
}

/* Graph cycles the attribute-level check does not see (A.x needs B.y, B.z needs A.w). */
static bool dfs(idp_inst_state *st, inst *in, int *color, inst **path, size_t depth) {
  size_t me = in->idx;
  if (color[me] == 2) return false;
  path[depth] = in;
  if (color[me] == 1) {
    size_t i = 0;
    while (path[i] != in) i++;
    idp_buf b = {0};
    idp_buf_puts(&b, "dependency cycle: ");
    for (size_t k = i; k < depth; k++) {
      idp_buf_printf(&b, "%s (", path[k]->pub.addr);
      where(&b, path[k]->pub.src, path[k]->pub.block->labels->loc);
      idp_buf_puts(&b, ") -> ");
    }
    idp_buf_puts(&b, in->pub.addr);
    idp_diag_error(st->d, in->pub.src, in->pub.block->labels->loc, "%s", idp_buf_cstr(&b));
    idp_diag_hint(st->d, "each arrow reads 'depends on'; remove one of these references");
    idp_buf_free(&b);
    return true;
  }
  color[me] = 1;
  for (size_t i = 0; i < idp_deps_count(in->pub.deps); i++) {
    inst *dep = hget(&st->insts, in->pub.deps->addr[i]);
    if (dep && dep->included && dfs(st, dep, color, path, depth + 1)) return true;
  }
  color[me] = 2;
  return false;
}

idp_graph *idp_instantiate(idp_file *const *files, size_t nfiles, const idp_env_sel *sel, size_t nsel,
                           const char *spec_dir, idp_diags *d) {
  idp_inst_opts o = {.spec_dir = spec_dir};
  return idp_instantiate_with(files, nfiles, sel, nsel, &o, d);
}

idp_graph *idp_instantiate_with(idp_file *const *files, size_t nfiles, const idp_env_sel *sel, size_t nsel,
                                const idp_inst_opts *o, idp_diags *d) {
  idp_graph *g = idp_xcalloc(1, sizeof *g);
  idp_arena_init(&g->arena);
  idp_inst_state *st = idp_xcalloc(1, sizeof *st);
  g->st = st;
  st->g = g;
  st->a = &g->arena;
  st->d = d;
  st->spec_dir = o->spec_dir;
  st->image = o->image;
  st->image_payload = o->image_payload;
  st->hooks = *o;
  unsigned errors0 = d->errors;
  idp_arena *a = st->a;

  size_t ntop = 0;
  for (size_t f = 0; f < nfiles; f++) ntop += files[f]->body.n;
  st->tops = idp_arena_alloc(a, (ntop + 1) * sizeof *st->tops);
  st->spec = idp_spec_new();
  for (size_t f = 0; f < nfiles; f++)
    for (const idp_item *it = files[f]->body.first; it; it = it->next) {
      if (it->kind != IDP_ITEM_BLOCK || !it->nlabels) continue;
      st->tops[st->ntops++] = (top){it->name, it->labels->name, it->labels->next ? it->labels->next->name : NULL,
                                    files[f]->src, it, NONE, NULL};
      idp_spec_item(st->spec, files[f]->src, it);
    }
  for (size_t i = 0; i < st->ntops; i++) {
    top *t = &st->tops[i];
    top_enter(st, t, t->l1, NULL);
    if (t->l2) top_enter(st, t, t->l1, t->l2);
    if (t->l2 && strcmp(t->kind, "integration") == 0) top_enter(st, t, NULL, t->l2);
    /* An app's row among the groups: the first block of its name is the one instantiated. */
    const idp_spec_app *sa = strcmp(t->kind, "app") == 0 ? idp_spec_find_app(st->spec, t->l1) : NULL;
    if (sa && find_top(st, "app", t->l1, NULL) == t) t->app = (size_t)(sa - st->spec->apps);
  }

  size_t cap = 0;
  if (!select_envs(st, sel, nsel) || !make_groups(st, &cap)) return g;
  size_t nenv_insts = st->nall;
  for (size_t i = 0; i < st->ntops; i++) {
    const top *t = &st->tops[i];
    if (strcmp(t->kind, "resource") != 0 || !t->l2) continue;
    inst *in = idp_arena_alloc(a, sizeof *in);
    in->group = NONE;
    in->pub = (idp_inst){.addr = idp_arena_sprintf(a, "%s.%s", t->l1, t->l2), .driver_kind = t->l1, .name = t->l2,
                         .src = t->src, .block = t->it};
    if (hget(&st->insts, in->pub.addr)) continue;
    in->kind = idp_driver_find_kind(in->pub.driver_kind, NULL);
    hput(a, &st->insts, in->pub.addr, in);
    add_inst(st, &cap, in);
  }
  /* Evaluate the environments' instances, then the top-level ones they reach (decision 6), or
   * every top-level one when no environment was selected. */
  inst **run = idp_xmalloc((st->nall + 1) * sizeof *run);
  size_t nrun = 0;
  for (size_t i = 0; i < st->nall; i++)
    if (i < nenv_insts || nsel == 0) {
      st->all[i]->included = true;
      run[nrun++] = st->all[i];
    }
  for (size_t i = 0; i < nrun; i++) {
    eval_inst(st, run[i]);
    for (size_t k = 0; k < idp_deps_count(run[i]->pub.deps); k++) {
      inst *dep = hget(&st->insts, run[i]->pub.deps->addr[k]);
      if (dep && !dep->included) {
        dep->included = true;
        run[nrun++] = dep;
      }
    }
  }
  qsort(run, nrun, sizeof *run, cmp_inst);
  g->v = (idp_inst **)run;
  g->n = nrun;
  if (d->errors == errors0) {
    int *color = idp_xcalloc(st->nall + 1, sizeof *color);
    inst **path = idp_xmalloc((st->nall + 2) * sizeof *path);
    for (size_t i = 0; i < nrun; i++)
      if (dfs(st, run[i], color, path, 0)) break;
    free(color);
    free(path);
  }
  return g;
}

void idp_graph_free(idp_graph *g) {
  if (!g) return;
  if (g->st) {
    idp_inst_state *st = g->st;
    free(st->fr);
    free(st->all);
    free(st->grp_first);
    free(st->grp_count);
    free(st->insts.b);
    free(st->memos.b);
    free(st->tops_ix.b);
    idp_buf_free(&st->scratch);
    idp_spec_free(st->spec);
    free(st);
  }
  free(g->v);
  idp_arena_free(&g->arena);
  free(g);
}

const idp_inst *idp_graph_find(const idp_graph *g, const char *addr) {
  inst *in = hget(&g->st->insts, addr);
  return in && in->included ? &in->pub : NULL;
}

const char *idp_graph_app_image(const idp_graph *g, const char *env, const char *app) {
  idp_inst_state *st = g->st;
  const top *t = st ? find_top(st, "app", app, NULL) : NULL;
  const idp_item *it = t ? body_attr(&t->it->body, "image") : NULL;
  for (size_t e = 0; it && e < st->nenvs; e++) {
    if (strcmp(st->envs[e].name, env) != 0) continue;
    const memo *m = memo_get(st, MEMO_APP, &st->envs[e], t, it);
    return m->state == M_DONE && m->val->kind == IDP_V_STRING ? m->val->u.string.s : NULL;
  }
  return NULL;
}

const char *idp_graph_integration_driver(const idp_graph *g, const char *name) {
  const top *t = g->st ? find_top(g->st, "integration", NULL, name) : NULL;
  return t ? t->l1 : NULL;
}

idp_value *idp_graph_eval_top(idp_graph *g, idp_source *src, const idp_expr *e, idp_diags *d) {
  idp_inst_state *st = g->st;
  idp_diags *saved = st->d;
  st->d = d; /* what the expression reaches reports here too */
  scope sc = {.st = st};
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, st->a, d, src);
  c.resolve = resolve;
  c.resolve_payload = &sc;
  c.spec_dir = st->spec_dir;
  c.image_resolver = st->image;
  c.image_payload = st->image_payload;
  idp_value *v = NULL;
  if (idp_eval(&c, e, &v) != IDP_EVAL_OK) v = NULL;
  st->d = saved;
  return v;
}

static void dot_str(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

void idp_graph_dot(const idp_graph *g, FILE *out) {
  fputs("digraph idp {\n  rankdir = \"LR\";\n  node [shape = \"box\"];\n", out);
  for (size_t i = 0; i < g->n; i++) {
    fputs("  ", out);
    dot_str(out, g->v[i]->addr);
    fputs(" [label = ", out);
    const char *kind = g->v[i]->driver_kind;
    size_t len = strlen(g->v[i]->addr) + strlen(kind) + 8;
    char *label = idp_xmalloc(len);
    snprintf(label, len, "%s\n(%s)", g->v[i]->addr, kind);
    /* DOT reads \n in a label as a line break. */
    fputc('"', out);
    for (const char *p = label; *p; p++) {
      if (*p == '\n') fputs("\\n", out);
      else {
        if (*p == '"' || *p == '\\') fputc('\\', out);
        fputc(*p, out);
      }
    }
    fputc('"', out);
    free(label);
    fputs("];\n", out);
  }
  for (size_t i = 0; i < g->n; i++)
    for (size_t k = 0; k < idp_deps_count(g->v[i]->deps); k++) {
      fputs("  ", out);
      dot_str(out, g->v[i]->deps->addr[k]);
      fputs(" -> ", out);
      dot_str(out, g->v[i]->addr);
      fputs(";\n", out);
    }
  fputs("}\n", out);
}
