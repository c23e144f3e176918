/* parse.c - runs the scanner and parser over one source. */
#include "parse.h"

#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "lexer.h"

/* Reports each run of bytes that is not UTF-8; the lexer then sees them as stray characters. */
static void check_utf8(idp_source *src, idp_diags *diags) {
  const unsigned char *s = (const unsigned char *)src->text;
  size_t n = src->len, i = 0;
  while (i < n) {
    /* ASCII eight bytes at a time: nearly every spec is nearly all ASCII. */
    uint64_t w;
    while (i + 8 <= n && (memcpy(&w, s + i, 8), (w & 0x8080808080808080ull) == 0)) i += 8;
    if (i >= n) break;
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t len = s[i] >= 0xF0 && s[i] <= 0xF4 ? 4 : s[i] >= 0xE0 && s[i] <= 0xEF ? 3
               : s[i] >= 0xC2 && s[i] <= 0xDF ? 2 : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; k++) ok = (s[i + k] & 0xC0) == 0x80;
    if (ok && len == 3) {
      unsigned cp = ((s[i] & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6);
      ok = cp >= 0x800 && !(cp >= 0xD800 && cp <= 0xDFFF);
    } else if (ok && len == 4) {
      unsigned cp = ((s[i] & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12);
      ok = cp >= 0x10000 && cp <= 0x10FFFF;
    }
    if (ok) {
      i += len;
      continue;
    }
    size_t j = i + 1;
    while (j < n && s[j] >= 0x80 && (s[j] & 0xC0) == 0x80) j++;
    idp_loc loc = {(uint32_t)i, (uint32_t)j};
    idp_diag_error(diags, src, loc, "invalid UTF-8 (byte 0x%02X)", s[i]);
    idp_diag_hint(diags, "save the file as UTF-8");
    i = j;
  }
}

static void parser_init(idp_parser *P, idp_source *src, idp_arena *arena, idp_diags *diags) {
  memset(P, 0, sizeof *P);
  P->arena = arena;
  P->diags = diags;
  P->src = src;
  P->file = idp_arena_alloc(arena, sizeof *P->file);
  P->file->src = src;
  idp_lexer *lx = &P->lx;
  lx->src = src;
  lx->base = src->text;
  lx->arena = arena;
  lx->tree_arena = arena;
  lx->diags = diags;
  lx->file = P->file;
  idp_source_index_lines(src);
  yyscan_t scanner;
  idp_yylex_init_extra(lx, &scanner);
  lx->scanner = scanner;
  /* Scan in place: the source ends in the two NULs flex wants. A UTF-8 byte order mark, which
   * some editors write, is skipped (offsets still count from the file's first byte). */
  size_t bom = src->len >= 3 && memcmp(src->text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  idp_yy_scan_buffer(src->text + bom, src->len - bom + 2, scanner);
}

static void parser_done(idp_parser *P) {
  idp_lex_finish(&P->lx);
  idp_yylex_destroy((yyscan_t)P->lx.scanner);
  free(P->lx.nest);
  free(P->lx.queue);
  idp_buf_free(&P->lx.text);
}

unsigned idp_parse_stream(idp_source *src, idp_arena *arena, idp_diags *diags,
                          void (*on_item)(idp_item *item, void *payload), void *payload) {
  unsigned before = diags->errors;
  idp_arena nodes;
  idp_arena_init(&nodes);
  idp_parser P;
  parser_init(&P, src, arena, diags);
  P.arena = &nodes;
  P.lx.tree_arena = &nodes;
  P.on_item = on_item;
  P.payload = payload;
  P.mark = idp_arena_save(&nodes);
  check_utf8(src, diags);
  yyparse(&P);
  parser_done(&P);
  idp_arena_free(&nodes);
  return diags->errors - before;
}

unsigned idp_parse(idp_source *src, idp_arena *arena, idp_diags *diags, idp_file **out) {
  unsigned before = diags->errors;
  idp_parser P;
  parser_init(&P, src, arena, diags);
  check_utf8(src, diags);
  yyparse(&P);
  parser_done(&P);
  *out = P.file;
  return diags->errors - before;
}

size_t idp_scan_only(idp_source *src, idp_arena *arena, idp_diags *diags) {
  idp_parser P;
  parser_init(&P, src, arena, diags);
  YYSTYPE val;
  YYLTYPE loc;
  size_t n = 0;
  while (idp_lex(&val, &loc, &P) != 0) n++;
  parser_done(&P);
  return n;
}
