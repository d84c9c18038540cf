#!/usr/bin/env bash
# Cluster test: a real single-node Slurm cluster (slurmctld + slurmd + a private munged), started and
# stopped by this script, runs a tiny sweep as a 4-task job array through
# scripts/slurm/collapse-array.sbatch; the 4 shards are merged with `collapse merge` and compared
# bit for bit with an unsharded local run of the same experiment (compare_results.py).
#
#   bash tests/cluster/run_cluster_test.sh /path/to/collapse /path/to/source-dir     (as root)
#
# Run by ctest (label: cluster; `ctest --test-dir build -L cluster`). Exit 0: pass; 1: fail;
# 77: skipped (not root, or the Debian packages slurmctld slurmd slurm-client munge are missing and
# cannot be installed). Installs those packages with apt-get when missing. Everything else lives in
# a fresh temporary directory: config, munge key and socket, state, spool, logs, results; ports
# 6817/6818 when free, other free ports otherwise. Nothing is written to /etc. On exit (also on
# failure or Ctrl-C) the jobs are cancelled, the daemons it started are stopped by pid, and the
# directory is removed (KEEP_TMP=1 keeps it for debugging).
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 COLLAPSE_BINARY SOURCE_DIR" >&2
  exit 2
fi
collapse="$(realpath "$1")"
src="$(realpath "$2")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python=/usr/bin/python3
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH}"
# Inside a Slurm job (CI on a cluster) the outer job's variables would leak into sbatch and make the
# local reference run take a shard of its own; start from none.
for v in ${!SLURM_@}; do unset "${v}"; done
unset COLLAPSE_SHARDS

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", b - a }'; }
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
t_start="$(now)"

[[ -x "${collapse}" ]] || fail "no collapse binary at ${collapse}"
[[ -f "${src}/scripts/slurm/collapse-array.sbatch" ]] || fail "no scripts/slurm/collapse-array.sbatch under ${src}"
[[ "$(id -u)" -eq 0 ]] || skip "needs root (slurmd must run as root to launch jobs); run as root or via sudo"
"${python}" -c 'import h5py, numpy' 2>/dev/null || fail "${python} cannot import h5py and numpy (scripts/setup.sh installs them)"

# --- packages -------------------------------------------------------------------------------------
packages=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "${p}" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("${p}")
  fi
done
if ((${#missing[@]})); then
  command -v apt-get >/dev/null 2>&1 || skip "packages ${missing[*]} missing and no apt-get"
  echo "cluster: installing ${missing[*]}"
  aptlog="$(mktemp)"
  if ! { apt-get -o DPkg::Lock::Timeout=120 update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
           --no-install-recommends "${missing[@]}"; } >"${aptlog}" 2>&1; then
    tail -n 20 "${aptlog}"
    rm -f "${aptlog}"
    skip "could not install ${missing[*]} with apt-get (log above)"
  fi
  rm -f "${aptlog}"
fi
for b in munged munge unmunge slurmctld slurmd sbatch sinfo squeue scancel; do
  command -v "${b}" >/dev/null 2>&1 || skip "${b} not found after installing ${packages[*]}"
done

# --- temporary directory and cleanup --------------------------------------------------------------
# Short fixed parent: the munge socket path must stay under the 108-byte limit of a Unix socket.
tmp="$(mktemp -d /tmp/collapse-slurm.XXXXXX)"
chmod 755 "${tmp}"
mkdir -p "${tmp}"/{munge,state,spool,log,out}
conf="${tmp}/slurm.conf"
munged_pid="" ctld_pid="" slurmd_pid="" bg_pid=""

slurm() { SLURM_CONF="${conf}" "$@"; }  # the client commands, pointed at this cluster only

alive() {  # running and not a zombie
  [[ -n "$1" && -r "/proc/$1/stat" ]] || return 1
  local stat
  stat="$(<"/proc/$1/stat")" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

stop_pid() {  # stop_pid PID NAME: SIGTERM, up to 10 s, then SIGKILL; reap it
  local pid="$1" i
  [[ -n "${pid}" ]] || return 0
  if alive "${pid}"; then
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do alive "${pid}" || break; sleep 0.1; done
    if alive "${pid}"; then
      echo "cluster: $2 (pid ${pid}) ignored SIGTERM; killing it"
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  fi
  wait "${pid}" 2>/dev/null || true
}

ours() {  # pids of processes started under this cluster's config (slurmstepd, job steps, slurmscriptd)
  local d p
  for d in /proc/[0-9]*; do
    p="${d#/proc/}"
    [[ "${p}" == "$$" ]] && continue
    if tr '\0' '\n' 2>/dev/null <"${d}/environ" | grep -qxF "SLURM_CONF=${conf}"; then echo "${p}"; fi
  done
}

# Runs a command in the background and waits for it: bash runs a trap only after the foreground command
# ends, but interrupts `wait`, so a TERM or Ctrl-C (or ctest's timeout) stops the test at once.
waitfor() {
  local rc=0
  "$@" &
  bg_pid=$!
  wait "${bg_pid}" || rc=$?
  bg_pid=""
  return "${rc}"
}

dump_logs() {
  local f
  for f in "${tmp}"/log/*.log "${tmp}"/log/*.out "${tmp}"/log/*.err; do
    [[ -s "${f}" ]] || continue
    echo "----- ${f#"${tmp}"/} (last 40 lines)"
    tail -n 40 "${f}"
  done
}

cleanup() {
  local rc=$? i p
  set +e
  trap - EXIT INT TERM
  if alive "${bg_pid}"; then kill -TERM "${bg_pid}" 2>/dev/null; wait "${bg_pid}" 2>/dev/null; fi
  if ((rc != 0 && rc != 77)); then dump_logs; fi
  if alive "${ctld_pid}"; then
    slurm scancel --quiet --user="$(id -un)" 2>/dev/null  # every job of this private cluster
    for ((i = 0; i < 50; i++)); do [[ -z "$(slurm squeue -h 2>/dev/null)" ]] && break; sleep 0.2; done
  fi
  stop_pid "${slurmd_pid}" slurmd
  stop_pid "${ctld_pid}" slurmctld
  for p in $(ours); do
    echo "cluster: stopping leftover process ${p} ($(tr '\0' ' ' 2>/dev/null <"/proc/${p}/cmdline"))"
    kill -KILL "${p}" 2>/dev/null
  done
  stop_pid "${munged_pid}" munged
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "cluster: kept ${tmp}"; else rm -rf "${tmp}"; fi
  exit "${rc}"
}
trap cleanup EXIT
trap 'echo "cluster: interrupted" >&2; exit 130' INT
trap 'echo "cluster: terminated" >&2; exit 143' TERM

# --- munge: private key, socket and daemon -----------------------------------------------------------
dd if=/dev/urandom of="${tmp}/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "${tmp}/munge/munge.key"
sock="${tmp}/munge/munge.socket"
munged --foreground --force --key-file="${tmp}/munge/munge.key" --socket="${sock}" \
  --pid-file="${tmp}/munge/munged.pid" --seed-file="${tmp}/munge/munged.seed" \
  --log-file="${tmp}/log/munged.log" >"${tmp}/log/munged.out" 2>&1 &
munged_pid=$!
for ((i = 0; ; i++)); do
  if [[ -S "${sock}" ]] && munge -S "${sock}" -n 2>/dev/null | unmunge -S "${sock}" >/dev/null 2>&1; then break; fi
  alive "${munged_pid}" || fail "munged exited"
  ((i < 100)) || fail "munged not answering on ${sock} after 10 s"
  sleep 0.1
done

# --- ports ----------------------------------------------------------------------------------------
read -r ctld_port slurmd_port < <("${python}" - <<'EOF'
import socket

def bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as slurm does: TIME_WAIT is no conflict
    try:
        s.bind(("", port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()

ports = [p for p in (6817, 6818) if bindable(p)]
while len(ports) < 2:
    p = bindable(0)
    if p not in ports:
        ports.append(p)
print(*ports)
EOF
)
[[ "${ctld_port}" == 6817 && "${slurmd_port}" == 6818 ]] ||
  echo "cluster: ports 6817/6818 busy; using ${ctld_port}/${slurmd_port}"

# --- slurm.conf -------------------------------------------------------------------------------------
host="$(hostname -s 2>/dev/null || uname -n)"
host="${host%%.*}"
mem_mb="$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)"  # 10 % margin below slurmd's count
cpus="$(nproc)"
cat >"${conf}" <<EOF
# Single-node test cluster written by tests/cluster/run_cluster_test.sh
ClusterName=collapsetest
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${ctld_port}
SlurmdPort=${slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${sock}
SlurmUser=root
SlurmdUser=root
StateSaveLocation=${tmp}/state
SlurmdSpoolDir=${tmp}/spool
SlurmctldPidFile=${tmp}/slurmctld.pid
SlurmdPidFile=${tmp}/slurmd.pid
SlurmctldLogFile=${tmp}/log/slurmctld.log
SlurmdLogFile=${tmp}/log/slurmd.log
# No cgroups anywhere: plain process tracking, no task binding, no accounting.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Schedule array tasks as soon as they are submitted / a CPU frees up (defaults wait up to 3 s), and
# let sbatch --wait poll every 2 s: it backs off to 8 s unless MinJobAge / 2 <= 2.
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MinJobAge=4
# scancel: SIGKILL 2 s after SIGTERM (default 30 s).
KillWait=2
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# --- daemons --------------------------------------------------------------------------------------
t_up="$(now)"
SLURM_CONF="${conf}" slurmctld -D -f "${conf}" >"${tmp}/log/slurmctld.out" 2>&1 &
ctld_pid=$!
SLURM_CONF="${conf}" slurmd -D -N "${host}" -f "${conf}" >"${tmp}/log/slurmd.out" 2>&1 &
slurmd_pid=$!
for ((i = 0; ; i++)); do
  state="$(slurm sinfo -h -n "${host}" -o %T 2>/dev/null || true)"
  [[ "${state}" == idle ]] && break
  alive "${ctld_pid}" || fail "slurmctld exited"
  alive "${slurmd_pid}" || fail "slurmd exited"
  ((i < 150)) || fail "node ${host} not idle after 30 s (state: ${state:-none})"
  sleep 0.2
done
t_upped="$(now)"
echo "cluster: up in $(elapsed "${t_up}" "${t_upped}") (node ${host}, ${cpus} CPUs, ports ${ctld_port}/${slurmd_port})"

# --- the experiment: 1-D Gaussian truth, 8 grid points x 2 replicates = 16 runs -------------------
exp="${tmp}/cluster.toml"
cat >"${exp}" <<'EOF'
[experiment]
name = "cluster"
generations = 4
replicates = 2
seed = 23

[truth]
kind = "gaussian_mixture"
weights = [1.0]
means = [[0.0]]
covariances = [[[1.0]]]
heldout_samples = 400

[model]
kind = "gaussian_mixture"
components = 1
max_iter = 4

[loop]
samples_per_generation = 100
anchoring = "replace"
real_fraction = 0.2

[sweep]
"loop.anchoring" = ["replace", "mix"]
"model.components" = [1, 2]
"loop.samples_per_generation" = [40, 120]
EOF
"${collapse}" validate "${exp}" >/dev/null || fail "collapse validate ${exp}"

# --- the job array ------------------------------------------------------------------------------
prefix="${tmp}/out/cluster"
sbatch_args=(--wait --chdir="${tmp}" --output="${tmp}/log/%x-%A_%a.out" --job-name=collapse-test)
t_job="$(now)"
rc=0
waitfor env SLURM_CONF="${conf}" COLLAPSE_BIN="${collapse}" timeout 150 sbatch "${sbatch_args[@]}" --array=0-3 \
  "${src}/scripts/slurm/collapse-array.sbatch" "${exp}" "${prefix}" || rc=$?
t_jobbed="$(now)"
((rc == 0)) || fail "sbatch --wait --array=0-3 exited with ${rc} (124: timed out)"
echo "cluster: job array 0-3 done in $(elapsed "${t_job}" "${t_jobbed}")"
shards=("${prefix}".shard{0..3}.h5)
for f in "${shards[@]}"; do [[ -s "${f}" ]] || fail "missing shard ${f}"; done

waitfor "${collapse}" merge "${prefix}.h5" "${shards[@]}" || fail "collapse merge"
waitfor "${collapse}" run "${exp}" -o "${tmp}/out/local.h5" --threads 2 --quiet || fail "local unsharded run"
waitfor "${python}" "${here}/compare_results.py" "${prefix}.h5" "${tmp}/out/local.h5" --shard-prefix "${prefix}" --shards 4 ||
  fail "merged shards differ from the unsharded run"

# --- resubmitting failed tasks, as README says: the same task ids with --resume ---------------------
# Task 3 "died before writing" (its file is gone), task 1 finished: both resubmitted with --resume and
# COLLAPSE_SHARDS (the ids 1,3 are not a contiguous array). The merge must again equal the local run.
rm -f "${prefix}.shard3.h5"
t_re="$(now)"
rc=0
waitfor env SLURM_CONF="${conf}" COLLAPSE_BIN="${collapse}" COLLAPSE_SHARDS=4 timeout 150 sbatch "${sbatch_args[@]}" \
  --array=1,3 "${src}/scripts/slurm/collapse-array.sbatch" "${exp}" "${prefix}" --resume || rc=$?
((rc == 0)) || fail "resubmitted sbatch --wait --array=1,3 ... --resume exited with ${rc}"
t_reed="$(now)"
echo "cluster: resubmitted tasks 1,3 with --resume in $(elapsed "${t_re}" "${t_reed}")"
waitfor "${collapse}" merge "${prefix}.resumed.h5" "${shards[@]}" || fail "collapse merge after the resubmission"
waitfor "${python}" "${here}/compare_results.py" "${prefix}.resumed.h5" "${tmp}/out/local.h5" \
  --shard-prefix "${prefix}" --shards 4 || fail "after resubmitting tasks 1,3: merged shards differ from the unsharded run"

t_end="$(now)"
echo "cluster: timings: cluster up $(elapsed "${t_up}" "${t_upped}"), job $(elapsed "${t_job}" "${t_jobbed}"), resubmission $(elapsed "${t_re}" "${t_reed}"), total $(elapsed "${t_start}" "${t_end}")"
echo "cluster: PASS"
