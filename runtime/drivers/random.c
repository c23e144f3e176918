/* random.c - values generated once and kept in state: passwords. No integration.
 *
 * random.password draws from getrandom(2) with rejection sampling (no modulo bias), as
 * Terraform's random_password does: first min_lower, min_upper, min_numeric and min_special
 * characters of their classes, then the rest from the whole pool, then a Fisher-Yates shuffle.
 * The pool is [A-Za-z0-9] (decision 8), plus the punctuation when special is set, or exactly
 * charset when that is set. Nothing external: read gives back the state, delete forgets. */
#include "driver.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "value.h"

enum { PW_MAX_LENGTH = 4096 };

static const char DEFAULT_SPECIAL[] = "!#%&*()-_=+[]{}<>:?";

/* Every input forces a new value: a password is not edited, it is made again. */
static const idp_drv_input password_inputs[] = {
    {.name = "length", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(32), .force_new = true,
     .doc = "number of characters"},
    {.name = "special", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false), .force_new = true,
     .doc = "add punctuation to the default [A-Za-z0-9] (decision 8)"},
    {.name = "override_special", .type = IDP_DRV_TYPE(STRING), .force_new = true,
     .doc = "the punctuation special adds (default !#%&*()-_=+[]{}<>:?)"},
    {.name = "charset", .type = IDP_DRV_TYPE(STRING), .force_new = true,
     .doc = "draw from exactly these characters instead"},
    {.name = "min_lower", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(0), .force_new = true,
     .doc = "at least this many lowercase letters"},
    {.name = "min_upper", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(0), .force_new = true,
     .doc = "at least this many uppercase letters"},
    {.name = "min_numeric", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(0), .force_new = true,
     .doc = "at least this many digits"},
    {.name = "min_special", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(0), .force_new = true,
     .doc = "at least this many punctuation characters"},
    {.name = "keepers", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE, .force_new = true,
     .doc = "arbitrary values; changing any of them makes a new password"},
};

static const idp_drv_output password_outputs[] = {
    {.name = "value", .type = IDP_DRV_TYPE(STRING), .computed = true, .secret = true,
     .doc = "the password (getrandom); kept encrypted in state"},
};

/* --- randomness ------------------------------------------------------------------------------- */

/* getrandom(2) bytes, fetched a block at a time and wiped when done. */
typedef struct rng {
  unsigned char buf[256];
  size_t pos;               /* next unused byte of buf; sizeof buf: empty */
} rng;

static int rng_fill(rng *r) {
  size_t got = 0;
  while (got < sizeof r->buf) {
    ssize_t n = getrandom(r->buf + got, sizeof r->buf - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (size_t)n;
  }
  r->pos = 0;
  return 0;
}

static int rng_u32(rng *r, uint32_t *out) {
  if (r->pos + 4 > sizeof r->buf && rng_fill(r) != 0) return -1;
  memcpy(out, r->buf + r->pos, 4);
  r->pos += 4;
  return 0;
}

/* A uniform number in [0, n), n > 0: draws below the largest multiple of n are kept, the others
 * drawn again, so no value is more likely than another. */
static int rng_below(rng *r, uint32_t n, uint32_t *out) {
  uint32_t limit = UINT32_MAX - (uint32_t)(((uint64_t)UINT32_MAX + 1) % n); /* last accepted draw */
  for (;;) {
    uint32_t x;
    if (rng_u32(r, &x) != 0) return -1;
    if (x <= limit) {
      *out = x % n;
      return 0;
    }
  }
}

/* --- inputs ----------------------------------------------------------------------------------- */

/* The input named name, or NULL when absent or null. */
static const idp_value *input(const idp_value *inputs, const char *name) {
  if (!inputs || inputs->kind != IDP_V_MAP) return NULL;
  const idp_value *v = idp_map_get(inputs, name, strlen(name));
  return v && v->kind != IDP_V_NULL ? v : NULL;
}

/* A whole number input in [lo, hi]; def when absent. */
static int count_input(idp_drv_ctx *ctx, const idp_value *inputs, const char *name, long def, long lo, long hi,
                       long *out) {
  const idp_value *v = input(inputs, name);
  if (!v) {
    *out = def;
    return 0;
  }
  if (v->kind != IDP_V_NUMBER) return idp_drv_fail(ctx, "%s must be a number, not a %s", name, idp_value_kind_name(v->kind));
  double d = v->u.number;
  if (d != (double)(long)d || d < (double)lo || d > (double)hi)
    return idp_drv_fail(ctx, "%s must be a whole number from %ld to %ld", name, lo, hi);
  *out = (long)d;
  return 0;
}

/* A string input of printable ASCII; NULL when absent. */
static int charset_input(idp_drv_ctx *ctx, const idp_value *inputs, const char *name, const char **out) {
  const idp_value *v = input(inputs, name);
  *out = NULL;
  if (!v) return 0;
  if (v->kind != IDP_V_STRING) return idp_drv_fail(ctx, "%s must be a string, not a %s", name, idp_value_kind_name(v->kind));
  for (size_t i = 0; i < v->u.string.len; i++) {
    unsigned char c = (unsigned char)v->u.string.s[i];
    if (c < 0x20 || c > 0x7e) return idp_drv_fail(ctx, "%s may hold printable ASCII characters only", name);
  }
  *out = v->u.string.s;
  return 0;
}

/* A character class: the distinct characters of a set, in first-seen order. */
typedef struct cclass {
  char c[96];
  uint32_t n;
} cclass;

static void cclass_add(cclass *k, char ch) {
  if (!memchr(k->c, ch, k->n)) k->c[k->n++] = ch;
}

static void cclass_add_all(cclass *k, const char *s, bool (*keep)(char)) {
  for (; *s; s++)
    if (!keep || keep(*s)) cclass_add(k, *s);
}

static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_punct(char c) { return !is_lower(c) && !is_upper(c) && !is_digit(c); }

static const char LOWER[] = "abcdefghijklmnopqrstuvwxyz", UPPER[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", DIGITS[] = "0123456789";

/* --- operations ------------------------------------------------------------------------------- */

static int password_create(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  long length, mins[4];
  static const char *const min_names[4] = {"min_lower", "min_upper", "min_numeric", "min_special"};
  static const char *const class_names[4] = {"lowercase letters", "uppercase letters", "digits", "punctuation"};
  if (count_input(ctx, inputs, "length", 32, 1, PW_MAX_LENGTH, &length) != 0) return -1;
  for (int i = 0; i < 4; i++)
    if (count_input(ctx, inputs, min_names[i], 0, 0, PW_MAX_LENGTH, &mins[i]) != 0) return -1;
  const char *charset, *override;
  if (charset_input(ctx, inputs, "charset", &charset) != 0 || charset_input(ctx, inputs, "override_special", &override) != 0)
    return -1;
  const idp_value *sp = input(inputs, "special");
  if (sp && sp->kind != IDP_V_BOOL) return idp_drv_fail(ctx, "special must be a bool, not a %s", idp_value_kind_name(sp->kind));
  bool special = sp && sp->u.boolean;

  /* The pool, and the classes the minimums draw from. With charset, each class is its part of
   * charset; otherwise the minimums draw from their whole class, punctuation included even when
   * special is off (as Terraform does). */
  cclass pool = {.n = 0}, cls[4] = {{.n = 0}, {.n = 0}, {.n = 0}, {.n = 0}};
  if (charset) {
    if (!*charset) return idp_drv_fail(ctx, "charset is empty");
    cclass_add_all(&pool, charset, NULL);
    cclass_add_all(&cls[0], charset, is_lower);
    cclass_add_all(&cls[1], charset, is_upper);
    cclass_add_all(&cls[2], charset, is_digit);
    cclass_add_all(&cls[3], charset, is_punct);
  } else {
    const char *punct = override ? override : DEFAULT_SPECIAL;
    cclass_add_all(&pool, UPPER, NULL);
    cclass_add_all(&pool, LOWER, NULL);
    cclass_add_all(&pool, DIGITS, NULL);
    if (special) cclass_add_all(&pool, punct, NULL);
    cclass_add_all(&cls[0], LOWER, NULL);
    cclass_add_all(&cls[1], UPPER, NULL);
    cclass_add_all(&cls[2], DIGITS, NULL);
    cclass_add_all(&cls[3], punct, NULL);
  }
  long sum = 0;
  for (int i = 0; i < 4; i++) {
    if (mins[i] > 0 && cls[i].n == 0)
      return idp_drv_fail(ctx, "%s is %ld but the %s holds no %s", min_names[i], mins[i],
                          charset ? "charset" : "override_special", class_names[i]);
    sum += mins[i];
  }
  if (sum > length)
    return idp_drv_fail(ctx, "min_lower + min_upper + min_numeric + min_special is %ld, more than length %ld", sum, length);

  rng r = {.pos = sizeof r.buf};
  char *pw = malloc((size_t)length + 1);
  if (!pw) return idp_drv_fail(ctx, "out of memory");
  int rc = 0;
  size_t at = 0;
  for (int i = 0; i < 4 && rc == 0; i++)
    for (long k = 0; k < mins[i] && rc == 0; k++) {
      uint32_t x;
      if ((rc = rng_below(&r, cls[i].n, &x)) == 0) pw[at++] = cls[i].c[x];
    }
  while (rc == 0 && at < (size_t)length) {
    uint32_t x;
    if ((rc = rng_below(&r, pool.n, &x)) == 0) pw[at++] = pool.c[x];
  }
  for (size_t i = (size_t)length - 1; rc == 0 && i > 0; i--) { /* Fisher-Yates: the minimums go anywhere */
    uint32_t j;
    if ((rc = rng_below(&r, (uint32_t)i + 1, &j)) == 0) {
      char t = pw[i];
      pw[i] = pw[j];
      pw[j] = t;
    }
  }
  if (rc == 0) {
    idp_value *v = idp_value_taint(ctx->arena, idp_value_string(ctx->arena, pw, (size_t)length), NULL, true);
    idp_map_builder mb;
    idp_map_builder_init(&mb, ctx->arena);
    idp_map_builder_add(&mb, "value", 5, v);
    *outputs = idp_map_builder_build(&mb, NULL);
  } else {
    idp_drv_fail(ctx, "getrandom: %s", strerror(errno));
  }
  explicit_bzero(pw, (size_t)length + 1);
  explicit_bzero(&r, sizeof r);
  free(pw);
  return rc == 0 ? 0 : -1;
}

/* Nothing external: what the state holds is what there is. */
static int password_read(idp_drv_ctx *ctx, const idp_value *prior, idp_value **out) {
  if (!prior || prior->kind != IDP_V_MAP) return idp_drv_fail(ctx, "no prior state to read");
  *out = idp_value_taint(ctx->arena, prior, NULL, false);
  return 0;
}

/* Every input forces a new password, so an update only keeps what there is. */
static int password_update(idp_drv_ctx *ctx, const idp_value *prior, const idp_value *inputs, idp_value **outputs) {
  (void)inputs;
  const idp_value *out = prior && prior->kind == IDP_V_MAP ? idp_map_get(prior, "outputs", 7) : NULL;
  const idp_value *v = out && out->kind == IDP_V_MAP ? idp_map_get(out, "value", 5) : NULL;
  if (!v || v->kind != IDP_V_STRING) return idp_drv_fail(ctx, "the prior state holds no value");
  *outputs = idp_value_taint(ctx->arena, out, NULL, false);
  return 0;
}

static int password_delete(idp_drv_ctx *ctx, const idp_value *prior) {
  (void)ctx;
  (void)prior;
  return 0;
}

static const idp_drv_kind kinds[] = {
    {.name = "password", .full = "random.password", .doc = "a random password, generated once",
     .io = {password_inputs, IDP_DRV_N(password_inputs), password_outputs, IDP_DRV_N(password_outputs)},
     .ops = {.read = password_read, .create = password_create, .update = password_update, .delete = password_delete}},
};

const idp_driver idp_driver_random = {
    .name = "random",
    .doc = "random values, generated once and kept in state",
    .integration = false,
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
