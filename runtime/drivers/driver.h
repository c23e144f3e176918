/* driver.h - the one small interface every driver implements, and the table of built-in drivers.
 *
 * A driver is one file under runtime/drivers/ holding one `idp_driver`: the schema of its
 * integration block (`integration powerdns "x" { ... }`), the schema of each resource kind it
 * manages (`resource powerdns.zone "x" { ... }`), and the API calls. Adding a driver is adding that
 * file, one line in IDP_BUILTIN_DRIVERS below, and its tests.
 *
 * A driver whose API slots (configure, read, create, update, delete) are NULL has no API code
 * yet: plan works with it, apply refuses it by name.
 *
 * Everything here is static, read-only data: nothing to allocate or free. */
#ifndef IDP_DRIVER_H
#define IDP_DRIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "ast.h"
#include "diag.h"

/* --- value types ------------------------------------------------------------------------------ */

/* The types an input or output takes: X(NAME, spelling). INTEGRATION is a reference to an
 * integration block of a given driver (`server = integration.corp-dns`). */
#define IDP_DRV_TYPES(X)            \
  X(STRING, "string")               \
  X(NUMBER, "number")               \
  X(BOOL, "bool")                   \
  X(LIST_STRING, "list(string)")    \
  X(LIST_NUMBER, "list(number)")    \
  X(MAP_STRING, "map(string)")      \
  X(ANY, "any")                     \
  X(INTEGRATION, "integration")

typedef enum {
#define X(name, spelling) IDP_DRV_T_##name,
  IDP_DRV_TYPES(X)
#undef X
} idp_drv_type_kind;

typedef struct idp_drv_type {
  idp_drv_type_kind kind;
  const char *driver;   /* INTEGRATION: the driver whose integration it takes; NULL otherwise */
} idp_drv_type;

/* How a type is written: "list(string)", "integration(powerdns)". Returns buf. */
const char *idp_drv_type_name(idp_drv_type t, char *buf, size_t size);

/* A default value: a small typed literal. EMPTY is `[]` or `{}` as the input's type says. */
typedef enum { IDP_DRV_DEF_NONE, IDP_DRV_DEF_STRING, IDP_DRV_DEF_NUMBER, IDP_DRV_DEF_BOOL, IDP_DRV_DEF_EMPTY } idp_drv_def_kind;

typedef struct idp_drv_default {
  idp_drv_def_kind kind;  /* says which union member is used; NONE: no default */
  union {
    const char *string;   /* STRING */
    double number;        /* NUMBER */
    bool boolean;         /* BOOL */
  } u;
} idp_drv_default;

/* The default as the language writes it ("\"localhost\"", "300", "true", "[]"); "" for NONE. */
const char *idp_drv_default_text(const idp_drv_default *d, idp_drv_type t, char *buf, size_t size);

/* --- schemas ---------------------------------------------------------------------------------- */

typedef struct idp_drv_input {
  const char *name;
  idp_drv_type type;
  bool required;          /* must be set (then def is NONE) */
  idp_drv_default def;    /* the value when not set; NONE: absent means "not set" */
  bool secret_ok;         /* may take a secret value (decision 8); else a secret here is a compile error */
  bool force_new;         /* a change replaces the object instead of updating it in place */
  const char *doc;        /* one line */
} idp_drv_input;

typedef struct idp_drv_output {
  const char *name;
  idp_drv_type type;
  bool computed;          /* known only after apply: `(known after apply)` in a plan */
  bool secret;            /* a secret value: redacted everywhere, encrypted in state */
  const char *doc;        /* one line */
} idp_drv_output;

/* What a block takes (inputs, set as attributes) and gives (outputs, read by reference). Every
 * input can be read by reference too (`resource.db.name`). */
typedef struct idp_drv_io {
  const idp_drv_input *inputs;
  size_t ninputs;
  const idp_drv_output *outputs;
  size_t noutputs;
} idp_drv_io;

/* --- the API ----------------------------------------------------------------------------------
 * The executor (runtime/exec.c) calls these from its worker threads, at most -parallelism at
 * once (and max_parallel per integration); a driver keeps no state between calls, so calls on
 * different resources may run at the same time. Values are the evaluator's (compiler/value.h):
 *   - inputs: the map of the resource's inputs as planned, unknowns filled in; an input that
 *     takes an integration (`server = integration.dns`) holds that integration's inputs as a map
 *     (`server.api`, `server.api_key`). Secret-marked values hold their plaintext: use it for
 *     the call, never put it in ctx->err or anything printed.
 *   - prior, and what read returns: a map {"inputs": MAP, "outputs": MAP}, as the state keeps it
 *     (secrets opened).
 *   - outputs: a map of every output of the kind, built in ctx->arena (idp_map_builder); the
 *     executor seals the ones the schema marks secret before they reach the state.
 * Each call returns 0, or -1 with ctx->err set to one line that says what failed, with the API's
 * own message (e.g. `PATCH /api/v1/servers/localhost/zones/x.test.: 422 RRset x.test. IN CNAME:
 * Conflicts with pre-existing RRset`). Transient HTTP failures are retried by ctx->http already. */
struct idp_value;
struct idp_http;
struct idp_arena;

typedef struct idp_drv_ctx {
  struct idp_arena *arena;    /* for outputs and scratch; freed by the executor after the step */
  struct idp_http *http;      /* the run's HTTP client (runtime/http.h): every HTTP call goes here */
  const char *address;        /* the resource's address, for messages */
  char err[1024];             /* the failure (never a secret) */
  bool applied;               /* set by a create or update that changed the object before a later
                                 part failed (a rollout that did not complete): the object is
                                 there but not as wanted, so the state marks it tainted */
} idp_drv_ctx;

/* Sets ctx->err (printf-style) and returns -1. */
int idp_drv_fail(idp_drv_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct idp_drv_resource_ops {
  /* Reads the object that prior (the inputs and outputs recorded in state) names; *out gets its
   * current inputs and outputs, or NULL when it no longer exists. Used by refresh and drift. */
  int (*read)(idp_drv_ctx *ctx, const struct idp_value *prior, struct idp_value **out);
  /* Creates the object; *outputs gets every output. Finding it already there with the same
   * identity adopts it and updates it to inputs (decision 11). */
  int (*create)(idp_drv_ctx *ctx, const struct idp_value *inputs, struct idp_value **outputs);
  /* Changes in place the inputs that do not force replacement. */
  int (*update)(idp_drv_ctx *ctx, const struct idp_value *prior, const struct idp_value *inputs,
                struct idp_value **outputs);
  /* Deletes the object; an object already gone is success. */
  int (*delete)(idp_drv_ctx *ctx, const struct idp_value *prior);
} idp_drv_resource_ops;

typedef struct idp_drv_integration_ops {
  /* Checks an integration's inputs, opens what it needs, and computes its derived outputs
   * (postgres: host and port from the DSN); *outputs gets them. */
  int (*configure)(idp_drv_ctx *ctx, const struct idp_value *inputs, struct idp_value **outputs);
} idp_drv_integration_ops;

/* --- drivers and kinds ------------------------------------------------------------------------ */

typedef struct idp_drv_kind {
  const char *name;           /* the part after the dot: "zone" of powerdns.zone */
  const char *full;           /* the whole name, "powerdns.zone" (a unit test checks it) */
  const char *doc;            /* one line */
  idp_drv_io io;
  idp_drv_resource_ops ops;   /* NULL where the driver has no API code yet */
} idp_drv_kind;

typedef struct idp_driver {
  const char *name;           /* "powerdns": the DRIVER of `integration DRIVER` and DRIVER.KIND */
  const char *doc;            /* one line */
  bool integration;           /* takes `integration DRIVER "name"` blocks (random does not) */
  idp_drv_io io;              /* the integration block's inputs and derived outputs */
  idp_drv_integration_ops ops; /* NULL where nothing needs configuring */
  const idp_drv_kind *kinds;  /* resource kinds, in the order `idp describe` lists them */
  size_t nkinds;
} idp_driver;

/* The built-in drivers, listed once: one line per driver file. */
#define IDP_BUILTIN_DRIVERS(X) \
  X(gitops)                    \
  X(http)                      \
  X(kubernetes)                \
  X(oci_registry)              \
  X(postgres)                  \
  X(powerdns)                  \
  X(random)

#define X(name) extern const idp_driver idp_driver_##name;
IDP_BUILTIN_DRIVERS(X)
#undef X

/* The input every integration takes, last in each integration table: the most API calls of
 * this integration in flight at once during an apply (on top of `-parallelism`). */
#define IDP_DRV_INPUT_MAX_PARALLEL                                                               \
  {.name = "max_parallel", .type = {IDP_DRV_T_NUMBER, NULL},                                     \
   .doc = "most calls to this integration in flight at once (default: only -parallelism limits)"}

/* Shorthands for the tables in the driver files. */
#define IDP_DRV_TYPE(k) {IDP_DRV_T_##k, NULL}
#define IDP_DRV_TYPE_INTEGRATION(drv) {IDP_DRV_T_INTEGRATION, drv}
#define IDP_DRV_DEF_STR(s) {.kind = IDP_DRV_DEF_STRING, .u.string = (s)}
#define IDP_DRV_DEF_NUM(n) {.kind = IDP_DRV_DEF_NUMBER, .u.number = (n)}
#define IDP_DRV_DEF_BOOLEAN(b) {.kind = IDP_DRV_DEF_BOOL, .u.boolean = (b)}
#define IDP_DRV_DEF_EMPTY_VALUE {.kind = IDP_DRV_DEF_EMPTY}
#define IDP_DRV_N(a) (sizeof(a) / sizeof *(a))

/* An integration's derived outputs, from its driver's configure (no network: e.g. postgres host and
 * port parsed from the DSN): a map in arena, or NULL when the driver has no configure or it
 * failed (the values stay unknown; apply reports the failure when it configures for real). */
struct idp_value *idp_driver_configure(struct idp_arena *arena, const char *driver, const struct idp_value *inputs);

/* --- lookups ---------------------------------------------------------------------------------- */

/* Every built-in driver, sorted by name. */
const idp_driver *const *idp_driver_all(size_t *n);
/* The driver named name, or NULL. */
const idp_driver *idp_driver_find(const char *name);
/* The kind "DRIVER.KIND", or NULL; *drv (may be NULL) gets its driver, or the driver when only
 * the kind is unknown (NULL when the driver is unknown too). */
const idp_drv_kind *idp_driver_find_kind(const char *dotted, const idp_driver **drv);
const idp_drv_input *idp_drv_find_input(const idp_drv_io *io, const char *name);
const idp_drv_output *idp_drv_find_output(const idp_drv_io *io, const char *name);
/* Every name `idp describe` accepts (drivers, then "DRIVER.KIND"), in the order it lists them:
 * fills names[0..max) and returns how many there are. For did-you-mean. */
size_t idp_driver_names(const char **names, size_t max);
/* The closest known "DRIVER.KIND" to dotted, or NULL. */
const char *idp_driver_suggest_kind(const char *dotted);

/* --- checks without evaluation ---------------------------------------------------------------- */

/* The block whose attributes are checked against io. */
typedef struct idp_drv_subject {
  const idp_drv_io *io;
  const char *what;        /* in messages: "powerdns.zone", "integration powerdns" */
  const char *topic;       /* for the hint `idp describe TOPIC`: "powerdns.zone", "powerdns" */
  const char *name;        /* the block's name label: "dev-zone" */
  const char *ref;         /* how its attributes are read: "resource.pw", "integration.shared-pg" */
  bool resource;           /* a resource block: takes the meta-argument depends_on and a lifecycle */
} idp_drv_subject;

/* Checks the attributes among items (a block body's items; nested blocks are skipped) against
 * what subject takes, reporting to d:
 *   - an attribute that is an output: `'value' is an output of random.password: it cannot be set`;
 *   - an unknown attribute: `unknown input 'nameserver' of powerdns.zone`, with a did-you-mean;
 *   - required inputs not set: one error at `at` (the block's kind label) naming them all.
 * Types, and whether a secret reaches an input that may not take one, need evaluation: the
 * evaluator checks them. Returns the number of errors reported. */
unsigned idp_driver_check_attrs(idp_diags *d, idp_source *src, const idp_drv_subject *subject,
                                const idp_item *items, idp_loc at);

/* Checks a `resource DRIVER.KIND "name"` or `integration DRIVER "name"` block whose labels are
 * well formed: an unknown driver or kind is an error with a hint, then idp_driver_check_attrs.
 * parent is the kind of the enclosing block ("provide") or "file" at the top level. Other blocks
 * are left alone. Returns the number of errors reported. */
unsigned idp_driver_check_block(idp_diags *d, idp_source *src, const char *parent, const idp_item *block);

#endif
