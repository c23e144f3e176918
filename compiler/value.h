/* value.h - runtime values of the language: what an expression evaluates to.
 *
 * Ownership rule: a value is allocated in an arena, is immutable once its constructor returns, and
 * may be shared freely (by any number of lists, maps and other values) for as long as the arena
 * lives; nothing here is ever freed on its own.
 *
 * Besides its data, every value carries two marks that flow through every operation:
 * - `secret` (decision 8): the value derives from a secret. Taint is per value: a list or map built
 *   from elements keeps each element's own mark (per map key), and is wholesale secret only when
 *   itself derived from a secret (`secret({...})`, `jsondecode(secret)`, a secret condition).
 *   Reading an element of a container yields the element's marks plus the container's own.
 * - `deps` (decision 5): the sorted set of resource addresses the value derives from. As with
 *   `secret`, a container's own set holds what the container as a whole derives from; each
 *   element has its own. idp_value_deps_deep() gathers everything.
 *
 * UNKNOWN is a value known only after apply (a server-assigned id). It may carry a type hint (the
 * kind it will have). A list or map may be known while some of its elements are unknown. */
#ifndef IDP_VALUE_H
#define IDP_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "arena.h"
#include "util.h"

/* Value kinds, listed once: X(NAME, type name for messages). */
#define IDP_VALUE_KINDS(X) \
  X(NULL, "null")          \
  X(BOOL, "bool")          \
  X(NUMBER, "number")      \
  X(STRING, "string")      \
  X(LIST, "list")          \
  X(MAP, "map")            \
  X(UNKNOWN, "unknown")

typedef enum {
#define X(name, tname) IDP_V_##name,
  IDP_VALUE_KINDS(X)
#undef X
} idp_value_kind;

/* "null", "bool", "number", "string", "list", "map", "unknown". */
const char *idp_value_kind_name(idp_value_kind k);

/* A set of resource addresses, sorted by strcmp, without duplicates. NULL is the empty set. */
typedef struct idp_deps {
  size_t n;              /* addresses in addr */
  const char *addr[];    /* arena strings, sorted */
} idp_deps;

typedef struct idp_value idp_value;

struct idp_value {
  idp_value_kind kind;   /* says which union member is used (named after it) */
  bool secret;           /* derived from a secret (the value itself; elements carry their own) */
  const idp_deps *deps;  /* addresses the value itself derives from; NULL when none */
  union {
    bool boolean;                                          /* BOOL */
    double number;                                         /* NUMBER: always finite, never -0 */
    struct { const char *s; size_t len; } string;          /* STRING: UTF-8, NUL-terminated at len */
    struct { idp_value *const *items; size_t n; } list;    /* LIST */
    struct {                                               /* MAP: keys strictly ascending (bytewise) */
      const char *const *keys;                             /* NUL-terminated at klen[i] */
      const size_t *klen;
      idp_value *const *vals;
      size_t n;
    } map;
    struct { idp_value_kind hint; } unknown;               /* UNKNOWN: the kind it will have, or UNKNOWN for any */
  } u;
};

/* --- dependency sets --------------------------------------------------------------------- */

/* The set holding one address (copied into a). */
const idp_deps *idp_deps_one(idp_arena *a, const char *addr);
/* x ∪ y; returns x or y itself when the other adds nothing (then nothing is allocated). */
const idp_deps *idp_deps_union(idp_arena *a, const idp_deps *x, const idp_deps *y);
/* d without addr; d itself when it does not hold addr, NULL when nothing is left. */
const idp_deps *idp_deps_remove(idp_arena *a, const idp_deps *d, const char *addr);
bool idp_deps_has(const idp_deps *d, const char *addr);
static inline size_t idp_deps_count(const idp_deps *d) { return d ? d->n : 0; }

/* --- constructors (results live in a; inputs are copied or, for values, shared) ------------- */

idp_value *idp_value_null(idp_arena *a);
idp_value *idp_value_bool(idp_arena *a, bool b);
/* n must be finite; -0 becomes 0. */
idp_value *idp_value_number(idp_arena *a, double n);
/* Copies s[0..len). */
idp_value *idp_value_string(idp_arena *a, const char *s, size_t len);
idp_value *idp_value_cstring(idp_arena *a, const char *s);
/* hint: the kind the value will have once known, or IDP_V_UNKNOWN when any. */
idp_value *idp_value_unknown(idp_arena *a, idp_value_kind hint);
/* Copies the array of n pointers (the values themselves are shared). */
idp_value *idp_value_list(idp_arena *a, idp_value *const *items, size_t n);

/* An entry of a map under construction. */
struct idp_map_kv {
  const char *key;       /* arena copy, NUL-terminated */
  size_t klen;
  idp_value *val;
  size_t order;          /* insertion order: the last of equal keys wins */
};

/* Entries a builder holds in itself before it takes arena memory: most maps are small, and the
 * entries are scratch (build copies them), so a run that builds a map per resource keeps none. */
enum { IDP_MAP_BUILDER_INLINE = 8 };

/* A map under construction: add entries in any order, then build. Not to be copied once an entry
 * is added (v may point into it). */
typedef struct idp_map_builder {
  idp_arena *arena;
  struct idp_map_kv *v;  /* inline, then an arena array grown by doubling */
  size_t n, cap;
  struct idp_map_kv inline_v[IDP_MAP_BUILDER_INLINE];
} idp_map_builder;

void idp_map_builder_init(idp_map_builder *mb, idp_arena *a);
/* Copies key[0..klen); the value is shared. */
void idp_map_builder_add(idp_map_builder *mb, const char *key, size_t klen, idp_value *val);
/* Sorts the entries by key. A key added twice keeps its last value; *dup (may be NULL) gets the
 * first such key, or NULL. */
idp_value *idp_map_builder_build(idp_map_builder *mb, const char **dup);

/* A shallow copy of v with deps added to its own set and secret or-ed into its own mark. */
idp_value *idp_value_taint(idp_arena *a, const idp_value *v, const idp_deps *deps, bool secret);
/* A deep copy of v in a (secret and unknown marks kept, dependencies dropped): for a value that
 * must outlive the arena it was made in. */
idp_value *idp_value_copy(idp_arena *a, const idp_value *v);

/* --- queries ------------------------------------------------------------------------------ */

/* The entry of map m under key, or NULL (binary search). */
idp_value *idp_map_get(const idp_value *m, const char *key, size_t klen);
/* v or anything inside it is unknown / secret. */
bool idp_value_has_unknown(const idp_value *v);
bool idp_value_has_secret(const idp_value *v);
/* Every address v and its elements derive from. */
const idp_deps *idp_value_deps_deep(idp_arena *a, const idp_value *v);
/* The kind a value has or will have: an unknown's hint, otherwise its kind. */
idp_value_kind idp_value_type(const idp_value *v);
/* The type name for messages ("string"; an unknown with a hint gives the hint's name). */
const char *idp_value_type_name(const idp_value *v);

/* Deep equality. Unknown equals nothing, not even itself: planning must treat it as a change.
 * Marks (secret, deps) are not compared. */
bool idp_value_equal(const idp_value *x, const idp_value *y);

/* --- text and JSON ------------------------------------------------------------------------- */

/* s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates). */
bool idp_utf8_valid(const char *s, size_t n);

/* Appends the shortest decimal form that reads back as n: 8080, 0.25, 1e21, 1e-7. */
void idp_number_format(idp_buf *b, double n);

/* Where the JSON conversion meets an unknown or a secret. Each mark tree has the shape of the
 * value down to the marked places, with `true` there (Terraform's after_unknown / after_sensitive):
 * for {a = secret("x"), b = [1, unknown]} secret is {"a": true} and unknown is {"b": [false, true]}.
 * A tree is NULL when nothing is marked; a wholly marked value gives `true`. */
typedef struct idp_json_marks {
  json_t *unknown;       /* owned by the caller (json_decref) */
  json_t *secret;        /* owned by the caller (json_decref) */
} idp_json_marks;

/* The canonical JSON form of v (a new reference; maps keep their sorted key order; integral
 * numbers within ±2^53 are JSON integers). Unknown has no JSON form: without marks, a value
 * holding one gives NULL. With marks, unknown and secret places are written as null and recorded
 * in *marks, so no secret reaches the JSON; without marks, secrets are written in plaintext and the
 * caller must treat the result as secret. */
json_t *idp_value_to_json(const idp_value *v, idp_json_marks *marks);
/* The part of a mark tree (as idp_value_to_json makes them) under an object's member key, or (key
 * NULL) an array's element index; NULL when there is none. */
const json_t *idp_json_mark_at(const json_t *marks, const char *key, size_t index);
/* Canonical text: compact, keys in order, numbers in their shortest form that reads back. Returns
 * a malloc'd string (free()), or NULL when v holds an unknown. */
char *idp_value_json_text(const idp_value *v);
/* The value of a JSON tree (no marks, no dependencies). Returns NULL for a string that is not
 * valid UTF-8 or a key holding a NUL (jansson's own loader rejects both already). */
idp_value *idp_value_from_json(idp_arena *a, const json_t *j);

/* Prints v for a plan: HCL-like, maps and lists one element per line at indent + 2 spaces,
 * `(known after apply)` for unknown, `(secret)` for a secret (never its value). */
void idp_value_print(idp_buf *b, const idp_value *v, int indent);
/* The same on one line ({ a = 1, b = [2, 3] }), for messages. */
void idp_value_print_inline(idp_buf *b, const idp_value *v);

#endif
