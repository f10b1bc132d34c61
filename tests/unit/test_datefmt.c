/* test_datefmt.c — the RFC 5322 date-time: names, padding, offsets, short buffers, bad times. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/datefmt.h"

#define T_2001 ((time_t)1000000000) /* Sun, 9 Sep 2001 01:46:40 UTC */

static void
tz(const char *zone)
{
	setenv("TZ", zone, 1);
	tzset();
}

static void
assert_date(time_t t, const char *want)
{
	char buf[DATEFMT_MAX];

	assert_int_equal(datefmt_rfc5322(buf, sizeof(buf), t), (int)strlen(want));
	assert_string_equal(buf, want);
}

static void
test_utc(void **state)
{
	(void)state;
	tz("UTC0");
	assert_date(T_2001, "Sun, 9 Sep 2001 01:46:40 +0000");
	/* The day is not padded, the time is, the year has four digits. */
	assert_date(0, "Thu, 1 Jan 1970 00:00:00 +0000");
	assert_date((time_t)1700000000, "Tue, 14 Nov 2023 22:13:20 +0000");
}

/* The local offset, with its minutes, on both sides of UTC. */
static void
test_offsets(void **state)
{
	(void)state;
	tz("<+0530>-5:30");
	assert_date(T_2001, "Sun, 9 Sep 2001 07:16:40 +0530");
	tz("<-0330>3:30");
	assert_date(T_2001, "Sat, 8 Sep 2001 22:16:40 -0330");
	tz("<-10>10");
	assert_date(T_2001, "Sat, 8 Sep 2001 15:46:40 -1000");
	tz("UTC0");
}

/* Too small a buffer: the length it needed, as snprintf, and a cut string. */
static void
test_short_buffer(void **state)
{
	char buf[8];

	(void)state;
	tz("UTC0");
	assert_int_equal(datefmt_rfc5322(buf, sizeof(buf), T_2001), 30);
	assert_string_equal(buf, "Sun, 9 ");
}

/* A time localtime cannot convert: -1, and the buffer is left alone. */
static void
test_unconvertible(void **state)
{
	char buf[DATEFMT_MAX] = "untouched";
	time_t huge = (time_t)INT64_MAX;

	(void)state;
	tz("UTC0");
	assert_int_equal(datefmt_rfc5322(buf, sizeof(buf), huge), -1);
	assert_string_equal(buf, "untouched");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utc),
	    cmocka_unit_test(test_offsets),
	    cmocka_unit_test(test_short_buffer),
	    cmocka_unit_test(test_unconvertible),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
