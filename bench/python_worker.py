#!/usr/bin/env python3
"""The Python peer of iaposted: a worker doing our job with the usual asyncio libraries.

An aiokafka consumer (its own consumer group, manual commits) reads JSON requests
(schemas/iaposte.request.v1.json: request_id, tenant, from, to, subject, text, variables,
metadata), renders the `{var}` placeholders, builds the message with
email.message.EmailMessage (quoted-printable body, RFC 2047 subject, Date, Message-ID), sends
it over a pool of SMTP connections kept open and reused (aiosmtplib, 20 by default), and
produces a `sent` status event (schemas/iaposte.status.v1.json) with an idempotent aiokafka
producer (acks=all, linger 5 ms, as iaposted's). The offsets of a batch are committed once
every status event of that batch is acknowledged (at least once).

What it does not do that iaposted does: PostgreSQL (claims, history, the `sending` record before
the final dot) unless --pg is given, and then only one history row per message in a table of
its own; no `accepted` event; schema validation reduced to the fields it reads; no retries,
DLQ, rate limits, suppression list, DKIM or AI. It is a peer for throughput, not a product.

Exits after --count `sent` events (0: never) or --timeout seconds; prints a JSON summary.

  python_worker.py --brokers H:P --requests-topic T --status-topic S --group G \
      --smtp-host 127.0.0.1 --smtp-port P [--connections 20] [--count N] [--timeout 600]
      [--pg postgresql://...]
"""
import argparse
import asyncio
import datetime
import email.policy
import email.utils
import json
import re
import sys
import time
from email.message import EmailMessage

import aiosmtplib
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


def render(template, variables):
    """`{name}` -> variables[name]; `{{` and `}}` -> literal braces; unknown names kept."""

    def sub(m):
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        value = variables.get(m.group(1))
        return m.group(0) if value is None else str(value)

    return PLACEHOLDER.sub(sub, template)


def now_iso():
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def build(req):
    variables = req.get("variables") or {}
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = req["from"]
    msg["To"] = ", ".join(req["to"])
    msg["Subject"] = render(req["subject"], variables)
    msg["Date"] = email.utils.format_datetime(datetime.datetime.now(datetime.timezone.utc))
    domain = req["from"].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = email.utils.make_msgid(domain=domain)  # domain given: no getfqdn()
    msg.set_content(render(req.get("text", ""), variables), charset="utf-8",
                    cte="quoted-printable")
    return msg


class SmtpPool:
    """N connections opened up front and reused; a send takes an idle one."""

    def __init__(self, host, port, size):
        self.host, self.port, self.size = host, port, size
        self.idle = asyncio.Queue()

    def _client(self):
        return aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=30,
                               use_tls=False, start_tls=False, local_hostname="iaposte.test")

    async def open(self):
        for _ in range(self.size):
            c = self._client()
            await c.connect()
            self.idle.put_nowait(c)

    async def send(self, msg, sender, recipients):
        c = await self.idle.get()
        try:
            for attempt in (1, 2):
                try:
                    if not c.is_connected:
                        await c.connect()
                    return await c.send_message(msg, sender=sender, recipients=recipients)
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    c = self._client()  # the server closed it: one fresh connection, once
                    if attempt == 2:
                        raise
        finally:
            self.idle.put_nowait(c)

    async def close(self):
        while not self.idle.empty():
            c = self.idle.get_nowait()
            try:
                await c.quit()
            except Exception:
                c.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--requests-topic", required=True)
    ap.add_argument("--status-topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--smtp-host", default="127.0.0.1")
    ap.add_argument("--smtp-port", type=int, required=True)
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--batch", type=int, default=500, help="records per poll and commit")
    ap.add_argument("--count", type=int, default=0, help="exit after this many sent (0: never)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--pg", help="PostgreSQL DSN: also insert one history row per message")
    a = ap.parse_args()

    pg = None
    if a.pg:
        import asyncpg  # only needed with --pg
        pg = await asyncpg.create_pool(a.pg, min_size=a.connections, max_size=a.connections)
        await pg.execute("""CREATE TABLE IF NOT EXISTS pyworker_history (
            id bigserial PRIMARY KEY, tenant text NOT NULL, request_id text NOT NULL,
            status text NOT NULL, message_id text, smtp_reply text, at timestamptz NOT NULL)""")

    pool = SmtpPool(a.smtp_host, a.smtp_port, a.connections)
    await pool.open()
    producer = AIOKafkaProducer(bootstrap_servers=a.brokers, enable_idempotence=True, acks="all",
                                linger_ms=5)
    consumer = AIOKafkaConsumer(a.requests_topic, bootstrap_servers=a.brokers, group_id=a.group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_poll_records=a.batch)
    await producer.start()
    await consumer.start()
    counts = {"sent": 0, "failed": 0, "rejected": 0}

    async def handle(record):
        status, extra = "sent", {}
        try:
            req = json.loads(record.value)
            request_id, tenant = req["request_id"], req["tenant"]
        except (ValueError, KeyError, TypeError) as e:
            req, request_id, tenant = {}, "", ""
            status, extra = "rejected", {"reason": f"unreadable request: {e}"}
        message_id = ""
        if status == "sent":
            try:
                msg = build(req)
                message_id = msg["Message-ID"]
                _, reply = await pool.send(msg, req["from"], req["to"])
                extra = {"smtp": {"code": 250, "enhanced": "", "text": reply}}
            except aiosmtplib.SMTPResponseException as e:
                status = "bounced" if e.code >= 500 else "failed"
                extra = {"smtp": {"code": e.code, "enhanced": "", "text": e.message},
                         "reason": e.message or "SMTP error"}
            except Exception as e:  # a malformed request, a dead server
                status, extra = "failed", {"reason": f"{type(e).__name__}: {e}"}
        event = {"schema": "iaposte.status.v1", "request_id": request_id, "tenant": tenant,
                 "status": status, "attempt": 1 if status != "rejected" else 0,
                 "message_id": message_id, "timestamp": now_iso(),
                 "metadata": req.get("metadata") or {}, **extra}
        if pg is not None and status != "rejected":
            await pg.execute("INSERT INTO pyworker_history (tenant, request_id, status, message_id,"
                             " smtp_reply, at) VALUES ($1, $2, $3, $4, $5, now())",
                             tenant, request_id, status, message_id,
                             (extra.get("smtp") or {}).get("text"))
        ack = await producer.send(a.status_topic, json.dumps(event).encode(),
                                  key=request_id.encode())
        await ack  # acknowledged by the broker before the batch is committed
        counts[status if status in counts else "failed"] += 1

    started = time.monotonic()
    deadline = started + a.timeout
    timed_out = False
    try:
        while a.count == 0 or counts["sent"] < a.count:
            if time.monotonic() > deadline:
                timed_out = True
                break
            batches = await consumer.getmany(timeout_ms=200, max_records=a.batch)
            records = [r for rs in batches.values() for r in rs]
            if not records:
                continue
            await asyncio.gather(*(handle(r) for r in records))
            await consumer.commit()  # the positions after this batch: every event acked
    finally:
        await consumer.stop()
        await producer.stop()
        await pool.close()
        if pg is not None:
            await pg.close()
    print(json.dumps({**counts, "seconds": round(time.monotonic() - started, 3),
                      "timed_out": timed_out}))
    return 1 if timed_out else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
