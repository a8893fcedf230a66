#!/usr/bin/env bash
# Debian packages the tests use as real peers, installed when missing: logrotate
# (rotation harness), unbound (the DNS server the dns cogs are tested against),
# logger and curl (real syslog and HTTP clients), rsyslog (a real syslog
# writer for the syslog cogs' tests, and the T1 benchmark's contender). The tests start their own
# instances, on loopback ports with their own configuration; the packages'
# system services are never started here (policy-rc.d refuses them).
set -euo pipefail

need=()
[ -x /usr/sbin/logrotate ] || need+=(logrotate)
[ -x /usr/sbin/unbound ] || need+=(unbound)
[ -x /usr/sbin/rsyslogd ] || need+=(rsyslog)
command -v logger >/dev/null || need+=(bsdutils)
command -v curl >/dev/null || need+=(curl)

if ((${#need[@]})); then
    if [ "$(id -u)" != 0 ]; then
        echo "system-packages: missing ${need[*]}; run as root or install them" >&2
        exit 1
    fi
    echo "== installing ${need[*]}"
    policy=/usr/sbin/policy-rc.d
    had_policy=0
    [ -e "$policy" ] && had_policy=1
    if [ "$had_policy" = 0 ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
