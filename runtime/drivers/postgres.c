/* postgres.c - PostgreSQL through libpq: roles and databases on a server.
 *
 * Every call opens one connection from the integration's DSN and closes it before returning.
 * Identifiers are always quoted (PQescapeIdentifier) and literals escaped or passed as parameters,
 * so a database `shop_pr-7` works (decision 1). Role passwords reach the server only as SCRAM
 * hashes (PQencryptPasswordConn, decision 8). The DSN and passwords never reach ctx->err. */
#include "driver.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "arena.h"
#include "util.h"
#include "value.h"

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

/* --- values in and out ------------------------------------------------------------------------ */

static idp_value *get(const idp_value *m, const char *key) {
  return m && m->kind == IDP_V_MAP ? idp_map_get(m, key, strlen(key)) : NULL;
}

static const char *get_str(const idp_value *m, const char *key) {
  const idp_value *v = get(m, key);
  return v && v->kind == IDP_V_STRING ? v->u.string.s : NULL;
}

static bool get_bool(const idp_value *m, const char *key, bool def) {
  const idp_value *v = get(m, key);
  return v && v->kind == IDP_V_BOOL ? v->u.boolean : def;
}

/* Clamped to int's range, so the cast is defined; the server rejects what it does not take. */
static long get_int(const idp_value *m, const char *key, long def) {
  const idp_value *v = get(m, key);
  if (!v || v->kind != IDP_V_NUMBER) return def;
  double n = v->u.number;
  return n < -2147483648.0 ? -2147483648L : n > 2147483647.0 ? 2147483647L : (long)n;
}

/* list (of strings) holds s. */
static bool list_has(const idp_value *list, const char *s) {
  if (!list || list->kind != IDP_V_LIST) return false;
  for (size_t i = 0; i < list->u.list.n; i++) {
    const idp_value *v = list->u.list.items[i];
    if (v->kind == IDP_V_STRING && strcmp(v->u.string.s, s) == 0) return true;
  }
  return false;
}

/* Two lists of distinct strings hold the same ones, in any order. */
static bool same_set(const idp_value *a, const idp_value *b) {
  if (a->kind != IDP_V_LIST || b->kind != IDP_V_LIST || a->u.list.n != b->u.list.n) return false;
  for (size_t i = 0; i < a->u.list.n; i++)
    if (a->u.list.items[i]->kind != IDP_V_STRING || !list_has(b, a->u.list.items[i]->u.string.s)) return false;
  return true;
}

/* {"oid": the oid in cur}: the outputs of both kinds. */
static idp_value *oid_outputs(idp_drv_ctx *ctx, const idp_value *cur) {
  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  idp_value *oid = get(cur, "oid");
  idp_map_builder_add(&mb, "oid", 3, oid ? oid : idp_value_null(ctx->arena));
  return idp_map_builder_build(&mb, NULL);
}

/* What read returns: {"inputs", "outputs"}, the inputs being prior's with the server's view (cur)
 * laid over them. A null in cur drops the key; what the server cannot tell (server, password,
 * template, force_drop) keeps prior's value; a list holding the same names as prior's keeps
 * prior's order. */
static idp_value *read_result(idp_drv_ctx *ctx, const idp_value *prior_in, const idp_value *cur) {
  idp_map_builder in, top;
  idp_map_builder_init(&in, ctx->arena);
  if (prior_in && prior_in->kind == IDP_V_MAP)
    for (size_t i = 0; i < prior_in->u.map.n; i++)
      if (!idp_map_get(cur, prior_in->u.map.keys[i], prior_in->u.map.klen[i]))
        idp_map_builder_add(&in, prior_in->u.map.keys[i], prior_in->u.map.klen[i], prior_in->u.map.vals[i]);
  for (size_t i = 0; i < cur->u.map.n; i++) {
    const char *key = cur->u.map.keys[i];
    idp_value *v = cur->u.map.vals[i], *was = get(prior_in, key);
    if (strcmp(key, "oid") == 0 || v->kind == IDP_V_NULL) continue;
    idp_map_builder_add(&in, key, cur->u.map.klen[i], was && same_set(v, was) ? was : v);
  }
  idp_map_builder_init(&top, ctx->arena);
  idp_map_builder_add(&top, "inputs", 6, idp_map_builder_build(&in, NULL));
  idp_map_builder_add(&top, "outputs", 7, oid_outputs(ctx, cur));
  return idp_map_builder_build(&top, NULL);
}

/* --- libpq ------------------------------------------------------------------------------------ */

/* Fails with "WHAT: MESSAGE", MESSAGE (libpq's or the server's, often several lines) on one line. */
static int pg_fail(idp_drv_ctx *ctx, const char *what, const char *msg) {
  idp_drv_fail(ctx, "%s: %s", what, msg && *msg ? msg : "unknown error");
  char *w = ctx->err;
  for (const char *r = ctx->err; *r; r++) {
    char c = *r == '\n' || *r == '\r' || *r == '\t' ? ' ' : *r;
    if (c == ' ' && (w == ctx->err || w[-1] == ' ')) continue;
    *w++ = c;
  }
  while (w > ctx->err && w[-1] == ' ') w--;
  *w = '\0';
  return -1;
}

/* The DSN's options (PQconninfoFree them), or NULL with ctx->err set; not libpq's message, which
 * quotes the DSN. */
static PQconninfoOption *dsn_parse(idp_drv_ctx *ctx, const char *dsn) {
  char *err = NULL;
  PQconninfoOption *opts = dsn ? PQconninfoParse(dsn, &err) : NULL;
  PQfreemem(err);
  if (!opts) idp_drv_fail(ctx, "the server's dsn is missing or not a libpq connection string or URI");
  return opts;
}

/* The value of a DSN option, or NULL when it is not set. */
static const char *dsn_opt(const PQconninfoOption *opts, const char *key) {
  for (; opts->keyword; opts++)
    if (strcmp(opts->keyword, key) == 0) return opts->val && *opts->val ? opts->val : NULL;
  return NULL;
}

static void pg_quiet(void *arg, const char *msg) { (void)arg, (void)msg; } /* no NOTICE on stderr */

/* One connection to the server of inputs' `server` (the integration's inputs), or NULL with
 * ctx->err set. The DSN's own connect_timeout and application_name win over ours. */
static PGconn *pg_connect(idp_drv_ctx *ctx, const idp_value *inputs) {
  const char *dsn = get_str(get(inputs, "server"), "dsn");
  PQconninfoOption *opts = dsn_parse(ctx, dsn);
  if (!opts) return NULL;
  const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
  const char *const vals[] = {"10", "idp", dsn, NULL};
  PGconn *conn = PQconnectdbParams(keys, vals, 1);
  if (PQstatus(conn) != CONNECTION_OK) {
    pg_fail(ctx, "connecting to the server", conn ? PQerrorMessage(conn) : "out of memory");
    const char *pw = dsn_opt(opts, "password"); /* libpq does not echo it: this makes sure */
    if (pw && strstr(ctx->err, pw)) idp_drv_fail(ctx, "connecting to the server failed");
    PQfinish(conn);
    conn = NULL;
  } else {
    PQsetNoticeProcessor(conn, pg_quiet, NULL);
  }
  PQconninfoFree(opts);
  return conn;
}

/* Runs one statement with text parameters (n of them); returns its result (PQclear it), or NULL
 * with ctx->err "WHAT: the server's message". WHAT names the action, never the statement, which
 * may hold a password hash. */
static PGresult *pg_run(idp_drv_ctx *ctx, PGconn *conn, const char *what, const char *sql, int n,
                        const char *const *params) {
  PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
  if (msg && detail) msg = idp_arena_sprintf(ctx->arena, "%s (%s)", msg, detail);
  pg_fail(ctx, what, msg ? msg : PQerrorMessage(conn));
  PQclear(r);
  return NULL;
}

/* pg_run for a statement without parameters or rows: 0 or -1. */
static int pg_do(idp_drv_ctx *ctx, PGconn *conn, const char *what, const char *sql) {
  PGresult *r = pg_run(ctx, conn, what, sql, 0, NULL);
  PQclear(r);
  return r ? 0 : -1;
}

/* Runs a query whose one column is a json_build_object; *out gets the first row's as a value, or
 * NULL when there is no row (the object does not exist). */
static int pg_fetch(idp_drv_ctx *ctx, PGconn *conn, const char *what, const char *sql, int n,
                    const char *const *params, idp_value **out) {
  *out = NULL;
  PGresult *r = pg_run(ctx, conn, what, sql, n, params);
  if (!r) return -1;
  int rc = 0;
  if (PQntuples(r) > 0) {
    json_t *j = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    *out = j ? idp_value_from_json(ctx->arena, j) : NULL;
    json_decref(j);
    if (!*out || (*out)->kind != IDP_V_MAP) rc = idp_drv_fail(ctx, "%s: unreadable answer from the server", what);
  }
  PQclear(r);
  return rc;
}

/* s quoted as an identifier ("shop_pr-7") or a literal ('...'), in the arena; NULL with ctx->err. */
static const char *quote(idp_drv_ctx *ctx, PGconn *conn, const char *s, bool ident) {
  char *q = ident ? PQescapeIdentifier(conn, s, strlen(s)) : PQescapeLiteral(conn, s, strlen(s));
  if (!q) {
    pg_fail(ctx, "quoting a name or value", PQerrorMessage(conn));
    return NULL;
  }
  const char *copy = idp_arena_strndup(ctx->arena, q, strlen(q));
  PQfreemem(q);
  return copy;
}

/* The resource's name (inputs' `name`) quoted as an identifier, or NULL with ctx->err set. */
static const char *quoted_name(idp_drv_ctx *ctx, PGconn *conn, const idp_value *inputs) {
  const char *name = get_str(inputs, "name");
  if (!name) idp_drv_fail(ctx, "%s: no name", ctx->address ? ctx->address : "postgres");
  return name ? quote(ctx, conn, name, true) : NULL;
}

/* --- the integration -------------------------------------------------------------------------- */

/* The first of a comma-separated list ("h1,h2": libpq's multi-host form), in the arena. */
static const char *first_item(idp_drv_ctx *ctx, const char *list) {
  return idp_arena_strndup(ctx->arena, list, strcspn(list, ","));
}

/* host and port from the DSN, as libpq would pick them (then PGHOST / PGPORT, then its defaults);
 * declared non-secret although the DSN is secret (decision 8). Connects to nothing. */
static int postgres_configure(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  PQconninfoOption *opts = dsn_parse(ctx, get_str(inputs, "dsn"));
  if (!opts) return -1;
  const char *host = dsn_opt(opts, "host"), *port = dsn_opt(opts, "port");
  if (!host) host = dsn_opt(opts, "hostaddr");
  if (!host) host = getenv("PGHOST");
  if (!port) port = getenv("PGPORT");
  host = first_item(ctx, host && *host ? host : "localhost");
  port = first_item(ctx, port && *port ? port : "5432");
  PQconninfoFree(opts);
  char *end;
  long p = strtol(port, &end, 10);
  if (*end || end == port || p < 1 || p > 65535) return idp_drv_fail(ctx, "the server's dsn has a port that is not a number: %s", port);
  idp_map_builder mb;
  idp_map_builder_init(&mb, ctx->arena);
  idp_map_builder_add(&mb, "host", 4, idp_value_cstring(ctx->arena, host));
  idp_map_builder_add(&mb, "port", 4, idp_value_number(ctx->arena, (double)p));
  *outputs = idp_map_builder_build(&mb, NULL);
  return 0;
}

/* --- postgres.role ---------------------------------------------------------------------------- */

/* A role as the server has it, keyed like the inputs, plus its oid. $2 is the valid_until the
 * caller holds: when it names the same instant, its own text comes back (so "2030-01-01" does not
 * read as a change); no expiry (NULL or infinity) reads as absent when $2 is. */
static const char role_sql[] =
    "SELECT json_build_object('oid', r.oid::bigint, 'login', r.rolcanlogin, 'superuser', r.rolsuper,"
    " 'create_database', r.rolcreatedb, 'create_role', r.rolcreaterole, 'inherit', r.rolinherit,"
    " 'connection_limit', r.rolconnlimit,"
    " 'valid_until', CASE WHEN coalesce(r.rolvaliduntil, 'infinity') = coalesce($2::text::timestamptz, 'infinity')"
    " THEN $2::text ELSE r.rolvaliduntil::text END,"
    " 'roles', ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
    " WHERE m.member = r.oid ORDER BY 1))"
    " FROM pg_roles r WHERE r.rolname = $1";

static const struct {
  const char *input, *on, *off;
  bool def;   /* the schema's default */
} role_flags[] = {
    {"login", "LOGIN", "NOLOGIN", false},
    {"superuser", "SUPERUSER", "NOSUPERUSER", false},
    {"create_database", "CREATEDB", "NOCREATEDB", false},
    {"create_role", "CREATEROLE", "NOCREATEROLE", false},
    {"inherit", "INHERIT", "NOINHERIT", true},
};

/* Appends the options of CREATE / ALTER ROLE that make cur (NULL: a new role) what inputs say.
 * Only what differs is set: ALTER ROLE ... [NO]SUPERUSER needs a superuser even as a no-op. */
static int role_options(idp_drv_ctx *ctx, PGconn *conn, const idp_value *prior_in, const idp_value *inputs,
                        const idp_value *cur, idp_buf *sql) {
  for (size_t i = 0; i < IDP_DRV_N(role_flags); i++) {
    bool want = get_bool(inputs, role_flags[i].input, role_flags[i].def);
    const idp_value *have = get(cur, role_flags[i].input);
    if (!have || have->kind != IDP_V_BOOL || have->u.boolean != want)
      idp_buf_printf(sql, " %s", want ? role_flags[i].on : role_flags[i].off);
  }
  long limit = get_int(inputs, "connection_limit", -1);
  if (!cur || get_int(cur, "connection_limit", -1) != limit) idp_buf_printf(sql, " CONNECTION LIMIT %ld", limit);
  const char *until = get_str(inputs, "valid_until"), *had = get_str(cur, "valid_until");
  if (until && (!had || strcmp(until, had) != 0)) {
    const char *lit = quote(ctx, conn, until, false);
    if (!lit) return -1;
    idp_buf_printf(sql, " VALID UNTIL %s", lit);
  } else if (!until && had) {
    idp_buf_puts(sql, " VALID UNTIL 'infinity'");
  }
  /* Write-only: the server cannot say whether it changed, so it is always sent, hashed. */
  const char *pw = get_str(inputs, "password");
  if (pw) {
    char *hash = PQencryptPasswordConn(conn, pw, get_str(inputs, "name"), "scram-sha-256");
    if (!hash) return pg_fail(ctx, "hashing the role's password", PQerrorMessage(conn));
    const char *lit = quote(ctx, conn, hash, false);
    PQfreemem(hash);
    if (!lit) return -1;
    idp_buf_printf(sql, " PASSWORD %s", lit);
  } else if (get_str(prior_in, "password")) {
    idp_buf_puts(sql, " PASSWORD NULL");
  }
  return 0;
}

/* GRANT the roles inputs lists that cur lacks, REVOKE those it has that inputs does not list. */
static int role_memberships(idp_drv_ctx *ctx, PGconn *conn, const char *q, const idp_value *want,
                            const idp_value *have) {
  for (int grant = 1; grant >= 0; grant--) {
    const idp_value *from = grant ? want : have, *other = grant ? have : want;
    for (size_t i = 0; from && from->kind == IDP_V_LIST && i < from->u.list.n; i++) {
      const idp_value *g = from->u.list.items[i];
      if (g->kind != IDP_V_STRING || list_has(other, g->u.string.s)) continue;
      const char *qg = quote(ctx, conn, g->u.string.s, true);
      if (!qg) return -1;
      const char *stmt = idp_arena_sprintf(ctx->arena, grant ? "GRANT %s TO %s" : "REVOKE %s FROM %s", qg, q);
      if (pg_do(ctx, conn, stmt, stmt) < 0) return -1;
    }
  }
  return 0;
}

/* Makes the role exist as inputs say, in one transaction: CREATE ROLE with every setting, or,
 * when it is there (an update, or a create adopting it: decision 11), ALTER ROLE with what
 * differs; then its memberships. prior_in: the inputs last applied (NULL for create), so a
 * password dropped from inputs is removed. *outputs gets {oid}. */
static int role_apply(idp_drv_ctx *ctx, const idp_value *prior_in, const idp_value *inputs, idp_value **outputs) {
  PGconn *conn = pg_connect(ctx, inputs);
  if (!conn) return -1;
  int rc = -1;
  idp_buf sql = {0};
  idp_value *cur;
  const char *q = quoted_name(ctx, conn, inputs);
  const char *params[] = {get_str(inputs, "name"), get_str(inputs, "valid_until")};
  const char *reading = q ? idp_arena_sprintf(ctx->arena, "reading role %s", q) : NULL;
  if (!q || pg_do(ctx, conn, "BEGIN", "BEGIN") < 0 || pg_fetch(ctx, conn, reading, role_sql, 2, params, &cur) < 0)
    goto done;
  const char *what = idp_arena_sprintf(ctx->arena, "%s ROLE %s", cur ? "ALTER" : "CREATE", q);
  idp_buf_printf(&sql, "%s WITH", what);
  size_t bare = sql.len;
  if (role_options(ctx, conn, prior_in, inputs, cur, &sql) < 0) goto done;
  if ((!cur || sql.len > bare) && pg_do(ctx, conn, what, idp_buf_cstr(&sql)) < 0) goto done;
  if (role_memberships(ctx, conn, q, get(inputs, "roles"), get(cur, "roles")) < 0) goto done;
  if (!cur && pg_fetch(ctx, conn, reading, role_sql, 2, params, &cur) < 0) goto done;
  if (pg_do(ctx, conn, "COMMIT", "COMMIT") < 0) goto done;
  *outputs = oid_outputs(ctx, cur);
  rc = 0;
done:
  idp_buf_free(&sql);
  PQfinish(conn); /* a transaction still open is rolled back */
  return rc;
}

static int role_create(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  return role_apply(ctx, NULL, inputs, outputs);
}

static int role_update(idp_drv_ctx *ctx, const idp_value *prior, const idp_value *inputs, idp_value **outputs) {
  return role_apply(ctx, get(prior, "inputs"), inputs, outputs);
}

static int role_read(idp_drv_ctx *ctx, const idp_value *prior, idp_value **out) {
  const idp_value *in = get(prior, "inputs");
  *out = NULL;
  PGconn *conn = pg_connect(ctx, in);
  if (!conn) return -1;
  idp_value *cur = NULL;
  const char *q = quoted_name(ctx, conn, in);
  const char *params[] = {get_str(in, "name"), get_str(in, "valid_until")};
  int rc = q ? pg_fetch(ctx, conn, idp_arena_sprintf(ctx->arena, "reading role %s", q), role_sql, 2, params, &cur) : -1;
  if (cur) *out = read_result(ctx, in, cur);
  PQfinish(conn);
  return rc;
}

static int role_delete(idp_drv_ctx *ctx, const idp_value *prior) {
  const idp_value *in = get(prior, "inputs");
  PGconn *conn = pg_connect(ctx, in);
  if (!conn) return -1;
  const char *q = quoted_name(ctx, conn, in);
  int rc = q ? pg_do(ctx, conn, idp_arena_sprintf(ctx->arena, "DROP ROLE %s", q),
                     idp_arena_sprintf(ctx->arena, "DROP ROLE IF EXISTS %s", q))
             : -1;
  PQfinish(conn);
  return rc;
}

/* --- postgres.database ------------------------------------------------------------------------ */

/* A database as the server has it, keyed like the inputs, plus its oid. $2..$5 are the encoding,
 * owner, lc_collate and lc_ctype the caller holds: an encoding naming the same one comes back as
 * written ("utf8"); an owner not set reads as absent while the integration's user owns it; the
 * locales read as absent when not set. */
static const char database_sql[] =
    "SELECT json_build_object('oid', d.oid::bigint,"
    " 'owner', CASE WHEN $3::text IS NULL AND d.datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
    " THEN NULL ELSE pg_get_userbyid(d.datdba)::text END,"
    " 'encoding', CASE WHEN pg_char_to_encoding($2::text) = d.encoding THEN $2::text"
    " ELSE pg_encoding_to_char(d.encoding)::text END,"
    " 'lc_collate', CASE WHEN $4::text IS NOT NULL THEN d.datcollate::text END,"
    " 'lc_ctype', CASE WHEN $5::text IS NOT NULL THEN d.datctype::text END,"
    " 'connection_limit', d.datconnlimit)"
    " FROM pg_database d WHERE d.datname = $1";

/* Makes the database exist as inputs say: CREATE DATABASE, or, when it is there (an update, or a
 * create adopting it: decision 11), ALTER its owner and connection limit where they differ
 * (encoding and locales cannot change in place: they force replacement). *outputs gets {oid}. */
static int database_apply(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  PGconn *conn = pg_connect(ctx, inputs);
  if (!conn) return -1;
  int rc = -1;
  idp_value *cur;
  const char *owner = get_str(inputs, "owner"), *enc = get_str(inputs, "encoding");
  const char *collate = get_str(inputs, "lc_collate"), *ctype = get_str(inputs, "lc_ctype");
  const char *tmpl = get_str(inputs, "template");
  long limit = get_int(inputs, "connection_limit", -1);
  const char *params[] = {get_str(inputs, "name"), enc ? enc : "UTF8", owner, collate, ctype};
  const char *q = quoted_name(ctx, conn, inputs), *qo = NULL;
  const char *reading = q ? idp_arena_sprintf(ctx->arena, "reading database %s", q) : NULL;
  if (!q || (owner && !(qo = quote(ctx, conn, owner, true))) ||
      pg_fetch(ctx, conn, reading, database_sql, 5, params, &cur) < 0)
    goto done;
  if (!cur) {
    const char *what = idp_arena_sprintf(ctx->arena, "CREATE DATABASE %s", q);
    const char *qenc = quote(ctx, conn, params[1], false), *qtmpl = quote(ctx, conn, tmpl ? tmpl : "template0", true);
    const char *qcoll = collate ? quote(ctx, conn, collate, false) : NULL;
    const char *qctype = ctype ? quote(ctx, conn, ctype, false) : NULL;
    if (!qenc || !qtmpl || (collate && !qcoll) || (ctype && !qctype)) goto done;
    idp_buf sql = {0};
    idp_buf_printf(&sql, "%s WITH", what);
    if (qo) idp_buf_printf(&sql, " OWNER %s", qo);
    idp_buf_printf(&sql, " ENCODING %s", qenc);
    if (qcoll) idp_buf_printf(&sql, " LC_COLLATE %s", qcoll);
    if (qctype) idp_buf_printf(&sql, " LC_CTYPE %s", qctype);
    idp_buf_printf(&sql, " TEMPLATE %s CONNECTION LIMIT %ld", qtmpl, limit);
    int created = pg_do(ctx, conn, what, idp_buf_cstr(&sql));
    idp_buf_free(&sql);
    if (created < 0 || pg_fetch(ctx, conn, reading, database_sql, 5, params, &cur) < 0) goto done;
    if (!cur) {
      idp_drv_fail(ctx, "%s: created, then not found", reading);
      goto done;
    }
  } else {
    const char *had_enc = get_str(cur, "encoding"), *had_owner = get_str(cur, "owner");
    if (had_enc && strcmp(had_enc, params[1]) != 0) {
      idp_drv_fail(ctx, "database %s exists with encoding %s, not %s: an encoding cannot change in place",
                   q, had_enc, params[1]);
      goto done;
    }
    if (owner ? !had_owner || strcmp(owner, had_owner) != 0 : had_owner != NULL) {
      const char *stmt = idp_arena_sprintf(ctx->arena, "ALTER DATABASE %s OWNER TO %s", q, qo ? qo : "CURRENT_USER");
      if (pg_do(ctx, conn, stmt, stmt) < 0) goto done;
    }
    if (get_int(cur, "connection_limit", -1) != limit) {
      const char *stmt = idp_arena_sprintf(ctx->arena, "ALTER DATABASE %s CONNECTION LIMIT %ld", q, limit);
      if (pg_do(ctx, conn, stmt, stmt) < 0) goto done;
    }
  }
  *outputs = oid_outputs(ctx, cur);
  rc = 0;
done:
  PQfinish(conn);
  return rc;
}

static int database_create(idp_drv_ctx *ctx, const idp_value *inputs, idp_value **outputs) {
  return database_apply(ctx, inputs, outputs);
}

static int database_update(idp_drv_ctx *ctx, const idp_value *prior, const idp_value *inputs, idp_value **outputs) {
  (void)prior;
  return database_apply(ctx, inputs, outputs);
}

static int database_read(idp_drv_ctx *ctx, const idp_value *prior, idp_value **out) {
  const idp_value *in = get(prior, "inputs");
  *out = NULL;
  PGconn *conn = pg_connect(ctx, in);
  if (!conn) return -1;
  idp_value *cur = NULL;
  const char *q = quoted_name(ctx, conn, in), *enc = get_str(in, "encoding");
  const char *params[] = {get_str(in, "name"), enc ? enc : "UTF8", get_str(in, "owner"), get_str(in, "lc_collate"),
                          get_str(in, "lc_ctype")};
  int rc = q ? pg_fetch(ctx, conn, idp_arena_sprintf(ctx->arena, "reading database %s", q), database_sql, 5, params, &cur)
             : -1;
  if (cur) *out = read_result(ctx, in, cur);
  PQfinish(conn);
  return rc;
}

/* DROP DATABASE IF EXISTS; with live connections it refuses (the server would wait 5 s, then
 * refuse too) unless force_drop, which terminates them (WITH (FORCE), PostgreSQL 13+). */
static int database_delete(idp_drv_ctx *ctx, const idp_value *prior) {
  const idp_value *in = get(prior, "inputs");
  PGconn *conn = pg_connect(ctx, in);
  if (!conn) return -1;
  int rc = -1;
  bool force = get_bool(in, "force_drop", false);
  const char *q = quoted_name(ctx, conn, in);
  if (!q) goto done;
  const char *what = idp_arena_sprintf(ctx->arena, "DROP DATABASE %s", q);
  if (!force) {
    const char *params[] = {get_str(in, "name")};
    PGresult *r = pg_run(ctx, conn, what,
                         "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'"
                         " AND pid <> pg_backend_pid()",
                         1, params);
    if (!r) goto done;
    long live = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (live > 0) {
      idp_drv_fail(ctx, "%s: refused: %ld live connection%s to it; set force_drop = true to terminate them and drop it",
                   what, live, live == 1 ? "" : "s");
      goto done;
    }
  }
  rc = pg_do(ctx, conn, what, idp_arena_sprintf(ctx->arena, "DROP DATABASE IF EXISTS %s%s", q, force ? " WITH (FORCE)" : ""));
done:
  PQfinish(conn);
  return rc;
}

static const idp_drv_kind kinds[] = {
    {.name = "role", .full = "postgres.role", .doc = "a role (user), with a password stored as a SCRAM hash",
     .io = {role_inputs, IDP_DRV_N(role_inputs), role_outputs, IDP_DRV_N(role_outputs)},
     .ops = {role_read, role_create, role_update, role_delete}},
    {.name = "database", .full = "postgres.database", .doc = "a database and its owner",
     .io = {database_inputs, IDP_DRV_N(database_inputs), database_outputs, IDP_DRV_N(database_outputs)},
     .ops = {database_read, database_create, database_update, database_delete}},
};

const idp_driver idp_driver_postgres = {
    .name = "postgres",
    .doc = "a PostgreSQL server, through libpq",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), integration_outputs, IDP_DRV_N(integration_outputs)},
    .ops = {postgres_configure},
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
