/* util.h - allocation wrappers and a growable byte buffer used across the code base.
 *
 * All heap allocation goes through idp_xmalloc/idp_xrealloc, so out-of-memory has one outcome:
 * a message and abort(). */
#ifndef IDP_UTIL_H
#define IDP_UTIL_H

#include <stdbool.h>
#include <stddef.h>

void *idp_xmalloc(size_t n);
void *idp_xcalloc(size_t n, size_t size);
void *idp_xrealloc(void *p, size_t n);
char *idp_xstrdup(const char *s);

/* A growable byte buffer; data is always NUL-terminated when len > 0 or after idp_buf_cstr. */
typedef struct idp_buf {
  char *data; /* owned; NULL until the first append */
  size_t len; /* bytes used, excluding the terminating NUL */
  size_t cap; /* bytes allocated */
} idp_buf;

void idp_buf_append(idp_buf *b, const char *s, size_t n);
void idp_buf_puts(idp_buf *b, const char *s);
void idp_buf_putc(idp_buf *b, char c);
void idp_buf_printf(idp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *idp_buf_cstr(idp_buf *b);
void idp_buf_free(idp_buf *b);

/* Reads a whole file into a malloc'd buffer with two spare NUL bytes after it (the lexer scans
 * in place). Returns 0, or -1 with errno set. */
int idp_read_file(const char *path, char **out, size_t *len);

/* Writes all n bytes to fd (retrying short writes and EINTR). Returns 0, or -1 with errno set. */
int idp_write_all(int fd, const char *s, size_t n);
/* Replaces path with data atomically: a temp file beside it (PATH.tmp-XXXXXX), fsync, rename,
 * fsync of the directory; a crash leaves the old file or the new one. mode: the new file's mode,
 * or -1 to keep the existing file's (0644 for a new one). Returns 0, or -1 with errno set (the
 * temp file removed). */
int idp_replace_file(const char *path, const char *data, size_t len, int mode);
/* idp_replace_file of j as JSON (json_dumps flags), ending with a newline. */
struct json_t;
int idp_replace_json(const char *path, const struct json_t *j, size_t flags, int mode);

/* Parses a duration: "0", "10" (seconds), "10s", "500ms", "2m", "1h", "1m30s"; at most 7 days.
 * Returns 0, or -1 for anything else (-lock-timeout, pipeline waits and checks). */
int idp_parse_duration(const char *text, double *seconds);

/* Damerau-Levenshtein distance (optimal string alignment), capped: returns max+1 when larger. */
int idp_edit_distance(const char *a, const char *b, int max);
/* The candidate closest to word within a distance that scales with its length, or NULL. */
const char *idp_did_you_mean(const char *word, const char *const *candidates, size_t n);

#endif
