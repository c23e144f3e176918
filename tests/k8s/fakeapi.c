/* fakeapi.c - a FAKE Kubernetes API server for tests (no real API server can be installed here).
 *
 * Usage: fakeapi PORTFILE [-cert FILE -key FILE [-client-ca FILE]] [-token T]... [-expired-token T]...
 *                [-rollout-ms N] [-log FILE]
 *
 * Listens on 127.0.0.1 (a port the kernel picks, written to PORTFILE once it listens). With -cert and
 * -key it speaks HTTPS only (libmicrohttpd + GnuTLS); with -client-ca too, a client certificate
 * signed by that CA authenticates a request that has no Authorization header. Without -cert it
 * speaks plain HTTP. Runs until SIGINT or SIGTERM. See README.md beside this file for the API
 * surface: discovery, namespaces, configmaps, secrets, services, deployments and ingresses kept in
 * memory, server-side apply with (simplified) field ownership, merge patches, a deployment
 * "controller" that completes (or, for an image containing "fail-rollout", fails) a rollout
 * -rollout-ms after each spec change. It keeps the semantics idp relies on; it is not Kubernetes. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>

/* ---- resources ------------------------------------------------------------------------------ */
typedef struct resource {
  const char *name, *singular, *kind, *group, *version, *group_version;
  bool namespaced, has_generation;
} resource;

static const resource resources[] = {
    {"namespaces", "namespace", "Namespace", "", "v1", "v1", false, false},
    {"configmaps", "configmap", "ConfigMap", "", "v1", "v1", true, false},
    {"secrets", "secret", "Secret", "", "v1", "v1", true, false},
    {"services", "service", "Service", "", "v1", "v1", true, false},
    {"deployments", "deployment", "Deployment", "apps", "v1", "apps/v1", true, true},
    {"ingresses", "ingress", "Ingress", "networking.k8s.io", "v1", "networking.k8s.io/v1", true, true},
};
#define NRES (sizeof resources / sizeof resources[0])
#define FAIL_MARKER "fail-rollout"

/* ---- state ---------------------------------------------------------------------------------- */
typedef struct object {
  const resource *res;
  char *ns, *name; /* ns "" for cluster-scoped */
  json_t *o;       /* the object as served, without managedFields */
  json_t *owners;  /* {manager: {"operation":..,"apiVersion":..,"time":..,"paths":[[seg..]..]}} */
  long long rollout_due; /* ms (monotonic) when the rollout completes; 0: none pending */
} object;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static object **objs;
static size_t nobjs, capobjs;
static unsigned long long rv_counter = 1000;
static unsigned cluster_ip_counter = 10;
static long rollout_ms = 200;
static char *tokens[16], *expired[16];
static size_t ntokens, nexpired;
static bool tls, client_ca;
static FILE *logf;
static unsigned port;

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void timestamp(char out[32]) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void new_uid(char out[37]) {
  unsigned char b[16];
  FILE *f = fopen("/dev/urandom", "rb");
  if (!f || fread(b, 1, sizeof b, f) != sizeof b) {
    for (size_t i = 0; i < sizeof b; i++) b[i] = (unsigned char)rand();
  }
  if (f) fclose(f);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
           b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void bump_rv(json_t *o) {
  char buf[32];
  snprintf(buf, sizeof buf, "%llu", ++rv_counter);
  json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string(buf));
}

static object *find(const resource *r, const char *ns, const char *name) {
  for (size_t i = 0; i < nobjs; i++)
    if (objs[i]->res == r && !strcmp(objs[i]->ns, ns) && !strcmp(objs[i]->name, name)) return objs[i];
  return NULL;
}

static void free_object(object *ob) {
  json_decref(ob->o);
  json_decref(ob->owners);
  free(ob->ns);
  free(ob->name);
  free(ob);
}

static void remove_at(size_t i) {
  free_object(objs[i]);
  memmove(objs + i, objs + i + 1, (nobjs - i - 1) * sizeof *objs);
  nobjs--;
}

/* ---- replies -------------------------------------------------------------------------------- */
typedef struct reply {
  unsigned code;
  json_t *body; /* owned */
} reply;

static reply status_reply(unsigned code, const char *reason, json_t *details, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_t *s = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s}", "kind", "Status", "apiVersion", "v1", "metadata", "status",
                        code < 300 ? "Success" : "Failure", "message", msg, "reason", reason);
  if (details) json_object_set_new(s, "details", details);
  json_object_set_new(s, "code", json_integer(code));
  if (code < 300) json_object_del(s, "message"), json_object_del(s, "reason");
  return (reply){code, s};
}

/* "deployments.apps" or "configmaps" */
static void qualified(const resource *r, char *out, size_t n) {
  if (*r->group)
    snprintf(out, n, "%s.%s", r->name, r->group);
  else
    snprintf(out, n, "%s", r->name);
}

static json_t *details(const resource *r, const char *name) {
  json_t *d = json_pack("{s:s}", "name", name);
  if (*r->group) json_object_set_new(d, "group", json_string(r->group));
  json_object_set_new(d, "kind", json_string(r->name));
  return d;
}

static reply not_found(const resource *r, const char *name) {
  char q[96];
  qualified(r, q, sizeof q);
  return status_reply(404, "NotFound", details(r, name), "%s \"%s\" not found", q, name);
}

static reply bad_request(const char *msg) { return status_reply(400, "BadRequest", NULL, "%s", msg); }

/* ---- paths (simplified fieldsV1) ------------------------------------------------------------ */
/* A path is a JSON array of segments: a string (an object key) or {"name":N} (the item of a list
 * whose items all are objects with a string "name": containers, env, volumes...). Other lists and
 * scalars are leaves (atomic). */
static bool keyed_list(json_t *a) {
  if (!json_is_array(a) || json_array_size(a) == 0) return false;
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) if (!json_is_object(v) || !json_is_string(json_object_get(v, "name"))) return false;
  return true;
}

static json_t *keyed_item(json_t *a, const char *name, size_t *idx) {
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    if (json_is_object(v) && json_is_string(json_object_get(v, "name")) &&
        !strcmp(json_string_value(json_object_get(v, "name")), name)) {
      if (idx) *idx = i;
      return v;
    }
  }
  return NULL;
}

static void leaves(json_t *v, json_t *prefix, json_t *out) {
  if (json_is_object(v) && json_object_size(v) > 0) {
    const char *k;
    json_t *c;
    json_object_foreach(v, k, c) {
      if (json_is_null(c)) continue;
      json_t *p = json_copy(prefix);
      json_array_append_new(p, json_string(k));
      leaves(c, p, out);
      json_decref(p);
    }
  } else if (keyed_list(v)) {
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c) {
      json_t *p = json_copy(prefix);
      json_array_append_new(p, json_pack("{s:O}", "name", json_object_get(c, "name")));
      leaves(c, p, out);
      json_decref(p);
    }
  } else if (!json_is_null(v) && json_array_size(prefix) > 0) {
    json_array_append(out, prefix);
  }
}

static json_t *get_path(json_t *root, json_t *path, size_t upto) {
  json_t *cur = root;
  for (size_t i = 0; i < upto && cur; i++) {
    json_t *s = json_array_get(path, i);
    if (json_is_string(s))
      cur = json_is_object(cur) ? json_object_get(cur, json_string_value(s)) : NULL;
    else
      cur = json_is_array(cur) ? keyed_item(cur, json_string_value(json_object_get(s, "name")), NULL) : NULL;
  }
  return cur;
}

/* Removes the field at path, then the objects and list items it leaves empty (never the root). A
 * keyed item's "name" goes with its item. */
static void del_path(json_t *root, json_t *path) {
  size_t n = json_array_size(path);
  if (n >= 2 && json_is_object(json_array_get(path, n - 2)) && json_is_string(json_array_get(path, n - 1)) &&
      !strcmp(json_string_value(json_array_get(path, n - 1)), "name"))
    n--; /* the whole item */
  for (; n > 0; n--) {
    json_t *parent = get_path(root, path, n - 1), *last = json_array_get(path, n - 1);
    if (!parent) return;
    if (json_is_string(last)) {
      if (!json_is_object(parent)) return;
      json_object_del(parent, json_string_value(last));
    } else {
      size_t idx;
      if (!json_is_array(parent) || !keyed_item(parent, json_string_value(json_object_get(last, "name")), &idx)) return;
      json_array_remove(parent, idx);
    }
    if (n - 1 == 0) return;
    if (json_is_object(parent) ? json_object_size(parent) > 0 : json_array_size(parent) > 0) return;
  }
}

static void path_string(json_t *path, char *out, size_t n) {
  size_t len = 0, i;
  json_t *s;
  out[0] = 0;
  json_array_foreach(path, i, s) {
    if (len >= n) break;
    if (json_is_string(s))
      len += (size_t)snprintf(out + len, n - len, ".%s", json_string_value(s));
    else
      len += (size_t)snprintf(out + len, n - len, "[name=\"%s\"]", json_string_value(json_object_get(s, "name")));
  }
}

static bool has_path(json_t *paths, json_t *p) {
  size_t i;
  json_t *q;
  json_array_foreach(paths, i, q) if (json_equal(p, q)) return true;
  return false;
}

/* p and q overlap when one is a prefix of the other */
static bool overlaps(json_t *p, json_t *q) {
  size_t n = json_array_size(p) < json_array_size(q) ? json_array_size(p) : json_array_size(q);
  for (size_t i = 0; i < n; i++)
    if (!json_equal(json_array_get(p, i), json_array_get(q, i))) return false;
  return true;
}

static void drop_path(json_t *paths, json_t *p) {
  for (size_t i = json_array_size(paths); i-- > 0;)
    if (overlaps(json_array_get(paths, i), p)) json_array_remove(paths, i);
}

/* fieldsV1 as the real server writes it: {"f:spec":{"f:replicas":{}}}, k:{"name":"x"} for items */
static json_t *fields_v1(json_t *paths) {
  json_t *root = json_object();
  size_t i, j;
  json_t *p, *s;
  json_array_foreach(paths, i, p) {
    json_t *cur = root;
    json_array_foreach(p, j, s) {
      char key[512];
      if (json_is_string(s))
        snprintf(key, sizeof key, "f:%s", json_string_value(s));
      else
        snprintf(key, sizeof key, "k:{\"name\":\"%s\"}", json_string_value(json_object_get(s, "name")));
      json_t *next = json_object_get(cur, key);
      if (!next) {
        next = json_object();
        json_object_set_new(cur, key, next);
        if (!json_is_string(s)) json_object_set_new(next, ".", json_object());
      }
      cur = next;
    }
  }
  return root;
}

/* ---- merging -------------------------------------------------------------------------------- */
static void merge_apply(json_t *live, json_t *cfg) {
  const char *k;
  json_t *v;
  json_object_foreach(cfg, k, v) {
    if (json_is_null(v)) continue;
    json_t *cur = json_object_get(live, k);
    if (json_is_object(v) && json_is_object(cur)) {
      merge_apply(cur, v);
    } else if (keyed_list(v) && keyed_list(cur)) {
      size_t i;
      json_t *item;
      json_array_foreach(v, i, item) {
        json_t *li = keyed_item(cur, json_string_value(json_object_get(item, "name")), NULL);
        if (li)
          merge_apply(li, item);
        else
          json_array_append_new(cur, json_deep_copy(item));
      }
    } else {
      json_object_set_new(live, k, json_deep_copy(v));
    }
  }
}

/* RFC 7386 */
static void merge_patch(json_t *live, json_t *patch) {
  const char *k;
  json_t *v;
  json_object_foreach(patch, k, v) {
    json_t *cur = json_object_get(live, k);
    if (json_is_null(v))
      json_object_del(live, k);
    else if (json_is_object(v)) {
      if (!json_is_object(cur)) {
        cur = json_object();
        json_object_set_new(live, k, cur);
      }
      merge_patch(cur, v);
    } else
      json_object_set_new(live, k, json_deep_copy(v));
  }
}

/* patch leaves that delete (null), as paths */
static void null_leaves(json_t *v, json_t *prefix, json_t *out) {
  const char *k;
  json_t *c;
  json_object_foreach(v, k, c) {
    json_t *p = json_copy(prefix);
    json_array_append_new(p, json_string(k));
    if (json_is_null(c))
      json_array_append(out, p);
    else if (json_is_object(c))
      null_leaves(c, p, out);
    json_decref(p);
  }
}

/* ---- object semantics ----------------------------------------------------------------------- */
static const char *base64_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const char *s) {
  size_t n = strlen(s), o = 0;
  char *out = malloc(4 * ((n + 2) / 3) + 1);
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned char)s[i] << 16 | (i + 1 < n ? (unsigned char)s[i + 1] << 8 : 0) |
                 (i + 2 < n ? (unsigned char)s[i + 2] : 0);
    out[o++] = base64_chars[v >> 18 & 63];
    out[o++] = base64_chars[v >> 12 & 63];
    out[o++] = i + 1 < n ? base64_chars[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? base64_chars[v & 63] : '=';
  }
  out[o] = 0;
  return out;
}

/* What a write may set: no status, no server-owned metadata. A Secret's stringData is moved into
 * data, base64-encoded, as the real API server does. */
static void sanitize(const resource *r, json_t *cfg) {
  json_object_del(cfg, "apiVersion");
  json_object_del(cfg, "kind");
  json_object_del(cfg, "status");
  json_t *md = json_object_get(cfg, "metadata");
  if (json_is_object(md)) {
    static const char *const server[] = {"name", "namespace", "uid", "resourceVersion", "generation",
                                         "creationTimestamp", "managedFields", "deletionTimestamp", "selfLink"};
    for (size_t i = 0; i < sizeof server / sizeof *server; i++) json_object_del(md, server[i]);
    if (json_object_size(md) == 0) json_object_del(cfg, "metadata");
  }
  json_t *sd = json_object_get(cfg, "stringData");
  if (!strcmp(r->kind, "Secret") && json_is_object(sd)) {
    json_t *data = json_object_get(cfg, "data");
    if (!json_is_object(data)) {
      data = json_object();
      json_object_set_new(cfg, "data", data);
    }
    const char *k;
    json_t *v;
    json_object_foreach(sd, k, v) {
      if (!json_is_string(v)) continue;
      char *b = base64(json_string_value(v));
      json_object_set_new(data, k, json_string(b));
      free(b);
    }
    json_object_del(cfg, "stringData");
  }
}

/* What the real API server fills in: status, service cluster IP, protocol and targetPort, replicas,
 * the Secret type, the namespace's name label. */
static void defaults(object *ob) {
  json_t *o = ob->o, *spec = json_object_get(o, "spec");
  const char *kind = ob->res->kind;
  if (!strcmp(kind, "Namespace")) {
    json_t *md = json_object_get(o, "metadata"), *labels = json_object_get(md, "labels");
    if (!json_is_object(labels)) json_object_set_new(md, "labels", labels = json_object());
    json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(ob->name));
    if (!json_object_get(o, "status")) json_object_set_new(o, "status", json_pack("{s:s}", "phase", "Active"));
  } else if (!strcmp(kind, "Secret")) {
    if (!json_object_get(o, "type")) json_object_set_new(o, "type", json_string("Opaque"));
  } else if (!strcmp(kind, "Service")) {
    if (!json_is_object(spec)) json_object_set_new(o, "spec", spec = json_object());
    if (!json_object_get(spec, "type")) json_object_set_new(spec, "type", json_string("ClusterIP"));
    if (!json_object_get(spec, "sessionAffinity")) json_object_set_new(spec, "sessionAffinity", json_string("None"));
    if (!json_object_get(spec, "clusterIP")) {
      char ip[32];
      snprintf(ip, sizeof ip, "10.96.%u.%u", cluster_ip_counter / 250, cluster_ip_counter % 250 + 1);
      cluster_ip_counter++;
      json_object_set_new(spec, "clusterIP", json_string(ip));
      json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
    }
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(spec, "ports"), i, p) {
      if (!json_is_object(p)) continue;
      if (!json_object_get(p, "protocol")) json_object_set_new(p, "protocol", json_string("TCP"));
      if (!json_object_get(p, "targetPort") && json_object_get(p, "port"))
        json_object_set(p, "targetPort", json_object_get(p, "port"));
    }
    if (!json_object_get(o, "status")) json_object_set_new(o, "status", json_pack("{s:{}}", "loadBalancer"));
  } else if (!strcmp(kind, "Deployment")) {
    if (!json_is_object(spec)) json_object_set_new(o, "spec", spec = json_object());
    if (!json_object_get(spec, "replicas")) json_object_set_new(spec, "replicas", json_integer(1));
    if (!json_object_get(o, "status")) json_object_set_new(o, "status", json_object());
  } else if (!strcmp(kind, "Ingress")) {
    if (!json_object_get(o, "status")) json_object_set_new(o, "status", json_pack("{s:{}}", "loadBalancer"));
  }
}

static bool dns1123(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1])) return false;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' || s[i] == '.')) return false;
  return true;
}

/* 422 checks on the object after the write (ok: .code == 0) */
static reply validate(const object *ob) {
  const char *kind = ob->res->kind;
  bool label = !strcmp(kind, "Namespace") || !strcmp(kind, "Service");
  if (!dns1123(ob->name, label ? 63 : 253) || (label && strchr(ob->name, '.')))
    return status_reply(422, "Invalid", details(ob->res, ob->name),
                        "%s \"%s\" is invalid: metadata.name: Invalid value: \"%s\": a lowercase RFC 1123 %s must "
                        "consist of lower case alphanumeric characters, '-'%s, and must start and end with an "
                        "alphanumeric character",
                        kind, ob->name, ob->name, label ? "label" : "subdomain", label ? "" : " or '.'");
  json_t *spec = json_object_get(ob->o, "spec");
  if (!strcmp(kind, "Deployment")) {
    json_t *sel = json_object_get(json_object_get(spec, "selector"), "matchLabels");
    json_t *tl = json_object_get(json_object_get(json_object_get(spec, "template"), "metadata"), "labels");
    json_t *cs = json_object_get(json_object_get(json_object_get(spec, "template"), "spec"), "containers");
    if (!json_is_object(sel) || json_object_size(sel) == 0)
      return status_reply(422, "Invalid", details(ob->res, ob->name),
                          "Deployment.apps \"%s\" is invalid: spec.selector: Required value", ob->name);
    const char *k;
    json_t *v;
    json_object_foreach(sel, k, v) if (!json_is_object(tl) || !json_equal(json_object_get(tl, k), v)) return status_reply(
        422, "Invalid", details(ob->res, ob->name),
        "Deployment.apps \"%s\" is invalid: spec.template.metadata.labels: Invalid value: `selector` does not match "
        "template `labels`",
        ob->name);
    if (json_array_size(cs) == 0)
      return status_reply(422, "Invalid", details(ob->res, ob->name),
                          "Deployment.apps \"%s\" is invalid: spec.template.spec.containers: Required value", ob->name);
    size_t i;
    json_array_foreach(cs, i, v) if (!json_is_string(json_object_get(v, "image"))) return status_reply(
        422, "Invalid", details(ob->res, ob->name),
        "Deployment.apps \"%s\" is invalid: spec.template.spec.containers[%zu].image: Required value", ob->name, i);
  } else if (!strcmp(kind, "ConfigMap") || !strcmp(kind, "Secret")) {
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(ob->o, "data"), k, v) if (!json_is_string(v)) return status_reply(
        422, "Invalid", details(ob->res, ob->name), "%s \"%s\" is invalid: data[%s]: Invalid value: must be a string",
        kind, ob->name, k);
  } else if (!strcmp(kind, "Service")) {
    if (json_array_size(json_object_get(spec, "ports")) == 0 && strcmp(json_string_value(json_object_get(spec, "type")) ? json_string_value(json_object_get(spec, "type")) : "", "ExternalName"))
      return status_reply(422, "Invalid", details(ob->res, ob->name),
                          "Service \"%s\" is invalid: spec.ports: Required value", ob->name);
  }
  return (reply){0, NULL};
}

/* The deployment controller, run lazily before every request: what it would have done by now. */
static bool image_fails(json_t *o) {
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(json_object_get(json_object_get(json_object_get(o, "spec"), "template"), "spec"),
                                     "containers"),
                     i, c) {
    const char *img = json_string_value(json_object_get(c, "image"));
    if (img && strstr(img, FAIL_MARKER)) return true;
  }
  return false;
}

static json_t *condition(const char *type, const char *status, const char *reason, const char *msg, const char *ts) {
  return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status", status, "reason", reason, "message", msg,
                   "lastUpdateTime", ts, "lastTransitionTime", ts);
}

static void run_controller(void) {
  long long now = now_ms();
  for (size_t i = 0; i < nobjs; i++) {
    object *ob = objs[i];
    if (!ob->rollout_due || ob->rollout_due > now) continue;
    ob->rollout_due = 0;
    json_t *o = ob->o, *md = json_object_get(o, "metadata");
    json_int_t gen = json_integer_value(json_object_get(md, "generation"));
    json_int_t n = json_integer_value(json_object_get(json_object_get(o, "spec"), "replicas"));
    bool fail = image_fails(o);
    char ts[32], rs[256], msg[512];
    timestamp(ts);
    snprintf(rs, sizeof rs, "%s-%05llx", ob->name, (unsigned long long)(gen * 7919 % 0xfffff));
    json_t *st = json_object();
    json_object_set_new(st, "observedGeneration", json_integer(gen));
    json_object_set_new(st, "replicas", json_integer(n));
    json_object_set_new(st, "updatedReplicas", json_integer(n));
    json_object_set_new(st, "readyReplicas", json_integer(fail ? 0 : n));
    json_object_set_new(st, "availableReplicas", json_integer(fail ? 0 : n));
    if (fail) json_object_set_new(st, "unavailableReplicas", json_integer(n));
    json_t *conds = json_array();
    if (fail) {
      json_array_append_new(conds, condition("Available", "False", "MinimumReplicasUnavailable",
                                             "Deployment does not have minimum availability.", ts));
      snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has timed out progressing.", rs);
      json_array_append_new(conds, condition("Progressing", "False", "ProgressDeadlineExceeded", msg, ts));
    } else {
      json_array_append_new(conds, condition("Available", "True", "MinimumReplicasAvailable",
                                             "Deployment has minimum availability.", ts));
      snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has successfully progressed.", rs);
      json_array_append_new(conds, condition("Progressing", "True", "NewReplicaSetAvailable", msg, ts));
    }
    json_object_set_new(st, "conditions", conds);
    json_object_set_new(o, "status", st);
    bump_rv(o);
  }
}

/* The object as served: with managedFields, and kind/apiVersion when asked (not in list items). */
static json_t *render(const object *ob, bool with_type) {
  json_t *o = json_deep_copy(ob->o);
  if (!with_type) json_object_del(o, "kind"), json_object_del(o, "apiVersion");
  json_t *mf = json_array();
  const char *m;
  json_t *e;
  json_object_foreach(ob->owners, m, e) {
    json_t *x = json_pack("{s:s,s:O,s:O,s:O,s:s}", "manager", m, "operation", json_object_get(e, "operation"),
                          "apiVersion", json_object_get(e, "apiVersion"), "time", json_object_get(e, "time"),
                          "fieldsType", "FieldsV1");
    json_object_set_new(x, "fieldsV1", fields_v1(json_object_get(e, "paths")));
    json_array_append_new(mf, x);
  }
  json_object_set_new(json_object_get(o, "metadata"), "managedFields", mf);
  return o;
}

static void set_owner(object *ob, const char *manager, const char *op, json_t *paths /* stolen */) {
  char ts[32];
  timestamp(ts);
  json_object_set_new(ob->owners, manager,
                      json_pack("{s:s,s:s,s:s,s:o}", "operation", op, "apiVersion", ob->res->group_version, "time", ts,
                                "paths", paths));
}

static void drop_empty_owners(object *ob) {
  const char *m;
  json_t *e;
  void *tmp;
  json_object_foreach_safe(ob->owners, tmp, m, e) if (json_array_size(json_object_get(e, "paths")) == 0)
      json_object_del(ob->owners, m);
}

static object *new_object(const resource *r, const char *ns, const char *name) {
  object *ob = calloc(1, sizeof *ob);
  ob->res = r;
  ob->ns = strdup(ns);
  ob->name = strdup(name);
  char uid[37], ts[32];
  new_uid(uid);
  timestamp(ts);
  ob->o = json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "apiVersion", r->group_version, "kind", r->kind, "metadata", "name",
                    name, "uid", uid, "creationTimestamp", ts);
  if (*ns) json_object_set_new(json_object_get(ob->o, "metadata"), "namespace", json_string(ns));
  ob->owners = json_object();
  return ob;
}

/* After a write to ob (old: its object before, NULL on create): defaults, validation, generation,
 * resourceVersion, the rollout. On a 422 the caller restores. */
static reply finish_write(object *ob, json_t *old, bool owners_changed) {
  defaults(ob);
  reply v = validate(ob);
  if (v.code) return v;
  json_t *md = json_object_get(ob->o, "metadata");
  bool spec_changed = !old || !json_equal(json_object_get(old, "spec"), json_object_get(ob->o, "spec"));
  if (ob->res->has_generation) {
    json_int_t g = old ? json_integer_value(json_object_get(json_object_get(old, "metadata"), "generation")) : 0;
    json_object_set_new(md, "generation", json_integer(spec_changed ? g + 1 : g));
  }
  /* the real server skips no-op writes: no new resourceVersion */
  if (!old || !json_equal(old, ob->o) || owners_changed) bump_rv(ob->o);
  if (!strcmp(ob->res->kind, "Deployment") && spec_changed) ob->rollout_due = now_ms() + rollout_ms;
  return (reply){0, NULL};
}

/* Owners with their time fields left out, to tell a no-op write. */
static json_t *owners_sans_time(json_t *owners) {
  json_t *c = json_deep_copy(owners);
  const char *m;
  json_t *e;
  json_object_foreach(c, m, e) json_object_del(e, "time");
  return c;
}

static bool namespace_exists(const char *ns) { return find(&resources[0], "", ns) != NULL; }

static reply apply(const resource *r, const char *ns, const char *name, json_t *body, const char *manager, bool force) {
  if (!json_is_object(body)) return bad_request("the body of an apply request must be an object");
  const char *av = json_string_value(json_object_get(body, "apiVersion"));
  const char *kind = json_string_value(json_object_get(body, "kind"));
  if (!av || !kind) return bad_request("apiVersion and kind must be set in an apply request");
  if (strcmp(av, r->group_version) || strcmp(kind, r->kind)) {
    char m[512];
    snprintf(m, sizeof m, "the apiVersion and kind of the body (%s, %s) do not match the URL (%s, %s)", av, kind,
             r->group_version, r->kind);
    return bad_request(m);
  }
  json_t *md = json_object_get(body, "metadata");
  const char *bname = json_string_value(json_object_get(md, "name"));
  const char *bns = json_string_value(json_object_get(md, "namespace"));
  if (!bname || strcmp(bname, name)) {
    char m[512];
    snprintf(m, sizeof m, "the name of the object (%s) does not match the name on the URL (%s)", bname ? bname : "",
             name);
    return bad_request(m);
  }
  if (r->namespaced && bns && strcmp(bns, ns)) {
    char m[512];
    snprintf(m, sizeof m, "the namespace of the provided object does not match the namespace sent on the request");
    return bad_request(m);
  }
  if (r->namespaced && !namespace_exists(ns)) return not_found(&resources[0], ns);
  const char *want_rv = json_string_value(json_object_get(md, "resourceVersion"));

  json_t *cfg = json_deep_copy(body);
  sanitize(r, cfg);
  json_t *mine = json_array(), *empty = json_array();
  leaves(cfg, empty, mine);
  json_decref(empty);

  object *ob = find(r, ns, name);
  bool created = !ob;
  if (created) {
    if (want_rv) {
      json_decref(cfg), json_decref(mine);
      return not_found(r, name);
    }
    ob = new_object(r, ns, name);
  } else if (want_rv && strcmp(want_rv, json_string_value(json_object_get(json_object_get(ob->o, "metadata"),
                                                                                    "resourceVersion")))) {
    char q[96];
    qualified(r, q, sizeof q);
    json_decref(cfg), json_decref(mine);
    return status_reply(409, "Conflict", details(r, name),
                        "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please apply your "
                        "changes to the latest version and try again",
                        q, name);
  }
  json_t *old = created ? NULL : json_deep_copy(ob->o), *old_owners = json_deep_copy(ob->owners);

  /* conflicts: a field another manager owns, applied with a different value */
  json_t *conflicts = json_object(); /* manager -> [path strings] */
  size_t nconf = 0, i;
  json_t *p;
  json_array_foreach(mine, i, p) {
    const char *m;
    json_t *e;
    json_object_foreach(ob->owners, m, e) {
      if (!strcmp(m, manager)) continue;
      size_t j;
      json_t *q;
      json_array_foreach(json_object_get(e, "paths"), j, q) {
        if (!overlaps(p, q)) continue;
        json_t *depth = json_array_size(p) <= json_array_size(q) ? p : q;
        json_t *lv = get_path(ob->o, depth, json_array_size(depth)), *cv = get_path(cfg, depth, json_array_size(depth));
        if (lv && cv && json_equal(lv, cv)) continue;
        if (force) continue;
        char ps[1024];
        path_string(q, ps, sizeof ps);
        json_t *list = json_object_get(conflicts, m);
        if (!list) json_object_set_new(conflicts, m, list = json_array());
        bool seen = false;
        size_t k;
        json_t *x;
        json_array_foreach(list, k, x) if (!strcmp(json_string_value(x), ps)) seen = true;
        if (!seen) json_array_append_new(list, json_string(ps)), nconf++;
      }
    }
  }
  if (nconf) {
    char msg[4096];
    size_t len = (size_t)snprintf(msg, sizeof msg, "Apply failed with %zu conflict%s: ", nconf, nconf > 1 ? "s" : "");
    json_t *causes = json_array();
    const char *m;
    json_t *list;
    bool first = true;
    json_object_foreach(conflicts, m, list) {
      const char *ver = json_string_value(json_object_get(json_object_get(ob->owners, m), "apiVersion"));
      size_t k;
      json_t *x;
      if (len < sizeof msg)
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s with \"%s\" using %s:", first ? "" : "\n",
                                json_array_size(list) > 1 ? "conflicts" : "conflict", m, ver);
      first = false;
      json_array_foreach(list, k, x) {
        if (len < sizeof msg)
          len += (size_t)snprintf(msg + len, sizeof msg - len, json_array_size(list) > 1 ? "\n- %s" : " %s",
                                  json_string_value(x));
        char cm[512];
        snprintf(cm, sizeof cm, "conflict with \"%s\" using %s", m, ver);
        json_array_append_new(causes, json_pack("{s:s,s:s,s:O}", "type", "FieldManagerConflict", "message", cm,
                                                "field", x));
      }
    }
    json_t *d = details(r, name);
    json_object_set_new(d, "causes", causes);
    json_decref(conflicts), json_decref(cfg), json_decref(mine), json_decref(old), json_decref(old_owners);
    if (created) free_object(ob);
    return status_reply(409, "Conflict", d, "%s", msg);
  }
  json_decref(conflicts);

  /* force: the others lose the fields this apply sets to another value */
  if (force) {
    json_array_foreach(mine, i, p) {
      const char *m;
      json_t *e;
      json_object_foreach(ob->owners, m, e) {
        if (!strcmp(m, manager)) continue;
        json_t *lv = get_path(ob->o, p, json_array_size(p)), *cv = get_path(cfg, p, json_array_size(p));
        if (lv && cv && json_equal(lv, cv)) continue;
        drop_path(json_object_get(e, "paths"), p);
      }
    }
  }
  /* fields this manager applied before and omits now go, unless another manager owns them */
  json_t *prev = json_object_get(json_object_get(ob->owners, manager), "paths");
  json_array_foreach(prev, i, p) {
    if (has_path(mine, p)) continue;
    bool other = false;
    const char *m;
    json_t *e;
    json_object_foreach(ob->owners, m, e) if (strcmp(m, manager) && has_path(json_object_get(e, "paths"), p)) other = true;
    if (!other) del_path(ob->o, p);
  }
  merge_apply(ob->o, cfg);
  json_decref(cfg);
  set_owner(ob, manager, "Apply", mine);
  drop_empty_owners(ob);

  json_t *os = owners_sans_time(old_owners), *ns_ = owners_sans_time(ob->owners);
  reply v = finish_write(ob, old, !json_equal(os, ns_));
  json_decref(os), json_decref(ns_);
  if (v.code) {
    if (created) {
      free_object(ob);
      json_decref(old_owners);
    } else {
      json_decref(ob->o), json_decref(ob->owners);
      ob->o = old, ob->owners = old_owners;
    }
    return v;
  }
  json_decref(old), json_decref(old_owners);
  if (created) {
    if (nobjs == capobjs) objs = realloc(objs, (capobjs = capobjs ? 2 * capobjs : 64) * sizeof *objs);
    objs[nobjs++] = ob;
  }
  return (reply){created ? 201 : 200, render(ob, true)};
}

/* merge-patch+json (another manager's plain write, operation Update) */
static reply patch_merge(const resource *r, const char *ns, const char *name, json_t *body, const char *manager) {
  if (!json_is_object(body)) return bad_request("the body of a merge patch must be an object");
  object *ob = find(r, ns, name);
  if (!ob) return not_found(r, name);
  json_t *old = json_deep_copy(ob->o), *old_owners = json_deep_copy(ob->owners);
  json_t *cfg = json_deep_copy(body);
  json_t *dels = json_array(), *empty = json_array();
  null_leaves(cfg, empty, dels);
  sanitize(r, cfg);
  json_t *set = json_array();
  leaves(cfg, empty, set);
  json_decref(empty);
  merge_patch(ob->o, cfg);
  json_decref(cfg);
  /* the patcher takes the fields it changed; deleted fields belong to nobody */
  json_t *taken = json_array();
  size_t i;
  json_t *p;
  json_array_foreach(set, i, p) {
    json_t *a = get_path(old, p, json_array_size(p)), *b = get_path(ob->o, p, json_array_size(p));
    json_array_append(taken, p);
    if (a && b && json_equal(a, b)) continue; /* the same value: owned together */
    const char *m;
    json_t *e;
    json_object_foreach(ob->owners, m, e) if (strcmp(m, manager)) drop_path(json_object_get(e, "paths"), p);
  }
  json_array_foreach(dels, i, p) {
    const char *m;
    json_t *e;
    json_object_foreach(ob->owners, m, e) drop_path(json_object_get(e, "paths"), p);
  }
  json_t *paths = json_deep_copy(json_object_get(json_object_get(ob->owners, manager), "paths"));
  if (!paths) paths = json_array();
  json_array_foreach(taken, i, p) if (!has_path(paths, p)) json_array_append(paths, p);
  json_decref(taken), json_decref(set), json_decref(dels);
  set_owner(ob, manager, "Update", paths);
  drop_empty_owners(ob);
  json_t *os = owners_sans_time(old_owners), *ns_ = owners_sans_time(ob->owners);
  reply v = finish_write(ob, old, !json_equal(os, ns_));
  json_decref(os), json_decref(ns_);
  if (v.code) {
    json_decref(ob->o), json_decref(ob->owners);
    ob->o = old, ob->owners = old_owners;
    return v;
  }
  json_decref(old), json_decref(old_owners);
  return (reply){200, render(ob, true)};
}

/* POST: create (409 AlreadyExists), operation Update for the manager (default "kubectl-create") */
static reply create(const resource *r, const char *ns, json_t *body, const char *manager) {
  if (!json_is_object(body)) return bad_request("the body of a create must be an object");
  const char *name = json_string_value(json_object_get(json_object_get(body, "metadata"), "name"));
  if (!name) return status_reply(422, "Invalid", NULL, "%s \"\" is invalid: metadata.name: Required value: name is required", r->kind);
  if (r->namespaced && !namespace_exists(ns)) return not_found(&resources[0], ns);
  if (find(r, ns, name)) {
    char q[96];
    qualified(r, q, sizeof q);
    return status_reply(409, "AlreadyExists", details(r, name), "%s \"%s\" already exists", q, name);
  }
  object *ob = new_object(r, ns, name);
  json_t *cfg = json_deep_copy(body), *paths = json_array(), *empty = json_array();
  sanitize(r, cfg);
  leaves(cfg, empty, paths);
  json_decref(empty);
  merge_apply(ob->o, cfg);
  json_decref(cfg);
  set_owner(ob, manager, "Update", paths);
  drop_empty_owners(ob);
  reply v = finish_write(ob, NULL, true);
  if (v.code) {
    free_object(ob);
    return v;
  }
  if (nobjs == capobjs) objs = realloc(objs, (capobjs = capobjs ? 2 * capobjs : 64) * sizeof *objs);
  objs[nobjs++] = ob;
  return (reply){201, render(ob, true)};
}

static reply delete_object(const resource *r, const char *ns, const char *name, const char *policy) {
  if (policy && strcmp(policy, "Orphan") && strcmp(policy, "Background") && strcmp(policy, "Foreground")) {
    char m[256];
    snprintf(m, sizeof m, "propagationPolicy: Unsupported value: \"%s\"", policy);
    return status_reply(422, "Invalid", NULL, "%s", m);
  }
  for (size_t i = 0; i < nobjs; i++) {
    object *ob = objs[i];
    if (ob->res != r || strcmp(ob->ns, ns) || strcmp(ob->name, name)) continue;
    bump_rv(ob->o);
    if (!r->namespaced) {
      /* a namespace: the real one goes Terminating and its objects are deleted; here at once */
      json_t *out = render(ob, true);
      char ts[32];
      timestamp(ts);
      json_object_set_new(json_object_get(out, "metadata"), "deletionTimestamp", json_string(ts));
      json_object_set_new(out, "status", json_pack("{s:s}", "phase", "Terminating"));
      json_object_set_new(out, "spec", json_pack("{s:[s]}", "finalizers", "kubernetes"));
      for (size_t j = nobjs; j-- > 0;)
        if (!strcmp(objs[j]->ns, name)) remove_at(j);
      for (size_t j = 0; j < nobjs; j++)
        if (objs[j] == ob) remove_at(j);
      return (reply){200, out};
    }
    json_t *d = details(r, name);
    json_object_set(d, "uid", json_object_get(json_object_get(ob->o, "metadata"), "uid"));
    remove_at(i);
    return status_reply(200, "", d, "");
  }
  return not_found(r, name);
}

static bool labels_match(json_t *o, const char *sel) {
  if (!sel || !*sel) return true;
  json_t *labels = json_object_get(json_object_get(o, "metadata"), "labels");
  char *s = strdup(sel), *save = NULL;
  bool ok = true;
  for (char *t = strtok_r(s, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
    char *eq = strstr(t, "==");
    size_t skip = 2;
    if (!eq) eq = strchr(t, '='), skip = 1;
    if (!eq) {
      ok = json_object_get(labels, t) != NULL;
      continue;
    }
    *eq = 0;
    const char *v = json_string_value(json_object_get(labels, t));
    ok = v && !strcmp(v, eq + skip);
  }
  free(s);
  return ok;
}

static int cmp_obj(const void *a, const void *b) {
  const object *x = *(object *const *)a, *y = *(object *const *)b;
  int c = strcmp(x->ns, y->ns);
  return c ? c : strcmp(x->name, y->name);
}

static reply list(const resource *r, const char *ns /* NULL: all */, const char *selector) {
  object **sorted = malloc((nobjs + 1) * sizeof *sorted);
  size_t n = 0;
  for (size_t i = 0; i < nobjs; i++)
    if (objs[i]->res == r && (!ns || !strcmp(objs[i]->ns, ns)) && labels_match(objs[i]->o, selector))
      sorted[n++] = objs[i];
  qsort(sorted, n, sizeof *sorted, cmp_obj);
  json_t *items = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(items, render(sorted[i], false));
  free(sorted);
  char kind[64], rv[32];
  snprintf(kind, sizeof kind, "%sList", r->kind);
  snprintf(rv, sizeof rv, "%llu", rv_counter);
  return (reply){200, json_pack("{s:s,s:s,s:{s:s},s:o}", "kind", kind, "apiVersion", r->group_version, "metadata",
                                "resourceVersion", rv, "items", items)};
}

/* ---- discovery ------------------------------------------------------------------------------ */
static json_t *resource_list(const char *gv) {
  json_t *rs = json_array();
  for (size_t i = 0; i < NRES; i++) {
    const resource *r = &resources[i];
    if (strcmp(r->group_version, gv)) continue;
    json_t *verbs = r->namespaced || !strcmp(r->name, "namespaces")
                        ? json_pack("[s,s,s,s,s,s,s,s]", "create", "delete", "deletecollection", "get", "list", "patch",
                                    "update", "watch")
                        : json_array();
    json_array_append_new(rs, json_pack("{s:s,s:s,s:b,s:s,s:o}", "name", r->name, "singularName", r->singular,
                                        "namespaced", r->namespaced, "kind", r->kind, "verbs", verbs));
    if (r->has_generation || !strcmp(r->name, "namespaces") || !strcmp(r->name, "services")) {
      char sub[64];
      snprintf(sub, sizeof sub, "%s/status", r->name);
      json_array_append_new(rs, json_pack("{s:s,s:s,s:b,s:s,s:[s,s,s]}", "name", sub, "singularName", "", "namespaced",
                                          r->namespaced, "kind", r->kind, "verbs", "get", "patch", "update"));
    }
  }
  return json_pack("{s:s,s:s,s:s,s:o}", "kind", "APIResourceList", "apiVersion", "v1", "groupVersion", gv,
                   "resources", rs);
}

static json_t *api_group(const char *group) {
  char gv[96];
  snprintf(gv, sizeof gv, "%s/v1", group);
  return json_pack("{s:s,s:s,s:[{s:s,s:s}],s:{s:s,s:s}}", "name", group, "kind", "APIGroup", "versions",
                   "groupVersion", gv, "version", "v1", "preferredVersion", "groupVersion", gv, "version", "v1");
}

/* ---- routing -------------------------------------------------------------------------------- */
static const resource *by_name(const char *gv, const char *name) {
  for (size_t i = 0; i < NRES; i++)
    if (!strcmp(resources[i].group_version, gv) && !strcmp(resources[i].name, name)) return &resources[i];
  return NULL;
}

typedef struct request {
  const char *method, *url, *ctype, *manager, *force, *policy, *selector;
  const char *body;
  size_t body_len;
} request;

static reply unknown(void) {
  return status_reply(404, "NotFound", json_object(), "the server could not find the requested resource");
}

static reply route(const request *q) {
  char path[1024];
  snprintf(path, sizeof path, "%s", q->url);
  size_t len = strlen(path);
  while (len > 1 && path[len - 1] == '/') path[--len] = 0;
  char *seg[12];
  size_t n = 0;
  char *save = NULL;
  for (char *t = strtok_r(path, "/", &save); t && n < 12; t = strtok_r(NULL, "/", &save)) seg[n++] = t;
  bool get = !strcmp(q->method, "GET");

  if (n == 1 && !strcmp(seg[0], "version") && get)
    return (reply){200, json_pack("{s:s,s:s,s:s,s:s,s:s}", "major", "1", "minor", "29", "gitVersion",
                                  "v1.29.0-idp-fake", "platform", "linux/amd64", "goVersion", "none (fake)")};
  char gv[128];
  size_t base;
  if (n >= 1 && !strcmp(seg[0], "api")) {
    if (n == 1 && get) {
      char addr[64];
      snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
      return (reply){200, json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind", "APIVersions", "versions", "v1",
                                    "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress", addr)};
    }
    if (strcmp(seg[1], "v1")) return unknown();
    snprintf(gv, sizeof gv, "v1");
    base = 2;
  } else if (n >= 1 && !strcmp(seg[0], "apis")) {
    if (n == 1 && get) {
      json_t *groups = json_array();
      json_array_append_new(groups, api_group("apps"));
      json_array_append_new(groups, api_group("networking.k8s.io"));
      size_t i;
      json_t *g;
      json_array_foreach(groups, i, g) json_object_del(g, "kind");
      return (reply){200, json_pack("{s:s,s:s,s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", groups)};
    }
    if (strcmp(seg[1], "apps") && strcmp(seg[1], "networking.k8s.io")) return unknown();
    if (n == 2 && get) return (reply){200, api_group(seg[1])};
    if (strcmp(seg[2], "v1")) return unknown();
    snprintf(gv, sizeof gv, "%s/v1", seg[1]);
    base = 3;
  } else
    return unknown();

  if (n == base) return get ? (reply){200, resource_list(gv)} : status_reply(405, "MethodNotAllowed", NULL, "the server does not allow this method on the requested resource");
  /* [namespaces/NS/]RES[/NAME[/status]] */
  const char *ns = NULL, *res, *name = NULL;
  bool status_sub = false;
  size_t i = base;
  if (!strcmp(seg[i], "namespaces") && n - i >= 3) {
    /* /namespaces/NS/RES... unless it is /api/v1/namespaces/NAME[/status] */
    if (!(n - i == 3 && !strcmp(gv, "v1") && !strcmp(seg[i + 2], "status"))) {
      ns = seg[i + 1];
      i += 2;
    }
  }
  res = seg[i++];
  if (i < n) name = seg[i++];
  if (i < n && !strcmp(seg[i], "status")) status_sub = true, i++;
  if (i != n) return unknown();
  const resource *r = by_name(gv, res);
  if (!r || (ns && !r->namespaced)) return unknown();
  if (status_sub && !get) return status_reply(405, "MethodNotAllowed", NULL, "the fake API server serves status read-only");

  if (!name) {
    if (get) return list(r, r->namespaced ? ns : "", q->selector);
    if (!strcmp(q->method, "POST")) {
      if (r->namespaced && !ns) return unknown();
      json_error_t err;
      json_t *body = json_loadb(q->body ? q->body : "", q->body_len, 0, &err);
      reply rep = body ? create(r, ns ? ns : "", body, q->manager ? q->manager : "kubectl-create")
                       : bad_request("the body of the request is not JSON");
      json_decref(body);
      return rep;
    }
    return status_reply(405, "MethodNotAllowed", NULL, "the server does not allow this method on the requested resource");
  }
  if (r->namespaced && !ns) return unknown();
  const char *nsv = ns ? ns : "";
  if (get) {
    object *ob = find(r, nsv, name);
    return ob ? (reply){200, render(ob, true)} : not_found(r, name);
  }
  if (!strcmp(q->method, "DELETE")) {
    const char *policy = q->policy;
    json_t *body = q->body_len ? json_loadb(q->body, q->body_len, 0, NULL) : NULL;
    if (!policy && body) policy = json_string_value(json_object_get(body, "propagationPolicy"));
    reply rep = delete_object(r, nsv, name, policy);
    json_decref(body);
    return rep;
  }
  if (!strcmp(q->method, "PATCH")) {
    const char *ct = q->ctype ? q->ctype : "";
    bool is_apply = !strncmp(ct, "application/apply-patch+yaml", 28);
    bool is_merge = !strncmp(ct, "application/merge-patch+json", 28);
    if (!is_apply && !is_merge)
      return status_reply(415, "UnsupportedMediaType", NULL,
                          "the body of the request was in an unknown format - accepted media types include: "
                          "application/merge-patch+json, application/apply-patch+yaml (this fake takes no "
                          "json-patch or strategic-merge-patch)");
    if (is_apply && (!q->manager || !*q->manager))
      return bad_request("PATCH: fieldManager is required for apply requests");
    json_error_t err;
    json_t *body = json_loadb(q->body ? q->body : "", q->body_len, 0, &err);
    if (!body) {
      char m[512];
      snprintf(m, sizeof m,
               "error decoding %s: the fake API server takes JSON bodies only (JSON is YAML): %s",
               is_apply ? "YAML" : "JSON", err.text);
      return bad_request(m);
    }
    bool force = q->force && !strcmp(q->force, "true");
    if (q->force && !is_apply) {
      json_decref(body);
      return bad_request("force is not allowed for non-apply patches");
    }
    reply rep = is_apply ? apply(r, nsv, name, body, q->manager, force)
                         : patch_merge(r, nsv, name, body, q->manager ? q->manager : "kubectl-patch");
    json_decref(body);
    return rep;
  }
  return status_reply(405, "MethodNotAllowed", NULL, "the server does not allow this method on the requested resource");
}

/* ---- auth and HTTP -------------------------------------------------------------------------- */
static bool client_cert_ok(struct MHD_Connection *c) {
  if (!tls || !client_ca) return false;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  if (!ci || !ci->tls_session) return false;
  gnutls_session_t s = (gnutls_session_t)ci->tls_session;
  unsigned n = 0;
  if (!gnutls_certificate_get_peers(s, &n) || n == 0) return false;
  unsigned status = 0;
  return gnutls_certificate_verify_peers2(s, &status) == 0 && status == 0;
}

static bool in_list(char **l, size_t n, const char *t) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(l[i], t)) return true;
  return false;
}

typedef struct upload {
  char *data;
  size_t len;
} upload;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
  (void)cls, (void)version;
  upload *u = *con_cls;
  if (!u) {
    *con_cls = calloc(1, sizeof(upload));
    return MHD_YES;
  }
  if (*upload_size) {
    char *d = realloc(u->data, u->len + *upload_size + 1);
    if (!d) return MHD_NO;
    memcpy(d + u->len, upload_data, *upload_size);
    u->len += *upload_size;
    d[u->len] = 0;
    u->data = d;
    *upload_size = 0;
    return MHD_YES;
  }
  request q = {
      .method = method,
      .url = url,
      .ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"),
      .manager = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fieldManager"),
      .force = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "force"),
      .policy = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "propagationPolicy"),
      .selector = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "labelSelector"),
      .body = u->data,
      .body_len = u->len,
  };
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  bool authed = false;
  const char *who = "-";
  if (auth && !strncmp(auth, "Bearer ", 7)) {
    authed = in_list(tokens, ntokens, auth + 7);
    who = authed ? "token" : in_list(expired, nexpired, auth + 7) ? "expired-token" : "bad-token";
  } else if (!auth && client_cert_ok(c)) {
    authed = true;
    who = "client-cert";
  }
  reply rep;
  pthread_mutex_lock(&mu);
  if (!authed) {
    rep = (reply){401, json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1", "metadata",
                                 "status", "Failure", "message", "Unauthorized", "reason", "Unauthorized", "code",
                                 401)};
  } else {
    run_controller();
    rep = route(&q);
  }
  if (logf) {
    fprintf(logf, "%s %s fieldManager=%s force=%s ctype=%s auth=%s -> %u\n", method, url, q.manager ? q.manager : "-",
            q.force ? q.force : "-", q.ctype ? q.ctype : "-", who, rep.code);
    fflush(logf);
  }
  pthread_mutex_unlock(&mu);
  char *text = json_dumps(rep.body, JSON_COMPACT);
  json_decref(rep.body);
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(r, "Content-Type", "application/json");
  if (rep.code == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
  enum MHD_Result ok = MHD_queue_response(c, rep.code, r);
  MHD_destroy_response(r);
  return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  upload *u = *con_cls;
  if (u) free(u->data), free(u);
  *con_cls = NULL;
}

static char *slurp(const char *file) {
  FILE *f = fopen(file, "rb");
  if (!f) {
    fprintf(stderr, "fakeapi: %s: %s\n", file, strerror(errno));
    exit(2);
  }
  char *buf = NULL;
  size_t len = 0, cap = 0, n;
  char chunk[4096];
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (len + n + 1 > cap) buf = realloc(buf, cap = 2 * (len + n + 1));
    memcpy(buf + len, chunk, n);
    len += n;
  }
  fclose(f);
  if (!buf) buf = calloc(1, 1);
  buf[len] = 0;
  return buf;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static void usage(void) {
  fprintf(stderr, "usage: fakeapi PORTFILE [-cert FILE -key FILE [-client-ca FILE]] [-token T]... "
                  "[-expired-token T]... [-rollout-ms N] [-log FILE]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') usage();
  const char *portfile = argv[1];
  char *cert = NULL, *key = NULL, *ca = NULL;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "-cert"))
      free(cert), cert = slurp(v);
    else if (!strcmp(a, "-key"))
      free(key), key = slurp(v);
    else if (!strcmp(a, "-client-ca"))
      free(ca), ca = slurp(v);
    else if (!strcmp(a, "-token") && ntokens < 16)
      tokens[ntokens++] = strdup(v);
    else if (!strcmp(a, "-expired-token") && nexpired < 16)
      expired[nexpired++] = strdup(v);
    else if (!strcmp(a, "-rollout-ms"))
      rollout_ms = atol(v);
    else if (!strcmp(a, "-log")) {
      if (logf) fclose(logf);
      logf = fopen(v, "a");
      if (!logf) {
        fprintf(stderr, "fakeapi: %s: %s\n", v, strerror(errno));
        return 2;
      }
    } else
      usage();
  }
  if (!cert != !key || (ca && !cert)) usage();
  tls = cert != NULL;
  client_ca = ca != NULL;

  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0);
  struct MHD_OptionItem opts[6] = {
      {MHD_OPTION_SOCK_ADDR, 0, &addr},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, NULL},
  };
  size_t nopt = 2;
  if (tls) {
    opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
    opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
  }
  if (ca) opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, ca};
  opts[nopt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  struct MHD_Daemon *d =
      MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "fakeapi: cannot start the server%s\n", tls ? " (TLS)" : "");
    return 1;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  port = di ? di->port : 0;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", portfile);
  FILE *pf = fopen(tmp, "w");
  if (!pf || fprintf(pf, "%u\n", port) < 0 || fclose(pf) != 0 || rename(tmp, portfile) != 0) {
    fprintf(stderr, "fakeapi: cannot write %s\n", portfile);
    MHD_stop_daemon(d);
    return 1;
  }
  while (!stop) pause();
  MHD_stop_daemon(d);
  for (size_t i = 0; i < nobjs; i++) free_object(objs[i]);
  free(objs);
  for (size_t i = 0; i < ntokens; i++) free(tokens[i]);
  for (size_t i = 0; i < nexpired; i++) free(expired[i]);
  free(cert), free(key), free(ca);
  if (logf) fclose(logf);
  return 0;
}
