/* yamlcheck.c - `yamlcheck FILE`: parses FILE with libyaml (the YAML library idp links), as CI
 * systems would: a syntax error, or a key given twice in one mapping (GitHub Actions and GitLab
 * refuse both), is reported as FILE:LINE:COLUMN: MESSAGE with exit status 1. Otherwise prints
 * the keys of the top-level mapping, one per line, and exits 0. Built by tests/ci/run.sh. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

typedef struct frame {
  bool map;      /* a mapping (else a sequence) */
  bool want_key; /* mapping: the next node is a key */
  char **keys;   /* mapping: the scalar keys seen */
  size_t n;
} frame;

static frame stack[256];
static size_t depth;

/* A node ended in the current container: in a mapping, keys and values alternate. Returns false
 * (after printing where) when it is a key seen before. */
static bool node_done(const char *path, const char *scalar_key, const yaml_mark_t *m) {
  if (!depth || !stack[depth - 1].map) return true;
  frame *f = &stack[depth - 1];
  if (f->want_key && scalar_key) {
    for (size_t i = 0; i < f->n; i++)
      if (strcmp(f->keys[i], scalar_key) == 0) {
        fprintf(stderr, "%s:%zu:%zu: key '%s' given twice in one mapping\n", path, m->line + 1, m->column + 1,
                scalar_key);
        return false;
      }
    f->keys = realloc(f->keys, (f->n + 1) * sizeof *f->keys);
    if (!f->keys) abort();
    f->keys[f->n++] = strdup(scalar_key);
    if (depth == 1) puts(scalar_key);
  }
  f->want_key = !f->want_key;
  return true;
}

static void pop(void) {
  frame *f = &stack[--depth];
  for (size_t i = 0; i < f->n; i++) free(f->keys[i]);
  free(f->keys);
  memset(f, 0, sizeof *f);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: yamlcheck FILE\n");
    return 2;
  }
  FILE *in = fopen(argv[1], "rb");
  if (!in) {
    perror(argv[1]);
    return 1;
  }
  yaml_parser_t p;
  yaml_parser_initialize(&p);
  yaml_parser_set_input_file(&p, in);
  int rc = 0;
  for (bool done = false; !done && rc == 0;) {
    yaml_event_t e;
    if (!yaml_parser_parse(&p, &e)) {
      fprintf(stderr, "%s:%zu:%zu: %s%s%s\n", argv[1], p.problem_mark.line + 1, p.problem_mark.column + 1,
              p.problem ? p.problem : "syntax error", p.context ? " " : "", p.context ? p.context : "");
      rc = 1;
      break;
    }
    switch (e.type) {
    case YAML_STREAM_END_EVENT: done = true; break;
    case YAML_SCALAR_EVENT:
      if (!node_done(argv[1], (const char *)e.data.scalar.value, &e.start_mark)) rc = 1;
      break;
    case YAML_ALIAS_EVENT:
      if (!node_done(argv[1], NULL, &e.start_mark)) rc = 1;
      break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
      if (depth == sizeof stack / sizeof *stack) {
        fprintf(stderr, "%s:%zu:%zu: nested too deep\n", argv[1], e.start_mark.line + 1, e.start_mark.column + 1);
        rc = 1;
        break;
      }
      stack[depth++] = (frame){.map = e.type == YAML_MAPPING_START_EVENT, .want_key = true};
      break;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
      pop();
      node_done(argv[1], NULL, &e.start_mark);
      break;
    default: break;
    }
    yaml_event_delete(&e);
  }
  while (depth) pop();
  yaml_parser_delete(&p);
  fclose(in);
  return rc;
}
