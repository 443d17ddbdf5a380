#!/usr/bin/python3
"""Keeps schemas/ in step with the C++ validation: the same example files must split the same way.

Usage: /usr/bin/python3 tests/unit/core/check_schemas.py [REPO_ROOT]

- every tests/data/requests/valid/*.json is valid against schemas/iaposte.request.v1.json;
- every tests/data/requests/invalid/*.json is invalid against it (not JSON at all counts as
  invalid), except those with a NAME.code-only marker (rules only the daemon can check), which
  the schema must accept, so the marker is removed the day the schema learns the rule;
- every request inside tests/data/mime/*.json is valid;
- every tests/data/status/*.json is valid against schemas/iaposte.status.v1.json and every
  tests/data/status/invalid/*.json is not.
Prints "N passed, N failed" and exits non-zero on any failure.
"""
import datetime
import json
import pathlib
import re
import sys

from jsonschema import Draft202012Validator, FormatChecker

ROOT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data"

# jsonschema checks "date-time" only with an optional module Debian does not ship; this is
# RFC 3339 §5.6 date-time, checked the same way as core::parse_time.
RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
                     re.ASCII)
format_checker = FormatChecker()


@format_checker.checks("date-time")
def is_date_time(value):
    if not isinstance(value, str):
        return True
    m = RFC3339.fullmatch(value)
    if not m:
        return False
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    try:
        datetime.date(y, mo, d)
    except ValueError:
        return False
    if h > 23 or mi > 59 or s > 60:
        return False
    off = m.group(8)
    return off in "Zz" or (int(off[1:3]) <= 23 and int(off[4:6]) <= 59)


def validator(name):
    schema = json.loads((ROOT / "schemas" / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=format_checker)


def load(path):
    """The document, or None when the file is not JSON (it then counts as invalid)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def errors_of(v, doc):
    if doc is None:
        return ["not JSON"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in v.iter_errors(doc)]


def main():
    passed, failed = 0, 0

    def check(ok, label, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {label}{': ' + detail if detail else ''}")

    request = validator("iaposte.request.v1.json")
    status = validator("iaposte.status.v1.json")

    valid = sorted((DATA / "requests" / "valid").glob("*.json"))
    invalid = sorted((DATA / "requests" / "invalid").glob("*.json"))
    check(len(valid) >= 5 and len(invalid) >= 12, "request examples present",
          f"{len(valid)} valid, {len(invalid)} invalid")
    for p in valid:
        errs = errors_of(request, load(p))
        check(not errs, f"requests/valid/{p.name} is valid", "; ".join(errs))
    for p in invalid:
        errs = errors_of(request, load(p))
        if p.with_suffix(".code-only").exists():
            check(not errs, f"requests/invalid/{p.name} (code-only) is accepted by the schema",
                  "; ".join(errs))
        else:
            check(bool(errs), f"requests/invalid/{p.name} is rejected by the schema")

    for p in sorted((DATA / "mime").glob("*.json")):
        doc = load(p)
        errs = errors_of(request, doc["request"] if doc else None)
        check(not errs, f"mime/{p.name} request is valid", "; ".join(errs))

    events = sorted((DATA / "status").glob("*.json"))
    bad_events = sorted((DATA / "status" / "invalid").glob("*.json"))
    check(len(events) >= 5 and len(bad_events) >= 3, "status examples present")
    for p in events:
        errs = errors_of(status, load(p))
        check(not errs, f"status/{p.name} is valid", "; ".join(errs))
    for p in bad_events:
        check(bool(errors_of(status, load(p))), f"status/invalid/{p.name} is rejected")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
