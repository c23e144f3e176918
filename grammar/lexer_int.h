/* lexer_int.h - the lexer's state, shared by lexer.l, parser.y and parse.c only.
 *
 * The flex scanner is reentrant: all of its state lives in an idp_lexer that parse.c creates per
 * file. The parser calls idp_lex(), which wraps the raw flex scanner: it drains synthesized tokens
 * (closers the source forgot, reported as errors), drops newlines inside ( ) [ ] and heredoc
 * interpolations, folds runs of newlines into one, and ends the input with a newline. */
#ifndef IDP_LEXER_INT_H
#define IDP_LEXER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "../compiler/arena.h"
#include "../compiler/ast.h"
#include "../compiler/diag.h"
#include "../compiler/util.h"

/* An open bracket, or an interpolation inside a string or heredoc. */
typedef struct idp_nest {
  char kind;           /* '{' '[' '(' ; 'i': `${` in a quoted string; 'h': `${` in a heredoc;
                          'p': a stray `${` outside strings, read as '(' and closed by '}' */
  uint32_t off;        /* offset of the opener */
  const char *word;    /* '{': the block kind that opened it, or NULL for a map */
  uint32_t str_off;    /* 'i', 'h': where the enclosing string or heredoc starts */
  const char *delim;   /* 'h': the enclosing heredoc's delimiter (points into the source) */
  size_t delim_len;
  bool errored;        /* a syntax error was reported while it was open: its closer is not asked for */
  bool assumed;        /* a '{' the source forgot after block labels, assumed open by the parser */
} idp_nest;

/* A token the lexer made up (a missing closer), handed out before scanning on. */
typedef struct idp_qtok {
  int tok;
  idp_loc loc;
  const char *text;        /* IDENT: its name */
  size_t len;
} idp_qtok;

enum { IDP_MAX_NESTING = 1000 };

typedef struct idp_lexer {
  void *scanner;           /* the flex yyscan_t */
  idp_source *src;
  const char *base;        /* src->text: offsets are yytext - base */
  idp_arena *arena;        /* what outlives a streamed item: comments, block words */
  idp_arena *tree_arena;   /* where string text goes: the parser's nodes arena (never read ahead
                              across items: a top-level item ends at a newline) */
  idp_diags *diags;
  idp_file *file;          /* comments are appended here */
  idp_comment *comments_tail;

  idp_nest *nest;          /* open brackets, innermost last (malloc'd) */
  size_t nnest, capnest;
  size_t ninterp;          /* 'i' and 'h' entries in nest */

  idp_buf text;            /* string or heredoc text gathered so far */
  bool text_open;          /* text holds a pending piece */
  uint32_t text_start;     /* where that piece starts */
  uint32_t str_off;        /* where the current string or heredoc starts */
  const char *delim;       /* the current heredoc's delimiter */
  size_t delim_len;

  idp_qtok *queue;         /* synthesized tokens (malloc'd) */
  size_t qhead, qlen, qcap;

  int last;                /* the last token handed to the parser (0 at the start) */
  int prev;                /* the token before it */
  idp_loc last_loc;        /* where it was */
  idp_loc prev_loc;        /* where the token before it was */
  uint32_t last_end;       /* where the last token other than a newline ended */
  const char *line_word;   /* the first identifier of the current line, for `{` messages (in the
                              source, not NUL-terminated) */
  size_t line_word_len;
  uint32_t broken_nl;      /* 1 + offset of a newline that already ended a string with an error */
  bool aborted;            /* input too deeply nested: the scan stopped, further errors muted */
  bool eof_done;           /* EOF was handled: closers queued */
  bool eof_error;          /* a comment, string or heredoc ran into EOF: that error says it all */
} idp_lexer;

char idp_lex_char_at(const idp_lexer *lx, uint32_t off);
void idp_lex_finish(idp_lexer *lx);

#endif
