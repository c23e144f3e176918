/* fuzz_parser.c - libFuzzer entry point for the front end: scan, parse, validate and print the
 * diagnostics of one input. Built with clang -fsanitize=fuzzer by `make fuzz`, and linked with
 * replay.c into fuzz_replay so that the corpus runs as a regression test under gcc too.
 *
 * A form feed byte splits the input into two files of one spec, so that checks across files
 * (duplicates declared in another file, diagnostics sorted by file) are fuzzed too. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../compiler/arena.h"
#include "../../compiler/diag.h"
#include "../../compiler/source.h"
#include "../../compiler/validate.h"
#include "../../grammar/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_INPUT = 1 << 20 }; /* larger inputs only slow the fuzzer down */

/* Diagnostics are printed (the printing code is fuzzed as well) into a sink opened once. */
static FILE *sink(void) {
  static FILE *out;
  if (!out) out = fopen("/dev/null", "w");
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > MAX_INPUT) return 0;
  const char *text = (const char *)data;
  const char *ff = size ? memchr(text, '\f', size) : NULL;
  size_t len1 = ff ? (size_t)(ff - text) : size;

  idp_source *src[2] = {idp_source_from_string("a.idp", text, len1), NULL};
  size_t nsrc = 1;
  if (ff) src[nsrc++] = idp_source_from_string("b.idp", ff + 1, size - len1 - 1);

  /* The raw scanner on its own: it must end and free what it took, whatever the input. */
  {
    idp_arena arena;
    idp_arena_init(&arena);
    idp_diags diags;
    idp_diags_init(&diags);
    idp_scan_only(src[0], &arena, &diags);
    idp_diags_free(&diags);
    idp_arena_free(&arena);
  }

  idp_arena arena;
  idp_arena_init(&arena);
  idp_diags diags;
  idp_diags_init(&diags);
  idp_file *files[2] = {NULL, NULL};
  size_t nfiles = 0;
  for (size_t i = 0; i < nsrc; i++) {
    idp_file *f = NULL;
    idp_parse(src[i], &arena, &diags, &f);
    if (f) files[nfiles++] = f;
  }
  idp_validate(files, nfiles, &diags);
  FILE *out = sink();
  if (out) {
    idp_diags_print(&diags, out);
    fflush(out);
  }

  idp_diags_free(&diags);
  idp_arena_free(&arena);
  for (size_t i = 0; i < nsrc; i++) idp_source_free(src[i]);
  return 0;
}
