/*
 * relay.h — the connection to the account's relay, set up the same way for
 * a send, --check, a queue flush and -bs: TLS credentials and policy, the
 * secret, the socket and the conn, and the session parameters taken from
 * the account.  The secret is read once and kept until relay_free (so -bs
 * can reopen without running passwordeval again), and core dumps are off
 * from the moment it is read.
 */
#ifndef SX_RELAY_H
#define SX_RELAY_H

#include "auth/oauth2.h"
#include "config/conf.h"
#include "net/conn.h"
#include "core/err.h"
#include "smtp/smtp.h"
#include "net/sock.h"
#include "net/tls.h"
#include "net/tlscache.h"

struct diag;

/* What the command line adds to the account. */
struct relay_opts {
	const char *hostname;   /* EHLO name when the account sets no domain */
	const char *dsn_notify; /* -N, -R, -V */
	const char *dsn_ret;
	const char *dsn_envid;
	/*
	 * Where state (TLS tickets) is kept instead of fs_state_dir's rule;
	 * NULL: $SMTPS_SEND_STATE_DIR, else the rule (relay_connect).
	 */
	const char *state_dir;
};

struct relay {
	struct tls_params tp;
	struct tls_client tc;
	struct smtp_params sp; /* ready for smtp_session / smtp_client_open */
	struct sock sk;
	struct conn c; /* the connected stream */
	char *secret;
	struct oauth2 oauth;     /* the OAuth2 token, when the account uses one (auth/oauth2.h) */
	char session_file[4096]; /* tls_resume: the ticket file for this relay */
	struct diag *diag;
	int connected;
	int early;               /* relay_start ran: sk holds its set-up, or early_err */
	struct sx_err early_err; /* the name did not resolve */
};

/*
 * Resolve and send the first connect before the work that precedes
 * relay_connect (making the spool durable, writing the metadata), so the
 * TCP handshake's round trip overlaps it.  Never fails: relay_connect
 * reports what went wrong, in the same order as without it.  The set-up is
 * dropped and made again when relay_connect comes after RELAY_EARLY_MAX_MS
 * (a very slow disk), before a server tires of waiting.
 */
#define RELAY_EARLY_MAX_MS 5000
void relay_start(struct relay *, const struct account *, struct diag *);

/*
 * Read the secret (once), load the TLS credentials and connect (or finish
 * what relay_start began).  0, or -1 with the error (SX_CONFIG, SX_NOHOST,
 * SX_TEMP…); then nothing is left open but the secret, which relay_free
 * wipes.
 */
int relay_connect(struct relay *, const struct account *, const struct relay_opts *, struct diag *,
    struct sx_err *);

/* Close the stream (TLS close_notify when it is healthy) and the credentials. */
void relay_disconnect(struct relay *);

/* relay_disconnect, and wipe the secret. */
void relay_free(struct relay *);

#endif
