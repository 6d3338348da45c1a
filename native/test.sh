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
  umount "$T/nosuidfs" 2>/dev/null
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
cid() { basename "$1" | od -An -tx1 | tr -d ' \n'; } # the container id of a state dir
# keys [key value]... -- : record pairs; `bind` and `network` take 3 fields, `tmpfs` 2
keys() {
  while [ "$1" != -- ]; do
    case $1 in
      bind | network) printf '%s\0%s\0%s\0%s\0' "$1" "$2" "$3" "$4"; shift 4 ;;
      tmpfs) printf '%s\0%s\0%s\0' "$1" "$2" "$3"; shift 3 ;;
      *) printf '%s\0%s\0' "$1" "$2"; shift 2 ;;
    esac
  done
}
# spec STATE [key value]... -- ARG... : a run record on stdout
spec() {
  local s=$1
  shift
  printf 'version\0001\0id\0%s\0state_dir\0%s\0hostname\0cell\0stdout\0%s/out\0stderr\0%s/err\0' \
    "$(cid "$s")" "$s" "$s" "$s"
  keys "$@"
  while [ "$1" != -- ]; do shift; done
  shift
  for a in "$@"; do printf 'arg\0%s\0' "$a"; done
}
lowers() { printf 'lower\0%s\0' "$@"; }
# run_fg STATE SPEC-ARGS...: run to completion with a lifeline that stays open; sets RC, EV, OUT
run_fg() {
  local s=$1
  spec "$@" > "$s/spec"
  lowers "$L" >> "$s/spec"
  $WRAP "$SHIM" run 3<"$s/spec" 4>"$s/events" 0< <(sleep 10)
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
  $WRAP "$SHIM" run 3<"$s/spec" 4>"$s/events" 0<"$s/ctl" 7>&- &
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
  keys "$@" >> "$rec"
  while [ "$1" != -- ]; do shift; done
  shift
  for a in "$@"; do printf 'arg\0%s\0' "$a" >> "$rec"; done
  OUT=$($WRAP "$SHIM" exec 3<"$rec" </dev/null 2>"$T/exec.err")
  RC=$?
}
# wait_event STATE EVENT [N]: wait until the Nth (default 1st) line with that event arrived
wait_event() {
  local i
  for i in $(seq 300); do [ "$(grep -c "\"event\":\"$2\"" "$1/events")" -ge "${3:-1}" ] && return 0; sleep 0.01; done
  bad "wait for $2" "$(cat "$1/events")"
}
# cgfile STATE FILE: the container's cgroup file, v1 (any controller) or v2
cgfile() { ls -d /sys/fs/cgroup/*/$CG/"$(cid "$1")"/"$2" /sys/fs/cgroup/$CG/"$(cid "$1")"/"$2" 2>/dev/null | head -1; }
WRAP= # a command prefix for the shim (the cgroup v2 section hides v1 in a mount namespace)

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
exec 9<"$L" # an fd leaked by a parent: closed by the shim at startup
run_bg "$S" -- sh -c 'trap "echo term; exit 0" TERM; while :; do sleep 0.05; done'
check "inherited fds above 4 closed at startup" "0 1 2 4" "$(ls /proc/"$SHIM_PID"/fd | sort -n | awk '$1 < 5 || $1 == 9' | tr '\n' ' ' | sed 's/ $//')"
exec 9<&-
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

echo "== mounts: bind, tmpfs, shm_size, readonly, mask"
S=$(new_state mounts)
mkdir -p "$T/hostdir" "$S/upper"
echo host > "$T/hostdir/f"
echo hostfile > "$T/hostfile"
ln -s ../../../../../../../.. "$S/upper/up" # climbs out of the rootfs if followed on the host
run_fg "$S" bind "$T/hostdir" /mnt/rw rw bind "$T/hostdir" /mnt/ro ro bind "$T/hostfile" /etc/new/file ro \
  bind "$T/hostdir" "/up$T/escaped" rw tmpfs /scratch size=1m,mode=1700,noexec shm_size 8388608 \
  readonly /proc/sys readonly /etc/lowerfile readonly /proc/sysrq-trigger readonly /no/such/dir \
  mask /proc/kcore mask /proc/keys mask /data/a mask /proc/acpi mask /sys/firmware mask /proc/no-such-file -- sh -c '
  cat /mnt/ro/f; echo new > /mnt/rw/new && echo rw-written; echo x 2>&1 > /mnt/ro/x | grep -o "Read-only file system"
  cat /etc/new/file; echo x 2>&1 > /etc/new/file | grep -o "Read-only file system"
  ls "/up'"$T"'/escaped"
  grep " /scratch " /proc/mounts | cut -d" " -f4 | tr , "\n" | grep -e noexec -e size=; stat -c %a /scratch
  df -k /dev/shm | awk "NR == 2 { print \$2 }"
  echo x 2>&1 > /proc/sys/kernel/domainname | grep -o "Read-only file system"
  echo x 2>&1 > /etc/lowerfile | grep -o "Read-only file system"
  echo "kcore [$([ -e /proc/kcore ] && wc -c < /proc/kcore)] keys [$(cat /proc/keys)] a [$(cat /data/a)] acpi [$(ls -A /proc/acpi)] firmware [$(ls -A /sys/firmware)]"
  touch /proc/acpi/x 2>&1 | grep -o "Read-only file system"'
check "mounts: exit 0" 0 "$RC"
check "bind ro readable" host "$(echo "$OUT" | sed -n 1p)"
check "bind rw writable, seen on the host" "rw-written host-new" "$(echo "$OUT" | sed -n 2p) host-$(cat "$T/hostdir/new")"
check "bind ro: write fails with EROFS" "Read-only file system" "$(echo "$OUT" | sed -n 3p)"
check "bind of a file onto a new file (parents created)" "hostfile
Read-only file system" "$(echo "$OUT" | sed -n 4,5p)"
check "bind dest through a symlink stays in the rootfs" "f new host-absent" \
  "$(echo $(echo "$OUT" | sed -n 6,7p)) host-$([ -e "$T/escaped" ] && echo present || echo absent)"
check "tmpfs options: flags and data" "noexec size=1024k 1700" "$(echo $(echo "$OUT" | sed -n 8,10p))"
check "shm_size" 8192 "$(echo "$OUT" | sed -n 11p)"
check "readonly /proc/sys: EROFS" "Read-only file system" "$(echo "$OUT" | sed -n 12p)"
check "readonly file: EROFS" "Read-only file system" "$(echo "$OUT" | sed -n 13p)"
check "masked: kcore (when the kernel has it), keys, an image file empty; acpi, firmware empty dirs" \
  "kcore [$([ -e /proc/kcore ] && echo 0)] keys [] a [] acpi [] firmware []" "$(echo "$OUT" | sed -n 14p)"
check "masked dir is read-only" "Read-only file system" "$(echo "$OUT" | sed -n 15p)"
check "created bind targets live in the upper dir" "file" "$(ls "$S/upper/etc/new")"
S=$(new_state dockermasks)
DOCKER_MASKS=
for m in /proc/asound /proc/acpi /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list /proc/timer_stats \
  /proc/sched_debug /proc/scsi /proc/interrupts /sys/firmware /sys/devices/virtual/powercap; do DOCKER_MASKS="$DOCKER_MASKS mask $m"; done
for r in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do DOCKER_MASKS="$DOCKER_MASKS readonly $r"; done
run_fg "$S" $DOCKER_MASKS -- sh -c 'cat /proc/interrupts /proc/timer_list | wc -c; echo f 2>&1 > /proc/irq/default_smp_affinity | grep -o "Read-only file system"'
check "Docker's default masked and read-only paths, as Node passes them" "0 Read-only file system exit 0" \
  "$(echo $OUT) exit $(echo "$EV" | sed -n 's/.*"exit","code":\([0-9]*\).*/\1/p')"
S=$(new_state mountesc)
mkdir -p "$S/upper"
ln -s "$T" "$S/upper/abs" # an absolute link resolves inside the rootfs, where $T does not exist
run_fg "$S" bind "$T/hostfile" /abs/escaped2 rw -- true
check "bind dest through an absolute link: error, nothing on the host" '"op":"mount" absent' \
  "$(echo "$EV" | grep -o '"op":"mount"') $([ -e "$T/escaped2" ] && echo present || echo absent)"
S=$(new_state badbind)
run_fg "$S" bind relative /x rw -- true
check "bind with a relative source: spec error" '"op":"spec"' "$(echo "$EV" | grep -o '"op":"spec"')"
S=$(new_state priv)
run_fg "$S" privileged 1 readonly /proc/sys mask /proc/kcore caps 0 seccomp_deny 39 -- sh -c '
  grep CapEff /proc/self/status; grep " /sys " /proc/mounts | cut -d" " -f4 | cut -d, -f1
  echo cell2 > /proc/sys/kernel/hostname && hostname; test -c /proc/kcore && echo kcore-masked; grep Seccomp: /proc/self/status'
check "privileged: all the shim's capabilities, /sys rw, no readonly/mask/seccomp" \
  "$(echo $(grep CapEff /proc/self/status)) rw cell2 Seccomp: 0" "$(echo $(cat "$S/out"))"

echo "== security: caps, no_new_privs, seccomp, rlimit"
read -r NR_UNSHARE NR_MOUNT NR_GETPID <<< "$(printf '#include <sys/syscall.h>\nSYS_unshare SYS_mount SYS_getpid\n' | cc -E - | tail -1)"
S=$(new_state capmask)
run_fg "$S" caps 400005 -- sh -c 'grep -E "^Cap" /proc/self/status | tr -d "\t" | tr "\n" " "'
check "caps mask in all sets but ambient and inheritable" \
  "CapInh:0000000000000000 CapPrm:0000000000400005 CapEff:0000000000400005 CapBnd:0000000000400005 CapAmb:0000000000000000 " \
  "$OUT"
S=$(new_state capheld)
run_fg "$S" caps 1000005 -- sh -c 'grep CapEff /proc/self/status'
if (($(awk '/CapEff/ { print "0x" $2 }' /proc/self/status) >> 24 & 1)); then ok "skipped: the shim has CAP_SYS_RESOURCE"; else
  check "caps the shim lacks: dropped with a warning" "CapEff:	0000000000000005 1" \
    "$(cat "$S/out") $(echo "$EV" | grep -c '"event":"warning","msg":"caps: 1000000 not held')"
fi
S=$(new_state nnp)
run_fg "$S" no_new_privs 1 -- sh -c 'grep -E "NoNewPrivs|Seccomp:" /proc/self/status | tr -d "\t" | tr "\n" " "'
check "no_new_privs" "NoNewPrivs:1 Seccomp:0 " "$OUT"
S=$(new_state seccomp)
run_fg "$S" caps a82425fb seccomp_deny "$NR_UNSHARE,$NR_MOUNT" -- sh -c '
  unshare -U true 2>&1 | grep -o "Operation not permitted"; mkdir /m; mount -t tmpfs t /m 2>&1 | grep -o "permission denied"
  grep -E "NoNewPrivs|Seccomp:" /proc/self/status | tr -d "\t" | tr "\n" " "; echo'
check "seccomp_deny: unshare and mount fail with EPERM (CAP_SYS_ADMIN held, no no_new_privs)" \
  "Operation not permitted permission denied NoNewPrivs:0 Seccomp:2" "$(echo $OUT)"
S=$(new_state seccomp2)
run_fg "$S" caps a82425fb seccomp_errno "$NR_MOUNT:38" -- sh -c '
  unshare -U true && echo unshare-ok; mkdir /m; mount -t tmpfs t /m 2>&1 | grep -o "Function not implemented"'
check "seccomp_errno: mount fails with ENOSYS; the same without the filter works" \
  "unshare-ok Function not implemented" "$(echo $OUT)"
S=$(new_state seccomp3)
run_fg "$S" caps a82425fb -- sh -c 'mkdir /m; mount -t tmpfs t /m && echo mount-ok'
check "control: mount works with CAP_SYS_ADMIN and no filter" "mount-ok" "$OUT"
S=$(new_state seccomp4)
run_fg "$S" seccomp_deny "$NR_UNSHARE" uid 1000 gid 1000 -- sh -c '
  grep -E "CapPrm|CapEff" /proc/self/status | tr -d "\t" | tr "\n" " "; unshare -U true 2>&1 | grep -o "not permitted"'
check "seccomp without no_new_privs: the CAP_SYS_ADMIN held to load it does not reach the process" \
  "CapPrm:0000000000000000 CapEff:0000000000000000 not permitted" "$(echo $OUT)"
S=$(new_state seccomp5)
run_fg "$S" seccomp_deny "$NR_UNSHARE" -- sh -c 'grep CapEff /proc/self/status'
check "seccomp without no_new_privs, root: Docker's caps exactly" "CapEff:	00000000a80425fb" "$OUT"
if [ "$(uname -m)" = x86_64 ]; then
  cc -O2 -static -Wall -Wextra -o build/sysarch test/sysarch.c || exit 1
  S=$(new_state seccomparch)
  mkdir -p "$S/upper/bin"
  cp build/sysarch "$S/upper/bin/"
  run_fg "$S" -- sh -c 'sysarch i386; sysarch x32'
  check "control: foreign ABIs without a filter" "returned a pid returned an error" "$(echo $OUT)"
  S=$(new_state seccomparch2)
  mkdir -p "$S/upper/bin"
  cp build/sysarch "$S/upper/bin/"
  run_fg "$S" seccomp_deny "$NR_UNSHARE" -- sh -c 'sysarch i386; echo $?; sysarch x32; echo $?'
  check "seccomp: i386 and x32 system calls kill the process (SIGSYS)" "159 159" "$(echo $OUT)"
fi
S=$(new_state rlimit)
HARD=$(ulimit -Hn)
run_fg "$S" rlimit 7:1024:2048 rlimit 4:-1:-1 rlimit 7:-1:-1 -- sh -c 'ulimit -Sn; ulimit -Hn; ulimit -c'
check "rlimit nofile -1:-1 clamped to the shim's hard limit (last one wins), core unlimited" "$HARD $HARD unlimited" "$(echo $OUT)"
check "rlimit clamp: one warning" \
  "{\"event\":\"warning\",\"msg\":\"rlimit nofile (7) -1:-1 clamped to $HARD:$HARD, the shim's own hard limit\"}" \
  "$(echo "$EV" | grep warning)"
S=$(new_state rlimit2)
run_fg "$S" rlimit 7:1024:2048 -- sh -c 'ulimit -Sn; ulimit -Hn'
check "rlimit below the hard limit: exact, no warning" "1024 2048 0" "$(echo $OUT) $(echo "$EV" | grep -c warning)"
S=$(new_state badrlimit)
run_fg "$S" rlimit 7:10:5 -- true
check "rlimit soft > hard: spec error" '"op":"spec"' "$(echo "$EV" | grep -o '"op":"spec"')"
S=$(new_state execsec)
run_bg "$S" -- sleep 30
exec_in "$PID1" caps 5 seccomp_deny "$NR_UNSHARE" rlimit 7:-1:-1 no_new_privs 1 -- sh -c '
  grep -E "CapEff|NoNewPrivs|Seccomp:" /proc/self/status | tr -d "\t" | tr "\n" " "; ulimit -Hn; unshare -U true 2>&1 | grep -o "not permitted"'
check "exec: caps, no_new_privs, seccomp and rlimit" "CapEff:0000000000000005 NoNewPrivs:1 Seccomp:2 $HARD not permitted" "$(echo $OUT)"
check "exec: rlimit clamp warning on stderr" 1 "$(grep -c 'testcell-shim: exec: warning: rlimit nofile' "$T/exec.err")"
exec_in "$PID1" -- sh -c 'grep -E "CapEff|Seccomp:" /proc/self/status | tr -d "\t" | tr "\n" " "'
check "exec without the keys: Docker's caps, no filter" "CapEff:00000000a80425fb Seccomp:0 " "$OUT"
echo "kill 9" >&7
wait "$SHIM_PID"
exec 7>&-

if [ -z "$(ls -d /sys/fs/cgroup/{memory,pids,cpu,freezer} /sys/fs/cgroup/cgroup.controllers 2>/dev/null)" ]; then
  echo "note: no cgroup hierarchy: resource checks skipped"
else
  echo "== resources: memory, cpu, pids, oom, exec joins the cgroup"
  S=$(new_state limits)
  run_bg "$S" cgroup_parent $CG memory 33554432 cpu_quota 50000 cpu_period 100000 pids 20 -- sleep 30
  if [ -e "$(cgfile "$S" cpu.max)" ]; then
    check "cpu.max (v2)" "50000 100000" "$(cat "$(cgfile "$S" cpu.max)")"
    check "memory.max (v2)" 33554432 "$(cat "$(cgfile "$S" memory.max)")"
  else
    check "cpu.cfs_quota_us, cpu.cfs_period_us (v1)" "50000 100000" "$(cat "$(cgfile "$S" cpu.cfs_quota_us)") $(cat "$(cgfile "$S" cpu.cfs_period_us)")"
    check "memory.limit_in_bytes (v1)" 33554432 "$(cat "$(cgfile "$S" memory.limit_in_bytes)")"
  fi
  check "pids.max" 20 "$(cat "$(cgfile "$S" pids.max)")"
  exec_in "$PID1" cgroup "$CG/$(cid "$S")" -- sh -c 'grep -c "'"$CG/$(cid "$S")"'" /proc/self/cgroup'
  check "exec with \`cgroup\` joins each of the container's hierarchies" "$(grep -c "$CG/$(cid "$S")" /proc/"$PID1"/cgroup)" "$OUT"
  exec_in "$PID1" -- sh -c 'grep -c "'"$CG/$(cid "$S")"'" /proc/self/cgroup'
  check "exec without \`cgroup\` stays out" 0 "$OUT"
  echo "kill 9" >&7
  wait "$SHIM_PID"
  exec 7>&-
  S=$(new_state oom)
  run_fg "$S" cgroup_parent $CG memory 33554432 -- sh -c 'dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo $?'
  check "memory: a 64 MiB buffer in 32 MiB is OOM-killed" 137 "$OUT"
  check "oom in the exit event" '{"event":"exit","code":0,"signal":0,"oom":true}' "$(echo "$EV" | tail -1)"
  S=$(new_state pids)
  run_fg "$S" cgroup_parent $CG pids 5 -- sh -c '
    sh -c "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; echo not-reached"; set -- /proc/[0-9]*; echo $#; kill -9 -1'
  check "pids: forks stop at the limit (sh, sh + 3 sleeps, then sh + 3 sleeps are left)" 4 "$OUT"
  check "pids: the fork failure" "can't fork" "$(grep -o "can't fork" "$S/err")"
  S=$(new_state nocg)
  run_fg "$S" memory 33554432 -- true
  check "a limit without cgroup_parent: spec error" '"op":"spec"' "$(echo "$EV" | grep -o '"op":"spec"')"

  echo "== pause, resume"
  S=$(new_state pause)
  run_bg "$S" cgroup_parent $CG -- sh -c 'while :; do echo >> /n; sleep 0.02; done'
  sleep 0.1
  echo pause >&7
  wait_event "$S" paused
  a=$(wc -l < "$S/upper/n")
  sleep 0.3
  check "paused: nothing runs" "$a" "$(wc -l < "$S/upper/n")"
  F=$(cgfile "$S" freezer.state)
  [ -n "$F" ] && check "freezer.state (v1)" FROZEN "$(cat "$F")" || check "cgroup.events (v2)" "frozen 1" "$(grep frozen "$(cgfile "$S" cgroup.events)")"
  echo resume >&7
  wait_event "$S" resumed
  sleep 0.3
  [ "$(wc -l < "$S/upper/n")" -gt "$a" ] && ok "resumed: runs again" || bad "resumed: runs again" "$a -> $(wc -l < "$S/upper/n")"
  echo pause >&7
  wait_event "$S" paused 2
  echo "kill 9" >&7
  wait "$SHIM_PID"
  check "kill while paused: thawed, then exit" "paused resumed paused resumed exit" \
    "$(grep -o '"event":"[a-z]*"' "$S/events" | cut -d'"' -f4 | grep -v started | tr '\n' ' ' | sed 's/ $//')"
  exec 7>&-
fi
S=$(new_state pausenocg)
run_bg "$S" -- sleep 30
echo pause >&7
wait_event "$S" error
check "pause without a cgroup: error event, keeps running" '"op":"cgroup" alive' \
  "$(grep -o '"op":"cgroup"' "$S/events") $(kill -0 "$PID1" 2>/dev/null && echo alive || echo gone)"
echo "kill 9" >&7
wait "$SHIM_PID"
exec 7>&-

echo "== detach"
S=$(new_state detach)
mkdir -p "$S/upper/www"
echo hello > "$S/upper/www/index.html"
run_bg "$S" detach 1 port tcp:8080:0 -- sh -c 'httpd -p 8080 -h /www; sleep 30'
check "shim.pid" "$SHIM_PID" "$(cat "$S/shim.pid")"
check "own session" "$SHIM_PID" "$(ps -o sid= -p "$SHIM_PID" | tr -d ' ')"
TP=$(sed -n 's/.*"proto":"tcp","container":8080,"host":\([0-9]*\).*/\1/p' "$S/events")
exec 7>&-
sleep 0.3
check "lifeline EOF: the container keeps running" alive "$(kill -0 "$PID1" 2>/dev/null && echo alive || echo gone)"
check "ports keep forwarding" hello "$(/bin/busybox wget -q -O - "http://127.0.0.1:$TP/")"
kill -TERM "$(cat "$S/shim.pid")"
wait "$SHIM_PID"
check "SIGTERM to the shim: stops the container" gone "$(kill -0 "$PID1" 2>/dev/null && echo alive || echo gone)"
check "and removes the state dir (Node is gone)" gone "$([ -e "$S" ] && echo present || echo gone)"
S=$(new_state detach2)
run_bg "$S" detach 1 -- sleep 30
echo "kill 9" >&7
wait "$SHIM_PID"
check "detach, Node still there: the state dir is left to Node" present "$([ -e "$S" ] && echo present || echo gone)"
exec 7>&-

V2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -n "$V2" ] && grep -q ' - cgroup cgroup ' /proc/self/mountinfo && command -v unshare > /dev/null; then
  echo "== cgroup v2 without controllers (hybrid host: v1 hidden in a private mount namespace)"
  cat > "$T/v2only" <<'EOF'
#!/bin/sh
grep ' - cgroup cgroup ' /proc/self/mountinfo | cut -d' ' -f5 | xargs -r umount
exec "$@"
EOF
  chmod +x "$T/v2only"
  WRAP="unshare -m --propagation private $T/v2only"
  S=$(new_state v2)
  run_bg "$S" cgroup_parent $CG -- sleep 30
  D="$V2/$CG/$(cid "$S")"
  check "v2 cgroup created and joined" "$PID1" "$(cat "$D/cgroup.procs" 2>&1)"
  echo pause >&7
  wait_event "$S" paused
  check "pause: cgroup.freeze" "frozen 1" "$(grep frozen "$D/cgroup.events")"
  echo resume >&7
  wait_event "$S" resumed
  check "resume: cgroup.freeze" "frozen 0" "$(grep frozen "$D/cgroup.events")"
  exec_in "$PID1" cgroup "$CG/$(cid "$S")" -- cat /proc/self/cgroup
  check "exec joins the v2 cgroup" "0::/$CG/$(cid "$S")" "$(echo "$OUT" | grep '^0::')"
  echo "kill 9" >&7
  wait "$SHIM_PID"
  exec 7>&-
  check "v2 cgroup removed" gone "$([ -e "$D" ] && echo present || echo gone)"
  S=$(new_state v2mem)
  run_fg "$S" cgroup_parent $CG memory 33554432 -- true
  check "v2 without the memory controller: error naming it and the file" \
    '"op":"cgroup" `memory` `memory.max`' "$(echo "$EV" | grep -o -e '"op":"cgroup"' -e '`memory`' -e '`memory.max`' | tr '\n' ' ' | sed 's/ $//')"
  check "no cgroup left behind" gone "$([ -e "$V2/$CG/$(cid "$S")" ] && echo present || echo gone)"
  WRAP=
  rmdir "$V2/$CG" 2>/dev/null
fi
rmdir /sys/fs/cgroup/{memory,pids,cpu,freezer}/$CG /sys/fs/cgroup/$CG 2>/dev/null

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

echo "== networks: netns, veth pairs, netmode"
host_links() { ip -o link | cut -d: -f2 | tr -d ' ' | sort | tr '\n' ' '; }
ns_links() { nsenter --net="$1" ip -o link | cut -d: -f2 | tr -d ' ' | sed 's/@.*//' | sort | tr '\n' ' '; }
# wait_links NS EXPECTED: a container's veth ends leave the network with its net ns (asynchronously)
wait_links() { local i; for i in $(seq 200); do [ "$(ns_links "$1")" = "$2" ] && break; sleep 0.01; done; ns_links "$1"; }
LINKS0=$(host_links)
NA=$T/netA NB=$T/netB
touch "$NA" "$NB"
check "netns: event" "{\"event\":\"netns\",\"path\":\"$NA\"}" "$("$SHIM" netns "$NA" --addr 10.89.3.1/24)"
"$SHIM" netns "$NB" --addr 10.89.4.1/24 > /dev/null
check "netns: lo and bridge tc0 up, gateway address on tc0" "lo tc0 | lo 127.0.0.1/8 tc0 10.89.3.1/24" \
  "$(echo $(nsenter --net="$NA" ip -o link show up | cut -d: -f2)) | $(echo $(nsenter --net="$NA" ip -o -4 addr | awk '{print $2, $4}'))"
R=$("$SHIM" netns "$T/netC" --addr 10.89.5.1)
check "netns: a bad address is an error event, exit 1" '1 "op":"net","errno":22' "$? $(echo "$R" | grep -o '"op":"net","errno":22')"
S=$(new_state neta)
run_bg "$S" network "$NA" eth0 10.89.3.2/24 -- sh -c 'ip -o -4 addr show eth0 | awk "{print \$2, \$4}"
  ip -o link show up | cut -d: -f2 | cut -d@ -f1 | tr "\n" " "; echo; echo from-a | nc -l -p 7000; sleep 30'
PID_A=$PID1 SHIM_A=$SHIM_PID
exec 8>&7 7>&-
S=$(new_state netc)
run_fg "$S" network "$NB" eth0 10.89.4.2/24 -- sh -c 'ping -c1 -W1 10.89.4.1 > /dev/null && echo own-ok; ping -c1 -W1 10.89.3.2 > /dev/null 2>&1 || echo other-unreachable
  nc -w 1 10.89.3.2 7000 < /dev/null 2>&1 | grep -c from-a'
check "a container on another network cannot reach it" "own-ok other-unreachable 0" "$(echo $OUT)"
S=$(new_state netb)
run_fg "$S" network "$NA" eth0 10.89.3.3/24 -- sh -c 'ping -c1 -W2 10.89.3.2 > /dev/null && echo ping-ok; echo from-b | nc -w 2 10.89.3.2 7000'
check "interfaces exist before exec: address, lo and eth0 up" "eth0 10.89.3.2/24 lo eth0" "$(echo $(head -2 "$T/neta/out"))"
check "two containers on one network: ping and nc by IP" "ping-ok from-a" "$(echo $OUT)"
check "the other side got the data" from-b "$(sed -n 3p "$T/neta/out")"
S=$(new_state netd)
run_fg "$S" network "$NA" eth0 10.89.3.4/24 network "$NB" eth1 10.89.4.3/24 -- sh -c 'ping -c1 -W2 10.89.3.1 > /dev/null && echo a-ok; ping -c1 -W2 10.89.4.1 > /dev/null && echo b-ok; ip -o link | wc -l'
check "one container on two networks" "a-ok b-ok 3" "$(echo $OUT)"
S=$(new_state nete)
run_fg "$S" -- sh -c 'ip -o link | cut -d: -f2; ip -o link show up | wc -l; ping -c1 -W1 10.89.3.2 > /dev/null 2>&1 || echo unreachable'
check "no network: only lo (up), cannot reach a network" "lo 1 unreachable" "$(echo $OUT)"
S=$(new_state netnone)
run_fg "$S" netmode none -- sh -c 'ip -o link | cut -d: -f2; ip -o link show up | wc -l'
check "netmode none: only lo, up" "lo 1" "$(echo $OUT)"
S=$(new_state nethost)
run_fg "$S" netmode host -- sh -c 'ip -o link | wc -l'
check "netmode host: the host's interfaces" "$(ip -o link | wc -l)" "$OUT"
S=$(new_state nethostport)
run_fg "$S" netmode host port tcp:80:0 -- true
check "netmode host with a port: spec error" '"op":"spec"' "$(echo "$EV" | grep -o '"op":"spec"')"
S=$(new_state netbad)
run_fg "$S" network "$NA" eth0 10.89.3.5/24 network "$T/netC" eth1 10.89.5.2/24 -- true
check "a missing network ns: net error before clone" '"op":"net","errno":2' "$(echo "$EV" | grep -o '"op":"net","errno":2')"
S=$(new_state netdup)
run_fg "$S" network "$NA" eth0 10.89.3.5/24 network "$NB" eth0 10.89.4.5/24 -- sh -c 'echo ran'
check "a failed attachment (name taken): net error, never exec'd" '"op":"net","errno":17 ' "$(echo "$EV" | grep -o '"op":"net","errno":17') $OUT"
check "after it the network holds only A's veth" "lo tc0 veth0 " "$(wait_links "$NA" "lo tc0 veth0 ")"
check "nothing left in the host ns" "$LINKS0" "$(host_links)"
check "no route into a network from the host" "" "$(ip route show | grep '^10\.89\.')"
echo "kill 9" >&8
wait "$SHIM_A"
exec 8>&-
check "the veth ends leave with the containers" "lo tc0 " "$(wait_links "$NA" "lo tc0 ")"
"$SHIM" netns-rm "$NA" && "$SHIM" netns-rm "$NB"
check "netns-rm: unmounted and removed" "0 absent absent" "$? $([ -e "$NA" ] && echo present || echo absent) $([ -e "$NB" ] && echo present || echo absent)"
"$SHIM" netns-rm "$NA"
check "netns-rm twice is fine" 0 $?
check "no mounts left" "" "$(grep "$T" /proc/self/mountinfo)"

echo "== hostport: container to the host's 127.0.0.1"
free_port() { local p; while p=$((20000 + RANDOM % 20000)); (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do :; done; echo "$p"; }
mkdir -p "$T/www"
echo hello-host > "$T/www/index.html"
HTP=$(free_port)
/bin/busybox httpd -f -p "127.0.0.1:$HTP" -h "$T/www" &
HTTPD=$!
for i in $(seq 100); do (exec 9<>"/dev/tcp/127.0.0.1/$HTP") 2>/dev/null && break; sleep 0.01; done
S=$(new_state hostport)
touch "$NA"
"$SHIM" netns "$NA" --addr 10.89.3.1/24 > /dev/null
run_fg "$S" hostport "127.0.0.254:8000:$HTP" network "$NA" eth0 10.89.3.2/24 -- sh -c 'wget -q -O - http://127.0.0.254:8000/index.html'
check "a container fetches from the host's 127.0.0.1 through the listen ip" "hello-host" "$OUT"
check "no port event for a hostport" "started exit" "$(echo $(echo "$EV" | grep -o '"event":"[a-z]*"' | cut -d'"' -f4))"
S=$(new_state hostport2)
run_fg "$S" hostport "127.0.0.254:8000:$(free_port)" -- sh -c 'wget -q -O - http://127.0.0.254:8000/ > /dev/null 2>&1 || echo failed'
check "nothing listening on the host: the container's connection is closed at once" failed "$OUT"
S=$(new_state hostportbad)
run_fg "$S" hostport "localhost:8000:80" -- true
check "hostport needs an IPv4 listen address: spec error" '"op":"spec"' "$(echo "$EV" | grep -o '"op":"spec"')"
kill "$HTTPD"
wait "$HTTPD" 2>/dev/null
"$SHIM" netns-rm "$NA"

echo "== throughput: 1 GiB through a published port vs direct loopback (best of 3)"
cc -O2 -static -Wall -Wextra -o build/tcpbench test/tcpbench.c || exit 1
S=$(new_state bench)
mkdir -p "$S/upper/bin"
cp build/tcpbench "$S/upper/bin/"
run_bg "$S" port tcp:5000:0 -- sh -c 'for i in 1 2 3; do tcpbench listen 5000; tcpbench listen 5000 1024; done'
BP=$(sed -n 's/.*"container":5000,"host":\([0-9]*\).*/\1/p' "$S/events")
best() { sort -n | tail -1; }
UPS= DOWNS= DIRECTS=
for i in 1 2 3; do
  UPS="$UPS $(build/tcpbench connect "$BP" 1024 | sed 's/.*: \([0-9]*\) MiB\/s/\1/')"
  DOWNS="$DOWNS $(build/tcpbench connect "$BP" | sed 's/.*: \([0-9]*\) MiB\/s/\1/')"
done
wait "$SHIM_PID"
exec 7>&-
DP=$(free_port)
for i in 1 2 3; do
  build/tcpbench listen "$DP" &
  DIRECTS="$DIRECTS $(build/tcpbench connect "$DP" 1024 | sed 's/.*: \([0-9]*\) MiB\/s/\1/')"
  wait
done
UP=$(echo $UPS | tr ' ' '\n' | best) DOWN=$(echo $DOWNS | tr ' ' '\n' | best) DIRECT=$(echo $DIRECTS | tr ' ' '\n' | best)
echo "relay host->container MiB/s:$UPS; container->host:$DOWNS; direct loopback:$DIRECTS"
[ "$((UP * 2))" -ge "$DIRECT" ] && ok "relay up ${UP} >= 50% of direct ${DIRECT}" || bad "relay up" "${UP} MiB/s < 50% of direct ${DIRECT} MiB/s"
[ "$((DOWN * 2))" -ge "$DIRECT" ] && ok "relay down ${DOWN} >= 50% of direct ${DIRECT}" || bad "relay down" "${DOWN} MiB/s < 50% of direct ${DIRECT} MiB/s"

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
mkdir -p "$T/nosuidfs"
mount -t tmpfs -o nosuid,nodev,size=1m tmpfs "$T/nosuidfs" && echo in > "$T/nosuidfs/f"
for nr in "" 442; do # mount_setattr, then the remount fallback (kernels < 5.12)
  S=$(new_state "fallback-ro$nr")
  spec "$S" bind "$T/nosuidfs" /ro ro readonly /proc/sys -- sh -c '
    grep -e " /ro " -e " /proc/sys " /proc/mounts | cut -d" " -f4; cat /ro/f; echo x 2>&1 > /ro/f | grep -o "Read-only file system"' > "$S/spec"
  lowers "$L" >> "$S/spec"
  build/nosys "437,$nr" "$SHIM" run 3<"$S/spec" 4>"$S/events" 0< <(sleep 10)
  check "read-only bind ${nr:+without mount_setattr }keeps nosuid,nodev,noexec" \
    "ro,nosuid,nodev,relatime,size=1024k ro,nosuid,nodev,noexec,relatime in Read-only file system" "$(echo $(cat "$S/out"))"
done
umount "$T/nosuidfs"
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
