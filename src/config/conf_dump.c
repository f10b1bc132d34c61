/*
 * conf_dump.c — --dump-config and the origin of each value ("FILE:LINE",
 * "env SMTPS_SEND_X", "argv --x", "default"), see conf.h.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config/conf_int.h"

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
		snprintf(
		    buf, sz, "%lds", *(const long *)(const void *)((const char *)&tmp + key->off));
		return buf;
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

int
conf_dump(FILE *fp, const struct account *a)
{
	char val[64], where[4200];
	size_t k;

	fprintf(fp, "# smtps-send %s: effective configuration\n", PACKAGE_VERSION);
	if (a->src == NULL || a->src->nfiles == 0)
		fprintf(fp, "# config files: none found\n");
	for (k = 0; a->src != NULL && k < a->src->nfiles; k++)
		fprintf(fp, "# config file: %s\n", a->src->files[k]);
	fprintf(fp, "# account %s (%s)\n", a->name != NULL ? a->name : "default",
	    a->src != NULL ? a->src->chosen : "?");
	for (k = 0; k < K_NKEYS; k++) {
		conf_origin(a, conf_keys[k].name, where, sizeof(where));
		fprintf(fp, "%-20s %-32s # %s\n", conf_keys[k].name,
		    conf_value(a, (enum conf_kid)k, val, sizeof(val)), where);
	}
	fflush(fp);
	return ferror(fp) ? -1 : 0;
}
