/* arena.c - bump allocator; see arena.h for the ownership rule. */
#include "arena.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util.h"

struct idp_arena_chunk {
  idp_arena_chunk *next; /* older chunk */
  alignas(max_align_t) char data[];
};

/* Chunks start small (most arenas hold one small file) and double up to 2 MiB. Chunks of 2 MiB
 * are 2 MiB-aligned and offered to the kernel for transparent huge pages: a large spec then
 * takes one page fault per 2 MiB instead of one per 4 KiB, which was half of validate's time. */
enum { ARENA_FIRST = 64 * 1024, ARENA_MAX = 2 * 1024 * 1024 };

static idp_arena_chunk *chunk_new(size_t size) {
  idp_arena_chunk *c = NULL;
#ifdef MADV_HUGEPAGE
  if (size >= ARENA_MAX) {
    size = (size + sizeof *c + ARENA_MAX - 1) & ~(size_t)(ARENA_MAX - 1);
    if (posix_memalign((void **)&c, ARENA_MAX, size) != 0) c = NULL;
    if (c) madvise(c, size, MADV_HUGEPAGE);
  }
#endif
  if (!c) c = idp_xmalloc(size);
  return c;
}

void idp_arena_init(idp_arena *a) { memset(a, 0, sizeof *a); }

void idp_arena_free(idp_arena *a) {
  idp_arena_chunk *c = a->head;
  while (c) {
    idp_arena_chunk *next = c->next;
    free(c);
    c = next;
  }
  memset(a, 0, sizeof *a);
}

/* n bytes at a multiple of align (a power of two), not cleared. Nodes ask for max_align_t;
 * strings for 1, so short names do not each take a whole aligned slot. */
static void *arena_alloc_raw(idp_arena *a, size_t n, size_t align) {
  uintptr_t at = ((uintptr_t)a->cur + align - 1) & ~(uintptr_t)(align - 1);
  if (!a->cur || at > (uintptr_t)a->end || (size_t)((uintptr_t)a->end - at) < n) {
    size_t size = a->total < ARENA_FIRST ? ARENA_FIRST : a->total < ARENA_MAX ? a->total : ARENA_MAX;
    if (n + sizeof(idp_arena_chunk) > size) size = n + sizeof(idp_arena_chunk);
    idp_arena_chunk *c = chunk_new(size);
    if (size >= ARENA_MAX) size = (size + ARENA_MAX - 1) & ~(size_t)(ARENA_MAX - 1);
    c->next = a->head;
    a->head = c;
    a->cur = c->data;
    a->end = (char *)c + size;
    a->total += size;
    at = (uintptr_t)a->cur;
  }
  a->cur = (char *)at + n;
  return (void *)at;
}

void *idp_arena_alloc(idp_arena *a, size_t n) {
  void *p = arena_alloc_raw(a, n ? n : 1, alignof(max_align_t));
  memset(p, 0, n);
  return p;
}

idp_arena_mark idp_arena_save(const idp_arena *a) {
  idp_arena_mark m = {a->head, a->cur, a->end, a->total};
  return m;
}

void idp_arena_restore(idp_arena *a, idp_arena_mark m) {
  while (a->head != m.head) {
    idp_arena_chunk *next = a->head->next;
    free(a->head);
    a->head = next;
  }
  a->cur = m.cur;
  a->end = m.end;
  a->total = m.total;
}

char *idp_arena_strndup(idp_arena *a, const char *s, size_t n) {
  char *d = arena_alloc_raw(a, n + 1, 1);
  if (n) memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *idp_arena_sprintf(idp_arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  char *d = idp_arena_alloc(a, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(d, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return d;
}
