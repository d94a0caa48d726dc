#!/usr/bin/env bash
# Starts an openkvs cluster on this machine for development: PostgreSQL
# (Debian's postgresql binaries, on a Unix socket), NATS (internal/testinfra/
# natstest/natsd, the embeddable nats-server already in go.mod), SeaweedFS'
# S3 gateway (`weed mini`, built and cached by scripts/seaweedfs.sh) and
# OPENKVS_CLUSTER_NODES (3) openkvs nodes on 127.0.0.1, 127.0.0.2, ...
# sharing --catalog, --archive, --bus, --turn-secret and --credentials,
# each with its own data dir. Prints the endpoints and export lines, then
# runs until Ctrl-C (SIGINT or SIGTERM), which stops everything.
#
# State (databases, objects, data dirs, logs, secrets) is kept in
# OPENKVS_CLUSTER_DIR (default ./openkvs-cluster) and reused by the next
# run. OPENKVS_BIN names a built openkvs binary (default: build bin/openkvs),
# OPENKVS_WEED a weed binary. Once everything serves, stdout has one
# "node N: pid PID http://… https://…" line per node and "cluster: ready".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state=${OPENKVS_CLUSTER_DIR:-$PWD/openkvs-cluster}
nodes=${OPENKVS_CLUSTER_NODES:-3}
nats_port=${OPENKVS_CLUSTER_NATS_PORT:-4222}
s3_port=${OPENKVS_CLUSTER_S3_PORT:-8333}
GO=${GO:-go}

log() { echo "cluster.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

mkdir -p "$state/logs" "$state/bin"
state=$(cd "$state" && pwd)
# Others may pass through (PostgreSQL's user reaches its directory inside);
# the secrets and data dirs in it are private.
chmod 711 "$state"

# Every child is stopped on exit, newest first.
pids=()
stop_all() {
	trap - INT TERM EXIT
	log "stopping"
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -INT "${pids[i]}" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "${pids[i]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

# wait_for DESCRIPTION PID COMMAND...: polls COMMAND (for at most two
# minutes) until it succeeds; fails when PID exits meanwhile.
wait_for() {
	local what=$1 pid=$2
	shift 2
	for _ in $(seq 1200); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		kill -0 "$pid" 2>/dev/null || die "$what exited; see $state/logs"
		sleep 0.1
	done
	die "$what not ready after two minutes; see $state/logs"
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
rand_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# Binaries.
bin=${OPENKVS_BIN:-}
if [ -z "$bin" ]; then
	log "building bin/openkvs"
	(cd "$root" && "$GO" build -o bin/openkvs ./cmd/openkvs)
	bin=$root/bin/openkvs
fi
(cd "$root" && "$GO" build -o "$state/bin/natsd" ./internal/testinfra/natstest/natsd)
weed=${OPENKVS_WEED:-$(command -v weed || "$root/scripts/seaweedfs.sh")}
pgbin=$(dirname "$(readlink -f "$(command -v postgres || ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -1)")")
[ -x "$pgbin/initdb" ] || die "PostgreSQL not found: apt-get install postgresql (or make deps)"

# Secrets, made once.
if [ ! -f "$state/secrets.env" ]; then
	cat >"$state/secrets.env" <<-EOF
		AKID=AKIA$(rand_hex 8 | tr a-f A-F)
		SECRET=$(rand_hex 20)
		TURN_SECRET=$(rand_hex 32)
		S3_KEY=OPENKVS$(rand_hex 6 | tr a-f A-F)
		S3_SECRET=$(rand_hex 20)
	EOF
	chmod 600 "$state/secrets.env"
fi
# shellcheck disable=SC1091
. "$state/secrets.env"

# PostgreSQL on a Unix socket only. It refuses to run as root: as root it
# runs as the postgres user, in a directory that user can reach.
pg=$state/pg
as_pg=()
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || die "running as root and there is no postgres user to run PostgreSQL as"
	if ! setpriv --reuid=postgres --regid=postgres --init-groups test -x "$state"; then
		pg=/tmp/openkvs-cluster-pg.$(echo "$state" | md5sum | cut -c1-8)
	fi
	mkdir -p "$pg"
	chown postgres: "$pg"
	chmod 700 "$pg"
	as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups) # execs: signals reach postgres
fi
if [ ! -f "$pg/data/PG_VERSION" ]; then
	log "initdb in $pg/data"
	"${as_pg[@]}" env LC_ALL=C "$pgbin/initdb" -D "$pg/data" -U openkvs -A trust -E UTF8 --locale=C >"$state/logs/initdb.log" 2>&1 ||
		die "initdb failed: $state/logs/initdb.log"
fi
"${as_pg[@]}" env LC_ALL=C "$pgbin/postgres" -D "$pg/data" -k "$pg" -c listen_addresses= -p 5432 \
	-c max_connections=200 >"$state/logs/postgres.log" 2>&1 &
pids+=($!)
wait_for PostgreSQL "${pids[-1]}" "$pgbin/pg_isready" -q -h "$pg" -p 5432
catalog="postgres://openkvs@/postgres?sslmode=disable&port=5432&host=${pg//\//%2F}"

# NATS.
"$state/bin/natsd" -listen "127.0.0.1:$nats_port" >"$state/logs/nats.log" 2>&1 &
pids+=($!)
wait_for NATS "${pids[-1]}" port_open 127.0.0.1 "$nats_port"
natsurl=nats://127.0.0.1:$nats_port

# SeaweedFS: the S3 gateway and the servers behind it, every port explicit
# (as internal/testinfra/s3test starts it), away from openkvs' 8080.
mkdir -p "$state/s3/data"
chmod 700 "$state/s3"
cat >"$state/s3/s3.json" <<EOF
{"identities":[{"name":"openkvs","credentials":[{"accessKey":"$S3_KEY","secretKey":"$S3_SECRET"}],
 "actions":["Admin","Read","Write","List","Tagging"]}]}
EOF
chmod 600 "$state/s3/s3.json"
(cd "$state/s3" && exec "$weed" mini -dir="$state/s3/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.config="$state/s3/s3.json" \
	-master.port=9333 -master.port.grpc=19333 -volume.port=9340 -volume.port.grpc=19340 \
	-filer.port=8888 -filer.port.grpc=18888 -s3.port="$s3_port" -s3.port.grpc=1"$s3_port" \
	-s3.port.iceberg=0 -s3.port.lance=0 -webdav=false -admin.ui=false -master.telemetry=false \
	-master.volumeSizeLimitMB=1024 -volume.max=0) >"$state/logs/seaweedfs.log" 2>&1 &
pids+=($!)
s3=http://127.0.0.1:$s3_port
# The bucket: created once the gateway takes signed requests (200), or
# there already (409).
make_bucket() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --aws-sigv4 aws:amz:us-east-1:s3 --user "$S3_KEY:$S3_SECRET" "$s3/openkvs")
	[ "$code" = 200 ] || [ "$code" = 409 ]
}
wait_for SeaweedFS "${pids[-1]}" make_bucket

# The nodes: node 1 makes the CA and a certificate for every node's
# address, which the others copy, so that clients trust one CA.
hosts=()
for i in $(seq "$nodes"); do hosts+=(--tls-host "127.0.0.$i"); done
urls=()
for i in $(seq "$nodes"); do
	ip=127.0.0.$i dir=$state/node$i
	mkdir -p "$dir"
	chmod 700 "$dir"
	if [ "$i" -gt 1 ] && [ ! -d "$dir/tls" ]; then cp -a "$state/node1/tls" "$dir/tls"; fi
	"$bin" serve --data-dir "$dir" --listen "$ip:8080" --tls-listen "$ip:8443" "${hosts[@]}" \
		--turn-listen "$ip:3478" --turn-tls-listen "$ip:5349" \
		--credentials "$AKID:$SECRET" --turn-secret "$TURN_SECRET" --bus "$natsurl" --catalog "$catalog" \
		--archive s3://openkvs/kvs --s3-endpoint "$s3" --s3-region us-east-1 \
		--s3-access-key "$S3_KEY" --s3-secret-key "$S3_SECRET" >"$state/logs/node$i.log" 2>&1 &
	pids+=($!)
	wait_for "openkvs node $i" "${pids[-1]}" grep -q 'HTTPS https://' "$state/logs/node$i.log"
	urls+=("node $i: pid ${pids[-1]} http://$ip:8080 https://$ip:8443")
done

cat <<EOF

openkvs cluster of $nodes nodes (state and logs in $state):
  PostgreSQL  $catalog
  NATS        $natsurl
  S3          $s3 bucket openkvs (SeaweedFS; key $S3_KEY)
$(printf '  %s\n' "${urls[@]}")

unset AWS_SESSION_TOKEN
export AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:8080
export AWS_CA_BUNDLE=$state/node1/tls/ca.pem AWS_KVS_CACERT_PATH=$state/node1/tls/ca.pem

Any node serves every stream and channel: point a client at http://127.0.0.2:8080 as well.
cluster: ready (Ctrl-C stops everything)
EOF

# Until Ctrl-C; a node killed meanwhile (a test) does not end the cluster.
while true; do wait || true; sleep 1; done
