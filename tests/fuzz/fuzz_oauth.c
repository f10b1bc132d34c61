/*
 * fuzz_oauth.c — oauth_challenge_parse() on a 334 challenge: the input as
 * the reply text, or (first byte odd) the rest base64-encoded first, so the
 * fuzzer reaches the JSON reader directly.  What comes out is printable,
 * bounded, and token_refused only for the statuses that mean it.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "smtp/oauthsasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == max)
		abort();
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oauth_challenge ch;
	char *text;

	if (size == 0 || size > 8192)
		return 0;
	if (data[0] & 1) {
		gnutls_datum_t in = {(unsigned char *)(uintptr_t)(data + 1), (unsigned)(size - 1)},
			       out = {NULL, 0};

		if (gnutls_base64_encode2(&in, &out) < 0)
			return 0;
		text = strndup((const char *)out.data, out.size);
		gnutls_free(out.data);
	} else
		text = strndup((const char *)data + 1, size - 1);
	if (text == NULL)
		return 0;
	if (oauth_challenge_parse(text, &ch) == 0) {
		fz_printable(ch.status, sizeof(ch.status));
		fz_printable(ch.scope, sizeof(ch.scope));
		if (ch.token_refused && strcmp(ch.status, "invalid_token") != 0 &&
		    strcmp(ch.status, "401") != 0 && strcmp(ch.status, "400") != 0)
			abort();
	}
	free(text);
	return 0;
}
