#!/usr/bin/python3
"""SMTP capture server: a real SMTP peer for iaposte's tests (aiosmtpd 1.4, Debian's python3).

Every accepted message is stored byte-exact (the octets between DATA's 354 and the final
".", dot-unstuffing undone, CRLF line ends kept) as one file of a Maildir:

    DIR/new/<key>               the message (mailbox.Maildir layout: DIR/{tmp,new,cur})
    DIR/envelopes/<key>.json    {"key", "mail_from", "rcpt_tos", "mail_options",
                                 "rcpt_options", "peer", "helo", "tls", "auth_user",
                                 "received_at", "size"}

The envelope file is written (atomically) before the message is moved into new/, so once a
message is visible in new/ its envelope can be read at once. Read DIR/new/<key> as bytes
(mailbox.Maildir(DIR).get_bytes(key) gives the same bytes on Linux). The reply to the final
"." is "250 2.0.0 OK queued as <key>", so a client can find its own file.
Lines longer than 1000 octets (RFC 5321) get "500 Line too long".

Fault injection, chosen per message by the recipient's local part (prefixes can be chained,
e.g. "slow200-datafail1-bob@example.test"):

    tempfail<N>-...   RCPT gets "451 4.3.0 Temporary failure" the first N times that exact
                      recipient address is seen, then is accepted
    bounce-...        RCPT gets "550 5.1.1 No such user"
    datafail<N>-...   the final "." gets "451 4.3.0 Temporary failure" the first N times
                      (counted per recipient address), then the message is accepted
    slow<MS>-...      wait MS milliseconds before answering the final "."

Counts live in memory for the server's lifetime.

Random transient failures (chaos runs), independent of the prefixes above:

    --tempfail-rate R  each RCPT is answered "451 4.3.0 Temporary failure (chaos)" with
                       probability R (0..1; default 0: never). The draw is per RCPT command:
                       the n-th RCPT of a given address (compared case-insensitively) fails
                       when sha256("<seed>:<address>:<n>") read as a number in [0, 1) is
                       below R. So for a seed, the same address sees the same sequence of
                       refusals and acceptances whatever the order, timing or concurrency of
                       the sessions, and a run can be replayed. A bounce- address is refused
                       with 550 before the draw; a chaos refusal does not count as one of
                       the N refusals of a tempfail<N>- prefix.
    --seed N           the seed of those draws (default 0)

Usage:
    smtp_capture.py --listen HOST:PORT --maildir DIR
                    [--starttls CERT KEY] [--require-starttls]
                    [--implicit-tls CERT KEY]
                    [--auth USER:PASSWORD] [--auth-require-tls] [--auth-optional]
                    [--hostname NAME] [--size-limit BYTES] [--timeout S]
                    [--no-pipelining] [--quiet]
                    [--tempfail-rate R] [--seed N]

EHLO advertises SIZE, 8BITMIME, SMTPUTF8, PIPELINING, ENHANCEDSTATUSCODES, STARTTLS (with
--starttls, before TLS) and AUTH PLAIN LOGIN (with --auth; with --auth-require-tls only after
TLS). PORT 0 picks a free port. Once listening it prints "ready HOST:PORT" on stdout (flushed);
it logs one line per transaction (and per refused recipient; chaos refusals only without
--quiet) to stderr and exits 0 on SIGTERM or SIGINT. With --auth, AUTH PLAIN and LOGIN are
offered and MAIL FROM requires a successful AUTH (530 otherwise) unless --auth-optional is
given; --auth-require-tls refuses AUTH before TLS (STARTTLS or implicit).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import mailbox
import os
import re
import signal
import ssl
import sys
import time
import warnings
from datetime import datetime, timezone

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

_PREFIX = re.compile(r"(tempfail|datafail|slow)(\d+)-|(bounce)-", re.IGNORECASE)

TEMPFAIL_REPLY = "451 4.3.0 Temporary failure"
CHAOS_REPLY = "451 4.3.0 Temporary failure (chaos)"
BOUNCE_REPLY = "550 5.1.1 No such user"


def parse_faults(address: str) -> dict:
    """Fault directives at the start of the address's local part."""
    local = address.rsplit("@", 1)[0]
    faults: dict = {}
    pos = 0
    while True:
        m = _PREFIX.match(local, pos)
        if not m:
            break
        if m.group(3):
            faults["bounce"] = True
        else:
            faults[m.group(1).lower()] = int(m.group(2))
        pos = m.end()
    return faults


def chaos_draw(seed: int, address: str, n: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, address, n): the n-th RCPT of address."""
    digest = hashlib.sha256(f"{seed}:{address.lower()}:{n}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def log_line(msg: str) -> None:
    sys.stderr.write(f"{datetime.now(timezone.utc).isoformat(timespec='milliseconds')} {msg}\n")
    sys.stderr.flush()


class CaptureMaildir(mailbox.Maildir):
    """mailbox.Maildir plus an envelope sidecar written before the message becomes visible."""

    def __init__(self, path: str):
        # Maildir(create=True) makes tmp/new/cur only when DIR itself does not exist yet.
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        super().__init__(path, factory=None, create=True)
        self.envelope_dir = os.path.join(path, "envelopes")
        os.makedirs(self.envelope_dir, exist_ok=True)

    def add_with_envelope(self, data: bytes, envelope: dict) -> str:
        tmp_file = self._create_tmp()  # the same unique-name scheme as Maildir.add
        try:
            tmp_file.write(data)
        finally:
            tmp_file.close()
        key = os.path.basename(tmp_file.name).split(self.colon)[0]
        envelope = dict(envelope, key=key)
        env_path = os.path.join(self.envelope_dir, key + ".json")
        with open(env_path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(envelope, f, ensure_ascii=False)
        os.rename(env_path + ".tmp", env_path)
        os.rename(tmp_file.name, os.path.join(self._path, "new", key))
        return key


class CaptureHandler:
    def __init__(self, maildir: CaptureMaildir, quiet: bool, *, auth: bool, implicit_tls: bool,
                 pipelining: bool, tempfail_rate: float = 0.0, seed: int = 0):
        self.maildir = maildir
        self.quiet = quiet
        self.auth = auth
        self.implicit_tls = implicit_tls
        self.pipelining = pipelining
        self.rcpt_seen: dict[str, int] = {}
        self.data_seen: dict[str, int] = {}
        self.accepted = 0
        self.tempfail_rate = tempfail_rate
        self.seed = seed
        self.chaos_seen: dict[str, int] = {}
        self.chaos_refused = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        out = [r for r in responses
               if not r.startswith("250-AUTH") or (self.auth and r.strip() != "250-AUTH")]
        extra = ["250-ENHANCEDSTATUSCODES"]
        if self.pipelining:
            extra.insert(0, "250-PIPELINING")
        return out[:-1] + extra + out[-1:]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        faults = parse_faults(address)
        if faults.get("bounce"):
            log_line(f"rcpt-refused peer={_peer(session)} rcpt={address} reply={BOUNCE_REPLY!r}")
            return BOUNCE_REPLY
        if self.tempfail_rate > 0:
            key = address.lower()
            nth = self.chaos_seen.get(key, 0) + 1
            self.chaos_seen[key] = nth
            if chaos_draw(self.seed, key, nth) < self.tempfail_rate:
                self.chaos_refused += 1
                if not self.quiet:
                    log_line(f"rcpt-refused peer={_peer(session)} rcpt={address} "
                             f"reply={CHAOS_REPLY!r} chaos_try={nth}")
                return CHAOS_REPLY
        n = faults.get("tempfail")
        if n:
            seen = self.rcpt_seen.get(address, 0) + 1
            self.rcpt_seen[address] = seen
            if seen <= n:
                log_line(f"rcpt-refused peer={_peer(session)} rcpt={address} "
                         f"reply={TEMPFAIL_REPLY!r} try={seen}/{n}")
                return TEMPFAIL_REPLY
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        data: bytes = envelope.original_content
        slow_ms = 0
        fail = False
        for rcpt in envelope.rcpt_tos:
            faults = parse_faults(rcpt)
            slow_ms = max(slow_ms, faults.get("slow", 0))
            n = faults.get("datafail")
            if n:
                seen = self.data_seen.get(rcpt, 0) + 1
                self.data_seen[rcpt] = seen
                if seen <= n:
                    fail = True
        if slow_ms:
            await asyncio.sleep(slow_ms / 1000.0)
        base = (f"peer={_peer(session)} from={envelope.mail_from} "
                f"to={','.join(envelope.rcpt_tos)} size={len(data)}")
        if fail:
            log_line(f"data-refused {base} reply={TEMPFAIL_REPLY!r}")
            return TEMPFAIL_REPLY
        env = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
            "peer": _peer(session),
            "helo": session.host_name,
            "tls": self.implicit_tls or session.ssl is not None,
            "auth_user": _auth_user(session),
            "received_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            "size": len(data),
        }
        try:
            key = self.maildir.add_with_envelope(data, env)
        except OSError as e:
            log_line(f"store-failed {base} error={e!r}")
            return "451 4.3.0 Local storage failure"
        self.accepted += 1
        if not self.quiet:
            log_line(f"accepted {base} key={key}")
        return f"250 2.0.0 OK queued as {key}"


def _peer(session) -> str:
    p = session.peer
    if isinstance(p, tuple) and len(p) >= 2:
        return f"{p[0]}:{p[1]}"
    return str(p)


def _auth_user(session):
    d = getattr(session, "auth_data", None)
    if isinstance(d, LoginPassword):
        return d.login.decode("utf-8", "replace")
    if isinstance(d, (bytes, str)):
        return d.decode() if isinstance(d, bytes) else d
    return None


class Authenticator:
    def __init__(self, user: str, password: str):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login == self.user and auth_data.password == self.password
        log_line(f"auth peer={_peer(session)} mechanism={mechanism} "
                 f"user={auth_data.login.decode('utf-8', 'replace')} ok={ok}")
        if not ok:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)


def server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def main() -> int:
    ap = argparse.ArgumentParser(description="SMTP capture server for iaposte tests "
                                 "(see the module docstring for fault injection)")
    ap.add_argument("--listen", required=True, type=parse_listen, metavar="HOST:PORT")
    ap.add_argument("--maildir", required=True, metavar="DIR")
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"),
                    help="offer STARTTLS with this certificate chain and key")
    ap.add_argument("--require-starttls", action="store_true",
                    help="refuse commands other than EHLO/STARTTLS/NOOP/QUIT before STARTTLS")
    ap.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"),
                    help="TLS from connect (port 465 style)")
    ap.add_argument("--auth", metavar="USER:PASSWORD",
                    help="offer AUTH PLAIN and LOGIN for this account (required for MAIL)")
    ap.add_argument("--auth-require-tls", action="store_true",
                    help="refuse AUTH before TLS")
    ap.add_argument("--auth-optional", action="store_true",
                    help="with --auth: accept mail without AUTH too")
    ap.add_argument("--hostname", default="capture.iaposte.test",
                    help="name in the greeting and EHLO reply")
    ap.add_argument("--size-limit", type=int, default=64 * 1024 * 1024,
                    help="SIZE limit in bytes (552 beyond; default 64 MiB)")
    ap.add_argument("--timeout", type=float, default=300, help="idle timeout per connection, s")
    ap.add_argument("--no-pipelining", action="store_true",
                    help="do not advertise PIPELINING")
    ap.add_argument("--quiet", action="store_true",
                    help="do not log accepted messages (nor chaos refusals)")
    ap.add_argument("--tempfail-rate", type=float, default=0.0, metavar="R",
                    help="answer each RCPT 451 with probability R, 0..1 (default 0)")
    ap.add_argument("--seed", type=int, default=0, metavar="N",
                    help="seed of the --tempfail-rate draws (default 0)")
    args = ap.parse_args()

    if not 0.0 <= args.tempfail_rate <= 1.0:
        ap.error("--tempfail-rate must be between 0 and 1")

    if args.require_starttls and not args.starttls:
        ap.error("--require-starttls needs --starttls CERT KEY")
    if args.starttls and args.implicit_tls:
        ap.error("--starttls and --implicit-tls are exclusive")
    if (args.auth_require_tls or args.auth_optional) and not args.auth:
        ap.error("--auth-require-tls/--auth-optional need --auth USER:PASSWORD")

    # aiosmtpd logs every command at INFO on "mail.log" (and a warning per connection when AUTH
    # is required without TLS): keep only its errors.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    maildir = CaptureMaildir(os.path.abspath(args.maildir))
    handler = CaptureHandler(maildir, args.quiet, auth=bool(args.auth),
                             implicit_tls=bool(args.implicit_tls),
                             pipelining=not args.no_pipelining,
                             tempfail_rate=args.tempfail_rate, seed=args.seed)

    starttls_ctx = server_context(*args.starttls) if args.starttls else None
    implicit_ctx = server_context(*args.implicit_tls) if args.implicit_tls else None
    authenticator = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep:
            ap.error("--auth expects USER:PASSWORD")
        authenticator = Authenticator(user, password)

    smtp_kwargs = dict(
        data_size_limit=args.size_limit,
        enable_SMTPUTF8=True,
        decode_data=False,
        hostname=args.hostname,
        ident="iaposte smtp_capture",
        tls_context=starttls_ctx,
        require_starttls=args.require_starttls,
        timeout=args.timeout,
        auth_required=bool(args.auth) and not args.auth_optional,
        auth_require_tls=args.auth_require_tls,
        authenticator=authenticator,
    )
    if not args.auth:
        # No AUTH offered at all (handle_EHLO drops the then empty AUTH line).
        smtp_kwargs["auth_exclude_mechanism"] = ["PLAIN", "LOGIN"]
    # aiosmtpd warns when AUTH is required without TLS: that is a test setup, on purpose.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        proto = SMTP(handler, loop=loop, **smtp_kwargs)
        if implicit_ctx is not None:
            # Implicit TLS: the session is already protected (AUTH allowed, no STARTTLS).
            proto._tls_protocol = True  # noqa: SLF001 -- aiosmtpd checks it for AUTH-over-TLS
        return proto

    host, port = args.listen
    try:
        server = loop.run_until_complete(
            loop.create_server(factory, host=host, port=port, ssl=implicit_ctx,
                               reuse_address=True, backlog=1024))
    except OSError as e:
        print(f"smtp_capture: cannot listen on {host}:{port}: {e}", file=sys.stderr)
        return 2

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    sock_host, sock_port = server.sockets[0].getsockname()[:2]
    print(f"ready {sock_host}:{sock_port}", flush=True)
    log_line(f"listening {sock_host}:{sock_port} maildir={maildir._path} "
             f"starttls={bool(starttls_ctx)} implicit_tls={bool(implicit_ctx)} "
             f"auth={bool(args.auth)} tempfail_rate={args.tempfail_rate} seed={args.seed}")

    started = time.monotonic()
    loop.run_until_complete(stop.wait())
    server.close()
    loop.run_until_complete(server.wait_closed())
    log_line(f"stopping accepted={handler.accepted} chaos_refused={handler.chaos_refused} "
             f"uptime={time.monotonic() - started:.1f}s")
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
