/*
 * fuzz_caps.c — smtp_caps_parse() on an EHLO reply whose text is the fuzz
 * input (lines separated by '\n' as smtp_read_reply joins them).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_kw {
	const char *name;
	size_t off;
};

/* A bare keyword on a line of its own must set its flag. */
static const struct fz_kw fz_kws[] = {
    {"STARTTLS", offsetof(struct smtp_caps, starttls)},
    {"PIPELINING", offsetof(struct smtp_caps, pipelining)},
    {"8BITMIME", offsetof(struct smtp_caps, eightbitmime)},
    {"SMTPUTF8", offsetof(struct smtp_caps, smtputf8)},
    {"ENHANCEDSTATUSCODES", offsetof(struct smtp_caps, enhancedstatuscodes)},
    {"CHUNKING", offsetof(struct smtp_caps, chunking)},
    {"DSN", offsetof(struct smtp_caps, dsn)},
};

static int
fz_flag(const struct smtp_caps *c, size_t off)
{
	int v;

	memcpy(&v, (const char *)c + off, sizeof(v));
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply r;
	struct smtp_caps caps;
	const char *line, *nl;
	size_t i, n = size < sizeof(r.text) - 1 ? size : sizeof(r.text) - 1;

	memset(&r, 0, sizeof(r));
	r.code = 250;
	memcpy(r.text, data, n);
	r.text[n] = '\0';
	r.nlines = 1;
	for (i = 0; r.text[i] != '\0'; i++)
		r.nlines += r.text[i] == '\n';
	/* Garbage in caps must not survive: the parser clears first. */
	memset(&caps, 0xa5, sizeof(caps));
	smtp_caps_parse(&r, &caps);

	if (memchr(caps.auth_list, '\0', sizeof(caps.auth_list)) == NULL)
		abort();
	if (caps.esmtp != 1)
		abort();
	for (i = 0; i < sizeof(fz_kws) / sizeof(fz_kws[0]); i++) {
		int v = fz_flag(&caps, fz_kws[i].off);

		if (v != 0 && v != 1)
			abort();
		/* A flag set means the keyword is somewhere in the text. */
		if (v && strcasestr(r.text, fz_kws[i].name) == NULL)
			abort();
	}
	if ((caps.auth_plain || caps.auth_login || caps.auth_list[0] != '\0') && !caps.auth)
		abort();
	if (caps.size != 0 && !caps.size_offered)
		abort();
	if (caps.auth && strcasestr(r.text, "AUTH") == NULL)
		abort();
	if (caps.size_offered && strcasestr(r.text, "SIZE") == NULL)
		abort();
	/* Every line after the greeting that is exactly a keyword is seen. */
	for (line = r.text; (nl = strchr(line, '\n')) != NULL;) {
		size_t len;

		line = nl + 1;
		nl = strchr(line, '\n');
		len = nl != NULL ? (size_t)(nl - line) : strlen(line);
		for (i = 0; i < sizeof(fz_kws) / sizeof(fz_kws[0]); i++)
			if (len == strlen(fz_kws[i].name) &&
			    strncasecmp(line, fz_kws[i].name, len) == 0 &&
			    fz_flag(&caps, fz_kws[i].off) != 1)
				abort();
	}
	return 0;
}
