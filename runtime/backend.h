/* backend.h - where states live and how they are locked: the backend interface and the local
 * backend (backend_local.c), files under SPEC_DIR/.idp/state/.
 *
 * One state per environment plus one shared state for top-level resources (decision 6); env is
 * the environment's name, NULL naming the shared state. A run locks each state it will write for
 * the whole run (idp_backend_lock_all takes them in decision 6's order), reads, changes, writes.
 *
 * Writes are refused (never performed) when the file on disk is malformed or of a newer format, or
 * when it changed since it was read (another lineage or serial): a file idp cannot read is never
 * overwritten. Errors follow state.h (0 or a negative IDP_STATE_E* code, message in err). */
#ifndef IDP_BACKEND_H
#define IDP_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "state.h"

typedef struct idp_backend idp_backend;

/* The local backend of the spec directory dir (copied). Nothing is created before a lock or a
 * write: .idp/ and .idp/state/ are made then, mode 0700. */
idp_backend *idp_backend_local(const char *dir);
/* Releases every lock the backend holds, then frees it. NULL is fine. */
void idp_backend_free(idp_backend *b);

/* The file a state lives in (malloc'd), e.g. "DIR/.idp/state/dev.json" or ".../_shared.json". */
char *idp_backend_path(const idp_backend *b, const char *env);

/* Takes the exclusive lock of a state (flock on its .lock file, held until unlock or free).
 * timeout_s 0 fails at once, N retries for up to N seconds. command (e.g. "idp apply"; never
 * arguments, which may hold secrets) is recorded with the pid, host and time, and quoted to a run
 * that finds the lock taken: IDP_STATE_ELOCKED. Taking a lock the backend already holds is a no-op. */
int idp_backend_lock(idp_backend *b, const char *env, double timeout_s, const char *command, idp_state_error *err);
void idp_backend_unlock(idp_backend *b, const char *env);
bool idp_backend_locked(const idp_backend *b, const char *env);
/* Decision 6's lock order: the shared state first (only if `shared`), then envs[0..n) in name
 * order (duplicates once). On failure, the locks this call took are released again. */
int idp_backend_lock_all(idp_backend *b, bool shared, const char *const *envs, size_t n, double timeout_s,
                         const char *command, idp_state_error *err);

/* Reads a state: a missing file is an empty state (no lineage, serial 0). IDP_STATE_EREFUSED for
 * a malformed file, a newer version, or a file whose "env" is not the one asked for. key (may be
 * NULL) is given to the state; secrets are not opened here (see idp_state_check_secrets). */
int idp_backend_read(idp_backend *b, const char *env, const idp_state_key *key, idp_state **out,
                     idp_state_error *err);
/* idp_backend_read of envs[0..n) (NULL: the shared state) into out[0..n), the files parsed in
 * parallel (one thread per core). On failure every out[i] is NULL and err names the first state
 * that failed. */
int idp_backend_read_many(idp_backend *b, const char *const *envs, size_t n, const idp_state_key *key,
                          idp_state **out, idp_state_error *err);
/* Writes st if it changed (*written, may be NULL, says whether it did): serial + 1 (lineage made
 * on the first write), temp file in the same directory, fsync, rename, fsync of the directory,
 * mode 0600. Needs the state's lock. EREFUSED / ESTALE as above; st is unchanged on failure. */
int idp_backend_write(idp_backend *b, idp_state *st, bool *written, idp_state_error *err);

/* The states that exist: *shared says whether the shared one does; *envs gets the environments'
 * names sorted (malloc'd array of malloc'd strings; free with idp_backend_free_list). */
int idp_backend_list(idp_backend *b, bool *shared, char ***envs, size_t *n, idp_state_error *err);
void idp_backend_free_list(char **envs, size_t n);

#endif
