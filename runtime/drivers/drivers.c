/* drivers.c - the table of built-in drivers, lookups over it, and how types and defaults print. */
#include "driver.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const idp_driver *const builtin[] = {
#define X(name) &idp_driver_##name,
    IDP_BUILTIN_DRIVERS(X)
#undef X
};

int idp_drv_fail(idp_drv_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
  va_end(ap);
  return -1;
}

struct idp_value *idp_driver_configure(struct idp_arena *arena, const char *driver, const struct idp_value *inputs) {
  const idp_driver *d = idp_driver_find(driver);
  if (!d || !d->ops.configure) return NULL;
  idp_drv_ctx ctx = {.arena = arena, .address = driver};
  struct idp_value *out = NULL;
  return d->ops.configure(&ctx, inputs, &out) == 0 ? out : NULL;
}

const idp_driver *const *idp_driver_all(size_t *n) {
  *n = IDP_DRV_N(builtin);
  return builtin;
}

const idp_driver *idp_driver_find(const char *name) {
  for (size_t i = 0; i < IDP_DRV_N(builtin); i++)
    if (strcmp(builtin[i]->name, name) == 0) return builtin[i];
  return NULL;
}

const idp_drv_kind *idp_driver_find_kind(const char *dotted, const idp_driver **drv) {
  if (drv) *drv = NULL;
  const char *dot = strchr(dotted, '.');
  if (!dot) return NULL;
  size_t dl = (size_t)(dot - dotted);
  for (size_t i = 0; i < IDP_DRV_N(builtin); i++) {
    const idp_driver *d = builtin[i];
    if (strlen(d->name) != dl || memcmp(d->name, dotted, dl) != 0) continue;
    if (drv) *drv = d;
    for (size_t k = 0; k < d->nkinds; k++)
      if (strcmp(d->kinds[k].name, dot + 1) == 0) return &d->kinds[k];
    return NULL;
  }
  return NULL;
}

const idp_drv_input *idp_drv_find_input(const idp_drv_io *io, const char *name) {
  for (size_t i = 0; i < io->ninputs; i++)
    if (strcmp(io->inputs[i].name, name) == 0) return &io->inputs[i];
  return NULL;
}

const idp_drv_output *idp_drv_find_output(const idp_drv_io *io, const char *name) {
  for (size_t i = 0; i < io->noutputs; i++)
    if (strcmp(io->outputs[i].name, name) == 0) return &io->outputs[i];
  return NULL;
}

size_t idp_driver_names(const char **names, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < IDP_DRV_N(builtin); i++, n++)
    if (n < max) names[n] = builtin[i]->name;
  for (size_t i = 0; i < IDP_DRV_N(builtin); i++)
    for (size_t k = 0; k < builtin[i]->nkinds; k++, n++)
      if (n < max) names[n] = builtin[i]->kinds[k].full;
  return n;
}

const char *idp_driver_suggest_kind(const char *dotted) {
  enum { MAX = 128 };
  const char *names[MAX];
  size_t n = idp_driver_names(names, MAX), nd = IDP_DRV_N(builtin);
  if (n > MAX) n = MAX;
  return idp_did_you_mean(dotted, names + nd, n - nd);
}

static const char *const type_spelling[] = {
#define X(name, spelling) spelling,
    IDP_DRV_TYPES(X)
#undef X
};

const char *idp_drv_type_name(idp_drv_type t, char *buf, size_t size) {
  if (t.kind == IDP_DRV_T_INTEGRATION)
    snprintf(buf, size, "integration(%s)", t.driver ? t.driver : "any");
  else
    snprintf(buf, size, "%s", type_spelling[t.kind]);
  return buf;
}

const char *idp_drv_default_text(const idp_drv_default *d, idp_drv_type t, char *buf, size_t size) {
  switch (d->kind) {
  case IDP_DRV_DEF_NONE: snprintf(buf, size, "%s", ""); break;
  case IDP_DRV_DEF_STRING: snprintf(buf, size, "\"%s\"", d->u.string); break;
  case IDP_DRV_DEF_NUMBER: snprintf(buf, size, "%.15g", d->u.number); break;
  case IDP_DRV_DEF_BOOL: snprintf(buf, size, "%s", d->u.boolean ? "true" : "false"); break;
  case IDP_DRV_DEF_EMPTY: snprintf(buf, size, "%s", t.kind == IDP_DRV_T_MAP_STRING ? "{}" : "[]"); break;
  }
  return buf;
}
