/* planfile.h - saved plans: `idp plan -out FILE` writes one, `idp show FILE` prints it, and
 * `idp apply FILE` carries it out.
 *
 * A saved plan is the -json form of docs/plan-format.md (format_version "1") plus:
 *   - "kind": "idp-saved-plan", "idp_version", "created" (UTC, RFC 3339);
 *   - "dir": the spec directory (absolute), whose .idp/state/ holds the states;
 *   - "source_hash": "sha256:HEX" of the spec files (names and bytes, by name) and the run's
 *     arguments ("args": environments with on-demand types, targets, replaces, destroy);
 *   - "states": the lineage and serial of each state the plan was made against: apply refuses
 *     the plan when one has moved on (ESTALE), as Terraform refuses a stale plan;
 *   - the desired side (`after`) of each change with every secret sealed (AES-256-GCM with
 *     IDP_STATE_KEY, authenticated for the address and "plan/after/PATH"), so apply needs no
 *     source and no secret from the environment, and the file holds no plaintext secret.
 * Images stay pinned: the digests registry_image() resolved are part of `after` (decision 9).
 * The file is written atomically with mode 0600; a file that is not such a plan, or of a newer
 * format, is refused and never overwritten. */
#ifndef IDP_PLANFILE_H
#define IDP_PLANFILE_H

#include <stddef.h>

#include <jansson.h>

#include "backend.h"
#include "source.h"
#include "state.h"

#define IDP_PLANFILE_KIND "idp-saved-plan"

/* "sha256:HEX" (72 bytes with the NUL) over srcs[0..n) ordered by file name (the name without
 * its directory, a NUL, the length and the bytes of each) and args (canonical JSON, sealed
 * values as null: a secret var's value is not hashed). */
void idp_planfile_hash(char out[80], idp_source *const *srcs, size_t n, const json_t *args);

/* Writes plan (a saved plan's JSON) to path, atomically, mode 0600. */
int idp_planfile_write(const char *path, const json_t *plan, idp_state_error *err);

/* Reads a saved plan: IDP_STATE_EREFUSED (naming path, and line:column for malformed JSON) for a
 * file that is not one, or of a format_version newer than this idp reads. */
int idp_planfile_read(const char *path, json_t **out, idp_state_error *err);

/* A copy of a saved plan as `idp plan -json` prints it: sealed values written as null (their
 * places stay marked in after_secret), the saved-plan members kept. */
json_t *idp_planfile_public(const json_t *saved);

/* Compares st (as read now) with the lineage and serial the plan recorded for its state. Returns
 * 0 when they match (or the plan has no record of that state), else IDP_STATE_ESTALE with err
 * naming the state and both versions. */
int idp_planfile_check_state(const json_t *saved, const idp_state *st, idp_state_error *err);

/* Compares the states the plan was made against with those in b now. Returns 0 when each is at
 * the lineage and serial recorded, else IDP_STATE_ESTALE with err naming the state and both
 * versions, or the read's error. */
int idp_planfile_check_states(const json_t *saved, idp_backend *b, idp_state_error *err);

#endif
