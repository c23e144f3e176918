/* funcs.c - the built-in functions, as one table.
 *
 * How the evaluator wraps each one (unknown arguments, secret and dependency marks, decision 12)
 * is said by its flags (eval_int.h); the implementations below see known arguments and report
 * their own errors, which never show a secret's text. */
#include "eval_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <yaml.h>

#define V IDP_FN_VARIADIC
#define DEEP IDP_FN_DEEP
#define SHALLOW IDP_FN_SHALLOW
#define PLATFORM IDP_FN_PLATFORM
#define SECRET IDP_FN_SECRET
#define HANDLE IDP_FN_HANDLE

/* The table: X(name, min, max, flags, result kind, signature). Implemented by fn_NAME below. */
#define IDP_FUNCS(X)                                                                                 \
  X(base64decode, 1, 1, DEEP, IDP_V_STRING, "base64decode(string)")                                  \
  X(base64encode, 1, 1, DEEP, IDP_V_STRING, "base64encode(string)")                                  \
  X(concat, 1, V, SHALLOW, IDP_V_LIST, "concat(list, ...)")                                          \
  X(contains, 2, 2, DEEP, IDP_V_BOOL, "contains(list, value)")                                       \
  X(env, 1, 2, DEEP | PLATFORM, IDP_V_UNKNOWN, "env(name[, default])")                               \
  X(file, 1, 1, DEEP | PLATFORM, IDP_V_STRING, "file(path)")                                         \
  X(format, 1, V, DEEP, IDP_V_STRING, "format(format, value, ...)")                                  \
  X(join, 2, 2, DEEP, IDP_V_STRING, "join(separator, list)")                                         \
  X(jsondecode, 1, 1, DEEP, IDP_V_UNKNOWN, "jsondecode(string)")                                     \
  X(jsonencode, 1, 1, DEEP, IDP_V_STRING, "jsonencode(value)")                                       \
  X(length, 1, 1, SHALLOW, IDP_V_NUMBER, "length(list | map | string)")                              \
  X(lookup, 2, 3, SHALLOW, IDP_V_UNKNOWN, "lookup(map, key[, default])")                             \
  X(lower, 1, 1, DEEP, IDP_V_STRING, "lower(string)")                                                \
  X(merge, 1, V, SHALLOW, IDP_V_MAP, "merge(map, ...)")                                              \
  X(registry_image, 3, 3, DEEP | HANDLE, IDP_V_STRING, "registry_image(integration, repository, pattern)")    \
  X(replace, 3, 3, DEEP, IDP_V_STRING, "replace(string, old, new)")                                  \
  X(secret, 1, 1, DEEP | PLATFORM | SECRET, IDP_V_UNKNOWN, "secret(value)")                          \
  X(sha256, 1, 1, DEEP, IDP_V_STRING, "sha256(string)")                                              \
  X(split, 2, 2, DEEP, IDP_V_LIST, "split(separator, string)")                                       \
  X(trimprefix, 2, 2, DEEP, IDP_V_STRING, "trimprefix(string, prefix)")                              \
  X(trimsuffix, 2, 2, DEEP, IDP_V_STRING, "trimsuffix(string, suffix)")                              \
  X(upper, 1, 1, DEEP, IDP_V_STRING, "upper(string)")                                                \
  X(yamlencode, 1, 1, DEEP, IDP_V_STRING, "yamlencode(value)")

#define X(name, mn, mx, fl, ret, sig) static int fn_##name(idp_fcall *c, idp_value **out);
IDP_FUNCS(X)
#undef X

static const idp_func funcs[] = {
#define X(name, mn, mx, fl, ret, sig) {#name, mn, mx, fl, ret, sig, fn_##name},
    IDP_FUNCS(X)
#undef X
};

static const char *const func_names[] = {
#define X(name, mn, mx, fl, ret, sig) #name,
    IDP_FUNCS(X)
#undef X
};

enum { NFUNCS = sizeof funcs / sizeof funcs[0] };

const idp_func *idp_func_find(const char *name) {
  /* The table is in name order. */
  size_t lo = 0, hi = NFUNCS;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(funcs[mid].name, name);
    if (cmp == 0) return &funcs[mid];
    if (cmp < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

size_t idp_func_names(const char *const **names) {
  *names = func_names;
  return NFUNCS;
}

/* --- helpers ------------------------------------------------------------------------------------- */

#define A (c->ctx->arena)

/* Reports `NAME(): message` at argument i (or at the call when i is past the arguments). */
static int arg_error(idp_fcall *c, size_t i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int arg_error(idp_fcall *c, size_t i, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  idp_loc loc = i < c->nargs ? c->arg_e[i]->loc : c->call->loc;
  return idp_eval_error(c->ctx, loc, "%s(): %s", c->fn->name, msg);
}

#define HINT(...) idp_diag_hint(c->ctx->diags, __VA_ARGS__)

static const char *article(idp_value_kind k) { return k == IDP_V_NULL ? "" : "a "; }

/* Argument i is of kind k (reports otherwise). */
static bool want(idp_fcall *c, size_t i, idp_value_kind k) {
  const idp_value *v = c->args[i];
  if (v->kind == k) return true;
  arg_error(c, i, "argument %zu must be %s%s, found %s", i + 1, article(k), idp_value_kind_name(k),
            idp_value_type_name(v));
  return false;
}

/* A string argument for a message: quoted, or `(secret)`. */
static const char *disp(idp_fcall *c, const idp_value *v) {
  idp_buf b = {0};
  if (idp_value_has_secret(v)) idp_buf_puts(&b, "(secret)");
  else idp_value_print_inline(&b, v);
  char *s = idp_arena_strndup(A, idp_buf_cstr(&b), b.len);
  idp_buf_free(&b);
  return s;
}

static idp_value *str_of_buf(idp_fcall *c, idp_buf *b) {
  idp_value *v = idp_value_string(A, b->data ? b->data : "", b->len);
  idp_buf_free(b);
  return v;
}

#define S(i) (c->args[i]->u.string.s)
#define SL(i) (c->args[i]->u.string.len)

/* --- the platform's window to the outside (decision 12 keeps these out of apps) ------------- */

static const char *lookup_env(idp_fcall *c, const char *name) {
  if (c->ctx->getenv) return c->ctx->getenv(name, c->ctx->getenv_payload);
  return getenv(name);
}

static int fn_env(idp_fcall *c, idp_value **out) {
  if (!want(c, 0, IDP_V_STRING)) return IDP_EVAL_ERROR;
  if (SL(0) == 0 || memchr(S(0), '\0', SL(0)) || memchr(S(0), '=', SL(0)))
    return arg_error(c, 0, "%s is not a valid environment variable name", disp(c, c->args[0]));
  const char *val = lookup_env(c, S(0));
  if (!val) {
    if (c->nargs == 2) {
      *out = c->args[1];
      return IDP_EVAL_OK;
    }
    if (c->args[0]->secret) return idp_eval_error(c->ctx, c->call->loc, "an environment variable is not set");
    idp_eval_error(c->ctx, c->call->loc, "environment variable '%s' is not set", S(0));
    HINT("set it, or give a default: env(\"%s\", \"...\")", S(0));
    return IDP_EVAL_ERROR;
  }
  size_t n = strlen(val);
  if (!idp_utf8_valid(val, n)) return arg_error(c, 0, "environment variable %s is not UTF-8 text", disp(c, c->args[0]));
  *out = idp_value_string(A, val, n);
  return IDP_EVAL_OK;
}

static int fn_file(idp_fcall *c, idp_value **out) {
  if (!want(c, 0, IDP_V_STRING)) return IDP_EVAL_ERROR;
  const char *p = S(0);
  if (SL(0) == 0 || memchr(p, '\0', SL(0))) return arg_error(c, 0, "%s is not a file name", disp(c, c->args[0]));
  /* Paths resolve against the spec's directory; `~` is expanded (decision 7). */
  const char *path;
  if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
    const char *home = lookup_env(c, "HOME");
    if (!home || !*home) return arg_error(c, 0, "cannot expand '~': HOME is not set");
    path = idp_arena_sprintf(A, "%s%s", home, p + 1);
  } else if (p[0] != '/' && c->ctx->spec_dir && *c->ctx->spec_dir) {
    path = idp_arena_sprintf(A, "%s/%s", c->ctx->spec_dir, p);
  } else {
    path = p;
  }
  bool secret = c->args[0]->secret;
  char *data = NULL;
  size_t len = 0;
  if (idp_read_file(path, &data, &len) != 0) {
    if (secret) return arg_error(c, 0, "cannot read the file: %s", strerror(errno));
    return arg_error(c, 0, "cannot read '%s': %s", path, strerror(errno));
  }
  if (memchr(data, '\0', len) || !idp_utf8_valid(data, len)) {
    free(data);
    if (secret) return arg_error(c, 0, "the file is not UTF-8 text");
    arg_error(c, 0, "'%s' is not UTF-8 text", path);
    HINT("for binary content, keep it base64-encoded in the file and use base64decode() where it is needed");
    return IDP_EVAL_ERROR;
  }
  *out = idp_value_string(A, data, len);
  free(data);
  return IDP_EVAL_OK;
}

static int fn_secret(idp_fcall *c, idp_value **out) {
  *out = c->args[0]; /* the evaluator marks it (IDP_FN_SECRET) */
  return IDP_EVAL_OK;
}

static int fn_registry_image(idp_fcall *c, idp_value **out) {
  bool ok = want(c, 1, IDP_V_STRING);
  ok = want(c, 2, IDP_V_STRING) && ok;
  if (!ok) return IDP_EVAL_ERROR;
  /* Both end up in the image reference and in the resolver's messages. */
  if (c->args[1]->secret || c->args[2]->secret)
    return idp_eval_error(c->ctx, c->call->loc, "registry_image(): the repository and the pattern may not be secret");
  if (!c->ctx->image_resolver) {
    /* Resolved by the runtime, which pins the digest in the plan (decision 9). */
    *out = idp_value_unknown(A, IDP_V_STRING);
    return IDP_EVAL_OK;
  }
  const char *err = NULL;
  idp_value *v = NULL;
  if (c->ctx->image_resolver(&v, &err, c->args[0], S(1), S(2), c->ctx->image_payload) != 0 || !v)
    return idp_eval_error(c->ctx, c->call->loc, "registry_image(): %s", err ? err : "cannot resolve the image");
  *out = v;
  return IDP_EVAL_OK;
}

/* --- strings -------------------------------------------------------------------------------------- */

static int format_error(idp_fcall *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int format_error(idp_fcall *c, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return arg_error(c, 0, "%s", msg);
}

static int fn_format(idp_fcall *c, idp_value **out) {
  if (!want(c, 0, IDP_V_STRING)) return IDP_EVAL_ERROR;
  const char *f = S(0);
  size_t n = SL(0), next = 1;
  bool fsecret = c->args[0]->secret;
  idp_buf b = {0};
  for (size_t i = 0; i < n; i++) {
    if (f[i] != '%') {
      idp_buf_putc(&b, f[i]);
      continue;
    }
    if (++i == n) {
      idp_buf_free(&b);
      return format_error(c, "the format ends with a lone '%%'");
    }
    char verb = f[i];
    if (verb == '%') {
      idp_buf_putc(&b, '%');
      continue;
    }
    if (verb != 's' && verb != 'd' && verb != 'v' && verb != 'q') {
      idp_buf_free(&b);
      if (fsecret) format_error(c, "unknown verb in the format");
      else {
        size_t vl = 1; /* the whole character, if it is not ASCII */
        while (((unsigned char)verb & 0xC0) == 0xC0 && i + vl < n && ((unsigned char)f[i + vl] & 0xC0) == 0x80) vl++;
        format_error(c, "unknown verb '%%%.*s'", (int)vl, &f[i]);
      }
      HINT("the verbs are %%s, %%d, %%v, %%q, and %%%% for a '%%'");
      return IDP_EVAL_ERROR;
    }
    if (next >= c->nargs) {
      idp_buf_free(&b);
      return format_error(c, "the format has more verbs than the %zu argument%s given", c->nargs - 1,
                          c->nargs == 2 ? "" : "s");
    }
    size_t ai = next++;
    const idp_value *v = c->args[ai];
    switch (verb) {
    case 's':
      if (!idp_value_to_text(&b, v)) {
        idp_buf_free(&b);
        return arg_error(c, ai, "%%s needs a string, number or bool, found %s", idp_value_type_name(v));
      }
      break;
    case 'd':
      if (v->kind != IDP_V_NUMBER || v->u.number != floor(v->u.number)) {
        idp_buf_free(&b);
        if (v->kind == IDP_V_NUMBER) return arg_error(c, ai, "%%d needs a whole number, found %s", disp(c, v));
        return arg_error(c, ai, "%%d needs a number, found %s", idp_value_type_name(v));
      }
      idp_buf_printf(&b, "%.0f", v->u.number);
      break;
    case 'v':
      if (v->kind == IDP_V_NULL) {
        idp_buf_puts(&b, "null");
      } else if (!idp_value_to_text(&b, v)) {
        char *j = idp_value_json_text(v);
        idp_buf_puts(&b, j);
        free(j);
      }
      break;
    case 'q': {
      if (v->kind != IDP_V_STRING) {
        idp_buf_free(&b);
        return arg_error(c, ai, "%%q needs a string, found %s", idp_value_type_name(v));
      }
      char *j = idp_value_json_text(v);
      idp_buf_puts(&b, j);
      free(j);
      break;
    }
    }
  }
  if (next < c->nargs) {
    idp_buf_free(&b);
    return arg_error(c, next, "%zu argument%s given but the format uses %zu", c->nargs - 1,
                     c->nargs == 2 ? "" : "s", next - 1);
  }
  *out = str_of_buf(c, &b);
  return IDP_EVAL_OK;
}

static int fn_join(idp_fcall *c, idp_value **out) {
  bool ok = want(c, 0, IDP_V_STRING);
  ok = want(c, 1, IDP_V_LIST) && ok;
  if (!ok) return IDP_EVAL_ERROR;
  const idp_value *l = c->args[1];
  idp_buf b = {0};
  for (size_t i = 0; i < l->u.list.n; i++) {
    if (i) idp_buf_append(&b, S(0), SL(0));
    if (!idp_value_to_text(&b, l->u.list.items[i])) {
      idp_buf_free(&b);
      return arg_error(c, 1, "element %zu of the list is %s%s; only strings, numbers and bools can be joined", i,
                       article(l->u.list.items[i]->kind), idp_value_type_name(l->u.list.items[i]));
    }
  }
  *out = str_of_buf(c, &b);
  return IDP_EVAL_OK;
}

static int fn_split(idp_fcall *c, idp_value **out) {
  bool ok = want(c, 0, IDP_V_STRING);
  ok = want(c, 1, IDP_V_STRING) && ok;
  if (!ok) return IDP_EVAL_ERROR;
  if (SL(0) == 0) return arg_error(c, 0, "the separator is empty");
  const char *s = S(1), *end = s + SL(1);
  size_t cap = 8, n = 0;
  idp_value **items = idp_arena_alloc(A, cap * sizeof *items);
  for (;;) {
    const char *hit = memmem(s, (size_t)(end - s), S(0), SL(0));
    const char *stop = hit ? hit : end;
    if (n == cap) {
      idp_value **ni = idp_arena_alloc(A, 2 * cap * sizeof *ni);
      memcpy(ni, items, n * sizeof *ni);
      items = ni;
      cap *= 2;
    }
    items[n++] = idp_value_string(A, s, (size_t)(stop - s));
    if (!hit) break;
    s = hit + SL(0);
  }
  *out = idp_value_list(A, items, n);
  return IDP_EVAL_OK;
}

/* ASCII only: case mapping beyond it depends on locale and Unicode version, and specs must
 * evaluate the same everywhere. */
static int change_case(idp_fcall *c, idp_value **out, bool up) {
  if (!want(c, 0, IDP_V_STRING)) return IDP_EVAL_ERROR;
  idp_value *v = idp_value_string(A, S(0), SL(0));
  char *s = (char *)v->u.string.s;
  for (size_t i = 0; i < SL(0); i++) {
    if (up && s[i] >= 'a' && s[i] <= 'z') s[i] = (char)(s[i] - 'a' + 'A');
    if (!up && s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] - 'A' + 'a');
  }
  *out = v;
  return IDP_EVAL_OK;
}

static int fn_lower(idp_fcall *c, idp_value **out) { return change_case(c, out, false); }
static int fn_upper(idp_fcall *c, idp_value **out) { return change_case(c, out, true); }

static int fn_replace(idp_fcall *c, idp_value **out) {
  bool ok = true;
  for (size_t i = 0; i < 3; i++) ok = want(c, i, IDP_V_STRING) && ok;
  if (!ok) return IDP_EVAL_ERROR;
  if (SL(1) == 0) return arg_error(c, 1, "the string to replace is empty");
  const char *s = S(0), *end = s + SL(0);
  idp_buf b = {0};
  for (;;) {
    const char *hit = memmem(s, (size_t)(end - s), S(1), SL(1));
    if (!hit) break;
    idp_buf_append(&b, s, (size_t)(hit - s));
    idp_buf_append(&b, S(2), SL(2));
    s = hit + SL(1);
  }
  idp_buf_append(&b, s, (size_t)(end - s));
  *out = str_of_buf(c, &b);
  return IDP_EVAL_OK;
}

static int trim(idp_fcall *c, idp_value **out, bool suffix) {
  bool ok = want(c, 0, IDP_V_STRING);
  ok = want(c, 1, IDP_V_STRING) && ok;
  if (!ok) return IDP_EVAL_ERROR;
  size_t n = SL(0), k = SL(1);
  const char *s = S(0);
  if (k <= n && memcmp(suffix ? s + n - k : s, S(1), k) == 0)
    *out = idp_value_string(A, suffix ? s : s + k, n - k);
  else
    *out = c->args[0];
  return IDP_EVAL_OK;
}

static int fn_trimsuffix(idp_fcall *c, idp_value **out) { return trim(c, out, true); }
static int fn_trimprefix(idp_fcall *c, idp_value **out) { return trim(c, out, false); }

/* --- collections ------------------------------------------------------------------------------------ */

/* A shallow function's result: v with the marks of what chose it. */
static idp_value *taint(idp_fcall *c, idp_value *v, const idp_deps *deps, bool secret) {
  return idp_value_taint(A, v, deps, secret);
}

static int fn_length(idp_fcall *c, idp_value **out) {
  const idp_value *v = c->args[0];
  double n;
  if (v->kind == IDP_V_LIST) {
    n = (double)v->u.list.n;
  } else if (v->kind == IDP_V_MAP) {
    n = (double)v->u.map.n;
  } else if (v->kind == IDP_V_STRING) {
    size_t cp = 0;
    for (size_t i = 0; i < v->u.string.len; i++)
      if (((unsigned char)v->u.string.s[i] & 0xC0) != 0x80) cp++;
    n = (double)cp;
  } else {
    return arg_error(c, 0, "argument 1 must be a list, map or string, found %s", idp_value_type_name(v));
  }
  /* The length of a list or map is public unless the container itself is secret; the length of a
   * secret string is secret. */
  *out = taint(c, idp_value_number(A, n), v->deps, v->secret);
  return IDP_EVAL_OK;
}

static int fn_lookup(idp_fcall *c, idp_value **out) {
  bool ok = want(c, 0, IDP_V_MAP);
  ok = want(c, 1, IDP_V_STRING) && ok;
  if (!ok) return IDP_EVAL_ERROR;
  const idp_value *m = c->args[0], *k = c->args[1];
  /* The entry keeps its own marks, plus those of the map as a whole and of the key. */
  const idp_deps *deps = idp_deps_union(A, m->deps, idp_value_deps_deep(A, k));
  bool secret = m->secret || k->secret;
  idp_value *v = idp_map_get(m, k->u.string.s, k->u.string.len);
  if (!v && c->nargs == 3) {
    deps = idp_deps_union(A, deps, idp_value_deps_deep(A, c->args[2]));
    v = c->args[2];
  }
  if (!v) {
    if (k->secret) return arg_error(c, 1, "the map has no such key (the key is secret)");
    arg_error(c, 1, "the map has no key %s", disp(c, k));
    const char *best = m->secret ? NULL : idp_did_you_mean(k->u.string.s, m->u.map.keys, m->u.map.n);
    if (best) HINT("did you mean '%s'?", best);
    else HINT("give a default: lookup(map, key, default)");
    return IDP_EVAL_ERROR;
  }
  *out = taint(c, v, deps, secret);
  return IDP_EVAL_OK;
}

static int fn_merge(idp_fcall *c, idp_value **out) {
  bool ok = true;
  for (size_t i = 0; i < c->nargs; i++) ok = want(c, i, IDP_V_MAP) && ok;
  if (!ok) return IDP_EVAL_ERROR;
  idp_map_builder mb;
  idp_map_builder_init(&mb, A);
  /* Later maps win; each entry carries its own marks and those of the map it came from. */
  for (size_t i = 0; i < c->nargs; i++) {
    const idp_value *m = c->args[i];
    for (size_t j = 0; j < m->u.map.n; j++)
      idp_map_builder_add(&mb, m->u.map.keys[j], m->u.map.klen[j], taint(c, m->u.map.vals[j], m->deps, m->secret));
  }
  *out = idp_map_builder_build(&mb, NULL);
  return IDP_EVAL_OK;
}

static int fn_concat(idp_fcall *c, idp_value **out) {
  bool ok = true;
  size_t n = 0;
  for (size_t i = 0; i < c->nargs; i++) {
    ok = want(c, i, IDP_V_LIST) && ok;
    if (c->args[i]->kind == IDP_V_LIST) n += c->args[i]->u.list.n;
  }
  if (!ok) return IDP_EVAL_ERROR;
  idp_value **items = idp_arena_alloc(A, (n ? n : 1) * sizeof *items);
  size_t k = 0;
  for (size_t i = 0; i < c->nargs; i++) {
    const idp_value *l = c->args[i];
    for (size_t j = 0; j < l->u.list.n; j++) items[k++] = taint(c, l->u.list.items[j], l->deps, l->secret);
  }
  *out = idp_value_list(A, items, n);
  return IDP_EVAL_OK;
}

static int fn_contains(idp_fcall *c, idp_value **out) {
  if (!want(c, 0, IDP_V_LIST)) return IDP_EVAL_ERROR;
  const idp_value *l = c->args[0];
  bool found = false;
  for (size_t i = 0; i < l->u.list.n && !found; i++) found = idp_value_equal(l->u.list.items[i], c->args[1]);
  *out = idp_value_bool(A, found);
  return IDP_EVAL_OK;
}

/* --- encodings -------------------------------------------------------------------------------------- */

static int fn_sha256(idp_fcall *c, idp_value **out) {
  if (!want(c, 0, IDP_V_STRING)) return IDP_EVAL_ERROR;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest(S(0), SL(0), md, &mdlen, EVP_sha256(), NULL) != 1)
    return arg_error(c, 0, "libcrypto could not compute the digest");
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned i = 0; i < mdlen; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  *out = idp_value_string(A, hex, 2 * (size_t)mdlen);
  return IDP_EVAL_OK;
}

static int fn_base64encode(idp_fcall *c, idp_value **out) {
  if (!want(c, 0, IDP_V_STRING)) return IDP_EVAL_ERROR;
  if (SL(0) > (size_t)1 << 30) return arg_error(c, 0, "the string is too long");
  size_t cap = 4 * ((SL(0) + 2) / 3) + 1;
  unsigned char *buf = idp_arena_alloc(A, cap);
  int n = EVP_EncodeBlock(buf, (const unsigned char *)S(0), (int)SL(0));
  *out = idp_value_string(A, (const char *)buf, (size_t)n);
  return IDP_EVAL_OK;
}

static bool b64_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

static int fn_base64decode(idp_fcall *c, idp_value **out) {
  if (!want(c, 0, IDP_V_STRING)) return IDP_EVAL_ERROR;
  const char *s = S(0);
  size_t n = SL(0);
  /* EVP_DecodeBlock skips blanks and does not check padding: check the form first. */
  size_t pad = 0;
  while (pad < 2 && pad < n && s[n - 1 - pad] == '=') pad++;
  bool ok = n % 4 == 0 && n <= (size_t)1 << 30;
  for (size_t i = 0; ok && i < n - pad; i++) ok = b64_char(s[i]);
  if (!ok) {
    arg_error(c, 0, "the argument is not valid base64");
    HINT("base64 text is groups of 4 characters from A-Z a-z 0-9 + /, padded with '='");
    return IDP_EVAL_ERROR;
  }
  unsigned char *buf = idp_arena_alloc(A, n / 4 * 3 + 1);
  int got = n ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) : 0;
  if (got < 0) return arg_error(c, 0, "the argument is not valid base64");
  size_t len = (size_t)got - pad;
  if (!idp_utf8_valid((const char *)buf, len)) return arg_error(c, 0, "the decoded bytes are not UTF-8 text");
  *out = idp_value_string(A, (const char *)buf, len);
  return IDP_EVAL_OK;
}

static int fn_jsonencode(idp_fcall *c, idp_value **out) {
  char *s = idp_value_json_text(c->args[0]); /* known: the evaluator handles unknowns */
  if (!s) return arg_error(c, 0, "the value cannot be encoded");
  *out = idp_value_cstring(A, s);
  free(s);
  return IDP_EVAL_OK;
}

static int fn_jsondecode(idp_fcall *c, idp_value **out) {
  if (!want(c, 0, IDP_V_STRING)) return IDP_EVAL_ERROR;
  json_error_t err;
  json_t *j = json_loadb(S(0), SL(0), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
  if (!j) {
    /* jansson's message may quote the text: not for a secret. */
    if (c->args[0]->secret)
      return arg_error(c, 0, "the argument is not valid JSON (line %d, column %d)", err.line, err.column);
    return arg_error(c, 0, "the argument is not valid JSON: %s (line %d, column %d)", err.text, err.line, err.column);
  }
  idp_value *v = idp_value_from_json(A, j);
  json_decref(j);
  if (!v) return arg_error(c, 0, "the JSON holds a key that is not text");
  *out = v;
  return IDP_EVAL_OK;
}

/* YAML reads some plain scalars as other than strings (1.1's yes/no/on/off too): such strings are
 * quoted. */
static bool yaml_needs_quotes(const char *s, size_t n) {
  static const char *const words[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
                                      "true", "True", "TRUE", "false", "False", "FALSE", "on", "On",
                                      "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~"};
  if (n == 0) return true;
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strlen(words[i]) == n && memcmp(words[i], s, n) == 0) return true;
  char ch = s[0];
  if (ch >= '0' && ch <= '9') return true;
  if ((ch == '+' || ch == '-' || ch == '.') && n > 1 && ((s[1] >= '0' && s[1] <= '9') || s[1] == '.')) return true;
  if (ch == '.' && n > 1) return true; /* .inf, .nan */
  return false;
}

static int yaml_emit_scalar(yaml_emitter_t *em, const char *s, size_t n, bool is_string) {
  yaml_event_t ev;
  yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
  int plain_implicit = 1;
  if (is_string) {
    if (yaml_needs_quotes(s, n)) {
      style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
      plain_implicit = 0;
    } else {
      style = memchr(s, '\n', n) ? YAML_LITERAL_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
    }
  }
  if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, plain_implicit, 1, style)) return 0;
  return yaml_emitter_emit(em, &ev);
}

static int yaml_emit_value(yaml_emitter_t *em, const idp_value *v) {
  yaml_event_t ev;
  switch (v->kind) {
  case IDP_V_NULL: return yaml_emit_scalar(em, "null", 4, false);
  case IDP_V_BOOL: return v->u.boolean ? yaml_emit_scalar(em, "true", 4, false) : yaml_emit_scalar(em, "false", 5, false);
  case IDP_V_NUMBER: {
    idp_buf b = {0};
    idp_number_format(&b, v->u.number);
    int ok = yaml_emit_scalar(em, b.data, b.len, false);
    idp_buf_free(&b);
    return ok;
  }
  case IDP_V_STRING: return yaml_emit_scalar(em, v->u.string.s, v->u.string.len, true);
  case IDP_V_LIST:
    if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
        !yaml_emitter_emit(em, &ev))
      return 0;
    for (size_t i = 0; i < v->u.list.n; i++)
      if (!yaml_emit_value(em, v->u.list.items[i])) return 0;
    return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
  case IDP_V_MAP:
    if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
        !yaml_emitter_emit(em, &ev))
      return 0;
    for (size_t i = 0; i < v->u.map.n; i++)
      if (!yaml_emit_scalar(em, v->u.map.keys[i], v->u.map.klen[i], true) ||
          !yaml_emit_value(em, v->u.map.vals[i]))
        return 0;
    return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
  case IDP_V_UNKNOWN: return 0; /* the evaluator handles unknowns */
  }
  return 0;
}

static int yaml_write(void *data, unsigned char *buffer, size_t size) {
  idp_buf_append(data, (const char *)buffer, size);
  return 1;
}

static int fn_yamlencode(idp_fcall *c, idp_value **out) {
  yaml_emitter_t em;
  yaml_event_t ev;
  idp_buf b = {0};
  if (!yaml_emitter_initialize(&em)) return arg_error(c, 0, "libyaml could not start");
  yaml_emitter_set_output(&em, yaml_write, &b);
  yaml_emitter_set_unicode(&em, 1);
  yaml_emitter_set_width(&em, -1);
  yaml_emitter_set_indent(&em, 2);
  int ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&em, &ev) &&
           yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) && yaml_emitter_emit(&em, &ev) &&
           yaml_emit_value(&em, c->args[0]) && yaml_document_end_event_initialize(&ev, 1) &&
           yaml_emitter_emit(&em, &ev) && yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev) &&
           yaml_emitter_flush(&em);
  /* No problem text: libyaml's may quote the value. */
  yaml_emitter_delete(&em);
  if (!ok) {
    idp_buf_free(&b);
    return arg_error(c, 0, "libyaml could not encode the value");
  }
  *out = str_of_buf(c, &b);
  return IDP_EVAL_OK;
}
