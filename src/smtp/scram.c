/*
 * scram.c — SCRAM client messages and their checks (see scram.h).  The
 * messages are built and read here; base64 for the SASL layer, the socket
 * and the policy (which mechanism, which gs2 flag) are elsewhere.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "core/strutil.h"
#include "smtp/scram.h"

enum { SCRAM_ST_NEW = 0, SCRAM_ST_FIRST, SCRAM_ST_FINAL, SCRAM_ST_VERIFIED, SCRAM_ST_FAILED };

/* 24 random bytes: 32 base64 characters, none of them ','. */
#define SCRAM_NONCE_BYTES 24
/* Longest server message read, and user name accepted. */
#define SCRAM_MSG_MAX  4096
#define SCRAM_USER_MAX 1024

static const char *const scram_gs2[] = {
    [SCRAM_CB_NONE] = "n,,",
    [SCRAM_CB_UNUSED] = "y,,",
    [SCRAM_CB_EXPORTER] = "p=tls-exporter,,",
};

static size_t
scram_hlen(enum scram_hash h)
{
	return h == SCRAM_SHA_1 ? 20 : 32;
}

static gnutls_mac_algorithm_t
scram_mac(enum scram_hash h)
{
	return h == SCRAM_SHA_1 ? GNUTLS_MAC_SHA1 : GNUTLS_MAC_SHA256;
}

/* base64 of buf into out (NUL-terminated); its length, or -1 when out is too small. */
static int
scram_b64(const unsigned char *buf, size_t len, char *out, size_t outsz)
{
	gnutls_datum_t in = {(unsigned char *)(uintptr_t)buf, (unsigned)len}, b = {NULL, 0};
	int n = -1;

	if (gnutls_base64_encode2(&in, &b) < 0)
		return -1;
	if (b.size < outsz) {
		memcpy(out, b.data, b.size);
		out[b.size] = '\0';
		n = (int)b.size;
	}
	explicit_bzero(b.data, b.size);
	gnutls_free(b.data);
	return n;
}

/* Decode len bytes of base64 into out (at most outsz); 0, or -1 when invalid or too long. */
static int
scram_unb64(const char *s, size_t len, unsigned char *out, size_t outsz, size_t *outlen)
{
	gnutls_datum_t in = {(unsigned char *)(uintptr_t)s, (unsigned)len}, b = {NULL, 0};
	int rc = -1;

	if (len == 0 || gnutls_base64_decode2(&in, &b) < 0)
		return -1;
	if (b.size > 0 && b.size <= outsz) {
		memcpy(out, b.data, b.size);
		*outlen = b.size;
		rc = 0;
	}
	explicit_bzero(b.data, b.size);
	gnutls_free(b.data);
	return rc;
}

/* The value of attribute name ("r") at *p, up to ',' or the end; advances past the ','. */
static int
scram_attr(const char **p, const char *end, char name, const char **val, size_t *vlen)
{
	const char *q = *p, *comma;

	if (end - q < 2 || q[0] != name || q[1] != '=')
		return -1;
	q += 2;
	comma = memchr(q, ',', (size_t)(end - q));
	*val = q;
	*vlen = (size_t)((comma != NULL ? comma : end) - q);
	*p = comma != NULL ? comma + 1 : end;
	return 0;
}

/* Nothing a server sends may drive a terminal or hide a NUL. */
static int
scram_has_ctl(const char *msg, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			return 1;
	return 0;
}

static int
scram_is(const char *v, size_t vlen, const char *word)
{
	return vlen == strlen(word) && memcmp(v, word, vlen) == 0;
}

/* A server-error (e=...) in the server-final-message: its words, and what it likely means. */
static int
scram_server_error(const char *v, size_t vlen, struct sx_err *e)
{
	sx_fail(e, SX_AUTH, STAGE_AUTH, "the server refused the SCRAM exchange: %.*s",
	    vlen > 64 ? 64 : (int)vlen, v);
	if (scram_is(v, vlen, "invalid-proof"))
		sx_hint(e, "check user and password");
	else if (scram_is(v, vlen, "channel-bindings-dont-match"))
		sx_hint(e, "the server saw another TLS connection than ours: something between "
			   "us and the server terminates TLS (a man in the middle)");
	else if (scram_is(v, vlen, "server-does-support-channel-binding"))
		sx_hint(e, "the server supports channel binding, but its capability list showed "
			   "no -PLUS mechanism: something between us removed it");
	return -1;
}

/* Each way of getting the server-first-message wrong has its words. */
int
scram_parse_challenge(const struct scram *s, const char *msg, size_t len,
    struct scram_challenge *ch, struct sx_err *e)
{
	const char *p = msg, *end = msg + len, *v;
	size_t vlen, i, ours = strlen(s->nonce);

	memset(ch, 0, sizeof(*ch));
	if (len > SCRAM_MSG_MAX)
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "malformed SCRAM challenge: longer than %d bytes", SCRAM_MSG_MAX);
	if (scram_has_ctl(msg, len))
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "malformed SCRAM challenge: it holds control characters");
	/* Not in RFC 5802's grammar here, but servers end a doomed exchange so. */
	if (scram_attr(&p, end, 'e', &v, &vlen) == 0)
		return scram_server_error(v, vlen, e);
	if (len >= 2 && msg[0] == 'm' && msg[1] == '=')
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "the server requires a SCRAM extension (m=) that smtps-send does not know");
	if (scram_attr(&p, end, 'r', &ch->nonce, &ch->noncelen) == -1)
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "malformed SCRAM challenge: it does not start with the nonce (r=)");
	for (i = 0; i < ch->noncelen; i++)
		if ((unsigned char)ch->nonce[i] > 0x7e)
			return sx_fail(e, SX_PROTO, STAGE_AUTH,
			    "malformed SCRAM challenge: the nonce is not printable ASCII");
	/* Ours, then the server's part: anything else replays or forges a challenge. */
	if (ch->noncelen <= ours || memcmp(ch->nonce, s->nonce, ours) != 0)
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "the server's SCRAM nonce does not extend ours (a replayed or forged "
		    "challenge)");
	if (scram_attr(&p, end, 's', &v, &vlen) == -1)
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "malformed SCRAM challenge: no salt (s=) after the nonce");
	if (scram_unb64(v, vlen, ch->salt, sizeof(ch->salt), &ch->saltlen) == -1)
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "malformed SCRAM challenge: the salt is empty, not base64, or longer than %d "
		    "bytes",
		    SCRAM_SALT_MAX);
	if (scram_attr(&p, end, 'i', &v, &vlen) == -1)
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "malformed SCRAM challenge: no iteration count (i=) after the salt");
	if (vlen == 0)
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "malformed SCRAM challenge: the iteration count is empty");
	for (i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return sx_fail(e, SX_PROTO, STAGE_AUTH,
			    "malformed SCRAM challenge: the iteration count is not a number");
		/* Stop counting at the bound: no overflow, however many digits. */
		if (ch->iterations <= SCRAM_ITER_MAX)
			ch->iterations = ch->iterations * 10 + (unsigned long)(v[i] - '0');
	}
	if (ch->iterations < SCRAM_ITER_MIN)
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "the server asks for a SCRAM iteration count of 0 (at least %lu is needed)",
		    SCRAM_ITER_MIN);
	if (ch->iterations > SCRAM_ITER_MAX)
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "the server asks for %.*s SCRAM iterations: refusing more than %lu, which "
		    "would take minutes of CPU",
		    vlen > 24 ? 24 : (int)vlen, v, SCRAM_ITER_MAX);
	/* Optional extensions follow; none is mandatory (that was m=). */
	return 0;
}

int
scram_first(struct scram *s, enum scram_hash h, enum scram_cbind cb, const unsigned char *cbdata,
    size_t cblen, const char *user, const char *nonce, char **out, struct sx_err *e)
{
	unsigned char rnd[SCRAM_NONCE_BYTES];
	size_t ulen = strlen(user), i, n = 0, gl;
	char *bare, *msg;
	int rc;

	memset(s, 0, sizeof(*s));
	*out = NULL;
	s->hash = h;
	s->cb = cb;
	if (cb == SCRAM_CB_EXPORTER) {
		if (cbdata == NULL || cblen == 0 || cblen > sizeof(s->cbdata))
			return sx_fail(e, SX_INTERNAL, STAGE_AUTH,
			    "SCRAM: no usable channel binding data (%zu bytes)", cblen);
		memcpy(s->cbdata, cbdata, cblen);
		s->cblen = cblen;
	}
	if (nonce == NULL) {
		if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd))) < 0)
			return sx_fail_gnutls(e, SX_INTERNAL, STAGE_AUTH, rc, "SCRAM nonce");
		rc = scram_b64(rnd, sizeof(rnd), s->nonce, sizeof(s->nonce));
		explicit_bzero(rnd, sizeof(rnd));
		if (rc == -1)
			return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "SCRAM nonce: base64 failed");
	} else {
		if (nonce[0] == '\0' || strlen(nonce) > SCRAM_NONCE_MAX ||
		    strspn(nonce,
			"!\"#$%&'()*+-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
			"abcdefghijklmnopqrstuvwxyz{|}~") != strlen(nonce))
			return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "SCRAM: bad client nonce");
		strlcpy(s->nonce, nonce, sizeof(s->nonce));
	}
	if (ulen > SCRAM_USER_MAX || str_has_ctl(user))
		return sx_fail(e, SX_CONFIG, STAGE_AUTH,
		    "user name too long or holding control characters for SCRAM");
	/* "n=" user (',' and '=' escaped in three bytes) ",r=" nonce. */
	if ((bare = malloc(2 + 3 * ulen + 3 + strlen(s->nonce) + 1)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	bare[n++] = 'n';
	bare[n++] = '=';
	for (i = 0; i < ulen; i++) {
		if (user[i] == ',' || user[i] == '=') {
			memcpy(bare + n, user[i] == ',' ? "=2C" : "=3D", 3);
			n += 3;
		} else {
			bare[n++] = user[i];
		}
	}
	memcpy(bare + n, ",r=", 3);
	n += 3;
	strcpy(bare + n, s->nonce);
	gl = strlen(scram_gs2[cb]);
	if ((msg = malloc(gl + strlen(bare) + 1)) == NULL) {
		free(bare);
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	}
	memcpy(msg, scram_gs2[cb], gl);
	strcpy(msg + gl, bare);
	s->first_bare = bare;
	s->state = SCRAM_ST_FIRST;
	*out = msg;
	return 0;
}

/*
 * SASLprep (RFC 4013) of the password, as far as GnuTLS goes.  Printable
 * ASCII is its own SASLprep.  Anything else goes through
 * gnutls_utf8_password_normalize: RFC 8265's OpaqueString, SASLprep's
 * successor (non-ASCII spaces become U+0020, then NFC), which gives
 * SASLprep's result for every password without compatibility characters
 * (SASLprep's NFKC would also fold those: a full-width letter, a
 * ligature).  A password it refuses (not UTF-8; control, ignorable or
 * unassigned characters) is used as its bytes, which is what a server that
 * prepares nothing (Dovecot) compares against.  *buf is GnuTLS memory
 * (wipe, then gnutls_free) or NULL when the password is used as it is.
 */
static int
scram_prep(struct scram *s, const char *password, gnutls_datum_t *key, unsigned char **buf,
    struct sx_err *e)
{
	size_t len = strlen(password), i;
	gnutls_datum_t out = {NULL, 0};
	int rc;

	*buf = NULL;
	key->data = (unsigned char *)(uintptr_t)password;
	key->size = (unsigned)len;
	s->prep = SCRAM_PREP_ASCII;
	for (i = 0; i < len; i++)
		if ((unsigned char)password[i] >= 0x80)
			break;
	if (i == len)
		return 0;
	rc =
	    gnutls_utf8_password_normalize((const unsigned char *)password, (unsigned)len, &out, 0);
	if (rc == GNUTLS_E_MEMORY_ERROR)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	if (rc < 0) {
		s->prep = SCRAM_PREP_RAW;
		return 0;
	}
	s->prep = SCRAM_PREP_OPAQUE;
	*buf = out.data;
	key->data = out.data;
	key->size = out.size;
	return 0;
}

/*
 * The proof (RFC 5802 section 3):
 *   SaltedPassword  = PBKDF2(Normalize(password), salt, i)
 *   ClientKey       = HMAC(SaltedPassword, "Client Key")
 *   StoredKey       = H(ClientKey)
 *   ClientSignature = HMAC(StoredKey, AuthMessage)
 *   ClientProof     = ClientKey XOR ClientSignature
 *   ServerSignature = HMAC(HMAC(SaltedPassword, "Server Key"), AuthMessage)
 * Only ServerSignature outlives this function.
 */
static int
scram_keys(struct scram *s, const gnutls_datum_t *key, const struct scram_challenge *ch,
    const char *auth, unsigned char *proof, struct sx_err *e)
{
	unsigned char salted[SCRAM_HASH_MAX], ckey[SCRAM_HASH_MAX], stored[SCRAM_HASH_MAX];
	unsigned char skey[SCRAM_HASH_MAX], csig[SCRAM_HASH_MAX];
	gnutls_mac_algorithm_t mac = scram_mac(s->hash);
	gnutls_datum_t salt = {(unsigned char *)(uintptr_t)ch->salt, (unsigned)ch->saltlen};
	size_t hlen = scram_hlen(s->hash), alen = strlen(auth), i;
	int rc;

	if ((rc = gnutls_pbkdf2(mac, key, &salt, (unsigned)ch->iterations, salted, hlen)) < 0 ||
	    (rc = gnutls_hmac_fast(mac, salted, hlen, "Client Key", 10, ckey)) < 0 ||
	    (rc = gnutls_hash_fast(s->hash == SCRAM_SHA_1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256,
		 ckey, hlen, stored)) < 0 ||
	    (rc = gnutls_hmac_fast(mac, stored, hlen, auth, alen, csig)) < 0 ||
	    (rc = gnutls_hmac_fast(mac, salted, hlen, "Server Key", 10, skey)) < 0 ||
	    (rc = gnutls_hmac_fast(mac, skey, hlen, auth, alen, s->server_sig)) < 0)
		sx_fail_gnutls(e, SX_INTERNAL, STAGE_AUTH, rc, "SCRAM key derivation");
	else
		for (i = 0; i < hlen; i++)
			proof[i] = ckey[i] ^ csig[i];
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(ckey, sizeof(ckey));
	explicit_bzero(stored, sizeof(stored));
	explicit_bzero(skey, sizeof(skey));
	explicit_bzero(csig, sizeof(csig));
	return rc < 0 ? -1 : 0;
}

int
scram_final(struct scram *s, const char *password, const char *msg, size_t len, char **out,
    struct sx_err *e)
{
	struct scram_challenge ch;
	unsigned char cbin[32 + SCRAM_CB_MAX];
	unsigned char proof[SCRAM_HASH_MAX], *prepped = NULL;
	char cb64[2 * sizeof(cbin)], proof64[2 * SCRAM_HASH_MAX];
	char *nofinal = NULL, *auth = NULL, *res = NULL;
	size_t gl, nl, al;
	gnutls_datum_t key;
	int rc = -1;

	*out = NULL;
	if (s->state != SCRAM_ST_FIRST)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "SCRAM: challenge out of order");
	s->state = SCRAM_ST_FAILED;
	if (scram_parse_challenge(s, msg, len, &ch, e) == -1)
		return -1;
	s->iterations = ch.iterations;
	/* c=: the gs2 header again, and with -PLUS the binding data after it. */
	gl = strlen(scram_gs2[s->cb]);
	memcpy(cbin, scram_gs2[s->cb], gl);
	if (s->cb == SCRAM_CB_EXPORTER) {
		memcpy(cbin + gl, s->cbdata, s->cblen);
		gl += s->cblen;
	}
	if (scram_b64(cbin, gl, cb64, sizeof(cb64)) == -1)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "SCRAM: base64 failed");
	/* client-final-message-without-proof = "c=" cb64 ",r=" nonce */
	nl = 2 + strlen(cb64) + 3 + ch.noncelen;
	al = strlen(s->first_bare) + 1 + len + 1 + nl;
	if ((nofinal = malloc(nl + 1)) == NULL || (auth = malloc(al + 1)) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
		goto out;
	}
	snprintf(nofinal, nl + 1, "c=%s,r=%.*s", cb64, (int)ch.noncelen, ch.nonce);
	snprintf(auth, al + 1, "%s,%.*s,%s", s->first_bare, (int)len, msg, nofinal);
	if (scram_prep(s, password, &key, &prepped, e) == -1)
		goto out;
	if (scram_keys(s, &key, &ch, auth, proof, e) == -1)
		goto out;
	if (scram_b64(proof, scram_hlen(s->hash), proof64, sizeof(proof64)) == -1 ||
	    (res = malloc(nl + 3 + strlen(proof64) + 1)) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
		goto out;
	}
	snprintf(res, nl + 3 + strlen(proof64) + 1, "%s,p=%s", nofinal, proof64);
	*out = res;
	s->state = SCRAM_ST_FINAL;
	rc = 0;
out:
	explicit_bzero(proof, sizeof(proof));
	explicit_bzero(proof64, sizeof(proof64));
	if (prepped != NULL) {
		explicit_bzero(prepped, key.size);
		gnutls_free(prepped);
	}
	free(nofinal);
	if (auth != NULL) {
		explicit_bzero(auth, al);
		free(auth);
	}
	if (rc == -1)
		explicit_bzero(s->server_sig, sizeof(s->server_sig));
	return rc;
}

/* Compare in time independent of where they differ. */
static int
scram_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int
scram_verify(struct scram *s, const char *msg, size_t len, struct sx_err *e)
{
	unsigned char sig[SCRAM_HASH_MAX + 8];
	const char *p = msg, *end = msg + len, *v;
	size_t vlen, siglen = 0, hlen = scram_hlen(s->hash);
	int ok;

	if (s->state != SCRAM_ST_FINAL)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "SCRAM: server message out of order");
	s->state = SCRAM_ST_FAILED;
	if (len > SCRAM_MSG_MAX || scram_has_ctl(msg, len))
		return sx_fail(e, SX_PROTO, STAGE_AUTH,
		    "malformed SCRAM server-final message: too long or holding control characters");
	if (scram_attr(&p, end, 'e', &v, &vlen) == 0)
		return scram_server_error(v, vlen, e);
	if (scram_attr(&p, end, 'v', &v, &vlen) == -1) {
		sx_fail(e, SX_AUTH, STAGE_AUTH,
		    "the server could not prove it knows the password: its last SCRAM message "
		    "has no signature (v=)");
		goto fail;
	}
	if (scram_unb64(v, vlen, sig, sizeof(sig), &siglen) == -1 || siglen != hlen) {
		sx_fail(e, SX_AUTH, STAGE_AUTH,
		    "the server could not prove it knows the password: its SCRAM signature is "
		    "not %zu bytes of base64",
		    hlen);
		goto fail;
	}
	ok = scram_equal(sig, s->server_sig, hlen);
	explicit_bzero(sig, sizeof(sig));
	explicit_bzero(s->server_sig, sizeof(s->server_sig));
	if (!ok) {
		sx_fail(e, SX_AUTH, STAGE_AUTH,
		    "the server could not prove it knows the password: wrong SCRAM server "
		    "signature");
		goto fail;
	}
	s->state = SCRAM_ST_VERIFIED;
	return 0;
fail:
	sx_hint(e, "the message was not sent: this server, or something between us and it, "
		   "does not hold the account's password");
	explicit_bzero(s->server_sig, sizeof(s->server_sig));
	return -1;
}

int
scram_verified(const struct scram *s)
{
	return s->state == SCRAM_ST_VERIFIED;
}

void
scram_clear(struct scram *s)
{
	if (s->first_bare != NULL) {
		explicit_bzero(s->first_bare, strlen(s->first_bare));
		free(s->first_bare);
	}
	explicit_bzero(s, sizeof(*s));
}

void
scram_free_msg(char *m)
{
	str_free_secret(m);
}
