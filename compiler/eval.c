/* eval.c - the expression evaluator: operators, references, templates and calls over values.
 *
 * Every derived value carries the marks of what it derives from (secret, dependency set); an
 * unknown operand makes the result unknown. On an error the evaluator still evaluates the sibling
 * subexpressions, so that every mistake in an expression is reported in one run. */
#include "eval_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void idp_eval_ctx_init(idp_eval_ctx *ctx, idp_arena *arena, idp_diags *diags, idp_source *src) {
  memset(ctx, 0, sizeof *ctx);
  ctx->arena = arena;
  ctx->diags = diags;
  ctx->src = src;
}

int idp_eval_error(idp_eval_ctx *ctx, idp_loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *msg = idp_arena_alloc(ctx->arena, (size_t)(n > 0 ? n : 0) + 1);
  va_start(ap, fmt);
  vsnprintf(msg, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
  va_end(ap);
  idp_diag_error(ctx->diags, ctx->src, loc, "%s", msg);
  return IDP_EVAL_ERROR;
}

#define ERR(loc, ...) idp_eval_error(c, (loc), __VA_ARGS__)
#define HINT(...) idp_diag_hint(c->diags, __VA_ARGS__)

/* --- marks ----------------------------------------------------------------------------------- */

/* What a derived value inherits: the union of its inputs' marks. */
typedef struct marks {
  const idp_deps *deps;
  bool secret;
} marks;

static void marks_own(idp_eval_ctx *c, marks *m, const idp_value *v) {
  m->deps = idp_deps_union(c->arena, m->deps, v->deps);
  m->secret = m->secret || v->secret;
}

static void marks_deep(idp_eval_ctx *c, marks *m, const idp_value *v) {
  m->deps = idp_deps_union(c->arena, m->deps, idp_value_deps_deep(c->arena, v));
  m->secret = m->secret || idp_value_has_secret(v);
}

static idp_value *marked(idp_eval_ctx *c, idp_value *v, const marks *m) {
  return idp_value_taint(c->arena, v, m->deps, m->secret);
}

static idp_value *unknown_marked(idp_eval_ctx *c, idp_value_kind hint, const marks *m) {
  return marked(c, idp_value_unknown(c->arena, hint), m);
}

/* --- text ------------------------------------------------------------------------------------- */

bool idp_value_to_text(idp_buf *b, const idp_value *v) {
  switch (v->kind) {
  case IDP_V_STRING: idp_buf_append(b, v->u.string.s, v->u.string.len); return true;
  case IDP_V_NUMBER: idp_number_format(b, v->u.number); return true;
  case IDP_V_BOOL: idp_buf_puts(b, v->u.boolean ? "true" : "false"); return true;
  default: return false;
  }
}

/* A value for a message: its inline form, or `(secret)`. */
static const char *shown(idp_eval_ctx *c, const idp_value *v) {
  idp_buf b = {0};
  if (idp_value_has_secret(v)) idp_buf_puts(&b, "(secret)");
  else idp_value_print_inline(&b, v);
  char *s = idp_arena_strndup(c->arena, idp_buf_cstr(&b), b.len);
  idp_buf_free(&b);
  return s;
}

static const char *src_text(idp_eval_ctx *c, idp_loc loc) {
  return idp_arena_strndup(c->arena, c->src->text + loc.start, loc.end - loc.start);
}

static int ev(idp_eval_ctx *c, const idp_expr *e, idp_value **out);

/* --- templates ---------------------------------------------------------------------------------- */

static bool is_blank(char ch) { return ch == ' ' || ch == '\t'; }

/* The common indentation of a `<<-` heredoc, computed on its literal text: the fewest leading
 * spaces and tabs over its lines, not counting lines that hold only blanks; a line that starts
 * with an interpolation has none. */
static size_t heredoc_indent(const idp_tpart *parts) {
  size_t min = (size_t)-1;
  bool bol = true;
  for (const idp_tpart *p = parts; p; p = p->next) {
    if (!p->text) {
      if (bol) min = 0;
      bol = false;
      continue;
    }
    const char *s = p->text;
    size_t n = p->len, i = 0;
    while (i < n) {
      if (bol) {
        size_t j = i;
        while (j < n && is_blank(s[j])) j++;
        if (j == n) {
          /* The part ends inside the indentation: an interpolation follows, or the text ends. */
          if (p->next && j - i < min) min = j - i;
          bol = false;
          i = j;
        } else if (s[j] == '\n' || (s[j] == '\r' && j + 1 < n && s[j + 1] == '\n')) {
          i = j + (s[j] == '\r' ? 2 : 1); /* blank line: does not count */
        } else {
          if (j - i < min) min = j - i;
          bol = false;
          i = j;
        }
      } else {
        const char *nl = memchr(s + i, '\n', n - i);
        if (!nl) break;
        i = (size_t)(nl - s) + 1;
        bol = true;
      }
    }
  }
  return min == (size_t)-1 ? 0 : min;
}

/* Appends text with up to `strip` leading blanks removed from each line; *bol tracks line starts. */
static void append_stripped(idp_buf *b, const char *s, size_t n, size_t strip, bool *bol) {
  size_t i = 0;
  while (i < n) {
    if (*bol) {
      size_t k = 0;
      while (i < n && k < strip && is_blank(s[i])) {
        i++;
        k++;
      }
      *bol = false;
      continue;
    }
    const char *nl = memchr(s + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - s) + 1 : n;
    idp_buf_append(b, s + i, end - i);
    i = end;
    if (nl) *bol = true;
  }
}

static int eval_template(idp_eval_ctx *c, const idp_expr *e, idp_value **out) {
  const idp_tpart *parts = e->u.template.parts;
  bool strip = e->u.template.heredoc && e->u.template.strip;
  size_t indent = strip ? heredoc_indent(parts) : 0;
  bool bol = true;
  idp_buf b = {0};
  marks m = {0};
  bool failed = false, unknown = false;
  for (const idp_tpart *p = parts; p; p = p->next) {
    if (p->text) {
      if (strip) append_stripped(&b, p->text, p->len, indent, &bol);
      else idp_buf_append(&b, p->text, p->len);
      continue;
    }
    bol = false;
    idp_value *v;
    if (ev(c, p->expr, &v) != IDP_EVAL_OK) {
      failed = true;
      continue;
    }
    marks_deep(c, &m, v);
    idp_value_kind k = idp_value_type(v);
    if (k == IDP_V_LIST || k == IDP_V_MAP || k == IDP_V_NULL) {
      failed = true;
      ERR(p->expr->loc, "cannot interpolate %s%s", k == IDP_V_NULL ? "" : "a ", idp_value_kind_name(k));
      if (k == IDP_V_NULL) HINT("give a default, e.g. with a conditional or lookup()");
      else if (k == IDP_V_LIST) HINT("make one string of it with join(\", \", list) or jsonencode()");
      else HINT("pick one entry (map.key) or make one string of it with jsonencode()");
      continue;
    }
    if (v->kind == IDP_V_UNKNOWN) {
      unknown = true;
      continue;
    }
    idp_value_to_text(&b, v);
  }
  if (failed) {
    idp_buf_free(&b);
    return IDP_EVAL_ERROR;
  }
  if (unknown) *out = unknown_marked(c, IDP_V_STRING, &m);
  else *out = marked(c, idp_value_string(c->arena, b.data ? b.data : "", b.len), &m);
  idp_buf_free(&b);
  return IDP_EVAL_OK;
}

/* --- lists and maps ----------------------------------------------------------------------------- */

static int eval_list(idp_eval_ctx *c, const idp_expr *e, idp_value **out) {
  size_t n = e->u.list.n;
  idp_value **items = idp_arena_alloc(c->arena, (n ? n : 1) * sizeof *items);
  bool failed = false;
  size_t i = 0;
  for (const idp_expr *it = e->u.list.items; it; it = it->next, i++)
    if (ev(c, it, &items[i]) != IDP_EVAL_OK) failed = true;
  if (failed) return IDP_EVAL_ERROR;
  *out = idp_value_list(c->arena, items, i);
  return IDP_EVAL_OK;
}

/* A map key's text. Strings are keys as they are; numbers and bools are converted as in an
 * interpolation. Returns false (after reporting) for other kinds. */
static bool key_text(idp_eval_ctx *c, const idp_value *k, const idp_expr *ke, idp_buf *b) {
  if (idp_value_to_text(b, k)) return true;
  ERR(ke->loc, "a map key must be a string, found %s", idp_value_type_name(k));
  return false;
}

static int eval_map(idp_eval_ctx *c, const idp_expr *e, idp_value **out) {
  size_t n = e->u.map.n;
  idp_value **keys = idp_arena_alloc(c->arena, (n ? n : 1) * sizeof *keys);
  idp_value **vals = idp_arena_alloc(c->arena, (n ? n : 1) * sizeof *vals);
  bool failed = false, unknown = false;
  marks own = {0}; /* what the map as a whole derives from: its computed keys */
  size_t i = 0;
  for (const idp_map_entry *me = e->u.map.entries; me; me = me->next, i++) {
    if (ev(c, me->key, &keys[i]) != IDP_EVAL_OK) failed = true;
    if (ev(c, me->value, &vals[i]) != IDP_EVAL_OK) failed = true;
  }
  if (failed) return IDP_EVAL_ERROR;
  idp_map_builder mb;
  idp_map_builder_init(&mb, c->arena);
  i = 0;
  for (const idp_map_entry *me = e->u.map.entries; me; me = me->next, i++) {
    marks_deep(c, &own, keys[i]);
    if (keys[i]->kind == IDP_V_UNKNOWN) {
      unknown = true;
      continue;
    }
    idp_buf b = {0};
    if (!key_text(c, keys[i], me->key, &b)) failed = true;
    else idp_map_builder_add(&mb, b.data ? b.data : "", b.len, vals[i]);
    idp_buf_free(&b);
  }
  if (failed) return IDP_EVAL_ERROR;
  if (unknown) {
    /* Its keys are not known: neither is the map. */
    marks all = own;
    for (i = 0; i < n; i++) marks_deep(c, &all, vals[i]);
    *out = unknown_marked(c, IDP_V_MAP, &all);
    return IDP_EVAL_OK;
  }
  const char *dup;
  idp_value *m = idp_map_builder_build(&mb, &dup);
  if (dup) {
    /* Point at the second entry with that key. */
    int seen = 0;
    i = 0;
    for (const idp_map_entry *me = e->u.map.entries; me; me = me->next, i++) {
      idp_buf b = {0};
      idp_value_to_text(&b, keys[i]);
      bool same = b.len == strlen(dup) && memcmp(b.data ? b.data : "", dup, b.len) == 0;
      idp_buf_free(&b);
      if (same && ++seen == 2) {
        if (keys[i]->secret) ERR(me->key->loc, "duplicate key in map");
        else ERR(me->key->loc, "duplicate key '%s' in map", dup);
        break;
      }
    }
    return IDP_EVAL_ERROR;
  }
  *out = marked(c, m, &own);
  return IDP_EVAL_OK;
}

/* --- attribute and index steps ---------------------------------------------------------------- */

static const char *kind_article(idp_value_kind k) {
  return k == IDP_V_NULL ? "" : (k == IDP_V_UNKNOWN ? "an " : "a ");
}

/* obj.name */
static int step_attr(idp_eval_ctx *c, const idp_value *obj, const char *name, idp_loc loc, idp_value **out) {
  marks m = {0};
  marks_own(c, &m, obj);
  idp_value_kind k = idp_value_type(obj);
  if (obj->kind == IDP_V_UNKNOWN && (k == IDP_V_UNKNOWN || k == IDP_V_MAP)) {
    *out = unknown_marked(c, IDP_V_UNKNOWN, &m);
    return IDP_EVAL_OK;
  }
  if (k != IDP_V_MAP) {
    ERR(loc, "cannot read attribute '%s' of %s%s", name, kind_article(k), idp_value_kind_name(k));
    if (k == IDP_V_LIST) HINT("a list is indexed by number: list[0]");
    return IDP_EVAL_ERROR;
  }
  idp_value *v = idp_map_get(obj, name, strlen(name));
  if (!v) {
    ERR(loc, "the map has no key '%s'", name);
    if (!obj->secret) {
      const char *best = idp_did_you_mean(name, obj->u.map.keys, obj->u.map.n);
      if (best) HINT("did you mean '%s'?", best);
      else HINT("use lookup(map, \"%s\", default) for a key that may be missing", name);
    }
    return IDP_EVAL_ERROR;
  }
  *out = marked(c, v, &m);
  return IDP_EVAL_OK;
}

/* obj[index] */
static int step_index(idp_eval_ctx *c, const idp_value *obj, const idp_value *idx, idp_loc loc,
                      idp_value **out) {
  marks m = {0};
  marks_own(c, &m, obj);
  marks_deep(c, &m, idx);
  idp_value_kind k = idp_value_type(obj), ik = idp_value_type(idx);
  if (k != IDP_V_LIST && k != IDP_V_MAP && k != IDP_V_UNKNOWN) {
    ERR(loc, "cannot index %s%s", kind_article(k), idp_value_kind_name(k));
    HINT("only lists and maps can be indexed");
    return IDP_EVAL_ERROR;
  }
  if (k == IDP_V_LIST && ik != IDP_V_NUMBER && ik != IDP_V_UNKNOWN) {
    ERR(loc, "a list index must be a number, found %s", idp_value_kind_name(ik));
    return IDP_EVAL_ERROR;
  }
  if (k == IDP_V_MAP && ik != IDP_V_STRING && ik != IDP_V_UNKNOWN) {
    ERR(loc, "a map key must be a string, found %s", idp_value_kind_name(ik));
    return IDP_EVAL_ERROR;
  }
  if (obj->kind == IDP_V_UNKNOWN || idx->kind == IDP_V_UNKNOWN) {
    *out = unknown_marked(c, IDP_V_UNKNOWN, &m);
    return IDP_EVAL_OK;
  }
  if (k == IDP_V_LIST) {
    double d = idx->u.number;
    if (d != floor(d) || d < 0 || d >= (double)obj->u.list.n) {
      if (d != floor(d)) ERR(loc, "a list index must be a whole number, found %s", shown(c, idx));
      else ERR(loc, "index %s out of range for a list of %zu element%s", shown(c, idx), obj->u.list.n,
               obj->u.list.n == 1 ? "" : "s");
      return IDP_EVAL_ERROR;
    }
    *out = marked(c, obj->u.list.items[(size_t)d], &m);
    return IDP_EVAL_OK;
  }
  idp_value *v = idp_map_get(obj, idx->u.string.s, idx->u.string.len);
  if (!v) {
    if (idx->secret) ERR(loc, "the map has no such key (the key is secret)");
    else ERR(loc, "the map has no key %s", shown(c, idx));
    return IDP_EVAL_ERROR;
  }
  *out = marked(c, v, &m);
  return IDP_EVAL_OK;
}

/* --- references ---------------------------------------------------------------------------------- */

/* Steps of a chain whose scratch arrays live on the stack; longer chains take arena memory. A
 * large spec evaluates hundreds of thousands of references: their arrays are scratch, and in the
 * arena they were a fifth of all it held. */
enum { CHAIN_INLINE = 8 };

/* A chain REF (.name | [index])*: handed to the resolver as far as it can go, the rest applied
 * step by step. */
static int eval_chain(idp_eval_ctx *c, const idp_expr *e, idp_value **out) {
  size_t k = 0;
  for (const idp_expr *x = e; x->kind != IDP_E_REF; x = x->kind == IDP_E_GETATTR ? x->u.getattr.obj : x->u.index.obj) k++;
  const idp_expr *nodes_in[CHAIN_INLINE + 1];
  idp_value *idx_in[CHAIN_INLINE + 1];
  idp_ref_step steps_in[CHAIN_INLINE + 1];
  bool inline_ok = k <= CHAIN_INLINE;
  /* nodes[0] is the REF, nodes[i] the i-th step. */
  const idp_expr **nodes = inline_ok ? nodes_in : idp_arena_alloc(c->arena, (k + 1) * sizeof *nodes);
  size_t i = k;
  for (const idp_expr *x = e;; x = x->kind == IDP_E_GETATTR ? x->u.getattr.obj : x->u.index.obj) {
    nodes[i] = x;
    if (x->kind == IDP_E_REF) break;
    i--;
  }
  idp_value **idx = inline_ok ? idx_in : idp_arena_alloc(c->arena, (k + 1) * sizeof *idx);
  if (inline_ok) memset(idx_in, 0, sizeof idx_in);
  bool failed = false;
  for (i = 1; i <= k; i++)
    if (nodes[i]->kind == IDP_E_INDEX && ev(c, nodes[i]->u.index.index, &idx[i]) != IDP_EVAL_OK) failed = true;
  if (failed) return IDP_EVAL_ERROR;

  idp_ref_step *steps = inline_ok ? steps_in : idp_arena_alloc(c->arena, (k + 1) * sizeof *steps);
  if (inline_ok) memset(steps_in, 0, sizeof steps_in);
  size_t n = 0;
  for (i = 1; i <= k; i++) {
    const idp_expr *s = nodes[i];
    if (s->kind == IDP_E_INDEX) {
      if (idx[i]->kind != IDP_V_STRING && idx[i]->kind != IDP_V_NUMBER) break;
      steps[n].index = idx[i];
      steps[n].loc = s->loc;
    } else {
      steps[n].name = s->u.getattr.name;
      steps[n].loc = s->u.getattr.name_loc;
    }
    n++;
  }
  idp_ref_result res = {0};
  int rc = c->resolve ? c->resolve(&res, nodes[0]->u.ref.name, steps, n, c->resolve_payload)
                      : IDP_EVAL_NOT_FOUND;
  if (rc != IDP_EVAL_OK || !res.value) {
    size_t upto = res.used + 1 < n ? res.used + 1 : n;
    if (rc != IDP_EVAL_OK && rc != IDP_EVAL_NOT_FOUND) upto = n;
    ERR(nodes[upto]->loc, "unknown reference '%s'", src_text(c, nodes[upto]->loc));
    if (res.hint) HINT("%s", res.hint);
    return IDP_EVAL_ERROR;
  }
  if (res.used > n) res.used = n;
  /* The indexes the resolver consumed chose the value: it inherits their marks. */
  marks m = {0};
  for (i = 1; i <= res.used; i++)
    if (nodes[i]->kind == IDP_E_INDEX) marks_deep(c, &m, idx[i]);
  idp_value *v = marked(c, res.value, &m);
  for (i = res.used + 1; i <= k; i++) {
    const idp_expr *s = nodes[i];
    idp_value *next;
    rc = s->kind == IDP_E_GETATTR ? step_attr(c, v, s->u.getattr.name, s->u.getattr.name_loc, &next)
                                  : step_index(c, v, idx[i], s->loc, &next);
    if (rc != IDP_EVAL_OK) return rc;
    v = next;
  }
  *out = v;
  return IDP_EVAL_OK;
}

static bool is_chain(const idp_expr *e) {
  while (e->kind == IDP_E_GETATTR || e->kind == IDP_E_INDEX)
    e = e->kind == IDP_E_GETATTR ? e->u.getattr.obj : e->u.index.obj;
  return e->kind == IDP_E_REF;
}

/* --- operators ------------------------------------------------------------------------------------ */

/* Checks that v is (or, unknown, may be) of kind want; reports at e otherwise. */
static bool want(idp_eval_ctx *c, const idp_value *v, const idp_expr *e, idp_value_kind want_k, const char *what) {
  idp_value_kind k = idp_value_type(v);
  if (k == want_k || k == IDP_V_UNKNOWN) return true;
  ERR(e->loc, "%s, found %s", what, idp_value_kind_name(k));
  return false;
}

static int eval_unary(idp_eval_ctx *c, const idp_expr *e, idp_value **out) {
  idp_value *v;
  if (ev(c, e->u.unary.operand, &v) != IDP_EVAL_OK) return IDP_EVAL_ERROR;
  marks m = {0};
  marks_deep(c, &m, v);
  bool neg = e->u.unary.op == IDP_OP_NEG;
  if (!want(c, v, e->u.unary.operand, neg ? IDP_V_NUMBER : IDP_V_BOOL,
            neg ? "unary '-' needs a number" : "'!' needs a bool"))
    return IDP_EVAL_ERROR;
  if (v->kind == IDP_V_UNKNOWN) *out = unknown_marked(c, neg ? IDP_V_NUMBER : IDP_V_BOOL, &m);
  else if (neg) *out = marked(c, idp_value_number(c->arena, -v->u.number), &m);
  else *out = marked(c, idp_value_bool(c->arena, !v->u.boolean), &m);
  return IDP_EVAL_OK;
}

static int eval_logic(idp_eval_ctx *c, const idp_expr *e, idp_value **out) {
  bool is_and = e->u.binary.op == IDP_OP_AND;
  const char *what = is_and ? "'&&' needs bools" : "'||' needs bools";
  idp_value *l, *r;
  if (ev(c, e->u.binary.lhs, &l) != IDP_EVAL_OK) return IDP_EVAL_ERROR;
  if (!want(c, l, e->u.binary.lhs, IDP_V_BOOL, what)) return IDP_EVAL_ERROR;
  marks m = {0};
  marks_deep(c, &m, l);
  /* Short circuit: false && x, true || x never look at x. */
  if (l->kind == IDP_V_BOOL && l->u.boolean != is_and) {
    *out = marked(c, idp_value_bool(c->arena, l->u.boolean), &m);
    return IDP_EVAL_OK;
  }
  if (ev(c, e->u.binary.rhs, &r) != IDP_EVAL_OK) return IDP_EVAL_ERROR;
  if (!want(c, r, e->u.binary.rhs, IDP_V_BOOL, what)) return IDP_EVAL_ERROR;
  marks_deep(c, &m, r);
  if (r->kind == IDP_V_BOOL && r->u.boolean != is_and) {
    /* unknown && false is false whatever the unknown turns out to be; the same for || true. */
    *out = marked(c, idp_value_bool(c->arena, r->u.boolean), &m);
  } else if (l->kind == IDP_V_UNKNOWN || r->kind == IDP_V_UNKNOWN) {
    *out = unknown_marked(c, IDP_V_BOOL, &m);
  } else {
    *out = marked(c, idp_value_bool(c->arena, r->u.boolean), &m);
  }
  return IDP_EVAL_OK;
}

static int eval_binary(idp_eval_ctx *c, const idp_expr *e, idp_value **out) {
  idp_op op = e->u.binary.op;
  if (op == IDP_OP_AND || op == IDP_OP_OR) return eval_logic(c, e, out);
  idp_value *l, *r;
  int rl = ev(c, e->u.binary.lhs, &l);
  int rr = ev(c, e->u.binary.rhs, &r);
  if (rl != IDP_EVAL_OK || rr != IDP_EVAL_OK) return IDP_EVAL_ERROR;
  marks m = {0};
  marks_deep(c, &m, l);
  marks_deep(c, &m, r);
  if (op == IDP_OP_EQ || op == IDP_OP_NE) {
    if (idp_value_has_unknown(l) || idp_value_has_unknown(r)) *out = unknown_marked(c, IDP_V_BOOL, &m);
    else *out = marked(c, idp_value_bool(c->arena, idp_value_equal(l, r) == (op == IDP_OP_EQ)), &m);
    return IDP_EVAL_OK;
  }
  bool cmp = op == IDP_OP_LT || op == IDP_OP_GT || op == IDP_OP_LE || op == IDP_OP_GE;
  char what[64];
  snprintf(what, sizeof what, "'%s' needs numbers", idp_op_spelling(op));
  bool okl = want(c, l, e->u.binary.lhs, IDP_V_NUMBER, what);
  if (!okl && op == IDP_OP_ADD && idp_value_type(l) == IDP_V_STRING)
    HINT("'+' does not join strings: use interpolation (\"${a}${b}\"), format() or join()");
  bool okr = okl && want(c, r, e->u.binary.rhs, IDP_V_NUMBER, what);
  if (okl && !okr && op == IDP_OP_ADD && idp_value_type(r) == IDP_V_STRING)
    HINT("'+' does not join strings: use interpolation (\"${a}${b}\"), format() or join()");
  if (!okl || !okr) return IDP_EVAL_ERROR;
  if (l->kind == IDP_V_UNKNOWN || r->kind == IDP_V_UNKNOWN) {
    *out = unknown_marked(c, cmp ? IDP_V_BOOL : IDP_V_NUMBER, &m);
    return IDP_EVAL_OK;
  }
  double a = l->u.number, b = r->u.number, x = 0;
  bool bv = false;
  switch (op) {
  case IDP_OP_ADD: x = a + b; break;
  case IDP_OP_SUB: x = a - b; break;
  case IDP_OP_MUL: x = a * b; break;
  case IDP_OP_DIV:
  case IDP_OP_MOD:
    if (b == 0) {
      ERR(e->u.binary.rhs->loc, "%s by zero", op == IDP_OP_DIV ? "division" : "modulo");
      return IDP_EVAL_ERROR;
    }
    x = op == IDP_OP_DIV ? a / b : fmod(a, b);
    break;
  case IDP_OP_LT: bv = a < b; break;
  case IDP_OP_GT: bv = a > b; break;
  case IDP_OP_LE: bv = a <= b; break;
  case IDP_OP_GE: bv = a >= b; break;
  default: break;
  }
  if (cmp) {
    *out = marked(c, idp_value_bool(c->arena, bv), &m);
    return IDP_EVAL_OK;
  }
  if (!isfinite(x)) {
    ERR(e->loc, "the result of '%s' is out of range", idp_op_spelling(op));
    return IDP_EVAL_ERROR;
  }
  *out = marked(c, idp_value_number(c->arena, x), &m);
  return IDP_EVAL_OK;
}

static int eval_cond(idp_eval_ctx *c, const idp_expr *e, idp_value **out) {
  idp_value *cv;
  if (ev(c, e->u.cond.cond, &cv) != IDP_EVAL_OK) return IDP_EVAL_ERROR;
  if (!want(c, cv, e->u.cond.cond, IDP_V_BOOL, "the condition must be a bool")) return IDP_EVAL_ERROR;
  marks m = {0};
  marks_deep(c, &m, cv);
  if (cv->kind == IDP_V_UNKNOWN) {
    /* Either branch may be taken: the result derives from both. */
    idp_value *t, *o;
    int rt = ev(c, e->u.cond.then, &t);
    int ro = ev(c, e->u.cond.otherwise, &o);
    if (rt != IDP_EVAL_OK || ro != IDP_EVAL_OK) return IDP_EVAL_ERROR;
    marks_deep(c, &m, t);
    marks_deep(c, &m, o);
    idp_value_kind kt = idp_value_type(t), ko = idp_value_type(o);
    *out = unknown_marked(c, kt == ko ? kt : IDP_V_UNKNOWN, &m);
    return IDP_EVAL_OK;
  }
  /* Only the branch taken is evaluated (as with && and ||). */
  idp_value *v;
  if (ev(c, cv->u.boolean ? e->u.cond.then : e->u.cond.otherwise, &v) != IDP_EVAL_OK) return IDP_EVAL_ERROR;
  *out = marked(c, v, &m);
  return IDP_EVAL_OK;
}

/* --- calls ------------------------------------------------------------------------------------------ */

static const char *plural(unsigned n) { return n == 1 ? "" : "s"; }

static int eval_call(idp_eval_ctx *c, const idp_expr *e, idp_value **out) {
  const char *name = e->u.call.name;
  const idp_func *fn = idp_func_find(name);
  if (!fn) {
    ERR(e->u.call.name_loc, "unknown function '%s'", name);
    const char *const *names;
    size_t nn = idp_func_names(&names);
    const char *best = idp_did_you_mean(name, names, nn);
    if (best) HINT("did you mean '%s'?", best);
    return IDP_EVAL_ERROR;
  }
  if (c->in_app && (fn->flags & IDP_FN_PLATFORM)) {
    ERR(e->u.call.name_loc, "%s() is not available in an app block", name);
    HINT("app specs come from app teams and are planned with CI's credentials; have the platform "
         "provide the value through a need or the env_type");
    return IDP_EVAL_ERROR;
  }
  size_t n = e->u.call.nargs;
  if (n < fn->min || n > fn->max) {
    if (fn->max == IDP_FN_VARIADIC)
      ERR(e->loc, "%s() takes at least %u argument%s, got %zu", name, fn->min, plural(fn->min), n);
    else if (fn->min == fn->max)
      ERR(e->loc, "%s() takes %u argument%s, got %zu", name, fn->min, plural(fn->min), n);
    else
      ERR(e->loc, "%s() takes %u to %u arguments, got %zu", name, fn->min, fn->max, n);
    HINT("%s", fn->sig);
    return IDP_EVAL_ERROR;
  }
  const idp_expr **arg_e = idp_arena_alloc(c->arena, (n ? n : 1) * sizeof *arg_e);
  idp_value **args = idp_arena_alloc(c->arena, (n ? n : 1) * sizeof *args);
  bool failed = false;
  size_t i = 0;
  for (const idp_expr *a = e->u.call.args; a && i < n; a = a->next, i++) {
    arg_e[i] = a;
    if (ev(c, a, &args[i]) != IDP_EVAL_OK) failed = true;
  }
  if (failed) return IDP_EVAL_ERROR;

  bool shallow = fn->flags & IDP_FN_SHALLOW;
  marks m = {0};
  bool unknown = false;
  for (i = 0; i < n; i++) {
    bool handle = i == 0 && (fn->flags & IDP_FN_HANDLE);
    if (handle) m.deps = idp_deps_union(c->arena, m.deps, idp_value_deps_deep(c->arena, args[i]));
    else marks_deep(c, &m, args[i]);
    if (shallow || handle ? args[i]->kind == IDP_V_UNKNOWN : idp_value_has_unknown(args[i])) unknown = true;
  }
  if (fn->flags & IDP_FN_SECRET) m.secret = true;
  if (unknown) {
    *out = unknown_marked(c, fn->returns, &m);
    return IDP_EVAL_OK;
  }
  idp_fcall call = {c, fn, e, arg_e, args, n};
  idp_value *v = NULL;
  if (fn->impl(&call, &v) != IDP_EVAL_OK) return IDP_EVAL_ERROR;
  *out = shallow ? v : marked(c, v, &m);
  return IDP_EVAL_OK;
}

/* --- dispatch ------------------------------------------------------------------------------------- */

static int ev(idp_eval_ctx *c, const idp_expr *e, idp_value **out) {
  *out = NULL;
  idp_value *v = NULL;
  int rc = IDP_EVAL_OK;
  switch (e->kind) {
  case IDP_E_ERROR: return IDP_EVAL_ERROR; /* the parser has reported it */
  case IDP_E_NULL: v = idp_value_null(c->arena); break;
  case IDP_E_BOOL: v = idp_value_bool(c->arena, e->u.boolean); break;
  case IDP_E_NUMBER: v = idp_value_number(c->arena, e->u.number); break;
  case IDP_E_TEMPLATE: rc = eval_template(c, e, &v); break;
  case IDP_E_LIST: rc = eval_list(c, e, &v); break;
  case IDP_E_MAP: rc = eval_map(c, e, &v); break;
  case IDP_E_REF: rc = eval_chain(c, e, &v); break;
  case IDP_E_GETATTR:
    if (is_chain(e)) {
      rc = eval_chain(c, e, &v);
    } else {
      idp_value *obj;
      rc = ev(c, e->u.getattr.obj, &obj);
      if (rc == IDP_EVAL_OK) rc = step_attr(c, obj, e->u.getattr.name, e->u.getattr.name_loc, &v);
    }
    break;
  case IDP_E_INDEX:
    if (is_chain(e)) {
      rc = eval_chain(c, e, &v);
    } else {
      idp_value *obj, *idx;
      int ro = ev(c, e->u.index.obj, &obj);
      int ri = ev(c, e->u.index.index, &idx);
      rc = ro != IDP_EVAL_OK ? ro : ri != IDP_EVAL_OK ? ri : step_index(c, obj, idx, e->loc, &v);
    }
    break;
  case IDP_E_CALL: rc = eval_call(c, e, &v); break;
  case IDP_E_UNARY: rc = eval_unary(c, e, &v); break;
  case IDP_E_BINARY: rc = eval_binary(c, e, &v); break;
  case IDP_E_COND: rc = eval_cond(c, e, &v); break;
  case IDP_E_PAREN: rc = ev(c, e->u.paren.inner, &v); break;
  }
  if (rc != IDP_EVAL_OK) return IDP_EVAL_ERROR;
  *out = v;
  return IDP_EVAL_OK;
}

int idp_eval(idp_eval_ctx *ctx, const idp_expr *e, idp_value **out) { return ev(ctx, e, out); }
