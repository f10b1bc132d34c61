/*
 * secret.c — an account's password from its source: the config value,
 * password_file, or a passwordeval command run with a deadline (see
 * secret.h).  The bytes are never copied into an error, and every buffer
 * that held them is wiped.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/conf_int.h"
#include "config/secret.h"
#include "core/strutil.h"

#define SECRET_WORDS_MAX 64 /* argv words of a password command */

static int secret_read_child(int, char *, size_t, size_t *, int);
static int secret_first_line(char *, size_t, const char *, char **, struct sx_err *);
static int secret_run(const char *, const char *, size_t, int, char **, struct sx_err *);

/*
 * A password command's output until EOF or max bytes, waiting at most
 * timeout_s seconds in all: 0, 1 when the time ran out, -1 on error.
 */
static int
secret_read_child(int fd, char *buf, size_t max, size_t *len, int timeout_s)
{
	struct timespec t0, now;
	size_t n = 0;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n < max) {
		struct pollfd pfd = {fd, POLLIN, 0};
		long left;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_s * 1000L - ((long)(now.tv_sec - t0.tv_sec) * 1000L +
					       (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			rc = 1;
			break;
		}
		r = poll(&pfd, 1, (int)left);
		if (r == -1 && errno != EINTR) {
			rc = -1;
			break;
		}
		if (r <= 0)
			continue;
		r = read(fd, buf + n, max - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return rc;
}

/*
 * First line of a secret buffer (len bytes) into a new string; CRLF or LF
 * stripped.  what names the source for errors; the bytes never appear.
 */
static int
secret_first_line(char *buf, size_t len, const char *what, char **out, struct sx_err *e)
{
	const char *noun = strncmp(what, "oauth2", 6) == 0 ? "output" : "password";
	size_t n;

	for (n = 0; n < len && buf[n] != '\n'; n++)
		;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: the %s is empty", what, noun);
	if (memchr(buf, '\0', n) != NULL)
		return sx_fail(
		    e, SX_CONFIG, STAGE_CONFIG, "%s: the %s contains a NUL byte", what, noun);
	if ((*out = strndup(buf, n)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	return 0;
}

/*
 * Run a password command and take the first line of its output.  Without
 * shell metacharacters it is split on blanks and run directly (no shell to
 * re-interpret it); otherwise /bin/sh -c.  stdin is /dev/null: ours is the
 * message.  Output is bounded and never copied into errors.  A command
 * silent for timeout_s seconds (a gpg prompt nobody sees under cron) is
 * killed: a temporary failure, so the message waits in the queue.
 */
static int
secret_run(
    const char *cmd, const char *what, size_t max, int timeout_s, char **out, struct sx_err *e)
{
	char *buf = malloc(max + 1);
	char *words[SECRET_WORDS_MAX + 1];
	char *copy = NULL, *tok, *save = NULL;
	int pfd[2] = {-1, -1};
	size_t n = 0, nw = 0;
	int shell, status, rc = -1, devnull, timed_out;
	pid_t pid;

	if (buf == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	shell = strpbrk(cmd, "|&;<>()$`\\\"'*?[]#~=%{}!") != NULL;
	if (!shell) {
		if ((copy = strdup(cmd)) == NULL) {
			free(buf);
			return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		}
		for (tok = strtok_r(copy, " \t", &save); tok != NULL;
		     tok = strtok_r(NULL, " \t", &save)) {
			if (nw == SECRET_WORDS_MAX) {
				free(copy);
				free(buf);
				return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: more than %d words",
				    what, SECRET_WORDS_MAX);
			}
			words[nw++] = tok;
		}
		words[nw] = NULL;
		if (nw == 0) {
			free(copy);
			free(buf);
			return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: empty command", what);
		}
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "%s: pipe: %s", what, strerror(errno));
		goto out;
	}
	if ((pid = fork()) == -1) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "%s: fork: %s", what, strerror(errno));
		goto out;
	}
	if (pid == 0) {
		devnull = open("/dev/null", O_RDONLY);
		if (devnull == -1 || dup2(devnull, 0) == -1 || dup2(pfd[1], 1) == -1)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		/* The command needs no secret of ours in its environment. */
		unsetenv("SMTPS_SEND_PASSWORD");
		unsetenv("SMTPS_SEND_OAUTH2_TOKEN");
		unsetenv("SMTPS_SEND_OAUTH2_CLIENT_SECRET");
		if (shell)
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		else
			execvp(words[0], words);
		_exit(127);
	}
	close(pfd[1]);
	pfd[1] = -1;
	timed_out = secret_read_child(pfd[0], buf, max + 1, &n, timeout_s);
	if (timed_out == -1)
		n = 0;
	if (timed_out == 1)
		kill(pid, SIGKILL);
	else if (n == max + 1)
		kill(pid, SIGTERM); /* it may block writing more */
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			sx_fail(
			    e, SX_INTERNAL, STAGE_CONFIG, "%s: waitpid: %s", what, strerror(errno));
			goto out;
		}
	if (timed_out == 1) {
		sx_fail(e, SX_TEMP, STAGE_CONFIG, "%s: no %s within %d s (killed)", what,
		    strncmp(what, "oauth2", 6) == 0 ? "token" : "password", timeout_s);
		sx_hint(e, "a command that asks for a passphrase (gpg, pass) needs its agent to "
			   "have it cached when there is no terminal, as under cron");
		goto out;
	}
	if (n == max + 1) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: output longer than %zu bytes", what, max);
		goto out;
	}
	if (WIFSIGNALED(status)) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: command killed by signal %d", what,
		    WTERMSIG(status));
		goto out;
	}
	if (WEXITSTATUS(status) == 127 || WEXITSTATUS(status) == 126) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "%s: command not found or not executable (exit status %d)", what,
		    WEXITSTATUS(status));
		goto out;
	}
	if (WEXITSTATUS(status) != 0) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s: command exited with status %d", what,
		    WEXITSTATUS(status));
		goto out;
	}
	rc = secret_first_line(buf, n, what, out, e);
out:
	explicit_bzero(buf, max + 1);
	free(buf);
	if (pfd[0] != -1)
		close(pfd[0]);
	if (pfd[1] != -1)
		close(pfd[1]);
	free(copy);
	return rc;
}

int
conf_read_secret(const struct account *a, char **secret, struct sx_err *e)
{
	*secret = NULL;
	if (a->password != NULL) {
		if ((*secret = strdup(a->password)) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		return 0;
	}
	if (a->passwordeval != NULL)
		return secret_run(a->passwordeval, "passwordeval", CONF_SECRET_MAX,
		    a->timeout > 0 ? a->timeout : CLOCK_DEFAULT_TIMEOUT_S, secret, e);
	if (a->password_file == NULL)
		return 0;
	return conf_secret_file(a->password_file, "password_file", CONF_SECRET_MAX, secret, e);
}

int
conf_secret_command(
    const char *cmd, const char *what, size_t max, int timeout_s, char **out, struct sx_err *e)
{
	*out = NULL;
	return secret_run(
	    cmd, what, max, timeout_s > 0 ? timeout_s : CLOCK_DEFAULT_TIMEOUT_S, out, e);
}

int
conf_secret_file(const char *path, const char *what, size_t max, char **out, struct sx_err *e)
{
	char *buf = malloc(max + 1);
	struct stat st;
	size_t n = 0;
	int fd, rc = -1;

	*out = NULL;
	if (buf == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s %s: %s", what, path, strerror(errno));
		free(buf);
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s %s: not a regular file", what, path);
		goto out;
	}
	if (conf_read_fd(fd, buf, max + 1, &n) == -1) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if (n == max + 1 && memchr(buf, '\n', n) == NULL) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "%s %s: first line longer than %zu bytes", what,
		    path, max);
		goto out;
	}
	rc = secret_first_line(buf, n, what, out, e);
out:
	explicit_bzero(buf, max + 1);
	free(buf);
	close(fd);
	return rc;
}

void
conf_secret_free(char *s)
{
	str_free_secret(s);
}
