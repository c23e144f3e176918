/* util.c - allocation wrappers, byte buffer, file reading and name suggestions. */
#include "util.h"

#include <jansson.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void oom(void) {
  fputs("idp: out of memory\n", stderr);
  abort();
}

void *idp_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom();
  return p;
}

void *idp_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom();
  return p;
}

void *idp_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom();
  return q;
}

char *idp_xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = idp_xmalloc(n);
  memcpy(d, s, n);
  return d;
}

static void buf_reserve(idp_buf *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  b->data = idp_xrealloc(b->data, cap);
  b->cap = cap;
}

void idp_buf_append(idp_buf *b, const char *s, size_t n) {
  buf_reserve(b, n);
  if (n) memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void idp_buf_puts(idp_buf *b, const char *s) { idp_buf_append(b, s, strlen(s)); }

void idp_buf_putc(idp_buf *b, char c) { idp_buf_append(b, &c, 1); }

void idp_buf_printf(idp_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

const char *idp_buf_cstr(idp_buf *b) {
  buf_reserve(b, 0);
  b->data[b->len] = '\0';
  return b->data;
}

void idp_buf_free(idp_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

int idp_read_file(const char *path, char **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(f);
    errno = EISDIR;
    return -1;
  }
  size_t cap = (st.st_size > 0 ? (size_t)st.st_size : 4096) + 2, n = 0;
  char *data = idp_xmalloc(cap);
  for (;;) {
    if (cap - n < 3) {
      cap *= 2;
      data = idp_xrealloc(data, cap);
    }
    size_t got = fread(data + n, 1, cap - n - 2, f);
    n += got;
    if (got == 0) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(data);
    errno = EIO;
    return -1;
  }
  data[n] = data[n + 1] = '\0';
  *out = data;
  *len = n;
  return 0;
}

int idp_edit_distance(const char *a, const char *b, int max) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return max + 1;
  if ((la > lb ? la - lb : lb - la) > (size_t)max) return max + 1;
  int d[65][65];
  for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      int v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  }
  return d[la][lb] > max ? max + 1 : d[la][lb];
}

const char *idp_did_you_mean(const char *word, const char *const *candidates, size_t n) {
  size_t wl = strlen(word);
  int max = wl <= 3 ? 1 : wl <= 6 ? 2 : 3;
  const char *best = NULL;
  int best_d = max + 1;
  for (size_t i = 0; i < n; i++) {
    int d = idp_edit_distance(word, candidates[i], max);
    if (d < best_d) {
      best_d = d;
      best = candidates[i];
    }
  }
  return best;
}

int idp_write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

int idp_replace_file(const char *path, const char *data, size_t len, int mode) {
  struct stat st;
  if (mode < 0) mode = stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : 0644;
  idp_buf tmp = {0};
  idp_buf_printf(&tmp, "%s.tmp-XXXXXX", path);
  int fd = mkstemp(tmp.data); /* 0600 until the fchmod */
  if (fd < 0) {
    idp_buf_free(&tmp);
    return -1;
  }
  int rc = idp_write_all(fd, data, len) == 0 && fchmod(fd, (mode_t)mode) == 0 && fsync(fd) == 0 ? 0 : -1;
  if (close(fd) != 0) rc = -1;
  if (rc == 0 && rename(tmp.data, path) != 0) rc = -1;
  if (rc == 0) { /* the rename is durable once the directory is */
    char *copy = idp_xstrdup(path);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) rc = -1;
    if (dfd >= 0) close(dfd);
    free(copy);
    idp_buf_free(&tmp);
    return rc;
  }
  int e = errno;
  unlink(tmp.data);
  errno = e;
  idp_buf_free(&tmp);
  return rc;
}

int idp_replace_json(const char *path, const json_t *j, size_t flags, int mode) {
  char *text = json_dumps(j, flags);
  if (!text) {
    errno = ENOMEM;
    return -1;
  }
  size_t n = strlen(text);
  text = idp_xrealloc(text, n + 2);
  text[n++] = '\n';
  int rc = idp_replace_file(path, text, n, mode);
  int e = errno;
  free(text);
  errno = e;
  return rc;
}

/* --- durations ------------------------------------------------------------------------------------ */

int idp_parse_duration(const char *text, double *seconds) {
  const char *p = text;
  double total = 0;
  if (!*p) return -1;
  while (*p) {
    if (!(*p >= '0' && *p <= '9') && *p != '.') return -1;
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno || !isfinite(v) || v < 0) return -1;
    p = end;
    double unit = 1;
    if (strncmp(p, "ms", 2) == 0) unit = 0.001, p += 2;
    else if (*p == 's') unit = 1, p++;
    else if (*p == 'm') unit = 60, p++;
    else if (*p == 'h') unit = 3600, p++;
    else if (*p != '\0') return -1;
    else if (p != end || total != 0) return -1; /* a bare number only on its own */
    total += v * unit;
  }
  if (total > 7 * 24 * 3600.0) return -1;
  *seconds = total;
  return 0;
}
