/* registry.h - registry_image() against an OCI / Docker distribution v2 registry (decision 9): list
 * a repository's tags, keep those matching a glob pattern, pick the highest version, read the digest
 * of its manifest, and answer `HOST[:PORT]/REPOSITORY@sha256:...`.
 *
 * Over libcurl's easy API, one handle per resolution (its connection is reused for the tag pages
 * and the manifest). Authentication: anonymous; basic (username + password) when the registry
 * asks for it; a bearer `token` sent as is; and the token service a registry names in a
 * `WWW-Authenticate: Bearer realm=...` challenge (asked with username + password when given).
 * Credentials go only where a challenge asks for them, and no message ever holds one: errors name
 * the registry as SCHEME://HOST[:PORT], the repository, the pattern, and the HTTP status or the
 * transfer error.
 *
 * Which tag wins (docs/language.md#images-registry_image): the highest by semantic version, a leading `v`
 * ignored (v1.10.0 > v1.2.0); pre-releases (`v2.0.0-rc.1`) only when the pattern itself holds a
 * `-`, and then a release beats its pre-releases; tags that are no semantic version rank below
 * every one that is, in byte order among themselves.
 *
 * Ownership: an idp_registry owns every answer and message it hands out, until idp_registry_free. */
#ifndef IDP_REGISTRY_H
#define IDP_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "value.h"

typedef struct idp_registry idp_registry;

/* A resolver with an empty cache; spec_dir (copied; NULL: the current directory) is where relative
 * ca_file, cert_file and key_file paths resolve (`~/` is $HOME). */
idp_registry *idp_registry_new(const char *spec_dir);
void idp_registry_free(idp_registry *r); /* NULL is fine */

/* An idp_image_fn (compiler/eval.h); payload is the idp_registry. integration is the map of an
 * oci_registry integration's attributes (url, username, password, token, ca_file, cert_file,
 * key_file, insecure_skip_tls_verify). Returns 0 with *out a known string without marks or
 * dependencies (or an unknown one when an attribute it needs is unknown), or -1 with *err set.
 * Answers, errors included, are cached per (url, repository, pattern): one run asks the registry
 * once per repository and pattern. */
int idp_registry_image(idp_value **out, const char **err, const idp_value *integration, const char *repository,
                       const char *pattern, void *payload);

/* Pins one image: HEADs (GET when the registry leaves Docker-Content-Digest out) the manifest of
 * repository at reference, a tag or a `sha256:` digest, through the oci_registry integration's
 * settings (map as for idp_registry_image), and answers the pinned reference
 * `HOST[:PORT]/REPOSITORY@sha256:...` in *image. For a digest reference, the registry must hold
 * that manifest (a 404 is an error),
 * and the answer carries the digest asked for. Not cached: every call asks the registry (webhooks
 * and `pipeline run --tag` want the registry's answer now). Returns 0 with *image, or -1 with *err;
 * both malloc'd, the caller frees them; IDP_REGISTRY_ENOTFOUND (with *err) when the registry
 * answered 404: it holds no such manifest. Messages never hold a credential. An integration with
 * an unknown attribute is an error here. */
enum { IDP_REGISTRY_ENOTFOUND = -2 };
int idp_registry_digest(idp_registry *r, const idp_value *integration, const char *repository, const char *reference,
                        char **image, char **err);

/* The tags of repository (every page; those that are no valid tag left out), for `idp watch`:
 * *tags a malloc'd array of malloc'd strings (free each, then the array). A repository the
 * registry does not know (404) has none. Returns 0, or -1 with *err (malloc'd, no credential). */
int idp_registry_tags(idp_registry *r, const idp_value *integration, const char *repository, char ***tags, size_t *ntags,
                      char **err);

/* Keeps the requests r sends to each registry (SCHEME://HOST[:PORT]) at least seconds apart: a
 * request waits its turn (`idp watch -min-request-interval`). 0, the default, sets no limit. The
 * wait is kept per resolver and is not meant for several threads at once. */
void idp_registry_set_min_interval(idp_registry *r, double seconds);

/* --- the pure parts (unit tested) ------------------------------------------------------------- */

/* True if tag is a semantic version MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], a leading `v`
 * allowed; *prerelease (may be NULL) says whether it has a pre-release part. */
bool idp_tag_semver(const char *tag, bool *prerelease);

/* The order tags are picked in (<0, 0, >0 like strcmp): semantic versions by precedence (numbers
 * compared as numbers of any length; a release above its pre-releases; pre-release fields as
 * semver 2.0.0 orders them), ties by bytes; every other tag below them, by bytes. */
int idp_tag_cmp(const char *a, const char *b);

/* Whether tag is one that pattern (fnmatch(3) glob) takes, as registry_image takes them: a
 * pre-release only when the pattern itself holds a `-`. Triggers match pushed tags so. */
bool idp_tag_matches(const char *pattern, const char *tag);

/* The tag of tags[0..n) that registry_image picks for pattern (fnmatch(3) glob), or NULL;
 * *nmatch (may be NULL) gets how many matched the pattern, *nskipped (may be NULL) how many of
 * those were left out as pre-releases. */
const char *idp_tag_pick(const char *const *tags, size_t n, const char *pattern, size_t *nmatch, size_t *nskipped);

/* The URI of the rel="next" entry of a Link header value (`<URI>; rel="next"`, entries separated
 * by commas), malloc'd, or NULL when there is none. */
char *idp_link_next(const char *link);

/* Parses a `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` value. Returns true
 * for a Bearer challenge with a realm, with *realm, *service and *scope malloc'd (service and
 * scope NULL when absent); false otherwise (Basic, malformed), with nothing allocated. */
bool idp_bearer_challenge(const char *value, char **realm, char **service, char **scope);

#endif
