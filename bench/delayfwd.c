/* delayfwd — join two network namespaces through TUN devices and delay every
 * IP packet by a fixed one-way delay, in both directions.
 *
 * The kernel here has no netem and cannot load modules, and a TCP proxy
 * would hide what the benchmark is about (Nagle, delayed ACKs, segment
 * boundaries).  This forwarder works at the IP layer: the two kernels talk
 * real TCP to each other, only later.
 *
 *   delayfwd --ns-a /run/netns/A --dev-a tA --ns-b /run/netns/B --dev-b tB
 *            [--delay-ms 25] [--queue 4096] [--max-seconds 600]
 *
 * Creates TUN device dev-a inside namespace A and dev-b inside B (non-
 * persistent: they vanish when this process exits), prints "ready" on stdout,
 * then forwards every packet read from one device to the other once it is
 * delay-ms old.  The caller configures addresses and brings the links up
 * (ip -n A addr add ... dev tA; ip -n A link set tA up; ...).  Packets larger
 * than SLOT_SIZE are dropped (keep the MTU at 1500).  When a direction's queue
 * is full the device is not read until it drains, so the kernel's own
 * tx queue absorbs or drops the excess.  Stops on SIGTERM/SIGINT/SIGHUP and
 * after --max-seconds.  Prints packet counts on stderr at exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define SLOT_SIZE 2048          /* bytes per queued packet (MTU <= 2000) */
#define MAX_QUEUE 65536         /* upper bound for --queue */
#define READ_BURST 64           /* packets read per device per wakeup */

struct slot {
	uint64_t due;           /* CLOCK_MONOTONIC ns */
	uint32_t len;
	unsigned char data[SLOT_SIZE];
};

struct queue {
	struct slot *slots;
	size_t cap, head, count;
	uint64_t forwarded, dropped;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "delayfwd: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int open_tun_in_ns(const char *nspath, const char *name)
{
	if (strlen(name) >= IFNAMSIZ) {
		fprintf(stderr, "delayfwd: device name too long: %s\n", name);
		exit(2);
	}
	int nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		die(nspath);
	if (setns(nsfd, CLONE_NEWNET) < 0)
		die("setns");
	close(nsfd);
	/* The device belongs to the namespace the fd was opened in. */
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		die("/dev/net/tun");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF");
	return fd;
}

static void queue_init(struct queue *q, size_t cap)
{
	memset(q, 0, sizeof *q);
	q->slots = calloc(cap, sizeof *q->slots);
	if (!q->slots)
		die("calloc");
	q->cap = cap;
}

/* Read up to READ_BURST packets from fd into q, stamped with their due time. */
static void fill(struct queue *q, int fd, uint64_t delay)
{
	for (int i = 0; i < READ_BURST && q->count < q->cap; i++) {
		struct slot *s = &q->slots[(q->head + q->count) % q->cap];
		ssize_t n = read(fd, s->data, sizeof s->data);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			die("read tun");
		}
		if (n == 0)
			return;
		if ((size_t)n >= sizeof s->data) {  /* possibly truncated */
			q->dropped++;
			continue;
		}
		s->len = (uint32_t)n;
		s->due = now_ns() + delay;
		q->count++;
	}
}

/* Write every packet of q that is due by now to fd. */
static void drain(struct queue *q, int fd, uint64_t now)
{
	while (q->count > 0 && q->slots[q->head].due <= now) {
		struct slot *s = &q->slots[q->head];
		ssize_t n = write(fd, s->data, s->len);
		if (n == (ssize_t)s->len)
			q->forwarded++;
		else
			q->dropped++;   /* device down or kernel queue full */
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
}

static void usage(void)
{
	fputs("usage: delayfwd --ns-a PATH --dev-a NAME --ns-b PATH --dev-b NAME\n"
	      "                [--delay-ms MS] [--queue N] [--max-seconds S]\n",
	      stderr);
	exit(2);
}

static double num_arg(const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "delayfwd: bad number: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *ns_a = NULL, *ns_b = NULL, *dev_a = NULL, *dev_b = NULL;
	double delay_ms = 25, max_seconds = 600;
	size_t qcap = 4096;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(o, "--ns-a"))
			ns_a = v;
		else if (!strcmp(o, "--ns-b"))
			ns_b = v;
		else if (!strcmp(o, "--dev-a"))
			dev_a = v;
		else if (!strcmp(o, "--dev-b"))
			dev_b = v;
		else if (!strcmp(o, "--delay-ms"))
			delay_ms = num_arg(v, 0, 10000);
		else if (!strcmp(o, "--queue"))
			qcap = (size_t)num_arg(v, 1, MAX_QUEUE);
		else if (!strcmp(o, "--max-seconds"))
			max_seconds = num_arg(v, 1, 86400);
		else
			usage();
	}
	if (!ns_a || !ns_b || !dev_a || !dev_b)
		usage();

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, &waitmask) < 0)
		die("sigprocmask");
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGHUP);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);   /* wake up on time */

	int fd_a = open_tun_in_ns(ns_a, dev_a);
	int fd_b = open_tun_in_ns(ns_b, dev_b);
	struct queue ab, ba;   /* ab: read from A, written to B */
	queue_init(&ab, qcap);
	queue_init(&ba, qcap);

	const uint64_t delay = (uint64_t)(delay_ms * 1e6);
	const uint64_t deadline = now_ns() + (uint64_t)(max_seconds * 1e9);
	printf("ready\n");
	fflush(stdout);

	while (!stop_flag) {
		uint64_t now = now_ns();
		if (now >= deadline)
			break;
		drain(&ab, fd_b, now);
		drain(&ba, fd_a, now);

		uint64_t wake = deadline;
		if (ab.count && ab.slots[ab.head].due < wake)
			wake = ab.slots[ab.head].due;
		if (ba.count && ba.slots[ba.head].due < wake)
			wake = ba.slots[ba.head].due;
		uint64_t wait = wake > now ? wake - now : 0;
		struct timespec ts = { (time_t)(wait / 1000000000u),
				       (long)(wait % 1000000000u) };
		struct pollfd pfd[2] = {
			{ fd_a, ab.count < ab.cap ? POLLIN : 0, 0 },
			{ fd_b, ba.count < ba.cap ? POLLIN : 0, 0 },
		};
		int r = ppoll(pfd, 2, &ts, &waitmask);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("ppoll");
		}
		if (pfd[0].revents & POLLIN)
			fill(&ab, fd_a, delay);
		if (pfd[1].revents & POLLIN)
			fill(&ba, fd_b, delay);
		if ((pfd[0].revents | pfd[1].revents) & (POLLERR | POLLNVAL)) {
			fputs("delayfwd: device error\n", stderr);
			break;
		}
	}
	fprintf(stderr, "delayfwd: a->b %llu forwarded %llu dropped, "
		"b->a %llu forwarded %llu dropped\n",
		(unsigned long long)ab.forwarded, (unsigned long long)ab.dropped,
		(unsigned long long)ba.forwarded, (unsigned long long)ba.dropped);
	close(fd_a);
	close(fd_b);
	free(ab.slots);
	free(ba.slots);
	return 0;
}
