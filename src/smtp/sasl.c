/*
 * sasl.c — the mechanisms (PLAIN, LOGIN, CRAM-MD5, SCRAM through scram.c,
 * EXTERNAL) over GnuTLS' base64 and primitives, and the one table that
 * ranks them (see sasl.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "smtp/sasl.h"

/* Longest user name or password accepted (RFC 4616 allows 255 octets each). */
#define SASL_FIELD_MAX 1024

static int sasl_plain_begin(struct sasl_exchange *, struct sx_err *);
static int sasl_external_begin(struct sasl_exchange *, struct sx_err *);
static int sasl_scram_begin(struct sasl_exchange *, struct sx_err *);
static int sasl_ir_step(struct sasl_exchange *, const char *, char **, struct sx_err *);
static int sasl_login_step(struct sasl_exchange *, const char *, char **, struct sx_err *);
static int sasl_cram_step(struct sasl_exchange *, const char *, char **, struct sx_err *);
static int sasl_scram_step(struct sasl_exchange *, const char *, char **, struct sx_err *);

/*
 * Each mechanism: its name, its rank when auth is on (higher first; 0:
 * only when pinned), what the session must have to use it, and its steps
 * (begin: the initial response, NULL for none; step: one challenge).
 * PLAIN and LOGIN send the password itself (inside TLS); SCRAM proves it
 * and has the server prove it too; -PLUS also ties both proofs to this TLS
 * connection; CRAM-MD5 is a legacy fallback (its MD5 key is the password's
 * equivalent on the server), below everything, and only inside TLS.
 */
static const struct sasl_info {
	const char *name;
	int rank;
	unsigned needs;
	int (*begin)(struct sasl_exchange *, struct sx_err *);
	int (*step)(struct sasl_exchange *, const char *challenge, char **resp, struct sx_err *);
} sasl_mechs[SASL_NMECH] = {
    [SASL_NONE] = {"none", 0, 0, NULL, NULL},
    [SASL_SCRAM_SHA_256_PLUS] = {"SCRAM-SHA-256-PLUS", 90, SASL_HAVE_PASSWORD | SASL_HAVE_BINDING,
	sasl_scram_begin, sasl_scram_step},
    [SASL_SCRAM_SHA_1_PLUS] = {"SCRAM-SHA-1-PLUS", 80, SASL_HAVE_PASSWORD | SASL_HAVE_BINDING,
	sasl_scram_begin, sasl_scram_step},
    [SASL_SCRAM_SHA_256] = {"SCRAM-SHA-256", 70, SASL_HAVE_PASSWORD, sasl_scram_begin,
	sasl_scram_step},
    [SASL_SCRAM_SHA_1] = {"SCRAM-SHA-1", 60, SASL_HAVE_PASSWORD, sasl_scram_begin, sasl_scram_step},
    /*
     * OAuth2: ranked below SCRAM and above PLAIN, usable only with a token
     * (SASL_HAVE_TOKEN); the OAuth2 work gives them their steps.
     */
    [SASL_OAUTHBEARER] = {"OAUTHBEARER", 55, SASL_HAVE_TOKEN, NULL, NULL},
    [SASL_XOAUTH2] = {"XOAUTH2", 50, SASL_HAVE_TOKEN, NULL, NULL},
    [SASL_PLAIN] = {"PLAIN", 40, SASL_HAVE_PASSWORD, sasl_plain_begin, sasl_ir_step},
    [SASL_LOGIN] = {"LOGIN", 30, SASL_HAVE_PASSWORD, NULL, sasl_login_step},
    [SASL_CRAM_MD5] = {"CRAM-MD5", 20, SASL_HAVE_PASSWORD | SASL_HAVE_TLS, NULL, sasl_cram_step},
    [SASL_EXTERNAL] = {"EXTERNAL", 0, SASL_HAVE_CERT | SASL_HAVE_TLS, sasl_external_begin,
	sasl_ir_step},
};

const char *
sasl_name(enum sasl_mech m)
{
	return (unsigned)m < SASL_NMECH ? sasl_mechs[m].name : "none";
}

enum sasl_mech
sasl_from_auth_mode(enum auth_mode a)
{
	switch (a) {
	case AUTH_MODE_PLAIN:
		return SASL_PLAIN;
	case AUTH_MODE_LOGIN:
		return SASL_LOGIN;
	case AUTH_MODE_CRAM_MD5:
		return SASL_CRAM_MD5;
	case AUTH_MODE_SCRAM_SHA_1:
		return SASL_SCRAM_SHA_1;
	case AUTH_MODE_SCRAM_SHA_256:
		return SASL_SCRAM_SHA_256;
	case AUTH_MODE_SCRAM_SHA_1_PLUS:
		return SASL_SCRAM_SHA_1_PLUS;
	case AUTH_MODE_SCRAM_SHA_256_PLUS:
		return SASL_SCRAM_SHA_256_PLUS;
	case AUTH_MODE_EXTERNAL:
		return SASL_EXTERNAL;
	case AUTH_MODE_XOAUTH2:
		return SASL_XOAUTH2;
	case AUTH_MODE_OAUTHBEARER:
		return SASL_OAUTHBEARER;
	case AUTH_MODE_DEFAULT:
	case AUTH_MODE_OFF:
		break;
	}
	return SASL_NONE;
}

unsigned
sasl_offered(const char *list)
{
	unsigned set = 0;
	size_t len, m;

	while (*list != '\0') {
		len = strcspn(list, " ");
		for (m = 1; m < SASL_NMECH; m++)
			if (strlen(sasl_mechs[m].name) == len &&
			    strncasecmp(list, sasl_mechs[m].name, len) == 0)
				set |= SASL_BIT(m);
		list += len;
		list += strspn(list, " ");
	}
	return set;
}

/* Why this session cannot use m (NULL: it can). */
static const char *
sasl_unusable(enum sasl_mech m, unsigned have, const char *nobind, char *buf, size_t sz)
{
	unsigned missing = sasl_mechs[m].needs & ~have;

	if (missing & SASL_HAVE_BINDING) {
		snprintf(buf, sz, "no channel binding on this connection (%s)",
		    nobind != NULL ? nobind : "unavailable");
		return buf;
	}
	if (missing & SASL_HAVE_TLS)
		return "used only over TLS";
	if (missing & SASL_HAVE_CERT)
		return "needs a client certificate (tls_cert_file, tls_key_file)";
	if (missing & SASL_HAVE_TOKEN)
		return "needs an OAuth2 token";
	if (missing & SASL_HAVE_PASSWORD)
		return "needs a user";
	if (sasl_mechs[m].step == NULL)
		return "not implemented";
	return NULL;
}

/* Why m is not used when auth is on (NULL: it can be). */
static const char *
sasl_auto_unusable(size_t m, unsigned have, const char *nobind, char *buf, size_t sz)
{
	const char *r = sasl_unusable((enum sasl_mech)m, have, nobind, buf, sz);

	if (r == NULL && sasl_mechs[m].rank == 0)
		return "used only when pinned (auth external)";
	return r;
}

enum sasl_mech
sasl_pick(enum sasl_mech wanted, unsigned offered, unsigned have, const char *nobind, char *why,
    size_t whysz)
{
	char buf[160], notes[320] = "", last[160] = "";
	const char *r;
	size_t m, n, best = SASL_NONE;
	int rank;

	if (wanted != SASL_NONE) {
		if ((offered & SASL_BIT(wanted)) == 0) {
			snprintf(why, whysz, "%s is pinned (auth) but the server does not offer it",
			    sasl_name(wanted));
			return SASL_NONE;
		}
		if ((r = sasl_unusable(wanted, have, nobind, buf, sizeof(buf))) != NULL) {
			snprintf(why, whysz, "%s is pinned (auth) but %s", sasl_name(wanted), r);
			return SASL_NONE;
		}
		snprintf(why, whysz, "pinned by the auth setting");
		return wanted;
	}
	for (m = 1; m < SASL_NMECH; m++)
		if ((offered & SASL_BIT(m)) != 0 &&
		    sasl_auto_unusable(m, have, nobind, buf, sizeof(buf)) == NULL &&
		    (best == SASL_NONE || sasl_mechs[m].rank > sasl_mechs[best].rank))
			best = m;
	/*
	 * Why each stronger one offered was passed over (every one, when none
	 * fits), strongest first, those with the same reason together.
	 */
	for (rank = 100; rank >= 0; rank--) {
		for (m = 1; m < SASL_NMECH; m++) {
			if (sasl_mechs[m].rank != rank || (offered & SASL_BIT(m)) == 0 ||
			    (best != SASL_NONE && rank <= sasl_mechs[best].rank))
				continue;
			r = sasl_auto_unusable(m, have, nobind, buf, sizeof(buf));
			n = strlen(notes);
			if (n >= strlen(last) + 2 && strcmp(r, last) == 0 &&
			    strcmp(notes + n - strlen(last), last) == 0) {
				/* "A: why" becomes "A, B: why". */
				n -= strlen(last) + 2;
				snprintf(notes + n, sizeof(notes) - n, ", %s: %s",
				    sasl_mechs[m].name, r);
			} else {
				snprintf(notes + n, sizeof(notes) - n, "%s%s: %s",
				    n > 0 ? "; " : "", sasl_mechs[m].name, r);
			}
			strlcpy(last, r, sizeof(last));
		}
	}
	if (best == SASL_NONE) {
		snprintf(why, whysz, "none of the offered mechanisms is usable%s%s",
		    notes[0] != '\0' ? ": " : "", notes);
		return SASL_NONE;
	}
	snprintf(why, whysz, "the strongest offered%s%s%s",
	    notes[0] != '\0' ? " (passed over " : "", notes, notes[0] != '\0' ? ")" : "");
	return (enum sasl_mech)best;
}

enum scram_cbind
sasl_cbind(enum sasl_mech m, unsigned offered, unsigned have)
{
	const unsigned plus = SASL_BIT(SASL_SCRAM_SHA_1_PLUS) | SASL_BIT(SASL_SCRAM_SHA_256_PLUS);

	if (m == SASL_SCRAM_SHA_1_PLUS || m == SASL_SCRAM_SHA_256_PLUS)
		return SCRAM_CB_EXPORTER;
	/* A server offering -PLUS does bind: a pinned plain SCRAM says it chose not to. */
	if ((have & SASL_HAVE_BINDING) && (offered & plus) == 0)
		return SCRAM_CB_UNUSED;
	return SCRAM_CB_NONE;
}

static int
sasl_encode(const unsigned char *buf, size_t len, char **b64, struct sx_err *e)
{
	gnutls_datum_t in = {(unsigned char *)(uintptr_t)buf, (unsigned)len}, out = {NULL, 0};
	int rc;

	if (len == 0) {
		if ((*b64 = strdup("")) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
		return 0;
	}
	if ((rc = gnutls_base64_encode2(&in, &out)) < 0)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "base64: %s", gnutls_strerror(rc));
	*b64 = malloc(out.size + 1);
	if (*b64 == NULL) {
		explicit_bzero(out.data, out.size);
		gnutls_free(out.data);
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	}
	memcpy(*b64, out.data, out.size);
	(*b64)[out.size] = '\0';
	explicit_bzero(out.data, out.size);
	gnutls_free(out.data);
	return 0;
}

/* A challenge's base64 text to bytes (NUL-terminated; wipe and free). */
static int
sasl_decode(const char *b64, unsigned char **out, size_t *len, struct sx_err *e)
{
	gnutls_datum_t in = {(unsigned char *)(uintptr_t)b64, (unsigned)strlen(b64)}, d = {NULL, 0};

	*out = NULL;
	*len = 0;
	if (in.size > 0 && gnutls_base64_decode2(&in, &d) < 0)
		return sx_fail(
		    e, SX_PROTO, STAGE_AUTH, "the server's SASL challenge is not base64");
	if ((*out = malloc(d.size + 1)) == NULL) {
		gnutls_free(d.data);
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	}
	if (d.size > 0)
		memcpy(*out, d.data, d.size);
	(*out)[d.size] = '\0';
	*len = d.size;
	if (d.data != NULL)
		explicit_bzero(d.data, d.size);
	gnutls_free(d.data);
	return 0;
}

static void
sasl_wipe(unsigned char *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

int
sasl_plain(const char *user, const char *pass, char **b64, struct sx_err *e)
{
	size_t ul = strlen(user), pl = strlen(pass);
	unsigned char *buf;
	int rc;

	*b64 = NULL;
	if (ul > SASL_FIELD_MAX || pl > SASL_FIELD_MAX)
		return sx_fail(e, SX_CONFIG, STAGE_AUTH, "user name or password too long");
	if ((buf = malloc(ul + pl + 2)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	buf[0] = '\0';
	memcpy(buf + 1, user, ul);
	buf[1 + ul] = '\0';
	memcpy(buf + 2 + ul, pass, pl);
	rc = sasl_encode(buf, ul + pl + 2, b64, e);
	explicit_bzero(buf, ul + pl + 2);
	free(buf);
	return rc;
}

int
sasl_base64(const char *s, char **b64, struct sx_err *e)
{
	size_t len = strlen(s);

	*b64 = NULL;
	if (len > SASL_FIELD_MAX)
		return sx_fail(e, SX_CONFIG, STAGE_AUTH, "user name or password too long");
	return sasl_encode((const unsigned char *)s, len, b64, e);
}

int
sasl_cram_md5(const char *user, const char *pass, const unsigned char *challenge, size_t len,
    char **b64, struct sx_err *e)
{
	unsigned char mac[16];
	char hex[2 * sizeof(mac) + 1], *resp;
	gnutls_datum_t d = {mac, sizeof(mac)};
	size_t ul = strlen(user), hl = sizeof(hex), pl = strlen(pass);
	int rc;

	*b64 = NULL;
	if (ul > SASL_FIELD_MAX || pl > SASL_FIELD_MAX)
		return sx_fail(e, SX_CONFIG, STAGE_AUTH, "user name or password too long");
	if (len == 0)
		return sx_fail(e, SX_PROTO, STAGE_AUTH, "the server's CRAM-MD5 challenge is empty");
	if ((rc = gnutls_hmac_fast(GNUTLS_MAC_MD5, pass, pl, challenge, len, mac)) < 0 ||
	    (rc = gnutls_hex_encode(&d, hex, &hl)) < 0) {
		explicit_bzero(mac, sizeof(mac));
		return sx_fail_gnutls(e, SX_INTERNAL, STAGE_AUTH, rc, "CRAM-MD5");
	}
	explicit_bzero(mac, sizeof(mac));
	if ((resp = malloc(ul + 1 + sizeof(hex))) == NULL) {
		explicit_bzero(hex, sizeof(hex));
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	}
	snprintf(resp, ul + 1 + sizeof(hex), "%s %s", user, hex);
	rc = sasl_encode((const unsigned char *)resp, strlen(resp), b64, e);
	explicit_bzero(hex, sizeof(hex));
	sasl_free(resp);
	return rc;
}

int
sasl_is_scram(enum sasl_mech m)
{
	return m == SASL_SCRAM_SHA_1 || m == SASL_SCRAM_SHA_256 || m == SASL_SCRAM_SHA_1_PLUS ||
	       m == SASL_SCRAM_SHA_256_PLUS;
}

/* PLAIN (RFC 4616): everything in the initial response. */
static int
sasl_plain_begin(struct sasl_exchange *x, struct sx_err *e)
{
	return sasl_plain(x->user, x->secret, &x->ir, e);
}

/* EXTERNAL (RFC 4422 appendix A): the authorization identity, empty for the certificate's. */
static int
sasl_external_begin(struct sasl_exchange *x, struct sx_err *e)
{
	return sasl_base64(x->user, &x->ir, e);
}

/* A server that ignored the initial response asks for it with an empty challenge. */
static int
sasl_ir_step(struct sasl_exchange *x, const char *challenge, char **resp, struct sx_err *e)
{
	if (x->step != 0 || challenge[0] != '\0')
		return sx_fail(e, SX_PROTO, STAGE_AUTH, "unexpected %s challenge from the server",
		    sasl_name(x->mech));
	if ((*resp = strdup(x->ir)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	return 0;
}

/* LOGIN: "Username:", "Password:" -- their text varies; the order does not. */
static int
sasl_login_step(struct sasl_exchange *x, const char *challenge, char **resp, struct sx_err *e)
{
	(void)challenge;
	if (x->step == 0)
		return sasl_base64(x->user, resp, e);
	if (x->step == 1)
		return sasl_base64(x->secret, resp, e);
	return sx_fail(
	    e, SX_PROTO, STAGE_AUTH, "the server asked for more than user and password (LOGIN)");
}

static int
sasl_cram_step(struct sasl_exchange *x, const char *challenge, char **resp, struct sx_err *e)
{
	unsigned char *ch;
	size_t len;
	int rc;

	if (x->step != 0)
		return sx_fail(
		    e, SX_PROTO, STAGE_AUTH, "the server sent a second CRAM-MD5 challenge");
	if (sasl_decode(challenge, &ch, &len, e) == -1)
		return -1;
	rc = sasl_cram_md5(x->user, x->secret, ch, len, resp, e);
	sasl_wipe(ch, len);
	return rc;
}

/* SCRAM: client-first as the initial response (RFC 4954 allows one). */
static int
sasl_scram_begin(struct sasl_exchange *x, struct sx_err *e)
{
	enum sasl_mech m = x->mech;
	int plus = m == SASL_SCRAM_SHA_1_PLUS || m == SASL_SCRAM_SHA_256_PLUS;
	char *msg;
	int rc;

	if (plus != (x->cb == SCRAM_CB_EXPORTER))
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "SCRAM: gs2 flag for %s", sasl_name(m));
	if (scram_first(&x->scram,
		m == SASL_SCRAM_SHA_1 || m == SASL_SCRAM_SHA_1_PLUS ? SCRAM_SHA_1 : SCRAM_SHA_256,
		x->cb, x->cbdata, x->cblen, x->user, NULL, &msg, e) == -1)
		return -1;
	rc = sasl_encode((const unsigned char *)msg, strlen(msg), &x->ir, e);
	scram_free_msg(msg);
	return rc;
}

/* SCRAM: server-first -> client-final, then server-final -> an empty line. */
static int
sasl_scram_step(struct sasl_exchange *x, const char *challenge, char **resp, struct sx_err *e)
{
	unsigned char *ch;
	char *msg;
	size_t len;
	int rc = -1;

	if (x->step > 1)
		return sx_fail(
		    e, SX_PROTO, STAGE_AUTH, "the server sent a SCRAM challenge after its last");
	if (sasl_decode(challenge, &ch, &len, e) == -1)
		return -1;
	if (x->step == 0) {
		if (scram_final(&x->scram, x->secret, (const char *)ch, len, &msg, e) == 0) {
			rc = sasl_encode((const unsigned char *)msg, strlen(msg), resp, e);
			scram_free_msg(msg);
		}
	} else if (scram_verify(&x->scram, (const char *)ch, len, e) == 0) {
		rc = sasl_encode(NULL, 0, resp, e);
	}
	sasl_wipe(ch, len);
	return rc;
}

int
sasl_begin(struct sasl_exchange *x, enum sasl_mech m, const char *user, const char *secret,
    enum scram_cbind cb, const unsigned char *cbdata, size_t cblen, char **ir, struct sx_err *e)
{
	memset(x, 0, sizeof(*x));
	*ir = NULL;
	x->mech = m;
	x->user = user != NULL ? user : "";
	x->secret = secret != NULL ? secret : "";
	x->cb = cb;
	x->cbdata = cbdata;
	x->cblen = cblen;
	if ((unsigned)m >= SASL_NMECH || sasl_mechs[m].step == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "%s is not implemented", sasl_name(m));
	if (sasl_mechs[m].begin == NULL)
		return 0; /* the server speaks first */
	if (sasl_mechs[m].begin(x, e) == -1)
		return -1;
	if ((*ir = strdup(x->ir)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	return 0;
}

int
sasl_step(struct sasl_exchange *x, const char *challenge, char **resp, struct sx_err *e)
{
	int rc;

	*resp = NULL;
	rc = sasl_mechs[x->mech].step(x, challenge, resp, e);
	x->step++;
	return rc;
}

int
sasl_end(struct sasl_exchange *x, struct sx_err *e)
{
	if (!sasl_is_scram(x->mech) || scram_verified(&x->scram))
		return 0;
	sx_fail(e, SX_AUTH, STAGE_AUTH,
	    "the server could not prove it knows the password: it accepted the login without "
	    "sending its SCRAM signature");
	sx_hint(e, "the message was not sent: this server, or something between us and it, does "
		   "not hold the account's password");
	return -1;
}

void
sasl_exchange_clear(struct sasl_exchange *x)
{
	sasl_free(x->ir);
	scram_clear(&x->scram);
	explicit_bzero(x, sizeof(*x));
}

void
sasl_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
