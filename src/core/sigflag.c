/* sigflag.c — caught termination signals (see sigflag.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "core/sigflag.h"

static volatile sig_atomic_t sigflag_signo;
static int sigflag_pipe[2] = {-1, -1};
static int sigflag_held;

static void
sigflag_handler(int signo)
{
	int saved = errno;

	sigflag_signo = signo;
	/* Full pipe: a byte is already there, which is all poll() needs. */
	if (sigflag_pipe[1] != -1)
		(void)!write(sigflag_pipe[1], "", 1);
	errno = saved;
}

int
sigflag_install(void)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	struct sigaction sa;
	size_t i;

	if (sigflag_pipe[0] == -1 && pipe2(sigflag_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sigflag_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking call should return EINTR and look. */
	sa.sa_flags = 0;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) == -1)
			return -1;
	return 0;
}

int
sigflag_caught(void)
{
	return sigflag_held ? 0 : (int)sigflag_signo;
}

int
sigflag_fd(void)
{
	/* poll() ignores a negative descriptor: held signals wake nothing. */
	return sigflag_held ? -1 : sigflag_pipe[0];
}

void
sigflag_hold(int on)
{
	/* Nested: a queue runner holds across a whole attempt, the session inside it. */
	if (on)
		sigflag_held++;
	else if (sigflag_held > 0)
		sigflag_held--;
}
