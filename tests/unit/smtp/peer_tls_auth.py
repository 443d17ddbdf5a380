#!/usr/bin/python3
"""A capturing SMTP peer for the SMTP client tests: aiosmtpd with STARTTLS, implicit TLS, AUTH
(PLAIN, LOGIN, XOAUTH2) and the extensions PIPELINING, SIZE, 8BITMIME and SMTPUTF8.

Run with Debian's /usr/bin/python3 (python3-aiosmtpd 1.4.3). Flags follow tests/peers/smtp_capture.py
so either can serve. Every accepted message is written to MAILDIR as NNNN.eml (the content as
received, un-dot-stuffed, CRLF kept) and then NNNN.json (envelope, TLS, SNI of the last
handshake, AUTH login).
"""
import argparse
import asyncio
import base64
import json
import os
import signal
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Capture:
    def __init__(self, maildir, args):
        self.maildir = maildir
        self.count = 0
        self.last_sni = None
        self.args = args
        self.refusals = [r.split(":", 1) for r in args.refuse_rcpt]
        self.xoauth2 = args.xoauth2.split(":", 1) if args.xoauth2 else None

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.args.no_8bitmime:
            responses = [r for r in responses if r[4:] != "8BITMIME"]
        if self.args.pipelining:
            # aiosmtpd reads one command line at a time from its stream, so a pipelined group
            # is served in order; it only does not say so.
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for needle, answer in self.refusals:
            if needle in address:
                return answer
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def auth_XOAUTH2(self, server, args):
        # Google's XOAUTH2: initial response base64("user=U^Aauth=Bearer T^A^A"); a refused token
        # gets a 334 with a base64 JSON status, the client answers with an empty line, then 535.
        try:
            raw = base64.b64decode(args[1], validate=True).decode()
            fields = dict(f.split("=", 1) for f in raw.split("\x01") if f)
            user, token = fields["user"], fields["auth"]
        except Exception:
            return AuthResult(success=False, handled=False)
        if self.xoauth2 and user == self.xoauth2[0] and token == "Bearer " + self.xoauth2[1]:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b"xoauth2"))
        await server.challenge_auth('{"status":"401","schemes":"bearer","scope":"mail"}')
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.maildir, "%04d" % self.count)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.tmp", base + ".eml")
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "sni": self.last_sni,
            "auth": session.auth_data.login.decode() if session.authenticated else None,
            "mail_options": envelope.mail_options,
            "smtputf8": bool(getattr(envelope, "smtp_utf8", False)),
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f, ensure_ascii=False)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 Ok: queued as %04d" % self.count


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data)
    return authenticate


def server_context(cert, key, handler):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def remember_sni(ssl_object, server_name, context):
        handler.last_sni = server_name
    ctx.sni_callback = remember_sni
    return ctx


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="HOST:PORT")
    p.add_argument("--maildir", required=True)
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--auth", metavar="USER:PASS")
    p.add_argument("--auth-require-tls", action="store_true")
    p.add_argument("--auth-exclude", action="append", default=[], metavar="MECH",
                   help="do not offer this SASL mechanism (e.g. PLAIN to force LOGIN)")
    p.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--pipelining", action="store_true", help="announce PIPELINING")
    p.add_argument("--no-8bitmime", action="store_true", help="do not announce 8BITMIME")
    p.add_argument("--smtputf8", action="store_true", help="announce and accept SMTPUTF8")
    p.add_argument("--size", type=int, default=2**25, help="SIZE limit (0: SIZE not announced)")
    p.add_argument("--refuse-rcpt", action="append", default=[], metavar="SUBSTRING:REPLY",
                   help='answer REPLY to RCPT for addresses containing SUBSTRING')
    p.add_argument("--xoauth2", metavar="USER:TOKEN", help="accept this XOAUTH2 user and token")
    args = p.parse_args()

    host, port = args.listen.rsplit(":", 1)
    os.makedirs(args.maildir, exist_ok=True)
    handler = Capture(args.maildir, args)
    starttls_ctx = server_context(*args.starttls, handler) if args.starttls else None
    implicit_ctx = server_context(*args.implicit_tls, handler) if args.implicit_tls else None

    kwargs = dict(hostname="peer.test", tls_context=starttls_ctx,
                  require_starttls=args.require_starttls,
                  # Over implicit TLS aiosmtpd does not know the channel is encrypted.
                  auth_require_tls=args.auth_require_tls and implicit_ctx is None,
                  auth_exclude_mechanism=args.auth_exclude + ([] if args.xoauth2 else ["XOAUTH2"]),
                  data_size_limit=args.size or None, enable_SMTPUTF8=args.smtputf8)
    if args.auth:
        user, password = args.auth.split(":", 1)
        kwargs["authenticator"] = authenticator_for(user, password)
    elif args.xoauth2:
        kwargs["authenticator"] = authenticator_for("", "\x00never")

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, **kwargs), host=host, port=int(port), ssl=implicit_ctx))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
