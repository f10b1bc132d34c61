/*
 * diag.h — what the user sees on stderr: one line per stage with elapsed
 * milliseconds under -v, the wire transcript under -vv (secrets masked),
 * the failure report, and the lines every mode says whatever the
 * verbosity (diag_say).  With --diag-format=json every one of them is a
 * JSON object on its own line instead: nothing else is written to stderr
 * (smtps-send(1), DIAGNOSTICS, lists the events).  Quiet when verbose is
 * 0, except diag_report_*() and diag_say().
 */
#ifndef SX_DIAG_H
#define SX_DIAG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

enum diag_wire_dir { DIAG_WIRE_IN, DIAG_WIRE_OUT };

#define DIAG_WIRE_LINE 512

struct diag {
	FILE *out;
	int verbose; /* 0 quiet, 1 stages, 2 transcript */
	int json;
	int64_t t0_ms;
	/* The relay of this run (diag_relay): named by error, queued and result events. */
	const char *host;
	unsigned port;
	/* Transcript line assembly per direction, and the stage each line began in. */
	char wire[2][DIAG_WIRE_LINE];
	size_t wire_len[2];
	int wire_secret[2];
	int wire_cut[2];
	enum sx_stage wire_stage[2];
};

void diag_init(struct diag *, FILE *out, int verbose, int json);

/*
 * The relay this run talks to (host must outlive d), so that the JSON
 * error, queued and result events can name it; NULL: none (a queue run,
 * whose messages may each go elsewhere).
 */
void diag_relay(struct diag *, const char *host, unsigned port);

/* One more field of a JSON event: a string, or the number num when str is NULL. */
struct diag_field {
	const char *name;
	const char *str;
	long long num;
};

/*
 * A line said at every verbosity (a warning, a queued message's result, a
 * summary): "smtps-send: MSG" as text; as JSON the event with its stage,
 * msg (the same text) and the fields.  d may be NULL: text on stderr.
 */
void diag_say(struct diag *, const char *event, enum sx_stage, const struct diag_field *,
    size_t nfields, const char *fmt, ...) __attribute__((__format__(printf, 6, 7)));

/* diag_stage under another event name, with fields (the queue runner's start, a result). */
void diag_stage_event(struct diag *, const char *event, enum sx_stage, const struct diag_field *,
    size_t nfields, const char *fmt, ...) __attribute__((__format__(printf, 6, 7)));

/* A stage event ("-v" line). */
void diag_stage(struct diag *, enum sx_stage, const char *fmt, ...)
    __attribute__((__format__(printf, 3, 4)));

/*
 * Bytes on the wire, for the -vv transcript; secret bytes are masked.  A
 * line's event carries the stage it began in (the command it belongs to).
 */
void diag_wire(
    struct diag *, enum diag_wire_dir, enum sx_stage, const void *buf, size_t len, int secret);

/* Flush a partial transcript line (before a stage line, or at exit). */
void diag_wire_flush(struct diag *);

/*
 * The failure report: "smtps-send: <stage>: <detail>", the server's reply
 * lines, the hint, and the context line (e.g. where the message was kept).
 */
void diag_report_failure(struct diag *, const struct sx_err *, const char *context);

/*
 * One of several errors of the same failure (every error of the
 * configuration files): "smtps-send: <stage>: <detail>" and its hint; in
 * JSON an error event with the fields, and a hint event.
 */
void diag_report_error(struct diag *, enum sx_stage, const char *detail, const char *hint,
    const struct diag_field *, size_t nfields);

/*
 * A message that was not sent now but is durably queued for retry: it has
 * been accepted (exit 0).  One line "queued as ID: <stage>: <cause>; will
 * be retried", then the server's reply and the hint, so a first-time user
 * still sees what is wrong with the set-up.
 */
void diag_report_queued(struct diag *, const struct sx_err *, const char *id);

/* What became of a run, for the final JSON result event (diag_result). */
enum diag_state {
	DIAG_STATE_NONE = 0, /* no message was taken (a usage or config error, -bp, --check) */
	DIAG_STATE_SENT,     /* the relay accepted it */
	DIAG_STATE_QUEUED,   /* accepted and queued: will be retried (or -odq) */
	DIAG_STATE_FAILED,   /* refused; kept in the queue as failed */
	DIAG_STATE_HELD      /* not sent, kept held (queue off): --flush-id after the fix */
};

const char *diag_state_name(enum diag_state);

/*
 * The last line of every run in JSON ({"event":"result","exit":N,…});
 * nothing as text.  id: the message's queue id, or NULL; e: the failure
 * (its stage, code and enhanced code), or NULL; bytes: the message's
 * size, or 0.
 */
void diag_result(struct diag *, int exit_status, enum diag_state, const char *id,
    const struct sx_err *e, unsigned long long bytes);

#endif
