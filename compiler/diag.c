/* diag.c - collecting, sorting and printing diagnostics with a caret under the source. */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void idp_diags_init(idp_diags *d) { memset(d, 0, sizeof *d); }

void idp_diags_free(idp_diags *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->v[i].msg);
    free(d->v[i].hint);
  }
  free(d->v);
  memset(d, 0, sizeof *d);
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
  if (sev == IDP_SEV_ERROR) d->errors++;
  bool keep = d->n < IDP_DIAG_MAX;
  /* A note whose error was dropped is dropped with it. */
  if (sev == IDP_SEV_NOTE && (d->n == 0 || d->dropped)) keep = false;
  if (!keep) {
    d->dropped++;
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
  if (d->n == 0 || d->dropped) return;
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

static void print_snippet(FILE *out, idp_source *src, idp_loc loc) {
  size_t len;
  const char *line = idp_source_line(src, loc.start, &len);
  unsigned lno, col;
  idp_source_linecol(src, loc.start, &lno, &col);
  char num[16];
  int w = snprintf(num, sizeof num, "%u", lno);
  fprintf(out, " %s | %.*s\n", num, (int)len, line);
  fprintf(out, " %*s | ", w, "");
  /* Pad with the line's own tabs so the caret lines up in any tab width. */
  const char *p = line, *at = src->text + loc.start, *end = line + len;
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
