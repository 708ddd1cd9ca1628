#!/usr/bin/env bash
# tests/lib/registry.sh start DIR [--tls [--mtls]] [--auth USER:PASS | --token USER:PASS]
# tests/lib/registry.sh stop DIR
#
# A private docker-registry (Debian's package: the CNCF distribution registry) for the tests
# and benches: 127.0.0.1 on a free port, storage, config, log and pid under DIR. --tls makes a
# self-signed certificate for 127.0.0.1/localhost (DIR/ca/ca.crt, a --cert-dir) with openssl;
# --mtls also requires a client certificate signed by a CA of its own (DIR/ca/client.cert and
# client.key, as skopeo's --cert-dir holds them; DIR/ca-only/ has the server's CA alone);
# --auth adds htpasswd Basic auth (bcrypt, htpasswd -B); --token the Bearer flow instead: a token
# server (tests/lib/token-server.py, its port in DIR/token-port) granting tokens to USER:PASS. start
# prints the port and returns once GET /v2/ answers; a registry that does not start fails with
# its log. stop kills the registry (and the token server) by pid.
set -euo pipefail

die() { printf 'registry.sh: %s\n' "$*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local dir=$1 tls=0 mtls=0 auth="" token="" port scheme=http i
    shift
    while [ $# -gt 0 ]; do
        case $1 in
            --tls) tls=1 ;;
            --mtls) mtls=1 ;;
            --auth) auth=$2; shift ;;
            --token) token=$2; shift ;;
            *) die "unknown argument '$1'" ;;
        esac
        shift
    done
    command -v docker-registry >/dev/null || die "docker-registry is not installed (install-deps.sh --peers)"
    mkdir -p "$dir/storage"
    port=$(free_port)
    if [ -n "$token" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=vm2oci-token \
            -keyout "$dir/token.key" -out "$dir/token.crt" 2>/dev/null || die "openssl failed"
        rm -f "$dir/token-port"
        setsid python3 "$(dirname "$0")/token-server.py" "$dir" "$token" > /dev/null 2> "$dir/token.log" < /dev/null &
        echo $! > "$dir/token.pid"
        for i in $(seq 50); do [ -s "$dir/token-port" ] && break; sleep 0.1; done
        [ -s "$dir/token-port" ] || { cat "$dir/token.log" >&2; stop "$dir"; die "the token server did not start"; }
    fi
    {
        printf 'version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n'
        printf 'storage:\n  filesystem:\n    rootdirectory: %s/storage\n  delete:\n    enabled: true\n' "$dir"
        printf 'http:\n  addr: 127.0.0.1:%s\n  secret: vm2oci-test-secret\n' "$port"
        if [ "$tls" = 1 ]; then
            mkdir -p "$dir/ca"
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
                -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
                -keyout "$dir/key.pem" -out "$dir/ca/ca.crt" 2>/dev/null || die "openssl failed"
            printf '  tls:\n    certificate: %s/ca/ca.crt\n    key: %s/key.pem\n' "$dir" "$dir"
            mkdir -p "$dir/ca-only"
            cp "$dir/ca/ca.crt" "$dir/ca-only/"
            if [ "$mtls" = 1 ]; then
                openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=vm2oci-client-ca \
                    -keyout "$dir/clientca.key" -out "$dir/clientca.crt" 2>/dev/null &&
                openssl req -newkey rsa:2048 -nodes -subj /CN=vm2oci-client \
                    -keyout "$dir/ca/client.key" -out "$dir/client.csr" 2>/dev/null &&
                openssl x509 -req -in "$dir/client.csr" -CA "$dir/clientca.crt" -CAkey "$dir/clientca.key" \
                    -CAcreateserial -days 2 -out "$dir/ca/client.cert" 2>/dev/null || die "openssl (client) failed"
                printf '    clientcas:\n      - %s/clientca.crt\n' "$dir"
            fi
            scheme=https
        fi
        if [ -n "$auth" ]; then
            htpasswd -B -b -c "$dir/htpasswd" "${auth%%:*}" "${auth#*:}" 2>/dev/null || die "htpasswd failed"
            printf 'auth:\n  htpasswd:\n    realm: vm2oci-test\n    path: %s/htpasswd\n' "$dir"
        fi
        if [ -n "$token" ]; then
            printf 'auth:\n  token:\n    realm: http://127.0.0.1:%s/token\n    service: vm2oci-test\n' "$(cat "$dir/token-port")"
            printf '    issuer: vm2oci-test-issuer\n    rootcertbundle: %s/token.crt\n' "$dir"
        fi
    } > "$dir/config.yml"
    local client=()
    [ "$mtls" = 1 ] && client=(--cert "$dir/ca/client.cert" --key "$dir/ca/client.key")
    setsid docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 < /dev/null &
    echo $! > "$dir/pid"
    echo "$port" > "$dir/port"
    for i in $(seq 100); do
        if curl -sk "${client[@]}" -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/v2/" 2>/dev/null | grep -qE '^(200|401)$'; then
            echo "$port"
            return 0
        fi
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/registry.log" >&2
    stop "$dir"
    die "docker-registry did not answer on 127.0.0.1:$port (its log is above)"
}

stop() {
    local dir=$1 pid i
    if [ -f "$dir/token.pid" ]; then
        kill "$(cat "$dir/token.pid")" 2>/dev/null || true
        rm -f "$dir/token.pid"
    fi
    [ -f "$dir/pid" ] || return 0
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
}

case ${1:-} in
    start) shift; start "$@" ;;
    stop) stop "$2" ;;
    *) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 2 ;;
esac
