/* flags.c - one parser for every command's flags (cli.h, idp_parse_flags). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/util.h"
#include "cli.h"

static const idp_flag *find(const idp_flag *flags, size_t n, const char *name, size_t len) {
  for (size_t i = 0; i < n; i++)
    if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0) return &flags[i];
  return NULL;
}

static void unknown(const char *cmd, const char *arg, const idp_flag *flags, size_t n) {
  const char **names = idp_xcalloc(n + 2, sizeof *names);
  for (size_t i = 0; i < n; i++) names[i] = flags[i].name;
  names[n] = "help";
  idp_unknown_flag(cmd, arg, names, n + 1);
  free(names);
}

int idp_parse_flags(const char *cmd, int argc, char **argv, const idp_flag *flags, size_t n, char ***args,
                    size_t *nargs) {
  *args = idp_xcalloc((size_t)argc + 1, sizeof **args);
  *nargs = 0;
  for (size_t k = 0; k < n; k++) { /* room for every argument in each list */
    if (flags[k].kind == IDP_FLAG_LIST) {
      idp_flag_list *l = flags[k].dest;
      l->v = idp_xcalloc((size_t)argc + 1, sizeof *l->v);
      l->n = 0;
    } else if (flags[k].kind == IDP_FLAG_ENV) {
      idp_env_list *l = flags[k].dest;
      l->v = idp_xcalloc((size_t)argc + 1, sizeof *l->v);
      l->copies = idp_xcalloc((size_t)argc + 1, sizeof *l->copies);
      l->n = 0;
    }
  }
  bool paths_only = false;
  for (int i = 1; i < argc; i++) {
    const char *f = paths_only ? NULL : idp_flag_name(argv[i]);
    if (!f) {
      (*args)[(*nargs)++] = argv[i];
      continue;
    }
    if (strcmp(argv[i], "--") == 0) {
      paths_only = true;
      continue;
    }
    const char *eq = strchr(f, '=');
    size_t len = eq ? (size_t)(eq - f) : strlen(f);
    const idp_flag *fl = find(flags, n, f, len);
    if (!fl) {
      unknown(cmd, argv[i], flags, n);
      return -1;
    }
    if (fl->kind == IDP_FLAG_BOOL) {
      bool *b = fl->dest;
      if (!eq || strcmp(eq + 1, "true") == 0) {
        *b = true;
      } else if (strcmp(eq + 1, "false") == 0) {
        *b = false;
      } else {
        fprintf(stderr, "idp %s: error: bad -%s '%s'\nhint: write -%s, -%s=true or -%s=false\n", cmd, fl->name, eq + 1,
                fl->name, fl->name, fl->name);
        return -1;
      }
      continue;
    }
    const char *val = idp_flag_value(cmd, argc, argv, &i);
    if (!val) return -1;
    switch (fl->kind) {
    case IDP_FLAG_STRING: *(const char **)fl->dest = val; break;
    case IDP_FLAG_LIST: {
      idp_flag_list *l = fl->dest;
      l->v[l->n++] = val;
      break;
    }
    case IDP_FLAG_ENV: {
      idp_env_list *l = fl->dest;
      if (idp_env_flag(cmd, val, &l->copies[l->n], &l->v[l->n]) < 0) {
        l->n++;
        return -1;
      }
      l->n++;
      break;
    }
    case IDP_FLAG_DURATION:
      if (idp_parse_duration(val, fl->dest) < 0) {
        fprintf(stderr, "idp %s: error: bad -%s '%s'\nhint: write 0, 10, 10s, 500ms, 5m or 1h\n", cmd, fl->name, val);
        return -1;
      }
      break;
    case IDP_FLAG_COUNT: {
      char *end;
      long v = strtol(val, &end, 10);
      if (*end || end == val || v < 1 || v > 10000) {
        fprintf(stderr, "idp %s: error: bad -%s '%s'\nhint: a whole number from 1 to 10000\n", cmd, fl->name, val);
        return -1;
      }
      *(unsigned *)fl->dest = (unsigned)v;
      break;
    }
    case IDP_FLAG_BOOL: break;
    }
  }
  return 0;
}

void idp_flags_free(const idp_flag *flags, size_t n, char **args) {
  for (size_t k = 0; k < n; k++) {
    if (flags[k].kind == IDP_FLAG_LIST) {
      idp_flag_list *l = flags[k].dest;
      free(l->v);
      l->v = NULL;
    } else if (flags[k].kind == IDP_FLAG_ENV) {
      idp_env_list *l = flags[k].dest;
      for (size_t i = 0; i < l->n; i++) free(l->copies[i]);
      free(l->copies);
      free(l->v);
      l->v = NULL;
      l->copies = NULL;
    }
  }
  free(args);
}
