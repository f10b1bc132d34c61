/*
 * tlscache.h — TLS 1.3 session tickets kept between runs (tls_resume on).
 *
 * One file per relay and verification settings, so the next connection to
 * the same host and port can resume: the server skips its certificate and
 * its signature, we skip checking them inside the handshake.  The chain
 * saved with the ticket is still checked after the handshake (tls.h,
 * tls_verify_peer), against today's trust store and clock.  Never 0-RTT
 * data.  A ticket is used until the server sends a new one (Postfix sends
 * none on a resumed session) or its lifetime ends (GnuTLS does not offer an
 * expired one).  A ticket is a secret like the password: files are 0600 in
 * a 0700 directory, checked for owner and mode before use, wiped from
 * memory.
 */
#ifndef SX_TLSCACHE_H
#define SX_TLSCACHE_H

#include <stddef.h>

#include <gnutls/gnutls.h>

#include "net/tls.h"

/* Longest ticket file read (GnuTLS' session data are a few KiB). */
#define TLSCACHE_MAX (64 * 1024)

/*
 * The ticket directory: STATE_DIR/tls when state_dir is given, else the
 * one rule for state (fs_state_dir: /var/lib/smtps-send/tls for root,
 * whatever the environment says; ${XDG_STATE_HOME:-~/.local/state}/
 * smtps-send/tls for anyone else).  0, or -1 when there is none (no HOME)
 * or it does not fit.
 */
int tlscache_dir(const char *state_dir, char *buf, size_t sz);

/*
 * The file for these settings in dir: named by a SHA-256 over host, port
 * and everything that decides whether a certificate is accepted, so a
 * changed trust file, pin or priority string never resumes an old session.
 * 0 or -1 (too long).
 */
int tlscache_path(const char *dir, const struct tls_params *, unsigned port, char *buf, size_t sz);

/* Offer the saved session, if there is a usable one: 1 offered, 0 not. */
int tlscache_load(const char *path, gnutls_session_t);

/*
 * Save the ticket a healthy TLS 1.3 session received (creating the
 * directory); nothing when none came.  Best effort: a cache that cannot be
 * written costs only the next resumption.
 */
void tlscache_store(const char *path, gnutls_session_t);

/* Forget the saved session (it resumed, then failed its check). */
void tlscache_forget(const char *path);

#endif
