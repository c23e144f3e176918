/* ast.c - names of kinds and operators, and node constructors. */
#include "ast.h"

const char *idp_expr_kind_name(idp_expr_kind k) {
  static const char *const names[] = {
#define X(name, desc) desc,
      IDP_EXPR_KINDS(X)
#undef X
  };
  return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

const char *idp_op_spelling(idp_op op) {
  static const char *const names[] = {
#define X(name, spelling) spelling,
      IDP_OPS(X)
#undef X
  };
  return (unsigned)op < sizeof names / sizeof *names ? names[op] : "?";
}

idp_expr *idp_expr_new(idp_arena *a, idp_expr_kind kind, idp_loc loc) {
  idp_expr *e = idp_arena_alloc(a, sizeof *e);
  e->kind = kind;
  e->loc = loc;
  e->depth = 1;
  return e;
}

void idp_body_append(idp_body *b, idp_item *it) {
  it->next = NULL;
  if (b->last) b->last->next = it;
  else b->first = it;
  b->last = it;
  b->n++;
}
