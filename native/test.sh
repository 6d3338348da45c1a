#!/usr/bin/env bash
# Hand-run checks of testcell-shim as root on a busybox rootfs (the Node suite does the real e2e
# tests). Usage: sudo native/test.sh [-v]. Exits 1 when a check fails, 77 when it cannot run.
set -u
cd "$(dirname "$0")"
SHIM=${SHIM:-$PWD/build/testcell-shim} # SHIM=/path/to/variant ./test.sh tests another build
VERBOSE=${1:-}
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' ||
  { echo "skip: needs a static /bin/busybox (apt-get install busybox-static)"; exit 77; }
make -s || exit 1

T=$(mktemp -d /tmp/shimtest.XXXXXX)
CG=testcell-shimtest
fails=0
cleanup() {
  exec 7>&- 8>&- 2>/dev/null
  jobs -p | xargs -r kill -9 2>/dev/null
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

ok() { [ -n "$VERBOSE" ] && echo "ok   $1"; return 0; }
bad() { echo "FAIL $1${2:+: $2}"; fails=$((fails + 1)); }
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi
}

# layer: busybox and its applets; /etc/lowerfile and /data/{a,b} to be hidden by fixups
L=$T/layer
mkdir -p "$L/bin" "$L/etc" "$L/data"
cp /bin/busybox "$L/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$L/bin/$a"; done
echo lower > "$L/etc/lowerfile"
echo a > "$L/data/a"
echo b > "$L/data/b"

new_state() { # new_state NAME -> prints the dir
  local s=$T/$1
  mkdir -p "$s/upper" "$s/work" "$s/rootfs"
  echo "$s"
}
# spec STATE [key value]... -- ARG... : a run record on stdout
spec() {
  local s=$1
  shift
  printf 'version\0001\0id\0%s\0state_dir\0%s\0hostname\0cell\0stdout\0%s/out\0stderr\0%s/err\0' \
    "$(basename "$s" | od -An -tx1 | tr -d ' \n')" "$s" "$s" "$s"
  while [ "$1" != -- ]; do printf '%s\0%s\0' "$1" "$2"; shift 2; done
  shift
  for a in "$@"; do printf 'arg\0%s\0' "$a"; done
}
lowers() { printf 'lower\0%s\0' "$@"; }
# run_fg STATE SPEC-ARGS...: run to completion with a lifeline that stays open; sets RC, EV, OUT
run_fg() {
  local s=$1
  spec "$@" > "$s/spec"
  lowers "$L" >> "$s/spec"
  "$SHIM" run 3<"$s/spec" 4>"$s/events" 0< <(sleep 10)
  RC=$?
  EV=$(cat "$s/events")
  OUT=$(cat "$s/out" 2>/dev/null)
}
# run_bg STATE SPEC-ARGS...: start in the background with the lifeline on fd 7; sets PID1
run_bg() {
  local s=$1 i
  spec "$@" > "$s/spec"
  lowers "$L" >> "$s/spec"
  rm -f "$s/ctl"
  mkfifo "$s/ctl"
  exec 7<>"$s/ctl"
  "$SHIM" run 3<"$s/spec" 4>"$s/events" 0<"$s/ctl" 7>&- &
  SHIM_PID=$!
  for i in $(seq 200); do grep -q '"event"' "$s/events" 2>/dev/null && break; sleep 0.01; done
  PID1=$(sed -n 's/.*"started","pid":\([0-9]*\).*/\1/p' "$s/events")
  [ -n "$PID1" ] || bad "start $s" "$(cat "$s/events")"
}
# exec_in PID SPEC-ARGS... -- ARG...: exec mode; sets RC, OUT
exec_in() {
  local pid=$1 rec
  shift
  rec=$T/exec.rec
  printf 'version\0001\0pid\0%s\0' "$pid" > "$rec"
  while [ "$1" != -- ]; do printf '%s\0%s\0' "$1" "$2" >> "$rec"; shift 2; done
  shift
  for a in "$@"; do printf 'arg\0%s\0' "$a" >> "$rec"; done
  OUT=$("$SHIM" exec 3<"$rec" </dev/null 2>"$T/exec.err")
  RC=$?
}

echo "== run: pid 1, hostname, isolation, capabilities"
S=$(new_state basic)
run_fg "$S" -- sh -c 'head -c 9 /proc/1/cmdline | tr "\0" " "; echo; hostname; grep CapEff /proc/1/status;
  grep CapBnd /proc/1/status; test -e /etc/shadow && echo host-visible; ls /proc | grep -c "^[0-9]"; ls /proc/self/fd | tr "\n" " "'
check "exit 0" 0 "$RC"
check "events" '{"event":"started","pid":N}
{"event":"exit","code":0,"signal":0,"oom":false}' "$(echo "$EV" | sed 's/"pid":[0-9]*/"pid":N/')"
check "pid 1 is the command" "sh -c hea" "$(echo "$OUT" | sed -n 1p)"
check "hostname" cell "$(echo "$OUT" | sed -n 2p)"
check "CapEff root" "CapEff:	00000000a80425fb" "$(echo "$OUT" | sed -n 3p)"
check "CapBnd" "CapBnd:	00000000a80425fb" "$(echo "$OUT" | sed -n 4p)"
check "host files invisible, only our processes" "3" "$(echo "$OUT" | sed -n 5p)"
check "fds 0 1 2 only (3 is ls's dir)" "0 1 2 3 " "$(echo "$OUT" | sed -n 6p)"
check "no mounts left" "" "$(grep "$T" /proc/self/mountinfo)"

echo "== run: exit code, signal, user, cwd, errors"
S=$(new_state code)
run_fg "$S" -- sh -c 'echo oops >&2; exit 3'
check "exit code 3" '{"event":"exit","code":3,"signal":0,"oom":false}' "$(echo "$EV" | tail -1)"
check "stderr log" oops "$(cat "$S/err")"
S=$(new_state sig)
run_fg "$S" -- sh -c 'kill -9 $$; exit 255' # SIGKILL from inside the pid ns cannot kill pid 1
check "pid 1 survives its own SIGKILL, exit 255" '{"event":"exit","code":255,"signal":0,"oom":false}' "$(echo "$EV" | tail -1)"
S=$(new_state user)
run_fg "$S" uid 1000 gid 1001 group 10 group 20 cwd /work/dir env PATH=/bin env FOO=bar -- \
  sh -c 'id; pwd; stat -c "%u:%g %a" .; grep CapEff /proc/self/status; grep CapBnd /proc/self/status; echo $FOO; tr "\0" " " </proc/1/environ; echo'
check "user" "uid=1000 gid=1001 groups=10,20" "$(echo "$OUT" | sed -n 1p)"
check "cwd created" "/work/dir" "$(echo "$OUT" | sed -n 2p)"
check "cwd owned by the user" "1000:1001 755" "$(echo "$OUT" | sed -n 3p)"
check "CapEff non-root" "CapEff:	0000000000000000" "$(echo "$OUT" | sed -n 4p)"
check "CapBnd non-root" "CapBnd:	00000000a80425fb" "$(echo "$OUT" | sed -n 5p)"
check "env exactly" "bar
PATH=/bin FOO=bar " "$(echo "$OUT" | sed -n 6,7p)"
S=$(new_state missing)
run_fg "$S" -- nosuchcommand
check "missing command: exit 1" 1 "$RC"
check "missing command: error event" '"op":"lookup","errno":2' "$(echo "$EV" | grep -o '"op":"lookup","errno":2')"
S=$(new_state missing2)
spec "$S" -- nosuchcommand > "$S/spec"
lowers "$L" >> "$S/spec"
"$SHIM" run 3<"$S/spec" 4>"$S/events" 0</dev/null
check "failed start with the lifeline already closed removes the state dir" gone "$([ -e "$S" ] && echo present || echo gone)"
S=$(new_state badspec)
printf 'version\0001\0state_dir\0%s\0colour\0red\0' "$S" > "$S/spec"
"$SHIM" run 3<"$S/spec" 4>"$S/events" 0</dev/null
check "unknown key: exit 1" 1 $?
check "an invalid spec's state_dir is never removed" present "$([ -e "$S" ] && echo present || echo gone)"
check "unknown key: error event" '{"event":"error","op":"spec","errno":22,"msg":"spec: unknown key `colour`: Invalid argument"}' "$(cat "$S/events")"

echo "== exec"
S=$(new_state exec)
run_bg "$S" -- sleep 30
exec_in "$PID1" -- echo hi
check "exec echo" "0 hi" "$RC $OUT"
exec_in "$PID1" -- sh -c 'exit 7'
check "exec exit code" 7 "$RC"
exec_in "$PID1" -- nosuchcommand
check "exec missing command" 127 "$RC"
exec_in "$PID1" -- /etc/lowerfile
check "exec not executable" 126 "$RC"
exec_in "$PID1" cwd /nonexistent -- true
check "exec bad cwd" 125 "$RC"
exec_in "$PID1" uid 1000 gid 1000 cwd /etc -- sh -c 'id -u; pwd; tr -d "\0" </proc/1/cmdline; echo; hostname; ls /proc | grep -c "^[0-9]"'
check "exec joins the container (sleep, sh, ls, grep)" "1000 /etc sleep30 cell 4" "$(echo $OUT)"
exec_in 999999 -- true
check "exec into a missing pid" 125 "$RC"

echo "== stop, kill, lifeline"
echo "stop 100" >&7
start=$(date +%s%N)
wait "$SHIM_PID"
ms=$((($(date +%s%N) - start) / 1000000))
check "stop: pid 1 ignores SIGTERM, SIGKILL after grace" '{"event":"exit","code":137,"signal":9,"oom":false}' "$(tail -1 "$S/events")"
[ "$ms" -ge 90 ] && [ "$ms" -lt 1000 ] && ok "grace ${ms}ms" || bad "grace" "${ms}ms"
exec 7>&-
S=$(new_state trap)
run_bg "$S" -- sh -c 'trap "echo term; exit 0" TERM; while :; do sleep 0.05; done'
echo "stop 5000" >&7
wait "$SHIM_PID"
check "stop: handler exits within grace" '{"event":"exit","code":0,"signal":0,"oom":false}' "$(tail -1 "$S/events")"
exec 7>&-
S=$(new_state kill)
run_bg "$S" -- sleep 30
echo "kill 9" >&7
wait "$SHIM_PID"
check "kill 9" '{"event":"exit","code":137,"signal":9,"oom":false}' "$(tail -1 "$S/events")"
exec 7>&-
S=$(new_state lifeline)
run_bg "$S" cgroup_parent $CG -- sleep 30
CGDIRS=$(ls -d /sys/fs/cgroup/{memory,pids,cpu,freezer}/$CG/*/ /sys/fs/cgroup/$CG/*/ 2>/dev/null)
if [ -n "$CGDIRS" ]; then
  for d in $CGDIRS; do check "in cgroup $d" "$PID1" "$(cat "$d/cgroup.procs")"; done
else
  echo "note: no cgroup hierarchy with memory/pids/cpu/freezer: cgroup checks skipped"
fi
exec 7>&-
wait "$SHIM_PID"
check "lifeline EOF: exit 0" 0 $?
check "lifeline EOF: pid 1 gone" gone "$(kill -0 "$PID1" 2>/dev/null && echo alive || echo gone)"
check "lifeline EOF: state dir removed" gone "$([ -e "$S" ] && echo present || echo gone)"
for d in $CGDIRS; do check "cgroup removed $d" gone "$([ -e "$d" ] && echo present || echo gone)"; done
rmdir /sys/fs/cgroup/{memory,pids,cpu,freezer}/$CG /sys/fs/cgroup/$CG 2>/dev/null
check "no mounts left" "" "$(grep "$T" /proc/self/mountinfo)"

echo "== ports"
cc -O2 -static -Wall -Wextra -o build/udpecho test/udpecho.c || exit 1
S=$(new_state ports)
mkdir -p "$S/upper/www" "$S/upper/bin"
head -c 5000000 /dev/urandom > "$S/upper/www/big"
cp build/udpecho "$S/upper/bin/"
run_bg "$S" port tcp:8080:0 port udp:5353:0 port tcp:9999:0 -- sh -c 'httpd -p 8080 -h /www; udpecho 5353 & sleep 30'
hostport() { sed -n "s/.*\"proto\":\"$1\",\"container\":$2,\"host\":\([0-9]*\).*/\1/p" "$S/events"; }
TP=$(hostport tcp 8080) UP=$(hostport udp 5353) NP=$(hostport tcp 9999)
check "port events before started" "port port port started" "$(grep -o '"event":"[a-z]*"' "$S/events" | cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//')"
/bin/busybox wget -q -O "$T/big.dl" "http://127.0.0.1:$TP/big"
check "tcp: 5 MB through the relay" same "$(cmp -s "$T/big.dl" "$S/upper/www/big" && echo same || echo differ)"
exec 9<>"/dev/udp/127.0.0.1/$UP"
echo ping-udp >&9
reply=$(timeout 2 dd bs=65536 count=1 <&9 2>/dev/null) # one datagram (bash's read takes 1 byte of it)
check "udp: echo through the relay" ping-udp "${reply:-timeout}"
exec 9>&-
exec 9<>"/dev/tcp/127.0.0.1/$NP"
read -r -t 2 reply <&9
check "tcp: nothing listening inside -> client closed at once" 1 $?
exec 9>&-
S2=$(new_state porttaken)
spec "$S2" port "tcp:80:$TP" -- true > "$S2/spec"
lowers "$L" >> "$S2/spec"
"$SHIM" run 3<"$S2/spec" 4>"$S2/events" 0< <(sleep 10)
check "a taken host port is an error event" '"op":"port","errno":98' "$(grep -o '"op":"port","errno":98' "$S2/events")"
echo "kill 9" >&7
wait "$SHIM_PID"
exec 7>&-
check "host port free after exit" refused "$( (exec 9<>"/dev/tcp/127.0.0.1/$TP") 2>/dev/null && echo open || echo refused)"

echo "== fixup"
U=$T/upperlayer
mkdir -p "$U/etc" "$U/data" "$T/outside"
echo c > "$U/data/c"
ln -s "$T/outside" "$U/link"
printf 'whiteout\0etc/lowerfile\0opaque\0data\0fifo\0data/fifo\0000644\0000\0000\0chr\0data/null\000438\0001\0003\0xattr\0data/c\0trusted.testcell\0yes\0' |
  "$SHIM" fixup "$U"
check "fixup ok" 0 $?
check "whiteout is char 0:0" "c 0 0 0" "$(stat -c '%F %t %T %a' "$U/etc/lowerfile" | sed 's/character special file/c/')"
check "opaque xattr" y "$(getfattr --only-values -n trusted.overlay.opaque "$U/data" 2>/dev/null || python3 -c "import os;print(os.getxattr('$U/data','trusted.overlay.opaque').decode())")"
check "fifo mode" "fifo 644" "$(stat -c '%F %a' "$U/data/fifo")"
check "chr 1:3 mode 0666 (decimal 438)" "c 1 3 666" "$(stat -c '%F %t %T %a' "$U/data/null" | sed 's/character special file/c/')"
printf 'whiteout\0link/escaped\0' | "$SHIM" fixup "$U" 2>"$T/fixup.err"
check "fixup refuses a symlinked parent" "1 " "$? $(ls "$T/outside")"
printf 'whiteout\0../escaped\0' | "$SHIM" fixup "$U" 2>>"$T/fixup.err"
check "fixup refuses .." "1 absent" "$? $([ -e "$T/escaped" ] && echo present || echo absent)"
rm "$U/link"
S=$(new_state layered)
spec "$S" -- sh -c 'ls /data | tr "\n" " "; test -e /etc/lowerfile && echo visible || echo hidden' > "$S/spec"
lowers "$U" "$L" >> "$S/spec"
"$SHIM" run 3<"$S/spec" 4>"$S/events" 0< <(sleep 10)
check "whiteout hides and opaque dir hides lower files" "c fifo null hidden" "$(cat "$S/out")"

echo "== fallbacks for old kernels: openat2, clone3, close_range fail with ENOSYS (seccomp)"
cc -O2 -Wall -Wextra -D_GNU_SOURCE -o build/nosys test/nosys.c || exit 1
NOSYS="build/nosys 437,435,436"
S=$(new_state fallback)
spec "$S" cwd /a/b -- sh -c 'ls /proc/self/fd | tr "\n" " "; pwd; ls /dev | wc -l' > "$S/spec"
lowers "$L" >> "$S/spec"
$NOSYS "$SHIM" run 3<"$S/spec" 4>"$S/events" 0< <(sleep 10)
check "run without openat2/clone3/close_range" "0 1 2 3 /a/b 14" "$(echo $(cat "$S/out"))"
S=$(new_state fallback2)
run_bg "$S" -- sleep 30
exec_in "$PID1" -- sh -c 'ls /proc/self/fd | tr "\n" " "' # sanity, with close_range
OUT2=$OUT
rec=$T/exec.rec
OUT=$($NOSYS "$SHIM" exec 3<"$rec" </dev/null)
check "exec without close_range" "$OUT2" "$OUT"
echo "kill 9" >&7
wait "$SHIM_PID"
exec 7>&-
mkdir -p "$U/sub" "$T/outside2"
ln -s "$T/outside2" "$U/link2"
printf 'whiteout\0sub/w\0' | $NOSYS "$SHIM" fixup "$U"
check "fixup without openat2" "c 0 0" "$(stat -c '%F %t %T' "$U/sub/w" | sed 's/character special file/c/')"
printf 'whiteout\0link2/escaped\0' | $NOSYS "$SHIM" fixup "$U" 2>/dev/null
check "fixup without openat2 refuses a symlinked parent" "1 " "$? $(ls "$T/outside2")"
printf 'whiteout\0sub/../../escaped\0' | $NOSYS "$SHIM" fixup "$U" 2>/dev/null
check "fixup without openat2 refuses .." "1 absent" "$? $([ -e "$T/escaped" ] && echo present || echo absent)"

echo "== timing: run true, 20 times (bash fork+exec of the shim included)"
mkfifo "$T/life"
exec 6<>"$T/life" # one lifeline for all runs (held open by this script)
for i in $(seq 20); do
  S=$(new_state "t$i")
  spec "$S" -- true > "$S/spec"
  lowers "$L" >> "$S/spec"
  s=$EPOCHREALTIME
  "$SHIM" run 3<"$S/spec" 4>/dev/null 0<&6
  e=$EPOCHREALTIME
  echo $(((${e/./} - ${s/./})))
done | sort -n | awk '{a[NR]=$1} END {printf "median %.2f ms (min %.2f, max %.2f)\n", a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000}'
exec 6<&-
for i in $(seq 20); do # baseline: what a bare fork+exec costs on this machine right now
  s=$EPOCHREALTIME
  /bin/true
  e=$EPOCHREALTIME
  echo $(((${e/./} - ${s/./})))
done | sort -n | awk '{a[NR]=$1} END {printf "baseline /bin/true: median %.2f ms\n", a[int((NR+1)/2)]/1000}'

[ "$fails" = 0 ] && echo "all checks passed" || echo "$fails check(s) failed"
[ "$fails" = 0 ]
