/*
 * scan.h — find the next byte below 0x0E (NUL, CR, LF, tab, other C0
 * controls) eight bytes at a time.  The intake and the body encoder copy
 * everything before it in one go; the byte itself takes the careful path.
 * This keeps a 20 MiB message well under curl's instruction count.
 */
#ifndef SX_SCAN_H
#define SX_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SCAN_ONES  UINT64_C(0x0101010101010101)
#define SCAN_HIGHS UINT64_C(0x8080808080808080)

/* Index of the first byte of p[0..n) below 0x0E, or n. */
static inline size_t
scan_ordinary(const void *buf, size_t n)
{
	const unsigned char *p = buf;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		/* Some byte < 0x0E (no false positives for the "some byte" test). */
		if (((w - SCAN_ONES * 0x0E) & ~w & SCAN_HIGHS) != 0)
			break;
	}
	for (; i < n; i++)
		if (p[i] < 0x0E)
			break;
	return i;
}

#endif
