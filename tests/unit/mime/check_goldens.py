#!/usr/bin/python3
"""Checks the golden messages with an independent MIME implementation (Python's email package).

Usage: /usr/bin/python3 tests/unit/mime/check_goldens.py [REPO_ROOT]

For each tests/data/mime/NN-name.json and its NN-name.eml:
- the bytes: CRLF line endings only, no line over 998 octets, header lines within 78;
- parsed with email.policy.default, Subject, From, To, Cc, Reply-To decode to the request's
  values (display names and addresses), Bcc appears nowhere, Message-ID and Date are the given ones;
- the text/plain and text/html parts decode to the request's text and html (line breaks
  normalised; a single-part body may gain a final line break), multipart/alternative with text
  first when both are present;
- the extra headers are present, in the request's order, with their decoded values.
Prints "N passed, N failed" and exits non-zero on any failure.
"""
import email
import email.policy
import email.utils
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "mime"


def parse_address(value):
    """The request's address forms, as (name, email)."""
    if isinstance(value, dict):
        return (value.get("name", ""), value["email"])
    m = re.fullmatch(r"(.*)<([^<>]*)>", value, re.S)
    if not m:
        return ("", value)
    name = m.group(1).strip(" \t")
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return (name, m.group(2))


def address_list(value):
    if value is None:
        return []
    return [parse_address(v) for v in value] if isinstance(value, list) else [parse_address(value)]


def normalise(text):
    return text.replace("\r\n", "\n").replace("\r", "\n")


def main():
    passed, failed = 0, 0

    def check(ok, label, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {label}{': ' + detail if detail else ''}")

    inputs = sorted(DATA.glob("*.json"))
    check(len(inputs) >= 9, "golden inputs present", str(len(inputs)))
    for spec_path in inputs:
        name = spec_path.stem
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        req = spec["request"]
        eml = spec_path.with_suffix(".eml")
        if not eml.exists():
            check(False, f"{name}.eml exists")
            continue
        raw = eml.read_bytes()

        lines = raw.split(b"\r\n")
        check(lines[-1] == b"", f"{name}: ends with CRLF")
        check(all(b"\n" not in l and b"\r" not in l for l in lines), f"{name}: CRLF only")
        check(max(len(l) for l in lines) <= 998, f"{name}: lines <= 998 octets")
        header_block = lines[: lines.index(b"")]
        longest = max(len(l) for l in header_block)
        check(longest <= 78, f"{name}: header lines <= 78", str(longest))
        check(all(l.isascii() for l in header_block), f"{name}: headers are ASCII")

        msg = email.message_from_bytes(raw, policy=email.policy.default)
        check(not msg.defects, f"{name}: no parser defects", str(msg.defects))
        check(msg["Subject"] == req["subject"], f"{name}: Subject", f"{msg['Subject']!r} != {req['subject']!r}")
        check(msg["Message-ID"] == spec["message_id"], f"{name}: Message-ID")
        check(msg["MIME-Version"] == "1.0", f"{name}: MIME-Version")
        check(msg["X-Iaposte-Request-Id"] == req["request_id"], f"{name}: X-Iaposte-Request-Id")
        date = email.utils.parsedate_to_datetime(msg["Date"])
        want_date = spec["date"].replace("Z", "+00:00")
        check(date.isoformat() == want_date, f"{name}: Date", f"{date.isoformat()} != {want_date}")
        check("Bcc" not in msg, f"{name}: no Bcc header")
        for a in address_list(req.get("bcc")):
            check(a[1].encode() not in raw, f"{name}: Bcc address {a[1]} absent")

        for header, field in (("From", "from"), ("To", "to"), ("Cc", "cc"), ("Reply-To", "reply_to")):
            want = address_list(req.get(field))
            if header == "To" and not want:
                check(str(msg["To"]) == "undisclosed-recipients:;", f"{name}: To for Bcc-only")
                continue
            if not want:
                check(header not in msg, f"{name}: no {header}")
                continue
            got = [(a.display_name, a.addr_spec) for a in msg[header].addresses]
            check(got == want, f"{name}: {header}", f"{got} != {want}")

        # The allow-listed extra headers, in order, right after X-Iaposte-Request-Id.
        keys = [k for k in msg.keys()]
        extra = list(req.get("headers", {}).items())
        start = keys.index("X-Iaposte-Request-Id") + 1
        check([k for k in keys[start : start + len(extra)]] == [k for k, _ in extra],
              f"{name}: extra headers in order", str(keys[start:]))
        for k, v in extra:
            got = " ".join(str(msg[k]).split())
            check(got == " ".join(v.split()), f"{name}: header {k}", f"{got!r} != {v!r}")

        text, html = req.get("text", ""), req.get("html", "")
        if text and html:
            check(msg.get_content_type() == "multipart/alternative", f"{name}: multipart/alternative")
            parts = list(msg.iter_parts())
            check([p.get_content_type() for p in parts] == ["text/plain", "text/html"],
                  f"{name}: text part then html part")
            bodies = [(parts[0], text, True), (parts[1], html, True)]
        else:
            bodies = [(msg, text or html, False)]
            check(msg.get_content_type() == ("text/plain" if text else "text/html"), f"{name}: content type")
        for part, want, exact in bodies:
            check(part.get_content_charset() == "utf-8", f"{name}: charset")
            got = normalise(part.get_content())
            want = normalise(want)
            ok = got == want or (not exact and got == want + "\n")
            check(ok, f"{name}: {part.get_content_type()} body decodes to the original", f"{got!r} != {want!r}")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
