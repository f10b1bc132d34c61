/*
 * test_address.c — the RFC 5322 address-list parser against a table of
 * real-world header values, and the RFC 5321 mailbox checks.
 *
 * Each parse result is rendered as "spec [u] {display} (comment)" joined
 * by "; " ([u]: unqualified) and compared whole, so a case fails on any
 * difference in any address.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg/address.h"

struct parse_case {
	const char *in;
	size_t len;       /* 0: strlen(in) */
	const char *want; /* rendering, or NULL when an error is expected */
	const char *err;  /* exact error detail when want is NULL */
};

#define L64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D62 "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define D63 D62 "d"

static const struct parse_case cases[] = {
    /* Plain forms. */
    {"user@example.com", 0, "user@example.com", NULL},
    {"<user@example.com>", 0, "user@example.com", NULL},
    {"John Doe <john@example.com>", 0, "john@example.com {John Doe}", NULL},
    {"\"Doe, John\" <john@example.com>", 0, "john@example.com {\"Doe, John\"}", NULL},
    {"a@x.org, b@y.org", 0, "a@x.org; b@y.org", NULL},
    {"user+tag@example.com", 0, "user+tag@example.com", NULL},
    {"!#$%&'*+-/=?^_`{|}~@example.com", 0, "!#$%&'*+-/=?^_`{|}~@example.com", NULL},
    {"John.Doe@Example.COM", 0, "John.Doe@Example.COM", NULL},
    {"\tJohn\t<j@example.com>", 0, "j@example.com {John}", NULL},
    {"\"John\" Q \"Public\" <jqp@example.com>", 0, "jqp@example.com {\"John\" Q \"Public\"}", NULL},
    {"John Q. Public <jqp@example.com>", 0, "jqp@example.com {John Q. Public}", NULL},
    {"<a@b.org>,<c@d.org>", 0, "a@b.org; c@d.org", NULL},
    {"a@b.org , c@d.org", 0, "a@b.org; c@d.org", NULL},
    {L64 "@example.com", 0, L64 "@example.com", NULL},
    {"a@" D63 "." D63 "." D63 "." D63 "", 0, NULL,
	"invalid address \"a@" D62 "...\": address longer than 254 octets"},
    /* Groups. */
    {"undisclosed-recipients:;", 0, "", NULL},
    {"undisclosed-recipients: ;", 0, "", NULL},
    {"undisclosed-recipients:", 0, "", NULL},
    {"team: a@x.org, b@y.org;", 0, "a@x.org; b@y.org", NULL},
    {"team: a@x.org;, c@z.org", 0, "a@x.org; c@z.org", NULL},
    {"a: x@a.org; , b: y@b.org;", 0, "x@a.org; y@b.org", NULL},
    {"\"The Team\": Ann <ann@x.org>, bob@y.org (Bob);", 0, "ann@x.org {Ann}; bob@y.org (Bob)",
	NULL},
    {"\"Smith, J\" <j@a.org>, k@b.org (Kay), team:;", 0, "j@a.org {\"Smith, J\"}; k@b.org (Kay)",
	NULL},
    /* Comments. */
    {"root (Cron Daemon)", 0, "root [u] (Cron Daemon)", NULL},
    {"john(comment)@example.com", 0, "john@example.com (comment)", NULL},
    {"a@b.org (outer (inner) text)", 0, "a@b.org (outer (inner) text)", NULL},
    {"(Cron Daemon) <root>", 0, "root [u] (Cron Daemon)", NULL},
    {"a@(here)b.org", 0, "a@b.org (here)", NULL},
    {"a@b.org (with \\) escaped)", 0, "a@b.org (with \\) escaped)", NULL},
    {" (just a comment) ", 0, "", NULL},
    /* Quoted local parts. */
    {"\"john doe\"@example.com", 0, "\"john doe\"@example.com", NULL},
    {"\"john\"@example.com", 0, "john@example.com", NULL},
    {"\"a\\\"b\"@example.com", 0, "\"a\\\"b\"@example.com", NULL},
    {"\"a@b\"@example.com", 0, "\"a@b\"@example.com", NULL},
    {"\"a\\b\"@example.com", 0, "ab@example.com", NULL},
    {"\"john\".doe@example.com", 0, "john.doe@example.com", NULL},
    {"\"\"@example.com", 0, NULL, "invalid address at \"\"\"@example.com\": empty local part"},
    /* Encoded words and 8-bit display names. */
    {"=?UTF-8?B?SsO2cmc=?= <jorg@example.de>", 0, "jorg@example.de {=?UTF-8?B?SsO2cmc=?=}", NULL},
    {"=?utf-8?Q?Doe,_John?= <john@example.com>", 0, "john@example.com {=?utf-8?Q?Doe,_John?=}",
	NULL},
    {"=?iso-8859-1?q?J=F6rg?= M <jm@example.de>", 0, "jm@example.de {=?iso-8859-1?q?J=F6rg?= M}",
	NULL},
    {"J\xc3\xb6rg M\xc3\xbcller <jm@example.de>", 0, "jm@example.de {J\xc3\xb6rg M\xc3\xbcller}",
	NULL},
    /* Folding. */
    {"John Doe\n <john@example.com>,\n\tjane@example.com", 0,
	"john@example.com {John Doe}; jane@example.com", NULL},
    {"a@x.org,\r\n b@y.org", 0, "a@x.org; b@y.org", NULL},
    {"\"folded\r\n name\" <a@x.org>", 0, "a@x.org {\"folded name\"}", NULL},
    /* Obsolete forms. */
    {"<@relay1.example,@relay2.example:user@example.com>", 0, "user@example.com", NULL},
    {"Joe <@a.example:joe@b.example>", 0, "joe@b.example {Joe}", NULL},
    {"john . doe @ example . com", 0, "john.doe@example.com", NULL},
    {"a@x.org,,b@y.org,", 0, "a@x.org; b@y.org", NULL},
    {", a@x.org", 0, "a@x.org", NULL},
    /* Domain literals, IDN, UTF-8. */
    {"user@[192.0.2.1]", 0, "user@[192.0.2.1]", NULL},
    {"user@[ 192.0.2.1 ]", 0, "user@[192.0.2.1]", NULL},
    {"user@[IPv6:2001:db8::1]", 0, "user@[IPv6:2001:db8::1]", NULL},
    {"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", 0,
	"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", NULL},
    {"user@b\xc3\xbc"
     "cher.example",
	0,
	"user@b\xc3\xbc"
	"cher.example",
	NULL},
    {"user@xn--bcher-kva.example", 0, "user@xn--bcher-kva.example", NULL},
    /* Unqualified names (cron, scripts). */
    {"root", 0, "root [u]", NULL},
    {"root, www-data", 0, "root [u]; www-data [u]", NULL},
    {"<root>", 0, "root [u]", NULL},
    {"", 0, "", NULL},
    /* Garbage: refused, quoting the bad part. */
    {"a@x.org b@y.org", 0, NULL, "invalid address at \"b@y.org\": missing ',' between addresses"},
    {"<a@b.org> c@d.org", 0, NULL, "invalid address at \"c@d.org\": missing ',' between addresses"},
    {"John Doe john@example.com", 0, NULL,
	"invalid address at \"John Doe john@example.com\": unquoted space in address (missing "
	"'<...>' or ',')"},
    {"John Doe", 0, NULL,
	"invalid address at \"John Doe\": unquoted space in address (missing '<...>' or ',')"},
    {"John <john@example.com", 0, NULL, "invalid address at \"<john@example.com\": missing '>'"},
    {"\"John <j@x.org>", 0, NULL,
	"invalid address at \"\"John <j@x.org>\": unterminated quoted string"},
    {"a@b.org (oops", 0, NULL, "invalid address at \"(oops\": unterminated comment"},
    {"a@b.org)", 0, NULL, "invalid address at \")\": unbalanced ')'"},
    {"a: b: c@d.org;;", 0, NULL, "invalid address at \"b: c@d.org;;\": group inside a group"},
    {"a@b.org;", 0, NULL, "invalid address at \";\": ';' outside a group"},
    {": a@b.org;", 0, NULL, "invalid address at \": a@b.org;\": group without a name"},
    {"user@", 0, NULL, "invalid address at \"user@\": missing domain after '@'"},
    {"@example.com", 0, NULL, "invalid address at \"@example.com\": unexpected character"},
    {"john..doe@example.com", 0, NULL,
	"invalid address at \"john..doe@example.com\": misplaced '.' in local part"},
    {".john@example.com", 0, NULL,
	"invalid address at \".john@example.com\": misplaced '.' in local part"},
    {"john@example..com", 0, NULL, "invalid address at \"..com\": misplaced '.' in domain"},
    {"<>", 0, NULL, "invalid address at \"<>\": empty address '<>'"},
    {"[1.2.3.4]", 0, NULL, "invalid address at \"[1.2.3.4]\": domain literal without local part"},
    {"a\\b@x.org", 0, NULL, "invalid address at \"\\b@x.org\": '\\' outside a quoted string"},
    {"<@relay.example user@example.com>", 0, NULL,
	"invalid address at \"<@relay.example user@example.com>\": invalid route in address"},
    {L64 "a@example.com", 0, NULL,
	"invalid address \"" L64 "...\": local part longer than 64 octets"},
    {"a@exa_mple.com", 0, NULL, "invalid address \"a@exa_mple.com\": invalid domain"},
    {"a@-x.org", 0, NULL, "invalid address \"a@-x.org\": invalid domain"},
    {"a@[300.1.1.1]", 0, NULL, "invalid address \"a@[300.1.1.1]\": invalid address literal"},
    {"\xff@x.org", 0, NULL, "invalid address \"?@x.org\": invalid UTF-8 in address"},
    /* Injection and hostile bytes. */
    {"a@b.org\nRCPT TO:<evil@x.org>", 0, NULL,
	"invalid address at \"?RCPT TO:<evil@x.org>\": line break in address"},
    {"a@b.org\r\nRCPT TO:<evil@x.org>", 0, NULL,
	"invalid address at \"??RCPT TO:<evil@x.org>\": line break in address"},
    {"a@b.org\rc@d.org", 0, NULL, "invalid address at \"?c@d.org\": line break in address"},
    {"a@b.org\n", 0, NULL, "invalid address at \"?\": line break in address"},
    {"\"a\nb\"@x.org", 0, NULL, "invalid address at \"?b\"@x.org\": line break in address"},
    {"a@b\0.org", 8, NULL, "invalid address at \"?.org\": NUL byte in address"},
    {"\"a\0b\"@x.org", 11, NULL, "invalid address at \"?b\"@x.org\": NUL byte in address"},
    {"a\x01"
     "b@x.org",
	0, NULL, "invalid address at \"?b@x.org\": control character in address"},
    {"x@y.org (a\x1b[2Jb)", 0, NULL, "invalid address at \"?[2Jb)\": control character in address"},
    {"a@b.org, (c\\\n d)", 0, NULL,
	"invalid address at \"\\? d)\": invalid quoted character in address"},
};

static void
render(const struct addr_list *l, char *buf, size_t sz)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < l->n; i++) {
		if (i > 0)
			strlcat(buf, "; ", sz);
		strlcat(buf, l->v[i].spec, sz);
		if (l->v[i].unqualified)
			strlcat(buf, " [u]", sz);
		if (l->v[i].display != NULL) {
			strlcat(buf, " {", sz);
			strlcat(buf, l->v[i].display, sz);
			strlcat(buf, "}", sz);
		}
		if (l->v[i].comment != NULL) {
			strlcat(buf, " (", sz);
			strlcat(buf, l->v[i].comment, sz);
			strlcat(buf, ")", sz);
		}
	}
}

static void
test_parse_table(void **state)
{
	size_t i, failed = 0;

	(void)state;
	assert_true(sizeof(cases) / sizeof(cases[0]) >= 60);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		struct addr_list l;
		struct sx_err e;
		char got[2048];
		int rc;

		memset(&l, 0, sizeof(l));
		sx_clear(&e);
		rc = addr_parse_list(c->in, c->len ? c->len : strlen(c->in), &l, &e);
		if (c->want != NULL) {
			render(&l, got, sizeof(got));
			if (rc != 0 || strcmp(got, c->want) != 0) {
				print_error("case %zu: want \"%s\", got rc %d \"%s\" (%s)\n", i,
				    c->want, rc, got, e.detail);
				failed++;
			}
		} else if (rc != -1 || e.cls != SX_DATA || e.stage != STAGE_INTAKE ||
			   strcmp(e.detail, c->err) != 0) {
			print_error("case %zu: want error \"%s\", got rc %d cls %d \"%s\"\n", i,
			    c->err, rc, e.cls, e.detail);
			failed++;
		}
		addr_list_free(&l);
	}
	assert_int_equal(failed, 0);
}

struct mailbox_case {
	const char *in;
	int want;
	const char *err;
};

static const struct mailbox_case mailbox_cases[] = {
    {"user@example.com", 0, NULL},
    {"root", 1, NULL},
    {"\"a b\"@example.com", 0, NULL},
    {"\"a@b\"@example.com", 0, NULL},
    {"user@[192.0.2.1]", 0, NULL},
    {"user@[IPv6:::1]", 0, NULL},
    {"user@[x-tag:abc]", 0, NULL},
    {"\xc3\xa9t\xc3\xa9@example.fr", 0, NULL},
    {"", -1, "empty address"},
    {"a@b.org\r\nDATA", -1, "invalid address \"a@b.org??DATA\": line break in address"},
    {"a\tb@x.org", -1, "invalid address \"a b@x.org\": control character in address"},
    /* A line break is named even after another control byte. */
    {"a\x01"
     "b@x.org\nRSET",
	-1, "invalid address \"a?b@x.org?RSET\": line break in address"},
    {"a b@x.org", -1, "invalid address \"a b@x.org\": invalid local part"},
    {"a@b@c.org", -1, "invalid address \"a@b@c.org\": invalid domain"},
    {"a@", -1, "invalid address \"a@\": missing domain after '@'"},
    {"@b.org", -1, "invalid address \"@b.org\": empty local part"},
    {"\"ab@x.org", -1, "invalid address \"\"ab@x.org\": unterminated quoted local part"},
    {"\"a\"b@x.org", -1, "invalid address \"\"a\"b@x.org\": text after quoted local part"},
    {"a@x..org", -1, "invalid address \"a@x..org\": invalid domain"},
    {"a@x.org.", -1, "invalid address \"a@x.org.\": invalid domain"},
    {"a@x-.org", -1, "invalid address \"a@x-.org\": invalid domain"},
    {"a@[1.2.3]", -1, "invalid address \"a@[1.2.3]\": invalid address literal"},
    {"a@[IPv6:zz]", -1, "invalid address \"a@[IPv6:zz]\": invalid address literal"},
    {"\xc0\xaf@x.org", -1, "invalid address \"??@x.org\": invalid UTF-8 in address"},
    {"\xed\xa0\x80@x.org", -1, "invalid address \"???@x.org\": invalid UTF-8 in address"},
    {"a@" D63 "x.org", -1, "invalid address \"a@" D62 "...\": invalid domain"},
};

static void
test_check_mailbox(void **state)
{
	size_t i, failed = 0;

	(void)state;
	for (i = 0; i < sizeof(mailbox_cases) / sizeof(mailbox_cases[0]); i++) {
		const struct mailbox_case *c = &mailbox_cases[i];
		struct sx_err e;
		int rc;

		sx_clear(&e);
		rc = addr_check_mailbox(c->in, &e);
		if (rc != c->want || (c->err != NULL && strcmp(e.detail, c->err) != 0) ||
		    (c->err == NULL && e.cls != SX_OK) || (c->err != NULL && e.cls != SX_DATA)) {
			print_error("mailbox case %zu: want %d \"%s\", got %d \"%s\"\n", i, c->want,
			    c->err ? c->err : "", rc, e.detail);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void
test_check_mailbox_null(void **state)
{
	struct sx_err e;

	(void)state;
	sx_clear(&e);
	assert_int_equal(addr_check_mailbox(NULL, &e), -1);
	assert_int_equal(e.cls, SX_DATA);
	assert_string_equal(e.detail, "empty address");
}

static void
test_ascii_utf8(void **state)
{
	(void)state;
	assert_int_equal(addr_is_ascii("plain@example.com"), 1);
	assert_int_equal(addr_is_ascii(""), 1);
	assert_int_equal(addr_is_ascii("j\xc3\xb6rg@example.de"), 0);
	assert_int_equal(addr_utf8_valid("j\xc3\xb6rg", 5), 1);
	assert_int_equal(addr_utf8_valid("\xf0\x9f\x98\x80", 4), 1);
	assert_int_equal(addr_utf8_valid("\xf0\x9f\x98", 3), 0);     /* truncated */
	assert_int_equal(addr_utf8_valid("\xe0\x80\xaf", 3), 0);     /* overlong */
	assert_int_equal(addr_utf8_valid("\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
	assert_int_equal(addr_utf8_valid("\x80", 1), 0);
}

static void
test_list_add_and_free(void **state)
{
	struct addr_list l;
	struct sx_err e;
	int i;

	(void)state;
	memset(&l, 0, sizeof(l));
	sx_clear(&e);
	for (i = 0; i < 10; i++)
		assert_int_equal(addr_list_add(&l, i % 2 ? "root" : "a@b.org", i % 2, &e), 0);
	assert_int_equal(l.n, 10);
	assert_string_equal(l.v[9].spec, "root");
	assert_int_equal(l.v[9].unqualified, 1);
	assert_null(l.v[9].display);
	/* Parsing appends to what is there. */
	assert_int_equal(addr_parse_list("x@y.org", 7, &l, &e), 0);
	assert_int_equal(l.n, 11);
	assert_string_equal(l.v[10].spec, "x@y.org");
	addr_list_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
}

/*
 * local_end: where "@domain" goes for a name without one, so a header can
 * be qualified in place; shown here by inserting "@D" at each.
 */
static void
test_local_end(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
	    {"root", "root@D"},
	    {"root (Cron Daemon)", "root@D (Cron Daemon)"},
	    {"(c) www-data (d), x", "(c) www-data@D (d), x@D"},
	    {"\"Ops Team\" <ops>", "\"Ops Team\" <ops@D>"},
	    {"<\"john doe\">", "<\"john doe\"@D>"},
	    {"<x (in) >", "<x@D (in) >"},
	    {"a . b", "a . b@D"},
	    {"g: a, b@x.org;, c", "g: a@D, b@x.org;, c@D"},
	    {"<@r.org:root>", "<@r.org:root@D>"},
	    {"x@y.org,\n z", "x@y.org,\n z@D"},
	    {"x@y.org", "x@y.org"},
	};
	struct addr_list l;
	struct sx_err e;
	char out[128];
	size_t i, k, at, n;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&l, 0, sizeof(l));
		sx_clear(&e);
		assert_int_equal(addr_parse_list(t[i].in, strlen(t[i].in), &l, &e), 0);
		for (k = 0, at = 0, n = 0; k < l.n; k++) {
			if (!l.v[k].unqualified)
				continue;
			assert_true(l.v[k].local_end >= at);
			memcpy(out + n, t[i].in + at, l.v[k].local_end - at);
			n += l.v[k].local_end - at;
			memcpy(out + n, "@D", 2);
			n += 2;
			at = l.v[k].local_end;
		}
		strlcpy(out + n, t[i].in + at, sizeof(out) - n);
		assert_string_equal(out, t[i].want);
		addr_list_free(&l);
	}
}

/* A long hostile header: many addresses, deep comment nesting. */
static void
test_parse_large(void **state)
{
	struct addr_list l;
	struct sx_err e;
	size_t n = 20000, i, len = 0;
	char *buf = malloc(n * 14 + 1);

	(void)state;
	assert_non_null(buf);
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(buf + len, "u%05zu@x.org,", i);
	memset(&l, 0, sizeof(l));
	sx_clear(&e);
	assert_int_equal(addr_parse_list(buf, len, &l, &e), 0);
	assert_int_equal(l.n, n);
	assert_string_equal(l.v[n - 1].spec, "u19999@x.org");
	addr_list_free(&l);
	/* 100000 nested comments: counted, not recursed. */
	free(buf);
	buf = malloc(200004);
	assert_non_null(buf);
	memcpy(buf, "a@b ", 4);
	memset(buf + 4, '(', 100000);
	memset(buf + 100004, ')', 100000);
	assert_int_equal(addr_parse_list(buf, 200004, &l, &e), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].spec, "a@b");
	addr_list_free(&l);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_check_mailbox),
	    cmocka_unit_test(test_check_mailbox_null),
	    cmocka_unit_test(test_ascii_utf8),
	    cmocka_unit_test(test_list_add_and_free),
	    cmocka_unit_test(test_parse_large),
	    cmocka_unit_test(test_local_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
