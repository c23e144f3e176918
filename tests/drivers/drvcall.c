/* drvcall.c - calls one driver operation directly, for the driver tests against real servers.
 *
 *   drvcall DRIVER.KIND create|read|update|delete < REQUEST.json
 *   drvcall DRIVER configure < REQUEST.json          (an integration's derived outputs)
 *
 * REQUEST: {"inputs": {...}, "prior": {"inputs": {...}, "outputs": {...}}} (prior for read,
 * update and delete; configure takes the integration's inputs). Values are plain JSON; an optional
 * "secret": {"inputs": MARKS, "prior": MARKS} marks values secret, MARKS having the value's shape
 * with `true` at each secret place ({"env": {"DB_PASSWORD": true}}). Prints the result as
 * JSON on stdout: {"outputs": {...}} for create, update and configure, {"read": {...} | null} for read,
 * {} for delete. On failure prints the driver's message on stderr and exits 1; 2 for bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "arena.h"
#include "drivers/driver.h"
#include "http.h"
#include "value.h"

/* v with the secret marks of the tree m (see above). */
static idp_value *mark_secret(idp_arena *a, idp_value *v, const json_t *m) {
  if (!v || !m) return v;
  if (json_is_true(m)) return idp_value_taint(a, v, NULL, true);
  if (!json_is_object(m) || v->kind != IDP_V_MAP) return v;
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  for (size_t i = 0; i < v->u.map.n; i++)
    idp_map_builder_add(&mb, v->u.map.keys[i], v->u.map.klen[i],
                        mark_secret(a, v->u.map.vals[i], json_object_get(m, v->u.map.keys[i])));
  return idp_map_builder_build(&mb, NULL);
}

static int usage(const char *msg) {
  fprintf(stderr, "drvcall: %s\nusage: drvcall DRIVER.KIND create|read|update|delete | DRIVER configure < REQUEST.json\n", msg);
  return 2;
}

int main(int argc, char **argv) {
  if (argc != 3) return usage("two arguments");
  const idp_drv_kind *kind = idp_driver_find_kind(argv[1], NULL);
  const idp_driver *drv = idp_driver_find(argv[1]);
  if (!kind && !drv) return usage("no such kind");
  const char *op = argv[2];
  json_error_t jerr;
  json_t *req = json_loadf(stdin, 0, &jerr);
  if (!req) return usage(jerr.text);
  idp_arena a;
  idp_arena_init(&a);
  char err[256];
  idp_http *http = idp_http_new(NULL, err, sizeof err);
  if (!http) return usage(err);
  idp_drv_ctx ctx = {.arena = &a, .http = http, .address = argv[1]};
  json_t *ij = json_object_get(req, "inputs"), *pj = json_object_get(req, "prior");
  idp_value *inputs = ij ? idp_value_from_json(&a, ij) : NULL, *prior = pj ? idp_value_from_json(&a, pj) : NULL;
  const json_t *sj = json_object_get(req, "secret");
  inputs = mark_secret(&a, inputs, json_object_get(sj, "inputs"));
  prior = mark_secret(&a, prior, json_object_get(sj, "prior"));
  idp_value *out = NULL;
  int rc = -1;
  const char *key = "outputs";
  if (!kind) {
    if (strcmp(op, "configure") == 0 && drv->ops.configure) rc = drv->ops.configure(&ctx, inputs, &out);
    else snprintf(ctx.err, sizeof ctx.err, "%s has no %s operation", argv[1], op);
  } else if (strcmp(op, "create") == 0 && kind->ops.create) {
    rc = kind->ops.create(&ctx, inputs, &out);
  } else if (strcmp(op, "update") == 0 && kind->ops.update) {
    rc = kind->ops.update(&ctx, prior, inputs, &out);
  } else if (strcmp(op, "read") == 0 && kind->ops.read) {
    rc = kind->ops.read(&ctx, prior, &out);
    key = "read";
  } else if (strcmp(op, "delete") == 0 && kind->ops.delete) {
    rc = kind->ops.delete(&ctx, prior);
    key = NULL;
  } else {
    snprintf(ctx.err, sizeof ctx.err, "%s has no %s operation", argv[1], op);
  }
  int status = 0;
  if (rc < 0) {
    fprintf(stderr, "drvcall: %s %s: %s\n", argv[1], op, ctx.err);
    status = 1;
  } else {
    json_t *res = json_object();
    if (key) json_object_set_new(res, key, out ? idp_value_to_json(out, NULL) : json_null());
    char *text = json_dumps(res, JSON_SORT_KEYS | JSON_COMPACT);
    puts(text);
    free(text);
    json_decref(res);
  }
  idp_http_free(http);
  idp_arena_free(&a);
  json_decref(req);
  return status;
}
