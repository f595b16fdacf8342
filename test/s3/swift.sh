#!/usr/bin/env bash
# OpenStack Swift with its S3 layer (s3api + tempauth), all in one, single replica,
# from Debian's packages, on loopback: the second S3 store pgbk is tested on. Swift
# 2.30 (Debian 12) answers a conditional PUT (If-None-Match: *) with 501 NotImplemented,
# which is why it is here (pgbk.s3_conditional_writes = auto).
#
#   test/s3/swift.sh install   apt packages (root)
#   test/s3/swift.sh start     rings, memcached, account/container/object servers, proxy
#   test/s3/swift.sh env       the PGBK_TEST_SWIFT_* variables the tests read
#   test/s3/swift.sh stop      stops exactly the PIDs start recorded
#
# Everything lives under $SWIFT_DIR (default /tmp/pgbk-test-swift). Ports: proxy 7490,
# object/container/account 6300-6302, memcached 11311.
set -euo pipefail
SWIFT_DIR=${SWIFT_DIR:-/tmp/pgbk-test-swift}
PROXY_PORT=${SWIFT_PROXY_PORT:-7490}
ACCESS_KEY='pgbk:pgbk'
SECRET_KEY='pgbkSwiftSecret0123456789'

die() { echo "swift.sh: $*" >&2; exit 1; }

install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		swift-proxy swift-account swift-container swift-object memcached >/dev/null
}

server_conf() { # name port app
	cat >"$SWIFT_DIR/$1.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
devices = $SWIFT_DIR/srv
mount_check = false
swift_dir = $SWIFT_DIR
workers = 1
user = root
log_name = $1
log_level = WARNING

[pipeline:main]
pipeline = $1

[app:$1]
use = egg:swift#$3
EOF
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
	[ -x /usr/bin/swift-proxy-server ] || die "not installed: run $0 install"
	stop 2>/dev/null || true
	rm -rf "$SWIFT_DIR"
	mkdir -p "$SWIFT_DIR/srv/d1" "$SWIFT_DIR/log"
	cat >"$SWIFT_DIR/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = pgbk-test
swift_hash_path_prefix = pgbk-test

[storage-policy:0]
name = Policy-0
default = yes
EOF
	local ring port
	for ring in object:6300 container:6301 account:6302; do
		port=${ring#*:}
		ring=${ring%%:*}
		(cd "$SWIFT_DIR" &&
			swift-ring-builder "$ring.builder" create 8 1 1 >/dev/null &&
			swift-ring-builder "$ring.builder" add "r1z1-127.0.0.1:$port/d1" 1 >/dev/null &&
			swift-ring-builder "$ring.builder" rebalance >/dev/null) || die "ring $ring failed"
	done
	server_conf object-server 6300 object
	server_conf container-server 6301 container
	server_conf account-server 6302 account
	cat >"$SWIFT_DIR/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PROXY_PORT
swift_dir = $SWIFT_DIR
workers = 1
user = root
log_name = proxy-server
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_pgbk_pgbk = $SECRET_KEY .admin

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:11311

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
EOF
	memcached -u root -l 127.0.0.1 -p 11311 -U 0 >"$SWIFT_DIR/log/memcached.log" 2>&1 &
	echo $! >>"$SWIFT_DIR/pids"
	local s
	for s in object-server container-server account-server proxy-server; do
		"/usr/bin/swift-$s" "$SWIFT_DIR/$s.conf" >"$SWIFT_DIR/log/$s.log" 2>&1 &
		echo $! >>"$SWIFT_DIR/pids"
	done
	# Ready when the proxy answers and the storage servers listen (else the first
	# requests get 503).
	local deadline=$((SECONDS + 60))
	until curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/healthcheck" -w '%{http_code}' | grep -q '^[2-4]' &&
		listening 6300 && listening 6301 && listening 6302; do
		[ $SECONDS -lt $deadline ] || { tail -n 20 "$SWIFT_DIR"/log/*.log >&2; die "Swift did not start in 60 s"; }
		sleep 0.2
	done
	echo "Swift $(dpkg-query -W -f '${Version}' swift-proxy) with s3api at http://127.0.0.1:$PROXY_PORT"
}

stop() {
	[ -f "$SWIFT_DIR/pids" ] || return 0
	local pid
	while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$SWIFT_DIR/pids"
	local deadline=$((SECONDS + 20))
	while read -r pid; do
		while kill -0 "$pid" 2>/dev/null; do
			[ $SECONDS -lt $deadline ] || { kill -9 "$pid" 2>/dev/null || true; break; }
			sleep 0.1
		done
	done <"$SWIFT_DIR/pids"
	rm -f "$SWIFT_DIR/pids"
}

env_vars() {
	echo "export PGBK_TEST_SWIFT_ENDPOINT=http://127.0.0.1:$PROXY_PORT PGBK_TEST_SWIFT_REGION=us-east-1"
	echo "export PGBK_TEST_SWIFT_ACCESS_KEY='$ACCESS_KEY' PGBK_TEST_SWIFT_SECRET_KEY='$SECRET_KEY'"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
env) env_vars ;;
*) die "usage: $0 install|start|stop|env" ;;
esac
