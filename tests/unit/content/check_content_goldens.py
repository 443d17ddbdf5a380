#!/usr/bin/python3
"""Reads the content stage's golden messages (tests/data/content/*.eml) with an independent MIME
implementation: Python's email package with policy.strict.

Usage: /usr/bin/python3 tests/unit/content/check_content_goldens.py [REPO_ROOT]

For each message: CRLF line ends only, no line over 998 octets; parsed from the bytes with
email.policy.strict (a parser defect raises) and no header defect reported; Subject, From and
To decode; every text part decodes as UTF-8; every base64 part decodes; an inline part's
Content-ID is shown by the HTML as cid:; the DKIM-Signature fields (when present) list From
twice (over-signed). Prints "N passed, N failed" and exits non-zero on any failure.
"""
import email
import email.policy
import pathlib
import sys

ROOT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[3]
passed, failed = 0, 0


def check(path):
    raw = path.read_bytes()
    lines = raw.split(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b""), "a bare LF"
    assert b"\r" not in raw.replace(b"\r\n", b""), "a bare CR"
    assert all(len(line) <= 998 for line in lines), "a line over 998 octets"
    msg = email.message_from_bytes(raw, policy=email.policy.strict)
    for name in ("Subject", "From", "To", "Date", "Message-ID"):
        assert msg[name], f"no {name}"
    defects = [d for part in msg.walk() for d in part.defects]
    assert not defects, f"defects: {defects}"
    html, cids = "", []
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if part.get_content_maintype() == "text":
            text = payload.decode("utf-8")
            if part.get_content_subtype() == "html":
                html += text
        if part["Content-ID"]:
            cids.append(part["Content-ID"].strip("<>"))
    for cid in cids:
        assert f"cid:{cid}" in html, f"inline part {cid} not shown by the HTML"
    for sig in msg.get_all("DKIM-Signature") or []:
        h = "".join(str(sig).split()).split("h=", 1)[1].split(";", 1)[0].lower().split(":")
        assert h.count("from") == 2, f"From not over-signed: {h}"


for path in sorted((ROOT / "tests" / "data" / "content").glob("*.eml")):
    try:
        check(path)
        passed += 1
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failed += 1
        print(f"FAIL {path.name}: {e}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
