/* http_request.c - the generic REST driver (`http`): a resource made of method + URL + body
 * templates for create, read, update and delete, with outputs picked from the JSON responses, so
 * teams can reach an API idp has no driver for. (Not http.c: that base name is left to the
 * runtime's libcurl layer; object files are named by base name.)
 * Schemas only; the calls come with the runtime issue. */
#include "driver.h"

static const idp_drv_input integration_inputs[] = {
    {.name = "base_url", .type = IDP_DRV_TYPE(STRING), .doc = "prefix of the resources' relative URLs"},
    {.name = "headers", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE, .secret_ok = true,
     .doc = "headers sent with every request (e.g. Authorization)"},
    {.name = "ca_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM file of the CA to trust"},
    {.name = "insecure_skip_tls_verify", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false),
     .doc = "do not verify the server's certificate (tests only)"},
    {.name = "timeout", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(30), .doc = "seconds per request"},
    IDP_DRV_INPUT_MAX_PARALLEL,
};

/* In every URL and body, {id} stands for the id taken from the create response at id_path. */
static const idp_drv_input request_inputs[] = {
    {.name = "server", .type = IDP_DRV_TYPE_INTEGRATION("http"), .force_new = true,
     .doc = "an http integration: base URL, shared headers, TLS options (optional)"},
    {.name = "create_url", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "URL of the create call, absolute or relative to the integration's base_url"},
    {.name = "create_method", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("POST"), .force_new = true,
     .doc = "method of the create call"},
    {.name = "create_body", .type = IDP_DRV_TYPE(ANY), .secret_ok = true, .force_new = true,
     .doc = "body of the create call: a string, or a value sent as JSON"},
    {.name = "read_url", .type = IDP_DRV_TYPE(STRING), .doc = "URL of the read call (refresh); none: never read"},
    {.name = "read_method", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("GET"), .doc = "method of the read call"},
    {.name = "update_url", .type = IDP_DRV_TYPE(STRING),
     .doc = "URL of the update call; none: a change replaces the object"},
    {.name = "update_method", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("PUT"), .doc = "method of the update call"},
    {.name = "update_body", .type = IDP_DRV_TYPE(ANY), .secret_ok = true, .doc = "body of the update call"},
    {.name = "delete_url", .type = IDP_DRV_TYPE(STRING), .doc = "URL of the delete call; none: deleting only forgets it"},
    {.name = "delete_method", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("DELETE"), .doc = "method of the delete call"},
    {.name = "headers", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE, .secret_ok = true,
     .doc = "headers of every call, over the integration's"},
    {.name = "id_path", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("id"),
     .doc = "JSON path of the id in the create response (a.b[0].c)"},
    {.name = "output_paths", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,
     .doc = "NAME = JSON path: each becomes outputs.NAME, from the latest response"},
};

static const idp_drv_output request_outputs[] = {
    {.name = "id", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "the id found at id_path"},
    {.name = "outputs", .type = IDP_DRV_TYPE(ANY), .computed = true, .doc = "a map: NAME = the value at output_paths.NAME"},
    {.name = "status", .type = IDP_DRV_TYPE(NUMBER), .computed = true, .doc = "HTTP status of the latest call"},
};

static const idp_drv_kind kinds[] = {
    {.name = "request", .full = "http.request", .doc = "any REST object, through method + URL + body templates",
     .io = {request_inputs, IDP_DRV_N(request_inputs), request_outputs, IDP_DRV_N(request_outputs)}},
};

const idp_driver idp_driver_http = {
    .name = "http",
    .doc = "any HTTP/REST API idp has no driver for",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), NULL, 0},
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
