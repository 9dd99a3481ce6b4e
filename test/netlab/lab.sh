#!/usr/bin/env bash
# Builds and removes reach's network lab: namespaces joined by veth pairs, a router carrying middlebox
# rules, bind9 and dnsmasq on a DNS host, nginx and two Node backends on a web host, and vantage namespaces
# (one on a path the middlebox ignores, one with no path at all) sharing one redis-server. Run as root.
#
#   lab.sh up       build the lab (runs `down` first)
#   lab.sh down     remove everything `up` made; safe to run twice
#   lab.sh status   show what is running; exit 0 when the whole lab is up
#
# Environment: REACH_NETLAB_PREFIX (default "reach-") names the namespaces; REACH_NETLAB_STATE (default
# /run/<prefix>netlab) holds configs, certificates, pid files and logs.
#
# Addresses come only from 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32, and no namespace
# has a link to the host's own namespace: nothing in the lab can leave it. See docs/netlab.md for the scenarios.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Every name the lab creates starts with this prefix, so labs with different prefixes (two test runs at once)
# live side by side: the addresses are the same, but each lab's namespaces are its own world.
PREFIX=${REACH_NETLAB_PREFIX:-reach-}
[[ $PREFIX =~ ^[a-z][a-z0-9-]{0,20}-$ ]] || { echo "netlab: bad REACH_NETLAB_PREFIX: $PREFIX" >&2; exit 2; }
STATE=${REACH_NETLAB_STATE:-/run/${PREFIX}netlab}
# named's own files go where Debian's AppArmor profile for named allows it to read and write, when that exists.
if [[ -d /var/cache/bind ]]; then NAMED_DIR=/var/cache/bind/${PREFIX}netlab; else NAMED_DIR=$STATE/named; fi

NS_PROBER=${PREFIX}prober   # where reach runs: 192.0.2.10, default route via the router
NS_NOROUTE=${PREFIX}noroute # a second prober with loopback only: no route at all
NS_ROUTER=${PREFIX}router   # forwards between the three networks; the middlebox rules live here
NS_DNS=${PREFIX}dns         # bind9 on 198.51.100.53 (honest), dnsmasq on 198.51.100.54 (lies)
NS_WEB=${PREFIX}web         # nginx on 203.0.113.5 and .10; Node backends on .12, .13 and 127.0.0.1:8081
NS_CLEAN=${PREFIX}clean     # vantage "clean": 192.0.2.130, its own link to the router, which skips the middlebox
NS_BROKEN=${PREFIX}broken   # vantage "broken": its only link is the one to Redis (no route to the web or DNS)
NS_REDIS=${PREFIX}redis     # the vantages' shared redis-server on 192.0.2.241, a lab-only bridge
ALL_NS=("$NS_PROBER" "$NS_NOROUTE" "$NS_ROUTER" "$NS_DNS" "$NS_WEB" "$NS_CLEAN" "$NS_BROKEN" "$NS_REDIS")
# Namespaces whose tools (curl, dig, reach) should use the lab's DNS by default.
CLIENT_NS=("$NS_PROBER" "$NS_NOROUTE" "$NS_CLEAN" "$NS_BROKEN")

HONEST_DNS=198.51.100.53
LYING_DNS=198.51.100.54
DEAD_DNS=198.51.100.55      # the router drops everything sent to it
CONTROL_ADDRESS=203.0.113.5
WEB_ADDRESS=203.0.113.10
CLOSED_ADDRESS=203.0.113.11 # on the web host, nothing listens: the kernel answers RST to the SYN
RESET_ADDRESS=203.0.113.12
NAME_RESET_ADDRESS=203.0.113.13 # a Node server resetting requests that name NAME_RESET_HOST, answering others
NAME_RESET_HOST=namereset.site-a.test
BLACKHOLE_ADDRESS=203.0.113.66
UNREACHABLE_ADDRESS=203.0.113.67
# IPv6 joins the prober, the router and the web host only (the resolvers stay IPv4-only).
PROBER_ADDRESS6=2001:db8:2::10
ROUTER_PROBER_ADDRESS6=2001:db8:2::1
ROUTER_WEB_ADDRESS6=2001:db8:113::1
WEB_ADDRESS6=2001:db8:113::10 # the web host has it, but the router drops every packet to it
BOGON_ADDRESS=10.10.10.10
REWRITING_DNS=198.51.100.56 # dnsmasq answering every name, existing or not, with SEARCH_ADDRESS
PORTAL_ADDRESS=203.0.113.30      # the captive portal's login page
BLOCKPAGE_ADDRESS=203.0.113.31   # a block-page server the lying resolver sends a name to
LARGE_ADDRESS=203.0.113.32       # a large page behind a path MTU black hole
INTERCEPTED_SITE=203.0.113.33    # the router sends port 80 for these two to the portal
INTERCEPTED_CONTROL=203.0.113.34
SEARCH_ADDRESS=203.0.113.35      # the rewriting resolver's search page
BLACKHOLE_MTU=1280
# An on-path injector (test/netlab/injector.py, in the router) forges a 200 block page for these names on
# WEB_ADDRESS:80: for the first the server's own answer follows on the same connection, for the second the
# request is dropped and the forged page is the only answer.
INJECT_PASS_HOST=forged-pass.site-a.test
INJECT_DROP_HOST=forged-drop.site-a.test
# HTTP- and DNS-layer faults (test/netlab/faults.mjs, on the web host): a server answering by Host (bodies cut
# short, broken chunking, silence, garbage), an SSH server on port 80, and four resolvers of their own.
FAULTS_ADDRESS=203.0.113.100      # the Host-dispatched faults; any other Host gets a 200
BANNER_ADDRESS=203.0.113.101      # an SSH banner on port 80
REFUSING_DNS=203.0.113.102        # answers REFUSED to everything
TRUNCATING_DNS=203.0.113.103      # answers truncated (TC) over UDP; the router drops TCP/53 to it
RACED_DNS=203.0.113.104           # a forged answer first, its own answer 60 ms later
RACED_FORGED_ADDRESS=203.0.113.105 # the forged answer: on the web host, nothing listens (refused at once)
SILENT_ADDRESS=203.0.113.106      # reads every request on port 80 and never answers
BLOCKING_DNS=203.0.113.107        # a blocklist resolver that says why (EDE 15 for dnsblock*, EDE 17 and 0.0.0.0 for dnsfilter*)
KEYWORD_DROP_HOST=kwdrop.site-a.test # the router drops requests naming it on WEB_ADDRESS:80
# Vantages: the prober's link is 192.0.2.0/25, the clean vantage's 192.0.2.128/26, and the link to the shared
# Redis 192.0.2.240/28 (a bridge in NS_REDIS; only the vantages' processes use it, the router never sees it).
CLEAN_ADDRESS=192.0.2.130
REDIS_ADDRESS=192.0.2.241
REDIS_PORT=6379
declare -A REDIS_LINK_ADDRESS=([$NS_PROBER]=192.0.2.242 [$NS_CLEAN]=192.0.2.243 [$NS_BROKEN]=192.0.2.244)
SLOW_DELAY_MS=${REACH_NETLAB_SLOW_DELAY_MS:-2500}

log() { printf 'netlab: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ns_exists() { [[ -e "/run/netns/$1" ]]; }

require_tools() {
  local missing=() tool
  for tool in ip iptables ip6tables nginx named dnsmasq openssl node redis-server python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]}"
  [[ $(id -u) == 0 ]] || die "must run as root"
}

# Polls a condition at most `tries` times, 0.1 s apart. Daemons give no other readiness signal to a shell.
wait_for() {
  local what=$1 tries=$2; shift 2
  local i
  for ((i = 0; i < tries; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "timed out waiting for $what"
}

render() { sed -e "s|@STATE@|$STATE|g" -e "s|@NAMED@|$NAMED_DIR|g" "$1" >"$2"; }

# ---------------------------------------------------------------- namespaces and links

build_network() {
  local ns
  for ns in "${ALL_NS[@]}"; do
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
  done

  # Each veth pair is created with both ends already inside lab namespaces.
  ip link add r-prober netns "$NS_ROUTER" type veth peer name eth0 netns "$NS_PROBER"
  ip link add r-dns netns "$NS_ROUTER" type veth peer name eth0 netns "$NS_DNS"
  ip link add r-web netns "$NS_ROUTER" type veth peer name eth0 netns "$NS_WEB"

  in_ns "$NS_ROUTER" ip addr add 192.0.2.1/25 dev r-prober
  in_ns "$NS_ROUTER" ip addr add 198.51.100.1/24 dev r-dns
  in_ns "$NS_ROUTER" ip addr add 203.0.113.1/24 dev r-web
  for link in r-prober r-dns r-web; do in_ns "$NS_ROUTER" ip link set "$link" up; done
  in_ns "$NS_ROUTER" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
  # nodad: the addresses are usable at once (duplicate address detection would hold them ~2 s).
  in_ns "$NS_ROUTER" ip -6 addr add "$ROUTER_PROBER_ADDRESS6/64" dev r-prober nodad
  in_ns "$NS_ROUTER" ip -6 addr add "$ROUTER_WEB_ADDRESS6/64" dev r-web nodad
  in_ns "$NS_ROUTER" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'

  in_ns "$NS_PROBER" ip addr add 192.0.2.10/25 dev eth0
  in_ns "$NS_PROBER" ip link set eth0 up
  in_ns "$NS_PROBER" ip route add default via 192.0.2.1
  in_ns "$NS_PROBER" ip -6 addr add "$PROBER_ADDRESS6/64" dev eth0 nodad
  in_ns "$NS_PROBER" ip -6 route add default via "$ROUTER_PROBER_ADDRESS6"

  in_ns "$NS_DNS" ip addr add "$HONEST_DNS/24" dev eth0
  in_ns "$NS_DNS" ip addr add "$LYING_DNS/24" dev eth0
  in_ns "$NS_DNS" ip addr add "$REWRITING_DNS/24" dev eth0
  in_ns "$NS_DNS" ip link set eth0 up
  in_ns "$NS_DNS" ip route add default via 198.51.100.1

  local address
  # BLACKHOLE_ADDRESS is served too: only paths through the router's drop rule lose it (the clean vantage's
  # path skips that rule and reaches nginx there).
  for address in "$CONTROL_ADDRESS" "$WEB_ADDRESS" "$CLOSED_ADDRESS" "$RESET_ADDRESS" "$NAME_RESET_ADDRESS" \
    "$PORTAL_ADDRESS" "$BLOCKPAGE_ADDRESS" "$LARGE_ADDRESS" "$SEARCH_ADDRESS" "$BLACKHOLE_ADDRESS" \
    "$FAULTS_ADDRESS" "$BANNER_ADDRESS" "$REFUSING_DNS" "$TRUNCATING_DNS" "$RACED_DNS" "$SILENT_ADDRESS" "$RACED_FORGED_ADDRESS" \
    "$BLOCKING_DNS"; do
    in_ns "$NS_WEB" ip addr add "$address/24" dev eth0
  done
  in_ns "$NS_WEB" ip link set eth0 up
  in_ns "$NS_WEB" ip route add default via 203.0.113.1
  in_ns "$NS_WEB" ip -6 addr add "$WEB_ADDRESS6/64" dev eth0 nodad
  in_ns "$NS_WEB" ip -6 route add default via "$ROUTER_WEB_ADDRESS6"

  # The noroute namespace keeps loopback only: every connect and every DNS query fails with ENETUNREACH.

  # The clean vantage: a link of its own to the router (the middlebox rules let it through, see below).
  ip link add r-clean netns "$NS_ROUTER" type veth peer name eth0 netns "$NS_CLEAN"
  in_ns "$NS_ROUTER" ip addr add 192.0.2.129/26 dev r-clean
  in_ns "$NS_ROUTER" ip link set r-clean up
  in_ns "$NS_CLEAN" ip addr add "$CLEAN_ADDRESS/26" dev eth0
  in_ns "$NS_CLEAN" ip link set eth0 up
  in_ns "$NS_CLEAN" ip route add default via 192.0.2.129

  # The link to the shared Redis: a bridge in the Redis namespace, one port per vantage namespace. No default
  # route goes through it, so the broken vantage (this link only) has no route to the web or DNS.
  in_ns "$NS_REDIS" ip link add br0 type bridge
  in_ns "$NS_REDIS" ip addr add "$REDIS_ADDRESS/28" dev br0
  in_ns "$NS_REDIS" ip link set br0 up
  local index=0
  for ns in "$NS_PROBER" "$NS_CLEAN" "$NS_BROKEN"; do
    ip link add "v$index" netns "$NS_REDIS" type veth peer name redis0 netns "$ns"
    in_ns "$NS_REDIS" ip link set "v$index" master br0 up
    in_ns "$ns" ip addr add "${REDIS_LINK_ADDRESS[$ns]}/28" dev redis0
    in_ns "$ns" ip link set redis0 up
    index=$((index + 1))
  done

  for ns in "${CLIENT_NS[@]}"; do
    mkdir -p "/etc/netns/$ns"
    printf '# written by reach test/netlab/lab.sh\nnameserver %s\n' "$HONEST_DNS" >"/etc/netns/$ns/resolv.conf"
  done
}

# ---------------------------------------------------------------- the middlebox

build_middlebox() {
  local fw=(ip netns exec "$NS_ROUTER" iptables -w 5)
  # The clean vantage's path: accepted before any filter rule (the replies to it match none of them).
  "${fw[@]}" -A FORWARD -i r-clean -j ACCEPT
  # A black hole: every packet to this address vanishes (SYNs time out).
  "${fw[@]}" -A FORWARD -d "$BLACKHOLE_ADDRESS" -j DROP
  # The IPv6 path to the web host is a black hole too (a dual-stack site whose IPv6 is broken).
  ip netns exec "$NS_ROUTER" ip6tables -w 5 -A FORWARD -d "$WEB_ADDRESS6" -j DROP
  # The router answers for this address with ICMP host-unreachable.
  "${fw[@]}" -A FORWARD -d "$UNREACHABLE_ADDRESS" -j REJECT --reject-with icmp-host-unreachable
  # An unresponsive resolver: queries to it are dropped.
  "${fw[@]}" -A FORWARD -d "$DEAD_DNS" -j DROP
  # Keyword filter: a request carrying this Host header is answered with an RST (and never reaches nginx);
  # other names on the same address pass.
  "${fw[@]}" -A FORWARD -p tcp -d "$WEB_ADDRESS" --dport 80 \
    -m string --algo bm --icase --string "host: blocked.site-a.test" -j REJECT --reject-with tcp-reset
  # Keyword filter on the path: a request for /banned/ is answered with an RST, whatever its Host or connection.
  "${fw[@]}" -A FORWARD -p tcp -d "$WEB_ADDRESS" --dport 80 \
    -m string --algo bm --string "GET /banned/" -j REJECT --reject-with tcp-reset
  # SNI filter: a ClientHello naming this host is answered with an RST; other names on :443 pass.
  "${fw[@]}" -A FORWARD -p tcp -d "$WEB_ADDRESS" --dport 443 \
    -m string --algo bm --string "sni-blocked.site-a.test" -j REJECT --reject-with tcp-reset

  # The injector's names: their requests stop here (the injector in this namespace sees them on r-prober
  # first, answers with a forged page, and for the "pass" name sends the request on itself, after its forgery).
  local forged
  for forged in "$INJECT_PASS_HOST" "$INJECT_DROP_HOST"; do
    "${fw[@]}" -A FORWARD -p tcp -d "$WEB_ADDRESS" --dport 80 \
      -m string --algo bm --icase --string "host: $forged" -j DROP
  done

  # Keyword drop: a request carrying this Host header vanishes (no RST, no answer); other names pass.
  "${fw[@]}" -A FORWARD -p tcp -d "$WEB_ADDRESS" --dport 80 \
    -m string --algo bm --icase --string "host: $KEYWORD_DROP_HOST" -j DROP
  # DNS over TCP is blocked on the path to the truncating resolver (UDP passes).
  "${fw[@]}" -A FORWARD -p tcp -d "$TRUNCATING_DNS" --dport 53 -j DROP

  # A captive portal: web traffic for two unrelated sites goes to the portal instead.
  local intercepted
  for intercepted in "$INTERCEPTED_SITE" "$INTERCEPTED_CONTROL"; do
    "${fw[@]}" -t nat -A PREROUTING -i r-prober -p tcp -d "$intercepted" --dport 80 \
      -j DNAT --to-destination "$PORTAL_ADDRESS:80"
  done

  # A path MTU black hole: packets from LARGE_ADDRESS towards the prober leave on a route with a smaller
  # MTU, and the ICMP "fragmentation needed" that would tell the server is dropped. Small packets pass.
  in_ns "$NS_ROUTER" ip route add 192.0.2.0/25 dev r-prober mtu lock "$BLACKHOLE_MTU" table 100
  in_ns "$NS_ROUTER" ip rule add from "$LARGE_ADDRESS" table 100
  "${fw[@]}" -A OUTPUT -p icmp --icmp-type fragmentation-needed -d "$LARGE_ADDRESS" -j DROP
}

# ---------------------------------------------------------------- certificates

issue_certificate() {
  local name=$1 san=$2; shift 2
  local tls=$STATE/tls
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -config "$tls/ca.cnf" \
    -keyout "$tls/$name.key" -out "$tls/$name.csr" -subj "/CN=${san%%,*}" 2>/dev/null
  printf 'basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = %s\n' \
    "$(sed -e 's/^/DNS:/' -e 's/,/,DNS:/g' <<<"$san")" >"$tls/$name.ext"
  openssl ca -batch -notext -config "$tls/ca.cnf" -extfile "$tls/$name.ext" \
    -in "$tls/$name.csr" -out "$tls/$name.pem" "$@" 2>/dev/null
}

build_certificates() {
  local tls=$STATE/tls
  mkdir -p "$tls/issued"
  : >"$tls/index.txt"
  echo 1000 >"$tls/serial"
  cat >"$tls/ca.cnf" <<EOF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = reach netlab CA
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ ca ]
default_ca = lab_ca
[ lab_ca ]
database = $tls/index.txt
new_certs_dir = $tls/issued
serial = $tls/serial
certificate = $tls/ca.pem
private_key = $tls/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
EOF
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -config "$tls/ca.cnf" \
    -extensions ca_ext -days 30 -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  issue_certificate good "tls.site-a.test,sni-blocked.site-a.test" -days 30
  issue_certificate expired "expired.site-a.test" -startdate 20200101000000Z -enddate 20200201000000Z
  issue_certificate wrongname "www.site-b.test" -days 30
  # Short-lived: inside every certificate-expiry warning threshold while still valid.
  issue_certificate expiring "expiring.site-a.test" -days 2
}

# ---------------------------------------------------------------- daemons

start_dns() {
  mkdir -p "$NAMED_DIR/zones"
  cp "$LAB_DIR"/conf/*.zone "$NAMED_DIR/zones/"
  render "$LAB_DIR/conf/named.conf" "$NAMED_DIR/named.conf"
  in_ns "$NS_DNS" named -4 -c "$NAMED_DIR/named.conf" </dev/null >>"$STATE/named.out" 2>&1
  wait_for "named to load its zones (see $NAMED_DIR/named.log)" 100 grep -q 'running$' "$NAMED_DIR/named.log"

  # The lying resolver forwards to bind9, except for one name it answers with a bogon.
  in_ns "$NS_DNS" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address="$LYING_DNS" --port=53 --server="$HONEST_DNS" --cache-size=0 \
    --address="/tampered.site-a.test/$BOGON_ADDRESS" --address="/denied.site-a.test/" \
    --address="/blockpage-dns.site-a.test/$BLOCKPAGE_ADDRESS" --user=root \
    --pid-file="$STATE/dnsmasq.pid" --log-facility="$STATE/dnsmasq.log" </dev/null >>"$STATE/dnsmasq.out" 2>&1

  # A resolver that rewrites NXDOMAIN: every name, existing or not, gets its search page's address.
  in_ns "$NS_DNS" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address="$REWRITING_DNS" --port=53 --cache-size=0 --address="/#/$SEARCH_ADDRESS" --user=root \
    --pid-file="$STATE/dnsmasq-rewriting.pid" --log-facility="$STATE/dnsmasq-rewriting.log" \
    </dev/null >>"$STATE/dnsmasq-rewriting.out" 2>&1
}

start_web() {
  mkdir -p "$STATE/nginx-tmp" "$STATE/large"
  # 256 KiB of page: far more than one packet, so its answer needs full-size segments.
  head -c 262144 /dev/zero | tr '\0' 'x' >"$STATE/large/page.html"
  render "$LAB_DIR/conf/nginx.conf" "$STATE/nginx.conf"
  in_ns "$NS_WEB" nginx -p "$STATE/" -e "$STATE/nginx-error.log" -c "$STATE/nginx.conf" \
    </dev/null >>"$STATE/nginx.out" 2>&1

  # setsid: the backends outlive this script without holding its terminal or pipes.
  in_ns "$NS_WEB" setsid node "$LAB_DIR/backends.mjs" --reset "$RESET_ADDRESS:80" --slow 127.0.0.1:8081 \
    --name-reset "$NAME_RESET_ADDRESS:80" --reset-host "$NAME_RESET_HOST" \
    --delay-ms "$SLOW_DELAY_MS" --pidfile "$STATE/backends.pid" </dev/null >>"$STATE/backends.log" 2>&1 &
  wait_for "the Node backends to listen" 100 test -s "$STATE/backends.pid"
}

# HTTP- and DNS-layer faults on the web host (test/netlab/faults.mjs).
start_faults() {
  in_ns "$NS_WEB" setsid node "$LAB_DIR/faults.mjs" --http "$FAULTS_ADDRESS:80" --banner "$BANNER_ADDRESS:80" --silent "$SILENT_ADDRESS:80" \
    --refusing "$REFUSING_DNS" --truncating "$TRUNCATING_DNS" --raced "$RACED_DNS" --blocking "$BLOCKING_DNS" \
    --forged-address "$RACED_FORGED_ADDRESS" --real-address "$WEB_ADDRESS" --pidfile "$STATE/faults.pid" \
    </dev/null >>"$STATE/faults.log" 2>&1 &
  wait_for "the fault servers to listen" 100 test -s "$STATE/faults.pid"
}

# The on-path injector in the router namespace: a raw-socket program (test/netlab/injector.py).
start_injector() {
  in_ns "$NS_ROUTER" setsid python3 "$LAB_DIR/injector.py" --interface r-prober --address "$WEB_ADDRESS" \
    --inject "$INJECT_PASS_HOST=pass" --inject "$INJECT_DROP_HOST=drop" --pidfile "$STATE/injector.pid" \
    </dev/null >>"$STATE/injector.log" 2>&1 &
  wait_for "the injector to listen" 100 test -s "$STATE/injector.pid"
}

# The vantages' shared Redis: a random password (in a file only root reads), bound to the lab-only bridge.
start_redis() {
  mkdir -p "$STATE/redis"
  chmod 700 "$STATE/redis"
  local password
  password=$(openssl rand -hex 24)
  (
    umask 077
    printf '%s\n' "$password" >"$STATE/redis/password"
    cat >"$STATE/redis/redis.conf" <<EOF
bind $REDIS_ADDRESS
port $REDIS_PORT
protected-mode yes
requirepass $password
dir $STATE/redis
save ""
appendonly no
daemonize yes
pidfile $STATE/redis.pid
logfile $STATE/redis/redis.log
EOF
  )
  in_ns "$NS_REDIS" redis-server "$STATE/redis/redis.conf" </dev/null >>"$STATE/redis.out" 2>&1
  wait_for "redis-server to listen on $REDIS_ADDRESS:$REDIS_PORT" 100 grep -q 'Ready to accept connections' \
    "$STATE/redis/redis.log"
}

# ---------------------------------------------------------------- TLS faults (203.0.113.80-.99)

# Addresses on the web host for servers whose TLS is broken in the ways real servers break it: one address per
# fault that must apply to the whole address (the default server decides it), names on TLS_NAMES_ADDRESS for
# faults of one vhost.
TLS_NAMES_ADDRESS=203.0.113.80    # nginx: a missing intermediate, a self-signed certificate, an SNI drop
TLS_OLD_ADDRESS=203.0.113.81      # nginx: TLS 1.0 and 1.1 only
TLS_REJECT_ADDRESS=203.0.113.82   # nginx: ssl_reject_handshake for any name it does not serve
TLS_CLIENT_CERT_ADDRESS=203.0.113.83 # nginx: ssl_verify_client on
TLS_PLAIN_ADDRESS=203.0.113.84    # nginx: plain HTTP on port 443
TLS_CLOSE_ADDRESS=203.0.113.85    # Node: reads the ClientHello, then closes (FIN)
TLS_CLIENT_ALERT_ADDRESS=203.0.113.86 # Node: requires a client certificate, refuses with a TLS 1.3 alert
TLS_SNI_DROP_HOST=sni-dropped.site-a.test

build_tls_faults() {
  local address
  for address in "$TLS_NAMES_ADDRESS" "$TLS_OLD_ADDRESS" "$TLS_REJECT_ADDRESS" "$TLS_CLIENT_CERT_ADDRESS" \
    "$TLS_PLAIN_ADDRESS" "$TLS_CLOSE_ADDRESS" "$TLS_CLIENT_ALERT_ADDRESS"; do
    in_ns "$NS_WEB" ip addr add "$address/24" dev eth0
  done
  # SNI filter that drops: a ClientHello naming this host vanishes (no RST, no answer); other names pass.
  ip netns exec "$NS_ROUTER" iptables -w 5 -A FORWARD -p tcp -d "$TLS_NAMES_ADDRESS" --dport 443 \
    -m string --algo bm --string "$TLS_SNI_DROP_HOST" -j DROP

  local tls=$STATE/tls
  # An intermediate CA under the lab CA, and a leaf it issues; nginx is given the leaf alone.
  printf 'basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n' \
    >"$tls/intermediate.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -config "$tls/ca.cnf" \
    -keyout "$tls/intermediate.key" -out "$tls/intermediate.csr" -subj "/CN=reach netlab intermediate" 2>/dev/null
  openssl ca -batch -notext -config "$tls/ca.cnf" -extfile "$tls/intermediate.ext" \
    -in "$tls/intermediate.csr" -out "$tls/intermediate.pem" -days 30 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -config "$tls/ca.cnf" \
    -keyout "$tls/leaf-only.key" -out "$tls/leaf-only.csr" -subj "/CN=chain-missing.site-a.test" 2>/dev/null
  # Like a public CA's leaf, it names where its issuer's certificate can be fetched (AIA); nothing serves it.
  printf 'basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:chain-missing.site-a.test\nauthorityInfoAccess = caIssuers;URI:http://pki.site-b.test/intermediate.crt\n' \
    >"$tls/leaf-only.ext"
  openssl x509 -req -in "$tls/leaf-only.csr" -CA "$tls/intermediate.pem" -CAkey "$tls/intermediate.key" \
    -CAcreateserial -extfile "$tls/leaf-only.ext" -days 30 -out "$tls/leaf-only.pem" 2>/dev/null
  # Self-signed: its own issuer, known to nobody.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=self-signed.site-a.test" \
    -addext "subjectAltName = DNS:self-signed.site-a.test" -keyout "$tls/self-signed.key" \
    -out "$tls/self-signed.pem" 2>/dev/null
  # The default server of TLS_NAMES_ADDRESS hosts the SNI-dropped site: its certificate covers the name.
  issue_certificate tls-faults-default "sni-dropped.site-a.test" -days 30
  issue_certificate old-tls "old-tls.site-a.test" -days 30
  issue_certificate known-sni "known-sni.site-a.test" -days 30
  issue_certificate client-cert "client-cert.site-a.test,client-cert-alert.site-a.test" -days 30
}

# Two Node servers whose TLS fails the way many servers fail: one reads the ClientHello and closes (FIN), as a
# server or a proxy with a broken TLS side does; one requires a client certificate (Node, Go, Apache and
# OpenSSL servers abort a TLS 1.3 connection without one with a certificate_required alert, after the handshake).
start_tls_close_server() {
  in_ns "$NS_WEB" setsid node -e '
    const net = require("node:net");
    const tls = require("node:tls");
    const fs = require("node:fs");
    const [closeAddress, alertAddress, certDir, pidfile] = process.argv.slice(1);
    const closing = net.createServer((socket) => {
      socket.once("data", () => socket.end());
      socket.on("error", () => {});
    });
    const read = (name) => fs.readFileSync(`${certDir}/${name}`);
    const alerting = tls.createServer(
      { key: read("client-cert.key"), cert: read("client-cert.pem"), ca: read("ca.pem"), requestCert: true, rejectUnauthorized: true },
      (socket) => socket.end("HTTP/1.1 200 OK\r\ncontent-length: 27\r\n\r\nclient certificate accepted"),
    );
    alerting.on("tlsClientError", () => {});
    closing.listen(443, closeAddress, () =>
      alerting.listen(443, alertAddress, () => fs.writeFileSync(pidfile, `${process.pid}\n`)),
    );
    process.on("SIGTERM", () => process.exit(0));
  ' "$TLS_CLOSE_ADDRESS" "$TLS_CLIENT_ALERT_ADDRESS" "$STATE/tls" "$STATE/tls-close.pid" \
    </dev/null >>"$STATE/tls-close.log" 2>&1 &
  wait_for "the TLS-failing Node servers to listen" 100 test -s "$STATE/tls-close.pid"
}

# ---------------------------------------------------------------- commands

# Stops the daemon named by a pid file, only if that pid runs inside the given lab namespace (a stale pid
# file must never kill an unrelated process that reused the number).
stop_pidfile() {
  local pidfile=$1 ns=$2 pid i
  [[ -s $pidfile ]] || return 0
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if ns_exists "$ns" && ip netns pids "$ns" 2>/dev/null | grep -qx "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

cmd_down() {
  local ns pid
  stop_pidfile "$STATE/backends.pid" "$NS_WEB"
  stop_pidfile "$STATE/tls-close.pid" "$NS_WEB"
  stop_pidfile "$STATE/injector.pid" "$NS_ROUTER"
  stop_pidfile "$STATE/faults.pid" "$NS_WEB"
  stop_pidfile "$STATE/redis.pid" "$NS_REDIS"
  stop_pidfile "$STATE/nginx.pid" "$NS_WEB"
  stop_pidfile "$STATE/dnsmasq.pid" "$NS_DNS"
  stop_pidfile "$STATE/dnsmasq-rewriting.pid" "$NS_DNS"
  stop_pidfile "$NAMED_DIR/named.pid" "$NS_DNS"
  # Whatever is still running inside a lab namespace was started there by the lab (or by a probe run in it).
  for ns in "${ALL_NS[@]}"; do
    ns_exists "$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  for ns in "${CLIENT_NS[@]}"; do rm -rf "/etc/netns/$ns"; done
  # /etc/netns itself goes only if the lab left it empty.
  rmdir /etc/netns 2>/dev/null || true
  rm -rf "$STATE" "$NAMED_DIR"
}

# When `up` fails, the daemons' own words say why: print them before exiting.
report_failure() {
  local file
  log "up failed; the lab is half built (run: $0 down). Daemon output:"
  for file in "$STATE"/*.out "$STATE"/*.log "$NAMED_DIR/named.log"; do
    [[ -s $file ]] || continue
    printf -- '--- %s\n' "$file" >&2
    tail -n 20 "$file" >&2
  done
}

cmd_up() {
  require_tools
  cmd_down
  trap 'if (($? != 0)); then report_failure; fi' EXIT
  mkdir -p "$STATE"
  chmod 755 "$STATE"
  build_network
  build_middlebox
  build_certificates
  build_tls_faults
  start_dns
  start_web
  start_tls_close_server
  start_injector
  start_faults
  start_redis
  log "up: reach runs in $NS_PROBER; resolvers $HONEST_DNS (honest), $LYING_DNS (lies), $DEAD_DNS (dropped)"
  log "up: vantages $NS_PROBER, $NS_CLEAN, $NS_BROKEN share redis://$REDIS_ADDRESS:$REDIS_PORT (password in $STATE/redis/password)"
  log "up: lab CA at $STATE/tls/ca.pem; control http://control.site-b.test/ or http://$CONTROL_ADDRESS/"
}

pid_alive() { [[ -s $1 ]] && kill -0 "$(<"$1")" 2>/dev/null; }

cmd_status() {
  local healthy=0 ns name
  for ns in "${ALL_NS[@]}"; do
    if ns_exists "$ns"; then echo "namespace $ns: present"; else echo "namespace $ns: absent"; healthy=1; fi
  done
  local pidfile
  for pidfile in "$NAMED_DIR/named.pid" "$STATE/dnsmasq.pid" "$STATE/dnsmasq-rewriting.pid" "$STATE/nginx.pid" \
    "$STATE/backends.pid" "$STATE/injector.pid" "$STATE/redis.pid" "$STATE/faults.pid"; do
    name=$(basename "$pidfile" .pid)
    if pid_alive "$pidfile"; then
      echo "$name: running (pid $(<"$pidfile"))"
    else
      echo "$name: not running"; healthy=1
    fi
  done
  if [[ -s $STATE/tls/ca.pem ]]; then echo "lab CA: $STATE/tls/ca.pem"; else echo "lab CA: absent"; healthy=1; fi
  return "$healthy"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
