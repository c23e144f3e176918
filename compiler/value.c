/* value.c - runtime values: constructors, marks, equality, JSON and plan printing. */
#include "value.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *idp_value_kind_name(idp_value_kind k) {
  switch (k) {
#define X(name, tname) \
  case IDP_V_##name:   \
    return tname;
    IDP_VALUE_KINDS(X)
#undef X
  }
  return "?";
}

/* --- dependency sets --------------------------------------------------------------------- */

static idp_deps *deps_alloc(idp_arena *a, size_t n) {
  idp_deps *d = idp_arena_alloc(a, sizeof *d + n * sizeof d->addr[0]);
  d->n = 0;
  return d;
}

const idp_deps *idp_deps_one(idp_arena *a, const char *addr) {
  idp_deps *d = deps_alloc(a, 1);
  d->addr[0] = idp_arena_strndup(a, addr, strlen(addr));
  d->n = 1;
  return d;
}

/* The size of x ∪ y (both sorted). Equal addresses are often the same string: compared first. */
static size_t union_size(const idp_deps *x, const idp_deps *y) {
  size_t i = 0, j = 0, n = 0;
  while (i < x->n && j < y->n) {
    int c = x->addr[i] == y->addr[j] ? 0 : strcmp(x->addr[i], y->addr[j]);
    i += c <= 0;
    j += c >= 0;
    n++;
  }
  return n + (x->n - i) + (y->n - j);
}

const idp_deps *idp_deps_union(idp_arena *a, const idp_deps *x, const idp_deps *y) {
  if (!y || y->n == 0 || x == y) return x;
  if (!x || x->n == 0) return y;
  /* Share an input when the other is a subset of it: sets are unioned far more often than they
   * grow, and a run holds one per value. */
  size_t n = union_size(x, y);
  if (n == x->n) return x;
  if (n == y->n) return y;
  idp_deps *d = deps_alloc(a, n);
  size_t i = 0, j = 0;
  while (i < x->n || j < y->n) {
    int c = i == x->n ? 1 : j == y->n ? -1 : strcmp(x->addr[i], y->addr[j]);
    if (c < 0) d->addr[d->n++] = x->addr[i++];
    else if (c > 0) d->addr[d->n++] = y->addr[j++];
    else {
      d->addr[d->n++] = x->addr[i++];
      j++;
    }
  }
  return d;
}

const idp_deps *idp_deps_remove(idp_arena *a, const idp_deps *d, const char *addr) {
  if (!idp_deps_has(d, addr)) return d && d->n ? d : NULL;
  if (d->n == 1) return NULL;
  idp_deps *r = deps_alloc(a, d->n - 1);
  for (size_t i = 0; i < d->n; i++)
    if (strcmp(d->addr[i], addr) != 0) r->addr[r->n++] = d->addr[i];
  return r;
}

bool idp_deps_has(const idp_deps *d, const char *addr) {
  if (!d) return false;
  size_t lo = 0, hi = d->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(d->addr[mid], addr);
    if (c == 0) return true;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

/* --- constructors -------------------------------------------------------------------------- */

static idp_value *mk(idp_arena *a, idp_value_kind k) {
  idp_value *v = idp_arena_alloc(a, sizeof *v);
  v->kind = k;
  return v;
}

idp_value *idp_value_null(idp_arena *a) { return mk(a, IDP_V_NULL); }

idp_value *idp_value_bool(idp_arena *a, bool b) {
  idp_value *v = mk(a, IDP_V_BOOL);
  v->u.boolean = b;
  return v;
}

idp_value *idp_value_number(idp_arena *a, double n) {
  assert(isfinite(n));
  idp_value *v = mk(a, IDP_V_NUMBER);
  v->u.number = n == 0 ? 0.0 : n;
  return v;
}

idp_value *idp_value_string(idp_arena *a, const char *s, size_t len) {
  idp_value *v = mk(a, IDP_V_STRING);
  v->u.string.s = idp_arena_strndup(a, s ? s : "", s ? len : 0);
  v->u.string.len = s ? len : 0;
  return v;
}

idp_value *idp_value_cstring(idp_arena *a, const char *s) { return idp_value_string(a, s, strlen(s)); }

idp_value *idp_value_unknown(idp_arena *a, idp_value_kind hint) {
  idp_value *v = mk(a, IDP_V_UNKNOWN);
  v->u.unknown.hint = hint;
  return v;
}

idp_value *idp_value_list(idp_arena *a, idp_value *const *items, size_t n) {
  idp_value *v = mk(a, IDP_V_LIST);
  idp_value **copy = idp_arena_alloc(a, (n ? n : 1) * sizeof *copy);
  if (n) memcpy(copy, items, n * sizeof *copy);
  v->u.list.items = copy;
  v->u.list.n = n;
  return v;
}

void idp_map_builder_init(idp_map_builder *mb, idp_arena *a) {
  mb->arena = a;
  mb->v = mb->inline_v;
  mb->n = 0;
  mb->cap = IDP_MAP_BUILDER_INLINE;
}

void idp_map_builder_add(idp_map_builder *mb, const char *key, size_t klen, idp_value *val) {
  if (mb->n == mb->cap) {
    size_t cap = mb->cap * 2;
    struct idp_map_kv *nv = idp_arena_alloc(mb->arena, cap * sizeof *nv);
    if (mb->n) memcpy(nv, mb->v, mb->n * sizeof *nv);
    mb->v = nv;
    mb->cap = cap;
  }
  struct idp_map_kv *kv = &mb->v[mb->n];
  kv->key = idp_arena_strndup(mb->arena, key, klen);
  kv->klen = klen;
  kv->val = val;
  kv->order = mb->n++;
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl) {
  int c = memcmp(a, b, al < bl ? al : bl);
  if (c) return c;
  return al < bl ? -1 : al > bl;
}

static int kv_cmp(const void *pa, const void *pb) {
  const struct idp_map_kv *a = pa, *b = pb;
  int c = key_cmp(a->key, a->klen, b->key, b->klen);
  if (c) return c;
  return a->order < b->order ? -1 : a->order > b->order;
}

idp_value *idp_map_builder_build(idp_map_builder *mb, const char **dup) {
  if (dup) *dup = NULL;
  if (mb->n) qsort(mb->v, mb->n, sizeof *mb->v, kv_cmp);
  size_t n = mb->n ? mb->n : 1;
  const char **keys = idp_arena_alloc(mb->arena, n * sizeof *keys);
  size_t *klen = idp_arena_alloc(mb->arena, n * sizeof *klen);
  idp_value **vals = idp_arena_alloc(mb->arena, n * sizeof *vals);
  size_t out = 0;
  size_t first_dup_order = (size_t)-1;
  for (size_t i = 0; i < mb->n; i++) {
    struct idp_map_kv *kv = &mb->v[i];
    if (out && key_cmp(keys[out - 1], klen[out - 1], kv->key, kv->klen) == 0) {
      /* Reported: the duplicate added first in source order. */
      if (dup && kv->order < first_dup_order) {
        first_dup_order = kv->order;
        *dup = kv->key;
      }
      vals[out - 1] = kv->val;
      continue;
    }
    keys[out] = kv->key;
    klen[out] = kv->klen;
    vals[out] = kv->val;
    out++;
  }
  idp_value *v = mk(mb->arena, IDP_V_MAP);
  v->u.map.keys = keys;
  v->u.map.klen = klen;
  v->u.map.vals = vals;
  v->u.map.n = out;
  return v;
}

idp_value *idp_value_taint(idp_arena *a, const idp_value *v, const idp_deps *deps, bool secret) {
  const idp_deps *d = idp_deps_union(a, v->deps, deps);
  if (d == v->deps && (v->secret || !secret)) return (idp_value *)v; /* nothing added */
  idp_value *c = idp_arena_alloc(a, sizeof *c);
  *c = *v;
  c->deps = d;
  c->secret = v->secret || secret;
  return c;
}

idp_value *idp_value_copy(idp_arena *a, const idp_value *v) {
  idp_value *c = idp_arena_alloc(a, sizeof *c);
  *c = *v;
  c->deps = NULL;
  switch (v->kind) {
  case IDP_V_STRING: c->u.string.s = idp_arena_strndup(a, v->u.string.s, v->u.string.len); break;
  case IDP_V_LIST: {
    idp_value **items = idp_arena_alloc(a, (v->u.list.n + 1) * sizeof *items);
    for (size_t i = 0; i < v->u.list.n; i++) items[i] = idp_value_copy(a, v->u.list.items[i]);
    c->u.list.items = items;
    break;
  }
  case IDP_V_MAP: {
    size_t n = v->u.map.n;
    const char **keys = idp_arena_alloc(a, (n + 1) * sizeof *keys);
    size_t *klen = idp_arena_alloc(a, (n + 1) * sizeof *klen);
    idp_value **vals = idp_arena_alloc(a, (n + 1) * sizeof *vals);
    for (size_t i = 0; i < n; i++) {
      keys[i] = idp_arena_strndup(a, v->u.map.keys[i], v->u.map.klen[i]);
      klen[i] = v->u.map.klen[i];
      vals[i] = idp_value_copy(a, v->u.map.vals[i]);
    }
    c->u.map.keys = keys;
    c->u.map.klen = klen;
    c->u.map.vals = vals;
    break;
  }
  default: break;
  }
  return c;
}

/* --- queries ------------------------------------------------------------------------------ */

idp_value *idp_map_get(const idp_value *m, const char *key, size_t klen) {
  size_t lo = 0, hi = m->u.map.n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = key_cmp(m->u.map.keys[mid], m->u.map.klen[mid], key, klen);
    if (c == 0) return m->u.map.vals[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

/* Containers are walked with an explicit bound: values come from bounded expressions and from
 * jansson, whose own depth limit (2048) is well below what the C stack takes. */
bool idp_value_has_unknown(const idp_value *v) {
  switch (v->kind) {
  case IDP_V_UNKNOWN: return true;
  case IDP_V_LIST:
    for (size_t i = 0; i < v->u.list.n; i++)
      if (idp_value_has_unknown(v->u.list.items[i])) return true;
    return false;
  case IDP_V_MAP:
    for (size_t i = 0; i < v->u.map.n; i++)
      if (idp_value_has_unknown(v->u.map.vals[i])) return true;
    return false;
  default: return false;
  }
}

bool idp_value_has_secret(const idp_value *v) {
  if (v->secret) return true;
  if (v->kind == IDP_V_LIST) {
    for (size_t i = 0; i < v->u.list.n; i++)
      if (idp_value_has_secret(v->u.list.items[i])) return true;
  } else if (v->kind == IDP_V_MAP) {
    for (size_t i = 0; i < v->u.map.n; i++)
      if (idp_value_has_secret(v->u.map.vals[i])) return true;
  }
  return false;
}

const idp_deps *idp_value_deps_deep(idp_arena *a, const idp_value *v) {
  const idp_deps *d = v->deps;
  if (v->kind == IDP_V_LIST) {
    for (size_t i = 0; i < v->u.list.n; i++) d = idp_deps_union(a, d, idp_value_deps_deep(a, v->u.list.items[i]));
  } else if (v->kind == IDP_V_MAP) {
    for (size_t i = 0; i < v->u.map.n; i++) d = idp_deps_union(a, d, idp_value_deps_deep(a, v->u.map.vals[i]));
  }
  return d;
}

idp_value_kind idp_value_type(const idp_value *v) {
  return v->kind == IDP_V_UNKNOWN ? v->u.unknown.hint : v->kind;
}

const char *idp_value_type_name(const idp_value *v) { return idp_value_kind_name(idp_value_type(v)); }

bool idp_value_equal(const idp_value *x, const idp_value *y) {
  if (x->kind == IDP_V_UNKNOWN || y->kind == IDP_V_UNKNOWN) return false;
  if (x->kind != y->kind) return false;
  switch (x->kind) {
  case IDP_V_NULL: return true;
  case IDP_V_BOOL: return x->u.boolean == y->u.boolean;
  case IDP_V_NUMBER: return x->u.number == y->u.number;
  case IDP_V_STRING:
    return x->u.string.len == y->u.string.len && memcmp(x->u.string.s, y->u.string.s, x->u.string.len) == 0;
  case IDP_V_LIST:
    if (x->u.list.n != y->u.list.n) return false;
    for (size_t i = 0; i < x->u.list.n; i++)
      if (!idp_value_equal(x->u.list.items[i], y->u.list.items[i])) return false;
    return true;
  case IDP_V_MAP:
    if (x->u.map.n != y->u.map.n) return false;
    for (size_t i = 0; i < x->u.map.n; i++) {
      if (key_cmp(x->u.map.keys[i], x->u.map.klen[i], y->u.map.keys[i], y->u.map.klen[i]) != 0) return false;
      if (!idp_value_equal(x->u.map.vals[i], y->u.map.vals[i])) return false;
    }
    return true;
  case IDP_V_UNKNOWN: return false;
  }
  return false;
}

/* --- numbers -------------------------------------------------------------------------------- */

/* The fewest significant digits (1..17) that read back as n. */
static int number_precision(double n) {
  char tmp[40];
  for (int p = 1; p < 17; p++) {
    snprintf(tmp, sizeof tmp, "%.*g", p, n);
    if (strtod(tmp, NULL) == n) return p;
  }
  return 17;
}

void idp_number_format(idp_buf *b, double n) {
  if (n == 0) n = 0.0; /* no "-0" */
  if (n == floor(n) && fabs(n) <= 9007199254740992.0) { /* 2^53, as in JSON */
    idp_buf_printf(b, "%.0f", n);
    return;
  }
  char tmp[40];
  snprintf(tmp, sizeof tmp, "%.*g", number_precision(n), n);
  /* 1e+21 -> 1e21 and 1e-07 -> 1e-7, as JSON writes them. */
  char *e = strchr(tmp, 'e');
  if (e) {
    char *d = e + 1, *s = e + 1;
    if (*s == '+') s++;
    else if (*s == '-') *d++ = *s++;
    while (*s == '0' && s[1]) s++;
    memmove(d, s, strlen(s) + 1);
  }
  idp_buf_puts(b, tmp);
}

/* --- JSON ------------------------------------------------------------------------------------ */

static const double MAX_SAFE_INT = 9007199254740992.0; /* 2^53 */

/* With marks: *unk / *sec get the mark trees of v (NULL when unmarked). */
static json_t *to_json(const idp_value *v, bool with_marks, json_t **unk, json_t **sec) {
  if (unk) *unk = NULL;
  if (sec) *sec = NULL;
  if (v->kind == IDP_V_UNKNOWN) {
    if (!with_marks) return NULL;
    *unk = json_true();
    if (v->secret) *sec = json_true();
    return json_null();
  }
  if (with_marks && v->secret) {
    /* Wholly secret: nothing of it, not even its shape, goes out; its unknown parts stay hidden too. */
    *sec = json_true();
    if (idp_value_has_unknown(v)) *unk = json_true();
    return json_null();
  }
  switch (v->kind) {
  case IDP_V_NULL: return json_null();
  case IDP_V_BOOL: return json_boolean(v->u.boolean);
  case IDP_V_NUMBER: {
    double n = v->u.number;
    if (n == floor(n) && fabs(n) <= MAX_SAFE_INT) return json_integer((json_int_t)n);
    return json_real(n);
  }
  case IDP_V_STRING: return json_stringn(v->u.string.s, v->u.string.len);
  case IDP_V_LIST: {
    json_t *arr = json_array();
    json_t *ua = NULL, *sa = NULL;
    for (size_t i = 0; i < v->u.list.n; i++) {
      json_t *eu = NULL, *es = NULL;
      json_t *e = to_json(v->u.list.items[i], with_marks, &eu, &es);
      if (!e) {
        json_decref(arr);
        json_decref(ua);
        json_decref(sa);
        return NULL;
      }
      json_array_append_new(arr, e);
      if (with_marks) {
        /* Mark arrays hold false up to the first mark, so positions line up. */
        if (eu && !ua) {
          ua = json_array();
          for (size_t k = 0; k < i; k++) json_array_append_new(ua, json_false());
        }
        if (ua) json_array_append_new(ua, eu ? eu : json_false());
        if (es && !sa) {
          sa = json_array();
          for (size_t k = 0; k < i; k++) json_array_append_new(sa, json_false());
        }
        if (sa) json_array_append_new(sa, es ? es : json_false());
      }
    }
    if (unk) *unk = ua;
    if (sec) *sec = sa;
    return arr;
  }
  case IDP_V_MAP: {
    json_t *obj = json_object();
    json_t *uo = NULL, *so = NULL;
    for (size_t i = 0; i < v->u.map.n; i++) {
      json_t *eu = NULL, *es = NULL;
      json_t *e = to_json(v->u.map.vals[i], with_marks, &eu, &es);
      if (!e) {
        json_decref(obj);
        json_decref(uo);
        json_decref(so);
        return NULL;
      }
      const char *k = v->u.map.keys[i];
      size_t kl = v->u.map.klen[i];
      json_object_setn_new_nocheck(obj, k, kl, e);
      if (eu) {
        if (!uo) uo = json_object();
        json_object_setn_new_nocheck(uo, k, kl, eu);
      }
      if (es) {
        if (!so) so = json_object();
        json_object_setn_new_nocheck(so, k, kl, es);
      }
    }
    if (unk) *unk = uo;
    if (sec) *sec = so;
    return obj;
  }
  case IDP_V_UNKNOWN: break;
  }
  return NULL;
}

json_t *idp_value_to_json(const idp_value *v, idp_json_marks *marks) {
  if (!marks) return to_json(v, false, NULL, NULL);
  return to_json(v, true, &marks->unknown, &marks->secret);
}

const json_t *idp_json_mark_at(const json_t *marks, const char *key, size_t index) {
  if (json_is_object(marks) && key) return json_object_get(marks, key);
  if (json_is_array(marks) && !key) return json_array_get(marks, index);
  return NULL;
}

/* The precision the reals of j need so that every one reads back exactly. */
static int json_precision(const json_t *j) {
  int p = 1;
  if (json_is_real(j)) return number_precision(json_real_value(j));
  if (json_is_array(j)) {
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) {
      int q = json_precision(e);
      if (q > p) p = q;
    }
  } else if (json_is_object(j)) {
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)j, k, e) {
      int q = json_precision(e);
      if (q > p) p = q;
    }
  }
  return p;
}

char *idp_value_json_text(const idp_value *v) {
  json_t *j = idp_value_to_json(v, NULL);
  if (!j) return NULL;
  char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(json_precision(j)));
  json_decref(j);
  if (!s) abort(); /* only out of memory */
  return s;
}

bool idp_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  while (p < e) {
    unsigned c = *p;
    size_t len;
    unsigned cp;
    if (c < 0x80) {
      p++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if ((size_t)(e - p) < len) return false;
    for (size_t i = 1; i < len; i++) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    p += len;
  }
  return true;
}

idp_value *idp_value_from_json(idp_arena *a, const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_NULL: return idp_value_null(a);
  case JSON_TRUE: return idp_value_bool(a, true);
  case JSON_FALSE: return idp_value_bool(a, false);
  case JSON_INTEGER: return idp_value_number(a, (double)json_integer_value(j));
  case JSON_REAL: return idp_value_number(a, json_real_value(j));
  case JSON_STRING: {
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    if (!idp_utf8_valid(s, n)) return NULL;
    return idp_value_string(a, s, n);
  }
  case JSON_ARRAY: {
    size_t n = json_array_size(j);
    idp_value **items = idp_arena_alloc(a, (n ? n : 1) * sizeof *items);
    for (size_t i = 0; i < n; i++) {
      items[i] = idp_value_from_json(a, json_array_get(j, i));
      if (!items[i]) return NULL;
    }
    return idp_value_list(a, items, n);
  }
  case JSON_OBJECT: {
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    const char *k;
    size_t kl;
    json_t *e;
    json_object_keylen_foreach((json_t *)j, k, kl, e) {
      if (memchr(k, '\0', kl) || !idp_utf8_valid(k, kl)) return NULL;
      idp_value *ev = idp_value_from_json(a, e);
      if (!ev) return NULL;
      idp_map_builder_add(&mb, k, kl, ev);
    }
    return idp_map_builder_build(&mb, NULL);
  }
  }
  return NULL;
}

/* --- printing ---------------------------------------------------------------------------------- */

static void print_quoted(idp_buf *b, const char *s, size_t n) {
  idp_buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': idp_buf_puts(b, "\\\""); break;
    case '\\': idp_buf_puts(b, "\\\\"); break;
    case '\n': idp_buf_puts(b, "\\n"); break;
    case '\r': idp_buf_puts(b, "\\r"); break;
    case '\t': idp_buf_puts(b, "\\t"); break;
    case '$':
      /* `${` would read back as an interpolation. */
      if (i + 1 < n && s[i + 1] == '{') idp_buf_puts(b, "$$");
      else idp_buf_putc(b, '$');
      break;
    default:
      if (c < 0x20 || c == 0x7F) idp_buf_printf(b, "\\u%04X", c);
      else idp_buf_putc(b, (char)c);
    }
  }
  idp_buf_putc(b, '"');
}

static bool is_ident(const char *s, size_t n) {
  if (n == 0) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_')) return false;
  for (size_t i = 1; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  }
  return !(n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0)) &&
         !(n == 5 && memcmp(s, "false", 5) == 0);
}

static void print_value(idp_buf *b, const idp_value *v, int indent, bool multiline) {
  if (v->secret) {
    idp_buf_puts(b, "(secret)");
    return;
  }
  switch (v->kind) {
  case IDP_V_UNKNOWN: idp_buf_puts(b, "(known after apply)"); return;
  case IDP_V_NULL: idp_buf_puts(b, "null"); return;
  case IDP_V_BOOL: idp_buf_puts(b, v->u.boolean ? "true" : "false"); return;
  case IDP_V_NUMBER: idp_number_format(b, v->u.number); return;
  case IDP_V_STRING: print_quoted(b, v->u.string.s, v->u.string.len); return;
  case IDP_V_LIST:
    if (v->u.list.n == 0) {
      idp_buf_puts(b, "[]");
      return;
    }
    idp_buf_putc(b, '[');
    for (size_t i = 0; i < v->u.list.n; i++) {
      if (multiline) idp_buf_printf(b, "\n%*s", indent + 2, "");
      else if (i) idp_buf_puts(b, ", ");
      print_value(b, v->u.list.items[i], indent + 2, multiline);
      if (multiline) idp_buf_putc(b, ',');
    }
    if (multiline) idp_buf_printf(b, "\n%*s", indent, "");
    idp_buf_putc(b, ']');
    return;
  case IDP_V_MAP:
    if (v->u.map.n == 0) {
      idp_buf_puts(b, "{}");
      return;
    }
    idp_buf_puts(b, multiline ? "{" : "{ ");
    for (size_t i = 0; i < v->u.map.n; i++) {
      const char *k = v->u.map.keys[i];
      size_t kl = v->u.map.klen[i];
      if (multiline) idp_buf_printf(b, "\n%*s", indent + 2, "");
      else if (i) idp_buf_puts(b, ", ");
      if (is_ident(k, kl)) idp_buf_append(b, k, kl);
      else print_quoted(b, k, kl);
      idp_buf_puts(b, " = ");
      print_value(b, v->u.map.vals[i], indent + 2, multiline);
    }
    if (multiline) idp_buf_printf(b, "\n%*s}", indent, "");
    else idp_buf_puts(b, " }");
    return;
  }
}

void idp_value_print(idp_buf *b, const idp_value *v, int indent) { print_value(b, v, indent, true); }
void idp_value_print_inline(idp_buf *b, const idp_value *v) { print_value(b, v, 0, false); }
