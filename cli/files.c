/* files.c - finding the .idp files a command works on, and flag spelling. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../compiler/util.h"
#include "cli.h"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void push(char ***v, size_t *n, size_t *cap, char *s) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    *v = idp_xrealloc(*v, *cap * sizeof **v);
  }
  (*v)[(*n)++] = s;
}

static int has_suffix(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a > b && strcmp(s + a - b, suf) == 0;
}

int idp_collect_files(const char *cmd, char *const *args, size_t nargs, char ***out, size_t *n) {
  static char *const here[] = {"."};
  if (nargs == 0) {
    args = here;
    nargs = 1;
  }
  char **v = NULL;
  size_t cnt = 0, cap = 0;
  for (size_t i = 0; i < nargs; i++) {
    struct stat st;
    if (stat(args[i], &st) != 0) {
      fprintf(stderr, "idp %s: error: %s: %s\n", cmd, args[i], strerror(errno));
      goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {
      push(&v, &cnt, &cap, idp_xstrdup(args[i]));
      continue;
    }
    DIR *d = opendir(args[i]);
    if (!d) {
      fprintf(stderr, "idp %s: error: %s: %s\n", cmd, args[i], strerror(errno));
      goto fail;
    }
    size_t first = cnt;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".idp")) continue;
      idp_buf path = {0};
      if (strcmp(args[i], ".") != 0) {
        idp_buf_puts(&path, args[i]);
        if (!has_suffix(args[i], "/")) idp_buf_putc(&path, '/');
      }
      idp_buf_puts(&path, e->d_name);
      push(&v, &cnt, &cap, path.data);
    }
    closedir(d);
    if (cnt > first) qsort(v + first, cnt - first, sizeof *v, cmp_str);
  }
  *out = v;
  *n = cnt;
  return 0;
fail:
  idp_free_files(v, cnt);
  return -1;
}

void idp_free_files(char **files, size_t n) {
  for (size_t i = 0; i < n; i++) free(files[i]);
  free(files);
}

const char *idp_flag_name(const char *arg) {
  if (arg[0] != '-' || arg[1] == '\0') return NULL;
  arg++;
  if (arg[0] == '-') arg++;
  return arg;
}

const char *idp_flag_value(const char *cmd, int argc, char **argv, int *i) {
  const char *eq = strchr(argv[*i], '=');
  if (eq) return eq + 1;
  if (*i + 1 >= argc) {
    fprintf(stderr, "idp %s: error: flag '%s' needs a value\n", cmd, argv[*i]);
    return NULL;
  }
  return argv[++*i];
}

int idp_env_flag(const char *cmd, const char *val, char **copy, idp_env_sel *sel) {
  char *c = *copy = idp_xstrdup(val);
  char *colon = strchr(c, ':');
  if (colon) *colon = '\0';
  if (!c[0] || (colon && !colon[1])) {
    fprintf(stderr, "idp %s: error: bad -env '%s'\nhint: write -env NAME or -env NAME:TYPE\n", cmd, val);
    return -1;
  }
  sel->name = c;
  sel->type = colon ? colon + 1 : NULL;
  return 0;
}

void idp_unknown_flag(const char *cmd, const char *arg, const char *const *known, size_t n) {
  const char *name = idp_flag_name(arg);
  fprintf(stderr, "idp %s: error: unknown flag '%s'\n", cmd, arg);
  const char *best = name ? idp_did_you_mean(name, known, n) : NULL;
  if (best) fprintf(stderr, "hint: did you mean '-%s'?\n", best);
  else fprintf(stderr, "hint: see 'idp help %s'\n", cmd);
}
