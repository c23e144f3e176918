/* http_request.c - the generic REST driver (`http`): a resource made of method + URL + body
 * templates for create, read, update and delete, with outputs picked from the JSON responses, so
 * teams can reach an API idp has no driver for. (Not http.c: that base name is left to the
 * runtime's libcurl layer; object files are named by base name.)
 *
 * Every call goes through ctx->http. create sends create_body and takes the id at id_path from
 * the response (or, failing that, the last segment of its Location header); {id} in the other
 * URLs and bodies stands for it. A create answered 409 whose read_url needs no id reads the
 * object there and adopts it (decision 11). read answers 404/410 as gone; when the body the
 * object was last sent (update_body, else create_body) is a JSON object, each of its keys the
 * read response holds with another value reads back as that value, so a change made behind
 * idp's back shows as drift of that input. A resource without read_url is never read, one
 * without delete_url is only forgotten. Errors name the method, the URL (no query, no user) and
 * the API's own message; bodies and headers are never printed (they may hold secrets). */
#include "driver.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "arena.h"
#include "http.h"
#include "util.h"
#include "value.h"

static const idp_drv_input integration_inputs[] = {
    {.name = "base_url", .type = IDP_DRV_TYPE(STRING), .doc = "prefix of the resources' relative URLs"},
    {.name = "headers", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE, .secret_ok = true,
     .doc = "headers sent with every request (e.g. Authorization)"},
    {.name = "ca_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM file of the CA to trust"},
    {.name = "insecure_skip_tls_verify", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false),
     .doc = "do not verify the server's certificate (tests only)"},
    {.name = "timeout", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(30), .doc = "seconds per request"},
    IDP_DRV_INPUT_MAX_PARALLEL,
};

/* In every URL and body, {id} stands for the id taken from the create response at id_path. */
static const idp_drv_input request_inputs[] = {
    {.name = "server", .type = IDP_DRV_TYPE_INTEGRATION("http"), .force_new = true,
     .doc = "an http integration: base URL, shared headers, TLS options (optional)"},
    {.name = "create_url", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "URL of the create call, absolute or relative to the integration's base_url"},
    {.name = "create_method", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("POST"), .force_new = true,
     .doc = "method of the create call"},
    {.name = "create_body", .type = IDP_DRV_TYPE(ANY), .secret_ok = true, .force_new = true,
     .doc = "body of the create call: a string, or a value sent as JSON"},
    {.name = "read_url", .type = IDP_DRV_TYPE(STRING), .doc = "URL of the read call (refresh); none: never read"},
    {.name = "read_method", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("GET"), .doc = "method of the read call"},
    {.name = "update_url", .type = IDP_DRV_TYPE(STRING),
     .doc = "URL of the update call; none: a change replaces the object"},
    {.name = "update_method", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("PUT"), .doc = "method of the update call"},
    {.name = "update_body", .type = IDP_DRV_TYPE(ANY), .secret_ok = true, .doc = "body of the update call"},
    {.name = "delete_url", .type = IDP_DRV_TYPE(STRING), .doc = "URL of the delete call; none: deleting only forgets it"},
    {.name = "delete_method", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("DELETE"), .doc = "method of the delete call"},
    {.name = "headers", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE, .secret_ok = true,
     .doc = "headers of every call, over the integration's"},
    {.name = "id_path", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("id"),
     .doc = "JSON path of the id in the create response (a.b[0].c)"},
    {.name = "output_paths", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,
     .doc = "NAME = JSON path: each becomes outputs.NAME, from the latest response"},
};

static const idp_drv_output request_outputs[] = {
    {.name = "id", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "the id found at id_path"},
    {.name = "outputs", .type = IDP_DRV_TYPE(ANY), .computed = true, .doc = "a map: NAME = the value at output_paths.NAME"},
    {.name = "status", .type = IDP_DRV_TYPE(NUMBER), .computed = true, .doc = "HTTP status of the latest call"},
};

/* --- inputs ----------------------------------------------------------------------------------- */

/* The entry name of map m, or NULL when absent or null. */
static const idp_value *entry(const idp_value *m, const char *name) {
  if (!m || m->kind != IDP_V_MAP) return NULL;
  const idp_value *v = idp_map_get(m, name, strlen(name));
  return v && v->kind != IDP_V_NULL ? v : NULL;
}

/* A string entry, or def when absent or empty; an error when it is not a string. */
static int string_entry(idp_drv_ctx *ctx, const idp_value *m, const char *what, const char *name, const char *def,
                        const char **out) {
  const idp_value *v = entry(m, name);
  *out = def;
  if (!v) return 0;
  if (v->kind != IDP_V_STRING) return idp_drv_fail(ctx, "%s%s must be a string, not a %s", what, name, idp_value_type_name(v));
  if (strlen(v->u.string.s) != v->u.string.len) return idp_drv_fail(ctx, "%s%s holds a NUL byte", what, name);
  if (v->u.string.len) *out = v->u.string.s;
  return 0;
}

/* What every call of one resource shares. */
typedef struct hcfg {
  const idp_value *inputs;
  const char *base_url;
  const idp_value *server_headers, *headers; /* maps, or NULL */
  idp_http_tls tls;
  double timeout_s;
} hcfg;

static int get_cfg(idp_drv_ctx *ctx, const idp_value *inputs, hcfg *c) {
  memset(c, 0, sizeof *c);
  c->inputs = inputs;
  c->timeout_s = 30;
  const idp_value *server = entry(inputs, "server");
  if (server) {
    if (server->kind != IDP_V_MAP) return idp_drv_fail(ctx, "server must be an http integration");
    if (string_entry(ctx, server, "server.", "base_url", NULL, &c->base_url) != 0 ||
        string_entry(ctx, server, "server.", "ca_file", NULL, &c->tls.ca_file) != 0)
      return -1;
    const idp_value *ins = entry(server, "insecure_skip_tls_verify"), *t = entry(server, "timeout");
    c->tls.insecure = ins && ins->kind == IDP_V_BOOL && ins->u.boolean;
    if (t && (t->kind != IDP_V_NUMBER || t->u.number <= 0)) return idp_drv_fail(ctx, "server.timeout must be a positive number");
    if (t) c->timeout_s = t->u.number;
    c->server_headers = entry(server, "headers");
  }
  c->headers = entry(inputs, "headers");
  return 0;
}

/* --- templates -------------------------------------------------------------------------------- */

static bool has_id(const char *s) { return s && strstr(s, "{id}"); }

/* s with each {id} replaced by id, percent-encoded when for a URL. */
static char *subst(idp_arena *a, const char *s, size_t len, const char *id, bool url) {
  if (!id || !memmem(s, len, "{id}", 4)) return idp_arena_strndup(a, s, len);
  idp_buf b = {0};
  for (size_t i = 0; i < len;) {
    if (i + 4 <= len && memcmp(s + i, "{id}", 4) == 0) {
      for (const char *c = id; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (!url || isalnum(u) || strchr("-._~", u)) idp_buf_putc(&b, *c);
        else idp_buf_printf(&b, "%%%02X", u);
      }
      i += 4;
    } else {
      idp_buf_putc(&b, s[i++]);
    }
  }
  char *r = idp_arena_strndup(a, b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  return r;
}

/* The absolute URL of a URL input: {id} replaced, relative ones after base_url. */
static int make_url(idp_drv_ctx *ctx, const hcfg *c, const char *name, const char *tmpl, const char *id, const char **out) {
  const char *u = subst(ctx->arena, tmpl, strlen(tmpl), id, true);
  if (strstr(u, "://")) {
    *out = u;
    return 0;
  }
  if (!c->base_url) return idp_drv_fail(ctx, "%s '%s' is relative and the http integration has no base_url", name, tmpl);
  size_t n = strlen(c->base_url);
  while (n && c->base_url[n - 1] == '/') n--;
  while (*u == '/') u++;
  *out = idp_arena_sprintf(ctx->arena, "%.*s/%s", (int)n, c->base_url, u);
  return 0;
}

/* v with {id} replaced in every string inside it (the marks kept). */
static const idp_value *subst_value(idp_arena *a, const idp_value *v, const char *id) {
  switch (v->kind) {
  case IDP_V_STRING: {
    if (!id || !memmem(v->u.string.s, v->u.string.len, "{id}", 4)) return v;
    const char *s = subst(a, v->u.string.s, v->u.string.len, id, false);
    return idp_value_taint(a, idp_value_cstring(a, s), v->deps, v->secret);
  }
  case IDP_V_LIST: {
    idp_value **items = idp_arena_alloc(a, (v->u.list.n + 1) * sizeof *items);
    for (size_t i = 0; i < v->u.list.n; i++) items[i] = (idp_value *)subst_value(a, v->u.list.items[i], id);
    return idp_value_taint(a, idp_value_list(a, items, v->u.list.n), v->deps, v->secret);
  }
  case IDP_V_MAP: {
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    for (size_t i = 0; i < v->u.map.n; i++)
      idp_map_builder_add(&mb, v->u.map.keys[i], v->u.map.klen[i], (idp_value *)subst_value(a, v->u.map.vals[i], id));
    return idp_value_taint(a, idp_map_builder_build(&mb, NULL), v->deps, v->secret);
  }
  default: return v;
  }
}

/* A request body from a body input: a string as it is, anything else as JSON. */
typedef struct hbody {
  char *text;            /* malloc'd (wiped and freed by body_free); NULL: no body */
  size_t len;
  const char *ctype;     /* its Content-Type */
} hbody;

static void body_free(hbody *b) {
  if (b->text) explicit_bzero(b->text, b->len);
  free(b->text);
  b->text = NULL;
}

static int make_body(idp_drv_ctx *ctx, const char *name, const idp_value *v, const char *id, hbody *b) {
  memset(b, 0, sizeof *b);
  if (!v) return 0;
  v = subst_value(ctx->arena, v, id);
  if (v->kind == IDP_V_STRING) {
    b->len = v->u.string.len;
    b->text = idp_xmalloc(b->len + 1);
    memcpy(b->text, v->u.string.s, b->len + 1);
    json_t *j = json_loadb(b->text, b->len, JSON_DECODE_ANY, NULL);
    b->ctype = j ? "application/json" : "text/plain; charset=utf-8";
    json_decref(j);
    return 0;
  }
  b->text = idp_value_json_text(v);
  if (!b->text) return idp_drv_fail(ctx, "%s holds a value not known yet", name);
  b->len = strlen(b->text);
  b->ctype = "application/json";
  return 0;
}

/* --- calls ------------------------------------------------------------------------------------ */

/* The URL for messages: no user or password, no query, no fragment. */
static const char *safe_url(idp_arena *a, const char *url) {
  const char *host = strstr(url, "://");
  host = host ? host + 3 : url;
  size_t hl = strcspn(host, "/?#");
  const char *at = memchr(host, '@', hl);
  const char *rest = at ? at + 1 : host;
  return idp_arena_sprintf(a, "%.*s%.*s", (int)(host - url), url, (int)strcspn(rest, "?#"), rest);
}

/* The API's own message from an error response: a JSON message field, or the body's first line. */
static void api_message(const idp_http_resp *rs, char *out, size_t size) {
  out[0] = '\0';
  json_t *j = json_loadb(rs->body, rs->body_len, JSON_DECODE_ANY, NULL);
  const char *m = NULL;
  if (json_is_string(j)) m = json_string_value(j);
  static const char *const fields[] = {"message", "error", "detail", "title", "error_description", "msg"};
  for (size_t i = 0; !m && json_is_object(j) && i < sizeof fields / sizeof *fields; i++) {
    json_t *f = json_object_get(j, fields[i]);
    if (json_is_string(f)) m = json_string_value(f);
    else if (json_is_object(f) && json_is_string(json_object_get(f, "message"))) m = json_string_value(json_object_get(f, "message"));
  }
  json_t *errs = json_object_get(j, "errors");
  if (!m && json_is_array(errs)) {
    json_t *e = json_array_get(errs, 0);
    if (json_is_string(e)) m = json_string_value(e);
    else if (json_is_string(json_object_get(e, "message"))) m = json_string_value(json_object_get(e, "message"));
    else if (json_is_string(json_object_get(e, "detail"))) m = json_string_value(json_object_get(e, "detail"));
  }
  if (!m && !j) m = rs->body;
  /* one line, at most 300 bytes, cut at a character boundary */
  size_t n = 0;
  for (const char *c = m ? m : ""; *c && n + 1 < size && n < 300; c++) {
    unsigned char u = (unsigned char)*c;
    if (u == '\r' || u == '\n' || u == '\t') {
      if (n && out[n - 1] != ' ') out[n++] = ' ';
    } else if (u >= 0x20 && u != 0x7f) {
      out[n++] = *c;
    }
  }
  while (n && ((unsigned char)out[n - 1] & 0xc0) == 0x80) n--; /* a cut sequence's continuation bytes */
  if (n && ((unsigned char)out[n - 1] & 0xc0) == 0xc0) n--;    /* and its lead byte */
  while (n && out[n - 1] == ' ') n--;
  out[n] = '\0';
  json_decref(j);
}

static bool header_set(const idp_value *h, const char *name) {
  for (size_t i = 0; h && i < h->u.map.n; i++)
    if (strcasecmp(h->u.map.keys[i], name) == 0) return true;
  return false;
}

/* Adds the header lines of map h (skipping names over overrides sets). */
static int add_headers(idp_drv_ctx *ctx, const char *what, const idp_value *h, const idp_value *over, const char **lines, size_t *n) {
  if (!h) return 0;
  if (h->kind != IDP_V_MAP) return idp_drv_fail(ctx, "%s must be a map", what);
  for (size_t i = 0; i < h->u.map.n; i++) {
    const char *k = h->u.map.keys[i];
    const idp_value *v = h->u.map.vals[i];
    if (over && header_set(over, k)) continue;
    if (!*k || strpbrk(k, ": \t\r\n")) return idp_drv_fail(ctx, "%s: '%s' is not a header name", what, k);
    if (v->kind != IDP_V_STRING || strpbrk(v->u.string.s, "\r\n") || strlen(v->u.string.s) != v->u.string.len)
      return idp_drv_fail(ctx, "%s.%s must be a one-line string", what, k); /* never the value: it may be secret */
    lines[(*n)++] = idp_arena_sprintf(ctx->arena, "%s: %s", k, v->u.string.s);
  }
  return 0;
}

/* Sends one request; rs holds the answer (any status) on 0. */
static int call(idp_drv_ctx *ctx, const hcfg *c, const char *method, const char *url, const hbody *body, idp_http_resp *rs) {
  size_t nh = 0, cap = 2 + (c->server_headers && c->server_headers->kind == IDP_V_MAP ? c->server_headers->u.map.n : 0) +
                      (c->headers && c->headers->kind == IDP_V_MAP ? c->headers->u.map.n : 0);
  const char **lines = idp_arena_alloc(ctx->arena, cap * sizeof *lines);
  if (add_headers(ctx, "headers", c->headers, NULL, lines, &nh) != 0 ||
      add_headers(ctx, "server.headers", c->server_headers, c->headers, lines, &nh) != 0)
    return -1;
  bool given_accept = header_set(c->headers, "Accept") || header_set(c->server_headers, "Accept");
  bool given_ctype = header_set(c->headers, "Content-Type") || header_set(c->server_headers, "Content-Type");
  if (!given_accept) lines[nh++] = "Accept: application/json";
  if (body && body->text && !given_ctype) lines[nh++] = idp_arena_sprintf(ctx->arena, "Content-Type: %s", body->ctype);
  idp_http_req rq = {
      .method = method,
      .url = url,
      .headers = lines,
      .nheaders = nh,
      .body = body && body->text ? body->text : NULL,
      .body_len = body && body->text ? body->len : 0,
      .tls = &c->tls,
      .timeout_s = c->timeout_s,
      /* a POST or PATCH sent twice may make or change twice: retried only when it never left */
      .no_retry = strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0,
  };
  if (!ctx->http) return idp_drv_fail(ctx, "%s %s: no HTTP client", method, safe_url(ctx->arena, url));
  char err[512];
  if (idp_http_do(ctx->http, &rq, rs, err, sizeof err) != 0) return idp_drv_fail(ctx, "%s", err);
  return 0;
}

static int fail_status(idp_drv_ctx *ctx, const char *method, const char *url, const idp_http_resp *rs) {
  char msg[512];
  api_message(rs, msg, sizeof msg);
  return idp_drv_fail(ctx, "%s %s: %ld%s%s", method, safe_url(ctx->arena, url), rs->status, msg[0] ? " " : "", msg);
}

static bool ok_status(long s) { return s >= 200 && s < 300; }

/* A method input: letters only, as given. */
static int method_entry(idp_drv_ctx *ctx, const idp_value *inputs, const char *name, const char *def, const char **out) {
  if (string_entry(ctx, inputs, "", name, def, out) != 0) return -1;
  for (const char *c = *out; *c; c++)
    if (!isalpha((unsigned char)*c)) return idp_drv_fail(ctx, "%s '%s' is not an HTTP method", name, *out);
  return 0;
}

/* --- JSON paths ------------------------------------------------------------------------------- */

/* The value at path (a.b[0].c; "" or "." is the whole document) in j, or NULL. */
static json_t *json_at(json_t *j, const char *path) {
  if (path[0] == '$') path++;
  if (path[0] == '.') path++;
  while (j && *path) {
    if (*path == '[') {
      char *end;
      unsigned long i = strtoul(path + 1, &end, 10);
      if (end == path + 1 || *end != ']') return NULL;
      j = json_is_array(j) ? json_array_get(j, i) : NULL;
      path = end + 1;
    } else {
      size_t n = strcspn(path, ".[");
      j = json_is_object(j) ? json_object_getn(j, path, n) : NULL;
      path += n;
    }
    if (*path == '.') path++;
  }
  return j;
}

/* The id at id_path in the response, or the last segment of its Location header; NULL if none. */
static const char *find_id(idp_drv_ctx *ctx, json_t *resp, const char *id_path, const idp_http_resp *rs) {
  json_t *v = resp ? json_at(resp, id_path) : NULL;
  if (json_is_string(v) && json_string_length(v)) return idp_arena_strndup(ctx->arena, json_string_value(v), json_string_length(v));
  if (json_is_integer(v)) return idp_arena_sprintf(ctx->arena, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  char loc[1024];
  if (idp_http_header(rs, "Location", loc, sizeof loc)) {
    loc[strcspn(loc, "?#")] = '\0';
    size_t n = strlen(loc);
    while (n && loc[n - 1] == '/') loc[--n] = '\0';
    const char *slash = strrchr(loc, '/');
    const char *seg = slash ? slash + 1 : loc;
    if (*seg) return idp_arena_strndup(ctx->arena, seg, strlen(seg));
  }
  return NULL;
}

/* The response body as JSON, or NULL when empty or not JSON. */
static json_t *resp_json(const idp_http_resp *rs) {
  return rs->body_len ? json_loadb(rs->body, rs->body_len, JSON_DECODE_ANY, NULL) : NULL;
}

/* outputs.outputs: NAME = the value at output_paths.NAME in resp (null when absent). */
static int pick_outputs(idp_drv_ctx *ctx, const idp_value *inputs, json_t *resp, idp_value **out) {
  const idp_value *paths = entry(inputs, "output_paths");
  if (paths && paths->kind != IDP_V_MAP) return idp_drv_fail(ctx, "output_paths must be a map");
  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  for (size_t i = 0; paths && i < paths->u.map.n; i++) {
    const idp_value *p = paths->u.map.vals[i];
    if (p->kind != IDP_V_STRING) return idp_drv_fail(ctx, "output_paths.%s must be a string", paths->u.map.keys[i]);
    json_t *j = resp ? json_at(resp, p->u.string.s) : NULL;
    idp_value *v = j ? idp_value_from_json(ctx->arena, j) : NULL;
    idp_map_builder_add(&mb, paths->u.map.keys[i], paths->u.map.klen[i], v ? v : idp_value_null(ctx->arena));
  }
  *out = idp_map_builder_build(&mb, NULL);
  return 0;
}

static idp_value *outputs_value(idp_drv_ctx *ctx, const char *id, idp_value *outs, long status) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  idp_map_builder_add(&mb, "id", 2, idp_value_cstring(ctx->arena, id ? id : ""));
  idp_map_builder_add(&mb, "outputs", 7, outs);
  idp_map_builder_add(&mb, "status", 6, idp_value_number(ctx->arena, (double)status));
  return idp_map_builder_build(&mb, NULL);
}

/* Does any URL or body after the create need the id? */
static bool id_needed(const idp_value *inputs) {
  static const char *const names[] = {"read_url", "update_url", "delete_url", "update_body"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    const idp_value *v = entry(inputs, names[i]);
    if (!v) continue;
    if (v->kind == IDP_V_STRING) {
      if (has_id(v->u.string.s)) return true;
      continue;
    }
    char *t = idp_value_json_text(v); /* a structured body: any string inside */
    bool yes = t && strstr(t, "{id}");
    if (t) explicit_bzero(t, strlen(t));
    free(t);
    if (yes) return true;
  }
  return false;
}

/* --- operations ------------------------------------------------------------------------------- */

/* Sends the update call for object id; *resp gets the answer's JSON (may be NULL). */
static int send_update(idp_drv_ctx *ctx, const hcfg *c, const char *id, json_t **resp, long *status) {
  const char *tmpl, *method, *url;
  *resp = NULL;
  if (string_entry(ctx, c->inputs, "", "update_url", NULL, &tmpl) != 0 || method_entry(ctx, c->inputs, "update_method", "PUT", &method) != 0 ||
      make_url(ctx, c, "update_url", tmpl, id, &url) != 0)
    return -1;
  hbody body;
  if (make_body(ctx, "update_body", entry(c->inputs, "update_body"), id, &body) != 0) return -1;
  idp_http_resp rs;
  int rc = call(ctx, c, method, url, &body, &rs);
  body_free(&body);
  if (rc != 0) return -1;
  if (!ok_status(rs.status)) rc = fail_status(ctx, method, url, &rs);
  *status = rs.status;
  if (rc == 0) *resp = resp_json(&rs);
  idp_http_resp_free(&rs);
  return rc;
}

/* Sends the read call for object id: *gone when 404/410, else *resp the answer's JSON. */
static int send_read(idp_drv_ctx *ctx, const hcfg *c, const char *id, json_t **resp, long *status, bool *gone) {
  const char *tmpl, *method, *url;
  *resp = NULL;
  *gone = false;
  if (string_entry(ctx, c->inputs, "", "read_url", NULL, &tmpl) != 0 || method_entry(ctx, c->inputs, "read_method", "GET", &method) != 0 ||
      make_url(ctx, c, "read_url", tmpl, id, &url) != 0)
    return -1;
  idp_http_resp rs;
  if (call(ctx, c, method, url, NULL, &rs) != 0) return -1;
  int rc = 0;
  *status = rs.status;
  if (rs.status == 404 || rs.status == 410) *gone = true;
  else if (!ok_status(rs.status)) rc = fail_status(ctx, method, url, &rs);
  else *resp = resp_json(&rs);
  idp_http_resp_free(&rs);
  return rc;
}

static int request_create(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  hcfg c;
  const char *tmpl, *method, *url, *id_path;
  if (get_cfg(ctx, inputs, &c) != 0 || string_entry(ctx, inputs, "", "create_url", NULL, &tmpl) != 0 ||
      method_entry(ctx, inputs, "create_method", "POST", &method) != 0 || string_entry(ctx, inputs, "", "id_path", "id", &id_path) != 0)
    return -1;
  if (!tmpl) return idp_drv_fail(ctx, "create_url is required");
  if (has_id(tmpl)) return idp_drv_fail(ctx, "create_url may not use {id}: there is no id before the create");
  if (make_url(ctx, &c, "create_url", tmpl, NULL, &url) != 0) return -1;
  hbody body;
  if (make_body(ctx, "create_body", entry(inputs, "create_body"), NULL, &body) != 0) return -1;
  idp_http_resp rs;
  int rc = call(ctx, &c, method, url, &body, &rs);
  body_free(&body);
  if (rc != 0) return -1;
  json_t *resp = NULL;
  const char *id = NULL;
  long status = rs.status;
  const char *read_tmpl = NULL;
  string_entry(ctx, inputs, "", "read_url", NULL, &read_tmpl);
  if (rs.status == 409 && read_tmpl && !has_id(read_tmpl)) {
    /* already there (a run killed before it recorded the create): adopt it, update it (decision 11) */
    idp_http_resp_free(&rs);
    bool gone;
    if (send_read(ctx, &c, NULL, &resp, &status, &gone) != 0) return -1;
    if (gone) return idp_drv_fail(ctx, "%s %s: 409 conflict, and the object it conflicts with is not at read_url", method, safe_url(ctx->arena, url));
    idp_http_resp none = {.body = "", .headers = ""};
    id = find_id(ctx, resp, id_path, &none);
    if (entry(inputs, "update_url")) {
      json_decref(resp);
      if (send_update(ctx, &c, id ? id : "", &resp, &status) != 0) return -1;
    }
  } else {
    if (!ok_status(rs.status)) {
      rc = fail_status(ctx, method, url, &rs);
      idp_http_resp_free(&rs);
      return rc;
    }
    resp = resp_json(&rs);
    id = find_id(ctx, resp, id_path, &rs);
    idp_http_resp_free(&rs);
  }
  if (!id && id_needed(inputs)) {
    json_decref(resp);
    return idp_drv_fail(ctx, "%s %s: %ld, but the response holds no id at '%s' (nor a Location header)", method,
                        safe_url(ctx->arena, url), status, id_path);
  }
  idp_value *outs;
  rc = pick_outputs(ctx, inputs, resp, &outs);
  json_decref(resp);
  if (rc != 0) return -1;
  *outputs = outputs_value(ctx, id, outs, status);
  return 0;
}

static const idp_value *prior_part(idp_drv_ctx *ctx, const idp_value *prior, const char *part) {
  const idp_value *v = entry(prior, part);
  if (!v || v->kind != IDP_V_MAP) {
    idp_drv_fail(ctx, "the prior state holds no %s", part);
    return NULL;
  }
  return v;
}

/* The body input as the object was last sent it, with each key the response holds with another
 * value replaced by that value: NULL when nothing differs (or the body is not a JSON object). */
static const idp_value *drift(idp_arena *a, const idp_value *sent, json_t *resp, const char *id, int depth) {
  if (!sent || sent->kind != IDP_V_MAP || !json_is_object(resp) || depth > 32) return NULL;
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  bool changed = false;
  for (size_t i = 0; i < sent->u.map.n; i++) {
    const idp_value *v = sent->u.map.vals[i];
    json_t *r = json_object_getn(resp, sent->u.map.keys[i], sent->u.map.klen[i]);
    const idp_value *nv = v;
    if (r) {
      if (v->kind == IDP_V_MAP && json_is_object(r)) {
        const idp_value *d = drift(a, v, r, id, depth + 1);
        if (d) nv = d;
      } else {
        idp_value *rv = idp_value_from_json(a, r);
        if (rv && !idp_value_equal(subst_value(a, v, id), rv)) nv = idp_value_taint(a, rv, NULL, v->secret || sent->secret);
      }
    }
    changed |= nv != v;
    idp_map_builder_add(&mb, sent->u.map.keys[i], sent->u.map.klen[i], (idp_value *)nv);
  }
  return changed ? idp_value_taint(a, idp_map_builder_build(&mb, NULL), sent->deps, sent->secret) : NULL;
}

/* The drifted form of a body input (a value, or a string holding a JSON object), or NULL. */
static const idp_value *body_drift(idp_arena *a, const idp_value *body, json_t *resp, const char *id) {
  if (!body) return NULL;
  if (body->kind == IDP_V_MAP) return drift(a, body, resp, id, 0);
  if (body->kind != IDP_V_STRING) return NULL;
  json_t *j = json_loadb(body->u.string.s, body->u.string.len, 0, NULL);
  idp_value *bv = j ? idp_value_from_json(a, j) : NULL;
  json_decref(j);
  const idp_value *d = bv ? drift(a, idp_value_taint(a, bv, NULL, body->secret), resp, id, 0) : NULL;
  if (!d) return NULL;
  char *t = idp_value_json_text(d);
  if (!t) return NULL;
  idp_value *s = idp_value_taint(a, idp_value_cstring(a, t), body->deps, body->secret);
  explicit_bzero(t, strlen(t));
  free(t);
  return s;
}

static int request_read(idp_drv_ctx *ctx, const idp_value *prior, idp_value **out) {
  const idp_value *in = prior_part(ctx, prior, "inputs"), *pout = prior_part(ctx, prior, "outputs");
  if (!in || !pout) return -1;
  hcfg c;
  const char *id = NULL;
  if (get_cfg(ctx, in, &c) != 0 || string_entry(ctx, pout, "outputs.", "id", NULL, &id) != 0) return -1;
  *out = NULL;
  if (!entry(in, "read_url")) { /* never read: it is what the state says */
    *out = idp_value_taint(ctx->arena, prior, NULL, false);
    return 0;
  }
  json_t *resp;
  long status;
  bool gone;
  if (send_read(ctx, &c, id, &resp, &status, &gone) != 0) return -1;
  if (gone) return 0;
  idp_value *outs;
  if (pick_outputs(ctx, in, resp, &outs) != 0) {
    json_decref(resp);
    return -1;
  }
  /* drift: into the body the object was last sent */
  const char *body_name = entry(in, "update_url") && entry(in, "update_body") ? "update_body" : "create_body";
  const idp_value *d = body_drift(ctx->arena, entry(in, body_name), resp, id);
  json_decref(resp);
  idp_value *inputs = (idp_value *)in;
  if (d) {
    idp_map_builder mb;
    idp_map_builder_init(&mb, ctx->arena);
    for (size_t i = 0; i < in->u.map.n; i++) idp_map_builder_add(&mb, in->u.map.keys[i], in->u.map.klen[i], in->u.map.vals[i]);
    idp_map_builder_add(&mb, body_name, strlen(body_name), (idp_value *)d);
    inputs = idp_map_builder_build(&mb, NULL);
  }
  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  idp_map_builder_add(&mb, "inputs", 6, inputs);
  idp_map_builder_add(&mb, "outputs", 7, outputs_value(ctx, id, outs, status));
  *out = idp_map_builder_build(&mb, NULL);
  return 0;
}

static int request_update(idp_drv_ctx *ctx, const idp_value *prior, const idp_value *inputs, idp_value **outputs) {
  const idp_value *pout = prior_part(ctx, prior, "outputs");
  hcfg c;
  const char *id = NULL;
  if (!pout || get_cfg(ctx, inputs, &c) != 0 || string_entry(ctx, pout, "outputs.", "id", NULL, &id) != 0) return -1;
  json_t *resp = NULL;
  long status = 0;
  const idp_value *ps = entry(pout, "status");
  if (ps && ps->kind == IDP_V_NUMBER) status = (long)ps->u.number;
  bool have = false; /* a response to take the outputs from */
  if (entry(inputs, "update_url")) {
    if (send_update(ctx, &c, id, &resp, &status) != 0) return -1;
    have = resp != NULL;
  }
  if (!have && entry(inputs, "read_url")) {
    bool gone;
    if (send_read(ctx, &c, id, &resp, &status, &gone) != 0) return -1;
    if (gone) return idp_drv_fail(ctx, "update: the object is gone (read_url answers %ld)", status);
    have = true;
  }
  idp_value *outs;
  if (have) {
    int rc = pick_outputs(ctx, inputs, resp, &outs);
    json_decref(resp);
    if (rc != 0) return -1;
  } else { /* nothing to ask: the outputs stay */
    const idp_value *po = entry(pout, "outputs");
    if (po) outs = (idp_value *)po;
    else if (pick_outputs(ctx, inputs, NULL, &outs) != 0) return -1;
  }
  *outputs = outputs_value(ctx, id, outs, status);
  return 0;
}

static int request_delete(idp_drv_ctx *ctx, const idp_value *prior) {
  const idp_value *in = prior_part(ctx, prior, "inputs"), *pout = prior_part(ctx, prior, "outputs");
  if (!in || !pout) return -1;
  hcfg c;
  const char *id = NULL, *tmpl, *method, *url;
  if (get_cfg(ctx, in, &c) != 0 || string_entry(ctx, pout, "outputs.", "id", NULL, &id) != 0 ||
      string_entry(ctx, in, "", "delete_url", NULL, &tmpl) != 0 || method_entry(ctx, in, "delete_method", "DELETE", &method) != 0)
    return -1;
  if (!tmpl) return 0; /* only forgotten */
  if (make_url(ctx, &c, "delete_url", tmpl, id, &url) != 0) return -1;
  idp_http_resp rs;
  if (call(ctx, &c, method, url, NULL, &rs) != 0) return -1;
  int rc = ok_status(rs.status) || rs.status == 404 || rs.status == 410 ? 0 : fail_status(ctx, method, url, &rs);
  idp_http_resp_free(&rs);
  return rc;
}

static const idp_drv_kind kinds[] = {
    {.name = "request", .full = "http.request", .doc = "any REST object, through method + URL + body templates",
     .io = {request_inputs, IDP_DRV_N(request_inputs), request_outputs, IDP_DRV_N(request_outputs)},
     .ops = {.read = request_read, .create = request_create, .update = request_update, .delete = request_delete}},
};

const idp_driver idp_driver_http = {
    .name = "http",
    .doc = "any HTTP/REST API idp has no driver for",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), NULL, 0},
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
