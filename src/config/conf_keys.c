/*
 * conf_keys.c — the configuration keys: their types, their spellings and
 * how a value in text is checked and stored (see conf_int.h).
 *
 * Everything here is hostile input: every value is checked for control
 * characters, so nothing from a file or the environment may later put
 * CR/LF on an SMTP line.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "config/conf_int.h"
#include "core/strutil.h"

#define ENT(f) offsetof(struct conf_ent, a.f)

static const struct conf_enum conf_bool_values[] = {
    {"on", 1, 0},
    {"off", 0, 0},
    {"yes", 1, CONF_EV_ALIAS},
    {"true", 1, CONF_EV_ALIAS},
    {"1", 1, CONF_EV_ALIAS},
    {"", 1, CONF_EV_ALIAS}, /* "allow_partial" alone means on */
    {"no", 0, CONF_EV_ALIAS},
    {"false", 0, CONF_EV_ALIAS},
    {"0", 0, CONF_EV_ALIAS},
    {NULL, 0, 0},
};

/* "on" is msmtp's: STARTTLS unless tls_starttls is off (conf_finish). */
static const struct conf_enum conf_tls_values[] = {
    {"starttls", TLS_MODE_STARTTLS, 0},
    {"implicit", TLS_MODE_IMPLICIT, 0},
    {"opportunistic", TLS_MODE_OPPORTUNISTIC, 0},
    {"off", TLS_MODE_OFF, 0},
    {"on", TLS_MODE_DEFAULT, CONF_EV_ON},
    {"", TLS_MODE_DEFAULT, CONF_EV_ON | CONF_EV_ALIAS},
    {NULL, 0, 0},
};

/*
 * "on": the strongest mechanism offered, and a user is then required; a
 * mechanism's name (in any case) pins it (smtp/sasl.c ranks them).
 */
static const struct conf_enum conf_auth_values[] = {
    {"on", AUTH_MODE_DEFAULT, CONF_EV_ON},
    {"off", AUTH_MODE_OFF, 0},
    {"scram-sha-256-plus", AUTH_MODE_SCRAM_SHA_256_PLUS, CONF_EV_NOCASE},
    {"scram-sha-1-plus", AUTH_MODE_SCRAM_SHA_1_PLUS, CONF_EV_NOCASE},
    {"scram-sha-256", AUTH_MODE_SCRAM_SHA_256, CONF_EV_NOCASE},
    {"scram-sha-1", AUTH_MODE_SCRAM_SHA_1, CONF_EV_NOCASE},
    {"plain", AUTH_MODE_PLAIN, CONF_EV_NOCASE},
    {"login", AUTH_MODE_LOGIN, CONF_EV_NOCASE},
    {"cram-md5", AUTH_MODE_CRAM_MD5, CONF_EV_NOCASE},
    {"external", AUTH_MODE_EXTERNAL, CONF_EV_NOCASE},
    {"xoauth2", AUTH_MODE_XOAUTH2, CONF_EV_NOCASE},
    {"oauthbearer", AUTH_MODE_OAUTHBEARER, CONF_EV_NOCASE},
    {"", AUTH_MODE_DEFAULT, CONF_EV_ON | CONF_EV_ALIAS},
    {NULL, 0, 0},
};

static const struct conf_enum conf_fromhdr_values[] = {
    {"auto", FROM_HEADER_KEEP, 0},
    {"on", FROM_HEADER_REWRITE, 0},
    {"off", FROM_HEADER_OFF, 0},
    {NULL, 0, 0},
};

/* The value is the facility; a boolean spelling alone means LOG_MAIL, or off. */
static const struct conf_enum conf_syslog_values[] = {
    {"LOG_MAIL", LOG_MAIL, 0},
    {"LOG_USER", LOG_USER, 0},
    {"LOG_LOCAL0", LOG_LOCAL0, 0},
    {"LOG_LOCAL1", LOG_LOCAL1, 0},
    {"LOG_LOCAL2", LOG_LOCAL2, 0},
    {"LOG_LOCAL3", LOG_LOCAL3, 0},
    {"LOG_LOCAL4", LOG_LOCAL4, 0},
    {"LOG_LOCAL5", LOG_LOCAL5, 0},
    {"LOG_LOCAL6", LOG_LOCAL6, 0},
    {"LOG_LOCAL7", LOG_LOCAL7, 0},
    {NULL, 0, 0},
};

static const struct conf_enum conf_oauth2_provider_values[] = {
    {"google", OAUTH2_PROVIDER_GOOGLE, 0},
    {"microsoft", OAUTH2_PROVIDER_MICROSOFT, 0},
    {"custom", OAUTH2_PROVIDER_CUSTOM, 0},
    {"off", OAUTH2_PROVIDER_NONE, 0},
    {NULL, 0, 0},
};

static const struct conf_enum conf_oauth2_flow_values[] = {
    {"default", OAUTH2_FLOW_DEFAULT, 0},
    {"browser", OAUTH2_FLOW_BROWSER, 0},
    {"device", OAUTH2_FLOW_DEVICE, 0},
    {"client_credentials", OAUTH2_FLOW_CLIENT_CREDENTIALS, 0},
    {NULL, 0, 0},
};

#define BOOL(k, f)                                                                                 \
	{                                                                                          \
		k, T_ENUM, ENT(f), NULL, conf_bool_values, "on or off", 0                          \
	}

const struct conf_key conf_keys[K_NKEYS] = {
    [K_HOST] = {"host", T_HOST, ENT(host), "--host", NULL, NULL, 0},
    [K_PORT] = {"port", T_PORT, ENT(port), "--port", NULL, NULL, 0},
    [K_TLS] = {"tls", T_ENUM, ENT(tls), "--tls", conf_tls_values,
	"starttls, implicit, opportunistic, off or on", 0},
    [K_TLS_STARTTLS] = {"tls_starttls", T_ENUM, offsetof(struct conf_ent, tls_starttls),
	"--tls-starttls", conf_bool_values, "on or off", 0},
    [K_TLS_TRUST_FILE] = {"tls_trust_file", T_TRUST, ENT(tls_trust_file), "--tls-trust-file", NULL,
	NULL, 0},
    [K_TLS_FINGERPRINT] = {"tls_fingerprint", T_FPR, ENT(tls_fingerprint), NULL, NULL, NULL, 0},
    [K_TLS_CERT_FILE] = {"tls_cert_file", T_PATH, ENT(tls_cert_file), NULL, NULL, NULL, 0},
    [K_TLS_KEY_FILE] = {"tls_key_file", T_PATH, ENT(tls_key_file), NULL, NULL, NULL, 0},
    [K_TLS_PRIORITIES] = {"tls_priorities", T_STR, ENT(tls_priorities), NULL, NULL, NULL, 0},
    [K_TLS_CERTCHECK] = {"tls_certcheck", T_ENUM, ENT(tls_certcheck), "--tls-certcheck",
	conf_bool_values, "on or off", 0},
    [K_TLS_RESUME] = BOOL("tls_resume", tls_resume),
    [K_AUTH] = {"auth", T_ENUM, ENT(auth), "--auth", conf_auth_values,
	"on, off, or a mechanism: scram-sha-256-plus, scram-sha-1-plus, scram-sha-256, "
	"scram-sha-1, xoauth2, oauthbearer, plain, login, cram-md5, external",
	0},
    [K_AUTH_CLEARTEXT] = BOOL("auth_cleartext", auth_cleartext),
    [K_USER] = {"user", T_STR, ENT(user), "--user", NULL, NULL, 0},
    [K_PASSWORD] = {"password", T_STR, ENT(password), NULL, NULL, NULL, 0},
    [K_PASSWORD_FILE] = {"password_file", T_PATH, ENT(password_file), NULL, NULL, NULL, 0},
    [K_PASSWORDEVAL] = {"passwordeval", T_STR, ENT(passwordeval), "--passwordeval", NULL, NULL, 0},
    [K_FROM] = {"from", T_ADDR, ENT(from), NULL, NULL, NULL, 0},
    [K_DOMAIN] = {"domain", T_DOMAIN, ENT(domain), "--domain", NULL, NULL, 0},
    [K_TIMEOUT] = {"timeout", T_TIMEOUT, ENT(timeout), "--timeout", NULL, NULL, 0},
    [K_ALIASES] = {"aliases", T_PATH, ENT(aliases), NULL, NULL, NULL, 0},
    [K_DEFAULT_DOMAIN] = {"default_domain", T_DOMAIN, ENT(default_domain), NULL, NULL, NULL, 0},
    [K_SET_FROM_HEADER] = {"set_from_header", T_ENUM, ENT(set_from_header), NULL,
	conf_fromhdr_values, "auto, on or off", 0},
    [K_LOGFILE] = {"logfile", T_PATH, ENT(logfile), "--logfile", NULL, NULL, 0},
    [K_SYSLOG] = {"syslog", T_ENUM, ENT(syslog_facility), NULL, conf_syslog_values,
	"on, off, or a facility LOG_MAIL, LOG_USER, LOG_LOCAL0..LOG_LOCAL7", ENT(syslog)},
    [K_QUEUE_DIR] = {"queue_dir", T_PATH, ENT(queue_dir), NULL, NULL, NULL, 0},
    [K_QUEUE] = BOOL("queue", queue),
    [K_QUEUE_ON_TEMPFAIL] = BOOL("queue_on_tempfail", queue_on_tempfail),
    [K_QUEUE_FALLBACK] = BOOL("queue_fallback", queue_fallback),
    [K_FLUSH_ON_SEND] = BOOL("flush_on_send", flush_on_send),
    [K_QUEUE_MAX_AGE] = {"queue_max_age", T_AGE, ENT(queue_max_age), NULL, NULL, NULL, 0},
    [K_QUEUE_KEEP_FAILED] = {"queue_keep_failed", T_AGE, ENT(queue_keep_failed), NULL, NULL, NULL,
	0},
    [K_BOUNCE] = BOOL("bounce", bounce),
    [K_ADMIN_ADDRESS] = {"admin_address", T_ADDR, ENT(admin_address), NULL, NULL, NULL, 0},
    [K_ALLOW_PARTIAL] = BOOL("allow_partial", allow_partial),
    [K_ALLOW_8BIT] = BOOL("allow_8bit", allow_8bit),
    [K_STRICT_LINE_LENGTH] = BOOL("strict_line_length", strict_line_length),
    [K_SENDER_FROM_HEADER] = {"sender_from_header", T_ENUM, ENT(sender_from_header),
	"--read-envelope-from", conf_bool_values, "on or off", 0},
    [K_MAX_MESSAGES_PER_SESSION] = {"max_messages_per_session", T_COUNT,
	ENT(max_messages_per_session), NULL, NULL, NULL, 0},
    [K_RATE] = {"rate", T_COUNT, ENT(rate), NULL, NULL, NULL, 0},
    [K_OAUTH2_TOKEN] = {"oauth2_token", T_STR, ENT(oauth2_token), NULL, NULL, NULL, 0},
    [K_OAUTH2_TOKEN_FILE] = {"oauth2_token_file", T_PATH, ENT(oauth2_token_file), NULL, NULL, NULL,
	0},
    [K_OAUTH2_TOKEN_COMMAND] = {"oauth2_token_command", T_STR, ENT(oauth2_token_command), NULL,
	NULL, NULL, 0},
    [K_OAUTH2_PROVIDER] = {"oauth2_provider", T_ENUM, ENT(oauth2_provider), NULL,
	conf_oauth2_provider_values, "google, microsoft, custom or off", 0},
    [K_OAUTH2_FLOW] = {"oauth2_flow", T_ENUM, ENT(oauth2_flow), NULL, conf_oauth2_flow_values,
	"default, browser, device or client_credentials", 0},
    [K_OAUTH2_CLIENT_ID] = {"oauth2_client_id", T_STR, ENT(oauth2_client_id), NULL, NULL, NULL, 0},
    [K_OAUTH2_CLIENT_SECRET] = {"oauth2_client_secret", T_STR, ENT(oauth2_client_secret), NULL,
	NULL, NULL, 0},
    [K_OAUTH2_CLIENT_SECRET_FILE] = {"oauth2_client_secret_file", T_PATH,
	ENT(oauth2_client_secret_file), NULL, NULL, NULL, 0},
    [K_OAUTH2_CLIENT_SECRET_EVAL] = {"oauth2_client_secret_eval", T_STR,
	ENT(oauth2_client_secret_eval), NULL, NULL, NULL, 0},
    [K_OAUTH2_TENANT] = {"oauth2_tenant", T_HOST, ENT(oauth2_tenant), NULL, NULL, NULL, 0},
    [K_OAUTH2_SCOPE] = {"oauth2_scope", T_STR, ENT(oauth2_scope), NULL, NULL, NULL, 0},
    [K_OAUTH2_TOKEN_URL] = {"oauth2_token_url", T_URL, ENT(oauth2_token_url), NULL, NULL, NULL, 0},
    [K_OAUTH2_AUTH_URL] = {"oauth2_auth_url", T_URL, ENT(oauth2_auth_url), NULL, NULL, NULL, 0},
    [K_OAUTH2_DEVICE_URL] = {"oauth2_device_url", T_URL, ENT(oauth2_device_url), NULL, NULL, NULL,
	0},
    [K_OAUTH2_TRUST_FILE] = {"oauth2_trust_file", T_PATH, ENT(oauth2_trust_file), NULL, NULL, NULL,
	0},
};

const struct conf_alias conf_aliases[] = {
    {"password_cmd", K_PASSWORDEVAL},
};
const size_t conf_naliases = sizeof(conf_aliases) / sizeof(conf_aliases[0]);

static int conf_is_str(enum conf_type);
static int conf_parse_duration(const char *, long, long *);
static int conf_check_value(enum conf_kid, const char *, const char **);
static int conf_set_str(
    struct conf_ent *, enum conf_kid, const char *, struct conf_org, const char **);
static const struct conf_enum *conf_enum_find(const struct conf_enum *, const char *);
static int conf_set_enum(struct conf_ent *, enum conf_kid, const char *, const char **);

/* Is a value of this type a string owned by the account? */
static int
conf_is_str(enum conf_type t)
{
	return t == T_STR || t == T_PATH || t == T_HOST || t == T_ADDR || t == T_DOMAIN ||
	       t == T_TRUST || t == T_FPR || t == T_URL;
}

void
conf_ent_init(struct conf_ent *e)
{
	memset(e, 0, sizeof(*e));
	e->a.tls_certcheck = 1;
	e->a.timeout = CLOCK_DEFAULT_TIMEOUT_S;
	e->a.queue_max_age = 5L * 24 * 3600; /* sendmail's Timeout.queuereturn */
	e->a.queue_keep_failed = CONF_KEEP_FAILED_DEFAULT;
	e->a.queue = 1;
	e->a.queue_on_tempfail = 1;
	e->a.flush_on_send = 1;
	e->a.bounce = 1;
	e->a.max_messages_per_session = CONF_MAX_MESSAGES_PER_SESSION_DEFAULT;
	e->a.syslog_facility = LOG_MAIL;
	e->tls_starttls = -1;
	e->file = -1;
}

char **
conf_strp(struct conf_ent *e, enum conf_kid k)
{
	return (char **)(void *)((char *)e + conf_keys[k].off);
}

int *
conf_intp(struct conf_ent *e, size_t off)
{
	return (int *)(void *)((char *)e + off);
}

/* Free the strings (wiping the password); the struct stays valid and empty. */
void
conf_ent_clear(struct conf_ent *e)
{
	size_t k;

	for (k = 0; k < K_NKEYS; k++) {
		char **p;

		if (!conf_is_str(conf_keys[k].type))
			continue;
		p = conf_strp(e, (enum conf_kid)k);
		str_free_secret(*p); /* the wipe matters for password only; cheap for the rest */
		*p = NULL;
	}
	free(e->a.name);
	e->a.name = NULL;
}

void
conf_ent_free(struct conf_ent *e)
{
	if (e == NULL)
		return;
	conf_ent_clear(e);
	free(e);
}

/* Deep copy src into dst (dst's old strings are freed); name included. */
int
conf_ent_copy(struct conf_ent *dst, const struct conf_ent *src)
{
	size_t k;

	conf_ent_clear(dst);
	*dst = *src;
	dst->a.name = NULL;
	for (k = 0; k < K_NKEYS; k++) {
		char **p;

		if (!conf_is_str(conf_keys[k].type))
			continue;
		p = conf_strp(dst, (enum conf_kid)k);
		if (*p != NULL && (*p = strdup(*p)) == NULL)
			goto fail;
	}
	if (src->a.name != NULL && (dst->a.name = strdup(src->a.name)) == NULL)
		goto fail;
	return 0;
fail:
	/* Pointers not yet duplicated still belong to src: forget them first. */
	for (; k < K_NKEYS; k++)
		if (conf_is_str(conf_keys[k].type))
			*conf_strp(dst, (enum conf_kid)k) = NULL;
	conf_ent_clear(dst);
	return -1;
}

int
conf_find_key(const char *name, enum conf_kid *kid)
{
	size_t k;

	for (k = 0; k < K_NKEYS; k++)
		if (strcmp(conf_keys[k].name, name) == 0) {
			*kid = (enum conf_kid)k;
			return 0;
		}
	for (k = 0; k < conf_naliases; k++)
		if (strcmp(conf_aliases[k].name, name) == 0) {
			*kid = conf_aliases[k].kid;
			return 0;
		}
	return -1;
}

/* The spelling --dump-config prints for an enumerated value, or NULL. */
const char *
conf_enum_name(enum conf_kid k, int value)
{
	const struct conf_enum *v;

	for (v = conf_keys[k].values; v != NULL && v->name != NULL; v++)
		if (v->value == value && (v->flags & CONF_EV_ALIAS) == 0)
			return v->name;
	return NULL;
}

const char *
conf_tls_name(enum tls_mode m)
{
	const char *name;

	if (m == TLS_MODE_DEFAULT)
		return "default";
	name = conf_enum_name(K_TLS, (int)m);
	return name != NULL ? name : "?";
}

/* "90", "30s", "5m", "1h30m", "5d", "2w" → seconds, at most max. */
static int
conf_parse_duration(const char *v, long max, long *out)
{
	static const struct {
		char unit;
		long mult;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
	long total = 0;
	size_t u;

	if (*v == '\0')
		return -1;
	while (*v != '\0') {
		long n = 0, mult = 1;

		if (*v < '0' || *v > '9')
			return -1;
		while (*v >= '0' && *v <= '9') {
			n = n * 10 + (*v++ - '0');
			if (n > max)
				return -1;
		}
		if (*v != '\0') {
			for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
				if (*v == units[u].unit)
					break;
			if (u == sizeof(units) / sizeof(units[0]))
				return -1;
			mult = units[u].mult;
			v++;
		}
		if (n > (max - total) / mult)
			return -1;
		total += n * mult;
	}
	*out = total;
	return 0;
}

/* Shape checks for string values; *why says what is wrong. */
static int
conf_check_value(enum conf_kid k, const char *v, const char **why)
{
	const char *p;
	size_t hex = 0;

	switch (conf_keys[k].type) {
	case T_HOST:
		if (strpbrk(v, " \t") != NULL || strlen(v) > 255) {
			*why = "a host name or address, without spaces";
			return -1;
		}
		break;
	case T_ADDR:
		if (strpbrk(v, " \t<>") != NULL || strlen(v) > 320) {
			*why = "an address without spaces or angle brackets";
			return -1;
		}
		break;
	case T_DOMAIN:
		if (strlen(v) > 255)
			goto baddomain;
		if (v[0] == '[') {
			if (v[strlen(v) - 1] != ']' || strpbrk(v, " \t") != NULL)
				goto baddomain;
			break;
		}
		for (p = v; *p != '\0'; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
				goto baddomain;
		break;
	case T_URL:
		/* Tokens and secrets go there: only https, or http to this host (tests). */
		if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://127.0.0.1", 16) != 0 &&
		    strncmp(v, "http://localhost", 16) != 0) {
			*why = "an https:// URL (http:// only to 127.0.0.1 or localhost)";
			return -1;
		}
		if (strpbrk(v, " \t") != NULL) {
			*why = "a URL without blanks";
			return -1;
		}
		break;
	case T_FPR:
		/* Only the shape: the TLS layer decodes it (colons are separators). */
		for (p = v; *p != '\0'; p++) {
			if (isxdigit((unsigned char)*p))
				hex++;
			else if (*p != ':') {
				*why = "hexadecimal digits, colons allowed";
				return -1;
			}
		}
		/* msmtp still accepts the weak ones: say how to get the one we take. */
		if (hex == 40 || hex == 32) {
			*why = hex == 40 ? "a SHA-256 fingerprint, not SHA-1 (64 hex digits): "
					   "without this line 'smtps-send --check' prints the "
					   "server's, as does "
					   "'openssl x509 -noout -fingerprint -sha256'"
					 : "a SHA-256 fingerprint, not MD5 (64 hex digits): "
					   "'openssl x509 -noout -fingerprint -sha256' prints it";
			return -1;
		}
		if (hex != 64) {
			*why = "a SHA-256 fingerprint (32 bytes, 64 hex digits)";
			return -1;
		}
		break;
	default:
		break;
	}
	return 0;
baddomain:
	*why = "a domain name (letters, digits, '.', '-') or an [address literal]";
	return -1;
}

/*
 * A string value.  Secret sources exclude each other: a later layer
 * (another section, the environment, argv) replaces the others, the same
 * layer naming two is an error.
 */
static int
conf_set_str(
    struct conf_ent *e, enum conf_kid k, const char *v, struct conf_org org, const char **why)
{
	static const enum conf_kid pw[] = {K_PASSWORD, K_PASSWORD_FILE, K_PASSWORDEVAL};
	static const enum conf_kid cs[] = {
	    K_OAUTH2_CLIENT_SECRET, K_OAUTH2_CLIENT_SECRET_FILE, K_OAUTH2_CLIENT_SECRET_EVAL};
	const enum conf_kid *secrets =
	    k == K_PASSWORD || k == K_PASSWORD_FILE || k == K_PASSWORDEVAL ? pw
	    : k == K_OAUTH2_CLIENT_SECRET || k == K_OAUTH2_CLIENT_SECRET_FILE ||
		    k == K_OAUTH2_CLIENT_SECRET_EVAL
		? cs
		: NULL;
	enum conf_type t = conf_keys[k].type;
	const char *home = getenv("HOME");
	size_t j;
	char **p;

	if (*v != '\0' && conf_check_value(k, v, why) == -1)
		return -1;
	for (j = 0; secrets != NULL && j < 3; j++) {
		enum conf_kid o = secrets[j];

		if (o == k || *conf_strp(e, o) == NULL)
			continue;
		if (e->org[o].section == org.section && *v != '\0') {
			*why = secrets == pw ? "only one of password, password_file and "
					       "passwordeval may be set"
					     : "only one of oauth2_client_secret, "
					       "oauth2_client_secret_file and "
					       "oauth2_client_secret_eval may be set";
			return -1;
		}
		p = conf_strp(e, o);
		str_free_secret(*p);
		*p = NULL;
		memset(&e->org[o], 0, sizeof(e->org[o]));
	}
	p = conf_strp(e, k);
	str_free_secret(*p);
	*p = NULL;
	/* msmtp: an empty value unsets; tls_trust_file "system" is the default store */
	if (*v == '\0' || (t == T_TRUST && strcmp(v, "system") == 0))
		return 0;
	/* msmtp expands ~/ in file names; so do we */
	if ((t == T_PATH || t == T_TRUST) && strncmp(v, "~/", 2) == 0 && home != NULL &&
	    home[0] == '/') {
		if (asprintf(p, "%s%s", home, v + 1) == -1)
			*p = NULL;
	} else
		*p = strdup(v);
	if (*p == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

static const struct conf_enum *
conf_enum_find(const struct conf_enum *ev, const char *v)
{
	for (; ev->name != NULL; ev++)
		if ((ev->flags & CONF_EV_NOCASE) != 0 ? strcasecmp(v, ev->name) == 0
						      : strcmp(v, ev->name) == 0)
			return ev;
	return NULL;
}

/*
 * One of the key's spellings: its value, and what the spelling implies.
 * A key that is also a switch (set_off: syslog) takes on/off too, which
 * keep its first value.
 */
static int
conf_set_enum(struct conf_ent *e, enum conf_kid k, const char *v, const char **why)
{
	const struct conf_key *key = &conf_keys[k];
	const struct conf_enum *ev = conf_enum_find(key->values, v);
	int on = 1;

	if (ev == NULL && key->set_off != 0 && (ev = conf_enum_find(conf_bool_values, v)) != NULL) {
		on = ev->value;
		ev = &key->values[0];
	}
	if (ev == NULL) {
		*why = key->why;
		return -1;
	}
	*conf_intp(e, key->off) = ev->value;
	if (key->set_off != 0)
		*conf_intp(e, key->set_off) = on;
	e->on[k] = (ev->flags & CONF_EV_ON) != 0;
	return 0;
}

int
conf_dur_index(enum conf_kid k)
{
	return k == K_TIMEOUT ? 0 : k == K_QUEUE_MAX_AGE ? 1 : k == K_QUEUE_KEEP_FAILED ? 2 : -1;
}

/* Set key k of e from text v, recording its origin. */
int
conf_set(struct conf_ent *e, enum conf_kid k, const char *v, struct conf_org org, const char **why)
{
	const char *errstr = NULL;
	long n = 0;

	if (str_has_ctl(v)) {
		*why = "control characters (CR, LF, TAB, ...) are not allowed";
		return -1;
	}
	switch (conf_keys[k].type) {
	case T_ENUM:
		if (conf_set_enum(e, k, v, why) == -1)
			return -1;
		break;
	case T_PORT:
		n = (long)strtonum(v, 1, 65535, &errstr);
		if (errstr != NULL) {
			*why = "a port number 1..65535";
			return -1;
		}
		e->a.port = (unsigned)n;
		break;
	case T_TIMEOUT:
		if (conf_parse_duration(v, 3600, &n) == -1 || n < 1) {
			*why = "seconds 1..3600, e.g. 60 or 2m (off is not allowed: every network "
			       "wait has a deadline)";
			return -1;
		}
		e->a.timeout = (int)n;
		break;
	case T_AGE:
		if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
			n = 0;
		else if (conf_parse_duration(v, 366L * 86400, &n) == -1) {
			*why = "a duration such as 5d, 36h or 1w (at most 366d), or off";
			return -1;
		}
		*(long *)(void *)((char *)e + conf_keys[k].off) = n;
		break;
	case T_COUNT:
		n = strcmp(v, "off") == 0 ? 0 : (long)strtonum(v, 0, CONF_COUNT_MAX, &errstr);
		if (errstr != NULL) {
			*why = "a whole number 0..1000000, or off (0)";
			return -1;
		}
		*(unsigned *)(void *)((char *)e + conf_keys[k].off) = (unsigned)n;
		break;
	default:
		if (conf_set_str(e, k, v, org, why) == -1)
			return -1;
		break;
	}
	if (conf_dur_index(k) >= 0)
		/* Shown as written: "5d" stays 5d, not 432000s (a longer text: seconds). */
		if (strlcpy(e->dur[conf_dur_index(k)], v, CONF_DUR_MAX) >= CONF_DUR_MAX)
			e->dur[conf_dur_index(k)][0] = '\0';
	e->org[k] = org;
	return 0;
}
