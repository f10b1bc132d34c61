/* http.c — form POSTs to token endpoints with libcurl, answers read with jansson (see http.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "auth/helper/http.h"

/* Largest answer read from an endpoint. */
#define HTTP_ANSWER_MAX (256 * 1024)

struct http_buf {
	char *data;
	size_t len;
	int over;
};

static size_t
http_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_buf *b = arg;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n > HTTP_ANSWER_MAX) {
		b->over = 1;
		return 0;
	}
	if ((p = realloc(b->data, b->len + n + 1)) == NULL)
		return 0;
	b->data = p;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

char *
http_escape(const char *s)
{
	return curl_easy_escape(NULL, s, 0);
}

void
http_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		curl_free(s);
	}
}

json_t *
http_post_form(
    const struct http_ctx *h, const char *url, long *status, char *why, size_t whysz, ...)
{
	struct http_buf b = {NULL, 0, 0};
	char *form = NULL, errbuf[CURL_ERROR_SIZE] = "";
	size_t flen = 0;
	const char *name, *value;
	json_t *root = NULL;
	json_error_t jerr;
	CURLcode rc;
	va_list ap;
	CURL *c;

	*status = 0;
	snprintf(why, whysz, "out of memory");
	/* The form: name=escaped&… (values are tokens and secrets: wiped after). */
	va_start(ap, whysz);
	while ((name = va_arg(ap, const char *)) != NULL) {
		char *esc, *p;

		value = va_arg(ap, const char *);
		if (value == NULL)
			continue;
		if ((esc = http_escape(value)) == NULL)
			break;
		p = realloc(form, flen + strlen(name) + strlen(esc) + 3);
		if (p == NULL) {
			http_free(esc);
			break;
		}
		form = p;
		flen += (size_t)sprintf(form + flen, "%s%s=%s", flen > 0 ? "&" : "", name, esc);
		http_free(esc);
	}
	va_end(ap);
	if (form == NULL || (c = curl_easy_init()) == NULL)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)flen);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "smtps-send/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (h->trust_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->trust_file);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(why, whysz, "%s",
		    b.over              ? "answer too large"
		    : errbuf[0] != '\0' ? errbuf
					: curl_easy_strerror(rc));
		curl_easy_cleanup(c);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	snprintf(why, whysz, "HTTP %ld, not JSON", *status);
	if (b.data != NULL)
		root = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
	if (root != NULL && !json_is_object(root)) {
		json_decref(root);
		root = NULL;
	}
out:
	if (form != NULL) {
		explicit_bzero(form, flen);
		free(form);
	}
	if (b.data != NULL) {
		explicit_bzero(b.data, b.len);
		free(b.data);
	}
	return root;
}

char *
http_query_value(const char *target, const char *name)
{
	char *url = NULL, *query = NULL, *found = NULL, *save = NULL, *pair;
	size_t n = strlen(name);
	CURLU *u;

	if (target[0] != '/' || (u = curl_url()) == NULL)
		return NULL;
	if (asprintf(&url, "http://127.0.0.1%s", target) == -1) {
		curl_url_cleanup(u);
		return NULL;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
		for (pair = strtok_r(query, "&", &save); pair != NULL && found == NULL;
		     pair = strtok_r(NULL, "&", &save))
			if (strncmp(pair, name, n) == 0 && pair[n] == '=')
				found = curl_easy_unescape(NULL, pair + n + 1, 0, NULL);
		curl_free(query);
	}
	free(url);
	curl_url_cleanup(u);
	return found;
}
