"""``make env``: write ``.env`` for docker compose from ``.env.example``, with a strong random
value for every secret left empty. An existing ``.env`` keeps every value it has (run it
again after pulling: only new secrets are added; it is rewritten in ``.env.example``'s
layout, variables of your own kept at the end); a placeholder or weak secret in it
(``change-me``, under 32 characters, not a Fernet key) stops it. Plain Python, no
dependencies: it runs before any virtual environment exists.

    python3 scripts/make_env.py [--example .env.example] [--out .env]
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
SECRET = re.compile(r"PASSWORD|SECRET|FERNET")


def secret_for(name: str) -> str:
    """Fernet: 32 random bytes, url-safe base64 (what ``Fernet.generate_key`` returns); the
    token-signing keys 256 bits; passwords 160 bits in 40 hex characters (MinIO's limit),
    safe inside URLs and JSON."""
    if "FERNET" in name:
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    if name.endswith(("JWT_SECRET", "API_SECRET_KEY")):
        return secrets.token_hex(32)
    return secrets.token_hex(20)


def values(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    found = (LINE.match(line.strip()) for line in path.read_text().splitlines())
    return {m[1]: m[2] for m in found if m}


def weak(name: str, value: str) -> bool:
    """A placeholder or a short value kept from an older ``.env`` (``change-me``, ...)."""
    if "FERNET" in name:
        try:
            return len(base64.urlsafe_b64decode(value.encode())) != 32
        except ValueError:
            return True
    return len(value) < 32 or value.lower().startswith(("change-me", "generate"))


def render(example: str, kept: dict[str, str]) -> tuple[str, list[str]]:
    """``example`` with kept values and new secrets; the names of the secrets made."""
    made, out, seen = [], [], set()
    for line in example.splitlines():
        match = LINE.match(line)
        if not match:
            out.append(line)
            continue
        name, default = match[1], match[2]
        seen.add(name)
        value = kept.get(name) or default
        if not value and SECRET.search(name):
            value = secret_for(name)
            made.append(name)
        out.append(f"{name}={value}")
    out += [f"{k}={v}" for k, v in kept.items() if k not in seen]  # the user's own
    return "\n".join(out) + "\n", made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", type=Path, default=ROOT / ".env.example")
    parser.add_argument("--out", type=Path, default=ROOT / ".env")
    args = parser.parse_args(argv)
    kept = values(args.out)
    placeholders = sorted(k for k, v in kept.items() if v and SECRET.search(k) and weak(k, v))
    if placeholders:  # never replaced silently: a volume or encrypted data may depend on them
        print(
            f"{args.out} has weak or placeholder secrets: {', '.join(placeholders)}. Empty them "
            "and run this again for strong ones (an existing stack: change each password where "
            "it is used first, see docs/operations.md)."
        )
        return 1
    text, made = render(args.example.read_text(), kept)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(args.out, 0o600)
    print(f"{args.out}: {len(made)} new secrets ({', '.join(made) or 'none'}); mode 600")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
