/* source.h - a loaded source file and the mapping from byte offsets to line and column.
 *
 * Locations everywhere are byte offsets into one source; line and column are computed only when a
 * diagnostic is printed. Columns count UTF-8 code points, starting at 1. */
#ifndef IDP_SOURCE_H
#define IDP_SOURCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct idp_loc {
  uint32_t start; /* first byte */
  uint32_t end;   /* one past the last byte */
} idp_loc;

typedef struct idp_source {
  char *path;           /* as given by the user; owned */
  char *text;           /* the bytes, followed by two NULs (owned) */
  size_t len;           /* bytes, excluding the two NULs */
  uint32_t *lines;      /* byte offset of each line start, built lazily; owned */
  size_t nlines;        /* entries in lines */
} idp_source;

/* Loads path; on failure returns NULL and sets errno. Sources larger than 4 GiB are refused (EFBIG). */
idp_source *idp_source_load(const char *path);
/* Takes a copy of text[0..len). */
idp_source *idp_source_from_string(const char *path, const char *text, size_t len);
void idp_source_free(idp_source *src);

/* Builds the line index now. The lexer calls this before scanning, since flex writes NULs into
 * the text while it works (and lexer messages name lines). Other callers need not. */
void idp_source_index_lines(idp_source *src);
/* 1-based line of byte offset off (a binary search: cheap on any line length). */
unsigned idp_source_lineno(idp_source *src, uint32_t off);
/* 1-based line and column (in code points) of byte offset off. */
void idp_source_linecol(idp_source *src, uint32_t off, unsigned *line, unsigned *col);
/* The line holding off, without its newline. */
const char *idp_source_line(idp_source *src, uint32_t off, size_t *len);

#endif
