/* diag.c — stage lines, transcript and failure report (see diag.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/diag.h"

void
diag_init(struct diag *d, FILE *out, int verbose, int json)
{
	memset(d, 0, sizeof(*d));
	d->out = out;
	d->verbose = json && verbose < 1 ? 1 : verbose;
	d->json = json;
	d->t0_ms = clock_now_ms();
}

void
diag_relay(struct diag *d, const char *host, unsigned port)
{
	d->host = host;
	d->port = port;
}

/* The wall clock, RFC 3339 in UTC with milliseconds: "2024-05-01T09:30:00.123Z". */
static void
diag_timestamp(char *buf, size_t sz)
{
	struct timespec ts;
	struct tm tm;
	char date[32];

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 || gmtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		strlcpy(buf, "1970-01-01T00:00:00.000Z", sz);
		return;
	}
	snprintf(buf, sz, "%s.%03dZ", date, (int)(ts.tv_nsec / 1000000) % 1000);
}

/*
 * Print s as a JSON string (quotes included).  Valid UTF-8 goes out as it
 * is (JSON text is UTF-8); control bytes and stray bytes are escaped.
 */
static void
diag_json_string(FILE *fp, const char *s)
{
	size_t len;
	int unsafe;

	fputc('"', fp);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(fp, "\\%c", ch);
		else if (ch >= 0x80 && (len = sx_utf8_char(s, strlen(s), &unsafe)) > 0) {
			fwrite(s, 1, len, fp);
			s += len - 1;
		} else if (ch < 0x20 || ch >= 0x7f)
			fprintf(fp, "\\u%04x", ch);
		else
			fputc(ch, fp);
	}
	fputc('"', fp);
}

/* How an event reads as text: a -v stage line, a transcript line, or a plain line. */
enum diag_form { DIAG_FORM_STAGE, DIAG_FORM_WIRE, DIAG_FORM_SAY };

static void
diag_emit_fields(struct diag *d, const char *event, enum sx_stage st, const struct diag_field *f,
    size_t nf, const char *msg, enum diag_form form)
{
	long long t = (long long)(clock_now_ms() - d->t0_ms);
	size_t i;

	if (d->json) {
		char ts[40];

		diag_timestamp(ts, sizeof(ts));
		fprintf(d->out,
		    "{\"ts\":\"%s\",\"t_ms\":%lld,\"event\":\"%s\",\"stage\":\"%s\",\"msg\":", ts,
		    t, event, sx_stage_name(st));
		diag_json_string(d->out, msg);
		for (i = 0; i < nf; i++) {
			fputc(',', d->out);
			diag_json_string(d->out, f[i].name);
			fputc(':', d->out);
			if (f[i].str != NULL)
				diag_json_string(d->out, f[i].str);
			else
				fprintf(d->out, "%lld", f[i].num);
		}
		fputs("}\n", d->out);
	} else if (form == DIAG_FORM_STAGE) {
		/* A multi-line reply keeps its lines, under the first one's text. */
		const char *line = msg, *nl = strchr(msg, '\n');
		char head[96];
		int indent;

		indent = snprintf(head, sizeof(head), "[%5lld ms] %s: ", t, sx_stage_name(st));
		fprintf(d->out, "smtps-send: %s%.*s\n", head,
		    nl != NULL ? (int)(nl - line) : (int)strlen(line), line);
		while (nl != NULL) {
			line = nl + 1;
			nl = strchr(line, '\n');
			fprintf(d->out, "smtps-send: %*s%.*s\n", indent, "",
			    nl != NULL ? (int)(nl - line) : (int)strlen(line), line);
		}
	} else if (form == DIAG_FORM_WIRE) {
		fprintf(d->out, "smtps-send:            %s\n", msg);
	} else {
		fprintf(d->out, "smtps-send: %s\n", msg);
	}
	fflush(d->out);
}

static void
diag_emit(struct diag *d, const char *event, enum sx_stage st, const char *msg)
{
	diag_emit_fields(d, event, st, NULL, 0, msg,
	    strcmp(event, "stage") == 0 ? DIAG_FORM_STAGE : DIAG_FORM_WIRE);
}

/* Format, sanitise and emit: what diag_stage, diag_stage_event and diag_say share. */
static void
diag_vemit(struct diag *d, const char *event, enum sx_stage st, const struct diag_field *f,
    size_t nf, enum diag_form form, const char *fmt, va_list ap)
{
	char buf[8192], clean[8192];

	diag_wire_flush(d);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* Newlines stay: a multi-line reply is shown as lines (diag_emit_fields). */
	sx_sanitize_text(clean, sizeof(clean), buf, strlen(buf), form == DIAG_FORM_STAGE);
	diag_emit_fields(d, event, st, f, nf, clean, form);
}

void
diag_stage(struct diag *d, enum sx_stage st, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL || d->verbose < 1)
		return;
	va_start(ap, fmt);
	diag_vemit(d, "stage", st, NULL, 0, DIAG_FORM_STAGE, fmt, ap);
	va_end(ap);
}

void
diag_stage_event(struct diag *d, const char *event, enum sx_stage st, const struct diag_field *f,
    size_t nf, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL || d->verbose < 1)
		return;
	va_start(ap, fmt);
	diag_vemit(d, event, st, f, nf, DIAG_FORM_STAGE, fmt, ap);
	va_end(ap);
}

void
diag_say(struct diag *d, const char *event, enum sx_stage st, const struct diag_field *f, size_t nf,
    const char *fmt, ...)
{
	struct diag text;
	va_list ap;

	if (d == NULL) {
		/* No diag yet (before the options are read, a unit test): text. */
		diag_init(&text, stderr, 0, 0);
		d = &text;
	}
	va_start(ap, fmt);
	diag_vemit(d, event, st, f, nf, DIAG_FORM_SAY, fmt, ap);
	va_end(ap);
}

static void
diag_wire_line(struct diag *d, int dir)
{
	char clean[DIAG_WIRE_LINE + 32];
	size_t n = d->wire_len[dir];

	if (n == 0 && !d->wire_secret[dir])
		return;
	if (n > 0 && d->wire[dir][n - 1] == '\r')
		n--;
	if (d->wire_secret[dir]) {
		/* Keep the command word ("AUTH PLAIN") and mask everything else. */
		size_t keep = 0, words = 0;

		while (keep < n && words < 2) {
			if (d->wire[dir][keep] == ' ')
				words++;
			if (words < 2)
				keep++;
		}
		if (strncmp(d->wire[dir], "AUTH ", 5) != 0)
			keep = 0;
		sx_sanitize(clean, sizeof(clean), d->wire[dir], keep, 0);
		strlcat(clean, keep > 0 ? " ********" : "********", sizeof(clean));
	} else {
		sx_sanitize_text(clean, sizeof(clean), d->wire[dir], n, 0);
		if (d->wire_cut[dir])
			strlcat(clean, "[…]", sizeof(clean));
	}
	{
		char msg[DIAG_WIRE_LINE + 64];

		snprintf(msg, sizeof(msg), "%s %s", dir == DIAG_WIRE_IN ? "<-" : "->", clean);
		diag_emit(d, dir == DIAG_WIRE_IN ? "recv" : "send", d->wire_stage[dir], msg);
	}
	d->wire_len[dir] = 0;
	d->wire_secret[dir] = 0;
	d->wire_cut[dir] = 0;
}

void
diag_wire(struct diag *d, enum diag_wire_dir dir, enum sx_stage st, const void *buf, size_t len,
    int secret)
{
	const char *p = buf;
	size_t i;

	if (d == NULL || d->verbose < 2)
		return;
	if (d->wire_len[dir] == 0 && !d->wire_secret[dir])
		d->wire_stage[dir] = st;
	if (secret)
		d->wire_secret[dir] = 1;
	for (i = 0; i < len; i++) {
		if (p[i] == '\n') {
			diag_wire_line(d, (int)dir);
			d->wire_stage[dir] = st;
			continue;
		}
		if (d->wire_len[dir] < DIAG_WIRE_LINE - 1)
			d->wire[dir][d->wire_len[dir]++] = p[i];
		else
			d->wire_cut[dir] = 1;
	}
}

void
diag_wire_flush(struct diag *d)
{
	if (d == NULL)
		return;
	diag_wire_line(d, DIAG_WIRE_IN);
	diag_wire_line(d, DIAG_WIRE_OUT);
}

/* The reply's lines and the hint, as the failure report prints them. */
static void
diag_report_reply_hint(struct diag *d, const struct sx_err *e)
{
	const char *p, *nl;

	for (p = e->reply; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl == NULL) {
			fprintf(d->out, "smtps-send: server said: %s\n", p);
			break;
		}
		fprintf(d->out, "smtps-send: server said: %.*s\n", (int)(nl - p), p);
	}
	if (e->hint[0] != '\0')
		fprintf(d->out, "smtps-send: hint: %s\n", e->hint);
}

/* A failure's reply code and enhanced code as fields (f has room for 2); how many. */
static size_t
diag_code_fields(const struct sx_err *e, struct diag_field *f)
{
	size_t nf = 0;

	if (e == NULL)
		return 0;
	if (e->reply_code != 0)
		f[nf++] = (struct diag_field){"code", NULL, e->reply_code};
	if (e->enhanced[0] != '\0')
		f[nf++] = (struct diag_field){"enhanced", e->enhanced, 0};
	return nf;
}

/* The relay as fields (f has room for 2), when set and the stage talks to it. */
static size_t
diag_relay_fields(const struct diag *d, enum sx_stage st, struct diag_field *f)
{
	if (d->host == NULL || st < STAGE_RESOLVE || st > STAGE_QUIT)
		return 0;
	f[0] = (struct diag_field){"host", d->host, 0};
	f[1] = (struct diag_field){"port", NULL, d->port};
	return 2;
}

/* The server's reply as a JSON event, with its code and enhanced code when known. */
static void
diag_json_reply(struct diag *d, const struct sx_err *e)
{
	struct diag_field f[2];
	size_t nf;

	if (e->reply[0] == '\0')
		return;
	nf = diag_code_fields(e, f);
	diag_emit_fields(d, "reply", e->stage, f, nf, e->reply, DIAG_FORM_SAY);
}

void
diag_report_queued(struct diag *d, const struct sx_err *e, const char *id)
{
	char msg[SX_DETAIL_MAX + 128];

	diag_wire_flush(d);
	snprintf(msg, sizeof(msg), "queued as %s: %s: %s; will be retried", id,
	    sx_stage_name(e->stage), e->detail);
	if (d->json) {
		struct diag_field f[5] = {{"id", id, 0}};
		size_t nf = 1;

		nf += diag_code_fields(e, f + nf);
		nf += diag_relay_fields(d, e->stage, f + nf);
		diag_emit_fields(d, "queued", e->stage, f, nf, msg, DIAG_FORM_SAY);
		diag_json_reply(d, e);
		if (e->hint[0] != '\0')
			diag_emit(d, "hint", e->stage, e->hint);
		return;
	}
	fprintf(d->out, "smtps-send: %s\n", msg);
	diag_report_reply_hint(d, e);
	fflush(d->out);
}

void
diag_report_error(struct diag *d, enum sx_stage st, const char *detail, const char *hint,
    const struct diag_field *f, size_t nf)
{
	diag_wire_flush(d);
	if (d->json) {
		diag_emit_fields(d, "error", st, f, nf, detail, DIAG_FORM_SAY);
		if (hint != NULL && hint[0] != '\0')
			diag_emit(d, "hint", st, hint);
		return;
	}
	fprintf(d->out, "smtps-send: %s: %s\n", sx_stage_name(st), detail);
	if (hint != NULL && hint[0] != '\0')
		fprintf(d->out, "smtps-send: hint: %s\n", hint);
	fflush(d->out);
}

void
diag_report_failure(struct diag *d, const struct sx_err *e, const char *context)
{
	diag_wire_flush(d);
	if (d->json) {
		struct diag_field f[4];
		size_t nf = diag_code_fields(e, f);

		nf += diag_relay_fields(d, e->stage, f + nf);
		diag_emit_fields(d, "error", e->stage, f, nf, e->detail, DIAG_FORM_SAY);
		diag_json_reply(d, e);
		if (e->hint[0] != '\0')
			diag_emit(d, "hint", e->stage, e->hint);
		if (e->note[0] != '\0')
			diag_emit(d, "note", e->stage, e->note);
		if (context != NULL && context[0] != '\0')
			diag_emit(d, "context", e->stage, context);
		return;
	}
	fprintf(d->out, "smtps-send: %s: %s\n", sx_stage_name(e->stage), e->detail);
	diag_report_reply_hint(d, e);
	if (e->note[0] != '\0')
		fprintf(d->out, "smtps-send: note: %s\n", e->note);
	if (context != NULL && context[0] != '\0')
		fprintf(d->out, "smtps-send: %s\n", context);
	fflush(d->out);
}

const char *
diag_state_name(enum diag_state s)
{
	static const char *const names[] = {"none", "sent", "queued", "failed", "held"};

	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "none";
}

void
diag_result(struct diag *d, int exit_status, enum diag_state state, const char *id,
    const struct sx_err *e, unsigned long long bytes)
{
	struct diag_field f[8];
	enum sx_stage st = e != NULL && exit_status != 0 ? e->stage : STAGE_NONE;
	char msg[128];
	size_t nf = 0;

	if (d == NULL || !d->json)
		return;
	diag_wire_flush(d);
	f[nf++] = (struct diag_field){"exit", NULL, exit_status};
	f[nf++] = (struct diag_field){"state", diag_state_name(state), 0};
	if (id != NULL && id[0] != '\0')
		f[nf++] = (struct diag_field){"id", id, 0};
	if (exit_status != 0)
		nf += diag_code_fields(e, f + nf);
	if (d->host != NULL) {
		f[nf++] = (struct diag_field){"host", d->host, 0};
		f[nf++] = (struct diag_field){"port", NULL, d->port};
	}
	if (bytes > 0 && nf < sizeof(f) / sizeof(f[0]))
		f[nf++] = (struct diag_field){"bytes", NULL, (long long)bytes};
	if (state == DIAG_STATE_NONE)
		snprintf(msg, sizeof(msg), "exit status %d", exit_status);
	else
		snprintf(msg, sizeof(msg), "%s%s%s, exit status %d", diag_state_name(state),
		    id != NULL && id[0] != '\0' ? " " : "", id != NULL ? id : "", exit_status);
	diag_emit_fields(d, "result", st, f, nf, msg, DIAG_FORM_SAY);
}
