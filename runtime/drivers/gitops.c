/* gitops.c - renders Kubernetes manifests into a directory that Argo CD or Flux syncs, instead of
 * applying them. Secret values never go to that directory: they are rendered as Secret manifests
 * into secrets_dir (files mode 0600) and the Deployment reads them through secretKeyRef
 * (decision 8).
 *
 * gitops.deployment writes DIR/PATH: the Deployment, then the Service when port is set, as YAML
 * documents (libyaml's emitter, from a JSON tree of the objects); and, when env holds secret
 * values, SECRETS_DIR/PATH: a Secret NAME-env with those values under stringData. Files are
 * replaced atomically (temp, fsync, rename). read parses the files back (libyaml's loader) and
 * rebuilds the objects from what it found: a hand edit of image, replicas, port, env or labels
 * reads back as that input changed; any other edit (or a file that no longer parses) reads as
 * the object gone, so the next apply writes it again, as Terraform's local_file does. delete
 * removes both files, unless a file now holds another object (a replacement that kept the path).
 *
 * Paths are used as given: a relative dir is relative to the working directory. */
#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "arena.h"
#include "util.h"
#include "value.h"

static const idp_drv_input integration_inputs[] = {
    {.name = "dir", .type = IDP_DRV_TYPE(STRING), .required = true,
     .doc = "the directory the GitOps controller syncs (relative to the spec's directory)"},
    {.name = "secrets_dir", .type = IDP_DRV_TYPE(STRING),
     .doc = "where Secret manifests go (mode 0600); needed once a deployment's env holds a secret"},
    IDP_DRV_INPUT_MAX_PARALLEL,
};

static const idp_drv_input deployment_inputs[] = {
    {.name = "target", .type = IDP_DRV_TYPE_INTEGRATION("gitops"), .required = true, .force_new = true,
     .doc = "the gitops integration whose dir receives the file"},
    {.name = "path", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "the file, relative to the integration's dir (and secrets_dir)"},
    {.name = "namespace", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "Kubernetes namespace of the rendered objects"},
    {.name = "name", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "name of the Deployment and its Service"},
    {.name = "image", .type = IDP_DRV_TYPE(STRING), .required = true,
     .doc = "container image, pinned by digest (REGISTRY/REPO@sha256:...)"},
    {.name = "replicas", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(1), .doc = "number of pods"},
    {.name = "port", .type = IDP_DRV_TYPE(NUMBER), .doc = "container port; when set, a Service is rendered too"},
    {.name = "env", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE, .secret_ok = true,
     .doc = "container environment; secret keys go to a Secret in secrets_dir"},
    {.name = "labels", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,
     .doc = "labels added to the rendered objects"},
};

static const idp_drv_output deployment_outputs[] = {
    {.name = "file", .type = IDP_DRV_TYPE(STRING), .doc = "the rendered file: dir/path"},
    {.name = "secret_file", .type = IDP_DRV_TYPE(STRING), .computed = true,
     .doc = "the Secret manifest in secrets_dir, or \"\" when env holds no secret"},
    {.name = "sha256", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "digest of the rendered file"},
};

/* The labels idp sets itself: the first selects the pods, so no input may change it. */
static const char SELECTOR_LABEL[] = "app.kubernetes.io/name";
static const char MANAGED_LABEL[] = "app.kubernetes.io/managed-by";

/* --- the object, as inputs say it or as read back -------------------------------------------- */

typedef struct envvar {
  const char *key;
  const char *val;       /* NULL: a secret the secret file no longer holds (read only) */
  bool secret;           /* goes to the Secret, read through secretKeyRef */
} envvar;

typedef struct label {
  const char *key, *val;
} label;

typedef struct dspec {
  const char *ns, *name, *image;
  long long replicas;
  long long port;        /* 0: none, and no Service */
  envvar *env;           /* sorted by key */
  size_t nenv;
  label *labels;         /* the labels input (without idp's own), sorted by key */
  size_t nlabels;
} dspec;

typedef struct dpaths {
  const char *path;        /* the path input */
  const char *file;        /* dir/path */
  const char *secret_file; /* secrets_dir/path; NULL without secrets_dir */
  const char *dir, *secrets_dir;
} dpaths;

static bool spec_has_secret(const dspec *s) {
  for (size_t i = 0; i < s->nenv; i++)
    if (s->env[i].secret) return true;
  return false;
}

/* --- inputs ----------------------------------------------------------------------------------- */

/* The entry name of map m, or NULL when absent or null. */
static const idp_value *entry(const idp_value *m, const char *name) {
  if (!m || m->kind != IDP_V_MAP) return NULL;
  const idp_value *v = idp_map_get(m, name, strlen(name));
  return v && v->kind != IDP_V_NULL ? v : NULL;
}

/* A string entry; NULL when absent (an error when required, or when it is not a string). */
static int string_entry(idp_drv_ctx *ctx, const idp_value *m, const char *what, const char *name, bool required,
                        const char **out) {
  const idp_value *v = entry(m, name);
  *out = NULL;
  if (!v || (v->kind == IDP_V_STRING && v->u.string.len == 0)) {
    if (required) return idp_drv_fail(ctx, "%s%s is required", what, name);
    return 0;
  }
  if (v->kind != IDP_V_STRING) return idp_drv_fail(ctx, "%s%s must be a string, not a %s", what, name, idp_value_type_name(v));
  if (strlen(v->u.string.s) != v->u.string.len) return idp_drv_fail(ctx, "%s%s holds a NUL byte", what, name);
  *out = v->u.string.s;
  return 0;
}

static int whole_entry(idp_drv_ctx *ctx, const idp_value *m, const char *name, long long def, long long lo, long long hi,
                       long long *out) {
  const idp_value *v = entry(m, name);
  *out = def;
  if (!v) return 0;
  if (v->kind != IDP_V_NUMBER) return idp_drv_fail(ctx, "%s must be a number, not a %s", name, idp_value_type_name(v));
  double d = v->u.number;
  if (d < (double)lo || d > (double)hi || d != (double)(long long)d)
    return idp_drv_fail(ctx, "%s must be a whole number from %lld to %lld", name, lo, hi);
  *out = (long long)d;
  return 0;
}

static const char *join_path(idp_arena *a, const char *dir, const char *path) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  return idp_arena_sprintf(a, "%.*s/%s", (int)n, dir, path);
}

static int get_paths(idp_drv_ctx *ctx, const idp_value *inputs, dpaths *p) {
  memset(p, 0, sizeof *p);
  const idp_value *target = entry(inputs, "target");
  if (!target || target->kind != IDP_V_MAP) return idp_drv_fail(ctx, "target must be a gitops integration");
  if (string_entry(ctx, target, "target.", "dir", true, &p->dir) != 0 ||
      string_entry(ctx, target, "target.", "secrets_dir", false, &p->secrets_dir) != 0 ||
      string_entry(ctx, inputs, "", "path", true, &p->path) != 0)
    return -1;
  /* The file stays inside dir: a relative path without `..`. */
  if (p->path[0] == '/') return idp_drv_fail(ctx, "path '%s' must be relative to the integration's dir", p->path);
  for (const char *c = p->path; *c;) {
    size_t n = strcspn(c, "/");
    if (n == 2 && c[0] == '.' && c[1] == '.') return idp_drv_fail(ctx, "path '%s' may not leave the integration's dir (..)", p->path);
    c += n;
    if (*c) c++;
  }
  if (p->path[strlen(p->path) - 1] == '/') return idp_drv_fail(ctx, "path '%s' names a directory, not a file", p->path);
  p->file = join_path(ctx->arena, p->dir, p->path);
  p->secret_file = p->secrets_dir ? join_path(ctx->arena, p->secrets_dir, p->path) : NULL;
  return 0;
}

static int cmp_env(const void *x, const void *y) { return strcmp(((const envvar *)x)->key, ((const envvar *)y)->key); }
static int cmp_label(const void *x, const void *y) { return strcmp(((const label *)x)->key, ((const label *)y)->key); }

/* An image reference: no blanks, and a digest, when there is one, that is sha256 in full. */
static bool image_ok(const char *s) {
  if (!*s) return false;
  for (const char *c = s; *c; c++)
    if ((unsigned char)*c <= ' ' || *c == 0x7f) return false;
  const char *at = strchr(s, '@');
  if (!at) return true;
  if (at == s || strncmp(at + 1, "sha256:", 7) != 0) return false;
  const char *h = at + 8;
  if (strlen(h) != 64) return false;
  for (; *h; h++)
    if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f'))) return false;
  return true;
}

static int get_spec(idp_drv_ctx *ctx, const idp_value *inputs, dspec *s) {
  memset(s, 0, sizeof *s);
  if (string_entry(ctx, inputs, "", "namespace", true, &s->ns) != 0 || string_entry(ctx, inputs, "", "name", true, &s->name) != 0 ||
      string_entry(ctx, inputs, "", "image", true, &s->image) != 0 ||
      whole_entry(ctx, inputs, "replicas", 1, 0, 1000000, &s->replicas) != 0 ||
      whole_entry(ctx, inputs, "port", 0, 1, 65535, &s->port) != 0)
    return -1;
  if (!image_ok(s->image))
    return idp_drv_fail(ctx, "image '%s' is not an image reference (REGISTRY/REPO@sha256:DIGEST)", s->image);
  const idp_value *env = entry(inputs, "env");
  if (env) {
    if (env->kind != IDP_V_MAP) return idp_drv_fail(ctx, "env must be a map, not a %s", idp_value_type_name(env));
    s->env = idp_arena_alloc(ctx->arena, (env->u.map.n + 1) * sizeof *s->env);
    for (size_t i = 0; i < env->u.map.n; i++) {
      const char *k = env->u.map.keys[i];
      const idp_value *v = env->u.map.vals[i];
      envvar *e = &s->env[s->nenv];
      e->key = k;
      e->secret = env->secret || v->secret;
      if (!*k || strchr(k, '=') || strlen(k) != env->u.map.klen[i]) return idp_drv_fail(ctx, "env key '%s' is not a variable name", k);
      if (v->kind == IDP_V_NULL) continue;
      if (v->kind == IDP_V_STRING) {
        if (strlen(v->u.string.s) != v->u.string.len) return idp_drv_fail(ctx, "env.%s holds a NUL byte", k);
        e->val = v->u.string.s;
      } else if (v->kind == IDP_V_NUMBER || v->kind == IDP_V_BOOL) {
        idp_buf b = {0};
        if (v->kind == IDP_V_NUMBER) idp_number_format(&b, v->u.number);
        else idp_buf_puts(&b, v->u.boolean ? "true" : "false");
        e->val = idp_arena_strndup(ctx->arena, b.data, b.len);
        idp_buf_free(&b);
      } else {
        return idp_drv_fail(ctx, "env.%s must be a string, not a %s", k, idp_value_type_name(v));
      }
      s->nenv++;
    }
    /* map keys are sorted already */
  }
  const idp_value *labels = entry(inputs, "labels");
  if (labels) {
    if (labels->kind != IDP_V_MAP) return idp_drv_fail(ctx, "labels must be a map, not a %s", idp_value_type_name(labels));
    s->labels = idp_arena_alloc(ctx->arena, (labels->u.map.n + 1) * sizeof *s->labels);
    for (size_t i = 0; i < labels->u.map.n; i++) {
      const char *k = labels->u.map.keys[i];
      const idp_value *v = labels->u.map.vals[i];
      if (strcmp(k, SELECTOR_LABEL) == 0 || strcmp(k, MANAGED_LABEL) == 0)
        return idp_drv_fail(ctx, "labels may not set %s: idp sets it", k);
      if (v->kind != IDP_V_STRING || strlen(v->u.string.s) != v->u.string.len)
        return idp_drv_fail(ctx, "labels.%s must be a string", k);
      s->labels[s->nlabels++] = (label){k, v->u.string.s};
    }
  }
  return 0;
}

/* --- rendering: the objects as JSON trees ----------------------------------------------------- */

static const char *secret_name(idp_arena *a, const dspec *s) { return idp_arena_sprintf(a, "%s-env", s->name); }

static json_t *labels_json(const dspec *s) {
  label *all = idp_xmalloc((s->nlabels + 2) * sizeof *all);
  if (s->nlabels) memcpy(all, s->labels, s->nlabels * sizeof *all);
  all[s->nlabels] = (label){MANAGED_LABEL, "idp"};
  all[s->nlabels + 1] = (label){SELECTOR_LABEL, s->name};
  qsort(all, s->nlabels + 2, sizeof *all, cmp_label);
  json_t *o = json_object();
  for (size_t i = 0; i < s->nlabels + 2; i++) json_object_set_new(o, all[i].key, json_string(all[i].val));
  free(all);
  return o;
}

static json_t *metadata_json(const dspec *s, const char *name) {
  return json_pack("{s:s, s:s, s:o}", "name", name, "namespace", s->ns, "labels", labels_json(s));
}

static json_t *selector_json(const dspec *s) { return json_pack("{s:s}", SELECTOR_LABEL, s->name); }

/* The Deployment, then the Service when there is a port: what goes into the synced dir. Secret
 * values are not needed (nor read) here. */
static json_t *main_docs(idp_arena *a, const dspec *s) {
  json_t *container = json_pack("{s:s, s:s}", "name", s->name, "image", s->image);
  if (s->port) json_object_set_new(container, "ports", json_pack("[{s:I}]", "containerPort", (json_int_t)s->port));
  if (s->nenv) {
    json_t *env = json_array();
    const char *sn = secret_name(a, s);
    for (size_t i = 0; i < s->nenv; i++) {
      const envvar *e = &s->env[i];
      if (e->secret)
        json_array_append_new(env, json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", e->key, "valueFrom", "secretKeyRef", "name", sn,
                                             "key", e->key));
      else
        json_array_append_new(env, json_pack("{s:s, s:s}", "name", e->key, "value", e->val));
    }
    json_object_set_new(container, "env", env);
  }
  json_t *deploy = json_pack("{s:s, s:s, s:o, s:{s:I, s:{s:o}, s:{s:{s:o}, s:{s:[o]}}}}", "apiVersion", "apps/v1", "kind",
                             "Deployment", "metadata", metadata_json(s, s->name), "spec", "replicas",
                             (json_int_t)s->replicas, "selector", "matchLabels", selector_json(s), "template",
                             "metadata", "labels", labels_json(s), "spec", "containers", container);
  json_t *docs = json_pack("[o]", deploy);
  if (s->port)
    json_array_append_new(docs, json_pack("{s:s, s:s, s:o, s:{s:o, s:[{s:I, s:I, s:s}]}}", "apiVersion", "v1", "kind",
                                          "Service", "metadata", metadata_json(s, s->name), "spec", "selector",
                                          selector_json(s), "ports", "port", (json_int_t)s->port, "targetPort",
                                          (json_int_t)s->port, "protocol", "TCP"));
  return docs;
}

/* The Secret of the secret env keys, for secrets_dir; NULL when there is none. */
static json_t *secret_docs(idp_arena *a, const dspec *s) {
  if (!spec_has_secret(s)) return NULL;
  json_t *data = json_object();
  for (size_t i = 0; i < s->nenv; i++)
    if (s->env[i].secret && s->env[i].val) json_object_set_new(data, s->env[i].key, json_string(s->env[i].val));
  return json_pack("[{s:s, s:s, s:o, s:s, s:o}]", "apiVersion", "v1", "kind", "Secret", "metadata",
                   metadata_json(s, secret_name(a, s)), "type", "Opaque", "stringData", data);
}

/* --- YAML out --------------------------------------------------------------------------------- */

static int yaml_write(void *data, unsigned char *buf, size_t size) {
  idp_buf_append(data, (const char *)buf, size);
  return 1;
}

/* Would a plain scalar s read back as something other than a string (YAML 1.1 or 1.2)? Then it
 * is quoted. Syntax (a leading '-', ": ", '#') is the emitter's own concern. */
static bool plain_is_not_string(const char *s) {
  static const char *const words[] = {"y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "<<", "="};
  if (!*s) return true;
  if ((*s >= '0' && *s <= '9') || *s == '+' || *s == '-' || *s == '.') return true;
  for (size_t i = 0; i < sizeof words / sizeof *words; i++)
    if (strcasecmp(s, words[i]) == 0) return true;
  return false;
}

static int emit_scalar(yaml_emitter_t *em, const char *tag, const char *s, size_t n, yaml_scalar_style_t style) {
  yaml_event_t ev;
  if (!yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)tag, (yaml_char_t *)s, (int)n, 1, 1, style)) return -1;
  return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_json(yaml_emitter_t *em, const json_t *j) {
  yaml_event_t ev;
  char num[64];
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    bool empty = json_object_size(j) == 0;
    if (!yaml_mapping_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_MAP_TAG, 1,
                                             empty ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE) ||
        !yaml_emitter_emit(em, &ev))
      return -1;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)j, k, v) {
      if (emit_scalar(em, YAML_STR_TAG, k, strlen(k), plain_is_not_string(k) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE) != 0 ||
          emit_json(em, v) != 0)
        return -1;
    }
    return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev) ? 0 : -1;
  }
  case JSON_ARRAY: {
    bool empty = json_array_size(j) == 0;
    if (!yaml_sequence_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_SEQ_TAG, 1,
                                              empty ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE) ||
        !yaml_emitter_emit(em, &ev))
      return -1;
    for (size_t i = 0; i < json_array_size(j); i++)
      if (emit_json(em, json_array_get(j, i)) != 0) return -1;
    return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev) ? 0 : -1;
  }
  case JSON_STRING: {
    const char *s = json_string_value(j);
    return emit_scalar(em, YAML_STR_TAG, s, json_string_length(j),
                       plain_is_not_string(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
  }
  case JSON_INTEGER:
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    return emit_scalar(em, YAML_INT_TAG, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
  case JSON_REAL:
    snprintf(num, sizeof num, "%.17g", json_real_value(j));
    return emit_scalar(em, YAML_FLOAT_TAG, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
  case JSON_TRUE: return emit_scalar(em, YAML_BOOL_TAG, "true", 4, YAML_PLAIN_SCALAR_STYLE);
  case JSON_FALSE: return emit_scalar(em, YAML_BOOL_TAG, "false", 5, YAML_PLAIN_SCALAR_STYLE);
  case JSON_NULL: return emit_scalar(em, YAML_NULL_TAG, "null", 4, YAML_PLAIN_SCALAR_STYLE);
  }
  return -1;
}

/* The documents of docs (a JSON array) as a YAML stream after a comment line, into out. */
static int render_yaml(const json_t *docs, const char *address, idp_buf *out) {
  idp_buf_printf(out, "# Rendered by idp%s%s. Edits here are drift: the next apply replaces them.\n", address ? " for " : "",
                 address ? address : "");
  yaml_emitter_t em;
  if (!yaml_emitter_initialize(&em)) return -1;
  yaml_emitter_set_output(&em, yaml_write, out);
  yaml_emitter_set_unicode(&em, 1);
  yaml_emitter_set_width(&em, -1);
  yaml_emitter_set_indent(&em, 2);
  yaml_event_t ev;
  int rc = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&em, &ev) ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < json_array_size(docs); i++) {
    rc = yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, i == 0) && yaml_emitter_emit(&em, &ev) ? 0 : -1;
    if (rc == 0) rc = emit_json(&em, json_array_get(docs, i));
    if (rc == 0) rc = yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&em, &ev) ? 0 : -1;
  }
  if (rc == 0) rc = yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev) && yaml_emitter_flush(&em) ? 0 : -1;
  yaml_emitter_delete(&em);
  return rc;
}

/* --- YAML in ---------------------------------------------------------------------------------- */

/* A plain scalar's type as Kubernetes' YAML reader resolves it; quoted scalars are strings. */
static json_t *scalar_json(const yaml_node_t *n) {
  const char *s = (const char *)n->data.scalar.value;
  size_t len = n->data.scalar.length;
  if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return json_stringn(s, len);
  static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
  static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"};
  static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"};
  for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++)
    if (strcmp(s, nulls[i]) == 0) return json_null();
  for (size_t i = 0; i < sizeof trues / sizeof *trues; i++)
    if (strcmp(s, trues[i]) == 0) return json_true();
  for (size_t i = 0; i < sizeof falses / sizeof *falses; i++)
    if (strcmp(s, falses[i]) == 0) return json_false();
  bool numeric = (s[0] >= '0' && s[0] <= '9') || (s[0] && strchr("+-.", s[0]) && s[1] >= '0' && s[1] <= '9');
  if (numeric && len < 40 && strlen(s) == len) {
    char *end;
    errno = 0;
    long long ll = strtoll(s, &end, 10);
    if (!*end && errno == 0) return json_integer((json_int_t)ll);
    double d = strtod(s, &end);
    if (!*end && isfinite(d)) return json_real(d);
  }
  return json_stringn(s, len);
}

/* budget: nodes left to convert, so that aliases cannot blow a small file up */
static json_t *node_json(yaml_document_t *d, yaml_node_t *n, int depth, size_t *budget) {
  if (!n || depth > 64 || *budget == 0) return NULL;
  --*budget;
  switch (n->type) {
  case YAML_SCALAR_NODE: return scalar_json(n);
  case YAML_SEQUENCE_NODE: {
    json_t *a = json_array();
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
      json_t *e = node_json(d, yaml_document_get_node(d, *it), depth + 1, budget);
      if (!e) {
        json_decref(a);
        return NULL;
      }
      json_array_append_new(a, e);
    }
    return a;
  }
  case YAML_MAPPING_NODE: {
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *k = yaml_document_get_node(d, p->key);
      if (!k || k->type != YAML_SCALAR_NODE || strlen((const char *)k->data.scalar.value) != k->data.scalar.length) {
        json_decref(o);
        return NULL;
      }
      json_t *v = node_json(d, yaml_document_get_node(d, p->value), depth + 1, budget);
      if (!v || json_object_set_new(o, (const char *)k->data.scalar.value, v) != 0) { /* set_new frees v */
        json_decref(o);
        return NULL;
      }
    }
    return o;
  }
  default: return NULL;
  }
}

/* Every document of a YAML stream, as a JSON array; NULL when it does not parse. */
static json_t *parse_yaml(const char *text, size_t len) {
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) return NULL;
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  json_t *docs = json_array();
  size_t budget = 100000;
  for (;;) {
    yaml_document_t d;
    if (!yaml_parser_load(&p, &d)) {
      json_decref(docs);
      docs = NULL;
      break;
    }
    yaml_node_t *root = yaml_document_get_root_node(&d);
    json_t *j = root ? node_json(&d, root, 0, &budget) : NULL;
    yaml_document_delete(&d);
    if (!root) break;
    if (!j) {
      json_decref(docs);
      docs = NULL;
      break;
    }
    json_array_append_new(docs, j);
  }
  yaml_parser_delete(&p);
  return docs;
}

/* --- reading objects back --------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

/* The first document of docs when it is a kind object named ns/name (either may be NULL: any). */
static const json_t *doc_of(const json_t *docs, size_t i, const char *kind) {
  const json_t *d = json_array_get(docs, i);
  const char *k = jstr(d, "kind");
  return k && strcmp(k, kind) == 0 ? d : NULL;
}

/* The spec the documents describe, into s (strings in a); -1 when they are not what idp renders
 * (then the object reads as gone). Secret values come from the Secret in sdocs, when it holds
 * them. */
static int spec_from_docs(idp_arena *a, const json_t *docs, const json_t *sdocs, dspec *s) {
  memset(s, 0, sizeof *s);
  const json_t *dep = doc_of(docs, 0, "Deployment");
  const json_t *md = json_object_get(dep, "metadata");
  const char *name = jstr(md, "name"), *ns = jstr(md, "namespace");
  if (!dep || !name || !ns || json_array_size(docs) > 2) return -1;
  s->name = idp_arena_strndup(a, name, strlen(name));
  s->ns = idp_arena_strndup(a, ns, strlen(ns));
  const json_t *labels = json_object_get(md, "labels");
  s->labels = idp_arena_alloc(a, (json_object_size(labels) + 1) * sizeof *s->labels);
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)labels, k, v) {
    if (!json_is_string(v)) return -1;
    if (strcmp(k, SELECTOR_LABEL) == 0 || strcmp(k, MANAGED_LABEL) == 0) continue;
    s->labels[s->nlabels++] = (label){idp_arena_strndup(a, k, strlen(k)), idp_arena_strndup(a, json_string_value(v), json_string_length(v))};
  }
  qsort(s->labels, s->nlabels, sizeof *s->labels, cmp_label);
  const json_t *spec = json_object_get(dep, "spec");
  const json_t *rep = json_object_get(spec, "replicas");
  if (!json_is_integer(rep)) return -1;
  s->replicas = json_integer_value(rep);
  const json_t *cs = json_object_get(json_object_get(json_object_get(spec, "template"), "spec"), "containers");
  const json_t *c = json_array_size(cs) == 1 ? json_array_get(cs, 0) : NULL;
  const char *image = jstr(c, "image");
  if (!image) return -1;
  s->image = idp_arena_strndup(a, image, strlen(image));
  const json_t *ports = json_object_get(c, "ports");
  if (ports) {
    const json_t *cp = json_object_get(json_array_get(ports, 0), "containerPort");
    if (!json_is_integer(cp) || json_integer_value(cp) <= 0) return -1;
    s->port = json_integer_value(cp);
  }
  const json_t *env = json_object_get(c, "env");
  const json_t *sdata = NULL;
  const json_t *sec = doc_of(sdocs, 0, "Secret");
  const json_t *smd = json_object_get(sec, "metadata");
  if (sec && jstr(smd, "namespace") && strcmp(jstr(smd, "namespace"), ns) == 0 && jstr(smd, "name") &&
      strcmp(jstr(smd, "name"), secret_name(a, s)) == 0)
    sdata = json_object_get(sec, "stringData");
  s->env = idp_arena_alloc(a, (json_array_size(env) + 1) * sizeof *s->env);
  for (size_t i = 0; i < json_array_size(env); i++) {
    const json_t *e = json_array_get(env, i);
    const char *key = jstr(e, "name"), *val = jstr(e, "value");
    if (!key) return -1;
    envvar *ev = &s->env[s->nenv++];
    ev->key = idp_arena_strndup(a, key, strlen(key));
    if (val) {
      ev->val = idp_arena_strndup(a, val, strlen(val));
    } else {
      ev->secret = true;
      const char *sv = jstr(sdata, key);
      if (sv) ev->val = idp_arena_strndup(a, sv, strlen(sv));
    }
  }
  qsort(s->env, s->nenv, sizeof *s->env, cmp_env);
  for (size_t i = 1; i < s->nenv; i++)
    if (strcmp(s->env[i - 1].key, s->env[i].key) == 0) return -1;
  /* What was found must be exactly what those values render: anything else is an edit idp
   * cannot express as inputs. */
  json_t *again = main_docs(a, s);
  bool same = json_equal(again, (json_t *)docs);
  json_decref(again);
  return same ? 0 : -1;
}

/* --- files ------------------------------------------------------------------------------------ */

/* Creates dir and its missing parents with mode. */
static int mkdir_p(const char *dir, mode_t mode) {
  char *p = idp_xstrdup(dir);
  int rc = 0;
  for (char *c = p + 1;; c++) {
    if (*c != '/' && *c) continue;
    char save = *c;
    *c = '\0';
    if (mkdir(p, mode) != 0 && errno != EEXIST) rc = -1;
    *c = save;
    if (!save || rc) break;
  }
  int e = errno;
  free(p);
  errno = e;
  return rc;
}

static int mkdir_parent(const char *file, mode_t mode) {
  const char *slash = strrchr(file, '/');
  if (!slash || slash == file) return 0;
  char *d = idp_xstrdup(file);
  d[slash - file] = '\0';
  int rc = mkdir_p(d, mode);
  int e = errno;
  free(d);
  errno = e;
  return rc;
}

/* The file's text (malloc'd) or NULL: *missing says whether it is absent. */
static char *slurp(const char *path, size_t *len, bool *missing) {
  char *text = NULL;
  *missing = false;
  if (idp_read_file(path, &text, len) != 0) {
    *missing = errno == ENOENT || errno == ENOTDIR;
    return NULL;
  }
  return text;
}

static void sha256_hex(const char *data, size_t len, char hex[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
  for (unsigned i = 0; i < mdlen && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  hex[64] = '\0';
}

/* Would removing path take away another object than kind ns/name? A file idp cannot read as
 * such an object (or at all) is idp's to remove; one that names another object is left alone. */
static bool holds_other(const char *path, const char *kind, const char *ns, const char *name) {
  size_t len;
  bool missing;
  char *text = slurp(path, &len, &missing);
  if (!text) return false;
  json_t *docs = parse_yaml(text, len);
  explicit_bzero(text, len);
  free(text);
  const json_t *d = doc_of(docs, 0, kind);
  const json_t *md = json_object_get(d, "metadata");
  bool other = d && jstr(md, "name") && jstr(md, "namespace") &&
               (strcmp(jstr(md, "name"), name) != 0 || strcmp(jstr(md, "namespace"), ns) != 0);
  json_decref(docs);
  return other;
}

/* Removes path unless it holds another object; its absence is success. */
static int remove_file(idp_drv_ctx *ctx, const char *path, const char *kind, const char *ns, const char *name) {
  if (ns && name && holds_other(path, kind, ns, name)) return 0;
  if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) return idp_drv_fail(ctx, "remove %s: %s", path, strerror(errno));
  const char *slash = strrchr(path, '/');
  const char *d = slash ? idp_arena_strndup(ctx->arena, path, slash == path ? 1 : (size_t)(slash - path)) : ".";
  int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the removal is durable once the directory is */
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

/* Is inner the directory outer, or inside it? Both must exist. */
static bool dir_within(const char *inner, const char *outer) {
  char ri[PATH_MAX], ro[PATH_MAX];
  if (!realpath(inner, ri) || !realpath(outer, ro)) return false;
  size_t n = strlen(ro);
  return strncmp(ri, ro, n) == 0 && (ri[n] == '\0' || ri[n] == '/' || (n == 1 && ro[0] == '/'));
}

/* --- operations ------------------------------------------------------------------------------- */

static idp_value *str_value(idp_drv_ctx *ctx, const char *s) { return idp_value_cstring(ctx->arena, s); }

static idp_value *outputs_value(idp_drv_ctx *ctx, const char *file, const char *secret_file, const char *sha) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  idp_map_builder_add(&mb, "file", 4, str_value(ctx, file));
  idp_map_builder_add(&mb, "secret_file", 11, str_value(ctx, secret_file ? secret_file : ""));
  idp_map_builder_add(&mb, "sha256", 6, str_value(ctx, sha));
  return idp_map_builder_build(&mb, NULL);
}

/* Renders inputs and writes the files: create and update alike (a create finding the files
 * already there replaces them: it adopts them, decision 11). */
static int write_deployment(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  dpaths p;
  dspec s;
  if (get_paths(ctx, inputs, &p) != 0 || get_spec(ctx, inputs, &s) != 0) return -1;
  bool secret = spec_has_secret(&s);
  if (secret && !p.secret_file) {
    idp_buf keys = {0};
    for (size_t i = 0; i < s.nenv; i++)
      if (s.env[i].secret) idp_buf_printf(&keys, "%s%s", keys.len ? ", " : "", s.env[i].key);
    idp_drv_fail(ctx, "env holds secret values (%s) and the gitops integration has no secrets_dir: they may not go into dir",
                 idp_buf_cstr(&keys));
    idp_buf_free(&keys);
    return -1;
  }
  idp_buf text = {0}, stext = {0};
  json_t *docs = main_docs(ctx->arena, &s), *sdocs = secret ? secret_docs(ctx->arena, &s) : NULL;
  int rc = 0;
  if (!docs || (secret && !sdocs) || render_yaml(docs, ctx->address, &text) != 0 || (sdocs && render_yaml(sdocs, ctx->address, &stext) != 0)) {
    rc = idp_drv_fail(ctx, "render %s: the YAML emitter failed", p.file);
    goto done;
  }
  if (mkdir_parent(p.file, 0755) != 0) {
    rc = idp_drv_fail(ctx, "create the directory of %s: %s", p.file, strerror(errno));
    goto done;
  }
  if (secret) {
    if (mkdir_p(p.secrets_dir, 0700) != 0 || mkdir_parent(p.secret_file, 0700) != 0) {
      rc = idp_drv_fail(ctx, "create the directory of %s: %s", p.secret_file, strerror(errno));
      goto done;
    }
    if (dir_within(p.secrets_dir, p.dir)) {
      rc = idp_drv_fail(ctx, "secrets_dir %s is inside dir %s: the GitOps controller would sync the secrets", p.secrets_dir, p.dir);
      goto done;
    }
    if (idp_replace_file(p.secret_file, stext.data, stext.len, 0600) != 0) {
      rc = idp_drv_fail(ctx, "write %s: %s", p.secret_file, strerror(errno));
      goto done;
    }
  }
  if (idp_replace_file(p.file, text.data, text.len, 0644) != 0) {
    rc = idp_drv_fail(ctx, "write %s: %s", p.file, strerror(errno));
    goto done;
  }
  /* env holds no secret (any more): a Secret left from before goes */
  if (!secret && p.secret_file && remove_file(ctx, p.secret_file, "Secret", s.ns, secret_name(ctx->arena, &s)) != 0) {
    rc = -1;
    goto done;
  }
  char sha[65];
  sha256_hex(text.data, text.len, sha);
  *outputs = outputs_value(ctx, p.file, secret ? p.secret_file : NULL, sha);
done:
  if (stext.data) explicit_bzero(stext.data, stext.len);
  idp_buf_free(&stext);
  idp_buf_free(&text);
  json_decref(docs);
  json_decref(sdocs);
  return rc;
}

static int deployment_create(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  return write_deployment(ctx, inputs, outputs);
}

static int deployment_update(idp_drv_ctx *ctx, const idp_value *prior, const idp_value *inputs, idp_value **outputs) {
  (void)prior; /* target and path force replacement: the files are the same */
  return write_deployment(ctx, inputs, outputs);
}

static const idp_value *prior_inputs(idp_drv_ctx *ctx, const idp_value *prior) {
  const idp_value *in = entry(prior, "inputs");
  if (!in || in->kind != IDP_V_MAP) {
    idp_drv_fail(ctx, "the prior state holds no inputs");
    return NULL;
  }
  return in;
}

static idp_value *env_value(idp_drv_ctx *ctx, const dspec *s) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  for (size_t i = 0; i < s->nenv; i++) {
    if (!s->env[i].val) continue; /* a secret gone from the secret file: the key reads as gone */
    idp_value *v = idp_value_cstring(ctx->arena, s->env[i].val);
    idp_map_builder_add(&mb, s->env[i].key, strlen(s->env[i].key), s->env[i].secret ? idp_value_taint(ctx->arena, v, NULL, true) : v);
  }
  return idp_map_builder_build(&mb, NULL);
}

static int deployment_read(idp_drv_ctx *ctx, const idp_value *prior, idp_value **out) {
  const idp_value *in = prior_inputs(ctx, prior);
  dpaths p;
  if (!in || get_paths(ctx, in, &p) != 0) return -1;
  *out = NULL;
  size_t len = 0, slen = 0;
  bool missing;
  char *text = slurp(p.file, &len, &missing);
  if (!text) return missing ? 0 : idp_drv_fail(ctx, "read %s: %s", p.file, strerror(errno));
  char *stext = p.secret_file ? slurp(p.secret_file, &slen, &missing) : NULL;
  if (p.secret_file && !stext && !missing) {
    free(text);
    return idp_drv_fail(ctx, "read %s: %s", p.secret_file, strerror(errno));
  }
  json_t *docs = parse_yaml(text, len), *sdocs = stext ? parse_yaml(stext, slen) : NULL;
  char sha[65];
  sha256_hex(text, len, sha);
  free(text);
  if (stext) explicit_bzero(stext, slen);
  free(stext);
  dspec s;
  int rc = docs ? spec_from_docs(ctx->arena, docs, sdocs, &s) : -1;
  json_decref(docs);
  json_decref(sdocs);
  if (rc != 0) return 0; /* not what idp rendered: gone, and made again by the next apply */

  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  for (size_t i = 0; i < in->u.map.n; i++) /* port: absent when the file has none */
    if (strcmp(in->u.map.keys[i], "port") != 0) idp_map_builder_add(&mb, in->u.map.keys[i], in->u.map.klen[i], in->u.map.vals[i]);
  idp_map_builder_add(&mb, "namespace", 9, str_value(ctx, s.ns));
  idp_map_builder_add(&mb, "name", 4, str_value(ctx, s.name));
  idp_map_builder_add(&mb, "image", 5, str_value(ctx, s.image));
  idp_map_builder_add(&mb, "replicas", 8, idp_value_number(ctx->arena, (double)s.replicas));
  if (s.port) idp_map_builder_add(&mb, "port", 4, idp_value_number(ctx->arena, (double)s.port));
  idp_map_builder_add(&mb, "env", 3, env_value(ctx, &s));
  idp_map_builder lb;
  idp_map_builder_init(&lb, ctx->arena);
  for (size_t i = 0; i < s.nlabels; i++) idp_map_builder_add(&lb, s.labels[i].key, strlen(s.labels[i].key), str_value(ctx, s.labels[i].val));
  idp_map_builder_add(&mb, "labels", 6, idp_map_builder_build(&lb, NULL));
  idp_value *inputs = idp_map_builder_build(&mb, NULL);

  idp_map_builder_init(&mb, ctx->arena);
  idp_map_builder_add(&mb, "inputs", 6, inputs);
  idp_map_builder_add(&mb, "outputs", 7, outputs_value(ctx, p.file, spec_has_secret(&s) ? p.secret_file : NULL, sha));
  *out = idp_map_builder_build(&mb, NULL);
  return 0;
}

static int deployment_delete(idp_drv_ctx *ctx, const idp_value *prior) {
  const idp_value *in = prior_inputs(ctx, prior);
  dpaths p;
  if (!in || get_paths(ctx, in, &p) != 0) return -1;
  const char *ns = NULL, *name = NULL;
  if (string_entry(ctx, in, "", "namespace", false, &ns) != 0 || string_entry(ctx, in, "", "name", false, &name) != 0) return -1;
  if (remove_file(ctx, p.file, "Deployment", ns, name) != 0) return -1;
  if (p.secret_file) {
    const char *sn = name ? idp_arena_sprintf(ctx->arena, "%s-env", name) : NULL;
    if (remove_file(ctx, p.secret_file, "Secret", ns, sn) != 0) return -1;
  }
  return 0;
}

static const idp_drv_kind kinds[] = {
    {.name = "deployment", .full = "gitops.deployment",
     .doc = "a Deployment (and a Service when port is set) rendered as YAML into a file",
     .io = {deployment_inputs, IDP_DRV_N(deployment_inputs), deployment_outputs, IDP_DRV_N(deployment_outputs)},
     .ops = {.read = deployment_read, .create = deployment_create, .update = deployment_update, .delete = deployment_delete}},
};

const idp_driver idp_driver_gitops = {
    .name = "gitops",
    .doc = "manifests rendered into a directory that Argo CD or Flux syncs",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), NULL, 0},
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
