/*
 * conf_dump.c — --dump-config and the origin of each value ("FILE:LINE",
 * "env SMTPS_SEND_X", "argv --x", "default"), see conf.h.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config/conf_int.h"
#include "core/fsutil.h"

static void conf_where(
    const struct conf_src *, enum conf_kid, const struct conf_org *, char *, size_t);

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
	case ORG_QUEUE:
		snprintf(buf, sz, "recorded with the queued message");
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

/* A number of seconds in the largest unit that divides it ("5d", "90s"). */
static const char *
conf_duration(long n, char *buf, size_t sz)
{
	static const struct {
		char unit;
		long secs;
	} units[] = {{'w', 7 * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}};
	size_t u;

	for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
		if (n >= units[u].secs && n % units[u].secs == 0) {
			snprintf(buf, sz, "%ld%c", n / units[u].secs, units[u].unit);
			return buf;
		}
	snprintf(buf, sz, "%lds", n);
	return buf;
}

const char *
conf_value(const struct account *a, enum conf_kid k, char *buf, size_t sz)
{
	const struct conf_key *key = &conf_keys[k];
	struct conf_ent tmp;
	const char *v;

	memset(&tmp, 0, sizeof(tmp));
	tmp.a = *a;
	switch (key->type) {
	case T_ENUM:
		if (k == K_TLS_STARTTLS) /* not kept: implied by the resolved tls */
			return a->tls == TLS_MODE_IMPLICIT ? "off" : "on";
		if (key->set_off != 0 && *conf_intp(&tmp, key->set_off) == 0)
			return "off";
		v = conf_enum_name(k, *conf_intp(&tmp, key->off));
		return v != NULL ? v : "?";
	case T_PORT:
		snprintf(buf, sz, "%u", a->port);
		return buf;
	case T_TIMEOUT:
		snprintf(buf, sz, "%ds", a->timeout);
		return buf;
	case T_AGE:
		if (*(const long *)(const void *)((const char *)&tmp + key->off) == 0)
			return "off";
		return conf_duration(
		    *(const long *)(const void *)((const char *)&tmp + key->off), buf, sz);
	case T_COUNT:
		if (*(const unsigned *)(const void *)((const char *)&tmp + key->off) == 0)
			return "off";
		snprintf(buf, sz, "%u",
		    *(const unsigned *)(const void *)((const char *)&tmp + key->off));
		return buf;
	default:
		v = *conf_strp(&tmp, k);
		if (v == NULL)
			return k == K_TLS_TRUST_FILE ? "system" : "(unset)";
		return k == K_PASSWORD || k == K_OAUTH2_TOKEN || k == K_OAUTH2_CLIENT_SECRET
			   ? "********"
			   : v;
	}
}

/* What --dump-config shows: a duration as it was written ("36h", not "1d12h"). */
static const char *
conf_value_shown(const struct account *a, enum conf_kid k, char *buf, size_t sz)
{
	int d = conf_dur_index(k);

	if (d >= 0 && a->src != NULL && a->src->org[k].kind != ORG_DEFAULT &&
	    a->src->dur[d][0] != '\0')
		return a->src->dur[d];
	return conf_value(a, k, buf, sz);
}

int
conf_dump(FILE *fp, const struct account *a)
{
	char val[4200], where[4200];
	size_t k;

	fprintf(fp, "# smtps-send %s: effective configuration\n", PACKAGE_VERSION);
	if (a->src == NULL || a->src->nfiles == 0)
		fprintf(fp, "# config files: none found\n");
	for (k = 0; a->src != NULL && k < a->src->nfiles; k++)
		fprintf(fp, "# config file: %s\n", a->src->files[k]);
	fprintf(fp, "# account %s (%s)\n", a->name != NULL ? a->name : "default",
	    a->src != NULL ? a->src->chosen : "?");
	for (k = 0; k < K_NKEYS; k++) {
		const char *v = conf_value_shown(a, (enum conf_kid)k, val, sizeof(val));
		struct sx_err ignored;

		conf_origin(a, conf_keys[k].name, where, sizeof(where));
		/* The queue directory in effect when none is set (fs_state_dir's rule). */
		if (k == K_QUEUE_DIR && a->queue_dir == NULL) {
			sx_clear(&ignored);
			if (fs_state_dir("queue", val, sizeof(val), &ignored) == 0) {
				v = val;
				strlcat(where, " (the rule for this user)", sizeof(where));
			}
		}
		/* from taken from user (conf.c) */
		if (k == K_FROM && a->from != NULL && a->src != NULL &&
		    a->src->org[K_FROM].kind == ORG_DEFAULT)
			strlcat(where, " (the user, an address)", sizeof(where));
		fprintf(fp, "%-20s %-32s # %s\n", conf_keys[k].name, v, where);
	}
	fflush(fp);
	return ferror(fp) ? -1 : 0;
}
