/*
 * datefmt.h — the one RFC 5322 date-time this program writes: the Date
 * field of a message it completes, and the dates of a DSN.
 */
#ifndef SX_DATEFMT_H
#define SX_DATEFMT_H

#include <stddef.h>
#include <time.h>

#define DATEFMT_MAX 64 /* a buffer that holds any date datefmt_rfc5322 writes */

/*
 * t as an RFC 5322 3.3 date-time in local time with its numeric offset,
 * "Sun, 9 Sep 2001 03:46:40 +0200": the day and month names are the
 * RFC's, never the locale's.  Returns what snprintf returns (the length
 * of the whole date: sz or more when buf was too small), or -1 when t
 * cannot be converted to local time (buf is then left alone).
 */
int datefmt_rfc5322(char *buf, size_t sz, time_t t);

#endif
