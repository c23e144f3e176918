/* instance.c - environment instantiation and the dependency graph (see instance.h). */
#include "instance.h"

#include <stdlib.h>
#include <string.h>

#include "drivers/driver.h"
#include "eval.h"
#include "schema.h"
#include "spec.h"
#include "util.h"

#define NONE ((size_t)-1)

/* --- a string-keyed table (chained, in the graph's arena) ------------------------------------ */

typedef struct hent {
  const char *key;
  void *val;
  struct hent *next;
} hent;

enum { HBUCKETS = 1024 };

typedef struct htab {
  hent *b[HBUCKETS];
} htab;

static size_t hhash(const char *s) {
  size_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h % HBUCKETS;
}

static void *hget(const htab *t, const char *key) {
  for (hent *e = t->b[hhash(key)]; e; e = e->next)
    if (strcmp(e->key, key) == 0) return e->val;
  return NULL;
}

static void hput(idp_arena *a, htab *t, const char *key, void *val) {
  size_t h = hhash(key);
  hent *e = idp_arena_alloc(a, sizeof *e);
  e->key = key;
  e->val = val;
  e->next = t->b[h];
  t->b[h] = e;
}

/* --- the model --------------------------------------------------------------------------------- */

/* A top-level block of the tree. */
typedef struct top {
  const char *kind, *l1, *l2; /* block kind and its first two labels (NULL when absent) */
  idp_source *src;
  const idp_item *it;
} top;

typedef struct inst_env {
  const char *name, *type;
  const top *type_block;      /* NULL when the env has no type */
} inst_env;

/* One (env, app, need) and the provide that met it. */
typedef struct group {
  size_t env;
  const top *app;
  const char *need;
  const top *provide;
  const char *prefix;         /* "env.E/app.A/need.N/" */
} group;

typedef struct inst {
  idp_inst pub;               /* first: an idp_inst * is an inst * */
  size_t group;               /* NONE for a top-level resource */
  size_t idx;                 /* its place in the state's `all` */
  bool included, evaluated;
} inst;

enum { M_NEW, M_BUSY, M_DONE };

typedef struct memo {
  int state;
  idp_value *val;
} memo;

typedef struct frame {
  const char *key, *label;
  idp_source *src;
  idp_loc loc;
} frame;

struct idp_inst_state {
  idp_graph *g;
  idp_arena *a;
  idp_diags *d;
  const char *spec_dir;
  top *tops;
  size_t ntops;
  idp_spec *spec;
  inst_env *envs;
  size_t nenvs;
  group *groups;
  size_t ngroups;
  inst **all;
  size_t nall;
  htab insts, memos;
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

static const idp_item *body_attr(const idp_body *b, const char *name) {
  for (const idp_item *it = b->first; it; it = it->next)
    if (it->kind == IDP_ITEM_ATTR && strcmp(it->name, name) == 0) return it;
  return NULL;
}

static const idp_item *body_block(const idp_body *b, const char *kind) {
  for (const idp_item *it = b->first; it; it = it->next)
    if (it->kind == IDP_ITEM_BLOCK && strcmp(it->name, kind) == 0) return it;
  return NULL;
}

static const top *find_top(const idp_inst_state *st, const char *kind, const char *l1, const char *l2) {
  for (size_t i = 0; i < st->ntops; i++) {
    const top *t = &st->tops[i];
    if (strcmp(t->kind, kind) != 0 || !t->l1 || strcmp(t->l1, l1) != 0) continue;
    if (l2 && (!t->l2 || strcmp(t->l2, l2) != 0)) continue;
    return t;
  }
  return NULL;
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

/* Reports the cycle that reaching key again closes. */
static void report_cycle(idp_inst_state *st, const char *key) {
  size_t i = st->nfr;
  while (i > 0 && strcmp(st->fr[i - 1].key, key) != 0) i--;
  if (i == 0) return;
  i--;
  idp_buf b = {0};
  idp_buf_puts(&b, "dependency cycle: ");
  for (size_t k = i; k < st->nfr; k++) {
    idp_buf_printf(&b, "%s (", st->fr[k].label);
    where(&b, st->fr[k].src, st->fr[k].loc);
    idp_buf_puts(&b, ") -> ");
  }
  idp_buf_puts(&b, st->fr[i].label);
  idp_diag_error(st->d, st->fr[i].src, st->fr[i].loc, "%s", idp_buf_cstr(&b));
  idp_diag_hint(st->d, "each arrow reads 'needs'; remove one of these references");
  idp_buf_free(&b);
}

/* The value of attribute it (in src), evaluated once in scope sc; key names it for the memo and
 * label in a cycle's chain. An error gives an unknown value (already reported). */
static idp_value *memo_eval(const scope *sc, const char *key, const char *label, idp_source *src,
                            const idp_item *it) {
  idp_inst_state *st = sc->st;
  memo *m = hget(&st->memos, key);
  if (!m) {
    m = idp_arena_alloc(st->a, sizeof *m);
    hput(st->a, &st->memos, idp_arena_strndup(st->a, key, strlen(key)), m);
  }
  if (m->state == M_DONE) return m->val;
  if (m->state == M_BUSY) {
    report_cycle(st, key);
    return idp_value_unknown(st->a, IDP_V_UNKNOWN);
  }
  m->state = M_BUSY;
  if (st->nfr == st->capfr) {
    st->capfr = st->capfr ? 2 * st->capfr : 16;
    st->fr = idp_xrealloc(st->fr, st->capfr * sizeof *st->fr);
  }
  st->fr[st->nfr++] = (frame){idp_arena_strndup(st->a, key, strlen(key)), idp_arena_strndup(st->a, label, strlen(label)),
                              src, it->name_loc};
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, st->a, st->d, src);
  c.resolve = resolve;
  c.resolve_payload = (void *)sc;
  c.in_app = sc->in_app;
  c.spec_dir = st->spec_dir;
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
static idp_value *inst_attr(idp_inst_state *st, inst *in, const char *attr) {
  idp_arena *a = st->a;
  const idp_deps *self = idp_deps_one(a, in->pub.addr);
  const idp_item *it = body_attr(&in->pub.block->body, attr);
  const idp_drv_kind *k = idp_driver_find_kind(in->pub.driver_kind, NULL);
  if (it) {
    scope sc = inst_scope(st, in);
    char *key = idp_arena_sprintf(a, "%s#%s", in->pub.addr, attr);
    char *label = idp_arena_sprintf(a, "%s.%s", in->pub.addr, attr);
    return idp_value_taint(a, memo_eval(&sc, key, label, in->pub.src, it), self, false);
  }
  if (!k) return NULL;
  const idp_drv_input *ip = idp_drv_find_input(&k->io, attr);
  if (ip) {
    idp_value *v = default_value(a, ip);
    return idp_value_taint(a, v ? v : idp_value_null(a), self, false);
  }
  const idp_drv_output *op = idp_drv_find_output(&k->io, attr);
  if (op) return unknown_of(a, hint_of(op->type), self, op->secret);
  return NULL;
}

/* An integration's attribute: an input set or its default, or a derived output (unknown at plan
 * time: the driver computes it when it configures the integration). NULL when there is none. */
static idp_value *integration_attr(idp_inst_state *st, const top *t, const char *attr) {
  idp_arena *a = st->a;
  const idp_item *it = body_attr(&t->it->body, attr);
  if (it) {
    scope sc = {.st = st};
    char *key = idp_arena_sprintf(a, "integration.%s.%s", t->l2, attr);
    return memo_eval(&sc, key, key, t->src, it);
  }
  const idp_driver *drv = idp_driver_find(t->l1);
  if (!drv) return NULL;
  const idp_drv_input *ip = idp_drv_find_input(&drv->io, attr);
  if (ip) {
    idp_value *v = default_value(a, ip);
    return v ? v : idp_value_null(a);
  }
  const idp_drv_output *op = idp_drv_find_output(&drv->io, attr);
  if (op) return unknown_of(a, hint_of(op->type), NULL, op->secret);
  return NULL;
}

/* An integration as a whole (`target = integration.manifests`): the map of its attributes set. */
static idp_value *integration_handle(idp_inst_state *st, const top *t) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, st->a);
  for (const idp_item *it = t->it->body.first; it; it = it->next)
    if (it->kind == IDP_ITEM_ATTR) idp_map_builder_add(&mb, it->name, strlen(it->name), integration_attr(st, t, it->name));
  return idp_map_builder_build(&mb, NULL);
}

static const group *find_group(const idp_inst_state *st, size_t env, const char *app, const char *need) {
  for (size_t i = 0; i < st->ngroups; i++) {
    const group *g = &st->groups[i];
    if (g->env == env && strcmp(g->app->l1, app) == 0 && strcmp(g->need, need) == 0) return g;
  }
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
    char *key = idp_arena_sprintf(st->a, "%s:outputs.%s", g->prefix, output);
    char *label = idp_arena_sprintf(st->a, "env.%s/app.%s/need.%s.%s", st->envs[g->env].name, g->app->l1, g->need, output);
    return memo_eval(&sc, key, label, g->provide->src, it);
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
  const char *env = sc->env ? sc->env->name : "";
  if (strcmp(attr, "name") == 0) return idp_value_cstring(a, app->l1);
  if (strcmp(attr, "image") != 0 && strcmp(attr, "port") != 0 && strcmp(attr, "variables") != 0) return NULL;
  const idp_item *it = body_attr(&app->it->body, attr);
  if (it) {
    char *key = idp_arena_sprintf(a, "env.%s/app.%s:%s", env, app->l1, attr);
    char *label = idp_arena_sprintf(a, "env.%s/app.%s.%s", env, app->l1, attr);
    return memo_eval(&asc, key, label, app->src, it);
  }
  if (strcmp(attr, "variables") != 0) return idp_value_null(a);
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  const idp_item *vars = body_block(&app->it->body, "variables");
  for (const idp_item *v = vars ? vars->body.first : NULL; v; v = v->next) {
    if (v->kind != IDP_ITEM_ATTR) continue;
    char *key = idp_arena_sprintf(a, "env.%s/app.%s:variables.%s", env, app->l1, v->name);
    char *label = idp_arena_sprintf(a, "env.%s/app.%s.variables.%s", env, app->l1, v->name);
    idp_map_builder_add(&mb, v->name, strlen(v->name), memo_eval(&asc, key, label, app->src, v));
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

  if (strcmp(root, "env") == 0) {
    if (!sc->env) return not_found(res, 0, "env.* is read inside a provide, an app or an env_type");
    if (s0 && strcmp(s0, "name") == 0) return found(res, 1, idp_value_cstring(a, sc->env->name));
    if (s0 && strcmp(s0, "type") == 0)
      return found(res, 1, sc->env->type ? idp_value_cstring(a, sc->env->type) : idp_value_null(a));
    return not_found(res, 0, "an environment has `name` and `type`");
  }
  if (strcmp(root, "env_type") == 0) {
    if (!sc->env) return not_found(res, 0, "env_type.* is read inside a provide or an app");
    if (!s0) return not_found(res, 0, NULL);
    const top *t = sc->env->type_block;
    const idp_item *it = t ? body_attr(&t->it->body, s0) : NULL;
    if (!it) return not_found(res, 0, idp_arena_sprintf(a, "env type '%s' sets no '%s'", sc->env->type ? sc->env->type : "(none)", s0));
    scope esc = {.st = st, .env = sc->env};
    char *key = idp_arena_sprintf(a, "env.%s:env_type.%s", sc->env->name, s0);
    char *label = idp_arena_sprintf(a, "env_type.%s.%s (env %s)", t->l1, s0, sc->env->name);
    return found(res, 1, memo_eval(&esc, key, label, t->src, it));
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
    const group *g = find_group(st, (size_t)(sc->env - st->envs), s0, step(steps, n, 2));
    if (!g) return not_found(res, 2, idp_arena_sprintf(a, "app '%s' has no need '%s'", s0, step(steps, n, 2)));
    const char *o = step(steps, n, 3);
    idp_value *v = need_output(st, g, o);
    if (!v) return not_found(res, 3, idp_arena_sprintf(a, "the provide that meets it has no output '%s'", o ? o : ""));
    return found(res, o ? 4 : 3, v);
  }
  if (strcmp(root, "need") == 0) {
    if (!sc->app || !sc->in_app || !sc->env) return not_found(res, 0, "need.* is read inside an app");
    if (!s0) return not_found(res, 0, NULL);
    const group *g = find_group(st, (size_t)(sc->env - st->envs), sc->app->l1, s0);
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
    inst *in = hget(&st->insts, idp_arena_sprintf(a, "%s%s.%s", sc->grp->prefix, blk->labels->name, s0));
    if (!in) return not_found(res, 0, NULL);
    if (!s1) return found(res, 1, unknown_of(a, IDP_V_MAP, idp_deps_one(a, in->pub.addr), false));
    return found(res, 2, inst_attr(st, in, s1)) == IDP_EVAL_OK
               ? IDP_EVAL_OK
               : not_found(res, 1, no_attr_hint(a, in->pub.driver_kind, kind_io(in->pub.driver_kind), s1));
  }
  if (strcmp(root, "integration") == 0) {
    if (!s0) return not_found(res, 0, NULL);
    const top *t = NULL;
    for (size_t i = 0; i < st->ntops && !t; i++)
      if (strcmp(st->tops[i].kind, "integration") == 0 && st->tops[i].l2 && strcmp(st->tops[i].l2, s0) == 0) t = &st->tops[i];
    if (!t) return not_found(res, 0, idp_arena_sprintf(a, "no integration is named '%s'", s0));
    if (!s1) return found(res, 1, integration_handle(st, t));
    return found(res, 2, integration_attr(st, t, s1)) == IDP_EVAL_OK
               ? IDP_EVAL_OK
               : not_found(res, 1, no_attr_hint(a, idp_arena_sprintf(a, "integration %s", t->l1),
                                                idp_driver_find(t->l1) ? &idp_driver_find(t->l1)->io : NULL, s1));
  }
  /* DRIVER.KIND.NAME[.ATTR]: a top-level resource. */
  if (!s0 || !s1) return not_found(res, 0, NULL);
  char *addr = idp_arena_sprintf(a, "%s.%s.%s", root, s0, s1);
  inst *in = hget(&st->insts, addr);
  if (!in || in->group != NONE) return not_found(res, 1, idp_arena_sprintf(a, "no top-level resource %s", addr));
  const char *attr = step(steps, n, 2);
  if (!attr) return found(res, 2, unknown_of(a, IDP_V_MAP, idp_deps_one(a, addr), false));
  return found(res, 3, inst_attr(st, in, attr)) == IDP_EVAL_OK
             ? IDP_EVAL_OK
             : not_found(res, 2, no_attr_hint(a, in->pub.driver_kind, kind_io(in->pub.driver_kind), attr));
}

/* Evaluates an instance's inputs and their dependencies. */
static void eval_inst(idp_inst_state *st, inst *in) {
  if (in->evaluated) return;
  in->evaluated = true;
  idp_arena *a = st->a;
  scope sc = inst_scope(st, in);
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  const idp_deps *deps = NULL;
  for (const idp_item *it = in->pub.block->body.first; it; it = it->next) {
    if (it->kind != IDP_ITEM_ATTR) continue;
    char *key = idp_arena_sprintf(a, "%s#%s", in->pub.addr, it->name);
    char *label = idp_arena_sprintf(a, "%s.%s", in->pub.addr, it->name);
    idp_value *v = memo_eval(&sc, key, label, in->pub.src, it);
    idp_map_builder_add(&mb, it->name, strlen(it->name), v);
    deps = idp_deps_union(a, deps, idp_value_deps_deep(a, v));
  }
  const idp_drv_kind *k = idp_driver_find_kind(in->pub.driver_kind, NULL);
  for (size_t i = 0; k && i < k->io.ninputs; i++) {
    const idp_drv_input *ip = &k->io.inputs[i];
    if (body_attr(&in->pub.block->body, ip->name)) continue;
    idp_value *v = default_value(a, ip);
    if (v) idp_map_builder_add(&mb, ip->name, strlen(ip->name), v);
  }
  in->pub.inputs = idp_map_builder_build(&mb, NULL);
  const idp_deps *out = NULL;
  for (size_t i = 0; i < idp_deps_count(deps); i++)
    if (strcmp(deps->addr[i], in->pub.addr) != 0) out = idp_deps_union(a, out, idp_deps_one(a, deps->addr[i]));
  in->pub.deps = out;
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
    st->envs[st->nenvs++] = (inst_env){idp_arena_strndup(a, name, strlen(name)), type ? idp_arena_strndup(a, type, strlen(type)) : NULL, tb};
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
  for (size_t e = 0; e < st->nenvs; e++) {
    const inst_env *env = &st->envs[e];
    for (size_t i = 0; i < s->napps; i++) {
      const idp_spec_app *sa = &s->apps[i];
      const top *app = find_top(st, "app", sa->name, NULL);
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
        *g = (group){e, app, nd->name, p, idp_arena_sprintf(a, "env.%s/app.%s/need.%s/", env->name, sa->name, nd->name)};
        for (const idp_item *it = p->it->body.first; it; it = it->next) {
          if (it->kind != IDP_ITEM_BLOCK || strcmp(it->name, "resource") != 0 || it->nlabels != 2) continue;
          inst *in = idp_arena_alloc(a, sizeof *in);
          in->group = st->ngroups;
          in->pub = (idp_inst){.addr = idp_arena_sprintf(a, "%s%s.%s", g->prefix, it->labels->name, it->labels->next->name),
                               .driver_kind = it->labels->name, .name = it->labels->next->name,
                               .env = env->name, .app = sa->name, .need = g->need, .src = p->src, .block = it};
          if (hget(&st->insts, in->pub.addr)) continue;
          hput(a, &st->insts, in->pub.addr, in);
          in->included = true;
          add_inst(st, cap, in);
        }
        st->ngroups++;
      }
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
  idp_graph *g = idp_xcalloc(1, sizeof *g);
  idp_arena_init(&g->arena);
  idp_inst_state *st = idp_xcalloc(1, sizeof *st);
  g->st = st;
  st->g = g;
  st->a = &g->arena;
  st->d = d;
  st->spec_dir = spec_dir;
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
                                    files[f]->src, it};
      idp_spec_item(st->spec, files[f]->src, it);
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
    free(g->st->fr);
    free(g->st->all);
    idp_spec_free(g->st->spec);
    free(g->st);
  }
  free(g->v);
  idp_arena_free(&g->arena);
  free(g);
}

const idp_inst *idp_graph_find(const idp_graph *g, const char *addr) {
  inst *in = hget(&g->st->insts, addr);
  return in && in->included ? &in->pub : NULL;
}

const char *idp_graph_integration_driver(const idp_graph *g, const char *name) {
  const idp_inst_state *st = g->st;
  for (size_t i = 0; st && i < st->ntops; i++)
    if (strcmp(st->tops[i].kind, "integration") == 0 && st->tops[i].l2 && strcmp(st->tops[i].l2, name) == 0)
      return st->tops[i].l1;
  return NULL;
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
