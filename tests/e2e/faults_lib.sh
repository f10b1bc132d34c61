# tests/e2e/faults_lib.sh -- sourced by t_faults_*.sh (POSIX sh): run smtps-send
# against one fakesmtp scenario and assert on its exit status, its failure
# report and the bytes the server recorded.
#
#   fx SCENARIO [smtps-send args...] <MESSAGE
#       starts fakesmtp (extra server args in FX_FAKE, one with spaces in FX_FAKE1, leaf in FX_LEAF), runs
#       the binary with a clean environment pointing at it (TLS mode FX_TLS,
#       default starttls; alice's credentials unless FX_NOAUTH=1; more
#       VAR=value words in FX_ENV, one VAR=value with any bytes in FX_ENV1; SMTPS_SEND_TIMEOUT=FX_TIMEOUT, default 2),
#       waits for the server, then resets the FX_* settings.  Sets $rc and $ms
#       (elapsed milliseconds); stdout in $T/out, stderr in $T/err.
#   want RC STAGE [ERE]   exit status, first stderr line "smtps-send: STAGE: ..."
#                         (and its detail matching ERE)
#   want_ok               exit 0, nothing on stdout or stderr, spool empty
#   want_hint ERE / want_nohint
#   want_kept             "the message was kept in PATH" (only the queue's "queued as"
#                         note after it), PATH in the queue and non-empty (then
#                         removed with its .meta); want_nothing_kept
#   want_ms_below N       the run took less than N ms (times SX_TIME_FACTOR)
#   rec EXPR...           Python expressions over the record, each must be True:
#                         c (connections), w (the first), cmds (its commands),
#                         plain / tls (bytes as str), and the helpers below
#   rec_std               no AUTH/MAIL/RCPT/DATA/BDAT in cleartext, no violations
set -u
. tests/e2e/lib.sh
. tests/e2e/fake.sh

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxf.XXXXXX)
Q=$T/q
mkdir -p "$Q" "$T/home"
: >"$T/home/empty.conf"
sx_on_exit 'fake_stop; rm -rf "$T"'
FX_PASSWORD=alice-secret-1
FX_FROM=alice@localhost
# Base64 forms a leak would take: PLAIN (\0alice\0pw), LOGIN (pw alone), user+pw.
FX_B64_PLAIN=$(printf '\000alice\000%s' "$FX_PASSWORD" | base64 -w0)
FX_B64_PW=$(printf '%s' "$FX_PASSWORD" | base64 -w0)
FX_B64_PW2=$(printf '%s' "$FX_PASSWORD" | base64 -w0 | tr -d =)
FX_B64_USERPW=$(printf 'alice%s' "$FX_PASSWORD" | base64 -w0)
FX_B64_USERPW2=$(printf 'alice:%s' "$FX_PASSWORD" | base64 -w0)
ok_n=0

# Nothing from the caller's environment may steer the binary.
for _v in $(env | sed -n 's/^\(SMTPS_SEND_[A-Z0-9_]*\)=.*/\1/p'); do
	unset "$_v"
done

now_ms() { date +%s%3N; }

ok() {
	ok_n=$((ok_n + 1))
	echo "ok $ok_n $*"
}

fx_reset() {
	FX_TLS=starttls FX_FAKE= FX_LEAF=good FX_ENV= FX_NOAUTH= FX_TIMEOUT=2 FX_NOCONN= FX_ENV1= FX_FAKE1=
}
fx_reset

# One run of the binary against a fresh server for scenario $fx_sc; extra
# arguments come first.  Sets rc and ms.
fx_run() {
	FAKE_LEAF=$FX_LEAF fake_start "$fx_sc" $FX_FAKE ${FX_FAKE1:+"$FX_FAKE1"} || sx_fail "$fx_sc: fakesmtp did not start"
	if [ -n "$FX_NOAUTH" ]; then
		fx_auth=
	else
		fx_auth="SMTPS_SEND_USER=alice SMTPS_SEND_PASSWORD=$FX_PASSWORD"
	fi
	fx_t0=$(now_ms)
	# queue off: the fault suite reads each failure's class from the exit
	# status of the synchronous mode; queued-means-accepted is t_queue's.
	env LC_ALL=C SMTPS_SEND_QUEUE=off HOME="$T/home" XDG_CONFIG_HOME="$T/home" SMTPS_SEND_CONFIG="$T/home/empty.conf" \
	    SMTPS_SEND_HOST=localhost SMTPS_SEND_PORT="$FAKE_PORT" SMTPS_SEND_TLS="$FX_TLS" \
	    SMTPS_SEND_TLS_TRUST_FILE="$FAKE_CA" SMTPS_SEND_TIMEOUT="$FX_TIMEOUT" \
	    SMTPS_SEND_QUEUE_DIR="$Q" SMTPS_SEND_DOMAIN=client.test $fx_auth $FX_ENV ${FX_ENV1:+"$FX_ENV1"} \
	    "$BIN" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	ms=$(($(now_ms) - fx_t0))
	# FX_NOCONN=1: the client must not connect; stop the server (it writes its record).
	[ -n "${FX_NOCONN:-}" ] && kill "$FAKE_PID" 2>/dev/null
	fake_wait 10
}

# FX_JSON=1 (t_json_faults.sh): each case runs first with
# --diag-format=json, and every line of its stderr must conform to the
# documented schema (json_schema.py, with the run's exit status); then the
# queue is emptied and the case runs as text, which its assertions read.
fx() {
	fx_sc=$1
	shift
	if [ -n "${FX_JSON:-}" ]; then
		cat >"$T/fx_in"
		fx_run --diag-format=json "$@" <"$T/fx_in"
		"$FAKE_PYTHON" tests/e2e/json_schema.py --exit "$rc" "$T/err" ||
		    { head -n 40 "$T/err" >&2; sx_fail "$fx_sc: JSON diagnostics do not conform (exit $rc)"; }
		[ -n "${FX_JSON_LOG:-}" ] && echo "$fx_sc $rc" >>"$FX_JSON_LOG"
		rm -f "$Q"/*
		fx_run "$@" <"$T/fx_in"
	else
		fx_run "$@"
	fi
	fx_reset
}

fx_show() {
	echo "--- $fx_sc: exit $rc after $ms ms; stderr:" >&2
	head -n 30 "$T/err" >&2
}

fx_fail() {
	fx_show
	sx_fail "$fx_sc: $*"
}

want() {
	[ "$rc" = "$1" ] || fx_fail "exit status $rc, expected $1"
	fx_first=$(head -n 1 "$T/err")
	case "$fx_first" in
	"smtps-send: $2: "*) ;;
	*) fx_fail "first line is '$fx_first', expected stage '$2'" ;;
	esac
	if [ $# -ge 3 ]; then
		printf '%s\n' "$fx_first" | grep -q -E -e "^smtps-send: $2: $3" ||
		    fx_fail "failure line does not match '$3'"
	fi
	[ ! -s "$T/out" ] || fx_fail "stdout is not empty"
}

want_ok() {
	[ "$rc" = 0 ] || fx_fail "exit status $rc, expected 0"
	[ ! -s "$T/err" ] || fx_fail "stderr is not empty on success"
	[ ! -s "$T/out" ] || fx_fail "stdout is not empty"
	want_nothing_kept
}

want_hint() {
	grep -q -E -e "^smtps-send: hint: $1" "$T/err" || fx_fail "no hint matching '$1'"
}

want_nohint() {
	! grep -q '^smtps-send: hint:' "$T/err" || fx_fail "unexpected hint"
}

want_kept() {
	fx_kept=$(sed -n 's/^smtps-send: the message was kept in //p' "$T/err")
	[ -n "$fx_kept" ] || fx_fail "no 'the message was kept in' line"
	case "$fx_kept" in "$Q"/*) ;; *) fx_fail "kept outside the queue: $fx_kept" ;; esac
	[ -s "$fx_kept" ] || fx_fail "kept file $fx_kept is missing or empty"
	# Only the queue's own note may follow the kept line.
	! sed '1,/^smtps-send: the message was kept in /d' "$T/err" |
	    grep -v -E '^smtps-send: (queued|kept) as [0-9a-f]+[ ,]' | grep -q . ||
	    fx_fail "lines after the kept line"
	rm -f "$fx_kept" "${fx_kept%.msg}.meta"
	[ -z "$(ls -A "$Q")" ] || fx_fail "the queue holds more: $(ls -A "$Q")"
}

want_nothing_kept() {
	[ -z "$(ls -A "$Q")" ] || fx_fail "the queue holds: $(ls -A "$Q")"
	! grep -q -E 'the message was kept|queued as' "$T/err" || fx_fail "says the message was kept"
}

# The bound (already a time-out plus slack for a loaded machine) is scaled
# by SX_TIME_FACTOR: a sanitizer build starts and runs slower.
want_ms_below() {
	fx_bound=$(sx_scale "$1")
	[ "$ms" -lt "$fx_bound" ] || fx_fail "took $ms ms, expected < $fx_bound ms"
}

rec() {
	"$FAKE_PYTHON" - "$FAKE_RECORD" "$@" <<'EOF' || fx_fail "record checks failed"
import fnmatch, json, re, sys
r = json.load(open(sys.argv[1]))
c = r["connections"]
w = c[0] if c else {}
cmds = w.get("commands", [])
plain = "".join(x["plain"] for x in c)
tls = "".join(x["tls"] for x in c)
bodies = w.get("data_bodies", [])
chunks = w.get("bdat_chunks", [])

def cleartext_ok():
    """No mail transaction or credentials in cleartext on any connection."""
    return not re.search(r"(?im)^(AUTH|MAIL|RCPT|DATA|BDAT)\b", plain)

def nobody():
    """No message text reached the server."""
    return bodies == [] and chunks == [] and w.get("incomplete_data") in (None, "")

def seq(*pats):
    """cmds match pats one for one (fnmatch: '*' is any text)."""
    return len(pats) == len(cmds) and all(
        fnmatch.fnmatchcase(x, p) for x, p in zip(cmds, pats))

def eom():
    return w.get("eom_count")

def viol():
    return w.get("violations")

bad = 0
for ex in sys.argv[2:]:
    try:
        ok = eval(ex)
    except Exception as e:
        ok, ex = False, "%s (%s: %s)" % (ex, type(e).__name__, e)
    if ok is not True:
        print("record check failed: " + ex, file=sys.stderr)
        bad = 1
if bad:
    show = {k: w.get(k) for k in ("commands", "quit_received", "eom_count", "violations",
                                 "closed_by", "tls_established", "tls_error")}
    show["plain"] = plain[:300]
    show["connections"] = len(c)
    print(json.dumps(show, indent=1)[:3000], file=sys.stderr)
sys.exit(bad)
EOF
}

rec_std() {
	rec 'cleartext_ok()' 'viol() == []' "$@"
}

# The commands every authenticated STARTTLS session starts with.
FX_PRE="'EHLO client.test', 'STARTTLS', 'EHLO client.test', 'AUTH PLAIN $FX_B64_PLAIN'"
FX_PRE_IMPLICIT="'EHLO client.test', 'AUTH PLAIN $FX_B64_PLAIN'"
FX_MAIL="'MAIL FROM:<alice@localhost> SIZE='"

# msg FILE: a small ASCII message.
msg() {
	printf 'Subject: fault\n\nhello\n' >"$T/msg"
}
msg
