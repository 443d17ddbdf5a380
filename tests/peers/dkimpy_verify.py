#!/usr/bin/python3
"""An independent DKIM verifier for the tests: Debian's dkimpy (python3-dkim), DNS replaced by
the TXT records the caller gives.

Co-process mode (no argument), so that a test pays Python's start-up once: requests on stdin,
    <message length> <record count> [literal-h]\n
    <name>=<TXT value>\n          (record count lines, e.g. s1._domainkey.example.org=v=DKIM1; ...)
    <message bytes>
answers on stdout, one line per DKIM-Signature of the message, topmost first, each checked on
its own, then "end":
    ok|fail\t<d>\t<s>\t<a>\t<why dkimpy refused it>\n ... end\n
"literal-h" turns off dkimpy's own defence against a second From (it hashes one From more
than h= lists): the verdict is then what h= alone protects, as a verifier without that
defence sees it.

File mode, for a person: dkimpy_verify.py MESSAGE NAME=TXT... prints the same answer and exits
0 when every signature verifies.
"""
import io
import json
import logging
import sys

import dkim


class _LiteralH(list):
    """h= as written: ignores the extra b'from' dkimpy appends (bug #644046's workaround)."""

    def append(self, name):
        if name != b"from":
            super().append(name)


class _LiteralDKIM(dkim.DKIM):
    def verify_sig(self, sig, include_headers, sig_header, dnsfunc):
        return super().verify_sig(sig, _LiteralH(include_headers), sig_header, dnsfunc)


def verify_all(message: bytes, records: dict, literal_h: bool = False) -> list:
    def dnsfunc(name, timeout=5):
        key = name.decode() if isinstance(name, bytes) else name
        txt = records.get(key.rstrip("."))
        return txt.encode() if txt is not None else None

    out = []
    count = sum(1 for name, _ in dkim.DKIM(message).headers if name.lower() == b"dkim-signature")
    for idx in range(count):
        # dkimpy says why a signature fails only in its debug log: keep it for the answer.
        log = io.StringIO()
        logger = logging.getLogger(f"dkimpy-{idx}")
        logger.handlers[:] = [logging.StreamHandler(log)]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        d = (_LiteralDKIM if literal_h else dkim.DKIM)(message, logger=logger, minkey=1024)
        try:
            ok = bool(d.verify(idx=idx, dnsfunc=dnsfunc))
            why = "" if ok else "the signature does not match the signed header fields"
        except Exception as e:  # dkimpy's own errors, and nacl's for a mismatched key
            ok, why = False, f"{type(e).__name__}: {e}"
        sig = d.signature_fields or {}
        out.append({
            "d": sig.get(b"d", b"").decode(errors="replace"),
            "s": sig.get(b"s", b"").decode(errors="replace"),
            "a": sig.get(b"a", b"").decode(errors="replace"),
            "ok": ok,
            "why": why,
        })
    return out


def main() -> int:
    if len(sys.argv) > 1:
        with open(sys.argv[1], "rb") as f:
            message = f.read()
        records = dict(arg.split("=", 1) for arg in sys.argv[2:])
        sigs = verify_all(message, records)
        print(json.dumps({"signatures": sigs}, indent=2))
        return 0 if sigs and all(s["ok"] for s in sigs) else 1
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.readline()
        if not head:
            return 0
        words = head.split()
        size, count, literal_h = int(words[0]), int(words[1]), b"literal-h" in words[2:]
        records = dict(stdin.readline().decode().rstrip("\n").split("=", 1) for _ in range(count))
        message = stdin.read(size)
        try:
            sigs = verify_all(message, records, literal_h)
        except Exception as e:  # a message dkimpy cannot parse is an answer, not a crash
            sigs = [{"d": "", "s": "", "a": "", "ok": False, "why": f"{type(e).__name__}: {e}"}]
        for sig in sigs:
            fields = [("ok" if sig["ok"] else "fail"), sig["d"], sig["s"], sig["a"], sig["why"]]
            stdout.write("\t".join(f.replace("\t", " ").replace("\n", " ") for f in fields).encode()
                         + b"\n")
        stdout.write(b"end\n")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
