/* state.c - the in-memory state: resources indexed by address, reading and writing the JSON file
 * format (docs/state.md), dirty tracking for the serial, and secrets kept sealed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../compiler/util.h"
#include "state.h"

struct idp_state_res {
  char *address;           /* owned */
  char *driver;            /* owned, "DRIVER.KIND" */
  idp_state_status status;
  char **deps;             /* owned, sorted, unique */
  size_t ndeps;
  json_t *maps[2];         /* inputs, outputs: objects, one reference each */
  size_t index;            /* position in idp_state.res */
};

struct idp_state {
  int version;             /* as read (never above IDP_STATE_FORMAT_VERSION) */
  char *lineage;           /* owned; NULL until the first write */
  long long serial;
  char *env;               /* owned; NULL for the shared state */
  char *env_type;          /* owned; NULL unless on-demand */
  json_t *pins;            /* owned; NULL when none: {"APP": {"image", "pipeline", "run", "at"}} */
  idp_state_res **res;     /* owned */
  size_t n, cap;
  size_t *slots;           /* open addressing: index + 1 into res, 0 empty, SIZE_MAX deleted */
  size_t nslots, used;     /* used counts live and deleted slots */
  bool dirty;
  bool has_key;
  idp_state_key key;
};

/* --- names and addresses -------------------------------------------------------------------------- */

static const char *const status_names[] = {
#define X(e, s) s,
    IDP_STATE_STATUSES(X)
#undef X
};

const char *idp_state_status_name(idp_state_status s) {
  return (size_t)s < sizeof status_names / sizeof *status_names ? status_names[s] : "?";
}

int idp_state_status_parse(const char *name, idp_state_status *out) {
  for (size_t i = 0; i < sizeof status_names / sizeof *status_names; i++)
    if (strcmp(name, status_names[i]) == 0) {
      *out = (idp_state_status)i;
      return 0;
    }
  return -1;
}

const char *idp_state_part_name(idp_state_part p) { return p == IDP_STATE_INPUTS ? "inputs" : "outputs"; }

static bool name_ok(const char *s, size_t n) {
  if (n < 1 || n > 30 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (size_t i = 1; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) return false;
  return true;
}

bool idp_state_env_name_ok(const char *name) { return name && name_ok(name, strlen(name)); }

/* An identifier of a driver or kind: [a-z][a-z0-9_-]*. */
static bool ident_ok(const char *s, size_t n) {
  if (n < 1 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (size_t i = 1; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-')) return false;
  return true;
}

/* DRIVER.KIND.NAME: NAME is any non-empty text without '/' or control characters. */
static bool resource_part_ok(const char *s, size_t n, size_t *driver_len) {
  const char *d1 = memchr(s, '.', n);
  if (!d1 || !ident_ok(s, (size_t)(d1 - s))) return false;
  const char *rest = d1 + 1;
  const char *d2 = memchr(rest, '.', n - (size_t)(rest - s));
  if (!d2 || !ident_ok(rest, (size_t)(d2 - rest))) return false;
  size_t namelen = n - (size_t)(d2 + 1 - s);
  if (namelen == 0) return false;
  for (const char *p = d2 + 1; p < s + n; p++)
    if ((unsigned char)*p < 0x20 || *p == '/' || *p == 0x7f) return false;
  *driver_len = (size_t)(d2 - s);
  return true;
}

int idp_state_address_parse(const char *address, char **env, char **driver, idp_state_error *err) {
  if (env) *env = NULL;
  if (driver) *driver = NULL;
  size_t n = strlen(address), dlen = 0;
  const char *last = address;
  char *e = NULL;
  if (strncmp(address, "env.", 4) == 0) {
    /* env.E/app.A/need.N/DRIVER.KIND.LOCAL (or any further segments a later design adds) */
    const char *slash = strchr(address + 4, '/');
    if (!slash || !name_ok(address + 4, (size_t)(slash - address - 4)))
      return idp_state_fail(err, IDP_STATE_EINVALID,
                            "malformed address '%s': want env.ENV/app.APP/need.NEED/DRIVER.KIND.NAME, "
                            "with ENV matching [a-z][a-z0-9-]{0,29}",
                            address);
    last = strrchr(address, '/') + 1;
    for (const char *p = slash; p < last - 1; p = strchr(p + 1, '/')) {
      const char *q = strchr(p + 1, '/');
      if (q == p + 1 || !q)
        return idp_state_fail(err, IDP_STATE_EINVALID, "malformed address '%s': an empty segment", address);
    }
    e = idp_xmalloc((size_t)(slash - address - 4) + 1);
    memcpy(e, address + 4, (size_t)(slash - address - 4));
    e[slash - address - 4] = '\0';
  } else if (strchr(address, '/')) {
    return idp_state_fail(err, IDP_STATE_EINVALID,
                          "malformed address '%s': an address with segments starts with env.ENV/", address);
  }
  if (!resource_part_ok(last, n - (size_t)(last - address), &dlen)) {
    free(e);
    return idp_state_fail(err, IDP_STATE_EINVALID,
                          "malformed address '%s': it must end with DRIVER.KIND.NAME (e.g. postgres.role.owner)",
                          address);
  }
  if (env) *env = e;
  else free(e);
  if (driver) {
    *driver = idp_xmalloc(dlen + 1);
    memcpy(*driver, last, dlen);
    (*driver)[dlen] = '\0';
  }
  return 0;
}

/* --- the index ------------------------------------------------------------------------------------ */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void index_insert(idp_state *st, size_t i);

static void index_rebuild(idp_state *st, size_t nslots) {
  free(st->slots);
  st->nslots = nslots;
  st->slots = idp_xcalloc(nslots, sizeof *st->slots);
  st->used = 0;
  for (size_t i = 0; i < st->n; i++) index_insert(st, i);
}

static void index_insert(idp_state *st, size_t i) {
  if ((st->used + 1) * 4 >= st->nslots * 3) { /* the rebuild inserts i too, and drops tombstones */
    size_t nslots = 64;
    while (nslots * 3 <= (st->n + 1) * 8) nslots *= 2;
    index_rebuild(st, nslots);
  }
  size_t mask = st->nslots - 1, h = (size_t)hash_str(st->res[i]->address) & mask;
  while (st->slots[h] != 0 && st->slots[h] != SIZE_MAX) {
    if (st->slots[h] == i + 1) return; /* already there (inserted by a rebuild) */
    h = (h + 1) & mask;
  }
  st->slots[h] = i + 1;
  st->used++;
}

/* The slot holding address, or SIZE_MAX. */
static size_t index_slot(const idp_state *st, const char *address) {
  if (!st->nslots) return SIZE_MAX;
  size_t mask = st->nslots - 1, h = (size_t)hash_str(address) & mask;
  for (size_t probes = 0; probes < st->nslots && st->slots[h] != 0; probes++, h = (h + 1) & mask) {
    size_t v = st->slots[h];
    if (v != SIZE_MAX && strcmp(st->res[v - 1]->address, address) == 0) return h;
  }
  return SIZE_MAX;
}

/* --- the state ------------------------------------------------------------------------------------ */

idp_state *idp_state_new(const char *env, const char *env_type) {
  idp_state *st = idp_xcalloc(1, sizeof *st);
  st->version = IDP_STATE_FORMAT_VERSION;
  st->env = env ? idp_xstrdup(env) : NULL;
  st->env_type = env_type ? idp_xstrdup(env_type) : NULL;
  return st;
}

static void res_free(idp_state_res *r) {
  if (!r) return;
  free(r->address);
  free(r->driver);
  for (size_t i = 0; i < r->ndeps; i++) free(r->deps[i]);
  free(r->deps);
  json_decref(r->maps[0]);
  json_decref(r->maps[1]);
  free(r);
}

void idp_state_free(idp_state *st) {
  if (!st) return;
  for (size_t i = 0; i < st->n; i++) res_free(st->res[i]);
  free(st->res);
  free(st->slots);
  free(st->lineage);
  free(st->env);
  free(st->env_type);
  json_decref(st->pins);
  idp_state_key_wipe(&st->key);
  free(st);
}

int idp_state_version(const idp_state *st) { return st->version; }
const char *idp_state_lineage(const idp_state *st) { return st->lineage; }
long long idp_state_serial(const idp_state *st) { return st->serial; }
const char *idp_state_env(const idp_state *st) { return st->env; }
const char *idp_state_env_type(const idp_state *st) { return st->env_type; }
bool idp_state_dirty(const idp_state *st) { return st->dirty; }

void idp_state_set_env_type(idp_state *st, const char *env_type) {
  if ((!env_type && !st->env_type) || (env_type && st->env_type && strcmp(env_type, st->env_type) == 0)) return;
  free(st->env_type);
  st->env_type = env_type ? idp_xstrdup(env_type) : NULL;
  st->dirty = true;
}

const char *idp_state_pin(const idp_state *st, const char *app) {
  return json_string_value(json_object_get(json_object_get(st->pins, app), "image"));
}

const json_t *idp_state_pins(const idp_state *st) { return st->pins; }

void idp_state_set_pin(idp_state *st, const char *app, const char *image, const char *pipeline, const char *run,
                       const char *at) {
  if (!st->env) return;
  if (!image) {
    if (json_object_get(st->pins, app)) {
      json_object_del(st->pins, app);
      st->dirty = true;
    }
    if (st->pins && json_object_size(st->pins) == 0) {
      json_decref(st->pins);
      st->pins = NULL;
    }
    return;
  }
  json_t *p = json_pack("{s:s}", "image", image);
  if (pipeline) json_object_set_new(p, "pipeline", json_string(pipeline));
  if (run) json_object_set_new(p, "run", json_string(run));
  if (at) json_object_set_new(p, "at", json_string(at));
  if (!st->pins) st->pins = json_object();
  if (!json_equal(json_object_get(st->pins, app), p)) st->dirty = true;
  json_object_set_new(st->pins, app, p);
}

int idp_state_begin_write(idp_state *st, idp_state_error *err) {
  if (!st->lineage) {
    char uuid[37];
    int rc = idp_state_uuid4(uuid, err);
    if (rc < 0) return rc;
    st->lineage = idp_xstrdup(uuid);
  }
  st->serial++;
  st->version = IDP_STATE_FORMAT_VERSION;
  return 0;
}

void idp_state_written(idp_state *st) { st->dirty = false; }

void idp_state_rollback(idp_state *st, const char *lineage, long long serial) {
  free(st->lineage);
  st->lineage = lineage ? idp_xstrdup(lineage) : NULL;
  st->serial = serial;
}

void idp_state_set_key(idp_state *st, const idp_state_key *key) {
  idp_state_key_wipe(&st->key);
  st->has_key = key != NULL;
  if (key) st->key = *key;
}

static const idp_state_key *state_key(const idp_state *st) { return st->has_key ? &st->key : NULL; }

size_t idp_state_count(const idp_state *st) { return st->n; }
idp_state_res *idp_state_at(const idp_state *st, size_t i) { return i < st->n ? st->res[i] : NULL; }

idp_state_res *idp_state_find(const idp_state *st, const char *address) {
  size_t slot = index_slot(st, address);
  return slot == SIZE_MAX ? NULL : st->res[st->slots[slot] - 1];
}

static int cmp_res(const void *a, const void *b) {
  return strcmp((*(idp_state_res *const *)a)->address, (*(idp_state_res *const *)b)->address);
}

idp_state_res **idp_state_sorted(const idp_state *st) {
  idp_state_res **v = idp_xmalloc((st->n ? st->n : 1) * sizeof *v);
  if (st->n) memcpy(v, st->res, st->n * sizeof *v);
  qsort(v, st->n, sizeof *v, cmp_res);
  return v;
}

/* Checks that address is well formed and belongs to this state; *driver gets its driver kind. */
static int check_address(const idp_state *st, const char *address, char **driver, idp_state_error *err) {
  char *env = NULL;
  int rc = idp_state_address_parse(address, &env, driver, err);
  if (rc < 0) return rc;
  if ((env == NULL) != (st->env == NULL) || (env && strcmp(env, st->env) != 0)) {
    if (st->env)
      rc = idp_state_fail(err, IDP_STATE_EINVALID, "address '%s' is not in the state of environment %s (its addresses start with env.%s/)",
                          address, st->env, st->env);
    else
      rc = idp_state_fail(err, IDP_STATE_EINVALID, "address '%s' belongs to environment %s, not to the shared state", address,
                          env);
    if (driver) {
      free(*driver);
      *driver = NULL;
    }
  }
  free(env);
  return rc;
}

/* A new resource at the end; its inputs and outputs are in and out (a reference is taken), or empty
 * when NULL. */
static idp_state_res *append(idp_state *st, const char *address, const char *driver, json_t *in, json_t *out) {
  idp_state_res *r = idp_xcalloc(1, sizeof *r);
  r->address = idp_xstrdup(address);
  r->driver = idp_xstrdup(driver);
  r->status = IDP_STATE_PENDING_CREATE;
  r->maps[0] = in ? json_incref(in) : json_object();
  r->maps[1] = out ? json_incref(out) : json_object();
  if (st->n == st->cap) {
    st->cap = st->cap ? st->cap * 2 : 16;
    st->res = idp_xrealloc(st->res, st->cap * sizeof *st->res);
  }
  r->index = st->n;
  st->res[st->n++] = r;
  index_insert(st, r->index);
  return r;
}

int idp_state_add(idp_state *st, const char *address, const char *driver, idp_state_res **out,
                  idp_state_error *err) {
  char *kind = NULL;
  int rc = check_address(st, address, &kind, err);
  if (rc < 0) return rc;
  if (strcmp(kind, driver) != 0) {
    rc = idp_state_fail(err, IDP_STATE_EINVALID, "address '%s' names driver kind %s, not %s", address, kind, driver);
  } else if (idp_state_find(st, address)) {
    rc = idp_state_fail(err, IDP_STATE_EEXISTS, "the state already has a resource at %s", address);
  } else {
    idp_state_res *r = append(st, address, driver, NULL, NULL);
    st->dirty = true;
    if (out) *out = r;
  }
  free(kind);
  return rc;
}

int idp_state_remove(idp_state *st, const char *address, idp_state_error *err) {
  size_t slot = index_slot(st, address);
  if (slot == SIZE_MAX) return idp_state_fail(err, IDP_STATE_ENOTFOUND, "no resource %s in the state", address);
  size_t i = st->slots[slot] - 1;
  st->slots[slot] = SIZE_MAX; /* deleted: keeps probe chains intact */
  idp_state_res *r = st->res[i];
  size_t last = st->n - 1;
  if (i != last) { /* the last resource takes the freed position */
    size_t lslot = index_slot(st, st->res[last]->address);
    st->res[i] = st->res[last];
    st->res[i]->index = i;
    st->slots[lslot] = i + 1;
  }
  st->n--;
  res_free(r);
  st->dirty = true;
  return 0;
}

const char *idp_state_res_address(const idp_state_res *r) { return r->address; }
const char *idp_state_res_driver(const idp_state_res *r) { return r->driver; }
idp_state_status idp_state_res_status(const idp_state_res *r) { return r->status; }
size_t idp_state_res_ndeps(const idp_state_res *r) { return r->ndeps; }
const char *idp_state_res_dep(const idp_state_res *r, size_t i) { return i < r->ndeps ? r->deps[i] : NULL; }
const json_t *idp_state_res_map(const idp_state_res *r, idp_state_part part) { return r->maps[part]; }

void idp_state_res_set_status(idp_state *st, idp_state_res *r, idp_state_status s) {
  if (r->status != s) st->dirty = true;
  r->status = s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void idp_state_res_set_deps(idp_state *st, idp_state_res *r, const char *const *deps, size_t n) {
  char **v = idp_xmalloc((n ? n : 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = idp_xstrdup(deps[i]);
  qsort(v, n, sizeof *v, cmp_str);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k > 0 && strcmp(v[k - 1], v[i]) == 0) free(v[i]);
    else v[k++] = v[i];
  }
  bool same = k == r->ndeps;
  for (size_t i = 0; same && i < k; i++) same = strcmp(v[i], r->deps[i]) == 0;
  for (size_t i = 0; i < r->ndeps; i++) free(r->deps[i]);
  free(r->deps);
  r->deps = v;
  r->ndeps = k;
  if (!same) st->dirty = true;
}

/* True if v holds a {"$secret": ...} object anywhere (a plain value that would read back sealed). */
static bool holds_sealed(const json_t *v) {
  if (idp_state_is_sealed(v)) return true;
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) if (holds_sealed(x)) return true;
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (holds_sealed(x)) return true;
  }
  return false;
}

static char *attr_path(idp_state_part part, const char *name) {
  idp_buf b = {0};
  idp_buf_printf(&b, "%s/%s", idp_state_part_name(part), name);
  return b.data;
}

int idp_state_res_set(idp_state *st, idp_state_res *r, idp_state_part part, const char *name,
                      const json_t *value, bool secret, idp_state_error *err) {
  int rc = 0;
  json_t *map = r->maps[part], *old = json_object_get(map, name), *sealed = NULL, *opened = NULL;
  char *path = attr_path(part, name);
  if (!value) {
    if (old) {
      json_object_del(map, name);
      st->dirty = true;
    }
    goto done;
  }
  if (!secret) {
    if (holds_sealed(value)) {
      rc = idp_state_fail(err, IDP_STATE_EINVALID,
                          "%s of %s: a plain value may not contain an object whose only key is \"$secret\"", path,
                          r->address);
      goto done;
    }
    if (old && json_equal(old, (json_t *)value)) goto done;
    json_object_set_new(map, name, json_deep_copy(value));
    st->dirty = true;
    goto done;
  }
  /* The same plaintext keeps its ciphertext: a rewrite with nothing new is no change. */
  if (old && idp_state_is_sealed(old) && state_key(st) &&
      idp_state_unseal(&opened, state_key(st), r->address, path, old, NULL) == 0 && json_equal(opened, (json_t *)value))
    goto done;
  if ((rc = idp_state_seal(&sealed, state_key(st), r->address, path, value, err)) < 0) goto done;
  json_object_set_new(map, name, sealed);
  st->dirty = true;
done:
  json_decref(opened);
  free(path);
  return rc;
}

int idp_state_res_get(const idp_state *st, const idp_state_res *r, idp_state_part part, const char *name,
                      json_t **out, bool *secret, idp_state_error *err) {
  json_t *v = json_object_get(r->maps[part], name);
  *out = NULL;
  if (secret) *secret = false;
  if (!v) return idp_state_fail(err, IDP_STATE_ENOTFOUND, "%s has no %s attribute '%s'", r->address, idp_state_part_name(part), name);
  if (!idp_state_is_sealed(v)) {
    *out = json_incref(v);
    return 0;
  }
  if (secret) *secret = true;
  char *path = attr_path(part, name);
  int rc = idp_state_unseal(out, state_key(st), r->address, path, v, err);
  free(path);
  return rc;
}

/* --- secrets across the state --------------------------------------------------------------------- */

typedef int (*sealed_fn)(json_t **slot, const char *path, void *payload);

/* Calls fn on each sealed value under v (its path: prefix/key/index...). Stops at the first error. */
static int walk_sealed(json_t **slot, idp_buf *path, sealed_fn fn, void *payload) {
  json_t *v = *slot;
  if (idp_state_is_sealed(v)) return fn(slot, idp_buf_cstr(path), payload);
  size_t mark = path->len;
  int rc = 0;
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    void *it = json_object_iter(v);
    while (it && rc == 0) {
      k = json_object_iter_key(it);
      x = json_object_iter_value(it);
      idp_buf_putc(path, '/');
      idp_buf_puts(path, k);
      json_t *child = json_incref(x);
      json_t *orig = child;
      rc = walk_sealed(&child, path, fn, payload);
      if (child != orig) json_object_iter_set_new(v, it, child);
      else json_decref(child);
      path->len = mark;
      path->data[mark] = '\0';
      it = json_object_iter_next(v, it);
    }
  } else if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v) && rc == 0; i++) {
      idp_buf_printf(path, "/%zu", i);
      json_t *child = json_incref(json_array_get(v, i));
      json_t *orig = child;
      rc = walk_sealed(&child, path, fn, payload);
      if (child != orig) json_array_set_new(v, i, child);
      else json_decref(child);
      path->len = mark;
      path->data[mark] = '\0';
    }
  }
  return rc;
}

static int walk_res(idp_state_res *r, sealed_fn fn, void *payload) {
  int rc = 0;
  for (int p = 0; p < 2 && rc == 0; p++) {
    idp_buf path = {0};
    idp_buf_puts(&path, idp_state_part_name((idp_state_part)p));
    rc = walk_sealed(&r->maps[p], &path, fn, payload);
    idp_buf_free(&path);
  }
  return rc;
}

static int count_one(json_t **slot, const char *path, void *payload) {
  (void)slot;
  (void)path;
  ++*(size_t *)payload;
  return 1; /* one is enough */
}

bool idp_state_has_secrets(const idp_state *st) {
  for (size_t i = 0; i < st->n; i++) {
    size_t n = 0;
    walk_res(st->res[i], count_one, &n);
    if (n) return true;
  }
  return false;
}

typedef struct check_ctx {
  const idp_state *st;
  const idp_state_res *r;
  const char *origin;
  idp_state_error *err;
} check_ctx;

static int check_one(json_t **slot, const char *path, void *payload) {
  check_ctx *c = payload;
  json_t *plain = NULL;
  int rc = idp_state_unseal(&plain, state_key(c->st), c->r->address, path, *slot, c->err);
  json_decref(plain);
  if (rc < 0 && c->err && c->origin) {
    idp_buf msg = {0};
    idp_buf_printf(&msg, "%s: %s", c->origin, c->err->msg);
    size_t n = msg.len < sizeof c->err->msg - 1 ? msg.len : sizeof c->err->msg - 1;
    memcpy(c->err->msg, msg.data, n);
    c->err->msg[n] = '\0';
    idp_buf_free(&msg);
  }
  return rc;
}

int idp_state_check_secrets(const idp_state *st, const char *origin, idp_state_error *err) {
  for (size_t i = 0; i < st->n; i++) {
    check_ctx c = {st, st->res[i], origin, err};
    int rc = walk_res(st->res[i], check_one, &c);
    if (rc < 0) return rc;
  }
  return 0;
}

typedef struct reseal_ctx {
  const idp_state_key *key;
  const char *from, *to;
  idp_state_error *err;
} reseal_ctx;

static int reseal_one(json_t **slot, const char *path, void *payload) {
  reseal_ctx *c = payload;
  json_t *plain = NULL, *sealed = NULL;
  int rc = idp_state_unseal(&plain, c->key, c->from, path, *slot, c->err);
  if (rc == 0) rc = idp_state_seal(&sealed, c->key, c->to, path, plain, c->err);
  json_decref(plain);
  if (rc == 0) {
    json_decref(*slot);
    *slot = sealed;
  }
  return rc;
}

int idp_state_move(idp_state *st, const char *from, const char *to, idp_state_error *err) {
  int rc = 0;
  char *from_kind = NULL, *to_kind = NULL;
  json_t *maps[2] = {NULL, NULL};
  idp_state_res *r = idp_state_find(st, from);
  if (!r) {
    rc = idp_state_fail(err, IDP_STATE_ENOTFOUND, "no resource %s in the state", from);
    goto done;
  }
  if ((rc = check_address(st, to, &to_kind, err)) < 0) goto done;
  if (strcmp(to_kind, r->driver) != 0) {
    rc = idp_state_fail(err, IDP_STATE_EINVALID, "cannot move %s (a %s) to %s: that address names a %s", from, r->driver,
                        to, to_kind);
    goto done;
  }
  if (strcmp(from, to) == 0) goto done;
  if (idp_state_find(st, to)) {
    rc = idp_state_fail(err, IDP_STATE_EEXISTS, "cannot move %s to %s: the state already has a resource there", from, to);
    goto done;
  }
  /* Re-seal on copies, so a failure leaves the resource as it was. */
  maps[0] = json_deep_copy(r->maps[0]);
  maps[1] = json_deep_copy(r->maps[1]);
  reseal_ctx c = {state_key(st), from, to, err};
  for (int p = 0; p < 2 && rc == 0; p++) {
    idp_buf path = {0};
    idp_buf_puts(&path, idp_state_part_name((idp_state_part)p));
    rc = walk_sealed(&maps[p], &path, reseal_one, &c);
    idp_buf_free(&path);
  }
  if (rc < 0) {
    if (rc == IDP_STATE_ENOKEY && err)
      idp_state_fail(err, rc, "cannot move %s: it holds secrets, sealed for its address, and IDP_STATE_KEY is not set\n%s",
                     from, idp_state_key_hint);
    goto done;
  }
  for (int p = 0; p < 2; p++) {
    json_decref(r->maps[p]);
    r->maps[p] = maps[p];
    maps[p] = NULL;
  }
  st->slots[index_slot(st, from)] = SIZE_MAX;
  free(r->address);
  r->address = idp_xstrdup(to);
  index_insert(st, r->index);
  /* Dependencies on it in this state follow the move. */
  for (size_t i = 0; i < st->n; i++) {
    idp_state_res *o = st->res[i];
    for (size_t k = 0; k < o->ndeps; k++)
      if (strcmp(o->deps[k], from) == 0) {
        const char **v = idp_xmalloc(o->ndeps * sizeof *v);
        for (size_t j = 0; j < o->ndeps; j++) v[j] = j == k ? to : o->deps[j];
        idp_state_res_set_deps(st, o, v, o->ndeps);
        free(v);
        break;
      }
  }
  st->dirty = true;
done:
  json_decref(maps[0]);
  json_decref(maps[1]);
  free(from_kind);
  free(to_kind);
  return rc;
}

/* --- the file format ------------------------------------------------------------------------------ */

char *idp_state_dump(const idp_state *st) {
  json_t *root = json_object(), *list = json_array();
  json_object_set_new(root, "version", json_integer(st->version));
  json_object_set_new(root, "lineage", st->lineage ? json_string(st->lineage) : json_null());
  json_object_set_new(root, "serial", json_integer(st->serial));
  json_object_set_new(root, "env", st->env ? json_string(st->env) : json_null());
  if (st->env_type) json_object_set_new(root, "env_type", json_string(st->env_type));
  if (st->pins) json_object_set(root, "pins", st->pins);
  idp_state_res **v = idp_state_sorted(st);
  for (size_t i = 0; i < st->n; i++) {
    idp_state_res *r = v[i];
    json_t *deps = json_array();
    for (size_t k = 0; k < r->ndeps; k++) json_array_append_new(deps, json_string(r->deps[k]));
    json_t *o = json_object();
    json_object_set_new(o, "address", json_string(r->address));
    json_object_set_new(o, "driver", json_string(r->driver));
    json_object_set_new(o, "status", json_string(idp_state_status_name(r->status)));
    json_object_set_new(o, "dependencies", deps);
    json_object_set(o, "inputs", r->maps[0]);
    json_object_set(o, "outputs", r->maps[1]);
    json_array_append_new(list, o);
  }
  free(v);
  json_object_set_new(root, "resources", list);
  char *text = json_dumps(root, JSON_INDENT(2));
  json_decref(root);
  if (!text) return NULL;
  size_t n = strlen(text);
  char *out = idp_xmalloc(n + 2);
  memcpy(out, text, n);
  out[n] = '\n';
  out[n + 1] = '\0';
  free(text);
  return out;
}

/* Refuses a key of obj that is not in allowed[0..n). */
static int only_keys(json_t *obj, const char *const *allowed, size_t n, const char *origin, const char *where,
                     idp_state_error *err) {
  const char *k;
  json_t *x;
  json_object_foreach(obj, k, x) {
    bool ok = false;
    for (size_t i = 0; i < n && !ok; i++) ok = strcmp(k, allowed[i]) == 0;
    if (!ok)
      return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: unknown key \"%s\" in %s (state format %d)", origin, k, where,
                            IDP_STATE_FORMAT_VERSION);
  }
  return 0;
}

/* True if every sealed-looking value under v is well formed. (No walk_sealed: it builds each
 * value's path, which only opening needs, and a state is checked whole on every read.) */
static bool sealed_shape_ok(const json_t *v) {
  if (idp_state_is_sealed(v)) return strncmp(json_string_value(json_object_get(v, "$secret")), "v1:", 3) == 0;
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) if (!sealed_shape_ok(x)) return false;
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (!sealed_shape_ok(x)) return false;
  }
  return true;
}

static int parse_resource(idp_state *st, json_t *o, size_t i, const char *origin, idp_state_error *err) {
  static const char *const keys[] = {"address", "driver", "status", "dependencies", "inputs", "outputs"};
  char where[64];
  snprintf(where, sizeof where, "resources[%zu]", i);
  if (!json_is_object(o)) return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: %s is not an object", origin, where);
  int rc = only_keys(o, keys, 6, origin, where, err);
  if (rc < 0) return rc;
  json_t *addr = json_object_get(o, "address"), *drv = json_object_get(o, "driver"), *status = json_object_get(o, "status");
  json_t *deps = json_object_get(o, "dependencies"), *in = json_object_get(o, "inputs"), *out = json_object_get(o, "outputs");
  if (!json_is_string(addr) || !json_is_string(drv) || !json_is_string(status))
    return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: %s needs the strings \"address\", \"driver\" and \"status\"",
                          origin, where);
  const char *address = json_string_value(addr);
  idp_state_status s;
  if (idp_state_status_parse(json_string_value(status), &s) < 0)
    return idp_state_fail(err, IDP_STATE_EREFUSED,
                          "%s: %s (%s) has the unknown status \"%s\" (want created, pending-create, tainted or deleting)",
                          origin, where, address, json_string_value(status));
  if ((deps && !json_is_array(deps)) || (in && !json_is_object(in)) || (out && !json_is_object(out)))
    return idp_state_fail(err, IDP_STATE_EREFUSED,
                          "%s: %s (%s): \"dependencies\" must be an array, \"inputs\" and \"outputs\" objects", origin,
                          where, address);
  idp_state_error aerr; /* 2 KiB: not cleared whole for each resource, only its message */
  aerr.code = 0;
  aerr.msg[0] = '\0';
  char *kind = NULL;
  if (check_address(st, address, &kind, &aerr) < 0)
    return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: %s: %s", origin, where, aerr.msg);
  bool kind_ok = strcmp(kind, json_string_value(drv)) == 0;
  free(kind);
  if (!kind_ok)
    return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: %s: address %s does not end with its driver kind %s", origin,
                          where, address, json_string_value(drv));
  if (idp_state_find(st, address))
    return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: %s: the address %s appears twice", origin, where, address);
  idp_state_res *r = append(st, address, json_string_value(drv), in, out);
  r->status = s;
  size_t nd = json_array_size(deps);
  const char **dv = idp_xmalloc((nd ? nd : 1) * sizeof *dv);
  for (size_t k = 0; k < nd; k++) {
    dv[k] = json_string_value(json_array_get(deps, k));
    if (!dv[k]) {
      free(dv);
      return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: %s (%s): dependencies[%zu] is not a string", origin, where,
                            address, k);
    }
  }
  idp_state_res_set_deps(st, r, dv, nd);
  free(dv);
  if (!sealed_shape_ok(r->maps[IDP_STATE_INPUTS]) || !sealed_shape_ok(r->maps[IDP_STATE_OUTPUTS]))
    return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: %s (%s): a \"$secret\" value is not of the form \"v1:<base64>\"",
                          origin, where, address);
  return 0;
}

/* "pins": an object of apps, each {"image": string, and optionally "pipeline", "run", "at":
 * strings}, in an environment's state only. */
static int check_pins(json_t *pins, bool in_env, const char *origin, idp_state_error *err) {
  static const char *const keys[] = {"image", "pipeline", "run", "at"};
  if (!json_is_object(pins) || !in_env)
    return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: \"pins\" must be an object, in an environment's state only", origin);
  const char *app;
  json_t *p;
  json_object_foreach(pins, app, p) {
    char where[96];
    snprintf(where, sizeof where, "the pin of app %.60s", app);
    if (!json_is_object(p) || !json_is_string(json_object_get(p, "image")))
      return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: %s must be an object with an \"image\" string", origin, where);
    int rc = only_keys(p, keys, 4, origin, where, err);
    if (rc < 0) return rc;
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v) if (!json_is_string(v))
      return idp_state_fail(err, IDP_STATE_EREFUSED, "%s: \"%s\" of %s must be a string", origin, k, where);
  }
  return 0;
}

int idp_state_parse(idp_state **out, const char *text, size_t len, const char *origin, idp_state_error *err) {
  static const char *const keys[] = {"version", "lineage", "serial", "env", "env_type", "pins", "resources"};
  int rc = 0;
  idp_state *st = NULL;
  json_error_t jerr;
  *out = NULL;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED, "%s:%d:%d: malformed state file: %s", origin, jerr.line, jerr.column,
                        jerr.text);
    goto done;
  }
  if (!json_is_object(root)) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED, "%s: malformed state file: the top level is not an object", origin);
    goto done;
  }
  json_t *ver = json_object_get(root, "version");
  if (!json_is_integer(ver) || json_integer_value(ver) < 1) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED, "%s: not an idp state file: no positive integer \"version\"", origin);
    goto done;
  }
  if (json_integer_value(ver) > IDP_STATE_FORMAT_VERSION) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED,
                        "%s: state format version %lld is newer than this idp supports (%d): upgrade idp; the file is "
                        "left untouched",
                        origin, (long long)json_integer_value(ver), IDP_STATE_FORMAT_VERSION);
    goto done;
  }
  if ((rc = only_keys(root, keys, 7, origin, "the top level", err)) < 0) goto done;
  json_t *lineage = json_object_get(root, "lineage"), *serial = json_object_get(root, "serial");
  json_t *env = json_object_get(root, "env"), *env_type = json_object_get(root, "env_type");
  json_t *res = json_object_get(root, "resources");
  if (!json_is_string(lineage) || json_string_length(lineage) != 36 || !json_is_integer(serial) ||
      json_integer_value(serial) < 1) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED, "%s: \"lineage\" must be a UUID and \"serial\" a positive integer", origin);
    goto done;
  }
  if (!(json_is_null(env) || (json_is_string(env) && idp_state_env_name_ok(json_string_value(env))))) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED, "%s: \"env\" must be an environment name, or null for the shared state",
                        origin);
    goto done;
  }
  if (env_type && !(json_is_string(env_type) && json_is_string(env))) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED, "%s: \"env_type\" must be a string, in an environment's state only", origin);
    goto done;
  }
  if (!json_is_array(res)) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED, "%s: \"resources\" must be an array", origin);
    goto done;
  }
  json_t *pins = json_object_get(root, "pins");
  if (pins && (rc = check_pins(pins, json_is_string(env), origin, err)) < 0) goto done;
  st = idp_state_new(json_string_value(env), json_string_value(env_type));
  if (pins) st->pins = json_incref(pins);
  st->version = (int)json_integer_value(ver);
  st->lineage = idp_xstrdup(json_string_value(lineage));
  st->serial = json_integer_value(serial);
  for (size_t i = 0; i < json_array_size(res); i++)
    if ((rc = parse_resource(st, json_array_get(res, i), i, origin, err)) < 0) goto done;
  st->dirty = false;
  *out = st;
  st = NULL;
done:
  idp_state_free(st);
  json_decref(root);
  return rc;
}
