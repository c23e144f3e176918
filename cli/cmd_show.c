/* cmd_show.c - `idp show PLANFILE [-format text|markdown|json] [-json] [-no-color]`: a saved plan
 * (runtime/planfile.h), as `idp plan` printed it, with where and when it was made and whether its
 * states have moved on since; or as Markdown for a merge request or a CI job summary
 * (runtime/plan_markdown.h); or as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/util.h"
#include "../runtime/backend.h"
#include "../runtime/plan_markdown.h"
#include "../runtime/planfile.h"
#include "../runtime/planner.h"
#include "cli.h"
#include "term.h"

typedef enum { SHOW_TEXT, SHOW_MARKDOWN, SHOW_JSON } show_format;

static const char *member(const json_t *j, const char *k) {
  const json_t *v = json_object_get(j, k);
  return json_is_string(v) ? json_string_value(v) : "?";
}

static int show(const char *path, show_format format) {
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
  if (format == SHOW_JSON) {
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
  if (format == SHOW_MARKDOWN) {
    idp_buf md = {0};
    idp_plan_md_info info = {.path = path, .saved = saved, .warning = src < 0 ? stale.msg : NULL};
    idp_plan_markdown(&md, p, &info);
    fwrite(idp_buf_cstr(&md), 1, md.len, stdout);
    idp_buf_free(&md);
  } else {
    printf("Saved plan %s: made %s by idp %s for %s (sources %s).\n", path, member(saved, "created"),
           member(saved, "idp_version"), member(saved, "dir"), member(saved, "source_hash"));
    if (src < 0) printf("Warning: %s\n", stale.msg);
    putchar('\n');
    idp_plan_print_color(p, stdout, idp_term_color(stdout));
  }
  idp_plan_free(p);
  rc = IDP_EXIT_OK;
out:
  json_decref(saved);
  return rc;
}

int idp_cmd_show(int argc, char **argv) {
  bool as_json = false;
  const char *format = NULL;
  const idp_flag flags[] = {
      {"format", IDP_FLAG_STRING, &format},
      {"json", IDP_FLAG_BOOL, &as_json},
      {"no-color", IDP_FLAG_BOOL, &idp_no_color},
  };
  size_t nflags = sizeof flags / sizeof *flags, nargs = 0;
  char **args = NULL;
  int rc = IDP_EXIT_USAGE;
  show_format f = SHOW_TEXT;
  if (idp_parse_flags("show", argc, argv, flags, nflags, &args, &nargs) < 0) goto out;
  if (format && strcmp(format, "text") == 0) {
    f = SHOW_TEXT;
  } else if (format && strcmp(format, "markdown") == 0) {
    f = SHOW_MARKDOWN;
  } else if (format && strcmp(format, "json") == 0) {
    f = SHOW_JSON;
  } else if (format) {
    fprintf(stderr, "idp show: error: unknown -format '%s'\nhint: write -format text, -format markdown or -format json\n",
            format);
    goto out;
  }
  if (as_json && format && f != SHOW_JSON) {
    fprintf(stderr, "idp show: error: -json and -format %s contradict each other\n", format);
    goto out;
  }
  if (as_json) f = SHOW_JSON;
  if (nargs > 1) {
    fprintf(stderr, "idp show: error: one plan file at a time ('%s', then '%s')\n", args[0], args[1]);
    goto out;
  }
  if (nargs == 0) {
    fprintf(stderr, "idp show: error: which plan? usage: idp show PLANFILE [-format text|markdown|json]\n"
                    "hint: 'idp plan -out FILE' saves one\n");
    goto out;
  }
  rc = show(args[0], f);
out:
  idp_flags_free(flags, nflags, args);
  return rc;
}
