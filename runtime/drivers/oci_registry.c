/* oci_registry.c - an OCI (Docker distribution v2) registry. Only the integration: images are
 * resolved by the function registry_image(integration.X, REPOSITORY, TAG_PATTERN) at plan time
 * (decision 9), not by a resource; runtime/registry.c makes those calls with these inputs. */
#include "driver.h"

static const idp_drv_input integration_inputs[] = {
    {.name = "url", .type = IDP_DRV_TYPE(STRING), .required = true,
     .doc = "the registry's base URL, e.g. https://registry.example.test"},
    {.name = "username", .type = IDP_DRV_TYPE(STRING), .doc = "user for basic or token authentication"},
    {.name = "password", .type = IDP_DRV_TYPE(STRING), .secret_ok = true, .doc = "password or access token of username"},
    {.name = "token", .type = IDP_DRV_TYPE(STRING), .secret_ok = true, .doc = "bearer token, instead of username and password"},
    {.name = "ca_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM file of the CA that signed the registry's certificate"},
    {.name = "cert_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM client certificate (mutual TLS)"},
    {.name = "key_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM private key of cert_file"},
    {.name = "insecure_skip_tls_verify", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false),
     .doc = "do not verify the registry's certificate (tests only)"},
    IDP_DRV_INPUT_MAX_PARALLEL,
};

static const idp_drv_output integration_outputs[] = {
    {.name = "host", .type = IDP_DRV_TYPE(STRING), .doc = "HOST[:PORT] of url, as image references write it"},
};

const idp_driver idp_driver_oci_registry = {
    .name = "oci_registry",
    .doc = "an OCI image registry; images resolve through registry_image() (no resource kinds)",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), integration_outputs, IDP_DRV_N(integration_outputs)},
};
