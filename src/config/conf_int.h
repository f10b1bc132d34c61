/*
 * conf_int.h — what the files of the config module share (the key table,
 * an account while it is built, the state of one conf_load).  Not for
 * other modules: they use conf.h.
 */
#ifndef SX_CONF_INT_H
#define SX_CONF_INT_H

#include <stddef.h>

#include "config/conf.h"

#define CONF_FILES_MAX 3      /* system and user file, or the one given */
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
	K_QUEUE,
	K_QUEUE_ON_TEMPFAIL,
	K_QUEUE_FALLBACK,
	K_FLUSH_ON_SEND,
	K_QUEUE_MAX_AGE,
	K_QUEUE_KEEP_FAILED,
	K_BOUNCE,
	K_ADMIN_ADDRESS,
	K_ALLOW_PARTIAL,
	K_ALLOW_8BIT,
	K_STRICT_LINE_LENGTH,
	K_SENDER_FROM_HEADER,
	K_MAX_MESSAGES_PER_SESSION,
	K_RATE,
	/* OAuth2 (issue 17; src/auth/oauth2.h) */
	K_OAUTH2_TOKEN,
	K_OAUTH2_TOKEN_FILE,
	K_OAUTH2_TOKEN_COMMAND,
	K_OAUTH2_PROVIDER,
	K_OAUTH2_FLOW,
	K_OAUTH2_CLIENT_ID,
	K_OAUTH2_CLIENT_SECRET,
	K_OAUTH2_CLIENT_SECRET_FILE,
	K_OAUTH2_CLIENT_SECRET_EVAL,
	K_OAUTH2_TENANT,
	K_OAUTH2_SCOPE,
	K_OAUTH2_TOKEN_URL,
	K_OAUTH2_AUTH_URL,
	K_OAUTH2_DEVICE_URL,
	K_OAUTH2_TRUST_FILE,
	K_NKEYS
};

enum conf_type {
	T_STR,     /* any printable text; empty unsets */
	T_PATH,    /* a file name; a leading ~/ is $HOME/ */
	T_HOST,    /* no spaces */
	T_ADDR,    /* from: no spaces or angle brackets; may be a wildcard */
	T_DOMAIN,  /* EHLO name or [literal] */
	T_TRUST,   /* path or "system" */
	T_FPR,     /* SHA-256 hex, colons allowed */
	T_URL,     /* https:// (http:// to localhost only) */
	T_ENUM,    /* one of the key's spellings (on/off, tls modes, ...) */
	T_PORT,    /* 1..65535 */
	T_TIMEOUT, /* 1s..1h */
	T_AGE,     /* duration or off */
	T_COUNT    /* a whole number, or off (0) */
};

/* One spelling of an enumerated value; a table ends with a NULL name. */
struct conf_enum {
	const char *name;
	int value;
	unsigned flags; /* CONF_EV_* */
};

#define CONF_EV_ALIAS  0x01 /* accepted, never printed */
#define CONF_EV_ON     0x02 /* msmtp's generic "on": resolved by conf_finish */
#define CONF_EV_NOCASE 0x04 /* matched in any case (SASL mechanism names) */

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;                     /* in struct conf_ent */
	const char *argv_flag;          /* long option overriding it, or NULL */
	const struct conf_enum *values; /* T_ENUM */
	const char *why;                /* T_ENUM: what is accepted, for errors */
	size_t set_off;                 /* T_ENUM: an int set by on/off spellings (0: none) */
};

/* Other spellings of a key (password_cmd). */
struct conf_alias {
	const char *name;
	enum conf_kid kid;
};

extern const struct conf_key conf_keys[K_NKEYS];
extern const struct conf_alias conf_aliases[];
extern const size_t conf_naliases;

/* Origin of one value: nothing (default), file:line, env, argv, or a queued message's record. */
enum conf_org_kind { ORG_DEFAULT = 0, ORG_FILE, ORG_ENV, ORG_ARGV, ORG_QUEUE };
struct conf_org {
	unsigned char kind;
	unsigned char file;     /* index in conf_src.files */
	unsigned short section; /* which section (or SEC_ENV/SEC_ARGV) set it */
	unsigned line;
};

/* The durations as they were written ("5d", "90"), for --dump-config. */
#define CONF_NDUR    3 /* timeout, queue_max_age, queue_keep_failed */
#define CONF_DUR_MAX 24

/* struct account's record of where its values came from. */
struct conf_src {
	char *files[CONF_FILES_MAX]; /* files read, in order */
	size_t nfiles;
	struct conf_org org[K_NKEYS];
	char chosen[160]; /* how the account was chosen */
	char dur[CONF_NDUR][CONF_DUR_MAX];
};

/* An account while it is being built. */
struct conf_ent {
	struct account a;
	int file;                  /* which file defined it */
	int tls_starttls;          /* -1 unset, 0, 1; resolved with tls */
	int has_sections;          /* for a file's defaults: the file had account lines */
	unsigned char on[K_NKEYS]; /* the value was a CONF_EV_ON spelling */
	struct conf_org org[K_NKEYS];
	char dur[CONF_NDUR][CONF_DUR_MAX]; /* durations as written; "": not set */
};

/* Why a file is read: what it may hold and whether it must exist. */
enum conf_role {
	CONF_ROLE_SYSTEM, /* optional; the only place for allowed_config_dirs */
	CONF_ROLE_USER,   /* optional */
	CONF_ROLE_GIVEN   /* -C, --config, $SMTPS_SEND_CONFIG: must exist */
};

/* State of one conf_load. */
struct conf_ctx {
	char *files[CONF_FILES_MAX];
	unsigned char roles[CONF_FILES_MAX];
	size_t nfiles;
	struct conf_ent *defs[CONF_FILES_MAX]; /* each file's defaults */
	struct conf_ent *ents[CONF_ACCOUNTS_MAX];
	size_t nents;
	unsigned short section;
	char unreadable[256];            /* an optional file we could not read, for the hint */
	char *allowed[CONF_ALLOWED_MAX]; /* allowed_config_dirs of the system file */
	size_t nallowed;
	/*
	 * No account was named and none is "default": the last file's
	 * defaults were taken, though that file defines accounts.
	 */
	int fell_to_defaults;
	struct conf_errors *errs; /* the request's list (conf.h), or NULL */
	size_t nerr;              /* errors found in the files read */
};

/* conf_keys.c: keys, values, accounts under construction. */
void conf_ent_init(struct conf_ent *);
void conf_ent_clear(struct conf_ent *);
void conf_ent_free(struct conf_ent *);
int conf_ent_copy(struct conf_ent *, const struct conf_ent *);
char **conf_strp(struct conf_ent *, enum conf_kid);
int *conf_intp(struct conf_ent *, size_t off);
int conf_find_key(const char *, enum conf_kid *);
const char *conf_enum_name(enum conf_kid, int value);
int conf_set(struct conf_ent *, enum conf_kid, const char *, struct conf_org, const char **why);
/* The index in dur[] of a duration key, or -1. */
int conf_dur_index(enum conf_kid);

/* conf.c: resolve what is left (tls by port, port by tls) and check the account. */
int conf_finish(struct conf_ctx *, struct conf_ent *, int relay_optional, struct sx_err *);

/*
 * conf_dump.c: key k's value as text, in buf or a constant; the password is
 * masked.  Canonical (one value, one text: a queued message's record must
 * read back the same); --dump-config shows durations as they were written.
 */
const char *conf_value(const struct account *, enum conf_kid k, char *buf, size_t bufsz);

/* conf.c: the names of the accounts defined, "a, b, c", in buf. */
void conf_account_names(const struct conf_ctx *, char *buf, size_t bufsz);

/*
 * conf_file.c: one file's grammar.  conf_read_file reads the file to its
 * end: each error (unreadable, bad line) is counted in c->nerr, listed in
 * c->errs and, the first, recorded in e, and 0 is returned; -1 only when
 * reading cannot go on (out of memory, too many sections).
 */
int conf_read_file(struct conf_ctx *, const char *path, enum conf_role, struct sx_err *);
void conf_ctx_free(struct conf_ctx *);
int conf_read_fd(int fd, char *buf, size_t max, size_t *len);

#endif
