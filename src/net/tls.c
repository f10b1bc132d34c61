/* tls.c — GnuTLS credentials, verification words, peer summary (see tls.h). */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "net/tls.h"

/*
 * Refuse TLS 1.0/1.1 on top of the system's default priorities (RFC 8996),
 * and check certificates with GnuTLS' "medium" profile, not the "low" one
 * NORMAL sets: a 1024-bit RSA key no longer passes (tls_priority_string).
 */
#define TLS_PROFILE_DEFAULT "%PROFILE_MEDIUM"
#define TLS_DEFAULT_APPEND  "-VERS-TLS1.1:-VERS-TLS1.0:-VERS-DTLS-ALL:" TLS_PROFILE_DEFAULT

int
tls_is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int
tls_parse_fingerprint(const char *s, unsigned char out[32])
{
	char hex[2 * 32 + 1];
	gnutls_datum_t d;
	size_t n = 0, outlen = 32;

	/* Hex digits, with colons between pairs ("AB:CD:…") or none ("abcd…"). */
	for (; *s != '\0'; s++) {
		if (*s == ':' && n % 2 == 0)
			continue;
		if (!isxdigit((unsigned char)*s) || n >= sizeof(hex) - 1)
			return -1;
		hex[n++] = *s;
	}
	hex[n] = '\0';
	d.data = (unsigned char *)hex;
	d.size = (unsigned)n;
	if (n != 2 * 32 || gnutls_hex_decode(&d, out, &outlen) < 0 || outlen != 32)
		return -1;
	return 0;
}

/* A digest as "openssl x509 -fingerprint" shows it: upper-case pairs joined by ':'. */
static void
tls_fingerprint_text(const unsigned char *md, size_t len, char *out, size_t outsz)
{
	char hex[2 * 64 + 1];
	size_t hexlen = sizeof(hex), i, n = 0;
	gnutls_datum_t d = {(unsigned char *)(uintptr_t)md, (unsigned)len};

	if (outsz == 0)
		return;
	if (len > 64 || gnutls_hex_encode(&d, hex, &hexlen) < 0) {
		strlcpy(out, "?", outsz);
		return;
	}
	for (i = 0; hex[i] != '\0' && n + 3 < outsz; i += 2) {
		if (i > 0)
			out[n++] = ':';
		out[n++] = (char)toupper((unsigned char)hex[i]);
		out[n++] = (char)toupper((unsigned char)hex[i + 1]);
	}
	out[n] = '\0';
}

/*
 * The profile a user's priority string names ("%PROFILE_LOW"), or UNKNOWN.
 * (Not gnutls_certificate_verification_profile_get_id: declared const, it
 * lets the compiler drop the copy of the name it is given.)
 */
static gnutls_certificate_verification_profiles_t
tls_profile_named(const char *s)
{
	static const struct {
		const char *kw;
		gnutls_certificate_verification_profiles_t p;
	} names[] = {
	    {"VERY_WEAK", GNUTLS_PROFILE_VERY_WEAK},
	    {"LOW", GNUTLS_PROFILE_LOW},
	    {"LEGACY", GNUTLS_PROFILE_LEGACY},
	    {"MEDIUM", GNUTLS_PROFILE_MEDIUM},
	    {"HIGH", GNUTLS_PROFILE_HIGH},
	    {"ULTRA", GNUTLS_PROFILE_ULTRA},
	    {"FUTURE", GNUTLS_PROFILE_FUTURE},
	    {"SUITEB128", GNUTLS_PROFILE_SUITEB128},
	    {"SUITEB192", GNUTLS_PROFILE_SUITEB192},
	};
	const char *p = strcasestr(s, "%PROFILE_");
	size_t i, n;

	if (p == NULL)
		return GNUTLS_PROFILE_UNKNOWN;
	p += strlen("%PROFILE_");
	n = strcspn(p, ":");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].kw) == n && strncasecmp(p, names[i].kw, n) == 0)
			return names[i].p;
	return GNUTLS_PROFILE_UNKNOWN;
}

int
tls_priority_string(
    const char *user, char **out, gnutls_certificate_verification_profiles_t *profile)
{
	*out = NULL;
	*profile = GNUTLS_PROFILE_MEDIUM;
	if (user == NULL)
		return 0;
	if (strcasestr(user, "%PROFILE_") != NULL) {
		/* The user's own choice, lower or higher. */
		*profile = tls_profile_named(user);
	} else if (strcasestr(user, "SECURE192") != NULL || strcasestr(user, "SECURE256") != NULL) {
		*profile = GNUTLS_PROFILE_HIGH;
	} else if (strcasestr(user, "SUITEB") != NULL) {
		/* Suite B sets its own profile; appending ours would replace it. */
		*profile = GNUTLS_PROFILE_UNKNOWN;
	} else {
		if (asprintf(out, "%s:%s", user, TLS_PROFILE_DEFAULT) == -1) {
			*out = NULL;
			return -1;
		}
		return 0;
	}
	if ((*out = strdup(user)) == NULL)
		return -1;
	return 0;
}

int
tls_client_init(struct tls_client *tc, const struct tls_params *p, struct sx_err *e)
{
	int rc;

	memset(tc, 0, sizeof(*tc));
	tc->p = *p;
	tc->host_is_ip = tls_is_ip_literal(p->host);
	if (tls_priority_string(p->priorities, &tc->priorities, &tc->profile) == -1)
		return sx_fail(e, SX_INTERNAL, STAGE_TLS, "out of memory");
	if (p->fingerprint != NULL) {
		if (tls_parse_fingerprint(p->fingerprint, tc->pin) == -1)
			return sx_fail(e, SX_CONFIG, STAGE_TLS,
			    "tls_fingerprint must be a SHA-256 fingerprint (64 hex digits)");
		tc->has_pin = 1;
	}
	if ((rc = gnutls_certificate_allocate_credentials(&tc->cred)) < 0)
		return sx_fail(e, SX_INTERNAL, STAGE_TLS, "%s", gnutls_strerror(rc));
	if (p->certcheck) {
		if (p->trust_file != NULL)
			rc = gnutls_certificate_set_x509_trust_file(
			    tc->cred, p->trust_file, GNUTLS_X509_FMT_PEM);
		else
			rc = gnutls_certificate_set_x509_system_trust(tc->cred);
		/* No anchors is a configuration error, not a later verify error. */
		if (rc <= 0) {
			if (p->trust_file != NULL)
				return sx_fail(e, SX_CONFIG, STAGE_TLS,
				    "no CA certificates loaded from %s%s%s", p->trust_file,
				    rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
			return sx_fail(e, SX_CONFIG, STAGE_TLS,
			    "no CA certificates in the system trust store (install ca-certificates "
			    "or set tls_trust_file)");
		}
	}
	if (p->cert_file != NULL || p->key_file != NULL) {
		if (p->cert_file == NULL || p->key_file == NULL)
			return sx_fail(e, SX_CONFIG, STAGE_TLS,
			    "tls_cert_file and tls_key_file must be set together");
		rc = gnutls_certificate_set_x509_key_file(
		    tc->cred, p->cert_file, p->key_file, GNUTLS_X509_FMT_PEM);
		if (rc < 0)
			return sx_fail(e, SX_CONFIG, STAGE_TLS,
			    "client certificate %s / key %s: %s", p->cert_file, p->key_file,
			    gnutls_strerror(rc));
	}
	return 0;
}

void
tls_client_free(struct tls_client *tc)
{
	if (tc->cred != NULL)
		gnutls_certificate_free_credentials(tc->cred);
	tc->cred = NULL;
	free(tc->priorities);
	tc->priorities = NULL;
}

int
tls_session_new(struct tls_client *tc, gnutls_session_t *sp, struct sx_err *e)
{
	gnutls_session_t s;
	const char *errpos = NULL;
	int rc;

	if ((rc = gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK)) < 0)
		return sx_fail(e, SX_INTERNAL, STAGE_TLS, "%s", gnutls_strerror(rc));
	if (tc->priorities != NULL)
		rc = gnutls_priority_set_direct(s, tc->priorities, &errpos);
	else
		rc = gnutls_set_default_priority_append(s, TLS_DEFAULT_APPEND, &errpos, 0);
	if (rc < 0) {
		/* Point into the user's string, not the copy with our profile appended. */
		if (tc->priorities != NULL && errpos != NULL && errpos >= tc->priorities &&
		    (size_t)(errpos - tc->priorities) < strlen(tc->p.priorities))
			errpos = tc->p.priorities + (errpos - tc->priorities);
		gnutls_deinit(s);
		return sx_fail(e, SX_CONFIG, STAGE_TLS, "tls_priorities: %s at \"%s\"",
		    gnutls_strerror(rc), errpos != NULL ? errpos : "");
	}
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, tc->cred);
	/* RFC 6066: SNI carries host names only, never IP literals. */
	if (!tc->host_is_ip)
		gnutls_server_name_set(s, GNUTLS_NAME_DNS, tc->p.host, strlen(tc->p.host));
	/* The peer is checked after the handshake: tls_verify_peer. */
	*sp = s;
	return 0;
}

static void
tls_format_time(time_t t, char *buf, size_t sz)
{
	struct tm tm;

	if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL) {
		strlcpy(buf, "?", sz);
		return;
	}
	strftime(buf, sz, "%Y-%m-%d %H:%M UTC", &tm);
}

/* The server's leaf certificate, or NULL. */
static gnutls_x509_crt_t
tls_peer_leaf(gnutls_session_t s)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0;
	gnutls_x509_crt_t crt;

	certs = gnutls_certificate_get_peers(s, &n);
	if (certs == NULL || n == 0)
		return NULL;
	if (gnutls_x509_crt_init(&crt) < 0)
		return NULL;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return NULL;
	}
	return crt;
}

/* The certificate's names (SANs, else its CN), printable only: they are the server's text. */
static void
tls_crt_names(gnutls_x509_crt_t crt, char *buf, size_t sz)
{
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < 64; i++) {
		char name[256], clean[256];
		size_t nlen = sizeof(name) - 1;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &nlen, NULL);

		if (type < 0)
			break;
		if (type == GNUTLS_SAN_DNSNAME) {
			sx_sanitize(clean, sizeof(clean), name, nlen, 0);
		} else if (type == GNUTLS_SAN_IPADDRESS && (nlen == 4 || nlen == 16)) {
			unsigned char raw[16];

			memcpy(raw, name, nlen);
			if (inet_ntop(nlen == 4 ? AF_INET : AF_INET6, raw, clean, sizeof(clean)) ==
			    NULL)
				continue;
		} else {
			continue;
		}
		if (buf[0] != '\0')
			strlcat(buf, ", ", sz);
		strlcat(buf, clean, sz);
	}
	if (buf[0] == '\0') {
		/* No SANs: fall back to the subject's common name. */
		char cn[256];
		size_t nlen = sizeof(cn) - 1;

		if (gnutls_x509_crt_get_dn_by_oid(
			crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &nlen) < 0)
			strlcpy(buf, "(no names)", sz);
		else
			sx_sanitize(buf, sz, cn, nlen, 0);
	}
}

static void
tls_crt_dn(gnutls_x509_crt_t crt, int issuer, char *buf, size_t sz)
{
	gnutls_datum_t dn = {NULL, 0};
	int rc = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0)
			: gnutls_x509_crt_get_dn3(crt, &dn, 0);

	if (rc < 0) {
		strlcpy(buf, "?", sz);
		return;
	}
	sx_sanitize(buf, sz, (const char *)dn.data, dn.size, 0);
	gnutls_free(dn.data);
}

/* The security parameter a profile's keys must reach, as GnuTLS checks it. */
static gnutls_sec_param_t
tls_profile_level(gnutls_certificate_verification_profiles_t p)
{
	switch (p) {
	case GNUTLS_PROFILE_VERY_WEAK:
		return GNUTLS_SEC_PARAM_VERY_WEAK;
	case GNUTLS_PROFILE_LOW:
		return GNUTLS_SEC_PARAM_LOW;
	case GNUTLS_PROFILE_LEGACY:
		return GNUTLS_SEC_PARAM_LEGACY;
	case GNUTLS_PROFILE_MEDIUM:
		return GNUTLS_SEC_PARAM_MEDIUM;
	case GNUTLS_PROFILE_HIGH:
		return GNUTLS_SEC_PARAM_HIGH;
	case GNUTLS_PROFILE_ULTRA:
		return GNUTLS_SEC_PARAM_ULTRA;
	case GNUTLS_PROFILE_FUTURE:
		return GNUTLS_SEC_PARAM_FUTURE;
	default:
		return GNUTLS_SEC_PARAM_UNKNOWN;
	}
}

/*
 * A certificate the server sent whose key is below the verification
 * profile (RSA 1024 under "medium"): name it, its size and the size
 * wanted.  0 when none is (the weak part is elsewhere, e.g. a signature).
 */
static int
tls_weak_key_words(const struct tls_client *tc, gnutls_session_t s, struct sx_err *e)
{
	gnutls_sec_param_t want = tls_profile_level(tc->profile);
	const gnutls_datum_t *certs;
	unsigned int i, n = 0;

	if (want == GNUTLS_SEC_PARAM_UNKNOWN ||
	    (certs = gnutls_certificate_get_peers(s, &n)) == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		gnutls_x509_crt_t crt;
		unsigned int bits = 0;
		int alg, found = 0;
		char dn[256];

		if (gnutls_x509_crt_init(&crt) < 0)
			return 0;
		if (gnutls_x509_crt_import(crt, &certs[i], GNUTLS_X509_FMT_DER) >= 0 &&
		    (alg = gnutls_x509_crt_get_pk_algorithm(crt, &bits)) >= 0 &&
		    gnutls_pk_bits_to_sec_param(alg, bits) < want) {
			const char *name = gnutls_pk_get_name(alg);

			found = 1;
			tls_crt_dn(crt, 0, dn, sizeof(dn));
			sx_fail(e, SX_TLS, STAGE_TLS,
			    "%s key too weak: %s %u bits, at least %u required (%s)",
			    i == 0 ? "certificate" : "CA certificate", name != NULL ? name : "?",
			    bits, gnutls_sec_param_to_pk_bits(alg, want), dn);
			sx_hint(e, "the server's administrator must replace the key; to accept it "
				   "anyway, end tls_priorities with %%PROFILE_LOW (e.g. "
				   "NORMAL:%%PROFILE_LOW)");
		}
		gnutls_x509_crt_deinit(crt);
		if (found)
			return 1;
	}
	return 0;
}

/* Words for the first verification problem that matters most to a user. */
static void tls_leaf_fingerprint(gnutls_session_t, char *, size_t);

static void
tls_verify_words(
    const struct tls_client *tc, gnutls_session_t s, unsigned int status, struct sx_err *e)
{
	gnutls_x509_crt_t crt = tls_peer_leaf(s);
	char when[32], names[512], dn[256], fpr[96];

	if (crt == NULL) {
		sx_fail(e, SX_TLS, STAGE_TLS, "certificate verification failed: no certificate");
		return;
	}
	if (status & GNUTLS_CERT_EXPIRED) {
		tls_format_time(gnutls_x509_crt_get_expiration_time(crt), when, sizeof(when));
		sx_fail(e, SX_TLS, STAGE_TLS, "certificate expired on %s", when);
		sx_hint(e, "the server's certificate must be renewed; check the server's clock "
			   "and this machine's clock");
	} else if (status & GNUTLS_CERT_NOT_ACTIVATED) {
		tls_format_time(gnutls_x509_crt_get_activation_time(crt), when, sizeof(when));
		sx_fail(e, SX_TLS, STAGE_TLS, "certificate is not valid until %s", when);
		sx_hint(e, "check this machine's clock");
	} else if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
		tls_crt_names(crt, names, sizeof(names));
		sx_fail(e, SX_TLS, STAGE_TLS, "certificate is for %s, not %s", names, tc->p.host);
		sx_hint(e, "connect with a host name the certificate lists");
	} else if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA)) {
		tls_crt_dn(crt, 1, dn, sizeof(dn));
		tls_leaf_fingerprint(s, fpr, sizeof(fpr));
		sx_fail(e, SX_TLS, STAGE_TLS, "issuer not trusted: %s", dn);
		/*
		 * Ready to paste, for whoever has checked it is really their
		 * server's: a pin trusted alone needs the chain check off.
		 */
		sx_hint(e, "%s%s%s",
		    tc->p.trust_file != NULL
			? "the trust file does not hold the issuer's CA certificate; "
			: "self-signed or private CA: set tls_trust_file to its CA certificate; ",
		    fpr[0] != '\0' ? "or, once you have checked this certificate is the server's, "
				     "trust it by its pin: tls_certcheck off, tls_fingerprint "
				   : "or pin it with tls_fingerprint (and tls_certcheck off)",
		    fpr);
	} else if ((status & GNUTLS_CERT_INSECURE_ALGORITHM) && tls_weak_key_words(tc, s, e)) {
		/* Named above. */
	} else {
		gnutls_datum_t out = {NULL, 0};

		if (gnutls_certificate_verification_status_print(
			status, GNUTLS_CRT_X509, &out, 0) == 0) {
			sx_fail(e, SX_TLS, STAGE_TLS, "certificate verification failed: %.*s",
			    (int)out.size, (const char *)out.data);
			gnutls_free(out.data);
		} else {
			sx_fail(e, SX_TLS, STAGE_TLS, "certificate verification failed");
		}
	}
	gnutls_x509_crt_deinit(crt);
}

int
tls_check_handshake(gnutls_session_t s, int rc, struct sx_err *e)
{
	if (rc >= 0)
		return 0;
	sx_fail(e, SX_TLS, STAGE_TLS, "TLS handshake failed: %s", gnutls_strerror(rc));
	if ((rc == GNUTLS_E_FATAL_ALERT_RECEIVED &&
		gnutls_alert_get(s) == GNUTLS_A_PROTOCOL_VERSION) ||
	    rc == GNUTLS_E_UNSUPPORTED_VERSION_PACKET)
		sx_hint(e, "the server offers only TLS 1.0/1.1, which smtps-send refuses "
			   "(RFC 8996); the server must be upgraded");
	return -1;
}

/* The leaf's SHA-256 against tls_fingerprint. */
static int
tls_check_pin(const struct tls_client *tc, gnutls_session_t s, struct sx_err *e)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0;
	unsigned char got[32];
	size_t glen = sizeof(got);
	char hex[3 * 32];

	certs = gnutls_certificate_get_peers(s, &n);
	if (certs == NULL || n == 0 ||
	    gnutls_fingerprint(GNUTLS_DIG_SHA256, &certs[0], got, &glen) < 0 || glen != 32)
		return sx_fail(e, SX_TLS, STAGE_TLS, "no server certificate to compare the pin");
	if (memcmp(got, tc->pin, 32) == 0)
		return 0;
	tls_fingerprint_text(got, sizeof(got), hex, sizeof(hex));
	return sx_fail(
	    e, SX_TLS, STAGE_TLS, "certificate fingerprint %s does not match tls_fingerprint", hex);
}

int
tls_verify_peer(struct tls_client *tc, gnutls_session_t s, struct sx_err *e)
{
	if (tc->p.certcheck) {
		/* What gnutls_session_set_verify_cert checks: chain, dates, name, purpose. */
		gnutls_typed_vdata_st data[2];
		unsigned int status = 0;
		int rc;

		memset(data, 0, sizeof(data));
		data[0].type = GNUTLS_DT_DNS_HOSTNAME;
		data[0].data = (unsigned char *)(uintptr_t)tc->p.host;
		data[1].type = GNUTLS_DT_KEY_PURPOSE_OID;
		data[1].data = (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_SERVER;
		rc = gnutls_certificate_verify_peers(s, data, 2, &status);
		if (rc < 0)
			return sx_fail(e, SX_TLS, STAGE_TLS, "certificate verification failed: %s",
			    gnutls_strerror(rc));
		if (status != 0) {
			tls_verify_words(tc, s, status, e);
			return -1;
		}
	}
	return tc->has_pin ? tls_check_pin(tc, s, e) : 0;
}

/* The SHA-256 of the server's certificate as text ("" when there is none). */
static void
tls_leaf_fingerprint(gnutls_session_t s, char *out, size_t outsz)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0;
	unsigned char md[32];
	size_t mdlen = sizeof(md);

	out[0] = '\0';
	certs = gnutls_certificate_get_peers(s, &n);
	if (certs != NULL && n > 0 &&
	    gnutls_fingerprint(GNUTLS_DIG_SHA256, &certs[0], md, &mdlen) >= 0 && mdlen == 32)
		tls_fingerprint_text(md, mdlen, out, outsz);
}

void
tls_session_info(gnutls_session_t s, struct tls_info *ti)
{
	gnutls_x509_crt_t crt;
	const char *name;
	time_t exp;

	memset(ti, 0, sizeof(*ti));
	ti->not_after = (time_t)-1;
	tls_leaf_fingerprint(s, ti->fingerprint, sizeof(ti->fingerprint));
	name = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
	strlcpy(ti->version, name != NULL ? name : "?", sizeof(ti->version));
	name = gnutls_cipher_get_name(gnutls_cipher_get(s));
	strlcpy(ti->cipher, name != NULL ? name : "?", sizeof(ti->cipher));
	name = gnutls_group_get_name(gnutls_group_get(s));
	strlcpy(ti->group, name != NULL ? name : "-", sizeof(ti->group));
	if ((crt = tls_peer_leaf(s)) == NULL)
		return;
	tls_crt_dn(crt, 0, ti->subject, sizeof(ti->subject));
	tls_crt_dn(crt, 1, ti->issuer, sizeof(ti->issuer));
	tls_crt_names(crt, ti->sans, sizeof(ti->sans));
	exp = gnutls_x509_crt_get_expiration_time(crt);
	ti->not_after = exp;
	tls_format_time(exp, ti->expiry, sizeof(ti->expiry));
	ti->days_left = exp == (time_t)-1 ? 0 : (long)((exp - time(NULL)) / 86400);
	gnutls_x509_crt_deinit(crt);
}
