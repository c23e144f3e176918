/* cmd_show.c - `idp show PLANFILE [-json]`: a saved plan (runtime/planfile.h), as `idp plan`
 * printed it, with where and when it was made and whether its states have moved on since. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/util.h"
#include "../runtime/backend.h"
#include "../runtime/planfile.h"
#include "../runtime/planner.h"
#include "cli.h"

static const char *member(const json_t *j, const char *k) {
  const json_t *v = json_object_get(j, k);
  return json_is_string(v) ? json_string_value(v) : "?";
}

static int show(const char *path, bool as_json) {
  json_t *saved = NULL;
  idp_state_error err = {0};
  if (idp_planfile_read(path, &saved, &err) < 0) {
    fprintf(stderr, "idp show: error: %s\n", err.msg);
    return IDP_EXIT_ERROR;
  }
  int rc = IDP_EXIT_ERROR;
  /* Stale: a state moved on since (apply refuses such a plan). Reading needs no lock. */
  idp_backend *b = idp_backend_local(member(saved, "dir"));
  idp_state_error stale = {0};
  int src = idp_planfile_check_states(saved, b, &stale);
  idp_backend_free(b);
  if (as_json) {
    json_t *pub = idp_planfile_public(saved);
    json_object_set_new(pub, "stale", json_boolean(src == IDP_STATE_ESTALE));
    char *text = json_dumps(pub, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(pub);
    if (text) {
      puts(text);
      free(text);
      rc = IDP_EXIT_OK;
    }
    goto out;
  }
  idp_plan *p = idp_plan_from_json(saved, &err);
  if (!p) {
    fprintf(stderr, "idp show: error: %s: %s\n", path, err.msg);
    goto out;
  }
  printf("Saved plan %s: made %s by idp %s for %s (sources %s).\n", path, member(saved, "created"),
         member(saved, "idp_version"), member(saved, "dir"), member(saved, "source_hash"));
  if (src < 0) printf("Warning: %s\n", stale.msg);
  putchar('\n');
  idp_plan_print(p, stdout);
  idp_plan_free(p);
  rc = IDP_EXIT_OK;
out:
  json_decref(saved);
  return rc;
}

int idp_cmd_show(int argc, char **argv) {
  static const char *const flags[] = {"json", "help"};
  const char *path = NULL;
  bool as_json = false, paths_only = false;
  for (int i = 1; i < argc; i++) {
    const char *f = paths_only ? NULL : idp_flag_name(argv[i]);
    if (f && strcmp(argv[i], "--") == 0) {
      paths_only = true;
      continue;
    }
    if (f && strcmp(f, "json") == 0) {
      as_json = true;
      continue;
    }
    if (f) {
      idp_unknown_flag("show", argv[i], flags, sizeof flags / sizeof *flags);
      return IDP_EXIT_USAGE;
    }
    if (path) {
      fprintf(stderr, "idp show: error: one plan file at a time ('%s', then '%s')\n", path, argv[i]);
      return IDP_EXIT_USAGE;
    }
    path = argv[i];
  }
  if (!path) {
    fprintf(stderr, "idp show: error: which plan? usage: idp show PLANFILE [-json]\n"
                    "hint: 'idp plan -out FILE' saves one\n");
    return IDP_EXIT_USAGE;
  }
  return show(path, as_json);
}
