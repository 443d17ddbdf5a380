#!/usr/bin/python3
"""Checks the golden messages with an independent MIME implementation (Python's email package).

Usage: /usr/bin/python3 tests/unit/mime/check_goldens.py [REPO_ROOT]

For each tests/data/mime/NN-name.json and its NN-name.eml:
- the bytes: CRLF line endings only, no line over 998 octets, header lines within 78 (the
  message's and every part's); ASCII everywhere except addresses in From, To, Cc and Reply-To,
  which RFC 6532 §3.2 writes in UTF-8 when the request's are internationalised;
- parsed with email.policy.strict (a parser defect raises), from the bytes, or from the UTF-8 text
  for an RFC 6532 message (Python reads 8-bit headers in bytes as undecodable); the header defects
  Python reports are failures too, except two it reports for what the RFCs allow and we write on
  purpose: a UTF-8 local part (RFC 6532; Python's parser knows RFC 5322 only) and filename*=
  beside its ASCII fallback filename= (RFC 2231 and the fallback the brief asks for; Python keeps
  the RFC 2231 one, which must be first);
- Subject, From, To, Cc, Reply-To decode to the request's values (display names and addresses; a
  non-ASCII domain in NFC and lower case, as lib/core keeps it), Bcc appears nowhere, Message-ID
  and Date are the given ones;
- the structure is only as nested as the content needs: text/plain, text/html or
  multipart/alternative (text first); multipart/related (type="text/html", the HTML first) around
  the HTML when there are inline parts; multipart/mixed around it all when there are attachments;
- the text/plain and text/html parts decode to the request's text and html (line breaks
  normalised; a single-part body may gain a final line break);
- each attachment (the golden's "attachments", in the request field's format) is a base64 part of
  76-column lines that decodes to the same bytes (Python's base64), with its content type, its
  file name (get_filename() and the Content-Disposition parameter), disposition attachment or
  inline, and for an inline part its Content-ID, which the HTML shows as cid:;
- the extra headers are present, in the request's order, with their decoded values.
Prints "N passed, N failed" and exits non-zero on any failure.
"""
import base64
import email
import email.errors
import email.policy
import email.utils
import json
import pathlib
import re
import sys
import unicodedata
import urllib.parse

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


def kept_form(addr):
    """The address as lib/core keeps it: a non-ASCII domain in NFC, lower case (IDNA2008 U-labels
    for the names used here; libidn2 also maps a few characters Python has no table for)."""
    local, _, domain = addr.rpartition("@")
    if not domain.isascii():
        domain = unicodedata.normalize("NFC", domain).lower()
    return f"{local}@{domain}"


def address_list(value):
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [(name, kept_form(addr)) for name, addr in map(parse_address, items)]


ADDRESS_HEADERS = ("From", "To", "Cc", "Reply-To")


def header_blocks(lines):
    """(is_top, header lines) of the message and of every part (after a "--=_iaposte_" line)."""
    blocks, current, top = [], [], True
    in_headers = True
    for line in lines:
        if in_headers:
            if line == b"":
                blocks.append((top, current))
                current, in_headers, top = [], False, False
            else:
                current.append(line)
        elif line.startswith(b"--=_iaposte_") and not line.endswith(b"--"):
            in_headers = True
    return blocks


def tree(part):
    if part.is_multipart():
        return (part.get_content_type(), [tree(p) for p in part.iter_parts()])
    return part.get_content_type()


def expected_tree(text, html, attachments):
    inline = [a for a in attachments if a.get("content_id") and html]
    regular = [a for a in attachments if a not in inline]
    html_node = "text/html"
    if inline:
        html_node = ("multipart/related", ["text/html"] + [a.get("content_type", "").lower() for a in inline])
    if text and html:
        body = ("multipart/alternative", ["text/plain", html_node])
    elif html:
        body = html_node
    else:
        body = "text/plain"
    if regular:
        return ("multipart/mixed", [body] + [a.get("content_type", "application/octet-stream").lower() for a in regular])
    return body


def header_defects(msg):
    """(header name, defect) for every header of every part."""
    out = []
    for part in msg.walk():
        for name in part.keys():
            for d in getattr(part[name], "defects", ()):
                out.append((part, name, d))
    return out


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
    check(len(inputs) >= 16, "golden inputs present", str(len(inputs)))
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
        attachments = spec.get("attachments", [])
        intl = any(not a.isascii() for _, a in
                   address_list(req.get("from")) + address_list(req.get("to")) +
                   address_list(req.get("cc")) + address_list(req.get("reply_to")))
        blocks = header_blocks(lines)
        check(len(blocks) >= 1 + len(attachments), f"{name}: a header block per part", str(len(blocks)))
        for top, block in blocks:
            longest = max(len(l) for l in block)
            check(longest <= 78, f"{name}: header lines <= 78", str(longest))
            # Non-ASCII only on an address header line (or its folded continuation), and only
            # when the request has internationalised addresses (RFC 6532).
            field = None
            for l in block:
                if not l[:1].isspace():
                    field = l.split(b":", 1)[0].decode("ascii", "replace")
                ok = l.isascii() or (top and intl and field in ADDRESS_HEADERS)
                check(ok, f"{name}: header line is ASCII", repr(l))
        body_start = raw.index(b"\r\n\r\n")
        check(raw[body_start:].isascii(), f"{name}: body is ASCII (7bit, quoted-printable or base64)")

        # email.policy.strict raises on any parser defect.
        try:
            if raw.isascii():
                msg = email.message_from_bytes(raw, policy=email.policy.strict)
            else:
                msg = email.message_from_string(raw.decode("utf-8"), policy=email.policy.strict)
        except (email.errors.MessageDefect, UnicodeDecodeError) as e:
            check(False, f"{name}: parses under email.policy.strict", repr(e))
            continue
        check(not msg.defects, f"{name}: no parser defects", str(msg.defects))
        for part, header, d in header_defects(msg):
            utf8_local = isinstance(d, email.errors.NonASCIILocalPartDefect) and header in ADDRESS_HEADERS and intl
            source = dict(part.raw_items()).get(header, "")
            extended = re.search(r"filename\*(0\*)?=", source)
            fallback = (header == "Content-Disposition" and "duplicate parameter name" in str(d)
                        and extended is not None and source.find('filename="') > extended.start())
            check(utf8_local or fallback, f"{name}: no header defect", f"{header}: {d!r}")
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
        want_tree = expected_tree(text, html, attachments)
        check(tree(msg) == want_tree, f"{name}: structure", f"{tree(msg)} != {want_tree}")
        leaves = [p for p in msg.walk() if not p.is_multipart()]
        body_parts = [p for p in leaves if p.get("Content-Disposition") is None]
        attached = [p for p in leaves if p.get("Content-Disposition") is not None]
        want_types = (["text/plain"] if text else []) + (["text/html"] if html else [])
        check([p.get_content_type() for p in body_parts] == want_types, f"{name}: body parts",
              str([p.get_content_type() for p in body_parts]))
        single = not msg.is_multipart()
        bodies = [(p, text if p.get_content_type() == "text/plain" else html, not single) for p in body_parts]
        for related in (p for p in msg.walk() if p.get_content_type() == "multipart/related"):
            check(related.get_param("type") == "text/html", f"{name}: related type=text/html")
            check(next(related.iter_parts()).get_content_type() == "text/html", f"{name}: related root is the html")

        # Attachments in request order: regular ones in mixed, inline ones in related, so the
        # order of the leaves is: inline ones (request order), then regular ones (request order).
        inline = [a for a in attachments if a.get("content_id") and html]
        regular = [a for a in attachments if a not in inline]
        check(len(attached) == len(attachments), f"{name}: one part per attachment", str(len(attached)))
        for part, a in zip(attached, inline + regular):
            label = f"{name}: attachment {a.get('filename') or a.get('content_id')}"
            check(part["Content-Transfer-Encoding"] == "base64", f"{label}: base64")
            payload = part.get_payload()
            body_lines = payload.split("\r\n") if "\r\n" in payload else payload.split("\n")
            body_lines = [l for l in body_lines if l]
            check(all(len(l) == 76 for l in body_lines[:-1]) and all(len(l) <= 76 for l in body_lines[-1:]),
                  f"{label}: 76-column base64 lines")
            check(part.get_payload(decode=True) == base64.b64decode(a["content_base64"]),
                  f"{label}: decodes to its bytes")
            check(part.get_content_type() == a.get("content_type", "application/octet-stream").lower(),
                  f"{label}: content type", part.get_content_type())
            check(part.get_content_disposition() == ("inline" if a in inline else "attachment"),
                  f"{label}: disposition", str(part.get_content_disposition()))
            if a.get("filename"):
                check(part.get_filename() == a["filename"], f"{label}: get_filename()", repr(part.get_filename()))
                check(part["Content-Disposition"].params.get("filename") == a["filename"],
                      f"{label}: Content-Disposition filename", repr(part["Content-Disposition"].params))
            else:
                check(part.get_filename() is None, f"{label}: no file name")
            if a in inline:
                check(part["Content-ID"] == f"<{a['content_id']}>", f"{label}: Content-ID", str(part["Content-ID"]))
                shown = next(p for p in body_parts if p.get_content_type() == "text/html").get_content()
                refs = {urllib.parse.unquote(r) for r in re.findall(r"""(?i)cid:([^"'()<>\s]+)""", shown)}
                check(a["content_id"] in refs, f"{label}: shown by the html as cid:")
            else:
                check(part["Content-ID"] is None, f"{label}: no Content-ID")
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
