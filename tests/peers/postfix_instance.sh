#!/usr/bin/env bash
# A throw-away Postfix instance (Debian's postfix) for interoperability tests: smtpd on
# 127.0.0.1:PORT with STARTTLS required, optionally implicit TLS (smtps, RFC 8314) on a second
# port, Cyrus SASL (sasldb) AUTH PLAIN/LOGIN when a user is given, and delivery of
# LOCAL@example.net (LOCAL in [a-z0-9-]+) to the maildir DIR/mail/inbox/.
#
#   tests/peers/postfix_instance.sh --dir DIR --port PORT --cert CERT --key KEY
#       [--smtps-port PORT] [--user USER --password PASSWORD] [--message-size-limit BYTES]
#
# Writes DIR/etc (main.cf, master.cf), DIR/queue, DIR/data, DIR/mail, DIR/etc/sasl, then execs
# Postfix's master(8) in the foreground: the caller owns the instance through that pid
# (SIGTERM stops master and every Postfix process it started). Postfix logs to DIR/maillog.
#
# Must run as root: master binds and drops privileges to mail_owner (postfix), and virtual(8)
# delivers as nobody. DIR (made by the caller, usually mkdtemp's 0700) is opened to 0755 so
# that those users can reach the queue and the maildir.
#
# AUTH needs saslpasswd2 (Debian's sasl2-bin) to write the sasldb; Postfix's own SASL is only
# Cyrus or Dovecot, and Cyrus with a sasldb file is the one that needs no daemon.
set -euo pipefail

usage() {
  echo "usage: $0 --dir DIR --port PORT --cert CERT --key KEY [--smtps-port PORT]" \
    "[--user USER --password PASSWORD] [--message-size-limit BYTES]" >&2
  exit 2
}
dir='' port='' cert='' key='' smtps_port='' user='' password='' size_limit=10240000
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || usage
  case "$1" in
    --dir) dir=$2 ;;
    --port) port=$2 ;;
    --cert) cert=$2 ;;
    --key) key=$2 ;;
    --smtps-port) smtps_port=$2 ;;
    --user) user=$2 ;;
    --password) password=$2 ;;
    --message-size-limit) size_limit=$2 ;;
    *) usage ;;
  esac
  shift 2
done
[[ -n $dir && -n $port && -n $cert && -n $key ]] || usage
dir=$(cd "$dir" && pwd -P)

[[ $(id -u) -eq 0 ]] || {
  echo "$0: must run as root (Postfix's master drops privileges itself)" >&2
  exit 2
}
daemon_directory=/usr/lib/postfix/sbin
[[ -x $daemon_directory/master ]] || {
  echo "$0: $daemon_directory/master not found (apt-get install postfix)" >&2
  exit 2
}
if ! id postfix >/dev/null || ! getent group postdrop >/dev/null; then
  echo "$0: the postfix user or the postdrop group is missing" >&2
  exit 2
fi

etc=$dir/etc
chmod 0755 "$dir"
mkdir -p "$etc" "$dir/queue" "$dir/data" "$dir/mail" "$dir/tls"
chown postfix: "$dir/data"
chown nobody:nogroup "$dir/mail"
# smtpd reads the key as root before dropping privileges, but keep the copies private anyway.
install -m 0644 "$cert" "$dir/tls/server.pem"
install -m 0600 "$key" "$dir/tls/server.key"

# Debian's master.cf (every service Postfix needs internally) without the chroot: a chroot
# would need copies of /etc/hosts, the resolver and the sasl plugins inside the queue.
cp /usr/share/postfix/master.cf.dist "$etc/master.cf"
touch "$etc/main.cf"
# Every LOCAL@example.net with LOCAL in [a-z0-9-]+ goes to the one maildir DIR/mail/inbox/
# (its Delivered-To header tells the recipient; virtual(8) refuses $1 substitution in
# regexp results); any other address is "550 5.1.1 User unknown in virtual mailbox table".
printf '%s\n' '/^[a-z0-9-]+@example\.net$/ inbox/' >"$etc/virtual_mailbox"
pc() { postconf -c "$etc" "$@"; }
pc -F '*/*/chroot = n'
pc -MX smtp/inet
pc -Me "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd"
if [[ -n $smtps_port ]]; then
  pc -Me "127.0.0.1:$smtps_port/inet = 127.0.0.1:$smtps_port inet n - n - - smtpd"
  pc -P "127.0.0.1:$smtps_port/inet/smtpd_tls_wrappermode=yes"
fi

pc -e \
  "compatibility_level = 3.6" \
  "queue_directory = $dir/queue" \
  "data_directory = $dir/data" \
  "daemon_directory = $daemon_directory" \
  "mail_owner = postfix" \
  "setgid_group = postdrop" \
  "maillog_file_prefixes = $dir" \
  "maillog_file = $dir/maillog" \
  "myhostname = mx.test" \
  "message_size_limit = $size_limit" \
  "mydomain = test" \
  "myorigin = mx.test" \
  "mydestination =" \
  "inet_interfaces = 127.0.0.1" \
  "inet_protocols = ipv4" \
  "mynetworks = 127.0.0.0/8" \
  "alias_maps =" \
  "alias_database =" \
  "biff = no" \
  "smtputf8_enable = yes" \
  "local_header_rewrite_clients =" \
  "smtpd_banner = \$myhostname ESMTP iaposte-interop" \
  "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination" \
  "virtual_mailbox_domains = example.net" \
  "virtual_mailbox_base = $dir/mail" \
  "virtual_mailbox_maps = regexp:$etc/virtual_mailbox" \
  "virtual_uid_maps = static:$(id -u nobody)" \
  "virtual_gid_maps = static:$(getent group nogroup | cut -d: -f3)" \
  "virtual_minimum_uid = 1" \
  "smtpd_tls_security_level = encrypt" \
  "smtpd_tls_cert_file = $dir/tls/server.pem" \
  "smtpd_tls_key_file = $dir/tls/server.key" \
  "smtpd_tls_loglevel = 1" \
  "smtpd_tls_received_header = yes" \
  "default_transport = error:the test instance delivers to example.net only" \
  "notify_classes ="

if [[ -n $user ]]; then
  command -v saslpasswd2 >/dev/null || {
    echo "$0: saslpasswd2 not found (apt-get install sasl2-bin)" >&2
    exit 2
  }
  mkdir -p "$etc/sasl"
  # Cyrus appends the realm to a bare login; smtpd_sasl_local_domain sets it, and the
  # sasldb entry is made in the same realm.
  printf '%s' "$password" | saslpasswd2 -p -c -f "$etc/sasl/sasldb2" -u mx.test "$user"
  chown root:postfix "$etc/sasl/sasldb2"
  chmod 0640 "$etc/sasl/sasldb2"
  cat >"$etc/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $etc/sasl/sasldb2
mech_list: PLAIN LOGIN
EOF
  pc -e \
    "smtpd_sasl_auth_enable = yes" \
    "smtpd_sasl_type = cyrus" \
    "smtpd_sasl_path = smtpd" \
    "cyrus_sasl_config_path = $etc/sasl" \
    "smtpd_sasl_local_domain = mx.test" \
    "smtpd_tls_auth_only = yes" \
    "smtpd_relay_restrictions = permit_sasl_authenticated, reject"
fi

# The daemons run as postfix and deliver as nobody: every parent of DIR must let them through
# (a TMPDIR under a 0700 home does not).
if ! runuser -u postfix -- test -r "$etc/main.cf" || ! runuser -u nobody -- test -w "$dir/mail"; then
  echo "$0: $dir is not reachable by the postfix and nobody users (a parent directory is" \
    "not searchable; use a TMPDIR such as /tmp)" >&2
  exit 2
fi

# Creates the queue directories with their owners and modes (postfix-files).
postfix -c "$etc" check
exec "$daemon_directory/master" -c "$etc"
