/*
 * oauth2_store.c — the token store of a managed account: one JSON file,
 * mode 0600, in a 0700 directory of our own under fs_state_dir("oauth2");
 * both checked with fs_trust_fd before anything in them is believed.
 * Writers hold PATH.lock and replace the file with fs_write_atomic, so a
 * reader needs no lock (see oauth2.h).
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/oauth2.h"
#include "core/fsutil.h"
#include "core/strutil.h"

/* Largest store file read (two tokens and a date). */
#define OAUTH2_STORE_MAX (64 * 1024)

int
oauth2_store_path(
    const struct account *a, const char *state_dir, char *buf, size_t bufsz, struct sx_err *e)
{
	char dir[PATH_MAX], name[128];
	const char *acc = a->name != NULL ? a->name : "default";
	size_t i, n = 0;
	int len;

	/* As relay_state_dir: the caller's, else $SMTPS_SEND_STATE_DIR, else the rule. */
	if (state_dir == NULL && (state_dir = getenv("SMTPS_SEND_STATE_DIR")) != NULL &&
	    state_dir[0] != '/')
		state_dir = NULL;
	if (state_dir != NULL) {
		if (snprintf(dir, sizeof(dir), "%s/oauth2", state_dir) >= (int)sizeof(dir))
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "state directory name too long");
	} else if (fs_state_dir("oauth2", dir, sizeof(dir), e) == -1)
		return -1;
	/* The account's name as a file name: anything odd becomes '_'. */
	for (i = 0; acc[i] != '\0' && n < sizeof(name) - 1; i++)
		name[n++] = (acc[i] >= 'a' && acc[i] <= 'z') || (acc[i] >= 'A' && acc[i] <= 'Z') ||
				    (acc[i] >= '0' && acc[i] <= '9') || acc[i] == '-' ||
				    acc[i] == '_' || (acc[i] == '.' && i > 0)
				? acc[i]
				: '_';
	name[n] = '\0';
	len = snprintf(buf, bufsz, "%s/%s.json", dir, name);
	if (len < 0 || (size_t)len >= bufsz)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "token store name too long");
	return 0;
}

/* The directory of path, checked (and made when missing). */
static int
oauth2_store_dir(const char *path, int create, struct sx_err *e)
{
	char dir[PATH_MAX];
	char *slash;
	int fd;

	strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "token store %s: not a full path", path);
	*slash = '\0';
	if (create && fs_mkdirs(dir, "token store", e, STAGE_CONFIG) == -1)
		return -1;
	if ((fd = fs_open_trusted_dir(dir, "token store", e, STAGE_CONFIG)) == -1)
		return -1;
	close(fd);
	return 0;
}

static char *
oauth2_json_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

int
oauth2_store_read(const char *path, struct oauth2_tokens *t, struct sx_err *e)
{
	char *buf = NULL;
	json_error_t jerr;
	json_t *root = NULL, *v;
	ssize_t n;
	size_t len = 0;
	int fd, rc = -1;

	memset(t, 0, sizeof(*t));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd == -1 && errno == ENOENT)
		return 1;
	if (fd == -1)
		return fs_syserr(e, STAGE_CONFIG, errno, "cannot open token store", path);
	if (oauth2_store_dir(path, 0, e) == -1 ||
	    fs_trust_fd(fd, path, FS_TRUST_FILE, e, STAGE_CONFIG) == -1)
		goto out;
	if ((buf = malloc(OAUTH2_STORE_MAX + 1)) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto out;
	}
	while (len < OAUTH2_STORE_MAX + 1 &&
	       (n = read(fd, buf + len, OAUTH2_STORE_MAX + 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fs_syserr(e, STAGE_CONFIG, errno, "cannot read token store", path);
			goto out;
		}
		len += (size_t)n;
	}
	if (len > OAUTH2_STORE_MAX ||
	    (root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(root)) {
		sx_fail(e, SX_LOCALIO, STAGE_CONFIG, "token store %s: not a token store", path);
		sx_hint(e, "remove it and run smtps-send --oauth2-authorize again");
		goto out;
	}
	t->access_token = oauth2_json_str(root, "access_token");
	t->refresh_token = oauth2_json_str(root, "refresh_token");
	v = json_object_get(root, "expires_at");
	t->expires_at = json_is_integer(v) ? (time_t)json_integer_value(v) : 0;
	rc = 0;
out:
	if (buf != NULL) {
		explicit_bzero(buf, OAUTH2_STORE_MAX + 1);
		free(buf);
	}
	json_decref(root);
	close(fd);
	if (rc == -1)
		oauth2_tokens_free(t);
	return rc;
}

int
oauth2_store_write(const char *path, const struct oauth2_tokens *t, struct sx_err *e)
{
	json_t *root;
	char *text;
	int rc;

	if (oauth2_store_dir(path, 1, e) == -1)
		return -1;
	root = json_object();
	if (root == NULL ||
	    (t->access_token != NULL &&
		json_object_set_new(root, "access_token", json_string(t->access_token)) == -1) ||
	    (t->refresh_token != NULL &&
		json_object_set_new(root, "refresh_token", json_string(t->refresh_token)) == -1) ||
	    json_object_set_new(root, "expires_at", json_integer((json_int_t)t->expires_at)) ==
		-1 ||
	    (text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS)) == NULL) {
		json_decref(root);
		return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	}
	json_decref(root);
	rc = fs_write_atomic(path, text, strlen(text), e, STAGE_CONFIG);
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
}

int
oauth2_store_lock(const char *path, int timeout_s, struct sx_err *e)
{
	char lock[PATH_MAX];
	struct timespec pause = {0, 50 * 1000 * 1000};
	time_t end = time(NULL) + timeout_s;
	int fd;

	if (snprintf(lock, sizeof(lock), "%s.lock", path) >= (int)sizeof(lock))
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "token store name too long");
	if (oauth2_store_dir(path, 1, e) == -1)
		return -1;
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd == -1)
		return fs_syserr(e, STAGE_CONFIG, errno, "cannot open token store lock", lock);
	if (fs_trust_fd(fd, lock, FS_TRUST_FILE, e, STAGE_CONFIG) == -1) {
		close(fd);
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			fs_syserr(e, STAGE_CONFIG, errno, "cannot lock token store", lock);
			close(fd);
			return -1;
		}
		if (time(NULL) >= end) {
			close(fd);
			return sx_fail(e, SX_TEMP, STAGE_CONFIG,
			    "token store %s: still locked after %d s (another refresh)", path,
			    timeout_s);
		}
		nanosleep(&pause, NULL);
	}
	return fd;
}

void
oauth2_store_unlock(int fd)
{
	if (fd != -1)
		close(fd); /* closing drops the flock */
}

void
oauth2_tokens_free(struct oauth2_tokens *t)
{
	str_free_secret(t->access_token);
	str_free_secret(t->refresh_token);
	memset(t, 0, sizeof(*t));
}
