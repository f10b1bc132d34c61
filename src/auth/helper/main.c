/*
 * smtps-send-oauth2 — the OAuth2 companion of smtps-send (see
 * src/auth/oauth2.h): reads one JSON request on stdin, answers one JSON
 * object on stdout, speaks HTTP to the token endpoints (libcurl, so that
 * smtps-send itself need not link it).  Messages for the user (the URL or
 * code to authorize) go to stderr.  Never prints a token or a secret.
 *
 * ops: "token": the store's access token while good (and not the one the
 * server refused: "rejected", its SHA-256), else one from the refresh
 * token (kept, or replaced when the endpoint rotates it) or from client
 * credentials; under the store's lock, so concurrent callers refresh once.
 * "authorize": the device flow (RFC 8628) or the browser flow (authorization
 * code with PKCE, loopback redirect, RFC 7636 and 8252); the tokens stored.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "auth/helper/http.h"
#include "auth/oauth2.h"
#include "core/diag.h"
#include "core/strutil.h"

#define REQUEST_MAX (64 * 1024)

/* The request, as read. */
/* Where the prompts go: stderr, as text or as the run's JSON events (read_request). */
static struct diag prompt;

struct req {
	const char *op, *store, *flow, *provider;
	const char *token_url, *auth_url, *device_url, *scope;
	const char *client_id, *client_secret, *user, *rejected;
	long timeout, wait;
	struct http_ctx http;
};

/* Answer an error and exit: class is auth, temp, config, localio or internal. */
static void __attribute__((__noreturn__, __format__(printf, 3, 4)))
fail(const char *cls, const char *hint, const char *fmt, ...)
{
	char msg[1024];
	json_t *ans;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ans = json_pack("{s:s, s:s}", "error", msg, "class", cls);
	if (ans != NULL && hint != NULL)
		json_object_set_new(ans, "hint", json_string(hint));
	if (ans != NULL)
		json_dumpf(ans, stdout, JSON_COMPACT);
	fflush(stdout);
	exit(1);
}

static void
fail_err(const struct sx_err *e)
{
	const char *cls = e->cls == SX_TEMP      ? "temp"
			  : e->cls == SX_CONFIG  ? "config"
			  : e->cls == SX_LOCALIO ? "localio"
						 : "internal";

	fail(cls, e->hint[0] != '\0' ? e->hint : NULL, "%s", e->detail);
}

/* Answer the token and exit. */
static void __attribute__((__noreturn__)) answer(const struct oauth2_tokens *t)
{
	json_t *ans = json_pack(
	    "{s:s, s:I}", "access_token", t->access_token, "expires_at", (json_int_t)t->expires_at);

	if (ans == NULL)
		fail("internal", NULL, "out of memory");
	json_dumpf(ans, stdout, JSON_COMPACT);
	fflush(stdout);
	exit(0);
}

static const char *
str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	return s != NULL && s[0] != '\0' ? s : NULL;
}

static json_t *
read_request(struct req *r)
{
	static char buf[REQUEST_MAX + 1];
	json_error_t jerr;
	size_t n = 0;
	ssize_t k;
	json_t *o;

	while (n < sizeof(buf) && (k = read(0, buf + n, sizeof(buf) - n)) != 0) {
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1)
			fail("internal", NULL, "reading the request: %s", strerror(errno));
		n += (size_t)k;
	}
	if (n > REQUEST_MAX || (o = json_loadb(buf, n, 0, &jerr)) == NULL || !json_is_object(o))
		fail("usage", "smtps-send-oauth2 is run by smtps-send, not by hand",
		    "the request is not a JSON object");
	explicit_bzero(buf, n);
	memset(r, 0, sizeof(*r));
	r->op = str(o, "op");
	r->store = str(o, "store");
	r->flow = str(o, "flow");
	r->provider = str(o, "provider");
	r->token_url = str(o, "token_url");
	r->auth_url = str(o, "auth_url");
	r->device_url = str(o, "device_url");
	r->scope = str(o, "scope");
	r->client_id = str(o, "client_id");
	r->client_secret = str(o, "client_secret");
	r->user = str(o, "user");
	r->rejected = str(o, "rejected");
	r->http.trust_file = str(o, "trust_file");
	r->timeout = json_integer_value(json_object_get(o, "timeout"));
	r->wait = json_integer_value(json_object_get(o, "wait"));
	if (r->timeout <= 0)
		r->timeout = 60;
	if (r->wait <= 0)
		r->wait = 600;
	r->http.timeout_s = r->timeout;
	diag_init(&prompt, stderr, 0, json_is_true(json_object_get(o, "json")));
	if (json_is_integer(json_object_get(o, "t0_ms")))
		prompt.t0_ms = json_integer_value(json_object_get(o, "t0_ms"));
	if (r->op == NULL || r->store == NULL || r->token_url == NULL || r->client_id == NULL)
		fail("usage", NULL, "the request lacks op, store, token_url or client_id");
	return o;
}

static void
token_id(const char *token, char *hex)
{
	unsigned char md[32];
	size_t i;

	hex[0] = '\0';
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), md) < 0)
		return;
	for (i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/*
 * An endpoint's error answer (RFC 6749 5.2) as our failure: invalid_grant
 * (revoked, expired refresh token or code) is an authentication failure
 * the user must fix; a server error or no answer is temporary.
 */
static void __attribute__((__noreturn__))
endpoint_failed(const char *what, json_t *ans, long status, const char *why)
{
	const char *err = ans != NULL ? str(ans, "error") : NULL;
	const char *desc = ans != NULL ? str(ans, "error_description") : NULL;
	char clean[300] = "", cerr[64] = "";

	if (desc != NULL)
		sx_sanitize(clean, sizeof(clean), desc, strlen(desc), 0);
	if (err != NULL)
		sx_sanitize(cerr, sizeof(cerr), err, strlen(err), 0);
	if (status == 0 || status >= 500 || err == NULL)
		fail("temp", NULL, "%s: the token endpoint did not answer (%s)", what,
		    status == 0     ? why
		    : status >= 500 ? "server error"
				    : why);
	if (strcmp(err, "invalid_grant") == 0)
		fail("auth",
		    "the authorization was revoked or has expired: run smtps-send "
		    "--oauth2-authorize "
		    "(with -a ACCOUNT) again",
		    "%s: refused by the token endpoint (HTTP %ld, %s%s%s)", what, status, cerr,
		    clean[0] != '\0' ? ": " : "", clean);
	if (strcmp(err, "invalid_client") == 0 || strcmp(err, "unauthorized_client") == 0 ||
	    strcmp(err, "invalid_scope") == 0)
		fail("config", "check oauth2_client_id, the client secret and oauth2_scope",
		    "%s: refused by the token endpoint (HTTP %ld, %s%s%s)", what, status, cerr,
		    clean[0] != '\0' ? ": " : "", clean);
	fail("auth", NULL, "%s: refused by the token endpoint (HTTP %ld, %s%s%s)", what, status,
	    cerr, clean[0] != '\0' ? ": " : "", clean);
}

/*
 * A successful token answer into t: access token, expiry, and the refresh
 * token when the endpoint sent one (rotation), else the old one kept.
 */
static void
take_tokens(json_t *ans, struct oauth2_tokens *t)
{
	const char *at = str(ans, "access_token"), *rt = str(ans, "refresh_token");
	json_t *exp = json_object_get(ans, "expires_in");
	long long in = json_is_integer(exp)  ? (long long)json_integer_value(exp)
		       : json_is_string(exp) ? strtoll(json_string_value(exp), NULL, 10)
					     : 0;

	if (at == NULL)
		fail("temp", NULL, "the token endpoint's answer has no access_token");
	str_free_secret(t->access_token);
	if ((t->access_token = strdup(at)) == NULL)
		fail("internal", NULL, "out of memory");
	if (rt != NULL) {
		str_free_secret(t->refresh_token);
		if ((t->refresh_token = strdup(rt)) == NULL)
			fail("internal", NULL, "out of memory");
	}
	t->expires_at = in > 0 ? time(NULL) + (time_t)in : 0;
}

static void
store_tokens(const struct req *r, const struct oauth2_tokens *t)
{
	struct sx_err e;

	sx_clear(&e);
	if (oauth2_store_write(r->store, t, &e) == -1)
		fail_err(&e);
}

static void __attribute__((__noreturn__)) op_token(const struct req *r)
{
	struct oauth2_tokens t;
	struct sx_err e;
	char id[65], why[CURL_ERROR_SIZE + 64];
	long status;
	json_t *ans;
	int lock, rc;

	sx_clear(&e);
	if ((lock = oauth2_store_lock(r->store, (int)(2 * r->timeout), &e)) == -1)
		fail_err(&e);
	if ((rc = oauth2_store_read(r->store, &t, &e)) == -1)
		fail_err(&e);
	/* Another process may have refreshed while we waited for the lock. */
	if (t.access_token != NULL &&
	    (t.expires_at == 0 || t.expires_at > time(NULL) + OAUTH2_EXPIRY_MARGIN)) {
		token_id(t.access_token, id);
		if (r->rejected == NULL || strcmp(id, r->rejected) != 0)
			answer(&t);
	}
	if (strcmp(r->flow != NULL ? r->flow : "", "client_credentials") == 0) {
		ans = http_post_form(&r->http, r->token_url, &status, why, sizeof(why),
		    "grant_type", "client_credentials", "client_id", r->client_id, "client_secret",
		    r->client_secret, "scope", r->scope, (char *)NULL);
		if (ans == NULL || status != 200)
			endpoint_failed("client credentials", ans, status, why);
	} else {
		if (t.refresh_token == NULL)
			fail("config",
			    "run smtps-send --oauth2-authorize (with -a ACCOUNT) once, at a "
			    "terminal",
			    "no refresh token in %s: the account was never authorized", r->store);
		/* Google takes no scope here; Microsoft wants it. */
		ans = http_post_form(&r->http, r->token_url, &status, why, sizeof(why),
		    "grant_type", "refresh_token", "refresh_token", t.refresh_token, "client_id",
		    r->client_id, "client_secret", r->client_secret, "scope",
		    r->provider != NULL && strcmp(r->provider, "google") == 0 ? NULL : r->scope,
		    (char *)NULL);
		if (ans == NULL || status != 200)
			endpoint_failed("refreshing the access token", ans, status, why);
	}
	take_tokens(ans, &t);
	json_decref(ans);
	store_tokens(r, &t);
	oauth2_store_unlock(lock);
	answer(&t);
}

/* base64url without padding (RFC 7636 appendix A). */
static void
b64url(const unsigned char *in, size_t len, char *out, size_t outsz)
{
	gnutls_datum_t d = {(unsigned char *)(uintptr_t)in, (unsigned)len}, o = {NULL, 0};
	size_t i, n = 0;

	out[0] = '\0';
	if (gnutls_base64_encode2(&d, &o) < 0)
		fail("internal", NULL, "base64 failed");
	for (i = 0; i < o.size && n + 1 < outsz; i++) {
		char c = (char)o.data[i];

		if (c == '=')
			break;
		out[n++] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	out[n] = '\0';
	gnutls_free(o.data);
}

static void
random_b64url(char *out, size_t outsz, size_t bytes)
{
	unsigned char rnd[64];

	if (bytes > sizeof(rnd) || gnutls_rnd(GNUTLS_RND_KEY, rnd, bytes) < 0)
		fail("internal", NULL, "no random bytes");
	b64url(rnd, bytes, out, outsz);
}

static void __attribute__((__noreturn__)) finish_authorize(const struct req *r, json_t *ans)
{
	struct oauth2_tokens t;
	struct sx_err e;
	int lock;

	memset(&t, 0, sizeof(t));
	sx_clear(&e);
	take_tokens(ans, &t);
	if (t.refresh_token == NULL)
		diag_say(&prompt, "warning", STAGE_AUTH, NULL, 0,
		    "the provider sent no refresh token: the access token will have to be "
		    "authorized again when it expires");
	if ((lock = oauth2_store_lock(r->store, (int)(2 * r->timeout), &e)) == -1)
		fail_err(&e);
	store_tokens(r, &t);
	oauth2_store_unlock(lock);
	answer(&t);
}

/* RFC 8628: show the code, poll the token endpoint until the user has said yes. */
static void __attribute__((__noreturn__)) op_device(const struct req *r)
{
	char why[CURL_ERROR_SIZE + 64];
	const char *uri, *code, *dev;
	long status, interval;
	time_t end;
	json_t *ans, *d, *v;

	if (r->device_url == NULL)
		fail("config", "set oauth2_device_url, or oauth2_flow browser",
		    "no device authorization endpoint");
	d = http_post_form(&r->http, r->device_url, &status, why, sizeof(why), "client_id",
	    r->client_id, "scope", r->scope, (char *)NULL);
	if (d == NULL || status != 200)
		endpoint_failed("device authorization", d, status, why);
	uri = str(d, "verification_uri") != NULL ? str(d, "verification_uri")
						 : str(d, "verification_url");
	code = str(d, "user_code");
	dev = str(d, "device_code");
	if (uri == NULL || code == NULL || dev == NULL)
		fail("temp", NULL, "the device authorization answer lacks its code or URL");
	v = json_object_get(d, "interval");
	interval = json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 5;
	v = json_object_get(d, "expires_in");
	end = time(NULL) + (json_is_integer(v) && json_integer_value(v) < r->wait
				   ? json_integer_value(v)
				   : r->wait);
	if (prompt.json) {
		struct diag_field f[] = {
		    {"url", uri, 0}, {"code", code, 0}, {"wait", NULL, end - time(NULL)}};

		diag_say(&prompt, "authorize", STAGE_AUTH, f, 3,
		    "to authorize smtps-send%s%s, open %s and enter the code %s (waiting up to "
		    "%lld s)",
		    r->user != NULL ? " for " : "", r->user != NULL ? r->user : "", uri, code,
		    (long long)(end - time(NULL)));
	} else
		fprintf(stderr,
		    "To authorize smtps-send%s%s, open\n\n    %s\n\nand enter the code\n\n    "
		    "%s\n\n(waiting up to %lld s)\n",
		    r->user != NULL ? " for " : "", r->user != NULL ? r->user : "", uri, code,
		    (long long)(end - time(NULL)));
	for (;;) {
		const char *err;

		if (time(NULL) + interval > end)
			fail("temp", "run smtps-send --oauth2-authorize again",
			    "the device code expired before it was entered");
		sleep((unsigned)interval);
		ans =
		    http_post_form(&r->http, r->token_url, &status, why, sizeof(why), "grant_type",
			"urn:ietf:params:oauth:grant-type:device_code", "device_code", dev,
			"client_id", r->client_id, "client_secret", r->client_secret, (char *)NULL);
		if (ans != NULL && status == 200)
			break;
		err = ans != NULL ? str(ans, "error") : NULL;
		if (err != NULL && strcmp(err, "authorization_pending") == 0) {
			json_decref(ans);
			continue;
		}
		if (err != NULL && strcmp(err, "slow_down") == 0) {
			interval += 5;
			json_decref(ans);
			continue;
		}
		if (err != NULL &&
		    (strcmp(err, "access_denied") == 0 || strcmp(err, "expired_token") == 0))
			fail("auth", "run smtps-send --oauth2-authorize again",
			    "the authorization was %s",
			    strcmp(err, "access_denied") == 0 ? "denied" : "not given in time");
		endpoint_failed("device authorization", ans, status, why);
	}
	json_decref(d);
	finish_authorize(r, ans);
}

/* Wait for the browser's redirect to our loopback port; the request target in buf. */
static int
wait_redirect(int ls, time_t end, char *target, size_t targetsz)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: "
				 "close\r\n\r\nsmtps-send: done; you can close this window.\n";
	static const char nf[] = "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n";

	for (;;) {
		struct pollfd pfd = {ls, POLLIN, 0};
		char head[8192], *sp1, *sp2;
		size_t n = 0;
		ssize_t k;
		int s;

		if (time(NULL) >= end)
			return -1;
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if ((s = accept(ls, NULL, NULL)) == -1)
			continue;
		/* The request line is all we need; a browser sends it at once. */
		while (n < sizeof(head) - 1 && memchr(head, '\n', n) == NULL) {
			struct pollfd cp = {s, POLLIN, 0};

			if (poll(&cp, 1, 5000) <= 0 ||
			    (k = read(s, head + n, sizeof(head) - 1 - n)) <= 0)
				break;
			n += (size_t)k;
		}
		head[n] = '\0';
		head[strcspn(head, "\r\n")] = '\0';
		sp1 = strchr(head, ' ');
		sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
		if (strncmp(head, "GET ", 4) != 0 || sp2 == NULL || sp1[1] != '/' ||
		    strstr(sp1, "state=") == NULL) {
			(void)!write(s, nf, sizeof(nf) - 1);
			close(s);
			continue;
		}
		*sp2 = '\0';
		strlcpy(target, sp1 + 1, targetsz);
		(void)!write(s, ok, sizeof(ok) - 1);
		close(s);
		explicit_bzero(head, sizeof(head));
		return 0;
	}
}

/* RFC 8252 + RFC 7636: the browser flow, with a loopback redirect and PKCE. */
static void __attribute__((__noreturn__)) op_browser(const struct req *r)
{
	char verifier[64], challenge[64], state[32], redirect[64], why[CURL_ERROR_SIZE + 64];
	char *url = NULL, *e_id, *e_redir, *e_scope, *e_hint = NULL, target[8192];
	char *code, *got_state, *error;
	unsigned char md[32];
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	long status;
	json_t *ans;
	int ls;

	if (r->auth_url == NULL)
		fail("config", "set oauth2_auth_url, or oauth2_flow device",
		    "no authorization endpoint");
	random_b64url(verifier, sizeof(verifier), 32);
	random_b64url(state, sizeof(state), 16);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, verifier, strlen(verifier), md) < 0)
		fail("internal", NULL, "SHA-256 failed");
	b64url(md, sizeof(md), challenge, sizeof(challenge));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(ls, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(ls, 4) == -1 ||
	    getsockname(ls, (struct sockaddr *)&sin, &sl) == -1)
		fail("localio", NULL, "cannot listen on 127.0.0.1: %s", strerror(errno));
	snprintf(redirect, sizeof(redirect), "http://127.0.0.1:%u/", ntohs(sin.sin_port));
	e_id = http_escape(r->client_id);
	e_redir = http_escape(redirect);
	e_scope = http_escape(r->scope != NULL ? r->scope : "");
	if (r->user != NULL)
		e_hint = http_escape(r->user);
	if (e_id == NULL || e_redir == NULL || e_scope == NULL ||
	    asprintf(&url,
		"%s%sresponse_type=code&client_id=%s&redirect_uri=%s&scope=%s&state=%s"
		"&code_challenge=%s&code_challenge_method=S256%s%s%s",
		r->auth_url, strchr(r->auth_url, '?') != NULL ? "&" : "?", e_id, e_redir, e_scope,
		state, challenge, e_hint != NULL ? "&login_hint=" : "",
		e_hint != NULL ? e_hint : "",
		r->provider != NULL && strcmp(r->provider, "google") == 0
		    ? "&access_type=offline&prompt=consent"
		    : "") == -1)
		fail("internal", NULL, "out of memory");
	if (prompt.json) {
		struct diag_field f[] = {{"url", url, 0}, {"wait", NULL, r->wait}};

		diag_say(&prompt, "authorize", STAGE_AUTH, f, 2,
		    "to authorize smtps-send%s%s, open %s in a browser on this machine (waiting "
		    "up to %ld s for the answer on %s)",
		    r->user != NULL ? " for " : "", r->user != NULL ? r->user : "", url, r->wait,
		    redirect);
	} else
		fprintf(stderr,
		    "To authorize smtps-send%s%s, open this URL in a browser on this "
		    "machine:\n\n    %s\n\n(waiting up to %ld s for the answer on %s)\n",
		    r->user != NULL ? " for " : "", r->user != NULL ? r->user : "", url, r->wait,
		    redirect);
	if (wait_redirect(ls, time(NULL) + r->wait, target, sizeof(target)) == -1)
		fail("temp", "run smtps-send --oauth2-authorize again",
		    "no answer from the browser within %ld s", r->wait);
	close(ls);
	got_state = http_query_value(target, "state");
	error = http_query_value(target, "error");
	code = http_query_value(target, "code");
	if (got_state == NULL || strcmp(got_state, state) != 0)
		fail("auth", "run smtps-send --oauth2-authorize again",
		    "the redirect's state does not match (not our request)");
	if (code == NULL) {
		char clean[64] = "";

		if (error != NULL)
			sx_sanitize(clean, sizeof(clean), error, strlen(error), 0);
		fail("auth", "run smtps-send --oauth2-authorize again", "authorization refused%s%s",
		    error != NULL ? ": " : "", clean);
	}
	ans = http_post_form(&r->http, r->token_url, &status, why, sizeof(why), "grant_type",
	    "authorization_code", "code", code, "redirect_uri", redirect, "client_id", r->client_id,
	    "client_secret", r->client_secret, "code_verifier", verifier, (char *)NULL);
	http_free(code);
	if (ans == NULL || status != 200)
		endpoint_failed("authorization code", ans, status, why);
	finish_authorize(r, ans);
}

int
main(void)
{
	struct req r;
	json_t *o;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fail("internal", NULL, "libcurl did not start");
	o = read_request(&r);
	if (strcmp(r.op, "token") == 0)
		op_token(&r);
	if (strcmp(r.op, "authorize") != 0)
		fail("usage", NULL, "unknown op");
	if (r.flow != NULL && strcmp(r.flow, "client_credentials") == 0) {
		/* Nothing to authorize: fetch one now, which checks the client. */
		op_token(&r);
	}
	if (r.flow != NULL && strcmp(r.flow, "device") == 0)
		op_device(&r);
	op_browser(&r);
	json_decref(o);
	return 0;
}
