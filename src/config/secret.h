/*
 * secret.h — an account's password, from wherever the configuration says
 * it is: the config value itself (password, SMTPS_SEND_PASSWORD), a file
 * (password_file) or a command (passwordeval, password_cmd).
 */
#ifndef SX_SECRET_H
#define SX_SECRET_H

#include "core/err.h"

#define CONF_SECRET_MAX 4096 /* bytes of a password (file or command output) */

struct account;

/*
 * Read the account's secret from its source into a new string the caller
 * wipes with conf_secret_free.  *secret is NULL when the account has none.
 * A command gets the account's timeout (CLOCK_DEFAULT_TIMEOUT_S when unset)
 * to answer.  Returns 0, or -1 with SX_CONFIG / STAGE_CONFIG (unreadable
 * file, command failed or exited non-zero, empty or oversized secret),
 * SX_TEMP (the command did not answer in time: killed); the secret's bytes
 * never appear in the error.  SX_INTERNAL on fork/memory.
 */
int conf_read_secret(const struct account *, char **secret, struct sx_err *);

/*
 * The same sources for other secrets (OAuth2 tokens, client secrets): the
 * first line of a command's output (run as passwordeval is, within
 * timeout_s) or of a file, at most max bytes; what names the key in
 * errors.  0, or -1 as conf_read_secret.
 */
int conf_secret_command(
    const char *cmd, const char *what, size_t max, int timeout_s, char **out, struct sx_err *);
int conf_secret_file(const char *path, const char *what, size_t max, char **out, struct sx_err *);

/* Wipe and free a secret from conf_read_secret (NULL is fine): str_free_secret. */
void conf_secret_free(char *);

#endif
