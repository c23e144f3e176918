/* ast.h - the syntax tree of .idp sources.
 *
 * Every node carries its location (byte offsets into its file's source). Nodes, names and string
 * values are allocated in the arena of the idp_file they belong to and die with it; lists are
 * singly linked through `next` in source order. */
#ifndef IDP_AST_H
#define IDP_AST_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "source.h"

/* Expression kinds, listed once: X(NAME, description). */
#define IDP_EXPR_KINDS(X)                         \
  X(ERROR, "invalid expression")                  \
  X(NULL, "null")                                 \
  X(BOOL, "bool")                                 \
  X(NUMBER, "number")                             \
  X(TEMPLATE, "string")                           \
  X(LIST, "list")                                 \
  X(MAP, "map")                                   \
  X(REF, "reference")                             \
  X(GETATTR, "attribute access")                  \
  X(INDEX, "index")                               \
  X(CALL, "function call")                        \
  X(UNARY, "unary operation")                     \
  X(BINARY, "binary operation")                   \
  X(COND, "conditional")                          \
  X(PAREN, "parenthesized expression")

typedef enum {
#define X(name, desc) IDP_E_##name,
  IDP_EXPR_KINDS(X)
#undef X
} idp_expr_kind;

/* Operators, listed once: X(NAME, spelling). */
#define IDP_OPS(X) \
  X(NOT, "!")      \
  X(NEG, "-")      \
  X(MUL, "*")      \
  X(DIV, "/")      \
  X(MOD, "%")      \
  X(ADD, "+")      \
  X(SUB, "-")      \
  X(LT, "<")       \
  X(GT, ">")       \
  X(LE, "<=")      \
  X(GE, ">=")      \
  X(EQ, "==")      \
  X(NE, "!=")      \
  X(AND, "&&")     \
  X(OR, "||")

typedef enum {
#define X(name, spelling) IDP_OP_##name,
  IDP_OPS(X)
#undef X
} idp_op;

const char *idp_expr_kind_name(idp_expr_kind k);
const char *idp_op_spelling(idp_op op);

typedef struct idp_expr idp_expr;

/* One piece of a string or heredoc: literal text, or an interpolated expression. */
typedef struct idp_tpart {
  const char *text;       /* unescaped text (NUL-terminated), or NULL for an interpolation */
  size_t len;             /* bytes in text */
  idp_expr *expr;         /* the interpolated expression when text is NULL */
  idp_loc loc;            /* the text, or `${ ... }` with its braces */
  struct idp_tpart *next;
} idp_tpart;

typedef struct idp_map_entry {
  idp_expr *key;          /* a TEMPLATE (from a bare name or a string) or a PAREN expression */
  idp_expr *value;
  bool key_bare;          /* the key was written as a bare name (`a = 1`), not quoted */
  bool colon;             /* written `key: value` rather than `key = value` */
  idp_loc loc;            /* key through value */
  struct idp_map_entry *next;
} idp_map_entry;

struct idp_expr {
  idp_expr_kind kind;     /* says which union member is used (named after it) */
  idp_loc loc;
  unsigned depth;         /* 1 + the depth of the deepest child: recursion over the tree is bounded */
  bool heredoc_inside;    /* this is a heredoc or holds one: its closing line must stay alone */
  idp_expr *next;         /* next element of a list or argument of a call */
  union {
    bool boolean;                                         /* BOOL */
    double number;                                        /* NUMBER (source text is at loc) */
    struct { idp_tpart *parts; bool heredoc, strip; } template; /* TEMPLATE; strip: `<<-` */
    struct { idp_expr *items; size_t n; bool multiline; } list; /* LIST */
    struct { idp_map_entry *entries; size_t n; bool multiline; } map; /* MAP */
    struct { const char *name; } ref;                     /* REF: a root name such as `app` */
    struct { idp_expr *obj; const char *name; idp_loc name_loc; } getattr; /* GETATTR */
    struct { idp_expr *obj, *index; } index;              /* INDEX */
    struct { const char *name; idp_loc name_loc; idp_expr *args; size_t nargs; bool multiline; } call; /* CALL */
    struct { idp_op op; idp_expr *operand; } unary;       /* UNARY */
    struct { idp_op op; idp_expr *lhs, *rhs; } binary;    /* BINARY */
    struct { idp_expr *cond, *then, *otherwise; } cond;   /* COND */
    struct { idp_expr *inner; } paren;                    /* PAREN */
  } u;
};

/* A block label: `"corp-dns"`, `development` or the dotted `gitops.deployment`. */
typedef struct idp_label {
  const char *name;       /* the label's value */
  idp_loc loc;
  bool quoted;            /* written as a string */
  struct idp_label *next;
} idp_label;

typedef enum { IDP_ITEM_ATTR, IDP_ITEM_BLOCK } idp_item_kind;

typedef struct idp_item idp_item;

/* The attributes and nested blocks of a block, or of a whole file. */
typedef struct idp_body {
  idp_item *first, *last; /* items in source order */
  size_t n;
} idp_body;

struct idp_item {
  idp_item_kind kind;     /* ATTR uses value; BLOCK uses labels, nlabels, body, open, close */
  idp_loc loc;            /* the whole attribute or block */
  const char *name;       /* attribute name or block kind */
  idp_loc name_loc;
  idp_expr *value;                /* ATTR */
  idp_label *labels;              /* BLOCK */
  size_t nlabels;                 /* BLOCK */
  idp_body body;                  /* BLOCK */
  idp_loc open, close;            /* BLOCK: its braces */
  idp_item *next;
};

/* A comment, kept for `idp fmt`. */
typedef struct idp_comment {
  idp_loc loc;            /* the comment's text, from its marker to before the newline */
  struct idp_comment *next;
} idp_comment;

typedef struct idp_file {
  idp_source *src;        /* borrowed: outlives the file */
  idp_body body;          /* top-level blocks */
  idp_comment *comments;  /* in source order */
  size_t ncomments;
} idp_file;

/* Constructors used by the parser; they allocate in a and set depth. */
idp_expr *idp_expr_new(idp_arena *a, idp_expr_kind kind, idp_loc loc);
void idp_body_append(idp_body *b, idp_item *it);

#endif
