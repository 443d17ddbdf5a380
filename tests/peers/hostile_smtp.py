#!/usr/bin/python3
"""A hostile SMTP server for the SMTP client tests: what real servers don't do, on purpose.

    hostile_smtp.py --listen 127.0.0.1:PORT --log FILE --mode MODE[:PHASE] [--tls CERT KEY]
                    [--delay SECONDS]

Python stdlib only (asyncio). Behaves like a plain ESMTP server (PIPELINING, 8BITMIME,
ENHANCEDSTATUSCODES, STARTTLS when --tls is given; every message accepted) except at PHASE, one
of: greeting, ehlo, starttls, mail, rcpt, data, dot (the end of the message data), rset, quit.

Modes that take a PHASE:
  stall        never answer (keep reading and discarding)
  drip         send the reply one byte at a time, --delay seconds apart
  drip-forever send an endless valid multi-line reply one byte at a time, --delay apart
  huge         answer with a reply line of 64 MiB (written in 1 MiB pieces until the client
               hangs up)
  close        close the connection instead of answering
  421          answer "421 4.3.2 ..." and close
Modes without a PHASE:
  split            every reply written in small pieces, cut inside codes, between CR and LF,
                   inside capability keywords, --delay apart
  starttls-garbage answer STARTTLS with 220, then send bytes that are not TLS
  starttls-close   answer STARTTLS with 220, then close
  starttls-stall   answer STARTTLS with 220, then never start the handshake
  starttls-inject  answer STARTTLS with "220" and, in the same write, a forged
                   "554 5.7.0 injected" that a client must discard (it came before TLS)
  normal           no hostility

The log gets one line per event, "CONN EVENT", flushed at once: "1 connect", "1 EHLO client.test",
"1 tls", "1 message 123 bytes", "1 closed". Stops on SIGTERM.
"""
import argparse
import asyncio
import itertools
import signal
import ssl

PHASES = {"greeting", "ehlo", "starttls", "mail", "rcpt", "data", "dot", "rset", "quit"}
PHASE_MODES = {"stall", "drip", "drip-forever", "huge", "close", "421"}
OTHER_MODES = {"split", "starttls-garbage", "starttls-close", "starttls-stall",
               "starttls-inject", "normal"}


class Hangup(Exception):
    """The script decided to end this connection."""


class Session:
    def __init__(self, server, reader, writer, conn):
        self.srv = server
        self.reader = reader
        self.writer = writer
        self.conn = conn
        self.tls = False

    def log(self, event):
        self.srv.log(self.conn, event)

    async def send(self, data):
        if self.srv.mode == "split":
            # Cut after 1, 2, 3, ... bytes in turn: lands inside codes, keywords and CRLFs.
            # No pause after the last piece: a 220 to STARTTLS is followed by the handshake at
            # once, before the client's first TLS bytes can be read as plain text here.
            pos, sizes = 0, itertools.cycle([1, 2, 3, 5, 7])
            while pos < len(data):
                if pos:
                    await asyncio.sleep(self.srv.delay)
                n = next(sizes)
                self.writer.write(data[pos:pos + n])
                await self.writer.drain()
                pos += n
        else:
            self.writer.write(data)
            await self.writer.drain()

    async def stall(self):
        while await self.reader.read(4096):
            pass
        raise Hangup()

    async def hostile(self, phase, reply):
        """Answers `reply` to PHASE, or does what the mode says when PHASE is the one."""
        if phase != self.srv.phase:
            await self.send(reply)
            return
        mode = self.srv.mode
        self.log("hostile " + mode + " at " + phase)
        if mode == "stall":
            await self.stall()
        elif mode == "drip":
            for i in range(len(reply)):
                self.writer.write(reply[i:i + 1])
                await self.writer.drain()
                await asyncio.sleep(self.srv.delay)
        elif mode == "drip-forever":
            code = reply[:3]
            while True:
                for b in code + b"-still talking\r\n":
                    self.writer.write(bytes([b]))
                    await self.writer.drain()
                    await asyncio.sleep(self.srv.delay)
        elif mode == "huge":
            self.writer.write(reply[:3] + b" ")
            piece = b"x" * (1 << 20)
            for _ in range(64):
                self.writer.write(piece)
                await self.writer.drain()
            self.writer.write(b"\r\n")
            await self.writer.drain()
            await self.stall()
        elif mode == "close":
            raise Hangup()
        elif mode == "421":
            await self.send(b"421 4.3.2 hostile.test closing at " + phase.encode() + b"\r\n")
            raise Hangup()

    def ehlo_reply(self):
        lines = [b"hostile.test greets you", b"PIPELINING", b"8BITMIME"]
        if self.srv.tls_context is not None and not self.tls:
            lines.append(b"STARTTLS")
        lines.append(b"ENHANCEDSTATUSCODES")
        return b"".join(b"250-" + l + b"\r\n" for l in lines[:-1]) + b"250 " + lines[-1] + b"\r\n"

    async def starttls(self):
        mode = self.srv.mode
        if mode == "starttls-garbage":
            await self.send(b"220 2.0.0 ready\r\n")
            await asyncio.sleep(0.05)  # a separate read: the client is in its handshake now
            await self.send(b"HTTP/1.1 400 Bad Request\r\nthis is not TLS\r\n\r\n" * 4)
            await self.stall()
        if mode == "starttls-close":
            await self.send(b"220 2.0.0 ready\r\n")
            raise Hangup()
        if mode == "starttls-stall":
            await self.send(b"220 2.0.0 ready\r\n")
            await self.stall()
        ready = b"220 2.0.0 ready\r\n"
        if mode == "starttls-inject":
            # One write, so one segment: the client reads both before its handshake.
            ready += b"554 5.7.0 injected before TLS\r\n"
        await self.hostile("starttls", ready)
        await self.writer.start_tls(self.srv.tls_context)
        self.tls = True
        self.log("tls")

    async def read_data(self):
        size = 0
        while True:
            line = await self.reader.readuntil(b"\n")
            if line == b".\r\n":
                return size
            size += len(line) - (1 if line.startswith(b".") else 0)  # dot-stuffing undone

    async def run(self):
        self.log("connect")
        await self.hostile("greeting", b"220 hostile.test ESMTP\r\n")
        while True:
            try:
                line = await self.reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                raise Hangup()
            command = line.rstrip(b"\r\n").decode("latin-1")
            self.log(command)
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                await self.hostile("ehlo", self.ehlo_reply())
            elif verb == "HELO":
                await self.hostile("ehlo", b"250 hostile.test\r\n")
            elif verb == "STARTTLS" and self.srv.tls_context is not None and not self.tls:
                await self.starttls()
            elif verb == "MAIL":
                await self.hostile("mail", b"250 2.1.0 ok\r\n")
            elif verb == "RCPT":
                await self.hostile("rcpt", b"250 2.1.5 ok\r\n")
            elif verb == "DATA":
                await self.hostile("data", b"354 go ahead\r\n")
                size = await self.read_data()
                self.srv.messages += 1
                self.log("message %d bytes" % size)
                await self.hostile("dot", b"250 2.0.0 queued as %d\r\n" % self.srv.messages)
            elif verb == "RSET":
                await self.hostile("rset", b"250 2.0.0 reset\r\n")
            elif verb == "NOOP":
                await self.send(b"250 2.0.0 ok\r\n")
            elif verb == "QUIT":
                await self.hostile("quit", b"221 2.0.0 bye\r\n")
                raise Hangup()
            else:
                await self.send(b"502 5.5.2 not here\r\n")


class Server:
    def __init__(self, args):
        mode, _, phase = args.mode.partition(":")
        if mode in PHASE_MODES:
            if phase not in PHASES:
                raise SystemExit("mode %s needs a phase: %s" % (mode, sorted(PHASES)))
        elif mode not in OTHER_MODES or phase:
            raise SystemExit("unknown mode " + args.mode)
        self.mode, self.phase = mode, phase or None
        self.delay = args.delay
        self.tls_context = None
        if args.tls:
            self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls_context.load_cert_chain(*args.tls)
        self.logfile = open(args.log, "a", buffering=1, encoding="utf-8")
        self.connections = itertools.count(1)
        self.messages = 0

    def log(self, conn, event):
        self.logfile.write("%d %s\n" % (conn, event))

    async def handle(self, reader, writer):
        s = Session(self, reader, writer, next(self.connections))
        try:
            await s.run()
        except (Hangup, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            s.log("closed")
            writer.transport.abort()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", required=True, help="HOST:PORT")
    p.add_argument("--log", required=True)
    p.add_argument("--mode", default="normal")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--delay", type=float, default=0.005)
    args = p.parse_args()
    server = Server(args)
    host, port = args.listen.rsplit(":", 1)

    loop = asyncio.new_event_loop()
    listener = loop.run_until_complete(
        asyncio.start_server(server.handle, host, int(port), limit=1 << 22))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    try:
        loop.run_forever()
    finally:
        listener.close()


if __name__ == "__main__":
    main()
