/* validate.c - structural checks over parsed files, before any evaluation. */
#include "validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "util.h"

/* A set of names seen, each keyed by a scope (a block, or 0 for the top level), remembering where
 * it was first seen. Open addressing, power-of-two size. */
typedef struct seen_entry {
  uint64_t scope;
  const char *key;     /* NULL: empty slot */
  size_t keylen;
  uint32_t hash;
  idp_source *src;
  idp_loc loc;
} seen_entry;

struct idp_validator {
  idp_diags *diags;
  idp_arena arena;     /* composite keys */
  seen_entry *tab;
  size_t cap, n;
  uint64_t next_scope;
  idp_validator_hook hook; /* further checks of well-formed blocks, or NULL */
};
typedef struct idp_validator validator;

static uint32_t hash_key(uint64_t scope, const char *s, size_t n) {
  uint32_t h = 2166136261u ^ (uint32_t)(scope * 0x9E3779B97F4A7C15ull >> 32);
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static void seen_grow(validator *v) {
  size_t cap = v->cap ? v->cap * 2 : 1024;
  seen_entry *tab = idp_xcalloc(cap, sizeof *tab);
  for (size_t i = 0; i < v->cap; i++) {
    if (!v->tab[i].key) continue;
    size_t j = v->tab[i].hash & (cap - 1);
    while (tab[j].key) j = (j + 1) & (cap - 1);
    tab[j] = v->tab[i];
  }
  free(v->tab);
  v->tab = tab;
  v->cap = cap;
}

/* Adds (scope, key); returns the earlier entry when it was there already. */
static const seen_entry *seen_add(validator *v, uint64_t scope, const char *key, size_t len,
                                  idp_source *src, idp_loc loc) {
  if ((v->n + 1) * 2 > v->cap) seen_grow(v);
  uint32_t h = hash_key(scope, key, len);
  size_t j = h & (v->cap - 1);
  for (; v->tab[j].key; j = (j + 1) & (v->cap - 1)) {
    seen_entry *e = &v->tab[j];
    if (e->hash == h && e->scope == scope && e->keylen == len && memcmp(e->key, key, len) == 0)
      return e;
  }
  seen_entry *e = &v->tab[j];
  e->scope = scope;
  e->key = key;
  e->keylen = len;
  e->hash = h;
  e->src = src;
  e->loc = loc;
  v->n++;
  return NULL;
}

static void note_first(validator *v, const seen_entry *first, const char *what) {
  idp_diag_note(v->diags, first->src, first->loc, "%s first here", what);
}

static void check_body(validator *v, idp_source *src, const idp_block_spec *spec, const idp_body *body,
                       uint64_t scope);

static void suggest(validator *v, const char *word, const idp_block_spec *parent) {
  const char *names[32] = {0};
  size_t n = 0;
  for (size_t i = 0; i < parent->nchildren && n < 32; i++) names[n++] = parent->children[i].kind;
  const char *best = idp_did_you_mean(word, names, n);
  if (best) {
    idp_diag_hint(v->diags, "did you mean '%s'?", best);
    return;
  }
  char list[256];
  size_t k = 0;
  list[0] = '\0';
  for (size_t i = 0; i < n && k < sizeof list; i++)
    k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", names[i]);
  if (n) idp_diag_hint(v->diags, "expected one of: %s", list);
}

/* Returns whether the block's kind and labels are right (its body may still hold errors). */
static bool check_block(validator *v, idp_source *src, const idp_block_spec *parent, const idp_item *b) {
  const idp_block_spec *spec = idp_schema_child(parent, b->name);
  bool ok = spec != NULL;
  if (!spec) {
    if (parent == &idp_schema_file) {
      idp_diag_error(v->diags, src, b->name_loc, "unknown block kind '%s'", b->name);
    } else if (parent->nchildren == 0) {
      idp_diag_error(v->diags, src, b->name_loc, "'%s' takes no blocks, found '%s'", parent->kind, b->name);
      idp_diag_hint(v->diags, "set it as an attribute: %s = ...", b->name);
      return false;
    } else {
      idp_diag_error(v->diags, src, b->name_loc, "unknown block kind '%s' in '%s'", b->name, parent->kind);
    }
    suggest(v, b->name, parent);
    return false;
  }

  /* Labels. A bad one makes the block not well formed, even when its error is not shown (one
   * error per line), so that the checks which assume good labels do not run on it. */
  bool bad = false;
#define LABEL_ERROR(...) (bad = true, idp_diag_error(v->diags, __VA_ARGS__))
  if (b->nlabels != spec->nlabels) {
    idp_loc at = b->name_loc;
    if (b->nlabels > spec->nlabels) {
      const idp_label *l = b->labels;
      for (size_t i = 0; i < spec->nlabels; i++) l = l->next;
      at = l->loc;
    }
    if (spec->nlabels == 0)
      LABEL_ERROR(src, at, "'%s' takes no labels, found %zu", b->name, b->nlabels);
    else
      LABEL_ERROR(src, at, "'%s' takes %zu label%s, found %zu", b->name, spec->nlabels,
                     spec->nlabels == 1 ? "" : "s", b->nlabels);
    if (spec->nlabels) idp_diag_hint(v->diags, "write it as: %s %s { ... }", b->name, spec->labels);
  } else {
    size_t i = 0;
    for (const idp_label *l = b->labels; l; l = l->next, i++) {
      bool dotted = !l->quoted && strchr(l->name, '.');
      if (i == 0 && spec->dotted_first && !dotted) {
        LABEL_ERROR(src, l->loc, "'%s' needs DRIVER.KIND as its first label, found '%s'",
                       b->name, l->name);
        idp_diag_hint(v->diags, "for example: %s powerdns.record \"name\" { ... }", b->name);
      } else if (dotted && !(i == 0 && spec->dotted_first)) {
        LABEL_ERROR(src, l->loc, "unexpected dotted label '%s'", l->name);
      } else if (l->name[0] == '\0') {
        LABEL_ERROR(src, l->loc, "a label cannot be empty");
      } else if (spec->strict_name && (int)i == spec->name_label && !idp_schema_valid_name(l->name)) {
        LABEL_ERROR(src, l->loc, "invalid %s name '%s'", b->name, l->name);
        idp_diag_hint(v->diags, "names are 1 to 30 lowercase letters, digits and '-', starting with a letter");
      } else if ((int)i == spec->ref_label && !idp_schema_valid_ident(l->name)) {
        LABEL_ERROR(src, l->loc, "%s name '%s' cannot be used in a reference", b->name, l->name);
        idp_diag_hint(v->diags, "use letters, digits, '_' and '-', starting with a letter or '_'");
      } else if (spec == idp_schema_child(&idp_schema_file, "app") && idp_schema_reserved_app_name(l->name)) {
        LABEL_ERROR(src, l->loc, "an app cannot be named '%s'", l->name);
        idp_diag_hint(v->diags, "app.%s means this app's %s; choose another name", l->name, l->name);
      }
    }
  }

#undef LABEL_ERROR
  ok = !bad;

  check_body(v, src, spec, &b->body, ++v->next_scope);
  return ok;
}

/* "\x1e" a "\x1f" b "\x1f" c in the validator's arena (b, c may be NULL); no printf on this path. */
static const char *make_key(validator *v, const char *a, const char *b, const char *c) {
  size_t la = strlen(a), lb = b ? strlen(b) : 0, lc = c ? strlen(c) : 0;
  char *k = idp_arena_alloc(&v->arena, la + lb + lc + 4), *p = k;
  *p++ = '\x1e';
  memcpy(p, a, la), p += la;
  if (b) *p++ = '\x1f', memcpy(p, b, lb), p += lb;
  if (c) *p++ = '\x1f', memcpy(p, c, lc), p += lc;
  *p = '\0';
  return k;
}

/* The key under which a block must be unique in its parent, or NULL when it need not be. Keys
 * start with \x1e so that no attribute name can equal them. *shown is the name for messages. */
static const char *block_key(validator *v, const idp_block_spec *spec, const idp_item *b, const char **shown) {
  *shown = NULL;
  if (!spec || b->nlabels != spec->nlabels) return NULL;
  if (spec->once) return make_key(v, b->name, NULL, NULL);
  if (spec->name_label >= 0) {
    const idp_label *l = b->labels;
    for (int i = 0; i < spec->name_label; i++) l = l->next;
    *shown = l->name;
    return make_key(v, b->name, l->name, NULL);
  }
  if (spec->nlabels == 2) {
    *shown = NULL; /* both labels name it: see dup_name */
    return make_key(v, b->name, b->labels->name, b->labels->next->name);
  }
  return NULL;
}

/* Names seen in one body, to find duplicates. Small bodies (nearly all) compare pairwise; the top
 * level, which spans files, and large bodies go through the validator's hash set. */
enum { SMALL_BODY = 32 };

typedef struct dupset {
  uint64_t scope;           /* the body's scope in the hash set */
  bool hashed;
  const char *keys[SMALL_BODY];
  idp_loc locs[SMALL_BODY];
  size_t n;
} dupset;

static void dupset_init(dupset *d, uint64_t scope, size_t nitems) {
  d->scope = scope;
  d->hashed = scope == 0 || nitems > SMALL_BODY;
  d->n = 0;
}

static void check_dup(validator *v, idp_source *src, const idp_block_spec *spec, const idp_item *it,
                      const idp_block_spec *child, const char *key, const char *shown, dupset *d);

static void check_item(validator *v, idp_source *src, const idp_block_spec *spec, const idp_item *it, dupset *d) {
  const char *key, *shown = NULL;
  const idp_block_spec *child = NULL;
  bool well_formed = false;
  if (it->kind == IDP_ITEM_BLOCK) {
    child = idp_schema_child(spec, it->name);
    well_formed = check_block(v, src, spec, it);
    key = block_key(v, child, it, &shown);
  } else if (spec == &idp_schema_file) {
    idp_diag_error(v->diags, src, it->name_loc, "attribute '%s' outside of any block", it->name);
    idp_diag_hint(v->diags, "declare a variable instead: var \"%s\" { default = ... }", it->name);
    return;
  } else {
    key = it->name;
  }
  check_dup(v, src, spec, it, child, key, shown, d);
  /* After the duplicate check: on a duplicate's header line, the duplicate is what is reported. */
  if (well_formed && v->hook) v->hook(v->diags, src, spec->kind, it);
}

static void check_dup(validator *v, idp_source *src, const idp_block_spec *spec, const idp_item *it,
                      const idp_block_spec *child, const char *key, const char *shown, dupset *d) {
  if (!key) return;
  const seen_entry *first = NULL;
  seen_entry found;
  if (d->hashed) {
    /* The key must outlive the tree: a streamed parse drops each item once it is checked. */
    const char *kept = it->kind == IDP_ITEM_BLOCK ? key : idp_arena_strndup(&v->arena, key, strlen(key));
    first = seen_add(v, d->scope, kept, strlen(kept), src, it->name_loc);
  } else {
    for (size_t i = 0; i < d->n && !first; i++) {
      if (strcmp(d->keys[i], key) != 0) continue;
      found.src = src;
      found.loc = d->locs[i];
      first = &found;
    }
    d->keys[d->n] = key;
    d->locs[d->n++] = it->name_loc;
  }
  if (!first) return;
  if (!child)
    idp_diag_error(v->diags, src, it->name_loc, "attribute '%s' is set twice in '%s'", it->name, spec->kind);
  else if (child->once)
    idp_diag_error(v->diags, src, it->name_loc, "'%s' may appear only once in '%s'", it->name, spec->kind);
  else
    idp_diag_error(v->diags, src, it->name_loc, "duplicate %s '%s'", it->name,
                   shown ? shown : idp_arena_sprintf(&v->arena, "%s \"%s\"", it->labels->name, it->labels->next->name));
  note_first(v, first, child ? "declared" : "set");
}

static void check_body(validator *v, idp_source *src, const idp_block_spec *spec, const idp_body *body,
                       uint64_t scope) {
  dupset d;
  dupset_init(&d, scope, body->n);
  for (const idp_item *it = body->first; it; it = it->next) check_item(v, src, spec, it, &d);
}

idp_validator *idp_validator_new(idp_diags *diags) {
  validator *v = idp_xcalloc(1, sizeof *v);
  v->diags = diags;
  idp_arena_init(&v->arena);
  return v;
}

void idp_validator_set_hook(idp_validator *v, idp_validator_hook hook) { v->hook = hook; }

void idp_validator_item(idp_validator *v, idp_source *src, const idp_item *top) {
  dupset d;
  dupset_init(&d, 0, 0);
  check_item(v, src, &idp_schema_file, top, &d);
}

void idp_validator_free(idp_validator *v) {
  if (!v) return;
  free(v->tab);
  idp_arena_free(&v->arena);
  free(v);
}

unsigned idp_validate(idp_file *const *files, size_t n, idp_diags *diags) {
  unsigned before = diags->errors;
  idp_validator *v = idp_validator_new(diags);
  for (size_t i = 0; i < n; i++)
    for (const idp_item *it = files[i]->body.first; it; it = it->next) idp_validator_item(v, files[i]->src, it);
  idp_validator_free(v);
  return diags->errors - before;
}
