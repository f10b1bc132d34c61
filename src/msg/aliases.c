/* aliases.c — the aliases file and recipient qualification (see aliases.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg/aliases.h"

struct alias_walk {
	const struct alias_table *tab;
	const struct qualify *q;
	const char *stack[ALIAS_DEPTH_MAX + 1]; /* names being expanded, for loops */
	size_t depth;
	size_t count; /* addresses produced so far */
	const char *origin;
	struct addr_list *out;
	struct sx_err *err;
};

static int alias_name_ok(const char *, size_t);
static int alias_add_entry(
    struct alias_table *, const char *, const char *, size_t, size_t, struct sx_err *);
static ssize_t alias_find(const struct alias_table *, const char *);
static int alias_qualify(struct alias_walk *, const char *);
static int alias_walk(struct alias_walk *, const char *, int);
static int alias_loop(struct alias_walk *, const char *);

/* Printable ASCII without white space or the characters a value uses. */
static int
alias_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || strchr(":@,#\"<>()", c) != NULL)
			return 0;
	}
	return 1;
}

/* Parse one entry's value (continuations joined as folds) and store it. */
static int
alias_add_entry(struct alias_table *tab, const char *name, const char *value, size_t vlen,
    size_t line, struct sx_err *e)
{
	struct alias_entry *nv, *ent;
	struct sx_err pe;
	ssize_t dup;

	if ((dup = alias_find(tab, name)) != -1)
		return sx_fail(e, SX_CONFIG, STAGE_INTAKE,
		    "%s:%zu: duplicate alias '%s' (first on line %zu)", tab->path, line, name,
		    tab->v[dup].line);
	if (tab->n == tab->cap) {
		size_t ncap = tab->cap ? tab->cap * 2 : 8;

		if ((nv = reallocarray(tab->v, ncap, sizeof(*nv))) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		tab->v = nv;
		tab->cap = ncap;
	}
	ent = &tab->v[tab->n];
	memset(ent, 0, sizeof(*ent));
	ent->line = line;
	if ((ent->name = strdup(name)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	tab->n++;
	sx_clear(&pe);
	if (addr_parse_list(value, vlen, &ent->addrs, &pe) == -1)
		return sx_fail(e, pe.cls == SX_DATA ? SX_CONFIG : pe.cls, STAGE_INTAKE,
		    "%s:%zu: alias '%s': %s", tab->path, line, name, pe.detail);
	if (ent->addrs.n == 0)
		return sx_fail(e, SX_CONFIG, STAGE_INTAKE, "%s:%zu: alias '%s' has no addresses",
		    tab->path, line, name);
	if (strcasecmp(name, "default") == 0)
		tab->default_idx = (ssize_t)(tab->n - 1);
	return 0;
}

int
alias_load(const char *path, struct alias_table *tab, struct sx_err *e)
{
	FILE *fp;
	char *line = NULL, *val = NULL, *nv;
	char name[256];
	size_t cap = 0, vlen = 0, vcap = 0, lineno = 0, entline = 0, total = 0;
	ssize_t n;
	int rc = -1;

	memset(tab, 0, sizeof(*tab));
	tab->default_idx = -1;
	if ((tab->path = strdup(path)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	if ((fp = fopen(path, "re")) == NULL) {
		sx_fail(e, SX_CONFIG, STAGE_INTAKE, "cannot open aliases file %s: %s", path,
		    strerror(errno));
		if (e != NULL)
			e->sys_errno = errno;
		return -1;
	}
	name[0] = '\0';
	while ((n = getline(&line, &cap, fp)) != -1) {
		size_t len = (size_t)n, i;
		char *colon;

		lineno++;
		total += len;
		if (total > ALIAS_FILE_MAX) {
			sx_fail(e, SX_CONFIG, STAGE_INTAKE, "%s: larger than %d bytes", path,
			    ALIAS_FILE_MAX);
			goto out;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (memchr(line, '\0', len) != NULL) {
			sx_fail(e, SX_CONFIG, STAGE_INTAKE, "%s:%zu: NUL byte", path, lineno);
			goto out;
		}
		for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
			;
		if (i == len || line[i] == '#')
			continue;
		if (i > 0) {
			/* Continuation: joined as a fold, which the list parser takes. */
			if (name[0] == '\0') {
				sx_fail(e, SX_CONFIG, STAGE_INTAKE,
				    "%s:%zu: continuation line without an alias above it", path,
				    lineno);
				goto out;
			}
			i = 0; /* keep the white space: it makes the fold */
		} else {
			if (name[0] != '\0' &&
			    alias_add_entry(tab, name, val, vlen, entline, e) == -1)
				goto out;
			vlen = 0;
			if ((colon = strchr(line, ':')) == NULL) {
				sx_fail(e, SX_CONFIG, STAGE_INTAKE,
				    "%s:%zu: missing ':' after the alias name", path, lineno);
				goto out;
			}
			i = (size_t)(colon - line);
			while (i > 0 && (line[i - 1] == ' ' || line[i - 1] == '\t'))
				i--;
			if (!alias_name_ok(line, i) || i >= sizeof(name)) {
				char bad[64];

				sx_sanitize(bad, sizeof(bad), line, i, 0);
				sx_fail(e, SX_CONFIG, STAGE_INTAKE,
				    "%s:%zu: invalid alias name '%s'", path, lineno, bad);
				goto out;
			}
			memcpy(name, line, i);
			name[i] = '\0';
			entline = lineno;
			i = (size_t)(colon - line) + 1;
		}
		/* Append "\n" + the rest (a fold when it starts with white space). */
		if (vlen + (len - i) + 2 > vcap) {
			size_t ncap = vlen + (len - i) + 2;

			ncap = ncap < 2 * vcap ? 2 * vcap : ncap;
			if ((nv = realloc(val, ncap)) == NULL) {
				sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
				goto out;
			}
			val = nv;
			vcap = ncap;
		}
		if (vlen > 0)
			val[vlen++] = '\n';
		memcpy(val + vlen, line + i, len - i);
		vlen += len - i;
		val[vlen] = '\0';
	}
	if (ferror(fp)) {
		sx_fail(e, SX_CONFIG, STAGE_INTAKE, "cannot read aliases file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (name[0] != '\0' && alias_add_entry(tab, name, val, vlen, entline, e) == -1)
		goto out;
	rc = 0;
out:
	free(line);
	free(val);
	fclose(fp);
	return rc;
}

void
alias_free(struct alias_table *tab)
{
	size_t i;

	if (tab == NULL)
		return;
	for (i = 0; i < tab->n; i++) {
		free(tab->v[i].name);
		addr_list_free(&tab->v[i].addrs);
	}
	free(tab->v);
	free(tab->path);
	memset(tab, 0, sizeof(*tab));
	tab->default_idx = -1;
}

static ssize_t
alias_find(const struct alias_table *tab, const char *name)
{
	size_t i;

	for (i = 0; i < tab->n; i++)
		if (strcasecmp(tab->v[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/*
 * A name no alias qualified: admin_address, else name@domain, else the
 * name as it is, flagged, for the caller to refuse.
 */
static int
alias_qualify(struct alias_walk *w, const char *name)
{
	const struct qualify *q = w->q;
	size_t i;
	char *a;
	int rc;

	if (q != NULL && q->admin.n > 0) {
		for (i = 0; i < q->admin.n; i++)
			if (addr_list_add(w->out, q->admin.v[i].spec, 0, w->err) == -1)
				return -1;
		return 0;
	}
	if (q == NULL || q->domain == NULL)
		return addr_list_add(w->out, name, 1, w->err);
	if (asprintf(&a, "%s@%s", name, q->domain) == -1)
		return sx_fail(w->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	rc = addr_check_mailbox(a, w->err);
	if (rc == 1)
		rc = sx_fail(w->err, SX_DATA, STAGE_INTAKE, "invalid domain '%s'", q->domain);
	if (rc == 0)
		rc = addr_list_add(w->out, a, 0, w->err);
	free(a);
	return rc;
}

static int
alias_loop(struct alias_walk *w, const char *name)
{
	char path[SX_DETAIL_MAX];
	size_t i;

	path[0] = '\0';
	for (i = 0; i < w->depth; i++) {
		strlcat(path, w->stack[i], sizeof(path));
		strlcat(path, " -> ", sizeof(path));
	}
	strlcat(path, name, sizeof(path));
	return sx_fail(w->err, SX_CONFIG, STAGE_INTAKE, "%s: alias loop: %s", w->tab->path, path);
}

/*
 * Expand one address.  Recursion depth is bounded by ALIAS_DEPTH_MAX and
 * the names on the stack catch loops; the count bounds fan-out.
 */
static int
alias_walk(struct alias_walk *w, const char *spec, int unqualified)
{
	const struct alias_entry *ent;
	ssize_t idx = -1;
	size_t i;
	int in_default = 0, rc;

	if (++w->count > ALIAS_EXPAND_MAX)
		return sx_fail(w->err, SX_CONFIG, STAGE_INTAKE,
		    "alias expansion of '%s' yields more than %d addresses", w->origin,
		    ALIAS_EXPAND_MAX);
	if (!unqualified)
		return addr_list_add(w->out, spec, 0, w->err);
	for (i = 0; i < w->depth; i++) {
		if (strcasecmp(w->stack[i], spec) == 0)
			return alias_loop(w, spec);
		if (strcasecmp(w->stack[i], "default") == 0)
			in_default = 1;
	}
	if (w->tab != NULL) {
		idx = alias_find(w->tab, spec);
		/* The catch-all does not apply to what it expands to itself. */
		if (idx == -1 && !in_default)
			idx = w->tab->default_idx;
	}
	if (idx == -1)
		return alias_qualify(w, spec);
	ent = &w->tab->v[idx];
	if (w->depth == ALIAS_DEPTH_MAX)
		return sx_fail(w->err, SX_CONFIG, STAGE_INTAKE,
		    "%s: aliases nested more than %d deep at '%s'", w->tab->path, ALIAS_DEPTH_MAX,
		    ent->name);
	w->stack[w->depth++] = ent->name;
	for (i = 0; i < ent->addrs.n; i++) {
		rc = alias_walk(w, ent->addrs.v[i].spec, ent->addrs.v[i].unqualified);
		if (rc == -1)
			return -1;
	}
	w->depth--;
	return 0;
}

int
alias_resolve(const struct alias_table *tab, const struct qualify *q, const char *spec,
    int unqualified, struct addr_list *out, struct sx_err *e)
{
	struct alias_walk w;

	memset(&w, 0, sizeof(w));
	w.tab = tab;
	w.q = q;
	w.origin = spec;
	w.out = out;
	w.err = e;
	return alias_walk(&w, spec, unqualified);
}
