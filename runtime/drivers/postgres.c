/* postgres.c - PostgreSQL through libpq: roles and databases on a server.
 * Schemas only; the API calls come with the runtime issue. */
#include "driver.h"

static const idp_drv_input integration_inputs[] = {
    {.name = "dsn", .type = IDP_DRV_TYPE(STRING), .required = true, .secret_ok = true,
     .doc = "libpq connection string or URI of a superuser (or a role with CREATEROLE and CREATEDB)"},
    IDP_DRV_INPUT_MAX_PARALLEL,
};

/* Decision 8: derived from the (secret) DSN, but declared not secret. */
static const idp_drv_output integration_outputs[] = {
    {.name = "host", .type = IDP_DRV_TYPE(STRING), .doc = "the server's host, parsed from the DSN (not secret)"},
    {.name = "port", .type = IDP_DRV_TYPE(NUMBER), .doc = "the server's port, parsed from the DSN (not secret)"},
};

static const idp_drv_input role_inputs[] = {
    {.name = "server", .type = IDP_DRV_TYPE_INTEGRATION("postgres"), .required = true, .force_new = true,
     .doc = "the PostgreSQL integration (server) the role lives on"},
    {.name = "name", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "the role's name, quoted as an identifier"},
    {.name = "password", .type = IDP_DRV_TYPE(STRING), .secret_ok = true,
     .doc = "sent as a SCRAM hash (PQencryptPasswordConn), never in plaintext"},
    {.name = "login", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false), .doc = "LOGIN: the role may connect"},
    {.name = "superuser", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false), .doc = "SUPERUSER"},
    {.name = "create_database", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false), .doc = "CREATEDB"},
    {.name = "create_role", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false), .doc = "CREATEROLE"},
    {.name = "inherit", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(true), .doc = "INHERIT the privileges of its roles"},
    {.name = "connection_limit", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(-1),
     .doc = "CONNECTION LIMIT; -1 for none"},
    {.name = "valid_until", .type = IDP_DRV_TYPE(STRING), .doc = "VALID UNTIL: when the password expires (a timestamp)"},
    {.name = "roles", .type = IDP_DRV_TYPE(LIST_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,
     .doc = "roles it is a member of (GRANT role TO this)"},
};

static const idp_drv_output role_outputs[] = {
    {.name = "oid", .type = IDP_DRV_TYPE(NUMBER), .computed = true, .doc = "the role's oid"},
};

static const idp_drv_input database_inputs[] = {
    {.name = "server", .type = IDP_DRV_TYPE_INTEGRATION("postgres"), .required = true, .force_new = true,
     .doc = "the PostgreSQL integration (server) the database lives on"},
    {.name = "name", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "the database's name, quoted as an identifier"},
    {.name = "owner", .type = IDP_DRV_TYPE(STRING), .doc = "owning role (default: the integration's user)"},
    {.name = "encoding", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("UTF8"), .force_new = true,
     .doc = "character encoding"},
    {.name = "lc_collate", .type = IDP_DRV_TYPE(STRING), .force_new = true, .doc = "collation (default: the template's)"},
    {.name = "lc_ctype", .type = IDP_DRV_TYPE(STRING), .force_new = true, .doc = "character classification (default: the template's)"},
    {.name = "template", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("template0"), .force_new = true,
     .doc = "the database it is copied from"},
    {.name = "connection_limit", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(-1),
     .doc = "CONNECTION LIMIT; -1 for none"},
    {.name = "force_drop", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false),
     .doc = "drop even with live connections (they are terminated); else a drop refuses"},
};

static const idp_drv_output database_outputs[] = {
    {.name = "oid", .type = IDP_DRV_TYPE(NUMBER), .computed = true, .doc = "the database's oid"},
};

static const idp_drv_kind kinds[] = {
    {.name = "role", .full = "postgres.role", .doc = "a role (user), with a password stored as a SCRAM hash",
     .io = {role_inputs, IDP_DRV_N(role_inputs), role_outputs, IDP_DRV_N(role_outputs)}},
    {.name = "database", .full = "postgres.database", .doc = "a database and its owner",
     .io = {database_inputs, IDP_DRV_N(database_inputs), database_outputs, IDP_DRV_N(database_outputs)}},
};

const idp_driver idp_driver_postgres = {
    .name = "postgres",
    .doc = "a PostgreSQL server, through libpq",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), integration_outputs, IDP_DRV_N(integration_outputs)},
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
