#!/bin/sh
# The harness's port picking (lib.sh) when runs start together: two more
# servers started at the same instant, both asked for the block the running
# one holds, must each get a block of their own (not the running one, not
# each other's) and start.  Before the port lock both checked the same free
# block within the same fraction of a second, and the second Postfix could
# not bind its ports.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

T=$(mktemp -d /tmp/sxp.XXXXXX)
sx_on_exit 'for p in ${pids:-}; do kill -TERM $p 2>/dev/null; done; sleep 0.5; rm -rf "$T"'
pids=

# one N: start a server as soon as $T/go exists; write its first port (or
# "failed RC") to $T/portN; keep it until $T/stop exists, then stop it.
one() {
	(
		SX_RUNDIR=
		_sx_owned=
		while [ ! -e "$T/go" ]; do sleep 0.01; done
		if sx_server_start 2>"$T/log$1"; then
			echo "$SX_PORT_STARTTLS" >"$T/port$1"
			while [ ! -e "$T/stop" ]; do sleep 0.05; done
			sx_server_stop 2>>"$T/log$1" || echo "stop failed" >>"$T/port$1"
		else
			echo "failed $?" >"$T/port$1"
		fi
	) &
	pids="$pids $!"
}

SX_PORT_BASE=$SX_PORT_STARTTLS
export SX_PORT_BASE
one 1
one 2
sleep 0.2
: >"$T/go"
i=0
while [ ! -s "$T/port1" ] || [ ! -s "$T/port2" ]; do
	i=$((i + 1))
	[ $i -gt $(sx_scale 1200) ] && sx_fail "the two servers did not start within $(sx_scale 60) s"
	sleep 0.05
done
p1=$(cat "$T/port1")
p2=$(cat "$T/port2")
: >"$T/stop"
for p in $pids; do wait $p; done
pids=
case "$p1 $p2" in *failed*)
	cat "$T/log1" "$T/log2" >&2
	sx_fail "a server started at the same time did not start: '$p1' / '$p2'"
	;;
esac
[ "$p1" != "$SX_PORT_STARTTLS" ] && [ "$p2" != "$SX_PORT_STARTTLS" ] ||
	sx_fail "a new server took the running one's block ($SX_PORT_STARTTLS): $p1 $p2"
d=$((p1 - p2))
[ ${d#-} -ge 20 ] || sx_fail "the two servers' blocks overlap: $p1 and $p2"
! grep -q -x "stop failed" "$T/port1" "$T/port2" || sx_fail "a server did not stop cleanly"
echo "ok 1 two servers started together from the running block $SX_PORT_STARTTLS: blocks $p1 and $p2"
[ -z "$(ls /tmp/sxe-ports/ | grep -x -e "$p1" -e "$p2")" ] ||
	sx_fail "a stopped server's claim is left: $(ls /tmp/sxe-ports/)"
echo "ok 2 their claims are gone after they stopped"
