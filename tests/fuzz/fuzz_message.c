/*
 * fuzz_message.c — msg_intake() reading the fuzz input from a memfd, the
 * spool in a per-process temp dir (emptied after every run, removed at
 * exit).
 *
 * Input: byte 0 policy flags (bit 0 -t, bit 1 -i, bit 2 strict line
 * length, bits 3-4 From header mode, bit 5 also a recipient in argv with
 * -t, bit 6 take the sender from the From header, bit 7 -f given), the
 * rest is the message.  Bits 1 and 2 together: no default_domain and a
 * host name that is no FQDN, so names without a domain cannot always be
 * qualified (bit 5 then sets admin_address).  Bits 0 and 4 together:
 * defer_commit.
 *
 * Checks (message.h): the spool holds no CR and, on success, ends with LF
 * and has no Bcc header; the envelope passes the mailbox checks; the SIZE
 * estimate is the spool with CRLF endings; 8-bit content is flagged; a
 * configuration problem keeps the message; a deferred spool is .tmp until
 * msg_commit, which succeeds; nothing but the reported spool is left in
 * the spool dir.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "msg/address.h"
#include "msg/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fz_dir[64];

/* Remove every file in the spool dir; returns how many there were. */
static size_t
fz_empty_dir(void)
{
	DIR *d = opendir(fz_dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char p[sizeof(fz_dir) + 300];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", fz_dir, de->d_name);
		unlink(p);
		n++;
	}
	closedir(d);
	return n;
}

static void
fz_cleanup(void)
{
	fz_empty_dir();
	rmdir(fz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	/* tmpfs when there is one: the spool fsyncs every file. */
	snprintf(fz_dir, sizeof(fz_dir), "%s/fuzz_message.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(fz_dir) == NULL)
		abort();
	setenv("TZ", "UTC", 1); /* the Date header: same bytes every run */
	atexit(fz_cleanup);
	return 0;
}

static char *
fz_slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;

	if (fd == -1 || fstat(fd, &st) == -1)
		abort();
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		abort();
	if (read(fd, buf, (size_t)st.st_size) != st.st_size)
		abort();
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Is the line at p (up to LF) a Bcc or Resent-Bcc field? */
static int
fz_is_bcc(const char *p, size_t len)
{
	size_t n = 0;

	if (len >= 7 && strncasecmp(p, "Resent-", 7) == 0)
		n = 7;
	if (len - n < 3 || strncasecmp(p + n, "Bcc", 3) != 0)
		return 0;
	for (n += 3; n < len && (p[n] == ' ' || p[n] == '\t'); n++)
		;
	return n < len && p[n] == ':';
}

static void
fz_check_spool(const struct msg_envelope *env, int ok)
{
	size_t len, i, lfs = 0;
	char *s = fz_slurp(env->spool_path, &len);
	int eight = 0, in_hdr = 1;

	if (memchr(s, '\r', len) != NULL)
		abort();
	for (i = 0; i < len; i++) {
		lfs += s[i] == '\n';
		eight |= (unsigned char)s[i] >= 0x80;
	}
	if (ok) {
		if (len == 0 || s[len - 1] != '\n')
			abort();
		if (env->wire_size != len + lfs)
			abort();
		if (eight && !env->body_8bit)
			abort();
		/* No Bcc in the header block (which ends at the first empty line). */
		for (i = 0; i < len && in_hdr;) {
			char *nl = memchr(s + i, '\n', len - i);
			size_t l = (size_t)(nl - (s + i));

			if (l == 0)
				in_hdr = 0;
			else if (fz_is_bcc(s + i, l))
				abort();
			i += l + 1;
		}
		/* The header block must end: msg_intake always writes the blank line. */
		if (in_hdr)
			abort();
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum from_header_mode modes[4] = {
	    FROM_HEADER_KEEP, FROM_HEADER_REWRITE, FROM_HEADER_OFF, FROM_HEADER_KEEP};
	char *rcpts[] = {(char *)"rcpt@example.org"};
	struct msg_policy p;
	struct msg_envelope env;
	struct sx_err e;
	size_t i, left;
	uint8_t fl;
	int fd, rc, other;

	if (size < 1)
		return 0;
	fl = data[0];
	fd = memfd_create("fuzz_message", MFD_CLOEXEC);
	if (fd == -1 || (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();

	memset(&p, 0, sizeof(p));
	p.read_recipients = fl & 1;
	p.ignore_dots = (fl >> 1) & 1;
	p.strict_line_length = (fl >> 2) & 1;
	p.from_header = modes[(fl >> 3) & 3];
	p.envelope_from = fl & 0x80 ? "sender@example.org" : NULL;
	p.account_from = (fl >> 3 & 3) == 3 ? "account@example.net" : NULL;
	p.sender_from_header = (fl >> 6) & 1;
	p.default_domain = "example.org";
	p.hostname = "host.example.org";
	if ((fl & 0x06) == 0x06) {
		p.default_domain = NULL;
		p.hostname = "myhost";
		p.admin_address = fl & 0x20 ? "admin@example.net" : NULL;
	}
	p.defer_commit = (fl & 0x11) == 0x11;
	p.local_user = "fuzz";
	p.fullname = fl & 0x80 ? "Fuzz Tester" : NULL;
	p.max_header_bytes = 64 * 1024;
	p.spool_dir = fz_dir;
	p.now = 1700000000;
	if (!p.read_recipients || (fl & 0x20)) {
		p.argv_rcpts = rcpts;
		p.n_argv_rcpts = 1;
	}

	sx_clear(&e);
	rc = msg_intake(fd, &p, &env, &e);
	close(fd);
	if (rc == 0) {
		if (env.spool_path == NULL || env.from == NULL || env.nrcpts == 0)
			abort();
		if (env.from[0] != '\0' && addr_check_mailbox(env.from, NULL) != 0)
			abort();
		for (i = 0; i < env.nrcpts; i++)
			if (addr_check_mailbox(env.rcpts[i], NULL) != 0)
				abort();
		if (!env.needs_smtputf8) {
			if (!addr_is_ascii(env.from))
				abort();
			for (i = 0; i < env.nrcpts; i++)
				if (!addr_is_ascii(env.rcpts[i]))
					abort();
		}
	} else if (rc != -1 || e.cls == SX_OK) {
		abort();
	}
	/* A configuration problem never loses the message. */
	if (rc == -1 && e.cls == SX_CONFIG && env.spool_path == NULL)
		abort();
	if (env.spool_path != NULL && p.defer_commit) {
		/* Still .tmp, and locked: commit it, the lock stays. */
		if (env.spool_tmp == NULL || env.spool_fd < 0 ||
		    access(env.spool_path, F_OK) == 0 || access(env.spool_tmp, F_OK) != 0)
			abort();
		sx_clear(&e);
		if (msg_commit(&env, &e) != 0 || env.spool_tmp != NULL || env.spool_fd < 0)
			abort();
		if ((other = open(env.spool_path, O_RDONLY | O_CLOEXEC)) == -1 ||
		    flock(other, LOCK_EX | LOCK_NB) == 0)
			abort();
		close(other);
	} else if (env.spool_path != NULL && (env.spool_tmp != NULL || env.spool_fd != -1))
		abort();
	if (env.spool_path != NULL) {
		fz_check_spool(&env, rc == 0);
		if (unlink(env.spool_path) == -1)
			abort();
	}
	/* Nothing else may be left: a failed intake removes its temp file. */
	left = fz_empty_dir();
	msg_envelope_free(&env);
	if (left != 0)
		abort();
	return 0;
}
