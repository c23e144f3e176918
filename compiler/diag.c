/* diag.c - collecting, sorting and printing diagnostics with a caret under the source. */
#include "diag.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void idp_diags_init(idp_diags *d) {
  memset(d, 0, sizeof *d);
  d->last_error = (size_t)-1;
}

struct idp_diag_line {
  const idp_source *src; /* NULL: empty slot */
  unsigned line;
};

static size_t line_hash(const idp_source *src, unsigned line, size_t cap) {
  uint64_t h = ((uint64_t)(uintptr_t)src * 0x9E3779B97F4A7C15ull) ^ (line * 0xC2B2AE3D27D4EB4Full);
  return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

/* Marks (src, line of loc) as having an error; returns whether it had one already. */
static bool line_seen(idp_diags *d, idp_source *src, idp_loc loc) {
  if (!src) return false;
  if ((d->nlines + 1) * 2 > d->caplines) {
    size_t cap = d->caplines ? d->caplines * 2 : 64;
    struct idp_diag_line *t = idp_xcalloc(cap, sizeof *t);
    for (size_t i = 0; i < d->caplines; i++) {
      if (!d->lines[i].src) continue;
      size_t j = line_hash(d->lines[i].src, d->lines[i].line, cap);
      while (t[j].src) j = (j + 1) & (cap - 1);
      t[j] = d->lines[i];
    }
    free(d->lines);
    d->lines = t;
    d->caplines = cap;
  }
  unsigned line = idp_source_lineno(src, loc.start);
  size_t j = line_hash(src, line, d->caplines);
  for (; d->lines[j].src; j = (j + 1) & (d->caplines - 1))
    if (d->lines[j].src == src && d->lines[j].line == line) return true;
  d->lines[j].src = src;
  d->lines[j].line = line;
  d->nlines++;
  return false;
}

void idp_diags_free(idp_diags *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->v[i].msg);
    free(d->v[i].hint);
  }
  free(d->v);
  free(d->lines);
  idp_diags_init(d); /* ready for reuse */
}

static char *vformat(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) n = 0;
  char *s = idp_xmalloc((size_t)n + 1);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

static void add(idp_diags *d, idp_severity sev, idp_source *src, idp_loc loc, const char *fmt,
                va_list ap) {
  if (sev == IDP_SEV_NOTE && d->muted) return;
  if (sev == IDP_SEV_ERROR) {
    d->muted = line_seen(d, src, loc);
    if (d->muted) return; /* its notes and hint go with it */
    d->errors++;
  }
  bool keep = d->n < IDP_DIAG_MAX;
  if (sev == IDP_SEV_NOTE && d->n == 0) return; /* a note about no error */
  if (!keep) {
    d->dropped++;
    d->muted = true; /* its notes and hint go with it */
    return;
  }
  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 16;
    d->v = idp_xrealloc(d->v, d->cap * sizeof *d->v);
  }
  idp_diag *g = &d->v[d->n];
  g->sev = sev;
  g->src = src;
  g->loc = loc;
  g->msg = vformat(fmt, ap);
  g->hint = NULL;
  g->group = sev == IDP_SEV_NOTE ? d->v[d->n - 1].group : d->n;
  if (sev == IDP_SEV_ERROR) d->last_error = d->n;
  d->n++;
}

#define ADD(sev)                        \
  do {                                  \
    va_list ap;                         \
    va_start(ap, fmt);                  \
    add(d, sev, src, loc, fmt, ap);     \
    va_end(ap);                         \
  } while (0)

void idp_diag_error(idp_diags *d, idp_source *src, idp_loc loc, const char *fmt, ...) {
  ADD(IDP_SEV_ERROR);
}
void idp_diag_warning(idp_diags *d, idp_source *src, idp_loc loc, const char *fmt, ...) {
  ADD(IDP_SEV_WARNING);
}
void idp_diag_note(idp_diags *d, idp_source *src, idp_loc loc, const char *fmt, ...) {
  ADD(IDP_SEV_NOTE);
}

void idp_diag_hint(idp_diags *d, const char *fmt, ...) {
  if (d->n == 0 || d->muted) return;
  idp_diag *g = &d->v[d->v[d->n - 1].group];
  va_list ap;
  va_start(ap, fmt);
  char *h = vformat(fmt, ap);
  va_end(ap);
  free(g->hint);
  g->hint = h;
}

/* Sort key of a diagnostic: its group head's file and offset, then its own index. */
static const idp_diags *sort_ctx;

static int cmp_diag(const void *pa, const void *pb) {
  size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
  const idp_diag *ga = &sort_ctx->v[sort_ctx->v[a].group], *gb = &sort_ctx->v[sort_ctx->v[b].group];
  if (ga != gb) {
    const char *fa = ga->src ? ga->src->path : "", *fb = gb->src ? gb->src->path : "";
    int c = strcmp(fa, fb);
    if (c) return c;
    if (ga->loc.start != gb->loc.start) return ga->loc.start < gb->loc.start ? -1 : 1;
    return ga < gb ? -1 : 1;
  }
  return a < b ? -1 : a > b;
}

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  size_t len = p[0] < 0x80 ? 1 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
             : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
  if (len == 0 || len > n) return 0;
  for (size_t k = 1; k < len; k++)
    if ((p[k] & 0xC0) != 0x80) return 0;
  return len;
}

/* Prints a source line so that it keeps one column per code point: control bytes as their
 * Unicode control pictures (a NUL as U+2400), bytes that are not UTF-8 as U+FFFD. */
static void put_visible(FILE *out, const char *line, size_t len) {
  const unsigned char *p = (const unsigned char *)line, *end = p + len;
  while (p < end) {
    size_t n = utf8_len(p, (size_t)(end - p));
    if (n == 1 && (*p >= 0x20 || *p == '\t') && *p != 0x7F) {
      fputc(*p, out);
    } else if (n == 1) {
      unsigned cp = *p == 0x7F ? 0x2421 : 0x2400 + *p;
      fputc(0xE2, out);
      fputc(0x80 | ((cp >> 6) & 0x3F), out);
      fputc(0x80 | (cp & 0x3F), out);
    } else if (n > 1) {
      fwrite(p, 1, n, out);
    } else {
      fputs("\xEF\xBF\xBD", out);
      n = 1;
    }
    p += n;
  }
}

static void print_snippet(FILE *out, idp_source *src, idp_loc loc) {
  size_t len;
  const char *line = idp_source_line(src, loc.start, &len);
  unsigned lno, col;
  idp_source_linecol(src, loc.start, &lno, &col);
  char num[16];
  int w = snprintf(num, sizeof num, "%u", lno);
  const char *at = src->text + loc.start, *end = line + len;
  /* A very long line is shown as a window around the spot, cut at character boundaries. */
  enum { WIDE = 160, BEFORE = 60 };
  const char *from = line, *to = end;
  if (len > WIDE) {
    if (at - line > BEFORE) from = at - BEFORE;
    while (from > line && ((unsigned char)*from & 0xC0) == 0x80) from--;
    to = from + WIDE < end ? from + WIDE : end;
    while (to < end && ((unsigned char)*to & 0xC0) == 0x80) to++;
  }
  fprintf(out, " %s | %s", num, from > line ? "\xE2\x80\xA6" : "");
  put_visible(out, from, (size_t)(to - from));
  fputs(to < end ? "\xE2\x80\xA6\n" : "\n", out);
  fprintf(out, " %*s | %s", w, "", from > line ? " " : "");
  /* Pad with the line's own tabs so the caret lines up in any tab width. */
  const char *p = from;
  line = from;
  end = to;
  for (; p < at && p < end; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '\t') fputc('\t', out);
    else if ((c & 0xC0) != 0x80) fputc(' ', out);
  }
  fputc('^', out);
  const char *stop = src->text + loc.end;
  if (stop > end) stop = end;
  for (p = at + 1; p < stop; p++)
    if (((unsigned char)*p & 0xC0) != 0x80) fputc('~', out);
  fputc('\n', out);
}

void idp_diags_print(idp_diags *d, FILE *out) {
  size_t *order = idp_xmalloc((d->n ? d->n : 1) * sizeof *order);
  for (size_t i = 0; i < d->n; i++) order[i] = i;
  sort_ctx = d;
  qsort(order, d->n, sizeof *order, cmp_diag);
  sort_ctx = NULL;
  static const char *const sev_name[] = {"error", "warning", "note"};
  for (size_t k = 0; k < d->n; k++) {
    const idp_diag *g = &d->v[order[k]];
    if (g->src) {
      unsigned line, col;
      idp_source_linecol(g->src, g->loc.start, &line, &col);
      fprintf(out, "%s:%u:%u: %s: %s\n", g->src->path, line, col, sev_name[g->sev], g->msg);
      print_snippet(out, g->src, g->loc);
    } else {
      fprintf(out, "idp: %s: %s\n", sev_name[g->sev], g->msg);
    }
    if (g->hint) fprintf(out, "hint: %s\n", g->hint);
  }
  if (d->dropped) fprintf(out, "idp: %u more diagnostics not shown\n", d->dropped);
  free(order);
}
