/*
 * body.h — the message body encoder: spool bytes → SMTP DATA bytes.
 * Every line ending (LF, CRLF, or a bare CR) becomes CRLF, a line starting
 * with "." gets another "." (RFC 5321 4.5.2), and the end is CRLF.CRLF
 * exactly once.  So no bare CR or LF and no early end-of-data can reach
 * the wire, whatever the input (the SMTP smuggling class of bugs).
 * Pure and streaming: works across any chunk boundaries.
 */
#ifndef SX_BODY_H
#define SX_BODY_H

#include <stddef.h>

struct body_enc {
	int dot_stuff; /* DATA: stuff dots and end with ".\r\n"; BDAT: neither */
	int at_bol;    /* next byte starts a line */
	int prev_cr;   /* last byte was a CR already turned into CRLF */
};

/* Output never exceeds twice the input. */
#define BODY_ENC_MAX(n) (2 * (n))
/* The tail body_enc_finish() writes at most. */
#define BODY_ENC_TAIL 5

/* For DATA: dot-stuffing and the end-of-data line. */
void body_enc_init(struct body_enc *);

/* For BDAT (RFC 3030): line endings only; the chunk sizes delimit the data. */
void body_enc_init_bdat(struct body_enc *);

/* Encode len bytes into out (room for BODY_ENC_MAX(len)); returns bytes written. */
size_t body_enc_feed(struct body_enc *, const char *in, size_t len, char *out);

/* Terminate: CRLF if the last line was unterminated, then (DATA) ".\r\n". */
size_t body_enc_finish(struct body_enc *, char *out);

#endif
