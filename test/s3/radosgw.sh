#!/usr/bin/env bash
# A single-node Ceph radosgw on 127.0.0.1 for pgbk's S3 tests (Debian 12's Ceph 16.2):
# one monitor, one BlueStore OSD on a sparse file, radosgw, no manager. cephx is off and
# every daemon binds to loopback. It is a strict SigV4 server (it rejects the requests
# Debian's libcurl 7.88 signs wrongly), which is why the tests use it.
#
#   test/s3/radosgw.sh install     as root: the Debian packages
#   test/s3/radosgw.sh start       ~16 s cold; then: eval "$(test/s3/radosgw.sh env)"
#   test/s3/radosgw.sh stop        stops only the daemons it started (PIDs in $RGW_DIR/pids)
#   test/s3/radosgw.sh wipe        stop and remove all data
#
# Knobs: RGW_DIR (default /tmp/pgbk-radosgw), RGW_PORT (7480), RGW_TLS_PORT (7443) with
# RGW_TLS_PEM (certificate and key in one PEM) for HTTPS, RGW_TLS_CA (the CA that signed
# it, reported by "env").
set -u
dir=${RGW_DIR:-/tmp/pgbk-radosgw}
conf=$dir/ceph.conf
pids=$dir/pids
port=${RGW_PORT:-7480}
tls_port=${RGW_TLS_PORT:-7443}
access_key=PGBKTESTACCESSKEY01
secret_key=pgbkTestSecretKey0123456789abcdefABCDEF
ceph_cmd=(ceph -c "$conf" --connect-timeout 20)

write_conf() {
	# tcp_nodelay: without it beast's Nagle stalls every GET on a kept-alive connection
	# by 40 ms (the client's delayed ACK).
	local frontend="beast endpoint=127.0.0.1:$port tcp_nodelay=1"
	[ -n "${RGW_TLS_PEM:-}" ] && frontend="$frontend ssl_endpoint=127.0.0.1:$tls_port ssl_certificate=$RGW_TLS_PEM"
	cat >"$conf" <<CONF
[global]
fsid = $(cat "$dir/fsid")
mon_host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public_network = 127.0.0.0/8
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_bind_ipv6 = false
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
run_dir = $dir/run
crash_dir = $dir/crash
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
log_to_stderr = false
[mon]
mon_data = $dir/mon/\$cluster-\$id
# a nearly full disk must not stop the monitor
mon_data_avail_crit = 1
[osd]
osd_data = $dir/osd/\$cluster-\$id
osd_objectstore = bluestore
# the block file must live outside osd_data
bluestore_block_path = $dir/osd/\$cluster-\$id.block
bluestore_block_create = true
bluestore_block_size = 21474836480
bluestore_fsck_on_mount = false
osd_memory_target = 939524096
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
[client.rgw.a]
# without these radosgw loops on EACCES with auth off
ms_mon_client_mode = crc
ms_client_mode = crc
rgw_frontends = $frontend
rgw_dns_name = localhost
rgw_data = $dir/rgw
rgw_thread_pool_size = 64
rgw_enable_usage_log = false
CONF
}

wait_until() { # seconds command...
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.2
	done
}

osd_up() { "${ceph_cmd[@]}" osd stat 2>/dev/null | grep -q '1 up'; }
rgw_answers() { [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/")" != 000 ]; }
all_stopped() {
	local p
	for p in $(cat "$pids"); do kill -0 "$p" 2>/dev/null && return 1; done
	return 0
}

start() {
	mkdir -p "$dir"/{run,log,mon,osd/ceph-0,rgw,crash}
	if [ ! -f "$dir/fsid" ]; then
		uuidgen >"$dir/fsid"
		write_conf
		monmaptool --create --fsid "$(cat "$dir/fsid")" --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' "$dir/monmap" >/dev/null
		ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
		ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring" || return 1
	fi
	: >"$pids"
	ceph-mon -c "$conf" -i a -f >>"$dir/log/stdout" 2>>"$dir/log/stderr" &
	echo $! >>"$pids"
	wait_until 30 "${ceph_cmd[@]}" mon stat || { echo "ceph-mon did not start; see $dir/log" >&2; return 1; }
	if [ ! -f "$dir/osd/ceph-0/fsid" ]; then
		local uuid
		uuid=$(uuidgen)
		"${ceph_cmd[@]}" osd new "$uuid" 0 >/dev/null || return 1
		ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >>"$dir/log/stderr" 2>&1 || return 1
	fi
	ceph-osd -c "$conf" -i 0 -f >>"$dir/log/stdout" 2>>"$dir/log/stderr" &
	echo $! >>"$pids"
	wait_until 90 osd_up ||
		{ echo "ceph-osd did not come up; see $dir/log" >&2; return 1; }
	radosgw -c "$conf" -n client.rgw.a -f >>"$dir/log/stdout" 2>>"$dir/log/stderr" &
	echo $! >>"$pids"
	wait_until 120 rgw_answers ||
		{ echo "radosgw did not come up; see $dir/log" >&2; return 1; }
	radosgw-admin -c "$conf" user info --uid=pgbk >/dev/null 2>&1 ||
		radosgw-admin -c "$conf" user create --uid=pgbk --display-name=pgbk --access-key="$access_key" \
			--secret-key="$secret_key" >/dev/null
}

stop() {
	[ -f "$pids" ] || return 0
	local p
	for p in $(tac "$pids"); do kill "$p" 2>/dev/null; done
	wait_until 10 all_stopped
	for p in $(cat "$pids"); do kill -9 "$p" 2>/dev/null; done
	rm -f "$pids"
}

case ${1:-} in
install)
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl >/dev/null
	;;
start) start ;;
stop) stop ;;
wipe) stop; rm -rf "$dir" ;;
env)
	echo "export PGBK_TEST_S3_ENDPOINT=http://127.0.0.1:$port PGBK_TEST_S3_REGION=us-east-1"
	echo "export PGBK_TEST_S3_ACCESS_KEY=$access_key PGBK_TEST_S3_SECRET_KEY=$secret_key"
	if grep -q ssl_endpoint "$conf" 2>/dev/null && [ -n "${RGW_TLS_CA:-}" ]; then
		echo "export PGBK_TEST_S3_TLS_ENDPOINT=https://localhost:$tls_port PGBK_TEST_S3_CA_FILE=$RGW_TLS_CA"
	fi
	;;
*)
	echo "usage: $0 install|start|stop|wipe|env" >&2
	exit 2
	;;
esac
