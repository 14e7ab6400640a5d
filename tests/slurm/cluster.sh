#!/usr/bin/env bash
# A one-node SLURM cluster with accounting, on localhost, for the workflow's cluster tests.
#
#   tests/slurm/cluster.sh start  STATE_DIR   # start munged, MariaDB, slurmdbd, slurmctld, slurmd
#   tests/slurm/cluster.sh status STATE_DIR   # sinfo/sacctmgr view; exit 0 when the node is usable
#   tests/slurm/cluster.sh stop   STATE_DIR   # stop exactly the daemons that `start` started
#   tests/slurm/cluster.sh env    STATE_DIR   # print `export SLURM_CONF=...` for the client commands
#
# Everything (configuration, keys, database, spool, logs, pid files) lives in STATE_DIR; nothing is
# written to /etc. The SLURM client commands (sbatch, sacct, sinfo, sacctmgr), including the ones
# the Snakemake SLURM executor runs, find this cluster through the SLURM_CONF environment variable,
# which `env` prints; slurmdbd finds slurmdbd.conf in the same directory.
#
# Inside a job, the executor's job step runs `srun` with every SLURM_* variable but a few removed
# (snakemake-executor-plugin-slurm-jobstep does so on purpose), SLURM_CONF included, so srun
# looks for the configuration where a node keeps it: /etc/slurm/slurm.conf, then
# /run/slurm/conf/slurm.conf (the link a "configless" slurmd makes to its copy). This script makes
# that link, to STATE_DIR/etc, at start and removes it at stop: the one path outside STATE_DIR it
# writes, chosen over /etc because it is run-time state, gone at reboot. (True configless mode does
# not fit: slurmd would need MUNGE on its default socket, in /run/munge, to fetch its configuration.)
#
# Works in a container without systemd or cgroups: daemons are started directly, in the
# foreground under setsid, and tracked by pid; process tracking is proctrack/linuxproc and there
# is no task plugin. Every daemon listens on 127.0.0.1 only, on free ports picked at start.
# Needs root (munged, slurmd and slurmdbd run as root here) and the Debian packages of
# tests/install_system_deps.sh.
#
# BIONMF_SLURM_NODE_CPUS=N (optional) declares a node of N CPUs whatever the machine has, so that the
# tests see the same node size everywhere (a job asking more than N pends, as on a real cluster);
# with no task plugin nothing is bound to CPUs, so N may exceed the machine's cores.
set -Eeuo pipefail

CLUSTER_NAME=bionmf
ACCOUNT=bionmf
START_TIMEOUT=${BIONMF_SLURM_START_TIMEOUT:-120}

die() { echo "cluster.sh: $*" >&2; exit 1; }

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -eq 2 ] || usage
command=$1
STATE=$(realpath -m "$2")
ETC=$STATE/etc
RUN=$STATE/run
LOG=$STATE/log
export SLURM_CONF=$ETC/slurm.conf
NODE_CONF_LINK=/run/slurm/conf

# --- helpers ---------------------------------------------------------------------------------

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for DAEMON DESCRIPTION COMMAND...: retry COMMAND until it succeeds; fail when DAEMON exits
# or START_TIMEOUT passes.
wait_for() {
  local daemon=$1 what=$2; shift 2
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@" >"$RUN/wait.out" 2>&1; do
    if ! alive "$daemon"; then
      echo "cluster.sh: $daemon exited while waiting for $what" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "cluster.sh: timed out after ${START_TIMEOUT}s waiting for $what; last try ($*) said:" >&2
      cat "$RUN/wait.out" >&2
      return 1
    fi
    sleep 0.5
  done
}

# launch NAME COMMAND...: start a foreground daemon detached from our terminal, remember its pid.
launch() {
  local name=$1; shift
  setsid "$@" </dev/null >>"$LOG/$name.out" 2>&1 &
  echo $! >"$RUN/$name.pid"
  echo "$name" >>"$RUN/started"
}

# running PID: the process exists and has not exited (a zombie waits for its reaper, which is
# not us: the daemons were started by an earlier call of this script).
running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

alive() {
  local pidfile=$RUN/$1.pid
  [ -s "$pidfile" ] && running "$(cat "$pidfile")"
}

progress() { echo "cluster.sh: [${SECONDS}s] $*"; }

dump_logs() {
  local f
  for f in "$LOG"/*; do
    [ -f "$f" ] || continue
    echo "===== $f (last 40 lines) =====" >&2
    tail -n 40 "$f" >&2 || true
  done
}

node_idle() {
  local state
  state=$(sinfo --noheader --Node --format=%T 2>/dev/null) || return 1
  [ "$state" = "idle" ]
}

# --- start -----------------------------------------------------------------------------------

write_configs() {
  local host=$1 cpus_line=$2 mem_mb=$3 ctld_port=$4 slurmd_port=$5 dbd_port=$6 mysql_port=$7 db_pass=$8
  local munge_socket=$STATE/munge/munge.socket.2

  cat >"$ETC/slurm.conf" <<CONF
# Written by tests/slurm/cluster.sh for a one-node test cluster; see that script.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$munge_socket
CredType=cred/munge
StateSaveLocation=$STATE/spool/slurmctld
SlurmdSpoolDir=$STATE/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.daemon.pid
SlurmdPidFile=$RUN/slurmd.daemon.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in a container: track job processes through /proc, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Memory requests are enforced, as cgroups would on a production cluster: a step that grows past
# its job's --mem is killed at the next sample (every second) and the job ends OUT_OF_MEMORY.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmdTimeout=120
InactiveLimit=0
KillWait=5
MinJobAge=300
# Accounting through slurmdbd: sacct (which the Snakemake SLURM executor polls) reads it.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
# For slurmdbd connections, the MUNGE socket is named here, not by AuthInfo.
AccountingStoragePass=$munge_socket
AccountingStorageEnforce=associations
JobCompType=jobcomp/none
# Keep the --comment the executor gives each job (rule and wildcards) for sacct.
AccountingStoreFlags=job_comment
# The node as declared here, not as slurmd detects it (BIONMF_SLURM_NODE_CPUS may differ).
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 $cpus_line RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

  cat >"$ETC/slurmdbd.conf" <<CONF
# Written by tests/slurm/cluster.sh for a one-node test cluster; see that script.
AuthType=auth/munge
AuthInfo=socket=$munge_socket
DbdHost=$host
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.daemon.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$mysql_port
StorageUser=slurm
StoragePass=$db_pass
StorageLoc=slurm_acct_db
CONF
  # slurmdbd refuses a configuration file (it holds the database password) readable by others.
  chmod 600 "$ETC/slurmdbd.conf"
}

start_munge() {
  local dir=$STATE/munge
  mkdir -p "$dir"
  # Clients need to reach the socket in here; the key itself is readable by root only.
  chmod 755 "$dir"
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$dir/munge.key"
  else
    dd if=/dev/urandom of="$dir/munge.key" bs=1 count=1024 status=none
  fi
  chmod 400 "$dir/munge.key"
  # --force: munged otherwise declines to run as root.
  launch munged munged --foreground --force --socket="$dir/munge.socket.2" \
    --key-file="$dir/munge.key" --pid-file="$dir/munged.pid" --seed-file="$dir/munged.seed" \
    --log-file="$LOG/munged.log" --origin=127.0.0.1
  wait_for munged "munged" bash -c "munge -n -S '$dir/munge.socket.2' | unmunge -S '$dir/munge.socket.2'"
}

start_mariadb() {
  local mysql_port=$1 db_pass=$2
  local dir=$STATE/mysql
  mkdir -p "$dir"
  # --no-defaults everywhere: the system's /etc/mysql settings (socket in /run, ...) do not apply.
  mariadb-install-db --no-defaults --user=root --datadir="$dir/data" --skip-test-db --skip-name-resolve \
    --auth-root-authentication-method=socket >"$LOG/mariadb-install-db.log" 2>&1 \
    || { cat "$LOG/mariadb-install-db.log" >&2; return 1; }
  launch mariadbd mariadbd --no-defaults --user=root --datadir="$dir/data" \
    --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" --log-error="$LOG/mariadbd.log" \
    --bind-address=127.0.0.1 --port="$mysql_port" --skip-name-resolve \
    --innodb-use-native-aio=0 --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
    --innodb-lock-wait-timeout=900 --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0
  wait_for mariadbd "MariaDB" mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -u root ping
  mariadb --no-defaults --socket="$dir/mysqld.sock" -u root <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
}

# The node's CPU topology as slurmd detects it ("CPUs=2 Boards=1 SocketsPerBoard=1 ..."), or the
# one-socket node of BIONMF_SLURM_NODE_CPUS CPUs.
node_topology() {
  local cpus=${BIONMF_SLURM_NODE_CPUS:-}
  if [ -n "$cpus" ]; then
    [[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "BIONMF_SLURM_NODE_CPUS must be a positive integer, got '$cpus'"
    echo "CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1"
    return
  fi
  slurmd -C | head -n 1 | tr ' ' '\n' \
    | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' '
}

# Memory offered to jobs: the machine's, less a margin for the daemons and the system
# (10%, at least 512 MB), so that jobs cannot push the machine into swapping or the OOM killer.
node_memory_mb() {
  local total_mb margin
  total_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
  margin=$((total_mb / 10))
  [ "$margin" -ge 512 ] || margin=512
  echo $((total_mb - margin))
}

start_failed() {
  trap - ERR
  echo "cluster.sh: start failed; stopping what was started. Daemon logs:" >&2
  dump_logs
  stop_all
  exit 1
}

start() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (munged, slurmd and slurmdbd are started here)"
  local tool
  for tool in munged mungekey munge mariadbd mariadb-install-db mariadb mariadb-admin \
      slurmdbd slurmctld slurmd sacctmgr sinfo; do
    command -v "$tool" >/dev/null || [ "$tool" = mungekey ] \
      || die "$tool not found; run tests/install_system_deps.sh"
  done
  if [ -e "$RUN/started" ]; then
    die "$STATE already holds a cluster; stop it first"
  fi
  # Job steps would read these instead of this cluster's configuration (see the note at the top).
  if [ -e /etc/slurm/slurm.conf ]; then
    die "/etc/slurm/slurm.conf exists: this machine has its own SLURM set-up; use that one"
  fi
  if [ -e "$NODE_CONF_LINK" ] || [ -L "$NODE_CONF_LINK" ]; then
    die "$NODE_CONF_LINK exists: another slurmd runs here, or a test cluster was not stopped" \
      "(it points to $(readlink "$NODE_CONF_LINK"))"
  fi
  mkdir -p "$ETC" "$RUN" "$LOG" "$STATE/spool/slurmctld" "$STATE/spool/slurmd"
  chmod 755 "$STATE"
  : >"$RUN/started"
  trap start_failed ERR

  local host cpus_line mem_mb ctld_port slurmd_port dbd_port mysql_port db_pass
  host=$(hostname -s)
  cpus_line=$(node_topology)
  mem_mb=$(node_memory_mb)
  ctld_port=$(free_port); slurmd_port=$(free_port); dbd_port=$(free_port); mysql_port=$(free_port)
  db_pass=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  write_configs "$host" "$cpus_line" "$mem_mb" "$ctld_port" "$slurmd_port" "$dbd_port" \
    "$mysql_port" "$db_pass"

  if [ ! -d "$(dirname "$NODE_CONF_LINK")" ]; then
    mkdir -p "$(dirname "$NODE_CONF_LINK")"
    echo made-link-dir >>"$RUN/started"
  fi
  ln -s "$ETC" "$NODE_CONF_LINK"

  start_munge
  progress "munged up"
  start_mariadb "$mysql_port" "$db_pass"
  progress "MariaDB up"

  launch slurmdbd slurmdbd -D
  wait_for slurmdbd "slurmdbd" sacctmgr --noheader list cluster
  # The cluster, an account and the user must exist before slurmctld registers (associations
  # are enforced, as on most production clusters).
  sacctmgr -i add cluster "$CLUSTER_NAME" >/dev/null
  sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER_NAME" \
    Description="bionmf test account" Organization=bionmf >/dev/null
  sacctmgr -i add user "$(id -un)" Account="$ACCOUNT" Cluster="$CLUSTER_NAME" >/dev/null
  progress "slurmdbd up, cluster $CLUSTER_NAME, account $ACCOUNT and user $(id -un) registered"

  launch slurmctld slurmctld -D -f "$SLURM_CONF"
  wait_for slurmctld "slurmctld" scontrol ping
  progress "slurmctld up"
  launch slurmd slurmd -D -f "$SLURM_CONF"
  wait_for slurmd "node $host to become idle" node_idle
  trap - ERR
  echo "cluster.sh: cluster $CLUSTER_NAME up in ${SECONDS}s: node $host ($cpus_line RealMemory=$mem_mb)," \
    "account $ACCOUNT; export SLURM_CONF=$SLURM_CONF"
}

# --- stop ------------------------------------------------------------------------------------

stop_one() {
  local name=$1 pid deadline
  [ -s "$RUN/$name.pid" ] || return 0
  pid=$(cat "$RUN/$name.pid")
  if running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while running "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if running "$pid"; then
      echo "cluster.sh: $name (pid $pid) ignored SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$RUN/$name.pid"
}

stop_all() {
  [ -e "$RUN/started" ] || return 0
  # Jobs still running would outlive slurmd (their slurmstepd is detached from it): cancel them.
  if alive slurmctld; then
    local job
    for job in $(squeue --noheader --format=%i 2>/dev/null); do
      scancel --full "$job" 2>/dev/null || true
    done
    local deadline=$((SECONDS + 30))
    while [ -n "$(squeue --noheader --format=%i 2>/dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do
      sleep 0.5
    done
  fi
  local name
  # Reverse start order: compute node, controller, accounting, database, authentication.
  for name in slurmd slurmctld slurmdbd mariadbd munged; do
    grep -qx "$name" "$RUN/started" && stop_one "$name"
  done
  # The node's configuration link, when it is this cluster's (see the note at the top).
  if [ "$(readlink "$NODE_CONF_LINK" 2>/dev/null)" = "$ETC" ]; then
    rm -f "$NODE_CONF_LINK"
    if grep -qx made-link-dir "$RUN/started"; then rmdir "$(dirname "$NODE_CONF_LINK")" || true; fi
  fi
  rm -f "$RUN/started"
}

# --- status ----------------------------------------------------------------------------------

status() {
  [ -e "$RUN/started" ] || { echo "no cluster started in $STATE"; return 1; }
  local name ok=0
  for name in munged mariadbd slurmdbd slurmctld slurmd; do
    if alive "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"
    else echo "$name: not running"; ok=1; fi
  done
  sinfo --Node --long || ok=1
  sacctmgr --noheader list association format=cluster,account,user || ok=1
  return $ok
}

case $command in
  start) start ;;
  stop) stop_all ;;
  status) status ;;
  env) echo "export SLURM_CONF=$SLURM_CONF" ;;
  *) usage ;;
esac
