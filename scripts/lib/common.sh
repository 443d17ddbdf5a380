# shellcheck shell=bash
# Shared helpers for scripts/setup, scripts/stack and .ci/run. Source it; it sets no shell options.

# Repository root (scripts/lib/..).
IAPOSTE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
# Per-checkout state: Kafka jars, stack data. Override with IAPOSTE_HOME.
IAPOSTE_HOME="${IAPOSTE_HOME:-$IAPOSTE_REPO/.state}"
# Kafka jars (kafka_2.13 4.1.1 + slf4j-reload4j, resolved by scripts/kafka/pom.xml).
IAPOSTE_KAFKA_LIBS="$IAPOSTE_HOME/kafka/libs"
IAPOSTE_KAFKA_JAR_COUNT=47

# Debian's python3 (has aiosmtpd); the first python3 in PATH may be a pyenv one without it.
IAPOSTE_PYTHON="${IAPOSTE_PYTHON:-/usr/bin/python3}"

_iaposte_prog="$(basename "${0:-iaposte}")"

log() { printf '%s: %s\n' "$_iaposte_prog" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$_iaposte_prog" "$*" >&2
  exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Run a command as root: directly when root, through sudo otherwise.
as_root() {
  if is_root; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    if sudo -n true 2>/dev/null; then sudo -n "$@"; else sudo "$@"; fi
  else
    die "need root for: $* (not root and no sudo)"
  fi
}

# True when the Debian package is installed ("install ok installed").
pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# Print N distinct free TCP ports on 127.0.0.1, one per line. The sockets are all held open
# until every port is chosen, so the N ports differ; another process may still take one
# before it is used (callers detect that when the component fails to bind).
free_ports() {
  "$IAPOSTE_PYTHON" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
for s in socks:
    s.close()
EOF
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Number of jars in the Kafka libs dir (0 when missing).
kafka_jar_count() {
  local n=0 f
  if [[ -d "$IAPOSTE_KAFKA_LIBS" ]]; then
    for f in "$IAPOSTE_KAFKA_LIBS"/*.jar; do
      [[ -e "$f" ]] && n=$((n + 1))
    done
  fi
  echo "$n"
}

# Fetch the Kafka broker jars with Maven unless they are all there already.
kafka_fetch_jars() {
  local n
  n="$(kafka_jar_count)"
  if [[ "$n" -ge "$IAPOSTE_KAFKA_JAR_COUNT" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (run scripts/setup)"
  log "fetching Kafka jars into $IAPOSTE_KAFKA_LIBS (have $n of $IAPOSTE_KAFKA_JAR_COUNT)"
  local tmp="$IAPOSTE_KAFKA_LIBS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # (Debian's Maven prints colour resets even in batch mode: strip them.)
  if ! mvn -q -B -f "$IAPOSTE_REPO/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$tmp" -DincludeScope=runtime 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2; then
    rm -rf "$tmp"
    die "mvn could not resolve the Kafka jars"
  fi
  rm -rf "$IAPOSTE_KAFKA_LIBS"
  mv "$tmp" "$IAPOSTE_KAFKA_LIBS"
  n="$(kafka_jar_count)"
  [[ "$n" -ge "$IAPOSTE_KAFKA_JAR_COUNT" ]] ||
    die "expected $IAPOSTE_KAFKA_JAR_COUNT Kafka jars, got $n in $IAPOSTE_KAFKA_LIBS"
  log "Kafka jars ready ($n)"
}

# The Python venv of bench/python_worker.py (bench/requirements.txt), in $IAPOSTE_HOME/pyvenv.
# Created or updated when bench/requirements.txt changed since the last install; dies with the
# pip output when the install fails. Prints the venv's python.
IAPOSTE_PYVENV="$IAPOSTE_HOME/pyvenv"
pyvenv_ensure() {
  local req="$IAPOSTE_REPO/bench/requirements.txt" stamp="$IAPOSTE_PYVENV/.requirements"
  if [[ -x "$IAPOSTE_PYVENV/bin/python" && -f "$stamp" ]] && cmp -s "$req" "$stamp"; then
    echo "$IAPOSTE_PYVENV/bin/python"
    return 0
  fi
  log "installing bench/requirements.txt into $IAPOSTE_PYVENV (pip)"
  if [[ ! -x "$IAPOSTE_PYVENV/bin/python" ]]; then
    "$IAPOSTE_PYTHON" -m venv "$IAPOSTE_PYVENV" >&2 ||
      die "could not create the venv $IAPOSTE_PYVENV: is python3-venv installed? (scripts/setup)"
  fi
  "$IAPOSTE_PYVENV/bin/python" -m pip install -q -r "$req" >&2 ||
    die "pip could not install bench/requirements.txt into $IAPOSTE_PYVENV (see above; the package index must be reachable)"
  "$IAPOSTE_PYVENV/bin/python" -c 'import aiokafka, aiosmtplib' ||
    die "$IAPOSTE_PYVENV lacks aiokafka/aiosmtplib after pip install"
  cp "$req" "$stamp"
  echo "$IAPOSTE_PYVENV/bin/python"
}
