#!/bin/sh
# make install into a DESTDIR from the current build, then the installed tree used from there:
#  - Apache's layout under the prefix: bin/httpd, conf/ (+ conf/original/, httpd.service), htdocs/, logs/;
#  - the systemd unit names the installed binary;
#  - the binary's compiled-in configuration file is PREFIX/conf/httpd.conf (httpd -V, and the error of
#    httpd -t when nothing is installed there);
#  - the installed server, started with -d DESTDIR/PREFIX (the DESTDIR copy of its compiled-in ServerRoot)
#    and no -f, serves the installed htdocs and writes its PidFile and logs under logs/;
#  - an edited conf/httpd.conf is kept by a second install and by uninstall, which removes everything else.
# Run by make check, which sets HTTPD_BUILDDIR, HTTPD_SRCDIR, HTTPD_PREFIX and HTTPD_BINDIR. About 5 s.
set -eu

: "${HTTPD_BUILDDIR:?run by make check}" "${HTTPD_SRCDIR:?}" "${HTTPD_PREFIX:?}" "${HTTPD_BINDIR:?}"
tmp=$(mktemp -d /tmp/httpd-install.XXXXXX)
dest=$tmp/dest
root=$dest$HTTPD_PREFIX
bin=$dest$HTTPD_BINDIR/httpd
pid=

cleanup() {
    if [ -n "$pid" ]; then
        kill -KILL "$pid" 2>/dev/null || :
        wait "$pid" 2>/dev/null || :
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# make in the build tree, as a program of its own (not a sub-make of make check)
mk() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$HTTPD_BUILDDIR" DESTDIR="$dest" "$@" \
        >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log" >&2; fail "make $*"; }
}

echo "# make install DESTDIR=$dest (prefix $HTTPD_PREFIX)"
mk install
[ -x "$bin" ] || fail "no executable $bin"
for f in httpd.conf prefork.conf worker.conf event.conf https.conf mime.types logrotate.conf; do
    [ -f "$root/conf/$f" ] || fail "conf/$f not installed"
    cmp -s "$HTTPD_SRCDIR/conf/$f" "$root/conf/original/$f" || fail "conf/original/$f differs from the shipped one"
done
for f in index.html 1k.html; do
    cmp -s "$HTTPD_SRCDIR/htdocs/$f" "$root/htdocs/$f" || fail "htdocs/$f not installed"
done
[ -d "$root/logs" ] || fail "logs/ not created"

echo "# conf/httpd.service"
unit=$root/conf/httpd.service
[ -f "$unit" ] || fail "conf/httpd.service not installed"
grep -qx 'Type=simple' "$unit" || fail "httpd.service: no Type=simple"
grep -qxF "ExecStart=$HTTPD_BINDIR/httpd -D FOREGROUND" "$unit" || fail "httpd.service: ExecStart is not $HTTPD_BINDIR/httpd -D FOREGROUND"
grep -qxF 'ExecReload=/bin/kill -USR1 $MAINPID' "$unit" || fail "httpd.service: ExecReload does not send USR1"
if grep -n '@[a-z_]*@' "$unit"; then fail "httpd.service: unsubstituted variables"; fi

echo "# compiled-in paths"
"$bin" -V >"$tmp/V" 2>&1 || fail "httpd -V failed: $(cat "$tmp/V")"
grep -qxF " -D HTTPD_ROOT=\"$HTTPD_PREFIX\"" "$tmp/V" || fail "httpd -V does not show -D HTTPD_ROOT=\"$HTTPD_PREFIX\": $(cat "$tmp/V")"
grep -qxF ' -D SERVER_CONFIG_FILE="conf/httpd.conf"' "$tmp/V" || fail "httpd -V does not show SERVER_CONFIG_FILE: $(cat "$tmp/V")"
if [ ! -e "$HTTPD_PREFIX/conf/httpd.conf" ]; then
    if "$bin" -t >"$tmp/t" 2>&1; then fail "httpd -t without -f succeeded with nothing at $HTTPD_PREFIX"; fi
    grep -qF "$HTTPD_PREFIX/conf/httpd.conf" "$tmp/t" || fail "httpd -t without -f did not look for $HTTPD_PREFIX/conf/httpd.conf: $(cat "$tmp/t")"
fi
"$bin" -d "$root" -t >"$tmp/t" 2>&1 || fail "httpd -d $root -t: $(cat "$tmp/t")"

echo "# the installed server, started from the installed tree"
port=
for attempt in 1 2 3 4 5; do
    # a port nothing answers on; the server's own bind decides the rest
    p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/"; then continue; fi
    sed -i "s/^Listen .*/Listen 127.0.0.1:$p/" "$root/conf/httpd.conf"
    rm -f "$root/logs/httpd.pid"
    "$bin" -d "$root" -D FOREGROUND >"$tmp/server.out" 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 50 ]; do
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        if curl -s -o "$tmp/index" --max-time 2 "http://127.0.0.1:$p/index.html"; then
            port=$p
            break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$port" ] && break
    if kill -0 "$pid" 2>/dev/null; then fail "the installed server did not answer on $p within 5 s: $(cat "$tmp/server.out")"; fi
    wait "$pid" 2>/dev/null || :
    pid=
    grep -q "in use" "$tmp/server.out" "$root/logs/error_log" 2>/dev/null || fail "the installed server exited: $(cat "$tmp/server.out")"
done
[ -n "$port" ] || fail "no free port in 5 attempts"
cmp -s "$tmp/index" "$HTTPD_SRCDIR/htdocs/index.html" || fail "GET /index.html is not the installed htdocs/index.html"
[ "$(cat "$root/logs/httpd.pid" 2>/dev/null)" = "$pid" ] || fail "logs/httpd.pid does not hold $pid"
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -0 "$pid" 2>/dev/null && fail "the installed server did not stop within 5 s of TERM"
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || fail "the installed server exited with status $status after TERM"
grep -q '"GET /index.html HTTP/1.1" 200' "$root/logs/access_log" || fail "no request in logs/access_log"

echo "# reinstall keeps the edited conf/httpd.conf"
mk install
grep -q "^Listen 127.0.0.1:$port\$" "$root/conf/httpd.conf" || fail "a second make install replaced the edited conf/httpd.conf"
cmp -s "$HTTPD_SRCDIR/conf/httpd.conf" "$root/conf/original/httpd.conf" || fail "conf/original/httpd.conf is not the shipped one"

echo "# uninstall removes what is unchanged"
mk uninstall
left=$(cd "$dest" && find . -type f | sort | tr '\n' ' ')
want=".$HTTPD_PREFIX/conf/httpd.conf"
for f in $(cd "$dest" && find ".$HTTPD_PREFIX/logs" -type f | sort); do want="$want $f"; done
[ "$left" = "$want " ] || fail "after uninstall: left [$left], want [$want ]"
echo "# ok"
