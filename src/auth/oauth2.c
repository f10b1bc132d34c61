/*
 * oauth2.c — the session's OAuth2 token source (see oauth2.h): a token as
 * configured, from a file or a command, or managed: the store when its
 * token is still good, else the companion smtps-send-oauth2.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "auth/oauth2.h"
#include "core/diag.h"
#include "core/clock.h"
#include "core/strutil.h"

#ifndef LIBEXECDIR
#define LIBEXECDIR "/usr/local/libexec"
#endif

/* The companion's answer: one JSON object of at most this many bytes. */
#define OAUTH2_ANSWER_MAX (64 * 1024)
/* How long --oauth2-authorize waits for the user (seconds). */
#define OAUTH2_AUTHORIZE_WAIT 600

int
oauth2_configured(const struct account *a)
{
	if (a->auth == AUTH_MODE_OFF || a->auth == AUTH_MODE_PLAIN || a->auth == AUTH_MODE_LOGIN)
		return 0;
	return a->oauth2_token != NULL || a->oauth2_token_file != NULL ||
	       a->oauth2_token_command != NULL || a->oauth2_provider != OAUTH2_PROVIDER_NONE;
}

static int
oauth2_timeout(const struct account *a)
{
	return a->timeout > 0 ? a->timeout : CLOCK_DEFAULT_TIMEOUT_S;
}

/* The companion: $SMTPS_SEND_OAUTH2_HELPER, beside our binary (a build tree), or libexec. */
static int
oauth2_helper_path(char *buf, size_t bufsz)
{
	const char *env = getenv("SMTPS_SEND_OAUTH2_HELPER");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env != NULL && env[0] == '/') {
		snprintf(buf, bufsz, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			if (snprintf(buf, bufsz, "%s/smtps-send-oauth2", self) < (int)bufsz &&
			    access(buf, X_OK) == 0)
				return 0;
		}
	}
	snprintf(buf, bufsz, "%s/smtps-send/smtps-send-oauth2", LIBEXECDIR);
	return 0;
}

/* Map the companion's class word to ours. */
static enum sx_class
oauth2_class(const char *word)
{
	if (word == NULL)
		return SX_INTERNAL;
	if (strcmp(word, "auth") == 0)
		return SX_AUTH;
	if (strcmp(word, "temp") == 0)
		return SX_TEMP;
	if (strcmp(word, "config") == 0)
		return SX_CONFIG;
	if (strcmp(word, "localio") == 0)
		return SX_LOCALIO;
	if (strcmp(word, "usage") == 0)
		return SX_USAGE;
	return SX_INTERNAL;
}

/* Read the child's stdout until EOF, within deadline (ms, clock_now_ms). */
static int
oauth2_read_answer(int fd, char *buf, size_t max, size_t *len, int64_t deadline)
{
	size_t n = 0;

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int64_t left = deadline - clock_now_ms();
		ssize_t r;

		if (left <= 0)
			return 1;
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			continue;
		if (n == max)
			return -1;
		r = read(fd, buf + n, max - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return 0;
}

/*
 * Run the companion with req on its stdin; its answer's access token and
 * expiry into t (access_token only).  stderr is ours: --oauth2-authorize
 * prints the URL there.  0 or -1 with e.
 */
static int
oauth2_run(json_t *req, int wait_s, struct oauth2_tokens *t, struct sx_err *e)
{
	char helper[PATH_MAX], *text = NULL, *buf = NULL;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, status, rc = -1, timed_out;
	json_t *ans = NULL, *v;
	json_error_t jerr;
	size_t len = 0, off = 0, tl;
	pid_t pid;

	memset(t, 0, sizeof(*t));
	oauth2_helper_path(helper, sizeof(helper));
	if ((text = json_dumps(req, JSON_COMPACT)) == NULL ||
	    (buf = malloc(OAUTH2_ANSWER_MAX)) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto out;
	}
	tl = strlen(text);
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "oauth2: pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) == -1) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "oauth2: fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		if (dup2(in[0], 0) == -1 || dup2(out[1], 1) == -1)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		unsetenv("SMTPS_SEND_PASSWORD");
		unsetenv("SMTPS_SEND_OAUTH2_TOKEN");
		execl(helper, "smtps-send-oauth2", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	/* The request is small (< 8 KiB): the pipe takes it whole. */
	while (off < tl) {
		ssize_t w = write(in[1], text + off, tl - off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(in[1]);
	in[1] = -1;
	timed_out = oauth2_read_answer(
	    out[0], buf, OAUTH2_ANSWER_MAX, &len, clock_now_ms() + (int64_t)wait_s * 1000);
	if (timed_out != 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			sx_fail(
			    e, SX_INTERNAL, STAGE_CONFIG, "oauth2: waitpid: %s", strerror(errno));
			goto out;
		}
	if (timed_out == 1) {
		sx_fail(e, SX_TEMP, STAGE_CONFIG, "oauth2: no token within %d s (killed)", wait_s);
		goto out;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG, "oauth2: cannot run %s", helper);
		sx_hint(e,
		    "install smtps-send-oauth2 (make install puts it in %s/smtps-send), or "
		    "use oauth2_token_command",
		    LIBEXECDIR);
		goto out;
	}
	ans = timed_out == 0 ? json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (ans == NULL || !json_is_object(ans)) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "oauth2: %s gave no answer (status %d)",
		    helper, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		goto out;
	}
	if ((v = json_object_get(ans, "error")) != NULL) {
		sx_fail(e, oauth2_class(json_string_value(json_object_get(ans, "class"))),
		    STAGE_CONFIG, "oauth2: %s",
		    json_is_string(v) ? json_string_value(v) : "failed");
		if (json_is_string(v = json_object_get(ans, "hint")))
			sx_hint(e, "%s", json_string_value(v));
		goto out;
	}
	if (json_is_string(v = json_object_get(ans, "access_token")) &&
	    (t->access_token = strdup(json_string_value(v))) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		goto out;
	}
	v = json_object_get(ans, "expires_at");
	t->expires_at = json_is_integer(v) ? (time_t)json_integer_value(v) : 0;
	rc = 0;
out:
	if (ans != NULL) {
		/* Wipe the token's copy inside jansson before it is freed. */
		v = json_object_get(ans, "access_token");
		if (json_is_string(v))
			explicit_bzero(
			    (char *)(uintptr_t)json_string_value(v), json_string_length(v));
		json_decref(ans);
	}
	if (buf != NULL) {
		explicit_bzero(buf, OAUTH2_ANSWER_MAX);
		free(buf);
	}
	str_free_secret(text);
	for (int i = 0; i < 2; i++) {
		if (in[i] != -1)
			close(in[i]);
		if (out[i] != -1)
			close(out[i]);
	}
	return rc;
}

/* The client secret, from wherever the account has it; NULL when none. */
static int
oauth2_client_secret(const struct account *a, char **out, struct sx_err *e)
{
	*out = NULL;
	if (a->oauth2_client_secret != NULL) {
		if ((*out = strdup(a->oauth2_client_secret)) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		return 0;
	}
	if (a->oauth2_client_secret_file != NULL)
		return conf_secret_file(a->oauth2_client_secret_file, "oauth2_client_secret_file",
		    CONF_SECRET_MAX, out, e);
	if (a->oauth2_client_secret_eval != NULL)
		return conf_secret_command(a->oauth2_client_secret_eval,
		    "oauth2_client_secret_eval", CONF_SECRET_MAX, oauth2_timeout(a), out, e);
	return 0;
}

static const char *
oauth2_flow_name(int flow)
{
	return flow == OAUTH2_FLOW_DEVICE               ? "device"
	       : flow == OAUTH2_FLOW_CLIENT_CREDENTIALS ? "client_credentials"
							: "browser";
}

/* The companion's request for account a; op "token" or "authorize". */
static json_t *
oauth2_request(const struct account *a, const char *op, const char *store, const char *rejected,
    struct sx_err *e)
{
	struct oauth2_endpoints ep;
	char *secret = NULL;
	json_t *req;

	if (oauth2_endpoints(a, &ep, e) == -1 || oauth2_client_secret(a, &secret, e) == -1)
		return NULL;
	req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "op", op, "store",
	    store, "flow", oauth2_flow_name(ep.flow), "token_url", ep.token_url, "auth_url",
	    ep.auth_url, "device_url", ep.device_url, "scope", ep.scope, "client_id",
	    a->oauth2_client_id, "provider",
	    a->oauth2_provider == OAUTH2_PROVIDER_GOOGLE      ? "google"
	    : a->oauth2_provider == OAUTH2_PROVIDER_MICROSOFT ? "microsoft"
							      : "custom",
	    "timeout", oauth2_timeout(a));
	if (req != NULL &&
	    ((secret != NULL &&
		 json_object_set_new(req, "client_secret", json_string(secret)) == -1) ||
		(a->user != NULL && json_object_set_new(req, "user", json_string(a->user)) == -1) ||
		(rejected != NULL &&
		    json_object_set_new(req, "rejected", json_string(rejected)) == -1) ||
		(a->oauth2_trust_file != NULL && json_object_set_new(req, "trust_file",
						     json_string(a->oauth2_trust_file)) == -1))) {
		json_decref(req);
		req = NULL;
	}
	str_free_secret(secret);
	if (req == NULL)
		sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
	return req;
}

/* Wipe the client secret inside a request before it is freed. */
static void
oauth2_request_free(json_t *req)
{
	json_t *v = json_object_get(req, "client_secret");

	if (json_is_string(v))
		explicit_bzero((char *)(uintptr_t)json_string_value(v), json_string_length(v));
	json_decref(req);
}

/* SHA-256 of the token, hex: how the companion is told which token the server refused. */
static void
oauth2_token_id(const char *token, char *hex, size_t hexsz)
{
	unsigned char md[32];
	size_t i;

	hex[0] = '\0';
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), md) < 0)
		return;
	for (i = 0; i < sizeof(md) && 2 * i + 2 < hexsz; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* A managed token: the store's while good, else the companion's. */
static int
oauth2_managed(struct oauth2 *o, const char *rejected, struct sx_err *e)
{
	struct oauth2_tokens t;
	json_t *req;
	int rc;

	if (rejected == NULL) {
		rc = oauth2_store_read(o->store, &t, e);
		if (rc == -1)
			return -1;
		if (rc == 0 && t.access_token != NULL &&
		    (t.expires_at == 0 || t.expires_at > time(NULL) + OAUTH2_EXPIRY_MARGIN)) {
			o->token = t.access_token;
			o->expires_at = t.expires_at;
			t.access_token = NULL;
			oauth2_tokens_free(&t);
			o->from = "the token store";
			return 0;
		}
		oauth2_tokens_free(&t);
	}
	if ((req = oauth2_request(o->a, "token", o->store, rejected, e)) == NULL)
		return -1;
	/* The companion may wait for another's refresh (the lock), then do its own. */
	rc = oauth2_run(req, 3 * oauth2_timeout(o->a) + 5, &t, e);
	oauth2_request_free(req);
	if (rc == -1)
		return -1;
	if (t.access_token == NULL) {
		oauth2_tokens_free(&t);
		return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "oauth2: the companion gave no token");
	}
	o->token = t.access_token;
	o->expires_at = t.expires_at;
	t.access_token = NULL;
	oauth2_tokens_free(&t);
	o->from = "the token endpoint";
	return 0;
}

/* Get a token from the account's source into o->token. */
static int
oauth2_fetch(struct oauth2 *o, const char *rejected, struct sx_err *e)
{
	const struct account *a = o->a;

	if (a->oauth2_token != NULL) {
		o->from = "oauth2_token";
		if ((o->token = strdup(a->oauth2_token)) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
		return 0;
	}
	if (a->oauth2_token_file != NULL) {
		o->from = "oauth2_token_file";
		return conf_secret_file(
		    a->oauth2_token_file, "oauth2_token_file", OAUTH_TOKEN_MAX, &o->token, e);
	}
	if (a->oauth2_token_command != NULL) {
		o->from = "oauth2_token_command";
		return conf_secret_command(a->oauth2_token_command, "oauth2_token_command",
		    OAUTH_TOKEN_MAX, oauth2_timeout(a), &o->token, e);
	}
	return oauth2_managed(o, rejected, e);
}

/* oauth_token_source.refresh: the server refused the token; one new one, if any. */
static int
oauth2_refresh(struct oauth_token_source *src, struct sx_err *e)
{
	struct oauth2 *o = (struct oauth2 *)(void *)src;
	char rejected[65], *old = o->token;

	/* A token given as is has no other. */
	if (o->a->oauth2_token != NULL)
		return 0;
	oauth2_token_id(old, rejected, sizeof(rejected));
	o->token = NULL;
	if (oauth2_fetch(o, rejected, e) == -1) {
		o->token = old;
		src->token = old;
		return -1;
	}
	src->token = o->token;
	/* The same token again (a file or command not yet updated): no use retrying. */
	if (strcmp(old, o->token) == 0) {
		str_free_secret(old);
		return 0;
	}
	str_free_secret(old);
	return 1;
}

int
oauth2_open(struct oauth2 *o, const struct account *a, const char *state_dir, struct sx_err *e)
{
	memset(o, 0, sizeof(*o));
	o->a = a;
	if (a->oauth2_token == NULL && a->oauth2_token_file == NULL &&
	    a->oauth2_token_command == NULL &&
	    oauth2_store_path(a, state_dir, o->store, sizeof(o->store), e) == -1)
		return -1;
	if (oauth2_fetch(o, NULL, e) == -1)
		return -1;
	o->src.token = o->token;
	o->src.refresh = oauth2_refresh;
	o->src.arg = o;
	return 0;
}

void
oauth2_close(struct oauth2 *o)
{
	str_free_secret(o->token);
	memset(o, 0, sizeof(*o));
}

int
oauth2_authorize(const struct account *a, const char *state_dir, struct diag *d, struct sx_err *e)
{
	struct oauth2_tokens t;
	char store[4096];
	json_t *req;
	int rc;

	if (a->oauth2_provider == OAUTH2_PROVIDER_NONE) {
		sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "account %s: --oauth2-authorize needs oauth2_provider and oauth2_client_id",
		    a->name);
		sx_hint(e, "see smtps-send.conf(5), OAUTH2, for Gmail and Microsoft 365");
		return -1;
	}
	if (oauth2_store_path(a, state_dir, store, sizeof(store), e) == -1 ||
	    (req = oauth2_request(a, "authorize", store, NULL, e)) == NULL)
		return -1;
	json_object_set_new(req, "wait", json_integer(OAUTH2_AUTHORIZE_WAIT));
	/* Its prompts in the run's JSON, timed from the run's start (one monotonic clock). */
	if (d->json) {
		json_object_set_new(req, "json", json_true());
		json_object_set_new(req, "t0_ms", json_integer(d->t0_ms));
	}
	rc = oauth2_run(req, OAUTH2_AUTHORIZE_WAIT + 3 * oauth2_timeout(a) + 5, &t, e);
	oauth2_request_free(req);
	if (rc == 0) {
		struct diag_field f[3] = {{"account", a->name, 0}, {"store", store, 0}};
		long long left = t.expires_at != 0 ? (long long)(t.expires_at - time(NULL)) : 0;
		char expiry[64] = "";

		if (t.expires_at != 0) {
			f[2] = (struct diag_field){"expires_in", NULL, left};
			snprintf(
			    expiry, sizeof(expiry), " (the access token expires in %lld s)", left);
		}
		diag_say(d, "authorized", STAGE_AUTH, f, t.expires_at != 0 ? 3 : 2,
		    "account %s authorized; tokens stored in %s%s", a->name, store, expiry);
	}
	oauth2_tokens_free(&t);
	return rc;
}
