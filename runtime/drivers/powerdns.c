/* powerdns.c - PowerDNS Authoritative through its HTTP API: zones and record sets (rrsets).
 * Schemas only; the API calls come with the runtime issue. */
#include "driver.h"

static const idp_drv_input integration_inputs[] = {
    {.name = "api", .type = IDP_DRV_TYPE(STRING), .required = true,
     .doc = "base URL of the API, e.g. http://127.0.0.1:8081"},
    {.name = "api_key", .type = IDP_DRV_TYPE(STRING), .required = true, .secret_ok = true,
     .doc = "the X-API-Key header's value"},
    {.name = "server_id", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("localhost"),
     .doc = "server in /api/v1/servers/SERVER_ID"},
    IDP_DRV_INPUT_MAX_PARALLEL,
};

static const idp_drv_input zone_inputs[] = {
    {.name = "server", .type = IDP_DRV_TYPE_INTEGRATION("powerdns"), .required = true, .force_new = true,
     .doc = "the PowerDNS integration that serves the zone"},
    {.name = "name", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "fully qualified zone name, ending in '.' (example.test.)"},
    {.name = "kind", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("Native"),
     .doc = "Native, Master or Slave"},
    {.name = "nameservers", .type = IDP_DRV_TYPE(LIST_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,
     .doc = "NS records at the apex; a change updates them in place (decision 13)"},
    {.name = "masters", .type = IDP_DRV_TYPE(LIST_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,
     .doc = "primary servers to transfer from (kind Slave)"},
    {.name = "soa_edit_api", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("DEFAULT"),
     .doc = "how the SOA serial changes on API edits"},
    {.name = "account", .type = IDP_DRV_TYPE(STRING), .doc = "free-form account name PowerDNS stores with the zone"},
};

static const idp_drv_output zone_outputs[] = {
    {.name = "id", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "the zone's id in the API"},
    {.name = "serial", .type = IDP_DRV_TYPE(NUMBER), .computed = true, .doc = "the SOA serial after apply"},
};

static const idp_drv_input record_inputs[] = {
    {.name = "server", .type = IDP_DRV_TYPE_INTEGRATION("powerdns"), .required = true, .force_new = true,
     .doc = "the PowerDNS integration that serves the zone"},
    {.name = "zone", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "the zone's name, ending in '.'"},
    {.name = "name", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "fully qualified record name inside the zone, ending in '.'"},
    {.name = "type", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "record type: A, AAAA, CNAME, TXT, MX, ..."},
    {.name = "ttl", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(300), .doc = "time to live, in seconds"},
    {.name = "records", .type = IDP_DRV_TYPE(LIST_STRING), .required = true,
     .doc = "the records' contents, replaced as a whole (rrset REPLACE)"},
};

static const idp_drv_output record_outputs[] = {
    {.name = "id", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "ZONE/NAME/TYPE: the rrset's identity"},
};

static const idp_drv_kind kinds[] = {
    {.name = "zone", .full = "powerdns.zone", .doc = "an authoritative zone",
     .io = {zone_inputs, IDP_DRV_N(zone_inputs), zone_outputs, IDP_DRV_N(zone_outputs)}},
    {.name = "record", .full = "powerdns.record", .doc = "a record set: every record of one name and type in a zone",
     .io = {record_inputs, IDP_DRV_N(record_inputs), record_outputs, IDP_DRV_N(record_outputs)}},
};

const idp_driver idp_driver_powerdns = {
    .name = "powerdns",
    .doc = "PowerDNS Authoritative, through its HTTP API",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), NULL, 0},
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
