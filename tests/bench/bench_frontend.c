/* bench_frontend.c - front-end throughput: the raw scan against parse + validate.
 *
 * Usage: bench_frontend FILE [RUNS]
 *
 * Loads FILE once, then times (best of RUNS, default 3) idp_scan_only() alone; idp_parse() +
 * idp_validate() over the whole tree; and the streamed parse the CLI uses (idp_parse_stream() with
 * each top-level item checked by an idp_validator, then dropped). Prints MB/s (1 MB = 10^6 bytes)
 * for each, the ratios to the scan, the parse and validate shares, and the peak RSS of the process.
 * Freeing is not timed. Rates are wall clock; the CPU time of the process is shown next to them,
 * since on a busy machine the two differ.
 * Exits 1 when FILE cannot be read or is not valid (the figures would mean little). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../../compiler/arena.h"
#include "../../compiler/diag.h"
#include "../../compiler/source.h"
#include "../../compiler/validate.h"
#include "../../grammar/parse.h"

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall and CPU time of one step. */
typedef struct { double wall, cpu; } span;
typedef struct { double wall, cpu; } stamp;
static stamp now(void) { return (stamp){clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_PROCESS_CPUTIME_ID)}; }
static void keep_best(span *best, stamp a, stamp b) {
  if (b.wall - a.wall < best->wall) best->wall = b.wall - a.wall;
  if (b.cpu - a.cpu < best->cpu) best->cpu = b.cpu - a.cpu;
}

typedef struct {
  idp_validator *v;
  idp_source *src;
} stream_ctx;

static void on_item(idp_item *item, void *payload) {
  stream_ctx *ctx = payload;
  idp_validator_item(ctx->v, ctx->src, item);
}

static double mbps(size_t bytes, double secs) { return secs > 0 ? (double)bytes / 1e6 / secs : 0; }

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: bench_frontend FILE [RUNS]\n");
    return 2;
  }
  int runs = argc == 3 ? atoi(argv[2]) : 3;
  if (runs < 1) runs = 1;
  idp_source *src = idp_source_load(argv[1]);
  if (!src) {
    fprintf(stderr, "bench_frontend: %s: %s\n", argv[1], strerror(errno));
    return 1;
  }

  span best_scan = {1e30, 1e30}, best_total = best_scan, best_parse = best_scan, best_validate = best_scan,
       best_stream = best_scan;
  size_t tokens = 0, blocks = 0, arena_bytes = 0;
  unsigned errors = 0;
  for (int r = 0; r < runs; r++) {
    idp_arena arena;
    idp_diags diags;
    idp_arena_init(&arena);
    idp_diags_init(&diags);
    stamp t0 = now();
    tokens = idp_scan_only(src, &arena, &diags);
    stamp t1 = now();
    keep_best(&best_scan, t0, t1);
    idp_diags_free(&diags);
    idp_arena_free(&arena);
  }
  for (int r = 0; r < runs; r++) {
    idp_arena arena;
    idp_diags diags;
    idp_arena_init(&arena);
    idp_diags_init(&diags);
    idp_file *file = NULL;
    stamp t0 = now();
    idp_parse(src, &arena, &diags, &file);
    stamp t1 = now();
    idp_validate(&file, 1, &diags);
    stamp t2 = now();
    keep_best(&best_total, t0, t2);
    keep_best(&best_parse, t0, t1);
    keep_best(&best_validate, t1, t2);
    errors = diags.errors;
    blocks = file->body.n;
    arena_bytes = arena.total;
    if (errors && r == 0) idp_diags_print(&diags, stderr);
    idp_diags_free(&diags);
    idp_arena_free(&arena);
  }

  unsigned stream_errors = 0;
  for (int r = 0; r < runs; r++) {
    idp_arena arena;
    idp_diags diags;
    idp_arena_init(&arena);
    idp_diags_init(&diags);
    stamp t0 = now();
    stream_ctx ctx = {idp_validator_new(&diags), src};
    idp_parse_stream(src, &arena, &diags, on_item, &ctx);
    idp_validator_free(ctx.v);
    stamp t1 = now();
    keep_best(&best_stream, t0, t1);
    stream_errors = diags.errors;
    idp_diags_free(&diags);
    idp_arena_free(&arena);
  }

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  size_t len = src->len;
  printf("file            %s: %.1f MB, %zu tokens, %zu top-level blocks, %u errors\n", argv[1],
         (double)len / 1e6, tokens, blocks, errors);
  printf("scan            %8.1f ms  %7.1f MB/s   (cpu %.1f ms, %.1f MB/s)\n", best_scan.wall * 1e3,
         mbps(len, best_scan.wall), best_scan.cpu * 1e3, mbps(len, best_scan.cpu));
  printf("parse+validate  %8.1f ms  %7.1f MB/s   (cpu %.1f ms, %.1f MB/s)\n", best_total.wall * 1e3,
         mbps(len, best_total.wall), best_total.cpu * 1e3, mbps(len, best_total.cpu));
  printf("  parse         %8.1f ms  %7.1f MB/s   (cpu %.1f ms)\n", best_parse.wall * 1e3,
         mbps(len, best_parse.wall), best_parse.cpu * 1e3);
  printf("  validate      %8.1f ms  %7.1f MB/s   (cpu %.1f ms)\n", best_validate.wall * 1e3,
         mbps(len, best_validate.wall), best_validate.cpu * 1e3);
  printf("stream          %8.1f ms  %7.1f MB/s   (cpu %.1f ms, %.1f MB/s; the CLI's path)\n",
         best_stream.wall * 1e3, mbps(len, best_stream.wall), best_stream.cpu * 1e3,
         mbps(len, best_stream.cpu));
  printf("ratio           parse+validate / scan = %.2fx   (cpu %.2fx)\n",
         best_scan.wall > 0 ? best_total.wall / best_scan.wall : 0,
         best_scan.cpu > 0 ? best_total.cpu / best_scan.cpu : 0);
  printf("ratio           stream / scan = %.2fx   (cpu %.2fx)\n",
         best_scan.wall > 0 ? best_stream.wall / best_scan.wall : 0,
         best_scan.cpu > 0 ? best_stream.cpu / best_scan.cpu : 0);
  printf("tree arena      %.1f MB (%.1f bytes per source byte)\n", (double)arena_bytes / 1e6,
         len ? (double)arena_bytes / (double)len : 0);
  printf("peak RSS        %.1f MiB\n", (double)ru.ru_maxrss / 1024);
  idp_source_free(src);
  if (stream_errors != errors) fprintf(stderr, "bench_frontend: %u errors streamed, %u on the tree\n", stream_errors, errors);
  return errors || stream_errors ? 1 : 0;
}
