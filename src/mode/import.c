/*
 * import.c — --import-msmtprc [MSMTPRC [OUTPUT]]: msmtp's configuration
 * translated (config/msmtprc.h) to standard output, or to OUTPUT, which is
 * created (mode 0600) and never overwritten.  Needs no configuration of
 * its own; runs no command of the msmtprc.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config/msmtprc.h"
#include "core/fsutil.h"
#include "mode/run.h"

/* msmtp's user file: ~/.msmtprc, else ${XDG_CONFIG_HOME:-~/.config}/msmtp/config. */
static int
import_default(struct run *r, char *buf, size_t sz)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char alt[4096] = "";

	if (home == NULL || home[0] != '/')
		return sx_fail(&r->err, SX_USAGE, STAGE_ARGS,
		    "--import-msmtprc: HOME is not set: name the msmtprc to import");
	snprintf(buf, sz, "%s/.msmtprc", home);
	if (access(buf, F_OK) == 0)
		return 0;
	if (xdg != NULL && xdg[0] == '/')
		snprintf(alt, sizeof(alt), "%s/msmtp/config", xdg);
	else
		snprintf(alt, sizeof(alt), "%s/.config/msmtp/config", home);
	if (access(alt, F_OK) == 0) {
		strlcpy(buf, alt, sz);
		return 0;
	}
	sx_fail(
	    &r->err, SX_USAGE, STAGE_ARGS, "--import-msmtprc: neither %s nor %s exists", buf, alt);
	sx_hint(&r->err, "name the file: smtps-send --import-msmtprc FILE");
	r->exit_code = EX_NOINPUT;
	return -1;
}

/* The whole msmtprc, at most CONF_FILE_MAX bytes, in *buf (len bytes, NUL-terminated). */
static int
import_read(struct run *r, const char *path, char **buf, size_t *len)
{
	ssize_t n = 0;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1) {
		r->exit_code = EX_NOINPUT;
		return sx_fail(
		    &r->err, SX_CONFIG, STAGE_CONFIG, "cannot open %s: %s", path, strerror(errno));
	}
	if ((*buf = malloc((size_t)CONF_FILE_MAX + 2)) == NULL) {
		close(fd);
		return sx_fail(&r->err, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	}
	while (*len <= (size_t)CONF_FILE_MAX &&
	       ((n = read(fd, *buf + *len, (size_t)CONF_FILE_MAX + 1 - *len)) > 0 ||
		   (n == -1 && errno == EINTR)))
		if (n > 0)
			*len += (size_t)n;
	close(fd);
	if (n == -1) {
		r->exit_code = EX_NOINPUT;
		return sx_fail(
		    &r->err, SX_CONFIG, STAGE_CONFIG, "cannot read %s: %s", path, strerror(errno));
	}
	if (*len > (size_t)CONF_FILE_MAX)
		return sx_fail(&r->err, SX_CONFIG, STAGE_CONFIG, "%s is larger than %ld bytes",
		    path, CONF_FILE_MAX);
	(*buf)[*len] = '\0';
	return 0;
}

struct import_notes {
	struct run *r;
	const char *file;
};

/* A line not carried over as it was: on stderr (an "import" event in JSON). */
static void
import_note(void *arg, unsigned line, const char *key, const char *msg)
{
	struct import_notes *in = arg;
	struct diag_field f[3] = {{"file", in->file, 0}, {"line", NULL, line}, {"key", key, 0}};

	if (line > 0)
		diag_say(&in->r->diag, "import", STAGE_CONFIG, f, 3, "%s:%u: %s: %s", in->file,
		    line, key, msg);
	else
		diag_say(
		    &in->r->diag, "import", STAGE_CONFIG, f, 3, "%s: %s: %s", in->file, key, msg);
}

/* OUTPUT: created for us alone, never replacing a file; its directory made when missing. */
static int
import_write(struct run *r, const char *path, const char *data, size_t len)
{
	char dir[4096], *slash;
	size_t off = 0;
	ssize_t n = 0;
	int fd;

	strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (fs_mkdirs(dir, "configuration", &r->err, STAGE_CONFIG) == -1) {
			r->exit_code = EX_CANTCREAT;
			return -1;
		}
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		r->exit_code = EX_CANTCREAT;
		sx_fail(&r->err, SX_LOCALIO, STAGE_CONFIG, "cannot create %s: %s", path,
		    strerror(errno));
		if (errno == EEXIST)
			sx_hint(
			    &r->err, "it is not overwritten: move it away, or name another file");
		return -1;
	}
	while (off < len && ((n = write(fd, data + off, len - off)) > 0 || errno == EINTR))
		if (n > 0)
			off += (size_t)n;
	if (off < len || fsync(fd) == -1 || close(fd) == -1) {
		int err = errno;

		if (off < len)
			close(fd);
		unlink(path);
		r->exit_code = EX_IOERR;
		return sx_fail(
		    &r->err, SX_LOCALIO, STAGE_CONFIG, "writing %s: %s", path, strerror(err));
	}
	return 0;
}

int
mode_import(struct run *r)
{
	struct msmtprc_result res;
	struct import_notes in = {r, NULL};
	char path[4096], *text = NULL, *conf = NULL;
	const char *output = r->opt.nrcpts > 1 ? r->opt.rcpts[1] : NULL;
	size_t len = 0, conflen = 0;
	FILE *out;
	int rc = -1;

	if (r->opt.nrcpts > 0)
		strlcpy(path, r->opt.rcpts[0], sizeof(path));
	else if (import_default(r, path, sizeof(path)) == -1)
		return -1;
	in.file = path;
	if (import_read(r, path, &text, &len) == -1)
		goto out;
	if ((out = open_memstream(&conf, &conflen)) == NULL) {
		sx_fail(&r->err, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto out;
	}
	rc = msmtprc_import(text, len, path, out, import_note, &in, &res, &r->err);
	if (fclose(out) != 0 && rc == 0)
		rc = sx_fail(&r->err, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	if (rc == -1)
		goto out;
	if (output != NULL)
		rc = import_write(r, output, conf, conflen);
	else if (fwrite(conf, 1, conflen, stdout) != conflen || fflush(stdout) != 0) {
		r->exit_code = EX_IOERR;
		rc = sx_fail(&r->err, SX_LOCALIO, STAGE_CONFIG, "writing to standard output: %s",
		    strerror(errno));
	}
	if (rc == -1)
		goto out;
	diag_say(&r->diag, "note", STAGE_CONFIG, NULL, 0,
	    "%u account(s) imported from %s%s%s; %u line(s) changed or left out (the comments "
	    "say why)",
	    res.accounts, path, output != NULL ? " to " : "", output != NULL ? output : "",
	    res.notes);
	if (res.has_password && output == NULL)
		diag_say(&r->diag, "note", STAGE_CONFIG, NULL, 0,
		    "it holds a password: save it where only you can read it (mode 600), or "
		    "smtps-send refuses it");
out:
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	if (conf != NULL) {
		explicit_bzero(conf, conflen);
		free(conf);
	}
	return rc;
}
