/* arena.c - bump allocator; see arena.h for the ownership rule. */
#include "arena.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct idp_arena_chunk {
  idp_arena_chunk *next; /* older chunk */
  alignas(max_align_t) char data[];
};

enum { ARENA_CHUNK = 64 * 1024 };

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
    size_t size = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
    idp_arena_chunk *c = idp_xmalloc(sizeof *c + size);
    c->next = a->head;
    a->head = c;
    a->cur = c->data;
    a->end = c->data + size;
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
