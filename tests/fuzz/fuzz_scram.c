/*
 * fuzz_scram.c — the SCRAM challenge parsers on server input.
 *
 * Input: byte 0 picks the target, the rest is the server's message:
 *   0  scram_parse_challenge on a server-first-message after our
 *      client-first (nonce fixed); when it parses with a small iteration
 *      count, scram_final builds the proof from it
 *   1  scram_verify on a server-final-message after RFC 7677's exchange
 *      (16 iterations): it may accept only the right signature
 *   2  sasl_step on a 334 challenge's base64 text (SCRAM-SHA-1 step 0,
 *      CRAM-MD5, PLAIN)
 * Properties: no crash or leak, every refusal recorded with a class and a
 * stage, and nothing accepted that breaks the rules checked.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/sasl.h"
#include "smtp/scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NONCE  "rOprNGfwEbeRWgbNEkqO"
#define FIRST  "r=" NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define VERIFY "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* Above this the proof is not computed: PBKDF2 would only burn time. */
#define FZ_ITER 64

static void
fz_refused(const struct sx_err *e)
{
	if (e->cls == SX_OK || e->stage != STAGE_AUTH || e->detail[0] == '\0')
		abort();
}

static void
fz_first(const char *msg, size_t len)
{
	struct scram s;
	struct scram_challenge ch;
	struct sx_err e;
	char *out;

	sx_clear(&e);
	if (scram_first(&s, SCRAM_SHA_256, SCRAM_CB_NONE, NULL, 0, "user", NONCE, &out, &e) == -1)
		abort();
	scram_free_msg(out);
	if (scram_parse_challenge(&s, msg, len, &ch, &e) == -1) {
		fz_refused(&e);
		scram_clear(&s);
		return;
	}
	if (ch.noncelen <= strlen(NONCE) || memcmp(ch.nonce, NONCE, strlen(NONCE)) != 0 ||
	    ch.iterations < SCRAM_ITER_MIN || ch.iterations > SCRAM_ITER_MAX || ch.saltlen == 0 ||
	    ch.saltlen > SCRAM_SALT_MAX)
		abort();
	if (ch.iterations <= FZ_ITER) {
		if (scram_final(&s, "pencil", msg, len, &out, &e) == -1)
			abort();
		if (strncmp(out, "c=biws,r=" NONCE, strlen("c=biws,r=" NONCE)) != 0 ||
		    strstr(out, ",p=") == NULL)
			abort();
		scram_free_msg(out);
	}
	scram_clear(&s);
}

static void
fz_final(const char *msg, size_t len)
{
	struct scram s;
	struct sx_err e;
	char *out;

	sx_clear(&e);
	if (scram_first(&s, SCRAM_SHA_256, SCRAM_CB_NONE, NULL, 0, "user", NONCE, &out, &e) == -1)
		abort();
	scram_free_msg(out);
	if (scram_final(&s, "pencil", FIRST, strlen(FIRST), &out, &e) == -1)
		abort();
	scram_free_msg(out);
	if (scram_verify(&s, msg, len, &e) == 0) {
		/* Only the right signature, possibly followed by extensions. */
		if (len < strlen(VERIFY) || memcmp(msg, VERIFY, strlen(VERIFY)) != 0 ||
		    (len > strlen(VERIFY) && msg[strlen(VERIFY)] != ',') || !scram_verified(&s))
			abort();
	} else {
		fz_refused(&e);
		if (scram_verified(&s))
			abort();
	}
	scram_clear(&s);
}

static void
fz_step(const char *text)
{
	static const enum sasl_mech mechs[] = {SASL_SCRAM_SHA_1, SASL_CRAM_MD5, SASL_PLAIN};
	struct sasl_exchange x;
	struct sx_err e;
	char *ir, *resp;
	size_t k;

	for (k = 0; k < sizeof(mechs) / sizeof(mechs[0]); k++) {
		sx_clear(&e);
		if (sasl_begin(&x, mechs[k], "user", "pencil", SCRAM_CB_NONE, NULL, 0, &ir, &e) ==
		    -1)
			abort();
		sasl_free(ir);
		if (sasl_step(&x, text, &resp, &e) == 0)
			sasl_free(resp);
		else
			fz_refused(&e);
		sasl_exchange_clear(&x);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *msg;

	if (size < 1)
		return 0;
	/* A copy of exactly the message's bytes: reads past it are caught. */
	if ((msg = malloc(size)) == NULL)
		return 0;
	memcpy(msg, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		fz_first(msg, size - 1);
		break;
	case 1:
		fz_final(msg, size - 1);
		break;
	default:
		/* sasl_step takes the 334 text as a C string. */
		msg[size - 1] = '\0';
		fz_step(msg);
		break;
	}
	free(msg);
	return 0;
}
