/* kubernetes.c - Kubernetes API servers, by server-side apply (fieldManager=idp): namespaces,
 * deployments (waiting for the rollout), services, ingresses, secrets, config maps and any
 * manifest (resolved through API discovery).
 *
 * Every call sets up its connection from the integration's inputs (no state between calls): a
 * kubeconfig (the `kubeconfig` input, else $KUBECONFIG's first file, else ~/.kube/config; its
 * `context` or current-context) read with libyaml, or `server` with `token` / `ca_file` /
 * `client_cert_file` / `client_key_file` (set ones override the kubeconfig's). create and update
 * are one server-side apply (PATCH ...?fieldManager=idp, application/apply-patch+yaml, a JSON
 * body); read GETs the object and reports only the fields idp sets; delete is DELETE with
 * propagationPolicy=Background, 404 being success. Tokens, keys and secret data never reach a
 * message. */
#include "driver.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "arena.h"
#include "http.h"
#include "util.h"
#include "value.h"

static const idp_drv_input integration_inputs[] = {
    {.name = "kubeconfig", .type = IDP_DRV_TYPE(STRING),
     .doc = "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, unless server is set)"},
    {.name = "context", .type = IDP_DRV_TYPE(STRING), .doc = "context of the kubeconfig (default: its current-context)"},
    {.name = "server", .type = IDP_DRV_TYPE(STRING), .doc = "API server URL, instead of a kubeconfig"},
    {.name = "token", .type = IDP_DRV_TYPE(STRING), .secret_ok = true, .doc = "bearer token (a service account's)"},
    {.name = "ca_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM file of the cluster's CA"},
    {.name = "client_cert_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM client certificate"},
    {.name = "client_key_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM private key of client_cert_file"},
    {.name = "insecure_skip_tls_verify", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false),
     .doc = "do not verify the API server's certificate (honoured only when set)"},
    IDP_DRV_INPUT_MAX_PARALLEL,
};

/* What every kind takes. NAMESPACE is left out of cluster-scoped kinds. */
#define CLUSTER                                                                                          \
  {.name = "cluster", .type = IDP_DRV_TYPE_INTEGRATION("kubernetes"), .required = true, .force_new = true, \
   .doc = "the kubernetes integration (cluster) it is applied to"}
#define NAMESPACE                                                                                 \
  {.name = "namespace", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,        \
   .doc = "the object's namespace"}
#define NAME                                                                                      \
  {.name = "name", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,             \
   .doc = "metadata.name"}
#define META                                                                                      \
  {.name = "labels", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,            \
   .doc = "metadata.labels"},                                                                     \
  {.name = "annotations", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,       \
   .doc = "metadata.annotations"},                                                                \
  {.name = "force_conflicts", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false),      \
   .doc = "take over fields another field manager owns, instead of failing on the conflict"}

static const idp_drv_output object_outputs[] = {
    {.name = "uid", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.uid"},
    {.name = "resource_version", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.resourceVersion after apply"},
};

static const idp_drv_input namespace_inputs[] = {CLUSTER, NAME, META};

static const idp_drv_input deployment_inputs[] = {
    CLUSTER, NAMESPACE, NAME,
    {.name = "image", .type = IDP_DRV_TYPE(STRING), .required = true,
     .doc = "container image, pinned by digest (REGISTRY/REPO@sha256:...)"},
    {.name = "replicas", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(1), .doc = "number of pods"},
    {.name = "port", .type = IDP_DRV_TYPE(NUMBER), .doc = "container port"},
    {.name = "env", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE, .secret_ok = true,
     .doc = "container environment; secret keys go to a Secret read through secretKeyRef"},
    {.name = "command", .type = IDP_DRV_TYPE(LIST_STRING), .doc = "the container's entrypoint (default: the image's)"},
    {.name = "args", .type = IDP_DRV_TYPE(LIST_STRING), .doc = "arguments to the entrypoint"},
    {.name = "resources", .type = IDP_DRV_TYPE(ANY),
     .doc = "{ requests = { cpu, memory }, limits = { cpu, memory } }"},
    {.name = "probes", .type = IDP_DRV_TYPE(ANY),
     .doc = "{ readiness = { path, port }, liveness = { path, port } }: HTTP GET probes"},
    {.name = "wait", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(true), .doc = "wait until the rollout completes"},
    {.name = "timeout", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(300), .doc = "seconds to wait for the rollout"},
    META,
};

static const idp_drv_output deployment_outputs[] = {
    {.name = "uid", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.uid"},
    {.name = "resource_version", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.resourceVersion after apply"},
    {.name = "generation", .type = IDP_DRV_TYPE(NUMBER), .computed = true, .doc = "metadata.generation that rolled out"},
};

static const idp_drv_input service_inputs[] = {
    CLUSTER, NAMESPACE, NAME,
    {.name = "port", .type = IDP_DRV_TYPE(NUMBER), .required = true, .doc = "the port the service listens on"},
    {.name = "target_port", .type = IDP_DRV_TYPE(NUMBER), .doc = "the pods' port (default: port)"},
    {.name = "selector", .type = IDP_DRV_TYPE(MAP_STRING), .doc = "pod labels it routes to (default: { \"app.kubernetes.io/name\" = name }, a deployment's pods)"},
    {.name = "type", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("ClusterIP"),
     .doc = "ClusterIP, NodePort or LoadBalancer"},
    META,
};

static const idp_drv_output service_outputs[] = {
    {.name = "uid", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.uid"},
    {.name = "resource_version", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.resourceVersion after apply"},
    {.name = "cluster_ip", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "spec.clusterIP"},
};

static const idp_drv_input ingress_inputs[] = {
    CLUSTER, NAMESPACE, NAME,
    {.name = "host", .type = IDP_DRV_TYPE(STRING), .required = true, .doc = "the host name it serves (e.g. a dns need's fqdn)"},
    {.name = "path", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("/"), .doc = "path prefix routed to the service"},
    {.name = "service", .type = IDP_DRV_TYPE(STRING), .required = true, .doc = "the backend service's name"},
    {.name = "service_port", .type = IDP_DRV_TYPE(NUMBER), .required = true, .doc = "the backend service's port"},
    {.name = "class", .type = IDP_DRV_TYPE(STRING), .doc = "spec.ingressClassName"},
    {.name = "tls_secret", .type = IDP_DRV_TYPE(STRING), .doc = "secret holding the TLS certificate for host"},
    META,
};

static const idp_drv_input secret_inputs[] = {
    CLUSTER, NAMESPACE, NAME,
    {.name = "data", .type = IDP_DRV_TYPE(MAP_STRING), .required = true, .secret_ok = true,
     .doc = "the secret's keys and values: never in plan or state in plaintext"},
    {.name = "type", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("Opaque"), .force_new = true,
     .doc = "the secret's type"},
    META,
};

static const idp_drv_input config_map_inputs[] = {
    CLUSTER, NAMESPACE, NAME,
    {.name = "data", .type = IDP_DRV_TYPE(MAP_STRING), .required = true, .doc = "the config map's keys and values"},
    META,
};

static const idp_drv_input manifest_inputs[] = {
    CLUSTER,
    {.name = "manifest", .type = IDP_DRV_TYPE(ANY), .required = true,
     .doc = "the object as a map or a YAML string; apiVersion and kind come from it"},
    {.name = "namespace", .type = IDP_DRV_TYPE(STRING), .force_new = true,
     .doc = "namespace of a namespaced object that does not name one"},
    {.name = "force_conflicts", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false),
     .doc = "take over fields another field manager owns, instead of failing on the conflict"},
};

/* --- small helpers ---------------------------------------------------------------------------- */

static const char SELECTOR_LABEL[] = "app.kubernetes.io/name";

static const idp_value *entry(const idp_value *m, const char *name) {
  if (!m || m->kind != IDP_V_MAP) return NULL;
  const idp_value *v = idp_map_get(m, name, strlen(name));
  return v && v->kind != IDP_V_NULL && v->kind != IDP_V_UNKNOWN ? v : NULL;
}

/* A string entry, NULL when absent or empty; an error when required or not a string. */
static int str_in(idp_drv_ctx *ctx, const idp_value *m, const char *name, bool required, const char **out) {
  const idp_value *v = entry(m, name);
  *out = NULL;
  if (!v || (v->kind == IDP_V_STRING && v->u.string.len == 0)) {
    if (required) return idp_drv_fail(ctx, "%s is required", name);
    return 0;
  }
  if (v->kind != IDP_V_STRING || strlen(v->u.string.s) != v->u.string.len)
    return idp_drv_fail(ctx, "%s must be a string", name);
  *out = v->u.string.s;
  return 0;
}

static int whole_in(idp_drv_ctx *ctx, const idp_value *m, const char *name, long long def, long long lo, long long hi,
                    long long *out) {
  const idp_value *v = entry(m, name);
  *out = def;
  if (!v) return 0;
  if (v->kind != IDP_V_NUMBER || v->u.number < (double)lo || v->u.number > (double)hi || v->u.number != floor(v->u.number))
    return idp_drv_fail(ctx, "%s must be a whole number from %lld to %lld", name, lo, hi);
  *out = (long long)v->u.number;
  return 0;
}

static bool bool_in(const idp_value *m, const char *name) {
  const idp_value *v = entry(m, name);
  return v && v->kind == IDP_V_BOOL && v->u.boolean;
}

/* A value as a string (strings as they are, numbers and bools as the language prints them). */
static const char *scalar_text(idp_arena *a, const idp_value *v) {
  if (v->kind == IDP_V_STRING) return v->u.string.s;
  if (v->kind == IDP_V_BOOL) return v->u.boolean ? "true" : "false";
  if (v->kind == IDP_V_NUMBER) {
    idp_buf b = {0};
    idp_number_format(&b, v->u.number);
    const char *s = idp_arena_strndup(a, b.data, b.len);
    idp_buf_free(&b);
    return s;
  }
  return NULL;
}

/* A map(string) input as a JSON object; NULL (and ctx->err) when an entry is not a scalar. */
static json_t *string_map_json(idp_drv_ctx *ctx, const idp_value *m, const char *name) {
  json_t *o = json_object();
  const idp_value *v = entry(m, name);
  if (!v) return o;
  if (v->kind != IDP_V_MAP) {
    json_decref(o);
    idp_drv_fail(ctx, "%s must be a map", name);
    return NULL;
  }
  for (size_t i = 0; i < v->u.map.n; i++) {
    const char *t = v->u.map.vals[i]->kind == IDP_V_NULL ? NULL : scalar_text(ctx->arena, v->u.map.vals[i]);
    if (v->u.map.vals[i]->kind == IDP_V_NULL) continue;
    if (!t) {
      json_decref(o);
      idp_drv_fail(ctx, "%s.%s must be a string", name, v->u.map.keys[i]);
      return NULL;
    }
    json_object_set_new(o, v->u.map.keys[i], json_string(t));
  }
  return o;
}

static char *b64_encode(const char *s, size_t n) {
  char *out = idp_xmalloc(4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
  return out;
}

/* Decodes base64 text (blanks and newlines ignored) into a NUL-terminated malloc'd buffer; NULL
 * when it is not base64. */
static char *b64_decode(const char *s, size_t *outlen) {
  size_t n = strlen(s);
  char *clean = idp_xmalloc(n + 1);
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t') clean[m++] = s[i];
  clean[m] = 0;
  if (m % 4) {
    free(clean);
    return NULL;
  }
  char *out = idp_xmalloc(m / 4 * 3 + 1);
  int r = m ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)clean, (int)m) : 0;
  if (r < 0) {
    free(clean);
    free(out);
    return NULL;
  }
  size_t len = (size_t)r;
  if (m >= 1 && clean[m - 1] == '=') len--;
  if (m >= 2 && clean[m - 2] == '=') len--;
  out[len] = 0;
  free(clean);
  if (outlen) *outlen = len;
  return out;
}

/* --- YAML (kubeconfig, manifests) as JSON ------------------------------------------------------ */

static json_t *yaml_scalar_json(const yaml_node_t *n, bool typed) {
  const char *s = (const char *)n->data.scalar.value;
  size_t len = n->data.scalar.length;
  if (!typed || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return json_stringn(s, len);
  if (!strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")) return json_null();
  if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) return json_true();
  if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) return json_false();
  char *end;
  errno = 0;
  long long ll = strtoll(s, &end, 10);
  if (*s && !*end && !errno && strlen(s) == len) return json_integer(ll);
  double d = strtod(s, &end);
  if (*s && !*end && isfinite(d) && strspn(s, "+-.0123456789eE") == len) return json_real(d);
  return json_stringn(s, len);
}

static json_t *yaml_node_json(yaml_document_t *doc, yaml_node_t *n, bool typed, int depth) {
  if (!n || depth > 64) return json_null();
  switch (n->type) {
  case YAML_SCALAR_NODE: return yaml_scalar_json(n, typed);
  case YAML_SEQUENCE_NODE: {
    json_t *a = json_array();
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
      json_array_append_new(a, yaml_node_json(doc, yaml_document_get_node(doc, *it), typed, depth + 1));
    return a;
  }
  case YAML_MAPPING_NODE: {
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *k = yaml_document_get_node(doc, p->key);
      if (!k || k->type != YAML_SCALAR_NODE) continue;
      json_object_set_new(o, (const char *)k->data.scalar.value,
                          yaml_node_json(doc, yaml_document_get_node(doc, p->value), typed, depth + 1));
    }
    return o;
  }
  default: return json_null();
  }
}

/* The first document of text as JSON; NULL with a message in err when it does not parse. */
static json_t *yaml_parse(const char *text, size_t len, bool typed, char *err, size_t errsize) {
  yaml_parser_t p;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&p)) {
    snprintf(err, errsize, "out of memory");
    return NULL;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  json_t *j = NULL;
  if (!yaml_parser_load(&p, &doc)) {
    snprintf(err, errsize, "line %lu: %s", (unsigned long)p.problem_mark.line + 1, p.problem ? p.problem : "invalid YAML");
  } else {
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    j = root ? yaml_node_json(&doc, root, typed, 0) : json_object();
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&p);
  return j;
}

/* --- the connection --------------------------------------------------------------------------- */

typedef struct kconn {
  idp_drv_ctx *ctx;
  const char *origin;        /* https://host:port (no trailing slash; a path prefix kept) */
  const char *auth;          /* "Authorization: Bearer ..." or NULL (never printed) */
  idp_http_tls tls;
  const char *where;         /* for messages: "kubeconfig PATH, context C" or "server URL" */
} kconn;

/* The entry of a kubeconfig's named list (clusters, users, contexts) called name. */
static json_t *named(json_t *cfg, const char *list, const char *name, const char *inner) {
  json_t *a = json_object_get(cfg, list), *e;
  size_t i;
  json_array_foreach(a, i, e) {
    if (json_is_string(json_object_get(e, "name")) && strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
      return json_object_get(e, inner);
  }
  return NULL;
}

static const char *jstr(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : NULL;
}

/* A kubeconfig's relative path is relative to the kubeconfig's directory. */
static const char *kc_path(idp_arena *a, const char *kcfile, const char *p) {
  if (!p || p[0] == '/') return p;
  const char *slash = strrchr(kcfile, '/');
  if (!slash) return p;
  return idp_arena_sprintf(a, "%.*s/%s", (int)(slash - kcfile), kcfile, p);
}

/* *-data: base64 PEM, decoded into the arena. */
static int kc_data(kconn *c, json_t *o, const char *key, const char **out) {
  const char *s = jstr(o, key);
  *out = NULL;
  if (!s) return 0;
  char *d = b64_decode(s, NULL);
  if (!d) return idp_drv_fail(c->ctx, "%s: %s is not base64", c->where, key);
  *out = idp_arena_strndup(c->ctx->arena, d, strlen(d));
  OPENSSL_cleanse(d, strlen(d));
  free(d);
  return 0;
}

static int load_kubeconfig(kconn *c, const char *path, const char *want_ctx) {
  idp_arena *a = c->ctx->arena;
  char *text;
  size_t len;
  c->where = idp_arena_sprintf(a, "kubeconfig %s", path);
  if (idp_read_file(path, &text, &len) != 0) return idp_drv_fail(c->ctx, "%s: cannot read it: %s", c->where, strerror(errno));
  char perr[200];
  json_t *cfg = yaml_parse(text, len, false, perr, sizeof perr);
  OPENSSL_cleanse(text, len);
  free(text);
  if (!cfg) return idp_drv_fail(c->ctx, "%s: not YAML: %s", c->where, perr);
  int rc = -1;
  const char *cname = want_ctx ? want_ctx : jstr(cfg, "current-context");
  if (!cname) {
    idp_drv_fail(c->ctx, "%s: no current-context (set the integration's context)", c->where);
    goto out;
  }
  c->where = idp_arena_sprintf(a, "kubeconfig %s, context %s", path, cname);
  json_t *kctx = named(cfg, "contexts", cname, "context");
  if (!kctx) {
    idp_drv_fail(c->ctx, "%s: no such context", c->where);
    goto out;
  }
  const char *clname = jstr(kctx, "cluster"), *uname = jstr(kctx, "user");
  json_t *cl = clname ? named(cfg, "clusters", clname, "cluster") : NULL;
  if (!cl) {
    idp_drv_fail(c->ctx, "%s: cluster %s not found", c->where, clname ? clname : "(none)");
    goto out;
  }
  const char *server = jstr(cl, "server");
  if (!server) {
    idp_drv_fail(c->ctx, "%s: cluster %s has no server", c->where, clname);
    goto out;
  }
  c->origin = idp_arena_strndup(a, server, strlen(server));
  c->tls.ca_file = kc_path(a, path, jstr(cl, "certificate-authority"));
  if (c->tls.ca_file) c->tls.ca_file = idp_arena_strndup(a, c->tls.ca_file, strlen(c->tls.ca_file));
  if (kc_data(c, cl, "certificate-authority-data", &c->tls.ca_pem) != 0) goto out;
  json_t *ins = json_object_get(cl, "insecure-skip-tls-verify");
  if ((json_is_string(ins) && strcmp(json_string_value(ins), "true") == 0) || json_is_true(ins)) c->tls.insecure = true;
  json_t *u = uname ? named(cfg, "users", uname, "user") : NULL;
  if (uname && !u) {
    idp_drv_fail(c->ctx, "%s: user %s not found", c->where, uname);
    goto out;
  }
  if (u) {
    const char *tok = jstr(u, "token");
    const char *tokfile = kc_path(a, path, jstr(u, "tokenFile"));
    if (tok) {
      c->auth = idp_arena_sprintf(a, "Authorization: Bearer %s", tok);
    } else if (tokfile) {
      char *t;
      size_t tl;
      if (idp_read_file(tokfile, &t, &tl) != 0) {
        idp_drv_fail(c->ctx, "%s: cannot read tokenFile %s: %s", c->where, tokfile, strerror(errno));
        goto out;
      }
      while (tl && (t[tl - 1] == '\n' || t[tl - 1] == '\r' || t[tl - 1] == ' ')) tl--;
      c->auth = idp_arena_sprintf(a, "Authorization: Bearer %.*s", (int)tl, t);
      OPENSSL_cleanse(t, tl);
      free(t);
    }
    const char *cf = kc_path(a, path, jstr(u, "client-certificate")), *kf = kc_path(a, path, jstr(u, "client-key"));
    if (cf) c->tls.cert_file = idp_arena_strndup(a, cf, strlen(cf));
    if (kf) c->tls.key_file = idp_arena_strndup(a, kf, strlen(kf));
    if (kc_data(c, u, "client-certificate-data", &c->tls.cert_pem) != 0 || kc_data(c, u, "client-key-data", &c->tls.key_pem) != 0)
      goto out;
    if (json_object_get(u, "exec") || json_object_get(u, "auth-provider")) {
      if (!c->auth && !c->tls.cert_pem && !c->tls.cert_file) {
        idp_drv_fail(c->ctx, "%s: user %s authenticates through exec or auth-provider, which idp does not run (use a token or a client certificate)",
                     c->where, uname);
        goto out;
      }
    }
  }
  rc = 0;
out:
  json_decref(cfg);
  return rc;
}

/* The connection the `cluster` input (the integration's inputs) describes. */
static int connect_cluster(idp_drv_ctx *ctx, const idp_value *inputs, kconn *c) {
  memset(c, 0, sizeof *c);
  c->ctx = ctx;
  const idp_value *cl = entry(inputs, "cluster");
  if (!cl || cl->kind != IDP_V_MAP) return idp_drv_fail(ctx, "cluster must be a kubernetes integration");
  const char *kubeconfig, *context, *server, *token, *ca, *cert, *key;
  if (str_in(ctx, cl, "kubeconfig", false, &kubeconfig) || str_in(ctx, cl, "context", false, &context) ||
      str_in(ctx, cl, "server", false, &server) || str_in(ctx, cl, "token", false, &token) ||
      str_in(ctx, cl, "ca_file", false, &ca) || str_in(ctx, cl, "client_cert_file", false, &cert) ||
      str_in(ctx, cl, "client_key_file", false, &key))
    return -1;
  if (kubeconfig || !server) {
    const char *path = kubeconfig;
    if (!path) {
      const char *env = getenv("KUBECONFIG");
      if (env && *env) path = idp_arena_strndup(ctx->arena, env, strcspn(env, ":"));
    }
    if (!path) {
      const char *home = getenv("HOME");
      if (!home || !*home) return idp_drv_fail(ctx, "no kubeconfig: set the integration's kubeconfig or server, or $KUBECONFIG");
      path = idp_arena_sprintf(ctx->arena, "%s/.kube/config", home);
    }
    if (load_kubeconfig(c, path, context) != 0) return -1;
  } else {
    c->where = idp_arena_sprintf(ctx->arena, "server %s", server);
  }
  if (server) c->origin = server;
  if (token) c->auth = idp_arena_sprintf(ctx->arena, "Authorization: Bearer %s", token);
  if (ca) c->tls.ca_file = ca, c->tls.ca_pem = NULL;
  if (cert) c->tls.cert_file = cert, c->tls.cert_pem = NULL;
  if (key) c->tls.key_file = key, c->tls.key_pem = NULL;
  if (bool_in(cl, "insecure_skip_tls_verify")) c->tls.insecure = true;
  if (strncmp(c->origin, "https://", 8) != 0 && strncmp(c->origin, "http://", 7) != 0)
    return idp_drv_fail(ctx, "%s: the server URL must start with https:// or http://", c->where);
  size_t n = strlen(c->origin);
  while (n > 8 && c->origin[n - 1] == '/') n--;
  c->origin = idp_arena_strndup(ctx->arena, c->origin, n);
  return 0;
}

/* One API call. path begins with /api; query may be NULL; body (JSON text) may be NULL. Answers
 * with a 2xx status, or allow (e.g. 404), give 0 with *status and *out (the parsed body or NULL);
 * other statuses fail with `METHOD PATH: STATUS MESSAGE` (the API's Status message). */
static int kapi(kconn *c, const char *method, const char *path, const char *query, const char *body, const char *ctype,
                long allow, long *status, json_t **out) {
  idp_drv_ctx *ctx = c->ctx;
  *out = NULL;
  const char *url = idp_arena_sprintf(ctx->arena, "%s%s%s%s", c->origin, path, query ? "?" : "", query ? query : "");
  const char *headers[3];
  size_t nh = 0;
  headers[nh++] = "Accept: application/json";
  if (body) headers[nh++] = idp_arena_sprintf(ctx->arena, "Content-Type: %s", ctype ? ctype : "application/json");
  if (c->auth) headers[nh++] = c->auth;
  idp_http_req rq = {.method = method, .url = url, .headers = headers, .nheaders = nh, .body = body,
                     .body_len = body ? strlen(body) : 0, .tls = &c->tls, .timeout_s = 30};
  idp_http_resp rs;
  char err[600];
  if (idp_http_do(ctx->http, &rq, &rs, err, sizeof err) != 0) return idp_drv_fail(ctx, "%s (%s)", err, c->where);
  *status = rs.status;
  json_t *j = rs.body_len ? json_loadb(rs.body, rs.body_len, 0, NULL) : NULL;
  int rc = 0;
  if ((rs.status >= 200 && rs.status < 300) || rs.status == allow) {
    *out = j;
  } else {
    const char *msg = jstr(j, "message");
    char raw[200];
    if (!msg) {
      size_t n = rs.body_len < sizeof raw - 1 ? rs.body_len : sizeof raw - 1;
      memcpy(raw, rs.body ? rs.body : "", n);
      raw[n] = 0;
      for (char *p = raw; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
      msg = raw;
    }
    const char *hint = "";
    if (rs.status == 401) hint = idp_arena_sprintf(ctx->arena, " (the credentials of %s were refused: expired or wrong token or certificate?)", c->where);
    else if (rs.status == 403) hint = idp_arena_sprintf(ctx->arena, " (the user of %s may not do this)", c->where);
    else if (rs.status == 409 && strcmp(method, "PATCH") == 0) hint = " (set force_conflicts = true to take these fields over)";
    idp_drv_fail(ctx, "%s %s: %ld %s%s", method, path, rs.status, msg, hint);
    json_decref(j);
    rc = -1;
  }
  idp_http_resp_free(&rs);
  return rc;
}

/* --- objects ---------------------------------------------------------------------------------- */

typedef struct ktarget {
  const char *api;           /* "/api/v1" or "/apis/GROUP/VERSION" */
  const char *plural;        /* "deployments" */
  bool namespaced;
  const char *ns, *name;     /* ns NULL when cluster-scoped */
} ktarget;

static const char *obj_path(idp_arena *a, const ktarget *t) {
  if (t->namespaced) return idp_arena_sprintf(a, "%s/namespaces/%s/%s/%s", t->api, t->ns, t->plural, t->name);
  return idp_arena_sprintf(a, "%s/%s/%s", t->api, t->plural, t->name);
}

static bool name_ok(const char *s) {
  if (!*s || strlen(s) > 253) return false;
  for (const char *c = s; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.')) return false;
  return true;
}

/* Server-side apply of obj (a JSON tree; stolen) at t; *res gets the answer (the object). */
static int ssa(kconn *c, const ktarget *t, json_t *obj, bool force, json_t **res) {
  char *text = json_dumps(obj, JSON_COMPACT);
  json_decref(obj);
  long status;
  int rc = kapi(c, "PATCH", obj_path(c->ctx->arena, t), force ? "fieldManager=idp&force=true" : "fieldManager=idp", text,
                "application/apply-patch+yaml", 0, &status, res);
  OPENSSL_cleanse(text, strlen(text));
  free(text);
  return rc;
}

static int kget(kconn *c, const ktarget *t, json_t **res) {
  long status;
  if (kapi(c, "GET", obj_path(c->ctx->arena, t), NULL, NULL, NULL, 404, &status, res) != 0) return -1;
  if (status == 404) {
    json_decref(*res);
    *res = NULL;
  }
  return 0;
}

static int kdelete(kconn *c, const ktarget *t) {
  long status;
  json_t *res;
  if (kapi(c, "DELETE", obj_path(c->ctx->arena, t), "propagationPolicy=Background", NULL, NULL, 404, &status, &res) != 0) return -1;
  json_decref(res);
  return 0;
}

/* metadata with name, namespace, labels and annotations (plus extra labels, e.g. the selector's). */
static json_t *metadata(idp_drv_ctx *ctx, const idp_value *inputs, const ktarget *t, const char *name, json_t *extra_labels) {
  json_t *labels = string_map_json(ctx, inputs, "labels"), *ann = labels ? string_map_json(ctx, inputs, "annotations") : NULL;
  if (!labels || !ann) {
    json_decref(labels);
    json_decref(extra_labels);
    return NULL;
  }
  if (extra_labels) json_object_update(labels, extra_labels);
  json_decref(extra_labels);
  json_t *m = json_pack("{s:s}", "name", name);
  if (t->namespaced) json_object_set_new(m, "namespace", json_string(t->ns));
  if (json_object_size(labels)) json_object_set_new(m, "labels", labels);
  else json_decref(labels);
  if (json_object_size(ann)) json_object_set_new(m, "annotations", ann);
  else json_decref(ann);
  return m;
}

static json_t *object(const char *api_version, const char *kind, json_t *meta) {
  return json_pack("{s:s, s:s, s:o}", "apiVersion", api_version, "kind", kind, "metadata", meta);
}

static idp_value *object_outputs_of(idp_drv_ctx *ctx, json_t *obj, bool deployment, bool service) {
  json_t *md = json_object_get(obj, "metadata");
  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  const char *uid = jstr(md, "uid"), *rv = jstr(md, "resourceVersion");
  if (deployment) idp_map_builder_add(&mb, "generation", 10, idp_value_number(ctx->arena, (double)json_integer_value(json_object_get(md, "generation"))));
  idp_map_builder_add(&mb, "resource_version", 16, idp_value_cstring(ctx->arena, rv ? rv : ""));
  idp_map_builder_add(&mb, "uid", 3, idp_value_cstring(ctx->arena, uid ? uid : ""));
  if (service) {
    const char *ip = jstr(json_object_get(obj, "spec"), "clusterIP");
    idp_map_builder_add(&mb, "cluster_ip", 10, idp_value_cstring(ctx->arena, ip ? ip : ""));
  }
  return idp_map_builder_build(&mb, NULL);
}

/* --- read: the prior inputs with what the server holds of the fields idp sets ------------------- */

typedef struct override {
  const char *key;
  idp_value *val;            /* NULL: drop the key */
} override;

static idp_value *with_overrides(idp_arena *a, const idp_value *prior_inputs, const override *ov, size_t n) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  for (size_t i = 0; prior_inputs && prior_inputs->kind == IDP_V_MAP && i < prior_inputs->u.map.n; i++) {
    const char *k = prior_inputs->u.map.keys[i];
    idp_value *v = prior_inputs->u.map.vals[i];
    bool drop = false;
    for (size_t j = 0; j < n; j++)
      if (strcmp(ov[j].key, k) == 0) {
        v = ov[j].val;
        drop = !v;
      }
    if (!drop) idp_map_builder_add(&mb, k, prior_inputs->u.map.klen[i], v);
  }
  return idp_map_builder_build(&mb, NULL);
}

/* The prior's map input `name` restricted to its own keys, with the server's values of them from
 * the JSON object o (a key the server lacks is left out). decode: base64 values (secret data). */
static idp_value *map_readback(idp_arena *a, const idp_value *prior_inputs, const char *name, json_t *o, bool decode) {
  const idp_value *p = entry(prior_inputs, name);
  if (!p || p->kind != IDP_V_MAP) return p ? (idp_value *)p : NULL;
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  for (size_t i = 0; i < p->u.map.n; i++) {
    const char *s = jstr(o, p->u.map.keys[i]);
    json_t *jv = json_object_get(o, p->u.map.keys[i]);
    if (!s && !json_is_string(jv)) continue;
    if (!s) s = "";
    idp_value *v;
    const idp_value *pv = p->u.map.vals[i];
    if (decode) {
      size_t len;
      char *d = b64_decode(s, &len);
      if (!d) continue;
      v = idp_value_string(a, d, len);
      OPENSSL_cleanse(d, len);
      free(d);
    } else {
      v = idp_value_cstring(a, s);
    }
    /* same text as the prior's value: keep the prior's (its type and marks) */
    const char *pt = pv->kind == IDP_V_NULL ? NULL : scalar_text(a, pv);
    if (pt && strcmp(pt, v->u.string.s) == 0) v = (idp_value *)pv;
    else if (pv->secret || p->secret) v = idp_value_taint(a, v, NULL, true);
    idp_map_builder_add(&mb, p->u.map.keys[i], p->u.map.klen[i], v);
  }
  idp_value *m = idp_map_builder_build(&mb, NULL);
  return p->secret ? idp_value_taint(a, m, NULL, true) : m;
}

static size_t meta_overrides(idp_arena *a, const idp_value *prior_inputs, json_t *obj, override *ov) {
  json_t *md = json_object_get(obj, "metadata");
  size_t n = 0;
  ov[n++] = (override){"labels", map_readback(a, prior_inputs, "labels", json_object_get(md, "labels"), false)};
  ov[n++] = (override){"annotations", map_readback(a, prior_inputs, "annotations", json_object_get(md, "annotations"), false)};
  return n;
}

static idp_value *num(idp_arena *a, json_t *j) {
  if (json_is_integer(j)) return idp_value_number(a, (double)json_integer_value(j));
  if (json_is_real(j)) return idp_value_number(a, json_real_value(j));
  return NULL;
}

/* A number read back, or the prior's when the server has none and the prior had none either. */
static idp_value *num_or_drop(idp_arena *a, const idp_value *prior_inputs, const char *name, json_t *j) {
  idp_value *v = num(a, j);
  if (v) return v;
  const idp_value *p = entry(prior_inputs, name);
  return p ? NULL : (idp_value *)idp_map_get(prior_inputs, name, strlen(name));
}

/* --- the kinds -------------------------------------------------------------------------------- */

typedef struct kkind {
  const char *name;          /* "deployment" */
  const char *api, *api_version, *kind, *plural;
  bool namespaced;
  /* Fills obj (apiVersion, kind, metadata set) from inputs; 0 or -1. */
  int (*build)(idp_drv_ctx *ctx, const idp_value *inputs, const ktarget *t, json_t *obj);
  /* The overrides of the prior inputs from the server's object; returns how many (max 16). */
  size_t (*read)(idp_arena *a, const idp_value *prior_inputs, json_t *obj, override *ov);
} kkind;

static int target_of(idp_drv_ctx *ctx, const kkind *k, const idp_value *inputs, ktarget *t) {
  memset(t, 0, sizeof *t);
  t->api = k->api;
  t->plural = k->plural;
  t->namespaced = k->namespaced;
  if (str_in(ctx, inputs, "name", true, &t->name) != 0) return -1;
  if (!name_ok(t->name)) return idp_drv_fail(ctx, "name '%s' is not a Kubernetes name (lower-case letters, digits, '-' and '.')", t->name);
  if (k->namespaced) {
    if (str_in(ctx, inputs, "namespace", true, &t->ns) != 0) return -1;
    if (!name_ok(t->ns)) return idp_drv_fail(ctx, "namespace '%s' is not a Kubernetes name", t->ns);
  }
  return 0;
}

static int build_namespace(idp_drv_ctx *ctx, const idp_value *inputs, const ktarget *t, json_t *obj) {
  (void)ctx, (void)inputs, (void)t, (void)obj;
  return 0;
}
static size_t read_namespace(idp_arena *a, const idp_value *pi, json_t *obj, override *ov) {
  (void)a, (void)pi, (void)obj, (void)ov;
  return 0;
}

static int build_config_map(idp_drv_ctx *ctx, const idp_value *inputs, const ktarget *t, json_t *obj) {
  (void)t;
  json_t *d = string_map_json(ctx, inputs, "data");
  if (!d) return -1;
  json_object_set_new(obj, "data", d);
  return 0;
}
static size_t read_config_map(idp_arena *a, const idp_value *pi, json_t *obj, override *ov) {
  ov[0] = (override){"data", map_readback(a, pi, "data", json_object_get(obj, "data"), false)};
  return 1;
}

static int build_secret(idp_drv_ctx *ctx, const idp_value *inputs, const ktarget *t, json_t *obj) {
  (void)t;
  const char *type;
  if (str_in(ctx, inputs, "type", false, &type) != 0) return -1;
  json_t *d = string_map_json(ctx, inputs, "data");
  if (!d) return -1;
  const char *k;
  json_t *v;
  json_t *enc = json_object();
  json_object_foreach(d, k, v) {
    char *b = b64_encode(json_string_value(v), json_string_length(v));
    json_object_set_new(enc, k, json_string(b));
    free(b);
  }
  json_decref(d);
  json_object_set_new(obj, "type", json_string(type ? type : "Opaque"));
  json_object_set_new(obj, "data", enc);
  return 0;
}
static size_t read_secret(idp_arena *a, const idp_value *pi, json_t *obj, override *ov) {
  const char *type = jstr(obj, "type");
  ov[0] = (override){"data", map_readback(a, pi, "data", json_object_get(obj, "data"), true)};
  ov[1] = (override){"type", idp_value_cstring(a, type ? type : "Opaque")};
  return 2;
}

static int build_service(idp_drv_ctx *ctx, const idp_value *inputs, const ktarget *t, json_t *obj) {
  long long port, target;
  const char *type;
  if (whole_in(ctx, inputs, "port", 0, 1, 65535, &port) != 0 || whole_in(ctx, inputs, "target_port", port, 1, 65535, &target) != 0 ||
      str_in(ctx, inputs, "type", false, &type) != 0)
    return -1;
  json_t *sel = entry(inputs, "selector") ? string_map_json(ctx, inputs, "selector") : json_pack("{s:s}", SELECTOR_LABEL, t->name);
  if (!sel) return -1;
  json_object_set_new(obj, "spec", json_pack("{s:s, s:o, s:[{s:s, s:I, s:I, s:s}]}", "type", type ? type : "ClusterIP", "selector", sel,
                                             "ports", "name", "http", "port", (json_int_t)port, "targetPort", (json_int_t)target,
                                             "protocol", "TCP"));
  return 0;
}
static size_t read_service(idp_arena *a, const idp_value *pi, json_t *obj, override *ov) {
  json_t *spec = json_object_get(obj, "spec"), *p0 = json_array_get(json_object_get(spec, "ports"), 0);
  size_t n = 0;
  const char *type = jstr(spec, "type");
  ov[n++] = (override){"type", idp_value_cstring(a, type ? type : "ClusterIP")};
  ov[n++] = (override){"port", num_or_drop(a, pi, "port", json_object_get(p0, "port"))};
  if (entry(pi, "target_port")) ov[n++] = (override){"target_port", num_or_drop(a, pi, "target_port", json_object_get(p0, "targetPort"))};
  if (entry(pi, "selector")) ov[n++] = (override){"selector", map_readback(a, pi, "selector", json_object_get(spec, "selector"), false)};
  return n;
}

static int build_ingress(idp_drv_ctx *ctx, const idp_value *inputs, const ktarget *t, json_t *obj) {
  (void)t;
  const char *host, *path, *service, *cls, *tls;
  long long sport;
  if (str_in(ctx, inputs, "host", true, &host) != 0 || str_in(ctx, inputs, "path", false, &path) != 0 ||
      str_in(ctx, inputs, "service", true, &service) != 0 || whole_in(ctx, inputs, "service_port", 0, 1, 65535, &sport) != 0 ||
      str_in(ctx, inputs, "class", false, &cls) != 0 || str_in(ctx, inputs, "tls_secret", false, &tls) != 0)
    return -1;
  json_t *spec = json_pack("{s:[{s:s, s:{s:[{s:s, s:s, s:{s:{s:s, s:{s:I}}}}]}}]}", "rules", "host", host, "http", "paths", "path",
                           path ? path : "/", "pathType", "Prefix", "backend", "service", "name", service, "port", "number",
                           (json_int_t)sport);
  if (cls) json_object_set_new(spec, "ingressClassName", json_string(cls));
  if (tls) json_object_set_new(spec, "tls", json_pack("[{s:[s], s:s}]", "hosts", host, "secretName", tls));
  json_object_set_new(obj, "spec", spec);
  return 0;
}
static size_t read_ingress(idp_arena *a, const idp_value *pi, json_t *obj, override *ov) {
  json_t *spec = json_object_get(obj, "spec"), *r0 = json_array_get(json_object_get(spec, "rules"), 0);
  json_t *p0 = json_array_get(json_object_get(json_object_get(r0, "http"), "paths"), 0);
  json_t *svc = json_object_get(json_object_get(p0, "backend"), "service");
  size_t n = 0;
  const char *host = jstr(r0, "host"), *path = jstr(p0, "path"), *name = jstr(svc, "name");
  ov[n++] = (override){"host", idp_value_cstring(a, host ? host : "")};
  ov[n++] = (override){"path", idp_value_cstring(a, path ? path : "/")};
  ov[n++] = (override){"service", idp_value_cstring(a, name ? name : "")};
  ov[n++] = (override){"service_port", num_or_drop(a, pi, "service_port", json_object_get(json_object_get(svc, "port"), "number"))};
  if (entry(pi, "class")) {
    const char *c = jstr(spec, "ingressClassName");
    ov[n++] = (override){"class", c ? idp_value_cstring(a, c) : NULL};
  }
  if (entry(pi, "tls_secret")) {
    const char *s = jstr(json_array_get(json_object_get(spec, "tls"), 0), "secretName");
    ov[n++] = (override){"tls_secret", s ? idp_value_cstring(a, s) : NULL};
  }
  return n;
}

/* --- deployment ------------------------------------------------------------------------------- */

/* The secret env keys, as a Secret's base64 data; NULL when there is none. */
static json_t *secret_env(idp_drv_ctx *ctx, const idp_value *inputs) {
  const idp_value *env = entry(inputs, "env");
  if (!env || env->kind != IDP_V_MAP) return NULL;
  json_t *d = NULL;
  for (size_t i = 0; i < env->u.map.n; i++) {
    const idp_value *v = env->u.map.vals[i];
    if (!(env->secret || v->secret) || v->kind == IDP_V_NULL) continue;
    const char *t = scalar_text(ctx->arena, v);
    if (!t) continue;
    char *b = b64_encode(t, strlen(t));
    if (!d) d = json_object();
    json_object_set_new(d, env->u.map.keys[i], json_string(b));
    free(b);
  }
  return d;
}

static json_t *probe_json(idp_drv_ctx *ctx, const idp_value *p, long long defport, bool *bad) {
  const char *path;
  long long port;
  if (!p) return NULL;
  if (p->kind != IDP_V_MAP || str_in(ctx, p, "path", false, &path) != 0 || whole_in(ctx, p, "port", defport, 1, 65535, &port) != 0 ||
      !port) {
    *bad = true;
    return NULL;
  }
  return json_pack("{s:{s:s, s:I}}", "httpGet", "path", path ? path : "/", "port", (json_int_t)port);
}

static int build_deployment(idp_drv_ctx *ctx, const idp_value *inputs, const ktarget *t, json_t *obj) {
  const char *image;
  long long replicas, port;
  if (str_in(ctx, inputs, "image", true, &image) != 0 || whole_in(ctx, inputs, "replicas", 1, 0, 1000000, &replicas) != 0 ||
      whole_in(ctx, inputs, "port", 0, 1, 65535, &port) != 0)
    return -1;
  const idp_value *labels = entry(inputs, "labels");
  if (labels && labels->kind == IDP_V_MAP && idp_map_get(labels, SELECTOR_LABEL, strlen(SELECTOR_LABEL)))
    return idp_drv_fail(ctx, "labels may not set %s: idp sets it to the name", SELECTOR_LABEL);
  json_t *container = json_pack("{s:s, s:s}", "name", t->name, "image", image);
  if (port) json_object_set_new(container, "ports", json_pack("[{s:I, s:s}]", "containerPort", (json_int_t)port, "protocol", "TCP"));
  const idp_value *env = entry(inputs, "env");
  if (env && env->kind == IDP_V_MAP && env->u.map.n) {
    json_t *ja = json_array();
    const char *sn = idp_arena_sprintf(ctx->arena, "%s-env", t->name);
    for (size_t i = 0; i < env->u.map.n; i++) {
      const idp_value *v = env->u.map.vals[i];
      const char *k = env->u.map.keys[i];
      if (v->kind == IDP_V_NULL) continue;
      const char *txt = scalar_text(ctx->arena, v);
      if (!txt) {
        json_decref(ja);
        json_decref(container);
        return idp_drv_fail(ctx, "env.%s must be a string", k);
      }
      if (env->secret || v->secret)
        json_array_append_new(ja, json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", k, "valueFrom", "secretKeyRef", "name", sn, "key", k));
      else
        json_array_append_new(ja, json_pack("{s:s, s:s}", "name", k, "value", txt));
    }
    json_object_set_new(container, "env", ja);
  }
  static const char *const lists[] = {"command", "args"};
  for (int li = 0; li < 2; li++) {
    const idp_value *l = entry(inputs, lists[li]);
    if (!l) continue;
    if (l->kind != IDP_V_LIST) {
      json_decref(container);
      return idp_drv_fail(ctx, "%s must be a list of strings", lists[li]);
    }
    json_t *ja = json_array();
    for (size_t i = 0; i < l->u.list.n; i++) {
      const char *s = scalar_text(ctx->arena, l->u.list.items[i]);
      json_array_append_new(ja, json_string(s ? s : ""));
    }
    json_object_set_new(container, lists[li], ja);
  }
  const idp_value *res = entry(inputs, "resources");
  if (res) {
    if (res->kind != IDP_V_MAP) {
      json_decref(container);
      return idp_drv_fail(ctx, "resources must be { requests = { cpu, memory }, limits = { cpu, memory } }");
    }
    json_t *r = json_object();
    static const char *const parts[] = {"requests", "limits"};
    for (int pi = 0; pi < 2; pi++) {
      const idp_value *m = entry(res, parts[pi]);
      if (!m) continue;
      json_t *q = string_map_json(ctx, res, parts[pi]);
      if (!q) {
        json_decref(r);
        json_decref(container);
        return -1;
      }
      json_object_set_new(r, parts[pi], q);
    }
    json_object_set_new(container, "resources", r);
  }
  const idp_value *probes = entry(inputs, "probes");
  if (probes) {
    bool bad = probes->kind != IDP_V_MAP;
    json_t *rp = bad ? NULL : probe_json(ctx, entry(probes, "readiness"), port, &bad);
    json_t *lp = bad ? NULL : probe_json(ctx, entry(probes, "liveness"), port, &bad);
    if (bad) {
      json_decref(rp);
      json_decref(lp);
      json_decref(container);
      return idp_drv_fail(ctx, "probes must be { readiness = { path, port }, liveness = { path, port } } (port defaults to the port input)");
    }
    if (rp) json_object_set_new(container, "readinessProbe", rp);
    if (lp) json_object_set_new(container, "livenessProbe", lp);
  }
  json_t *tlabels = string_map_json(ctx, inputs, "labels");
  if (!tlabels) {
    json_decref(container);
    return -1;
  }
  json_object_set_new(tlabels, SELECTOR_LABEL, json_string(t->name));
  json_object_set_new(obj, "spec", json_pack("{s:I, s:{s:{s:s}}, s:{s:{s:o}, s:{s:[o]}}}", "replicas", (json_int_t)replicas,
                                             "selector", "matchLabels", SELECTOR_LABEL, t->name, "template", "metadata", "labels",
                                             tlabels, "spec", "containers", container));
  return 0;
}

static json_t *main_container(json_t *obj, const char *name) {
  json_t *cs = json_object_get(json_object_get(json_object_get(json_object_get(obj, "spec"), "template"), "spec"), "containers"), *c;
  size_t i;
  json_array_foreach(cs, i, c) {
    if (name && jstr(c, "name") && strcmp(jstr(c, "name"), name) == 0) return c;
  }
  return json_array_get(cs, 0);
}

static idp_value *string_list(idp_arena *a, json_t *arr) {
  size_t n = json_array_size(arr);
  idp_value **items = idp_arena_alloc(a, (n + 1) * sizeof *items);
  for (size_t i = 0; i < n; i++) {
    const char *s = json_string_value(json_array_get(arr, i));
    items[i] = idp_value_cstring(a, s ? s : "");
  }
  return idp_value_list(a, items, n);
}

static size_t read_deployment(idp_arena *a, const idp_value *pi, json_t *obj, override *ov) {
  const char *name = NULL;
  const idp_value *nv = entry(pi, "name");
  if (nv && nv->kind == IDP_V_STRING) name = nv->u.string.s;
  json_t *c = main_container(obj, name);
  size_t n = 0;
  const char *image = jstr(c, "image");
  ov[n++] = (override){"image", idp_value_cstring(a, image ? image : "")};
  ov[n++] = (override){"replicas", num_or_drop(a, pi, "replicas", json_object_get(json_object_get(obj, "spec"), "replicas"))};
  if (entry(pi, "port"))
    ov[n++] = (override){"port", num_or_drop(a, pi, "port", json_object_get(json_array_get(json_object_get(c, "ports"), 0), "containerPort"))};
  static const char *const lists[] = {"command", "args"};
  for (int li = 0; li < 2; li++)
    if (entry(pi, lists[li])) {
      json_t *l = json_object_get(c, lists[li]);
      ov[n++] = (override){lists[li], l ? string_list(a, l) : NULL};
    }
  const idp_value *penv = entry(pi, "env");
  if (penv && penv->kind == IDP_V_MAP) {
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    json_t *ja = json_object_get(c, "env");
    for (size_t i = 0; i < penv->u.map.n; i++) {
      const char *k = penv->u.map.keys[i];
      idp_value *pv = penv->u.map.vals[i];
      json_t *e = NULL, *x;
      size_t j;
      json_array_foreach(ja, j, x) {
        if (jstr(x, "name") && strcmp(jstr(x, "name"), k) == 0) e = x;
      }
      if (!e) continue;
      bool psecret = penv->secret || pv->secret;
      idp_value *v;
      if (json_object_get(e, "valueFrom")) {
        /* a secret key: its value lives in the Secret; a plain one turned into a reference is drift */
        v = psecret ? pv : idp_value_cstring(a, "(valueFrom)");
      } else {
        const char *s = jstr(e, "value");
        const char *pt = pv->kind == IDP_V_NULL ? NULL : scalar_text(a, pv);
        v = pt && s && strcmp(pt, s) == 0 && !psecret ? pv : idp_value_cstring(a, s ? s : "");
        if (psecret) v = idp_value_taint(a, v, NULL, true);
      }
      idp_map_builder_add(&mb, k, penv->u.map.klen[i], v);
    }
    idp_value *m = idp_map_builder_build(&mb, NULL);
    ov[n++] = (override){"env", penv->secret ? idp_value_taint(a, m, NULL, true) : m};
  }
  return n;
}

static const kkind kkinds[] = {
    {"namespace", "/api/v1", "v1", "Namespace", "namespaces", false, build_namespace, read_namespace},
    {"deployment", "/apis/apps/v1", "apps/v1", "Deployment", "deployments", true, build_deployment, read_deployment},
    {"service", "/api/v1", "v1", "Service", "services", true, build_service, read_service},
    {"ingress", "/apis/networking.k8s.io/v1", "networking.k8s.io/v1", "Ingress", "ingresses", true, build_ingress, read_ingress},
    {"secret", "/api/v1", "v1", "Secret", "secrets", true, build_secret, read_secret},
    {"config_map", "/api/v1", "v1", "ConfigMap", "configmaps", true, build_config_map, read_config_map},
};

/* --- rollout ---------------------------------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double d) {
  struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
  nanosleep(&ts, NULL);
}

static json_t *condition(json_t *obj, const char *type) {
  json_t *cs = json_object_get(json_object_get(obj, "status"), "conditions"), *c;
  size_t i;
  json_array_foreach(cs, i, c) {
    if (jstr(c, "type") && strcmp(jstr(c, "type"), type) == 0) return c;
  }
  return NULL;
}

static long long jint(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* Polls the deployment until its rollout completed (the current generation observed, every
 * replica updated and available), failed (Progressing=False) or timeout passed. *obj: the last read. */
static int wait_rollout(kconn *c, const ktarget *t, double timeout, json_t **obj) {
  double start = now_s(), delay = 0.1;
  for (;;) {
    json_decref(*obj);
    *obj = NULL;
    if (kget(c, t, obj) != 0) return -1;
    if (!*obj) return idp_drv_fail(c->ctx, "deployment %s/%s disappeared during its rollout", t->ns, t->name);
    json_t *st = json_object_get(*obj, "status"), *spec = json_object_get(*obj, "spec");
    long long gen = jint(json_object_get(*obj, "metadata"), "generation"), want = jint(spec, "replicas");
    if (!json_object_get(spec, "replicas")) want = 1;
    long long upd = jint(st, "updatedReplicas"), avail = jint(st, "availableReplicas"), total = jint(st, "replicas");
    bool observed = jint(st, "observedGeneration") >= gen;
    json_t *prog = condition(*obj, "Progressing");
    if (observed && upd == want && avail == want && total <= want) return 0;
    if (observed && prog && jstr(prog, "status") && strcmp(jstr(prog, "status"), "False") == 0)
      return idp_drv_fail(c->ctx, "deployment %s/%s: rollout failed: %s: %s", t->ns, t->name, jstr(prog, "reason") ? jstr(prog, "reason") : "",
                          jstr(prog, "message") ? jstr(prog, "message") : "");
    double left = timeout - (now_s() - start);
    if (left <= 0) {
      json_t *cond = prog ? prog : condition(*obj, "Available");
      return idp_drv_fail(c->ctx, "deployment %s/%s: rollout not complete after %gs (%lld of %lld replicas updated, %lld available)%s%s%s%s",
                          t->ns, t->name, timeout, upd, want, avail, cond ? ": " : "",
                          cond && jstr(cond, "reason") ? jstr(cond, "reason") : "", cond ? ": " : "",
                          cond && jstr(cond, "message") ? jstr(cond, "message") : "");
    }
    sleep_s(delay < left ? delay : left);
    if (delay < 2) delay *= 1.5;
  }
}

/* --- the operations, shared by the fixed kinds ------------------------------------------------- */

static ktarget env_secret_target(idp_arena *a, const ktarget *t) {
  ktarget s = {"/api/v1", "secrets", true, t->ns, idp_arena_sprintf(a, "%s-env", t->name)};
  return s;
}

static int apply_kind(idp_drv_ctx *ctx, const kkind *k, const idp_value *prior, const idp_value *inputs, idp_value **outputs) {
  kconn c;
  ktarget t;
  if (connect_cluster(ctx, inputs, &c) != 0 || target_of(ctx, k, inputs, &t) != 0) return -1;
  bool deploy = strcmp(k->name, "deployment") == 0, force = bool_in(inputs, "force_conflicts");
  json_t *meta = metadata(ctx, inputs, &t, t.name, deploy ? json_pack("{s:s}", SELECTOR_LABEL, t.name) : NULL);
  if (!meta) return -1;
  json_t *obj = object(k->api_version, k->kind, meta), *res = NULL;
  if (k->build(ctx, inputs, &t, obj) != 0) {
    json_decref(obj);
    return -1;
  }
  ktarget st = env_secret_target(ctx->arena, &t);
  if (deploy) {
    json_t *data = secret_env(ctx, inputs);
    if (data) {
      json_t *sec = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:o}", "apiVersion", "v1", "kind", "Secret", "metadata", "name",
                              st.name, "namespace", st.ns, "labels", SELECTOR_LABEL, t.name, "type", "Opaque", "data", data);
      if (ssa(&c, &st, sec, force, &res) != 0) {
        json_decref(obj);
        return -1;
      }
      json_decref(res);
      res = NULL;
    }
  }
  if (ssa(&c, &t, obj, force, &res) != 0) return -1;
  ctx->applied = true; /* from here on a failure leaves the object changed */
  if (deploy) {
    json_t *now = secret_env(ctx, inputs), *before = prior ? secret_env(ctx, entry(prior, "inputs")) : NULL;
    int rc = 0;
    if (!now && before) rc = kdelete(&c, &st);
    json_decref(now);
    json_decref(before);
    long long timeout;
    if (rc == 0 && entry(inputs, "wait") && !bool_in(inputs, "wait")) {
    } else if (rc == 0) {
      rc = whole_in(ctx, inputs, "timeout", 300, 0, 86400, &timeout);
      if (rc == 0) rc = wait_rollout(&c, &t, (double)timeout, &res);
    }
    if (rc != 0) {
      json_decref(res);
      return -1;
    }
  }
  *outputs = object_outputs_of(ctx, res, deploy, strcmp(k->name, "service") == 0);
  json_decref(res);
  return 0;
}

static int read_kind(idp_drv_ctx *ctx, const kkind *k, const idp_value *prior, idp_value **out) {
  const idp_value *pi = entry(prior, "inputs");
  kconn c;
  ktarget t;
  *out = NULL;
  if (connect_cluster(ctx, pi, &c) != 0 || target_of(ctx, k, pi, &t) != 0) return -1;
  json_t *obj;
  if (kget(&c, &t, &obj) != 0) return -1;
  if (!obj) return 0;
  override ov[20];
  size_t n = meta_overrides(ctx->arena, pi, obj, ov);
  n += k->read(ctx->arena, pi, obj, ov + n);
  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  idp_map_builder_add(&mb, "inputs", 6, with_overrides(ctx->arena, pi, ov, n));
  idp_map_builder_add(&mb, "outputs", 7,
                      object_outputs_of(ctx, obj, strcmp(k->name, "deployment") == 0, strcmp(k->name, "service") == 0));
  *out = idp_map_builder_build(&mb, NULL);
  json_decref(obj);
  return 0;
}

static int delete_kind(idp_drv_ctx *ctx, const kkind *k, const idp_value *prior) {
  const idp_value *pi = entry(prior, "inputs");
  kconn c;
  ktarget t;
  if (connect_cluster(ctx, pi, &c) != 0 || target_of(ctx, k, pi, &t) != 0 || kdelete(&c, &t) != 0) return -1;
  if (strcmp(k->name, "deployment") == 0) {
    json_t *had = secret_env(ctx, pi);
    if (had) {
      json_decref(had);
      ktarget st = env_secret_target(ctx->arena, &t);
      return kdelete(&c, &st);
    }
  }
  return 0;
}

#define KIND_OPS(i, nm)                                                                                                  \
  static int create_##nm(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {                              \
    return apply_kind(ctx, &kkinds[i], NULL, inputs, outputs);                                                           \
  }                                                                                                                      \
  static int update_##nm(idp_drv_ctx *ctx, const idp_value *prior, const idp_value *inputs, idp_value **outputs) {      \
    return apply_kind(ctx, &kkinds[i], prior, inputs, outputs);                                                          \
  }                                                                                                                      \
  static int read_##nm##_op(idp_drv_ctx *ctx, const idp_value *prior, idp_value **out) { return read_kind(ctx, &kkinds[i], prior, out); } \
  static int delete_##nm(idp_drv_ctx *ctx, const idp_value *prior) { return delete_kind(ctx, &kkinds[i], prior); }
KIND_OPS(0, namespace)
KIND_OPS(1, deployment)
KIND_OPS(2, service)
KIND_OPS(3, ingress)
KIND_OPS(4, secret)
KIND_OPS(5, config_map)
#define OPS(nm) {read_##nm, create_##nm, update_##nm, delete_##nm}
#define OPS_K(nm) {read_##nm##_op, create_##nm, update_##nm, delete_##nm}

/* --- manifest --------------------------------------------------------------------------------- */

/* The manifest input as JSON, and where it goes (through discovery). */
static int manifest_of(idp_drv_ctx *ctx, kconn *c, const idp_value *inputs, json_t **mj, ktarget *t) {
  const idp_value *m = entry(inputs, "manifest");
  *mj = NULL;
  memset(t, 0, sizeof *t);
  if (!m) return idp_drv_fail(ctx, "manifest is required");
  if (m->kind == IDP_V_STRING) {
    char perr[200];
    *mj = yaml_parse(m->u.string.s, m->u.string.len, true, perr, sizeof perr);
    if (!*mj) return idp_drv_fail(ctx, "manifest is not YAML: %s", perr);
  } else if (m->kind == IDP_V_MAP) {
    *mj = idp_value_to_json(m, NULL);
  }
  if (!json_is_object(*mj)) {
    json_decref(*mj);
    *mj = NULL;
    return idp_drv_fail(ctx, "manifest must be an object (a map or a YAML string)");
  }
  const char *av = jstr(*mj, "apiVersion"), *kind = jstr(*mj, "kind");
  json_t *md = json_object_get(*mj, "metadata");
  const char *name = jstr(md, "name"), *ns = jstr(md, "namespace"), *nsin;
  if (!av || !kind || !name) return idp_drv_fail(ctx, "manifest must hold apiVersion, kind and metadata.name");
  if (str_in(ctx, inputs, "namespace", false, &nsin) != 0) return -1;
  t->api = strchr(av, '/') ? idp_arena_sprintf(ctx->arena, "/apis/%s", av) : idp_arena_sprintf(ctx->arena, "/api/%s", av);
  json_t *disc;
  long status;
  if (kapi(c, "GET", t->api, NULL, NULL, NULL, 404, &status, &disc) != 0) return -1;
  if (status == 404) {
    json_decref(disc);
    return idp_drv_fail(ctx, "manifest: the server does not serve apiVersion %s (GET %s: 404)", av, t->api);
  }
  json_t *r;
  size_t i;
  json_array_foreach(json_object_get(disc, "resources"), i, r) {
    const char *rn = jstr(r, "name"), *rk = jstr(r, "kind");
    if (rn && rk && !strchr(rn, '/') && strcmp(rk, kind) == 0) {
      t->plural = idp_arena_strndup(ctx->arena, rn, strlen(rn));
      t->namespaced = json_is_true(json_object_get(r, "namespaced"));
      break;
    }
  }
  json_decref(disc);
  if (!t->plural) return idp_drv_fail(ctx, "manifest: apiVersion %s has no kind %s (discovery GET %s)", av, kind, t->api);
  t->name = idp_arena_strndup(ctx->arena, name, strlen(name));
  if (t->namespaced) {
    t->ns = ns ? idp_arena_strndup(ctx->arena, ns, strlen(ns)) : nsin ? nsin : "default";
    json_object_set_new(md, "namespace", json_string(t->ns));
  } else {
    json_object_del(md, "namespace");
  }
  if (!name_ok(t->name) || (t->ns && !name_ok(t->ns))) return idp_drv_fail(ctx, "manifest: '%s' is not a Kubernetes name", t->name);
  return 0;
}

static int apply_manifest(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  kconn c;
  ktarget t;
  json_t *mj, *res;
  if (connect_cluster(ctx, inputs, &c) != 0) return -1;
  if (manifest_of(ctx, &c, inputs, &mj, &t) != 0) {
    json_decref(mj);
    return -1;
  }
  if (ssa(&c, &t, mj, bool_in(inputs, "force_conflicts"), &res) != 0) return -1;
  *outputs = object_outputs_of(ctx, res, false, false);
  json_decref(res);
  return 0;
}
static int create_manifest(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) { return apply_manifest(ctx, inputs, outputs); }
static int update_manifest(idp_drv_ctx *ctx, const idp_value *prior, const idp_value *inputs, idp_value **outputs) {
  (void)prior;
  return apply_manifest(ctx, inputs, outputs);
}

/* The server's values at the places want has (what idp set); NULL when the server has none. */
static json_t *intersect(json_t *want, json_t *have) {
  if (!have) return NULL;
  if (json_is_object(want)) {
    if (!json_is_object(have)) return json_incref(have);
    json_t *o = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v) {
      json_t *x = intersect(v, json_object_get(have, k));
      if (x) json_object_set_new(o, k, x);
    }
    return o;
  }
  if (json_is_array(want)) {
    if (!json_is_array(have)) return json_incref(have);
    json_t *a = json_array();
    for (size_t i = 0; i < json_array_size(have); i++) {
      json_t *w = json_array_get(want, i);
      json_array_append_new(a, w ? intersect(w, json_array_get(have, i)) : json_incref(json_array_get(have, i)));
    }
    return a;
  }
  if (json_is_number(want) && json_is_number(have) && json_number_value(want) == json_number_value(have)) return json_incref(want);
  return json_incref(have);
}

static int read_manifest(idp_drv_ctx *ctx, const idp_value *prior, idp_value **out) {
  const idp_value *pi = entry(prior, "inputs");
  kconn c;
  ktarget t;
  json_t *mj, *obj;
  *out = NULL;
  if (connect_cluster(ctx, pi, &c) != 0) return -1;
  if (manifest_of(ctx, &c, pi, &mj, &t) != 0) {
    json_decref(mj);
    return -1;
  }
  if (kget(&c, &t, &obj) != 0) {
    json_decref(mj);
    return -1;
  }
  if (!obj) {
    json_decref(mj);
    return 0;
  }
  json_t *x = intersect(mj, obj);
  override ov[1] = {{"manifest", json_equal(x, mj) ? (idp_value *)idp_map_get(pi, "manifest", 8) : idp_value_from_json(ctx->arena, x)}};
  json_decref(x);
  json_decref(mj);
  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  idp_map_builder_add(&mb, "inputs", 6, with_overrides(ctx->arena, pi, ov, 1));
  idp_map_builder_add(&mb, "outputs", 7, object_outputs_of(ctx, obj, false, false));
  *out = idp_map_builder_build(&mb, NULL);
  json_decref(obj);
  return 0;
}

static int delete_manifest(idp_drv_ctx *ctx, const idp_value *prior) {
  const idp_value *pi = entry(prior, "inputs");
  kconn c;
  ktarget t;
  json_t *mj;
  if (connect_cluster(ctx, pi, &c) != 0) return -1;
  int rc = manifest_of(ctx, &c, pi, &mj, &t);
  json_decref(mj);
  return rc == 0 ? kdelete(&c, &t) : -1;
}

#define IO(in, out) {in, IDP_DRV_N(in), out, IDP_DRV_N(out)}

static const idp_drv_kind kinds[] = {
    {.name = "namespace", .full = "kubernetes.namespace", .doc = "a namespace", .io = IO(namespace_inputs, object_outputs), .ops = OPS_K(namespace)},
    {.name = "deployment", .full = "kubernetes.deployment", .doc = "a Deployment of one container; apply waits for the rollout",
     .io = IO(deployment_inputs, deployment_outputs), .ops = OPS_K(deployment)},
    {.name = "service", .full = "kubernetes.service", .doc = "a Service routing one port to pods", .io = IO(service_inputs, service_outputs), .ops = OPS_K(service)},
    {.name = "ingress", .full = "kubernetes.ingress", .doc = "an Ingress routing a host (and path) to a service",
     .io = IO(ingress_inputs, object_outputs), .ops = OPS_K(ingress)},
    {.name = "secret", .full = "kubernetes.secret", .doc = "a Secret; its data is secret", .io = IO(secret_inputs, object_outputs), .ops = OPS_K(secret)},
    {.name = "config_map", .full = "kubernetes.config_map", .doc = "a ConfigMap", .io = IO(config_map_inputs, object_outputs), .ops = OPS_K(config_map)},
    {.name = "manifest", .full = "kubernetes.manifest", .doc = "any object, resolved through API discovery",
     .io = IO(manifest_inputs, object_outputs), .ops = OPS(manifest)},
};

const idp_driver idp_driver_kubernetes = {
    .name = "kubernetes",
    .doc = "a Kubernetes cluster, through its API (server-side apply)",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), NULL, 0},
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
