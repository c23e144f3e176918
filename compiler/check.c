/* check.c - checks after instantiation (see check.h). */
#include "check.h"

#include <string.h>

#include "drivers/driver.h"
#include "util.h"

typedef struct chk {
  const idp_graph *g;
  const idp_inst *in;
  idp_diags *d;
  idp_arena *a;
  const idp_item *it;         /* the attribute being checked */
  const idp_drv_input *ip;
  unsigned errors;
} chk;

static const idp_item *attr_item(const idp_inst *in, const char *name) {
  for (const idp_item *it = in->block->body.first; it; it = it->next)
    if (it->kind == IDP_ITEM_ATTR && strcmp(it->name, name) == 0) return it;
  return NULL;
}

/* "a number", "an integration(powerdns)", "a list(string)". */
static void want_text(idp_buf *b, idp_drv_type t) {
  char tn[96];
  idp_drv_type_name(t, tn, sizeof tn);
  idp_buf_printf(b, "%s %s", strchr("aeiou", tn[0]) ? "an" : "a", tn);
}

/* What was found, never a secret's text: `string "60"`, `number 5`, `a secret string`, `a list`. */
static void found_text(idp_buf *b, const idp_value *v) {
  if (v->secret) {
    idp_buf_printf(b, "a secret %s", idp_value_type_name(v));
    return;
  }
  if (v->kind == IDP_V_UNKNOWN) {
    idp_buf_printf(b, "a %s (known after apply)", idp_value_type_name(v));
    return;
  }
  switch (v->kind) {
  case IDP_V_STRING:
    idp_buf_puts(b, "string ");
    idp_value_print_inline(b, v);
    break;
  case IDP_V_NUMBER:
  case IDP_V_BOOL:
    idp_buf_printf(b, "%s ", idp_value_kind_name(v->kind));
    idp_value_print_inline(b, v);
    break;
  case IDP_V_NULL: idp_buf_puts(b, "null"); break;
  default: idp_buf_printf(b, "a %s", idp_value_kind_name(v->kind)); break;
  }
}

/* Reports that v (at `where`, "" for the input itself, or " key 'K'" / " element N") does not
 * fit type t. */
static void type_error(chk *c, const char *where, idp_drv_type t, const idp_value *v) {
  idp_buf b = {0};
  idp_buf_printf(&b, "input '%s' of %s%s%s wants ", c->ip->name, c->in->driver_kind, *where ? ": " : "", where);
  want_text(&b, t);
  idp_buf_puts(&b, ", found ");
  found_text(&b, v);
  idp_buf_printf(&b, " (in %s)", c->in->addr);
  idp_diag_error(c->d, c->in->src, c->it->name_loc, "%s", idp_buf_cstr(&b));
  idp_buf_free(&b);
  c->errors++;
}

static bool fits_scalar(const idp_value *v, idp_value_kind k) {
  return v->kind == IDP_V_UNKNOWN ? (v->u.unknown.hint == IDP_V_UNKNOWN || v->u.unknown.hint == k) : v->kind == k;
}

/* The `integration.NAME` references of e, each once, into names[0..max); returns how many. */
static size_t integration_refs(const idp_expr *e, const char **names, size_t n, size_t max) {
  if (!e) return n;
  switch (e->kind) {
  case IDP_E_GETATTR:
    if (e->u.getattr.obj->kind == IDP_E_REF && strcmp(e->u.getattr.obj->u.ref.name, "integration") == 0) {
      for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], e->u.getattr.name) == 0) return n;
      if (n < max) names[n++] = e->u.getattr.name;
      return n;
    }
    return integration_refs(e->u.getattr.obj, names, n, max);
  case IDP_E_PAREN: return integration_refs(e->u.paren.inner, names, n, max);
  case IDP_E_COND:
    n = integration_refs(e->u.cond.then, names, n, max);
    return integration_refs(e->u.cond.otherwise, names, n, max);
  default: return n;
  }
}

static void check_integration(chk *c, const idp_value *v) {
  idp_drv_type t = c->ip->type;
  if (v->kind == IDP_V_UNKNOWN || v->kind == IDP_V_NULL) {
    if (v->kind == IDP_V_NULL && c->ip->required) type_error(c, "", t, v);
    return;
  }
  if (v->kind != IDP_V_MAP) {
    type_error(c, "", t, v);
    return;
  }
  const char *names[16];
  size_t n = integration_refs(c->it->value, names, 0, 16);
  for (size_t i = 0; i < n; i++) {
    const char *drv = idp_graph_integration_driver(c->g, names[i]);
    if (!drv || !t.driver || strcmp(drv, t.driver) == 0) continue;
    idp_diag_error(c->d, c->in->src, c->it->name_loc,
                   "input '%s' of %s wants an integration(%s), found integration.%s of driver %s (in %s)",
                   c->ip->name, c->in->driver_kind, t.driver, names[i], drv, c->in->addr);
    idp_diag_hint(c->d, "refer to an `integration %s \"NAME\"` block here", t.driver);
    c->errors++;
  }
}

static void check_type(chk *c, const idp_value *v) {
  idp_drv_type t = c->ip->type;
  if (v->kind == IDP_V_NULL) {
    if (c->ip->required) type_error(c, "", t, v);
    return;
  }
  switch (t.kind) {
  case IDP_DRV_T_ANY: return;
  case IDP_DRV_T_INTEGRATION: check_integration(c, v); return;
  case IDP_DRV_T_STRING:
    if (!fits_scalar(v, IDP_V_STRING)) type_error(c, "", t, v);
    return;
  case IDP_DRV_T_NUMBER:
    if (!fits_scalar(v, IDP_V_NUMBER)) type_error(c, "", t, v);
    return;
  case IDP_DRV_T_BOOL:
    if (!fits_scalar(v, IDP_V_BOOL)) type_error(c, "", t, v);
    return;
  case IDP_DRV_T_LIST_STRING:
  case IDP_DRV_T_LIST_NUMBER: {
    if (!fits_scalar(v, IDP_V_LIST)) {
      type_error(c, "", t, v);
      return;
    }
    if (v->kind != IDP_V_LIST) return;
    idp_value_kind ek = t.kind == IDP_DRV_T_LIST_STRING ? IDP_V_STRING : IDP_V_NUMBER;
    idp_drv_type et = {ek == IDP_V_STRING ? IDP_DRV_T_STRING : IDP_DRV_T_NUMBER, NULL};
    for (size_t i = 0; i < v->u.list.n; i++)
      if (!fits_scalar(v->u.list.items[i], ek)) {
        char where[48];
        snprintf(where, sizeof where, "element %zu", i);
        type_error(c, where, et, v->u.list.items[i]);
      }
    return;
  }
  case IDP_DRV_T_MAP_STRING: {
    if (!fits_scalar(v, IDP_V_MAP)) {
      type_error(c, "", t, v);
      return;
    }
    if (v->kind != IDP_V_MAP) return;
    idp_drv_type et = {IDP_DRV_T_STRING, NULL};
    for (size_t i = 0; i < v->u.map.n; i++)
      if (!fits_scalar(v->u.map.vals[i], IDP_V_STRING)) {
        char *where = idp_arena_sprintf(c->a, "key '%s'", v->u.map.keys[i]);
        type_error(c, where, et, v->u.map.vals[i]);
      }
    return;
  }
  }
}

/* --- secrets ------------------------------------------------------------------------------------ */

/* The addresses the secret places of v derive from; *path gets the first secret place (" key
 * 'K'", " element N", or "" for v itself). */
static const idp_deps *secret_origins(idp_arena *a, const idp_value *v, const char **path) {
  if (v->secret) {
    if (!*path) *path = "";
    return idp_value_deps_deep(a, v);
  }
  const idp_deps *out = NULL;
  if (v->kind == IDP_V_LIST)
    for (size_t i = 0; i < v->u.list.n; i++) {
      const char *sub = NULL;
      const idp_deps *dd = secret_origins(a, v->u.list.items[i], &sub);
      if (sub && !*path) *path = idp_arena_sprintf(a, " element %zu%s", i, sub);
      out = idp_deps_union(a, out, dd);
    }
  if (v->kind == IDP_V_MAP)
    for (size_t i = 0; i < v->u.map.n; i++) {
      const char *sub = NULL;
      const idp_deps *dd = secret_origins(a, v->u.map.vals[i], &sub);
      if (sub && !*path) *path = idp_arena_sprintf(a, " key '%s'%s", v->u.map.keys[i], sub);
      out = idp_deps_union(a, out, dd);
    }
  return out;
}

/* Appends the references of e (names only: `resource.pw.value`, `app.variables[...]`), and
 * `secret(...)` for a call of secret, each once, comma-separated. Never source text. */
static void refs_of(const idp_expr *e, idp_buf *b, idp_buf *seen) {
  if (!e) return;
  switch (e->kind) {
  case IDP_E_REF:
  case IDP_E_GETATTR:
  case IDP_E_INDEX: {
    const idp_expr *r = e;
    while (r->kind == IDP_E_GETATTR || r->kind == IDP_E_INDEX) r = r->kind == IDP_E_GETATTR ? r->u.getattr.obj : r->u.index.obj;
    if (r->kind != IDP_E_REF) {
      refs_of(r, b, seen);
      for (const idp_expr *x = e; x != r; x = x->kind == IDP_E_GETATTR ? x->u.getattr.obj : x->u.index.obj)
        if (x->kind == IDP_E_INDEX) refs_of(x->u.index.index, b, seen);
      return;
    }
    /* Build the name from the root outwards. */
    const idp_expr *chain[64];
    size_t n = 0;
    for (const idp_expr *x = e; x != r && n < 64; x = x->kind == IDP_E_GETATTR ? x->u.getattr.obj : x->u.index.obj)
      chain[n++] = x;
    idp_buf name = {0};
    idp_buf_putc(&name, '\n');
    idp_buf_puts(&name, r->u.ref.name);
    while (n > 0) {
      const idp_expr *x = chain[--n];
      if (x->kind == IDP_E_GETATTR) idp_buf_printf(&name, ".%s", x->u.getattr.name);
      else idp_buf_puts(&name, "[...]");
    }
    idp_buf_putc(&name, '\n');
    const char *nm = idp_buf_cstr(&name);
    if (!strstr(idp_buf_cstr(seen), nm)) {
      idp_buf_puts(seen, nm + 1);
      if (b->len) idp_buf_puts(b, ", ");
      idp_buf_append(b, nm + 1, strlen(nm) - 2);
    }
    idp_buf_free(&name);
    for (const idp_expr *x = e; x != r; x = x->kind == IDP_E_GETATTR ? x->u.getattr.obj : x->u.index.obj)
      if (x->kind == IDP_E_INDEX) refs_of(x->u.index.index, b, seen);
    return;
  }
  case IDP_E_TEMPLATE:
    for (const idp_tpart *p = e->u.template.parts; p; p = p->next) refs_of(p->expr, b, seen);
    return;
  case IDP_E_LIST:
    for (const idp_expr *x = e->u.list.items; x; x = x->next) refs_of(x, b, seen);
    return;
  case IDP_E_MAP:
    for (const idp_map_entry *m = e->u.map.entries; m; m = m->next) {
      refs_of(m->key, b, seen);
      refs_of(m->value, b, seen);
    }
    return;
  case IDP_E_CALL:
    if (strcmp(e->u.call.name, "secret") == 0 && !strstr(idp_buf_cstr(seen), "\nsecret(...)\n")) {
      idp_buf_puts(seen, "secret(...)\n");
      if (b->len) idp_buf_puts(b, ", ");
      idp_buf_puts(b, "secret(...)");
    }
    for (const idp_expr *x = e->u.call.args; x; x = x->next) refs_of(x, b, seen);
    return;
  case IDP_E_UNARY: refs_of(e->u.unary.operand, b, seen); return;
  case IDP_E_BINARY:
    refs_of(e->u.binary.lhs, b, seen);
    refs_of(e->u.binary.rhs, b, seen);
    return;
  case IDP_E_COND:
    refs_of(e->u.cond.cond, b, seen);
    refs_of(e->u.cond.then, b, seen);
    refs_of(e->u.cond.otherwise, b, seen);
    return;
  case IDP_E_PAREN: refs_of(e->u.paren.inner, b, seen); return;
  default: return;
  }
}

static void check_secret(chk *c, const idp_value *v) {
  if (c->ip->secret_ok || c->ip->type.kind == IDP_DRV_T_INTEGRATION || !idp_value_has_secret(v)) return;
  const char *path = NULL;
  const idp_deps *origins = secret_origins(c->a, v, &path);
  idp_buf refs = {0}, seen = {0}, b = {0};
  idp_buf_puts(&seen, "\n");
  refs_of(c->it->value, &refs, &seen);
  idp_buf_puts(&b, "secret from ");
  if (refs.len) idp_buf_puts(&b, idp_buf_cstr(&refs));
  else idp_buf_puts(&b, "a value");
  if (idp_deps_count(origins)) {
    idp_buf_puts(&b, " (");
    for (size_t i = 0; i < origins->n; i++) idp_buf_printf(&b, "%s%s", i ? ", " : "", origins->addr[i]);
    idp_buf_puts(&b, ")");
  }
  idp_buf_printf(&b, " reaches input '%s' of %s%s%s, which may not take a secret (in %s)", c->ip->name,
                 c->in->driver_kind, path && *path ? " at" : "", path ? path : "", c->in->addr);
  idp_diag_error(c->d, c->in->src, c->it->name_loc, "%s", idp_buf_cstr(&b));
  idp_diag_hint(c->d, "decision 8: a secret goes only into inputs marked as taking one (see 'idp describe %s')",
                c->in->driver_kind);
  idp_buf_free(&refs);
  idp_buf_free(&seen);
  idp_buf_free(&b);
  c->errors++;
}

unsigned idp_check_inst(const idp_graph *g, const idp_inst *in, idp_diags *d) {
  const idp_drv_kind *k = idp_driver_find_kind(in->driver_kind, NULL);
  if (!k || !in->inputs || in->inputs->kind != IDP_V_MAP) return 0;
  idp_arena a;
  idp_arena_init(&a);
  chk c = {.g = g, .in = in, .d = d, .a = &a};
  unsigned errors0 = d->errors;
  for (size_t i = 0; i < in->inputs->u.map.n; i++) {
    const char *name = in->inputs->u.map.keys[i];
    const idp_drv_input *ip = idp_drv_find_input(&k->io, name);
    const idp_item *it = attr_item(in, name);
    if (!ip || !it) continue; /* unknown attributes: reported before instantiation; defaults fit */
    c.ip = ip;
    c.it = it;
    const idp_value *v = in->inputs->u.map.vals[i];
    /* The type first: a later error on the same line is not kept (diag.c), so one attribute
     * shows one of the two; a secret of the wrong type still says `found a secret string`. */
    check_type(&c, v);
    check_secret(&c, v);
  }
  idp_arena_free(&a);
  return d->errors - errors0; /* idp_diags keeps one error per line: c.errors may count more */
}

unsigned idp_check_graph(const idp_graph *g, idp_diags *d) {
  unsigned n = 0;
  for (size_t i = 0; i < g->n; i++) n += idp_check_inst(g, g->v[i], d);
  return n;
}
