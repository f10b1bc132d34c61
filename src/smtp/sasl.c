/* sasl.c — PLAIN and LOGIN encodings over GnuTLS' base64 (see sasl.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "smtp/sasl.h"

/* Longest user name or password accepted (RFC 4616 allows 255 octets each). */
#define SASL_FIELD_MAX 1024

static int
sasl_encode(const unsigned char *buf, size_t len, char **b64, struct sx_err *e)
{
	gnutls_datum_t in = {(unsigned char *)(uintptr_t)buf, (unsigned)len}, out = {NULL, 0};
	int rc = gnutls_base64_encode2(&in, &out);

	if (rc < 0)
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

void
sasl_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

enum sasl_mech
sasl_pick(enum sasl_mech wanted, int offers_plain, int offers_login)
{
	switch (wanted) {
	case SASL_PLAIN:
		return offers_plain ? SASL_PLAIN : SASL_NONE;
	case SASL_LOGIN:
		return offers_login ? SASL_LOGIN : SASL_NONE;
	case SASL_NONE:
		break;
	case SASL_XOAUTH2: /* OAuth2 (issue 17): oauth_pick, smtp/oauthsasl.h */
	case SASL_OAUTHBEARER:
		return SASL_NONE;
	}
	if (offers_plain)
		return SASL_PLAIN;
	if (offers_login)
		return SASL_LOGIN;
	return SASL_NONE;
}

const char *
sasl_name(enum sasl_mech m)
{
	switch (m) {
	case SASL_PLAIN:
		return "PLAIN";
	case SASL_LOGIN:
		return "LOGIN";
	case SASL_XOAUTH2:
		return "XOAUTH2";
	case SASL_OAUTHBEARER:
		return "OAUTHBEARER";
	case SASL_NONE:
		break;
	}
	return "none";
}
