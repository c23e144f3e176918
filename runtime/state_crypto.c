/* state_crypto.c - the state's secrets: the key from IDP_STATE_KEY, sealing and opening values
 * with AES-256-GCM (OpenSSL EVP), and randomness (getrandom) for nonces and lineages.
 *
 * A sealed value is {"$secret": "v1:" base64(nonce[12] | ciphertext | tag[16])}. The plaintext is
 * the value's compact JSON; the additional authenticated data is "idp-state-v1", the address and
 * the attribute path, NUL-separated, so a ciphertext copied to another attribute or resource fails
 * to open. Every buffer that held a plaintext or a key is wiped before it is freed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <threads.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../compiler/util.h"
#include "state.h"

enum { NONCE_LEN = 12, TAG_LEN = 16, KEY_LEN = 32 };
static const char seal_prefix[] = "v1:";
static const char aad_label[] = "idp-state-v1";

const char idp_state_key_hint[] =
    "hint: set IDP_STATE_KEY to a random 256-bit key, written as 64 hex digits (or base64), e.g.\n"
    "hint:   export IDP_STATE_KEY=$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \\n')\n"
    "hint: or: export IDP_STATE_KEY=$(openssl rand -hex 32)\n"
    "hint: keep it in your secret store: the state's secrets cannot be read without it";

int idp_state_fail(idp_state_error *err, int code, const char *fmt, ...) {
  if (err) {
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* --- randomness ----------------------------------------------------------------------------------- */

int idp_state_random(void *buf, size_t n, idp_state_error *err) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return idp_state_fail(err, IDP_STATE_ERROR, "getrandom: %s", strerror(errno));
    }
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

int idp_state_uuid4(char out[37], idp_state_error *err) {
  unsigned char b[16];
  int rc = idp_state_random(b, sizeof b, err);
  if (rc < 0) return rc;
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
           b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return 0;
}

/* --- base64 (standard alphabet; decoding is strict, padding optional) ----------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(idp_buf *out, const unsigned char *in, size_t n) {
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16;
    if (i + 1 < n) v |= (unsigned)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    char q[4] = {b64chars[(v >> 18) & 63], b64chars[(v >> 12) & 63], i + 1 < n ? b64chars[(v >> 6) & 63] : '=',
                 i + 2 < n ? b64chars[v & 63] : '='};
    idp_buf_append(out, q, 4);
  }
}

/* 1 + the 6 bits each character of b64chars stands for; 0 for any other byte. A plan decodes
 * every sealed value of its states, twice: a search of b64chars per character, then a branch per
 * range, were a tenth and a twentieth of a large no-change plan. */
static const unsigned char b64_rev[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/* The 6 bits c stands for, or -1. */
static int b64_value(char c) { return (int)b64_rev[(unsigned char)c] - 1; }

/* Decodes s[0..n) into a malloc'd *out. Returns 0, or -1 for anything but canonical base64. */
static int b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen) {
  while (n > 0 && s[n - 1] == '=') n--;
  if (n % 4 == 1) return -1;
  unsigned char *buf = idp_xmalloc(n / 4 * 3 + 3);
  size_t len = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_value(s[i]);
    if (v < 0) {
      free(buf);
      return -1;
    }
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[len++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) { /* non-zero padding bits: not what an encoder writes */
    free(buf);
    return -1;
  }
  *out = buf;
  *outlen = len;
  return 0;
}

/* --- keys ----------------------------------------------------------------------------------------- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int idp_state_key_parse(idp_state_key *out, const char *text, idp_state_error *err) {
  while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r') text++;
  size_t n = strlen(text);
  while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\n' || text[n - 1] == '\r')) n--;
  if (n == 2 * KEY_LEN) {
    bool ok = true;
    for (size_t i = 0; i < KEY_LEN && ok; i++) {
      int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
      if (hi < 0 || lo < 0) ok = false;
      else out->bytes[i] = (unsigned char)(hi << 4 | lo);
    }
    if (ok) return 0;
  }
  unsigned char *raw = NULL;
  size_t len = 0;
  if ((n == 43 || n == 44) && b64_decode(text, n, &raw, &len) == 0 && len == KEY_LEN) {
    memcpy(out->bytes, raw, KEY_LEN);
    OPENSSL_cleanse(raw, len);
    free(raw);
    return 0;
  }
  if (raw) {
    OPENSSL_cleanse(raw, len);
    free(raw);
  }
  idp_state_key_wipe(out);
  return idp_state_fail(err, IDP_STATE_EINVALID,
                        "IDP_STATE_KEY is not a 256-bit key: want 64 hex digits or the base64 of 32 bytes "
                        "(it has %zu characters)\n%s",
                        n, idp_state_key_hint);
}

int idp_state_key_from_env(idp_state_key *out, idp_state_error *err) {
  const char *text = getenv("IDP_STATE_KEY");
  if (!text || !*text)
    return idp_state_fail(err, IDP_STATE_ENOKEY, "IDP_STATE_KEY is not set: no key to encrypt or decrypt the state's secrets\n%s",
                          idp_state_key_hint);
  return idp_state_key_parse(out, text, err);
}

void idp_state_key_wipe(idp_state_key *key) {
  if (key) OPENSSL_cleanse(key->bytes, sizeof key->bytes);
}

/* --- sealing -------------------------------------------------------------------------------------- */

bool idp_state_is_sealed(const json_t *v) {
  return json_is_object(v) && json_object_size(v) == 1 && json_is_string(json_object_get(v, "$secret"));
}

/* AES-256-GCM, fetched once for the process (never freed). Handing EVP_aes_256_gcm() to every
 * init makes OpenSSL 3 fetch the implementation anew each time, which cost more than the
 * decryption when a plan opens every secret of a large state. */
static EVP_CIPHER *gcm_fetched;
static void gcm_fetch(void) { gcm_fetched = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL); }
static const EVP_CIPHER *aes_256_gcm(void) {
  static once_flag once = ONCE_FLAG_INIT;
  call_once(&once, gcm_fetch);
  return gcm_fetched ? gcm_fetched : EVP_aes_256_gcm();
}

/* label NUL address NUL path */
static unsigned char *make_aad(const char *address, const char *path, size_t *len) {
  size_t a = strlen(address), p = strlen(path), l = sizeof aad_label;
  unsigned char *buf = idp_xmalloc(l + a + 1 + p);
  memcpy(buf, aad_label, l);
  memcpy(buf + l, address, a + 1);
  memcpy(buf + l + a + 1, path, p);
  *len = l + a + 1 + p;
  return buf;
}

int idp_state_seal(json_t **out, const idp_state_key *key, const char *address, const char *path,
                   const json_t *value, idp_state_error *err) {
  int rc = 0;
  char *plain = NULL;
  unsigned char *aad = NULL, *blob = NULL;
  EVP_CIPHER_CTX *ctx = NULL;
  idp_buf text = {0};
  size_t plen = 0, aadlen = 0;
  *out = NULL;
  if (!key) {
    rc = idp_state_fail(err, IDP_STATE_ENOKEY,
                        "cannot keep the secret %s of %s in the state: IDP_STATE_KEY is not set\n%s", path, address,
                        idp_state_key_hint);
    goto done;
  }
  plain = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!plain) {
    rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot encode the secret %s of %s", path, address);
    goto done;
  }
  plen = strlen(plain);
  blob = idp_xmalloc(NONCE_LEN + plen + TAG_LEN);
  if ((rc = idp_state_random(blob, NONCE_LEN, err)) < 0) goto done;
  aad = make_aad(address, path, &aadlen);
  int len = 0, fin = 0;
  ctx = EVP_CIPHER_CTX_new();
  if (!ctx || EVP_EncryptInit_ex(ctx, aes_256_gcm(), NULL, key->bytes, blob) != 1 ||
      EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1 ||
      EVP_EncryptUpdate(ctx, blob + NONCE_LEN, &len, (const unsigned char *)plain, (int)plen) != 1 ||
      EVP_EncryptFinal_ex(ctx, blob + NONCE_LEN + len, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, blob + NONCE_LEN + len + fin) != 1) {
    rc = idp_state_fail(err, IDP_STATE_ERROR, "AES-256-GCM encryption of the secret %s of %s failed", path, address);
    goto done;
  }
  idp_buf_puts(&text, seal_prefix);
  b64_encode(&text, blob, NONCE_LEN + (size_t)len + (size_t)fin + TAG_LEN);
  *out = json_pack("{s:s}", "$secret", idp_buf_cstr(&text));
done:
  if (plain) {
    OPENSSL_cleanse(plain, plen);
    free(plain);
  }
  if (blob) {
    OPENSSL_cleanse(blob, NONCE_LEN + plen + TAG_LEN);
    free(blob);
  }
  free(aad);
  idp_buf_free(&text);
  EVP_CIPHER_CTX_free(ctx);
  return rc;
}

int idp_state_unseal(json_t **out, const idp_state_key *key, const char *address, const char *path,
                     const json_t *sealed, idp_state_error *err) {
  int rc = 0;
  unsigned char *blob = NULL, *aad = NULL, *plain = NULL;
  size_t blen = 0, aadlen = 0, plen = 0;
  EVP_CIPHER_CTX *ctx = NULL;
  *out = NULL;
  if (!idp_state_is_sealed(sealed)) {
    rc = idp_state_fail(err, IDP_STATE_EINVALID, "%s of %s is not a sealed secret", path, address);
    goto done;
  }
  if (!key) {
    rc = idp_state_fail(err, IDP_STATE_ENOKEY, "cannot read the secret %s of %s: IDP_STATE_KEY is not set\n%s", path,
                        address, idp_state_key_hint);
    goto done;
  }
  const char *s = json_string_value(json_object_get(sealed, "$secret"));
  size_t n = json_string_length(json_object_get(sealed, "$secret"));
  if (n < sizeof seal_prefix - 1 || memcmp(s, seal_prefix, sizeof seal_prefix - 1) != 0 ||
      b64_decode(s + sizeof seal_prefix - 1, n - (sizeof seal_prefix - 1), &blob, &blen) < 0 ||
      blen < NONCE_LEN + TAG_LEN) {
    rc = idp_state_fail(err, IDP_STATE_EDECRYPT, "the secret %s of %s is damaged: not a \"v1:<base64>\" sealed value",
                        path, address);
    goto done;
  }
  plen = blen - NONCE_LEN - TAG_LEN;
  plain = idp_xmalloc(plen + 1);
  aad = make_aad(address, path, &aadlen);
  int len = 0, fin = 0;
  ctx = EVP_CIPHER_CTX_new();
  if (!ctx || EVP_DecryptInit_ex(ctx, aes_256_gcm(), NULL, key->bytes, blob) != 1 ||
      EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1 ||
      EVP_DecryptUpdate(ctx, plain, &len, blob + NONCE_LEN, (int)plen) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, blob + NONCE_LEN + plen) != 1 ||
      EVP_DecryptFinal_ex(ctx, plain + len, &fin) != 1) {
    rc = idp_state_fail(err, IDP_STATE_EDECRYPT,
                        "cannot decrypt the secret %s of %s: authentication failed (IDP_STATE_KEY is not the "
                        "key this state was written with, or the value was altered or moved)",
                        path, address);
    goto done;
  }
  json_error_t jerr;
  *out = json_loadb((const char *)plain, plen, JSON_DECODE_ANY, &jerr);
  if (!*out) rc = idp_state_fail(err, IDP_STATE_EDECRYPT, "the secret %s of %s decrypts to no JSON value", path, address);
done:
  if (plain) {
    OPENSSL_cleanse(plain, plen + 1);
    free(plain);
  }
  free(blob);
  free(aad);
  EVP_CIPHER_CTX_free(ctx);
  return rc;
}
