/*
 * dsn_int.h — what the files of the failure DSN share: the spool file
 * being written and its writer (dsn.c), and the formatting of the fields
 * (dsn_fields.c).  Not for other modules: they use dsn.h.
 */
#ifndef SX_DSN_INT_H
#define SX_DSN_INT_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "core/err.h"
#include "store/dsn.h"
#include "store/queue_meta.h"

#define DSN_LINE_MAX 998 /* RFC 5322 2.1.1: lines MUST stay under 998 */

struct spool_file;

/* The spool file being written, and what the queue needs to know of it. */
struct dsn_out {
	struct spool_file *sp;
	struct sx_err *e;
	char buf[8192];
	size_t len;
	unsigned long long bytes, lfs;
	int eight;  /* a byte >= 0x80 went out */
	int failed; /* a write failed: the rest is skipped */
};

/* dsn.c: bytes, a string, formatted text to o; after a failure they do nothing. */
void dsn_put(struct dsn_out *, const char *, size_t);
void dsn_puts(struct dsn_out *, const char *);
void dsn_printf(struct dsn_out *, const char *, ...) __attribute__((__format__(printf, 2, 3)));

/* dsn_fields.c: text and fields (malloc'ed results: NULL when out of memory). */
void dsn_date(char *, size_t, time_t);
void dsn_span(char *, size_t, time_t);
int dsn_hostname_ok(const char *, int);
char *dsn_clean(const char *, int);
void dsn_field(struct dsn_out *, const char *, const char *);
void dsn_wrap(FILE *, const char *, const char *);
char *dsn_addr_type(const char *);
void dsn_mta_name(const char *, char *, size_t);
void dsn_status(const struct queue_meta *, char *, size_t);
char *dsn_diagnostic(const struct queue_meta *);
char *dsn_envid(const char *);

#endif
