/*
 * conf_record.c — the relay an account sends to, as "key value" pairs the
 * queue keeps beside each message, and an account rebuilt from them: the
 * queue stands on its own, so cron's empty environment or a container
 * configured by variables can still list and flush it (see conf.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/conf_int.h"

/* What the relay and the queue's policy need; never the password itself. */
static const enum conf_kid conf_record_keys[] = {
    K_HOST,
    K_PORT,
    K_TLS,
    K_TLS_TRUST_FILE,
    K_TLS_FINGERPRINT,
    K_TLS_CERT_FILE,
    K_TLS_KEY_FILE,
    K_TLS_PRIORITIES,
    K_TLS_CERTCHECK,
    K_TLS_RESUME,
    K_AUTH,
    K_AUTH_CLEARTEXT,
    K_USER,
    K_PASSWORD_FILE,
    K_PASSWORDEVAL,
    K_FROM,
    K_DOMAIN,
    K_TIMEOUT,
    K_LOGFILE,
    K_SYSLOG,
    K_ALLOW_PARTIAL,
    K_ALLOW_8BIT,
    K_QUEUE,
    K_QUEUE_MAX_AGE,
    K_QUEUE_KEEP_FAILED,
    K_BOUNCE,
    /* The provider's limits, which -q and the runner honour per relay. */
    K_MAX_MESSAGES_PER_SESSION,
    K_RATE,
    /* OAuth2: where the token comes from, never a token or a client secret. */
    K_OAUTH2_TOKEN_FILE,
    K_OAUTH2_TOKEN_COMMAND,
    K_OAUTH2_PROVIDER,
    K_OAUTH2_FLOW,
    K_OAUTH2_CLIENT_ID,
    K_OAUTH2_CLIENT_SECRET_FILE,
    K_OAUTH2_CLIENT_SECRET_EVAL,
    K_OAUTH2_TENANT,
    K_OAUTH2_SCOPE,
    K_OAUTH2_TOKEN_URL,
    K_OAUTH2_AUTH_URL,
    K_OAUTH2_DEVICE_URL,
    K_OAUTH2_TRUST_FILE,
};
#define CONF_NRECORD (sizeof(conf_record_keys) / sizeof(conf_record_keys[0]))

/* The environment variable a password may be named by in a record. */
#define CONF_PASSWORD_ENV     "SMTPS_SEND_PASSWORD"
#define CONF_OAUTH2_TOKEN_ENV "SMTPS_SEND_OAUTH2_TOKEN"

void
conf_record(const struct account *a, void (*put)(void *, const char *, const char *), void *arg)
{
	struct conf_ent tmp;
	char buf[64], where[4200];
	const struct conf_org *org;
	size_t i;

	conf_ent_init(&tmp);
	tmp.a = *a;
	put(arg, "account", a->name != NULL ? a->name : "default");
	for (i = 0; i < CONF_NRECORD; i++) {
		enum conf_kid k = conf_record_keys[i];
		const struct conf_key *key = &conf_keys[k];

		/* Strings that are not set are left out (a default stays a default). */
		if ((key->type == T_STR || key->type == T_PATH || key->type == T_HOST ||
			key->type == T_ADDR || key->type == T_DOMAIN || key->type == T_TRUST ||
			key->type == T_FPR || key->type == T_URL) &&
		    *conf_strp(&tmp, k) == NULL)
			continue;
		put(arg, key->name, conf_value(a, k, buf, sizeof(buf)));
	}
	/* An OAuth2 token from the environment is named like the password. */
	if (a->oauth2_token != NULL && a->src != NULL &&
	    a->src->org[K_OAUTH2_TOKEN].kind == ORG_ENV)
		put(arg, "oauth2_token_env", CONF_OAUTH2_TOKEN_ENV);
	if (a->password == NULL)
		return;
	/* Where the password was, so a later run can find it or say why not. */
	org = a->src != NULL ? &a->src->org[K_PASSWORD] : NULL;
	if (org != NULL && org->kind == ORG_ENV)
		put(arg, "password_env", CONF_PASSWORD_ENV);
	else if (conf_origin(a, "password", where, sizeof(where)) != NULL)
		put(arg, "password_origin", where);
}

int
conf_from_record(struct account *a, char *const *kv, size_t npairs, struct sx_err *e)
{
	struct conf_org org = {ORG_QUEUE, 0, 0, 0};
	/* A secret the record names by its variable comes from the environment, as before. */
	struct conf_org env = {ORG_ENV, 0, SEC_ENV, 0};
	struct conf_ctx none;
	struct conf_ent ent;
	struct conf_src *src = NULL;
	const char *why, *pw_origin = NULL, *v;
	enum conf_kid k;
	size_t i;

	memset(a, 0, sizeof(*a));
	memset(&none, 0, sizeof(none));
	conf_ent_init(&ent);
	for (i = 0; i < npairs; i++) {
		const char *key = kv[2 * i], *val = kv[2 * i + 1];

		if (strcmp(key, "account") == 0) {
			free(ent.a.name);
			if ((ent.a.name = strdup(val)) == NULL)
				goto nomem;
		} else if (strcmp(key, "password_env") == 0) {
			/* Only our own variable: a record must not read any environment. */
			if (strcmp(val, CONF_PASSWORD_ENV) == 0 &&
			    (v = getenv(CONF_PASSWORD_ENV)) != NULL && *v != '\0' &&
			    conf_set(&ent, K_PASSWORD, v, env, &why) == -1)
				goto bad;
		} else if (strcmp(key, "oauth2_token_env") == 0) {
			if (strcmp(val, CONF_OAUTH2_TOKEN_ENV) == 0 &&
			    (v = getenv(CONF_OAUTH2_TOKEN_ENV)) != NULL && *v != '\0' &&
			    conf_set(&ent, K_OAUTH2_TOKEN, v, env, &why) == -1)
				goto bad;
		} else if (strcmp(key, "password_origin") == 0) {
			pw_origin = val;
		} else if (conf_find_key(key, &k) == -1 ||
			   conf_set(&ent, k, val, org, &why) == -1) {
			why = "not a key smtps-send knows";
			goto bad;
		}
	}
	if (ent.a.password == NULL && ent.a.password_file == NULL && ent.a.passwordeval == NULL &&
	    pw_origin != NULL) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "account %s: the password was set at %s, which this run did not read",
		    ent.a.name != NULL ? ent.a.name : "default", pw_origin);
		sx_hint(e, "run the queue with that configuration, or keep the password in "
			   "password_file or passwordeval");
		goto fail;
	}
	if ((ent.a.name == NULL && (ent.a.name = strdup("default")) == NULL) ||
	    (src = calloc(1, sizeof(*src))) == NULL)
		goto nomem;
	/*
	 * The record holds resolved values, not what someone typed: its
	 * "auth on" is the default it was written from (AUTH when a user is
	 * set), not a demand for a user that a relay without AUTH never had.
	 */
	memset(ent.on, 0, sizeof(ent.on));
	if (conf_finish(&none, &ent, 0, e) == -1)
		goto fail;
	for (i = 0; i < K_NKEYS; i++)
		src->org[i] = ent.org[i];
	strlcpy(src->chosen, "recorded with the queued message", sizeof(src->chosen));
	*a = ent.a;
	a->src = src;
	return 0;
bad:
	sx_fail(
	    e, SX_CONFIG, STAGE_CONFIG, "the queued relay record has a bad %s: %s", kv[2 * i], why);
	goto fail;
nomem:
	sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
fail:
	free(src);
	conf_ent_clear(&ent);
	return -1;
}
