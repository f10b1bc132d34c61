/*
 * sasl.h — SASL mechanisms as pure functions over bytes (RFC 4616 PLAIN,
 * the LOGIN draft), and the choice of mechanism.  Results are base64 text
 * for the AUTH command; the caller wipes them with sasl_free().
 */
#ifndef SX_SASL_H
#define SX_SASL_H

#include <stddef.h>

#include "core/err.h"

/* XOAUTH2 and OAUTHBEARER: smtp/oauthsasl.h (OAuth2, issue 17). */
enum sasl_mech { SASL_NONE = 0, SASL_PLAIN, SASL_LOGIN, SASL_XOAUTH2, SASL_OAUTHBEARER };

/* base64("" NUL user NUL pass) (RFC 4616; empty authzid).  0 or -1 (SX_INTERNAL/SX_CONFIG). */
int sasl_plain(const char *user, const char *pass, char **b64, struct sx_err *);

/* base64 of s, for each LOGIN step.  0 or -1. */
int sasl_base64(const char *s, char **b64, struct sx_err *);

/* Wipe and free a result. */
void sasl_free(char *);

/*
 * Pick the mechanism: the one asked for (SASL_NONE: best offered, PLAIN
 * before LOGIN — both send the password, PLAIN in one round trip).
 * Returns SASL_NONE when nothing usable is offered.
 */
enum sasl_mech sasl_pick(enum sasl_mech wanted, int offers_plain, int offers_login);

const char *sasl_name(enum sasl_mech);

#endif
