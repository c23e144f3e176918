/* parser.y - the .idp grammar: a pure, reentrant LALR(1) parser that builds the syntax tree.
 *
 * The language is HCL-shaped: a file is a body of attributes (`name = expr`) and blocks
 * (`kind label... { body }`). Block kinds are not keywords here; compiler/schema.c knows them.
 * Newlines end attributes; the lexer drops them inside ( ) and [ ]. Every syntax error is
 * reported through idp_diags and the parse resumes at the next line or closing bracket. */

%define api.pure full
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {idp_parser *P}

%code requires {
#include "../compiler/ast.h"
#include "lexer_int.h"

typedef struct idp_parser idp_parser;

/* Locations are byte ranges; see YYLLOC_DEFAULT below. */
#define YYLTYPE idp_loc
#define YYLTYPE_IS_DECLARED 1

typedef struct { const char *s; size_t len; } idp_text;
typedef struct { idp_expr *head, *tail; size_t n; } idp_elist;
typedef struct { idp_map_entry *head, *tail; size_t n; } idp_mlist;
typedef struct { idp_tpart *head, *tail; } idp_plist;
typedef struct { idp_label *head, *tail; size_t n; } idp_llist;
}

%code provides {
struct idp_parser {
  idp_lexer lx;            /* the lexer's state (holds the flex scanner); names go to lx.arena */
  idp_arena *arena;        /* where the tree's nodes go */
  /* Streaming: when set, each top-level item is handed to on_item as soon as it is parsed, and
   * then its nodes are dropped (arena rolled back to mark) instead of kept in file->body. */
  void (*on_item)(idp_item *item, void *payload);
  void *payload;
  idp_arena_mark mark;
  idp_diags *diags;
  idp_source *src;
  idp_file *file;          /* the result */
  bool deep_reported;      /* "nested too deeply" was said once for this file */
};

int idp_lex(YYSTYPE *val, YYLTYPE *loc, idp_parser *P);
int yyparse(idp_parser *P);
const char *idp_token_name(int tok);
}

%code {
#include <string.h>

#define YYLLOC_DEFAULT(Cur, Rhs, N)                 \
  do {                                              \
    if (N) {                                        \
      (Cur).start = YYRHSLOC(Rhs, 1).start;         \
      (Cur).end = YYRHSLOC(Rhs, N).end;             \
    } else {                                        \
      (Cur).start = (Cur).end = YYRHSLOC(Rhs, 0).end; \
    }                                               \
  } while (0)

#define yylex idp_lex
/* An identifier's name, copied from the source into the tree. */
#define NAME(t) idp_arena_strndup(P->arena, (t).s, (t).len)

static void yyerror(YYLTYPE *loc, idp_parser *P, const char *msg);
static idp_expr *mk(idp_parser *P, idp_expr_kind k, idp_loc loc);
static idp_expr *deepen(idp_parser *P, idp_expr *e, const idp_expr *child);
static idp_expr *mk_binary(idp_parser *P, idp_op op, idp_expr *l, idp_expr *r, idp_loc loc);
static idp_expr *mk_unary(idp_parser *P, idp_op op, idp_expr *x, idp_loc loc);
static idp_expr *mk_template(idp_parser *P, idp_plist parts, bool heredoc, bool strip, idp_loc loc);
static idp_item *mk_block(idp_parser *P, idp_text kind, idp_loc kloc, idp_llist labels,
                          idp_body body, idp_loc open, idp_loc close, idp_loc loc);
static void elist_add(idp_elist *l, idp_expr *e);
static void plist_add(idp_plist *l, idp_tpart *p);
static bool multiline(idp_parser *P, idp_loc loc);
static void top_item(idp_parser *P, idp_item *it);
}

%union {
  idp_text text;      /* IDENT, STR_TEXT */
  double num;         /* NUMBER */
  int flag;           /* HEREDOC_BEGIN: 1 for `<<-` */
  idp_expr *expr;
  idp_item *item;
  idp_body body;
  idp_elist elist;
  idp_mlist mlist;
  idp_map_entry *entry;
  idp_plist parts;
  idp_llist labels;
  idp_label *label;
}

%token <text> IDENT "identifier"
%token <num> NUMBER "number"
%token <text> STR_TEXT "string text"
%token STR_BEGIN "string"
%token STR_END "end of string"
%token <flag> HEREDOC_BEGIN "heredoc"
%token HEREDOC_END "end of heredoc"
%token INTERP_BEGIN "'${'"
%token INTERP_END "'}' of an interpolation"
%token NL "newline"
%token BAD "invalid token"
%token TRUE "true" FALSE "false" NUL "null"
%token EQ "==" NE "!=" LE "<=" GE ">=" AND "&&" OR "||"

%type <body> body
%type <item> item attribute block
%type <labels> labels
%type <label> label
%type <expr> expr primary postfix template map list call
%type <elist> elems args
%type <mlist> map_items
%type <entry> map_item
%type <expr> map_key
%type <parts> parts

%right '?' ':'
%left OR
%left AND
%left EQ NE
%left '<' '>' LE GE
%left '+' '-'
%left '*' '/' '%'
%precedence '!' UMINUS

%%

file
  : %empty
  | file NL
  | file item NL                  { top_item(P, $2); }
  | file error NL                 { yyerrok; }
  ;

body
  : %empty                        { memset(&$$, 0, sizeof $$); }
  | body NL                       { $$ = $1; }
  | body item NL                  { $$ = $1; if ($2) idp_body_append(&$$, $2); }
  | body error NL                 { $$ = $1; yyerrok; }
  ;

item
  : attribute
  | block
  | error '{' body '}'            { $$ = NULL; yyerrok; } /* a block with a broken header */
  | error '{' body item '}'       { $$ = NULL; yyerrok; }
  ;

attribute
  : IDENT '=' expr {
      $$ = idp_arena_alloc(P->arena, sizeof *$$);
      $$->kind = IDP_ITEM_ATTR;
      $$->loc = @$;
      $$->name = NAME($1);
      $$->name_loc = @1;
      $$->value = $3;
    }
  ;

block
  : IDENT labels '{' body '}'             { $$ = mk_block(P, $1, @1, $2, $4, @3, @5, @$); }
  | IDENT labels '{' body item '}' {
      if ($5) idp_body_append(&$4, $5);
      $$ = mk_block(P, $1, @1, $2, $4, @3, @6, @$);
    }
  | IDENT labels '{' body error '}'       { $$ = mk_block(P, $1, @1, $2, $4, @3, @6, @$); yyerrok; }
  ;

labels
  : %empty                        { memset(&$$, 0, sizeof $$); }
  | labels label {
      $$ = $1;
      if ($$.tail) $$.tail->next = $2; else $$.head = $2;
      $$.tail = $2;
      $$.n++;
    }
  ;

label
  : IDENT {
      $$ = idp_arena_alloc(P->arena, sizeof *$$);
      $$->name = NAME($1);
      $$->loc = @$;
    }
  | IDENT '.' IDENT {
      $$ = idp_arena_alloc(P->arena, sizeof *$$);
      $$->name = idp_arena_sprintf(P->arena, "%.*s.%.*s", (int)$1.len, $1.s, (int)$3.len, $3.s);
      $$->loc = @$;
    }
  | STR_BEGIN parts STR_END {
      $$ = idp_arena_alloc(P->arena, sizeof *$$);
      $$->loc = @$;
      $$->quoted = true;
      if ($2.head && ($2.head->next || !$2.head->text)) {
        idp_diag_error(P->diags, P->src, @$, "a block label must be a plain string, without '${'");
        $$->name = "";
      } else {
        $$->name = $2.head ? $2.head->text : "";
      }
    }
  ;

expr
  : postfix
  | expr '?' expr ':' expr {
      $$ = mk(P, IDP_E_COND, @$);
      $$->u.cond.cond = $1;
      $$->u.cond.then = $3;
      $$->u.cond.otherwise = $5;
      deepen(P, $$, $1);
      deepen(P, $$, $3);
      $$ = deepen(P, $$, $5);
    }
  | expr OR expr                  { $$ = mk_binary(P, IDP_OP_OR, $1, $3, @$); }
  | expr AND expr                 { $$ = mk_binary(P, IDP_OP_AND, $1, $3, @$); }
  | expr EQ expr                  { $$ = mk_binary(P, IDP_OP_EQ, $1, $3, @$); }
  | expr NE expr                  { $$ = mk_binary(P, IDP_OP_NE, $1, $3, @$); }
  | expr '<' expr                 { $$ = mk_binary(P, IDP_OP_LT, $1, $3, @$); }
  | expr '>' expr                 { $$ = mk_binary(P, IDP_OP_GT, $1, $3, @$); }
  | expr LE expr                  { $$ = mk_binary(P, IDP_OP_LE, $1, $3, @$); }
  | expr GE expr                  { $$ = mk_binary(P, IDP_OP_GE, $1, $3, @$); }
  | expr '+' expr                 { $$ = mk_binary(P, IDP_OP_ADD, $1, $3, @$); }
  | expr '-' expr                 { $$ = mk_binary(P, IDP_OP_SUB, $1, $3, @$); }
  | expr '*' expr                 { $$ = mk_binary(P, IDP_OP_MUL, $1, $3, @$); }
  | expr '/' expr                 { $$ = mk_binary(P, IDP_OP_DIV, $1, $3, @$); }
  | expr '%' expr                 { $$ = mk_binary(P, IDP_OP_MOD, $1, $3, @$); }
  | '!' expr                      { $$ = mk_unary(P, IDP_OP_NOT, $2, @$); }
  | '-' expr %prec UMINUS         { $$ = mk_unary(P, IDP_OP_NEG, $2, @$); }
  ;

postfix
  : primary
  | postfix '.' IDENT {
      $$ = mk(P, IDP_E_GETATTR, @$);
      $$->u.getattr.obj = $1;
      $$->u.getattr.name = NAME($3);
      $$->u.getattr.name_loc = @3;
      $$ = deepen(P, $$, $1);
    }
  | postfix '[' expr ']' {
      $$ = mk(P, IDP_E_INDEX, @$);
      $$->u.index.obj = $1;
      $$->u.index.index = $3;
      deepen(P, $$, $1);
      $$ = deepen(P, $$, $3);
    }
  ;

primary
  : NUMBER                        { $$ = mk(P, IDP_E_NUMBER, @$); $$->u.number = $1; }
  | TRUE                          { $$ = mk(P, IDP_E_BOOL, @$); $$->u.boolean = true; }
  | FALSE                         { $$ = mk(P, IDP_E_BOOL, @$); $$->u.boolean = false; }
  | NUL                           { $$ = mk(P, IDP_E_NULL, @$); }
  | BAD                           { $$ = mk(P, IDP_E_ERROR, @$); }
  | IDENT                         { $$ = mk(P, IDP_E_REF, @$); $$->u.ref.name = NAME($1); }
  | template
  | list
  | map
  | call
  | '(' expr ')'                  { $$ = mk(P, IDP_E_PAREN, @$); $$->u.paren.inner = $2; $$ = deepen(P, $$, $2); }
  | '(' error ')'                 { $$ = mk(P, IDP_E_ERROR, @$); }
  ;

template
  : STR_BEGIN parts STR_END       { $$ = mk_template(P, $2, false, false, @$); }
  | HEREDOC_BEGIN parts HEREDOC_END { $$ = mk_template(P, $2, true, $1 != 0, @$); }
  ;

parts
  : %empty                        { memset(&$$, 0, sizeof $$); }
  | parts STR_TEXT {
      idp_tpart *p = idp_arena_alloc(P->arena, sizeof *p);
      p->text = $2.s;
      p->len = $2.len;
      p->loc = @2;
      $$ = $1;
      plist_add(&$$, p);
    }
  | parts INTERP_BEGIN expr INTERP_END {
      idp_tpart *p = idp_arena_alloc(P->arena, sizeof *p);
      p->expr = $3;
      p->loc.start = @2.start;
      p->loc.end = @4.end;
      $$ = $1;
      plist_add(&$$, p);
    }
  | parts INTERP_BEGIN error INTERP_END { $$ = $1; }
  ;

list
  : '[' ']'                       { $$ = mk(P, IDP_E_LIST, @$); }
  | '[' args ']' {
      $$ = mk(P, IDP_E_LIST, @$);
      $$->u.list.items = $2.head;
      $$->u.list.n = $2.n;
      $$->u.list.multiline = multiline(P, @$);
      for (idp_expr *e = $2.head; e; e = e->next) deepen(P, $$, e);
      $$ = deepen(P, $$, NULL);
    }
  | '[' error ']'                 { $$ = mk(P, IDP_E_ERROR, @$); }
  ;

elems
  : expr                          { memset(&$$, 0, sizeof $$); elist_add(&$$, $1); }
  | elems ',' expr                { $$ = $1; elist_add(&$$, $3); }
  ;

call
  : IDENT '(' ')' {
      $$ = mk(P, IDP_E_CALL, @$);
      $$->u.call.name = NAME($1);
      $$->u.call.name_loc = @1;
    }
  | IDENT '(' args ')' {
      $$ = mk(P, IDP_E_CALL, @$);
      $$->u.call.name = NAME($1);
      $$->u.call.name_loc = @1;
      $$->u.call.args = $3.head;
      $$->u.call.nargs = $3.n;
      $$->u.call.multiline = multiline(P, @$);
      for (idp_expr *e = $3.head; e; e = e->next) deepen(P, $$, e);
      $$ = deepen(P, $$, NULL);
    }
  | IDENT '(' error ')'           { $$ = mk(P, IDP_E_ERROR, @$); }
  ;

args
  : elems
  | elems ','
  ;

map
  : '{' nl_opt '}'                { $$ = mk(P, IDP_E_MAP, @$); }
  | '{' nl_opt map_items map_sep_opt '}' {
      $$ = mk(P, IDP_E_MAP, @$);
      $$->u.map.entries = $3.head;
      $$->u.map.n = $3.n;
      $$->u.map.multiline = multiline(P, @$);
      for (idp_map_entry *m = $3.head; m; m = m->next) {
        deepen(P, $$, m->key);
        deepen(P, $$, m->value);
      }
      $$ = deepen(P, $$, NULL);
    }
  | '{' error '}'                 { $$ = mk(P, IDP_E_ERROR, @$); }
  ;

nl_opt
  : %empty
  | NL
  ;

map_sep
  : ',' nl_opt
  | NL
  ;

map_sep_opt
  : %empty
  | map_sep
  ;

map_items
  : map_item                      { memset(&$$, 0, sizeof $$); $$.head = $$.tail = $1; $$.n = 1; }
  | map_items map_sep map_item    { $$ = $1; $$.tail->next = $3; $$.tail = $3; $$.n++; }
  ;

map_item
  : map_key '=' expr {
      $$ = idp_arena_alloc(P->arena, sizeof *$$);
      $$->key = $1;
      $$->value = $3;
      $$->key_bare = $1->kind == IDP_E_TEMPLATE && !$1->u.template.heredoc &&
                     P->lx.base[$1->loc.start] != '"';
      $$->loc = @$;
    }
  | map_key ':' expr {
      $$ = idp_arena_alloc(P->arena, sizeof *$$);
      $$->key = $1;
      $$->value = $3;
      $$->key_bare = $1->kind == IDP_E_TEMPLATE && !$1->u.template.heredoc &&
                     P->lx.base[$1->loc.start] != '"';
      $$->colon = true;
      $$->loc = @$;
    }
  ;

map_key
  : IDENT {
      idp_tpart *p = idp_arena_alloc(P->arena, sizeof *p);
      p->text = NAME($1);
      p->len = $1.len;
      p->loc = @1;
      idp_plist l = {p, p};
      $$ = mk_template(P, l, false, false, @$);
    }
  | template
  | '(' expr ')'                  { $$ = mk(P, IDP_E_PAREN, @$); $$->u.paren.inner = $2; $$ = deepen(P, $$, $2); }
  ;

%%

static void top_item(idp_parser *P, idp_item *it) {
  if (!it) return;
  if (!P->on_item) {
    idp_body_append(&P->file->body, it);
    return;
  }
  P->file->body.n++;
  P->on_item(it, P->payload);
  /* Only parser actions allocate nodes, and the tokens read ahead hold no node: safe to drop. */
  idp_arena_restore(P->arena, P->mark);
}

static idp_expr *mk(idp_parser *P, idp_expr_kind k, idp_loc loc) {
  return idp_expr_new(P->arena, k, loc);
}

/* Raises e's depth over child's; once the tree would get deeper than the limit, reports it (once
 * per file) and replaces e with an error node, so that every walk over the tree stays bounded. */
enum { MAX_EXPR_DEPTH = 1000 };

static idp_expr *deepen(idp_parser *P, idp_expr *e, const idp_expr *child) {
  if (child && child->depth + 1 > e->depth) e->depth = child->depth + 1;
  if (child && child->heredoc_inside) e->heredoc_inside = true;
  if (e->depth <= MAX_EXPR_DEPTH) return e;
  if (!P->deep_reported) {
    P->deep_reported = true;
    idp_diag_error(P->diags, P->src, e->loc, "expression nested too deeply (more than %d levels)",
                   MAX_EXPR_DEPTH);
    idp_diag_hint(P->diags, "split it into smaller parts");
  }
  return mk(P, IDP_E_ERROR, e->loc);
}

static idp_expr *mk_binary(idp_parser *P, idp_op op, idp_expr *l, idp_expr *r, idp_loc loc) {
  idp_expr *e = mk(P, IDP_E_BINARY, loc);
  e->u.binary.op = op;
  e->u.binary.lhs = l;
  e->u.binary.rhs = r;
  deepen(P, e, l);
  return deepen(P, e, r);
}

static idp_expr *mk_unary(idp_parser *P, idp_op op, idp_expr *x, idp_loc loc) {
  idp_expr *e = mk(P, IDP_E_UNARY, loc);
  e->u.unary.op = op;
  e->u.unary.operand = x;
  return deepen(P, e, x);
}

static idp_expr *mk_template(idp_parser *P, idp_plist parts, bool heredoc, bool strip, idp_loc loc) {
  idp_expr *e = mk(P, IDP_E_TEMPLATE, loc);
  e->u.template.parts = parts.head;
  e->u.template.heredoc = heredoc;
  e->u.template.strip = strip;
  e->heredoc_inside = heredoc;
  for (idp_tpart *p = parts.head; p; p = p->next)
    if (p->expr) deepen(P, e, p->expr);
  return deepen(P, e, NULL);
}

static idp_item *mk_block(idp_parser *P, idp_text kind, idp_loc kloc, idp_llist labels,
                          idp_body body, idp_loc open, idp_loc close, idp_loc loc) {
  idp_item *b = idp_arena_alloc(P->arena, sizeof *b);
  b->kind = IDP_ITEM_BLOCK;
  b->loc = loc;
  b->name = idp_arena_strndup(P->arena, kind.s, kind.len);
  b->name_loc = kloc;
  b->labels = labels.head;
  b->nlabels = labels.n;
  b->body = body;
  b->open = open;
  b->close = close;
  return b;
}

static void elist_add(idp_elist *l, idp_expr *e) {
  e->next = NULL;
  if (l->tail) l->tail->next = e;
  else l->head = e;
  l->tail = e;
  l->n++;
}

static void plist_add(idp_plist *l, idp_tpart *p) {
  if (l->tail) l->tail->next = p;
  else l->head = p;
  l->tail = p;
}

static bool multiline(idp_parser *P, idp_loc loc) {
  return memchr(P->lx.base + loc.start, '\n', loc.end - loc.start) != NULL;
}

static void yyerror(YYLTYPE *loc, idp_parser *P, const char *msg) {
  if (P->lx.aborted) return;
  if (strstr(msg, "exhausted")) {
    idp_diag_error(P->diags, P->src, *loc, "input nested too deeply for the parser");
    P->lx.aborted = true;
    return;
  }
  idp_diag_error(P->diags, P->src, *loc, "%s", msg);
}

const char *idp_token_name(int tok) {
  if (tok == YYEOF) return "end of file";
  return yysymbol_name(YYTRANSLATE(tok));
}


/* Syntax errors, phrased from what the parser expected at that point. */
#define SYM(c) ((yysymbol_kind_t)YYTRANSLATE(c))
static bool has(const yysymbol_kind_t *exp, int n, yysymbol_kind_t k) {
  for (int i = 0; i < n; i++)
    if (exp[i] == k) return true;
  return false;
}

/* How the unexpected token is named: its text where that helps. */
static void describe(idp_parser *P, yysymbol_kind_t tok, const YYLTYPE *loc, char *out, size_t cap) {
  const char *text = P->lx.base + loc->start;
  int len = (int)(loc->end - loc->start);
  if (len > 40) len = 40;
  switch (tok) {
  case YYSYMBOL_IDENT: snprintf(out, cap, "'%.*s'", len, text); break;
  case YYSYMBOL_NUMBER: snprintf(out, cap, "number %.*s", len, text); break;
  case YYSYMBOL_STR_BEGIN: snprintf(out, cap, "a string"); break;
  case YYSYMBOL_HEREDOC_BEGIN: snprintf(out, cap, "a heredoc"); break;
  case YYSYMBOL_NL: snprintf(out, cap, "end of line"); break;
  case YYSYMBOL_YYEOF: snprintf(out, cap, "end of file"); break;
  case YYSYMBOL_INTERP_END: snprintf(out, cap, "'}'"); break;
  default: snprintf(out, cap, "%s", yysymbol_name(tok)); break;
  }
}

/* Columns of indentation of the line starting at off, and the offset of its first other byte.
 * Reads through idp_lex_char_at: the scanner is ahead of the parser here. */
static unsigned indent_at(idp_parser *P, uint32_t *off) {
  unsigned n = 0;
  char c;
  while (*off < P->src->len && ((c = idp_lex_char_at(&P->lx, *off)) == ' ' || c == '\t')) (*off)++, n++;
  return n;
}

/* Whether the first non-blank line after the newline at nl is indented deeper than nl's line. */
static bool next_line_indented(idp_parser *P, uint32_t nl) {
  uint32_t ls = nl;
  while (ls > 0 && idp_lex_char_at(&P->lx, ls - 1) != '\n') ls--;
  unsigned here = indent_at(P, &ls);
  for (uint32_t p = nl; p < P->src->len; p++) {
    if (idp_lex_char_at(&P->lx, p) != '\n') continue;
    uint32_t q = p + 1;
    unsigned n = indent_at(P, &q);
    char c = q < P->src->len ? idp_lex_char_at(&P->lx, q) : '\n';
    if (c != '\n' && c != '\r') return n > here;
    p = q - 1;
  }
  return false;
}

static int yyreport_syntax_error(const yypcontext_t *ctx, idp_parser *P) {
  if (P->lx.aborted) return 0;
  /* Brackets of expressions open now are part of this mistake: their closers are not asked for. */
  for (size_t i = 0; i < P->lx.nnest; i++)
    if (P->lx.nest[i].kind != '{' || !P->lx.nest[i].word) P->lx.nest[i].errored = true;
  yysymbol_kind_t exp[YYNTOKENS];
  int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
  if (n < 0) n = 0;
  yysymbol_kind_t tok = yypcontext_token(ctx);
  const YYLTYPE *loc = yypcontext_location(ctx);
  char found[64];
  describe(P, tok, loc, found, sizeof found);
  bool is_keyword = tok == YYSYMBOL_TRUE || tok == YYSYMBOL_FALSE || tok == YYSYMBOL_NUL;
  const char *what = NULL;
  char buf[160];

  if (has(exp, n, YYSYMBOL_NUMBER) && has(exp, n, YYSYMBOL_STR_BEGIN)) {
    what = "an expression";
  } else if (has(exp, n, YYSYMBOL_IDENT) && has(exp, n, YYSYMBOL_NL) && !has(exp, n, YYSYMBOL_STR_BEGIN)) {
    /* The start of an item in a body. */
    if (is_keyword) {
      idp_diag_error(P->diags, P->src, *loc, "'%s' is a reserved word and cannot name an attribute or block",
                     yysymbol_name(tok));
      return 0;
    }
    what = "an attribute or block name";
  } else if (has(exp, n, SYM('=')) && has(exp, n, SYM('{')) && !has(exp, n, SYM('.'))) {
    idp_diag_error(P->diags, P->src, *loc, "expected '=' or a block after '%.*s', found %s",
                   (int)(P->lx.prev_loc.end - P->lx.prev_loc.start), P->lx.base + P->lx.prev_loc.start, found);
    if (tok == YYSYMBOL_NL || tok == YYSYMBOL_YYEOF)
      idp_diag_hint(P->diags, "an attribute is `name = value`; a block is `kind \"label\" { ... }`");
    return 0;
  } else if (has(exp, n, SYM('{')) && has(exp, n, YYSYMBOL_STR_BEGIN)) {
    what = "'{' after the block labels";
    if (tok == YYSYMBOL_NL) {
      idp_diag_error(P->diags, P->src, *loc, "expected '{' after the block labels, found end of line");
      idp_diag_hint(P->diags, "an attribute is `name = value`; a block is `kind \"label\" { ... }`");
    }
    if (tok == YYSYMBOL_NL && next_line_indented(P, loc->start)) {
      /* The '{' was forgotten: read the lines below as the block's, up to its '}'. */
      idp_lexer *lx = &P->lx;
      if (lx->nnest == lx->capnest) {
        lx->capnest = lx->capnest ? lx->capnest * 2 : 32;
        lx->nest = idp_xrealloc(lx->nest, lx->capnest * sizeof *lx->nest);
      }
      idp_nest *nn = &lx->nest[lx->nnest++];
      memset(nn, 0, sizeof *nn);
      nn->kind = '{';
      nn->off = loc->start;
      nn->assumed = true;
    }
    if (tok == YYSYMBOL_NL) return 0;
  } else if (has(exp, n, SYM('=')) && has(exp, n, SYM(':'))) {
    what = "'=' after the map key";
  } else if (has(exp, n, YYSYMBOL_IDENT) && n == 1) {
    what = "a name after '.'";
  } else if (has(exp, n, SYM(']')) && has(exp, n, SYM(','))) {
    what = "',' or ']'";
  } else if (has(exp, n, SYM(')')) && has(exp, n, SYM(','))) {
    what = "',' or ')'";
  } else if (has(exp, n, SYM(')'))) {
    what = "')'";
  } else if (has(exp, n, SYM('}')) && has(exp, n, SYM(','))) {
    what = "',', a new line or '}' after the map value";
  } else if (has(exp, n, SYM('}')) && has(exp, n, YYSYMBOL_IDENT) && has(exp, n, YYSYMBOL_STR_BEGIN)) {
    what = "a map key or '}'";
  } else if (has(exp, n, SYM(':')) && has(exp, n, SYM('?'))) {
    what = "':' of the conditional";
  } else if (has(exp, n, YYSYMBOL_INTERP_END)) {
    what = "'}' to close the interpolation";
  } else if (has(exp, n, YYSYMBOL_NL)) {
    what = P->lx.prev == '}' ? "a new line after the block" : "a new line after the attribute value";
  }
  if (what) {
    snprintf(buf, sizeof buf, "expected %s, found %s", what, found);
  } else if (n > 0 && n <= 3) {
    int k = snprintf(buf, sizeof buf, "unexpected %s, expected ", found);
    for (int i = 0; i < n && k > 0 && (size_t)k < sizeof buf; i++)
      k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
                    yysymbol_name(exp[i]));
  } else {
    snprintf(buf, sizeof buf, "unexpected %s", found);
  }
  idp_diag_error(P->diags, P->src, *loc, "%s", buf);
  return 0;
}
