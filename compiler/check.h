/* check.h - checks after instantiation: each resource instance's evaluated inputs against its
 * driver's schema (runtime/drivers/driver.h).
 *
 * For every input set on an instance (defaults come from the schema and always fit):
 *   - type: a known value must fit the input's type (string, number, bool, list(string),
 *     list(number), map(string) element by element, any); unknown values pass (checked at apply);
 *     null passes unless the input is required;
 *   - integration(DRIVER): the value must be an integration handle, and each `integration.NAME`
 *     the attribute refers to must be an integration of DRIVER;
 *   - secrets (decision 8): a secret value, or a list or map holding one, reaching an input whose
 *     secret_ok is false is an error naming the chain: the references of the attribute and the
 *     addresses the secret derives from. Inputs that may take secrets take them whole or per key.
 * Each error is located at the attribute's name in the .idp source and names the instance's
 * address (hence its environment). No message shows a secret's text.
 * (Unknown attributes, outputs set as inputs and missing required inputs are reported before
 * instantiation, by idp_driver_check_attrs; a reference to an attribute a driver does not have is
 * reported by instance.c's resolver, with a did-you-mean.) */
#ifndef IDP_CHECK_H
#define IDP_CHECK_H

#include "diag.h"
#include "instance.h"

/* Checks one instance of g; returns the number of errors reported to d. */
unsigned idp_check_inst(const idp_graph *g, const idp_inst *in, idp_diags *d);

/* Checks every instance of g (complete: instantiated without error); returns the errors reported.
 * What `idp graph` runs, and `idp plan` is to run, before using the graph. */
unsigned idp_check_graph(const idp_graph *g, idp_diags *d);

#endif
