/* tlscache.c — TLS session tickets kept between runs (see tlscache.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "core/fsutil.h"
#include "net/tlscache.h"

int
tlscache_dir(const char *state_dir, char *buf, size_t sz)
{
	struct sx_err ignored;
	int n;

	sx_clear(&ignored);
	if (state_dir == NULL)
		return fs_state_dir("tls", buf, sz, &ignored);
	n = snprintf(buf, sz, "%s/tls", state_dir);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/* Length-prefixed, so no two different settings hash the same input. */
static void
tlscache_add(char *buf, size_t sz, size_t *len, const char *field)
{
	int n = snprintf(buf + *len, sz - *len, "%zu:%s;",
	    field != NULL ? strlen(field) : (size_t)0, field != NULL ? field : "");

	if (n > 0)
		*len += (size_t)n < sz - *len ? (size_t)n : sz - *len - 1;
}

int
tlscache_path(const char *dir, const struct tls_params *p, unsigned port, char *buf, size_t sz)
{
	char in[4096], portstr[16], hex[2 * 32 + 1];
	unsigned char md[32];
	gnutls_datum_t d = {md, sizeof(md)};
	size_t len = 0, hexlen = sizeof(hex);
	int n;

	snprintf(portstr, sizeof(portstr), "%u", port);
	tlscache_add(in, sizeof(in), &len, p->host);
	tlscache_add(in, sizeof(in), &len, portstr);
	tlscache_add(in, sizeof(in), &len, p->trust_file != NULL ? p->trust_file : "(system)");
	tlscache_add(in, sizeof(in), &len, p->certcheck ? "check" : "nocheck");
	tlscache_add(in, sizeof(in), &len, p->fingerprint);
	tlscache_add(in, sizeof(in), &len, p->cert_file);
	tlscache_add(in, sizeof(in), &len, p->key_file);
	tlscache_add(in, sizeof(in), &len, p->priorities);
	if (len >= sizeof(in) - 1 || gnutls_hash_fast(GNUTLS_DIG_SHA256, in, len, md) < 0 ||
	    gnutls_hex_encode(&d, hex, &hexlen) < 0)
		return -1;
	n = snprintf(buf, sz, "%s/%s", dir, hex);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/*
 * Is the ticket's directory ours alone (fs_trust_fd)?  Another user who can
 * write there could swap tickets or plant a second name for one.
 */
static int
tlscache_dir_trusted(const char *path)
{
	char dir[4096], *slash;
	int fd;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir) || (slash = strrchr(dir, '/')) == NULL)
		return 0;
	*slash = '\0';
	if ((fd = fs_open_trusted_dir(dir, "ticket", NULL, STAGE_TLS)) == -1)
		return 0;
	close(fd);
	return 1;
}

int
tlscache_load(const char *path, gnutls_session_t s)
{
	struct stat sb;
	unsigned char *buf;
	gnutls_datum_t d;
	size_t len = 0;
	ssize_t n;
	int fd, ok = 0;

	if (!tlscache_dir_trusted(path) ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	/* Ours alone, or not used: a ticket lets its holder resume as us. */
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0 || sb.st_nlink != 1 || sb.st_size <= 0 ||
	    sb.st_size > TLSCACHE_MAX || (buf = malloc((size_t)sb.st_size)) == NULL) {
		close(fd);
		return 0;
	}
	while (
	    len < (size_t)sb.st_size && ((n = read(fd, buf + len, (size_t)sb.st_size - len)) > 0 ||
					    (n == -1 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	close(fd);
	/*
	 * Kept for reuse: Postfix, for one, sends no new ticket on a resumed
	 * session.  A fresh one replaces it when it comes (RFC 8446 C.4 prefers
	 * single use, for unlinkability that one client's own relay has anyway).
	 */
	d.data = buf;
	d.size = (unsigned)len;
	if (len == (size_t)sb.st_size && gnutls_session_set_data(s, d.data, d.size) == 0)
		ok = 1;
	explicit_bzero(buf, len);
	free(buf);
	return ok;
}

/* The file's directory, made 0700 when missing. */
static int
tlscache_mkdirs(const char *path, struct sx_err *e)
{
	char dir[4096];
	char *slash;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir) || (slash = strrchr(dir, '/')) == NULL)
		return -1;
	*slash = '\0';
	return fs_mkdirs(dir, "ticket", e, STAGE_TLS);
}

void
tlscache_store(const char *path, gnutls_session_t s)
{
	gnutls_datum_t d = {NULL, 0};
	struct sx_err ignored;

	/* Without a ticket in hand, get_data2 would wait for one. */
	if (gnutls_protocol_get_version(s) != GNUTLS_TLS1_3 ||
	    (gnutls_session_get_flags(s) & GNUTLS_SFLAGS_SESSION_TICKET) == 0)
		return;
	if (gnutls_session_get_data2(s, &d) < 0)
		return;
	/* Best effort: a ticket that cannot be kept costs the next resumption only. */
	sx_clear(&ignored);
	if (tlscache_mkdirs(path, &ignored) == 0 && tlscache_dir_trusted(path))
		fs_write_atomic(path, d.data, d.size, &ignored, STAGE_TLS);
	explicit_bzero(d.data, d.size);
	gnutls_free(d.data);
}

void
tlscache_forget(const char *path)
{
	unlink(path);
}
