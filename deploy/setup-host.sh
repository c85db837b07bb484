#!/bin/sh
# Prepares a Linux host for ringcast, idempotently: the service user, hugepages for the
# configured segment, a hugetlbfs mount the service can write to, the sysctls and limits a busy
# server wants. Every item prints one line: "changed", "unchanged" or, with --dry-run,
# "would change". Nothing is ever lowered: a host already tuned higher keeps its values.
#
#   setup-host.sh [--dry-run] [--binary PATH] [--config FILE] [--user NAME]
#   setup-host.sh [--dry-run] --segment-bytes BYTES [--user NAME]
#
# The segment size comes from the config as the binary reads it (ringcast --check-config),
# computed as shm/layout.hpp does; or give it directly. `ringcast doctor` prints the same
# figure (tests/integration/test_doctor.py holds the two together).
#
# Files written: /etc/sysctl.d/90-ringcast.conf, /etc/security/limits.d/ringcast.conf,
# /etc/tmpfiles.d/ringcast.conf (the hugetlbfs mount's group and mode, again at every boot).

# The `sh -c '...' sh ARGS` scripts get their arguments as $1 $2, expanded by that shell.
# shellcheck disable=SC2016
set -eu

usage() {
    sed -n '2,/^$/p' "$0" | sed -e '/^$/d' -e 's/^# \{0,1\}//'
}

dry_run=0
binary=""
config="/etc/ringcast/ringcast.json"
config_given=0
segment_bytes=""
user="ringcast"
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --binary) binary="${2:?--binary needs a path}"; shift ;;
        --binary=*) binary="${1#*=}" ;;
        --config) config="${2:?--config needs a file}"; config_given=1; shift ;;
        --config=*) config="${1#*=}"; config_given=1 ;;
        --segment-bytes) segment_bytes="${2:?--segment-bytes needs a number}"; shift ;;
        --segment-bytes=*) segment_bytes="${1#*=}" ;;
        --user) user="${2:?--user needs a name}"; shift ;;
        --user=*) user="${1#*=}" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "setup-host: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "setup-host: run as root (or with --dry-run to only print)" >&2
    exit 1
fi

failures=0
# report STATE WHAT DETAIL
report() { printf '%-13s %s: %s\n' "$1" "$2" "$3"; }
# change WHAT DETAIL COMMAND...: runs COMMAND unless --dry-run, reports either way.
change() {
    what=$1 detail=$2
    shift 2
    if [ "$dry_run" = 1 ]; then
        report "would change" "$what" "$detail"
    elif "$@"; then
        report "changed" "$what" "$detail"
    else
        report "FAILED" "$what" "$detail (command: $*)"
        failures=$((failures + 1))
    fi
}

# ---------------------------------------------------------------- the segment size

align_up() { echo $(( ($1 + $2 - 1) / $2 * $2 )); }

# CPUs this process may run on, restricted to NUMA node $1 when it is >= 0.
cpu_count() {
    if [ "$1" -ge 0 ] && [ -r "/sys/devices/system/node/node$1/cpulist" ]; then
        n=0
        for range in $(tr ',' ' ' < "/sys/devices/system/node/node$1/cpulist"); do
            lo=${range%-*} hi=${range#*-}
            n=$((n + hi - lo + 1))
        done
        echo "$n"
    else
        nproc
    fi
}

json_number() { sed -n "s/^  \"$1\": *\(-\{0,1\}[0-9][0-9]*\).*/\1/p" "$2" | head -n 1; }
json_string() { sed -n "s/^  \"$1\": *\"\([^\"]*\)\".*/\1/p" "$2" | head -n 1; }

hugepage_mode="auto"
if [ -z "$segment_bytes" ]; then
    if [ -z "$binary" ]; then
        binary=$(command -v ringcast 2>/dev/null || true)
        [ -n "$binary" ] || [ ! -x /usr/local/bin/ringcast ] || binary=/usr/local/bin/ringcast
    fi
    if [ -z "$binary" ]; then
        echo "setup-host: no ringcast binary found: give --binary PATH (with --config FILE), or --segment-bytes BYTES" >&2
        exit 2
    fi
    effective=$(mktemp)
    trap 'rm -f "$effective"' EXIT
    if [ "$config_given" = 1 ] || [ -r "$config" ]; then
        set -- --config "$config"
    else
        set --
    fi
    if ! "$binary" "$@" --check-config > "$effective"; then
        echo "setup-host: $binary $* --check-config refused the configuration (see above)" >&2
        exit 2
    fi
    shards=$(json_number shards "$effective")
    workers=$(json_number worker_processes "$effective")
    numa_node=$(json_number numa_node "$effective")
    ring=$(json_number ring "$effective")
    slab=$(json_number slab_bytes "$effective")
    hugepage_mode=$(json_string hugepages "$effective")
    if [ -z "$shards" ] || [ -z "$ring" ] || [ -z "$slab" ] || [ -z "$hugepage_mode" ]; then
        echo "setup-host: cannot read shards/ring/slab_bytes/hugepages from $binary --check-config" >&2
        exit 2
    fi
    # As plan_workers: 0 shards = one per allowed CPU; never fewer than worker processes.
    [ "$shards" -gt 0 ] || shards=$(cpu_count "$numa_node")
    [ "$shards" -ge "$workers" ] || shards=$workers
    # As shm/layout.hpp compute_layout: members = shards + the bridge slot. Sizes of the blocks:
    # SegmentHeader 128, ControlBlock 71040, Cursor 64, RingHeader 128, Descriptor 32.
    members=$((shards + 1))
    two_mib=2097152
    regions_offset=$(align_up $((128 + members * 71040 + members * members * 64)) $two_mib)
    slab_offset=$(align_up $((128 + ring * 32)) 64)
    region_stride=$(align_up $((slab_offset + slab)) $two_mib)
    segment_bytes=$((regions_offset + members * region_stride))
    echo "setup-host: $* via $binary: $shards shards, ring $ring, slab_bytes $slab, hugepages $hugepage_mode"
fi
case "$segment_bytes" in
    ''|*[!0-9]*) echo "setup-host: --segment-bytes must be a number of bytes, got '$segment_bytes'" >&2; exit 2 ;;
esac
pages_needed=$(( (segment_bytes + 2097151) / 2097152 ))
echo "setup-host: segment $segment_bytes bytes = $pages_needed hugepages of 2 MiB"

# ---------------------------------------------------------------- the service user

if getent group "$user" >/dev/null 2>&1; then
    report "unchanged" "group $user" "exists"
else
    change "group $user" "create system group" groupadd --system "$user"
fi
if getent passwd "$user" >/dev/null 2>&1; then
    report "unchanged" "user $user" "exists"
else
    change "user $user" "create system user (no login, no home)" \
        useradd --system --gid "$user" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
fi

# ---------------------------------------------------------------- sysctls

sysctl_file=/etc/sysctl.d/90-ringcast.conf
sysctl_lines=""

read_sysctl() { tr -s ' \t' '  ' < "/proc/sys/$(echo "$1" | tr . /)" 2>/dev/null; }

# want KEY VALUE MODE: MODE "min" raises to VALUE (never lowers), "exact" sets VALUE.
want() {
    key=$1 value=$2 mode=$3
    path="/proc/sys/$(echo "$key" | tr . /)"
    if [ ! -e "$path" ]; then
        report "unchanged" "$key" "not on this kernel"
        return
    fi
    current=$(read_sysctl "$key")
    target=$value
    if [ "$mode" = min ] && [ "$current" -ge "$value" ] 2>/dev/null; then
        target=$current
    fi
    sysctl_lines="$sysctl_lines$key = $target
"
    if [ "$current" = "$target" ]; then
        report "unchanged" "$key" "$current"
    else
        change "$key" "$current -> $target" sysctl -q -w "$key=$target"
    fi
}

# Hugepages: enough for the segment besides what others hold. Pages held by existing ringcast
# segments count as ours, so running this again next to a live server asks for nothing more.
hugepage_bytes=$(sed -n 's/^Hugepagesize: *\([0-9]*\) kB/\1/p' /proc/meminfo)
if [ "$hugepage_mode" = off ]; then
    report "unchanged" "vm.nr_hugepages" "hugepages is off in the config"
elif [ "${hugepage_bytes:-0}" != 2048 ]; then
    report "FAILED" "vm.nr_hugepages" "the default hugepage size is ${hugepage_bytes:-?} kB; ringcast needs 2 MiB pages (boot with default_hugepagesz=2M hugepages=$pages_needed)"
    failures=$((failures + 1))
else
    total=$(sed -n 's/^HugePages_Total: *//p' /proc/meminfo)
    free=$(sed -n 's/^HugePages_Free: *//p' /proc/meminfo)
    rsvd=$(sed -n 's/^HugePages_Rsvd: *//p' /proc/meminfo)
    ours=0
    # shellcheck disable=SC2013 # /proc/mounts escapes blanks in paths (\040)
    for mnt in $(awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts); do
        for f in "$mnt"/ringcast-*; do
            [ -f "$f" ] || continue
            ours=$((ours + $(stat -c '%b * %B' "$f") / 2097152))
        done
    done
    others=$((total - (free - rsvd) - ours))
    [ "$others" -ge 0 ] || others=0
    want vm.nr_hugepages $((others + pages_needed)) min
fi

want net.core.somaxconn 65535 min
want net.ipv4.tcp_migrate_req 1 exact
want net.ipv4.ip_local_port_range "1024 65535" exact
want fs.file-max 4194304 min
want fs.nr_open 2097152 min
want kernel.io_uring_disabled 0 exact

# write_file PATH CONTENT: replaces PATH when its content differs.
write_file() {
    path=$1 content=$2
    if [ -f "$path" ] && [ "$(cat "$path")" = "$(printf '%s' "$content")" ]; then
        report "unchanged" "$path" "up to date"
    else
        change "$path" "$( [ -f "$path" ] && echo rewrite || echo create )" \
            sh -c 'mkdir -p "$(dirname "$1")" && printf "%s\n" "$2" > "$1"' sh "$path" "$content"
    fi
}

sysctl_lines=$(printf '%s' "$sysctl_lines")
write_file "$sysctl_file" "# ringcast (deploy/setup-host.sh): applied at every boot by systemd-sysctl.
# A large vm.nr_hugepages is more reliable on the kernel command line (hugepages=N),
# before memory fragments.
$sysctl_lines"

# ---------------------------------------------------------------- hugetlbfs

if [ "$hugepage_mode" = off ]; then
    report "unchanged" "hugetlbfs" "hugepages is off in the config"
else
    mount_dir=$(awk '$3 == "hugetlbfs" && ($4 ~ /pagesize=2M/ || $4 !~ /pagesize=/) { print $2; exit }' /proc/mounts)
    if [ -n "$mount_dir" ]; then
        report "unchanged" "hugetlbfs" "mounted at $mount_dir"
    else
        mount_dir=/dev/hugepages
        gid=$(getent group "$user" | cut -d: -f3)
        change "hugetlbfs" "mount pagesize=2M at $mount_dir" \
            sh -c 'mkdir -p "$1" && mount -t hugetlbfs -o "pagesize=2M,mode=1770${2:+,gid=$2}" none "$1"' sh "$mount_dir" "$gid"
    fi
    # The service user creates its segment file there.
    if [ -d "$mount_dir" ] && [ "$(stat -c '%a %G' "$mount_dir")" = "1770 $user" ]; then
        report "unchanged" "$mount_dir" "mode 1770 group $user"
    else
        current=$( [ -d "$mount_dir" ] && stat -c 'mode %a group %G' "$mount_dir" || echo "not mounted yet")
        change "$mount_dir" "$current -> mode 1770 group $user" \
            sh -c 'chgrp "$2" "$1" && chmod 1770 "$1"' sh "$mount_dir" "$user"
    fi
    write_file /etc/tmpfiles.d/ringcast.conf "# ringcast (deploy/setup-host.sh): the service user creates its segment in hugetlbfs.
z $mount_dir 1770 root $user -"
fi

# ---------------------------------------------------------------- limits

# systemd ignores limits.d (the unit has LimitNOFILE=); this is for running it by hand.
write_file /etc/security/limits.d/ringcast.conf "# ringcast (deploy/setup-host.sh): one file descriptor per connection.
$user soft nofile 1048576
$user hard nofile 1048576
$user soft memlock unlimited
$user hard memlock unlimited"

if [ "$failures" -gt 0 ]; then
    echo "setup-host: $failures change(s) failed" >&2
    exit 1
fi
if [ "$dry_run" = 1 ]; then
    echo "setup-host: dry run: nothing was changed"
else
    echo "setup-host: done; check with: ringcast doctor --config $config"
fi
