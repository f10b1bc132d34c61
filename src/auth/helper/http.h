/*
 * http.h — the companion's HTTP: one form POST to a token endpoint over
 * libcurl (GnuTLS), its JSON answer read with jansson (RFC 6749 5.1, 5.2).
 */
#ifndef SX_HELPER_HTTP_H
#define SX_HELPER_HTTP_H

#include <jansson.h>

/* What every request needs: the CA file (NULL: system) and a deadline per request. */
struct http_ctx {
	const char *trust_file;
	long timeout_s;
};

/*
 * POST url with the form fields (name, value, name, value…, NULL; a NULL
 * value leaves its field out).  *status: the HTTP status, 0 when no answer
 * came (then *why says why).  The answer's JSON object, or NULL (not JSON,
 * or no answer).  Values are escaped here; nothing is logged.
 */
json_t *http_post_form(
    const struct http_ctx *, const char *url, long *status, char *why, size_t whysz, ...);

/* Escape one query-string value (caller frees with http_free). */
char *http_escape(const char *);
void http_free(char *);

/*
 * The query of a request target ("/?a=1&b=2") parsed with libcurl's URL
 * parser; the value of name, unescaped, or NULL (caller frees, http_free).
 */
char *http_query_value(const char *target, const char *name);

#endif
