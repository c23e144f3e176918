/* source.c - loading sources and mapping offsets to lines and columns. */
#include "source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static idp_source *source_new(const char *path, char *text, size_t len) {
  idp_source *src = idp_xcalloc(1, sizeof *src);
  src->path = idp_xstrdup(path);
  src->text = text;
  src->len = len;
  return src;
}

idp_source *idp_source_load(const char *path) {
  char *text;
  size_t len;
  if (idp_read_file(path, &text, &len) < 0) return NULL;
  if (len >= UINT32_MAX) {
    free(text);
    errno = EFBIG;
    return NULL;
  }
  return source_new(path, text, len);
}

idp_source *idp_source_from_string(const char *path, const char *text, size_t len) {
  char *copy = idp_xmalloc(len + 2);
  memcpy(copy, text, len);
  copy[len] = copy[len + 1] = '\0';
  return source_new(path, copy, len);
}

void idp_source_free(idp_source *src) {
  if (!src) return;
  free(src->path);
  free(src->text);
  free(src->lines);
  free(src);
}

void idp_source_index_lines(idp_source *src) {
  if (src->lines) return;
  size_t n = 1, cap = 1 + src->len / 32;
  src->lines = idp_xmalloc(cap * sizeof *src->lines);
  src->lines[0] = 0;
  const char *p = src->text, *end = src->text + src->len;
  while ((p = memchr(p, '\n', (size_t)(end - p)))) {
    if (n == cap) {
      cap *= 2;
      src->lines = idp_xrealloc(src->lines, cap * sizeof *src->lines);
    }
    src->lines[n++] = (uint32_t)(++p - src->text);
  }
  src->nlines = n;
}

static size_t line_index(idp_source *src, uint32_t off) {
  idp_source_index_lines(src);
  size_t lo = 0, hi = src->nlines;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (src->lines[mid] <= off) lo = mid;
    else hi = mid;
  }
  return lo;
}

unsigned idp_source_lineno(idp_source *src, uint32_t off) {
  if (off > src->len) off = (uint32_t)src->len;
  return (unsigned)line_index(src, off) + 1;
}

void idp_source_linecol(idp_source *src, uint32_t off, unsigned *line, unsigned *col) {
  if (off > src->len) off = (uint32_t)src->len;
  size_t li = line_index(src, off);
  unsigned c = 1;
  for (uint32_t i = src->lines[li]; i < off; i++)
    if (((unsigned char)src->text[i] & 0xC0) != 0x80) c++;
  *line = (unsigned)li + 1;
  *col = c;
}

const char *idp_source_line(idp_source *src, uint32_t off, size_t *len) {
  if (off > src->len) off = (uint32_t)src->len;
  size_t li = line_index(src, off);
  const char *start = src->text + src->lines[li];
  const char *end = memchr(start, '\n', src->len - src->lines[li]);
  size_t n = end ? (size_t)(end - start) : src->len - src->lines[li];
  if (n && start[n - 1] == '\r') n--;
  *len = n;
  return start;
}
