/* eval_int.h - what eval.c and funcs.c share: the function table and the helpers its entries use.
 * Not for use outside the evaluator. */
#ifndef IDP_EVAL_INT_H
#define IDP_EVAL_INT_H

#include "eval.h"

/* One call being made: its node, its evaluated arguments and their expressions (for locations). */
typedef struct idp_fcall {
  idp_eval_ctx *ctx;
  const struct idp_func *fn;
  const idp_expr *call;          /* the CALL node */
  const idp_expr *const *arg_e;  /* argument expressions, nargs of them */
  idp_value *const *args;        /* their values */
  size_t nargs;
} idp_fcall;

/* How the evaluator wraps a function (flags). */
enum {
  /* Default: any argument holding an unknown anywhere makes the result unknown; the result is
   * secret if anything in any argument is, and depends on everything the arguments depend on. The
   * implementation sees only fully known arguments and need not mark its result. */
  IDP_FN_DEEP = 0,
  /* Only an argument that is itself unknown makes the result unknown; the implementation picks
   * elements out and marks its result itself, keeping per-element (per-key) marks. */
  IDP_FN_SHALLOW = 1 << 0,
  /* Refused inside an `app` block (decision 12). */
  IDP_FN_PLATFORM = 1 << 1,
  /* The result is secret whatever the arguments (secret()). */
  IDP_FN_SECRET = 1 << 2,
  /* Argument 1 names a thing (an integration) rather than giving data: its dependencies flow into
   * the result but its secret attributes do not, and unknown attributes in it do not make the
   * result unknown (registry_image()). */
  IDP_FN_HANDLE = 1 << 3,
};

enum { IDP_FN_VARIADIC = 0xFFFF };

typedef struct idp_func {
  const char *name;
  unsigned min, max;             /* argument count; max IDP_FN_VARIADIC: no limit */
  unsigned flags;                /* IDP_FN_* */
  idp_value_kind returns;        /* the kind of its result (IDP_V_UNKNOWN: depends), as an unknown's hint */
  const char *sig;               /* e.g. "lookup(map, key[, default])", for messages and docs */
  int (*impl)(idp_fcall *c, idp_value **out);
} idp_func;

/* The function named name, or NULL. */
const idp_func *idp_func_find(const char *name);

/* Reports an error at loc (message formatted like printf) and returns IDP_EVAL_ERROR. */
int idp_eval_error(idp_eval_ctx *ctx, idp_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
