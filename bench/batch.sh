# bench/batch.sh — the "batch" section of bench/run.sh (issue 19): many
# messages.  Sourced by run.sh (bash), which owns the namespaces, the sinks,
# the certificates and the helpers used here (setup_delay, setup_loopback,
# start_sink, msmtprc, log, die, $W, $BIN, $CA ...).  See bench/README.
#
# For N in BATCH_N (default "1 100 1000") messages of 1 KiB, over the
# delayed link (DELAY_MS each way) and over the namespace's loopback (0 ms,
# where CPU is what shows), against bench/sink with implicit TLS and
# CHUNKING:
#   msmtp      N separate runs
#   send       smtps-send, N separate runs
#   odq+q      smtps-send -odq N times, then one -q (the -q alone reported too)
#   bs         one smtps-send -bs session carrying N messages from a
#              pipelining caller (bench/bsclient.py); bsb: the same caller
#              with BDAT (RFC 3030: nothing waited for)
#   postfix    sendmail -> a private Postfix in the client's namespace ->
#              the sink (Postfix's smtp client, connection caching, its
#              default 20 parallel connections): the "real MTA"
# Each: wall time (until the sink has every message), round trips per
# message (wall / ping RTT / N), CPU per message (user + system of every
# process of the client, Postfix's daemons included) and peak RSS.
# Then -bp and -q over 1,000 and 10,000 queued messages (loopback).

BATCH_PORT=5465

# now_s: a float clock.
now_s() { printf '%s' "$EPOCHREALTIME"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.6f", a - b}'; }

# sink_count LOG: messages the sink logged.
sink_count() { grep -c '^msg ' "$1" 2>/dev/null; }

# wait_sink LOG WANT SECONDS: until the sink logged WANT messages (0) or not (1).
wait_sink() {
	local n=$(( $3 * 20 ))
	while [ "$(sink_count "$1")" -lt "$2" ]; do
		n=$((n - 1)); [ $n -le 0 ] && return 1
		sleep 0.05
	done
	return 0
}

# cpu_rss FILE: "cpu_seconds peak_rss_kb" summed / maxed over FILE's lines.
cpu_rss() {
	awk 'NF==3 && $1 ~ /^[0-9.]+$/ {u += $1 + $2; if ($3 > m) m = $3} END {printf "%.6f %d", u, m}' "$1"
}

# record KEY WALL CPU RSSKB N: the table's cells for one client and N.
declare -A BR
record() {
	local key=$1 wall=$2 cpu=$3 rss=$4 n=$5
	BR[$key|wall]=$(awk -v w="$wall" 'BEGIN{printf "%.2f", w}')
	BR[$key|cpu]=$(awk -v c="$cpu" -v n="$n" 'BEGIN{printf "%.3f", c * 1000 / n}')
	BR[$key|rss]=$(awk -v r="$rss" 'BEGIN{printf "%.1f", r / 1024}')
	if [ -n "${BR_RTT:-}" ]; then
		BR[$key|rtt]=$(awk -v w="$wall" -v r="$BR_RTT" -v n="$n" 'BEGIN{printf "%.2f", w * 1000 / r / n}')
	else
		BR[$key|rtt]=-
	fi
	log "   $key: ${BR[$key|wall]} s, ${BR[$key|rtt]} RTT/msg, ${BR[$key|cpu]} ms CPU/msg, ${BR[$key|rss]} MiB"
}

# batch_env HOST: the smtps-send environment for the batch sink.
batch_env() {
	export SMTPS_SEND_HOST=$1 SMTPS_SEND_PORT=$BATCH_PORT SMTPS_SEND_TLS=implicit \
		SMTPS_SEND_TLS_TRUST_FILE=$CA SMTPS_SEND_USER=$USER_ SMTPS_SEND_PASSWORD=$PASS_ \
		SMTPS_SEND_TIMEOUT=120 SMTPS_SEND_MAX_MESSAGES_PER_SESSION=0
}

# batch_fail KEY WHY: a failed client run: its cells say so.
batch_fail() {
	BR[$1|wall]="FAIL($2)"
	log "   $1: FAILED: $2"
}

# --- the clients; each: NS HOST SINKLOG N LINK
b_msmtp() {
	local ns=$1 host=$2 slog=$3 n=$4 key="msmtp|$5|$4" i t0 t1 before tf=$W/bt.msmtp.$5.$4
	local rc
	rc=$(msmtprc "$host" $BATCH_PORT implicit)
	: >"$tf"
	before=$(sink_count "$slog")
	t0=$(now_s)
	for i in $(seq "$n"); do
		ip netns exec "$ns" "$W/bin/cpuwrap" "$tf" \
			msmtp -C "$rc" -f "$FROM" "$RCPT" <"$MSG_1K" >>"$W/out/batch.msmtp.err" 2>&1 ||
			{ batch_fail "$key" "exit $?"; return; }
	done
	wait_sink "$slog" $((before + n)) 60 || { batch_fail "$key" "sink"; return; }
	t1=$(now_s)
	record "$key" "$(fsub "$t1" "$t0")" $(cpu_rss "$tf") "$n"
}

b_send() {
	local ns=$1 host=$2 slog=$3 n=$4 key="send|$5|$4" i t0 t1 before tf=$W/bt.send.$5.$4
	: >"$tf"
	batch_env "$host"
	export SMTPS_SEND_QUEUE_DIR=$W/bq.send
	before=$(sink_count "$slog")
	t0=$(now_s)
	for i in $(seq "$n"); do
		ip netns exec "$ns" "$W/bin/cpuwrap" "$tf" \
			"$BIN" -i -f "$FROM" "$RCPT" <"$MSG_1K" >>"$W/out/batch.send.err" 2>&1 ||
			{ batch_fail "$key" "exit $?"; return; }
	done
	wait_sink "$slog" $((before + n)) 60 || { batch_fail "$key" "sink"; return; }
	t1=$(now_s)
	record "$key" "$(fsub "$t1" "$t0")" $(cpu_rss "$tf") "$n"
}

b_odq() {
	local ns=$1 host=$2 slog=$3 n=$4 i t0 t1 t2 before tq=$W/bt.odq.$5.$4 tr=$W/bt.q.$5.$4
	local key="odq|$5|$4" qkey="q|$5|$4" cpu1 cpu2 rss1 rss2
	: >"$tq"
	: >"$tr"
	batch_env "$host"
	export SMTPS_SEND_QUEUE_DIR=$W/bq.odq.$5.$4
	before=$(sink_count "$slog")
	t0=$(now_s)
	for i in $(seq "$n"); do
		ip netns exec "$ns" "$W/bin/cpuwrap" "$tq" \
			"$BIN" -odq -i -f "$FROM" "$RCPT" <"$MSG_1K" >>"$W/out/batch.odq.err" 2>&1 ||
			{ batch_fail "$key" "-odq exit $?"; return; }
	done
	t1=$(now_s)
	ip netns exec "$ns" "$W/bin/cpuwrap" "$tr" \
		"$BIN" -q >>"$W/out/batch.q.err" 2>&1 || { batch_fail "$key" "-q exit $?"; return; }
	wait_sink "$slog" $((before + n)) 60 || { batch_fail "$key" "sink"; return; }
	t2=$(now_s)
	read -r cpu1 rss1 <<<"$(cpu_rss "$tq")"
	read -r cpu2 rss2 <<<"$(cpu_rss "$tr")"
	record "$key" "$(fsub "$t2" "$t0")" "$(awk -v a="$cpu1" -v b="$cpu2" 'BEGIN{print a + b}')" \
		"$(( rss1 > rss2 ? rss1 : rss2 ))" "$n"
	record "$qkey" "$(fsub "$t2" "$t1")" "$cpu2" "$rss2" "$n"
}

b_bsb() { BS_BDAT=--bdat b_bs "$@"; }

b_bs() {
	local ns=$1 host=$2 slog=$3 n=$4 key="bs${BS_BDAT:+b}|$5|$4" t0 t1 before tf=$W/bt.bs${BS_BDAT:+b}.$5.$4
	: >"$tf"
	batch_env "$host"
	export SMTPS_SEND_QUEUE_DIR=$W/bq.bs
	before=$(sink_count "$slog")
	t0=$(now_s)
	ip netns exec "$ns" python3 "$here/bsclient.py" ${BS_BDAT:-} --count "$n" --message "$MSG_1K" \
		--from "$FROM" --rcpt "$RCPT" -- "$W/bin/cpuwrap" "$tf" \
		"$BIN" -bs >>"$W/out/batch.bs.out" 2>>"$W/out/batch.bs.err" ||
		{ batch_fail "$key" "bsclient: $(tail -1 "$W/out/batch.bs.err")"; return; }
	wait_sink "$slog" $((before + n)) 60 || { batch_fail "$key" "sink"; return; }
	t1=$(now_s)
	record "$key" "$(fsub "$t1" "$t0")" $(cpu_rss "$tf") "$n"
}

# --- Postfix as a local relay (the e2e harness's way: private directories, quick start)
PF_STARTED=
pf_setup() {   # pf_setup NS HOST: a Postfix in NS relaying to HOST:BATCH_PORT
	local ns=$1 host=$2 pf=$W/pf.$1 r
	r=$pf/run
	mkdir -p "$pf/conf" "$r/queue" "$r/data" "$r/log" || return 1
	# Its daemons run as postfix: they must reach the directories (keys stay 0600).
	chmod 755 "$W" "$pf" "$pf/conf" "$r" "$r/queue" "$r/log" || return 1
	chown postfix:postfix "$r/data" && chmod 700 "$r/data" || return 1
	(
		cd "$r/queue" || exit 1
		mkdir -m 700 active bounce corrupt defer deferred flush hold incoming private saved trace &&
			chown postfix:root active bounce corrupt defer deferred flush hold incoming private saved trace &&
			mkdir -m 730 maildrop && chown postfix:postdrop maildrop &&
			mkdir -m 710 public && chown postfix:postdrop public &&
			mkdir -m 755 pid && : >quick-start
	) || return 1
	cat >"$pf/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $r/queue
data_directory = $r/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $r/log/postfix.log
maillog_file_prefixes = $r/log
myhostname = bench.test
mydomain = test
myorigin = bench.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
disable_dns_lookups = yes
relayhost = [$host]:$BATCH_PORT
smtp_tls_wrappermode = yes
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $CA
smtp_tls_session_cache_database =
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = static:$USER_:$PASS_
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
always_add_missing_headers = no
biff = no
queue_run_delay = 10s
minimal_backoff_time = 10s
EOF
	cat >"$pf/conf/master.cf" <<'EOF'
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
tlsmgr    unix - - n 1000? 1 tlsmgr
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
	touch -d "@$(($(date +%s) - 10))" "$pf/conf"/*
	ip netns exec "$ns" postfix -c "$pf/conf" start >"$pf/start.log" 2>&1 || { cat "$pf/start.log" >&2; return 1; }
	PF_STARTED="$PF_STARTED $pf"
	sleep 1
}

# The pids of a private Postfix: every process whose environment names its config.
pf_pids() {
	grep -l -z -x -F "MAIL_CONFIG=$1/conf" /proc/[0-9]*/environ 2>/dev/null |
		sed 's,^/proc/,,; s,/.*,,'
}

# pf_cpu DIR: "cpu_seconds rss_kb" of the live daemons (and what the master reaped).
pf_cpu() {
	local tck p master
	tck=$(getconf CLK_TCK)
	master=$(tr -cd '0-9' <"$1/run/queue/pid/master.pid" 2>/dev/null)
	for p in $(pf_pids "$1"); do
		[ -r "/proc/$p/stat" ] || continue
		awk -v m="$([ "$p" = "$master" ] && echo 1 || echo 0)" '{
			sub(/^.*\) /, ""); t = $12 + $13; if (m) t += $14 + $15; print t
		}' "/proc/$p/stat"
		awk '/^VmHWM:/{print "rss", $2}' "/proc/$p/status" 2>/dev/null
	done | awk -v tck="$tck" '$1 == "rss" {r += $2; next} {t += $1} END {printf "%.6f %d", t / tck, r}'
}

pf_stop_all() {
	local pf p
	for pf in $PF_STARTED; do
		postfix -c "$pf/conf" stop >/dev/null 2>&1
		for p in $(pf_pids "$pf"); do kill -TERM "$p" 2>/dev/null; done
	done
	PF_STARTED=
}

b_postfix() {
	local ns=$1 host=$2 slog=$3 n=$4 key="postfix|$5|$4" pf=$W/pf.$1 t0 t1 before i
	local tf=$W/bt.postfix.$5.$4 c0 c1 r1
	[ -d "$pf/conf" ] || pf_setup "$ns" "$host" || { batch_fail "$key" "postfix did not start"; return; }
	: >"$tf"
	read -r c0 _ <<<"$(pf_cpu "$pf")"
	before=$(sink_count "$slog")
	t0=$(now_s)
	for i in $(seq "$n"); do
		ip netns exec "$ns" "$W/bin/cpuwrap" "$tf" \
			sendmail -C "$pf/conf" -i -f "$FROM" "$RCPT" <"$MSG_1K" >>"$W/out/batch.pf.err" 2>&1 ||
			{ batch_fail "$key" "sendmail exit $?"; return; }
	done
	wait_sink "$slog" $((before + n)) 300 || { batch_fail "$key" "sink"; return; }
	t1=$(now_s)
	read -r c1 r1 <<<"$(pf_cpu "$pf")"
	record "$key" "$(fsub "$t1" "$t0")" \
		"$(awk -v a="$c1" -v b="$c0" -v s="$(cpu_rss "$tf" | cut -d' ' -f1)" 'BEGIN{print a - b + s}')" \
		"$r1" "$n"
}

# --- -bp and -q over a large queue (loopback): time and peak RSS
b_queue_scale() {
	local n=$1 d=$W/bq.scale.$1 tid t0 t1 tf=$W/bt.scale.$1 slog=$W/sink-batch-lo.log before
	batch_env 127.0.0.1
	export SMTPS_SEND_QUEUE_DIR=$d
	ip netns exec "$NS_L" "$BIN" -odq -i -f "$FROM" "$RCPT" <"$MSG_1K" || return
	tid=$(ls "$d" | sed -n 's/\.meta$//p' | head -1)
	python3 "$here/mkqueue.py" "$d" "$tid" "$((n - 1))" || return
	: >"$tf"
	t0=$(now_s)
	ip netns exec "$NS_L" "$W/bin/cpuwrap" "$tf" "$BIN" -bp >/dev/null 2>&1
	t1=$(now_s)
	BR[bp|$n|wall]=$(fsub "$t1" "$t0" | awk '{printf "%.2f", $1}')
	BR[bp|$n|rss]=$(awk '{printf "%.1f", $3 / 1024}' "$tf")
	: >"$tf"
	before=$(sink_count "$slog")
	t0=$(now_s)
	ip netns exec "$NS_L" "$W/bin/cpuwrap" "$tf" "$BIN" -q >/dev/null 2>&1
	wait_sink "$slog" $((before + n)) 300
	t1=$(now_s)
	BR[qs|$n|wall]=$(fsub "$t1" "$t0" | awk '{printf "%.2f", $1}')
	BR[qs|$n|rss]=$(awk '{printf "%.1f", $3 / 1024}' "$tf")
	BR[qs|$n|cpu]=$(awk -v n="$n" '{printf "%.3f", ($1 + $2) * 1000 / n}' "$tf")
	BR[qs|$n|sent]=$(( $(sink_count "$slog") - before ))
	log "   $n queued: -bp ${BR[bp|$n|wall]} s ${BR[bp|$n|rss]} MiB; -q ${BR[qs|$n|wall]} s ${BR[qs|$n|rss]} MiB, ${BR[qs|$n|cpu]} ms CPU/msg, ${BR[qs|$n|sent]} sent"
}

batch_run() {
	local link ns host slog n c
	CLIENTS_B=(msmtp)
	[ -x "$BIN" ] && CLIENTS_B+=(send odq bs bsb)
	command -v postfix >/dev/null && [ -x /usr/lib/postfix/sbin/master ] && CLIENTS_B+=(postfix)
	[ -n "${BATCH_CLIENTS:-}" ] && read -r -a CLIENTS_B <<<"$BATCH_CLIENTS"
	for link in delay lo; do
		if [ $link = delay ]; then
			[ -e /run/netns/$NS_A ] || setup_delay
			ns=$NS_A host=$IP_B slog=$W/sink-batch-d.log
			BR_RTT=$(ip netns exec $NS_A ping -c 5 -i 0.2 -q $IP_B | awk -F/ '/^rtt/{print $5}')
			BR[ping]=$BR_RTT
			[ -s "$slog" ] || start_sink $NS_B $IP_B $BATCH_PORT implicit 1 "$slog" --fork
			log "== batch: N messages over the ${DELAY_MS} ms link (ping RTT $BR_RTT ms)"
		else
			setup_loopback
			ns=$NS_L host=127.0.0.1 slog=$W/sink-batch-lo.log BR_RTT=
			[ -s "$slog" ] || start_sink $NS_L 127.0.0.1 $BATCH_PORT implicit 1 "$slog" --fork
			log "== batch: N messages over the namespace's loopback (CPU)"
		fi
		for n in $BATCH_N; do
			for c in "${CLIENTS_B[@]}"; do
				"b_$c" "$ns" "$host" "$slog" "$n" "$link"
			done
		done
	done
	pf_stop_all
	log "== batch: -bp and -q over a large queue (loopback)"
	for n in $BATCH_QUEUE; do b_queue_scale "$n"; done
}

bcell() { printf '%s' "${BR[$1]:--}"; }

batch_table() {
	local link n c label
	echo
	echo "batch (issue 19): 1 KiB messages, implicit TLS + CHUNKING sink; wall s / RTT per message / CPU ms per message / peak RSS MiB"
	echo "  msmtp, send: N separate runs; odq: N x -odq then one -q (q: the -q alone); bs: one -bs session, pipelining caller"
	echo "  (DATA; bsb: the same caller with BDAT, offered by -bs since issue 19);"
	echo "  postfix: sendmail -> local Postfix -> sink (CPU and RSS: all its daemons; wall: until the sink has them all)"
	for link in delay lo; do
		[ $link = delay ] && label="${DELAY_MS} ms link, ping RTT ${BR[ping]:-?} ms" || label="loopback"
		echo "  $label"
		printf '    %-9s %6s %10s %8s %9s %8s\n' client N "wall s" RTT/msg "CPU ms/m" "RSS MiB"
		for n in $BATCH_N; do
			for c in msmtp send odq q bs bsb postfix; do
				[ -n "${BR[$c|$link|$n|wall]:-}" ] || continue
				printf '    %-9s %6s %10s %8s %9s %8s\n' "$c" "$n" "$(bcell "$c|$link|$n|wall")" \
					"$(bcell "$c|$link|$n|rtt")" "$(bcell "$c|$link|$n|cpu")" "$(bcell "$c|$link|$n|rss")"
			done
		done
	done
	echo "  queue scale (loopback): queued, -bp s, -bp RSS MiB, -q s, -q RSS MiB, -q CPU ms/msg"
	for n in $BATCH_QUEUE; do
		printf '    %6s %8s %8s %8s %8s %8s\n' "$n" "$(bcell "bp|$n|wall")" "$(bcell "bp|$n|rss")" \
			"$(bcell "qs|$n|wall")" "$(bcell "qs|$n|rss")" "$(bcell "qs|$n|cpu")"
	done
}
