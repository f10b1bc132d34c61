/*
 * conf_file.c — the grammar of one configuration file: lines, sections
 * ("defaults", "account NAME : PARENT, ..."), quoting, and the system
 * file's allowed_config_dirs (see conf_int.h).
 *
 * msmtp's grammar, so an msmtprc works with few edits; the differences
 * are in smtps-send.conf(5).  A file is hostile input: lines, files and
 * account counts are bounded, and a password may only live in a file
 * nobody else can read.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/conf_int.h"
#include "core/strutil.h"

/* msmtp keys with no equivalent here: named in the error so migration is easy. */
static const char *const conf_msmtp_only[] = {"add_missing_date_header", "add_missing_from_header",
    "allow_from_override", "auto_from", "dsn_notify", "dsn_return", "eval", "logfile_time_format",
    "maildomain", "ntlmdomain", "protocol", "proxy_host", "proxy_port", "remove_bcc_headers",
    "set_date_header", "set_msgid_header", "socket", "source_ip", "tls_crl_file",
    "tls_host_override", "tls_min_dh_prime_bits", "undisclosed_recipients"};

static int conf_parse_buf(
    struct conf_ctx *, int, char *, size_t, const struct stat *, struct sx_err *);
static int conf_parse_key(struct conf_ctx *, int, unsigned, char *, char *, struct conf_ent *,
    const struct stat *, struct sx_err *);
static int conf_section(
    struct conf_ctx *, int, unsigned, char *, struct conf_ent **, struct sx_err *);
static int conf_allowed_dirs(struct conf_ctx *, int, unsigned, char *, struct sx_err *);
static int conf_unquote(char *, const char **);
static char *conf_trim(char *);
static int conf_note(
    struct conf_ctx *, const char *, unsigned, const struct sx_err *, struct sx_err *);
static const char *conf_suggest(const char *);

/* Cut trailing blanks off s; return s. */
static char *
conf_trim(char *s)
{
	char *end = s + strlen(s);

	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/*
 * One error of file path (line 0: the file as a whole), in le: counted,
 * listed in the request's list, and the first of them recorded in e.
 * Reading goes on (0), so that one run names every error, unless it was
 * no configuration error (out of memory: -1).
 */
static int
conf_note(
    struct conf_ctx *c, const char *path, unsigned line, const struct sx_err *le, struct sx_err *e)
{
	struct conf_errors *ce = c->errs;
	struct conf_error *ent;

	sx_adopt(e, le, STAGE_CONFIG);
	if (le->cls != SX_CONFIG)
		return -1;
	c->nerr++;
	if (ce == NULL)
		return 0;
	ce->total++;
	if (ce->n == CONF_ERRORS_MAX)
		return 0;
	ent = &ce->err[ce->n++];
	strlcpy(ent->file, path, sizeof(ent->file));
	ent->line = line;
	strlcpy(ent->detail, le->detail, sizeof(ent->detail));
	strlcpy(ent->hint, le->hint, sizeof(ent->hint));
	return 0;
}

/* Edit distance of a and b when at most 2 (typos), else 3. */
static int
conf_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int row[65], prev, cur, best;

	if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > 2)
		return 3;
	for (j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (int)i;
		best = row[0];
		for (j = 1; j <= lb; j++) {
			cur = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (cur + 1 < row[j])
				row[j] = cur + 1;
			if (row[j] < best)
				best = row[j];
			prev = cur;
		}
		if (best > 2)
			return 3;
	}
	return row[lb] > 2 ? 3 : row[lb];
}

/* The known key an unknown one is likely a typo of, or NULL. */
static const char *
conf_suggest(const char *key)
{
	const char *best = NULL;
	int d, bestd = 3;
	size_t k;

	for (k = 0; k < K_NKEYS; k++)
		if ((d = conf_distance(key, conf_keys[k].name)) < bestd) {
			bestd = d;
			best = conf_keys[k].name;
		}
	return best;
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
	char *colon, *name, *par;
	size_t k, nparents = 0;

	colon = strchr(rest, ':');
	if (colon != NULL)
		*colon = '\0';
	name = conf_trim(rest);
	if (*name == '\0' || strpbrk(name, " \t,\"") != NULL || strlen(name) > 128)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "%s:%u: account: needs one name without spaces, commas or quotes", path, line);
	for (k = 0; k < c->nents; k++)
		if (c->ents[k]->file == fi && strcmp(c->ents[k]->a.name, name) == 0) {
			sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s:%u: account %s is defined twice",
			    path, line, name);
			sx_hint(e, "rename one of them, or merge their lines");
			return -1;
		}
	if (c->nents == CONF_ACCOUNTS_MAX)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s:%u: more than %d accounts", path,
		    line, CONF_ACCOUNTS_MAX);
	if ((ne = calloc(1, sizeof(*ne))) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	conf_ent_init(ne);
	if (conf_ent_copy(ne, c->defs[fi]) == -1 || (ne->a.name = strdup(name)) == NULL)
		goto nomem;
	ne->file = fi;
	for (par = colon != NULL ? colon + 1 : NULL; par != NULL;) {
		char *next = strchr(par, ',');
		struct conf_ent *pe = NULL;
		char *pname;

		if (next != NULL)
			*next++ = '\0';
		pname = conf_trim(par + strspn(par, " \t"));
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
			sx_hint(e,
			    "an account inherits only from accounts of the same file defined "
			    "before it");
			conf_ent_free(ne);
			return -1;
		}
		if (conf_ent_copy(ne, pe) == -1)
			goto nomem;
		free(ne->a.name);
		if ((ne->a.name = strdup(name)) == NULL)
			goto nomem;
		ne->file = fi;
	}
	c->ents[c->nents++] = ne;
	c->defs[fi]->has_sections = 1;
	*cur = ne;
	return 0;
nomem:
	conf_ent_free(ne);
	return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
}

/*
 * allowed_config_dirs DIR ...: where users other than root may point -C
 * (conf.c).  It speaks for the whole system, so only the system file may
 * hold it; the last such line counts, and an empty one clears the list.
 */
static int
conf_allowed_dirs(struct conf_ctx *c, int fi, unsigned line, char *val, struct sx_err *e)
{
	const char *path = c->files[fi], *why = NULL;
	char *tok, *save = NULL;
	size_t k;

	if (c->roles[fi] != CONF_ROLE_SYSTEM)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "%s:%u: allowed_config_dirs: only the system file may set it", path, line);
	if (conf_unquote(val, &why) == -1)
		return sx_fail(
		    e, SX_CONFIG, STAGE_CONFIG, "%s:%u: allowed_config_dirs: %s", path, line, why);
	for (k = 0; k < c->nallowed; k++) {
		free(c->allowed[k]);
		c->allowed[k] = NULL;
	}
	c->nallowed = 0;
	for (tok = strtok_r(val, " \t,", &save); tok != NULL; tok = strtok_r(NULL, " \t,", &save)) {
		if (tok[0] != '/' || str_has_ctl(tok))
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "%s:%u: allowed_config_dirs: absolute directory names, separated by "
			    "blanks or commas",
			    path, line);
		if (c->nallowed == CONF_ALLOWED_MAX)
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "%s:%u: allowed_config_dirs: more than %d directories", path, line,
			    CONF_ALLOWED_MAX);
		if ((c->allowed[c->nallowed] = strdup(tok)) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		c->nallowed++;
	}
	return 0;
}

/* "key value" of an account (or the defaults) at line of file fi. */
static int
conf_parse_key(struct conf_ctx *c, int fi, unsigned line, char *key, char *val,
    struct conf_ent *cur, const struct stat *st, struct sx_err *e)
{
	const char *path = c->files[fi], *why = NULL;
	struct conf_org org;
	enum conf_kid kid;
	size_t k;

	if (conf_find_key(key, &kid) == -1) {
		for (k = 0; k < sizeof(conf_msmtp_only) / sizeof(conf_msmtp_only[0]); k++)
			if (strcmp(key, conf_msmtp_only[k]) == 0) {
				sx_fail(e, SX_CONFIG, STAGE_CONFIG,
				    "%s:%u: %s: msmtp key not supported by smtps-send", path, line,
				    key);
				sx_hint(e, "remove the line; smtps-send.conf(5) lists the "
					   "differences from msmtp");
				return -1;
			}
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s:%u: %.64s: unknown key", path, line, key);
		if (conf_suggest(key) != NULL)
			sx_hint(e, "did you mean %s?", conf_suggest(key));
		else
			sx_hint(e, "smtps-send.conf(5) lists the keys");
		return -1;
	}
	if (conf_unquote(val, &why) == -1)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s:%u: %s: %s", path, line, key, why);
	if ((kid == K_PASSWORD || kid == K_OAUTH2_TOKEN || kid == K_OAUTH2_CLIENT_SECRET) &&
	    *val != '\0' && (st->st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "%s:%u: %s: %s is readable or writable by group or others (mode %04o)", path,
		    line, conf_keys[kid].name, path, (unsigned)(st->st_mode & 07777));
		sx_hint(e, "run: chmod 600 %s (or use password_file or passwordeval)", path);
		return -1;
	}
	org.kind = ORG_FILE;
	org.file = (unsigned char)fi;
	org.section = c->section;
	org.line = line;
	if (conf_set(cur, kid, val, org, &why) == -1)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s:%u: %s: %s", path, line, key, why);
	return 0;
}

/*
 * Parse one file's text (NUL-terminated, len bytes) to its end: a bad line
 * is noted (conf_note) and the next one read.  The keys after a bad
 * account line go to a section of their own that nothing uses, so that
 * their own errors are still found.  0, or -1 when reading cannot go on.
 */
static int
conf_parse_buf(
    struct conf_ctx *c, int fi, char *buf, size_t len, const struct stat *st, struct sx_err *e)
{
	const char *path = c->files[fi];
	struct conf_ent *cur = c->defs[fi], sink;
	char *line = buf, *nl;
	unsigned lineno = 0;
	struct sx_err le;
	int rc = 0;

	if (memchr(buf, '\0', len) != NULL) {
		sx_clear(&le);
		sx_fail(&le, SX_CONFIG, STAGE_CONFIG, "%s: contains a NUL byte", path);
		return conf_note(c, path, 0, &le, e);
	}
	conf_ent_init(&sink);
	c->section++;
	for (; line < buf + len && rc == 0; line = nl + 1) {
		char *key, *val, *end;

		lineno++;
		sx_clear(&le);
		nl = strchr(line, '\n');
		if (nl == NULL)
			nl = buf + len;
		*nl = '\0';
		if ((size_t)(nl - line) >= CONF_LINE_MAX) {
			sx_fail(&le, SX_CONFIG, STAGE_CONFIG, "%s:%u: line longer than %d bytes",
			    path, lineno, CONF_LINE_MAX);
			rc = conf_note(c, path, lineno, &le, e);
			continue;
		}
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
		if (str_has_ctl(key) || strlen(key) > 64) {
			sx_fail(&le, SX_CONFIG, STAGE_CONFIG, "%s:%u: malformed key", path, lineno);
			rc = conf_note(c, path, lineno, &le, e);
			continue;
		}
		if ((strcmp(key, "defaults") == 0 || strcmp(key, "account") == 0) &&
		    c->section >= SEC_ENV - 1) {
			/* Section numbers would run into the environment's: stop. */
			sx_fail(
			    e, SX_CONFIG, STAGE_CONFIG, "%s:%u: too many sections", path, lineno);
			rc = -1;
			break;
		}
		if (strcmp(key, "defaults") == 0) {
			c->section++;
			cur = c->defs[fi];
			if (*val != '\0') {
				sx_fail(&le, SX_CONFIG, STAGE_CONFIG,
				    "%s:%u: defaults: takes no value", path, lineno);
				rc = conf_note(c, path, lineno, &le, e);
			}
		} else if (strcmp(key, "account") == 0) {
			c->section++;
			if (conf_section(c, fi, lineno, val, &cur, &le) == -1) {
				cur = &sink;
				rc = conf_note(c, path, lineno, &le, e);
			}
		} else if (strcmp(key, "allowed_config_dirs") == 0) {
			if (conf_allowed_dirs(c, fi, lineno, val, &le) == -1)
				rc = conf_note(c, path, lineno, &le, e);
		} else if (conf_parse_key(c, fi, lineno, key, val, cur, st, &le) == -1)
			rc = conf_note(c, path, lineno, &le, e);
	}
	conf_ent_clear(&sink);
	/* A file without account lines is one account: "default". */
	if (rc == 0 && !c->defs[fi]->has_sections) {
		char word[] = "default";

		sx_clear(&le);
		if (conf_section(c, fi, lineno, word, &cur, &le) == -1)
			return conf_note(c, path, lineno, &le, e);
		c->defs[fi]->has_sections = 0;
	}
	return rc;
}

/* read(2) until EOF or max bytes; 1 more than max is reported as too big. */
int
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
 * given one (--config, $SMTPS_SEND_CONFIG) is an error.  Its errors are
 * noted (conf_int.h): 0, or -1 when reading cannot go on.
 */
int
conf_read_file(struct conf_ctx *c, const char *path, enum conf_role role, struct sx_err *e)
{
	struct stat st;
	struct sx_err le;
	char *buf = NULL;
	size_t len = 0;
	int fd, fi, rc = -1;

	sx_clear(&le);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		if (role != CONF_ROLE_GIVEN && errno == ENOENT)
			return 0;
		if (role != CONF_ROLE_GIVEN && errno == EACCES) {
			/* Someone else's system file: say so only if nothing else works. */
			strlcpy(c->unreadable, path, sizeof(c->unreadable));
			return 0;
		}
		sx_fail(&le, SX_CONFIG, STAGE_CONFIG, "cannot open config file %s: %s", path,
		    strerror(errno));
		return conf_note(c, path, 0, &le, e);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		sx_fail(&le, SX_CONFIG, STAGE_CONFIG, "config file %s is not a regular file", path);
		goto out;
	}
	if ((buf = malloc((size_t)CONF_FILE_MAX + 1)) == NULL) {
		sx_fail(&le, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto out;
	}
	if (conf_read_fd(fd, buf, (size_t)CONF_FILE_MAX + 1, &len) == -1) {
		sx_fail(&le, SX_CONFIG, STAGE_CONFIG, "cannot read config file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (st.st_size > CONF_FILE_MAX || len > (size_t)CONF_FILE_MAX) {
		sx_fail(&le, SX_CONFIG, STAGE_CONFIG, "config file %s is larger than %ld bytes",
		    path, CONF_FILE_MAX);
		goto out;
	}
	buf[len] = '\0';
	fi = (int)c->nfiles;
	if ((c->files[fi] = strdup(path)) == NULL ||
	    (c->defs[fi] = calloc(1, sizeof(*c->defs[fi]))) == NULL) {
		sx_fail(&le, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		free(c->files[fi]);
		c->files[fi] = NULL;
		goto out;
	}
	c->roles[fi] = (unsigned char)role;
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
	if (le.cls != SX_OK)
		rc = conf_note(c, path, 0, &le, e);
	return rc;
}

void
conf_ctx_free(struct conf_ctx *c)
{
	size_t k;

	for (k = 0; k < c->nents; k++)
		conf_ent_free(c->ents[k]);
	for (k = 0; k < CONF_FILES_MAX; k++) {
		conf_ent_free(c->defs[k]);
		free(c->files[k]);
	}
	for (k = 0; k < c->nallowed; k++)
		free(c->allowed[k]);
	memset(c, 0, sizeof(*c));
}
