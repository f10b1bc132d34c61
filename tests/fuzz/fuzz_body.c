/*
 * fuzz_body.c — the body encoder in DATA and BDAT mode, the input fed in
 * chunks whose boundaries the input picks.  Checks the wire invariants of
 * body.h and that decoding the output gives back the input with every line
 * ending turned into LF.
 *
 * Input: byte 0 selects the chunk sizes (low nibble and high nibble + 1,
 * alternating; 0 in the low nibble means one chunk), the rest is the body.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Expected decoding: CRLF, bare CR and bare LF each become one LF. */
static size_t
fz_normalise(const char *in, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '\r') {
			out[n++] = '\n';
			if (i + 1 < len && in[i + 1] == '\n')
				i++;
		} else {
			out[n++] = in[i];
		}
	}
	if (n > 0 && out[n - 1] != '\n')
		out[n++] = '\n';
	return n;
}

static size_t
fz_encode(int data_mode, const char *in, size_t len, uint8_t sel, char *out)
{
	struct body_enc b;
	size_t off = 0, n = 0, k = 0;

	if (data_mode)
		body_enc_init(&b);
	else
		body_enc_init_bdat(&b);
	while (off < len) {
		size_t chunk = (sel & 0x0f) == 0 ? len : (k++ % 2 ? (sel >> 4) + 1u : sel & 0x0fu);
		size_t got;

		if (chunk > len - off)
			chunk = len - off;
		got = body_enc_feed(&b, in + off, chunk, out + n);
		if (got > BODY_ENC_MAX(chunk))
			abort();
		n += got;
		off += chunk;
	}
	{
		size_t tail = body_enc_finish(&b, out + n);

		if (tail > BODY_ENC_TAIL)
			abort();
		n += tail;
	}
	return n;
}

/* No CR without LF after it and no LF without CR before it. */
static void
fz_check_crlf(const char *o, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (o[i] == '\r' && (i + 1 == n || o[i + 1] != '\n'))
			abort();
		if (o[i] == '\n' && (i == 0 || o[i - 1] != '\r'))
			abort();
	}
}

/* Decode: drop the terminator (DATA), un-stuff dots, CRLF → LF. */
static size_t
fz_decode(int data_mode, const char *o, size_t n, char *out)
{
	size_t i, m = 0;
	int bol = 1;

	if (data_mode) {
		if (n < 3 || memcmp(o + n - 3, ".\r\n", 3) != 0)
			abort();
		n -= 3;
	}
	for (i = 0; i < n; i++) {
		if (bol && data_mode) {
			/* In DATA every line starting with '.' was stuffed. */
			if (o[i] == '.') {
				if (i + 1 >= n || o[i + 1] != '.')
					abort();
				i++;
			}
		}
		if (o[i] == '\r') {
			out[m++] = '\n';
			i++; /* the LF (checked by fz_check_crlf) */
			bol = 1;
			continue;
		}
		out[m++] = o[i];
		bol = 0;
	}
	return m;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in;
	size_t len, n, m, want;
	char *out, *dec, *norm;
	int mode;

	if (size < 1)
		return 0;
	in = (const char *)data + 1;
	len = size - 1;
	out = malloc(BODY_ENC_MAX(len) + BODY_ENC_TAIL);
	dec = malloc(len + 1);
	norm = malloc(len + 1);
	if (out == NULL || dec == NULL || norm == NULL)
		abort();
	want = fz_normalise(in, len, norm);

	for (mode = 1; mode >= 0; mode--) {
		n = fz_encode(mode, in, len, data[0], out);
		fz_check_crlf(out, n);
		if (mode) {
			/* "\r\n.\r\n" exactly once, at the very end, or just ".\r\n". */
			const char *eod = memmem(out, n, "\r\n.\r\n", 5);

			if (n == 3 ? memcmp(out, ".\r\n", 3) != 0
				   : eod == NULL || eod != out + n - 5)
				abort();
			if (n == 3 && len != 0)
				abort();
		}
		/* BDAT may carry a "." line: only DATA gives it a meaning. */
		m = fz_decode(mode, out, n, dec);
		if (m != want || memcmp(dec, norm, m) != 0)
			abort();
	}
	free(out);
	free(dec);
	free(norm);
	return 0;
}
