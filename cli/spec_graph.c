/* spec_graph.c - what `idp graph` and `idp plan` share: a spec read and checked as `idp validate`
 * reads it, then parsed in full, instantiated for the selected environments and checked against
 * the driver schemas. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../compiler/check.h"
#include "../compiler/util.h"
#include "../grammar/parse.h"
#include "../runtime/drivers/driver.h"
#include "../runtime/registry.h"
#include "cli.h"

static void print_errors(idp_diags *d, const char *tail) {
  idp_diags_print(d, stderr);
  if (d->errors) fprintf(stderr, "%u error%s%s\n", d->errors, d->errors == 1 ? "" : "s", tail);
}

struct idp_value *idp_spec_configure(void *payload, idp_arena *a, const char *driver, const struct idp_value *inputs) {
  (void)payload;
  return idp_driver_configure(a, driver, inputs);
}

int idp_spec_graph_build(const char *cmd, char **args, size_t nargs, const idp_env_sel *sel, size_t nsel,
                         bool images, const char *const *vars, size_t nvars, idp_spec_graph *R) {
  memset(R, 0, sizeof *R);
  idp_arena_init(&R->arena);
  int rc = idp_load_spec(cmd, args, nargs, &R->L);
  if (R->L.npaths == 0) return IDP_EXIT_ERROR;
  if (R->L.syntax_errors == 0) idp_spec_check(R->L.spec, &R->L.diags);
  if (R->L.diags.errors || rc != IDP_EXIT_OK) {
    print_errors(&R->L.diags, ": run 'idp validate' to check the spec");
    return IDP_EXIT_ERROR;
  }
  /* The checks passed; instantiation needs the full tree of every file. */
  R->srcs = idp_xcalloc(R->L.npaths, sizeof *R->srcs);
  R->files = idp_xcalloc(R->L.npaths, sizeof *R->files);
  for (size_t i = 0; i < R->L.npaths; i++) {
    R->srcs[i] = idp_source_load(R->L.paths[i]);
    if (!R->srcs[i]) {
      fprintf(stderr, "idp %s: error: %s: %s\n", cmd, R->L.paths[i], strerror(errno));
      return IDP_EXIT_ERROR;
    }
    idp_parse(R->srcs[i], &R->arena, &R->L.diags, &R->files[R->nfiles++]);
  }
  struct stat sb;
  if (nargs == 1 && stat(args[0], &sb) == 0 && S_ISDIR(sb.st_mode)) R->spec_dir = args[0];
  idp_inst_opts o = {.spec_dir = R->spec_dir, .configure = idp_spec_configure, .vars = vars, .nvars = nvars};
  if (images) {
    R->registry = idp_registry_new(R->spec_dir);
    o.image = idp_registry_image;
    o.image_payload = R->registry;
  }
  R->opts = o;
  R->sel = sel;
  R->nsel = nsel;
  if (!R->L.diags.errors) R->g = idp_instantiate_with(R->files, R->nfiles, sel, nsel, &o, &R->L.diags);
  /* The inputs against the driver schemas: types, integrations, secrets (decision 8). */
  if (R->g && !R->L.diags.errors) idp_check_graph(R->g, &R->L.diags);
  if (R->L.diags.errors) {
    print_errors(&R->L.diags, "");
    return IDP_EXIT_ERROR;
  }
  return IDP_EXIT_OK;
}

idp_graph *idp_spec_graph_again(idp_spec_graph *R,
                                const char *(*pin)(void *, const char *, const char *, const struct idp_value *),
                                void *payload) {
  idp_inst_opts o = R->opts;
  o.image_pin = pin;
  o.pin_payload = payload;
  idp_diags d;
  idp_diags_init(&d);
  idp_graph *g = idp_instantiate_with(R->files, R->nfiles, R->sel, R->nsel, &o, &d);
  if (!d.errors) idp_check_graph(g, &d);
  if (d.errors) {
    print_errors(&d, "");
    idp_graph_free(g);
    g = NULL;
  }
  idp_diags_free(&d);
  return g;
}

void idp_spec_graph_free(idp_spec_graph *R) {
  idp_graph_free(R->g);
  idp_registry_free(R->registry); /* after the graph: it holds the registry's answers */
  for (size_t i = 0; i < R->L.npaths && R->srcs; i++) idp_source_free(R->srcs[i]);
  free(R->srcs);
  free(R->files);
  idp_arena_free(&R->arena);
  idp_unload_spec(&R->L);
}
