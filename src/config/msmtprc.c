/*
 * msmtprc.c — msmtp's configuration → smtps-send's (see msmtprc.h).
 *
 * Both files share msmtp's grammar, so most lines stay as they are.  The
 * work is in three places: keys with no equivalent (a comment saying why),
 * values whose meaning differs (a SHA-1 pin, syslog on, auth methods,
 * timeout off), and defaults that differ, which each account then states
 * (tls off, port 25, auth off, tls_certcheck off beside a pin).  To know
 * those, the settings that matter are tracked per section as the
 * smtps-send grammar resolves them: the file's defaults, then the parents,
 * then the account's own lines (msmtp's order too).  Every line written is
 * checked with smtps-send's own key table, so the result loads.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/conf_int.h"
#include "config/msmtprc.h"
#include "core/strutil.h"

/* The settings whose msmtp defaults differ from smtps-send's, per section. */
enum mrc_track {
	MT_TLS,       /* "on" or "off" */
	MT_STARTTLS,  /* "on" or "off" */
	MT_PORT,      /* set */
	MT_AUTH,      /* as written, lower case: on, off, a mechanism */
	MT_USER,      /* set */
	MT_SECRET,    /* "password" or "passwordeval" */
	MT_EVAL,      /* passwordeval's command */
	MT_PIN,       /* a SHA-256 tls_fingerprint was kept */
	MT_CERTCHECK, /* "on", "off", or "pin" (off beside a pin, written by mrc_resolve) */
	MT_TOKEN,     /* oauth2_token_command was written */
	MT_N
};

struct mrc_sect {
	char name[129]; /* "" for the defaults */
	char *v[MT_N];
};

struct mrc {
	const char *name; /* of the msmtprc, for the comments */
	FILE *out;
	void (*note)(void *, unsigned, const char *, const char *);
	void *arg;
	struct msmtprc_result *res;
	struct sx_err *e;
	struct mrc_sect defs;
	struct mrc_sect *accts[CONF_ACCOUNTS_MAX];
	size_t nacct;
	struct mrc_sect *cur; /* NULL before the first section */
	/* The section's output, held until its end. */
	char **lines;
	size_t nlines, cap;
	size_t tail;        /* comments and blank lines from here on follow the last key */
	long secret_line;   /* this section's password or passwordeval line, or -1 */
	unsigned sect_line; /* where the section began */
	int failed;         /* out of memory */
};

static int mrc_add(struct mrc *, int, const char *, ...) __attribute__((__format__(printf, 3, 4)));
static void mrc_say(struct mrc *, int, unsigned, const char *, const char *, ...)
    __attribute__((__format__(printf, 5, 6)));

/* Set t of s to v (NULL unsets). */
static void
mrc_set(struct mrc *m, struct mrc_sect *s, enum mrc_track t, const char *v)
{
	str_free_secret(s->v[t]);
	s->v[t] = NULL;
	if (v != NULL && (s->v[t] = strdup(v)) == NULL)
		m->failed = 1;
}

static int
mrc_is(const struct mrc_sect *s, enum mrc_track t, const char *v)
{
	return s->v[t] != NULL && strcmp(s->v[t], v) == 0;
}

static void
mrc_sect_clear(struct mrc_sect *s)
{
	size_t t;

	for (t = 0; t < MT_N; t++) {
		str_free_secret(s->v[t]);
		s->v[t] = NULL;
	}
}

/* dst = src, names apart: inheritance copies every setting, as conf_file.c does. */
static void
mrc_sect_copy(struct mrc *m, struct mrc_sect *dst, const struct mrc_sect *src)
{
	size_t t;

	for (t = 0; t < MT_N; t++)
		mrc_set(m, dst, (enum mrc_track)t, src->v[t]);
}

/* Append a line to the section's output; after_key: it belongs to the keys (not a comment). */
static int
mrc_add(struct mrc *m, int after_key, const char *fmt, ...)
{
	va_list ap;
	char *line;

	if (m->nlines == m->cap) {
		size_t ncap = m->cap == 0 ? 32 : 2 * m->cap;
		char **nl = reallocarray(m->lines, ncap, sizeof(*nl));

		if (nl == NULL) {
			m->failed = 1;
			return -1;
		}
		m->lines = nl;
		m->cap = ncap;
	}
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) == -1) {
		va_end(ap);
		m->failed = 1;
		return -1;
	}
	va_end(ap);
	m->lines[m->nlines++] = line;
	if (after_key)
		m->tail = m->nlines;
	return (int)m->nlines - 1;
}

/*
 * A note about msmtprc line n (key): a comment in the output and, unless
 * quiet (the translation is exact, the comment only explains it), the
 * caller's note.
 */
static void
mrc_say(struct mrc *m, int quiet, unsigned n, const char *key, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > 0)
		mrc_add(m, 0, "# msmtprc line %u, %s: %s", n, key, msg);
	else
		mrc_add(m, 0, "# %s: %s", key, msg);
	if (quiet)
		return;
	m->res->notes++;
	if (m->note != NULL)
		m->note(m->arg, n, key, msg);
}

/* Does smtps-send's grammar take key with value v?  *why says why not. */
static int
mrc_check(const char *key, const char *v, const char **why)
{
	struct conf_org org = {ORG_FILE, 0, 1, 1};
	struct conf_ent ent;
	enum conf_kid kid;
	int rc;

	if (conf_find_key(key, &kid) == -1) {
		*why = "not a key of this version";
		return -1;
	}
	conf_ent_init(&ent);
	rc = conf_set(&ent, kid, v, org, why);
	conf_ent_clear(&ent);
	return rc;
}

/*
 * Write "key value" as smtps-send reads it back: quoted (with \" and \\)
 * when it begins with a quote or a blank or ends with one.  Checked first:
 * a value the grammar refuses is left out, saying why (never showing a
 * secret).  The line's index, or -1.
 */
static int
mrc_emit(struct mrc *m, unsigned n, const char *key, const char *v)
{
	const char *why = NULL, *p;
	size_t len = strlen(v);
	char *q, *w;
	int rc;

	if (mrc_check(key, v, &why) == -1) {
		if (strcmp(key, "password") == 0)
			mrc_say(m, 0, n, key, "not imported: %s", why);
		else
			mrc_say(m, 0, n, key, "\"%.200s\" not imported: %s", v, why);
		return -1;
	}
	if (len == 0)
		return mrc_add(m, 1, "%s", key);
	if (v[0] != '"' && v[0] != ' ' && v[0] != '\t' && v[len - 1] != ' ' && v[len - 1] != '\t')
		return mrc_add(m, 1, "%s %s", key, v);
	if ((q = malloc(2 * len + 3)) == NULL) {
		m->failed = 1;
		return -1;
	}
	w = q;
	*w++ = '"';
	for (p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			*w++ = '\\';
		*w++ = *p;
	}
	*w++ = '"';
	*w = '\0';
	rc = mrc_add(m, 1, "%s %s", key, q);
	str_free_secret(q);
	return rc;
}

/* msmtp's "on" spellings of a switch: on or empty. */
static const char *
mrc_onoff(const char *v)
{
	if (v[0] == '\0' || strcmp(v, "on") == 0)
		return "on";
	if (strcmp(v, "off") == 0)
		return "off";
	return NULL;
}

/* How many hex digits a fingerprint "AB:CD:..." or "abcd..." has; 0 when it is not one. */
static size_t
mrc_hexlen(const char *v)
{
	size_t n = 0;

	for (; *v != '\0'; v++) {
		if ((*v >= '0' && *v <= '9') || (*v >= 'a' && *v <= 'f') ||
		    (*v >= 'A' && *v <= 'F'))
			n++;
		else if (*v != ':')
			return 0;
	}
	return n;
}

/* The keys with no equivalent, and why. */
static const struct {
	const char *key;
	const char *same; /* this value is what smtps-send always does (NULL: none) */
	const char *why;
} mrc_none[] = {
    {"add_missing_date_header", "on", "a Date field is always added when missing"},
    {"set_date_header", "auto", "a Date field is always added when missing"},
    {"set_msgid_header", "auto", "a Message-ID is always added when missing"},
    {"remove_bcc_headers", "on", "Bcc fields are always removed"},
    {"keepbcc", "off", "Bcc fields are always removed"},
    {"set_to_header", "off", "the To field is never rewritten"},
    {"undisclosed_recipients", "off", "the To field is never rewritten"},
    {"allow_from_override", "on",
	"-f always sets the envelope sender; drop -f from the caller's command instead"},
    {"auto_from", "off",
	"write the address in from; without one a local name is qualified with "
	"default_domain"},
    {"maildomain", "", "a local sender name is qualified with default_domain (check that it fits)"},
    {"from_full_name", "", "pass the name with -F"},
    {"dsn_notify", "off", "pass -N on the command line"},
    {"dsn_return", "off", "pass -R on the command line"},
    {"protocol", "smtp", "only SMTP submission is spoken (no LMTP)"},
    {"logfile_time_format", "", "the log line's time format is fixed"},
    {"ntlmdomain", "", "NTLM is not supported"},
    {"proxy_host", "", "no SOCKS proxy support"},
    {"proxy_port", "", "no SOCKS proxy support"},
    {"socket", "", "only TCP: no unix domain socket"},
    {"source_ip", "", "the system chooses the source address"},
    {"tls_crl_file", "", "no CRL file; stapled OCSP is checked by GnuTLS"},
    {"tls_host_override", "",
	"the certificate is checked against host; pin it with tls_fingerprint if its name "
	"differs"},
    {"tls_min_dh_prime_bits", "", "use tls_priorities"},
    {"tls_force_sslv3", "off", "SSLv3 and TLS below 1.2 are never used"},
    {"eval", NULL,
	"lines are not run at import; put the line the command prints in its place (for a "
	"password, passwordeval runs only when needed)"},
};

/* A key with no equivalent: left out, saying why (quietly when it changes nothing). */
static int
mrc_no_equivalent(struct mrc *m, unsigned n, const char *key, const char *v)
{
	size_t k;

	for (k = 0; k < sizeof(mrc_none) / sizeof(mrc_none[0]); k++) {
		if (strcmp(key, mrc_none[k].key) != 0)
			continue;
		if (mrc_none[k].same != NULL &&
		    (v[0] == '\0' || strcmp(v, mrc_none[k].same) == 0 ||
			(strcmp(mrc_none[k].same, "on") == 0 && mrc_onoff(v) != NULL &&
			    strcmp(mrc_onoff(v), "on") == 0)))
			mrc_say(m, 1, n, key, "%s: left out: %s", v[0] != '\0' ? v : "(empty)",
			    mrc_none[k].why);
		else
			mrc_say(m, 0, n, key, "\"%.200s\" not imported: %s", v, mrc_none[k].why);
		return 1;
	}
	return 0;
}

/* auth: the mechanisms smtps-send has are kept; the others become "on". */
static void
mrc_auth(struct mrc *m, unsigned n, const char *v)
{
	char low[64];
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(low) - 1 && v[i] != '\0'; i++)
		low[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
	low[i] = '\0';
	if (low[0] == '\0')
		strlcpy(low, "on", sizeof(low));
	if (mrc_check("auth", low, &why) == -1) {
		mrc_say(m, 0, n, "auth",
		    "%.60s is not supported: auth on picks the best mechanism the server "
		    "offers over TLS%s",
		    v,
		    strcmp(low, "external") == 0 || strcmp(low, "gssapi") == 0
			? " (with a user and a password: this one needed none)"
			: "");
		strlcpy(low, "on", sizeof(low));
	}
	mrc_emit(m, n, "auth", low);
	mrc_set(m, m->cur, MT_AUTH, low);
}

/* tls_fingerprint: SHA-256 kept; SHA-1 and MD5 refused, saying how to get the SHA-256 one. */
static void
mrc_fingerprint(struct mrc *m, unsigned n, const char *v)
{
	size_t hex = mrc_hexlen(v);

	if (v[0] == '\0') {
		mrc_emit(m, n, "tls_fingerprint", "");
		mrc_set(m, m->cur, MT_PIN, NULL);
		return;
	}
	if (hex == 64 && mrc_emit(m, n, "tls_fingerprint", v) >= 0) {
		mrc_set(m, m->cur, MT_PIN, "1");
		return;
	}
	mrc_say(m, 0, n, "tls_fingerprint",
	    "a %s fingerprint is not accepted, only SHA-256; get the server's with: openssl "
	    "s_client -connect HOST:PORT [-starttls smtp] </dev/null | openssl x509 -noout "
	    "-fingerprint -sha256 (or smtps-send --check --diag-format=json, its "
	    "\"fingerprint\"), check it, and set tls_fingerprint to it; until then the "
	    "certificate's chain is checked",
	    hex == 40   ? "SHA-1"
	    : hex == 32 ? "MD5"
			: "malformed");
	/* Not an inherited pin either: msmtp pinned another certificate here. */
	if (m->cur->v[MT_PIN] != NULL)
		mrc_emit(m, n, "tls_fingerprint", "");
	mrc_set(m, m->cur, MT_PIN, NULL);
}

/*
 * password / passwordeval: one line per section here (the grammar refuses
 * two sources in one section), so the line msmtp would not use goes: an
 * earlier one a later line replaces, or a passwordeval beside a password
 * (msmtp prefers the password).
 */
static void
mrc_secret(struct mrc *m, unsigned n, const char *key, const char *v)
{
	int is_pw = strcmp(key, "password") == 0, idx;

	if (v[0] == '\0') {
		mrc_emit(m, n, key, "");
		if (mrc_is(m->cur, MT_SECRET, key)) {
			mrc_set(m, m->cur, MT_SECRET, NULL);
			mrc_set(m, m->cur, MT_EVAL, NULL);
		}
		return;
	}
	if (m->secret_line >= 0 && !is_pw && mrc_is(m->cur, MT_SECRET, "password")) {
		mrc_say(m, 0, n, key, "left out: msmtp uses the password set above");
		return;
	}
	if (m->secret_line >= 0) {
		char *c;

		if (asprintf(&c, "# %s left out: msmtp uses the %s below", m->cur->v[MT_SECRET],
			key) == -1) {
			m->failed = 1;
			return;
		}
		str_free_secret(m->lines[m->secret_line]);
		m->lines[m->secret_line] = c;
		m->secret_line = -1;
	}
	if ((idx = mrc_emit(m, n, key, v)) < 0)
		return;
	m->secret_line = idx;
	mrc_set(m, m->cur, MT_SECRET, key);
	mrc_set(m, m->cur, MT_EVAL, is_pw ? NULL : v);
	if (is_pw)
		m->res->has_password = 1;
}

/* timeout / connect_timeout: seconds; off is not allowed here (every wait has a deadline). */
static void
mrc_timeout(struct mrc *m, unsigned n, const char *v)
{
	const char *errstr = NULL;
	long long s;

	if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0 || v[0] == '\0') {
		mrc_say(m, 0, n, "timeout",
		    "%s not imported: every network wait has a deadline here (60 s unless set)",
		    v[0] != '\0' ? v : "(empty)");
		return;
	}
	s = strtonum(v, 1, 1000000000, &errstr);
	if (errstr == NULL && s > 3600) {
		mrc_say(m, 0, n, "timeout", "%lld s is more than the 3600 s allowed: 3600", s);
		mrc_emit(m, n, "timeout", "3600");
		return;
	}
	mrc_emit(m, n, "timeout", v);
}

/* from: msmtp's substitutions are not expanded here; %F alone is sender_from_header. */
static void
mrc_from(struct mrc *m, unsigned n, const char *v)
{
	if (strcmp(v, "%F") == 0) {
		mrc_say(m, 1, n, "from", "%%F: the sender is taken from the From field");
		mrc_emit(m, n, "sender_from_header", "on");
		return;
	}
	if (strchr(v, '%') != NULL) {
		mrc_say(m, 0, n, "from",
		    "\"%.200s\" not imported: msmtp's substitutions (%%U, %%H, %%C, %%M) are not "
		    "expanded; write the address",
		    v);
		return;
	}
	mrc_emit(m, n, "from", v);
}

/*
 * The lines the section's account needs for msmtp's meaning where the
 * defaults differ, inserted after its last key (before the comments that
 * introduce the next section).
 */
static void
mrc_resolve(struct mrc *m)
{
	struct mrc_sect *s = m->cur;
	size_t before = m->nlines, tail = m->tail, k;
	char **moved;
	int oauth = s->v[MT_AUTH] != NULL && (strcmp(s->v[MT_AUTH], "xoauth2") == 0 ||
						 strcmp(s->v[MT_AUTH], "oauthbearer") == 0);

	if (s->v[MT_TLS] == NULL) {
		mrc_say(m, 0, 0, "tls",
		    "account %s: msmtp's default is no TLS: tls off is written; use tls starttls "
		    "(or implicit) if the server offers it",
		    s->name);
		mrc_add(m, 0, "tls off");
		mrc_set(m, s, MT_TLS, "off");
	}
	if (s->v[MT_PORT] == NULL && !(mrc_is(s, MT_TLS, "on") && mrc_is(s, MT_STARTTLS, "off"))) {
		mrc_say(m, 1, 0, "port", "msmtp's default port");
		mrc_add(m, 0, "port 25");
		mrc_set(m, s, MT_PORT, "25");
	}
	if (s->v[MT_AUTH] == NULL && s->v[MT_USER] != NULL) {
		mrc_say(m, 1, 0, "auth", "msmtp authenticates only with auth on");
		mrc_add(m, 0, "auth off");
		mrc_set(m, s, MT_AUTH, "off");
	}
	/* "pin": turned off here only because of a pin, so on again without one. */
	if (s->v[MT_PIN] != NULL && !mrc_is(s, MT_CERTCHECK, "off") &&
	    !mrc_is(s, MT_CERTCHECK, "pin")) {
		mrc_say(m, 1, 0, "tls_certcheck",
		    "msmtp trusts a pinned certificate whatever its chain (a self-signed one too); "
		    "the pin is still checked");
		mrc_add(m, 0, "tls_certcheck off");
		mrc_set(m, s, MT_CERTCHECK, "pin");
	} else if (s->v[MT_PIN] == NULL && mrc_is(s, MT_CERTCHECK, "pin")) {
		mrc_say(
		    m, 1, 0, "tls_certcheck", "no pin here: the certificate's chain is checked");
		mrc_add(m, 0, "tls_certcheck on");
		mrc_set(m, s, MT_CERTCHECK, NULL);
	}
	if (mrc_is(s, MT_TLS, "off") && s->v[MT_USER] != NULL && s->v[MT_AUTH] != NULL &&
	    !mrc_is(s, MT_AUTH, "off")) {
		mrc_say(m, 0, 0, "auth",
		    "account %s: msmtp authenticated without TLS; smtps-send refuses this unless "
		    "told: turn TLS on, or remove the # before auth_cleartext below",
		    s->name);
		mrc_add(m, 0, "# auth_cleartext on");
	}
	if (oauth && mrc_is(s, MT_SECRET, "passwordeval") && s->v[MT_TOKEN] == NULL) {
		/* msmtp's OAuth2 recipe: passwordeval prints the token. */
		static const char why[] = "# passwordeval gave msmtp the OAuth2 token: it is the "
					  "token command here";

		if (m->secret_line >= 0) {
			char *c;

			/* The line in place, the comment with it. */
			if (asprintf(&c, "%s\noauth2_token_command%s", why,
				m->lines[m->secret_line] + strlen("passwordeval")) == -1) {
				m->failed = 1;
				return;
			}
			str_free_secret(m->lines[m->secret_line]);
			m->lines[m->secret_line] = c;
		} else {
			mrc_add(m, 0, "%s", why);
			mrc_emit(m, 0, "oauth2_token_command", s->v[MT_EVAL]);
		}
		mrc_set(m, s, MT_TOKEN, "1");
	} else if (oauth && mrc_is(s, MT_SECRET, "password")) {
		mrc_say(m, 0, 0, "auth",
		    "account %s: an OAuth2 token as password: set oauth2_token_file or "
		    "oauth2_token_command (smtps-send.conf(5), OAUTH2)",
		    s->name);
	}
	if (m->failed || m->nlines == before || tail == before)
		return;
	/* Move the new lines to just after the last key. */
	k = m->nlines - before;
	if ((moved = reallocarray(NULL, k, sizeof(*moved))) == NULL) {
		m->failed = 1;
		return;
	}
	memcpy(moved, m->lines + before, k * sizeof(*moved));
	memmove(m->lines + tail + k, m->lines + tail, (before - tail) * sizeof(*moved));
	memcpy(m->lines + tail, moved, k * sizeof(*moved));
	free(moved);
	m->tail = tail + k;
}

/* The section is complete: its account lines settled, its text written. */
static void
mrc_flush(struct mrc *m)
{
	size_t k;

	if (m->cur != NULL && m->cur != &m->defs && !m->failed) {
		mrc_resolve(m);
		m->res->accounts++;
	}
	for (k = 0; k < m->nlines; k++) {
		if (!m->failed && fprintf(m->out, "%s\n", m->lines[k]) < 0)
			m->failed = 2;
		str_free_secret(m->lines[k]);
	}
	m->nlines = m->tail = 0;
	m->secret_line = -1;
}

static struct mrc_sect *
mrc_find(struct mrc *m, const char *name)
{
	size_t k;

	for (k = 0; k < m->nacct; k++)
		if (strcmp(m->accts[k]->name, name) == 0)
			return m->accts[k];
	return NULL;
}

/* "account NAME [: PARENT, ...]": a new section from the defaults and the parents. */
static int
mrc_account(struct mrc *m, unsigned n, char *v)
{
	struct mrc_sect *s, *p;
	char *colon = strchr(v, ':'), *name, *par, *next;
	char line[CONF_LINE_MAX + 16];
	int nparents = 0;

	if (colon != NULL)
		*colon = '\0';
	name = v + strspn(v, " \t");
	while (*name != '\0' && (name[strlen(name) - 1] == ' ' || name[strlen(name) - 1] == '\t'))
		name[strlen(name) - 1] = '\0';
	if (*name == '\0' || strpbrk(name, " \t,\"") != NULL || strlen(name) > 128)
		return sx_fail(m->e, SX_CONFIG, STAGE_CONFIG,
		    "%s:%u: account: a name without spaces, commas or quotes is needed here "
		    "(rename it in the msmtprc first)",
		    m->name, n);
	if (mrc_find(m, name) != NULL)
		return sx_fail(m->e, SX_CONFIG, STAGE_CONFIG,
		    "%s:%u: account %s is defined twice (msmtp refuses this file too)", m->name, n,
		    name);
	if (m->nacct == CONF_ACCOUNTS_MAX)
		return sx_fail(m->e, SX_CONFIG, STAGE_CONFIG, "%s:%u: more than %d accounts",
		    m->name, n, CONF_ACCOUNTS_MAX);
	mrc_flush(m);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return sx_fail(m->e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	m->accts[m->nacct++] = s;
	strlcpy(s->name, name, sizeof(s->name));
	mrc_sect_copy(m, s, &m->defs);
	snprintf(line, sizeof(line), "account %s", name);
	for (par = colon != NULL ? colon + 1 : NULL; par != NULL; par = next) {
		if ((next = strchr(par, ',')) != NULL)
			*next++ = '\0';
		par += strspn(par, " \t");
		par[strcspn(par, " \t")] = '\0';
		if ((p = mrc_find(m, par)) == NULL || p == s)
			return sx_fail(m->e, SX_CONFIG, STAGE_CONFIG,
			    "%s:%u: account %s: account %.128s is not defined above (msmtp refuses "
			    "this file too)",
			    m->name, n, name, par);
		mrc_sect_copy(m, s, p);
		strlcat(line, nparents++ == 0 ? " : " : ", ", sizeof(line));
		strlcat(line, par, sizeof(line));
	}
	m->cur = s;
	m->sect_line = n;
	mrc_add(m, 1, "%s", line);
	return 0;
}

/* One "key value" line of the msmtprc (value unquoted as msmtp does). */
static void
mrc_key(struct mrc *m, unsigned n, const char *key, const char *v)
{
	static const char *const same[] = {"host", "domain", "tls_trust_file", "tls_key_file",
	    "tls_cert_file", "tls_priorities", "aliases", "logfile", "user", "port",
	    "set_from_header"};
	const char *sw;
	size_t k;

	if (m->cur == NULL) {
		/* msmtp: lines before any section are the account "default". */
		char def[] = "default";

		if (mrc_account(m, n, def) == -1)
			return;
		mrc_say(m, 1, n, "account",
		    "msmtp makes the lines before any section the account \"default\"");
	}
	if (mrc_no_equivalent(m, n, key, v))
		return;
	if (strcmp(key, "tls") == 0 || strcmp(key, "tls_starttls") == 0 ||
	    strcmp(key, "tls_certcheck") == 0) {
		if ((sw = mrc_onoff(v)) == NULL) {
			mrc_say(m, 0, n, key, "\"%.60s\" not imported: on or off", v);
			return;
		}
		mrc_emit(m, n, key, sw);
		mrc_set(m, m->cur,
		    strcmp(key, "tls") == 0            ? MT_TLS
		    : strcmp(key, "tls_starttls") == 0 ? MT_STARTTLS
						       : MT_CERTCHECK,
		    sw);
	} else if (strcmp(key, "tls_nostarttls") == 0) {
		mrc_say(m, 1, n, key, "msmtp's old spelling of tls_starttls off");
		mrc_emit(m, n, "tls_starttls", "off");
		mrc_set(m, m->cur, MT_STARTTLS, "off");
	} else if (strcmp(key, "tls_nocertcheck") == 0) {
		mrc_say(m, 1, n, key, "msmtp's old spelling of tls_certcheck off");
		mrc_emit(m, n, "tls_certcheck", "off");
		mrc_set(m, m->cur, MT_CERTCHECK, "off");
	} else if (strcmp(key, "auth") == 0) {
		mrc_auth(m, n, v);
	} else if (strcmp(key, "password") == 0 || strcmp(key, "passwordeval") == 0) {
		mrc_secret(m, n, key, v);
	} else if (strcmp(key, "tls_fingerprint") == 0) {
		mrc_fingerprint(m, n, v);
	} else if (strcmp(key, "timeout") == 0 || strcmp(key, "connect_timeout") == 0) {
		mrc_timeout(m, n, v);
	} else if (strcmp(key, "from") == 0) {
		mrc_from(m, n, v);
	} else if (strcmp(key, "syslog") == 0) {
		/* msmtp's facility for on is LOG_USER; smtps-send's is LOG_MAIL. */
		sw = mrc_onoff(v);
		mrc_emit(m, n, key, sw != NULL && strcmp(sw, "on") == 0 ? "LOG_USER" : v);
	} else if (strcmp(key, "add_missing_from_header") == 0) {
		sw = mrc_onoff(v);
		mrc_say(m, 1, n, key, "msmtp's old spelling of set_from_header");
		mrc_emit(
		    m, n, "set_from_header", sw != NULL && strcmp(sw, "off") == 0 ? "off" : "auto");
	} else if (strcmp(key, "tls_trust_file") == 0 && v[0] == '\0') {
		mrc_say(m, 0, n, key,
		    "empty: msmtp then trusts no CA (only tls_fingerprint); here an empty "
		    "tls_trust_file is the system store: left out");
	} else if (strcmp(key, "logfile") == 0 && strcmp(v, "-") == 0) {
		mrc_say(m, 0, n, key, "\"-\" (standard output) not imported: name a file");
	} else if (strcmp(key, "tls_priorities") == 0 &&
		   (strstr(v, "PROTOCOLS=") != NULL || strstr(v, "CIPHERS=") != NULL)) {
		mrc_say(m, 0, n, key,
		    "\"%.200s\" not imported: a libtls string; this takes a GnuTLS priority string",
		    v);
	} else if (strcmp(key, "domain") == 0 && strchr(v, '%') != NULL) {
		mrc_say(m, 0, n, key,
		    "\"%.200s\" not imported: %%H, %%C, %%M are not expanded; without domain the "
		    "EHLO name is the host's FQDN",
		    v);
	} else {
		for (k = 0; k < sizeof(same) / sizeof(same[0]); k++)
			if (strcmp(key, same[k]) == 0)
				break;
		if (k == sizeof(same) / sizeof(same[0])) {
			mrc_say(m, 0, n, key, "not an msmtp key: not imported");
			return;
		}
		if (strcmp(key, "set_from_header") == 0 && v[0] == '\0')
			v = "on";
		if (mrc_emit(m, n, key, v) < 0)
			return;
		if (strcmp(key, "port") == 0)
			mrc_set(m, m->cur, MT_PORT, v);
		else if (strcmp(key, "user") == 0)
			mrc_set(m, m->cur, MT_USER, v[0] != '\0' ? v : NULL);
	}
}

/* msmtp's split of a line: the first word, then the rest with one pair of quotes removed. */
static int
mrc_line(struct mrc *m, unsigned n, char *line)
{
	char *key = line + strspn(line, " \t"), *v, *end;
	size_t len;

	end = key + strlen(key);
	while (end > key && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	if (*key == '\0' || *key == '#')
		return mrc_add(m, 0, "%s", key) < 0 ? -1 : 0;
	v = key + strcspn(key, " \t");
	if (*v != '\0') {
		*v++ = '\0';
		v += strspn(v, " \t");
	}
	len = strlen(v);
	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v[len - 1] = '\0';
		v++;
	}
	if (str_has_ctl(key) || str_has_ctl(v) || strlen(key) > 64) {
		mrc_say(m, 0, n, "?", "a control character or an overlong key: not imported");
		return 0;
	}
	if (strcmp(key, "defaults") == 0) {
		if (*v != '\0')
			return sx_fail(m->e, SX_CONFIG, STAGE_CONFIG,
			    "%s:%u: defaults takes no value (msmtp refuses this file too)", m->name,
			    n);
		mrc_flush(m);
		m->cur = &m->defs;
		m->sect_line = n;
		return mrc_add(m, 1, "defaults") < 0 ? -1 : 0;
	}
	if (strcmp(key, "account") == 0)
		return mrc_account(m, n, v);
	mrc_key(m, n, key, v);
	return m->e->cls != SX_OK ? -1 : 0;
}

int
msmtprc_import(const char *text, size_t len, const char *name, FILE *out,
    void (*note)(void *, unsigned, const char *, const char *), void *arg,
    struct msmtprc_result *res, struct sx_err *e)
{
	struct mrc m;
	char line[CONF_LINE_MAX + 1];
	const char *p = text, *end = text + len, *nl;
	unsigned n = 0;
	size_t k;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&m, 0, sizeof(m));
	m.name = name;
	m.out = out;
	m.note = note;
	m.arg = arg;
	m.res = res;
	m.e = e;
	m.secret_line = -1;
	if (memchr(text, '\0', len) != NULL)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: contains a NUL byte", name);
	if (fprintf(out,
		"# smtps-send configuration imported from %s by smtps-send --import-msmtprc.\n"
		"# Comments \"msmtprc line N\" mark what was changed or left out, and why.\n",
		name) < 0)
		return sx_fail(e, SX_LOCALIO, STAGE_CONFIG, "writing the configuration failed");
	for (; p < end; p = nl + 1) {
		n++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((size_t)(nl - p) > CONF_LINE_MAX) {
			sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s:%u: line longer than %d bytes",
			    name, n, CONF_LINE_MAX);
			goto out;
		}
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (mrc_line(&m, n, line) == -1 || m.failed)
			break;
	}
	if (e->cls == SX_OK && !m.failed) {
		if (m.cur == NULL)
			mrc_say(&m, 0, 0, "account", "the msmtprc defines no account");
		mrc_flush(&m);
	}
	if (m.failed == 2 || (e->cls == SX_OK && fflush(out) != 0))
		sx_fail(e, SX_LOCALIO, STAGE_CONFIG, "writing the configuration failed");
	else if (m.failed)
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	rc = e->cls == SX_OK ? 0 : -1;
out:
	explicit_bzero(line, sizeof(line));
	for (k = 0; k < m.nlines; k++)
		str_free_secret(m.lines[k]);
	free(m.lines);
	for (k = 0; k < m.nacct; k++) {
		mrc_sect_clear(m.accts[k]);
		free(m.accts[k]);
	}
	mrc_sect_clear(&m.defs);
	return rc;
}
