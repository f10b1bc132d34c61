/*
 * conf.c — which configuration files are read (and who may name one),
 * which account is chosen, the environment and argv on top, and the
 * checks of the result (see conf.h).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/conf_int.h"
#include "core/strutil.h"

#ifndef DEFAULT_CONFIG
#define DEFAULT_CONFIG "/usr/local/etc/smtps-send.conf"
#endif
#define CONF_ETC_CONFIG "/etc/smtps-send.conf" /* where msmtp and Postfix users look */

static int conf_user_dir(char *, size_t);
static int conf_read_system(struct conf_ctx *, const struct conf_request *, struct sx_err *);
static int conf_given_ok(const struct conf_request *, const char *, char *, struct sx_err *);
static int conf_read_files(struct conf_ctx *, const struct conf_request *, struct sx_err *);
static struct conf_ent *conf_lookup(struct conf_ctx *, const char *);
static int conf_from_matches(const char *, const char *);
static int conf_choose(struct conf_ctx *, const struct conf_request *, const struct conf_ent **,
    char *, size_t, struct sx_err *);
static int conf_apply_env(struct conf_ent *, struct sx_err *);
static int conf_apply_argv(struct conf_ent *, const struct conf_request *, struct sx_err *);

/* ${XDG_CONFIG_HOME:-$HOME/.config}/smtps-send: 0, or -1 when there is none. */
static int
conf_user_dir(char *buf, size_t sz)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, sz, "%s/smtps-send", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, sz, "%s/.config/smtps-send", home);
	else
		return -1;
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/*
 * The system file: the build's DEFAULT_CONFIG, or when that does not
 * exist or cannot be read, /etc/smtps-send.conf whatever the prefix (where
 * msmtp and Postfix users put it).  One file at most: two system files
 * would need a rule for which one wins.
 */
static int
conf_read_system(struct conf_ctx *c, const struct conf_request *req, struct sx_err *e)
{
	const char *first = req->system_file != NULL ? req->system_file : DEFAULT_CONFIG;
	const char *second = req->system_file != NULL ? req->system_fallback : CONF_ETC_CONFIG;
	size_t before = c->nfiles;

	if (conf_read_file(c, first, CONF_ROLE_SYSTEM, e) == -1)
		return -1;
	if (c->nfiles > before || second == NULL || strcmp(first, second) == 0)
		return 0;
	return conf_read_file(c, second, CONF_ROLE_SYSTEM, e);
}

/*
 * May the caller name path with -C/--config?  Web applications put
 * caller-chosen text on sendmail's argv (PHP's mail() fifth argument,
 * CVE-2016-10033), and a file of the attacker's would choose the commands
 * run (passwordeval) and the files written (logfile).  The attacker runs
 * as the web user, so whose file it is tells nothing; where it is does
 * (Postfix's alternate_config_directories).  Root may name any file; any
 * other caller a file directly in its own config directory (its config
 * file there is read anyway) or in a directory listed by the system
 * file's allowed_config_dirs that is neither the caller's nor writable by
 * group or others.  Links are resolved first, and the resolved name is
 * what is opened.  0 with the name to open in real (PATH_MAX bytes), or
 * -1 before anything was opened.
 */
static int
conf_given_ok(const struct conf_request *req, const char *path, char *real, struct sx_err *e)
{
	struct conf_ctx sys;
	struct stat st;
	char dir[PATH_MAX], cand[PATH_MAX], user[PATH_MAX];
	uid_t uid = req->caller_uid != NULL ? *req->caller_uid : getuid();
	char *slash;
	size_t k;
	int rc = -1;

	if (uid == 0) {
		strlcpy(real, path, PATH_MAX);
		return 0;
	}
	if (realpath(path, real) == NULL)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "cannot open config file %s: %s", path,
		    strerror(errno));
	strlcpy(dir, real, sizeof(dir));
	slash = strrchr(dir, '/');
	slash[slash == dir ? 1 : 0] = '\0';
	if (conf_user_dir(user, sizeof(user)) == 0 && realpath(user, cand) != NULL &&
	    strcmp(cand, dir) == 0)
		return 0;
	memset(&sys, 0, sizeof(sys));
	sys.errs = req->errors;
	if (conf_read_system(&sys, req, e) == -1 || sys.nerr > 0)
		goto out;
	for (k = 0; k < sys.nallowed; k++) {
		if (realpath(sys.allowed[k], cand) == NULL || strcmp(cand, dir) != 0)
			continue;
		/* The caller must not be able to put files there itself. */
		if (stat(cand, &st) == -1 || st.st_uid == uid ||
		    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
			sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "-C/--config %s: refused: allowed_config_dirs lists %s, but it "
			    "belongs to this user or is writable by group or others",
			    path, cand);
			sx_hint(e, "make %s owned by root and writable by its owner only", cand);
			goto out;
		}
		rc = 0;
		goto out;
	}
	sx_fail(e, SX_CONFIG, STAGE_CONFIG,
	    "-C/--config %s: refused: only root may name a config file outside "
	    "%s and the directories of allowed_config_dirs",
	    path, "${XDG_CONFIG_HOME:-~/.config}/smtps-send");
	sx_hint(e, "set SMTPS_SEND_CONFIG instead, move the file there, or have the "
		   "administrator list its directory in allowed_config_dirs (smtps-send.conf(5))");
out:
	conf_ctx_free(&sys);
	return rc;
}

/*
 * -C FILE, else $SMTPS_SEND_CONFIG (either must exist), else the system
 * file and the user file.  The environment is not restricted like -C:
 * whoever sets it could set every key (SMTPS_SEND_PASSWORDEVAL) anyway.
 */
static int
conf_read_files(struct conf_ctx *c, const struct conf_request *req, struct sx_err *e)
{
	const char *env_cfg = getenv("SMTPS_SEND_CONFIG");
	char path[PATH_MAX];

	if (req->config_file != NULL) {
		if (conf_given_ok(req, req->config_file, path, e) == -1)
			return -1;
		return conf_read_file(c, path, CONF_ROLE_GIVEN, e);
	}
	if (env_cfg != NULL && *env_cfg != '\0')
		return conf_read_file(c, env_cfg, CONF_ROLE_GIVEN, e);
	if (conf_read_system(c, req, e) == -1)
		return -1;
	if (conf_user_dir(path, sizeof(path)) == -1 ||
	    strlcat(path, "/config", sizeof(path)) >= sizeof(path))
		return 0;
	return conf_read_file(c, path, CONF_ROLE_USER, e);
}

void
conf_account_names(const struct conf_ctx *c, char *buf, size_t sz)
{
	size_t k, j;

	buf[0] = '\0';
	for (k = 0; k < c->nents; k++) {
		/* A name in both files is one account (the user file's). */
		for (j = 0; j < k && strcmp(c->ents[j]->a.name, c->ents[k]->a.name) != 0; j++)
			;
		if (j < k)
			continue;
		if (buf[0] != '\0')
			strlcat(buf, ", ", sz);
		strlcat(buf, c->ents[k]->a.name, sz);
	}
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
 * Which account: -a, $SMTPS_SEND_ACCOUNT, the first whose from matches the
 * envelope sender, "default", the last file's defaults.  *chosen is NULL
 * when no file was read; by says how it was chosen.
 */
static int
conf_choose(struct conf_ctx *c, const struct conf_request *req, const struct conf_ent **chosen,
    char *by, size_t bysz, struct sx_err *e)
{
	const char *want = NULL, *env = getenv("SMTPS_SEND_ACCOUNT");
	size_t k;
	int fi;

	*chosen = NULL;
	if (req->account != NULL) {
		want = req->account;
		snprintf(by, bysz, "argv --account");
	} else if (env != NULL && *env != '\0') {
		want = env;
		snprintf(by, bysz, "env SMTPS_SEND_ACCOUNT");
	}
	if (want != NULL) {
		char names[256];

		if ((*chosen = conf_lookup(c, want)) != NULL)
			return 0;
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: no account %.128s in %s", by, want,
		    c->nfiles == 0 ? "any config file (none was found)" : "the config");
		conf_account_names(c, names, sizeof(names));
		if (c->nfiles > 0)
			sx_hint(e, "%s%s%s; config files read: %s%s%s",
			    names[0] != '\0' ? "the accounts are: " : "no account is defined",
			    names, names[0] != '\0' ? " (pick one with -a NAME)" : "", c->files[0],
			    c->nfiles > 1 ? ", " : "", c->nfiles > 1 ? c->files[1] : "");
		return -1;
	}
	if (req->envelope_from != NULL && *req->envelope_from != '\0') {
		/* User file first, in file order. */
		for (fi = (int)c->nfiles - 1; fi >= 0 && *chosen == NULL; fi--)
			for (k = 0; k < c->nents && *chosen == NULL; k++)
				if (c->ents[k]->file == fi && c->ents[k]->a.from != NULL &&
				    conf_from_matches(c->ents[k]->a.from, req->envelope_from))
					*chosen = c->ents[k];
		if (*chosen != NULL) {
			snprintf(by, bysz, "envelope sender matches from");
			return 0;
		}
	}
	if ((*chosen = conf_lookup(c, "default")) != NULL)
		snprintf(by, bysz, "default account");
	else if (c->nfiles > 0) {
		*chosen = c->defs[c->nfiles - 1];
		c->fell_to_defaults = c->nents > 0;
		snprintf(by, bysz, "defaults of %s", c->files[c->nfiles - 1]);
	} else
		snprintf(by, bysz, "no config file: environment and argv");
	return 0;
}

/* SMTPS_SEND_<KEY> for every key (and alias); empty means unset. */
static int
conf_apply_env(struct conf_ent *ent, struct sx_err *e)
{
	struct conf_org org = {ORG_ENV, 0, SEC_ENV, 0};
	char var[64];
	const char *why = NULL;
	size_t k, n;
	int seen[K_NKEYS];

	memset(seen, 0, sizeof(seen));
	for (k = 0; k < K_NKEYS + conf_naliases; k++) {
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

/*
 * A command to run and a file to write may come from root's argv only:
 * a web application puts caller-chosen text on sendmail's argv (the -C
 * rule, conf_given_ok).  The config file and the environment set them for
 * everyone else.
 */
static int
conf_argv_trusted(const struct conf_request *req, struct sx_err *e)
{
	uid_t uid = req->caller_uid != NULL ? *req->caller_uid : getuid();
	const char *flag = req->passwordeval != NULL ? "--passwordeval" : "--logfile";

	if (uid == 0 || (req->passwordeval == NULL && req->logfile == NULL))
		return 0;
	sx_fail(e, SX_CONFIG, STAGE_CONFIG,
	    "argv %s: refused: only root may give a command to run or a file to write on the "
	    "command line (a web application's arguments could)",
	    flag);
	sx_hint(e, "set %s in the config file (%s) or %s in the environment",
	    req->passwordeval != NULL ? "passwordeval" : "logfile",
	    "${XDG_CONFIG_HOME:-~/.config}/smtps-send/config",
	    req->passwordeval != NULL ? "SMTPS_SEND_PASSWORDEVAL" : "SMTPS_SEND_LOGFILE");
	return -1;
}

static int
conf_apply_argv(struct conf_ent *ent, const struct conf_request *req, struct sx_err *e)
{
	struct conf_org org = {ORG_ARGV, 0, SEC_ARGV, 0};
	/* moves: the value points the account at another server, or weakens its check. */
	const struct {
		enum conf_kid kid;
		const char *v;
		int moves;
	} ov[] = {{K_HOST, req->host, 1}, {K_PORT, req->port, 1}, {K_TLS, req->tls, 1},
	    {K_TLS_STARTTLS, req->tls_starttls, 1}, {K_TLS_CERTCHECK, req->tls_certcheck, 1},
	    {K_TLS_TRUST_FILE, req->tls_trust_file, 1}, {K_USER, req->user, 0},
	    {K_TIMEOUT, req->timeout, 0}, {K_AUTH, req->auth, 0}, {K_DOMAIN, req->domain, 0},
	    {K_PASSWORDEVAL, req->passwordeval, 0}, {K_LOGFILE, req->logfile, 0},
	    {K_SENDER_FROM_HEADER, req->read_envelope_from ? "on" : NULL, 0}};
	/* And the OAuth2 token sources: a bearer token is a password too. */
	static const enum conf_kid secrets[] = {K_PASSWORD, K_PASSWORD_FILE, K_PASSWORDEVAL,
	    K_OAUTH2_TOKEN, K_OAUTH2_TOKEN_FILE, K_OAUTH2_TOKEN_COMMAND};
	const char *why = NULL, *moved = NULL;
	char where[4200] = "";
	size_t k;

	for (k = 0; k < sizeof(ov) / sizeof(ov[0]); k++) {
		if (ov[k].v == NULL)
			continue;
		if (conf_set(ent, ov[k].kid, ov[k].v, org, &why) == -1)
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "argv %s: %s",
			    conf_keys[ov[k].kid].argv_flag, why);
		if (ov[k].moves && moved == NULL)
			moved = conf_keys[ov[k].kid].argv_flag;
	}
	/* msmtp's --read-envelope-from: the From header's address, over the account's from. */
	if (req->read_envelope_from && ent->a.from != NULL) {
		free(ent->a.from);
		ent->a.from = NULL;
		memset(&ent->org[K_FROM], 0, sizeof(ent->org[K_FROM]));
	}
	/*
	 * argv may be a web application's, with attacker text in it
	 * (--host=evil.example): a configured password never follows the
	 * connection to a server the command line chose.  Neither a config
	 * file's nor the environment's: a container's SMTPS_SEND_* variables
	 * are set by whoever runs it, not by the application whose argv this is.
	 */
	for (k = 0; moved != NULL && k < sizeof(secrets) / sizeof(secrets[0]); k++) {
		char **p = conf_strp(ent, secrets[k]);

		if (*p == NULL ||
		    (ent->org[secrets[k]].kind != ORG_FILE && ent->org[secrets[k]].kind != ORG_ENV))
			continue;
		if (where[0] == '\0')
			snprintf(where, sizeof(where), "%s", conf_keys[secrets[k]].name);
		str_free_secret(*p);
		*p = NULL;
		memset(&ent->org[secrets[k]], 0, sizeof(ent->org[secrets[k]]));
	}
	if (moved != NULL && ent->a.oauth2_provider != OAUTH2_PROVIDER_NONE &&
	    (ent->org[K_OAUTH2_PROVIDER].kind == ORG_FILE ||
		ent->org[K_OAUTH2_PROVIDER].kind == ORG_ENV)) {
		if (where[0] == '\0')
			snprintf(where, sizeof(where), "oauth2_provider");
		ent->a.oauth2_provider = OAUTH2_PROVIDER_NONE;
		memset(&ent->org[K_OAUTH2_PROVIDER], 0, sizeof(ent->org[K_OAUTH2_PROVIDER]));
	}
	if (where[0] != '\0' && ent->a.user != NULL && ent->a.auth != AUTH_MODE_OFF) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "%s points the account at another server, so its configured %s is not "
		    "used",
		    moved, where);
		sx_hint(e, "configure that server as an account of its own and pick it with -a "
			   "NAME (a command line may carry an attacker's text; the password never "
			   "follows it)");
		return -1;
	}
	return 0;
}

/* local@domain: one '@' with text on both sides, nothing an address cannot hold. */
static int
conf_is_address(const char *s)
{
	const char *at = strchr(s, '@');

	return at != NULL && at != s && at[1] != '\0' && strchr(at + 1, '@') == NULL &&
	       strpbrk(s, " \t<>()[],;:\"\\") == NULL && strlen(s) <= 320;
}

/* OAuth2 (issue 17): a mechanism needs a token source, management needs a client. */
static int
conf_finish_oauth2(const struct account *a, struct sx_err *e)
{
	int source = a->oauth2_token != NULL || a->oauth2_token_file != NULL ||
		     a->oauth2_token_command != NULL || a->oauth2_provider != OAUTH2_PROVIDER_NONE;

	if ((a->auth == AUTH_MODE_XOAUTH2 || a->auth == AUTH_MODE_OAUTHBEARER) && !source) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "account %s: auth %s needs an OAuth2 token",
		    a->name, a->auth == AUTH_MODE_XOAUTH2 ? "xoauth2" : "oauthbearer");
		sx_hint(e, "set oauth2_provider (with oauth2_client_id), oauth2_token_command or "
			   "oauth2_token_file (smtps-send.conf(5))");
		return -1;
	}
	if (a->oauth2_provider == OAUTH2_PROVIDER_NONE)
		return 0;
	if (a->oauth2_client_id == NULL) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "account %s: oauth2_provider needs oauth2_client_id", a->name);
		sx_hint(e, "register an application with the provider and give its client id "
			   "(smtps-send.conf(5), OAUTH2)");
		return -1;
	}
	if (a->oauth2_provider == OAUTH2_PROVIDER_CUSTOM && a->oauth2_token_url == NULL)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "account %s: oauth2_provider custom needs oauth2_token_url", a->name);
	return 0;
}

/*
 * Resolve TLS mode and port, then refuse what cannot work or would be
 * unsafe (msmtp's check_account, stricter).  No host is fine only when
 * nothing will be sent (relay_optional).
 */
int
conf_finish(struct conf_ctx *c, struct conf_ent *ent, int relay_optional, struct sx_err *e)
{
	struct account *a = &ent->a;
	const char *name = a->name;

	if (ent->on[K_TLS] || a->tls == TLS_MODE_DEFAULT) {
		if (ent->tls_starttls == 0)
			a->tls = TLS_MODE_IMPLICIT;
		else if (ent->on[K_TLS] || a->port != 465)
			a->tls = TLS_MODE_STARTTLS;
		else
			a->tls = TLS_MODE_IMPLICIT;
	}
	if (a->port == 0)
		a->port = a->tls == TLS_MODE_IMPLICIT ? 465 : 587;
	/*
	 * Port 465 is implicit TLS (RFC 8314): STARTTLS there waits a whole
	 * timeout for a greeting that never comes.  msmtp's "tls on" means
	 * STARTTLS unless tls_starttls is off, so an msmtprc that worked on 465
	 * says both; "tls on" alone there never did.
	 */
	if (a->port == 465 && (a->tls == TLS_MODE_STARTTLS || a->tls == TLS_MODE_OPPORTUNISTIC)) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "account %s: %s on port 465, which expects implicit TLS: the server would "
		    "never greet",
		    name,
		    ent->on[K_TLS]                ? "tls on (STARTTLS, as msmtp reads it)"
		    : a->tls == TLS_MODE_STARTTLS ? "STARTTLS"
						  : "tls opportunistic (STARTTLS)");
		sx_hint(e, "set tls implicit (msmtp: tls_starttls off), or port 587 for STARTTLS");
		return -1;
	}
	if (a->host == NULL && !relay_optional && c->fell_to_defaults) {
		char names[256];

		/* msmtp's "no account specified and no default account", with the way out. */
		conf_account_names(c, names, sizeof(names));
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "no account chosen: %s defines %s but no account default",
		    c->files[c->nfiles - 1], names);
		sx_hint(e, "pick one with -a NAME, or add 'account default : NAME' to %s",
		    c->files[c->nfiles - 1]);
		return -1;
	}
	if (a->host == NULL && !relay_optional) {
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
	/* A pinned mechanism needs a user, but EXTERNAL needs the client certificate. */
	if (a->auth == AUTH_MODE_EXTERNAL) {
		if (a->tls_cert_file == NULL)
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "account %s: auth external needs tls_cert_file and tls_key_file", name);
	} else if ((ent->on[K_AUTH] ||
		       (a->auth != AUTH_MODE_DEFAULT && a->auth != AUTH_MODE_OFF)) &&
		   a->user == NULL) {
		return sx_fail(
		    e, SX_CONFIG, STAGE_CONFIG, "account %s: auth is on but no user is set", name);
	}
	if (conf_finish_oauth2(a, e) == -1)
		return -1;
	if (a->tls == TLS_MODE_OFF && a->auth != AUTH_MODE_OFF && a->user != NULL &&
	    !a->auth_cleartext) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "account %s: tls is off, so authenticating would send the password in "
		    "cleartext",
		    name);
		sx_hint(e, "turn tls on, or set auth_cleartext on if the network path is trusted");
		return -1;
	}
	/*
	 * A user that is an address is the sender too when nothing else names
	 * one (providers accept no other): a container configured with host,
	 * user and password alone then sends as the user, not as root@host.
	 */
	if (a->from == NULL && a->user != NULL && !a->sender_from_header &&
	    conf_is_address(a->user) && (a->from = strdup(a->user)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	/* queue_on_tempfail off (its old default) asked for a failure status: queue off. */
	if (!a->queue_on_tempfail)
		a->queue = 0;
	if ((a->tls_cert_file == NULL) != (a->tls_key_file == NULL))
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "account %s: tls_cert_file and tls_key_file must be set together", name);
	return 0;
}

int
conf_load(const struct conf_request *req, struct account *acct, struct sx_err *e)
{
	struct conf_ctx c;
	struct conf_ent res;
	const struct conf_ent *chosen = NULL;
	struct conf_src *src = NULL;
	char chosen_by[160] = "";
	size_t k;

	memset(acct, 0, sizeof(*acct));
	memset(&c, 0, sizeof(c));
	c.errs = req->errors;
	conf_ent_init(&res);
	/* Every file is read to its end, so that all their errors are named at once. */
	if (conf_argv_trusted(req, e) == -1 || conf_read_files(&c, req, e) == -1 || c.nerr > 0 ||
	    conf_choose(&c, req, &chosen, chosen_by, sizeof(chosen_by), e) == -1)
		goto fail;
	if ((chosen != NULL && conf_ent_copy(&res, chosen) == -1) ||
	    (res.a.name == NULL && (res.a.name = strdup("default")) == NULL)) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto fail;
	}
	if (conf_apply_env(&res, e) == -1 || conf_apply_argv(&res, req, e) == -1 ||
	    conf_finish(&c, &res, req->relay_optional, e) == -1)
		goto fail;

	if ((src = calloc(1, sizeof(*src))) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto fail;
	}
	memcpy(src->org, res.org, sizeof(src->org));
	memcpy(src->dur, res.dur, sizeof(src->dur));
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
