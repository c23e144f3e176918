/* fmt.c - prints a syntax tree in the canonical layout, keeping every comment.
 *
 * Layout: two-space indentation; `=` aligned in a run of attributes (a blank line, a comment line
 * or a block ends the run); `{` aligned in a run of one-line blocks; one blank line between
 * top-level blocks, though adjacent one-line blocks may stay adjacent; inside blocks, blank lines
 * are kept (at most one). Strings, heredocs and numbers are copied from the source as written.
 * Lists, maps and calls written over several lines get one element per line.
 *
 * Comments are printed in source order as the walk passes them: before an item, after an item on
 * its line, after a block's `{`, between the elements of a multi-line list, map or call. A comment
 * anywhere else (inside a one-line expression or a block header) makes the printer copy that
 * expression or header verbatim, so nothing is ever dropped. */
#include "fmt.h"

#include <stdlib.h>
#include <string.h>

typedef struct printer {
  const char *src;        /* the source text */
  const idp_comment **c;  /* comments in source order */
  size_t nc, ci;          /* count; index of the next one not yet printed */
  idp_buf *out;
} printer;

static void put(printer *p, const char *s, size_t n) { idp_buf_append(p->out, s, n); }
static void puts_(printer *p, const char *s) { idp_buf_puts(p->out, s); }
static void indent(printer *p, int level) {
  for (int i = 0; i < level; i++) put(p, "  ", 2);
}
static void newline(printer *p) {
  /* No trailing blanks on any line. */
  while (p->out->len && p->out->data[p->out->len - 1] == ' ') p->out->len--;
  idp_buf_putc(p->out, '\n');
}

static bool same_line(printer *p, uint32_t a, uint32_t b) {
  return !memchr(p->src + a, '\n', b > a ? b - a : 0);
}

/* Whether the source between a and b holds an empty line. */
static bool has_blank(printer *p, uint32_t a, uint32_t b) {
  int nl = 0;
  for (uint32_t i = a; i < b; i++) {
    char ch = p->src[i];
    if (ch == '\n') {
      if (++nl == 2) return true;
    } else if (ch != ' ' && ch != '\t' && ch != '\r') {
      nl = 0;
    }
  }
  return false;
}

static const idp_comment *next_comment(printer *p) { return p->ci < p->nc ? p->c[p->ci] : NULL; }

/* Whether an unprinted comment starts in [a, b). */
static bool comment_in(printer *p, uint32_t a, uint32_t b) {
  const idp_comment *c = next_comment(p);
  return c && c->loc.start >= a && c->loc.start < b;
}

static void emit_comment_text(printer *p, const idp_comment *c) {
  uint32_t end = c->loc.end;
  while (end > c->loc.start && (p->src[end - 1] == ' ' || p->src[end - 1] == '\t' || p->src[end - 1] == '\r'))
    end--;
  put(p, p->src + c->loc.start, end - c->loc.start);
  p->ci++;
}

/* Copies source[a, b) as written, and counts the comments inside it as printed. */
static void emit_verbatim(printer *p, uint32_t a, uint32_t b) {
  put(p, p->src + a, b - a);
  while (p->ci < p->nc && p->c[p->ci]->loc.start < b) p->ci++;
}

/* A comment on the source line that ends at `end` (before `limit`) goes after it. */
static void trailing_comment(printer *p, uint32_t end, uint32_t limit) {
  const idp_comment *c = next_comment(p);
  if (c && c->loc.start >= end && c->loc.start < limit && same_line(p, end, c->loc.start)) {
    put(p, " ", 1);
    emit_comment_text(p, c);
  }
}

/* Own-line comments before `before`, each on its own line at `level`. Returns whether any was
 * printed; *last is where the last thing printed ended in the source. */
static bool leading_comments(printer *p, uint32_t before, int level, uint32_t *last, bool first) {
  bool any = false;
  const idp_comment *c;
  while ((c = next_comment(p)) && c->loc.start < before) {
    if (!first && has_blank(p, *last, c->loc.start)) newline(p);
    indent(p, level);
    emit_comment_text(p, c);
    newline(p);
    *last = c->loc.end;
    first = false;
    any = true;
  }
  return any;
}

static void fmt_expr(printer *p, const idp_expr *e, int level);

static void fmt_template(printer *p, const idp_expr *e) { emit_verbatim(p, e->loc.start, e->loc.end); }

/* Elements of a multi-line list or call: one per line with a trailing comma. */
static void fmt_multiline_elems(printer *p, const idp_expr *first, uint32_t close, int level) {
  newline(p);
  uint32_t last = first ? first->loc.start : close;
  bool head = true;
  for (const idp_expr *e = first; e; e = e->next) {
    leading_comments(p, e->loc.start, level + 1, &last, head);
    indent(p, level + 1);
    fmt_expr(p, e, level + 1);
    put(p, ",", 1);
    uint32_t limit = e->next ? e->next->loc.start : close;
    trailing_comment(p, e->loc.end, limit);
    newline(p);
    last = e->loc.end;
    head = false;
  }
  leading_comments(p, close, level + 1, &last, head);
  indent(p, level);
}

/* The elements of a list or the arguments of a call, between brackets printed by the caller. */
static void fmt_elems(printer *p, const idp_expr *first, bool multiline, uint32_t close, int level) {
  if (multiline && first) {
    fmt_multiline_elems(p, first, close, level);
    return;
  }
  for (const idp_expr *x = first; x; x = x->next) {
    fmt_expr(p, x, level);
    if (x->next) put(p, ", ", 2);
  }
}

static void fmt_key(printer *p, const idp_map_entry *m, int level) {
  if (m->key->kind == IDP_E_TEMPLATE) fmt_template(p, m->key);
  else fmt_expr(p, m->key, level);
}

/* Columns (code points) of source[a, b), for alignment. */
static size_t columns(printer *p, uint32_t a, uint32_t b) {
  size_t n = 0;
  for (uint32_t i = a; i < b; i++) n += ((unsigned char)p->src[i] & 0xC0) != 0x80;
  return n;
}

static size_t key_width(printer *p, const idp_map_entry *m) { return columns(p, m->key->loc.start, m->key->loc.end); }

static void fmt_map(printer *p, const idp_expr *e, int level) {
  const idp_map_entry *first = e->u.map.entries;
  if (!first) {
    put(p, "{}", 2);
    return;
  }
  if (!e->u.map.multiline) {
    put(p, "{ ", 2);
    for (const idp_map_entry *m = first; m; m = m->next) {
      fmt_key(p, m, level);
      put(p, " = ", 3);
      fmt_expr(p, m->value, level);
      if (m->next) put(p, ", ", 2);
    }
    put(p, " }", 2);
    return;
  }
  uint32_t close = e->loc.end - 1;
  put(p, "{", 1);
  newline(p);
  uint32_t last = first->loc.start;
  const idp_map_entry *run_end = NULL;
  size_t width = 0;
  bool head = true;
  for (const idp_map_entry *m = first; m; m = m->next) {
    bool had = leading_comments(p, m->loc.start, level + 1, &last, head);
    if (!head && !had && has_blank(p, last, m->loc.start)) newline(p);
    if (!run_end || had) {
      /* A run of entries with aligned '=': until a blank line or an own-line comment. */
      width = key_width(p, m);
      run_end = m;
      size_t ci = p->ci;
      for (const idp_map_entry *n = m->next; n; n = n->next) {
        while (ci < p->nc && p->c[ci]->loc.start < run_end->loc.end) ci++;
        bool own_line_comment = ci < p->nc && p->c[ci]->loc.start < n->loc.start &&
                                !same_line(p, run_end->loc.end, p->c[ci]->loc.start);
        if (own_line_comment || has_blank(p, run_end->loc.end, n->loc.start)) break;
        if (key_width(p, n) > width) width = key_width(p, n);
        run_end = n;
      }
    }
    indent(p, level + 1);
    if (comment_in(p, m->loc.start, m->loc.end) && !comment_in(p, m->value->loc.start, m->value->loc.end)) {
      emit_verbatim(p, m->loc.start, m->loc.end);
    } else {
      fmt_key(p, m, level + 1);
      for (size_t w = key_width(p, m); w < width; w++) put(p, " ", 1);
      put(p, " = ", 3);
      fmt_expr(p, m->value, level + 1);
    }
    trailing_comment(p, m->loc.end, m->next ? m->next->loc.start : close);
    newline(p);
    last = m->loc.end;
    if (m == run_end) run_end = NULL;
    head = false;
  }
  leading_comments(p, close, level + 1, &last, head);
  indent(p, level);
  put(p, "}", 1);
}

static void fmt_expr(printer *p, const idp_expr *e, int level) {
  /* A comment inside an expression printed on one line: copy the expression as written. */
  bool multi = (e->kind == IDP_E_LIST && e->u.list.multiline) || (e->kind == IDP_E_MAP && e->u.map.multiline) ||
               (e->kind == IDP_E_CALL && e->u.call.multiline);
  if (!multi && e->kind != IDP_E_TEMPLATE && comment_in(p, e->loc.start, e->loc.end)) {
    emit_verbatim(p, e->loc.start, e->loc.end);
    return;
  }
  /* After a heredoc's closing line nothing may follow on it (a comma, a ')'): an expression with
   * a heredoc inside is kept as written. A multi-line map needs no commas, so it is laid out. */
  if (e->heredoc_inside && e->kind != IDP_E_TEMPLATE && e->kind != IDP_E_MAP) {
    emit_verbatim(p, e->loc.start, e->loc.end);
    return;
  }
  switch (e->kind) {
  case IDP_E_ERROR:
  case IDP_E_NUMBER:
  case IDP_E_TEMPLATE:
    emit_verbatim(p, e->loc.start, e->loc.end);
    break;
  case IDP_E_NULL: puts_(p, "null"); break;
  case IDP_E_BOOL: puts_(p, e->u.boolean ? "true" : "false"); break;
  case IDP_E_REF: puts_(p, e->u.ref.name); break;
  case IDP_E_LIST:
    put(p, "[", 1);
    fmt_elems(p, e->u.list.items, e->u.list.multiline, e->loc.end - 1, level);
    put(p, "]", 1);
    break;
  case IDP_E_MAP: fmt_map(p, e, level); break;
  case IDP_E_GETATTR:
    fmt_expr(p, e->u.getattr.obj, level);
    put(p, ".", 1);
    puts_(p, e->u.getattr.name);
    break;
  case IDP_E_INDEX:
    fmt_expr(p, e->u.index.obj, level);
    put(p, "[", 1);
    fmt_expr(p, e->u.index.index, level);
    put(p, "]", 1);
    break;
  case IDP_E_CALL:
    puts_(p, e->u.call.name);
    put(p, "(", 1);
    fmt_elems(p, e->u.call.args, e->u.call.multiline, e->loc.end - 1, level);
    put(p, ")", 1);
    break;
  case IDP_E_UNARY:
    puts_(p, idp_op_spelling(e->u.unary.op));
    fmt_expr(p, e->u.unary.operand, level);
    break;
  case IDP_E_BINARY:
    fmt_expr(p, e->u.binary.lhs, level);
    put(p, " ", 1);
    puts_(p, idp_op_spelling(e->u.binary.op));
    put(p, " ", 1);
    fmt_expr(p, e->u.binary.rhs, level);
    break;
  case IDP_E_COND:
    fmt_expr(p, e->u.cond.cond, level);
    put(p, " ? ", 3);
    fmt_expr(p, e->u.cond.then, level);
    put(p, " : ", 3);
    fmt_expr(p, e->u.cond.otherwise, level);
    break;
  case IDP_E_PAREN:
    put(p, "(", 1);
    fmt_expr(p, e->u.paren.inner, level);
    put(p, ")", 1);
    break;
  }
}

/* The block's kind and labels, as printed; its width in bytes is what one-line runs align. */
static void fmt_header(printer *p, const idp_item *b) {
  if (comment_in(p, b->loc.start, b->open.start)) {
    emit_verbatim(p, b->loc.start, b->open.start);
    while (p->out->len && p->out->data[p->out->len - 1] == ' ') p->out->len--;
    return;
  }
  puts_(p, b->name);
  for (const idp_label *l = b->labels; l; l = l->next) {
    put(p, " ", 1);
    if (l->quoted) put(p, p->src + l->loc.start, l->loc.end - l->loc.start);
    else puts_(p, l->name);
  }
}

static size_t header_width(printer *p, const idp_item *b) {
  size_t w = strlen(b->name);
  for (const idp_label *l = b->labels; l; l = l->next)
    w += 1 + (l->quoted ? columns(p, l->loc.start, l->loc.end) : strlen(l->name));
  return w;
}

static bool comments_between(printer *p, uint32_t a, uint32_t b) {
  for (size_t i = p->ci; i < p->nc && p->c[i]->loc.start < b; i++)
    if (p->c[i]->loc.start >= a) return true;
  return false;
}

/* A block printed on one line: written on one line, no comment inside, at most one attribute. */
static bool block_oneline(printer *p, const idp_item *b) {
  if (b->kind != IDP_ITEM_BLOCK || comments_between(p, b->loc.start, b->loc.end)) return false;
  if (b->body.n == 0) return true;
  return b->body.n == 1 && b->body.first->kind == IDP_ITEM_ATTR && same_line(p, b->loc.start, b->loc.end);
}

static void fmt_body(printer *p, const idp_body *body, int level, uint32_t start, uint32_t end, bool top);

/* An attribute, or a block printed on one line. */
static bool item_oneline(printer *p, const idp_item *it) {
  return it->kind == IDP_ITEM_ATTR || block_oneline(p, it);
}

static void fmt_block(printer *p, const idp_item *b, int level, size_t pad) {
  fmt_header(p, b);
  for (size_t w = header_width(p, b); w < pad; w++) put(p, " ", 1);
  if (block_oneline(p, b)) {
    if (b->body.n == 0) {
      put(p, " {}", 3);
      return;
    }
    const idp_item *a = b->body.first;
    put(p, " { ", 3);
    puts_(p, a->name);
    put(p, " = ", 3);
    fmt_expr(p, a->value, level + 1);
    put(p, " }", 2);
    return;
  }
  put(p, " {", 2);
  trailing_comment(p, b->open.end, b->body.first ? b->body.first->loc.start : b->close.start);
  newline(p);
  fmt_body(p, &b->body, level + 1, b->open.end, b->close.start, false);
  indent(p, level);
  put(p, "}", 1);
}

/* Where the run of aligned attributes, or of one-line blocks, that starts at it ends; *width is
 * the widest name or header in it. A blank line or an own-line comment ends a run. */
static const idp_item *run_of(printer *p, const idp_item *it, size_t *width) {
  bool attrs = it->kind == IDP_ITEM_ATTR;
  *width = attrs ? strlen(it->name) : header_width(p, it);
  const idp_item *end = it;
  size_t ci = p->ci;
  for (const idp_item *n = it->next; n; n = n->next) {
    if ((n->kind == IDP_ITEM_ATTR) != attrs || (!attrs && !block_oneline(p, n))) break;
    while (ci < p->nc && p->c[ci]->loc.start < end->loc.end) ci++;
    bool own_line_comment =
        ci < p->nc && p->c[ci]->loc.start < n->loc.start && !same_line(p, end->loc.end, p->c[ci]->loc.start);
    if (own_line_comment || has_blank(p, end->loc.end, n->loc.start)) break;
    size_t w = attrs ? strlen(n->name) : header_width(p, n);
    if (w > *width) *width = w;
    end = n;
  }
  return end;
}

static void fmt_body(printer *p, const idp_body *body, int level, uint32_t start, uint32_t end, bool top) {
  uint32_t last = start;
  const idp_item *prev = NULL, *run_end = NULL;
  size_t width = 0;
  bool head = true;
  for (const idp_item *it = body->first; it; it = it->next) {
    const idp_comment *c = next_comment(p);
    uint32_t next_start = c && c->loc.start < it->loc.start ? c->loc.start : it->loc.start;
    bool oneline = item_oneline(p, it);
    if (!head) {
      bool blank = has_blank(p, last, next_start);
      /* Top-level items are one blank line apart, unless both fit on a line and touch (then they
       * may also be one run of aligned items: run_of keeps to the same rule). */
      if (top && prev && !(oneline && item_oneline(p, prev) && !blank && next_start == it->loc.start))
        blank = true;
      if (blank) newline(p);
    }
    bool had = leading_comments(p, it->loc.start, level, &last, true);
    if (had && has_blank(p, last, it->loc.start)) newline(p);
    if (!run_end || had) run_end = oneline ? run_of(p, it, &width) : NULL;
    indent(p, level);
    if (it->kind == IDP_ITEM_ATTR) {
      if (comment_in(p, it->name_loc.end, it->value->loc.start)) {
        emit_verbatim(p, it->loc.start, it->loc.end);
      } else {
        puts_(p, it->name);
        for (size_t w = strlen(it->name); w < width; w++) put(p, " ", 1);
        put(p, " = ", 3);
        fmt_expr(p, it->value, level);
      }
    } else {
      fmt_block(p, it, level, run_end ? width : 0);
    }
    trailing_comment(p, it->loc.end, it->next ? it->next->loc.start : end);
    newline(p);
    if (it == run_end) run_end = NULL;
    last = it->loc.end;
    prev = it;
    head = false;
  }
  /* Comments after the last item. */
  const idp_comment *c = next_comment(p);
  if (c && c->loc.start < end && !head && has_blank(p, last, c->loc.start)) newline(p);
  leading_comments(p, end, level, &last, true);
}

int idp_fmt_file(const idp_file *f, idp_buf *out) {
  printer p;
  memset(&p, 0, sizeof p);
  p.src = f->src->text;
  p.out = out;
  p.nc = f->ncomments;
  p.c = idp_xmalloc((p.nc ? p.nc : 1) * sizeof *p.c);
  size_t i = 0;
  for (const idp_comment *c = f->comments; c; c = c->next) p.c[i++] = c;
  size_t before = out->len;
  fmt_body(&p, &f->body, 0, 0, (uint32_t)f->src->len, true);
  int rc = p.ci == p.nc ? 0 : -1;
  free(p.c);
  if (out->len == before) idp_buf_append(out, "", 0);
  return rc;
}
