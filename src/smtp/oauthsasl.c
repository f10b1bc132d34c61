/* oauthsasl.c — XOAUTH2 and OAUTHBEARER encodings, the error challenge (see oauthsasl.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>
#include <jansson.h>

#include "core/strutil.h"
#include "smtp/oauthsasl.h"

/* Longest user name (RFC 5321's path limit, with room for escapes). */
#define OAUTH_USER_MAX 512
/* Longest error challenge decoded (servers send ~100 bytes). */
#define OAUTH_CHALLENGE_MAX 4096

/* base64 of len bytes into a new string; the input is the caller's to wipe. */
static int
oauth_encode(const char *buf, size_t len, char **b64, struct sx_err *e)
{
	gnutls_datum_t in = {(unsigned char *)(uintptr_t)buf, (unsigned)len}, out = {NULL, 0};
	int rc = gnutls_base64_encode2(&in, &out);

	if (rc < 0)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "base64: %s", gnutls_strerror(rc));
	*b64 = strndup((const char *)out.data, out.size);
	explicit_bzero(out.data, out.size);
	gnutls_free(out.data);
	if (*b64 == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	return 0;
}

/* The token goes on the wire as is: printable, no ^A, bounded. */
static int
oauth_check(const char *user, const char *token, struct sx_err *e)
{
	if (strlen(user) > OAUTH_USER_MAX || strchr(user, '\001') != NULL)
		return sx_fail(e, SX_CONFIG, STAGE_AUTH, "user name too long or not printable");
	if (token[0] == '\0' || strlen(token) > OAUTH_TOKEN_MAX || str_has_ctl(token) ||
	    strchr(token, ' ') != NULL)
		return sx_fail(e, SX_CONFIG, STAGE_AUTH,
		    "the OAuth2 access token is empty, longer than %d bytes or has blanks or "
		    "control characters",
		    OAUTH_TOKEN_MAX);
	return 0;
}

int
oauth_xoauth2(const char *user, const char *token, char **b64, struct sx_err *e)
{
	char *buf = NULL;
	int len, rc;

	*b64 = NULL;
	if (oauth_check(user, token, e) == -1)
		return -1;
	len = asprintf(&buf, "user=%s\001auth=Bearer %s\001\001", user, token);
	if (len == -1)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	rc = oauth_encode(buf, (size_t)len, b64, e);
	explicit_bzero(buf, (size_t)len);
	free(buf);
	return rc;
}

int
oauth_bearer(const char *user, const char *token, const char *host, unsigned port, char **b64,
    struct sx_err *e)
{
	char name[OAUTH_USER_MAX * 3 + 1], hostpart[300] = "", portpart[24] = "", *buf = NULL;
	size_t i, n = 0;
	int len, rc;

	*b64 = NULL;
	if (oauth_check(user, token, e) == -1)
		return -1;
	/* RFC 5801's saslname: ',' and '=' would end or escape the field. */
	for (i = 0; user[i] != '\0'; i++) {
		if (user[i] == ',' || user[i] == '=') {
			memcpy(name + n, user[i] == ',' ? "=2C" : "=3D", 3);
			n += 3;
		} else
			name[n++] = user[i];
	}
	name[n] = '\0';
	if (host != NULL && strlen(host) < 256 && strchr(host, '\001') == NULL)
		snprintf(hostpart, sizeof(hostpart), "host=%s\001", host);
	if (port != 0)
		snprintf(portpart, sizeof(portpart), "port=%u\001", port);
	len = asprintf(
	    &buf, "n,a=%s,\001%s%sauth=Bearer %s\001\001", name, hostpart, portpart, token);
	if (len == -1)
		return sx_fail(e, SX_INTERNAL, STAGE_AUTH, "out of memory");
	rc = oauth_encode(buf, (size_t)len, b64, e);
	explicit_bzero(buf, (size_t)len);
	free(buf);
	return rc;
}

/* A JSON member as printable text: a string, or an integer ("status":401). */
static void
oauth_member(json_t *obj, const char *key, char *out, size_t outsz)
{
	json_t *v = json_object_get(obj, key);
	char tmp[32];

	out[0] = '\0';
	if (json_is_string(v))
		sx_sanitize(out, outsz, json_string_value(v), json_string_length(v), 0);
	else if (json_is_integer(v)) {
		snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
		strlcpy(out, tmp, outsz);
	}
}

int
oauth_challenge_parse(const char *b64, struct oauth_challenge *ch)
{
	gnutls_datum_t in = {(unsigned char *)(uintptr_t)b64, (unsigned)strlen(b64)},
		       out = {NULL, 0};
	json_error_t jerr;
	json_t *root;

	memset(ch, 0, sizeof(*ch));
	if (in.size == 0 || in.size > OAUTH_CHALLENGE_MAX || gnutls_base64_decode2(&in, &out) < 0)
		return -1;
	root = json_loadb((const char *)out.data, out.size, JSON_REJECT_DUPLICATES, &jerr);
	gnutls_free(out.data);
	if (root == NULL)
		return -1;
	if (!json_is_object(root)) {
		json_decref(root);
		return -1;
	}
	oauth_member(root, "status", ch->status, sizeof(ch->status));
	oauth_member(root, "scope", ch->scope, sizeof(ch->scope));
	json_decref(root);
	/* RFC 6750's invalid_token; Google and Microsoft send the HTTP status. */
	ch->token_refused = strcmp(ch->status, "invalid_token") == 0 ||
			    strcmp(ch->status, "401") == 0 || strcmp(ch->status, "400") == 0;
	return 0;
}

int
oauth_offered(const char *auth_list, const char *name)
{
	size_t n = strlen(name);
	const char *p = auth_list;

	while (*p != '\0') {
		size_t w = strcspn(p, " ");

		if (w == n && strncasecmp(p, name, n) == 0)
			return 1;
		p += w;
		p += strspn(p, " ");
	}
	return 0;
}

enum sasl_mech
oauth_pick(enum sasl_mech wanted, const char *auth_list)
{
	int bearer = oauth_offered(auth_list, "OAUTHBEARER");
	int xoauth2 = oauth_offered(auth_list, "XOAUTH2");

	if (wanted == SASL_OAUTHBEARER)
		return bearer ? SASL_OAUTHBEARER : SASL_NONE;
	if (wanted == SASL_XOAUTH2)
		return xoauth2 ? SASL_XOAUTH2 : SASL_NONE;
	return bearer ? SASL_OAUTHBEARER : xoauth2 ? SASL_XOAUTH2 : SASL_NONE;
}

int
oauth_is_mech(enum sasl_mech m)
{
	return m == SASL_XOAUTH2 || m == SASL_OAUTHBEARER;
}
