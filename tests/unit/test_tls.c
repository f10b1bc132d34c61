/*
 * test_tls.c — the parts of tls.c that need no peer: the tls_fingerprint
 * syntax and IP literals (no SNI for those).  Handshakes, verification
 * and pins against real servers: tests/e2e/t_tls_options.sh.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/tls.h"

#define FPR_HEX "0123456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff"
#define FPR_COLONS                                                                                 \
	"01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:"  \
	"DD:EE:FF"

static void
test_fingerprint(void **state)
{
	static const unsigned char want[32] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01,
	    0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
	    0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	static const char *const bad[] = {
	    "",
	    "01:23", /* too short */
	    FPR_HEX "00",
	    "0" FPR_HEX,
	    /* a colon inside a pair */
	    "0:123456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff",
	    /* not hex */
	    "zz23456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff",
	    /* spaces are not separators */
	    "01 23 456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff",
	    "01 23456789abcdef0123456789ABCDEF00112233445566778899aabbccddeef",
	    /* no prefixes */
	    "SHA256:0123456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff",
	};
	unsigned char out[32];
	size_t i;

	(void)state;
	memset(out, 0, sizeof(out));
	assert_int_equal(tls_parse_fingerprint(FPR_HEX, out), 0);
	assert_memory_equal(out, want, 32);
	memset(out, 0, sizeof(out));
	assert_int_equal(tls_parse_fingerprint(FPR_COLONS, out), 0);
	assert_memory_equal(out, want, 32);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tls_parse_fingerprint(bad[i], out), -1);
}

static void
test_ip_literal(void **state)
{
	(void)state;
	assert_true(tls_is_ip_literal("127.0.0.1"));
	assert_true(tls_is_ip_literal("::1"));
	assert_false(tls_is_ip_literal("smtp.example.com"));
	assert_false(tls_is_ip_literal("127.0.0.1.example"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fingerprint),
	    cmocka_unit_test(test_ip_literal),
	};

	return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}
