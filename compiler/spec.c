/* spec.c - the spec model built during the streamed parse, matching, and the checks across blocks. */
#include "spec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define NONE ((size_t)-1)

const char *const idp_spec_crit_name[IDP_NCRIT] = {"env", "app", "env_type"};
const int idp_spec_crit_weight[IDP_NCRIT] = {4, 2, 1};

/* --- the name index: (kind, name) -> position, open addressing ------------------------------- */

typedef struct index_entry {
  const char *key;        /* kind byte then name; NULL: empty slot */
  uint32_t hash;
  size_t pos;
} index_entry;

struct idp_spec_index {
  index_entry *tab;
  size_t cap, n;
};

enum { K_ENV_TYPE = 'T', K_ENV = 'E', K_APP = 'A', K_PTYPE = 'P', K_PROVIDE = 'D', K_INTEGRATION = 'I',
       K_RESOURCE = 'R', K_PIPELINE = 'L' };

static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* kind, x and y (may be NULL) joined with \x1f into b. */
static const char *key_of(idp_buf *b, char kind, const char *x, const char *y) {
  b->len = 0;
  idp_buf_putc(b, kind);
  idp_buf_puts(b, x);
  if (y) idp_buf_putc(b, '\x1f'), idp_buf_puts(b, y);
  return idp_buf_cstr(b);
}

static index_entry *ix_slot(const idp_spec_index *ix, const char *key, uint32_t h) {
  for (size_t j = h & (ix->cap - 1);; j = (j + 1) & (ix->cap - 1)) {
    index_entry *e = &ix->tab[j];
    if (!e->key || (e->hash == h && strcmp(e->key, key) == 0)) return e;
  }
}

/* The entry of key, or NULL. */
static index_entry *ix_find(const idp_spec_index *ix, const char *key) {
  if (!ix->cap) return NULL;
  index_entry *e = ix_slot(ix, key, hash_str(key));
  return e->key ? e : NULL;
}

/* The entry of key, added (copied into a, with pos) when absent; *added says which. */
static index_entry *ix_put(idp_spec_index *ix, idp_arena *a, const char *key, size_t pos, bool *added) {
  if ((ix->n + 1) * 2 > ix->cap) {
    size_t cap = ix->cap ? ix->cap * 2 : 256;
    index_entry *tab = idp_xcalloc(cap, sizeof *tab);
    for (size_t i = 0; i < ix->cap; i++) {
      if (!ix->tab[i].key) continue;
      size_t j = ix->tab[i].hash & (cap - 1);
      while (tab[j].key) j = (j + 1) & (cap - 1);
      tab[j] = ix->tab[i];
    }
    free(ix->tab);
    ix->tab = tab;
    ix->cap = cap;
  }
  uint32_t h = hash_str(key);
  index_entry *e = ix_slot(ix, key, h);
  *added = !e->key;
  if (*added) {
    e->key = idp_arena_strndup(a, key, strlen(key));
    e->hash = h;
    e->pos = pos;
    ix->n++;
  }
  return e;
}

/* kind, x and y joined as key_of does, in buf when it fits (else malloc'd: *heap is set). */
static char *key_in(char *buf, size_t cap, char kind, const char *x, const char *y, char **heap) {
  size_t lx = strlen(x), ly = y ? strlen(y) : 0;
  char *k = buf;
  *heap = NULL;
  if (lx + ly + 3 > cap) k = *heap = idp_xmalloc(lx + ly + 3);
  char *p = k;
  *p++ = kind;
  memcpy(p, x, lx), p += lx;
  if (y) *p++ = '\x1f', memcpy(p, y, ly), p += ly;
  *p = '\0';
  return k;
}

static size_t index_get(const idp_spec *s, char kind, const char *x, const char *y) {
  char buf[128], *heap;
  index_entry *e = ix_find(s->index, key_in(buf, sizeof buf, kind, x, y, &heap));
  free(heap);
  return e ? e->pos : NONE;
}

/* Adds (kind, x, y) -> pos; returns false when the key was there already. */
static bool index_add(idp_spec *s, char kind, const char *x, const char *y, size_t pos) {
  char buf[128], *heap;
  bool added;
  ix_put(s->index, &s->arena, key_in(buf, sizeof buf, kind, x, y, &heap), pos, &added);
  free(heap);
  return added;
}

/* --- recording -------------------------------------------------------------------------------- */

idp_spec *idp_spec_new(void) {
  idp_spec *s = idp_xcalloc(1, sizeof *s);
  idp_arena_init(&s->arena);
  s->index = idp_xcalloc(1, sizeof *s->index);
  return s;
}

void idp_spec_free(idp_spec *s) {
  if (!s) return;
  free(s->integrations);
  free(s->env_types);
  free(s->envs);
  free(s->provides);
  free(s->ptypes);
  free(s->apps);
  free(s->resources);
  free(s->pipelines);
  free(s->index->tab);
  free(s->index);
  idp_arena_free(&s->arena);
  free(s);
}

/* Appends a zeroed element to a vector (v, n, cap) and returns it. */
#define PUSH(v, n, cap)                                                   \
  ((n) == (cap) ? ((cap) = (cap) ? (cap) * 2 : 16,                        \
                   (v) = idp_xrealloc((v), (cap) * sizeof *(v))) : (v),   \
   memset(&(v)[(n)], 0, sizeof *(v)), &(v)[(n)++])

const char *idp_spec_literal(idp_arena *a, const idp_expr *e) {
  if (!e || e->kind != IDP_E_TEMPLATE || e->u.template.heredoc) return NULL;
  size_t len = 0;
  for (const idp_tpart *p = e->u.template.parts; p; p = p->next) {
    if (!p->text) return NULL;
    len += p->len;
  }
  char *out = idp_arena_alloc(a, len + 1), *q = out;
  for (const idp_tpart *p = e->u.template.parts; p; p = p->next) memcpy(q, p->text, p->len), q += p->len;
  *q = '\0';
  return out;
}

static const char *keep(idp_spec *s, const char *str) { return idp_arena_strndup(&s->arena, str, strlen(str)); }

static idp_spec_lit lit_of(idp_spec *s, const idp_expr *e) {
  idp_spec_lit l = {IDP_SPEC_EXPR, NULL, e->loc};
  l.s = idp_spec_literal(&s->arena, e);
  if (l.s) l.kind = IDP_SPEC_LITERAL;
  return l;
}

/* The attribute `name` of a body, or NULL (the first one: a second is the validator's error). */
static const idp_item *attr(const idp_body *b, const char *name) {
  for (const idp_item *it = b->first; it; it = it->next)
    if (it->kind == IDP_ITEM_ATTR && strcmp(it->name, name) == 0) return it;
  return NULL;
}

static idp_spec_lit attr_lit(idp_spec *s, const idp_body *b, const char *name) {
  const idp_item *a = attr(b, name);
  if (!a) return (idp_spec_lit){IDP_SPEC_ABSENT, NULL, {0, 0}};
  return lit_of(s, a->value);
}

static const idp_item *block(const idp_body *b, const char *kind) {
  for (const idp_item *it = b->first; it; it = it->next)
    if (it->kind == IDP_ITEM_BLOCK && strcmp(it->name, kind) == 0) return it;
  return NULL;
}

static bool is_block(const idp_item *it, const char *kind, size_t nlabels) {
  return it->kind == IDP_ITEM_BLOCK && strcmp(it->name, kind) == 0 && it->nlabels == nlabels;
}

static void record_provide(idp_spec *s, idp_source *src, const idp_item *top) {
  const idp_label *t = top->labels, *n = t->next;
  if (!index_add(s, K_PROVIDE, t->name, n->name, s->nprovides)) return;
  idp_spec_provide *p = PUSH(s->provides, s->nprovides, s->capprovides);
  p->type = keep(s, t->name);
  p->name = keep(s, n->name);
  p->src = src;
  p->loc = n->loc;
  p->next_of_type = NONE;
  const idp_item *m = block(&top->body, "match");
  if (m && m->nlabels == 0) {
    p->has_match = true;
    for (int c = 0; c < IDP_NCRIT; c++) p->crit[c] = attr_lit(s, &m->body, idp_spec_crit_name[c]);
  }
  size_t pos = s->nprovides - 1, ti = index_get(s, K_PTYPE, t->name, NULL);
  if (ti == NONE) {
    ti = s->nptypes;
    idp_spec_ptype *pt = PUSH(s->ptypes, s->nptypes, s->capptypes);
    pt->type = p->type;
    pt->first = pos;
    index_add(s, K_PTYPE, t->name, NULL, ti);
  } else {
    s->provides[s->ptypes[ti].last].next_of_type = pos;
  }
  s->ptypes[ti].last = pos;
  s->ptypes[ti].n++;
}

static void record_app(idp_spec *s, idp_source *src, const idp_item *top) {
  if (!index_add(s, K_APP, top->labels->name, NULL, s->napps)) return;
  size_t n = 1;
  bool own_workload = false;
  for (const idp_item *it = top->body.first; it; it = it->next)
    if (is_block(it, "need", 1)) {
      n++;
      if (strcmp(it->labels->name, "workload") == 0) own_workload = true;
    }
  idp_spec_app *a = PUSH(s->apps, s->napps, s->capapps);
  a->name = keep(s, top->labels->name);
  a->src = src;
  a->loc = top->labels->loc;
  a->needs = idp_arena_alloc(&s->arena, n * sizeof *a->needs);
  if (!own_workload) {
    idp_spec_need *w = &a->needs[a->nneeds++];
    *w = (idp_spec_need){"workload", a->loc, {IDP_SPEC_LITERAL, "workload", a->loc}, true};
  }
  for (const idp_item *it = top->body.first; it; it = it->next) {
    if (!is_block(it, "need", 1)) continue;
    bool dup = false;
    for (size_t i = 0; i < a->nneeds && !dup; i++) dup = strcmp(a->needs[i].name, it->labels->name) == 0;
    if (dup) continue;
    idp_spec_need *nd = &a->needs[a->nneeds++];
    nd->name = keep(s, it->labels->name);
    nd->loc = it->labels->loc;
    nd->type = attr_lit(s, &it->body, "type");
    nd->implicit = false;
  }
}

/* The attributes of block b (its kind and label as given) into pb, for the step checks. */
static void record_pblock(idp_spec *s, idp_spec_pblock *pb, const char *kind, const idp_item *b) {
  pb->kind = kind;
  pb->loc = b->name_loc;
  if (b->nlabels == 1) {
    pb->label = keep(s, b->labels->name);
    pb->label_loc = b->labels->loc;
  }
  size_t n = 0;
  for (const idp_item *it = b->body.first; it; it = it->next) n += it->kind == IDP_ITEM_ATTR;
  pb->attrs = idp_arena_alloc(&s->arena, (n + 1) * sizeof *pb->attrs);
  for (const idp_item *it = b->body.first; it; it = it->next) {
    if (it->kind != IDP_ITEM_ATTR || !it->value) continue;
    const idp_expr *e = it->value;
    idp_spec_pattr *a = &pb->attrs[pb->nattrs++];
    memset(a, 0, sizeof *a);
    a->name = keep(s, it->name);
    a->name_loc = it->name_loc;
    a->kind = e->kind;
    a->loc = e->loc;
    a->s = idp_spec_literal(&s->arena, e);
    if (e->kind == IDP_E_NUMBER) a->number = e->u.number;
    if (e->kind == IDP_E_UNARY && e->u.unary.op == IDP_OP_NEG && e->u.unary.operand->kind == IDP_E_NUMBER) {
      a->kind = IDP_E_NUMBER; /* -1 is a number to the checks */
      a->number = -e->u.unary.operand->u.number;
    }
    if (e->kind == IDP_E_GETATTR && e->u.getattr.obj->kind == IDP_E_REF &&
        strcmp(e->u.getattr.obj->u.ref.name, "integration") == 0)
      a->integration = keep(s, e->u.getattr.name);
  }
}

static void record_stage(idp_spec *s, idp_spec_stage *st, const idp_item *b) {
  st->name = keep(s, b->labels->name);
  st->loc = b->labels->loc;
  record_pblock(s, &st->self, "stage", b);
  st->self.label = NULL;
  size_t n = 0;
  for (const idp_item *it = b->body.first; it; it = it->next) n += it->kind == IDP_ITEM_BLOCK;
  st->steps = idp_arena_alloc(&s->arena, (n + 1) * sizeof *st->steps);
  for (const idp_item *it = b->body.first; it; it = it->next) {
    static const char *const kinds[] = {"deploy", "check", "approval", "wait"};
    for (size_t k = 0; k < 4; k++)
      if (is_block(it, kinds[k], k == 1)) {
        memset(&st->steps[st->nsteps], 0, sizeof *st->steps);
        record_pblock(s, &st->steps[st->nsteps++], kinds[k], it);
      }
  }
  const idp_item *after = attr(&b->body, "after");
  if (after) {
    st->after_attr = (idp_spec_lit){IDP_SPEC_EXPR, NULL, after->value->loc};
    if (after->value->kind == IDP_E_LIST) {
      st->after_attr.kind = IDP_SPEC_LITERAL;
      st->after = idp_arena_alloc(&s->arena, (after->value->u.list.n + 1) * sizeof *st->after);
      for (const idp_expr *e = after->value->u.list.items; e; e = e->next) st->after[st->nafter++] = lit_of(s, e);
    }
  }
  const idp_item *d = block(&b->body, "deploy");
  if (d && d->nlabels == 0) {
    st->deploy_app = attr_lit(s, &d->body, "app");
    st->deploy_env = attr_lit(s, &d->body, "env");
  }
}

static void record_pipeline(idp_spec *s, idp_source *src, const idp_item *top) {
  if (!index_add(s, K_PIPELINE, top->labels->name, NULL, s->npipelines)) return;
  size_t n = 0;
  for (const idp_item *it = top->body.first; it; it = it->next) n += is_block(it, "stage", 1);
  idp_spec_pipeline *p = PUSH(s->pipelines, s->npipelines, s->cappipelines);
  p->name = keep(s, top->labels->name);
  p->src = src;
  p->loc = top->labels->loc;
  p->stages = idp_arena_alloc(&s->arena, (n + 1) * sizeof *p->stages);
  record_pblock(s, &p->self, "pipeline", top);
  p->self.label = NULL;
  size_t nt = 0;
  for (const idp_item *it = top->body.first; it; it = it->next) nt += is_block(it, "trigger", 1);
  p->triggers = idp_arena_alloc(&s->arena, (nt + 1) * sizeof *p->triggers);
  for (const idp_item *it = top->body.first; it; it = it->next)
    if (is_block(it, "trigger", 1)) {
      memset(&p->triggers[p->ntriggers], 0, sizeof *p->triggers);
      record_pblock(s, &p->triggers[p->ntriggers++], "trigger", it);
    }
  for (const idp_item *it = top->body.first; it; it = it->next) {
    if (!is_block(it, "stage", 1)) continue;
    bool dup = false;
    for (size_t i = 0; i < p->nstages && !dup; i++) dup = strcmp(p->stages[i].name, it->labels->name) == 0;
    if (dup) continue;
    idp_spec_stage *st = &p->stages[p->nstages++];
    memset(st, 0, sizeof *st);
    record_stage(s, st, it);
  }
}

void idp_spec_item(idp_spec *s, idp_source *src, const idp_item *top) {
  if (top->kind != IDP_ITEM_BLOCK) return;
  const char *k = top->name;
  const idp_label *l = top->labels;
  if (strcmp(k, "integration") == 0 && top->nlabels == 2) {
    if (!index_add(s, K_INTEGRATION, l->next->name, NULL, s->nintegrations)) return;
    idp_spec_integration *i = PUSH(s->integrations, s->nintegrations, s->capintegrations);
    *i = (idp_spec_integration){keep(s, l->name), keep(s, l->next->name), src, l->next->loc};
  } else if (strcmp(k, "env_type") == 0 && top->nlabels == 1) {
    if (!index_add(s, K_ENV_TYPE, l->name, NULL, s->nenv_types)) return;
    idp_spec_env_type *t = PUSH(s->env_types, s->nenv_types, s->capenv_types);
    *t = (idp_spec_env_type){keep(s, l->name), src, l->loc};
  } else if (strcmp(k, "env") == 0 && top->nlabels == 1) {
    if (!index_add(s, K_ENV, l->name, NULL, s->nenvs)) return;
    idp_spec_env *e = PUSH(s->envs, s->nenvs, s->capenvs);
    *e = (idp_spec_env){keep(s, l->name), src, l->loc, attr_lit(s, &top->body, "type")};
  } else if (strcmp(k, "provide") == 0 && top->nlabels == 2) {
    record_provide(s, src, top);
  } else if (strcmp(k, "resource") == 0 && top->nlabels == 2) {
    if (!index_add(s, K_RESOURCE, l->name, l->next->name, s->nresources)) return;
    idp_spec_resource *r = PUSH(s->resources, s->nresources, s->capresources);
    *r = (idp_spec_resource){keep(s, l->name), keep(s, l->next->name), src, l->next->loc};
  } else if (strcmp(k, "app") == 0 && top->nlabels == 1) {
    record_app(s, src, top);
  } else if (strcmp(k, "pipeline") == 0 && top->nlabels == 1) {
    record_pipeline(s, src, top);
  }
}

const idp_spec_env *idp_spec_find_env(const idp_spec *s, const char *name) {
  size_t i = index_get(s, K_ENV, name, NULL);
  return i == NONE ? NULL : &s->envs[i];
}
const idp_spec_env_type *idp_spec_find_env_type(const idp_spec *s, const char *name) {
  size_t i = index_get(s, K_ENV_TYPE, name, NULL);
  return i == NONE ? NULL : &s->env_types[i];
}
const idp_spec_app *idp_spec_find_app(const idp_spec *s, const char *name) {
  size_t i = index_get(s, K_APP, name, NULL);
  return i == NONE ? NULL : &s->apps[i];
}
const idp_spec_ptype *idp_spec_find_ptype(const idp_spec *s, const char *type) {
  size_t i = index_get(s, K_PTYPE, type, NULL);
  return i == NONE ? NULL : &s->ptypes[i];
}

/* --- matching ------------------------------------------------------------------------------- */

int idp_spec_score(const idp_spec_provide *p, const char *env, const char *app, const char *env_type,
                   int *crit) {
  if (crit) *crit = -1;
  if (!p->has_match) return 0;
  const char *have[IDP_NCRIT] = {env, app, env_type};
  int score = 0;
  for (int c = 0; c < IDP_NCRIT; c++) {
    const idp_spec_lit *l = &p->crit[c];
    if (l->kind == IDP_SPEC_ABSENT) continue;
    if (l->kind == IDP_SPEC_EXPR) {
      if (crit) *crit = c;
      return IDP_SPEC_UNDECIDED;
    }
    if (!have[c] || strcmp(have[c], l->s) != 0) {
      if (crit) *crit = c;
      return IDP_SPEC_NOFIT;
    }
    score += idp_spec_crit_weight[c];
  }
  return score;
}

void idp_spec_choose(const idp_spec *s, const char *type, const char *env, const char *app,
                     const char *env_type, idp_spec_choice *out) {
  *out = (idp_spec_choice){NONE, NONE, -1, 0, false};
  const idp_spec_ptype *pt = idp_spec_find_ptype(s, type);
  if (!pt) return;
  for (size_t i = pt->first; i != NONE; i = s->provides[i].next_of_type) {
    int sc = idp_spec_score(&s->provides[i], env, app, env_type, NULL);
    if (sc == IDP_SPEC_UNDECIDED) out->undecided = true;
    if (sc < 0) continue;
    out->nfit++;
    if (sc > out->score) {
      out->win = i;
      out->tie = NONE;
      out->score = sc;
    } else if (sc == out->score && out->tie == NONE) {
      out->tie = i;
    }
  }
}

/* --- checks --------------------------------------------------------------------------------- */

typedef struct checker {
  const idp_spec *s;
  idp_diags *d;
  idp_buf buf;            /* scratch for lists in messages */
  const char **names;     /* scratch for did-you-mean */
  size_t *pairs;          /* tie pairs reported: 2 per pair */
  size_t npairs, cappairs;
  idp_arena arena;        /* message pieces */
} checker;

/* Names of a vector of structs whose first member is `const char *name`. */
#define NAMES(c, v, n) names_of((c), (v), (n), sizeof *(v))

static const char **names_of(checker *c, const void *v, size_t n, size_t stride) {
  c->names = idp_xrealloc(c->names, (n + 1) * sizeof *c->names);
  for (size_t i = 0; i < n; i++) c->names[i] = *(const char *const *)((const char *)v + i * stride);
  return c->names;
}

/* "a, b, c" of names[0..n), at most 8 of them. */
static const char *list_names(checker *c, const char *const *names, size_t n) {
  c->buf.len = 0;
  idp_buf_puts(&c->buf, "");
  for (size_t i = 0; i < n && i < 8; i++) {
    if (i) idp_buf_puts(&c->buf, ", ");
    idp_buf_puts(&c->buf, names[i]);
  }
  if (n > 8) idp_buf_printf(&c->buf, " and %zu more", n - 8);
  return idp_buf_cstr(&c->buf);
}

/* A hint for an unknown name: did you mean, or what there is, or how to declare one. */
static void hint_name(checker *c, const char *word, const char *const *names, size_t n, const char *what,
                      const char *declare) {
  const char *best = idp_did_you_mean(word, names, n);
  if (best) idp_diag_hint(c->d, "did you mean '%s'?", best);
  else if (n) idp_diag_hint(c->d, "declared %ss: %s", what, list_names(c, names, n));
  else idp_diag_hint(c->d, "no %s is declared; declare one: %s", what, declare);
}

static void check_env_types(checker *c) {
  const idp_spec *s = c->s;
  if (s->nenv_types == 0) return; /* a partial spec: the env types are elsewhere */
  for (size_t i = 0; i < s->nenvs; i++) {
    const idp_spec_env *e = &s->envs[i];
    if (e->type.kind != IDP_SPEC_LITERAL || idp_spec_find_env_type(s, e->type.s)) continue;
    idp_diag_error(c->d, e->src, e->type.loc, "env '%s' has type '%s', which is not declared", e->name, e->type.s);
    hint_name(c, e->type.s, NAMES(c, s->env_types, s->nenv_types), s->nenv_types, "env type",
              idp_arena_sprintf(&c->arena, "env_type %s { ... }", e->type.s));
  }
}

static void check_need_types(checker *c) {
  const idp_spec *s = c->s;
  if (s->nprovides == 0) return; /* a partial spec: an app team's files checked alone */
  const char **types = NAMES(c, s->ptypes, s->nptypes);
  const idp_spec_app *homeless = NULL;
  size_t nhomeless = 0;
  for (size_t i = 0; i < s->napps; i++) {
    const idp_spec_app *a = &s->apps[i];
    for (size_t k = 0; k < a->nneeds; k++) {
      const idp_spec_need *n = &a->needs[k];
      if (n->type.kind != IDP_SPEC_LITERAL || idp_spec_find_ptype(s, n->type.s)) continue;
      if (n->implicit) { /* one error for all the apps: there is one thing to add */
        if (!nhomeless++) homeless = a;
        continue;
      }
      idp_diag_error(c->d, a->src, n->type.loc, "need '%s' of app '%s': no provide serves type '%s'", n->name,
                     a->name, n->type.s);
      const char *best = idp_did_you_mean(n->type.s, types, s->nptypes);
      if (best) idp_diag_hint(c->d, "did you mean '%s'?", best);
      else idp_diag_hint(c->d, "add provide %s \"NAME\" { ... }; provided types: %s", n->type.s,
                         list_names(c, types, s->nptypes));
    }
  }
  if (homeless) {
    if (nhomeless > 1)
      idp_diag_error(c->d, homeless->src, homeless->loc,
                     "app '%s' and %zu more have nowhere to run: no provide serves type 'workload'", homeless->name,
                     nhomeless - 1);
    else
      idp_diag_error(c->d, homeless->src, homeless->loc, "app '%s' has nowhere to run: no provide serves type 'workload'",
                     homeless->name);
    idp_diag_hint(c->d, "every app needs a workload: add provide workload \"NAME\" { ... }");
  }
}

/* Whether a provide's match names only what exists (criteria that are expressions aside). */
static bool check_criteria(checker *c, const idp_spec_provide *p) {
  const idp_spec *s = c->s;
  bool ok = true;
  for (int k = 0; k < IDP_NCRIT; k++) {
    const idp_spec_lit *l = &p->crit[k];
    if (l->kind != IDP_SPEC_LITERAL) continue;
    /* A partial spec that declares none of them is not checked. */
    if (k == IDP_CRIT_ENV ? !s->nenvs : k == IDP_CRIT_APP ? !s->napps : !s->nenv_types) continue;
    bool found = k == IDP_CRIT_ENV   ? idp_spec_find_env(s, l->s) != NULL
                 : k == IDP_CRIT_APP ? idp_spec_find_app(s, l->s) != NULL
                                     : idp_spec_find_env_type(s, l->s) != NULL;
    if (found) continue;
    ok = false;
    const char **names;
    size_t n;
    if (k == IDP_CRIT_ENV) names = NAMES(c, s->envs, s->nenvs), n = s->nenvs;
    else if (k == IDP_CRIT_APP) names = NAMES(c, s->apps, s->napps), n = s->napps;
    else names = NAMES(c, s->env_types, s->nenv_types), n = s->nenv_types;
    const char *what = k == IDP_CRIT_ENV ? "env" : k == IDP_CRIT_APP ? "app" : "env type";
    idp_diag_error(c->d, p->src, l->loc, "match names %s '%s', which is not declared", what, l->s);
    const char *declare = k == IDP_CRIT_ENV   ? "env \"NAME\" { type = \"...\" }"
                          : k == IDP_CRIT_APP ? "app \"NAME\" { ... }"
                                              : "env_type NAME { ... }";
    hint_name(c, l->s, names, n, what, declare);
  }
  return ok;
}

/* Why provide p does not fit (env e, app a): "match env = \"prod\", not \"dev\"". */
static const char *why_not(checker *c, const idp_spec_provide *p, int crit, const char *have) {
  return idp_arena_sprintf(&c->arena, "its match wants %s = \"%s\"%s%s%s", idp_spec_crit_name[crit],
                           p->crit[crit].s, have ? ", not \"" : " (the env has no type)", have ? have : "",
                           have ? "\"" : "");
}

static const char *env_type_of(const idp_spec_env *e) {
  return e->type.kind == IDP_SPEC_LITERAL ? e->type.s : NULL;
}

static void report_nofit(checker *c, const idp_spec_app *a, const idp_spec_need *n, const size_t *envs,
                         size_t nenvs) {
  const idp_spec *s = c->s;
  const char **names = idp_xmalloc((nenvs + 1) * sizeof *names);
  for (size_t i = 0; i < nenvs; i++) names[i] = s->envs[envs[i]].name;
  const char *where = idp_arena_sprintf(&c->arena, "%s", list_names(c, names, nenvs));
  free(names);
  idp_loc at = n->implicit ? n->loc : n->type.loc;
  if (n->implicit)
    idp_diag_error(c->d, a->src, at, "no provide workload fits app '%s' in env%s %s", a->name, nenvs > 1 ? "s" : "",
                   where);
  else
    idp_diag_error(c->d, a->src, at, "no provide %s fits need '%s' of app '%s' in env%s %s", n->type.s, n->name,
                   a->name, nenvs > 1 ? "s" : "", where);
  idp_diag_hint(c->d, "add a provide %s whose match fits, or one without match (see 'idp explain')", n->type.s);
  const idp_spec_env *e = &s->envs[envs[0]];
  const idp_spec_ptype *pt = idp_spec_find_ptype(s, n->type.s);
  size_t shown = 0;
  for (size_t i = pt->first; i != NONE && shown < 8; i = s->provides[i].next_of_type, shown++) {
    const idp_spec_provide *p = &s->provides[i];
    int crit;
    idp_spec_score(p, e->name, a->name, env_type_of(e), &crit);
    const char *have = crit == IDP_CRIT_ENV ? e->name : crit == IDP_CRIT_APP ? a->name : env_type_of(e);
    idp_diag_note(c->d, p->src, p->crit[crit].loc, "provide %s \"%s\" does not fit in env '%s': %s", p->type, p->name,
                  e->name, why_not(c, p, crit, have));
  }
}

static void report_tie(checker *c, const idp_spec_app *a, const idp_spec_need *n, const idp_spec_env *e,
                       const idp_spec_choice *ch) {
  const idp_spec *s = c->s;
  for (size_t i = 0; i < c->npairs; i++)
    if (c->pairs[2 * i] == ch->win && c->pairs[2 * i + 1] == ch->tie) return;
  if (c->npairs == c->cappairs) {
    c->cappairs = c->cappairs ? c->cappairs * 2 : 8;
    c->pairs = idp_xrealloc(c->pairs, 2 * c->cappairs * sizeof *c->pairs);
  }
  c->pairs[2 * c->npairs] = ch->win;
  c->pairs[2 * c->npairs + 1] = ch->tie;
  c->npairs++;
  const idp_spec_provide *p = &s->provides[ch->win], *q = &s->provides[ch->tie];
  idp_loc at = n->implicit ? n->loc : n->type.loc;
  if (n->implicit)
    idp_diag_error(c->d, a->src, at, "app '%s' in env '%s': provides workload \"%s\" and \"%s\" both fit with score %d",
                   a->name, e->name, p->name, q->name, ch->score);
  else
    idp_diag_error(c->d, a->src, at, "need '%s' of app '%s' in env '%s': provides %s \"%s\" and \"%s\" both fit with score %d",
                   n->name, a->name, e->name, p->type, p->name, q->name, ch->score);
  idp_diag_hint(c->d, "make one match more specifically (env 4, app 2, env_type 1)");
  idp_diag_note(c->d, p->src, p->loc, "provide %s \"%s\" is here", p->type, p->name);
  idp_diag_note(c->d, q->src, q->loc, "provide %s \"%s\" is here", q->type, q->name);
}

/* Matching one need type over every declared env x app, without visiting every pair: envs that no
 * criterion names match alike when their types are equal, and apps that no criterion names match
 * alike. The outcome for those apps takes at most 8 lookups per env class: the provides are
 * bucketed by which criteria they set (the score, env 4 + app 2 + env_type 1, is the set itself)
 * and the values they want. An app a criterion names adds the few provides that name it. Each
 * need then visits only the env classes where its app has no fit or a tie. */
typedef struct outcome {
  size_t win, tie;
  int score;
} outcome;

/* The outcomes of one app class, and the env classes where it has no fit or a tie. */
typedef struct appres {
  size_t *bad, nbad;      /* the env classes */
  outcome *bo;            /* the outcome in each of them */
} appres;

typedef struct bucket {
  size_t first, second;
} bucket;

typedef struct typematch {
  checker *c;
  const char *type;
  idp_arena arena;
  idp_buf key;
  idp_spec_index buckets, classes;  /* bucket key -> bucket; class key -> class */
  bucket *bk;
  size_t nbk;
  size_t *env_class;                /* per env: its class, or NONE (left out) */
  size_t *class_first, *env_next;   /* members of each env class, linked */
  size_t nenv_classes;
  outcome *generic;                 /* per env class: the outcome of the apps no criterion names */
  appres gres, named;               /* where those apps fail; where one named app fails (reused) */
  size_t *mark, stamp;              /* env classes already seen for the named app */
  size_t *tclass_next;              /* env classes linked by type (from the 'C' key of classes) */
  size_t napp_classes;
  size_t *app_first, *app_next;     /* per app class (by provide index): the provides naming it */
} typematch;

static const char *bucket_key(typematch *m, unsigned pattern, const char *env, const char *app, const char *et) {
  idp_buf *b = &m->key;
  b->len = 0;
  idp_buf_putc(b, (char)('0' + pattern));
  if (pattern & 4) idp_buf_puts(b, env);
  idp_buf_putc(b, '\x1f');
  if (pattern & 2) idp_buf_puts(b, app);
  idp_buf_putc(b, '\x1f');
  if (pattern & 1) idp_buf_puts(b, et);
  return idp_buf_cstr(b);
}

static outcome choose_fast(typematch *m, const idp_spec_env *e, const char *app) {
  const char *et = env_type_of(e);
  for (int pattern = 7; pattern >= 0; pattern--) {
    if (((pattern & 1) && !et) || ((pattern & 2) && !app)) continue;
    index_entry *x = ix_find(&m->buckets, bucket_key(m, (unsigned)pattern, e->name, app, et));
    if (x) return (outcome){m->bk[x->pos].first, m->bk[x->pos].second, pattern};
  }
  return (outcome){NONE, NONE, -1};
}

/* The outcome in env class ec of the apps no criterion names. */
static void bad_add(appres *r, size_t ec, outcome o) {
  if (o.win != NONE && o.tie == NONE) return;
  r->bad[r->nbad] = ec;
  r->bo[r->nbad++] = o;
}

/* Adds provide p with score sc (< 0: it does not fit) to o: win and tie are the first two of the
 * best score in declaration order, as idp_spec_choose has them. */
static void consider(outcome *o, size_t p, int sc) {
  if (sc < 0) return;
  if (sc > o->score) {
    *o = (outcome){p, NONE, sc};
  } else if (sc == o->score) {
    if (p < o->win) o->tie = o->win, o->win = p;
    else if (p != o->win && (o->tie == NONE || p < o->tie)) o->tie = p;
  }
}

static void named_eval(typematch *m, size_t cls, const char *app, size_t ec) {
  if (m->mark[ec] == m->stamp) return;
  m->mark[ec] = m->stamp;
  const idp_spec *s = m->c->s;
  const idp_spec_env *e = &s->envs[m->class_first[ec]];
  outcome o = m->generic[ec];
  for (size_t p = m->app_first[cls]; p != NONE; p = m->app_next[p])
    consider(&o, p, idp_spec_score(&s->provides[p], e->name, app, env_type_of(e), NULL));
  bad_add(&m->named, ec, o);
}

/* Where the app a criterion names (class cls) has no fit or a tie: where the unnamed apps do, and
 * where the provides that name it reach (one env, the envs of one type, or all). */
static const appres *named_result(typematch *m, size_t cls, const char *app) {
  const idp_spec *s = m->c->s;
  m->named.nbad = 0;
  m->stamp++;
  for (size_t b = 0; b < m->gres.nbad; b++) named_eval(m, cls, app, m->gres.bad[b]);
  for (size_t p = m->app_first[cls]; p != NONE; p = m->app_next[p]) {
    const idp_spec_provide *pr = &s->provides[p];
    if (pr->crit[IDP_CRIT_ENV].kind == IDP_SPEC_LITERAL) {
      const idp_spec_env *e = idp_spec_find_env(s, pr->crit[IDP_CRIT_ENV].s);
      size_t ec = e ? m->env_class[e - s->envs] : NONE;
      if (ec != NONE) named_eval(m, cls, app, ec);
    } else if (pr->crit[IDP_CRIT_ENV_TYPE].kind == IDP_SPEC_LITERAL) {
      index_entry *x = ix_find(&m->classes, key_of(&m->key, 'C', pr->crit[IDP_CRIT_ENV_TYPE].s, NULL));
      for (size_t ec = x ? x->pos : NONE; ec != NONE; ec = m->tclass_next[ec]) named_eval(m, cls, app, ec);
    } else {
      for (size_t ec = 0; ec < m->nenv_classes; ec++) named_eval(m, cls, app, ec);
    }
  }
  return &m->named;
}

static void match_type(checker *c, const idp_spec_ptype *pt, size_t *scratch) {
  const idp_spec *s = c->s;
  typematch m = {.c = c, .type = pt->type};
  idp_arena_init(&m.arena);
  m.bk = idp_xmalloc((pt->n + 1) * sizeof *m.bk);
  /* Buckets, and the names criteria mention. */
  bool added;
  for (size_t i = pt->first; i != NONE; i = s->provides[i].next_of_type) {
    const idp_spec_provide *p = &s->provides[i];
    unsigned pattern = 0;
    for (int k = 0; k < IDP_NCRIT; k++)
      if (p->crit[k].kind == IDP_SPEC_LITERAL) pattern |= 4u >> k;
    index_entry *x = ix_put(&m.buckets, &m.arena,
                            bucket_key(&m, pattern, p->crit[IDP_CRIT_ENV].s, p->crit[IDP_CRIT_APP].s,
                                       p->crit[IDP_CRIT_ENV_TYPE].s),
                            m.nbk, &added);
    if (added) m.bk[m.nbk++] = (bucket){i, NONE};
    else if (m.bk[x->pos].second == NONE) m.bk[x->pos].second = i;
    if (pattern & 4) ix_put(&m.classes, &m.arena, key_of(&m.key, 'E', p->crit[IDP_CRIT_ENV].s, NULL), NONE, &added);
  }
  /* Env classes: an env a criterion names is its own class; the others go by their type. */
  m.env_class = idp_xmalloc((s->nenvs + 1) * sizeof *m.env_class);
  m.class_first = idp_xmalloc((s->nenvs + 1) * sizeof *m.class_first);
  m.env_next = idp_xmalloc((s->nenvs + 1) * sizeof *m.env_next);
  size_t *class_last = idp_xmalloc((s->nenvs + 1) * sizeof *class_last);
  m.tclass_next = idp_xmalloc((s->nenvs + 1) * sizeof *m.tclass_next);
  for (size_t j = 0; j < s->nenvs; j++) {
    const idp_spec_env *e = &s->envs[j];
    m.env_class[j] = NONE;
    m.env_next[j] = NONE;
    /* An env whose type is an expression, or undeclared (reported), is left out. */
    if (e->type.kind == IDP_SPEC_EXPR) continue;
    if (e->type.kind == IDP_SPEC_LITERAL && s->nenv_types && !idp_spec_find_env_type(s, e->type.s)) continue;
    const char *key = ix_find(&m.classes, key_of(&m.key, 'E', e->name, NULL))
                          ? key_of(&m.key, 'N', e->name, NULL)
                          : key_of(&m.key, 'T', e->type.kind == IDP_SPEC_LITERAL ? e->type.s : "", e->type.kind == IDP_SPEC_LITERAL ? NULL : "");
    size_t ec = ix_put(&m.classes, &m.arena, key, m.nenv_classes, &added)->pos;
    if (added) {
      m.class_first[ec] = j;
      m.tclass_next[ec] = NONE;
      class_last[ec] = j;
      m.nenv_classes++;
      if (e->type.kind == IDP_SPEC_LITERAL) { /* classes by type, for the provides that name one */
        index_entry *y = ix_put(&m.classes, &m.arena, key_of(&m.key, 'C', e->type.s, NULL), ec, &added);
        if (!added) m.tclass_next[ec] = y->pos, y->pos = ec;
      }
    } else {
      m.env_next[class_last[ec]] = j;
      class_last[ec] = j;
    }
    m.env_class[j] = ec;
  }
  free(class_last);

  bool *nofit = idp_xcalloc(m.nenv_classes + 1, sizeof *nofit);
  /* The apps no criterion names: one outcome per env class. */
  size_t nec = m.nenv_classes + 1;
  m.generic = idp_xmalloc(nec * sizeof *m.generic);
  m.gres.bad = idp_xmalloc(nec * sizeof *m.gres.bad);
  m.gres.bo = idp_xmalloc(nec * sizeof *m.gres.bo);
  m.named.bad = idp_xmalloc(nec * sizeof *m.named.bad);
  m.named.bo = idp_xmalloc(nec * sizeof *m.named.bo);
  m.mark = idp_xcalloc(nec, sizeof *m.mark);
  for (size_t ec = 0; ec < m.nenv_classes; ec++) {
    m.generic[ec] = choose_fast(&m, &s->envs[m.class_first[ec]], NULL);
    bad_add(&m.gres, ec, m.generic[ec]);
  }
  /* Apps a criterion names: a class each, with the provides that name it. */
  m.app_first = idp_xmalloc((s->napps + 2) * sizeof *m.app_first);
  m.app_next = idp_xmalloc((s->nprovides + 1) * sizeof *m.app_next);
  m.napp_classes = 1;
  for (size_t i = pt->first; i != NONE; i = s->provides[i].next_of_type) {
    const idp_spec_lit *l = &s->provides[i].crit[IDP_CRIT_APP];
    m.app_next[i] = NONE;
    if (l->kind != IDP_SPEC_LITERAL || !idp_spec_find_app(s, l->s)) continue;
    index_entry *x = ix_put(&m.classes, &m.arena, key_of(&m.key, 'B', l->s, NULL), m.napp_classes, &added);
    if (added) m.app_first[m.napp_classes++] = NONE;
    /* Kept in declaration order: appended at the end. */
    size_t *at = &m.app_first[x->pos];
    while (*at != NONE) at = &m.app_next[*at];
    *at = i;
  }
  for (size_t i = 0; i < s->napps; i++) {
    const idp_spec_app *a = &s->apps[i];
    for (size_t k = 0; k < a->nneeds; k++) {
      const idp_spec_need *n = &a->needs[k];
      if (n->type.kind != IDP_SPEC_LITERAL || strcmp(n->type.s, pt->type) != 0) continue;
      index_entry *x = ix_find(&m.classes, key_of(&m.key, 'B', a->name, NULL));
      const appres *r = x ? named_result(&m, x->pos, a->name) : &m.gres;
      size_t nofit_classes = 0;
      for (size_t b = 0; b < r->nbad; b++) {
        size_t ec = r->bad[b];
        if (r->bo[b].win == NONE) {
          nofit[ec] = true;
          nofit_classes++;
        } else {
          idp_spec_choice ch = {r->bo[b].win, r->bo[b].tie, r->bo[b].score, 2, false};
          report_tie(c, a, n, &s->envs[m.class_first[ec]], &ch);
        }
      }
      if (nofit_classes) { /* the envs in declaration order */
        size_t nnofit = 0;
        for (size_t j = 0; j < s->nenvs; j++)
          if (m.env_class[j] != NONE && nofit[m.env_class[j]]) scratch[nnofit++] = j;
        for (size_t b = 0; b < r->nbad; b++) nofit[r->bad[b]] = false;
        report_nofit(c, a, n, scratch, nnofit);
      }
    }
  }
  free(nofit);
  free(m.generic);
  free(m.gres.bad);
  free(m.gres.bo);
  free(m.named.bad);
  free(m.named.bo);
  free(m.mark);
  free(m.tclass_next);
  free(m.app_first);
  free(m.app_next);
  free(m.env_class);
  free(m.class_first);
  free(m.env_next);
  free(m.bk);
  free(m.buckets.tab);
  free(m.classes.tab);
  idp_buf_free(&m.key);
  idp_arena_free(&m.arena);
}

static void check_matching(checker *c) {
  const idp_spec *s = c->s;
  size_t *scratch = idp_xmalloc((s->nenvs + 1) * sizeof *scratch);
  for (size_t t = 0; t < s->nptypes; t++) {
    /* A type whose matching cannot be decided here is left out: a match holds an expression, or
     * names what does not exist (reported). */
    bool skip = false;
    for (size_t i = s->ptypes[t].first; i != NONE; i = s->provides[i].next_of_type) {
      const idp_spec_provide *p = &s->provides[i];
      if (!check_criteria(c, p)) skip = true;
      for (int k = 0; k < IDP_NCRIT; k++)
        if (p->crit[k].kind == IDP_SPEC_EXPR) skip = true;
    }
    if (!skip) match_type(c, &s->ptypes[t], scratch);
  }
  free(scratch);
}

/* --- the attributes of pipeline blocks ------------------------------------------------------ */

/* What an attribute of a pipeline block takes. Only literal values are checked: an expression is
 * evaluated when the pipeline runs (cli/pipeline_spec.c), and checked there. */
typedef enum { PT_STRING, PT_DURATION, PT_WHOLE, PT_INTEGRATION, PT_ANY } ptype;

typedef struct prule {
  const char *name;
  ptype type;
  bool required;
  double min, max;          /* PT_WHOLE: the range; PT_DURATION: min 0 or a positive minimum */
  const char *example;      /* how to write it, for "needs NAME" */
} prule;

typedef struct pkind {
  const char *kind, *label; /* label NULL: the block takes none */
  const prule *rules;
  size_t nrules;
} pkind;

static const prule r_trigger[] = {
    {"registry", PT_INTEGRATION, false, 0, 0, "registry = integration.NAME"},
    {"repository", PT_STRING, true, 0, 0, "repository = \"team/app\""},
    {"tag", PT_STRING, false, 0, 0, "tag = \"v*\""},
};
static const prule r_stage[] = {{"after", PT_ANY, false, 0, 0, NULL}};
static const prule r_deploy[] = {
    {"app", PT_STRING, true, 0, 0, "app = \"NAME\""},
    {"env", PT_STRING, true, 0, 0, "env = \"NAME\""},
};
static const prule r_check[] = {
    {"url", PT_STRING, true, 0, 0, "url = \"https://HOST/health\""},
    {"expect_status", PT_WHOLE, false, 100, 599, NULL},
    {"timeout", PT_DURATION, false, 0.001, 0, NULL},
    {"retries", PT_WHOLE, false, 0, 100, NULL},
    {"interval", PT_DURATION, false, 0, 0, NULL},
};
static const prule r_approval[] = {{"approvers", PT_WHOLE, false, 1, 100, NULL}};
static const prule r_wait[] = {{"duration", PT_DURATION, true, 0, 0, "duration = \"10m\""}};

#define RULES(r) r, sizeof r / sizeof *r
static const pkind pkinds[] = {
    {"pipeline", NULL, NULL, 0},        {"trigger", "image_push", RULES(r_trigger)},
    {"stage", NULL, RULES(r_stage)},    {"deploy", NULL, RULES(r_deploy)},
    {"check", "http", RULES(r_check)},  {"approval", NULL, RULES(r_approval)},
    {"wait", NULL, RULES(r_wait)},
};

/* How messages name a block: `check "http"`, `deploy`, `stage "dev"`. */
static const char *pblock_name(checker *c, const idp_spec_pblock *b, const char *name) {
  if (b->label) return idp_arena_sprintf(&c->arena, "%s \"%s\"", b->kind, b->label);
  if (name) return idp_arena_sprintf(&c->arena, "%s \"%s\"", b->kind, name);
  return b->kind;
}

static void check_pattr(checker *c, idp_source *src, const char *what, const prule *r, const idp_spec_pattr *a) {
  const idp_spec *s = c->s;
  const char *tname = a->kind == IDP_E_NUMBER ? "a number" : a->kind == IDP_E_BOOL ? "a bool"
                      : a->kind == IDP_E_NULL ? "null" : a->kind == IDP_E_LIST ? "a list"
                      : a->kind == IDP_E_MAP ? "a map" : a->s ? "a string" : NULL;
  switch (r->type) {
  case PT_ANY: break;
  case PT_STRING:
    if (tname && !a->s) {
      idp_diag_error(c->d, src, a->loc, "%s of %s takes a string, not %s", r->name, what, tname);
      idp_diag_hint(c->d, "write it in quotes: %s", r->example ? r->example : "\"...\"");
    }
    break;
  case PT_WHOLE:
    if (a->kind == IDP_E_NUMBER ? (a->number != (double)(long)a->number || a->number < r->min || a->number > r->max)
                                : tname != NULL) {
      if (a->kind == IDP_E_NUMBER)
        idp_diag_error(c->d, src, a->loc, "%s of %s must be a whole number from %g to %g, not %g", r->name, what,
                       r->min, r->max, a->number);
      else
        idp_diag_error(c->d, src, a->loc, "%s of %s takes a whole number from %g to %g, not %s", r->name, what, r->min,
                       r->max, tname);
    }
    break;
  case PT_DURATION: {
    double secs = 0;
    if (a->kind == IDP_E_NUMBER) {
      secs = a->number;
      if (secs >= 0 && secs >= r->min && secs <= 7 * 24 * 3600.0) break;
      idp_diag_error(c->d, src, a->loc, "%s of %s: %g seconds is out of range", r->name, what, a->number);
    } else if (a->s) {
      if (idp_parse_duration(a->s, &secs) == 0 && secs >= r->min) break;
      idp_diag_error(c->d, src, a->loc, "%s of %s: '%s' is not a duration%s", r->name, what, a->s,
                     idp_parse_duration(a->s, &secs) == 0 ? " above zero" : "");
    } else if (tname) {
      idp_diag_error(c->d, src, a->loc, "%s of %s takes a duration, not %s", r->name, what, tname);
    } else {
      break; /* an expression */
    }
    idp_diag_hint(c->d, "write a duration such as \"30s\", \"10m\" or \"1h30m\" (at most 7 days)");
    break;
  }
  case PT_INTEGRATION:
    if (!a->integration) {
      idp_diag_error(c->d, src, a->loc, "%s of %s takes an integration", r->name, what);
      idp_diag_hint(c->d, "write registry = integration.NAME, naming an oci_registry integration");
      break;
    }
    if (!s->nintegrations) break; /* a partial spec: the integrations are elsewhere */
    const idp_spec_integration *in = NULL;
    for (size_t i = 0; i < s->nintegrations && !in; i++)
      if (strcmp(s->integrations[i].name, a->integration) == 0) in = &s->integrations[i];
    if (!in) {
      idp_diag_error(c->d, src, a->loc, "%s of %s: no integration is named '%s'", r->name, what, a->integration);
      c->names = idp_xrealloc(c->names, (s->nintegrations + 1) * sizeof *c->names);
      for (size_t i = 0; i < s->nintegrations; i++) c->names[i] = s->integrations[i].name;
      hint_name(c, a->integration, c->names, s->nintegrations, "integration",
                "integration oci_registry \"NAME\" { url = \"https://...\" }");
    } else if (strcmp(in->driver, "oci_registry") != 0) {
      idp_diag_error(c->d, src, a->loc, "%s of %s: integration '%s' is a %s integration, not an oci_registry one",
                     r->name, what, a->integration, in->driver);
      idp_diag_hint(c->d, "a trigger watches an image registry: name an integration oci_registry \"NAME\" { ... }");
    }
    break;
  }
}

/* One block of a pipeline: its label, unknown and missing attributes, literal values. */
static void check_pblock(checker *c, idp_source *src, const idp_spec_pblock *b, const char *name) {
  const pkind *k = NULL;
  for (size_t i = 0; i < sizeof pkinds / sizeof *pkinds && !k; i++)
    if (strcmp(pkinds[i].kind, b->kind) == 0) k = &pkinds[i];
  if (!k) return;
  if (k->label && b->label && strcmp(k->label, b->label) != 0) {
    idp_diag_error(c->d, src, b->label_loc, "unknown %s kind '%s'", b->kind, b->label);
    const char *kinds[] = {k->label};
    const char *best = idp_did_you_mean(b->label, kinds, 1);
    if (best) idp_diag_hint(c->d, "did you mean '%s'?", best);
    else idp_diag_hint(c->d, "the %s kinds are: %s", b->kind, k->label);
    return; /* its attributes mean nothing yet */
  }
  const char *what = pblock_name(c, b, name);
  const char *names[8];
  for (size_t r = 0; r < k->nrules; r++) names[r] = k->rules[r].name;
  for (size_t i = 0; i < b->nattrs; i++) {
    const idp_spec_pattr *a = &b->attrs[i];
    const prule *r = NULL;
    for (size_t j = 0; j < k->nrules && !r; j++)
      if (strcmp(k->rules[j].name, a->name) == 0) r = &k->rules[j];
    if (r) {
      check_pattr(c, src, what, r, a);
      continue;
    }
    idp_diag_error(c->d, src, a->name_loc, "unknown attribute '%s' in %s", a->name, what);
    const char *best = idp_did_you_mean(a->name, names, k->nrules);
    if (best) idp_diag_hint(c->d, "did you mean '%s'?", best);
    else if (k->nrules) idp_diag_hint(c->d, "%s takes: %s", what, list_names(c, names, k->nrules));
    else idp_diag_hint(c->d, "%s takes no attributes, only trigger and stage blocks", what);
  }
  for (size_t j = 0; j < k->nrules; j++) {
    if (!k->rules[j].required) continue;
    bool set = false;
    for (size_t i = 0; i < b->nattrs && !set; i++) set = strcmp(b->attrs[i].name, k->rules[j].name) == 0;
    if (set) continue;
    idp_diag_error(c->d, src, b->loc, "%s needs %s", what, k->rules[j].name);
    idp_diag_hint(c->d, "add %s", k->rules[j].example);
  }
}

/* A pipeline's stages: `after` names stages of it, without a cycle; deploy names an app and env;
 * every block's attributes as check_pblock reads them. */
static void check_pipeline(checker *c, const idp_spec_pipeline *p) {
  const idp_spec *s = c->s;
  size_t n = p->nstages;
  check_pblock(c, p->src, &p->self, p->name);
  for (size_t i = 0; i < p->ntriggers; i++) check_pblock(c, p->src, &p->triggers[i], NULL);
  for (size_t i = 0; i < n; i++) {
    check_pblock(c, p->src, &p->stages[i].self, p->stages[i].name);
    for (size_t k = 0; k < p->stages[i].nsteps; k++) check_pblock(c, p->src, &p->stages[i].steps[k], NULL);
  }
  const char **names = idp_xmalloc((n + 1) * sizeof *names);
  for (size_t i = 0; i < n; i++) names[i] = p->stages[i].name;
  for (size_t i = 0; i < n; i++) {
    const idp_spec_stage *st = &p->stages[i];
    for (size_t k = 0; k < st->nafter; k++) {
      const idp_spec_lit *l = &st->after[k];
      if (l->kind != IDP_SPEC_LITERAL) continue;
      bool found = false;
      for (size_t j = 0; j < n && !found; j++) found = strcmp(names[j], l->s) == 0;
      if (found) continue;
      idp_diag_error(c->d, p->src, l->loc, "stage '%s' runs after '%s': pipeline '%s' has no such stage", st->name,
                     l->s, p->name);
      hint_name(c, l->s, names, n, "stage", "stage \"NAME\" { ... }");
    }
    if (st->deploy_app.kind == IDP_SPEC_LITERAL && s->napps && !idp_spec_find_app(s, st->deploy_app.s)) {
      idp_diag_error(c->d, p->src, st->deploy_app.loc, "stage '%s' deploys app '%s', which is not declared", st->name,
                     st->deploy_app.s);
      hint_name(c, st->deploy_app.s, NAMES(c, s->apps, s->napps), s->napps, "app", "app \"NAME\" { ... }");
    }
    if (st->deploy_env.kind == IDP_SPEC_LITERAL && s->nenvs && !idp_spec_find_env(s, st->deploy_env.s)) {
      idp_diag_error(c->d, p->src, st->deploy_env.loc, "stage '%s' deploys to env '%s', which is not declared",
                     st->name, st->deploy_env.s);
      hint_name(c, st->deploy_env.s, NAMES(c, s->envs, s->nenvs), s->nenvs, "env", "env \"NAME\" { type = \"...\" }");
    }
  }

  /* Cycles: depth-first over `after` edges; each cycle is reported once, at the stage where the
   * walk closed it. state: 0 new, 1 on the stack, 2 done. */
  unsigned char *state = idp_xcalloc(n + 1, 1);
  size_t *stack = idp_xmalloc((n + 1) * sizeof *stack), *iter = idp_xmalloc((n + 1) * sizeof *iter);
  for (size_t root = 0; root < n; root++) {
    if (state[root]) continue;
    size_t depth = 0;
    stack[depth] = root, iter[depth] = 0, depth++;
    state[root] = 1;
    while (depth) {
      size_t i = stack[depth - 1];
      const idp_spec_stage *st = &p->stages[i];
      if (iter[depth - 1] == st->nafter) {
        state[i] = 2;
        depth--;
        continue;
      }
      const idp_spec_lit *l = &st->after[iter[depth - 1]++];
      if (l->kind != IDP_SPEC_LITERAL) continue;
      size_t j = NONE;
      for (size_t x = 0; x < n && j == NONE; x++)
        if (strcmp(names[x], l->s) == 0) j = x;
      if (j == NONE || state[j] == 2) continue;
      if (state[j] == 0) {
        state[j] = 1;
        stack[depth] = j, iter[depth] = 0, depth++;
        continue;
      }
      /* j is on the stack: the cycle is stack[from..depth) then j again. */
      size_t from = 0;
      while (stack[from] != j) from++;
      c->buf.len = 0;
      for (size_t x = from; x < depth; x++) idp_buf_printf(&c->buf, "%s -> ", names[stack[x]]);
      idp_buf_puts(&c->buf, names[j]);
      idp_diag_error(c->d, p->src, l->loc, "stages of pipeline '%s' form a cycle: %s", p->name, idp_buf_cstr(&c->buf));
      idp_diag_hint(c->d, "'a -> b' reads 'a runs after b': remove one of these `after` entries");
    }
  }
  free(state);
  free(stack);
  free(iter);
  free(names);
}

unsigned idp_spec_check(const idp_spec *s, idp_diags *d) {
  unsigned before = d->errors;
  checker c = {.s = s, .d = d};
  idp_arena_init(&c.arena);
  check_env_types(&c);
  check_need_types(&c);
  check_matching(&c);
  for (size_t i = 0; i < s->npipelines; i++) check_pipeline(&c, &s->pipelines[i]);
  idp_buf_free(&c.buf);
  free(c.names);
  free(c.pairs);
  idp_arena_free(&c.arena);
  return d->errors - before;
}
