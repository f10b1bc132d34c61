/*
 * runner.c — "-q30m": a queue runner in the foreground, for a container's
 * sidecar or PID 1, or a service.  It retries deferred messages when they
 * are due (exponential back-off, never longer than the interval), wakes up
 * when something changes in the queue directory (inotify) instead of
 * sleeping a whole interval, and ends cleanly on SIGTERM, SIGINT or SIGHUP
 * after the message in flight.  One runner per queue directory (a lock).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/sigflag.h"
#include "mode/run.h"
#include "store/queue.h"

/* Changes closer together than this are handled in one pass. */
#define RUNNER_SETTLE_MS 500

long
runner_interval(const char *spec)
{
	long total = 0, n;
	const char *p = spec;
	char *end;

	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		if (*p < '0' || *p > '9')
			return -1;
		errno = 0;
		n = strtol(p, &end, 10);
		if (errno != 0 || n > 100000)
			return -1;
		switch (*end) {
		case 's':
			break;
		case '\0':
		case 'm': /* sendmail: a bare number is minutes */
			n *= 60;
			break;
		case 'h':
			n *= 3600;
			break;
		case 'd':
			n *= 86400;
			break;
		case 'w':
			n *= 7 * 86400;
			break;
		default:
			return -1;
		}
		if (total > LONG_MAX / 2 - n)
			return -1;
		total += n;
		p = *end == '\0' ? end : end + 1;
	}
	return total;
}

/*
 * The runner's lock, DIR/.runner (not a message name, so the queue scan
 * passes it by).  The descriptor, -2 when another runner holds it, or -1.
 */
static int
runner_lock(const char *dir, struct sx_err *e)
{
	char path[4200];
	int fd;

	if (snprintf(path, sizeof(path), "%s/.runner", dir) >= (int)sizeof(path))
		return sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "queue path too long");
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot open", path);
	if (fs_trust_fd(fd, path, FS_TRUST_FILE, e, STAGE_QUEUE) == -1) {
		close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		if (errno == EWOULDBLOCK)
			return -2;
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot lock", path);
	}
	return fd;
}

/*
 * Wait until when (0: the interval), a change in the directory, or a
 * signal.  The changes are drained and given a moment to settle.
 */
static void
runner_wait(int ino, time_t when)
{
	struct pollfd pfd[2];
	long ms;

	ms = (long)(when - time(NULL)) * 1000;
	if (ms < 0)
		ms = 0;
	pfd[0].fd = ino;
	pfd[0].events = POLLIN;
	pfd[1].fd = sigflag_fd();
	pfd[1].events = POLLIN;
	if (poll(pfd, 2, ms > INT_MAX ? INT_MAX : (int)ms) <= 0 || !(pfd[0].revents & POLLIN))
		return;
	pfd[0].fd = -1;
	poll(pfd, 2, RUNNER_SETTLE_MS);
}

/*
 * Forget the changes seen so far: the pass that follows sees them all.
 * What changes during the pass (our own metadata writes too) wakes the
 * next wait at once, so nothing that arrives meanwhile is missed.
 */
static void
runner_drain(int ino)
{
	char buf[4096];

	if (ino != -1)
		while (read(ino, buf, sizeof(buf)) > 0)
			;
}

int
mode_runner(struct run *r, long interval, int (*pass)(struct run *, long, time_t *))
{
	struct diag_field f[2];
	struct sx_err e;
	time_t next;
	int lock, ino;

	sx_clear(&e);
	if (queue_dir_prepare(r->spool_dir, &r->err) == -1)
		return -1;
	if ((lock = runner_lock(r->spool_dir, &r->err)) == -2)
		return sx_fail(&r->err, SX_TEMP, STAGE_QUEUE,
		    "another queue runner is already running on %s", r->spool_dir);
	if (lock == -1)
		return -1;
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	/* New messages arrive by rename; a -odq one also writes its metadata. */
	if (ino == -1 || inotify_add_watch(ino, r->spool_dir, IN_MOVED_TO | IN_CLOSE_WRITE) == -1)
		diag_say(&r->diag, "runner_warning", STAGE_QUEUE, NULL, 0,
		    "queue runner: cannot watch %s (%s): checking every interval", r->spool_dir,
		    strerror(errno));
	sigflag_install();
	f[0] = (struct diag_field){"dir", r->spool_dir, 0};
	f[1] = (struct diag_field){"interval", NULL, interval};
	diag_stage_event(&r->diag, "runner_start", STAGE_QUEUE, f, 2,
	    "queue runner on %s: retries at least every %ld s", r->spool_dir, interval);
	while (!sigflag_caught()) {
		next = 0;
		runner_drain(ino);
		pass(r, interval, &next);
		if (sigflag_caught())
			break;
		if (next == 0 || next > time(NULL) + interval)
			next = time(NULL) + interval;
		runner_wait(ino, next);
	}
	f[0] = (struct diag_field){"signal", NULL, sigflag_caught()};
	diag_stage_event(&r->diag, "runner_stop", STAGE_QUEUE, f, 1,
	    "queue runner: stopped by signal %d", sigflag_caught());
	if (ino != -1)
		close(ino);
	close(lock);
	return 0;
}
