/*
 * conf.c — config files, accounts, environment overrides, secret sources
 * (see conf.h).
 *
 * Everything here is hostile input: every value is checked for control
 * characters (nothing from a file may later put CR/LF on an SMTP line),
 * lines, files and account counts are bounded, and a password may only
 * live in a file nobody else can read.  msmtp's grammar, so an msmtprc
 * works with few edits; the differences are in smtps-send.conf(5).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config/conf.h"

#ifndef DEFAULT_CONFIG
#define DEFAULT_CONFIG "/usr/local/etc/smtps-send.conf"
#endif
#define CONF_ETC_CONFIG "/etc/smtps-send.conf" /* the name for the system file */

#define CONF_FILES_MAX 3
#define CONF_WORDS_MAX 64     /* argv words of a password command */
#define SEC_ENV        0xfffe /* "section" of environment values */
#define SEC_ARGV       0xffff /* "section" of command-line values */

/* Every key, also the index of its origin. */
enum conf_kid {
	K_HOST,
	K_PORT,
	K_TLS,
	K_TLS_STARTTLS,
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
	K_PASSWORD,
	K_PASSWORD_FILE,
	K_PASSWORDEVAL,
	K_FROM,
	K_DOMAIN,
	K_TIMEOUT,
	K_ALIASES,
	K_DEFAULT_DOMAIN,
	K_SET_FROM_HEADER,
	K_LOGFILE,
	K_SYSLOG,
	K_QUEUE_DIR,
	K_QUEUE_ON_TEMPFAIL,
	K_QUEUE_FALLBACK,
	K_FLUSH_ON_SEND,
	K_QUEUE_MAX_AGE,
	K_ALLOW_PARTIAL,
	K_ALLOW_8BIT,
	K_STRICT_LINE_LENGTH,
	K_SENDER_FROM_HEADER,
	K_NKEYS
};

enum conf_type {
	T_STR,      /* any printable text; empty unsets */
	T_PATH,     /* a file name; a leading ~/ is $HOME/ */
	T_HOST,     /* no spaces */
	T_ADDR,     /* from: no spaces or angle brackets; may be a wildcard */
	T_DOMAIN,   /* EHLO name or [literal] */
	T_TRUST,    /* path or "system" */
	T_FPR,      /* SHA-256 hex, colons allowed */
	T_BOOL,     /* on/off; empty means on */
	T_PORT,     /* 1..65535 */
	T_TLS,      /* starttls|implicit|opportunistic|off|on */
	T_STARTTLS, /* on/off, resolved with tls */
	T_AUTH,     /* on|off|plain|login */
	T_FROMHDR,  /* auto|on|off */
	T_SYSLOG,   /* on|off|LOG_MAIL|LOG_USER|LOG_LOCALn */
	T_TIMEOUT,  /* 1s..1h */
	T_AGE       /* duration or off */
};

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;            /* in struct conf_ent */
	const char *argv_flag; /* long option overriding it, or NULL */
};

#define ENT(f) offsetof(struct conf_ent, a.f)

/* Origin of one value: nothing (default), file:line, env or argv. */
enum conf_org_kind { ORG_DEFAULT = 0, ORG_FILE, ORG_ENV, ORG_ARGV };
struct conf_org {
	unsigned char kind;
	unsigned char file;     /* index in conf_src.files */
	unsigned short section; /* which section (or SEC_ENV/SEC_ARGV) set it */
	unsigned line;
};

struct conf_src {
	char *files[CONF_FILES_MAX]; /* files read, in order */
	size_t nfiles;
	struct conf_org org[K_NKEYS];
	char chosen[160]; /* how the account was chosen */
};

/* An account while it is being built. */
struct conf_ent {
	struct account a;
	int file;         /* which file defined it */
	int tls_on;       /* tls was msmtp's "on": resolved with tls_starttls */
	int tls_starttls; /* -1 unset, 0, 1 */
	int auth_on;      /* "auth on": a user is required */
	int has_sections; /* for a file's defaults: the file had account lines */
	struct conf_org org[K_NKEYS];
};

/* State of one conf_load. */
struct conf_ctx {
	char *files[CONF_FILES_MAX];
	size_t nfiles;
	struct conf_ent *defs[CONF_FILES_MAX]; /* each file's defaults */
	struct conf_ent *ents[CONF_ACCOUNTS_MAX];
	size_t nents;
	unsigned short section;
	char unreadable[256]; /* an optional file we could not read, for the hint */
};

static const struct conf_key conf_keys[K_NKEYS] = {
    [K_HOST] = {"host", T_HOST, ENT(host), "--host"},
    [K_PORT] = {"port", T_PORT, ENT(port), "--port"},
    [K_TLS] = {"tls", T_TLS, ENT(tls), "--tls"},
    [K_TLS_STARTTLS] = {"tls_starttls", T_STARTTLS, 0, NULL},
    [K_TLS_TRUST_FILE] = {"tls_trust_file", T_TRUST, ENT(tls_trust_file), "--tls-trust-file"},
    [K_TLS_FINGERPRINT] = {"tls_fingerprint", T_FPR, ENT(tls_fingerprint), NULL},
    [K_TLS_CERT_FILE] = {"tls_cert_file", T_PATH, ENT(tls_cert_file), NULL},
    [K_TLS_KEY_FILE] = {"tls_key_file", T_PATH, ENT(tls_key_file), NULL},
    [K_TLS_PRIORITIES] = {"tls_priorities", T_STR, ENT(tls_priorities), NULL},
    [K_TLS_CERTCHECK] = {"tls_certcheck", T_BOOL, ENT(tls_certcheck), NULL},
    [K_TLS_RESUME] = {"tls_resume", T_BOOL, ENT(tls_resume), NULL},
    [K_AUTH] = {"auth", T_AUTH, ENT(auth), NULL},
    [K_AUTH_CLEARTEXT] = {"auth_cleartext", T_BOOL, ENT(auth_cleartext), NULL},
    [K_USER] = {"user", T_STR, ENT(user), "--user"},
    [K_PASSWORD] = {"password", T_STR, ENT(password), NULL},
    [K_PASSWORD_FILE] = {"password_file", T_PATH, ENT(password_file), NULL},
    [K_PASSWORDEVAL] = {"passwordeval", T_STR, ENT(passwordeval), NULL},
    [K_FROM] = {"from", T_ADDR, ENT(from), NULL},
    [K_DOMAIN] = {"domain", T_DOMAIN, ENT(domain), NULL},
    [K_TIMEOUT] = {"timeout", T_TIMEOUT, ENT(timeout), NULL},
    [K_ALIASES] = {"aliases", T_PATH, ENT(aliases), NULL},
    [K_DEFAULT_DOMAIN] = {"default_domain", T_DOMAIN, ENT(default_domain), NULL},
    [K_SET_FROM_HEADER] = {"set_from_header", T_FROMHDR, ENT(set_from_header), NULL},
    [K_LOGFILE] = {"logfile", T_PATH, ENT(logfile), NULL},
    [K_SYSLOG] = {"syslog", T_SYSLOG, ENT(syslog), NULL},
    [K_QUEUE_DIR] = {"queue_dir", T_PATH, ENT(queue_dir), NULL},
    [K_QUEUE_ON_TEMPFAIL] = {"queue_on_tempfail", T_BOOL, ENT(queue_on_tempfail), NULL},
    [K_QUEUE_FALLBACK] = {"queue_fallback", T_BOOL, ENT(queue_fallback), NULL},
    [K_FLUSH_ON_SEND] = {"flush_on_send", T_BOOL, ENT(flush_on_send), NULL},
    [K_QUEUE_MAX_AGE] = {"queue_max_age", T_AGE, ENT(queue_max_age), NULL},
    [K_ALLOW_PARTIAL] = {"allow_partial", T_BOOL, ENT(allow_partial), NULL},
    [K_ALLOW_8BIT] = {"allow_8bit", T_BOOL, ENT(allow_8bit), NULL},
    [K_STRICT_LINE_LENGTH] = {"strict_line_length", T_BOOL, ENT(strict_line_length), NULL},
    [K_SENDER_FROM_HEADER] = {"sender_from_header", T_BOOL, ENT(sender_from_header), NULL},
};

/* Other spellings of a key. */
static const struct {
	const char *name;
	enum conf_kid kid;
} conf_aliases[] = {
    {"password_cmd", K_PASSWORDEVAL},
};

/* msmtp keys with no equivalent here: named in the error so migration is easy. */
static const char *const conf_msmtp_only[] = {"add_missing_date_header", "add_missing_from_header",
    "allow_from_override", "auto_from", "dsn_notify", "dsn_return", "eval", "logfile_time_format",
    "maildomain", "ntlmdomain", "protocol", "proxy_host", "proxy_port", "remove_bcc_headers",
    "set_date_header", "set_msgid_header", "socket", "source_ip", "tls_crl_file",
    "tls_host_override", "tls_min_dh_prime_bits", "undisclosed_recipients"};

static const char *const conf_tls_names[] = {
    [TLS_MODE_DEFAULT] = "default",
    [TLS_MODE_STARTTLS] = "starttls",
    [TLS_MODE_IMPLICIT] = "implicit",
    [TLS_MODE_OPPORTUNISTIC] = "opportunistic",
    [TLS_MODE_OFF] = "off",
};

static int conf_is_str(enum conf_type);
static void conf_ent_init(struct conf_ent *);
static void conf_ent_clear(struct conf_ent *);
static void conf_ent_free(struct conf_ent *);
static int conf_ent_copy(struct conf_ent *, const struct conf_ent *);
static char **conf_strp(struct conf_ent *, enum conf_kid);
static int conf_find_key(const char *, enum conf_kid *);
static int conf_parse_bool(const char *, int *);
static int conf_parse_duration(const char *, long, long *);
static int conf_check_value(enum conf_kid, const char *, const char **);
static int conf_set(struct conf_ent *, enum conf_kid, const char *, struct conf_org, const char **);
static int conf_read_file(struct conf_ctx *, const char *, int, struct sx_err *);
static int conf_parse_buf(
    struct conf_ctx *, int, char *, size_t, const struct stat *, struct sx_err *);
static int conf_section(
    struct conf_ctx *, int, unsigned, char *, struct conf_ent **, struct sx_err *);
static int conf_unquote(char *, const char **);
static struct conf_ent *conf_lookup(struct conf_ctx *, const char *);
static int conf_from_matches(const char *, const char *);
static int conf_apply_env(struct conf_ent *, struct sx_err *);
static int conf_apply_argv(struct conf_ent *, const struct conf_request *, struct sx_err *);
static int conf_finish(struct conf_ctx *, struct conf_ent *, struct sx_err *);
static void conf_ctx_free(struct conf_ctx *);
static int conf_has_ctl(const char *);
static void conf_where(
    const struct conf_src *, enum conf_kid, const struct conf_org *, char *, size_t);
static int conf_read_fd(int, char *, size_t, size_t *);
static int conf_first_line(char *, size_t, const char *, char **, struct sx_err *);
static int conf_run(const char *, int timeout_s, char **, struct sx_err *);

static int
conf_has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* Is a value of this type a string owned by the account? */
static int
conf_is_str(enum conf_type t)
{
	return t == T_STR || t == T_PATH || t == T_HOST || t == T_ADDR || t == T_DOMAIN ||
	       t == T_TRUST || t == T_FPR;
}

static void
conf_ent_init(struct conf_ent *e)
{
	memset(e, 0, sizeof(*e));
	e->a.tls_certcheck = 1;
	e->a.timeout = 60;
	e->a.queue_max_age = 5L * 24 * 3600; /* sendmail's Timeout.queuereturn */
	e->a.syslog_facility = LOG_MAIL;
	e->tls_starttls = -1;
	e->file = -1;
}

static char **
conf_strp(struct conf_ent *e, enum conf_kid k)
{
	return (char **)(void *)((char *)e + conf_keys[k].off);
}

/* Free the strings (wiping the password); the struct stays valid and empty. */
static void
conf_ent_clear(struct conf_ent *e)
{
	size_t k;

	for (k = 0; k < K_NKEYS; k++) {
		enum conf_type t = conf_keys[k].type;
		char **p;

		if (!conf_is_str(t))
			continue;
		p = conf_strp(e, (enum conf_kid)k);
		if (*p != NULL && k == K_PASSWORD)
			explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
	free(e->a.name);
	e->a.name = NULL;
}

static void
conf_ent_free(struct conf_ent *e)
{
	if (e == NULL)
		return;
	conf_ent_clear(e);
	free(e);
}

/* Deep copy src into dst (dst's old strings are freed); name included. */
static int
conf_ent_copy(struct conf_ent *dst, const struct conf_ent *src)
{
	size_t k;

	conf_ent_clear(dst);
	*dst = *src;
	dst->a.name = NULL;
	for (k = 0; k < K_NKEYS; k++) {
		enum conf_type t = conf_keys[k].type;
		char **p;

		if (!conf_is_str(t))
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
	for (; k < K_NKEYS; k++) {
		enum conf_type t = conf_keys[k].type;

		if (conf_is_str(t))
			*conf_strp(dst, (enum conf_kid)k) = NULL;
	}
	conf_ent_clear(dst);
	return -1;
}

static int
conf_find_key(const char *name, enum conf_kid *kid)
{
	size_t k;

	for (k = 0; k < K_NKEYS; k++)
		if (strcmp(conf_keys[k].name, name) == 0) {
			*kid = (enum conf_kid)k;
			return 0;
		}
	for (k = 0; k < sizeof(conf_aliases) / sizeof(conf_aliases[0]); k++)
		if (strcmp(conf_aliases[k].name, name) == 0) {
			*kid = conf_aliases[k].kid;
			return 0;
		}
	return -1;
}

static int
conf_parse_bool(const char *v, int *b)
{
	if (*v == '\0' || strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0)
		*b = 1;
	else if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
		 strcmp(v, "0") == 0)
		*b = 0;
	else
		return -1;
	return 0;
}

/* "90", "30s", "5m", "1h30m", "5d", "2w" → seconds, at most max. */
static int
conf_parse_duration(const char *v, long max, long *out)
{
	long total = 0;

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
		switch (*v) {
		case '\0':
			break;
		case 's':
			v++;
			break;
		case 'm':
			mult = 60;
			v++;
			break;
		case 'h':
			mult = 3600;
			v++;
			break;
		case 'd':
			mult = 86400;
			v++;
			break;
		case 'w':
			mult = 7 * 86400;
			v++;
			break;
		default:
			return -1;
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
	case T_FPR:
		for (p = v; *p != '\0'; p++) {
			if (isxdigit((unsigned char)*p))
				hex++;
			else if (*p != ':') {
				*why = "hexadecimal digits, colons allowed";
				return -1;
			}
		}
		if (hex != 64) {
			*why = "a SHA-256 fingerprint (32 bytes, 64 hex digits); SHA-1 and MD5 "
			       "fingerprints are not accepted";
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
 * Set key k of e from text v, recording its origin.  Secret sources exclude
 * each other: a later layer (another section, the environment, argv)
 * replaces the others, the same layer naming two is an error.
 */
static int
conf_set(struct conf_ent *e, enum conf_kid k, const char *v, struct conf_org org, const char **why)
{
	static const enum conf_kid secrets[] = {K_PASSWORD, K_PASSWORD_FILE, K_PASSWORDEVAL};
	long n = 0;
	int b = 0;
	size_t j;
	char **p;

	if (conf_has_ctl(v)) {
		*why = "control characters (CR, LF, TAB, ...) are not allowed";
		return -1;
	}
	switch (conf_keys[k].type) {
	case T_STR:
	case T_PATH:
	case T_HOST:
	case T_ADDR:
	case T_DOMAIN:
	case T_TRUST:
	case T_FPR:
		if (*v != '\0' && conf_check_value(k, v, why) == -1)
			return -1;
		if (k == K_PASSWORD || k == K_PASSWORD_FILE || k == K_PASSWORDEVAL) {
			for (j = 0; j < sizeof(secrets) / sizeof(secrets[0]); j++) {
				enum conf_kid o = secrets[j];

				if (o == k || *conf_strp(e, o) == NULL)
					continue;
				if (e->org[o].section == org.section && *v != '\0') {
					*why =
					    "only one of password, password_file and passwordeval "
					    "may be set";
					return -1;
				}
				p = conf_strp(e, o);
				if (o == K_PASSWORD)
					explicit_bzero(*p, strlen(*p));
				free(*p);
				*p = NULL;
				memset(&e->org[o], 0, sizeof(e->org[o]));
			}
		}
		p = conf_strp(e, k);
		if (*p != NULL && k == K_PASSWORD)
			explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
		/* msmtp: an empty value unsets; tls_trust_file "system" is the default store */
		if (*v != '\0' && !(conf_keys[k].type == T_TRUST && strcmp(v, "system") == 0)) {
			const char *home = getenv("HOME");

			/* msmtp expands ~/ in file names; so do we */
			if ((conf_keys[k].type == T_PATH || conf_keys[k].type == T_TRUST) &&
			    strncmp(v, "~/", 2) == 0 && home != NULL && home[0] == '/') {
				if (asprintf(p, "%s%s", home, v + 1) == -1)
					*p = NULL;
			} else
				*p = strdup(v);
			if (*p == NULL) {
				*why = "out of memory";
				return -1;
			}
		}
		break;
	case T_BOOL:
	case T_STARTTLS:
		if (conf_parse_bool(v, &b) == -1) {
			*why = "on or off";
			return -1;
		}
		if (conf_keys[k].type == T_STARTTLS)
			e->tls_starttls = b;
		else
			*(int *)(void *)((char *)e + conf_keys[k].off) = b;
		break;
	case T_PORT: {
		const char *errstr = NULL;

		n = (long)strtonum(v, 1, 65535, &errstr);
		if (errstr != NULL) {
			*why = "a port number 1..65535";
			return -1;
		}
		e->a.port = (unsigned)n;
		break;
	}
	case T_TLS:
		e->tls_on = 0;
		if (*v == '\0' || strcmp(v, "on") == 0) {
			e->tls_on = 1;
			e->a.tls = TLS_MODE_DEFAULT;
		} else if (strcmp(v, "starttls") == 0)
			e->a.tls = TLS_MODE_STARTTLS;
		else if (strcmp(v, "implicit") == 0)
			e->a.tls = TLS_MODE_IMPLICIT;
		else if (strcmp(v, "opportunistic") == 0)
			e->a.tls = TLS_MODE_OPPORTUNISTIC;
		else if (strcmp(v, "off") == 0)
			e->a.tls = TLS_MODE_OFF;
		else {
			*why = "starttls, implicit, opportunistic, off or on";
			return -1;
		}
		break;
	case T_AUTH:
		e->auth_on = 0;
		if (*v == '\0' || strcmp(v, "on") == 0) {
			e->a.auth = AUTH_MODE_DEFAULT;
			e->auth_on = 1;
		} else if (strcmp(v, "off") == 0)
			e->a.auth = AUTH_MODE_OFF;
		else if (strcasecmp(v, "plain") == 0)
			e->a.auth = AUTH_MODE_PLAIN;
		else if (strcasecmp(v, "login") == 0)
			e->a.auth = AUTH_MODE_LOGIN;
		else {
			*why = "on, off, plain or login (no other mechanism is supported)";
			return -1;
		}
		break;
	case T_FROMHDR:
		if (strcmp(v, "auto") == 0)
			e->a.set_from_header = FROM_HEADER_KEEP;
		else if (strcmp(v, "on") == 0)
			e->a.set_from_header = FROM_HEADER_REWRITE;
		else if (strcmp(v, "off") == 0)
			e->a.set_from_header = FROM_HEADER_OFF;
		else {
			*why = "auto, on or off";
			return -1;
		}
		break;
	case T_SYSLOG: {
		static const struct {
			const char *name;
			int fac;
		} facs[] = {{"LOG_MAIL", LOG_MAIL}, {"LOG_USER", LOG_USER},
		    {"LOG_LOCAL0", LOG_LOCAL0}, {"LOG_LOCAL1", LOG_LOCAL1},
		    {"LOG_LOCAL2", LOG_LOCAL2}, {"LOG_LOCAL3", LOG_LOCAL3},
		    {"LOG_LOCAL4", LOG_LOCAL4}, {"LOG_LOCAL5", LOG_LOCAL5},
		    {"LOG_LOCAL6", LOG_LOCAL6}, {"LOG_LOCAL7", LOG_LOCAL7}};

		if (conf_parse_bool(v, &b) == 0) {
			e->a.syslog = b;
			e->a.syslog_facility = LOG_MAIL;
			break;
		}
		for (j = 0; j < sizeof(facs) / sizeof(facs[0]); j++)
			if (strcmp(v, facs[j].name) == 0)
				break;
		if (j == sizeof(facs) / sizeof(facs[0])) {
			*why = "on, off, or a facility LOG_MAIL, LOG_USER, LOG_LOCAL0..LOG_LOCAL7";
			return -1;
		}
		e->a.syslog = 1;
		e->a.syslog_facility = facs[j].fac;
		break;
	}
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
		e->a.queue_max_age = n;
		break;
	}
	e->org[k] = org;
	return 0;
}

/* Undo msmtp-style double quotes in place: "a \"b\" \\c" → a "b" \c. */
static int
conf_unquote(char *v, const char **why)
{
	char *r = v + 1, *w = v;

	if (*v != '"')
		return 0;
	for (; *r != '\0' && *r != '"'; r++) {
		if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
			r++;
		*w++ = *r;
	}
	if (*r != '"' || r[1] != '\0') {
		*why = "unterminated quote or text after the closing quote";
		return -1;
	}
	*w = '\0';
	return 0;
}

/* Account by name, the user file's first (it was read last). */
static struct conf_ent *
conf_lookup(struct conf_ctx *c, const char *name)
{
	size_t k;

	for (k = c->nents; k-- > 0;)
		if (strcmp(c->ents[k]->a.name, name) == 0)
			return c->ents[k];
	return NULL;
}

/*
 * msmtp's rule: a from with *, ? or [ is a shell pattern; addresses are
 * compared without case; user+detail@d also matches user@d.
 */
static int
conf_from_matches(const char *pat, const char *addr)
{
	char base[1024];
	const char *plus, *at;

	if (fnmatch(pat, addr, FNM_CASEFOLD) == 0 || strcasecmp(pat, addr) == 0)
		return 1;
	plus = strchr(addr, '+');
	at = strrchr(addr, '@');
	if (plus == NULL || at == NULL || plus > at)
		return 0;
	if (snprintf(base, sizeof(base), "%.*s%s", (int)(plus - addr), addr, at) >=
	    (int)sizeof(base))
		return 0;
	return fnmatch(pat, base, FNM_CASEFOLD) == 0 || strcasecmp(pat, base) == 0;
}

/*
 * A section line: "defaults" or "account NAME [: PARENT, ...]".  A new
 * account starts as a copy of the file's defaults, then of each parent.
 */
static int
conf_section(
    struct conf_ctx *c, int fi, unsigned line, char *rest, struct conf_ent **cur, struct sx_err *e)
{
	const char *path = c->files[fi];
	struct conf_ent *ne;
	char *colon, *name, *end, *par;
	size_t k, nparents = 0;

	colon = strchr(rest, ':');
	if (colon != NULL)
		*colon = '\0';
	name = rest;
	end = name + strlen(name);
	while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (*name == '\0' || strpbrk(name, " \t,\"") != NULL || strlen(name) > 128)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "%s:%u: account: needs one name without spaces, commas or quotes", path, line);
	for (k = 0; k < c->nents; k++)
		if (c->ents[k]->file == fi && strcmp(c->ents[k]->a.name, name) == 0)
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "%s:%u: account %s is defined twice", path, line, name);
	if (c->nents == CONF_ACCOUNTS_MAX)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s:%u: more than %d accounts", path,
		    line, CONF_ACCOUNTS_MAX);
	if ((ne = calloc(1, sizeof(*ne))) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	conf_ent_init(ne);
	if (conf_ent_copy(ne, c->defs[fi]) == -1 || (ne->a.name = strdup(name)) == NULL) {
		conf_ent_free(ne);
		return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	}
	ne->file = fi;
	for (par = colon != NULL ? colon + 1 : NULL; par != NULL;) {
		char *next = strchr(par, ',');
		struct conf_ent *pe = NULL;
		char *pname;

		if (next != NULL)
			*next++ = '\0';
		pname = par + strspn(par, " \t");
		end = pname + strlen(pname);
		while (end > pname && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		par = next;
		if (++nparents > CONF_PARENTS_MAX) {
			conf_ent_free(ne);
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "%s:%u: account %s: more than %d accounts to inherit from", path, line,
			    name, CONF_PARENTS_MAX);
		}
		for (k = 0; k < c->nents; k++)
			if (c->ents[k]->file == fi && strcmp(c->ents[k]->a.name, pname) == 0)
				pe = c->ents[k];
		if (pe == NULL) {
			sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "%s:%u: account %s: account %.128s is not defined above", path, line,
			    name, pname);
			conf_ent_free(ne);
			return -1;
		}
		if (conf_ent_copy(ne, pe) == -1) {
			conf_ent_free(ne);
			return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		}
		free(ne->a.name);
		if ((ne->a.name = strdup(name)) == NULL) {
			conf_ent_free(ne);
			return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		}
		ne->file = fi;
	}
	c->ents[c->nents++] = ne;
	c->defs[fi]->has_sections = 1;
	*cur = ne;
	return 0;
}

/* Parse one file's text (NUL-terminated, len bytes). */
static int
conf_parse_buf(
    struct conf_ctx *c, int fi, char *buf, size_t len, const struct stat *st, struct sx_err *e)
{
	const char *path = c->files[fi];
	struct conf_ent *cur = c->defs[fi];
	char *line = buf, *nl;
	unsigned lineno = 0;

	if (memchr(buf, '\0', len) != NULL)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: contains a NUL byte", path);
	c->section++;
	for (; line < buf + len; line = nl + 1) {
		char *key, *val, *end;
		const char *why = NULL;
		struct conf_org org;
		enum conf_kid kid;
		size_t k;

		lineno++;
		nl = strchr(line, '\n');
		if (nl == NULL)
			nl = buf + len;
		*nl = '\0';
		if ((size_t)(nl - line) >= CONF_LINE_MAX)
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "%s:%u: line longer than %d bytes", path, lineno, CONF_LINE_MAX);
		key = line + strspn(line, " \t");
		end = key + strlen(key);
		while (end > key && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (*key == '\0' || *key == '#')
			continue;
		val = key + strcspn(key, " \t");
		if (*val != '\0') {
			*val++ = '\0';
			val += strspn(val, " \t");
		}
		if (conf_has_ctl(key) || strlen(key) > 64)
			return sx_fail(
			    e, SX_CONFIG, STAGE_CONFIG, "%s:%u: malformed key", path, lineno);
		if ((strcmp(key, "defaults") == 0 || strcmp(key, "account") == 0) &&
		    c->section >= SEC_ENV - 1)
			return sx_fail(
			    e, SX_CONFIG, STAGE_CONFIG, "%s:%u: too many sections", path, lineno);
		if (strcmp(key, "defaults") == 0) {
			if (*val != '\0')
				return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
				    "%s:%u: defaults: takes no value", path, lineno);
			c->section++;
			cur = c->defs[fi];
			continue;
		}
		if (strcmp(key, "account") == 0) {
			c->section++;
			if (conf_section(c, fi, lineno, val, &cur, e) == -1)
				return -1;
			continue;
		}
		if (conf_find_key(key, &kid) == -1) {
			for (k = 0; k < sizeof(conf_msmtp_only) / sizeof(conf_msmtp_only[0]); k++)
				if (strcmp(key, conf_msmtp_only[k]) == 0) {
					sx_fail(e, SX_CONFIG, STAGE_CONFIG,
					    "%s:%u: %s: msmtp key not supported by smtps-send",
					    path, lineno, key);
					sx_hint(e, "remove the line; smtps-send.conf(5) lists the "
						   "differences from msmtp");
					return -1;
				}
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s:%u: %.64s: unknown key",
			    path, lineno, key);
		}
		if (conf_unquote(val, &why) == -1)
			return sx_fail(
			    e, SX_CONFIG, STAGE_CONFIG, "%s:%u: %s: %s", path, lineno, key, why);
		if (kid == K_PASSWORD && *val != '\0' &&
		    (st->st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
			sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "%s:%u: password: %s is readable or writable by group or others "
			    "(mode %04o)",
			    path, lineno, path, (unsigned)(st->st_mode & 07777));
			sx_hint(
			    e, "run: chmod 600 %s (or use password_file or passwordeval)", path);
			return -1;
		}
		org.kind = ORG_FILE;
		org.file = (unsigned char)fi;
		org.section = c->section;
		org.line = lineno;
		if (conf_set(cur, kid, val, org, &why) == -1)
			return sx_fail(
			    e, SX_CONFIG, STAGE_CONFIG, "%s:%u: %s: %s", path, lineno, key, why);
	}
	/* A file without account lines is one account: "default". */
	if (!c->defs[fi]->has_sections) {
		char word[] = "default";

		if (conf_section(c, fi, lineno, word, &cur, e) == -1)
			return -1;
		c->defs[fi]->has_sections = 0;
	}
	return 0;
}

/*
 * A password command's output until EOF or max bytes, waiting at most
 * timeout_s seconds in all: 0, 1 when the time ran out, -1 on error.
 */
static int
conf_read_child(int fd, char *buf, size_t max, size_t *len, int timeout_s)
{
	struct timespec t0, now;
	size_t n = 0;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n < max) {
		struct pollfd pfd = {fd, POLLIN, 0};
		long left;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_s * 1000L - ((long)(now.tv_sec - t0.tv_sec) * 1000L +
					       (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			rc = 1;
			break;
		}
		r = poll(&pfd, 1, (int)left);
		if (r == -1 && errno != EINTR) {
			rc = -1;
			break;
		}
		if (r <= 0)
			continue;
		r = read(fd, buf + n, max - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return rc;
}

/* read(2) until EOF or max bytes; 1 more than max is reported as too big. */
static int
conf_read_fd(int fd, char *buf, size_t max, size_t *len)
{
	size_t n = 0;

	while (n < max) {
		ssize_t r = read(fd, buf + n, max - n);

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return 0;
}

/*
 * Read one config file.  A missing optional file is fine; a missing
 * required one (--config, $SMTPS_SEND_CONFIG) is an error.
 */
static int
conf_read_file(struct conf_ctx *c, const char *path, int required, struct sx_err *e)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, fi, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		if (!required && errno == ENOENT)
			return 0;
		if (!required && errno == EACCES) {
			/* Someone else's system file: say so only if nothing else works. */
			strlcpy(c->unreadable, path, sizeof(c->unreadable));
			return 0;
		}
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "cannot open config file %s: %s", path,
		    strerror(errno));
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "config file %s is not a regular file", path);
		goto out;
	}
	if (st.st_size > CONF_FILE_MAX) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "config file %s is larger than %ld bytes", path,
		    CONF_FILE_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)CONF_FILE_MAX + 1)) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto out;
	}
	if (conf_read_fd(fd, buf, (size_t)CONF_FILE_MAX + 1, &len) == -1) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "cannot read config file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (len > (size_t)CONF_FILE_MAX) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "config file %s is larger than %ld bytes", path,
		    CONF_FILE_MAX);
		goto out;
	}
	buf[len] = '\0';
	fi = (int)c->nfiles;
	if ((c->files[fi] = strdup(path)) == NULL ||
	    (c->defs[fi] = calloc(1, sizeof(*c->defs[fi]))) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		free(c->files[fi]);
		c->files[fi] = NULL;
		goto out;
	}
	c->nfiles++;
	conf_ent_init(c->defs[fi]);
	c->defs[fi]->file = fi;
	rc = conf_parse_buf(c, fi, buf, len, &st, e);
out:
	if (buf != NULL) {
		/* The text may hold a password. */
		explicit_bzero(buf, len);
		free(buf);
	}
	close(fd);
	return rc;
}

/* SMTPS_SEND_<KEY> for every key (and alias); empty means unset. */
static int
conf_apply_env(struct conf_ent *ent, struct sx_err *e)
{
	struct conf_org org = {ORG_ENV, 0, SEC_ENV, 0};
	char var[64];
	const char *why = NULL;
	size_t k, n, total = K_NKEYS + sizeof(conf_aliases) / sizeof(conf_aliases[0]);
	int seen[K_NKEYS];

	memset(seen, 0, sizeof(seen));
	for (k = 0; k < total; k++) {
		const char *name = k < K_NKEYS ? conf_keys[k].name : conf_aliases[k - K_NKEYS].name;
		enum conf_kid kid = k < K_NKEYS ? (enum conf_kid)k : conf_aliases[k - K_NKEYS].kid;
		const char *v;

		snprintf(var, sizeof(var), "SMTPS_SEND_%s", name);
		for (n = sizeof("SMTPS_SEND_") - 1; var[n] != '\0'; n++)
			var[n] = (char)toupper((unsigned char)var[n]);
		if ((v = getenv(var)) == NULL || *v == '\0')
			continue;
		if (seen[kid])
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "environment %s: %s is set under two names", var, conf_keys[kid].name);
		seen[kid] = 1;
		if (strlen(v) >= CONF_LINE_MAX)
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "environment %s: longer than %d bytes", var, CONF_LINE_MAX);
		if (conf_set(ent, kid, v, org, &why) == -1)
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "environment %s: %s: %s", var,
			    conf_keys[kid].name, why);
	}
	return 0;
}

static int
conf_apply_argv(struct conf_ent *ent, const struct conf_request *req, struct sx_err *e)
{
	struct conf_org org = {ORG_ARGV, 0, SEC_ARGV, 0};
	const struct {
		enum conf_kid kid;
		const char *v;
	} ov[] = {{K_HOST, req->host}, {K_PORT, req->port}, {K_TLS, req->tls}, {K_USER, req->user},
	    {K_TLS_TRUST_FILE, req->tls_trust_file}};
	const char *why = NULL;
	size_t k;

	for (k = 0; k < sizeof(ov) / sizeof(ov[0]); k++) {
		if (ov[k].v == NULL)
			continue;
		if (conf_set(ent, ov[k].kid, ov[k].v, org, &why) == -1)
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "argv %s: %s",
			    conf_keys[ov[k].kid].argv_flag, why);
	}
	return 0;
}

/*
 * Resolve TLS mode and port, then refuse what cannot work or would be
 * unsafe (msmtp's check_account, stricter).
 */
static int
conf_finish(struct conf_ctx *c, struct conf_ent *ent, struct sx_err *e)
{
	struct account *a = &ent->a;
	const char *name = a->name;

	if (ent->tls_on || a->tls == TLS_MODE_DEFAULT) {
		if (ent->tls_starttls == 0)
			a->tls = TLS_MODE_IMPLICIT;
		else if (ent->tls_on || a->port != 465)
			a->tls = TLS_MODE_STARTTLS;
		else
			a->tls = TLS_MODE_IMPLICIT;
	}
	if (a->port == 0)
		a->port = a->tls == TLS_MODE_IMPLICIT ? 465 : 587;
	if (a->host == NULL) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "account %s: no host set", name);
		if (c->unreadable[0] != '\0')
			sx_hint(e,
			    "%s exists but is not readable by this user; or set host in %s, "
			    "SMTPS_SEND_HOST or --host",
			    c->unreadable, "${XDG_CONFIG_HOME:-~/.config}/smtps-send/config");
		else if (c->nfiles == 0)
			sx_hint(e, "no config file was found: set SMTPS_SEND_HOST, use --host, or "
				   "write ${XDG_CONFIG_HOME:-~/.config}/smtps-send/config "
				   "(see smtps-send.conf(5))");
		else
			sx_hint(e, "set host in %s, SMTPS_SEND_HOST or --host",
			    c->files[c->nfiles - 1]);
		return -1;
	}
	if ((ent->auth_on || a->auth == AUTH_MODE_PLAIN || a->auth == AUTH_MODE_LOGIN) &&
	    a->user == NULL)
		return sx_fail(
		    e, SX_CONFIG, STAGE_CONFIG, "account %s: auth is on but no user is set", name);
	if (a->tls == TLS_MODE_OFF && a->auth != AUTH_MODE_OFF && a->user != NULL &&
	    !a->auth_cleartext) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "account %s: tls is off, so authenticating would send the password in "
		    "cleartext",
		    name);
		sx_hint(e, "turn tls on, or set auth_cleartext on if the network path is trusted");
		return -1;
	}
	if ((a->tls_cert_file == NULL) != (a->tls_key_file == NULL))
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "account %s: tls_cert_file and tls_key_file must be set together", name);
	return 0;
}

static void
conf_ctx_free(struct conf_ctx *c)
{
	size_t k;

	for (k = 0; k < c->nents; k++)
		conf_ent_free(c->ents[k]);
	for (k = 0; k < CONF_FILES_MAX; k++) {
		conf_ent_free(c->defs[k]);
		free(c->files[k]);
	}
	memset(c, 0, sizeof(*c));
}

int
conf_load(const struct conf_request *req, struct account *acct, struct sx_err *e)
{
	struct conf_ctx c;
	struct conf_ent res;
	const struct conf_ent *chosen = NULL;
	struct conf_src *src = NULL;
	const char *want = NULL, *env_cfg, *xdg, *home;
	char chosen_by[160] = "";
	char user_path[4096];
	size_t k;
	int fi;

	memset(acct, 0, sizeof(*acct));
	memset(&c, 0, sizeof(c));
	conf_ent_init(&res);

	env_cfg = getenv("SMTPS_SEND_CONFIG");
	if (req->config_file != NULL) {
		if (conf_read_file(&c, req->config_file, 1, e) == -1)
			goto fail;
	} else if (env_cfg != NULL && *env_cfg != '\0') {
		if (conf_read_file(&c, env_cfg, 1, e) == -1)
			goto fail;
	} else {
		if (req->system_file != NULL) {
			if (conf_read_file(&c, req->system_file, 0, e) == -1)
				goto fail;
		} else {
			if (conf_read_file(&c, DEFAULT_CONFIG, 0, e) == -1)
				goto fail;
			if (c.nfiles == 0 && strcmp(DEFAULT_CONFIG, CONF_ETC_CONFIG) != 0 &&
			    conf_read_file(&c, CONF_ETC_CONFIG, 0, e) == -1)
				goto fail;
		}
		xdg = getenv("XDG_CONFIG_HOME");
		home = getenv("HOME");
		user_path[0] = '\0';
		if (xdg != NULL && xdg[0] == '/')
			snprintf(user_path, sizeof(user_path), "%s/smtps-send/config", xdg);
		else if (home != NULL && home[0] == '/')
			snprintf(
			    user_path, sizeof(user_path), "%s/.config/smtps-send/config", home);
		if (user_path[0] != '\0' && conf_read_file(&c, user_path, 0, e) == -1)
			goto fail;
	}

	/* Which account: -a, $SMTPS_SEND_ACCOUNT, the sender's, "default", defaults. */
	if (req->account != NULL) {
		want = req->account;
		snprintf(chosen_by, sizeof(chosen_by), "argv --account");
	} else if (getenv("SMTPS_SEND_ACCOUNT") != NULL && *getenv("SMTPS_SEND_ACCOUNT") != '\0') {
		want = getenv("SMTPS_SEND_ACCOUNT");
		snprintf(chosen_by, sizeof(chosen_by), "env SMTPS_SEND_ACCOUNT");
	}
	if (want != NULL) {
		if ((chosen = conf_lookup(&c, want)) == NULL) {
			sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: no account %.128s in %s",
			    chosen_by, want,
			    c.nfiles == 0 ? "any config file (none was found)" : "the config");
			if (c.nfiles > 0)
				sx_hint(e, "config files read: %s%s%s", c.files[0],
				    c.nfiles > 1 ? ", " : "", c.nfiles > 1 ? c.files[1] : "");
			goto fail;
		}
	} else if (req->envelope_from != NULL && *req->envelope_from != '\0') {
		/* User file first, in file order. */
		for (fi = (int)c.nfiles - 1; fi >= 0 && chosen == NULL; fi--)
			for (k = 0; k < c.nents && chosen == NULL; k++)
				if (c.ents[k]->file == fi && c.ents[k]->a.from != NULL &&
				    conf_from_matches(c.ents[k]->a.from, req->envelope_from))
					chosen = c.ents[k];
		if (chosen != NULL)
			snprintf(chosen_by, sizeof(chosen_by), "envelope sender matches from");
	}
	if (chosen == NULL && (chosen = conf_lookup(&c, "default")) != NULL)
		snprintf(chosen_by, sizeof(chosen_by), "default account");
	if (chosen == NULL && c.nfiles > 0) {
		chosen = c.defs[c.nfiles - 1];
		snprintf(chosen_by, sizeof(chosen_by), "defaults of %s", c.files[c.nfiles - 1]);
	}
	if (chosen != NULL && conf_ent_copy(&res, chosen) == -1) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto fail;
	}
	if (chosen == NULL)
		snprintf(chosen_by, sizeof(chosen_by), "no config file: environment and argv");
	if (res.a.name == NULL && (res.a.name = strdup("default")) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto fail;
	}
	if (conf_apply_env(&res, e) == -1 || conf_apply_argv(&res, req, e) == -1 ||
	    conf_finish(&c, &res, e) == -1)
		goto fail;

	if ((src = calloc(1, sizeof(*src))) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto fail;
	}
	memcpy(src->org, res.org, sizeof(src->org));
	strlcpy(src->chosen, chosen_by, sizeof(src->chosen));
	for (k = 0; k < c.nfiles; k++) {
		src->files[k] = c.files[k];
		c.files[k] = NULL;
	}
	src->nfiles = c.nfiles;
	*acct = res.a;
	acct->src = src;
	conf_ctx_free(&c);
	return 0;
fail:
	conf_ent_clear(&res);
	conf_ctx_free(&c);
	return -1;
}

void
conf_account_free(struct account *a)
{
	struct conf_ent tmp;
	size_t k;

	if (a == NULL)
		return;
	conf_ent_init(&tmp);
	tmp.a = *a;
	conf_ent_clear(&tmp);
	if (a->src != NULL) {
		for (k = 0; k < CONF_FILES_MAX; k++)
			free(a->src->files[k]);
		free(a->src);
	}
	memset(a, 0, sizeof(*a));
}

/*
 * First line of a secret buffer (len bytes) into a new string; CRLF or LF
 * stripped.  what names the source for errors; the bytes never appear.
 */
static int
conf_first_line(char *buf, size_t len, const char *what, char **out, struct sx_err *e)
{
	size_t n;

	for (n = 0; n < len && buf[n] != '\n'; n++)
		;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: the password is empty", what);
	if (memchr(buf, '\0', n) != NULL)
		return sx_fail(
		    e, SX_CONFIG, STAGE_CONFIG, "%s: the password contains a NUL byte", what);
	if ((*out = strndup(buf, n)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	return 0;
}

/*
 * Run a password command and take the first line of its output.  Without
 * shell metacharacters it is split on blanks and run directly (no shell to
 * re-interpret it); otherwise /bin/sh -c.  stdin is /dev/null: ours is the
 * message.  Output is bounded and never copied into errors.  A command
 * silent for timeout_s seconds (a gpg prompt nobody sees under cron) is
 * killed: a temporary failure, so the message waits in the queue.
 */
static int
conf_run(const char *cmd, int timeout_s, char **out, struct sx_err *e)
{
	char buf[CONF_SECRET_MAX + 1];
	char *words[CONF_WORDS_MAX + 1];
	char *copy = NULL, *tok, *save = NULL;
	int pfd[2] = {-1, -1};
	size_t n = 0, nw = 0;
	int shell, status, rc = -1, devnull, timed_out;
	pid_t pid;

	shell = strpbrk(cmd, "|&;<>()$`\\\"'*?[]#~=%{}!") != NULL;
	if (!shell) {
		if ((copy = strdup(cmd)) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		for (tok = strtok_r(copy, " \t", &save); tok != NULL;
		     tok = strtok_r(NULL, " \t", &save)) {
			if (nw == CONF_WORDS_MAX) {
				free(copy);
				return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
				    "passwordeval: more than %d words", CONF_WORDS_MAX);
			}
			words[nw++] = tok;
		}
		words[nw] = NULL;
		if (nw == 0) {
			free(copy);
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "passwordeval: empty command");
		}
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "passwordeval: pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) == -1) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "passwordeval: fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		devnull = open("/dev/null", O_RDONLY);
		if (devnull == -1 || dup2(devnull, 0) == -1 || dup2(pfd[1], 1) == -1)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		/* The command needs no secret of ours in its environment. */
		unsetenv("SMTPS_SEND_PASSWORD");
		if (shell)
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		else
			execvp(words[0], words);
		_exit(127);
	}
	close(pfd[1]);
	pfd[1] = -1;
	timed_out = conf_read_child(pfd[0], buf, sizeof(buf), &n, timeout_s);
	if (timed_out == -1)
		n = 0;
	if (timed_out == 1)
		kill(pid, SIGKILL);
	else if (n == sizeof(buf))
		kill(pid, SIGTERM); /* it may block writing more */
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "passwordeval: waitpid: %s",
			    strerror(errno));
			goto out;
		}
	if (timed_out == 1) {
		sx_fail(e, SX_TEMP, STAGE_CONFIG, "passwordeval: no password within %d s (killed)",
		    timeout_s);
		sx_hint(e, "a command that asks for a passphrase (gpg, pass) needs its agent to "
			   "have it cached when there is no terminal, as under cron");
		goto out;
	}
	if (n == sizeof(buf)) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "passwordeval: output longer than %d bytes",
		    CONF_SECRET_MAX);
		goto out;
	}
	if (WIFSIGNALED(status)) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "passwordeval: command killed by signal %d",
		    WTERMSIG(status));
		goto out;
	}
	if (WEXITSTATUS(status) == 127 || WEXITSTATUS(status) == 126) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "passwordeval: command not found or not executable (exit status %d)",
		    WEXITSTATUS(status));
		goto out;
	}
	if (WEXITSTATUS(status) != 0) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "passwordeval: command exited with status %d",
		    WEXITSTATUS(status));
		goto out;
	}
	rc = conf_first_line(buf, n, "passwordeval", out, e);
out:
	explicit_bzero(buf, sizeof(buf));
	if (pfd[0] != -1)
		close(pfd[0]);
	if (pfd[1] != -1)
		close(pfd[1]);
	free(copy);
	return rc;
}

int
conf_read_secret(const struct account *a, char **secret, struct sx_err *e)
{
	char buf[CONF_SECRET_MAX + 1];
	struct stat st;
	size_t n = 0;
	int fd, rc = -1;

	*secret = NULL;
	if (a->password != NULL) {
		if ((*secret = strdup(a->password)) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		return 0;
	}
	if (a->passwordeval != NULL)
		return conf_run(a->passwordeval, a->timeout > 0 ? a->timeout : 60, secret, e);
	if (a->password_file == NULL)
		return 0;
	fd = open(a->password_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "password_file %s: %s", a->password_file,
		    strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "password_file %s: not a regular file",
		    a->password_file);
		goto out;
	}
	if (conf_read_fd(fd, buf, sizeof(buf), &n) == -1) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "password_file %s: %s", a->password_file,
		    strerror(errno));
		goto out;
	}
	if (n == sizeof(buf) && memchr(buf, '\n', n) == NULL) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "password_file %s: first line longer than %d bytes", a->password_file,
		    CONF_SECRET_MAX);
		goto out;
	}
	rc = conf_first_line(buf, n, "password_file", secret, e);
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

void
conf_secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

const char *
conf_tls_name(enum tls_mode m)
{
	if ((int)m < 0 || m > TLS_MODE_OFF)
		return "?";
	return conf_tls_names[m];
}

/* An origin as text: "FILE:LINE", "env SMTPS_SEND_X", "argv --x", "default". */
static void
conf_where(
    const struct conf_src *src, enum conf_kid k, const struct conf_org *o, char *buf, size_t sz)
{
	size_t n;

	switch (o->kind) {
	case ORG_FILE:
		snprintf(buf, sz, "%s:%u",
		    src != NULL && o->file < src->nfiles ? src->files[o->file] : "?", o->line);
		break;
	case ORG_ENV:
		snprintf(buf, sz, "env SMTPS_SEND_%s", conf_keys[k].name);
		for (n = sizeof("env SMTPS_SEND_") - 1; n < sz && buf[n] != '\0'; n++)
			buf[n] = (char)toupper((unsigned char)buf[n]);
		break;
	case ORG_ARGV:
		snprintf(buf, sz, "argv %s",
		    conf_keys[k].argv_flag != NULL ? conf_keys[k].argv_flag : "?");
		break;
	default:
		snprintf(buf, sz, "default");
		break;
	}
}

const char *
conf_origin(const struct account *a, const char *key, char *buf, size_t sz)
{
	static const struct conf_org none;
	enum conf_kid k;

	if (conf_find_key(key, &k) == -1 || sz == 0)
		return NULL;
	conf_where(a->src, k, a->src != NULL ? &a->src->org[k] : &none, buf, sz);
	return buf;
}

int
conf_dump(FILE *fp, const struct account *a)
{
	static const char *const auth_names[] = {[AUTH_MODE_DEFAULT] = "on",
	    [AUTH_MODE_OFF] = "off",
	    [AUTH_MODE_PLAIN] = "plain",
	    [AUTH_MODE_LOGIN] = "login"};
	static const char *const fh_names[] = {
	    [FROM_HEADER_KEEP] = "auto", [FROM_HEADER_REWRITE] = "on", [FROM_HEADER_OFF] = "off"};
	struct conf_ent tmp;
	char val[64], where[4200];
	size_t k;

	fprintf(fp, "# smtps-send %s: effective configuration\n", PACKAGE_VERSION);
	if (a->src == NULL || a->src->nfiles == 0)
		fprintf(fp, "# config files: none found\n");
	for (k = 0; a->src != NULL && k < a->src->nfiles; k++)
		fprintf(fp, "# config file: %s\n", a->src->files[k]);
	fprintf(fp, "# account %s (%s)\n", a->name != NULL ? a->name : "default",
	    a->src != NULL ? a->src->chosen : "?");
	memset(&tmp, 0, sizeof(tmp));
	tmp.a = *a;
	for (k = 0; k < K_NKEYS; k++) {
		const char *v = val;
		const struct conf_key *key = &conf_keys[k];
		int iv;

		switch (key->type) {
		case T_STR:
		case T_PATH:
		case T_HOST:
		case T_ADDR:
		case T_DOMAIN:
		case T_TRUST:
		case T_FPR:
			v = *conf_strp(&tmp, (enum conf_kid)k);
			if (v == NULL)
				v = k == K_TLS_TRUST_FILE ? "system" : "(unset)";
			else if (k == K_PASSWORD)
				v = "********";
			break;
		case T_BOOL:
			iv = *(int *)(void *)((char *)&tmp + key->off);
			v = iv ? "on" : "off";
			break;
		case T_STARTTLS:
			v = a->tls == TLS_MODE_IMPLICIT ? "off" : "on";
			break;
		case T_PORT:
			snprintf(val, sizeof(val), "%u", a->port);
			break;
		case T_TLS:
			v = conf_tls_name(a->tls);
			break;
		case T_AUTH:
			v = (unsigned)a->auth < 4 ? auth_names[a->auth] : "?";
			break;
		case T_FROMHDR:
			v = (unsigned)a->set_from_header < 3 ? fh_names[a->set_from_header] : "?";
			break;
		case T_SYSLOG:
			if (!a->syslog)
				v = "off";
			else if (a->syslog_facility == LOG_MAIL)
				v = "LOG_MAIL";
			else if (a->syslog_facility == LOG_USER)
				v = "LOG_USER";
			else
				snprintf(val, sizeof(val), "LOG_LOCAL%d",
				    (a->syslog_facility - LOG_LOCAL0) >> 3);
			break;
		case T_TIMEOUT:
			snprintf(val, sizeof(val), "%ds", a->timeout);
			break;
		case T_AGE:
			if (a->queue_max_age == 0)
				v = "off";
			else
				snprintf(val, sizeof(val), "%lds", a->queue_max_age);
			break;
		}
		conf_origin(a, key->name, where, sizeof(where));
		fprintf(fp, "%-20s %-32s # %s\n", key->name, v, where);
	}
	fflush(fp);
	return ferror(fp) ? -1 : 0;
}
