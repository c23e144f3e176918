/* parse.h - the front end's entry point: source text in, syntax tree and diagnostics out. */
#ifndef IDP_PARSE_H
#define IDP_PARSE_H

#include "../compiler/arena.h"
#include "../compiler/ast.h"
#include "../compiler/diag.h"

/* Parses src into a tree allocated in arena (src must outlive it). Every error is added to diags;
 * the tree is always returned, with the parts that failed left out. Returns the number of errors
 * this parse reported. */
unsigned idp_parse(idp_source *src, idp_arena *arena, idp_diags *diags, idp_file **out);

/* Parses src, handing each top-level item to on_item as soon as it is complete; the item and
 * everything under it is freed when on_item returns, so memory stays bounded by the largest
 * top-level block. Names and comments still go to arena. Returns the number of errors. */
unsigned idp_parse_stream(idp_source *src, idp_arena *arena, idp_diags *diags,
                          void (*on_item)(idp_item *item, void *payload), void *payload);

/* Scans src to the end without parsing (for the benchmark); returns the number of tokens. */
size_t idp_scan_only(idp_source *src, idp_arena *arena, idp_diags *diags);

#endif
