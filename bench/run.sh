#!/bin/bash
# bench/run.sh — compare smtps-send with msmtp and curl side by side (issue 10).
# Not part of `make check`.  Root required (network namespaces, TUN devices).
#
#   bench/run.sh [--quick] [--only rtt|writes|instr|rss|startup|batch] [--bin PATH]
#                [--delay-ms MS] [--reps N] [--limit SECONDS] [--keep]
#                [--batch-n "1 100 1000"] [--batch-queue "1000 10000"]
#                [--batch-clients "msmtp send odq bs bsb postfix"]
#
# See bench/README for what every number means.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")

QUICK=0 ONLY=all KEEP=0 DELAY_MS=25 REPS= LIMIT= BATCH_N="1 100 1000" BATCH_QUEUE="1000 10000"
BIN=${SMTPS_SEND_BIN:-$top/build/smtps-send}
usage() {
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--only) ONLY=${2:?}; shift ;;
	--bin) BIN=${2:?}; shift ;;
	--delay-ms) DELAY_MS=${2:?}; shift ;;
	--reps) REPS=${2:?}; shift ;;
	--limit) LIMIT=${2:?}; shift ;;
	--keep) KEEP=1 ;;
	--batch-n) BATCH_N=${2:?}; shift ;;
	--batch-queue) BATCH_QUEUE=${2:?}; shift ;;
	--batch-clients) BATCH_CLIENTS=${2:?}; shift ;;
	-h|--help) usage 0 ;;
	*) echo "run.sh: unknown option $1" >&2; usage ;;
	esac
	shift
done
case $ONLY in all|rtt|writes|instr|rss|startup|batch) ;; *) echo "run.sh: --only rtt|writes|instr|rss|startup|batch" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (it creates network namespaces and TUN devices)" >&2; exit 2; }

# Bounded in time: run under timeout(1); on expiry everything in the process
# group gets SIGTERM and the trap below removes namespaces and files.
if [ -z "${SB_UNDER_TIMEOUT:-}" ]; then
	[ -n "$LIMIT" ] || { [ $QUICK = 1 ] && LIMIT=900 || LIMIT=3600; }
	SB_UNDER_TIMEOUT=$LIMIT exec timeout -k 30 "$LIMIT" bash "$0" "${args[@]}"
fi
LIMIT=$SB_UNDER_TIMEOUT

missing=
for t in ip ping certtool msmtp curl strace valgrind python3 make cc pkg-config timeout; do
	command -v $t >/dev/null || missing="$missing $t"
done
[ -x /usr/bin/time ] || missing="$missing /usr/bin/time(package time)"
[ -c /dev/net/tun ] || missing="$missing /dev/net/tun"
if [ -n "$missing" ]; then
	echo "run.sh: missing:$missing (apt-get install iputils-ping gnutls-bin msmtp curl strace valgrind time)" >&2
	exit 2
fi

if [ -n "$REPS" ]; then RTT_REPS=$REPS; START_REPS=$REPS
elif [ $QUICK = 1 ]; then RTT_REPS=3; START_REPS=20
else RTT_REPS=7; START_REPS=20; fi
want() { [ "$ONLY" = all ] || [ "$ONLY" = "$1" ]; }

W=$(mktemp -d /tmp/sbench.XXXXXX)
NS_A=sbA$$ NS_B=sbB$$ NS_L=sbL$$
IP_A=10.77.0.1 IP_B=10.77.0.2
PIDS=() CUR=
FROM=from@example.org RCPT=rcpt@example.org USER_=benchuser PASS_=benchpass

stop_pid() {   # stop one of our children: TERM, up to 3 s, then KILL
	local pid=$1 i st
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 30); do
		st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || break
		[ "$st" = Z ] && break
		sleep 0.1
	done
	[ -e "/proc/$pid" ] && [ "$st" != Z ] && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
cleanup() {
	trap - EXIT INT TERM HUP
	local p
	[ -n "$CUR" ] && stop_pid "$CUR"   # a client run in flight (its timeout(1))
	declare -F pf_stop_all >/dev/null && pf_stop_all   # the batch section's Postfix
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	for p in $NS_A $NS_B $NS_L; do
		[ -e /run/netns/$p ] && ip netns del $p 2>/dev/null
	done
	if [ $KEEP = 1 ]; then echo "run.sh: kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM HUP

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

# ---------------------------------------------------------------- build, certs, messages
make -s -C "$here" O="$W/bin" >"$W/build.log" 2>&1 || { cat "$W/build.log" >&2; die "build failed"; }

gen_certs() {
	cd "$W" || exit 1
	printf 'cn = "smtps-send bench CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >ca.tmpl
	printf 'cn = "sink.test"\ndns_name = "sink.test"\ndns_name = "localhost"\nip_address = "%s"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days = 2\n' "$IP_B" >leaf.tmpl
	certtool --generate-privkey --key-type=ecdsa --outfile ca.key &&
	certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --outfile ca.pem &&
	certtool --generate-privkey --key-type=ecdsa --outfile leaf.key &&
	certtool --generate-certificate --load-privkey leaf.key --load-ca-certificate ca.pem \
		--load-ca-privkey ca.key --template leaf.tmpl --outfile leaf.pem
	cd - >/dev/null
}
gen_certs >"$W/certs.log" 2>&1 || { cat "$W/certs.log" >&2; die "certtool failed"; }
CA=$W/ca.pem

# A message of exactly SIZE bytes, LF line ends: headers, then 38-byte lines
# (37 characters + LF, like the issue's 20 MiB = 548k lines); every 16th line
# starts with ".", every 1000th is a lone "." (dot-stuffing on the way out).
gen_msg() {
	python3 - "$1" "$2" <<'EOF'
import sys
path, size = sys.argv[1], int(sys.argv[2])
hdr = (b"From: Bench Sender <from@example.org>\nTo: Bench Rcpt <rcpt@example.org>\n"
       b"Subject: smtps-send benchmark message\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n"
       b"Message-ID: <bench.%d@example.org>\nMIME-Version: 1.0\n"
       b"Content-Type: text/plain; charset=us-ascii\n\n" % size)
lines = []
for i in range(16000):
    if i % 1000 == 999:
        s = b"."
    elif i % 16 == 5:
        s = b".%036d" % i
    else:
        s = b"line %06d the quick brown fox jumps!" % (i % 1000000)
    lines.append(s[:37].ljust(37, b"x") if s != b"." else s.ljust(1))
block = b"".join(l + b"\n" for l in lines)
with open(path, "wb") as f:
    f.write(hdr)
    left = size - len(hdr)
    while left >= len(block):
        f.write(block); left -= len(block)
    part = block[:left]
    if left and not part.endswith(b"\n"):
        part = part[:-1] + b"\n"
    f.write(part)
EOF
}
MSG_1K=$W/msg-1k.txt MSG_20M=$W/msg-20m.txt MSG_200M=$W/msg-200m.txt
gen_msg "$MSG_1K" 1024
if want writes || want instr || want rss; then gen_msg "$MSG_20M" $((20 * 1048576)); fi
if [ $QUICK = 0 ] && want rss; then gen_msg "$MSG_200M" $((200 * 1048576)); fi
# The same 20 MiB message with CRLF line ends (curl without --crlf)
MSG_20M_CRLF=$W/msg-20m-crlf.txt
if want instr; then sed 's/$/\r/' "$MSG_20M" >"$MSG_20M_CRLF"; fi

# ---------------------------------------------------------------- helpers
# timeit IN OUTPREFIX CMD...: runs CMD <IN, prints "rc start end" (µs clock)
cat >"$W/timeit" <<'EOF'
#!/bin/bash
in=$1 out=$2; shift 2
s=$EPOCHREALTIME
"$@" <"$in" >"$out.out" 2>"$out.err"
rc=$?
e=$EPOCHREALTIME
echo "$rc $s $e"
EOF
chmod +x "$W/timeit"
mkdir -p "$W/out"

wait_for() {   # wait_for SECONDS CMD...: poll until CMD succeeds
	local n=$(( $1 * 20 )); shift
	while ! "$@" 2>/dev/null; do
		n=$((n - 1)); [ $n -le 0 ] && return 1
		sleep 0.05
	done
}

# start_sink NS ADDR PORT MODE CHUNKING(0|1) LOG [MORE SINK FLAGS]
start_sink() {
	local extra=("${@:7}")
	[ "$5" = 1 ] && extra+=(--chunking)
	ip netns exec "$1" "$W/bin/sink" --cert "$W/leaf.pem" --key "$W/leaf.key" \
		--addr "$2" --port "$3" --mode "$4" "${extra[@]}" --max-seconds "$LIMIT" \
		--idle-seconds 300 --log "$6" </dev/null >>"$6.stderr" 2>&1 &
	PIDS+=($!)
	wait_for 5 grep -q '^ready' "$6" || die "sink on port $3 did not start: $(cat "$6.stderr")"
}

setup_loopback() {
	[ -e /run/netns/$NS_L ] && return 0
	ip netns add $NS_L && ip -n $NS_L link set lo up || die "cannot create namespace $NS_L"
	start_sink $NS_L 127.0.0.1 2587 starttls 0 "$W/sink-lo.log"
}

setup_delay() {
	ip netns add $NS_A && ip netns add $NS_B || die "cannot create namespaces"
	ip -n $NS_A link set lo up; ip -n $NS_B link set lo up
	"$W/bin/delayfwd" --ns-a /run/netns/$NS_A --dev-a sbtA --ns-b /run/netns/$NS_B --dev-b sbtB \
		--delay-ms "$DELAY_MS" --max-seconds "$LIMIT" </dev/null >"$W/delayfwd.log" 2>&1 &
	PIDS+=($!)
	wait_for 5 grep -q ready "$W/delayfwd.log" || die "delayfwd did not start: $(cat "$W/delayfwd.log")"
	ip -n $NS_A addr add $IP_A/24 dev sbtA && ip -n $NS_A link set sbtA mtu 1500 up &&
	ip -n $NS_B addr add $IP_B/24 dev sbtB && ip -n $NS_B link set sbtB mtu 1500 up ||
		die "cannot configure TUN devices"
	wait_for 5 ip netns exec $NS_A ping -c 1 -W 1 -q $IP_B >/dev/null || die "no route through delayfwd"
}

msmtprc() {   # msmtprc HOST PORT MODE -> path
	local f=$W/msmtprc.$1.$2
	if [ ! -e "$f" ]; then
		local st=on; [ "$3" = implicit ] && st=off
		printf 'account bench\nhost %s\nport %s\ntls on\ntls_starttls %s\ntls_trust_file %s\nauth plain\nuser %s\npassword %s\ntimeout 120\naccount default : bench\n' \
			"$1" "$2" "$st" "$CA" "$USER_" "$PASS_" >"$f"
		chmod 600 "$f"
	fi
	echo "$f"
}

# client_cmd CLIENT HOST PORT MODE MSG: sets CMD and the SMTPS_SEND_* environment
client_cmd() {
	local c=$1 host=$2 port=$3 mode=$4 msg=$5 scheme=smtp
	export SMTPS_SEND_HOST=$host SMTPS_SEND_PORT=$port SMTPS_SEND_TLS=$mode \
		SMTPS_SEND_TLS_TRUST_FILE=$CA SMTPS_SEND_USER=$USER_ SMTPS_SEND_PASSWORD=$PASS_
	case $c in
	msmtp) CMD=(msmtp -C "$(msmtprc "$host" "$port" "$mode")" -f "$FROM" "$RCPT") ;;
	curl)
		[ "$mode" = implicit ] && scheme=smtps
		CMD=(curl -sS --url "$scheme://$host:$port" --ssl-reqd --cacert "$CA"
			--mail-from "$FROM" --mail-rcpt "$RCPT" --user "$USER_:$PASS_"
			--upload-file "$msg" --login-options AUTH=PLAIN)
		# curl sends the file as is: LF input needs --crlf (else bare LFs)
		[ "${msg%-crlf.txt}" = "$msg" ] && CMD+=(--crlf) ;;
	smtps-send) CMD=("$BIN" -i -f "$FROM" "$RCPT") ;;
	esac
}

msgs_in() { grep -c '^msg ' "$1" 2>/dev/null; }

# run_one NS CLIENT HOST PORT MODE MSG SINKLOG TAG TIMEOUT [WRAPPER...]
# Sets R_SEC (wall seconds), R_ERR (empty on success).  Success = exit 0 and
# the sink logged one more message with at least as many bytes as the file.
run_one() {
	local ns=$1 c=$2 host=$3 port=$4 mode=$5 msg=$6 slog=$7 tag=$8 to=$9
	shift 9
	client_cmd "$c" "$host" "$port" "$mode" "$msg"
	local before after res rc s e bytes size
	before=$(msgs_in "$slog")
	# In the background + wait, so that a signal to run.sh interrupts the wait
	# and the trap can stop the run (timeout(1) has its own process group).
	ip netns exec "$ns" timeout -k 5 "$to" "$W/timeit" "$msg" "$W/out/$tag" "$@" "${CMD[@]}" \
		>"$W/out/$tag.res" 2>>"$W/out/$tag.err" &
	CUR=$!
	wait $CUR
	CUR=
	res=$(cat "$W/out/$tag.res")
	read -r rc s e <<<"$res"
	R_SEC=$(awk -v s="${s:-0}" -v e="${e:-0}" 'BEGIN{printf "%.6f", e - s}')
	after=$(msgs_in "$slog")
	R_ERR=
	if [ -z "$res" ]; then R_ERR="timeout"
	elif [ "$rc" != 0 ]; then R_ERR="exit $rc"
	elif [ "$after" != $((before + 1)) ]; then R_ERR="sink got $((after - before)) msgs"
	else
		bytes=$(grep '^msg ' "$slog" | tail -1 | awk '{print $6}')
		size=$(stat -c %s "$msg")
		[ "$bytes" -ge "$size" ] || R_ERR="sink got $bytes < $size bytes"
		R_BYTES=$bytes
	fi
	if [ -n "$R_ERR" ]; then
		log "  $c ($tag): FAILED: $R_ERR: $(head -c 300 "$W/out/$tag.err" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	return 0
}

median() { sort -g | awk '{v[NR]=$1} END{if(!NR){print "";exit} if(NR%2)print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

declare -A RES
CLIENTS=(msmtp curl)
if [ -x "$BIN" ]; then
	CLIENTS+=(smtps-send)
	SM_NOTE="smtps-send: $BIN"
else
	SM_NOTE="smtps-send: not built ($BIN missing) — column skipped"
fi
# A client that failed in a section is skipped for the rest of that section.
declare -A FAILED
failed() { [ -n "${FAILED[$1|$2]:-}" ]; }
mark_failed() { FAILED[$1|$2]=1; RES[$3|$2]="FAIL(${R_ERR})"; }

# ---------------------------------------------------------------- 1. round trips
if want rtt; then
	log "== round trips over a ${DELAY_MS} ms one-way delay"
	setup_delay
	RTT_MS=$(ip netns exec $NS_A ping -c 10 -i 0.2 -q $IP_B | awk -F/ '/^rtt/{print $5}')
	[ -n "$RTT_MS" ] || die "ping failed"
	RES[rtt|ping]=$RTT_MS
	log "   ping RTT $RTT_MS ms"
	start_sink $NS_B $IP_B 2587 starttls 0 "$W/sink-st.log"
	start_sink $NS_B $IP_B 2465 implicit 0 "$W/sink-im.log"
	start_sink $NS_B $IP_B 3587 starttls 1 "$W/sink-stc.log"
	start_sink $NS_B $IP_B 3465 implicit 1 "$W/sink-imc.log"
	CONFS=("starttls 2587 st 0" "implicit 2465 im 0" "starttls 3587 stc 1" "implicit 3465 imc 1")
	for rep in $(seq "$RTT_REPS"); do
		for conf in "${CONFS[@]}"; do
			read -r mode port short ch <<<"$conf"
			for c in "${CLIENTS[@]}"; do
				failed rtt-$short $c && continue
				if run_one $NS_A $c $IP_B $port $mode "$MSG_1K" "$W/sink-$short.log" rtt-$short-$c-$rep 60; then
					echo "$R_SEC" >>"$W/rtt-$short-$c"
				else
					mark_failed rtt-$short $c "rtt-$short"
				fi
			done
		done
	done
	# tls_resume (smtps-send only: msmtp and curl keep no tickets between
	# runs) against a sink that issues TLS 1.3 tickets; one warm-up run
	# saves the first ticket.
	start_sink $NS_B $IP_B 4465 implicit 1 "$W/sink-imr.log" --tickets
	if [ -x "$BIN" ]; then
		export XDG_STATE_HOME=$W/state SMTPS_SEND_STATE_DIR=$W/state/smtps-send SMTPS_SEND_TLS_RESUME=on
		for rep in 0 $(seq "$RTT_REPS"); do
			failed rtt-imr smtps-send && break
			if run_one $NS_A smtps-send $IP_B 4465 implicit "$MSG_1K" "$W/sink-imr.log" rtt-imr-$rep 60; then
				[ "$rep" = 0 ] || echo "$R_SEC" >>"$W/rtt-imr-smtps-send"
			else
				mark_failed rtt-imr smtps-send rtt-imr
			fi
		done
		unset XDG_STATE_HOME SMTPS_SEND_STATE_DIR SMTPS_SEND_TLS_RESUME
		RES[rtt-imr|msmtp]=n/a RES[rtt-imr|curl]=n/a
	fi
	CONFS+=("implicit 4465 imr 1")
	for conf in "${CONFS[@]}"; do
		read -r mode port short ch <<<"$conf"
		for c in "${CLIENTS[@]}"; do
			failed rtt-$short $c && continue
			[ -s "$W/rtt-$short-$c" ] || continue
			med=$(median <"$W/rtt-$short-$c")
			RES[rtt-$short|$c]=$(awk -v m="$med" -v r="$RTT_MS" 'BEGIN{printf "%.1f", m * 1000 / r}')
			# The issue quotes its figures over a 51 ms RTT (2 x 25 ms + 1).
			RES[rtt51-$short|$c]=$(awk -v m="$med" -v r="$((2 * DELAY_MS + 1))" 'BEGIN{printf "%.2f", m * 1000 / r}')
			log "   $short $c median $(awk -v m="$med" 'BEGIN{printf "%.2f", m*1000}') ms = ${RES[rtt-$short|$c]} RTT (${RES[rtt51-$short|$c]} x $((2 * DELAY_MS + 1)) ms)"
		done
	done
fi

# ---------------------------------------------------------------- loopback sections
if want writes; then
	log "== socket writes, 20 MiB, loopback (strace)"
	setup_loopback
	for c in "${CLIENTS[@]}"; do
		st=$W/strace.$c
		if run_one $NS_L $c 127.0.0.1 2587 starttls "$MSG_20M" "$W/sink-lo.log" writes-$c 900 \
			strace -f -qq -yy -s 0 -e trace=write,send,sendto,sendmsg,writev -e signal=none -o "$st"; then
			RES[writes|$c]=$(grep -cE '^[0-9]+ +(write|send|sendto|sendmsg|writev)\([0-9]+<TCP(v6)?:\[[^]]*->[^]]*:2587\]>' "$st")
			RES[bytes|$c]=$R_BYTES
			log "   $c ${RES[writes|$c]} writes (sink got $R_BYTES bytes)"
		else
			mark_failed writes $c writes
		fi
		rm -f "$st"
	done
fi

if want instr; then
	log "== instructions, 20 MiB, loopback (valgrind --tool=callgrind, total Ir)"
	setup_loopback
	for v in "instr $MSG_20M" "instr-crlf $MSG_20M_CRLF"; do
		read -r key file <<<"$v"
		for c in "${CLIENTS[@]}"; do
			failed $key $c && continue
			vl=$W/vg.$key.$c.log
			if run_one $NS_L $c 127.0.0.1 2587 starttls "$file" "$W/sink-lo.log" $key-$c 1200 \
				valgrind --tool=callgrind --callgrind-out-file="$W/callgrind.$c.%p" --log-file="$vl"; then
				ir=$(awk '/Collected :/{s += $NF} END{printf "%.0f", s}' "$vl")
				RES[$key|$c]=$(awk -v i="$ir" 'BEGIN{printf "%.3f", i / 1e9}')
				log "   $key $c $ir Ir"
			else
				mark_failed $key $c $key
			fi
			rm -f "$W"/callgrind.$c.*
		done
	done
fi

if want rss; then
	log "== peak RSS (/usr/bin/time -v), loopback"
	setup_loopback
	sizes=("1k $MSG_1K" "20m $MSG_20M")
	[ $QUICK = 0 ] && sizes+=("200m $MSG_200M")
	for sz in "${sizes[@]}"; do
		read -r name file <<<"$sz"
		for c in "${CLIENTS[@]}"; do
			failed rss $c && { RES[rss-$name|$c]=skip; continue; }
			tf=$W/time.$name.$c
			if run_one $NS_L $c 127.0.0.1 2587 starttls "$file" "$W/sink-lo.log" rss-$name-$c 900 \
				/usr/bin/time -v -o "$tf"; then
				kb=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")
				RES[rss-$name|$c]=$(awk -v k="$kb" 'BEGIN{printf "%.1f", k / 1024}')
				log "   $name $c ${RES[rss-$name|$c]} MiB"
			else
				mark_failed rss $c rss-$name
			fi
		done
	done
	[ $QUICK = 1 ] && for c in "${CLIENTS[@]}"; do RES[rss-200m|$c]="(quick)"; done
fi

if want startup; then
	log "== start-to-exit, 1 KiB, loopback, median of $START_REPS"
	setup_loopback
	for rep in $(seq "$START_REPS"); do
		for c in "${CLIENTS[@]}"; do
			failed startup $c && continue
			if run_one $NS_L $c 127.0.0.1 2587 starttls "$MSG_1K" "$W/sink-lo.log" startup-$c-$rep 30; then
				echo "$R_SEC" >>"$W/startup-$c"
			else
				mark_failed startup $c startup
			fi
		done
	done
	for c in "${CLIENTS[@]}"; do
		failed startup $c && continue
		RES[startup|$c]=$(median <"$W/startup-$c" | awk '{printf "%.1f", $1 * 1000}')
		log "   $c ${RES[startup|$c]} ms"
	done
fi

# ---------------------------------------------------------------- 6. many messages (bench/batch.sh)
if want batch; then
	. "$here/batch.sh"
	batch_run
fi

# ---------------------------------------------------------------- table
cell() {
	local v=${RES[$1|$2]:-}
	if [ -z "$v" ]; then
		if [ "$2" = smtps-send ] && [ ! -x "$BIN" ]; then v="(no binary)"; else v="-"; fi
	fi
	printf '%s' "$v"
}
ratio() {   # smtps-send / other, if both numeric
	local a=${RES[$1|smtps-send]:-} b=${RES[$1|$2]:-}
	if [[ $a =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]] && awk -v b="$b" 'BEGIN{exit !(b > 0)}'; then
		awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", a / b}'
	else
		printf -- '-'
	fi
}
row() {   # row KEY LABEL
	want "$3" || return 0
	printf '%-44s %12s %12s %14s %9s %9s\n' "$2" "$(cell "$1" msmtp)" "$(cell "$1" curl)" \
		"$(cell "$1" smtps-send)" "$(ratio "$1" msmtp)" "$(ratio "$1" curl)"
}

echo
echo "smtps-send benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs$([ $QUICK = 1 ] && echo ', --quick')"
echo "msmtp $(msmtp --version | awk 'NR==1{print $3}'), curl $(curl --version | awk 'NR==1{print $2}'), $SM_NOTE"
echo "server: bench/sink (GnuTLS, TCP_NODELAY, one write per reply batch); loopback runs use STARTTLS without CHUNKING"
want rtt && echo "link: TUN forwarder, ${DELAY_MS} ms one-way; ping RTT ${RES[rtt|ping]} ms; wall/RTT = median of $RTT_REPS"
echo
printf '%-44s %12s %12s %14s %9s %9s\n' metric msmtp curl smtps-send "s/msmtp" "s/curl"
row rtt-st  "wall/RTT 1 KiB, STARTTLS" rtt
row rtt-im  "wall/RTT 1 KiB, implicit TLS" rtt
row rtt-stc "wall/RTT 1 KiB, STARTTLS, CHUNKING offered" rtt
row rtt-imc "wall/RTT 1 KiB, implicit, CHUNKING offered" rtt
row rtt-imr "  same, tls_resume on (saved ticket)" rtt
row rtt51-st  "wall/(2 x delay + 1 ms), STARTTLS" rtt
row rtt51-im  "wall/(2 x delay + 1 ms), implicit TLS" rtt
row rtt51-stc "wall/(2 x delay + 1 ms), STARTTLS, CHUNKING" rtt
row rtt51-imc "wall/(2 x delay + 1 ms), implicit, CHUNKING" rtt
row writes  "socket writes, 20 MiB" writes
row bytes   "bytes at the sink, 20 MiB" writes
row instr   "instructions, 20 MiB (callgrind Ir, G)" instr
row instr-crlf "  same, CRLF input file (curl w/o --crlf)" instr
row rss-1k  "peak RSS 1 KiB (MiB)" rss
row rss-20m "peak RSS 20 MiB (MiB)" rss
row rss-200m "peak RSS 200 MiB (MiB)" rss
row startup "start-to-exit 1 KiB loopback (ms, median)" startup
want batch && batch_table
