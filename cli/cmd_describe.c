/* cmd_describe.c - `idp describe [DRIVER | DRIVER.KIND]`: the driver schemas as tables, and
 * `idp describe -markdown`, which prints docs/drivers.md from the same tables. */
#include <stdio.h>
#include <string.h>

#include "../compiler/util.h"
#include "../runtime/drivers/driver.h"
#include "cli.h"

enum { COLS_MAX = 7, CELL_MAX = 160 };

/* A table printed with columns padded to their widest cell; the last column is not padded. */
typedef struct table {
  size_t ncols;
  size_t width[COLS_MAX];
} table;

static void table_widen(table *t, const char *const *cells) {
  for (size_t c = 0; c < t->ncols; c++) {
    size_t n = strlen(cells[c]);
    if (n > t->width[c]) t->width[c] = n;
  }
}

static void table_row(FILE *out, const table *t, const char *const *cells) {
  fputs("  ", out);
  for (size_t c = 0; c + 1 < t->ncols; c++) fprintf(out, "%-*s  ", (int)t->width[c], cells[c]);
  fprintf(out, "%s\n", cells[t->ncols - 1]);
}

static const char *yes_no(bool b) { return b ? "yes" : "no"; }

/* Integration inputs have no REPLACES column: an integration is not an object that is replaced. */
static void input_cells(const idp_drv_input *in, bool replaces, char type[CELL_MAX], char def[CELL_MAX],
                        const char *cells[7]) {
  cells[0] = in->name;
  cells[1] = idp_drv_type_name(in->type, type, CELL_MAX);
  cells[2] = yes_no(in->required);
  cells[3] = in->def.kind == IDP_DRV_DEF_NONE ? "-" : idp_drv_default_text(&in->def, in->type, def, CELL_MAX);
  cells[4] = yes_no(in->secret_ok);
  cells[5] = replaces ? yes_no(in->force_new) : in->doc;
  cells[6] = in->doc;
}

static void print_inputs(FILE *out, const char *title, const idp_drv_io *io, bool replaces) {
  static const char *const head[] = {"NAME", "TYPE", "REQUIRED", "DEFAULT", "SECRET OK", "REPLACES", "DESCRIPTION"};
  static const char *const head_int[] = {"NAME", "TYPE", "REQUIRED", "DEFAULT", "SECRET OK", "DESCRIPTION"};
  table t = {.ncols = replaces ? 7 : 6};
  char type[CELL_MAX], def[CELL_MAX];
  const char *cells[7];
  table_widen(&t, replaces ? head : head_int);
  for (size_t i = 0; i < io->ninputs; i++) {
    input_cells(&io->inputs[i], replaces, type, def, cells);
    table_widen(&t, cells);
  }
  fprintf(out, "\n%s:\n", title);
  table_row(out, &t, replaces ? head : head_int);
  for (size_t i = 0; i < io->ninputs; i++) {
    input_cells(&io->inputs[i], replaces, type, def, cells);
    table_row(out, &t, cells);
  }
}

static void output_cells(const idp_drv_output *o, char type[CELL_MAX], const char *cells[5]) {
  cells[0] = o->name;
  cells[1] = idp_drv_type_name(o->type, type, CELL_MAX);
  cells[2] = yes_no(o->computed);
  cells[3] = yes_no(o->secret);
  cells[4] = o->doc;
}

static void print_outputs(FILE *out, const char *title, const idp_drv_io *io) {
  static const char *const head[] = {"NAME", "TYPE", "COMPUTED", "SECRET", "DESCRIPTION"};
  table t = {.ncols = 5};
  char type[CELL_MAX];
  const char *cells[5];
  table_widen(&t, head);
  for (size_t i = 0; i < io->noutputs; i++) {
    output_cells(&io->outputs[i], type, cells);
    table_widen(&t, cells);
  }
  fprintf(out, "\n%s:\n", title);
  if (io->noutputs == 0) {
    fputs("  none\n", out);
    return;
  }
  table_row(out, &t, head);
  for (size_t i = 0; i < io->noutputs; i++) {
    output_cells(&io->outputs[i], type, cells);
    table_row(out, &t, cells);
  }
}

static void describe_kind(FILE *out, const idp_drv_kind *k) {
  fprintf(out, "%s: %s\n", k->full, k->doc);
  fprintf(out, "  resource %s \"NAME\" { ... }\n", k->full);
  print_inputs(out, "Inputs", &k->io, true);
  print_outputs(out, "Outputs", &k->io);
  fprintf(out, "\nEvery input can be read as well: %s.NAME.ATTR at the top level, resource.NAME.ATTR in\n"
               "a provide. REPLACES: a change replaces the object instead of updating it in place.\n",
          k->full);
}

static void describe_driver(FILE *out, const idp_driver *d) {
  fprintf(out, "%s: %s\n", d->name, d->doc);
  if (d->integration) {
    fprintf(out, "  integration %s \"NAME\" { ... }\n", d->name);
    print_inputs(out, "Integration inputs", &d->io, false);
    print_outputs(out, "Integration outputs (read as integration.NAME.ATTR)", &d->io);
  } else {
    fputs("\nNo integration block: its resources need none.\n", out);
  }
  fputs("\nResource kinds:\n", out);
  if (d->nkinds == 0) fputs("  none\n", out);
  size_t w = 0;
  for (size_t i = 0; i < d->nkinds; i++)
    if (strlen(d->kinds[i].full) > w) w = strlen(d->kinds[i].full);
  for (size_t i = 0; i < d->nkinds; i++) fprintf(out, "  %-*s  %s\n", (int)w, d->kinds[i].full, d->kinds[i].doc);
}

static void describe_all(FILE *out) {
  size_t n;
  const idp_driver *const *all = idp_driver_all(&n);
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < all[i]->nkinds; k++)
      if (strlen(all[i]->kinds[k].full) + 2 > w) w = strlen(all[i]->kinds[k].full) + 2;
  fputs("Drivers and their resource kinds ('idp describe NAME' shows one in full):\n\n", out);
  for (size_t i = 0; i < n; i++) {
    const idp_driver *d = all[i];
    fprintf(out, "  %-*s  %s%s\n", (int)w, d->name, d->integration ? "" : "(no integration) ", d->doc);
    for (size_t k = 0; k < d->nkinds; k++)
      fprintf(out, "    %-*s  %s\n", (int)w - 2, d->kinds[k].full, d->kinds[k].doc);
  }
}

static void markdown(FILE *out) {
  fputs("# Drivers\n"
        "\n"
        "<!-- Generated by `idp describe -markdown > docs/drivers.md`: do not edit by hand.\n"
        "     tests/cli/run.sh fails when this file and the driver tables differ. -->\n"
        "\n"
        "A driver is how idp talks to one kind of system. `integration DRIVER \"name\" { ... }` says how to\n"
        "reach one such system; `resource DRIVER.KIND \"name\" { ... }` is an object idp manages there.\n"
        "The tables below are what `idp describe` prints. `idp validate` checks attribute names against\n"
        "them (unknown inputs, required inputs not set, outputs set as if they were inputs); types and\n"
        "secrets are checked when the spec is evaluated.\n"
        "\n"
        "- TYPE: `string`, `number`, `bool`, `list(string)`, `list(number)`, `map(string)`, `any`, or\n"
        "  `integration(DRIVER)`, a reference to an integration of that driver (`integration.NAME`).\n"
        "- SECRET OK: whether the input may take a secret value; a secret reaching an input that may not\n"
        "  is an error (decision 8). An output marked SECRET is redacted everywhere and kept encrypted.\n"
        "- REPLACES: changing the input replaces the object instead of updating it in place.\n"
        "- COMPUTED: the output is known only after apply (`(known after apply)` in a plan).\n"
        "- Every integration takes `max_parallel`: at most that many calls to it at once during apply.\n"
        "\n"
        "The API calls behind the tables (read, create, update, delete) come with the runtime.\n"
        "\n"
        "```text\n",
        out);
  describe_all(out);
  fputs("```\n", out);
  size_t n;
  const idp_driver *const *all = idp_driver_all(&n);
  for (size_t i = 0; i < n; i++) {
    fprintf(out, "\n## %s\n\n```text\n", all[i]->name);
    describe_driver(out, all[i]);
    fputs("```\n", out);
    for (size_t k = 0; k < all[i]->nkinds; k++) {
      fprintf(out, "\n### %s\n\n```text\n", all[i]->kinds[k].full);
      describe_kind(out, &all[i]->kinds[k]);
      fputs("```\n", out);
    }
  }
}

int idp_cmd_describe(int argc, char **argv) {
  static const char *const flags[] = {"help", "markdown"}; /* -help is handled by main */
  const char *name = NULL;
  bool md = false, paths_only = false;
  for (int i = 1; i < argc; i++) {
    const char *f = paths_only ? NULL : idp_flag_name(argv[i]);
    if (f && strcmp(argv[i], "--") == 0) {
      paths_only = true;
    } else if (f && strcmp(f, "markdown") == 0) {
      md = true;
    } else if (f) {
      idp_unknown_flag("describe", argv[i], flags, 2);
      return IDP_EXIT_USAGE;
    } else if (name) {
      fprintf(stderr, "idp describe: error: one name at a time, found '%s' after '%s'\n", argv[i], name);
      fputs("hint: usage: idp describe [DRIVER | DRIVER.KIND]\n", stderr);
      return IDP_EXIT_USAGE;
    } else {
      name = argv[i];
    }
  }
  if (md && name) {
    fputs("idp describe: error: -markdown prints every driver and takes no name\n", stderr);
    return IDP_EXIT_USAGE;
  }
  if (md) {
    markdown(stdout);
    return IDP_EXIT_OK;
  }
  if (!name) {
    describe_all(stdout);
    return IDP_EXIT_OK;
  }
  const idp_driver *d;
  const idp_drv_kind *k = idp_driver_find_kind(name, &d);
  if (k) {
    describe_kind(stdout, k);
    return IDP_EXIT_OK;
  }
  if (!strchr(name, '.') && (d = idp_driver_find(name))) {
    describe_driver(stdout, d);
    return IDP_EXIT_OK;
  }
  fprintf(stderr, "idp describe: error: no driver or resource kind '%s'\n", name);
  const char *names[128];
  size_t n = idp_driver_names(names, 128);
  const char *best = idp_did_you_mean(name, names, n < 128 ? n : 128);
  if (best) fprintf(stderr, "hint: did you mean '%s'?\n", best);
  else if (d) fprintf(stderr, "hint: run 'idp describe %s' for its resource kinds\n", d->name);
  else fputs("hint: run 'idp describe' for the list of drivers and kinds\n", stderr);
  return IDP_EXIT_ERROR;
}
