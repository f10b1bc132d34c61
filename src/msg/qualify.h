/*
 * qualify.h — what a name without a domain becomes.  Cron mails a bare
 * "root", MAILTO names a user, -f says "root": none of that is a reason to
 * drop mail.
 *
 * The domain is default_domain, else the domain of the account's from,
 * else that of its user when the user is an address.  A recipient name
 * still without a domain after the aliases goes to admin_address when it
 * is set (nullmailer's adminaddr), else gets "@domain" (aliases.h).  A
 * sender, or an address in a From, To or Cc header, gets "@domain", else
 * "@host name" when the host name is fully qualified.  When none of these
 * exists it is a configuration problem (SX_CONFIG), never the message's.
 */
#ifndef SX_QUALIFY_H
#define SX_QUALIFY_H

#include "core/err.h"
#include "msg/address.h"

struct qualify {
	char *domain;           /* NULL: none configured */
	struct addr_list admin; /* admin_address, every address qualified; n 0: not set */
	char *admin_domain;     /* its first address's domain: a sender's last resort */
};

/*
 * Settle the domain and admin_address from the account's settings (each
 * may be NULL).  0, or -1 with SX_CONFIG (an admin_address that is not an
 * address list, or has a name that cannot be qualified) or SX_INTERNAL;
 * q->domain is set either way.  Free with qualify_free, also after an error.
 */
int qualify_init(struct qualify *q, const char *admin_address, const char *default_domain,
    const char *from, const char *user, struct sx_err *);

void qualify_free(struct qualify *);

/*
 * The domain for a sender or a header address: q->domain, else hostname
 * if a FQDN, else admin_address's domain, or NULL.
 */
const char *qualify_sender_domain(const struct qualify *q, const char *hostname);

/* The settings an envelope is qualified with (an account's). */
struct qualify_settings {
	const char *aliases_file; /* or NULL */
	const char *admin_address;
	const char *default_domain;
	const char *from; /* the account's from */
	const char *user;
	const char *hostname;
};

/*
 * Qualify again an envelope that was kept because a name had no domain (a
 * configuration problem the caller was told of), with today's settings:
 * the sender gets "@domain", each recipient without one goes through the
 * aliases, admin_address and "@domain" as at intake.  *from and *rcpts are
 * replaced.  0 when every address now has a domain; -1 with SX_CONFIG when
 * one still has none (the settings still give none), or SX_INTERNAL.
 */
int qualify_envelope(
    const struct qualify_settings *, char **from, char ***rcpts, size_t *nrcpts, struct sx_err *);

/*
 * The hint for "has no domain": what to set (recipient: also admin_address
 * and the aliases).
 */
const char *qualify_hint(int recipient);

#endif
