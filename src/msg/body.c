/* body.c — CRLF normalisation and dot-stuffing (see body.h). */
#include "config.h"

#include <string.h>

#include "msg/body.h"
#include "msg/scan.h"

void
body_enc_init(struct body_enc *b)
{
	b->dot_stuff = 1;
	b->at_bol = 1;
	b->prev_cr = 0;
}

void
body_enc_init_bdat(struct body_enc *b)
{
	body_enc_init(b);
	b->dot_stuff = 0;
}

size_t
body_enc_feed(struct body_enc *b, const char *in, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		char ch = in[i];

		/* Mid-line: copy up to the next line ending in one go. */
		if (!b->at_bol && ch != '\n' && ch != '\r') {
			size_t k = scan_ordinary(in + i, len - i);

			if (k == 0)
				k = 1; /* a tab or other control byte: ordinary here */
			memcpy(out + n, in + i, k);
			n += k;
			i += k - 1;
			b->prev_cr = 0;
			continue;
		}

		if (ch == '\n') {
			/* The LF of a CRLF whose CR already produced the line break. */
			if (!b->prev_cr) {
				out[n++] = '\r';
				out[n++] = '\n';
			}
			b->at_bol = 1;
			b->prev_cr = 0;
		} else if (ch == '\r') {
			out[n++] = '\r';
			out[n++] = '\n';
			b->at_bol = 1;
			b->prev_cr = 1;
		} else {
			if (b->at_bol && ch == '.' && b->dot_stuff)
				out[n++] = '.';
			out[n++] = ch;
			b->at_bol = 0;
			b->prev_cr = 0;
		}
	}
	return n;
}

size_t
body_enc_finish(struct body_enc *b, char *out)
{
	size_t n = 0;

	if (!b->at_bol) {
		out[n++] = '\r';
		out[n++] = '\n';
	}
	if (b->dot_stuff) {
		out[n++] = '.';
		out[n++] = '\r';
		out[n++] = '\n';
	}
	b->at_bol = 1;
	b->prev_cr = 0;
	return n;
}
