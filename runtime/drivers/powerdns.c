/* powerdns.c - PowerDNS Authoritative through its HTTP API: zones and record sets (rrsets).
 *
 * Every call goes through api(): METHOD API/api/v1/servers/SERVER_ID/..., the X-API-Key header,
 * JSON in and out, and on failure one line `METHOD PATH: STATUS MESSAGE` with PowerDNS's own
 * message ({"error": "..."}) and never the key. Tested against a real pdns_server 4.7
 * (tests/drivers/powerdns.sh). */
#include "driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include <jansson.h>

#include "arena.h"
#include "http.h"
#include "value.h"

/* --- calling the API -------------------------------------------------------------------------- */

/* One integration's API, from a resource's `server` input (the integration's inputs). */
typedef struct pdns {
  idp_drv_ctx *ctx;
  const char *origin;     /* scheme://host[:port] of the `api` input */
  const char *base;       /* [prefix]/api/v1/servers/SERVER_ID: the start of every path */
  const char *key;        /* the API key: sent, and scrubbed from every message */
  const char *key_header; /* "X-API-Key: KEY" (secret) */
} pdns;

/* s percent-encoded for a URL path segment or query value (unreserved characters kept). */
static const char *url_enc(idp_arena *a, const char *s) {
  size_t n = strlen(s);
  char *out = idp_arena_alloc(a, 3 * n + 1), *o = out;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
      *o++ = (char)*p;
    else
      o += sprintf(o, "%%%02X", *p);
  }
  *o = '\0';
  return out;
}

/* The string under key in map m, or NULL (absent, null or not a string). */
static const char *str_at(const idp_value *m, const char *key) {
  const idp_value *v = m && m->kind == IDP_V_MAP ? idp_map_get(m, key, strlen(key)) : NULL;
  return v && v->kind == IDP_V_STRING ? v->u.string.s : NULL;
}

static const idp_value *map_at(const idp_value *m, const char *key) {
  const idp_value *v = m && m->kind == IDP_V_MAP ? idp_map_get(m, key, strlen(key)) : NULL;
  return v && v->kind == IDP_V_MAP ? v : NULL;
}

/* The string input key of in, which must be set. */
static int need_str(idp_drv_ctx *ctx, const idp_value *in, const char *key, const char **out) {
  if (!(*out = str_at(in, key)) || !**out) return idp_drv_fail(ctx, "input '%s' is missing or not a string", key);
  return 0;
}

/* Opens the API of the integration in input `server` of in. */
static int pdns_open(idp_drv_ctx *ctx, const idp_value *in, pdns *p) {
  *p = (pdns){.ctx = ctx};
  const idp_value *server = map_at(in, "server");
  const char *api, *sid = str_at(server, "server_id");
  if (!server) return idp_drv_fail(ctx, "input 'server' is missing: it takes a powerdns integration");
  if (!(api = str_at(server, "api")) || !(p->key = str_at(server, "api_key")) || !*p->key)
    return idp_drv_fail(ctx, "the powerdns integration needs 'api' and 'api_key'");
  const char *host = strstr(api, "://");
  if (!host || host == api || !host[3]) return idp_drv_fail(ctx, "api '%s' is not a URL such as http://127.0.0.1:8081", api);
  const char *slash = strchr(host + 3, '/');
  size_t olen = slash ? (size_t)(slash - api) : strlen(api), plen = slash ? strlen(slash) : 0;
  while (plen && slash[plen - 1] == '/') plen--;
  p->origin = idp_arena_strndup(ctx->arena, api, olen);
  p->base = idp_arena_sprintf(ctx->arena, "%.*s/api/v1/servers/%s", (int)plen, slash ? slash : "",
                              url_enc(ctx->arena, sid && *sid ? sid : "localhost"));
  p->key_header = idp_arena_sprintf(ctx->arena, "X-API-Key: %s", p->key);
  return 0;
}

/* Replaces every occurrence of the key in ctx->err: PowerDNS's text must not leak it. */
static void scrub(pdns *p) {
  size_t kl = strlen(p->key);
  if (!kl || !strstr(p->ctx->err, p->key)) return;
  char out[sizeof p->ctx->err];
  size_t o = 0;
  for (const char *s = p->ctx->err; *s && o + 1 < sizeof out;) {
    if (strncmp(s, p->key, kl) == 0) {
      o += (size_t)snprintf(out + o, sizeof out - o, "(api key)");
      s += kl;
    } else {
      out[o++] = *s++;
    }
  }
  out[o < sizeof out ? o : sizeof out - 1] = '\0';
  memcpy(p->ctx->err, out, sizeof out);
}

/* PowerDNS's message in an error answer: {"error": "..."}, else the body's first line (its plain
 * "Not Found", "Unauthorized", "Conflict"). */
static void error_text(const idp_http_resp *rs, const json_t *j, char *out, size_t size) {
  const char *e = json_string_value(json_object_get(j, "error"));
  if (e) {
    snprintf(out, size, "%s", e);
    return;
  }
  size_t n = 0;
  while (n < rs->body_len && n < 200 && rs->body[n] != '\n' && rs->body[n] != '\r' && rs->body[n] != '\0') n++;
  snprintf(out, size, "%.*s", (int)n, rs->body);
}

/* Calls the API: METHOD p->base + path (+ "?" query when not NULL), body (may be NULL) sent as
 * JSON. A 2xx answer, or one with status `allow` (0: none), returns 0 with *status and *out (the
 * parsed JSON answer, NULL when empty or not JSON; the caller json_decref's it). Anything else
 * returns -1 with ctx->err `METHOD PATH: STATUS MESSAGE`. */
enum { PDNS_BUSY_RETRIES = 10 };

static int api(pdns *p, const char *method, const char *path, const char *query, json_t *body, long allow,
               long *status, json_t **out) {
  idp_drv_ctx *ctx = p->ctx;
  idp_arena *a = ctx->arena;
  *out = NULL;
  const char *full = idp_arena_sprintf(a, "%s%s", p->base, path);
  const char *url = idp_arena_sprintf(a, "%s%s%s%s", p->origin, full, query ? "?" : "", query ? query : "");
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  const char *headers[] = {p->key_header, "Accept: application/json", "Content-Type: application/json"};
  idp_http_req rq = {.method = method, .url = url, .headers = headers, .nheaders = text ? 3 : 2,
                     .body = text, .body_len = text ? strlen(text) : 0, .timeout_s = 30};
  idp_http_resp rs;
  char err[600];
  int rc = idp_http_do(ctx->http, &rq, &rs, err, sizeof err);
  /* PowerDNS answers a bare 500 when its backend is busy (gsqlite3: "database is locked" while
   * another change to the zone commits). Every call here is idempotent (REPLACE, DELETE, a POST
   * that answers 409 once done), so a 500 is tried again a few times, backing off. */
  for (unsigned retry = 1; rc == 0 && rs.status == 500 && retry <= PDNS_BUSY_RETRIES; retry++) {
    double d = idp_http_backoff(retry, 0.05, 2.0, arc4random() / 4294967296.0);
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
    idp_http_resp_free(&rs);
    rc = idp_http_do(ctx->http, &rq, &rs, err, sizeof err);
  }
  free(text);
  if (rc < 0) {
    idp_drv_fail(ctx, "%s", err);
    scrub(p);
    return -1;
  }
  *status = rs.status;
  json_t *j = rs.body_len ? json_loadb(rs.body, rs.body_len, 0, NULL) : NULL;
  if ((rs.status >= 200 && rs.status < 300) || rs.status == allow) {
    *out = j;
  } else {
    char msg[400];
    error_text(&rs, j, msg, sizeof msg);
    json_decref(j);
    idp_drv_fail(ctx, "%s %s: %ld %s%s", method, full, rs.status, msg,
                 rs.status == 401 || rs.status == 403 ? " (check the integration's api_key)" : "");
    scrub(p);
    rc = -1;
  }
  idp_http_resp_free(&rs);
  return rc;
}

/* A 404 for a zone means it is gone only if the server itself answers: a wrong server_id or api
 * path gives 404 for everything, and must not read as "every zone was deleted". */
static int confirm_gone(pdns *p) {
  long st;
  json_t *j;
  if (api(p, "GET", "", NULL, NULL, 404, &st, &j) < 0) return -1;
  json_decref(j);
  if (st == 404)
    return idp_drv_fail(p->ctx, "GET %s: 404 Not Found: no such server (check the integration's api and server_id)", p->base);
  return 0;
}

/* --- values ----------------------------------------------------------------------------------- */

static void put(idp_map_builder *mb, const char *key, idp_value *v) { idp_map_builder_add(mb, key, strlen(key), v); }

/* Names must be fully qualified: PowerDNS answers 422 "not canonical" otherwise. */
static int need_fqdn(idp_drv_ctx *ctx, const char *what, const char *name) {
  size_t n = strlen(name);
  if (n && name[n - 1] == '.') return 0;
  return idp_drv_fail(ctx, "%s '%s' is not fully qualified: it must end in '.' (%s.)", what, name, name);
}

/* The list of strings under key in in as a JSON array (absent: empty). */
static int str_list_json(idp_drv_ctx *ctx, const idp_value *in, const char *key, json_t **out) {
  const idp_value *v = idp_map_get(in, key, strlen(key));
  *out = json_array();
  if (!v || v->kind == IDP_V_NULL) return 0;
  if (v->kind != IDP_V_LIST) goto bad;
  for (size_t i = 0; i < v->u.list.n; i++) {
    if (v->u.list.items[i]->kind != IDP_V_STRING) goto bad;
    json_array_append_new(*out, json_string(v->u.list.items[i]->u.string.s));
  }
  return 0;
bad:
  json_decref(*out);
  *out = NULL;
  return idp_drv_fail(ctx, "input '%s' must be a list of strings", key);
}

/* Do the string arrays x and y hold the same strings, in any order? (rrsets have no duplicates) */
static bool same_set(const json_t *x, const json_t *y) {
  if (json_array_size(x) != json_array_size(y)) return false;
  for (size_t i = 0; i < json_array_size(x); i++) {
    const char *s = json_string_value(json_array_get(x, i));
    bool found = false;
    for (size_t k = 0; k < json_array_size(y) && !found; k++)
      found = s && json_string_value(json_array_get(y, k)) && strcmp(s, json_string_value(json_array_get(y, k))) == 0;
    if (!found) return false;
  }
  return true;
}

/* The list value of the string array have; in the order of the prior's list under key when it
 * holds the same strings, so a set the server returns in its own order reads as no drift. */
static idp_value *list_like(idp_arena *a, const json_t *have, const idp_value *prior_in, const char *key) {
  const idp_value *like = prior_in ? idp_map_get(prior_in, key, strlen(key)) : NULL;
  json_t *lj = like ? idp_value_to_json(like, NULL) : NULL;
  if (lj && same_set(have, lj)) have = lj;
  size_t n = json_array_size(have);
  idp_value **items = idp_arena_alloc(a, (n ? n : 1) * sizeof *items);
  for (size_t i = 0; i < n; i++) {
    const char *s = json_string_value(json_array_get(have, i));
    items[i] = idp_value_cstring(a, s ? s : "");
  }
  idp_value *v = idp_value_list(a, items, n);
  json_decref(lj);
  return v;
}

/* The contents of the enabled records of the rrset NAME/TYPE in zone z, as a new JSON array; *ttl
 * gets its ttl. NULL when z has no such rrset. */
static json_t *rrset_records(const json_t *z, const char *name, const char *type, json_int_t *ttl) {
  size_t i;
  json_t *rr;
  json_array_foreach(json_object_get(z, "rrsets"), i, rr) {
    const char *n = json_string_value(json_object_get(rr, "name")), *t = json_string_value(json_object_get(rr, "type"));
    if (!n || !t || strcasecmp(n, name) != 0 || strcasecmp(t, type) != 0) continue;
    json_t *out = json_array(), *rec;
    size_t k;
    json_array_foreach(json_object_get(rr, "records"), k, rec) {
      const char *c = json_string_value(json_object_get(rec, "content"));
      if (c && !json_is_true(json_object_get(rec, "disabled"))) json_array_append_new(out, json_string(c));
    }
    if (ttl) *ttl = json_integer_value(json_object_get(rr, "ttl"));
    return out;
  }
  return NULL;
}

/* PATCHes one rrset of zone id: REPLACE with records (a JSON array of contents; stolen), or
 * DELETE when records is NULL. A 404 (no such zone) returns 0 with *status 404 when allow404. */
static int patch_rrset(pdns *p, const char *zone_id, const char *name, const char *type, json_int_t ttl,
                       json_t *records, bool allow404, long *status) {
  json_t *rr = json_pack("{s:s, s:s, s:s}", "name", name, "type", type, "changetype", records ? "REPLACE" : "DELETE");
  if (records) {
    json_t *recs = json_array(), *c;
    size_t i;
    json_array_foreach(records, i, c) json_array_append_new(recs, json_pack("{s:O, s:b}", "content", c, "disabled", 0));
    json_object_set_new(rr, "ttl", json_integer(ttl));
    json_object_set_new(rr, "records", recs);
    json_decref(records);
  }
  json_t *body = json_pack("{s:[o]}", "rrsets", rr), *ans;
  const char *path = idp_arena_sprintf(p->ctx->arena, "/zones/%s", zone_id);
  int rc = api(p, "PATCH", path, NULL, body, allow404 ? 404 : 0, status, &ans);
  json_decref(body);
  json_decref(ans);
  return rc;
}

/* --- powerdns.zone ---------------------------------------------------------------------------- */

/* The zone's id in the API for a zone name, as PowerDNS makes it (apiZoneNameToId): characters
 * other than letters, digits, '.' and '-' become =XX. */
static const char *zone_id_of(idp_arena *a, const char *name) {
  size_t n = strlen(name);
  char *out = idp_arena_alloc(a, 3 * n + 5), *o = out;
  for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
    if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '-')
      *o++ = (char)*s;
    else
      o += sprintf(o, "=%02X", *s);
  }
  if (o == out || o[-1] != '.') *o++ = '.';
  *o = '\0';
  return strcmp(out, ".") == 0 ? "=2E" : out;
}

/* The zone id a prior names: its recorded output, else (an intent recorded before a crash) the
 * one its name gives. */
static const char *prior_zone_id(idp_arena *a, const idp_value *prior) {
  const char *id = str_at(map_at(prior, "outputs"), "id");
  const char *name = str_at(map_at(prior, "inputs"), "name");
  return id && *id ? id : name ? zone_id_of(a, name) : NULL;
}

static const char *const zone_kinds[] = {"Native", "Master", "Slave", "Producer", "Consumer"};

/* The zone's settings from in: name, kind (checked: PowerDNS takes an unknown kind as Native
 * without a word), masters, soa_edit_api, account. */
static int zone_settings(idp_drv_ctx *ctx, const idp_value *in, json_t **out) {
  const char *name, *kind = str_at(in, "kind"), *soa = str_at(in, "soa_edit_api"), *account = str_at(in, "account");
  json_t *masters;
  if (need_str(ctx, in, "name", &name) < 0 || need_fqdn(ctx, "zone name", name) < 0) return -1;
  if (!kind) kind = "Native";
  bool known = false;
  for (size_t i = 0; i < IDP_DRV_N(zone_kinds); i++) known |= strcmp(kind, zone_kinds[i]) == 0;
  if (!known) return idp_drv_fail(ctx, "zone kind '%s' is not one of Native, Master, Slave, Producer, Consumer", kind);
  if (str_list_json(ctx, in, "masters", &masters) < 0) return -1;
  *out = json_pack("{s:s, s:s, s:o, s:s, s:s}", "name", name, "kind", kind, "masters", masters, "soa_edit_api",
                   soa ? soa : "DEFAULT", "account", account ? account : "");
  return 0;
}

/* GETs zone id with its apex NS rrset only; *z gets it, or NULL when the zone does not exist. */
static int zone_get(pdns *p, const char *id, const char *name, json_t **z) {
  idp_arena *a = p->ctx->arena;
  long st;
  const char *q = idp_arena_sprintf(a, "rrset_name=%s&rrset_type=NS", url_enc(a, name));
  if (api(p, "GET", idp_arena_sprintf(a, "/zones/%s", id), q, NULL, 404, &st, z) < 0) return -1;
  if (st == 404) {
    json_decref(*z);
    *z = NULL;
    return confirm_gone(p);
  }
  if (!json_is_object(*z)) {
    json_decref(*z);
    *z = NULL;
    return idp_drv_fail(p->ctx, "GET %s/zones/%s: the answer is not a JSON object", p->base, id);
  }
  return 0;
}

/* The outputs of zone z: {id, serial}. */
static idp_value *zone_outputs_of(idp_arena *a, const json_t *z, const char *id) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  const char *zid = json_string_value(json_object_get(z, "id"));
  put(&mb, "id", idp_value_cstring(a, zid ? zid : id));
  put(&mb, "serial", idp_value_number(a, (double)json_integer_value(json_object_get(z, "serial"))));
  return idp_map_builder_build(&mb, NULL);
}

/* Brings the existing zone id to the settings and nameservers of in (update, and create's
 * adoption): PUT its settings, REPLACE the apex NS rrset when it differs (decision 13: in place). */
static int zone_converge(pdns *p, const idp_value *in, const char *id, idp_value **outputs) {
  json_t *want = NULL, *ns = NULL, *z = NULL, *cur = NULL, *ans = NULL;
  long st;
  int rc = -1;
  const char *name, *path = idp_arena_sprintf(p->ctx->arena, "/zones/%s", id);
  if (zone_settings(p->ctx, in, &want) < 0 || str_list_json(p->ctx, in, "nameservers", &ns) < 0) goto done;
  name = str_at(in, "name"); /* checked by zone_settings */
  if (zone_get(p, id, name, &z) < 0) goto done;
  if (!z) {
    idp_drv_fail(p->ctx, "zone %s does not exist on the server (any more)", name);
    goto done;
  }
  json_object_del(want, "name");
  if (api(p, "PUT", path, NULL, want, 0, &st, &ans) < 0) goto done;
  json_int_t ttl = 3600; /* PowerDNS's default-ttl, what its own NS records get */
  if (!(cur = rrset_records(z, name, "NS", &ttl))) cur = json_array();
  if (!same_set(cur, ns)) {
    bool none = json_array_size(ns) == 0;
    if (patch_rrset(p, id, name, "NS", ttl, none ? NULL : json_incref(ns), false, &st) < 0) goto done;
    json_decref(z);
    if (zone_get(p, id, name, &z) < 0) goto done; /* the serial moved */
    if (!z) {
      idp_drv_fail(p->ctx, "zone %s vanished while it was updated", name);
      goto done;
    }
  }
  *outputs = zone_outputs_of(p->ctx->arena, z, id);
  rc = 0;
done:
  json_decref(want);
  json_decref(ns);
  json_decref(z);
  json_decref(cur);
  json_decref(ans);
  return rc;
}

static int zone_create(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  pdns p;
  json_t *body = NULL, *ns = NULL, *z = NULL;
  long st;
  int rc = -1;
  if (pdns_open(ctx, inputs, &p) < 0 || zone_settings(ctx, inputs, &body) < 0 ||
      str_list_json(ctx, inputs, "nameservers", &ns) < 0)
    goto done;
  const char *name = str_at(inputs, "name");
  if (!str_at(inputs, "account")) json_object_del(body, "account");
  json_object_set(body, "nameservers", ns);
  if (api(&p, "POST", "/zones", NULL, body, 409, &st, &z) < 0) goto done;
  if (st == 409) { /* already there (decision 11): adopt it */
    rc = zone_converge(&p, inputs, zone_id_of(ctx->arena, name), outputs);
    goto done;
  }
  if (!json_is_object(z)) {
    idp_drv_fail(ctx, "POST %s/zones: %ld: the answer is not a JSON object", p.base, st);
    goto done;
  }
  *outputs = zone_outputs_of(ctx->arena, z, zone_id_of(ctx->arena, name));
  rc = 0;
done:
  json_decref(body);
  json_decref(ns);
  json_decref(z);
  return rc;
}

static int zone_update(idp_drv_ctx *ctx, const idp_value *prior, const idp_value *inputs, idp_value **outputs) {
  pdns p;
  const char *name, *id = prior_zone_id(ctx->arena, prior);
  if (pdns_open(ctx, inputs, &p) < 0 || need_str(ctx, inputs, "name", &name) < 0) return -1;
  return zone_converge(&p, inputs, id ? id : zone_id_of(ctx->arena, name), outputs);
}

static int zone_read(idp_drv_ctx *ctx, const idp_value *prior, idp_value **out) {
  idp_arena *a = ctx->arena;
  const idp_value *pin = map_at(prior, "inputs");
  const char *name, *id = prior_zone_id(a, prior);
  pdns p;
  json_t *z;
  *out = NULL;
  if (pdns_open(ctx, pin, &p) < 0 || need_str(ctx, pin, "name", &name) < 0 || zone_get(&p, id, name, &z) < 0)
    return -1;
  if (!z) return 0;
  idp_map_builder in;
  idp_map_builder_init(&in, a);
  put(&in, "server", idp_map_get(pin, "server", 6));
  const char *zname = json_string_value(json_object_get(z, "name")), *kind = json_string_value(json_object_get(z, "kind"));
  const char *soa = json_string_value(json_object_get(z, "soa_edit_api")), *account = json_string_value(json_object_get(z, "account"));
  put(&in, "name", idp_value_cstring(a, zname ? zname : name));
  put(&in, "kind", idp_value_cstring(a, kind ? kind : ""));
  put(&in, "soa_edit_api", idp_value_cstring(a, soa ? soa : ""));
  /* PowerDNS keeps "" for no account: absent, as when the input is not set. */
  if ((account && *account) || str_at(pin, "account")) put(&in, "account", idp_value_cstring(a, account ? account : ""));
  put(&in, "masters", list_like(a, json_object_get(z, "masters"), pin, "masters"));
  json_t *ns = rrset_records(z, name, "NS", NULL);
  if (!ns) ns = json_array();
  put(&in, "nameservers", list_like(a, ns, pin, "nameservers"));
  json_decref(ns);
  idp_map_builder st;
  idp_map_builder_init(&st, a);
  put(&st, "inputs", idp_map_builder_build(&in, NULL));
  put(&st, "outputs", zone_outputs_of(a, z, id));
  *out = idp_map_builder_build(&st, NULL);
  json_decref(z);
  return 0;
}

static int zone_delete(idp_drv_ctx *ctx, const idp_value *prior) {
  pdns p;
  long st;
  json_t *ans;
  const char *id = prior_zone_id(ctx->arena, prior);
  if (pdns_open(ctx, map_at(prior, "inputs"), &p) < 0) return -1;
  if (!id) return idp_drv_fail(ctx, "the prior state names no zone");
  if (api(&p, "DELETE", idp_arena_sprintf(ctx->arena, "/zones/%s", id), NULL, NULL, 404, &st, &ans) < 0) return -1;
  json_decref(ans);
  return st == 404 ? confirm_gone(&p) : 0; /* already gone: done */
}

/* --- powerdns.record -------------------------------------------------------------------------- */

/* An rrset's identity: the zone it lives in, its name and type. */
typedef struct rrset_key {
  const char *zone, *zone_id, *name, *type;
} rrset_key;

static int rrset_key_of(idp_drv_ctx *ctx, const idp_value *in, rrset_key *k) {
  if (need_str(ctx, in, "zone", &k->zone) < 0 || need_str(ctx, in, "name", &k->name) < 0 ||
      need_str(ctx, in, "type", &k->type) < 0 || need_fqdn(ctx, "zone", k->zone) < 0 ||
      need_fqdn(ctx, "record name", k->name) < 0)
    return -1;
  k->zone_id = zone_id_of(ctx->arena, k->zone);
  return 0;
}

static idp_value *record_outputs_of(idp_arena *a, const rrset_key *k) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  put(&mb, "id", idp_value_cstring(a, idp_arena_sprintf(a, "%s/%s/%s", k->zone, k->name, k->type)));
  return idp_map_builder_build(&mb, NULL);
}

/* create and update: REPLACE is idempotent, so a create that finds the rrset there adopts it. */
static int record_put(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  pdns p;
  rrset_key k;
  json_t *records;
  long st;
  const idp_value *ttl = idp_map_get(inputs, "ttl", 3);
  if (pdns_open(ctx, inputs, &p) < 0 || rrset_key_of(ctx, inputs, &k) < 0) return -1;
  double t = ttl && ttl->kind == IDP_V_NUMBER ? ttl->u.number : ttl ? -1 : 300;
  if (!(t >= 0 && t <= 2147483647.0 && t == (double)(json_int_t)t))
    return idp_drv_fail(ctx, "ttl must be a whole number of seconds from 0 to 2147483647");
  if (str_list_json(ctx, inputs, "records", &records) < 0) return -1;
  if (json_array_size(records) == 0) {
    json_decref(records);
    return idp_drv_fail(ctx, "records is empty: an rrset needs at least one record (remove the resource to delete it)");
  }
  if (patch_rrset(&p, k.zone_id, k.name, k.type, (json_int_t)t, records, false, &st) < 0) return -1;
  *outputs = record_outputs_of(ctx->arena, &k);
  return 0;
}

static int record_create(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  return record_put(ctx, inputs, outputs);
}

static int record_update(idp_drv_ctx *ctx, const idp_value *prior, const idp_value *inputs, idp_value **outputs) {
  (void)prior; /* zone, name and type force replacement: the rrset is the one inputs name */
  return record_put(ctx, inputs, outputs);
}

static int record_read(idp_drv_ctx *ctx, const idp_value *prior, idp_value **out) {
  idp_arena *a = ctx->arena;
  const idp_value *pin = map_at(prior, "inputs");
  pdns p;
  rrset_key k;
  json_t *z, *records;
  long st;
  json_int_t ttl = 0;
  *out = NULL;
  if (pdns_open(ctx, pin, &p) < 0 || rrset_key_of(ctx, pin, &k) < 0) return -1;
  const char *q = idp_arena_sprintf(a, "rrset_name=%s&rrset_type=%s", url_enc(a, k.name), url_enc(a, k.type));
  if (api(&p, "GET", idp_arena_sprintf(a, "/zones/%s", k.zone_id), q, NULL, 404, &st, &z) < 0) return -1;
  records = st == 404 ? NULL : rrset_records(z, k.name, k.type, &ttl);
  json_decref(z);
  if (st == 404) return confirm_gone(&p); /* the zone is gone, and its rrsets with it */
  if (!records) return 0;
  idp_map_builder in;
  idp_map_builder_init(&in, a);
  for (size_t i = 0; i < pin->u.map.n; i++) /* server, zone, name, type: the identity read by */
    put(&in, pin->u.map.keys[i], pin->u.map.vals[i]);
  put(&in, "ttl", idp_value_number(a, (double)ttl));
  put(&in, "records", list_like(a, records, pin, "records"));
  json_decref(records);
  idp_map_builder sb;
  idp_map_builder_init(&sb, a);
  put(&sb, "inputs", idp_map_builder_build(&in, NULL));
  put(&sb, "outputs", record_outputs_of(a, &k));
  *out = idp_map_builder_build(&sb, NULL);
  return 0;
}

static int record_delete(idp_drv_ctx *ctx, const idp_value *prior) {
  const idp_value *pin = map_at(prior, "inputs");
  pdns p;
  rrset_key k;
  long st;
  if (pdns_open(ctx, pin, &p) < 0 || rrset_key_of(ctx, pin, &k) < 0) return -1;
  /* DELETE of an absent rrset answers 204; a 404 is the zone gone, and the rrset with it. */
  if (patch_rrset(&p, k.zone_id, k.name, k.type, 0, NULL, true, &st) < 0) return -1;
  return st == 404 ? confirm_gone(&p) : 0;
}

/* --- schemas ---------------------------------------------------------------------------------- */

static const idp_drv_input integration_inputs[] = {
    {.name = "api", .type = IDP_DRV_TYPE(STRING), .required = true,
     .doc = "base URL of the API, e.g. http://127.0.0.1:8081"},
    {.name = "api_key", .type = IDP_DRV_TYPE(STRING), .required = true, .secret_ok = true,
     .doc = "the X-API-Key header's value"},
    {.name = "server_id", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("localhost"),
     .doc = "server in /api/v1/servers/SERVER_ID"},
    IDP_DRV_INPUT_MAX_PARALLEL,
};

static const idp_drv_input zone_inputs[] = {
    {.name = "server", .type = IDP_DRV_TYPE_INTEGRATION("powerdns"), .required = true, .force_new = true,
     .doc = "the PowerDNS integration that serves the zone"},
    {.name = "name", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "fully qualified zone name, ending in '.' (example.test.)"},
    {.name = "kind", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("Native"),
     .doc = "Native, Master or Slave"},
    {.name = "nameservers", .type = IDP_DRV_TYPE(LIST_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,
     .doc = "NS records at the apex; a change updates them in place (decision 13)"},
    {.name = "masters", .type = IDP_DRV_TYPE(LIST_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,
     .doc = "primary servers to transfer from (kind Slave)"},
    {.name = "soa_edit_api", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("DEFAULT"),
     .doc = "how the SOA serial changes on API edits"},
    {.name = "account", .type = IDP_DRV_TYPE(STRING), .doc = "free-form account name PowerDNS stores with the zone"},
};

static const idp_drv_output zone_outputs[] = {
    {.name = "id", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "the zone's id in the API"},
    {.name = "serial", .type = IDP_DRV_TYPE(NUMBER), .computed = true, .doc = "the SOA serial after apply"},
};

static const idp_drv_input record_inputs[] = {
    {.name = "server", .type = IDP_DRV_TYPE_INTEGRATION("powerdns"), .required = true, .force_new = true,
     .doc = "the PowerDNS integration that serves the zone"},
    {.name = "zone", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "the zone's name, ending in '.'"},
    {.name = "name", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "fully qualified record name inside the zone, ending in '.'"},
    {.name = "type", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "record type: A, AAAA, CNAME, TXT, MX, ..."},
    {.name = "ttl", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(300), .doc = "time to live, in seconds"},
    {.name = "records", .type = IDP_DRV_TYPE(LIST_STRING), .required = true,
     .doc = "the records' contents, replaced as a whole (rrset REPLACE)"},
};

static const idp_drv_output record_outputs[] = {
    {.name = "id", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "ZONE/NAME/TYPE: the rrset's identity"},
};

static const idp_drv_kind kinds[] = {
    {.name = "zone", .full = "powerdns.zone", .doc = "an authoritative zone",
     .io = {zone_inputs, IDP_DRV_N(zone_inputs), zone_outputs, IDP_DRV_N(zone_outputs)},
     .ops = {zone_read, zone_create, zone_update, zone_delete}},
    {.name = "record", .full = "powerdns.record", .doc = "a record set: every record of one name and type in a zone",
     .io = {record_inputs, IDP_DRV_N(record_inputs), record_outputs, IDP_DRV_N(record_outputs)},
     .ops = {record_read, record_create, record_update, record_delete}},
};

const idp_driver idp_driver_powerdns = {
    .name = "powerdns",
    .doc = "PowerDNS Authoritative, through its HTTP API",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), NULL, 0},
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
