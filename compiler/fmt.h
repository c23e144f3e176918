/* fmt.h - the canonical layout of .idp source (`idp fmt`). */
#ifndef IDP_FMT_H
#define IDP_FMT_H

#include "ast.h"
#include "util.h"

/* Appends f, formatted, to out. f must have parsed without errors. Returns 0, or -1 if a comment
 * could not be placed (a bug: the caller must then keep the source as it is). */
int idp_fmt_file(const idp_file *f, idp_buf *out);

#endif
