/*
 * aliases.h — the aliases file and recipient qualification.
 *
 * File format (config key "aliases"), one entry per line:
 *
 *	# comment
 *	root: admin@example.com, ops@example.com
 *	www-data: root
 *	default: catchall@example.com
 *
 * Values are RFC 5322 address lists; a line that starts with white space
 * continues the entry above.  Names match case-insensitively.  Unqualified
 * values are expanded again (at most ALIAS_DEPTH_MAX deep; a loop is an
 * error).  A name without an entry goes to "default" when there is one.
 * What stays unqualified then goes to admin_address, else gets the domain
 * (qualify.h).
 */
#ifndef SX_ALIASES_H
#define SX_ALIASES_H

#include <stddef.h>
#include <sys/types.h>

#include "core/err.h"
#include "msg/address.h"
#include "msg/qualify.h"

#define ALIAS_DEPTH_MAX  16
#define ALIAS_EXPAND_MAX 1000          /* addresses one recipient may expand to */
#define ALIAS_FILE_MAX   (1024 * 1024) /* bytes */

struct alias_entry {
	char *name;
	struct addr_list addrs;
	size_t line;
};

struct alias_table {
	char *path;
	struct alias_entry *v;
	size_t n;
	size_t cap;
	ssize_t default_idx; /* the "default" entry, or -1 */
};

/*
 * Read and parse the aliases file.  0, or -1 with SX_CONFIG (the detail
 * names file and line) or SX_INTERNAL, stage STAGE_INTAKE.  Free with
 * alias_free, also after an error.
 */
int alias_load(const char *path, struct alias_table *, struct sx_err *);

void alias_free(struct alias_table *);

/*
 * Resolve one recipient: a qualified spec is appended to out as it is; an
 * unqualified name is expanded through tab (may be NULL) and whatever stays
 * unqualified is replaced by q's admin addresses, else gets "@domain" (q
 * may be NULL).  Every address appended has passed addr_check_mailbox; a
 * name none of that can qualify is appended as it is, flagged unqualified,
 * for the caller to refuse (a configuration problem: qualify_hint(1)).
 * 0, or -1 with SX_DATA (too long once qualified), SX_CONFIG (alias loop,
 * too deep, too many addresses) or SX_INTERNAL.
 */
int alias_resolve(const struct alias_table *tab, const struct qualify *q, const char *spec,
    int unqualified, struct addr_list *out, struct sx_err *);

#endif
