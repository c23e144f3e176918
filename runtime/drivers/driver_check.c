/* driver_check.c - checks of resource and integration blocks against the driver schemas that need
 * no evaluation: known driver and kind, known attributes, required inputs set, outputs not set. */
#include "driver.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

enum { MAX_NAMES = 128 };

/* "'a'", "'a' and 'b'", "'a', 'b' and 'c'" into buf. */
static void quote_list(char *buf, size_t size, const char *const *names, size_t n) {
  size_t k = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && k < size; i++)
    k += (size_t)snprintf(buf + k, size - k, "%s'%s'", i == 0 ? "" : i + 1 == n ? " and " : ", ", names[i]);
}

unsigned idp_driver_check_attrs(idp_diags *d, idp_source *src, const idp_drv_subject *s, const idp_item *items,
                                idp_loc at) {
  const idp_drv_io *io = s->io;
  unsigned before = d->errors;
  const char *inputs[MAX_NAMES];
  size_t nin = io->ninputs < MAX_NAMES ? io->ninputs : MAX_NAMES;
  for (size_t i = 0; i < nin; i++) inputs[i] = io->inputs[i].name;

  for (const idp_item *it = items; it; it = it->next) {
    if (it->kind != IDP_ITEM_ATTR || idp_drv_find_input(io, it->name)) continue;
    if (s->resource && strcmp(it->name, "depends_on") == 0) continue;
    if (idp_drv_find_output(io, it->name)) {
      idp_diag_error(d, src, it->name_loc, "'%s' is an output of %s: it cannot be set", it->name, s->what);
      idp_diag_hint(d, "the driver sets it; read it as %s.%s", s->ref, it->name);
      continue;
    }
    idp_diag_error(d, src, it->name_loc, "unknown input '%s' of %s", it->name, s->what);
    const char *best = idp_did_you_mean(it->name, inputs, nin);
    if (best) idp_diag_hint(d, "did you mean '%s'?", best);
    else idp_diag_hint(d, "run 'idp describe %s' to list its inputs", s->topic);
  }

  const char *missing[MAX_NAMES];
  size_t nmissing = 0;
  for (size_t i = 0; i < io->ninputs; i++) {
    if (!io->inputs[i].required) continue;
    const idp_item *it = items;
    while (it && !(it->kind == IDP_ITEM_ATTR && strcmp(it->name, io->inputs[i].name) == 0)) it = it->next;
    if (!it && nmissing < MAX_NAMES) missing[nmissing++] = io->inputs[i].name;
  }
  if (nmissing) {
    char list[1024];
    quote_list(list, sizeof list, missing, nmissing);
    idp_diag_error(d, src, at, "%s \"%s\" is missing required input%s %s", s->what, s->name,
                   nmissing == 1 ? "" : "s", list);
    if (nmissing == 1) idp_diag_hint(d, "add %s = ... to the block; 'idp describe %s' says what it takes", missing[0], s->topic);
    else idp_diag_hint(d, "add them to the block; 'idp describe %s' says what each takes", s->topic);
  }
  return d->errors - before;
}

/* A reference to a whole resource: `resource.NAME` or `DRIVER.KIND.NAME`, no attribute. */
static bool whole_resource_ref(const idp_expr *e) {
  size_t n = 0;
  while (e->kind == IDP_E_GETATTR) {
    e = e->u.getattr.obj;
    n++;
  }
  if (e->kind != IDP_E_REF) return false;
  return strcmp(e->u.ref.name, "resource") == 0 ? n == 1 : n == 2;
}

/* depends_on = [resource.NAME, DRIVER.KIND.NAME, ...]: what the resource waits for that no
 * reference in its inputs shows. */
static unsigned check_depends_on(idp_diags *d, idp_source *src, const idp_item *b) {
  unsigned errors = 0;
  for (const idp_item *it = b->body.first; it; it = it->next) {
    if (it->kind != IDP_ITEM_ATTR || strcmp(it->name, "depends_on") != 0) continue;
    if (it->value->kind != IDP_E_LIST) {
      idp_diag_error(d, src, it->value->loc, "depends_on takes a list of resources");
      idp_diag_hint(d, "write depends_on = [resource.NAME] or [DRIVER.KIND.NAME]");
      errors++;
      continue;
    }
    for (const idp_expr *x = it->value->u.list.items; x; x = x->next) {
      if (whole_resource_ref(x)) continue;
      idp_diag_error(d, src, x->loc, "depends_on lists whole resources, not %s", idp_expr_kind_name(x->kind));
      idp_diag_hint(d, "write resource.NAME (a resource of the same provide) or DRIVER.KIND.NAME (a top-level one)");
      errors++;
    }
  }
  return errors;
}

/* lifecycle { prevent_destroy = BOOL  create_before_destroy = BOOL  ignore_changes = [INPUT, ...] | all } */
static unsigned check_lifecycle(idp_diags *d, idp_source *src, const idp_drv_kind *kind, const idp_item *b) {
  static const char *const names[] = {"prevent_destroy", "create_before_destroy", "ignore_changes"};
  unsigned errors = 0;
  const char *inputs[MAX_NAMES];
  size_t nin = kind->io.ninputs < MAX_NAMES ? kind->io.ninputs : MAX_NAMES;
  for (size_t i = 0; i < nin; i++) inputs[i] = kind->io.inputs[i].name;
  for (const idp_item *lc = b->body.first; lc; lc = lc->next) {
    if (lc->kind != IDP_ITEM_BLOCK || strcmp(lc->name, "lifecycle") != 0) continue;
    for (const idp_item *it = lc->body.first; it; it = it->next) {
      if (it->kind != IDP_ITEM_ATTR) continue;
      const idp_expr *e = it->value;
      if (strcmp(it->name, "ignore_changes") == 0) {
        if (e->kind == IDP_E_REF && strcmp(e->u.ref.name, "all") == 0) continue;
        if (e->kind != IDP_E_LIST) {
          idp_diag_error(d, src, e->loc, "ignore_changes takes a list of %s's inputs, or all", kind->full);
          idp_diag_hint(d, "write ignore_changes = [ttl, records] or ignore_changes = all");
          errors++;
          continue;
        }
        for (const idp_expr *x = e->u.list.items; x; x = x->next) {
          const char *name = NULL;
          if (x->kind == IDP_E_REF) name = x->u.ref.name;
          else if (x->kind == IDP_E_TEMPLATE && x->u.template.parts && !x->u.template.parts->next &&
                   x->u.template.parts->text)
            name = x->u.template.parts->text;
          if (name && idp_drv_find_input(&kind->io, name)) continue;
          errors++;
          if (!name) {
            idp_diag_error(d, src, x->loc, "ignore_changes lists input names, not %s", idp_expr_kind_name(x->kind));
            idp_diag_hint(d, "write the input's bare name, e.g. ignore_changes = [ttl]");
            continue;
          }
          idp_diag_error(d, src, x->loc, "%s has no input '%s' to ignore changes of", kind->full, name);
          const char *best = idp_did_you_mean(name, inputs, nin);
          if (best) idp_diag_hint(d, "did you mean '%s'?", best);
          else idp_diag_hint(d, "run 'idp describe %s' to list its inputs", kind->full);
        }
        continue;
      }
      if (strcmp(it->name, "prevent_destroy") == 0 || strcmp(it->name, "create_before_destroy") == 0) {
        if (e->kind == IDP_E_BOOL) continue;
        idp_diag_error(d, src, e->loc, "%s takes true or false, written as such", it->name);
        idp_diag_hint(d, "lifecycle settings are read before anything is evaluated: no references or calls");
        errors++;
        continue;
      }
      idp_diag_error(d, src, it->name_loc, "unknown lifecycle setting '%s'", it->name);
      const char *best = idp_did_you_mean(it->name, names, sizeof names / sizeof *names);
      if (best) idp_diag_hint(d, "did you mean '%s'?", best);
      else idp_diag_hint(d, "a lifecycle block takes prevent_destroy, create_before_destroy and ignore_changes");
      errors++;
    }
  }
  return errors;
}

static unsigned check_resource(idp_diags *d, idp_source *src, const char *parent, const idp_item *b) {
  const idp_label *kl = b->labels, *nl = kl->next;
  const idp_driver *drv;
  const idp_drv_kind *kind = idp_driver_find_kind(kl->name, &drv);
  if (!kind) {
    idp_diag_error(d, src, kl->loc, "unknown resource kind '%s'", kl->name);
    const char *best = idp_driver_suggest_kind(kl->name);
    if (best) {
      idp_diag_hint(d, "did you mean '%s'?", best);
    } else if (drv) {
      char list[512];
      size_t k = 0;
      list[0] = '\0';
      for (size_t i = 0; i < drv->nkinds && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", drv->kinds[i].full);
      idp_diag_hint(d, "driver '%s' has: %s", drv->name, list);
    } else {
      idp_diag_hint(d, "run 'idp describe' to list the drivers and their resource kinds");
    }
    return 1;
  }
  char ref[256];
  if (strcmp(parent, "provide") == 0) snprintf(ref, sizeof ref, "resource.%s", nl->name);
  else snprintf(ref, sizeof ref, "%s.%s", kind->full, nl->name);
  idp_drv_subject s = {&kind->io, kind->full, kind->full, nl->name, ref, true};
  return idp_driver_check_attrs(d, src, &s, b->body.first, kl->loc) + check_depends_on(d, src, b) +
         check_lifecycle(d, src, kind, b);
}

static unsigned check_integration(idp_diags *d, idp_source *src, const idp_item *b) {
  const idp_label *dl = b->labels, *nl = dl->next;
  const idp_driver *drv = idp_driver_find(dl->name);
  if (!drv || !drv->integration) {
    const char *names[MAX_NAMES];
    size_t n = 0, all;
    const idp_driver *const *v = idp_driver_all(&all);
    for (size_t i = 0; i < all && n < MAX_NAMES; i++)
      if (v[i]->integration) names[n++] = v[i]->name;
    if (drv) {
      idp_diag_error(d, src, dl->loc, "driver '%s' takes no integration block", dl->name);
      idp_diag_hint(d, "its resources need none: remove this block");
      return 1;
    }
    idp_diag_error(d, src, dl->loc, "unknown integration driver '%s'", dl->name);
    const char *best = idp_did_you_mean(dl->name, names, n);
    if (best) {
      idp_diag_hint(d, "did you mean '%s'?", best);
    } else {
      char list[512];
      size_t k = 0;
      list[0] = '\0';
      for (size_t i = 0; i < n && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", names[i]);
      idp_diag_hint(d, "expected one of: %s", list);
    }
    return 1;
  }
  char what[128], ref[256];
  snprintf(what, sizeof what, "integration %s", drv->name);
  snprintf(ref, sizeof ref, "integration.%s", nl->name);
  idp_drv_subject s = {&drv->io, what, drv->name, nl->name, ref, false};
  return idp_driver_check_attrs(d, src, &s, b->body.first, dl->loc);
}

unsigned idp_driver_check_block(idp_diags *d, idp_source *src, const char *parent, const idp_item *b) {
  if (b->kind != IDP_ITEM_BLOCK || b->nlabels != 2) return 0;
  if (strcmp(b->name, "resource") == 0 && strchr(b->labels->name, '.')) return check_resource(d, src, parent, b);
  if (strcmp(b->name, "integration") == 0) return check_integration(d, src, b);
  return 0;
}
