/*
 * sigflag.h — SIGTERM, SIGINT and SIGHUP during a send must not lose the
 * message: instead of dying, the process notes the signal and every network
 * wait (sock.c) fails at once with SX_TEMP "interrupted by signal", so the
 * caller records the message as queued and says where it is.
 *
 * The handler only stores the signal number and writes one byte to a
 * non-blocking self-pipe (both async-signal-safe); waits poll that pipe
 * beside their socket, so a signal that arrives just before poll() is not
 * missed.
 */
#ifndef SX_SIGFLAG_H
#define SX_SIGFLAG_H

/* Catch SIGTERM, SIGINT and SIGHUP from now on.  0, or -1 (errno set). */
int sigflag_install(void);

/* The signal caught since sigflag_install, or 0. */
int sigflag_caught(void);

/* Read end of the self-pipe for poll() (POLLIN once caught), or -1. */
int sigflag_fd(void);

/*
 * While held (on), a caught signal does not interrupt waits; it takes
 * effect when released.  Held between the end of the data and the server's
 * final reply: the message may already be accepted, and giving up then
 * would risk delivering it twice (the wait is still bounded by the timeout).
 * Holds nest: each sigflag_hold(1) is undone by one sigflag_hold(0).
 */
void sigflag_hold(int on);

#endif
