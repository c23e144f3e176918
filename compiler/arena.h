/* arena.h - bump allocator for compile-time memory.
 *
 * Ownership rule: everything allocated from an arena lives exactly as long as the arena and is
 * released by one idp_arena_free(); nothing allocated here is ever freed on its own. */
#ifndef IDP_ARENA_H
#define IDP_ARENA_H

#include <stddef.h>

typedef struct idp_arena_chunk idp_arena_chunk;

typedef struct idp_arena {
  idp_arena_chunk *head; /* newest chunk first */
  char *cur;             /* next free byte in head */
  char *end;             /* one past the last byte of head */
  size_t total;          /* bytes reserved from malloc, for reports */
} idp_arena;

void idp_arena_init(idp_arena *a);
void idp_arena_free(idp_arena *a);
/* Zeroed, max_align_t-aligned memory; aborts on out of memory (there is no way to continue). */
void *idp_arena_alloc(idp_arena *a, size_t n);
/* A NUL-terminated copy of s[0..n). */
/* A point to roll the arena back to: idp_arena_restore frees all allocated since the save. */
typedef struct idp_arena_mark {
  idp_arena_chunk *head;
  char *cur, *end;
  size_t total;
} idp_arena_mark;

idp_arena_mark idp_arena_save(const idp_arena *a);
void idp_arena_restore(idp_arena *a, idp_arena_mark m);
char *idp_arena_strndup(idp_arena *a, const char *s, size_t n);
char *idp_arena_sprintf(idp_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
