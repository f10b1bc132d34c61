/* maillog.c — the per-attempt log line (see maillog.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/diag.h"
#include "store/maillog.h"

/*
 * Append "key=value".  The value is sanitised, and quoted when it is
 * empty or holds a space, a quote or a backslash; inside the quotes ' and
 * \ are escaped, so no value (a server reply, a recipient) can end its
 * field early and forge another (" result=sent").
 */
static void
maillog_kv(char *buf, size_t sz, const char *key, const char *val)
{
	char clean[1024], quoted[2 * sizeof(clean) + 3];
	size_t n = strlen(buf), i, q = 0;
	int quote;

	sx_sanitize(clean, sizeof(clean), val, strlen(val), 0);
	quote = clean[0] == '\0' || strpbrk(clean, " '\\") != NULL;
	if (quote)
		quoted[q++] = '\'';
	for (i = 0; clean[i] != '\0'; i++) {
		if (clean[i] == '\'' || clean[i] == '\\')
			quoted[q++] = '\\';
		quoted[q++] = clean[i];
	}
	if (quote)
		quoted[q++] = '\'';
	quoted[q] = '\0';
	snprintf(buf + n, sz - n, "%s%s=%s", n > 0 ? " " : "", key, quoted);
}

char *
maillog_format(const struct account *a, const struct maillog_entry *le, char *buf, size_t sz)
{
	char tmp[1024];
	size_t i;

	buf[0] = '\0';
	maillog_kv(buf, sz, "account", a->name != NULL ? a->name : "default");
	maillog_kv(buf, sz, "host", a->host != NULL ? a->host : "");
	snprintf(tmp, sizeof(tmp), "%u", a->port);
	maillog_kv(buf, sz, "port", tmp);
	maillog_kv(buf, sz, "tls", conf_tls_name(a->tls));
	maillog_kv(buf, sz, "user", a->user != NULL ? a->user : "");
	maillog_kv(buf, sz, "from", le->from != NULL ? le->from : "");
	tmp[0] = '\0';
	for (i = 0; i < le->nrcpts; i++) {
		if (i > 0)
			strlcat(tmp, ",", sizeof(tmp));
		strlcat(tmp, le->rcpts[i], sizeof(tmp));
	}
	maillog_kv(buf, sz, "recipients", tmp);
	snprintf(tmp, sizeof(tmp), "%llu", le->size);
	maillog_kv(buf, sz, "mailsize", tmp);
	snprintf(tmp, sizeof(tmp), "%ld", le->duration_ms);
	maillog_kv(buf, sz, "duration_ms", tmp);
	if (le->reply_code > 0) {
		snprintf(tmp, sizeof(tmp), "%d", le->reply_code);
		maillog_kv(buf, sz, "smtpstatus", tmp);
	}
	if (le->reply != NULL && le->reply[0] != '\0') {
		/* The first line of the reply is the part worth keeping (queue id). */
		snprintf(tmp, sizeof(tmp), "%.*s", (int)strcspn(le->reply, "\n"), le->reply);
		maillog_kv(buf, sz, "smtpmsg", tmp);
	}
	if (le->err == NULL) {
		maillog_kv(buf, sz, "result", "sent");
	} else {
		const char *result = le->result != NULL ? le->result : "failed";

		maillog_kv(buf, sz, "result", result);
		maillog_kv(buf, sz, "stage", sx_stage_name(le->err->stage));
		maillog_kv(buf, sz, "errormsg", le->err->detail);
		if (strcmp(result, "queued") != 0) {
			snprintf(tmp, sizeof(tmp), "%d", sx_exitcode(le->err));
			maillog_kv(buf, sz, "exitcode", tmp);
		}
		if (le->kept != NULL)
			maillog_kv(buf, sz, "kept", le->kept);
	}
	return buf;
}

/*
 * The log file, appended to.  Never through a symbolic link, never a file
 * with another name for it (a hard link) or of another owner: in a
 * directory others can write, either would let them point our writes at
 * a file of their choice.
 */
static FILE *
maillog_open(const char *path, struct diag *d)
{
	struct diag_field f[2];
	const char *why = NULL;
	struct stat sb;
	FILE *fp;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd == -1)
		why = errno == ELOOP ? "it is a symbolic link" : strerror(errno);
	else if (fstat(fd, &sb) == -1)
		why = strerror(errno);
	else if (!S_ISREG(sb.st_mode))
		why = "not a regular file";
	else if (sb.st_uid != geteuid())
		why = "it belongs to another user";
	else if (sb.st_nlink != 1)
		why = "it has more than one name (hard link)";
	if (why == NULL && (fp = fdopen(fd, "a")) != NULL)
		return fp;
	if (why == NULL)
		why = strerror(errno);
	f[0] = (struct diag_field){"file", path, 0};
	f[1] = (struct diag_field){"reason", why, 0};
	diag_say(d, "log_error", STAGE_NONE, f, 2, "log: not writing log file %s: %s", path, why);
	if (fd != -1)
		close(fd);
	return NULL;
}

void
maillog_write(const struct account *a, const struct maillog_entry *le)
{
	char line[4096];

	if (!a->syslog && a->logfile == NULL)
		return;
	maillog_format(a, le, line, sizeof(line));
	if (a->syslog) {
		openlog("smtps-send", LOG_PID, a->syslog_facility);
		syslog(le->err == NULL ? LOG_INFO : LOG_ERR, "%s", line);
		closelog();
	}
	if (a->logfile != NULL) {
		char stamp[64];
		time_t now = time(NULL);
		struct tm tm;
		FILE *fp;

		if (strcmp(a->logfile, "-") == 0)
			fp = stdout;
		else if ((fp = maillog_open(a->logfile, le->diag)) == NULL)
			return;
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%b %d %H:%M:%S", &tm);
		fprintf(fp, "%s %s\n", stamp, line);
		if (fp != stdout)
			fclose(fp);
		else
			fflush(fp);
	}
}
