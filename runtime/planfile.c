/* planfile.c - saved plans (planfile.h). */
#include "planfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util.h"

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static int cmp_src(const void *x, const void *y) {
  idp_source *const *a = x, *const *b = y;
  int c = strcmp(base_name((*a)->path), base_name((*b)->path));
  return c ? c : strcmp((*a)->path, (*b)->path);
}

void idp_planfile_hash(char out[80], idp_source *const *srcs, size_t n, const json_t *args) {
  idp_source **v = idp_xmalloc((n + 1) * sizeof *v);
  memcpy(v, srcs, n * sizeof *v);
  qsort(v, n, sizeof *v, cmp_src);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) abort(); /* only out of memory */
  for (size_t i = 0; i < n; i++) {
    const char *name = base_name(v[i]->path);
    char len[32];
    int k = snprintf(len, sizeof len, "%zu:", v[i]->len);
    EVP_DigestUpdate(md, name, strlen(name) + 1);
    EVP_DigestUpdate(md, len, (size_t)k);
    EVP_DigestUpdate(md, v[i]->text, v[i]->len);
  }
  /* sealed values (a secret var's) are random each time: hashed as null */
  json_t *pub = args ? idp_planfile_public(args) : NULL;
  char *a = pub ? json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(pub);
  if (a) EVP_DigestUpdate(md, a, strlen(a));
  free(a);
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned hl = 0;
  EVP_DigestFinal_ex(md, h, &hl);
  EVP_MD_CTX_free(md);
  free(v);
  strcpy(out, "sha256:");
  for (unsigned i = 0; i < hl && i < 32; i++) snprintf(out + 7 + 2 * i, 3, "%02x", h[i]);
}

int idp_planfile_write(const char *path, const json_t *plan, idp_state_error *err) {
  if (idp_replace_json(path, plan, JSON_INDENT(2) | JSON_SORT_KEYS, 0600) < 0)
    return idp_state_fail(err, IDP_STATE_ERROR, "cannot write the plan to %s: %s", path, strerror(errno));
  return 0;
}

int idp_planfile_read(const char *path, json_t **out, idp_state_error *err) {
  *out = NULL;
  json_error_t jerr;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!j) {
    if (jerr.line < 1) return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: %s", path, jerr.text);
    return idp_state_fail(err, IDP_STATE_EREFUSED, "%s:%d:%d: not a saved plan: %s", path, jerr.line, jerr.column,
                          jerr.text);
  }
  const json_t *kind = json_object_get(j, "kind"), *ver = json_object_get(j, "format_version");
  int rc = 0;
  if (!json_is_object(j) || !json_is_string(kind) || strcmp(json_string_value(kind), IDP_PLANFILE_KIND) != 0 ||
      !json_is_string(ver)) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED,
                        "%s: not a saved plan (no \"kind\": \"" IDP_PLANFILE_KIND "\")\n"
                        "hint: write one with 'idp plan -out FILE'",
                        path);
  } else if (atoi(json_string_value(ver)) != 1) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED,
                        "%s: saved plan format_version \"%s\" is not one this idp reads (\"1\"): plan again with "
                        "this idp",
                        path, json_string_value(ver));
  } else if (!json_is_array(json_object_get(j, "resource_changes")) || !json_is_array(json_object_get(j, "states")) ||
             !json_is_string(json_object_get(j, "dir"))) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED, "%s: malformed saved plan: want resource_changes, states and dir",
                        path);
  }
  if (rc < 0) {
    json_decref(j);
    return rc;
  }
  *out = j;
  return 0;
}

/* j with every sealed value replaced by null (a new reference). */
static json_t *unsealed_copy(const json_t *j) {
  if (idp_state_is_sealed(j)) return json_null();
  if (json_is_object(j)) {
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)j, k, x) json_object_set_new(o, k, unsealed_copy(x));
    return o;
  }
  if (json_is_array(j)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(j, i, x) json_array_append_new(a, unsealed_copy(x));
    return a;
  }
  return json_deep_copy(j);
}

json_t *idp_planfile_public(const json_t *saved) { return unsealed_copy(saved); }

int idp_planfile_check_state(const json_t *saved, const idp_state *st, idp_state_error *err) {
  const char *env = idp_state_env(st);
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(saved, "states"), i, s) {
    const json_t *e = json_object_get(s, "env"), *lin = json_object_get(s, "lineage");
    if (env ? !json_is_string(e) || strcmp(json_string_value(e), env) != 0 : json_is_string(e)) continue;
    long long serial = json_integer_value(json_object_get(s, "serial"));
    const char *now = idp_state_lineage(st);
    long long now_serial = idp_state_serial(st);
    bool other = now && json_is_string(lin) && strcmp(now, json_string_value(lin)) != 0;
    if (now_serial == serial && !other && (now != NULL) == json_is_string(lin)) return 0;
    char what[160];
    if (env) snprintf(what, sizeof what, "the state of environment %s", env);
    else snprintf(what, sizeof what, "the shared state");
    return idp_state_fail(err, IDP_STATE_ESTALE,
                          "the plan is stale: %s %s (serial %lld when planned, %lld now)\n"
                          "hint: plan again; a saved plan applies only to the states it was made against",
                          what, other ? "was replaced by another lineage" : "has changed since the plan was made",
                          serial, now_serial);
  }
  return 0;
}

int idp_planfile_check_states(const json_t *saved, idp_backend *b, idp_state_error *err) {
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(saved, "states"), i, s) {
    const json_t *env = json_object_get(s, "env");
    idp_state *st = NULL;
    int rc = idp_backend_read(b, json_is_string(env) ? json_string_value(env) : NULL, NULL, &st, err);
    if (rc == 0) rc = idp_planfile_check_state(saved, st, err);
    idp_state_free(st);
    if (rc < 0) return rc;
  }
  return 0;
}
