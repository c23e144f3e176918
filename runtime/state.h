/* state.h - the state of one environment (or the shared state of top-level resources), in memory.
 *
 * A state holds a format version, a lineage (UUID v4 made on its first write), a serial (bumped by
 * every write that changes something), the environment's name (NULL for the shared state) and, for
 * an on-demand environment, its type; then per resource: address, driver kind, status,
 * dependencies, inputs and outputs (jansson objects). Secret values are kept sealed
 * ({"$secret": "v1:..."}, AES-256-GCM, see state_crypto.c) and only opened on request with the key.
 * The file format is docs/state.md; the local backend (files under .idp/) is backend.h.
 *
 * Ownership: an idp_state owns its resources and their JSON; pointers returned by accessors are
 * borrowed and valid until the resource is removed or the state freed. JSON values passed in are
 * borrowed (the state takes its own reference or copy); values handed out as `json_t **out` are new
 * references the caller must json_decref.
 *
 * Errors (libgit2 style): fallible functions return 0 or a negative IDP_STATE_E* code and fill the
 * caller's idp_state_error (which may be NULL). Messages never hold a secret's plaintext. */
#ifndef IDP_STATE_H
#define IDP_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The newest state format this build reads and the one it writes. */
#define IDP_STATE_FORMAT_VERSION 1

/* Return codes: 0 is success; the named ones are failures a caller may want to tell apart. */
enum {
  IDP_STATE_OK = 0,
  IDP_STATE_ERROR = -1,     /* anything else: I/O, out of range, ... */
  IDP_STATE_EINVALID = -2,  /* a bad argument: an address not of this state, a bad name */
  IDP_STATE_ENOTFOUND = -3, /* no such resource / attribute */
  IDP_STATE_EEXISTS = -4,   /* the target address is taken */
  IDP_STATE_ELOCKED = -5,   /* another process holds the state's lock */
  IDP_STATE_ENOKEY = -6,    /* a secret must be sealed or opened and IDP_STATE_KEY is not set */
  IDP_STATE_EDECRYPT = -7,  /* GCM authentication failed: wrong key, or a tampered/moved value */
  IDP_STATE_EREFUSED = -8,  /* the state file is malformed or of a newer format: never written */
  IDP_STATE_ESTALE = -9,    /* the file changed since it was read (another writer, lineage) */
};

typedef struct idp_state_error {
  int code;       /* the last failure's code, 0 if none */
  char msg[2048]; /* one or more lines, no trailing newline; may end with "hint: ..." lines */
} idp_state_error;

/* Records a failure in err (if not NULL) and returns code. */
int idp_state_fail(idp_state_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- keys and sealed values (state_crypto.c) ---------------------------------------------------- */

/* A 256-bit AES key. Wipe with idp_state_key_wipe when done. */
typedef struct idp_state_key {
  unsigned char bytes[32];
} idp_state_key;

/* The hint every "no key" error ends with: how to make and set IDP_STATE_KEY. */
extern const char idp_state_key_hint[];

/* Parses a key written as 64 hex digits or as base64 of 32 bytes (standard alphabet, padding
 * optional). Surrounding whitespace is ignored. The error never quotes the text. */
int idp_state_key_parse(idp_state_key *out, const char *text, idp_state_error *err);
/* The key of IDP_STATE_KEY: IDP_STATE_ENOKEY (with the hint) when unset or empty. */
int idp_state_key_from_env(idp_state_key *out, idp_state_error *err);
void idp_state_key_wipe(idp_state_key *key);

/* True if v is a sealed value: an object whose only member is "$secret" holding a string. */
bool idp_state_is_sealed(const json_t *v);
/* Seals value (any JSON) for attribute path `path` ("inputs/password") of resource `address`:
 * both are authenticated, so the result opens only there. key NULL: IDP_STATE_ENOKEY. */
int idp_state_seal(json_t **out, const idp_state_key *key, const char *address, const char *path,
                   const json_t *value, idp_state_error *err);
/* Opens a sealed value: IDP_STATE_ENOKEY without key, IDP_STATE_EDECRYPT on a wrong key or a
 * value altered or moved to another address or path. */
int idp_state_unseal(json_t **out, const idp_state_key *key, const char *address, const char *path,
                     const json_t *sealed, idp_state_error *err);

/* Fills buf with cryptographically random bytes (getrandom). Returns 0 or IDP_STATE_ERROR. */
int idp_state_random(void *buf, size_t n, idp_state_error *err);
/* A fresh random UUID v4, lower-case, into out[37]. */
int idp_state_uuid4(char out[37], idp_state_error *err);

/* --- statuses ----------------------------------------------------------------------------------- */

/* The life cycle of a resource instance in the state, X(ENUM, spelling in the file):
 *   created         the object exists; inputs and outputs are as last applied.
 *   pending-create  intent record (decision 11): a create was started and may or may not have
 *                   reached the API. The next run reads the object first and adopts one of the
 *                   same identity (updating it to the desired values) instead of creating a twin.
 *   tainted         the object exists but a create or update failed half-way: the next plan
 *                   replaces it.
 *   deleting        intent record: a delete was started. The next run reads the object and
 *                   finishes the delete; if it is gone, the record is dropped. */
#define IDP_STATE_STATUSES(X)         \
  X(CREATED, "created")               \
  X(PENDING_CREATE, "pending-create") \
  X(TAINTED, "tainted")               \
  X(DELETING, "deleting")

typedef enum idp_state_status {
#define X(e, s) IDP_STATE_##e,
  IDP_STATE_STATUSES(X)
#undef X
} idp_state_status;

const char *idp_state_status_name(idp_state_status s);
/* Returns 0 and sets *out, or -1 for an unknown spelling. */
int idp_state_status_parse(const char *name, idp_state_status *out);

/* --- addresses ---------------------------------------------------------------------------------- */

/* True if name is an environment name: ^[a-z][a-z0-9-]{0,29}$ (decision 1). */
bool idp_state_env_name_ok(const char *name);
/* Checks an address and says which state holds it: `env.E/...` is environment E (*env gets a
 * malloc'd "E"), `DRIVER.KIND.NAME` is the shared state (*env = NULL). *driver (may be NULL) gets
 * the malloc'd "DRIVER.KIND" the address ends with. IDP_STATE_EINVALID for a malformed address. */
int idp_state_address_parse(const char *address, char **env, char **driver, idp_state_error *err);

/* --- the state ---------------------------------------------------------------------------------- */

typedef struct idp_state idp_state;
typedef struct idp_state_res idp_state_res;

/* An empty state: env NULL is the shared state; env_type is set only for an on-demand environment
 * (may be NULL). Lineage is NULL and serial 0 until the first write. */
idp_state *idp_state_new(const char *env, const char *env_type);
void idp_state_free(idp_state *st);

/* Parses a state file's text. origin (a path) names the file in errors, which give jansson's
 * line:column for malformed JSON. IDP_STATE_EREFUSED for malformed JSON, a newer version, or
 * content that breaks the format (each with what is wrong and where). Sealed values are only
 * checked for shape here; see idp_state_check_secrets. */
int idp_state_parse(idp_state **out, const char *text, size_t len, const char *origin, idp_state_error *err);
/* The file text (indented JSON, resources sorted by address, trailing newline), malloc'd. */
char *idp_state_dump(const idp_state *st);

int idp_state_version(const idp_state *st);     /* the version read, or the current one */
const char *idp_state_lineage(const idp_state *st); /* NULL before the first write */
long long idp_state_serial(const idp_state *st);
const char *idp_state_env(const idp_state *st);     /* NULL: the shared state */
const char *idp_state_env_type(const idp_state *st); /* NULL unless on-demand */
void idp_state_set_env_type(idp_state *st, const char *env_type);
/* Decision 9: the image a pipeline last deployed for an app of this environment, which every plan
 * of the environment keeps (compiler/instance.h, idp_inst_opts.image_pin). NULL when none. */
const char *idp_state_pin(const idp_state *st, const char *app);
/* Every pin: {"APP": {"image", "pipeline", "run", "at"}}, or NULL. Borrowed. */
const json_t *idp_state_pins(const idp_state *st);
/* Records (image NULL: forgets) app's pin, with the pipeline, run and time (RFC 3339) that made it
 * (each may be NULL). Only an environment's state holds pins; the shared state ignores this. */
void idp_state_set_pin(idp_state *st, const char *app, const char *image, const char *pipeline, const char *run,
                       const char *at);
/* True if something changed since the state was read or last written. */
bool idp_state_dirty(const idp_state *st);
/* Called by a backend once it has written the state: lineage made if missing, serial + 1. The
 * backend dumps after this call. */
int idp_state_begin_write(idp_state *st, idp_state_error *err);
/* Called by a backend after a successful write: the state is clean. */
void idp_state_written(idp_state *st);
/* Called by a backend whose write failed after idp_state_begin_write: lineage (may be NULL) and
 * serial go back to what they were. */
void idp_state_rollback(idp_state *st, const char *lineage, long long serial);

/* The key used to seal and open secrets (copied; NULL forgets it). Without a key, sealing fails
 * with IDP_STATE_ENOKEY and the hint. */
void idp_state_set_key(idp_state *st, const idp_state_key *key);
/* True if any resource holds a sealed value. */
bool idp_state_has_secrets(const idp_state *st);
/* Opens every sealed value, so a run fails up front (naming the first resource and attribute)
 * when the key is missing (ENOKEY) or wrong (EDECRYPT). Plaintexts are wiped at once. */
int idp_state_check_secrets(const idp_state *st, const char *origin, idp_state_error *err);

/* Resources, in no particular order (insertion order until a removal). */
size_t idp_state_count(const idp_state *st);
idp_state_res *idp_state_at(const idp_state *st, size_t i);
/* The resources sorted by address: a malloc'd array of idp_state_count pointers (free it). */
idp_state_res **idp_state_sorted(const idp_state *st);
idp_state_res *idp_state_find(const idp_state *st, const char *address);

/* Adds a resource with status pending-create, no dependencies and empty inputs/outputs.
 * IDP_STATE_EINVALID if the address is malformed, belongs to another state or does not end with
 * the driver kind; IDP_STATE_EEXISTS if taken. */
int idp_state_add(idp_state *st, const char *address, const char *driver, idp_state_res **out,
                  idp_state_error *err);
/* IDP_STATE_ENOTFOUND if absent. */
int idp_state_remove(idp_state *st, const char *address, idp_state_error *err);
/* Renames a resource within this state: its sealed values are re-sealed for the new address (so a
 * resource with secrets needs the key), and dependencies on it in this state follow. ENOTFOUND,
 * EEXISTS (never overwrites), EINVALID (other state, other driver kind, malformed), ENOKEY. */
int idp_state_move(idp_state *st, const char *from, const char *to, idp_state_error *err);

const char *idp_state_res_address(const idp_state_res *r);
const char *idp_state_res_driver(const idp_state_res *r);
idp_state_status idp_state_res_status(const idp_state_res *r);
void idp_state_res_set_status(idp_state *st, idp_state_res *r, idp_state_status s);
size_t idp_state_res_ndeps(const idp_state_res *r);
const char *idp_state_res_dep(const idp_state_res *r, size_t i);
/* Replaces the dependencies (copied, kept sorted and unique). */
void idp_state_res_set_deps(idp_state *st, idp_state_res *r, const char *const *deps, size_t n);

/* Which map of a resource an attribute lives in. */
typedef enum idp_state_part { IDP_STATE_INPUTS, IDP_STATE_OUTPUTS } idp_state_part;
const char *idp_state_part_name(idp_state_part p); /* "inputs", "outputs" */

/* The raw map (borrowed; sealed values appear as {"$secret": ...}). Do not modify it. */
const json_t *idp_state_res_map(const idp_state_res *r, idp_state_part part);
/* Sets attribute name of the map to value (borrowed). secret: sealed with the state's key (ENOKEY
 * without one); setting a secret to the plaintext it already holds keeps the old ciphertext, so an
 * unchanged state stays unchanged. A plain value may not contain a {"$secret": ...} object
 * (EINVALID: it would read back as sealed). value NULL removes the attribute. */
int idp_state_res_set(idp_state *st, idp_state_res *r, idp_state_part part, const char *name,
                      const json_t *value, bool secret, idp_state_error *err);
/* The attribute's value, opened if sealed (*secret says which; may be NULL). ENOTFOUND if unset;
 * ENOKEY / EDECRYPT for a sealed value without the right key. */
int idp_state_res_get(const idp_state *st, const idp_state_res *r, idp_state_part part, const char *name,
                      json_t **out, bool *secret, idp_state_error *err);

#endif
