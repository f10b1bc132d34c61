/* qualify.c — what a name without a domain becomes (see qualify.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/aliases.h"
#include "msg/qualify.h"

static char *qualify_domain_of(const char *);
static int qualify_admin(struct qualify *, const char *, struct sx_err *);

/* The domain of text when it is one qualified address, else NULL (also out of memory). */
static char *
qualify_domain_of(const char *text)
{
	struct addr_list l;
	char *d = NULL;

	memset(&l, 0, sizeof(l));
	/* A from that is a pattern (fnmatch) may not parse: then it gives no domain. */
	if (text != NULL && addr_parse_list(text, strlen(text), &l, NULL) == 0 && l.n == 1 &&
	    !l.v[0].unqualified)
		d = strdup(strrchr(l.v[0].spec, '@') + 1);
	addr_list_free(&l);
	return d;
}

int
qualify_init(struct qualify *q, const char *admin_address, const char *default_domain,
    const char *from, const char *user, struct sx_err *e)
{
	int rc;

	memset(q, 0, sizeof(*q));
	if (default_domain != NULL && *default_domain != '\0') {
		if ((q->domain = strdup(default_domain)) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	} else if ((q->domain = qualify_domain_of(from)) == NULL)
		q->domain = qualify_domain_of(user);
	if (admin_address == NULL || *admin_address == '\0')
		return 0;
	rc = qualify_admin(q, admin_address, e);
	/* Last resort for a sender or a header address: where local mail goes. */
	if (rc == 0 && q->admin.n > 0)
		q->admin_domain = qualify_domain_of(q->admin.v[0].spec);
	return rc;
}

/* admin_address: parsed, each address qualified (q->domain), into q->admin. */
static int
qualify_admin(struct qualify *q, const char *admin_address, struct sx_err *e)
{
	struct addr_list l;
	struct sx_err pe;
	size_t i;
	int rc = -1;

	memset(&l, 0, sizeof(l));
	sx_clear(&pe);
	if (addr_parse_list(admin_address, strlen(admin_address), &l, &pe) == -1) {
		sx_fail(e, pe.cls == SX_DATA ? SX_CONFIG : pe.cls, STAGE_INTAKE,
		    "admin_address: %s", pe.detail);
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		char *a = NULL;
		int r;

		if (!l.v[i].unqualified) {
			r = addr_list_add(&q->admin, l.v[i].spec, 0, e);
		} else if (q->domain == NULL) {
			sx_fail(e, SX_CONFIG, STAGE_INTAKE, "admin_address '%s' has no domain",
			    l.v[i].spec);
			sx_hint(e, "write it as user@domain, or set default_domain or from");
			goto out;
		} else if (asprintf(&a, "%s@%s", l.v[i].spec, q->domain) == -1) {
			sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
			goto out;
		} else if (addr_check_mailbox(a, NULL) != 0) {
			sx_fail(e, SX_CONFIG, STAGE_INTAKE,
			    "admin_address '%s' is not a valid address", a);
			r = -1;
		} else
			r = addr_list_add(&q->admin, a, 0, e);
		free(a);
		if (r == -1)
			goto out;
	}
	rc = 0;
out:
	addr_list_free(&l);
	if (rc == -1)
		addr_list_free(&q->admin);
	return rc;
}

void
qualify_free(struct qualify *q)
{
	if (q == NULL)
		return;
	free(q->domain);
	free(q->admin_domain);
	addr_list_free(&q->admin);
	q->domain = q->admin_domain = NULL;
}

const char *
qualify_sender_domain(const struct qualify *q, const char *hostname)
{
	if (q != NULL && q->domain != NULL)
		return q->domain;
	/* sendmail's $j: a name that says which host it is. */
	if (hostname != NULL && strchr(hostname, '.') != NULL)
		return hostname;
	return q != NULL ? q->admin_domain : NULL;
}

const char *
qualify_hint(int recipient)
{
	if (recipient)
		return "set admin_address (where mail for local users goes), default_domain or "
		       "from, or add an alias";
	return "set from or default_domain";
}

/* Does spec lack a domain (no '@' outside a quoted local part)? */
static int
qualify_lacks_domain(const char *spec)
{
	return spec[0] != '\0' && strrchr(spec, '@') == NULL;
}

int
qualify_envelope(
    const struct qualify_settings *qs, char **from, char ***rcpts, size_t *nrcpts, struct sx_err *e)
{
	struct alias_table tab;
	struct addr_list out;
	struct qualify q;
	const char *dom;
	char *nf = NULL, **nv;
	size_t i, k;
	int have_tab = 0, rc = -1;

	memset(&tab, 0, sizeof(tab));
	memset(&out, 0, sizeof(out));
	if (qualify_init(&q, qs->admin_address, qs->default_domain, qs->from, qs->user, e) == -1)
		goto out;
	if (qualify_lacks_domain(*from)) {
		if ((dom = qualify_sender_domain(&q, qs->hostname)) == NULL) {
			sx_fail(
			    e, SX_CONFIG, STAGE_INTAKE, "sender '%s' still has no domain", *from);
			sx_hint(e, "%s", qualify_hint(0));
			goto out;
		}
		if (asprintf(&nf, "%s@%s", *from, dom) == -1) {
			sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
			goto out;
		}
	}
	if (qs->aliases_file != NULL) {
		if (alias_load(qs->aliases_file, &tab, e) == -1)
			goto out;
		have_tab = 1;
	}
	for (i = 0; i < *nrcpts; i++) {
		if (!qualify_lacks_domain((*rcpts)[i])) {
			if (addr_list_add(&out, (*rcpts)[i], 0, e) == -1)
				goto out;
			continue;
		}
		if (alias_resolve(have_tab ? &tab : NULL, &q, (*rcpts)[i], 1, &out, e) == -1)
			goto out;
	}
	for (k = 0; k < out.n; k++)
		if (out.v[k].unqualified) {
			sx_fail(e, SX_CONFIG, STAGE_INTAKE, "recipient '%s' still has no domain",
			    out.v[k].spec);
			sx_hint(e, "%s", qualify_hint(1));
			goto out;
		}
	if ((nv = calloc(out.n + 1, sizeof(*nv))) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		goto out;
	}
	for (k = 0; k < out.n; k++) {
		nv[k] = out.v[k].spec; /* taken over */
		out.v[k].spec = NULL;
	}
	for (i = 0; i < *nrcpts; i++)
		free((*rcpts)[i]);
	free(*rcpts);
	*rcpts = nv;
	*nrcpts = out.n;
	if (nf != NULL) {
		free(*from);
		*from = nf;
		nf = NULL;
	}
	rc = 0;
out:
	free(nf);
	addr_list_free(&out);
	if (have_tab)
		alias_free(&tab);
	qualify_free(&q);
	return rc;
}
