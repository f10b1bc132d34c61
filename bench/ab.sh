#!/bin/bash
# bench/ab.sh — interleaved A/B timing of two smtps-send binaries (one 1 KiB
# send each run) against bench/sink, over the TUN delay forwarder or the
# namespace's loopback.  Not part of `make check`.  Root required.
#
#   bench/ab.sh --a BIN --b BIN [--runs N] [--delay-ms MS|--loopback]
#               [--mode starttls|implicit] [--chunking] [--keep]
#
# Runs are paired and interleaved (A B, B A, A B, ...: the order flips each
# pair so neither binary always runs second); a run counts only when the
# client exits 0 and the sink logged the message.  Prints, in ms, each
# binary's median / mean / min, and the median and mean of the per-pair
# differences B - A with the number of pairs where B was faster.
set -u

here=$(cd "$(dirname "$0")" && pwd)
A= B= RUNS=30 DELAY_MS=25 LOOP=0 MODE=starttls CHUNK=0 KEEP=0
usage() {
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}
while [ $# -gt 0 ]; do
	case $1 in
	--a) A=${2:?}; shift ;;
	--b) B=${2:?}; shift ;;
	--runs) RUNS=${2:?}; shift ;;
	--delay-ms) DELAY_MS=${2:?}; shift ;;
	--loopback) LOOP=1 ;;
	--mode) MODE=${2:?}; shift ;;
	--chunking) CHUNK=1 ;;
	--keep) KEEP=1 ;;
	-h|--help) usage 0 ;;
	*) echo "ab.sh: unknown option $1" >&2; usage ;;
	esac
	shift
done
[ -x "$A" ] && [ -x "$B" ] || { echo "ab.sh: --a and --b must name executables" >&2; exit 2; }
A=$(readlink -f "$A") B=$(readlink -f "$B")
case $MODE in starttls|implicit) ;; *) echo "ab.sh: --mode starttls|implicit" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "ab.sh: must run as root" >&2; exit 2; }

W=$(mktemp -d /tmp/sbab.XXXXXX)
NS_A=sbabA$$ NS_B=sbabB$$
IP_A=10.78.0.1 IP_B=10.78.0.2
PIDS=()
LIMIT=$((RUNS * 4 + 120))
FROM=from@example.org RCPT=rcpt@example.org

cleanup() {
	trap - EXIT INT TERM HUP
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for p in $NS_A $NS_B; do [ -e /run/netns/$p ] && ip netns del $p 2>/dev/null; done
	if [ $KEEP = 1 ]; then echo "ab.sh: kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo "ab.sh: interrupted" >&2; exit 130' INT TERM HUP
die() { echo "ab.sh: $*" >&2; exit 1; }
wait_for() {
	local n=$(($1 * 20)); shift
	while ! "$@" 2>/dev/null; do
		n=$((n - 1)); [ $n -le 0 ] && return 1
		sleep 0.05
	done
}

make -s -C "$here" O="$W/bin" >"$W/build.log" 2>&1 || { cat "$W/build.log" >&2; die "build failed"; }
(
	cd "$W" || exit 1
	printf 'cn = "ab CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >ca.tmpl
	printf 'cn = "sink.test"\nip_address = "%s"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days = 2\n' "$IP_B" >leaf.tmpl
	certtool --generate-privkey --key-type=ecdsa --outfile ca.key &&
	certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --outfile ca.pem &&
	certtool --generate-privkey --key-type=ecdsa --outfile leaf.key &&
	certtool --generate-certificate --load-privkey leaf.key --load-ca-certificate ca.pem \
		--load-ca-privkey ca.key --template leaf.tmpl --outfile leaf.pem
) >"$W/certs.log" 2>&1 || { cat "$W/certs.log" >&2; die "certtool failed"; }
printf 'From: <%s>\nTo: <%s>\nSubject: ab\nDate: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <ab@example.org>\n\n' "$FROM" "$RCPT" >"$W/msg"
head -c 900 /dev/zero | tr '\0' 'x' | fold -w 60 >>"$W/msg"

ip netns add $NS_A || die "cannot create namespaces"
ip -n $NS_A link set lo up
if [ $LOOP = 1 ]; then
	NS_S=$NS_A HOST=127.0.0.1 LINK="namespace loopback"
else
	ip netns add $NS_B && ip -n $NS_B link set lo up || die "cannot create namespaces"
	"$W/bin/delayfwd" --ns-a /run/netns/$NS_A --dev-a sbabtA --ns-b /run/netns/$NS_B --dev-b sbabtB \
		--delay-ms "$DELAY_MS" --max-seconds "$LIMIT" </dev/null >"$W/delayfwd.log" 2>&1 &
	PIDS+=($!)
	wait_for 5 grep -q ready "$W/delayfwd.log" || die "delayfwd: $(cat "$W/delayfwd.log")"
	ip -n $NS_A addr add $IP_A/24 dev sbabtA && ip -n $NS_A link set sbabtA up &&
		ip -n $NS_B addr add $IP_B/24 dev sbabtB && ip -n $NS_B link set sbabtB up ||
		die "cannot configure TUN devices"
	NS_S=$NS_B HOST=$IP_B LINK="TUN forwarder, $DELAY_MS ms one-way"
fi
extra=()
[ $CHUNK = 1 ] && extra+=(--chunking)
ip netns exec $NS_S "$W/bin/sink" --cert "$W/leaf.pem" --key "$W/leaf.key" --addr "$HOST" \
	--port 2587 --mode "$MODE" "${extra[@]}" --max-seconds "$LIMIT" --idle-seconds 60 \
	--log "$W/sink.log" </dev/null >"$W/sink.stderr" 2>&1 &
PIDS+=($!)
wait_for 5 grep -q '^ready' "$W/sink.log" || die "sink: $(cat "$W/sink.stderr")"
# The warm-up runs below also check the path end to end.

export SMTPS_SEND_HOST=$HOST SMTPS_SEND_PORT=2587 SMTPS_SEND_TLS=$MODE \
	SMTPS_SEND_TLS_TRUST_FILE=$W/ca.pem SMTPS_SEND_USER=u SMTPS_SEND_PASSWORD=p \
	SMTPS_SEND_QUEUE_DIR=$W/q SMTPS_SEND_CONFIG=$W/none.conf HOME=$W
: >"$W/none.conf"

# one BIN OUT: one timed send (seconds to OUT); 1 when it did not count
one() {
	local before after res
	before=$(grep -c '^msg ' "$W/sink.log")
	res=$(ip netns exec $NS_A timeout 30 bash -c \
		's=$EPOCHREALTIME; "$0" -i -f "$1" "$2" <"$3" >/dev/null 2>>"$4"; rc=$?; e=$EPOCHREALTIME; echo "$rc $s $e"' \
		"$1" "$FROM" "$RCPT" "$W/msg" "$W/client.err")
	after=$(grep -c '^msg ' "$W/sink.log")
	read -r rc s e <<<"$res"
	[ "${rc:-1}" = 0 ] && [ "$after" = $((before + 1)) ] || return 1
	awk -v s="$s" -v e="$e" 'BEGIN{printf "%.6f\n", e - s}' >>"$2"
}

one "$A" /dev/null && one "$B" /dev/null || die "warm-up failed: $(tail -3 "$W/client.err")"
for i in $(seq "$RUNS"); do
	if [ $((i % 2)) = 1 ]; then
		one "$A" "$W/a" && one "$B" "$W/b" || die "run $i failed: $(tail -3 "$W/client.err")"
	else
		one "$B" "$W/b" && one "$A" "$W/a" || die "run $i failed: $(tail -3 "$W/client.err")"
	fi
done

stats() {
	sort -g "$1" | awk '{v[NR]=$1*1000; s+=v[NR]} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "median %8.3f  mean %8.3f  min %8.3f", m, s/NR, v[1]}'
}
echo "$MODE$([ $CHUNK = 1 ] && echo ', CHUNKING'), $LINK, $RUNS interleaved pairs"
echo "A $(stats "$W/a")  ($A)"
echo "B $(stats "$W/b")  ($B)"
paste "$W/a" "$W/b" | awk '{d=($2-$1)*1000; print d}' >"$W/d"
sort -g "$W/d" | awk '{v[NR]=$1; s+=$1; if ($1 < 0) f++} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "B - A per pair: median %+.3f ms, mean %+.3f ms; B faster in %d of %d\n", m, s/NR, f, NR}'
