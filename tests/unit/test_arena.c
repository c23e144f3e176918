/* test_arena.c - the bump allocator: many allocations, alignment, zeroing, string helpers. */
#include "unit.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

static void arena_many_allocations_do_not_overlap(void **state) {
  (void)state;
  enum { N = 100000 }; /* ~6 MB: grows through doubling chunks to the largest size */
  idp_arena a;
  idp_arena_init(&a);
  unsigned char **p = malloc(N * sizeof *p);
  assert_non_null(p);
  /* Sizes 1..97 bytes, each filled with its own pattern; checked after all are made. */
  for (size_t i = 0; i < N; i++) {
    size_t n = 1 + i % 97;
    p[i] = idp_arena_alloc(&a, n);
    memset(p[i], (int)(i & 0xFF), n);
  }
  size_t bad = N;
  for (size_t i = 0; i < N && bad == N; i++) {
    size_t n = 1 + i % 97;
    for (size_t k = 0; k < n; k++)
      if (p[i][k] != (unsigned char)(i & 0xFF)) bad = i;
  }
  size_t total = a.total;
  free(p);
  idp_arena_free(&a);
  assert_int_equal(bad, N);
  /* More than one chunk was needed, and freeing resets the arena. */
  assert_true(total >= (size_t)N);
  assert_null(a.head);
  assert_int_equal(a.total, 0);
}

static void arena_allocations_are_max_aligned_and_zeroed(void **state) {
  (void)state;
  idp_arena a;
  idp_arena_init(&a);
  const size_t align = alignof(max_align_t);
  size_t misaligned = 0, dirty = 0;
  for (size_t i = 0; i < 5000; i++) {
    size_t n = (i * 13) % 131 + 1;
    unsigned char *q = idp_arena_alloc(&a, n);
    if ((uintptr_t)q % align) misaligned++;
    for (size_t k = 0; k < n; k++)
      if (q[k]) dirty++;
    memset(q, 0xAB, n); /* the next allocation must not see this */
  }
  idp_arena_free(&a);
  assert_int_equal(misaligned, 0);
  assert_int_equal(dirty, 0);
}

static void arena_zero_and_huge_allocations(void **state) {
  (void)state;
  idp_arena a;
  idp_arena_init(&a);
  void *z1 = idp_arena_alloc(&a, 0);
  void *z2 = idp_arena_alloc(&a, 0);
  /* Bigger than a chunk: gets its own, fully usable and zeroed. */
  size_t big = 1u << 20;
  unsigned char *h = idp_arena_alloc(&a, big);
  bool zero = true;
  for (size_t i = 0; i < big; i++)
    if (h[i]) zero = false;
  memset(h, 1, big);
  /* Bigger than the largest chunk size. */
  size_t huge = 5u << 20;
  unsigned char *g = idp_arena_alloc(&a, huge);
  bool gzero = g[0] == 0 && g[huge - 1] == 0;
  memset(g, 2, huge);
  /* A small allocation after them still works and overlaps neither. */
  char *s = idp_arena_strndup(&a, "after", 5);
  bool apart = (s + 6 <= (char *)h || s >= (char *)h + big) && (s + 6 <= (char *)g || s >= (char *)g + huge);
  bool ok = z1 && z2 && z1 != z2 && zero && gzero && apart && strcmp(s, "after") == 0 && h[big - 1] == 1 &&
            g[huge - 1] == 2 && a.total >= big + huge;
  idp_arena_free(&a);
  assert_true(ok);
}

static void arena_strndup_copies_exactly_n_bytes(void **state) {
  (void)state;
  idp_arena a;
  idp_arena_init(&a);
  const char *src = "corp-dns extra";
  char *d = idp_arena_strndup(&a, src, 8);
  char *e = idp_arena_strndup(&a, src, 0);
  char *nul = idp_arena_strndup(&a, "a\0b", 3);
  bool ok = d != src && strcmp(d, "corp-dns") == 0 && strcmp(e, "") == 0 && memcmp(nul, "a\0b\0", 4) == 0;
  idp_arena_free(&a);
  assert_true(ok);
}

static void arena_sprintf_formats_short_and_long(void **state) {
  (void)state;
  idp_arena a;
  idp_arena_init(&a);
  char *s = idp_arena_sprintf(&a, "%s.%s", "gitops", "deployment");
  char *e = idp_arena_sprintf(&a, "%s", "");
  /* Longer than a chunk. */
  char *pad = malloc(200001);
  assert_non_null(pad);
  memset(pad, 'x', 200000);
  pad[200000] = '\0';
  char *l = idp_arena_sprintf(&a, "<%s>%d", pad, 7);
  free(pad);
  bool ok = strcmp(s, "gitops.deployment") == 0 && strcmp(e, "") == 0 && strlen(l) == 200003 &&
            l[0] == '<' && l[200000] == 'x' && l[200001] == '>' && l[200002] == '7';
  idp_arena_free(&a);
  assert_true(ok);
}

static void arena_restore_rolls_back_to_the_mark(void **state) {
  (void)state;
  idp_arena a;
  idp_arena_init(&a);
  char *keep = idp_arena_strndup(&a, "kept", 4);
  idp_arena_mark m = idp_arena_save(&a);
  void *first = idp_arena_alloc(&a, 32);
  size_t total = a.total;
  /* Fill several chunks, then roll back: they are freed (ASan sees any leak) and the next
   * allocation reuses the place of the first one after the mark. */
  for (int i = 0; i < 1000; i++) idp_arena_alloc(&a, 4096);
  bool grew = a.total > total;
  idp_arena_restore(&a, m);
  bool back = a.total == total && a.head == m.head;
  void *again = idp_arena_alloc(&a, 32);
  bool same = again == first && strcmp(keep, "kept") == 0;
  /* Restoring to the mark of an empty arena frees everything. */
  idp_arena b;
  idp_arena_init(&b);
  idp_arena_mark empty = idp_arena_save(&b);
  for (int i = 0; i < 100; i++) idp_arena_alloc(&b, 10000);
  idp_arena_restore(&b, empty);
  bool b_empty = b.head == NULL && b.total == 0;
  char *s = idp_arena_sprintf(&b, "%d", 42); /* still usable */
  bool b_ok = strcmp(s, "42") == 0;
  idp_arena_free(&b);
  idp_arena_free(&a);
  assert_true(grew);
  assert_true(back);
  assert_true(same);
  assert_true(b_empty);
  assert_true(b_ok);
}

int test_arena(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(arena_many_allocations_do_not_overlap),
      cmocka_unit_test(arena_allocations_are_max_aligned_and_zeroed),
      cmocka_unit_test(arena_zero_and_huge_allocations),
      cmocka_unit_test(arena_strndup_copies_exactly_n_bytes),
      cmocka_unit_test(arena_sprintf_formats_short_and_long),
      cmocka_unit_test(arena_restore_rolls_back_to_the_mark),
  };
  return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
