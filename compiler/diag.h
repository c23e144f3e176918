/* diag.h - collected diagnostics: every error of a run is gathered, then printed sorted by place.
 *
 * Format: `file:line:col: error: message`, the source line, a caret line under the spot, then
 * optional `hint:` lines and `note:` diagnostics that point at related places.
 *
 * One mistake, one error: an error on a line of a file that already has an error is dropped (and
 * not counted), since it is nearly always a consequence of the first (a parser resyncing, the
 * cascade from an unterminated string). Which lines get an error does not depend on the order in
 * which the parser and the checks report. */
#ifndef IDP_DIAG_H
#define IDP_DIAG_H

#include <stdbool.h>
#include <stdio.h>

#include "source.h"

typedef enum { IDP_SEV_ERROR, IDP_SEV_WARNING, IDP_SEV_NOTE } idp_severity;

typedef struct idp_diag {
  idp_severity sev;
  idp_source *src;  /* borrowed; NULL for a diagnostic without a place */
  idp_loc loc;      /* where, in src */
  char *msg;        /* owned */
  char *hint;       /* owned; NULL when there is none */
  size_t group;     /* index of the error or warning a note belongs to (itself otherwise) */
} idp_diag;

typedef struct idp_diags {
  idp_diag *v;      /* owned array */
  size_t n, cap;
  unsigned errors;  /* errors reported, including those not kept */
  unsigned dropped; /* diagnostics past IDP_DIAG_MAX, counted but not kept */
  size_t last_error; /* index of the last error kept, or (size_t)-1 */
  struct idp_diag_line *lines; /* the (file, line) pairs that have an error: a hash set */
  size_t nlines, caplines;
  bool muted;        /* the last error was dropped: so are its notes and hint */
} idp_diags;

enum { IDP_DIAG_MAX = 10000 };

void idp_diags_init(idp_diags *d);
/* Frees what d holds and leaves it empty, ready for reuse. */
void idp_diags_free(idp_diags *d);
void idp_diag_error(idp_diags *d, idp_source *src, idp_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void idp_diag_warning(idp_diags *d, idp_source *src, idp_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A note about a related place, printed after the last error or warning. */
void idp_diag_note(idp_diags *d, idp_source *src, idp_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Attaches a hint to the last error or warning. */
void idp_diag_hint(idp_diags *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sorts by file and position (notes stay after their error) and prints to out. */
void idp_diags_print(idp_diags *d, FILE *out);

#endif
