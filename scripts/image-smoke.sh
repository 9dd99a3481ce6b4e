#!/usr/bin/env bash
# Builds the reach image with podman and runs it, with no container registry: the service on its own, then the
# compose stack with two workers. Run as root: scripts/image-smoke.sh
# Exit 0: verified; 77: skipped, the reason printed; anything else: a check failed (its line says which).
#
# Everything it makes (base image, reach image, containers, volumes, networks) lives in one private podman store
# under a temporary directory, and is removed at the end: other podman users on the machine are not touched.
# Every probe targets loopback inside a container; the compose network is internal (no outside link) and the
# service container has no network at all. Only the build itself reaches the Debian mirror and the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "image-smoke: $*"; }
skip() {
  say "skipped: $*"
  exit 77
}
fail() {
  echo "image-smoke: FAILED: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || skip "needs root (rootful podman, debootstrap, chroot)"
# shellcheck disable=SC1091
. /etc/os-release
[ "${ID:-}" = debian ] && [ -n "${VERSION_CODENAME:-}" ] ||
  skip "the base image is debootstrapped from the host's Debian release; this host is ${PRETTY_NAME:-unknown}"
command -v node >/dev/null && command -v npm >/dev/null || skip "the base image takes the host's node and npm; none here"

# podman-compose 1.0.3 (bookworm) runs the stack; netavark and aardvark-dns give an internal network that still
# resolves service names (with CNI, an internal network has no DNS); runc because crun refuses a hybrid cgroup layout.
packages=(podman runc netavark aardvark-dns debootstrap podman-compose)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
    skip "podman cannot be installed here (apt-get install ${missing[*]} failed)"
fi

work=$(mktemp -d /var/tmp/reach-image-smoke.XXXXXX)
ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)
base_image=localhost/reach-smoke-base:latest
image=localhost/reach-smoke:latest
redis_image=localhost/reach-smoke-redis:latest
project=reach-smoke
serve=reach-smoke-serve

# The private store and the settings this kind of machine needs: the kernel refuses to raise RLIMIT_NOFILE and
# RLIMIT_NPROC above the hard limits (podman's defaults are higher), and RLIMIT_NPROC above pid_max, so containers
# get those limits.
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc=$pid_max; fi
mkdir -p "$work/networks"
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_backend = "netavark"
network_config_dir = "$work/networks"
EOF
cat >"$work/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
export CONTAINERS_CONF="$work/containers.conf" CONTAINERS_STORAGE_CONF="$work/storage.conf"

compose_files=(-p "$project" -f docker-compose.yml -f "$work/compose.smoke.yml")

teardown() {
  local status=$?
  set +e
  say "tearing down"
  if [ -f "$work/compose.smoke.yml" ]; then podman-compose "${compose_files[@]}" down -v >/dev/null 2>&1; fi
  # The store is private: "all" here is only what this script made.
  podman rm --all --force --volumes --time 0 >/dev/null 2>&1
  podman volume rm --all --force >/dev/null 2>&1
  podman network rm --force "${project}_default" >/dev/null 2>&1
  podman rmi --all --force >/dev/null 2>&1
  local left
  left="$(podman ps -aq)$(podman volume ls -q)$(podman images -q)$(podman network ls -q --filter "name=${project}")"
  if [ -n "$left" ]; then
    echo "image-smoke: FAILED: teardown left containers, volumes, images or networks in $work" >&2
    [ "$status" -eq 0 ] && status=1
  fi
  findmnt -rn -o TARGET | grep -F "$work/" | sort -r | xargs -r umount -l
  # netavark turns on IPv4 forwarding for the build's bridge network: put back what the machine had.
  echo "$ip_forward" >/proc/sys/net/ipv4/ip_forward
  rm -rf "$work"
  exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# --- 1. A base image without a registry: the host's Debian release and the host's Node.js, npm and corepack. ---
mirror=$(apt-get indextargets --format '$(REPO_URI) $(CODENAME) $(COMPONENT)' 'Identifier: Packages' |
  awk -v codename="$VERSION_CODENAME" '$2 == codename && $3 == "main" { print $1; exit }')
[ -n "$mirror" ] || fail "apt has no $VERSION_CODENAME main source to debootstrap from"
say "debootstrap $VERSION_CODENAME from $mirror"
rootfs="$work/rootfs"
debootstrap --variant=minbase "$VERSION_CODENAME" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  fail "debootstrap failed: $(tail -5 "$work/debootstrap.log")"
modules=$(npm root -g)
install -D -m 0755 "$(readlink -f "$(command -v node)")" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
# The whole module folders: npm's own file list leaves out files it needs to run.
cp -a "$modules/npm" "$rootfs/usr/local/lib/node_modules/"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
if [ -d "$modules/corepack" ]; then
  cp -a "$modules/corepack" "$rootfs/usr/local/lib/node_modules/"
  ln -s ../lib/node_modules/corepack/dist/corepack.js "$rootfs/usr/local/bin/corepack"
fi
# The official image's user, which the Dockerfile's USER and chown name.
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import --change 'CMD ["node"]' - "$base_image" >/dev/null 2>>"$work/podman.log"
rm -rf "$rootfs"
podman run --rm --network none "$base_image" node -e 'process.exit(0)' || fail "node does not run in the base image"

# --- 2. The reach image, from the Dockerfile, on that base. ---
build_args=(--format docker --build-arg "NODE_IMAGE=$base_image" --tag "$image")
# A network that re-signs TLS: npm's CA bundle goes to the `npm ci` steps as a build secret, never into a layer.
npm_cafile=$(npm config get cafile)
if [ -n "$npm_cafile" ] && [ "$npm_cafile" != null ] && [ "$npm_cafile" != undefined ] && [ -s "$npm_cafile" ]; then
  build_args+=(--secret "id=npm_ca,src=$npm_cafile")
  say "npm trusts $npm_cafile: passed to npm ci as the npm_ca build secret"
elif [ -s "${NODE_EXTRA_CA_CERTS:-}" ]; then
  # A cafile replaces npm's CAs, so the secret is Node's own roots followed by the extra ones.
  node -e 'process.stdout.write(require("node:tls").rootCertificates.join("\n") + "\n")' >"$work/npm-ca.pem"
  cat "$NODE_EXTRA_CA_CERTS" >>"$work/npm-ca.pem"
  build_args+=(--secret "id=npm_ca,src=$work/npm-ca.pem")
  say "node trusts NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS: passed to npm ci as the npm_ca build secret"
fi
say "building $image"
podman build "${build_args[@]}" . >"$work/build.log" 2>&1 || fail "podman build failed: $(tail -20 "$work/build.log")"
podman run --rm --network none --entrypoint /bin/sh "$image" -c '! test -e /run/secrets/npm_ca && test -z "${npm_config_cafile:-}"' \
  2>>"$work/podman.log" ||
  fail "the npm_ca build secret or npm's cafile setting is in the image"

# --- 3. The service on its own: no network but its loopback. ---

# Runs JavaScript with node inside a container; its arguments follow.
in_container() {
  local container=$1 script=$2
  shift 2
  podman exec "$container" node -e "$script" "$@"
}
# One HTTP request to loopback inside the container: prints {"status":…,"body":…}.
request_js='
const [port, method, path, body] = process.argv.slice(1);
fetch(`http://127.0.0.1:${port}${path}`, {
  method,
  headers: body ? { "content-type": "application/json" } : {},
  body: body || undefined,
  signal: AbortSignal.timeout(90_000),
}).then(
  async (response) => process.stdout.write(JSON.stringify({ status: response.status, body: await response.text() })),
  (error) => { console.error(String(error)); process.exit(1); },
);'
# An HTTP server on loopback inside the container, the probes' target: it answers after $2 milliseconds.
site_js='
const [port, delayMs] = process.argv.slice(1).map(Number);
require("node:http").createServer((request, response) => {
  setTimeout(() => response.writeHead(200, { "content-type": "text/html" }).end("<html><body>ok</body></html>"), delayMs);
}).listen(port, "127.0.0.1");'
# Asserts a predicate on a JSON value, with node on the host: expect WHAT JSON 'value => boolean'.
expect() {
  node -e '
    const [what, json, predicate] = process.argv.slice(1);
    const value = JSON.parse(json);
    if (!eval(predicate)(value)) {
      console.error(`image-smoke: FAILED: ${what}: ${json.slice(0, 2000)}`);
      process.exit(1);
    }' "$1" "$2" "$3" || exit 1
  say "ok: $1"
}
# Waits until a loopback URL inside the container answers 200 (at most $3 seconds).
wait_ready() {
  local container=$1 port=$2 path=$3 seconds=$4
  for _ in $(seq "$seconds"); do
    if in_container "$container" "$request_js" "$port" GET "$path" 2>/dev/null | grep -q '"status":200'; then return 0; fi
    sleep 1
  done
  fail "$container: $path on port $port did not answer 200 within ${seconds}s; logs: $(podman logs --tail 20 "$container" 2>&1)"
}

# podman without systemd reports on stderr that it cannot schedule health checks; those lines go to a log.
quietly() { "$@" >/dev/null 2>>"$work/podman.log"; }

# Runs the container's health check command as its scheduler would, and says whether it exits 0. Without the
# check's own timeout: on a loaded machine node may take longer than that to start, and timing is not the point.
healthy() {
  local argv=()
  mapfile -d '' argv < <(podman inspect --format '{{json .Config.Healthcheck.Test}}' "$1" | node -e '
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk)).on("end", () => {
      const [kind, ...rest] = JSON.parse(text) ?? [];
      const argv = kind === "CMD-SHELL" ? ["/bin/sh", "-c", rest.join(" ")] : kind === "CMD" ? rest : [];
      process.stdout.write(argv.map((word) => `${word}\0`).join(""));
    });')
  [ "${#argv[@]}" -gt 0 ] || fail "$1 has no health check"
  timeout 120 podman exec "$1" "${argv[@]}" >/dev/null 2>&1
}

say "running $image alone (serve, PROBE_ALLOW_PRIVATE=true, --network none)"
# Without systemd podman cannot schedule health checks and says so on stderr: the checks are run below by hand.
podman run -d --name "$serve" --network none -e PROBE_ALLOW_PRIVATE=true -e SHUTDOWN_DEADLINE_MS=30000 \
  "$image" >/dev/null 2>"$work/serve.log" || fail "podman run failed: $(cat "$work/serve.log")"
wait_ready "$serve" 8080 /readyz 60
healthy "$serve" || fail "the image's HEALTHCHECK fails on a ready service"
say "ok: the image's HEALTHCHECK passes"
expect "GET /healthz" "$(in_container "$serve" "$request_js" 8080 GET /healthz)" \
  'r => r.status === 200 && JSON.parse(r.body).status === "ok"'
expect "GET /readyz" "$(in_container "$serve" "$request_js" 8080 GET /readyz)" 'r => r.status === 200'
# Every process in the container (tini, node, its redis-server) runs as the image's user, not root.
users=$(podman top "$serve" user | tail -n +2 | sort -u | paste -sd, -)
[ "$users" = node ] || fail "processes in the container run as $users, not only node"
say "ok: every process runs as node (uid $(podman exec "$serve" id -u))"
[ "$(podman exec "$serve" id -u)" != 0 ] || fail "the container's user is root"

podman exec -d "$serve" node -e "$site_js" 8081 0 >/dev/null
podman exec -d "$serve" node -e "$site_js" 8082 8000 >/dev/null
wait_ready "$serve" 8081 / 10
expect "POST /probe?wait of a loopback site answers a completed ok report" \
  "$(in_container "$serve" "$request_js" 8080 POST '/probe?wait=30' '{"url":"http://127.0.0.1:8081/"}')" \
  'r => r.status === 200 && JSON.parse(r.body).status === "completed" && JSON.parse(r.body).report.verdict.cause === "ok"'

# Drain: a probe of a site that answers after 8 s is in flight when the container is stopped; it completes first.
in_flight_js='
const api = "http://127.0.0.1:8080";
const call = (path, init) => fetch(api + path, { ...init, signal: AbortSignal.timeout(10_000) }).then((r) => r.json());
(async () => {
  const { id } = await call("/probe", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ url: process.argv[1] }),
  });
  let probe;
  for (let attempt = 0; attempt < 200; attempt++) {
    probe = await call(`/probe/${id}`);
    if (probe.status !== "queued") break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  process.stdout.write(JSON.stringify(probe));
})().catch((error) => { console.error(String(error)); process.exit(1); });'
in_flight=$(in_container "$serve" "$in_flight_js" http://127.0.0.1:8082/)
expect "a probe of a slow loopback site is in flight before the stop" "$in_flight" 'p => p.status === "active"'
probe_id=$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).id)' "$in_flight")
quietly podman stop --time 45 "$serve"
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$serve")
[ "$exit_code" = 0 ] || fail "podman stop: the service exited $exit_code; logs: $(podman logs --tail 20 "$serve" 2>&1)"
# conmon may still be writing the container's last lines to its log file when podman stop returns (a known
# podman race; once, in CI, the exit code was 0 and the last line not yet there): read it for up to 5 s.
logged_shutdown=false
for _ in $(seq 1 50); do
  if podman logs "$serve" 2>&1 | grep -q '"msg":"shut down"'; then
    logged_shutdown=true
    break
  fi
  sleep 0.1
done
"$logged_shutdown" || fail "the service did not log its shutdown; logs: $(podman logs --tail 30 "$serve" 2>&1)"
say "ok: podman stop drains and exits 0"
# The probe that was in flight finished before the exit: started again, the service has its report.
quietly podman start "$serve"
wait_ready "$serve" 8080 /readyz 60
# (Its verdict may name the slow first byte: the site is slow on purpose.)
expect "the probe in flight at the stop completed before the exit" \
  "$(in_container "$serve" "$request_js" 8080 GET "/probe/$probe_id")" \
  'r => r.status === 200 && JSON.parse(r.body).status === "completed" && JSON.parse(r.body).report.target.http.hops[0].exchange.status === 200'
quietly podman rm --force --volumes --time 45 "$serve"

# --- 4. The compose stack: redis, the api and two workers on an internal network. ---
# No registry, so no redis image: a stand-in from the reach image, which carries Debian's redis-server. Like the
# official image it turns protected mode off (Debian's default refuses clients from other containers).
mkdir "$work/redis-image"
cat >"$work/redis-image/Containerfile" <<EOF
FROM $image
WORKDIR /data
ENTRYPOINT ["/usr/bin/tini", "--", "/bin/sh", "-c", "exec \\"\$@\\" --protected-mode no", "redis"]
CMD ["redis-server"]
EOF
podman build --format docker --tag "$redis_image" "$work/redis-image" >>"$work/build.log" 2>&1 ||
  fail "building the redis stand-in failed: $(tail -20 "$work/build.log")"
# The network is internal: the containers reach each other and nothing else.
cat >"$work/compose.smoke.yml" <<EOF
services:
  redis:
    image: $redis_image
  api:
    image: $image
  worker:
    image: $image
networks:
  default:
    internal: true
EOF
say "podman-compose up: redis, api, worker x2"
# WORKER_CONCURRENCY=2 with slow targets: one worker cannot hold every probe, so both must take some.
# The API's published port: a free one, on the host's loopback only.
api_port=$(node -e 'const server = require("node:net").createServer().listen(0, "127.0.0.1", () => {
  process.stdout.write(String(server.address().port));
  server.close();
});')
PROBE_ALLOW_PRIVATE=true WORKER_CONCURRENCY=2 WORKER_REPLICAS=2 REACH_PORT="127.0.0.1:$api_port" \
  podman-compose "${compose_files[@]}" up -d >"$work/compose.log" 2>&1 ||
  fail "podman-compose up failed: $(tail -20 "$work/compose.log")"
[ "$(podman network inspect --format '{{.Internal}}' "${project}_default")" = true ] ||
  fail "the compose network ${project}_default is not internal"
api=${project}_api_1
workers=("${project}_worker_1" "${project}_worker_2")
for container in "$api" "${project}_redis_1" "${workers[@]}"; do
  [ "$(podman inspect --format '{{.State.Running}}' "$container" 2>/dev/null)" = true ] ||
    fail "$container is not running: $(tail -20 "$work/compose.log")"
done
wait_ready "$api" 8080 /readyz 60
for worker in "${workers[@]}"; do
  wait_ready "$worker" 9091 /readyz 60
  healthy "$worker" || fail "$worker: the compose health check fails"
  podman exec -d "$worker" node -e "$site_js" 8081 1000 >/dev/null
  wait_ready "$worker" 8081 / 10
done
healthy "${project}_redis_1" || fail "redis: the compose health check fails"
say "ok: both workers and redis pass their compose health checks"

probe_count=12
batch_js='
const count = Number(process.argv[1]);
const api = "http://127.0.0.1:8080";
const call = (path, init) => fetch(api + path, { ...init, signal: AbortSignal.timeout(10_000) }).then((r) => r.json());
(async () => {
  const ids = [];
  for (let index = 0; index < count; index++) {
    const answer = await call("/probe", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: "http://127.0.0.1:8081/" }),
    });
    ids.push(answer.id);
  }
  const results = [];
  for (const id of ids) {
    let result;
    for (let attempt = 0; attempt < 600; attempt++) {
      result = await call(`/probe/${id}`);
      if (result.status === "completed" || result.status === "failed") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    results.push({ id, status: result.status, httpStatus: result.report?.target.http?.hops[0]?.exchange.status });
  }
  process.stdout.write(JSON.stringify(results));
})().catch((error) => { console.error(String(error)); process.exit(1); });'
expect "$probe_count probes of a slow loopback site submitted to the api all complete" \
  "$(in_container "$api" "$batch_js" "$probe_count")" \
  "results => results.length === $probe_count && results.every((r) => r.status === 'completed' && r.httpStatus === 200)"
# Each worker's own metrics count the probes it ran.
probes_by_worker=()
for worker in "${workers[@]}"; do
  count=$(in_container "$worker" "$request_js" 9091 GET /metrics | node -e '
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk)).on("end", () => {
      const lines = JSON.parse(text).body.split("\n").filter((line) => line.startsWith("reach_probes_total{"));
      process.stdout.write(String(lines.reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0)));
    });')
  probes_by_worker+=("$count")
done
say "probes run: ${workers[0]} ${probes_by_worker[0]}, ${workers[1]} ${probes_by_worker[1]}"
[ "$((probes_by_worker[0] + probes_by_worker[1]))" -eq "$probe_count" ] ||
  fail "the workers ran ${probes_by_worker[*]} probes, not $probe_count in all"
[ "${probes_by_worker[0]}" -gt 0 ] && [ "${probes_by_worker[1]}" -gt 0 ] || fail "one worker took every probe"
say "ok: both workers took probes"

# SIGTERM drains each role and exits 0 (podman-compose down would allow only 1 s).
for container in "$api" "${workers[@]}"; do
  quietly podman stop --time 45 "$container"
  exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$container")
  [ "$exit_code" = 0 ] || fail "$container exited $exit_code on stop: $(podman logs --tail 20 "$container" 2>&1)"
done
say "ok: api and workers exit 0 on stop"
podman-compose "${compose_files[@]}" down -v >>"$work/compose.log" 2>&1 || fail "podman-compose down failed"
podman network rm "${project}_default" >/dev/null
podman rmi "$redis_image" "$image" "$base_image" >/dev/null
say "verified: image built and run, compose stack with two workers"
