/* cmd_state.c - `idp state list|show|rm|mv`: look into and repair the states of the local backend.
 *
 * list and show read without locking (writes are atomic renames, so a reader sees a whole file)
 * and never need the key: secrets are shown as (secret). rm and mv take the locks of the states
 * they change (decision 6's order), change, and write atomically with the serial bumped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/util.h"
#include "../runtime/backend.h"
#include "cli.h"

/* The options every subcommand understands. */
typedef struct opts {
  const char *dir;      /* spec directory (-dir or a trailing DIR where allowed) */
  idp_flag_list envs;   /* -env NAME, repeatable */
  double lock_timeout;  /* seconds */
  char **args;          /* positional arguments */
  size_t nargs;
} opts;

/* Parses argv[1..argc) (argv[0] is the subcommand) into o. Returns 0, or prints the error and
 * returns IDP_EXIT_USAGE. */
static int parse_opts(const char *cmd, int argc, char **argv, opts *o) {
  const idp_flag flags[] = {{"env", IDP_FLAG_LIST, &o->envs},
                            {"dir", IDP_FLAG_STRING, &o->dir},
                            {"lock-timeout", IDP_FLAG_DURATION, &o->lock_timeout}};
  if (idp_parse_flags(cmd, argc, argv, flags, sizeof flags / sizeof *flags, &o->args, &o->nargs) < 0) return IDP_EXIT_USAGE;
  for (size_t i = 0; i < o->envs.n; i++)
    if (!idp_state_env_name_ok(o->envs.v[i])) {
      fprintf(stderr, "idp %s: error: '%s' is not an environment name\nhint: names match [a-z][a-z0-9-]{0,29}\n", cmd,
              o->envs.v[i]);
      return IDP_EXIT_USAGE;
    }
  return 0;
}

static void free_opts(opts *o) {
  free(o->args);
  free(o->envs.v);
}

static void print_err(const char *cmd, const idp_state_error *err) {
  fprintf(stderr, "idp %s: error: %s\n", cmd, err->msg);
}

/* --- printing values ------------------------------------------------------------------------------ */

static void print_value(FILE *out, const json_t *v) {
  if (idp_state_is_sealed(v)) {
    fputs("(secret)", out);
  } else if (json_is_object(v)) {
    if (json_object_size(v) == 0) {
      fputs("{}", out);
      return;
    }
    fputs("{ ", out);
    const char *k;
    json_t *x;
    bool first = true;
    json_object_foreach((json_t *)v, k, x) {
      if (!first) fputs(", ", out);
      first = false;
      json_t *key = json_string(k);
      char *ks = json_dumps(key, JSON_ENCODE_ANY);
      fprintf(out, "%s = ", ks);
      free(ks);
      json_decref(key);
      print_value(out, x);
    }
    fputs(" }", out);
  } else if (json_is_array(v)) {
    fputc('[', out);
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      if (i) fputs(", ", out);
      print_value(out, x);
    }
    fputc(']', out);
  } else {
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    fputs(s ? s : "?", out);
    free(s);
  }
}

static void print_map(FILE *out, const char *title, const json_t *map) {
  fprintf(out, "%s:\n", title);
  if (json_object_size(map) == 0) {
    fputs("  (none)\n", out);
    return;
  }
  size_t width = 0;
  const char *k;
  json_t *x;
  json_object_foreach((json_t *)map, k, x) if (strlen(k) > width) width = strlen(k);
  json_object_foreach((json_t *)map, k, x) {
    fprintf(out, "  %-*s = ", (int)width, k);
    print_value(out, x);
    fputc('\n', out);
  }
}

/* --- list ----------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const char *dir_arg(const char *cmd, opts *o, size_t max_positional) {
  if (o->nargs > max_positional) {
    if (o->dir) {
      fprintf(stderr, "idp %s: error: unexpected argument '%s'\n", cmd, o->args[max_positional]);
      return NULL;
    }
    if (o->nargs > max_positional + 1) {
      fprintf(stderr, "idp %s: error: unexpected argument '%s'\n", cmd, o->args[max_positional + 1]);
      return NULL;
    }
    o->dir = o->args[max_positional];
  }
  return o->dir ? o->dir : ".";
}

/* Reads the state of env (NULL: shared), printing errors; *st NULL if the file is absent. */
static int read_state(const char *cmd, idp_backend *b, const char *env, idp_state **st) {
  idp_state_error err = {0};
  if (idp_backend_read(b, env, NULL, st, &err) < 0) {
    print_err(cmd, &err);
    return -1;
  }
  if (!idp_state_lineage(*st)) { /* never written: the file does not exist */
    idp_state_free(*st);
    *st = NULL;
  }
  return 0;
}

static int no_env_state(const char *cmd, idp_backend *b, const char *env) {
  char *path = idp_backend_path(b, env);
  fprintf(stderr, "idp %s: error: no state for environment %s (%s does not exist)\n", cmd, env, path);
  free(path);
  bool shared;
  char **envs;
  size_t n;
  idp_state_error err = {0};
  if (idp_backend_list(b, &shared, &envs, &n, &err) == 0) {
    const char *best = idp_did_you_mean(env, (const char *const *)envs, n);
    if (best) fprintf(stderr, "hint: did you mean '-env %s'?\n", best);
    else if (n) fprintf(stderr, "hint: run 'idp state list' to see the states there are\n");
    idp_backend_free_list(envs, n);
  }
  return IDP_EXIT_ERROR;
}

static int state_list(opts *o) {
  const char *cmd = "state list";
  const char *dir = dir_arg(cmd, o, 0);
  if (!dir) return IDP_EXIT_USAGE;
  idp_backend *b = idp_backend_local(dir);
  int rc = IDP_EXIT_OK;
  idp_state_error err = {0};
  bool shared = false;
  char **envs = NULL;
  size_t n = 0;
  idp_buf lines = {0};
  size_t nlines = 0;
  const char **names;
  size_t nnames;
  if (o->envs.n) {
    names = o->envs.v;
    nnames = o->envs.n;
  } else {
    if (idp_backend_list(b, &shared, &envs, &n, &err) < 0) {
      print_err(cmd, &err);
      rc = IDP_EXIT_ERROR;
      goto done;
    }
    names = (const char **)envs;
    nnames = n;
  }
  /* NUL-separated addresses, sorted at the end. */
  for (size_t i = 0; i < nnames + (shared ? 1 : 0); i++) {
    const char *env = i < nnames ? names[i] : NULL;
    idp_state *st = NULL;
    if (read_state(cmd, b, env, &st) < 0) {
      rc = IDP_EXIT_ERROR;
      continue;
    }
    if (!st) {
      if (env && o->envs.n) rc = no_env_state(cmd, b, env);
      continue;
    }
    for (size_t k = 0; k < idp_state_count(st); k++) {
      idp_buf_puts(&lines, idp_state_res_address(idp_state_at(st, k)));
      idp_buf_putc(&lines, '\0');
      nlines++;
    }
    idp_state_free(st);
  }
  const char **v = idp_xmalloc((nlines ? nlines : 1) * sizeof *v);
  const char *p = lines.data;
  for (size_t i = 0; i < nlines; i++, p += strlen(p) + 1) v[i] = p;
  qsort(v, nlines, sizeof *v, cmp_str);
  for (size_t i = 0; i < nlines; i++) puts(v[i]);
  free(v);
done:
  idp_buf_free(&lines);
  idp_backend_free_list(envs, n);
  idp_backend_free(b);
  return rc;
}

/* --- show ----------------------------------------------------------------------------------------- */

/* The address of ADDR given -env: an address without env. is taken relative to the env. */
static char *full_address(const char *addr, const opts *o) {
  idp_buf b = {0};
  if (o->envs.n == 1 && strncmp(addr, "env.", 4) != 0 && strncmp(addr, "app.", 4) == 0)
    idp_buf_printf(&b, "env.%s/%s", o->envs.v[0], addr);
  else idp_buf_puts(&b, addr);
  return b.data;
}

/* Parses addr, printing errors; *env (malloc'd) gets its environment, NULL for the shared state. */
static int address_env(const char *cmd, const char *addr, const opts *o, char **env) {
  idp_state_error err = {0};
  if (idp_state_address_parse(addr, env, NULL, &err) < 0) {
    print_err(cmd, &err);
    return -1;
  }
  if (o->envs.n > 1 || (o->envs.n == 1 && (!*env || strcmp(*env, o->envs.v[0]) != 0))) {
    fprintf(stderr, "idp %s: error: %s is not in environment %s: %s\n", cmd, addr, o->envs.v[0],
            *env ? "its address names another one" : "it is a top-level resource, kept in the shared state");
    free(*env);
    *env = NULL;
    return -1;
  }
  return 0;
}

static void suggest_address(const idp_state *st, const char *addr) {
  size_t n = idp_state_count(st);
  const char **v = idp_xmalloc((n ? n : 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = idp_state_res_address(idp_state_at(st, i));
  const char *best = idp_did_you_mean(addr, v, n);
  if (best) fprintf(stderr, "hint: did you mean %s?\n", best);
  else fputs("hint: 'idp state list' lists the addresses\n", stderr);
  free(v);
}

static int state_show(opts *o) {
  const char *cmd = "state show";
  if (o->nargs < 1) {
    fputs("idp state show: error: missing the address\nhint: idp state show ADDR [-env NAME] [DIR]\n", stderr);
    return IDP_EXIT_USAGE;
  }
  const char *dir = dir_arg(cmd, o, 1);
  if (!dir) return IDP_EXIT_USAGE;
  char *addr = full_address(o->args[0], o), *env = NULL;
  idp_backend *b = idp_backend_local(dir);
  idp_state *st = NULL;
  int rc = IDP_EXIT_ERROR;
  if (address_env(cmd, addr, o, &env) < 0) goto done;
  if (read_state(cmd, b, env, &st) < 0) goto done;
  idp_state_res *r = st ? idp_state_find(st, addr) : NULL;
  if (!r) {
    fprintf(stderr, "idp %s: error: no resource %s in %s%s\n", cmd, addr, env ? "the state of environment " : "the shared state",
            env ? env : "");
    if (st) suggest_address(st, addr);
    goto done;
  }
  printf("address:      %s\n", addr);
  if (env && idp_state_env_type(st)) printf("environment:  %s (on demand, type %s)\n", env, idp_state_env_type(st));
  else if (env) printf("environment:  %s\n", env);
  else printf("environment:  (shared: a top-level resource)\n");
  printf("driver:       %s\n", idp_state_res_driver(r));
  printf("status:       %s\n", idp_state_status_name(idp_state_res_status(r)));
  if (idp_state_res_ndeps(r) == 0) {
    printf("dependencies: (none)\n");
  } else {
    printf("dependencies:\n");
    for (size_t i = 0; i < idp_state_res_ndeps(r); i++) printf("  %s\n", idp_state_res_dep(r, i));
  }
  print_map(stdout, "inputs", idp_state_res_map(r, IDP_STATE_INPUTS));
  print_map(stdout, "outputs", idp_state_res_map(r, IDP_STATE_OUTPUTS));
  rc = IDP_EXIT_OK;
done:
  idp_state_free(st);
  idp_backend_free(b);
  free(addr);
  free(env);
  return rc;
}

/* --- rm and mv ------------------------------------------------------------------------------------ */

/* Locks and reads the states of envs[0..n) (NULL entries: the shared state). */
static int open_for_write(const char *cmd, idp_backend *b, const char *const *envs, size_t n, double timeout,
                          const idp_state_key *key, idp_state **sts) {
  idp_state_error err = {0};
  bool shared = false;
  const char **named = idp_xmalloc((n ? n : 1) * sizeof *named);
  size_t nn = 0;
  for (size_t i = 0; i < n; i++) {
    if (envs[i]) named[nn++] = envs[i];
    else shared = true;
  }
  char command[64];
  snprintf(command, sizeof command, "idp %s", cmd);
  int rc = idp_backend_lock_all(b, shared, named, nn, timeout, command, &err);
  free(named);
  if (rc < 0) {
    print_err(cmd, &err);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    if (idp_backend_read(b, envs[i], key, &sts[i], &err) < 0) {
      print_err(cmd, &err);
      return -1;
    }
  }
  return 0;
}

static int write_states(const char *cmd, idp_backend *b, idp_state **sts, size_t n) {
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    idp_state_error err = {0};
    if (sts[i] && idp_backend_write(b, sts[i], NULL, &err) < 0) {
      print_err(cmd, &err);
      rc = -1;
    }
  }
  return rc;
}

static int state_rm(opts *o) {
  const char *cmd = "state rm";
  if (o->nargs < 1) {
    fputs("idp state rm: error: missing the address\nhint: idp state rm ADDR... [-dir DIR]\n", stderr);
    return IDP_EXIT_USAGE;
  }
  int rc = IDP_EXIT_ERROR;
  size_t n = o->nargs, nstates = 0;
  char **addrs = idp_xcalloc(n, sizeof *addrs), **envs = idp_xcalloc(n, sizeof *envs);
  const char **snames = idp_xcalloc(n, sizeof *snames); /* distinct states, NULL = shared */
  idp_state **sts = idp_xcalloc(n, sizeof *sts);
  idp_backend *b = idp_backend_local(o->dir ? o->dir : ".");
  for (size_t i = 0; i < n; i++) {
    addrs[i] = full_address(o->args[i], o);
    if (address_env(cmd, addrs[i], o, &envs[i]) < 0) goto done;
    bool seen = false;
    for (size_t k = 0; k < nstates && !seen; k++)
      seen = (snames[k] == NULL) == (envs[i] == NULL) && (!envs[i] || strcmp(snames[k], envs[i]) == 0);
    if (!seen) snames[nstates++] = envs[i];
  }
  if (open_for_write(cmd, b, snames, nstates, o->lock_timeout, NULL, sts) < 0) goto done;
  /* All or nothing: every address must be there before anything is removed. */
  bool missing = false;
  for (size_t i = 0; i < n; i++) {
    idp_state *st = NULL;
    for (size_t k = 0; k < nstates; k++)
      if ((snames[k] == NULL) == (envs[i] == NULL) && (!envs[i] || strcmp(snames[k], envs[i]) == 0)) st = sts[k];
    if (!idp_state_find(st, addrs[i])) {
      fprintf(stderr, "idp %s: error: no resource %s in %s%s\n", cmd, addrs[i],
              envs[i] ? "the state of environment " : "the shared state", envs[i] ? envs[i] : "");
      suggest_address(st, addrs[i]);
      missing = true;
    }
  }
  if (missing) {
    fputs("nothing was removed\n", stderr);
    goto done;
  }
  size_t removed = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < nstates; k++)
      if ((snames[k] == NULL) == (envs[i] == NULL) && (!envs[i] || strcmp(snames[k], envs[i]) == 0) &&
          idp_state_remove(sts[k], addrs[i], NULL) == 0) {
        printf("Removed %s\n", addrs[i]);
        removed++;
      }
  }
  if (write_states(cmd, b, sts, nstates) < 0) goto done;
  printf("Removed %zu resource%s from the state; the real objects were not touched.\n", removed,
         removed == 1 ? "" : "s");
  rc = IDP_EXIT_OK;
done:
  for (size_t i = 0; i < n; i++) {
    free(addrs[i]);
    free(envs[i]);
    idp_state_free(sts[i]);
  }
  free(addrs);
  free(envs);
  free(snames);
  free(sts);
  idp_backend_free(b);
  return rc;
}

static int state_mv(opts *o) {
  const char *cmd = "state mv";
  if (o->nargs != 2) {
    fprintf(stderr, "idp state mv: error: %s\nhint: idp state mv FROM TO [-dir DIR]\n",
            o->nargs < 2 ? "want two addresses, FROM and TO" : "too many arguments");
    return IDP_EXIT_USAGE;
  }
  int rc = IDP_EXIT_ERROR;
  char *from = full_address(o->args[0], o), *to = full_address(o->args[1], o);
  char *from_env = NULL, *to_env = NULL;
  idp_backend *b = idp_backend_local(o->dir ? o->dir : ".");
  idp_state *st = NULL;
  idp_state_key key;
  bool have_key = false;
  idp_state_error err = {0};
  if (address_env(cmd, from, o, &from_env) < 0 || address_env(cmd, to, o, &to_env) < 0) goto done;
  if ((from_env == NULL) != (to_env == NULL) || (from_env && strcmp(from_env, to_env) != 0)) {
    fprintf(stderr, "idp %s: error: cannot move %s to %s: they are in different states (%s%s and %s%s)\n", cmd, from,
            to, from_env ? "environment " : "shared", from_env ? from_env : "", to_env ? "environment " : "shared",
            to_env ? to_env : "");
    goto done;
  }
  /* A resource's secrets are sealed for its address: moving it re-seals them, with the key. */
  int krc = idp_state_key_from_env(&key, &err);
  if (krc == 0) have_key = true;
  else if (krc != IDP_STATE_ENOKEY) {
    print_err(cmd, &err);
    goto done;
  }
  const char *sname[1] = {from_env};
  if (open_for_write(cmd, b, sname, 1, o->lock_timeout, have_key ? &key : NULL, &st) < 0) goto done;
  if (idp_state_move(st, from, to, &err) < 0) {
    print_err(cmd, &err);
    if (err.code == IDP_STATE_ENOTFOUND) suggest_address(st, from);
    goto done;
  }
  if (write_states(cmd, b, &st, 1) < 0) goto done;
  printf("Moved %s to %s\n", from, to);
  rc = IDP_EXIT_OK;
done:
  if (have_key) idp_state_key_wipe(&key);
  idp_state_free(st);
  idp_backend_free(b);
  free(from);
  free(to);
  free(from_env);
  free(to_env);
  return rc;
}

/* --- dispatch ------------------------------------------------------------------------------------- */

int idp_cmd_state(int argc, char **argv) {
  static const char *const subs[] = {"list", "show", "rm", "mv"};
  if (argc < 2) {
    fputs("idp state: error: missing the subcommand\nhint: idp state list|show|rm|mv (see 'idp help state')\n", stderr);
    return IDP_EXIT_USAGE;
  }
  const char *sub = argv[1];
  int which = -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(sub, subs[i]) == 0) which = i;
  if (which < 0) {
    fprintf(stderr, "idp state: error: unknown subcommand '%s'\n", sub);
    const char *best = idp_did_you_mean(sub, subs, 4);
    if (best) fprintf(stderr, "hint: did you mean 'idp state %s'?\n", best);
    else fputs("hint: idp state list|show|rm|mv (see 'idp help state')\n", stderr);
    return IDP_EXIT_USAGE;
  }
  char cmd[32];
  snprintf(cmd, sizeof cmd, "state %s", sub);
  opts o = {0};
  int rc = parse_opts(cmd, argc - 1, argv + 1, &o);
  if (rc == 0) {
    if ((which == 2 || which == 3) && o.envs.n > 1) {
      fprintf(stderr, "idp %s: error: -env may be given once\n", cmd);
      rc = IDP_EXIT_USAGE;
    } else if (which == 1 && o.envs.n > 1) {
      fprintf(stderr, "idp %s: error: -env may be given once\n", cmd);
      rc = IDP_EXIT_USAGE;
    } else {
      switch (which) {
      case 0: rc = state_list(&o); break;
      case 1: rc = state_show(&o); break;
      case 2: rc = state_rm(&o); break;
      default: rc = state_mv(&o); break;
      }
    }
  }
  free_opts(&o);
  return rc;
}
