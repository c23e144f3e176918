/* eval.h - evaluates expressions of the syntax tree to values (value.h), with unknowns, secrets and
 * dependency sets flowing through every operator, function and interpolation.
 *
 * The evaluator resolves no names itself: references go to the caller's resolver (the environment
 * instantiation supplies it), and the outside world (environment variables, image tags) is reached
 * only through the context's callbacks. Values are allocated in the context's arena. */
#ifndef IDP_EVAL_H
#define IDP_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"
#include "source.h"
#include "value.h"

/* Return codes. */
enum {
  IDP_EVAL_OK = 0,
  IDP_EVAL_ERROR = -1,     /* an error was reported to the context's diagnostics */
  IDP_EVAL_NOT_FOUND = -2, /* resolver: no such reference */
};

/* One `.name` or `[index]` step after a reference's root. */
typedef struct idp_ref_step {
  const char *name;          /* a `.name` step, or NULL for an index step */
  const idp_value *index;    /* an index step's value: a known string or number */
  idp_loc loc;               /* the step, for messages */
} idp_ref_step;

/* What a resolver found. */
typedef struct idp_ref_result {
  idp_value *value;          /* on success: the value of root.steps[0..used) */
  size_t used;               /* on success, the steps the resolver consumed (the evaluator applies
                                the rest as ordinary attribute and index steps); on NOT_FOUND, the
                                steps that were fine before the one that is not */
  const char *hint;          /* on NOT_FOUND, optional: what to do (a did-you-mean); arena or static */
} idp_ref_result;

/* Resolves a reference: root (`integration`, `app`, `powerdns`, ...) followed by steps[0..n).
 * Index steps whose index is unknown, or not a string or number, end the chain handed over.
 * Returns IDP_EVAL_OK with res->value set (its secret mark and dependency set included), or
 * IDP_EVAL_NOT_FOUND (the evaluator reports `unknown reference`). */
typedef int (*idp_resolve_fn)(idp_ref_result *res, const char *root, const idp_ref_step *steps,
                              size_t n, void *payload);

/* Looks up an environment variable: its value, or NULL when unset. */
typedef const char *(*idp_getenv_fn)(const char *name, void *payload);

/* Resolves registry_image(integration, repository, pattern) to an image reference (a digest).
 * Called only with known arguments. Returns 0 with *out set, or -1 with *err set to a message
 * (arena or static; it must hold no secret). */
typedef int (*idp_image_fn)(idp_value **out, const char **err, const idp_value *integration,
                            const char *repository, const char *pattern, void *payload);

typedef struct idp_eval_ctx {
  idp_arena *arena;          /* values and scratch; borrowed */
  idp_diags *diags;          /* where errors go; borrowed */
  idp_source *src;           /* the source the evaluated expressions come from; borrowed */
  idp_resolve_fn resolve;    /* NULL: every reference is unknown to it */
  void *resolve_payload;
  bool in_app;               /* evaluating inside an `app` block: env(), file(), secret() refused (decision 12) */
  const char *spec_dir;      /* file() paths resolve against it; NULL for the current directory */
  idp_getenv_fn getenv;      /* NULL: the process environment (getenv(3)) */
  void *getenv_payload;
  idp_image_fn image_resolver; /* NULL: registry_image() is unknown until apply */
  void *image_payload;
} idp_eval_ctx;

/* Sets the required fields and clears the rest. */
void idp_eval_ctx_init(idp_eval_ctx *ctx, idp_arena *arena, idp_diags *diags, idp_source *src);

/* Evaluates e. Returns IDP_EVAL_OK with *out set, or IDP_EVAL_ERROR after reporting every error
 * found in e (located at the offending node) to ctx->diags; *out is NULL then. */
int idp_eval(idp_eval_ctx *ctx, const idp_expr *e, idp_value **out);

/* The string a value takes in an interpolation or a join: strings as they are, numbers in their
 * shortest form, bools as true/false. Returns false for other kinds. */
bool idp_value_to_text(idp_buf *b, const idp_value *v);

/* The names of the built-in functions, in table order (for "did you mean" and docs). */
size_t idp_func_names(const char *const **names);

#endif
